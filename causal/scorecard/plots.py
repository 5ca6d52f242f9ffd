"""The scorecard's heat map: estimator x scenario, coloured by coverage, annotated."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["coverage_heatmap"]


def coverage_heatmap(table: pd.DataFrame, ax: Any = None, *, level: float = 0.95) -> Any:
    """Coverage of each estimator (rows) in each scenario (columns); the nominal level is white.

    Cells are annotated with the coverage and, below it, the diagnostic hit rate (``h``) when the
    estimator missed widely at least once; cells outside their binomial band are outlined.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> t = pd.DataFrame({"scenario": ["a", "b"], "estimator": ["x", "x"], "coverage": [0.95, 0.6],
    ...                   "hit_rate": [np.nan, 0.5], "in_band": [True, False]})
    >>> coverage_heatmap(t).get_xlabel()
    'scenario'
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Rectangle

    scen = list(dict.fromkeys(table["scenario"]))
    ests = list(dict.fromkeys(table["estimator"]))
    cov = table.pivot(index="estimator", columns="scenario", values="coverage").reindex(
        index=ests, columns=scen)
    hit = table.pivot(index="estimator", columns="scenario", values="hit_rate").reindex(
        index=ests, columns=scen)
    band = table.pivot(index="estimator", columns="scenario", values="in_band").reindex(
        index=ests, columns=scen)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 0.62 * len(scen) + 3), max(3, 0.42 * len(ests) + 2)))
    norm = TwoSlopeNorm(vmin=0.0, vcenter=level, vmax=1.0)
    im = ax.imshow(np.ma.masked_invalid(cov.to_numpy(float)), cmap="RdBu", norm=norm,
                   aspect="auto")
    for i in range(len(ests)):
        for j in range(len(scen)):
            c = cov.iat[i, j]
            if not np.isfinite(c):
                continue
            h = hit.iat[i, j]
            txt = f"{c:.2f}" + (f"\nh {h:.0%}" if np.isfinite(h) else "")
            ax.text(j, i, txt, ha="center", va="center", fontsize=6.5,
                    color="white" if abs(c - level) > 0.3 else "black")
            if band.iat[i, j] is False or band.iat[i, j] == 0:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=1.2,
                                       edgecolor="black"))
    ax.set_xticks(range(len(scen)), scen, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(ests)), ests, fontsize=7)
    ax.set_xlabel("scenario")
    ax.set_ylabel("estimator")
    ax.set_title(f"Coverage of the nominal {level:.0%} interval (outlined: outside the binomial "
                 "band; h: diagnostic hit rate among wide misses)", fontsize=8)
    ax.figure.colorbar(im, ax=ax, label="coverage", shrink=0.8)
    return ax
