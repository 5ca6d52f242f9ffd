"""Sufficient statistics by arm and segment, from pandas or inside DuckDB.

A *moment request* names, for one metric, the columns whose sums, sums of squares and
cross-products are needed, computed over the rows where all of them are present. The pandas
path and the warehouse path fill the same :class:`Moments` objects, so every downstream number
is computed by the same code.

SQL safety: identifiers are validated and double-quoted, a table name must look like
``[schema.]table``, and no user *value* (arm labels, segment values) is ever formatted into SQL:
arms and segments come back from ``GROUP BY`` and are matched in Python.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from servicelab.errors import DataError
from servicelab.validation import InvalidCount, count_invalid

ALL = "all"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


@dataclass
class Moments:
    """Count, sums and cross-product sums of a few columns for one arm (and segment)."""

    columns: tuple[str, ...]
    n: float = 0.0
    sums: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cross: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    missing: int = 0

    def __post_init__(self) -> None:
        k = len(self.columns)
        if self.sums.size == 0:
            self.sums = np.zeros(k)
        if self.cross.size == 0:
            self.cross = np.zeros((k, k))

    def __add__(self, other: Moments) -> Moments:
        if other.columns != self.columns:
            raise ValueError("cannot add moments of different columns")
        return Moments(
            self.columns,
            self.n + other.n,
            self.sums + other.sums,
            self.cross + other.cross,
            self.missing + other.missing,
        )

    def _i(self, col: str) -> int:
        return self.columns.index(col)

    def mean(self, col: str | None) -> float:
        if col is None:
            return 1.0
        return float(self.sums[self._i(col)] / self.n)

    def cov(self, a: str | None, b: str | None) -> float:
        if a is None or b is None:
            return 0.0
        i, j = self._i(a), self._i(b)
        return float((self.cross[i, j] - self.sums[i] * self.sums[j] / self.n) / (self.n - 1))

    def var(self, col: str | None) -> float:
        return self.cov(col, col)


@dataclass(frozen=True)
class MomentRequest:
    """The columns one metric needs; rows with any of them missing are handled by nan_policy."""

    key: str
    columns: tuple[str, ...]


def quote_ident(name: str) -> str:
    """Validate and double-quote a column identifier for SQL."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise DataError(
            f"column name {name!r} is not a plain SQL identifier (letters, digits, _); "
            "rename the column or select it under an alias"
        )
    return f'"{name}"'


def is_warehouse(data: Any) -> bool:
    """True for a DuckDB relation or a ``(connection, table_or_sql)`` pair."""
    try:
        import duckdb
    except ImportError:  # pragma: no cover - duckdb is a core dependency
        return False
    if isinstance(data, duckdb.DuckDBPyRelation):
        return True
    return (
        isinstance(data, tuple)
        and len(data) == 2
        and isinstance(data[0], duckdb.DuckDBPyConnection)
        and isinstance(data[1], str)
    )


class Source:
    """Uniform access to a pandas frame or a DuckDB relation / (connection, table_or_sql)."""

    def __init__(self, data: Any) -> None:
        self.frame: pd.DataFrame | None = None
        self.rel = None
        if isinstance(data, pd.DataFrame):
            self.frame = data
            self.columns = [str(c) for c in data.columns]
        elif is_warehouse(data):
            import duckdb

            if isinstance(data, duckdb.DuckDBPyRelation):
                self.rel = data
            else:
                con, src = data
                src = src.strip()
                if _TABLE.match(src):
                    quoted = ".".join(f'"{p}"' for p in src.split("."))
                    self.rel = con.sql(f"SELECT * FROM {quoted}")
                elif re.match(r"^(select|with|from)\b", src, flags=re.IGNORECASE):
                    self.rel = con.sql(src)
                else:
                    raise DataError(
                        f"{src[:60]!r} is neither a table name nor a SELECT query; pass "
                        "(connection, 'table') or (connection, 'SELECT ...')"
                    )
            self.columns = list(self.rel.columns)
        else:
            raise DataError(
                f"data must be a pandas DataFrame, a DuckDB relation or (connection, table_or_sql);"
                f" got {type(data).__name__}"
            )

    @property
    def is_sql(self) -> bool:
        return self.rel is not None

    def require(self, cols: Sequence[str], what: str) -> None:
        missing = [c for c in cols if c not in self.columns]
        if missing:
            raise DataError(
                f"{what}: column(s) {missing} not in the data (available: {self.columns[:20]})"
            )

    def query(self, sql: str) -> pd.DataFrame:
        """Run ``sql`` (built from validated, quoted identifiers only) where the source is
        visible as ``src``. No data value is ever part of the SQL text."""
        assert self.rel is not None
        return self.rel.query("src", sql).df()

    def arm_counts(self, variant: str, segment: str | None) -> pd.DataFrame:
        """Rows per (arm, segment)."""
        if self.frame is not None:
            keys = [variant] + ([segment] if segment else [])
            g = self.frame.groupby(keys, dropna=False, observed=True).size()
            out = g.reset_index(name="n")
        else:
            v = quote_ident(variant)
            if segment:
                s = quote_ident(segment)
                out = self.query(f"SELECT {v}, {s}, count(*) AS n FROM src GROUP BY ALL")
            else:
                out = self.query(f"SELECT {v}, count(*) AS n FROM src GROUP BY ALL")
        if segment is None:
            out[ALL] = ALL
        return out

    def fetch(self, cols: Sequence[str]) -> pd.DataFrame:
        """Raw columns (for rank tests, quantiles, clusters): only the columns asked for."""
        cols = list(dict.fromkeys(cols))
        if self.frame is not None:
            return self.frame[cols]
        sel = ", ".join(quote_ident(c) for c in dict.fromkeys(cols))
        return self.query(f"SELECT {sel} FROM src")

    def invalid_counts(self, cols: Sequence[str]) -> list[InvalidCount]:
        """Missing (NULL/NaN) and infinite values per column, counted where the data live."""
        cols = list(dict.fromkeys(cols))
        if not cols:
            return []
        if self.frame is not None:
            return count_invalid(self.frame, cols)
        aggs = ["count(*) AS __n"]
        for i, c in enumerate(cols):
            x = f"CAST({quote_ident(c)} AS DOUBLE)"
            aggs.append(f"count(*) FILTER (WHERE {x} IS NULL OR isnan({x})) AS null_{i}")
            aggs.append(f"count(*) FILTER (WHERE isinf({x})) AS inf_{i}")
        row = self.query(f"SELECT {', '.join(aggs)} FROM src").iloc[0]
        n = int(row["__n"])
        return [InvalidCount(c, int(row[f"null_{i}"]), int(row[f"inf_{i}"]), n)
                for i, c in enumerate(cols)]

    def moments(
        self, variant: str, segment: str | None, requests: Sequence[MomentRequest]
    ) -> dict[str, dict[tuple[Hashable, Hashable], Moments]]:
        """Moments per request, keyed by (arm, segment value)."""
        if self.frame is not None:
            return _moments_pandas(self.frame, variant, segment, requests)
        return _moments_sql(self, variant, segment, requests)


def _moments_pandas(frame, variant, segment, requests):
    if variant is None:
        frame = frame.assign(__one=0)
        variant = "__one"
    keys = [variant] + ([segment] if segment else [])
    out: dict[str, dict[tuple[Hashable, Hashable], Moments]] = {}
    for req in requests:
        cols = list(req.columns)
        vals = frame[cols].astype("float64")
        ok = vals.notna().all(axis=1).to_numpy()
        x = vals.to_numpy()
        k = len(cols)
        data = {"__ok": ok.astype("float64")}
        xz = np.where(ok[:, None], x, 0.0)
        for i in range(k):
            data[f"s{i}"] = xz[:, i]
            for j in range(i, k):
                data[f"c{i}_{j}"] = xz[:, i] * xz[:, j]
        agg = pd.DataFrame(data, index=frame.index)
        for kk in keys:
            agg[f"__k_{kk}"] = frame[kk].to_numpy()
        gkeys = [f"__k_{kk}" for kk in keys]
        g = agg.groupby(gkeys, dropna=False, observed=True, sort=True)
        sums = g.sum()
        sizes = g.size().reindex(sums.index).to_numpy()
        arr = sums.to_numpy()
        ci = {c: i for i, c in enumerate(sums.columns)}
        s_idx = [ci[f"s{i}"] for i in range(k)]
        res = {}
        for r, idx in enumerate(sums.index):
            arm, seg = (idx if isinstance(idx, tuple) else (idx,)) + ((ALL,) if not segment else ())
            row = arr[r]
            m = Moments(tuple(cols))
            m.n = float(row[ci["__ok"]])
            m.missing = int(sizes[r] - m.n)
            m.sums = row[s_idx].astype(float)
            cross = np.zeros((k, k))
            for i in range(k):
                for j in range(i, k):
                    cross[i, j] = cross[j, i] = row[ci[f"c{i}_{j}"]]
            m.cross = cross
            res[(arm, seg)] = m
        out[req.key] = res
    return out


def _moments_sql(src: Source, variant, segment, requests):
    v = quote_ident(variant) if variant is not None else "0"
    s = quote_ident(segment) if segment else None
    sel = [f"{v} AS __arm"] + ([f"{s} AS __seg"] if s else [])
    aggs: list[str] = ["count(*) AS __rows"]
    layout: list[tuple[str, list[str], int]] = []
    for r, req in enumerate(requests):
        qcols = [quote_ident(c) for c in req.columns]
        cast = [f"CAST({c} AS DOUBLE)" for c in qcols]
        cond = " AND ".join(f"({c} IS NOT NULL AND NOT isnan({c}))" for c in cast)
        names = [f"n_{r}"]
        aggs.append(f"count(*) FILTER (WHERE {cond}) AS n_{r}")
        k = len(cast)
        for i in range(k):
            aggs.append(f"sum({cast[i]}) FILTER (WHERE {cond}) AS s_{r}_{i}")
            names.append(f"s_{r}_{i}")
            aggs.extend(f"sum({cast[i]} * {cast[j]}) FILTER (WHERE {cond}) AS c_{r}_{i}_{j}"
                        for j in range(i, k))
        layout.append((req.key, list(req.columns), r))
    group = "__arm" + (", __seg" if s else "")
    sql = f"SELECT {', '.join(sel)}, {', '.join(aggs)} FROM src GROUP BY {group} ORDER BY {group}"
    df = src.query(sql)
    records = df.to_dict(orient="records")
    out: dict[str, dict[tuple[Hashable, Hashable], Moments]] = {}
    for key, cols, r in layout:
        res = {}
        k = len(cols)
        for rd in records:
            arm = rd["__arm"]
            seg = rd["__seg"] if s else ALL
            m = Moments(tuple(cols))
            m.n = float(rd[f"n_{r}"])
            m.missing = int(rd["__rows"] - rd[f"n_{r}"])
            m.sums = np.array([_f(rd[f"s_{r}_{i}"]) for i in range(k)])
            cross = np.zeros((k, k))
            for i in range(k):
                for j in range(i, k):
                    cross[i, j] = cross[j, i] = _f(rd[f"c_{r}_{i}_{j}"])
            m.cross = cross
            res[(arm, seg)] = m
        out[key] = res
    return out


def _f(x: Any) -> float:
    return 0.0 if x is None or (isinstance(x, float) and np.isnan(x)) else float(x)
