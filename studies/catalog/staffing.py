"""Study ``staffing``: what a handle-time effect means for staffing and service level.

Shaped like ``routing_ab``: :func:`query` reads the contacts and the staffing table,
:class:`StaffingWhatIf` (the spec, parameters only) analyses them into a :class:`StaffingWhatIfResult`,
and :func:`report` writes it up. Every step is a library call of :mod:`simulation`:

1. **Calibration.** :func:`simulation.calibrate` estimates handle times (log-normal by queue) and
   patience (Kaplan-Meier by queue: abandoners observe it, answered contacts censor it) from the
   last ``recent_days`` of contacts; the *typical week day* is the mean arrivals per half hour
   over their week days.
2. **Staffing with and without the effect.** A relative effect on mean handle time
   (``handle_effect``, e.g. -0.06) scales every queue's handle times
   (:class:`simulation.Scaled`). The requirement per queue and half hour comes from exact Erlang A
   (:func:`simulation.interval_requirements`, each interval stationary) and from a simulation
   search with common random numbers (:func:`simulation.simulated_requirements` on a
   :class:`simulation.PlanSimulator` of the whole day, whose last two hours run first so that the
   day starts with the night's backlog).
3. **Uncertainty.** With ``effect_sd > 0`` (or ``effect_draws``) the required agent-hours at the
   effect's quantiles are the quantiles of the saving (they are monotone in the handle-time
   multiplier).
4. **The plan's service level** by simulation (:func:`simulation.verify_schedule_by_simulation`):
   the counts of intervals that meet the target, are unclear and miss it, reported as they are.
5. **Routing policies under CRN** (:func:`simulation.paired_comparison`, with the variance ratio
   and its direction).
6. **Calibration check** (:func:`simulation.validate_calibration`) over a recent week, judged at
   the target's own service-level definition.

Service level (GUIDE section 3): one :class:`simulation.ServiceLevel` (answered within
``sl_threshold_s`` seconds over all offered contacts; abandoners count as not answered in time; no
short-abandon exclusion) for Erlang A, the simulator and the calibration check, named in every
result.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, child_seeds
from servicelab.results import Diagnostic, jsonable, markdown_table
from simulation import (
    FIFO,
    AgentGroup,
    Calibration,
    CalibrationValidation,
    ContactCentre,
    IntervalForecast,
    LongestIdleAgent,
    PairedComparison,
    PlanSimulator,
    PlanVerification,
    Queue,
    Scaled,
    ServiceLevel,
    SkillsBasedOverflow,
    StaticPriority,
    arrival_rates,
    calibrate,
    interval_requirements,
    paired_comparison,
    replicate,
    simulated_requirements,
    validate_calibration,
    verify_schedule_by_simulation,
)
from studies.runner import Param, Study, StudyContext, StudyOutput
from studies.runner.quality import QUALITY_PARAMS, Column, DataQuality, TableCheck

__all__ = ["POLICIES", "STUDY", "StaffingData", "StaffingWhatIf", "StaffingWhatIfResult", "effect_quantiles",
           "load_effect_draws", "query", "report", "run", "typical_weekday"]

INTERVAL_MIN = 30
INTERVAL_S = 60.0 * INTERVAL_MIN
HOURS = INTERVAL_MIN / 60.0
WARMUP_SLOTS = 4  # the day's last two hours are simulated before it starts (a night's carry-over)

POLICIES: dict[str, Any] = {
    "fifo": lambda _threshold: FIFO(),  # every policy is made from the overflow threshold; only one uses it
    "longest_idle": lambda _threshold: LongestIdleAgent(),
    "static_priority": lambda _threshold: StaticPriority(),
    "skills_overflow": lambda threshold: SkillsBasedOverflow(threshold),
}


# -- the effect ---------------------------------------------------------------------------------
def _check_effect(effect: float, name: str = "handle_effect") -> float:
    if not np.isfinite(effect) or effect <= -1.0:
        raise DesignError(
            f"{name} is a relative change of mean handle time and must be > -1 "
            f"(e.g. -0.06 for a 6% reduction), got {effect!r}"
        )
    return float(effect)


def effect_quantiles(
    effect: float, effect_sd: float = 0.0, draws: Any = None, ci_level: float = 0.9
) -> dict[str, float]:
    """The effect's point value and the ends of its central ``ci_level`` interval.

    From ``draws`` (e.g. posterior samples of the relative effect) when given, else from a normal
    ``N(effect, effect_sd)``; with neither spread, the ends equal the point value.

    Examples
    --------
    >>> q = effect_quantiles(-0.06, 0.02)
    >>> round(q["low"], 3), q["point"], round(q["high"], 3)
    (-0.093, -0.06, -0.027)
    """
    point = _check_effect(effect)
    if not 0 < ci_level < 1:
        raise DesignError(f"ci_level must lie in (0, 1), got {ci_level!r}")
    a = (1 - ci_level) / 2
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
    return {"point": point, "low": lo, "high": hi, "ci_level": ci_level}


def _is_draws_file_or_empty(path: str) -> bool:
    """``effect_draws`` is checked before any data is read: '' or an existing .npy/.csv file."""
    return path == "" or (Path(path).suffix in (".npy", ".csv") and Path(path).is_file())


def load_effect_draws(path: str) -> tuple[np.ndarray | None, dict[str, Any] | None]:
    """Load draws of the relative effect from ``path`` (``.npy`` or a one-column ``.csv``).

    Returns the draws and a provenance record (path, number of draws, SHA-256 of the file), or
    ``(None, None)`` for an empty path.
    """
    if not path:
        return None, None
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

    Returns ``queue, slot, arrivals`` (zero-filled, 48 slots per queue).
    """
    rates = arrival_rates(contacts, interval_minutes=INTERVAL_MIN, by_queue=True, start=start, end=end)
    ts = pd.to_datetime(rates["interval_start"])
    rates = rates[ts.dt.dayofweek < 5]
    if rates.empty:
        raise DataError("no week days in the window: widen recent_days")
    ts = pd.to_datetime(rates["interval_start"])
    slot = (ts.dt.hour * 60 + ts.dt.minute) // INTERVAL_MIN
    return rates.assign(slot=slot.to_numpy()).groupby(["queue", "slot"], as_index=False)["arrivals"].mean()


# -- query --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StaffingData:
    """What the study reads: contacts (``queue_wait_s`` as ``wait_s``) and the staffing table."""

    contacts: pd.DataFrame
    staffing: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    quality: DataQuality | None = None


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


_LAST_SQL = "SELECT max(created_at) AS last FROM contacts"
_CONTACTS_SQL = ("SELECT created_at, queue, queue_wait_s AS wait_s, abandoned, handle_s FROM {contacts} AS c "
                 "WHERE created_at >= ? AND created_at < ? ORDER BY created_at, contact_id")
_STAFFING_SQL = ("SELECT interval_start, queue, agents FROM staffing WHERE interval_start >= ? "
                 "AND interval_start < ? ORDER BY interval_start, queue")


def query(ctx: StudyContext) -> StaffingData:
    """The last ``recent_days`` of contacts and staffing (bound, fingerprinted, NULL-checked queries)."""
    last = ctx.query(_LAST_SQL)["last"].iloc[0]
    if pd.isna(last):
        raise DataError("the contacts table has no rows; build or load the warehouse first")
    end = pd.Timestamp(last).floor("D")
    start = end - pd.Timedelta(days=int(ctx.params["recent_days"]))
    window = [start.to_pydatetime(), end.to_pydatetime()]
    dq = ctx.check_data(_quality_checks(start, end))  # NULL, inf, empty: fail or drop, counted
    # queue_wait_s: the time in the shared queue (the world's wait_s also holds a routing delay
    # before the queue, which a queue model does not have)
    contacts = ctx.query(_CONTACTS_SQL.format(contacts=dq.table("contacts")), window)
    if contacts.empty:
        raise DataError(f"no contacts between {start} and {end}")
    staffing = ctx.query(_STAFFING_SQL, window)
    return StaffingData(contacts, staffing, start, end, dq)


# -- spec ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StaffingWhatIf:
    """The staffing what-if (parameters only; :meth:`analyze` does the work)."""

    effect: dict[str, float]
    service_level: ServiceLevel
    target_sl: float = 0.8
    n_reps: int = 5
    policy_a: str = "skills_overflow"
    policy_b: str = "fifo"
    overflow_threshold_s: float = 60.0
    check_days: int = 7
    check_threshold_s: float = 300.0
    check_tolerance: float = 0.02
    uncertain: bool = False
    effect_source: dict[str, Any] | None = None
    effect_sd: float = 0.0

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> StaffingWhatIf:
        """The spec from the study's parameters (checked)."""
        draws, source = load_effect_draws(p["effect_draws"])
        eff = (effect_quantiles(float(np.mean(draws)), draws=draws) if draws is not None
               else effect_quantiles(p["handle_effect"], p["effect_sd"]))
        for k in ("policy_a", "policy_b"):
            if p[k] not in POLICIES:
                raise DesignError(f"unknown routing policy {p[k]!r} for {k}; choose from {sorted(POLICIES)}")
        if p["policy_a"] == p["policy_b"]:
            raise DesignError("policy_a and policy_b must differ")
        if p["n_reps"] < 2:
            raise DesignError(f"n_reps must be >= 2 for replication intervals, got {p['n_reps']}")
        if not 0 < p["target_sl"] < 1:
            raise DesignError(f"target_sl must lie in (0, 1), got {p['target_sl']}")
        return cls(eff, ServiceLevel(float(p["sl_threshold_s"]), "offered"), p["target_sl"], p["n_reps"],
                   p["policy_a"], p["policy_b"], p["overflow_threshold_s"], p["check_days"],
                   p["check_threshold_s"], p["check_tolerance"], draws is not None or p["effect_sd"] > 0,
                   source, 0.0 if draws is not None else float(p["effect_sd"]))

    def analyze(self, data: StaffingData, rng: RNGLike = None) -> StaffingWhatIfResult:
        """Calibrate, staff by Erlang A and by simulation, check the plan, compare policies."""
        # four independent parts, each with its own replication seeds (the same for every
        # scenario and candidate within a part: common random numbers); rng is not advanced
        search_seed, verify_seed, routing_seed, check_seed = child_seeds(rng, 4)
        sl, eff = self.service_level, self.effect
        cal = calibrate(data.contacts, interval_minutes=INTERVAL_MIN, service_level=sl)
        names = sorted(cal.handle_times)
        aht = {q: cal.handle_times[q] for q in names}
        pat = {q: cal.patience.get(q) or cal.patience["all"] for q in names}
        profile = typical_weekday(data.contacts, data.start, data.end)
        factors = {"base": 1.0, "effect": 1 + eff["point"]}
        if self.uncertain:
            factors |= {"effect_low": 1 + eff["low"], "effect_high": 1 + eff["high"]}
        frames, plans, evaluations = [], [], 0
        for q in names:
            vols = profile.loc[profile["queue"] == q, "arrivals"].to_numpy(float)
            f = pd.DataFrame({"queue": q, "slot": np.arange(vols.size), "arrivals": vols,
                              "aht_s": float(aht[q].mean)})
            for name, factor in factors.items():
                req = interval_requirements(
                    pd.DataFrame({"arrivals": vols}), aht_s=float(aht[q].mean) * factor, target_sl=self.target_sl,
                    service_level=sl, patience_s=float(pat[q].exponential_mean_s), interval_minutes=INTERVAL_MIN,
                    erlang_c_column=False)
                f[f"erlang_{name}"] = req.required
                f[f"erlang_sl_{name}"] = req.table["service_level"].to_numpy()
            for name in ("base", "effect"):
                sim = PlanSimulator(tuple(vols), Scaled(aht[q], factors[name]), pat[q], INTERVAL_S, sl,
                                    cyclic_warmup=WARMUP_SLOTS, queue=q)
                init = np.where(vols > 0, np.maximum(f[f"erlang_{name}"].to_numpy(int), 1), 0)
                found = simulated_requirements(init, sim, target_sl=self.target_sl, n_reps=self.n_reps,
                                               rng=search_seed, direction="both")
                f[f"sim_{name}"] = found["required"].to_numpy()
                evaluations += int(found["iterations"].iloc[0])
                if name == "effect":
                    v = verify_schedule_by_simulation(f["erlang_effect"].to_numpy(int), sim, target_sl=self.target_sl,
                                                      n_reps=self.n_reps, rng=verify_seed).table
                    plans.append(v.assign(queue=q, slot=f["slot"].to_numpy(),
                                          erlang_sl=f["erlang_sl_effect"].to_numpy()))
            frames.append(f)
        req = pd.concat(frames, ignore_index=True)
        req["load"] = req["arrivals"] * 60 / INTERVAL_MIN / 3600 * req["aht_s"]
        req["sim_minus_erlang"] = req["sim_effect"] - req["erlang_effect"]
        plan = PlanVerification(pd.concat(plans, ignore_index=True), self.target_sl, self.n_reps, 0.95,
                                "service_level", sl)
        routing = self._routing(req, aht, pat, routing_seed)
        check_start = data.end - pd.Timedelta(days=int(self.check_days) + 1)
        ck = pd.to_datetime(data.contacts["created_at"]) >= check_start
        validation = validate_calibration(
            data.contacts[ck].reset_index(drop=True),
            data.staffing[pd.to_datetime(data.staffing["interval_start"]) >= check_start], check_start,
            service_level=sl, extra_thresholds_s=(float(self.check_threshold_s),), warmup_days=1,
            n_reps=self.n_reps, tolerance=self.check_tolerance, rng=check_seed)
        st = data.staffing.assign(ts=pd.to_datetime(data.staffing["interval_start"]))
        st = st[st["ts"].dt.dayofweek < 5]
        scheduled = float(st.groupby(st["ts"].dt.date)["agents"].sum().mean()) * HOURS
        return StaffingWhatIfResult(self, data, cal, req, plan, routing, validation, scheduled, evaluations)

    def _routing(self, req: pd.DataFrame, aht: dict[str, Any], pat: dict[str, Any], rng: RNGLike) -> PairedComparison:
        """The two policies on the same contacts, paired (common random numbers).

        Agents are cross-trained on their queue and the next one (a ring), staffed by the simulated
        plan with the effect.
        """
        names = sorted(aht)
        queues, groups = [], []
        for q in names:
            sel = req["queue"] == q
            vols, plan = req.loc[sel, "arrivals"].to_numpy(float), req.loc[sel, "sim_effect"].to_numpy(int)
            vols = np.concatenate([vols[-WARMUP_SLOTS:], vols])
            plan = np.concatenate([plan[-WARMUP_SLOTS:], plan])
            queues.append(Queue(q, IntervalForecast(tuple(vols), INTERVAL_S), Scaled(aht[q], 1 + self.effect["point"]),
                                pat[q]))
            nxt = names[(names.index(q) + 1) % len(names)]
            groups.append(AgentGroup(q, (q,) if nxt == q else (q, nxt), int(max(plan.max(), 1)),
                                     profile=tuple(int(v) for v in plan), profile_interval_s=INTERVAL_S))
        base = ContactCentre(queues, groups, warmup_s=WARMUP_SLOTS * INTERVAL_S,
                             horizon_s=(WARMUP_SLOTS + 48) * INTERVAL_S)
        res = [replicate(base.with_routing(POLICIES[p](self.overflow_threshold_s)), self.n_reps, rng=rng,
                         backend="serial", progress=False, service_levels=(self.service_level,))
               for p in (self.policy_a, self.policy_b)]
        return paired_comparison(*res, measures=(self.service_level.key, "p_abandon", "asa_answered_s", "occupancy"),
                                 labels=(self.policy_a, self.policy_b))


# -- result -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StaffingWhatIfResult:
    """Requirements, the plan check, the routing comparison and the calibration check."""

    spec: StaffingWhatIf
    data: StaffingData = field(repr=False)
    calibration: Calibration = field(repr=False)
    requirements: pd.DataFrame = field(repr=False)
    plan: PlanVerification = field(repr=False)
    routing: PairedComparison = field(repr=False)
    validation: CalibrationValidation = field(repr=False)
    scheduled_agent_hours: float = 0.0
    search_evaluations: int = 0

    def agent_hours(self, column: str) -> float:
        """Agent-hours of a typical week day in requirement column ``column`` (all queues)."""
        return float(self.requirements[column].sum()) * HOURS

    @property
    def saving(self) -> dict[str, float]:
        """Agent-hours the effect saves: by Erlang A (with the effect's low and high ends) and by simulation."""
        base = self.agent_hours("erlang_base")
        out = {"erlang": base - self.agent_hours("erlang_effect"),
               "simulation": self.agent_hours("sim_base") - self.agent_hours("sim_effect")}
        if self.spec.uncertain:
            ends = sorted(base - self.agent_hours(f"erlang_effect_{e}") for e in ("low", "high"))
        else:
            ends = [out["erlang"]] * 2
        return out | {"erlang_low": ends[0], "erlang_high": ends[1]}

    @property
    def ramps(self) -> tuple[float, float]:
        """Mean simulation-minus-Erlang agents where arrivals rise fastest and fall fastest."""
        r = self.requirements
        change = r.groupby("queue")["arrivals"].transform(lambda a: a - np.roll(a.to_numpy(), 1))
        up = r.loc[change >= change.quantile(0.75), "sim_minus_erlang"].mean()
        down = r.loc[change <= change.quantile(0.25), "sim_minus_erlang"].mean()
        return float(up), float(down)

    def totals(self) -> pd.DataFrame:
        """Agent-hours per scenario and method, and the scheduled staffing for comparison."""
        eff = f"handle time {self.spec.effect['point']:+.1%}"
        rows = [("today", "Erlang A", "erlang_base"), (eff, "Erlang A", "erlang_effect"),
                ("today", "simulation (CRN)", "sim_base"), (eff, "simulation (CRN)", "sim_effect")]
        out = [{"scenario": s, "method": m, "agent_hours": self.agent_hours(c)} for s, m, c in rows]
        out.append({"scenario": "today", "method": "scheduled (staffing table, week-day mean)",
                    "agent_hours": self.scheduled_agent_hours})
        return pd.DataFrame(out)

    def by_queue(self) -> pd.DataFrame:
        """Arrivals, handle time, agent-hours per scenario and mean patience, by queue."""
        cols = ["erlang_base", "erlang_effect", "sim_base", "sim_effect"]
        out = self.requirements.groupby("queue").agg(arrivals=("arrivals", "sum"), aht_s=("aht_s", "first"),
                                                     **{c: (c, "sum") for c in cols}).reset_index()
        out[cols] = out[cols] * HOURS
        out["patience_mean_s"] = out["queue"].map({q: p.exponential_mean_s
                                                   for q, p in self.calibration.patience.items()})
        return out

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """The study's checks: the calibration, data quality, replications, the calibration check and the plan."""
        n = self.spec.n_reps
        reps = Diagnostic("replications", "ok" if n >= 5 else "warning",
                          f"{n} replications per simulated scenario (t-intervals); kept small for run time"
                          + ("" if n >= 5 else ": raise n_reps for trustworthy intervals"), float(n))
        dq = self.data.quality.diagnostics if self.data.quality is not None else ()
        return (*self.calibration.diagnostics, *dq, reps, *self.validation.diagnostics, *self.plan.diagnostics)


# -- report -------------------------------------------------------------------------------------
def _plot_requirements(req: pd.DataFrame, effect: float) -> Any:
    import matplotlib.pyplot as plt

    tot = req.groupby("slot")[["erlang_base", "erlang_effect", "sim_base", "sim_effect"]].sum()
    fig, ax = plt.subplots(figsize=(9, 4))
    h = tot.index.to_numpy() * HOURS
    for col, color, ls, label in (("erlang_base", "C0", "-", "Erlang A, today"),
                                  ("erlang_effect", "C1", "-", f"Erlang A, handle time {effect:+.0%}"),
                                  ("sim_base", "C0", "--", "simulation (CRN), today"),
                                  ("sim_effect", "C1", "--", f"simulation (CRN), handle time {effect:+.0%}")):
        ax.step(h, tot[col], where="post", color=color, ls=ls, label=label)
    ax.set(xlabel="hour of a typical week day (UTC)", ylabel="required agents (all queues)", xlim=(0, 24),
           title="Required agents per 30-minute interval")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _plot_service_level(ver: pd.DataFrame, target: float, sl: ServiceLevel) -> Any:
    import matplotlib.pyplot as plt

    names = sorted(ver["queue"].unique())
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 1.9 * len(names)), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, q in zip(axes, names, strict=True):
        v = ver[ver["queue"] == q]
        h = v["slot"].to_numpy() * HOURS
        ax.fill_between(h, v["ci_low"], v["ci_high"], step="post", alpha=0.3, color="C1")
        ax.step(h, v["mean"], where="post", color="C1", label="simulated (mean, 95% t-interval)")
        ax.step(h, v["erlang_sl"], where="post", color="C0", ls=":", label="Erlang A prediction")
        ax.axhline(target, color="k", lw=0.8, ls="--", label="target")
        ax.set_ylim(0, 1.02)
        ax.set_ylabel(q, fontsize=8)
    axes[0].legend(fontsize=7, loc="lower left", ncol=3)
    axes[0].set_title(f"Service level of the Erlang A plan (with the effect): {sl.name}", fontsize=9)
    axes[-1].set_xlabel("hour of a typical week day (UTC)")
    fig.tight_layout()
    return fig


def _plot_calibration(validation: CalibrationValidation) -> Any:
    ax = validation.plot()  # one Axes: every queue and measure, simulated minus observed
    ax.figure.tight_layout()
    return ax.figure


def report(result: StaffingWhatIfResult) -> StudyOutput:
    """The study's output: headline, conclusions, tables, figures and diagnostics."""
    s, req, sl, eff = result.spec, result.requirements, result.spec.service_level, result.spec.effect
    t, target = sl.threshold_s, s.target_sl
    saving, (ramp_up, ramp_down) = result.saving, result.ramps
    ah = {c: result.agent_hours(c) for c in ("erlang_base", "erlang_effect", "sim_base", "sim_effect")}
    src = s.effect_source or {}
    if src.get("kind") == "run":
        which = "the latest successful one" if src["latest"] else "given by effect_from"
        spread = f"sd {s.effect_sd:.3g} from routing-ab run {src['run_id']} ({which})"
    elif "n" in src:
        spread = f"{src['n']} draws from {Path(src['path']).name}"
    else:
        spread = f"sd {s.effect_sd:g}"
    origin = (f"measured by routing-ab run {src['run_id']} ({src['ci_level']:.0%} CI {src['ci_low']:+.1%} to "
              f"{src['ci_high']:+.1%})" if src.get("kind") == "run" else
              f"the study's default, {src['why']}" if src.get("kind") == "default" else "as given")
    interval = f", {eff['ci_level']:.0%} interval [{saving['erlang_low']:.1f}, {saving['erlang_high']:.1f}]"
    headline = (f"handle time {eff['point']:+.1%} saves {saving['erlang']:.1f} agent-hours per week day "
                f"(Erlang A, {ah['erlang_base']:.0f} -> {ah['erlang_effect']:.0f}) at {target:.0%}/{t:g}s"
                + (interval if s.uncertain else "") + f"; simulation says {saving['simulation']:.1f}")
    more, fewer = int((req["sim_minus_erlang"] > 0).sum()), int((req["sim_minus_erlang"] < 0).sum())
    peak = int(req.groupby("slot")["arrivals"].sum().idxmax())
    c, v = result.plan.counts, result.validation
    key = sl.key
    judged = v.judged
    ab_ok = judged[judged["measure"] == "abandon_rate"]["agrees"]
    sl_ok = judged[judged["measure"] == key]["agrees"]
    routing = result.routing
    uncertainty = (f"; with the effect's uncertainty ({spread}) the {eff['ci_level']:.0%} interval of the saving "
                   f"is [{saving['erlang_low']:.1f}, {saving['erlang_high']:.1f}]" if s.uncertain else "")
    calibration_verdict = ("." if v.passed else ": the simulator does not reproduce the observed service level at "
                           "this threshold, so the simulated requirements carry that gap.")
    body = [
        f"**Question.** {STUDY.question}",
        "",
        (f"**Service level.** {sl.describe()}; the same definition in Erlang A, the simulator and the "
         f"calibration check. Target {target:.0%} in every 30-minute interval."),
        "",
        (f"**Data.** Contacts from {result.data.start:%Y-%m-%d} to {result.data.end:%Y-%m-%d} "
         f"({len(result.data.contacts):,} contacts); the typical week day is the mean arrivals per half hour "
         "over its week days. Handle times: log-normal per queue; patience: Kaplan-Meier per queue (abandoners "
         "observe it, answered contacts censor it); Erlang A uses the censored exponential mean patience."),
        "",
        "### Conclusions",
        "",
        f"- The handle-time effect is {eff['point']:+.1%}, {origin}.",
        (f"- A handle-time change of {eff['point']:+.1%} saves **{saving['erlang']:.1f} agent-hours per week "
         f"day** at the same {target:.0%}/{t:g} s service level by Erlang A ({ah['erlang_base']:.0f} -> "
         f"{ah['erlang_effect']:.0f} agent-hours){uncertainty}. Simulation with common random numbers puts the "
         f"saving at {saving['simulation']:.1f} agent-hours ({ah['sim_base']:.0f} -> {ah['sim_effect']:.0f})."),
        (f"- Erlang A and simulation disagree in {more + fewer} of {len(req)} queue-intervals: simulation needs "
         f"more agents in {more} and fewer in {fewer}. Where arrivals rise fastest (top quarter of half-hour "
         f"increases) simulation needs {ramp_up:+.1f} agents per queue-interval against Erlang A, where they fall "
         f"fastest {ramp_down:+.1f}. Erlang A treats each half hour as a stationary queue with exponential handle "
         "times and patience; the simulation carries backlogs across intervals and uses the fitted log-normal "
         "handle times and Kaplan-Meier patience. The busiest half hour starts at "
         f"{peak * INTERVAL_MIN // 60:02d}:{peak * INTERVAL_MIN % 60:02d}."),
        (f"- The Erlang A plan with the effect, simulated ({s.n_reps} replications): of {c['intervals']} "
         f"queue-intervals, {c['meets']} meet the target (the whole 95% interval at or above {target:.0%}), "
         f"{c['misses']} fall short of it (the whole interval below) and {c['unclear']} are unclear "
         f"({c['unclear_mean_below']} of them with a simulated mean below {target:.0%}): too few replications "
         "to decide them."),
        (f"- Routing (agents cross-trained on their queue and one more, the simulated plan with the effect, "
         f"{s.n_reps} paired replications): {routing.difference_sentence(key)}; "
         f"{routing.variance_sentence(key)}."),
        (f"- Calibration check ({s.check_days} days, judged at the target's definition): abandonment agrees in "
         f"{int(ab_ok.sum())} of {len(ab_ok)} rows and the service level in {int(sl_ok.sum())} of "
         f"{len(sl_ok)}{calibration_verdict}"),
        f"- Today's schedule (the `staffing` table) has {result.scheduled_agent_hours:.0f} agent-hours per week day.",
        "",
        "### Totals (agent-hours per week day)",
        "",
        markdown_table(result.totals()),
        "",
        "### By queue (agent-hours per week day)",
        "",
        markdown_table(result.by_queue()),
        "",
        "### Routing policies under common random numbers",
        "",
        (f"`mean_diff` = {s.policy_a} - {s.policy_b}, paired over replications; `variance_ratio` = variance of "
         "the difference with independent runs over that with paired runs (above 1: pairing helped)."),
        "",
        markdown_table(routing.table),
        "",
        "### Calibration check: does the calibrated simulator reproduce the world?",
        "",
        (f"Over the last {s.check_days} days (after one warm-up day) the observed arrivals are replayed, agents "
         "follow the `staffing` table, and handle times and patience come from the calibration. `agrees`: "
         f"observed inside the {s.n_reps}-replication 95% t-interval widened by {s.check_tolerance:g}; `judged`: "
         f"the rows the check is judged on (abandonment and `{key}`, the target's own definition; "
         f"`sl_{s.check_threshold_s:g}s` is shown for reference). Waits are the warehouse's `queue_wait_s`, the "
         "time in the shared queue."),
        "",
        markdown_table(v.table),
    ]
    results = {
        "effect": {**eff, "source": s.effect_source},
        "service_level_definition": sl.describe(),
        "service_level": sl.to_dict(),
        "target_sl": target,
        "sl_threshold_s": t,
        "window": {"start": str(result.data.start), "end": str(result.data.end)},
        "agent_hours": {**ah, "scheduled": result.scheduled_agent_hours},
        "saving_agent_hours": saving,
        "intervals_sim_more": more,
        "intervals_sim_fewer": fewer,
        "sim_minus_erlang_ramp_up": ramp_up,
        "sim_minus_erlang_ramp_down": ramp_down,
        "search_iterations": result.search_evaluations,
        "plan_check": c,
        "routing": routing.table.to_dict(orient="records"),
        "routing_variance": routing.variance_sentence(key),
        "calibration_check": v.table.to_dict(orient="records"),
        "calibration_check_passed": v.passed,
        "calibration": result.calibration.summary().to_frame().to_dict(orient="records"),
        "data_quality": result.data.quality.to_dict() if result.data.quality is not None else None,
    }
    return StudyOutput(
        headline=headline,
        results=jsonable(results),
        tables={"requirements": req, "totals": result.totals(), "by_queue": result.by_queue(),
                "routing": routing.table, "plan_service_level": result.plan.table, "calibration_check": v.table},
        figures={"requirements": _plot_requirements(req, eff["point"]),
                 "service_level": _plot_service_level(result.plan.table, target, sl),
                 "calibration": _plot_calibration(v)},
        report_md="\n".join(body),
        diagnostics=result.diagnostics,
    )


DEFAULT_EFFECT = -0.06


def effect_from_runs(params: dict[str, Any], runs_dir: Path | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The parameters with the handle-time effect of a routing-ab run, and where it came from.

    ``effect_from="latest-routing-ab"`` (default) takes the latest successful routing-ab run under
    ``runs_dir`` when the effect parameters are left at their defaults (``handle_effect`` -0.06,
    ``effect_sd`` 0, no ``effect_draws``); with no such run it keeps ``handle_effect`` and says so.
    ``effect_from=<run id>`` takes that run; ``effect_from=params`` uses ``handle_effect`` and
    ``effect_sd`` as given. The run's relative effect on ``handle_s`` and the SE implied by its
    interval become ``handle_effect`` and ``effect_sd``.
    """
    from studies.runner.store import list_runs
    from studies.whatif import effects_from_run

    how = params.get("effect_from", "latest-routing-ab")
    defaults = (params["handle_effect"] == DEFAULT_EFFECT and params["effect_sd"] == 0 and not params["effect_draws"])
    if how == "params" or (how == "latest-routing-ab" and not defaults) or params["effect_draws"]:
        return params, None
    if runs_dir is None or not Path(runs_dir).is_dir():
        if how != "latest-routing-ab":
            raise DataError(f"effect_from={how!r}: no runs folder to read it from")
        return params, {"kind": "default", "why": "no runs folder"}
    if how == "latest-routing-ab":
        ok = sorted((r for r in list_runs(runs_dir) if r["study"] == "routing-ab" and r["status"] == "success"),
                    key=lambda r: r["run_id"])
        if not ok:
            return params, {"kind": "default", "why": f"no successful routing-ab run under {runs_dir}"}
        run_id = ok[-1]["run_id"]
    else:
        run_id = how
    eff = next(e for e in effects_from_run(run_id, runs_dir) if e.lever == "handle_time")
    z = float(stats.norm.ppf(0.5 + eff.ci_level / 2))
    sd = (eff.ci_high - eff.ci_low) / (2 * z)
    out = {**params, "handle_effect": eff.relative, "effect_sd": sd}
    return out, {"kind": "run", "run_id": run_id, "latest": how == "latest-routing-ab", "source": eff.source,
                 "relative": eff.relative, "ci_low": eff.ci_low, "ci_high": eff.ci_high, "ci_level": eff.ci_level}


def run(ctx: StudyContext) -> StudyOutput:
    """Run the staffing what-if: query -> spec -> result -> report."""
    params, from_run = effect_from_runs(ctx.params, ctx.runs_dir)
    spec = StaffingWhatIf.from_params(params)
    if from_run is not None:
        spec = replace(spec, effect_source=from_run)
    ctx.stage("loading contacts and staffing")
    data = query(ctx)
    ctx.stage("calibrating, staffing by Erlang A and simulation (CRN), checking the plan and routing")
    result = spec.analyze(data, rng=ctx.rng)
    ctx.stage("report")
    return report(result)


STUDY = Study(
    name="staffing",
    title="Staffing what-if: handle-time effects, service level and routing",
    question=(
        "If routing v2 or the assist tool changes handle time by a given amount, how many agents "
        "does each half hour of a typical week day need for the service-level target, by Erlang A "
        "and by simulation, and which routing policy serves better with the same agents?"
    ),
    params=(
        Param("handle_effect", float, DEFAULT_EFFECT, "relative change of mean handle time (> -1)", min=-1,
              exclusive_min=True),
        Param("effect_sd", float, 0.0, "sd of the relative effect (normal approximation); 0: point",
              min=0),
        Param("effect_from", str, "latest-routing-ab",
              "where the handle-time effect comes from: 'latest-routing-ab' (the latest successful routing-ab "
              "run, when handle_effect/effect_sd/effect_draws are left at their defaults; else handle_effect), "
              "'params' (handle_effect and effect_sd as given) or a routing-ab run id"),
        Param("effect_draws", str, "",
              "path to draws of the relative handle-time effect (.npy, or .csv with one column), e.g. a "
              "posterior sample; overrides handle_effect and effect_sd",
              check=_is_draws_file_or_empty, check_message="'' or an existing .npy or .csv file"),
        Param("target_sl", float, 0.8, "service-level target per interval", min=0, max=1,
              exclusive_min=True, exclusive_max=True),
        Param("sl_threshold_s", float, 20.0, "answered within this many seconds counts as met", min=0),
        Param("recent_days", int, 28, "days before the end of the data used for calibration", min=7),
        Param("n_reps", int, 5, "simulation replications per scenario (t-intervals)", min=2),
        Param("policy_a", str, "skills_overflow", "routing policy A", choices=tuple(POLICIES)),
        Param("policy_b", str, "fifo", "routing policy B", choices=tuple(POLICIES)),
        Param("overflow_threshold_s", float, 60.0, "wait before overflow (skills_overflow)", min=0),
        Param("check_days", int, 7, "days in the calibration check (after one warm-up day)", min=1),
        Param("check_threshold_s", float, 300.0,
              "extra service-level threshold shown in the calibration check (it is judged at sl_threshold_s)",
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
