"""``servicelab runs diff A B``: two runs side by side.

Three blocks, each computed from the run folders alone (no warehouse is opened):

- **parameters**: the seed and every parameter of either run, with the ones that differ marked;
- **data**: backend, dialect, location, the data fingerprint and each table's row count;
- **effects**: the two tidy effects tables (``tables/effects.parquet``) joined on their label
  columns (``metric``, ``segment``...), each estimate of A next to B's and their difference.

A run without an effects table (a study that writes none, or a failed run) shows the first two
blocks and says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["EFFECT_COLUMNS", "RunDiff", "diff_runs"]

EFFECT_COLUMNS = ("effect", "estimate", "ci_low", "ci_high", "se", "pvalue", "pvalue_adj")
"""The estimate columns compared, where an effects table has them (otherwise every numeric one)."""


@dataclass
class RunDiff:
    """What differs between two runs (see :func:`diff_runs`).

    Attributes
    ----------
    a, b : str
        The two run folders (``study/run_id``).
    params : DataFrame
        ``name``, ``a``, ``b``, ``same``: the seed and every parameter of either run.
    data : DataFrame
        ``item``, ``a``, ``b``, ``same``: backend, dialect, location, fingerprint, table rows.
    effects : DataFrame or None
        The effects tables joined on their label columns: ``<column>_a``, ``<column>_b`` and
        ``<column>_diff`` (B minus A) per estimate column; None when either run has none.
    note : str
        Why ``effects`` is None, if it is.
    """

    a: str
    b: str
    params: pd.DataFrame
    data: pd.DataFrame
    effects: pd.DataFrame | None = None
    note: str = ""
    labels: list[str] = field(default_factory=list)

    @property
    def same_data(self) -> bool:
        """True when both runs read data with the same fingerprint."""
        row = self.data[self.data["item"] == "fingerprint"]
        return bool(len(row)) and bool(row["same"].iloc[0]) and row["a"].iloc[0] not in (None, "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (``servicelab runs diff --json``)."""
        def records(frame: pd.DataFrame | None) -> list[dict[str, Any]] | None:
            if frame is None:
                return None
            return json.loads(frame.to_json(orient="records", date_format="iso"))

        return {"a": self.a, "b": self.b, "params": records(self.params), "data": records(self.data),
                "effects": records(self.effects), "labels": self.labels, "note": self.note,
                "same_data": self.same_data}

    def to_text(self) -> str:
        """The plain-text report ``servicelab runs diff`` prints."""
        out = [f"A  {self.a}", f"B  {self.b}", "", "parameters (* differs)"]
        out += _block(self.params, "name")
        out += ["", "data (* differs)" + ("" if self.same_data else "  -- the runs read different data")]
        out += _block(self.data, "item")
        out.append("")
        if self.effects is None:
            out.append(f"effects: {self.note}")
        else:
            estimates = [c[:-2] for c in self.effects.columns if c.endswith("_a")]
            shown = [*self.labels, *(f"{c}{s}" for c in estimates[:2] for s in ("_a", "_b", "_diff"))]
            more = f"; {', '.join(estimates[2:])} with --json" if len(estimates) > 2 else ""
            out.append(f"effects (B - A){more}")
            out.append(self.effects[shown].to_string(index=False, float_format=lambda x: f"{x:.6g}"))
        return "\n".join(out)


def _block(frame: pd.DataFrame, key: str) -> list[str]:
    width = max([len(str(k)) for k in frame[key]] + [4])
    wa = max([len(_show(v)) for v in frame["a"]] + [1])
    return [f"{'*' if not same else ' '} {k!s:<{width}}  {_show(a):<{wa}}  {_show(b)}"
            for k, a, b, same in frame[[key, "a", "b", "same"]].itertuples(index=False)]


def _show(value: Any) -> str:
    return "-" if value is None else (value if isinstance(value, str) else json.dumps(value))


def _manifest(folder: Path) -> dict[str, Any]:
    from servicelab.errors import RunError

    try:
        return json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise RunError(f"run {folder} has no readable manifest.json ({exc}); cannot compare it") from exc


def _side_by_side(a: dict[str, Any], b: dict[str, Any], key: str) -> pd.DataFrame:
    names = list(dict.fromkeys([*a, *b]))
    rows = [{key: n, "a": a.get(n), "b": b.get(n), "same": a.get(n) == b.get(n)} for n in names]
    return pd.DataFrame(rows, columns=[key, "a", "b", "same"])


def _data_items(m: dict[str, Any]) -> dict[str, Any]:
    d = m.get("data") or {}
    items = {k: d.get(k) for k in ("backend", "dialect", "location", "fingerprint")}
    for table, n in sorted((d.get("tables") or {}).items()):
        items[f"rows {table}"] = n
    return items


def _labels(frame: pd.DataFrame) -> list[str]:
    labels = []
    for c in frame.columns:
        s = frame[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            break
        labels.append(str(c))
    return labels


def _effects(fa: Path, fb: Path) -> tuple[pd.DataFrame | None, list[str], str]:
    pa, pb = fa / "tables" / "effects.parquet", fb / "tables" / "effects.parquet"
    missing = [str(p.parent.parent.name) for p in (pa, pb) if not p.is_file()]
    if missing:
        return None, [], f"no effects table (tables/effects.parquet) in {', '.join(missing)}"
    ea, eb = pd.read_parquet(pa), pd.read_parquet(pb)
    labels = [c for c in _labels(ea) if c in eb.columns]
    numeric = [c for c in ea.columns if c in eb.columns and c not in labels
               and pd.api.types.is_numeric_dtype(ea[c]) and not pd.api.types.is_bool_dtype(ea[c])]
    chosen = [c for c in EFFECT_COLUMNS if c in numeric] or numeric
    if not chosen:
        return None, labels, "the effects tables share no numeric column"
    if not labels:  # no label columns: compare row by row
        ea, eb, labels = ea.assign(row=range(len(ea))), eb.assign(row=range(len(eb))), ["row"]
    merged = ea[labels + chosen].merge(eb[labels + chosen], on=labels, how="outer", suffixes=("_a", "_b"))
    out = merged[labels].copy()
    for c in chosen:
        out[f"{c}_a"], out[f"{c}_b"] = merged[f"{c}_a"], merged[f"{c}_b"]
        out[f"{c}_diff"] = merged[f"{c}_b"] - merged[f"{c}_a"]
    return out, labels, ""


def diff_runs(a: str | Path, b: str | Path, runs_dir: str | Path = "runs") -> RunDiff:
    """Compare two runs: parameters, data fingerprint and effects side by side.

    Parameters
    ----------
    a, b : str or Path
        Run ids (whole, or a unique prefix, as for ``servicelab runs show``) or run folders.
    runs_dir : str or Path
        Root of the run folders, where the ids are looked up.

    Returns
    -------
    RunDiff

    Raises
    ------
    RunError
        An id that matches no run or several, or a run without a readable manifest.

    Examples
    --------
    >>> d = diff_runs("1a2b", "3c4d")  # doctest: +SKIP
    >>> print(d.to_text())  # doctest: +SKIP
    """
    from studies.runner.store import find_run

    fa, fb = (Path(x) if Path(x).is_dir() else find_run(str(x), runs_dir) for x in (a, b))
    ma, mb = _manifest(fa), _manifest(fb)
    pa = {"study": ma.get("study"), "status": ma.get("status"), "seed": ma.get("seed"), **(ma.get("params") or {})}
    pb = {"study": mb.get("study"), "status": mb.get("status"), "seed": mb.get("seed"), **(mb.get("params") or {})}
    effects, labels, note = _effects(fa, fb)
    return RunDiff(a=f"{fa.parent.name}/{fa.name}", b=f"{fb.parent.name}/{fb.name}",
                   params=_side_by_side(pa, pb, "name"), data=_side_by_side(_data_items(ma), _data_items(mb), "item"),
                   effects=effects, note=note, labels=labels)
