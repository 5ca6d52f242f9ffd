"""Missing and non-finite values in a study's input tables: one check and one rule for every study.

A study declares, per source table, the columns its analysis needs (:class:`Column`: outcomes and
keys, each with the condition under which a value is *required*: a handle time is required for an
answered contact, not for an abandoned one) and its scope (:class:`TableCheck`: the same ``WHERE``
as its main query, e.g. the experiment window). Before the analysis, :func:`check_data` (also
:meth:`StudyContext.check_data <studies.runner.context.StudyContext.check_data>`) counts on the
warehouse, in one pushed-down aggregate query per table,

- the rows of the table and of the scope (an empty table or scope is a :class:`DataError`),
- per column, the rows in scope where a value is required, and among them the ``NULL`` values
  and, for floating-point columns, the non-finite ones (``inf``, ``-inf``, ``NaN``),
- ``NULL`` values of the columns the scope itself reads (a row with no ``created_at`` falls out
  of every window without a trace), over the whole table.

**The rule.** For each column, the share ``bad / required`` is compared with the study parameter
``max_missing`` (a *share* in [0, 1], default 0, so that the rule means the same on a 50k-row test
world and a 50M-row warehouse). Above it the run fails with a :class:`DataError` naming the table,
column, counts and the fix, unless ``drop_missing=true``. Rows with a bad required value never
reach the analysis: the study reads each checked table through :meth:`DataQuality.table`, a
derived table whose filter excludes exactly the rows counted here (never a ``COALESCE`` that turns
a missing value into 0). So a run either fails, or analyses the valid rows and says in its
results, manifest and report how many rows it dropped and why.

The SQL is deliberately plain (``CASE WHEN``, ``sum``, ``IS NULL``, ``SELECT *`` in a derived
table) so that it can be transpiled to other engines; the one engine-specific predicate is
:func:`nonfinite_sql`.

Examples
--------
>>> check = TableCheck("contacts", (Column("customer_id", "key"),
...                                 Column("handle_s", required_when="NOT abandoned")))
>>> print(check.keep_condition({"handle_s"}))  # doctest: +NORMALIZE_WHITESPACE
CASE WHEN ("customer_id" IS NULL) OR ((NOT abandoned) AND ("handle_s" IS NULL OR NOT
isfinite("handle_s"))) THEN 0 ELSE 1 END = 1
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from servicelab.errors import DataError, RunError
from servicelab.results import Diagnostic
from studies.runner.spec import Param

if TYPE_CHECKING:
    from studies.runner.context import StudyContext

__all__ = [
    "QUALITY_PARAMS",
    "Column",
    "ColumnCount",
    "DataQuality",
    "TableCheck",
    "TableQuality",
    "check_data",
    "nonfinite_sql",
]

QUALITY_PARAMS: tuple[Param, ...] = (
    Param("max_missing", float, 0.0,
          "largest share (0-1) of required values per checked column that may be NULL or "
          "non-finite; those rows are dropped and reported. Above it the run fails",
          min=0, max=1),
    Param("drop_missing", bool, False,
          "drop the rows with NULL or non-finite required values, however many (counted in "
          "the report), instead of failing"),
)
"""The two parameters every study declares for the rule (add them to ``Study.params``)."""

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# types whose values can be infinite (or NaN): floating point, and DuckDB's timestamps and dates
# (``'infinity'::TIMESTAMP``, which turns every duration computed from it into NULL)
_FINITE_TYPES = {"DOUBLE", "FLOAT", "REAL", "FLOAT4", "FLOAT8", "DOUBLE PRECISION", "DATE",
                 "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ", "TIMESTAMP_NS",
                 "TIMESTAMP_MS", "TIMESTAMP_S"}


def _q(name: str) -> str:
    if not _IDENT.match(name):
        raise RunError(f"{name!r} is not a plain SQL identifier (letters, digits, _)")
    return f'"{name}"'


def nonfinite_sql(column: str) -> str:
    """The predicate "this floating-point value is ``inf``, ``-inf`` or ``NaN``" (``NULL`` stays
    ``NULL``). The one engine-specific piece of the checks (DuckDB and Trino spell it
    ``isfinite``/``is_finite``).

    Examples
    --------
    >>> nonfinite_sql("handle_s")
    'NOT isfinite("handle_s")'
    """
    return f"NOT isfinite({_q(column)})"


@dataclass(frozen=True)
class Column:
    """One column a study needs, and when a value is required.

    Parameters
    ----------
    name : str
        Column of the checked table.
    role : {"outcome", "key"}
        What the column is for (named in messages); keys are join keys, arms, groups and
        covariates.
    required_when : str, optional
        SQL condition on the same table's columns under which a value must be present, e.g.
        ``"NOT abandoned"`` (an abandoned contact has no handle time by design). ``None``:
        required in every row of the scope.
    nullable : bool
        NULL is a legitimate value (a ticket still open has no ``resolved_at``): NULLs are counted
        and shown, but only non-finite values are bad.
    note : str
        Why some NULLs are allowed, shown in the report (e.g. "NULL for abandoned contacts").
    """

    name: str
    role: Literal["outcome", "key"] = "outcome"
    required_when: str | None = None
    nullable: bool = False
    note: str = ""

    def bad_sql(self, floating: bool) -> str | None:
        """Condition that is TRUE exactly for the rows where this column's value is bad.

        None when no value can be bad (a nullable column of a type without infinities).
        """
        c = _q(self.name)
        if self.nullable:
            if not floating:
                return None
            value = nonfinite_sql(self.name)
        else:
            value = f"{c} IS NULL OR {nonfinite_sql(self.name)}" if floating else f"{c} IS NULL"
        return f"(({self.required_when}) AND ({value}))" if self.required_when else f"({value})"


@dataclass(frozen=True)
class TableCheck:
    """The columns a study reads from one table, within the study's scope.

    Parameters
    ----------
    table : str
        Table name.
    columns : sequence of Column
        Outcomes and keys to check.
    scope : str
        SQL condition on the table's rows: the same ``WHERE`` as the study's main query (the
        experiment window, the answered contacts...). Scalar subqueries on other tables and ``?``
        placeholders (bound from ``scope_params``) are allowed; no values are formatted in.
    scope_params : sequence
        Values bound to the ``?`` in ``scope``.
    scope_label : str
        The scope in words, for messages ("contacts created in the routing-v2 window").
    scope_columns : sequence of str
        Columns the scope reads; their NULLs are counted over the whole table.
    """

    table: str
    columns: tuple[Column, ...]
    scope: str = "TRUE"
    scope_params: tuple[Any, ...] = ()
    scope_label: str = "the whole table"
    scope_columns: tuple[str, ...] = ()

    def bad_condition(self, floating: set[str]) -> str:
        """SQL that is TRUE for the rows with a bad required value (``FALSE`` if none can be)."""
        parts = [b for c in self.columns if (b := c.bad_sql(c.name in floating)) is not None]
        return " OR ".join(parts) or "FALSE"

    def keep_condition(self, floating: set[str]) -> str:
        """SQL that is TRUE for the rows kept (no bad required value); NULL-safe."""
        bad = self.bad_condition(floating)
        return f"CASE WHEN {bad} THEN 0 ELSE 1 END = 1" if bad != "FALSE" else "TRUE"

    def count_sql(self, floating: set[str]) -> str:
        """One aggregate query with every count (the scope is evaluated once per row)."""
        parts = ["count(*) AS n_table", "sum(__in_scope) AS n_scope"]
        for i, c in enumerate(self.scope_columns):
            parts.append(f"sum(CASE WHEN {_q(c)} IS NULL THEN 1 ELSE 0 END) AS s{i}_null")
        for i, col in enumerate(self.columns):
            req = f"__in_scope = 1 AND ({col.required_when})" if col.required_when \
                else "__in_scope = 1"
            parts.append(f"sum(CASE WHEN {req} THEN 1 ELSE 0 END) AS c{i}_required")
            parts.append(f"sum(CASE WHEN {req} AND {_q(col.name)} IS NULL THEN 1 ELSE 0 END) "
                         f"AS c{i}_null")
            if col.name in floating:
                parts.append(f"sum(CASE WHEN {req} AND {nonfinite_sql(col.name)} THEN 1 ELSE 0 "
                             f"END) AS c{i}_nonfinite")
        bad = self.bad_condition(floating)
        parts.append(f"sum(CASE WHEN __in_scope = 1 AND ({bad}) THEN 1 ELSE 0 END) AS n_drop")
        select = ",\n       ".join(parts)
        return (f"SELECT {select}\nFROM (SELECT *, CASE WHEN {self.scope} THEN 1 ELSE 0 END "
                f"AS __in_scope FROM {_q(self.table)}) AS checked")


@dataclass(frozen=True)
class ColumnCount:
    """NULL and non-finite counts of one column among the rows where a value is required."""

    table: str
    column: str
    role: str
    scope: str
    required_when: str
    required: int
    null: int
    nonfinite: int
    note: str = ""
    nullable: bool = False

    @property
    def bad(self) -> int:
        """Non-finite values, plus NULL values unless the column is nullable."""
        return self.nonfinite + (0 if self.nullable else self.null)

    @property
    def share(self) -> float:
        """Bad values over the rows where a value is required (0 when none is required)."""
        return self.bad / self.required if self.required else 0.0

    def describe(self) -> str:
        """E.g. ``contacts.handle_s (outcome): 1,234 NULL and 0 non-finite of 12,345 rows ...``."""
        null = "" if self.nullable else f"{self.null:,} NULL and "
        return (f"{self.table}.{self.column} ({self.role}): {null}{self.nonfinite:,} non-finite "
                f"(inf/NaN) values among the {self.required:,} rows that need one "
                f"({self.share:.2%}; required {self.required_when}, in {self.scope})")

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (with ``bad`` and ``share``)."""
        return asdict(self) | {"bad": self.bad, "share": self.share}


@dataclass(frozen=True)
class TableQuality:
    """The counts of one :class:`TableCheck` and the filter the study reads the table through."""

    table: str
    scope_label: str
    rows_table: int
    rows_scope: int
    rows_dropped: int
    columns: tuple[ColumnCount, ...]
    keep_sql: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for results.json and the manifest."""
        return {"table": self.table, "scope": self.scope_label, "rows_table": self.rows_table,
                "rows_scope": self.rows_scope, "rows_dropped": self.rows_dropped,
                "keep_sql": self.keep_sql, "columns": [c.to_dict() for c in self.columns]}


@dataclass(frozen=True)
class DataQuality:
    """What :func:`check_data` found, and how the study must read the checked tables.

    Attributes
    ----------
    tables : tuple of TableQuality
        One entry per checked table.
    max_missing : float
        The tolerated share.
    drop_missing : bool
        Whether dropping beyond it was allowed.
    """

    tables: tuple[TableQuality, ...]
    max_missing: float
    drop_missing: bool
    _by_name: dict[str, TableQuality] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({t.table: t for t in self.tables})

    def table(self, name: str) -> str:
        """The checked table as a derived table for ``FROM``: its rows without a bad required
        value. Use it in place of the bare table name in every query of the study.

        Examples
        --------
        >>> dq = DataQuality((TableQuality("t", "all", 2, 2, 0, (), "x IS NOT NULL"),), 0.0, False)
        >>> dq.table("t")
        '(SELECT * FROM "t" WHERE x IS NOT NULL)'
        """
        if name not in self._by_name:
            raise RunError(f"table {name!r} was not checked; checked: {sorted(self._by_name)}")
        return f"(SELECT * FROM {_q(name)} WHERE {self._by_name[name].keep_sql})"

    @property
    def rows_dropped(self) -> dict[str, int]:
        """Rows dropped per table (in scope)."""
        return {t.table: t.rows_dropped for t in self.tables}

    @property
    def counts(self) -> list[ColumnCount]:
        """Every column count."""
        return [c for t in self.tables for c in t.columns]

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """One ``data_quality`` diagnostic: ok when nothing was dropped, else a warning."""
        bad = [c for c in self.counts if c.bad]
        if not bad:
            checked = "; ".join(f"{t.table}: {', '.join(c.column for c in t.columns)}"
                                for t in self.tables)
            return (Diagnostic("data_quality", "ok",
                               f"no NULL or non-finite required values ({checked})", 0.0),)
        dropped = ", ".join(f"{n:,} {t} rows" for t, n in self.rows_dropped.items() if n)
        why = "drop_missing=true" if self.drop_missing else f"within max_missing={self.max_missing:g}"
        return (Diagnostic(
            "data_quality", "warning",
            f"dropped {dropped or 'no rows in scope'} ({why}): "
            + "; ".join(c.describe() for c in bad)
            + ". The estimates are for the remaining rows; they are unbiased only if the values "
            "are missing at random.", float(sum(self.rows_dropped.values())),
        ),)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for results.json."""
        return {"max_missing": self.max_missing, "drop_missing": self.drop_missing,
                "rows_dropped": self.rows_dropped, "tables": [t.to_dict() for t in self.tables]}


def check_data(ctx: StudyContext, checks: Sequence[TableCheck]) -> DataQuality:
    """Count NULL and non-finite required values on the warehouse and apply the rule.

    Run it before the analysis; then read every checked table through
    :meth:`DataQuality.table`. The counting queries go through ``ctx.query`` (so they are part of
    the data fingerprint) and their counts are recorded with them in the run manifest.

    Parameters
    ----------
    ctx : StudyContext
        The run's context; ``ctx.params`` may hold ``max_missing`` and ``drop_missing``
        (:data:`QUALITY_PARAMS`; defaults 0 and false).
    checks : sequence of TableCheck
        One per table the study reads.

    Returns
    -------
    DataQuality

    Raises
    ------
    DataError
        A checked table, or its scope, has no rows; or a column's share of bad values exceeds
        ``max_missing`` and ``drop_missing`` is false. The message names table, column, counts and
        the fix.

    Examples
    --------
    >>> dq = ctx.check_data([TableCheck("contacts", (Column("handle_s"),))])  # doctest: +SKIP
    >>> frame = ctx.query(f"SELECT avg(handle_s) FROM {dq.table('contacts')} c")  # doctest: +SKIP
    """
    max_missing = float(ctx.params.get("max_missing", 0.0))
    drop = bool(ctx.params.get("drop_missing", False))
    if not 0.0 <= max_missing <= 1.0:
        raise RunError(f"max_missing is a share in [0, 1], got {max_missing:g}")
    results: list[TableQuality] = []
    problems: list[str] = []
    for check in checks:
        floating = _floating_columns(ctx, check)
        row = ctx.query(check.count_sql(floating), list(check.scope_params)).iloc[0]
        n_table = _int(row["n_table"])
        n_scope = _int(row["n_scope"])
        if n_table == 0:
            raise DataError(
                f"the {check.table} table has no rows, so there is nothing to analyse in "
                f"{check.scope_label}. Load the table (for the synthetic world: `servicelab world "
                "build --force`) or point --db at the right warehouse.")
        if n_scope == 0:
            raise DataError(
                f"the {check.table} table has no rows in {check.scope_label} (it has {n_table:,} "
                "rows outside it). Check the study's parameters (dates, experiment, sites) and "
                "the tables that define the scope.")
        counts = [ColumnCount(check.table, c, "key (scope)", "the whole table", "in every row",
                              n_table, _int(row[f"s{i}_null"]), 0,
                              "a row without it falls outside the scope")
                  for i, c in enumerate(check.scope_columns)]
        for i, col in enumerate(check.columns):
            counts.append(ColumnCount(
                check.table, col.name, col.role, check.scope_label,
                f"where {col.required_when}" if col.required_when else "in every row",
                _int(row[f"c{i}_required"]), _int(row[f"c{i}_null"]),
                _int(row.get(f"c{i}_nonfinite", 0)), col.note, col.nullable))
        tq = TableQuality(check.table, check.scope_label, n_table, n_scope, _int(row["n_drop"]),
                          tuple(counts), check.keep_condition(floating))
        ctx.queries[-1]["quality"] = tq.to_dict()
        results.append(tq)
        problems += [c.describe() for c in counts if c.bad and c.share > max_missing]
    if problems and not drop:
        raise DataError(
            "NULL or non-finite values where the analysis needs a value: " + "; ".join(problems)
            + f" (above max_missing = {max_missing:g}). Repair the data, or rerun with "
            "`--set drop_missing=true` to drop those rows (the report states how many), or raise "
            "`--set max_missing=<share>` to tolerate that share (those rows are dropped too).")
    return DataQuality(tuple(results), max_missing, drop)


def _floating_columns(ctx: StudyContext, check: TableCheck) -> set[str]:
    have = ctx.warehouse.column_types(check.table)  # DuckDB's type names on every backend
    wanted = [c.name for c in check.columns] + list(check.scope_columns)
    missing = [c for c in wanted if c not in have]
    if missing:
        raise DataError(f"table {check.table!r} lacks column(s) {missing} that the study checks; "
                        "rebuild the warehouse or fix the study's TableCheck")
    return {c for c in wanted if have[c] in _FINITE_TYPES}


def _int(v: Any) -> int:
    try:
        import pandas as pd

        return 0 if v is None or pd.isna(v) else int(v)
    except (TypeError, ValueError):  # pragma: no cover - counts are integers
        return int(v)
