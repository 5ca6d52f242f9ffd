"""Several regressions side by side, as in stargazer or fixest's ``etable``."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from causal.regression.models import RegressionResult
from servicelab.errors import DesignError

__all__ = ["RegressionTable", "regression_table"]


def _stars(p: float) -> str:
    if p != p:  # NaN
        return ""
    return "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.1 else ""


@dataclass(frozen=True)
class RegressionTable:
    """Models in columns, terms in rows: ``coef`` over ``(se)``, then fit rows.

    ``to_frame()`` gives the cells as text; ``to_markdown()`` and ``to_html()`` render them.
    """

    cells: pd.DataFrame
    footer: pd.DataFrame
    notes: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """Coefficient cells and fit rows as one text frame."""
        return pd.concat([self.cells, self.footer])

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown."""
        t = self.to_frame()
        cols = ["", *[str(c) for c in t.columns]]
        lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] + [":---:"] * len(t.columns)) + "|"]
        for idx, row in t.iterrows():
            lines.append("| " + " | ".join([str(idx), *[str(v).replace("|", "\\|") for v in row]]) + " |")
        lines += ["", *[f"*{n}*" for n in self.notes]]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        """A standalone HTML table."""
        t = self.to_frame()
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in ["", *t.columns])
        body = []
        for i, (idx, row) in enumerate(t.iterrows()):
            style = " style='border-top:1px solid #888'" if i == len(self.cells) else ""
            cells = "".join(f"<td style='text-align:center'>{html.escape(str(v)).replace(chr(10), '<br>')}</td>"
                            for v in row)
            body.append(f"<tr{style}><td>{html.escape(str(idx))}</td>{cells}</tr>")
        notes = "".join(f"<p><i>{html.escape(n)}</i></p>" for n in self.notes)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{notes}"

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.to_frame().to_string()


def regression_table(results: Sequence[RegressionResult], names: Sequence[str] | None = None, *,
                     terms: Sequence[str] | None = None, digits: int = 3,
                     stars: bool = True) -> RegressionTable:
    """Set several :class:`RegressionResult` side by side.

    Parameters
    ----------
    results : sequence of RegressionResult
    names : column labels (default ``(1)``, ``(2)``...).
    terms : which terms to show, in order (default: every term, in order of appearance).
    digits : decimals.
    stars : add significance stars (* 0.1, ** 0.05, *** 0.01).

    Examples
    --------
    >>> import numpy as np
    >>> from causal.regression import Regression
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=100), "z": rng.normal(size=100)})
    >>> df["y"] = df.x + rng.normal(size=100)
    >>> t = regression_table([Regression("y ~ x").fit(df), Regression("y ~ x + z").fit(df)])
    >>> "| x |" in t.to_markdown()
    True
    """
    if not results:
        raise DesignError("regression_table needs at least one result")
    names = list(names) if names is not None else [f"({i + 1})" for i in range(len(results))]
    if len(names) != len(results):
        raise DesignError("give one name per result")
    if terms is None:
        order: list[str] = []
        for r in results:
            order += [t for t in r.table.index if t not in order]
        terms = order
    fmt = f"{{:.{digits}f}}"
    cells: dict[str, dict[str, str]] = {}
    for name, r in zip(names, results, strict=True):
        col: dict[str, str] = {}
        for t in terms:
            if t in r.table.index:
                row = r.table.loc[t]
                col[t] = fmt.format(row["coef"]) + (_stars(row["pvalue"]) if stars else "") + \
                    "\n(" + fmt.format(row["se"]) + ")"
            else:
                col[t] = ""
        cells[name] = col
    body = pd.DataFrame(cells, index=list(terms))
    foot: dict[str, dict[str, Any]] = {}
    for name, r in zip(names, results, strict=True):
        r2 = r.info.get("r2", r.info.get("pseudo_r2"))
        foot[name] = {"model": r.model.upper(), "SE": r.se_type,
                      "fixed effects": " + ".join(r.info.get("absorbed", [])) or "-",
                      "N": f"{r.n:,}", "R² (pseudo for GLM)": "" if r2 is None else fmt.format(r2)}
    footer = pd.DataFrame(foot)
    notes = ("Standard errors in parentheses." + (" * p<0.1, ** p<0.05, *** p<0.01." if stars else ""),)
    return RegressionTable(body, footer, notes)
