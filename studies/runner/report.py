"""Render a run's report as Markdown and HTML, and the provenance table notebooks show.

Layout of a report: title, loud diagnostics, headline, the study's own body, the data section
(rows checked and dropped by :mod:`studies.runner.quality`), diagnostics, the tables and figures
the body did not already show, and provenance. Numbers are formatted once, by
:func:`servicelab.results.format_number`.

Conventions for a study's ``report_md``:

- a figure the body embeds (``![...](figures/<key>.png)``) is not repeated at the end;
- a table the body shows or points to (any mention of ``tables/<key>.parquet``) is listed in the
  table index but not printed again;
- tables wider than :data:`MAX_COLUMNS` columns are transposed (few rows) or split into groups of
  columns that repeat the identifying columns, so that no table runs off the page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from markdown_it import MarkdownIt

from servicelab.results import format_frame, format_number, markdown_table
from studies.runner.spec import StudyOutput

MAX_COLUMNS = 10
"""Widest table printed as is; wider ones are transposed or split."""
MAX_ROWS = 40
"""Rows of a table printed in the report (all rows are in its Parquet file)."""

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:980px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:0.92em;display:block;overflow-x:auto;
max-width:100%}th,td{border:1px solid #ccc;padding:3px 8px}td{font-variant-numeric:tabular-nums}
th{background:#f3f3f3}img{max-width:100%}blockquote{margin:1em 0;padding:0.5em 1em;border-left:6px solid
#b00020;background:#fdecee}code{background:#f6f6f6;padding:0 3px}
"""


def render_report(manifest: dict[str, Any], output: StudyOutput, fmt: str = "md") -> str:
    """Build the report: headline, loud diagnostics, the study's body, data, tables, figures,
    provenance.

    Parameters
    ----------
    manifest : dict
        The run manifest.
    output : StudyOutput
        What the study returned.
    fmt : {"md", "html"}
        Output format.
    """
    md = _markdown(manifest, output)
    if fmt == "md":
        return md
    if fmt != "html":
        raise ValueError(f"fmt must be 'md' or 'html', got {fmt!r}")
    body = MarkdownIt("commonmark").enable("table").render(md)
    title = html.escape(f"{manifest['study']} — {manifest['run_id']}")
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


def report_table(frame: pd.DataFrame, max_columns: int = MAX_COLUMNS,
                 max_rows: int = MAX_ROWS) -> str:
    """A table for a report in Markdown, never wider than ``max_columns`` columns.

    Up to ``max_columns`` columns: as is. Wider with at most ``max_columns - 1`` rows:
    transposed (one row per column). Otherwise split into groups of columns, each repeating the
    identifying (leading non-numeric) columns. Only the first ``max_rows`` rows are shown, with a
    note saying so.

    Examples
    --------
    >>> wide = pd.DataFrame([{f"c{i}": float(i) for i in range(12)}])
    >>> print(report_table(wide).splitlines()[0])
    | column | 0 |
    """
    shown = frame.head(max_rows)
    note = (f"\n\n*first {len(shown)} of {len(frame)} rows*" if len(frame) > len(shown) else "")
    if frame.shape[1] <= max_columns:
        return markdown_table(shown) + note
    if len(shown) < max_columns:
        text = format_frame(shown)
        ids = _id_columns(shown)
        names = [" / ".join(str(text.loc[i, c]) for c in ids) if ids else str(k)
                 for k, i in enumerate(shown.index)]
        t = text.T
        t.columns = _unique(names)
        t.insert(0, "column", [str(c) for c in shown.columns])
        return markdown_table(t) + note
    ids = _id_columns(shown)
    rest = [c for c in shown.columns if c not in ids]
    per = max(1, max_columns - len(ids))
    parts = []
    for start in range(0, len(rest), per):
        cols = rest[start:start + per]
        parts.append(f"*columns {start + 1}–{start + len(cols)} of {len(rest)} "
                     f"(after {', '.join(map(str, ids))})*" if ids else
                     f"*columns {start + 1}–{start + len(cols)} of {len(rest)}*")
        parts.append("")
        parts.append(markdown_table(shown[ids + cols]))
        parts.append("")
    return "\n".join(parts).rstrip() + note


def effect_figure(rows: pd.DataFrame, *, label: str, estimate: str, low: str, high: str,
                  xlabel: str, title: str, truth: str | float | None = None,
                  ci_level: float = 0.95) -> Any:
    """A forest plot for a study report: one row per estimate with its interval, a line at no
    effect, and the truth where the world knows it (a distinct marker, named in the legend).

    Parameters
    ----------
    rows : DataFrame
        One row per estimate.
    label, estimate, low, high : str
        Columns with the row label, the estimate and its interval.
    xlabel, title : str
        Axis label (name the unit) and title.
    truth : str or float, optional
        A column with each row's true effect (a diamond per row), or one true effect for all rows
        (a vertical line). ``None``/NaN: no truth is drawn.
    ci_level : float
        Interval level, for the legend.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> rows = pd.DataFrame({"m": ["a", "b"], "e": [1.0, 2.0], "lo": [0.0, 1.0], "hi": [2.0, 3.0]})
    >>> fig = effect_figure(rows, label="m", estimate="e", low="lo", high="hi", xlabel="s",
    ...                     title="t", truth=1.5)
    >>> "true effect (synthetic world)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    True
    """
    import matplotlib.pyplot as plt

    n = len(rows)
    fig, ax = plt.subplots(figsize=(8, 0.42 * n + 2.0))
    y = list(range(n))[::-1]
    est = rows[estimate].to_numpy(dtype=float)
    lo = rows[low].to_numpy(dtype=float)
    hi = rows[high].to_numpy(dtype=float)
    ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="o", color="#1f77b4", capsize=3,
                label=f"estimate, {ci_level:.0%} interval")
    ax.axvline(0, color="black", lw=0.8)
    if isinstance(truth, str) and truth in rows:
        tv = rows[truth].to_numpy(dtype=float)
        ok = ~pd.isna(tv)
        if ok.any():
            ax.plot(tv[ok], [yy for yy, k in zip(y, ok, strict=True) if k], "D", mfc="none",
                    mec="#d62728", mew=1.6, ms=8, ls="none", label="true effect (synthetic world)")
    elif truth is not None and not isinstance(truth, str) and not pd.isna(truth):
        ax.axvline(float(truth), color="#d62728", ls="--", lw=1.4,
                   label="true effect (synthetic world)")
    ax.set_yticks(y, [str(v) for v in rows[label]], fontsize=8)
    ax.set_ylim(-0.9, n - 0.1 + 0.5 * (n < 4))
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def provenance_table(run: Any) -> pd.DataFrame:
    """Where a run's numbers come from, as a one-column table (``value``) indexed by field.

    Parameters
    ----------
    run : RunRecord, run folder path, or manifest dict
        A finished run (``run_study(...)``'s record, ``runs/<study>/<id>`` or its manifest).

    Returns
    -------
    pandas.DataFrame
        Run folder, study, status, seed, parameters, git SHA and dirty flag, data source,
        fingerprint, table rows, rows dropped by the data-quality check, Python and package
        versions, times.

    Examples
    --------
    >>> provenance_table({"study": "routing-ab", "seed": 7, "params": {"alpha": 0.05}}).loc[
    ...     ["seed", "parameters"], "value"].tolist()
    ['7', 'alpha=0.05']

    In a notebook: ``provenance_table(run_study("routing-ab", db=default_db()))``.
    """
    manifest, folder = _manifest_of(run)
    data, git, env = manifest.get("data", {}), manifest.get("git", {}), manifest.get(
        "environment", {})
    rows: dict[str, Any] = {}
    if folder is not None:
        rows["run folder"] = str(folder)
    rows.update({
        "study": manifest.get("study"),
        "run id": manifest.get("run_id"),
        "status": manifest.get("status"),
        "seed": manifest.get("seed"),
        "parameters": ", ".join(f"{k}={v}" for k, v in manifest.get("params", {}).items()),
        "git SHA": git.get("sha"),
        "dirty tree": git.get("dirty"),
        "data": f"{data.get('db')} ({'synthetic world' if data.get('synthetic') else 'warehouse'})",
        "data fingerprint": str(data.get("fingerprint", ""))[:16],
    })
    quality = _quality_records(manifest)
    for q in quality:
        rows[f"{q['table']} rows (in scope)"] = f"{q['rows_table']:,} ({q['rows_scope']:,})"
        rows[f"{q['table']} rows dropped"] = f"{q['rows_dropped']:,}"
    if not quality and "contacts" in data.get("tables", {}):
        rows["contacts rows"] = f"{data['tables']['contacts']:,}"
    rows["python"] = env.get("python")
    rows["packages"] = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items() if v)
    rows["started"] = manifest.get("started_at")
    rows["finished"] = manifest.get("finished_at")
    rows["duration (s)"] = manifest.get("duration_s")
    frame = pd.DataFrame({"value": [("" if v is None else str(v)) for v in rows.values()]},
                         index=pd.Index(list(rows), name="field"))
    return frame


def _manifest_of(run: Any) -> tuple[dict[str, Any], Path | None]:
    import json

    if isinstance(run, Mapping):
        return dict(run), None
    if isinstance(run, str | Path):
        folder = Path(run)
        return json.loads((folder / "manifest.json").read_text()), folder
    manifest = getattr(run, "manifest", None)
    if manifest is None:
        raise TypeError(f"expected a RunRecord, a run folder or a manifest, got {type(run).__name__}")
    return manifest, getattr(run, "path", None)


def _quality_records(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    queries = manifest.get("data", {}).get("queries", [])
    return [q["quality"] for q in queries if isinstance(q, Mapping) and "quality" in q]


def _data_section(manifest: Mapping[str, Any]) -> list[str]:
    quality = _quality_records(manifest)
    if not quality:
        return []
    params = manifest.get("params", {})
    lines = ["## Data", ""]
    lines.extend(f"- **{q['table']}**: {q['rows_table']:,} rows, {q['rows_scope']:,} in "
                 f"{q['scope']}; **{q['rows_dropped']:,} dropped** for NULL or non-finite "
                 "required values." for q in quality)
    rule = (f"Rule: a column may have at most a share max_missing = "
            f"{format_number(float(params.get('max_missing', 0.0)))} of NULL or non-finite values "
            "where the analysis needs one, else the run fails"
            + ("; drop_missing = true: every such row is dropped instead."
               if params.get("drop_missing") else "; those rows are dropped and counted here."))
    lines += ["", rule, ""]
    rows = [{"table": q["table"], "column": c["column"], "role": c["role"],
             "required": c["required_when"], "rows needing a value": f"{c['required']:,}",
             "NULL": f"{c['null']:,}" + (" (allowed)" if c.get("nullable") else ""),
             "non-finite": f"{c['nonfinite']:,}", "note": c.get("note", "")}
            for q in quality for c in q["columns"]]
    lines += [markdown_table(pd.DataFrame(rows)), ""]
    return lines


def _markdown(manifest: dict[str, Any], output: StudyOutput) -> str:
    lines = [f"# {manifest['title']}", "", f"Study `{manifest['study']}`, run `{manifest['run_id']}`.", ""]
    status = manifest["status"]
    failed = [d for d in output.diagnostics if d.status == "fail"]
    warned = [d for d in output.diagnostics if d.status == "warning"]
    if failed:
        word = "RUN FAILED" if status == "failed" else "FAILED CHECKS (accepted with --allow-failed-checks)"
        lines += [f"> **{word}:** " + "; ".join(f"{d.name}: {d.message}" for d in failed), ""]
    if warned:
        lines += ["> **WARNINGS:** " + "; ".join(f"{d.name}: {d.message}" for d in warned), ""]
    lines += [f"**Headline:** {output.headline}", ""]
    body = output.report_md.strip() if output.report_md else ""
    if body:
        lines += [body, ""]
    lines += _data_section(manifest)
    if output.diagnostics:
        lines += ["## Diagnostics", ""]
        lines += [f"- [{d.status.upper()}] **{d.name}**: {d.message}" for d in output.diagnostics]
        lines.append("")
    if output.tables:
        lines += ["## Tables", "", "All tables are in the run folder as Parquet files.", ""]
        index = [{"table": k, "rows": len(f), "columns": f.shape[1],
                  "file": f"tables/{k}.parquet",
                  "shown": "in the text above" if _mentions_table(body, k) else "below"}
                 for k, f in output.tables.items()]
        lines += [markdown_table(pd.DataFrame(index)), ""]
        for key, frame in output.tables.items():
            if _mentions_table(body, key):
                continue
            lines += [f"### Table: {key}", "", report_table(frame), ""]
    for key in output.figures:
        if not _embeds_figure(body, key):
            lines += [f"## Figure: {key}", "", f"![{key}](figures/{key}.png)", ""]
    lines += ["## Provenance", "", markdown_table(provenance_table(manifest).reset_index()), "",
              f"Status **{status}**.", ""]
    return "\n".join(lines)


def _mentions_table(body: str, key: str) -> bool:
    return f"tables/{key}.parquet" in body


def _embeds_figure(body: str, key: str) -> bool:
    return re.search(rf"\]\(figures/{re.escape(key)}\.png\)", body) is not None


def _id_columns(frame: pd.DataFrame) -> list[str]:
    ids = []
    for c in frame.columns:
        s = frame[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or len(ids) >= 3:
            break
        ids.append(c)
    return ids


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    return out
