"""Causal-mechanism attribution of a KPI change with DoWhy-GCM (``gcm.distribution_change_robust``).

Given a graph of the service process (e.g. reason -> specialist -> handle time), the change of the
target's mean between two data sets is attributed to the nodes whose causal mechanism (conditional
distribution given the parents) changed, by Shapley values over the nodes, estimated with the
multiply-robust method of Quintas-Martinez et al. (ICML 2024): cross-fitted linear regressions and
logistic classifiers of "new vs old" given the parents, no kernel tests. A root node's mechanism is
its marginal distribution: a reason-mix shift is attributed to the reason node; a handle-time
regression to the handle-time node itself. Nodes must be numeric (encode a category as indicators
or as a number, e.g. the segment's mean outcome in the before period).

(``gcm.distribution_change``, the original method, tests every mechanism for a change with kernel
independence tests first; on a few thousand rows it took minutes here, so it is not used.)

With linear nuisance models and exact Shapley values the robust estimator's only randomness is
its cross-fitting split, whose ``split_random_state`` is drawn from ``rng``: same ``rng``, same
numbers. DoWhy draws from NumPy's global random state during the fit, but the result does not
depend on it (a test fits under two different global states); servicelab never seeds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng, seed_int
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable
from servicelab.validation import require_columns

__all__ = ["MechanismAttribution", "MechanismAttributionResult"]


@dataclass(frozen=True)
class MechanismAttribution:
    """Attribute the change of a target's mean between two data sets to causal mechanisms.

    Parameters
    ----------
    edges : tuple of (str, str)
        The service-process graph (a DAG over columns of the data).
    target : str
        The KPI node (e.g. ``handle_s``); its mean change is attributed.
    max_rows : int
        Rows per period used (a random subsample above it).
    folds : int
        Cross-fitting folds of the multiply-robust estimator.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> def draw(shift, n=600):
    ...     x = rng.normal(0, 1, n)
    ...     return pd.DataFrame({"x": x, "y": 2 * x + shift + rng.normal(0, 1, n)})
    >>> r = MechanismAttribution((("x", "y"),), "y").fit(draw(0), draw(1.0), rng=1)
    >>> bool(r.contributions.set_index("node").loc["y", "contribution"] > 0.5)
    True
    """

    edges: tuple[tuple[str, str], ...]
    target: str
    max_rows: int = 20_000
    folds: int = 3

    def fit(self, before: pd.DataFrame, after: pd.DataFrame, rng: RNGLike = None) -> MechanismAttributionResult:
        """Fit the mechanisms on both periods and attribute the target's mean change.

        Raises
        ------
        DesignError
            The graph is not a DAG or does not contain the target.
        DataError
            Missing columns, NULLs, an empty period.
        """
        from dowhy import gcm
        from dowhy.gcm.shapley import ShapleyApproximationMethods, ShapleyConfig

        g = nx.DiGraph(list(self.edges))
        if not nx.is_directed_acyclic_graph(g):
            raise DesignError(f"the graph must be acyclic, got edges {list(self.edges)}")
        if self.target not in g:
            raise DesignError(f"target {self.target!r} is not a node of the graph {sorted(g.nodes)}")
        nodes = sorted(g.nodes)
        for name, frame in (("before", before), ("after", after)):
            require_columns(frame, nodes, role=f"graph nodes ({name})", allow_empty=False)
            nulls = [c for c in nodes if frame[c].isna().any()]
            if nulls:
                raise DataError(f"{name}: columns {nulls} hold NULL values; DoWhy-GCM needs complete rows, "
                                "filter or impute them")  # fmt: skip
        gen = resolve_rng(rng)
        old = _subsample(before[nodes], self.max_rows, gen)
        new = _subsample(after[nodes], self.max_rows, gen)
        model = gcm.StructuralCausalModel(g)
        for c in nodes:
            if not (pd.api.types.is_numeric_dtype(before[c]) and pd.api.types.is_numeric_dtype(after[c])):
                raise DataError(f"node {c!r} is not numeric; encode a category as indicators or as a number "
                                "(e.g. the segment's mean outcome in the before period)")  # fmt: skip
        old = old.astype(float)
        new = new.astype(float)
        seed = seed_int(gen)
        bars = gcm.config.show_progress_bars
        gcm.config.show_progress_bars = False  # no progress bars in reports and book pages; restored below
        try:
            contrib = gcm.distribution_change_robust(
                model, old, new, self.target, target_functional="mean", method="MR", xfit=True,
                xfit_folds=self.folds, split_random_state=seed,
                # exact Shapley values in this process (a worker pool costs more than it saves here)
                shapley_config=ShapleyConfig(approximation_method=ShapleyApproximationMethods.EXACT, n_jobs=1),
            )  # fmt: skip
        finally:
            gcm.config.show_progress_bars = bars
        delta = float(new[self.target].mean() - old[self.target].mean())
        table = pd.DataFrame({"node": list(contrib), "contribution": [float(v) for v in contrib.values()]})
        table = table.reindex(table["contribution"].abs().sort_values(ascending=False).index).reset_index(drop=True)
        gap = float(table["contribution"].sum()) - delta
        diags = (Diagnostic("additivity", "ok" if abs(gap) <= 0.1 * max(abs(delta), 1e-12) else "warning",
                            f"contributions add to {table['contribution'].sum():.4g} against an observed mean change "
                            f"of {delta:.4g} (Monte Carlo and model error)", gap),
                 Diagnostic("intervals", "ok", "no intervals: the Shapley attribution is a point estimate; compare "
                            "with the segment decomposition's intervals"))  # fmt: skip
        return MechanismAttributionResult(self, table, delta, len(old), len(new), diags)


def _assign(model: Any, data: pd.DataFrame) -> None:
    """Explicit mechanisms (fast and stable): empirical roots, linear additive noise for numeric
    non-root nodes, logistic classifiers for categorical ones (DoWhy encodes categorical parents).
    """
    from dowhy import gcm

    for node in model.graph.nodes:
        if not list(model.graph.predecessors(node)):
            model.set_causal_mechanism(node, gcm.EmpiricalDistribution())
        elif pd.api.types.is_numeric_dtype(data[node]) and not pd.api.types.is_bool_dtype(data[node]):
            model.set_causal_mechanism(node, gcm.AdditiveNoiseModel(gcm.ml.create_linear_regressor()))
        else:
            model.set_causal_mechanism(node, gcm.ClassifierFCM(gcm.ml.create_logistic_regression_classifier()))


def _subsample(frame: pd.DataFrame, k: int, gen: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= k:
        return frame.reset_index(drop=True)
    idx = np.sort(gen.choice(len(frame), size=k, replace=False))
    return frame.iloc[idx].reset_index(drop=True)


@dataclass(frozen=True, eq=False, repr=False)
class MechanismAttributionResult(ResultMixin):
    """Contribution of each node's mechanism change to the target's mean change."""

    spec: MechanismAttribution
    contributions: pd.DataFrame
    observed_change: float
    n_before: int
    n_after: int
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    def contribution(self, node: str) -> float:
        """The contribution of one node."""
        c = self.contributions.set_index("node")
        if node not in c.index:
            raise KeyError(f"no node {node!r}; have {list(c.index)}")
        return float(c.loc[node, "contribution"])

    def summary(self) -> Summary:
        """Contributions per node."""
        return Summary(f"Mechanism attribution (DoWhy-GCM distribution_change): mean {self.spec.target}",
                       self.contributions,
                       info={"observed change": self.observed_change, "rows": f"{self.n_before} / {self.n_after}",
                             "graph": ", ".join(f"{a}->{b}" for a, b in self.spec.edges)},
                       diagnostics=self.diagnostics)  # fmt: skip

    def plot(self, ax: Any = None):
        """Horizontal bars of the contributions."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 3))[1]
        c = self.contributions.iloc[::-1]
        ax.barh(c["node"], c["contribution"], color=np.where(c["contribution"] > 0, "C1", "C0"))
        ax.axvline(0, color="black", lw=0.5)
        ax.set_xlabel(f"contribution to the change of mean {self.spec.target}")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"observed_change": self.observed_change,
                         "contributions": self.contributions.to_dict(orient="records"),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})  # fmt: skip
