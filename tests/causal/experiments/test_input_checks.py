"""Bad metric values in ``Experiment``: infinite values are an error naming column and count
(today they give "INCONCLUSIVE ... +nan"); missing values name each column's count; the metric's
direction and a structured decision are part of the result; the forest plot shows the truth."""

from __future__ import annotations

import duckdb
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from causal.experiments import VERDICTS, Experiment, Mean, RatioOfMeans
from servicelab.errors import DataError


def _frame(n: int = 400, effect: float = -30.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    variant = np.where(np.arange(n) % 2 == 0, "control", "treatment")
    answered = rng.integers(1, 4, n).astype(float)
    handle = answered * (600 + effect * (variant == "treatment")) + rng.normal(0, 60, n)
    return pd.DataFrame({"variant": variant, "handle_s_sum": handle, "answered": answered,
                         "pre": rng.normal(0, 1, n)})


SPEC = {"aht": RatioOfMeans("handle_s_sum", "answered", higher_is_better=False)}


@pytest.mark.parametrize("backend", ["pandas", "duckdb"])
def test_infinite_metric_values_are_an_error_naming_column_and_count(backend: str) -> None:
    f = _frame()
    f.loc[f.index[:7], "handle_s_sum"] = np.inf
    f.loc[f.index[7], "handle_s_sum"] = -np.inf
    data = f
    if backend == "duckdb":
        con = duckdb.connect()
        con.register("frame", f)
        data = (con, "SELECT * FROM frame")
    with pytest.raises(DataError, match=r"'handle_s_sum': 8 of 400 units are \+-inf"):
        Experiment(SPEC).analyze(data)
    # nan_policy='drop' does not hide them: infinite values are not missing values
    with pytest.raises(DataError, match="not missing values"):
        Experiment(SPEC, nan_policy="drop").analyze(data)


def test_infinite_balance_column_is_an_error() -> None:
    f = _frame()
    f.loc[f.index[0], "pre"] = np.inf
    with pytest.raises(DataError, match=r"'pre': 1 of 400"):
        Experiment(SPEC, balance=["pre"]).analyze(f)


def test_missing_values_are_counted_per_column() -> None:
    f = _frame()
    f.loc[f.index[:5], "handle_s_sum"] = np.nan
    f.loc[f.index[10:12], "answered"] = np.nan
    with pytest.raises(DataError, match=r"7 units have missing values .*'handle_s_sum': 5, "
                                        r"'answered': 2 of 400"):
        Experiment(SPEC).analyze(f)


def test_direction_and_structured_decision() -> None:
    res = Experiment(SPEC, name="demo").analyze(_frame(effect=-60.0))
    summary = res.summary()
    assert summary.to_frame()["direction"].tolist() == ["lower is better"]
    assert "lower is better" in str(summary) and "lower is better" in summary.to_markdown()
    rec = res.decision_record("aht")
    assert rec["verdict"] in VERDICTS and rec["text"] == res.decision("aht")
    assert rec["verdict"] == "SHIP CANDIDATE" and rec["direction"] == "lower is better"
    assert rec["ci_low"] <= rec["effect"] <= rec["ci_high"] < 0


def test_forest_plot_draws_the_truth_and_labels_units() -> None:
    res = Experiment(SPEC | {"n": Mean("answered", higher_is_better=True)},
                     name="demo").analyze(_frame())
    fig = res.forest_plot(truth={"aht": -30.0, "n": None}, units={"aht": "s", "n": "contacts"})
    assert len(fig.axes) == 2
    aht, n = fig.axes
    assert aht.get_xlabel() == "effect, treatment - control (s)"
    assert "lower is better" in aht.get_yticklabels()[0].get_text()
    assert "higher is better" in n.get_yticklabels()[0].get_text()
    truth_marks = [ln for ln in aht.get_lines() if ln.get_marker() == "D"]
    assert len(truth_marks) == 1 and truth_marks[0].get_xdata()[0] == -30.0
    assert not [ln for ln in n.get_lines() if ln.get_marker() == "D"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "true effect (synthetic world)" in legend
    plt.close(fig)
