"""The study runner: specs, contexts, atomic run folders with provenance, and run listings."""

from __future__ import annotations

from studies.runner.catalog import get_study, list_studies
from studies.runner.context import StudyContext
from studies.runner.run import DEFAULT_RUNS_DIR, RunRecord, run_study
from studies.runner.spec import Param, Study, StudyOutput, parse_assignments
from studies.runner.store import find_run, list_runs

__all__ = [
    "DEFAULT_RUNS_DIR",
    "Param",
    "RunRecord",
    "Study",
    "StudyContext",
    "StudyOutput",
    "find_run",
    "get_study",
    "list_runs",
    "list_studies",
    "parse_assignments",
    "run_study",
]
