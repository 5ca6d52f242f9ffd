"""The study runner: specs, contexts, atomic run folders with provenance, progress, and run listings.

The names below are imported on first use (PEP 562), so ``from studies.runner import Param, Study``
in a study module, or listing the catalog, does not import matplotlib, DuckDB or the analysis
libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from studies.runner.catalog import describe_studies, get_study, list_studies, study_names
    from studies.runner.context import StudyContext
    from studies.runner.interrupts import RunInterrupted
    from studies.runner.progress import Progress
    from studies.runner.run import DEFAULT_RUNS_DIR, RunRecord, run_study
    from studies.runner.spec import Param, ParameterError, Study, StudyOutput, parse_assignments
    from studies.runner.store import clean_runs, find_run, list_runs, run_summary

_HOME = {
    "DEFAULT_RUNS_DIR": "run",
    "Param": "spec",
    "ParameterError": "spec",
    "Progress": "progress",
    "RunInterrupted": "interrupts",
    "RunRecord": "run",
    "Study": "spec",
    "StudyContext": "context",
    "StudyOutput": "spec",
    "clean_runs": "store",
    "describe_studies": "catalog",
    "find_run": "store",
    "get_study": "catalog",
    "list_runs": "store",
    "list_studies": "catalog",
    "parse_assignments": "spec",
    "run_study": "run",
    "run_summary": "store",
    "study_names": "catalog",
}

__all__ = [
    "DEFAULT_RUNS_DIR",
    "Param",
    "ParameterError",
    "Progress",
    "RunInterrupted",
    "RunRecord",
    "Study",
    "StudyContext",
    "StudyOutput",
    "clean_runs",
    "describe_studies",
    "find_run",
    "get_study",
    "list_runs",
    "list_studies",
    "parse_assignments",
    "run_study",
    "run_summary",
    "study_names",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
