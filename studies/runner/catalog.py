"""Discover studies: every module in :mod:`studies.catalog` that defines ``STUDY``.

Study ``my-study`` lives in ``studies/catalog/my_study.py``. Importing a study module imports its
analysis libraries, which takes seconds, so the light questions are answered without it:

- :func:`study_names` lists the catalog's module names (no import);
- :func:`get_study` rejects an unknown name from that list before importing anything;
- :func:`describe_studies` (what ``servicelab studies`` prints) reads an index cached under
  ``~/.cache/servicelab`` (or ``$SERVICELAB_CACHE_DIR``), keyed by the size and modification time of
  every source file of ``servicelab``, ``causal``, ``simulation`` and ``studies``: any edit rebuilds
  it, by importing the study modules once.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import json
import os
import pkgutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from studies.runner.spec import Study

CATALOG_PACKAGE = "studies.catalog"
_SOURCE_PACKAGES = ("servicelab", "causal", "simulation", "studies")
_INDEX_VERSION = 1
_INDEXES_KEPT = 8


def _catalog_path() -> list[str]:
    spec = importlib.util.find_spec(CATALOG_PACKAGE)
    if spec is None or spec.submodule_search_locations is None:  # pragma: no cover - broken install
        raise ImportError(f"cannot find the {CATALOG_PACKAGE} package")
    return list(spec.submodule_search_locations)


def study_names() -> list[str]:
    """Names of the studies in the catalog, sorted, without importing any study module.

    Examples
    --------
    >>> "routing-ab" in study_names()
    True
    """
    return sorted(info.name.replace("_", "-") for info in pkgutil.iter_modules(_catalog_path())
                  if not info.name.startswith("_"))


def unknown_study_message(name: str) -> str:
    """The error message for an unknown study name: close matches first, then every known name."""
    known = study_names()
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return f"unknown study {name!r}{hint}; known studies: {', '.join(known) or 'none'} (see `servicelab studies`)"


def get_study(name: str) -> Study:
    """The study called ``name`` (imports only its module).

    Raises
    ------
    RunError
        For an unknown name, listing the known ones (without importing any study module).
    """
    from servicelab.errors import RunError
    from studies.runner.spec import Study

    if name not in study_names():
        raise RunError(unknown_study_message(name))
    module = importlib.import_module(f"{CATALOG_PACKAGE}.{name.replace('-', '_')}")
    study = getattr(module, "STUDY", None)
    if not isinstance(study, Study) or study.name != name:
        raise RunError(f"module {module.__name__} defines no STUDY named {name!r}; "
                       "every catalog module must expose `STUDY = Study(name=...)` matching its file name")
    return study


def list_studies() -> dict[str, Study]:
    """All studies by name, sorted (imports every study module and its analysis libraries)."""
    from studies.runner.spec import Study

    found: dict[str, Study] = {}
    for info in pkgutil.iter_modules(_catalog_path()):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{CATALOG_PACKAGE}.{info.name}")
        study = getattr(module, "STUDY", None)
        if isinstance(study, Study):
            found[study.name] = study
    return dict(sorted(found.items()))


def describe_studies(use_cache: bool = True) -> list[dict[str, Any]]:
    """Every study's name, title, question, default seed and parameters (with allowed values).

    Parameters
    ----------
    use_cache : bool
        Read (and refresh) the cached index; ``False`` imports every study module.

    Returns
    -------
    list of dict
        One :meth:`Study.describe` per study, sorted by name.

    Examples
    --------
    >>> [s["name"] for s in describe_studies()][:1]  # doctest: +SKIP
    ['assist-rollout']
    """
    path = index_path() if use_cache else None
    if path is not None and path.exists():
        try:
            data = json.loads(path.read_text())
            if data.get("version") == _INDEX_VERSION:
                return data["studies"]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged index is rebuilt below
    studies = [s.describe() for s in list_studies().values()]
    if path is not None:
        _write_index(path, studies)
    return studies


def cache_dir() -> Path:
    """Where servicelab caches light indexes: ``$SERVICELAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/servicelab``."""
    env = os.environ.get("SERVICELAB_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "servicelab"


def index_path() -> Path:
    """The catalog index file for the current source tree (its name carries the source fingerprint)."""
    return cache_dir() / f"catalog-{source_fingerprint()[:20]}.json"


def source_fingerprint() -> str:
    """Hash of the Python version and of the location, path, size and mtime of every ``.py`` file of our packages."""
    h = hashlib.sha256(f"{_INDEX_VERSION} {sys.version}".encode())
    for package in _SOURCE_PACKAGES:
        spec = importlib.util.find_spec(package)
        for root in (spec.submodule_search_locations or []) if spec else []:
            h.update(f"{package}\0{root}".encode())
            for entry in sorted(_py_files(root)):
                h.update(entry.encode())
    return h.hexdigest()


def _py_files(root: str) -> list[str]:
    out = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                if e.name != "__pycache__" and not e.name.startswith("."):
                    stack.append(e.path)
            elif e.name.endswith(".py"):
                st = e.stat()
                out.append(f"{os.path.relpath(e.path, root)}\0{st.st_size}\0{st.st_mtime_ns}")
    return out


def _write_index(path: Path, studies: list[dict[str, Any]]) -> None:
    """Write the index atomically and drop old ones; a cache that cannot be written is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": _INDEX_VERSION, "studies": studies}, indent=1))
        os.replace(tmp, path)
        # keep the newest few: several checkouts (git worktrees) may share the cache folder
        others = sorted((p for p in path.parent.glob("catalog-*.json") if p != path),
                        key=lambda p: p.stat().st_mtime, reverse=True)
        for old in others[_INDEXES_KEPT - 1:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # only a speed-up: the next call imports the study modules again
