"""Chi-square tests of independence and goodness of fit, with effect sizes.

Frames and warehouse aggregates go through the same contingency counts: :func:`chi_square`
cross-tabulates two columns; :func:`chi_square_from_counts` takes long counts
(``row, col, n`` as a ``GROUP BY`` returns them) or a wide table. Engine: scipy
(:func:`scipy.stats.chi2_contingency`, :func:`scipy.stats.chisquare`,
:func:`scipy.stats.contingency.association` for Cramér's V).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats.contingency import association

from servicelab.errors import DataError, DesignError
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable
from servicelab.validation import require_columns, require_finite

__all__ = ["ChiSquareResult", "chi_square", "chi_square_from_counts", "chi_square_gof"]


@dataclass(frozen=True, eq=False, repr=False)
class ChiSquareResult(ResultMixin):
    """A chi-square test: statistic, df, p-value, effect size and the tables behind them."""

    test: str
    statistic: float
    df: int
    pvalue: float
    effect_size: float
    effect_name: str
    observed: pd.DataFrame
    expected: pd.DataFrame
    n: int
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    def to_frame(self) -> pd.DataFrame:
        """One-row table of the test."""
        return pd.DataFrame([{"test": self.test, "chi2": self.statistic, "df": self.df,
                              "pvalue": self.pvalue, self.effect_name: self.effect_size,
                              "n": self.n}])

    def residuals(self) -> pd.DataFrame:
        """Pearson residuals ``(O - E) / sqrt(E)``: which cells drive the statistic."""
        return (self.observed - self.expected) / np.sqrt(self.expected)

    def summary(self) -> Summary:
        """The test with its effect size."""
        return Summary(f"Chi-square test ({self.test})", self.to_frame(), info={"n": self.n},
                       diagnostics=self.diagnostics,
                       notes=[f"{self.effect_name}: 0 = no association; Cramér's V reaches 1 when "
                              "one variable determines the other." if self.effect_name == "cramers_v"
                              else f"{self.effect_name}: Cohen's w = sqrt(chi2 / n)."])

    def plot(self, ax: Any = None):
        """Heat map of Pearson residuals."""
        import matplotlib.pyplot as plt

        r = self.residuals()
        ax = ax or plt.subplots(figsize=(5, 3))[1]
        lim = float(np.nanmax(np.abs(r.to_numpy()))) or 1.0
        im = ax.imshow(r.to_numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_xticks(range(r.shape[1]), [str(c) for c in r.columns], rotation=30, ha="right")
        ax.set_yticks(range(r.shape[0]), [str(i) for i in r.index])
        ax.figure.colorbar(im, ax=ax, label="Pearson residual")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"test": self.test, "statistic": self.statistic, "df": self.df,
                         "pvalue": self.pvalue, "effect_size": self.effect_size,
                         "effect_name": self.effect_name, "n": self.n,
                         "observed": self.observed.to_dict(), "expected": self.expected.to_dict(),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


def _expected_diag(expected: np.ndarray) -> list[Diagnostic]:
    small = int((expected < 5).sum())
    if (small and small / expected.size > 0.2) or (expected < 1).any():
        return [Diagnostic("small_expected", "warning",
                           f"{small} of {expected.size} cells have expected count < 5: the "
                           "chi-square approximation is poor; merge categories or use an exact "
                           "test (Fisher)", small)]
    return []


def chi_square_from_counts(counts: pd.DataFrame, row: str | None = None, col: str | None = None,
                           n: str = "n", *, correction: bool = False) -> ChiSquareResult:
    """Chi-square test of independence from counts.

    Parameters
    ----------
    counts : DataFrame
        Either long counts with columns ``row``, ``col`` and ``n`` (a warehouse ``GROUP BY``),
        or, when ``row`` is None, a wide contingency table (index = rows, columns = columns).
    correction : bool
        Yates' continuity correction for 2x2 tables (off by default, as in most textbooks'
        Pearson X²).

    Examples
    --------
    >>> t = pd.DataFrame([[762, 327, 468], [484, 239, 477]], index=["F", "M"],
    ...                  columns=["Dem", "Ind", "Rep"])
    >>> round(chi_square_from_counts(t).statistic, 2)  # Agresti's party-by-gender table
    30.07
    """
    if row is not None:
        if col is None:
            raise DesignError("give both row and col for long counts")
        require_columns(counts, [row, col, n], role="count columns", allow_empty=False)
        require_finite(counts, [row, col, n], role="count columns")
        if counts.duplicated([row, col]).any():
            raise DataError(f"counts have duplicate ({row}, {col}) cells; aggregate once per cell")
        table = counts.pivot(index=row, columns=col, values=n).fillna(0.0)
    else:
        table = counts.copy()
    obs = table.to_numpy(dtype=float)
    if not np.isfinite(obs).all() or (obs < 0).any():
        raise DataError("counts must be finite and non-negative")
    if obs.shape[0] < 2 or obs.shape[1] < 2:
        raise DataError(f"a test of independence needs at least 2 rows and 2 columns; got "
                        f"{obs.shape[0]}x{obs.shape[1]}")
    if (obs.sum(axis=0) == 0).any() or (obs.sum(axis=1) == 0).any():
        raise DataError("a row or column of the table is all zero; drop the empty category")
    res = stats.chi2_contingency(obs, correction=correction)
    v = float(association(obs.astype(np.int64) if np.allclose(obs, np.round(obs)) else obs,
                          method="cramer", correction=correction))
    expected = pd.DataFrame(res.expected_freq, index=table.index, columns=table.columns)
    return ChiSquareResult("independence", float(res.statistic), int(res.dof), float(res.pvalue),
                           v, "cramers_v", table.astype(float), expected, int(obs.sum()),
                           tuple(_expected_diag(res.expected_freq)))


def chi_square(data: pd.DataFrame, row: str, col: str, *, correction: bool = False) -> ChiSquareResult:
    """Chi-square test of independence of two categorical columns of a frame.

    Examples
    --------
    >>> df = pd.DataFrame({"arm": list("aabb" * 25), "fcr": [1, 0, 1, 1] * 25})
    >>> round(chi_square(df, "arm", "fcr").effect_size, 3)
    0.577
    """
    require_columns(data, [row, col], role="categorical columns", allow_empty=False)
    require_finite(data, [row, col], role="categorical columns")
    counts = data.groupby([row, col], observed=True).size().rename("n").reset_index()
    return chi_square_from_counts(counts, row, col, "n", correction=correction)


def chi_square_gof(observed: Sequence[float] | pd.Series, expected_share: Sequence[float] | None = None
                   ) -> ChiSquareResult:
    """Goodness of fit of counts to expected shares (uniform by default), with Cohen's w.

    Examples
    --------
    >>> round(chi_square_gof([50, 30, 20], [0.5, 0.3, 0.2]).statistic, 6)
    0.0
    """
    obs = pd.Series(observed, dtype=float)
    if len(obs) < 2 or not np.isfinite(obs).all() or (obs < 0).any():
        raise DataError("observed counts must be >= 2 finite, non-negative numbers")
    total = float(obs.sum())
    if total <= 0:
        raise DataError("observed counts are all zero")
    if expected_share is None:
        p = np.full(len(obs), 1 / len(obs))
    else:
        p = np.asarray(expected_share, dtype=float)
        if p.shape != (len(obs),) or (p <= 0).any() or not np.isfinite(p).all():
            raise DataError("expected_share needs one positive share per category")
        if abs(p.sum() - 1) > 1e-6:
            raise DataError(f"expected shares must sum to 1; they sum to {p.sum():.6f}")
    exp = p * total
    res = stats.chisquare(obs.to_numpy(), exp)
    w = float(np.sqrt(res.statistic / total))
    o = pd.DataFrame({"observed": obs.to_numpy()}, index=obs.index)
    e = pd.DataFrame({"observed": exp}, index=obs.index)
    return ChiSquareResult("goodness of fit", float(res.statistic), len(obs) - 1, float(res.pvalue),
                           w, "cohens_w", o, e, round(total), tuple(_expected_diag(exp)))
