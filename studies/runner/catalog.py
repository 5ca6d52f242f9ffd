"""Discover studies: every module in :mod:`studies.catalog` that defines ``STUDY``."""

from __future__ import annotations

import importlib
import pkgutil

import studies.catalog as _catalog
from servicelab.errors import RunError
from studies.runner.spec import Study


def list_studies() -> dict[str, Study]:
    """All studies by name, sorted."""
    found: dict[str, Study] = {}
    for info in pkgutil.iter_modules(_catalog.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{_catalog.__name__}.{info.name}")
        study = getattr(module, "STUDY", None)
        if isinstance(study, Study):
            found[study.name] = study
    return dict(sorted(found.items()))


def get_study(name: str) -> Study:
    """The study called ``name``.

    Raises
    ------
    RunError
        For an unknown name, listing the known ones.
    """
    module_name = name.replace("-", "_")
    try:
        module = importlib.import_module(f"{_catalog.__name__}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{_catalog.__name__}.{module_name}":
            raise
        module = None
    study = getattr(module, "STUDY", None) if module is not None else None
    if not isinstance(study, Study) or study.name != name:
        known = ", ".join(list_studies()) or "none"
        raise RunError(f"unknown study {name!r}; known studies: {known} (see `servicelab studies`)")
    return study
