"""Build the methodology book (Jupyter Book 1.x): notebooks executed in parallel, cached on the code.

Jupyter Book's own execution cache keys a notebook on its code cells only, so it would not notice a
change in an imported servicelab module (GUIDE §4), and it executes notebooks one after the other.
:func:`build_book` therefore executes the notebooks itself:

1. every page of ``book/_toc.yml`` that is a notebook (a MyST ``.md`` with a jupytext header) is
   read with myst-nb's own reader;
2. its **cache key** is a SHA-256 of the notebook's text, of every source file of ``servicelab``,
   ``causal``, ``simulation`` and ``studies``, of ``requirements.lock`` and of the warehouse the
   notebooks read: any change to any of them re-executes the notebook;
3. the notebooks without a cached result are executed with ``nbclient`` in parallel (``jobs``
   workers, default: the number of CPUs, at most 4), a failing cell failing the build, with the
   stage, elapsed time and ETA printed;
4. Sphinx then renders a staged copy of the book in which each notebook is its executed
   ``.ipynb``, with execution off and ``-W -n --keep-going``, so any warning still fails the build.

``force=True`` (``servicelab book --force``) ignores the cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from servicelab.errors import RunError
from studies.runner.report import provenance_table

__all__ = [
    "BOOK_DIR",
    "REPO_ROOT",
    "build_book",
    "code_fingerprint",
    "default_db",
    "default_runs_dir",
    "glue",
    "notebook_pages",
    "provenance_table",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
BOOK_DIR = REPO_ROOT / "book"
_SOURCE_PACKAGES = ("servicelab", "causal", "simulation", "studies")
_CACHE_VERSION = "1"


def default_db() -> Path:
    """The warehouse notebooks read: ``$SERVICELAB_DB`` or ``<repo>/data/tws.duckdb``."""
    return Path(os.environ.get("SERVICELAB_DB", REPO_ROOT / "data" / "tws.duckdb")).resolve()


def default_runs_dir() -> Path:
    """Where notebooks write run folders: ``$SERVICELAB_RUNS_DIR`` or ``<repo>/runs``."""
    return Path(os.environ.get("SERVICELAB_RUNS_DIR", REPO_ROOT / "runs")).resolve()


def _toc_files(toc: dict) -> Iterable[str]:
    if "root" in toc:
        yield toc["root"]
    for key in ("file",):
        if key in toc:
            yield toc[key]
    for key in ("parts", "chapters", "sections"):
        for entry in toc.get(key, []) or []:
            yield from _toc_files(entry)


def notebook_pages(book_dir: Path = BOOK_DIR) -> list[Path]:
    """The pages of the book's table of contents that are executable notebooks, in toc order.

    Examples
    --------
    >>> any(p.name == "routing-ab.md" for p in notebook_pages())
    True
    """
    import yaml

    toc = yaml.safe_load((book_dir / "_toc.yml").read_text())
    pages = []
    for name in _toc_files(toc):
        path = book_dir / (name if name.endswith(".md") else f"{name}.md")
        if path.exists() and _is_notebook(path.read_text()):
            pages.append(path)
    return pages


def _is_notebook(text: str) -> bool:
    """A MyST page with a jupytext (or kernelspec) front matter is a notebook."""
    if not text.startswith("---"):
        return False
    front = text.split("---", 2)[1]
    return "jupytext:" in front or "kernelspec:" in front


def code_fingerprint(db: Path | None = None) -> str:
    """SHA-256 of the package sources, the lock file and the warehouse file (size and content hash).

    Examples
    --------
    >>> len(code_fingerprint())
    64
    """
    h = hashlib.sha256(_CACHE_VERSION.encode())
    for pkg in _SOURCE_PACKAGES:
        for path in sorted((REPO_ROOT / pkg).rglob("*")):
            if path.is_file() and path.suffix in {".py", ".sql", ".json", ".csv", ".css"} \
                    and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(REPO_ROOT)).encode())
                h.update(path.read_bytes())
    for extra in (REPO_ROOT / "requirements.lock", REPO_ROOT / "pyproject.toml"):
        if extra.exists():
            h.update(extra.read_bytes())
    if db is not None and db.exists():
        h.update(str(db).encode())
        h.update(_file_digest(db).encode())
    return h.hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class _Job:
    page: Path
    key: str
    cached: Path


def _execute(job: _Job, timeout: int) -> float:
    """Execute one notebook into its cache file (the kernel runs in the page's folder and inherits
    this process's environment); return the seconds it took.
    """
    import nbformat
    from jupyter_client.manager import KernelManager
    from myst_nb.core.read import read_myst_markdown_notebook
    from nbclient import NotebookClient

    t0 = time.perf_counter()
    nb = read_myst_markdown_notebook(job.page.read_text(), path=job.page)
    kernel = nb.metadata.get("kernelspec", {}).get("name", "python3")
    # the kernel talks over Unix sockets in a private folder (no TCP port, and no "running over
    # TCP without encryption" warning per notebook)
    with tempfile.TemporaryDirectory(prefix="servicelab-kernel-") as sockets:
        km = KernelManager(kernel_name=kernel, transport="ipc", ip=os.path.join(sockets, "k"))
        client = NotebookClient(nb, km=km, timeout=timeout, allow_errors=False,
                                resources={"metadata": {"path": str(job.page.parent)}})
        try:
            client.execute()
        finally:
            if km.has_kernel:
                km.shutdown_kernel(now=True)
    tmp = job.cached.with_suffix(".tmp")
    nbformat.write(nb, str(tmp))
    os.replace(tmp, job.cached)
    return time.perf_counter() - t0


def _stage(book_dir: Path, stage: Path, executed: dict[Path, Path]) -> None:
    """Copy the book into ``stage`` with every notebook replaced by its executed ``.ipynb``."""
    import yaml

    if stage.exists():
        shutil.rmtree(stage)
    shutil.copytree(book_dir, stage, symlinks=False,
                    ignore=shutil.ignore_patterns("_build", "__pycache__", ".ipynb_checkpoints"))
    for page, cached in executed.items():
        rel = page.relative_to(book_dir)
        (stage / rel).unlink()
        shutil.copyfile(cached, (stage / rel).with_suffix(".ipynb"))
    config = yaml.safe_load((stage / "_config.yml").read_text())
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    (stage / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))


def build_book(builder: str = "html", db: str | Path | None = None, *, jobs: int | None = None,
               force: bool = False, pages: Sequence[str] | None = None,
               book_dir: Path = BOOK_DIR) -> int:
    """Build ``book/`` into ``book/_build/<builder>``.

    Parameters
    ----------
    builder : str
        Sphinx builder, ``"html"`` by default.
    db : path, optional
        Warehouse for the notebooks (default ``data/tws.duckdb`` in the repository); built first
        if missing.
    jobs : int, optional
        Notebooks executed at once (default: the CPU count, at most 4).
    force : bool
        Execute every notebook even when a cached result exists.
    pages : sequence of str, optional
        Only execute the notebooks whose file name contains one of these strings (the others must
        be cached already); for working on one chapter.
    book_dir : path
        The book's source folder (``book/`` of the repository).

    Returns
    -------
    int
        The exit code of ``jupyter-book build`` (1 if a notebook failed to execute).
    """
    from studies.warehouse import build_warehouse

    db_path = Path(db).resolve() if db is not None else default_db()
    if not db_path.exists():
        print(f"warehouse {db_path} is missing: building it first (servicelab world build)", flush=True)
        build_warehouse(db_path)
    exe = Path(sys.executable).with_name("jupyter-book")
    if not exe.exists():
        raise RunError(f"jupyter-book is not installed next to {sys.executable}; run `make install`")
    env = {"SERVICELAB_DB": str(db_path), "PYDEVD_DISABLE_FILE_VALIDATION": "1",
           "SERVICELAB_RUNS_DIR": os.environ.get("SERVICELAB_RUNS_DIR", str(default_runs_dir()))}
    os.environ.update(env)  # the kernels inherit this environment
    os.environ.pop("MPLBACKEND", None)  # notebooks use the inline backend so figures render
    build = book_dir / "_build"
    cache_dir = build / ".execution-cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = code_fingerprint(db_path)
    jobs_list = []
    for page in notebook_pages(book_dir):
        key = hashlib.sha256((fingerprint + page.read_text()).encode()).hexdigest()[:32]
        jobs_list.append(_Job(page, key, cache_dir / f"{page.stem}-{key}.ipynb"))
    todo = [j for j in jobs_list if force or not j.cached.exists()]
    if pages:
        missing = [j for j in todo if not any(p in j.page.name for p in pages)]
        if missing:
            raise RunError(f"{len(missing)} notebooks are not cached for this code "
                           f"({', '.join(j.page.name for j in missing[:5])}...); build without --pages")
    n_workers = max(1, min(jobs or min(os.cpu_count() or 1, 4), len(todo) or 1))
    print(f"book: {len(jobs_list)} notebooks, {len(jobs_list) - len(todo)} cached for this code, "
          f"{len(todo)} to execute with {n_workers} worker(s)", flush=True)
    failed: list[str] = []
    t0 = time.perf_counter()
    with ThreadPoolExecutor(n_workers) as pool:
        futures = {pool.submit(_execute, j, 900): j for j in todo}
        for done, fut in enumerate(as_completed(futures), start=1):
            job = futures[fut]
            elapsed = time.perf_counter() - t0
            eta = elapsed / done * (len(todo) - done)
            try:
                secs = fut.result()
                print(f"  [{done}/{len(todo)}] executed {job.page.name} in {secs:.0f} s "
                      f"(elapsed {elapsed:.0f} s, about {eta:.0f} s left)", flush=True)
            except Exception as exc:  # a cell error: report it, fail the build
                failed.append(job.page.name)
                print(f"  [{done}/{len(todo)}] FAILED {job.page.name}: {type(exc).__name__}: {exc}",
                      file=sys.stderr, flush=True)
    if failed:
        print(f"book: {len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    stage = build / "stage"
    _stage(book_dir, stage, {j.page: j.cached for j in jobs_list})
    # keep the cache small: drop results of other code versions
    keep = {j.cached.name for j in jobs_list}
    for old in cache_dir.glob("*.ipynb"):
        if old.name not in keep:
            old.unlink()
    cmd = [str(exe), "build", str(stage), "--path-output", str(book_dir), "--builder", builder,
           "-W", "-n", "--keep-going"]
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=False).returncode


def glue(name: str, value: object, display: bool = False) -> None:
    """:func:`myst_nb.glue` with numpy scalars converted to Python numbers.

    Under numpy 2 the ``repr`` of ``np.float64(1.5)`` is ``"np.float64(1.5)"``, which glue's
    ``{glue:text}`name:.2f``` formatting cannot parse; this wrapper glues ``1.5`` instead.
    """
    import numpy as np
    from myst_nb import glue as _glue

    if isinstance(value, np.generic):
        value = value.item()
    _glue(name, value, display=display)
