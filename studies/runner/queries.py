"""Every SQL query of every study, collected without running the studies.

Study SQL lives in module constants whose names end in ``_SQL`` (templates with ``{table}``
fields for the data-quality derived tables); ``tests/studies/test_study_queries.py`` checks, on
the source, that every ``ctx.query`` / ``ctx.truth`` call reads one of them, so this collection
is complete. :func:`study_queries` returns them ready to run:

- the table fields filled with the derived tables of the study's own data-quality checks
  (``CHECKS``, ``checks(params)`` or ``_quality_checks(start, end)``), exactly as
  :meth:`~studies.runner.quality.DataQuality.table` builds them on the synthetic world's schema;
- the counting query of each check (:meth:`~studies.runner.quality.TableCheck.count_sql`);
- example parameters for the test world (:data:`EXAMPLE_PARAMS`), bound, never formatted in.

The tests transpile all of them to every target dialect and run them on DuckDB and Spark.

Examples
--------
>>> qs = study_queries()  # doctest: +SKIP
>>> sorted({q.study for q in qs})  # doctest: +SKIP
['assist-rollout', 'help-bot', 'kpi-drivers', 'priority-cutoff', 'resolution-time', 'routing-ab', 'staffing']
"""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from servicelab.errors import RunError

__all__ = ["EXAMPLE_PARAMS", "StudyQuery", "study_queries"]

_W0 = dt.datetime(2026, 3, 1)
_W1 = dt.datetime(2026, 3, 29)

EXAMPLE_PARAMS: dict[str, Sequence[Any] | Mapping[str, Any]] = {
    "assist_rollout._COUNTERFACTUAL_SQL": ["krakow"],
    "kpi_drivers._CONTACTS_SQL": ["2026-03-16 00:00:00", "2026-03-30 00:00:00"],
    "kpi_drivers._TEXT_SQL": ["2026-03-16 00:00:00", "2026-03-30 00:00:00"],
    "priority_cutoff._SQL": [30, 30],
    "resolution_time._TRUTH_SQL": {"tau": 172800.0},
    "resolution_time._TRUTH_SCALES_SQL": {"tau": 172800.0, "q1": 0.5, "q2": 0.9, "t1": 86400.0,
                                          "t2": 259200.0},
    "routing_ab._CUSTOMERS_SQL": ["routing-v2", 7, 7, "routing-v2"],
    "routing_ab._TTR_SQL": ["routing-v2"],
    "staffing._CONTACTS_SQL": [_W0, _W1],
    "staffing._STAFFING_SQL": [_W0, _W1],
}
"""Parameters for the queries with placeholders, on the test world (``module._NAME_SQL``)."""

# a template field that is not a table name
_FIELD_TABLES = {"assignments": "experiment_assignments"}


@dataclass(frozen=True)
class StudyQuery:
    """One study query, ready to run.

    Attributes
    ----------
    study : str
        Study name (``routing-ab``).
    name : str
        ``module._NAME_SQL``, or ``module.check:<table>`` for a data-quality count.
    sql : str
        DuckDB SQL with ``?`` / ``$name`` placeholders.
    params : sequence or mapping
        The values bound to them.
    truth : bool
        Reads a ground-truth table (run with ``allow_truth=True``).
    """

    study: str
    name: str
    sql: str
    params: Sequence[Any] | Mapping[str, Any]
    truth: bool


def study_queries() -> list[StudyQuery]:
    """Every query of every study in :mod:`studies.catalog` (see the module docstring).

    Raises
    ------
    RunError
        A query with placeholders has no entry in :data:`EXAMPLE_PARAMS`, or a template names a
        table the study does not check.
    """
    import studies.catalog as catalog
    from studies.runner.quality import TableCheck
    from studies.world import SCHEMA

    floating_types = {"DOUBLE", "FLOAT", "REAL", "TIMESTAMP", "DATE"}
    out: list[StudyQuery] = []
    for info in sorted(pkgutil.iter_modules(catalog.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{catalog.__name__}.{info.name}")
        study = getattr(module, "STUDY", None)
        if study is None:
            continue
        checks: tuple[TableCheck, ...] = _checks(module, study)
        derived: dict[str, str] = {}
        for check in checks:
            types = SCHEMA.get(check.table, {})
            wanted = [c.name for c in check.columns] + list(check.scope_columns)
            floating = {c for c in wanted if types.get(c, "").upper() in floating_types}
            derived[check.table] = f'(SELECT * FROM "{check.table}" WHERE {check.keep_condition(floating)})'
            out.append(StudyQuery(study.name, f"{info.name}.check:{check.table}", check.count_sql(floating),
                                  tuple(check.scope_params), False))
        for attr, value in vars(module).items():
            if not (attr.endswith("_SQL") and isinstance(value, str)):
                continue
            key = f"{info.name}.{attr}"
            fields = {f for _, f, _, _ in string.Formatter().parse(value) if f}
            tables = {}
            for field in fields:
                table = _FIELD_TABLES.get(field, field)
                if table not in derived:
                    raise RunError(f"{key} reads {{{field}}}, which is not a table the study checks "
                                   f"({sorted(derived)})")
                tables[field] = derived[table]
            sql = value.format(**tables) if fields else value
            params = EXAMPLE_PARAMS.get(key)
            if params is None:
                if "?" in sql or "$" in sql:
                    raise RunError(f"{key} has placeholders but no example parameters; add them to "
                                   "EXAMPLE_PARAMS in studies/runner/queries.py")
                params = ()
            out.append(StudyQuery(study.name, key, sql, params, "truth_" in sql.lower()))
    return out


def _checks(module: Any, study: Any) -> tuple[Any, ...]:
    if hasattr(module, "CHECKS"):
        return tuple(module.CHECKS)
    if hasattr(module, "checks"):
        return tuple(module.checks({p.name: p.default for p in study.params}))
    if hasattr(module, "_quality_checks"):
        import pandas as pd

        return tuple(module._quality_checks(pd.Timestamp(_W0), pd.Timestamp(_W1)))
    return ()
