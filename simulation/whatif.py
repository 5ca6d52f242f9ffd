"""From estimate to plan: carry measured effects, with their uncertainty, into agents and service level.

A study measures an effect (routing v2 cut handle time by 8.8%, 95% CI [-9.4%, -8.2%]); a leader
asks what it means for the roster. :func:`propagate_effects` answers by Monte Carlo: it draws
every effect from its sampling distribution (or uses posterior draws), turns each draw into the
centre's workload through a stated mechanism, and recomputes the staffing requirement and the
service level at today's roster for every interval (Erlang A with patience, else Erlang C),
under the same service level, shrinkage and occupancy cap as every staffing function.

Mechanisms (``Effect.lever``):

``"handle_time"``
    a relative change in mean handle time: ``aht * (1 + r)``.
``"volume"``
    a relative change in offered contacts, e.g. a help bot's deflection: ``volume * (1 + r)``.
``"fcr"``
    a relative change in first-contact resolution. An issue not resolved at a contact comes back
    as another contact with the same chance of resolution, so contacts per issue are ``1 / FCR``
    and the volume becomes ``volume / (1 + r)``. This assumes the repeats are in the baseline
    volume (they are in a centre's own history) and is stated in every result.

Effects are drawn independently of each other: a study's results carry no covariance between
its metrics, and the result says so. Relative effects are drawn on the log scale
(``log(1 + r)`` normal with the interval's SE), as the experiment engine reports them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

from .analytic import erlang_a, erlang_c, resolve_service_level
from .service_level import ServiceLevel
from .staffing import _check_fraction, _check_occupancy_cap, _check_shrinkage, required_agents, scheduled_agents

__all__ = ["LEVERS", "Effect", "WhatIfResult", "propagate_effects"]

LEVERS = ("handle_time", "volume", "fcr")
Lever = Literal["handle_time", "volume", "fcr"]


@dataclass(frozen=True)
class Effect:
    """One measured effect to carry into the plan, with its uncertainty and provenance.

    Parameters
    ----------
    lever : {"handle_time", "volume", "fcr"}
        What the effect changes (see the module docstring for each mechanism).
    relative : float
        Point estimate as a relative change (-0.088 is -8.8%), > -1.
    ci_low, ci_high : float, optional
        Its interval (relative changes) at ``ci_level``; the SE of ``log(1 + r)`` is read from it.
    ci_level : float
        Level of that interval.
    draws : array-like, optional
        Posterior or bootstrap draws of the relative change; used instead of the interval.
    source : str
        Provenance, e.g. ``"routing-ab run 20261202T...: handle_s, treatment vs control"``.

    Examples
    --------
    >>> e = Effect("handle_time", -0.088, -0.094, -0.082, source="routing-ab")
    >>> round(e.log_se, 4)
    0.0034
    """

    lever: Lever
    relative: float
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float = 0.95
    draws: Any = None
    source: str = "given"

    def __post_init__(self) -> None:
        if self.lever not in LEVERS:
            raise DesignError(f"lever must be one of {LEVERS}, got {self.lever!r}")
        vals = [self.relative] + [v for v in (self.ci_low, self.ci_high) if v is not None]
        if not all(isinstance(v, int | float) and math.isfinite(v) and v > -1 for v in vals):
            raise DataError(f"{self.source}: the {self.lever} effect and its interval must be finite relative "
                            f"changes above -100%, got {vals}")
        if (self.ci_low is None) != (self.ci_high is None):
            raise DesignError("give both ci_low and ci_high, or neither")
        if self.ci_low is not None and not self.ci_low <= self.relative <= self.ci_high:
            raise DataError(f"{self.source}: the interval [{self.ci_low}, {self.ci_high}] does not contain "
                            f"the estimate {self.relative}")
        _check_fraction("ci_level", self.ci_level)
        if self.draws is not None:
            d = np.asarray(self.draws, dtype=float).ravel()
            if d.size < 2 or not np.all(np.isfinite(d)) or np.any(d <= -1):
                raise DataError(f"{self.source}: draws must be at least 2 finite relative changes above -100%")
            object.__setattr__(self, "draws", d)

    @property
    def log_se(self) -> float:
        """Standard error of ``log(1 + r)`` implied by the interval (0 when there is none)."""
        if self.ci_low is None:
            return 0.0
        z = stats.norm.ppf(0.5 + self.ci_level / 2)
        return float((math.log1p(self.ci_high) - math.log1p(self.ci_low)) / (2 * z))  # type: ignore[arg-type]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws of the relative change (resampled draws, or log-normal from the interval)."""
        if self.draws is not None:
            return rng.choice(self.draws, size=n, replace=True)
        return np.expm1(math.log1p(self.relative) + self.log_se * rng.standard_normal(n))

    def describe(self) -> str:
        """The effect in words, with its interval and source."""
        ci = (f" ({self.ci_level:.0%} CI {self.ci_low:+.1%} to {self.ci_high:+.1%})" if self.ci_low is not None
              else f" ({self.draws.size} draws)" if self.draws is not None else " (no uncertainty given)")
        return f"{self.lever.replace('_', ' ')} {self.relative:+.1%}{ci} from {self.source}"


@dataclass(frozen=True, eq=False, repr=False)
class WhatIfResult(ResultMixin):
    """What measured effects mean for agents and service level, with bands.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per interval: ``interval``, ``volume``, ``aht_s``, ``roster`` (today's agents on the
        phones), ``required_now``, the requirement with the effects (``required_mid``,
        ``required_low``, ``required_high``: median and ``ci_level`` band over the draws), the
        change in agents (``change_mid/low/high``), and the service level at today's roster now
        and with the effects (``sl_now``, ``sl_mid``, ``sl_low``, ``sl_high``).
    draws : pandas.DataFrame
        Per draw: the effects' relative changes, agent-hours required, the peak interval's
        requirement and service level at the roster.
    """

    table: pd.DataFrame
    draws: pd.DataFrame
    effects: tuple[Effect, ...]
    target_sl: float
    service_level_definition: ServiceLevel
    ci_level: float
    interval_minutes: int
    model: str
    shrinkage: float
    max_occupancy: float | None
    labels: tuple[str, ...]
    diagnostics: tuple[Diagnostic, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())

    @property
    def peak(self) -> int:
        """Row of the interval with the highest offered load."""
        return int(np.argmax(self.table["volume"].to_numpy() * self.table["aht_s"].to_numpy()))

    def agent_hours_change(self) -> tuple[float, float, float]:
        """Median and band of the change in scheduled agent-hours over the horizon."""
        d = self.draws["scheduled_hours"] - self.draws["scheduled_hours_now"]
        a = (1 - self.ci_level) / 2
        return float(d.median()), float(d.quantile(a)), float(d.quantile(1 - a))

    def headline(self) -> str:
        """The answer in plain words, with bands."""
        t = self.table.iloc[self.peak]
        mid, lo, hi = self.agent_hours_change()
        return (f"With {', '.join(e.lever.replace('_', ' ') + f' {e.relative:+.1%}' for e in self.effects)}: "
                f"{_agents_band(int(t['change_low']), int(t['change_high']))} at the {self.labels[self.peak]} "
                f"peak ({self.ci_level:.0%} interval; "
                f"{int(t['required_now'])} needed today); {mid:+.0f} scheduled agent-hours over the horizon "
                f"[{lo:+.0f}, {hi:+.0f}]; at today's roster the peak's service level moves from {t['sl_now']:.2f} "
                f"to {t['sl_mid']:.2f} [{t['sl_low']:.2f}, {t['sl_high']:.2f}] "
                f"(target {self.target_sl:.0%}, {self.service_level_definition.name}).")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: headline, effects with provenance, the per-interval table, diagnostics."""
        mid, lo, hi = self.agent_hours_change()
        return jsonable({
            "headline": self.headline(),
            "effects": [{"lever": e.lever, "relative": e.relative, "ci_low": e.ci_low, "ci_high": e.ci_high,
                         "ci_level": e.ci_level, "n_draws": None if e.draws is None else int(e.draws.size),
                         "source": e.source} for e in self.effects],
            "target_sl": self.target_sl, "service_level_definition": self.service_level_definition.to_dict(),
            "ci_level": self.ci_level, "model": self.model, "interval_minutes": self.interval_minutes,
            "shrinkage": self.shrinkage, "max_occupancy": self.max_occupancy,
            "agent_hours_change": {"median": mid, "low": lo, "high": hi},
            "table": self.table.to_dict(orient="records"),
            "notes": list(self.notes),
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        })

    def summary(self) -> Summary:
        """The headline, the effects and their sources, and the per-interval table."""
        info = {"answer": self.headline(),
                "effects": "; ".join(e.describe() for e in self.effects),
                "model": self.model, "draws": len(self.draws),
                "shrinkage": self.shrinkage, "max_occupancy": self.max_occupancy}
        return Summary("What-if: measured effects carried into the plan", self.table, info=info,
                       diagnostics=self.diagnostics, notes=list(self.notes))

    def plot(self, ax: Any = None) -> Any:
        """Required agents per interval today and with the effects (band), the roster marked."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3.5))
        t = self.table
        x = np.arange(len(t))
        ax.step(x, t["required_now"], where="mid", color="0.3", label="required today")
        ax.fill_between(x, t["required_low"], t["required_high"], step="mid", color="C0", alpha=0.3,
                        label=f"with the effects ({self.ci_level:.0%} band)")
        ax.step(x, t["required_mid"], where="mid", color="C0", label="with the effects (median)")
        ax.step(x, t["roster"], where="mid", color="C3", ls=":", label="today's roster")
        step = max(1, len(t) // 12)
        ax.set_xticks(x[::step], [self.labels[i] for i in x[::step]], rotation=45, fontsize=7)
        ax.set_ylabel("agents on the phones")
        ax.set_xlabel(f"interval start ({self.interval_minutes} min intervals)")
        ax.set_title("Staffing requirement today and with the measured effects", fontsize=10)
        ax.legend(fontsize=7)
        return ax


def _agents_band(low: int, high: int) -> str:
    """A band of changes in agents in words; a band that straddles zero says so.

    Examples
    --------
    >>> _agents_band(-29, -27), _agents_band(3, 3), _agents_band(-2, 1), _agents_band(0, 0)
    ('27-29 fewer agents', '3 more agents', 'between 2 fewer and 1 more agents', 'no change in agents')
    """
    if low < 0 < high:
        return f"between {-low} fewer and {high} more agents"
    if low == high == 0:
        return "no change in agents"
    word = "fewer" if high <= 0 else "more"
    a, b = sorted((abs(low), abs(high)))
    return f"{a if a == b else f'{a}-{b}'} {word} agents"


def propagate_effects(
    volumes: Any,
    effects: Sequence[Effect],
    *,
    aht_s: Any,
    patience_s: float | None = None,
    roster: Any = None,
    target_sl: float = 0.8,
    service_level: ServiceLevel | float | None = None,
    interval_minutes: int = 30,
    labels: Sequence[str] | None = None,
    n_draws: int = 200,
    ci_level: float = 0.9,
    shrinkage: float = 0.0,
    max_occupancy: float | None = None,
    rng: RNGLike = None,
) -> WhatIfResult:
    """Carry measured effects, jointly drawn, into the staffing requirement and service level.

    Parameters
    ----------
    volumes : array-like
        Expected contacts per interval today (e.g. a typical weekday, or a forecast's mean).
    effects : sequence of Effect
        The effects to apply together (e.g. from :func:`studies.whatif.effects_from_run`).
    aht_s : float or array-like
        Mean handle time today, overall or per interval.
    patience_s : float, optional
        Mean patience (Erlang A); ``None`` uses Erlang C.
    roster : array-like, optional
        Agents on the phones today per interval; default today's requirement.
    target_sl, service_level
        The target and its definition.
    interval_minutes : int
        Interval length.
    labels : sequence of str, optional
        Interval names for the answer (default ``HH:MM`` from midnight).
    n_draws : int
        Monte Carlo draws of the effects.
    ci_level : float
        Level of the bands.
    shrinkage, max_occupancy
        As in :func:`simulation.required_agents`.
    rng : int, SeedSequence or Generator
        Seed of the draws.

    Returns
    -------
    WhatIfResult

    Examples
    --------
    >>> e = Effect("handle_time", -0.088, -0.094, -0.082, source="routing-ab")
    >>> r = propagate_effects([100, 300, 200], [e], aht_s=600, patience_s=180, n_draws=50, rng=1)
    >>> bool(r.table["change_mid"].iloc[1] < 0)
    True
    """
    vol = np.asarray(volumes, dtype=float).ravel()
    if vol.size == 0 or not np.all(np.isfinite(vol)) or np.any(vol < 0):
        raise DataError("volumes must be a non-empty array of finite, non-negative contacts per interval")
    aht = np.broadcast_to(np.asarray(aht_s, dtype=float), vol.shape).copy()
    if not np.all(np.isfinite(aht)) or np.any(aht <= 0):
        raise DataError("aht_s must be positive and finite (overall or per interval)")
    if not effects:
        raise DesignError("propagate_effects needs at least one Effect")
    if not all(isinstance(e, Effect) for e in effects):
        raise DesignError("effects must be simulation.Effect objects")
    if not (isinstance(n_draws, int | np.integer) and n_draws >= 20):
        raise DesignError(f"n_draws must be an integer >= 20 (bands need draws), got {n_draws!r}")
    level = float(_check_fraction("ci_level", ci_level))  # type: ignore[arg-type]
    target = float(_check_fraction("target_sl", target_sl))  # type: ignore[arg-type]
    shrink = _check_shrinkage(shrinkage)
    cap = _check_occupancy_cap(max_occupancy)
    sl = resolve_service_level(service_level, None, None)
    if labels is None:
        labels = [f"{(i * interval_minutes) // 60 % 24:02d}:{(i * interval_minutes) % 60:02d}"
                  for i in range(vol.size)]
    if len(labels) != vol.size:
        raise DesignError(f"labels has {len(labels)} entries for {vol.size} intervals")
    model = "erlang_a" if patience_s is not None else "erlang_c"
    rate = vol * 60.0 / interval_minutes

    def requirement(lam: np.ndarray, h: np.ndarray) -> np.ndarray:
        return np.array([required_agents(x, a, target_sl=target, service_level=sl, patience_s=patience_s,
                                         max_occupancy=cap).agents if x > 0 else 0
                         for x, a in zip(lam, h, strict=True)])

    def level_at(lam: np.ndarray, h: np.ndarray, n: np.ndarray) -> np.ndarray:
        out = np.ones(lam.size)
        for i, (x, a, k) in enumerate(zip(lam, h, n, strict=True)):
            if x <= 0:
                continue
            if k <= 0:
                out[i] = 0.0
            elif patience_s is None:
                out[i] = erlang_c(x, a, int(k), sl).service_level if x * a / 3600 < k * (1 - 1e-12) else 0.0
            else:
                out[i] = erlang_a(x, a, int(k), patience_s, sl).service_level
        return out

    now = requirement(rate, aht)
    if roster is None:
        base = now.copy()
    else:
        base = np.asarray(roster, dtype=float).ravel()
        if base.shape != vol.shape or np.any(base < 0) or not np.all(np.isfinite(base)):
            raise DataError(f"roster must hold {vol.size} non-negative agents per interval")
        base = base.astype(int)
    gen = resolve_rng(rng)
    samples = {f"{e.lever}_{k}": e.sample(int(n_draws), gen) for k, e in enumerate(effects)}
    h_mult = np.ones(n_draws)
    v_mult = np.ones(n_draws)
    for k, e in enumerate(effects):
        s = samples[f"{e.lever}_{k}"]
        if e.lever == "handle_time":
            h_mult *= 1 + s
        elif e.lever == "volume":
            v_mult *= 1 + s
        else:  # fcr: contacts per issue are 1 / FCR
            v_mult /= 1 + s
    req = np.empty((n_draws, vol.size), dtype=int)
    sl_roster = np.empty((n_draws, vol.size))
    for d in range(n_draws):
        lam_d, h_d = rate * v_mult[d], aht * h_mult[d]
        req[d] = requirement(lam_d, h_d)
        sl_roster[d] = level_at(lam_d, h_d, base)
    a = (1 - level) / 2
    hours = interval_minutes / 60.0
    q = lambda m, p: np.quantile(m, p, axis=0, method="inverted_cdf")
    table = pd.DataFrame({
        "interval": labels, "volume": vol, "aht_s": aht, "roster": base, "required_now": now,
        "required_mid": q(req, 0.5), "required_low": q(req, a), "required_high": q(req, 1 - a),
    })
    change = req - now
    table["change_mid"], table["change_low"], table["change_high"] = q(change, 0.5), q(change, a), q(change, 1 - a)
    table["sl_now"] = level_at(rate, aht, base)
    table["sl_mid"] = np.quantile(sl_roster, 0.5, axis=0)
    table["sl_low"] = np.quantile(sl_roster, a, axis=0)
    table["sl_high"] = np.quantile(sl_roster, 1 - a, axis=0)
    peak = int(np.argmax(vol * aht))
    draws = pd.DataFrame({**samples,
                          "scheduled_hours_now": float(scheduled_agents(now, shrink).sum()) * hours,
                          "scheduled_hours": scheduled_agents(req, shrink).sum(axis=1) * hours,
                          "peak_required": req[:, peak], "peak_sl_at_roster": sl_roster[:, peak]})
    notes = [("effects are drawn independently (the studies report no covariance between metrics); relative "
              "effects are log-normal with the interval's SE, or resampled from posterior draws"),
             f"requirements by {model.replace('_', ' ').title()} per interval (stationary intervals)"]
    if any(e.lever == "fcr" for e in effects):
        notes.append("FCR mechanism: an unresolved issue returns as another contact, so volume scales with "
                     "1 / FCR; this assumes the baseline volume includes the repeats")
    diags = []
    if np.any((table["sl_now"] < target) & (table["volume"] > 0)):
        n_short = int(((table["sl_now"] < target) & (table["volume"] > 0)).sum())
        diags.append(Diagnostic("roster", "warning", f"today's roster misses the {target:.0%} target in {n_short} "
                                f"of {vol.size} intervals before any effect", n_short))
    return WhatIfResult(table=table, draws=draws, effects=tuple(effects), target_sl=target,
                        service_level_definition=sl, ci_level=level, interval_minutes=int(interval_minutes),
                        model=model, shrinkage=shrink, max_occupancy=cap, labels=tuple(labels),
                        diagnostics=tuple(diags), notes=tuple(notes))
