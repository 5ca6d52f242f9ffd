"""Run reports (issue 10): no table printed twice, wide tables split or transposed, figures the
body embeds not repeated, a data section from the quality counts, one provenance table."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from studies.book import provenance_table as book_provenance_table
from studies.runner.report import (
    MAX_COLUMNS,
    effect_figure,
    provenance_table,
    render_report,
    report_table,
)
from studies.runner.spec import StudyOutput

MANIFEST = {
    "study": "demo", "title": "Demo", "run_id": "r1", "status": "success", "seed": 3,
    "params": {"alpha": 0.05, "max_missing": 0.0, "drop_missing": True},
    "git": {"sha": "abc", "dirty": False},
    "environment": {"python": "3.11.7", "packages": {"numpy": "2.0", "pandas": None}},
    "data": {"db": "/x.duckdb", "synthetic": True, "tables": {"contacts": 10},
             "fingerprint": "f" * 64,
             "queries": [{"sql": "SELECT 1", "rows": 1, "sha256": "0",
                          "quality": {"table": "contacts", "scope": "all contacts",
                                      "rows_table": 10, "rows_scope": 10, "rows_dropped": 2,
                                      "keep_sql": "TRUE",
                                      "columns": [{"table": "contacts", "column": "handle_s",
                                                   "role": "outcome", "scope": "all contacts",
                                                   "required_when": "where NOT abandoned",
                                                   "required": 8, "null": 2, "nonfinite": 0,
                                                   "note": "", "nullable": False}]}}]},
    "started_at": "t0", "finished_at": "t1", "duration_s": 1.0,
}


def _wide(rows: int, cols: int = 32) -> pd.DataFrame:
    data = {"metric": [f"m{i}" for i in range(rows)], "arm": ["t"] * rows}
    data |= {f"c{j}": np.arange(rows) + j / 7 for j in range(cols - 2)}
    return pd.DataFrame(data)


def _widths(md: str) -> list[int]:
    return [line.count("|") - 1 for line in md.splitlines() if line.startswith("|")]


def test_wide_tables_are_split_or_transposed() -> None:
    many = report_table(_wide(30))
    assert max(_widths(many)) <= MAX_COLUMNS
    assert many.count("| metric | arm |") == 4  # 30 value columns in groups of 8
    few = report_table(_wide(3))
    assert max(_widths(few)) <= MAX_COLUMNS
    assert few.splitlines()[0] == "| column | m0 / t | m1 / t | m2 / t |"
    narrow = report_table(pd.DataFrame({"a": [1.0, 2.0]}))
    assert narrow.splitlines()[0] == "| a |"


def test_report_shows_each_table_once_and_figures_once() -> None:
    fig, _ = plt.subplots()
    out = StudyOutput(
        headline="h",
        tables={"overall": _wide(6), "effects": _wide(30), "balance": pd.DataFrame({"x": [1.0]})},
        figures={"effects": fig, "other": fig},
        report_md=("![top](figures/effects.png)\n\n| metric |\n|---|\n| m0 |\n\n"
                   "All columns: `tables/overall.parquet`, `tables/effects.parquet`."),
    )
    md = render_report(MANIFEST, out)
    plt.close(fig)
    assert "### Table: overall" not in md and "### Table: effects" not in md
    assert "### Table: balance" in md
    assert md.count("figures/effects.png") == 1 and "## Figure: other" in md
    assert max(_widths(md)) <= MAX_COLUMNS
    assert not re.search(r"\b(nan|NaN)\b|0\.0000", md)
    html = render_report(MANIFEST, out, fmt="html")
    assert "overflow-x:auto" in html and "<table>" in html


def test_data_section_states_the_rows_dropped() -> None:
    md = render_report(MANIFEST, StudyOutput(headline="h"))
    data = md.split("## Data", 1)[1].split("## Provenance", 1)[0]
    assert "**2 dropped**" in data and "drop_missing = true" in data
    assert "| contacts | handle_s | outcome | where NOT abandoned | 8 | 2 | 0 |" in data


def test_provenance_table() -> None:
    prov = provenance_table(MANIFEST)
    assert book_provenance_table is provenance_table
    assert list(prov.columns) == ["value"]
    assert prov.loc["seed", "value"] == "3" and prov.loc["git SHA", "value"] == "abc"
    assert prov.loc["contacts rows dropped", "value"] == "2"
    assert prov.loc["packages", "value"] == "numpy 2.0"
    assert prov.loc["data fingerprint", "value"] == "f" * 16


def test_effect_figure_draws_truth_per_row_and_labels_axes() -> None:
    rows = pd.DataFrame({"m": ["a", "b", "c"], "e": [1.0, 2.0, 3.0], "lo": [0.0, 1.0, 2.0],
                         "hi": [2.0, 3.0, 4.0], "t": [1.5, None, 2.5]})
    fig = effect_figure(rows, label="m", estimate="e", low="lo", high="hi", truth="t",
                        xlabel="effect (s)", title="demo")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "effect (s)"
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == "D"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [1.5, 2.5]
    assert "true effect (synthetic world)" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(fig)
