"""Study SQL is written once, in DuckDB's dialect, and transpiled with SQLGlot for other engines.

:func:`transpile` turns a DuckDB query into the target dialect and its placeholders into the
target driver's own paramstyle, so that parameters stay *bound* on every backend (no value is
ever formatted into the SQL text):

- ``duckdb``: ``?`` and ``$name`` (the source dialect);
- ``spark``: ``?`` and ``:name``, bound by ``SparkSession.sql(sql, args=...)``;
- ``trino`` (and ``presto``): ``?`` only; named parameters become positional ones (:func:`prepare`);
- ``bigquery``: ``?`` and ``@name`` (query parameters of google-cloud-bigquery);
- ``snowflake``: ``?`` and ``:name`` (snowflake-connector, qmark or named);
- ``postgres``: ``%s`` and ``%(name)s`` (psycopg's format and pyformat; literal ``%`` doubled).

A few DuckDB functions have no SQLGlot mapping and are rewritten here (``to_days(n)``,
``isfinite(x)``, ``quantile_cont(x, q)`` for Spark). A function that is still unknown to the
target after that is an :class:`UnsupportedSQLError` error naming the function and the dialect, rather
than SQL that fails later on the cluster.

Examples
--------
>>> transpile("SELECT count(*) FILTER (WHERE NOT abandoned) AS n FROM contacts "
...           "WHERE created_at > ? - INTERVAL 48 HOUR", "spark")
"SELECT COUNT(*) FILTER(WHERE NOT abandoned) AS n FROM contacts WHERE created_at > ? - INTERVAL '48' HOUR"
>>> transpile("SELECT least(x, $tau) AS y FROM t", "postgres")
'SELECT LEAST(x, %(tau)s) AS y FROM t'
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from servicelab.errors import DataError, RunError

__all__ = ["DIALECTS", "PARAMSTYLES", "UnsupportedSQLError", "bind_params", "check_dialect", "prepare", "transpile"]

DIALECTS: tuple[str, ...] = ("duckdb", "spark", "trino", "bigquery", "snowflake", "postgres")
"""Target dialects (SQLGlot names). ``presto`` is accepted as an alias of ``trino``."""

_ALIASES = {"presto": "trino", "databricks": "spark", "postgresql": "postgres"}

_POSITIONAL_ONLY = frozenset({"trino"})

PARAMSTYLES: dict[str, str] = {"duckdb": "qmark", "spark": "qmark", "trino": "qmark",
                               "bigquery": "qmark", "snowflake": "qmark", "postgres": "format"}
"""The DB-API paramstyle of positional placeholders in each dialect's output."""

# functions that the target engine has although SQLGlot parses them as "anonymous" (unknown)
_NATIVE: dict[str, frozenset[str]] = {
    "duckdb": frozenset({"ISFINITE", "TO_DAYS", "ISNAN", "ISINF"}),
    "spark": frozenset({"MAKE_INTERVAL", "ISNAN", "PERCENTILE", "DOUBLE"}),
    "trino": frozenset({"IS_FINITE", "IS_NAN", "IS_INFINITE"}),  # (IS_NAN: SQLGlot's name for isnan)
    "bigquery": frozenset({"IS_NAN", "IS_INF", "MAKE_INTERVAL"}),
    "snowflake": frozenset(),
    "postgres": frozenset({"MAKE_INTERVAL", "ISFINITE"}),
}


class UnsupportedSQLError(DataError):
    """A query uses a function or construct that does not transpile to the target dialect."""


def check_dialect(dialect: str) -> str:
    """The canonical name of ``dialect``, or a :class:`~servicelab.errors.RunError` naming the choices.

    Examples
    --------
    >>> check_dialect("presto")
    'trino'
    """
    name = str(dialect).lower()
    name = _ALIASES.get(name, name)
    if name not in DIALECTS:
        raise RunError(f"unknown SQL dialect {dialect!r}; choose one of {', '.join(DIALECTS)} "
                       f"(aliases: {', '.join(sorted(_ALIASES))})")
    return name


@functools.lru_cache(maxsize=1024)
def transpile(sql: str, dialect: str) -> str:
    """DuckDB SQL ``sql`` in ``dialect``, with the target's placeholders (values stay bound).

    Parameters
    ----------
    sql : str
        One statement in DuckDB's dialect, with ``?`` (positional) or ``$name`` (named) placeholders.
    dialect : str
        One of :data:`DIALECTS`.

    Returns
    -------
    str

    Raises
    ------
    RunError
        Unknown dialect.
    UnsupportedSQLError
        The SQL does not parse as DuckDB, or uses a function the target does not have (the message
        names the function and the dialect).

    Examples
    --------
    >>> transpile("SELECT isfinite(handle_s) AS ok FROM contacts", "trino")
    'SELECT IS_FINITE(handle_s) AS ok FROM contacts'
    >>> transpile("SELECT to_days(?) AS d", "spark")
    'SELECT MAKE_INTERVAL(0, 0, 0, ?) AS d'
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

    target = check_dialect(dialect)
    if target == "duckdb":
        return sql
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except ParseError as exc:
        raise UnsupportedSQLError(f"the query does not parse as DuckDB SQL: {exc}\nSQL: {sql.strip()}") from exc
    tree = tree.transform(functools.partial(_rewrite, target=target))
    known = _known_functions(target)
    for node in tree.find_all(exp.Anonymous):
        name = str(node.name).upper()
        if name not in known:
            raise UnsupportedSQLError(
                f"function {node.name}() has no equivalent in the {target} dialect (SQLGlot does not "
                f"transpile it from DuckDB). Rewrite the query with portable SQL, or add a rewrite "
                f"for {node.name} in studies/warehouse/dialects.py.\nSQL: {sql.strip()}")
    if target == "postgres" and list(tree.find_all(exp.Placeholder, exp.Parameter)):
        # pyformat: a literal % must be doubled once the query has placeholders
        tree = tree.transform(lambda n: exp.Literal.string(n.this.replace("%", "%%"))
                              if isinstance(n, exp.Literal) and n.is_string else n)
    try:
        return tree.sql(dialect=target, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise UnsupportedSQLError(f"the query does not transpile to {target}: {exc}\nSQL: {sql.strip()}") from exc


def bind_params(params: Sequence[Any] | Mapping[str, Any] | None) -> list[Any] | dict[str, Any]:
    """Parameters as a list (positional) or a dict (named), the two shapes every driver accepts."""
    if params is None:
        return []
    if isinstance(params, Mapping):
        return {str(k): v for k, v in params.items()}
    return list(params)


def prepare(sql: str, params: Sequence[Any] | Mapping[str, Any] | None, dialect: str
            ) -> tuple[str, list[Any] | dict[str, Any]]:
    """The query in ``dialect`` and its parameters in the shape that dialect's driver binds.

    Named parameters (``$name``) become positional ones, in order of appearance, for the
    dialects whose drivers bind only positional values (Trino).

    Examples
    --------
    >>> prepare("SELECT least(x, $tau) + $tau AS y FROM t", {"tau": 5}, "trino")
    ('SELECT LEAST(x, ?) + ? AS y FROM t', [5, 5])
    """
    target = check_dialect(dialect)
    bound = bind_params(params)
    if isinstance(bound, dict) and target in _POSITIONAL_ONLY:
        import sqlglot
        from sqlglot import exp

        tree = sqlglot.parse_one(sql, read="duckdb")
        order: list[Any] = []

        def positional(node: Any) -> Any:
            if isinstance(node, exp.Placeholder) and node.this:
                name = str(node.this)
                if name not in bound:
                    raise DataError(f"no value for the query parameter ${name}; pass it in params")
                order.append(bound[name])
                return exp.Placeholder()
            return node

        sql = tree.transform(positional).sql(dialect="duckdb")
        bound = order
    return transpile(sql, target), bound


@functools.lru_cache(maxsize=8)
def _known_functions(target: str) -> frozenset[str]:
    from sqlglot.dialects.dialect import Dialect

    parser = Dialect.get_or_raise(target).parser_class
    return frozenset(k.upper() for k in parser.FUNCTIONS) | _NATIVE[target]


def _rewrite(node: Any, *, target: str) -> Any:
    """Rewrite the DuckDB-only functions SQLGlot leaves untranslated."""
    from sqlglot import exp

    if target == "spark" and isinstance(node, exp.Literal) and not node.is_string \
            and any(ch in str(node.this) for ch in ".eE") and not isinstance(node.parent, exp.Cast):
        # Spark reads 1000.0 as DECIMAL (so x / 1000.0 is a DECIMAL); DuckDB computes in DOUBLE
        return exp.cast(node.copy(), "DOUBLE")
    if target == "spark" and isinstance(node, exp.DateDiff) and node.args.get("date_part_boundary") \
            and node.args.get("unit") is not None:
        # DuckDB's date_diff counts unit boundaries crossed (it truncates both ends to the unit);
        # Spark's counts whole units elapsed. Truncating both ends first gives DuckDB's number.
        unit = node.args["unit"]

        def trunc(x: Any) -> Any:
            if isinstance(x, exp.TimestampTrunc | exp.DateTrunc) \
                    and str(x.args.get("unit")).upper() == str(unit).upper():
                return x
            return exp.TimestampTrunc(this=x, unit=unit.copy())

        return exp.DateDiff(this=trunc(node.this), expression=trunc(node.expression), unit=unit.copy())
    if isinstance(node, exp.IsInf) and target in _INF:
        # SQLGlot writes IS_INF(x) for every target, a function only BigQuery has
        if target == "trino":
            return exp.Anonymous(this="IS_INFINITE", expressions=[node.this])
        return exp.Paren(this=exp.EQ(this=exp.Abs(this=node.this),
                                     expression=exp.cast(exp.Literal.string(_INF[target]), _FLOAT[target])))
    if isinstance(node, exp.IsNan) and target == "spark" \
            and not (isinstance(node.parent, exp.If) and node.arg_key == "false"):
        # Spark's isnan(NULL) is false, DuckDB's NULL: keep NULL NULL (it matters under NOT)
        return exp.If(this=exp.Is(this=node.this.copy(), expression=exp.Null()), true=exp.Null(),
                      false=exp.IsNan(this=node.this.copy()))
    if isinstance(node, exp.IsNan) and target in ("snowflake", "postgres"):
        # no IS_NAN there; NaN = NaN is true on both (unlike IEEE), NULL stays NULL
        return exp.Paren(this=exp.EQ(this=node.this,
                                     expression=exp.cast(exp.Literal.string("NaN"), _FLOAT[target])))
    if isinstance(node, exp.ToDays):
        return _days(node.this, target)
    if isinstance(node, exp.Anonymous):
        args = node.expressions
        if str(node.name).upper() == "ISFINITE" and len(args) == 1:
            return _isfinite(args[0], target)
    if target == "spark" and isinstance(node, exp.PercentileCont) \
            and not isinstance(node.parent, exp.WithinGroup) and node.args.get("expression") is not None:
        # DuckDB quantile_cont(x, q): Spark's exact, linearly interpolated percentile(x, q)
        return exp.Anonymous(this="PERCENTILE", expressions=[node.this, node.args["expression"]])
    return node


def _days(n: Any, target: str) -> Any:
    from sqlglot import exp

    if target in ("spark",):
        zero = exp.Literal.number(0)
        return exp.Anonymous(this="MAKE_INTERVAL", expressions=[zero, zero, zero, n])
    if target in ("postgres", "bigquery"):
        return exp.Anonymous(this="MAKE_INTERVAL", expressions=[
            exp.Kwarg(this=exp.var("days" if target == "postgres" else "day"), expression=n)])
    # trino, snowflake: n * INTERVAL '1' DAY
    return exp.Mul(this=exp.Paren(this=n),
                   expression=exp.Interval(this=exp.Literal.string("1"), unit=exp.var("DAY")))


def _isfinite(x: Any, target: str) -> Any:
    from sqlglot import exp

    if target == "trino":
        return exp.Anonymous(this="IS_FINITE", expressions=[x])
    if target == "postgres":
        return exp.Anonymous(this="ISFINITE", expressions=[x])
    # NULL stays NULL; NaN and +-inf are not finite. Through the value's text, so that the same
    # predicate holds for floating-point columns and for timestamps (always finite on these engines)
    texts = _NONFINITE_TEXT[target]
    return exp.Paren(this=exp.not_(exp.In(this=exp.cast(x.copy(), "TEXT"),
                                          expressions=[exp.Literal.string(t) for t in texts])))


_INF = {"spark": "Infinity", "trino": "", "snowflake": "inf", "postgres": "Infinity"}
_FLOAT = {"spark": "DOUBLE", "snowflake": "FLOAT", "postgres": "DOUBLE PRECISION"}

_NONFINITE_TEXT = {"spark": ("Infinity", "-Infinity", "NaN"), "bigquery": ("inf", "-inf", "nan"),
                   "snowflake": ("inf", "-inf", "NaN")}
