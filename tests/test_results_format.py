"""One number format for summaries and reports (issue 10): no ``0.0000``, ``nan`` or ``14.0000``,
p-values never shown as 0, long info keys never glued to their value ("trimming2000")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from servicelab.results import Summary, format_frame, format_number, markdown_table


@pytest.mark.parametrize(("value", "column", "text"), [
    (14.0, None, "14"),
    (np.int64(5797), None, "5797"),
    (0.0, None, "0"),
    (-0.0, None, "0"),
    (1025.1664, None, "1025"),
    (968.602, None, "968.6"),
    (-56.5643, None, "-56.56"),
    (0.05520, None, "0.0552"),
    (2.774e-4, None, "2.77e-04"),
    (11560.4, None, "11,560"),
    (float("nan"), None, "—"),
    (None, None, "—"),
    (np.inf, None, "inf"),
    (0.000913, "pvalue_adj", "0.00091"),
    (4.5e-7, "pvalue", "<0.0001"),
    (0.3267, "ni_pvalue", "0.33"),
    (0.0, "p", "<0.0001"),
    (1.0, "pvalue", "1"),
    (True, None, "True"),
])
def test_format_number(value, column, text) -> None:
    assert format_number(value, column) == text


def test_no_zero_padding_or_nan_in_tables() -> None:
    frame = pd.DataFrame({"metric": ["a", "b"], "theta": [0.0, 0.25], "n": [14.0, 3.0],
                          "effect": [np.nan, -0.00001234], "pvalue": [0.0, 0.04]})
    md = markdown_table(frame)
    for bad in ("0.0000", "nan", "14.0000", "e+"):
        assert bad not in md, bad
    assert "| a | 0 | 14 | — | <0.0001 |" in md
    summary = Summary("T", frame)
    for text in (str(summary), summary.to_markdown(), summary._repr_html_()):
        assert "0.0000" not in text and "NaN" not in text and "nan" not in text
        assert "1.23e-05" in text and ("<0.0001" in text or "&lt;0.0001" in text)
    assert format_frame(frame).loc[1, "effect"] == "-1.23e-05"


def test_long_info_keys_stay_apart_from_their_values() -> None:
    s = Summary("T", pd.DataFrame({"x": [1.0]}),
                info={"units kept after trimming": 2000, "n": 5})
    text = str(s)
    assert "trimming2000" not in text
    assert "units kept after trimming: 2000" in text
