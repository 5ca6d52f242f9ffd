"""Study ``staffing``: what a handle-time effect means for staffing and service level.

The study calibrates the contact-centre simulator from the warehouse's contacts (arrival rates
per 30-minute interval, log-normal handle times by queue, patience by Kaplan-Meier, where
abandoned contacts observe their patience and answered ones censor it), then asks, for a
*typical week day* (the mean arrivals per half hour over the week days of the last
``recent_days`` days):

1. **Staffing with and without the effect.** A relative effect on mean handle time
   (``handle_effect``, e.g. -0.06 for routing v2 or the assist tool) scales every queue's
   handle-time distribution. The requirement per interval and queue comes from exact Erlang A
   (stationary, exponential handle and patience, each interval on its own) and from a
   simulation search with common random numbers (the day simulated as a whole, so backlogs
   carry over between intervals; log-normal handle times and Kaplan-Meier patience). The two
   differ under time-varying load; the study shows where.
2. **Uncertainty.** With ``effect_sd > 0`` the effect is a normal draw (e.g. the normal
   approximation of the routing-ab interval). The required agent-hours are non-decreasing in
   the handle-time multiplier, so the quantiles of the saving over draws are the savings at the
   effect's quantiles: the study evaluates Erlang A at those quantiles instead of looping over
   draws (:func:`effect_quantiles` accepts posterior draws too).
3. **Service level of the plan.** The Erlang A plan with the effect is simulated with
   replications; the per-interval service level (mean and t-interval) is set against the target.
4. **Routing policies under CRN.** Two policies run on the same contacts (named streams, same
   replication seeds) with cross-trained agents; the paired difference has a t-interval.
5. **Calibration check.** The calibrated simulator (arrival trace replayed, staffing from the
   ``staffing`` table, handle and patience fitted) is run over a recent week and compared with
   the observed abandonment and service level per queue.

Service level (GUIDE section 3): *answered within ``sl_threshold_s`` seconds over all offered
contacts* (abandoners count as not answered in time; no short-abandon exclusion), in Erlang A
(``answered_within_t/all_arrivals``) and in the simulator (``ServiceLevel(t, "offered")``).

Run-time budget: the default run takes well under a minute on the full world (one typical day,
``n_reps=5`` replications, one calibration week); the replication counts are small on purpose
and the intervals say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from servicelab.errors import DataError, DesignError
from servicelab.results import Diagnostic, jsonable, markdown_table
from simulation import (
    FIFO,
    AgentGroup,
    ContactCentre,
    IntervalForecast,
    LongestIdleAgent,
    Queue,
    ServiceLevel,
    SkillsBasedOverflow,
    StaffingSimulator,
    StaticPriority,
    Trace,
    calibrate,
    erlang_a,
    replicate,
    required_agents,
    simulated_requirements,
    t_interval,
    verify_schedule_by_simulation,
)
from studies.runner import Param, Study, StudyContext, StudyOutput
from studies.runner.quality import QUALITY_PARAMS, Column, TableCheck

__all__ = [
    "POLICIES",
    "STUDY",
    "ScaledDistribution",
    "calibration_check",
    "effect_quantiles",
    "erlang_requirements",
    "load_effect_draws",
    "policy_comparison",
    "run",
    "search_requirements",
    "typical_weekday",
]

INTERVAL_MIN = 30
INTERVAL_S = 60.0 * INTERVAL_MIN
SLOTS = 24 * 60 // INTERVAL_MIN
WARMUP_SLOTS = 4  # the day's last two hours are simulated before it starts (a night's carry-over)
SL_DEFINITION = "answered_within_t/all_arrivals"

POLICIES: dict[str, Any] = {
    "fifo": lambda threshold: FIFO(),
    "longest_idle": lambda threshold: LongestIdleAgent(),
    "static_priority": lambda threshold: StaticPriority(),
    "skills_overflow": lambda threshold: SkillsBasedOverflow(threshold),
}


# -- building blocks ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ScaledDistribution:
    """A simulator distribution multiplied by ``factor`` (a relative handle-time effect).

    Examples
    --------
    >>> from simulation import Exponential
    >>> d = ScaledDistribution(Exponential(300.0), 0.9)
    >>> d.mean
    270.0
    """

    base: Any
    factor: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.factor) and self.factor > 0):
            raise DesignError(f"the handle-time factor must be positive, got {self.factor!r}")

    @property
    def mean(self) -> float:
        return float(self.base.mean) * self.factor

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.asarray(self.base.sample(rng, n), dtype=float) * self.factor


def _check_effect(effect: float, name: str = "handle_effect") -> float:
    if not np.isfinite(effect) or effect <= -1.0:
        raise DesignError(
            f"{name} is a relative change of mean handle time and must be > -1 "
            f"(e.g. -0.06 for a 6% reduction), got {effect!r}"
        )
    return float(effect)


def effect_quantiles(
    effect: float, effect_sd: float = 0.0, draws: Any = None, level: float = 0.9
) -> dict[str, float]:
    """The effect's point value and the ends of its central ``level`` interval.

    From ``draws`` (e.g. posterior samples of the relative effect) when given, else from a normal
    ``N(effect, effect_sd)``; with neither spread, the ends equal the point value.

    Examples
    --------
    >>> q = effect_quantiles(-0.06, 0.02)
    >>> round(q["low"], 3), q["point"], round(q["high"], 3)
    (-0.093, -0.06, -0.027)
    """
    point = _check_effect(effect)
    if not 0 < level < 1:
        raise DesignError(f"level must lie in (0, 1), got {level!r}")
    a = (1 - level) / 2
    if draws is not None:
        d = np.asarray(draws, dtype=float)
        if d.ndim != 1 or d.size < 2 or not np.all(np.isfinite(d)):
            raise DataError("effect draws must be a 1-d array of at least 2 finite values")
        lo, hi = (float(v) for v in np.quantile(d, [a, 1 - a]))
    else:
        if not (np.isfinite(effect_sd) and effect_sd >= 0):
            raise DesignError(f"effect_sd must be >= 0, got {effect_sd!r}")
        z = float(stats.norm.ppf(1 - a))
        lo, hi = point - z * effect_sd, point + z * effect_sd
    _check_effect(lo, "the effect's lower quantile (reduce effect_sd)")
    return {"point": point, "low": lo, "high": hi, "level": level}


def load_effect_draws(path: str) -> tuple[np.ndarray | None, dict[str, Any] | None]:
    """Load draws of the relative effect from ``path`` (``.npy`` or a one-column ``.csv``).

    Returns the draws and a provenance record (path, number of draws, SHA-256 of the file), or
    ``(None, None)`` for an empty path.
    """
    if not path:
        return None, None
    import hashlib

    file = Path(path)
    if not file.is_file():
        raise DataError(f"effect_draws file {file} does not exist")
    if file.suffix == ".npy":
        draws = np.load(file, allow_pickle=False)
    elif file.suffix == ".csv":
        frame = pd.read_csv(file)
        if frame.shape[1] != 1:
            raise DataError(f"effect_draws CSV {file} must have exactly one column, has {frame.shape[1]}")
        draws = frame.iloc[:, 0].to_numpy()
    else:
        raise DataError(f"effect_draws must be a .npy or .csv file, got {file.name}")
    draws = np.asarray(draws, dtype=float).ravel()
    if draws.size < 2 or not np.all(np.isfinite(draws)):
        raise DataError(f"effect_draws {file}: need at least 2 finite draws")
    if np.any(draws <= -1):
        raise DataError(f"effect_draws {file}: relative effects must be > -1 (handle time stays positive)")
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    return draws, {"path": str(file.resolve()), "n": int(draws.size), "sha256": digest}


def typical_weekday(contacts: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Mean arrivals per (queue, half-hour slot) over the week days (Mon-Fri) in ``[start, end)``.

    Returns
    -------
    pandas.DataFrame
        ``queue, slot, arrivals`` (zero-filled, ``SLOTS`` slots per queue).
    """
    from simulation import arrival_rates

    rates = arrival_rates(contacts, interval_minutes=INTERVAL_MIN, by_queue=True, start=start, end=end)
    ts = pd.to_datetime(rates["interval_start"])
    rates = rates[ts.dt.dayofweek < 5]
    if rates.empty:
        raise DataError("no week days in the window: widen recent_days")
    ts = pd.to_datetime(rates["interval_start"])
    slot = (ts.dt.hour * 60 + ts.dt.minute) // INTERVAL_MIN
    out = (
        rates.assign(slot=slot.to_numpy())
        .groupby(["queue", "slot"], as_index=False)["arrivals"]
        .mean()
    )
    return out


def erlang_requirements(
    profile: pd.DataFrame,
    aht_s: dict[str, float],
    patience_s: dict[str, float],
    *,
    factor: float = 1.0,
    target_sl: float = 0.8,
    sl_threshold_s: float = 20.0,
) -> pd.DataFrame:
    """Erlang A requirement per queue and slot with handle times scaled by ``factor``.

    Returns ``queue, slot, arrivals, required, erlang_sl`` (the service level Erlang A predicts
    at the required staffing).
    """
    rows = []
    for q, slot, arrivals in profile[["queue", "slot", "arrivals"]].itertuples(index=False):
        lam_h = float(arrivals) * 60.0 / INTERVAL_MIN
        if lam_h <= 0:
            rows.append((q, slot, arrivals, 0, 1.0))
            continue
        r = required_agents(
            lam_h,
            aht_s[q] * factor,
            target_sl=target_sl,
            sl_threshold_s=sl_threshold_s,
            patience_s=patience_s[q],
            model="erlang_a",
            sl_definition=SL_DEFINITION,
        )
        rows.append((q, slot, arrivals, r.agents, r.service_level))
    return pd.DataFrame(rows, columns=["queue", "slot", "arrivals", "required", "erlang_sl"])


def _erlang_sl(arrivals: float, aht: float, n: int, patience: float, threshold: float) -> float:
    lam_h = float(arrivals) * 60.0 / INTERVAL_MIN
    if lam_h <= 0:
        return 1.0
    if n <= 0:
        return 0.0
    return erlang_a(lam_h, aht, int(n), patience, threshold, SL_DEFINITION).service_level


def _day_simulator(volumes: np.ndarray, aht: Any, patience: Any, sl: ServiceLevel) -> Any:
    """``simulate(agents[SLOTS], rng)`` for one queue's day, with ``WARMUP_SLOTS`` of warm-up.

    The day's last intervals (volumes and agents) are simulated first so that the day starts
    with the night's backlog rather than empty; only the day's own intervals are returned.
    """
    vols = np.concatenate([volumes[-WARMUP_SLOTS:], volumes])
    sim = StaffingSimulator(tuple(float(v) for v in vols), aht=aht, patience=patience,
                            interval_s=INTERVAL_S, service_level=sl)

    def simulate(agents: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        a = np.asarray(agents, dtype=int)
        full = np.concatenate([a[-WARMUP_SLOTS:], a])
        if full.max() <= 0:
            full = full.copy()
            full[:] = 1  # a queue with no forecast volume: keep the model valid
        f = sim(full, rng)
        return f.iloc[WARMUP_SLOTS:].reset_index(drop=True)

    return simulate


def search_requirements(
    initial: np.ndarray,
    simulate: Any,
    *,
    target_sl: float,
    n_reps: int,
    seed: int,
    max_iter: int = 60,
) -> tuple[np.ndarray, int]:
    """Simulation-based requirement per interval, searched down and then up under CRN.

    Down: starting from ``initial`` (the Erlang A requirement), remove one agent from every
    interval that still meets ``target_sl`` (mean over ``n_reps`` replications with fixed seeds),
    keep the removals that leave it at or above the target and freeze the others; repeat until
    nothing can go. Up: :func:`simulation.simulated_requirements` then adds agents wherever the
    whole-day simulation is short (removals in one interval can hurt the next: backlogs carry
    over). Returns the requirement and the number of simulated candidate days.
    """
    agents = np.asarray(initial, dtype=int).copy()
    seqs = np.random.SeedSequence(seed).spawn(n_reps)

    def mean_sl(a: np.ndarray) -> np.ndarray:
        vals = [np.asarray(simulate(a, np.random.default_rng(s))["service_level"], float)
                for s in seqs]
        return np.vstack(vals).mean(axis=0)

    mean = mean_sl(agents)
    movable = agents > 1
    evaluations = 1
    for _ in range(max_iter):
        down = movable & (mean >= target_sl - 1e-12)
        if not down.any():
            break
        trial = agents - down.astype(int)
        m2 = mean_sl(trial)
        evaluations += 1
        fail = down & (m2 < target_sl - 1e-12)
        agents = np.where(down & ~fail, trial, agents)
        movable &= ~fail & (agents > 1)
        mean = np.where(fail, mean, m2)
    up = simulated_requirements(agents, simulate, target_sl=target_sl, n_replications=n_reps,
                                rng=seed, max_iter=max_iter)
    return up["required"].to_numpy(int), evaluations + int(up["iterations"].iloc[0])


# -- calibration check --------------------------------------------------------------------------
def calibration_check(
    contacts: pd.DataFrame,
    staffing: pd.DataFrame,
    start: pd.Timestamp,
    *,
    warmup_days: int = 1,
    n_reps: int = 5,
    thresholds: tuple[float, ...] = (300.0, 20.0),
    tolerance: float = 0.02,
    rng: Any = None,
) -> pd.DataFrame:
    """Does the calibrated simulator reproduce the observed abandonment and service level?

    The window's arrivals are replayed (``Trace``) per queue, agents follow the ``staffing``
    table (agents on duty per interval and queue), handle times and patience come from
    :func:`simulation.calibrate` on the same contacts. The first ``warmup_days`` are simulated
    but left out of both the observed and the simulated measures.

    Returns
    -------
    pandas.DataFrame
        One row per queue and measure (``abandon_rate``, ``sl_<t>s``): ``observed``, ``sim_mean``,
        ``ci_low``, ``ci_high`` (t-interval over ``n_reps`` replications), ``diff`` and
        ``agrees`` (observed inside the interval widened by ``tolerance``).
    """
    if n_reps < 2:
        raise DesignError(f"n_reps must be >= 2 for a replication interval, got {n_reps}")
    cal = calibrate(contacts, interval_minutes=INTERVAL_MIN)
    t_rel = (pd.to_datetime(contacts["created_at"]) - start).dt.total_seconds().to_numpy()
    n_slots = math.ceil(t_rel.max() / INTERVAL_S) if t_rel.size else 0
    grid = start + pd.to_timedelta(np.arange(n_slots) * INTERVAL_S, unit="s")
    queues, groups = [], []
    for q in sorted(cal.handle_times):
        mask = (contacts["queue"] == q).to_numpy()
        times = np.sort(t_rel[mask])
        prof = (
            staffing[staffing["queue"] == q]
            .set_index("interval_start")["agents"]
            .reindex(grid, fill_value=0)
            .to_numpy(dtype=int)
        )
        if prof.max() <= 0:
            raise DataError(f"the staffing table has no agents for queue {q!r} in the check window")
        pat = cal.patience.get(q) or cal.patience["all"]
        queues.append(Queue(q, Trace(times), cal.handle_times[q], pat))
        groups.append(AgentGroup(q, (q,), int(prof.max()), profile=tuple(int(v) for v in prof),
                                 profile_interval_s=INTERVAL_S))
    warm = 86400.0 * warmup_days
    model = ContactCentre(queues, groups, routing=LongestIdleAgent(), warmup_s=warm)
    seeds = np.random.SeedSequence(rng).spawn(n_reps)
    qnames = [q.name for q in queues]
    measured = t_rel >= warm
    obs_q = contacts["queue"].to_numpy()[measured]
    obs_ab = contacts["abandoned"].astype(bool).to_numpy()[measured]
    obs_w = contacts["wait_s"].astype(float).to_numpy()[measured]

    def rates(qv: np.ndarray, ab: np.ndarray, w: np.ndarray) -> dict[tuple[str, str], float]:
        out = {}
        for q in [*qnames, "all"]:
            m = np.ones(qv.shape, bool) if q == "all" else qv == q
            out[(q, "abandon_rate")] = float(ab[m].mean())
            for t in thresholds:
                out[(q, f"sl_{t:g}s")] = float(((~ab[m]) & (w[m] <= t)).mean())
        return out

    observed = rates(obs_q, obs_ab, obs_w)
    sims: dict[tuple[str, str], list[float]] = {k: [] for k in observed}
    for s in seeds:
        rec = model.run(rng=s).records()
        rec = rec[rec["arrival_s"] >= warm]
        vals = rates(rec["queue"].astype(str).to_numpy(), rec["abandoned"].to_numpy(bool),
                     rec["wait_s"].to_numpy(float))
        for k, v in vals.items():
            sims[k].append(v)
    rows = []
    for (q, measure), obs in observed.items():
        m, lo, hi = t_interval(sims[(q, measure)])
        rows.append({"queue": q, "measure": measure, "observed": obs, "sim_mean": m, "ci_low": lo,
                     "ci_high": hi, "diff": m - obs,
                     "agrees": bool(lo - tolerance <= obs <= hi + tolerance)})
    return pd.DataFrame(rows)


# -- routing comparison -------------------------------------------------------------------------
def policy_comparison(
    volumes: dict[str, np.ndarray],
    agents: dict[str, np.ndarray],
    aht: dict[str, Any],
    patience: dict[str, Any],
    *,
    policy_a: str,
    policy_b: str,
    overflow_threshold_s: float = 60.0,
    sl: ServiceLevel,
    n_reps: int = 5,
    rng: Any = None,
) -> pd.DataFrame:
    """Two routing policies on the same contacts (CRN): paired differences with t-intervals.

    Agents are cross-trained on two queues: queue ``q``'s group lists ``q`` first (its primary
    skill) and then the next queue in alphabetical order (a ring), so the policies differ in
    *who* answers *what*. Both policies run
    with the same replication seeds; replication ``i`` of each sees the same arrivals, handle
    times and patience (named streams).

    Returns
    -------
    pandas.DataFrame
        ``measure, mean_a, mean_b, mean_diff, ci_low, ci_high, sd_diff, sd_unpaired,
        variance_ratio`` where ``mean_diff = a - b`` and ``variance_ratio`` is the variance of
        the unpaired difference over that of the paired one (the gain from CRN).
    """
    for p in (policy_a, policy_b):
        if p not in POLICIES:
            raise DesignError(f"unknown routing policy {p!r}; choose one of {sorted(POLICIES)}")
    names = sorted(volumes)
    queues, groups = [], []
    for q in names:
        vols = np.concatenate([volumes[q][-WARMUP_SLOTS:], volumes[q]])
        prof = np.concatenate([agents[q][-WARMUP_SLOTS:], agents[q]]).astype(int)
        prof = np.maximum(prof, 1)
        queues.append(Queue(q, IntervalForecast(tuple(float(v) for v in vols), INTERVAL_S),
                            aht[q], patience[q]))
        nxt = names[(names.index(q) + 1) % len(names)]
        skills = (q,) if nxt == q else (q, nxt)
        groups.append(AgentGroup(q, skills, int(prof.max()),
                                 profile=tuple(int(v) for v in prof), profile_interval_s=INTERVAL_S))
    base = ContactCentre(queues, groups, warmup_s=WARMUP_SLOTS * INTERVAL_S,
                         horizon_s=(WARMUP_SLOTS + SLOTS) * INTERVAL_S)
    res = {}
    for p in (policy_a, policy_b):
        model = base.with_routing(POLICIES[p](overflow_threshold_s))
        res[p] = replicate(model, n_reps, rng=rng, backend="serial", progress=False,
                           service_levels=(sl,))
    ra, rb = res[policy_a], res[policy_b]
    paired = ra.paired_difference(rb).set_index("measure")
    rows = []
    for measure in (sl.key, "p_abandon", "asa_answered_s", "occupancy"):
        xa = ra.replications[measure].to_numpy(float)
        xb = rb.replications[measure].to_numpy(float)
        sd_unpaired = float(np.sqrt(np.var(xa, ddof=1) + np.var(xb, ddof=1)))
        p = paired.loc[measure]
        rows.append({
            "measure": measure, "mean_a": float(xa.mean()), "mean_b": float(xb.mean()),
            "mean_diff": float(p["mean_diff"]), "ci_low": float(p["ci_low"]),
            "ci_high": float(p["ci_high"]), "sd_diff": float(p["sd_diff"]),
            "sd_unpaired": sd_unpaired,
            "variance_ratio": (sd_unpaired**2 / float(p["sd_diff"]) ** 2
                               if p["sd_diff"] > 0 else float("inf")),
        })
    return pd.DataFrame(rows)


# -- the study ----------------------------------------------------------------------------------
def _window(ctx: StudyContext) -> tuple[pd.Timestamp, pd.Timestamp]:
    last = ctx.query("SELECT max(created_at) AS last FROM contacts")["last"].iloc[0]
    if pd.isna(last):
        raise DataError("the contacts table is empty")
    end = pd.Timestamp(last).floor("D")
    return end - pd.Timedelta(days=int(ctx.params["recent_days"])), end


def _quality_checks(start: pd.Timestamp, end: pd.Timestamp) -> tuple[TableCheck, ...]:
    """What the calibration reads from ``contacts`` in the window (studies.runner.quality)."""
    return (TableCheck(
        "contacts",
        (Column("queue", "key"), Column("abandoned", "key"), Column("queue_wait_s"),
         Column("handle_s", required_when="NOT abandoned", note="NULL for abandoned contacts")),
        scope="created_at >= ? AND created_at < ?",
        scope_params=(start.to_pydatetime(), end.to_pydatetime()),
        scope_label=f"contacts created from {start:%Y-%m-%d} to before {end:%Y-%m-%d}",
        scope_columns=("created_at",),
    ),)


def _plot_requirements(req: pd.DataFrame, effect: float) -> Any:
    import matplotlib.pyplot as plt

    tot = req.groupby("slot")[["erlang_base", "erlang_effect", "sim_base", "sim_effect"]].sum()
    fig, ax = plt.subplots(figsize=(9, 4))
    h = tot.index.to_numpy() * INTERVAL_MIN / 60.0
    ax.step(h, tot["erlang_base"], where="post", color="C0", label="Erlang A, today")
    ax.step(h, tot["erlang_effect"], where="post", color="C1",
            label=f"Erlang A, handle time {effect:+.0%}")
    ax.step(h, tot["sim_base"], where="post", color="C0", ls="--", label="simulation (CRN), today")
    ax.step(h, tot["sim_effect"], where="post", color="C1", ls="--",
            label=f"simulation (CRN), handle time {effect:+.0%}")
    ax.set_xlabel("hour of a typical week day (UTC)")
    ax.set_ylabel("required agents (all queues)")
    ax.set_xlim(0, 24)
    ax.legend(fontsize=8)
    ax.set_title("Required agents per 30-minute interval")
    fig.tight_layout()
    return fig


def _plot_service_level(ver: pd.DataFrame, target: float, sl_name: str) -> Any:
    import matplotlib.pyplot as plt

    names = sorted(ver["queue"].unique())
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 1.9 * len(names)), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, q in zip(axes, names, strict=True):
        v = ver[ver["queue"] == q]
        h = v["slot"].to_numpy() * INTERVAL_MIN / 60.0
        ax.fill_between(h, v["ci_low"].clip(0, 1), v["ci_high"].clip(0, 1), step="post", alpha=0.3,
                        color="C1")
        ax.step(h, v["mean"], where="post", color="C1", label="simulated (mean, 95% t-interval)")
        ax.step(h, v["erlang_sl"], where="post", color="C0", ls=":", label="Erlang A prediction")
        ax.axhline(target, color="k", lw=0.8, ls="--", label="target")
        ax.set_ylim(0, 1.02)
        ax.set_ylabel(q, fontsize=8)
    axes[0].legend(fontsize=7, loc="lower left", ncol=3)
    axes[0].set_title(f"Service level of the Erlang A plan (with the effect): {sl_name}", fontsize=9)
    axes[-1].set_xlabel("hour of a typical week day (UTC)")
    fig.tight_layout()
    return fig


def _plot_calibration(check: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    measures = list(dict.fromkeys(check["measure"]))
    fig, axes = plt.subplots(1, len(measures), figsize=(3.4 * len(measures), 3.4))
    axes = np.atleast_1d(axes)
    for ax, m in zip(axes, measures, strict=True):
        c = check[check["measure"] == m]
        y = np.arange(len(c))
        ax.errorbar(c["sim_mean"], y, xerr=[c["sim_mean"] - c["ci_low"], c["ci_high"] - c["sim_mean"]],
                    fmt="o", color="C1", capsize=3, label="simulated")
        ax.plot(c["observed"], y, "kx", label="observed")
        ax.set_yticks(y, c["queue"])
        ax.set_title(m, fontsize=9)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def run(ctx: StudyContext) -> StudyOutput:
    """Run the staffing what-if (see the module docstring)."""
    p = ctx.params
    draws, draws_source = load_effect_draws(p["effect_draws"])
    if draws is not None:
        eff = effect_quantiles(float(np.mean(draws)), draws=draws)
    else:
        eff = effect_quantiles(p["handle_effect"], p["effect_sd"])
    uncertain = draws is not None or p["effect_sd"] > 0
    spread = f"{draws.size} draws from {Path(p['effect_draws']).name}" if draws is not None \
        else f"sd {p['effect_sd']:g}"
    if p["policy_a"] not in POLICIES or p["policy_b"] not in POLICIES:
        raise DesignError(f"unknown routing policy; choose from {sorted(POLICIES)}")
    if p["policy_a"] == p["policy_b"]:
        raise DesignError("policy_a and policy_b must differ")
    if p["n_reps"] < 2:
        raise DesignError(f"n_reps must be >= 2 for replication intervals, got {p['n_reps']}")
    if not 0 < p["target_sl"] < 1:
        raise DesignError(f"target_sl must lie in (0, 1), got {p['target_sl']}")
    # one integer root seed per part; replication seeds are derived from it the same way on every
    # call, so every scenario and candidate staffing of one part sees the same contacts (CRN)
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(ctx.seed).spawn(4)]
    threshold = float(p["sl_threshold_s"])
    sl = ServiceLevel(threshold, "offered")

    # -- data and calibration -----------------------------------------------------------------
    ctx.stage("calibrating arrivals, handle times and patience")
    start, end = _window(ctx)
    dq = ctx.check_data(_quality_checks(start, end))  # NULL, inf, empty: fail or drop, counted
    contacts = ctx.query(
        "SELECT created_at, queue, queue_wait_s AS wait_s, abandoned, handle_s FROM "
        f"{dq.table('contacts')} AS c "
        "WHERE created_at >= ? AND created_at < ? ORDER BY created_at, contact_id",
        [start.to_pydatetime(), end.to_pydatetime()],
    )
    if contacts.empty:
        raise DataError(f"no contacts between {start} and {end}")
    cal = calibrate(contacts, interval_minutes=INTERVAL_MIN, sl_threshold_s=threshold)
    names = sorted(cal.handle_times)
    aht_dist = {q: cal.handle_times[q] for q in names}
    pat_dist = {q: cal.patience.get(q) or cal.patience["all"] for q in names}
    aht_mean = {q: float(aht_dist[q].mean) for q in names}
    pat_mean = {q: float(pat_dist[q].exponential_mean_s) for q in names}
    profile = typical_weekday(contacts, start, end)
    staffing = ctx.query(
        "SELECT interval_start, queue, agents FROM staffing WHERE interval_start >= ? "
        "AND interval_start < ? ORDER BY interval_start, queue",
        [start.to_pydatetime(), end.to_pydatetime()],
    )

    # -- Erlang A requirements: today, with the effect, and at the effect's quantiles -------------
    ctx.stage("Erlang A requirements")
    kw = {"target_sl": p["target_sl"], "sl_threshold_s": threshold}
    base = erlang_requirements(profile, aht_mean, pat_mean, factor=1.0, **kw)
    with_eff = erlang_requirements(profile, aht_mean, pat_mean, factor=1 + eff["point"], **kw)
    hours = INTERVAL_MIN / 60.0
    ah_base = float(base["required"].sum()) * hours
    ah_eff = float(with_eff["required"].sum()) * hours
    saving = {"point": ah_base - ah_eff}
    at_quantile: dict[str, np.ndarray] = {}
    if uncertain:
        for end_name in ("low", "high"):
            r = erlang_requirements(profile, aht_mean, pat_mean, factor=1 + eff[end_name], **kw)
            saving[end_name] = ah_base - float(r["required"].sum()) * hours
            at_quantile[end_name] = r["required"].to_numpy()
        saving_low, saving_high = sorted((saving["low"], saving["high"]))
    else:
        saving_low = saving_high = saving["point"]

    # -- simulation: requirement search (CRN) and the plan's service level ----------------------
    req = base.rename(columns={"required": "erlang_base", "erlang_sl": "erlang_sl_base"})
    req["erlang_effect"] = with_eff["required"].to_numpy()
    req["erlang_sl_effect"] = with_eff["erlang_sl"].to_numpy()
    # per-interval requirement at the effect's quantiles (the effect's uncertainty, interval by interval)
    for end_name, required in at_quantile.items():
        req[f"erlang_effect_{end_name}"] = required
    req["aht_s"] = req["queue"].map(aht_mean)
    req["load"] = req["arrivals"] * 60 / INTERVAL_MIN / 3600 * req["aht_s"]
    sim_cols = {"sim_base": [], "sim_effect": []}
    ver_frames = []
    search_seed, verify_seed, routing_seed, check_seed = seeds
    iterations = []
    for q in ctx.progress(names, stage=f"simulated requirement search ({len(names)} queues x 2 scenarios)"):
        sel = req["queue"] == q
        vols = req.loc[sel, "arrivals"].to_numpy(float)
        for col, factor, start_col in (("sim_base", 1.0, "erlang_base"),
                                       ("sim_effect", 1 + eff["point"], "erlang_effect")):
            sim = _day_simulator(vols, ScaledDistribution(aht_dist[q], factor), pat_dist[q], sl)
            init = np.where(vols > 0, np.maximum(req.loc[sel, start_col].to_numpy(int), 1), 0)
            found, n_eval = search_requirements(init, sim, target_sl=p["target_sl"],
                                                n_reps=p["n_reps"], seed=search_seed)
            sim_cols[col].append(found)
            iterations.append(n_eval)
            if col == "sim_effect":
                plan = req.loc[sel, "erlang_effect"].to_numpy(int)
                v = verify_schedule_by_simulation(plan, sim, target_sl=p["target_sl"],
                                                  n_replications=p["n_reps"], rng=verify_seed)
                v.insert(0, "queue", q)
                v["slot"] = req.loc[sel, "slot"].to_numpy()
                v["erlang_sl"] = req.loc[sel, "erlang_sl_effect"].to_numpy()
                ver_frames.append(v)
    for col, parts in sim_cols.items():
        req[col] = np.concatenate(parts)
    req["sim_minus_erlang"] = req["sim_effect"] - req["erlang_effect"]
    ver = pd.concat(ver_frames, ignore_index=True)
    sah_base = float(req["sim_base"].sum()) * hours
    sah_eff = float(req["sim_effect"].sum()) * hours

    # -- routing policies under CRN ----------------------------------------------------------
    ctx.stage(f"comparing routing policies ({p['policy_a']} vs {p['policy_b']})")
    vol_by_q = {q: req.loc[req["queue"] == q, "arrivals"].to_numpy(float) for q in names}
    plan_by_q = {q: req.loc[req["queue"] == q, "sim_effect"].to_numpy(int) for q in names}
    routing = policy_comparison(
        vol_by_q, plan_by_q, {q: ScaledDistribution(aht_dist[q], 1 + eff["point"]) for q in names},
        pat_dist, policy_a=p["policy_a"], policy_b=p["policy_b"],
        overflow_threshold_s=p["overflow_threshold_s"], sl=sl, n_reps=p["n_reps"], rng=routing_seed,
    )

    # -- calibration check over the last week --------------------------------------------------
    ctx.stage(f"calibration check ({p['check_days']} days)")
    check_start = end - pd.Timedelta(days=int(p["check_days"]) + 1)
    ck_contacts = contacts[pd.to_datetime(contacts["created_at"]) >= check_start].reset_index(drop=True)
    ck_staff = staffing[pd.to_datetime(staffing["interval_start"]) >= check_start]
    check = calibration_check(ck_contacts, ck_staff, check_start, warmup_days=1, n_reps=p["n_reps"],
                              thresholds=(float(p["check_threshold_s"]), threshold),
                              tolerance=p["check_tolerance"], rng=check_seed)

    # -- scheduled staffing today (the staffing table), for scale --------------------------------
    st = staffing.assign(ts=pd.to_datetime(staffing["interval_start"]))
    st = st[st["ts"].dt.dayofweek < 5]
    scheduled_ah = float(st.groupby(st["ts"].dt.date)["agents"].sum().mean()) * hours

    # -- diagnostics -------------------------------------------------------------------------
    diags: list[Diagnostic] = list(cal.diagnostics) + list(dq.diagnostics)
    diags.append(Diagnostic(
        "replications", "ok" if p["n_reps"] >= 5 else "warning",
        f"{p['n_reps']} replications per simulated scenario (t-intervals); kept small for run time"
        + ("" if p["n_reps"] >= 5 else ": raise n_reps for trustworthy intervals"), float(p["n_reps"])))
    sl_check = check[(check["queue"] == "all") & (check["measure"] == f"sl_{p['check_threshold_s']:g}s")]
    ab_check = check[(check["queue"] == "all") & (check["measure"] == "abandon_rate")]
    ok_all = bool(sl_check["agrees"].all() and ab_check["agrees"].all())
    diags.append(Diagnostic(
        "calibration", "ok" if ok_all else "warning",
        "the calibrated simulator reproduces the observed overall abandonment and service level "
        f"within {p['check_threshold_s']:g} s (replication interval +- {p['check_tolerance']:g})"
        if ok_all else
        "the calibrated simulator does not reproduce the observed overall abandonment or service "
        f"level within {p['check_threshold_s']:g} s; treat the simulated numbers with care",
        float(sl_check["diff"].iloc[0]) if len(sl_check) else None))
    short = ver[ver["meets_target"] == "no"]
    diags.append(Diagnostic(
        "plan_service_level", "ok" if short.empty else "warning",
        "the Erlang A plan meets the target in every simulated interval (or it is unclear)"
        if short.empty else
        f"the Erlang A plan misses the target in {len(short)} queue-intervals by simulation: "
        "Erlang A's stationary, exponential assumptions understaff there", float(len(short))))

    # -- report --------------------------------------------------------------------------------
    ctx.stage("report")
    rt = routing.set_index("measure")
    sl_row = rt.loc[sl.key]
    headline = (
        f"handle time {eff['point']:+.1%} saves {saving['point']:.1f} agent-hours per week day "
        f"(Erlang A, {ah_base:.0f} -> {ah_eff:.0f}) at {p['target_sl']:.0%}/{threshold:g}s"
        + (f", {eff['level']:.0%} interval [{saving_low:.1f}, {saving_high:.1f}]"
           if uncertain else "")
        + f"; simulation says {sah_base - sah_eff:.1f}"
    )
    totals = pd.DataFrame([
        {"scenario": "today", "method": "Erlang A", "agent_hours": ah_base},
        {"scenario": f"handle time {eff['point']:+.1%}", "method": "Erlang A", "agent_hours": ah_eff},
        {"scenario": "today", "method": "simulation (CRN)", "agent_hours": sah_base},
        {"scenario": f"handle time {eff['point']:+.1%}", "method": "simulation (CRN)",
         "agent_hours": sah_eff},
        {"scenario": "today", "method": "scheduled (staffing table, week-day mean)",
         "agent_hours": scheduled_ah},
    ])
    by_queue = req.groupby("queue").agg(
        arrivals=("arrivals", "sum"), aht_s=("aht_s", "first"), erlang_base=("erlang_base", "sum"),
        erlang_effect=("erlang_effect", "sum"), sim_base=("sim_base", "sum"),
        sim_effect=("sim_effect", "sum")).reset_index()
    by_queue["patience_mean_s"] = by_queue["queue"].map(pat_mean)
    for c in ("erlang_base", "erlang_effect", "sim_base", "sim_effect"):
        by_queue[c] = by_queue[c] * hours
    diff_rows = req[req["sim_minus_erlang"] != 0]
    more = int((req["sim_minus_erlang"] > 0).sum())
    fewer = int((req["sim_minus_erlang"] < 0).sum())
    peak_slot = int(req.groupby("slot")["arrivals"].sum().idxmax())
    # time-varying load: compare intervals where arrivals rise (ramp-up) with those where they fall
    change = req.groupby("queue")["arrivals"].transform(lambda a: a - np.roll(a.to_numpy(), 1))
    req["arrivals_change"] = change
    q_hi, q_lo = change.quantile(0.75), change.quantile(0.25)
    ramp_up = float(req.loc[change >= q_hi, "sim_minus_erlang"].mean())
    ramp_down = float(req.loc[change <= q_lo, "sim_minus_erlang"].mean())
    sl_sig = sl_row["ci_low"] > 0 or sl_row["ci_high"] < 0
    better = p["policy_a"] if sl_row["mean_diff"] > 0 else p["policy_b"]
    routing_sentence = (
        f"{better} gives the higher service level: {p['policy_a']} minus {p['policy_b']} = "
        f"{sl_row['mean_diff']:+.3f} (95% paired t-interval [{sl_row['ci_low']:+.3f}, "
        f"{sl_row['ci_high']:+.3f}])" if sl_sig else
        f"the two policies cannot be told apart on service level: {p['policy_a']} minus "
        f"{p['policy_b']} = {sl_row['mean_diff']:+.3f} (95% paired t-interval "
        f"[{sl_row['ci_low']:+.3f}, {sl_row['ci_high']:+.3f}])"
    )
    body = [
        f"**Question.** {STUDY.question}",
        "",
        (f"**Service level.** {sl.name} (Erlang A: `{SL_DEFINITION}`): abandoners count as not "
        f"answered in time, no short-abandon exclusion. Target {p['target_sl']:.0%} within "
        f"{threshold:g} s in every 30-minute interval."),
        "",
        (f"**Data.** Contacts from {start:%Y-%m-%d} to {end:%Y-%m-%d} ({len(contacts):,} contacts); "
        f"the typical week day is the mean arrivals per half hour over its week days. Handle "
        "times: log-normal per queue; patience: Kaplan-Meier per queue (abandoners observe it, "
        "answered contacts censor it); Erlang A uses the censored exponential mean patience."),
        "",
        "### Conclusions",
        "",
        f"- A handle-time change of {eff['point']:+.1%} saves **{saving['point']:.1f} agent-hours "
        f"per week day** at the same {p['target_sl']:.0%}/{threshold:g} s service level by Erlang A "
        f"({ah_base:.0f} -> {ah_eff:.0f} agent-hours)"
        + (f"; with the effect's uncertainty ({spread}) the {eff['level']:.0%} "
           f"interval of the saving is [{saving_low:.1f}, {saving_high:.1f}]"
           if uncertain else "")
        + f". Simulation with common random numbers puts the saving at "
        f"{sah_base - sah_eff:.1f} agent-hours ({sah_base:.0f} -> {sah_eff:.0f}).",
        (f"- Erlang A and simulation disagree in {len(diff_rows)} of {len(req)} queue-intervals: "
        f"simulation needs more agents in {more} and fewer in {fewer}. Erlang A treats each half "
        "hour as a stationary queue with exponential handle times and patience; the simulation "
        "carries backlogs across intervals (ramps) and uses the fitted log-normal handle times and "
        f"Kaplan-Meier patience. Where arrivals rise fastest (top quarter of half-hour increases) "
        f"simulation needs {ramp_up:+.1f} agents per queue-interval against Erlang A, where they "
        f"fall fastest {ramp_down:+.1f}"
        + (": a queue takes time to reach the stationary state Erlang A assumes, so after a rise "
           "the half hour starts with the short queue of the quieter one before, and after a fall "
           "with the backlog of the busier one." if ramp_up < ramp_down else
           ": a backlog built in the previous, quieter half hour has to be cleared after a rise.")
        + " The busiest half hour starts at "
        f"{peak_slot * INTERVAL_MIN // 60:02d}:{peak_slot * INTERVAL_MIN % 60:02d}."),
        (f"- Routing (agents cross-trained on their queue and one more, the simulated plan with the "
        f"effect, {p['n_reps']} paired "
        f"replications): {routing_sentence}. Common random numbers cut the variance of the "
        f"difference by a factor of {sl_row['variance_ratio']:.1f}."),
        f"- Today's schedule (the `staffing` table) has {scheduled_ah:.0f} agent-hours per week "
        f"day, against the Erlang A requirement above: the world is not staffed to a "
        f"{p['target_sl']:.0%}/{threshold:g} s target in every half hour." if scheduled_ah < ah_base
        else
        f"- Today's schedule (the `staffing` table) has {scheduled_ah:.0f} agent-hours per week day.",
        "",
        "### Totals (agent-hours per week day)",
        "",
        markdown_table(totals),
        "",
        "### By queue (agent-hours per week day)",
        "",
        markdown_table(by_queue),
        "",
        "### Routing policies under common random numbers",
        "",
        (f"`mean_diff` = {p['policy_a']} - {p['policy_b']}, paired over replications; "
        "`variance_ratio` = unpaired over paired variance of the difference."),
        "",
        markdown_table(routing),
        "",
        "### Calibration check: does the calibrated simulator reproduce the world?",
        "",
        (f"Over the last {p['check_days']} days (after one warm-up day) the observed arrivals are "
        "replayed, agents follow the `staffing` table, and handle times and patience come from the "
        f"calibration. `agrees`: observed inside the {p['n_reps']}-replication 95% t-interval "
        f"widened by {p['check_tolerance']:g}. Waits are the warehouse's `queue_wait_s`, the time in "
        "the shared queue: the world's `wait_s` of an answered contact also holds a pre-queue routing "
        "delay that a queue model does not have, and comparing service levels on it would blame the "
        "queue for the router."),
        "",
        markdown_table(check),
    ]
    results = {
        "effect": {**eff, "source": draws_source},
        "service_level_definition": sl.name,
        "sl_definition_erlang": SL_DEFINITION,
        "target_sl": p["target_sl"],
        "sl_threshold_s": threshold,
        "window": {"start": str(start), "end": str(end)},
        "agent_hours": {"erlang_base": ah_base, "erlang_effect": ah_eff, "sim_base": sah_base,
                        "sim_effect": sah_eff, "scheduled": scheduled_ah},
        "saving_agent_hours": {"erlang": saving["point"], "erlang_low": saving_low,
                               "erlang_high": saving_high, "simulation": sah_base - sah_eff},
        "intervals_sim_more": more,
        "intervals_sim_fewer": fewer,
        "sim_minus_erlang_ramp_up": ramp_up,
        "sim_minus_erlang_ramp_down": ramp_down,
        "search_iterations": iterations,
        "routing": routing.to_dict(orient="records"),
        "calibration_check": check.to_dict(orient="records"),
        "calibration": cal.summary().to_frame().to_dict(orient="records"),
    }
    return StudyOutput(
        headline=headline,
        results=jsonable(results),
        tables={"requirements": req, "totals": totals, "by_queue": by_queue, "routing": routing,
                "plan_service_level": ver, "calibration_check": check},
        figures={
            "requirements": _plot_requirements(req, eff["point"]),
            "service_level": _plot_service_level(ver, p["target_sl"], sl.name),
            "calibration": _plot_calibration(check),
        },
        report_md="\n".join(body),
        diagnostics=tuple(diags),
    )



STUDY = Study(
    name="staffing",
    title="Staffing what-if: handle-time effects, service level and routing",
    question=(
        "If routing v2 or the assist tool changes handle time by a given amount, how many agents "
        "does each half hour of a typical week day need for the service-level target, by Erlang A "
        "and by simulation, and which routing policy serves better with the same agents?"
    ),
    params=(
        Param("handle_effect", float, -0.06, "relative change of mean handle time (> -1)", min=-1,
              exclusive_min=True),
        Param("effect_sd", float, 0.0, "sd of the relative effect (normal approximation); 0: point",
              min=0),
        Param("effect_draws", str, "",
              "path to draws of the relative handle-time effect (.npy, or .csv with one column), e.g. a "
              "posterior sample; overrides handle_effect and effect_sd"),
        Param("target_sl", float, 0.8, "service-level target per interval", min=0, max=1,
              exclusive_min=True, exclusive_max=True),
        Param("sl_threshold_s", float, 20.0, "answered within this many seconds counts as met", min=0),
        Param("recent_days", int, 28, "days before the end of the data used for calibration", min=7),
        Param("n_reps", int, 5, "simulation replications per scenario (t-intervals)", min=2),
        Param("policy_a", str, "skills_overflow", "routing policy A", choices=tuple(POLICIES)),
        Param("policy_b", str, "fifo", "routing policy B", choices=tuple(POLICIES)),
        Param("overflow_threshold_s", float, 60.0, "wait before overflow (skills_overflow)", min=0),
        Param("check_days", int, 7, "days in the calibration check (after one warm-up day)", min=1),
        Param("check_threshold_s", float, 300.0, "service-level threshold of the calibration check",
              min=0),
        Param("check_tolerance", float, 0.02, "tolerance of the calibration check", min=0, max=1,
              exclusive_min=True, exclusive_max=True),
        *QUALITY_PARAMS,
    ),
    default_seed=20260105,
    run=run,
    tables={
        "contacts": ("contact_id", "created_at", "queue", "queue_wait_s", "abandoned", "handle_s"),
        "staffing": ("interval_start", "queue", "agents"),
    },
)
