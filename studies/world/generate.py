"""Generator of the synthetic service world (see :func:`generate_world`).

The data-generating process, in the order it runs (each step draws from its own named stream):

1. **customers**: tier, language, region (given language), account age; latent traits
   ``u_h`` (handle time), ``u_s`` (satisfaction), ``u_f`` (resolution), and a gamma-distributed
   contact rate; ``pre_contacts`` ~ Poisson(rate) for the 90 days before the window and
   ``pre_handle_s`` the mean of that many draws of the customer's handle-time distribution.
2. **contacts**: Poisson(rate) per customer, each at a time drawn from the per-minute intensity
   (hour-of-day x day-of-week profile, daily noise, trend); reason ~ tier (more safety reports at
   night), channel ~ reason, priority ~ reason and tier.
3. **treatments**: routing-v2 arm per customer (contacts from day 28 are treated); help-bot
   opt-in ~ logit(tier, reason, log account age); unobserved complexity ``kappa``; escalation ~
   logit(kappa); overflow ~ Bernoulli(p(hour of week)); specialist = overflow or escalation.
4. **handle time before the agent**: lognormal in reason, tier, channel, account age, night,
   ``u_h``, ``kappa``, times the treatment multipliers (routing v2, bot, specialist).
5. **roster**: per queue, the fewest 8-hour shifts (5 consecutive days) that cover
   ``staffing_level`` x the forecast offered load in every half hour of the week (integer LP);
   agents get a site (follow-the-sun by shift), a tenure and a speed factor (tenure, site).
6. **queues**: FCFS multi-server per queue, agents on shift only, abandonment when the wait
   exceeds the contact's patience; the handle time is multiplied by the agent's factor and, where
   the agent's site has launched it, by the assist factor (which grows with time since launch).
7. **outcomes**: wait = queue wait + routing delay (shorter under routing v2); FCR, reopen,
   follow-up time (resolution, right-censored at extraction) and a latent CSAT score from the
   experience and the treatments, with fixed per-contact noise; survey response depends on the
   score.
8. **truth**: every outcome recomputed with one treatment switched off and on (same noise), see
   :mod:`studies.world.truth`.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp

from servicelab.errors import DesignError
from servicelab.random import named_stream
from studies.world import arrivals_truth, scenarios, text
from studies.world.config import WorldConfig
from studies.world.schema import (
    CHANNELS,
    LANGUAGES,
    QUEUES,
    REASONS,
    REGIONS,
    SCHEMA,
    SHIFTS,
    TIERS,
    TRUTH_SCHEMA,
)
from studies.world.truth import truth_effects

GENERATOR_VERSION = "1.0"
DAY = 86_400.0
EXPERIMENT = "routing-v2"

SITES: dict[str, str] = {
    "austin": "NA", "toronto": "NA", "bogota": "LATAM", "sao_paulo": "LATAM",
    "mexico_city": "LATAM", "dublin": "EMEA", "krakow": "EMEA", "lisbon": "EMEA",
    "cairo": "EMEA", "manila": "APAC", "hyderabad": "APAC", "tokyo": "APAC",
}  # fmt: skip
# which sites staff which shift (follow-the-sun); weights within a shift
_SHIFT_SITES: dict[str, tuple[str, ...]] = {
    "night": ("manila", "hyderabad", "tokyo"),
    "early": ("dublin", "krakow", "lisbon", "cairo", "hyderabad", "manila"),
    "day": ("dublin", "krakow", "lisbon", "cairo", "austin", "toronto", "bogota"),
    "late": ("austin", "toronto", "bogota", "sao_paulo", "mexico_city", "lisbon", "tokyo"),
}
SHIFT_START = {"early": 6, "day": 9, "late": 14, "night": 22}
SHIFT_HOURS = 8
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_REASON_QUEUE = {
    "account_access": "access",
    "verification": "access",
    "suspension_appeal": "trust_safety",
    "safety_report": "trust_safety",
    "billing_ads": "billing",
    "other": "general",
}
_REASON_TIER_P = np.array(
    [  # account_access, suspension, safety, billing, verification, other
        [0.30, 0.14, 0.15, 0.03, 0.12, 0.26],  # standard
        [0.25, 0.15, 0.15, 0.05, 0.16, 0.24],  # verified
        [0.20, 0.25, 0.14, 0.05, 0.21, 0.15],  # creator
        [0.15, 0.10, 0.08, 0.45, 0.07, 0.15],  # advertiser
    ]
)
_CHANNEL_REASON_P = np.array(
    [  # dm, email, web_form, in_app
        [0.25, 0.25, 0.25, 0.25],
        [0.15, 0.35, 0.40, 0.10],
        [0.30, 0.10, 0.40, 0.20],
        [0.10, 0.55, 0.25, 0.10],
        [0.20, 0.30, 0.35, 0.15],
        [0.40, 0.15, 0.15, 0.30],
    ]
)
_LANG_P = np.array([0.45, 0.15, 0.10, 0.07, 0.06, 0.07, 0.05, 0.05])
_REGION_LANG_P = np.array(
    [  # NA, LATAM, EMEA, APAC
        [0.55, 0.02, 0.28, 0.15],
        [0.20, 0.70, 0.10, 0.00],
        [0.00, 0.85, 0.15, 0.00],
        [0.00, 0.00, 0.00, 1.00],
        [0.00, 0.00, 1.00, 0.00],
        [0.05, 0.00, 0.05, 0.90],
        [0.15, 0.00, 0.85, 0.00],
        [0.00, 0.00, 1.00, 0.00],
    ]
)
_TIER_P = np.array([0.70, 0.13, 0.11, 0.06])
_TIER_RATE = np.array([1.0, 1.3, 2.0, 2.6])
_TIER_HANDLE = np.array([0.0, 0.08, 0.22, 0.35])
_TIER_CSAT = np.array([0.0, 0.15, -0.1, -0.2])
_TIER_AGE = np.array([0.0, 0.3, 0.4, 0.8])  # log shift of account age
_CHANNEL_HANDLE = np.array([-0.08, 0.10, 0.06, -0.05])
_REASON_FCR = np.array([0.9, -0.4, 0.2, 0.5, 0.3, 1.1])
_REASON_CSAT = np.array([0.1, -0.6, -0.1, 0.2, 0.1, 0.3])
_REASON_REOPEN = np.array([-1.9, -1.2, -1.6, -1.8, -1.7, -2.2])
_REASON_FOLLOWUP_DAYS = np.array([1.0, 5.0, 2.5, 1.5, 3.0, 1.2])
_SITE_HANDLE = dict(zip(SITES, np.linspace(-1.0, 1.0, len(SITES)), strict=True))


def stream(seed: int, name: str) -> np.random.Generator:
    """The named random stream ``name`` of world ``seed`` (:func:`servicelab.random.named_stream`).

    Each component draws from its own child of ``SeedSequence(seed)``, keyed by a stable
    hash (CRC-32) of its name, so changing one component does not reshuffle the others. It is
    exactly the former ``SeedSequence(entropy=seed, spawn_key=(crc32(name),))``, so worlds are
    byte-identical to those built before the seed helpers were merged.

    Examples
    --------
    >>> float(stream(0, "arrivals").random()) == float(stream(0, "arrivals").random())
    True
    >>> import zlib
    >>> old = np.random.default_rng(np.random.SeedSequence(entropy=7, spawn_key=(zlib.crc32(b"handle"),)))
    >>> bool(stream(7, "handle").random() == old.random())
    True
    """
    return named_stream(seed, name)


def _categorical(rng: np.random.Generator, logp: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``logp`` (n x k log-probabilities), Gumbel-max."""
    g = rng.gumbel(size=logp.shape)
    return np.argmax(logp + g, axis=1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class World:
    """A generated synthetic world.

    Attributes
    ----------
    tables : dict of str -> DataFrame
        Analysis tables, columns and dtypes as in :data:`SCHEMA`.
    truth : dict of str -> DataFrame
        Ground truth (``truth_effects``, ``truth_contacts``), as in :data:`TRUTH_SCHEMA`.
    meta : dict of str -> str
        Seed, scale, window, extraction time, generator version.
    config : WorldConfig
        The knobs used.
    """

    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    meta: dict[str, str]
    config: WorldConfig = field(repr=False)

    def effect(
        self,
        intervention: str,
        outcome: str,
        estimand: str = "ATE",
        segment: str = "all",
        segment_value: str = "all",
    ) -> float:
        """Look up one true effect in ``truth['truth_effects']``.

        Examples
        --------
        >>> w = generate_world(seed=1, scale=0.01)            # doctest: +SKIP
        >>> w.effect("routing_v2", "handle_s")                # doctest: +SKIP
        -52.3
        """
        te = self.truth["truth_effects"]
        m = (
            (te.intervention == intervention)
            & (te.outcome == outcome)
            & (te.estimand == estimand)
            & (te.segment == segment)
            & (te.segment_value == segment_value)
        )
        if m.sum() != 1:
            raise KeyError(
                f"no unique truth row for {intervention}/{outcome}/{estimand}/{segment}="
                f"{segment_value}; see world.truth['truth_effects'] for what exists"
            )
        return float(te.loc[m, "value"].iloc[0])


# --------------------------------------------------------------------------------------------
# components
# --------------------------------------------------------------------------------------------


def _customers(seed: int, scale: float, cfg: WorldConfig) -> dict[str, np.ndarray]:
    rng = stream(seed, "customers")
    n = max(round(cfg.customers_per_scale * scale), 50)
    tier = rng.choice(len(TIERS), size=n, p=_TIER_P)
    lang = rng.choice(len(LANGUAGES), size=n, p=_LANG_P)
    region = _categorical(rng, np.log(_REGION_LANG_P[lang] + 1e-12))
    age = np.exp(np.log(600.0) + _TIER_AGE[tier] + 1.0 * rng.standard_normal(n))
    age = np.clip(np.round(age), 1, 6000).astype(np.int32)
    # latent customer traits: handle-time frailty, satisfaction, fcr, contact rate
    u_h = rng.standard_normal(n)
    u_s = rng.standard_normal(n)
    u_f = rng.standard_normal(n)
    gamma = rng.gamma(0.8, 1 / 0.8, size=n)
    rate = _TIER_RATE[tier] * gamma * np.exp(0.25 * u_h)
    rate *= cfg.contacts_per_scale * scale / rate.sum()  # expected contacts in 90 days
    window_frac = cfg.window_days / 90.0
    n_window = rng.poisson(rate * window_frac)
    pre = rng.poisson(rate)
    # mean handle time of the pre-window contacts (same handle model, reason mix ~ tier)
    mu_reason = np.log(np.array([cfg.handle_median_s[r] for r in REASONS]))
    mu_tier = np.log(_REASON_TIER_P @ np.exp(mu_reason))
    sig2 = cfg.handle_sigma**2 + cfg.complexity_handle**2 + 0.15
    mu = mu_tier[tier] + _TIER_HANDLE[tier] + cfg.customer_handle_sd * u_h + cfg.age_handle * np.log(
        age / 365.0
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        s_n = np.sqrt(np.log1p((np.exp(sig2) - 1.0) / np.maximum(pre, 1)))
    pre_handle = np.exp(mu + sig2 / 2 - s_n**2 / 2 + s_n * rng.standard_normal(n))
    pre_handle = np.where(pre > 0, np.round(pre_handle, 1), np.nan)
    return {
        "n": np.int64(n),
        "tier": tier,
        "lang": lang,
        "region": region,
        "age": age,
        "u_h": u_h,
        "u_s": u_s,
        "u_f": u_f,
        "n_window": n_window,
        "rate": rate * window_frac,  # expected window contacts per customer (truth_arrivals)
        "pre_contacts": pre.astype(np.int32),
        "pre_handle_s": pre_handle,
    }


def _intensity(seed: int, cfg: WorldConfig) -> np.ndarray:
    """Arrival intensity per minute of the window (relative)."""
    rng = stream(seed, "seasonality")
    days = cfg.window_days
    hp = np.asarray(cfg.hourly_profile)
    minute = np.arange(1440) / 60.0
    # smooth hourly profile: linear interpolation between hour midpoints (periodic)
    x = np.arange(25) + 0.5
    y = np.concatenate([hp, hp[:1]])
    daily = np.interp(minute, np.concatenate([[-0.5], x]), np.concatenate([[hp[-1]], y]))
    weekly = np.asarray(cfg.weekly_profile)[np.arange(days) % 7]
    if cfg.holiday_days:  # opt-in: without holidays the intensity is unchanged
        weekly = weekly.copy()
        weekly[np.asarray(cfg.holiday_days, dtype=int)] *= cfg.holiday_factor
    noise = np.exp(cfg.daily_noise_sd * rng.standard_normal(days))
    trend = 1.0 + cfg.trend * np.arange(days) / days
    return (daily[None, :] * (weekly * noise * trend)[:, None]).ravel()


def _contacts(
    seed: int, cfg: WorldConfig, cust: dict[str, np.ndarray], intensity: np.ndarray
) -> dict[str, np.ndarray]:
    rng = stream(seed, "arrivals")
    cust_idx = np.repeat(np.arange(cust["n"]), cust["n_window"])
    n = cust_idx.size
    cdf = np.cumsum(intensity)
    cdf /= cdf[-1]
    minute = np.searchsorted(cdf, rng.random(n), side="right")
    t = (minute + rng.random(n)) * 60.0
    t = np.round(t, 6)  # whole microseconds
    cust_idx, t, injected = scenarios.add_contacts(  # (e) scenarios: extra contacts, if any
        seed, cfg, cust["n_window"], intensity, cust_idx, t, _REASON_TIER_P[cust["tier"]].mean(axis=0))
    n = cust_idx.size
    order = np.argsort(t, kind="stable")
    t = t[order]
    cust_idx = cust_idx[order]
    injected = injected[order]
    hour = (t // 3600 % 24).astype(np.int64)
    dow = (t // DAY % 7).astype(np.int64)

    rng = stream(seed, "reasons")
    tier = cust["tier"][cust_idx]
    logp = np.log(_REASON_TIER_P[tier])
    night = (hour >= 22) | (hour < 6)
    logp[:, 2] += np.log(1.6) * night  # more safety reports at night (UTC)
    reason = _categorical(rng, scenarios.reason_logits(cfg, t, injected, logp))  # (e) scenarios
    channel = _categorical(rng, np.log(_CHANNEL_REASON_P[reason]))
    priority = np.full(n, 3, dtype=np.int32)
    priority[np.isin(reason, [0, 1])] = 2
    priority[reason == 2] = 1
    priority[(tier == 3) & (priority > 1)] -= 1
    return {
        "n": np.int64(n),
        "t": t,
        "cust": cust_idx,
        "hour": hour,
        "dow": dow,
        "how": dow * 24 + hour,
        "tier": tier,
        "reason": reason,
        "channel": channel,
        "priority": priority,
        "injected": injected,  # (e) scenarios
        "reason_logp": logp if cfg.scenarios else None,  # (e) scenarios: without the mix-shift boost
    }


def _assignments(
    seed: int, cfg: WorldConfig, cust: dict[str, np.ndarray], con: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    rng = stream(seed, "assignment")
    n = int(cust["n"])
    variant = (rng.random(n) >= cfg.control_share).astype(np.int8)  # 1 = treatment
    lost = rng.random(n) < cfg.srm_bias
    start = cfg.experiment_start_day * DAY
    in_exp = con["t"] >= start
    first = np.full(n, np.inf)
    np.minimum.at(first, con["cust"][in_exp], con["t"][in_exp])
    assigned = np.isfinite(first)
    z = (variant[con["cust"]] == 1) & in_exp
    return {"variant": variant, "first": first, "assigned": assigned, "lost": lost, "z": z}


def _treatments_and_base(
    seed: int, cfg: WorldConfig, cust: dict[str, np.ndarray], con: dict[str, np.ndarray],
    z: np.ndarray,
) -> dict[str, np.ndarray]:
    """Help-bot opt-in, complexity, escalation, overflow, and pre-agent handle components."""
    n = int(con["n"])
    reason, tier, ci = con["reason"], con["tier"], con["cust"]
    log_age = np.log(cust["age"][ci] / 365.0)

    rng = stream(seed, "help_bot")
    lin = (
        cfg.bot_intercept
        + cfg.confounding_strength * (np.array([cfg.bot_tier[t] for t in TIERS])[tier]
                                      + cfg.bot_age * log_age)
        + np.array([cfg.bot_reason[r] for r in REASONS])[reason]
    )  # fmt: skip
    p_bot = _sigmoid(lin)
    bot = rng.random(n) < p_bot

    rng = stream(seed, "complexity")
    kappa = rng.standard_normal(n)
    esc = rng.random(n) < _sigmoid(cfg.escalation_intercept + cfg.escalation_complexity * kappa)

    rng = stream(seed, "overflow")
    hp = np.asarray(cfg.hourly_profile)
    wp = np.asarray(cfg.weekly_profile)
    load_how = (wp[:, None] * hp[None, :]).ravel()
    rel = (load_how - load_how.min()) / (load_how.max() - load_how.min())
    p_over = cfg.overflow_base + cfg.overflow_peak * rel[con["how"]]
    overflow = rng.random(n) < p_over
    spec = overflow | esc

    rng = stream(seed, "handle")
    mu_reason = np.log(np.array([cfg.handle_median_s[r] for r in REASONS]))
    night = (con["hour"] >= 22) | (con["hour"] < 6)
    log_h = (
        mu_reason[reason]
        + _TIER_HANDLE[tier]
        + _CHANNEL_HANDLE[con["channel"]]
        + cfg.customer_handle_sd * cust["u_h"][ci]
        + cfg.age_handle * log_age
        + 0.05 * night
        + cfg.complexity_handle * kappa
        + cfg.handle_sigma * rng.standard_normal(n)
    )
    h_base = np.exp(log_h)
    home_q = np.array([QUEUES.index(_REASON_QUEUE[r]) for r in REASONS])[reason]
    h_base = scenarios.apply_handle(cfg, con["t"], home_q, spec, h_base)  # (e) scenarios
    rv_eff = cfg.routing_handle_scale * (
        np.array([cfg.routing_handle_effect[r] for r in REASONS])[reason]
        + np.array([cfg.routing_handle_tier[t] for t in TIERS])[tier]
    )
    m_rv = np.exp(rv_eff)
    m_bot = np.exp(np.array([cfg.bot_handle_effect[r] for r in REASONS])[reason])
    m_spec = np.exp(cfg.specialist_handle_effect + cfg.specialist_handle_complexity * kappa)

    rng = stream(seed, "patience")
    pat_med = np.array([cfg.patience_median_s[c] for c in CHANNELS])[con["channel"]]
    patience = pat_med * np.exp(cfg.patience_sigma * rng.standard_normal(n))
    patience *= np.where(con["priority"] == 1, 1.5, 1.0)
    rng = stream(seed, "routing_delay")
    rd_base = cfg.routing_delay_median_s * np.exp(0.5 * rng.standard_normal(n))
    rd_mult = np.exp(cfg.routing_delay_effect * (1.0 + 0.3 * (reason == 0)))

    return {
        "bot": bot,
        "p_bot": p_bot,
        "kappa": kappa,
        "esc": esc,
        "p_over": p_over,
        "overflow": overflow,
        "spec": spec,
        "h_base": h_base,
        "m_rv": m_rv,
        "m_bot": m_bot,
        "m_spec": m_spec,
        "patience": patience,
        "rd_base": rd_base,
        "rd_mult": rd_mult,
        "z": z,
    }


def _pre_handle(tr: dict[str, np.ndarray], z: np.ndarray, b: np.ndarray, d: np.ndarray):
    """Handle time before the agent and assist factors: fixed multiplication order."""
    one = 1.0
    h = tr["h_base"] * np.where(z, tr["m_rv"], one)
    h = h * np.where(b, tr["m_bot"], one)
    return h * np.where(d, tr["m_spec"], one)


def _roster(
    seed: int, cfg: WorldConfig, queue: np.ndarray, t: np.ndarray, work: np.ndarray
) -> dict[str, object]:
    """Shift roster per queue from square-root staffing of the forecast load (NNLS cover)."""
    rng = stream(seed, "agents")
    days = cfg.window_days
    weeks = days / 7.0
    # coverage matrix: (336 half-hours of the week) x (4 shifts x 7 work patterns)
    cover = np.zeros((336, 28))
    for si, s in enumerate(SHIFTS):
        for p in range(7):  # pattern p: works days p .. p+4 (mod 7)
            for k in range(5):
                d = (p + k) % 7
                start = (d * 48 + SHIFT_START[s] * 2) % 336
                idx = (start + np.arange(SHIFT_HOURS * 2)) % 336
                cover[idx, si * 7 + p] = 1.0
    slot = (t // 1800).astype(np.int64) % 336
    agents_q: list[int] = []
    agents_shift: list[int] = []
    agents_pat: list[int] = []
    for qi in range(len(QUEUES)):
        m = queue == qi
        load = np.bincount(slot[m], weights=work[m], minlength=336) / (1800.0 * weeks)
        load *= cfg.staffing_level
        need = load + cfg.staffing_beta * np.sqrt(load) + cfg.staffing_extra
        # shift scheduling: fewest agents whose shifts cover the need in every half hour
        sol = milp(
            c=np.ones(cover.shape[1]),
            constraints=LinearConstraint(cover, lb=need, ub=np.inf),
            integrality=np.ones(cover.shape[1]),
            bounds=Bounds(0, np.inf),
            options={"time_limit": 5.0},
        )
        if sol.x is None:  # pragma: no cover - the covering problem is always feasible
            raise DesignError(f"no shift roster covers queue {QUEUES[qi]!r}: {sol.message}")
        xi = np.round(sol.x).astype(int)
        cov = cover @ xi
        # at least one agent on duty in every half hour
        for _ in range(200):
            gaps = cov < 1
            if not gaps.any():
                break
            j = int(np.argmax(cover[gaps].sum(axis=0)))
            xi[j] += 1
            cov = cover @ xi
        for j, c in enumerate(xi):
            agents_q += [qi] * int(c)
            agents_shift += [j // 7] * int(c)
            agents_pat += [j % 7] * int(c)
    n_a = len(agents_q)
    aq = np.array(agents_q)
    ash = np.array(agents_shift)
    apat = np.array(agents_pat)
    site_names = list(SITES)
    site = np.empty(n_a, dtype=np.int64)
    for si, s in enumerate(SHIFTS):
        m = np.flatnonzero(ash == si)
        options = [site_names.index(x) for x in _SHIFT_SITES[s]]
        site[m] = np.asarray(options)[np.arange(m.size) % len(options)]
        site[m] = rng.permutation(site[m])
    tenure = np.round(np.exp(np.log(18.0) + 0.9 * rng.standard_normal(n_a)) + 0.5, 1)
    is_spec = aq == QUEUES.index("specialist")
    lt = np.log(tenure)
    # agent factor on handle time: tenure and site, the same formula in every pool, so that the
    # specialist pool is not faster or slower for reasons other than being specialists
    amult = np.exp(-cfg.tenure_handle * (lt - np.log(18.0)) - cfg.tenure_handle**2 * 0.81 / 2)
    amult *= np.exp(cfg.site_handle * np.array([_SITE_HANDLE[site_names[s]] for s in site]))
    # shift windows (seconds from window start), including a night shift starting the day before
    windows: list[tuple[list[float], list[float]]] = []
    for a in range(n_a):
        sh = SHIFTS[ash[a]]
        starts, ends = [], []
        for d in range(-1, days + 2):
            if (d - apat[a]) % 7 < 5:
                st = d * DAY + SHIFT_START[sh] * 3600.0
                starts.append(st)
                ends.append(st + SHIFT_HOURS * 3600.0)
        starts.append(np.inf)
        ends.append(np.inf)
        windows.append((starts, ends))
    return {
        "n": n_a,
        "queue": aq,
        "shift": ash,
        "pattern": apat,
        "site": site,
        "tenure": tenure,
        "is_spec": is_spec,
        "amult": amult,
        "windows": windows,
    }


def _assist_factor(cfg: WorldConfig, days_total: int) -> tuple[np.ndarray, np.ndarray]:
    """Per site and day: handle multiplier if assist were on, and whether it is on."""
    site_names = list(SITES)
    fac = np.ones((len(site_names), days_total))
    on = np.zeros((len(site_names), days_total), dtype=bool)
    day = np.arange(days_total)
    never_mean = float(np.mean(list(cfg.assist_max_effect.values())))
    for si, s in enumerate(site_names):
        launch = cfg.assist_launch_days.get(s)
        if launch is None:
            fac[si] = np.exp(-never_mean * (1 - np.exp(-1 / cfg.assist_ramp_days)))
            continue
        e = np.maximum(day - launch, 0)
        fac[si] = np.exp(-cfg.assist_max_effect[launch] * (1 - np.exp(-(e + 1) / cfg.assist_ramp_days)))
        on[si] = day >= launch
    return fac, on


def _simulate_queues(
    con: dict[str, np.ndarray],
    queue: np.ndarray,
    pre_h: np.ndarray,
    patience: np.ndarray,
    ag: dict[str, object],
    assist_mult: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FCFS multi-server queue per skill with shifts and abandonment.

    Contacts are taken in arrival order; each is offered to the agent of its queue that is free
    (and on shift) earliest. If that start is later than the contact's patience the contact
    abandons and the agent's time is untouched. An agent takes no new contact after the end of
    the shift but finishes the one in hand. Priority is a label only: service is FCFS within a
    queue. Returns answer time (NaN if abandoned), agent index
    (-1) and handle time (NaN).
    """
    n = int(con["n"])
    t_arr = con["t"]
    answer = np.full(n, np.nan)
    agent = np.full(n, -1, dtype=np.int64)
    handle = np.full(n, np.nan)
    windows = ag["windows"]
    amult = ag["amult"].tolist()
    a_site = ag["site"]
    afac = [assist_mult[a_site[a]].tolist() for a in range(ag["n"])]
    inv_day = 1.0 / DAY
    last_day = assist_mult.shape[1] - 1
    for qi in range(len(QUEUES)):
        members = np.flatnonzero(ag["queue"] == qi).tolist()
        idx = np.flatnonzero(queue == qi)
        if idx.size == 0:
            continue
        if not members:
            raise DesignError(f"queue {QUEUES[qi]!r} has contacts but no agents")
        ptr = dict.fromkeys(members, 0)
        heap = [(windows[a][0][0], a) for a in members]
        heapq.heapify(heap)
        ts = t_arr[idx].tolist()
        ps = patience[idx].tolist()
        hs = pre_h[idx].tolist()
        ans_l = [np.nan] * idx.size
        ag_l = [-1] * idx.size
        h_l = [np.nan] * idx.size
        heapreplace = heapq.heapreplace
        for j in range(idx.size):
            t = ts[j]
            while True:
                f, a = heap[0]
                s = f if f > t else t
                starts, ends = windows[a]
                k = ptr[a]
                while ends[k] <= s:
                    k += 1
                ptr[a] = k
                if starts[k] > s:
                    heapreplace(heap, (starts[k], a))
                    continue
                break
            if s - t > ps[j]:
                continue
            d = int(s * inv_day)
            h = hs[j] * amult[a] * afac[a][d if d < last_day else last_day]
            ans_l[j] = s
            ag_l[j] = a
            h_l[j] = h
            heapreplace(heap, (s + h, a))
        answer[idx] = ans_l
        agent[idx] = ag_l
        handle[idx] = h_l
    return answer, agent, handle


def _downstream(
    cfg: WorldConfig,
    ctx: dict[str, np.ndarray],
    wait: np.ndarray,
    handle: np.ndarray,
    z: np.ndarray,
    b: np.ndarray,
    d: np.ndarray,
) -> dict[str, np.ndarray]:
    """FCR, reopen, resolution time and CSAT from the experience and the treatments.

    Uses the contact's fixed noise (``ctx``), so calling it with other treatments gives the
    potential outcomes of the same contact.
    """
    reason, kappa = ctx["reason"], ctx["kappa"]
    rv_w = ctx["rv_weight"]
    lin_f = (
        _REASON_FCR[reason]
        + cfg.customer_fcr_sd * ctx["u_f"]
        - 0.8 * kappa
        + z * cfg.routing_fcr_effect * rv_w
        + b * ctx["bot_fcr"]
        + d * (cfg.specialist_fcr_effect + cfg.specialist_fcr_complexity * kappa)
    )
    fcr = ctx["v_fcr"] < _sigmoid(lin_f)
    lin_r = (
        _REASON_REOPEN[reason]
        - 1.3 * fcr
        + 0.35 * kappa
        + 0.3 * ctx["u_f"] * -1.0
        + z * cfg.routing_reopen_effect
    )
    reopened = ctx["v_reopen"] < _sigmoid(lin_r)
    log_follow = np.where(
        fcr,
        np.log(1800.0) + 0.8 * ctx["n_follow"],
        np.log(_REASON_FOLLOWUP_DAYS[reason] * DAY) + 1.0 * ctx["n_follow"] + 0.3 * kappa,
    )
    log_follow = log_follow + z * cfg.routing_followup_effect + d * cfg.specialist_followup_effect
    resolution = wait + handle + np.exp(log_follow)
    latent = (
        1.0
        + _REASON_CSAT[reason]
        + ctx["tier_csat"]
        + cfg.customer_csat_sd * ctx["u_s"]
        - 0.45 * np.log1p(wait / 120.0)
        - 0.25 * np.log(handle / 600.0)
        + 1.0 * fcr
        - 0.3 * kappa
        + z * cfg.routing_csat_effect
        + b * ctx["bot_csat"]
        + ctx["e_csat"]
    )
    csat = 1 + np.searchsorted(np.asarray(cfg.csat_cuts), latent).astype(np.int8)
    return {
        "fcr": fcr,
        "reopened": reopened,
        "resolution_s": resolution,
        "csat": csat,
        "latent": latent,
    }


def _ts(start: pd.Timestamp, seconds: np.ndarray) -> pd.Series:
    """Seconds from ``start`` as datetime64[ns], rounded to whole microseconds (NaN -> NaT)."""
    us = np.round(np.asarray(seconds, dtype=float) * 1e6)
    out = np.full(us.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = np.isfinite(us)
    out[ok] = np.datetime64(start.to_datetime64(), "ns") + (us[ok].astype(np.int64) * 1000).astype(
        "timedelta64[ns]"
    )
    return pd.Series(out)


def _obj(names: tuple[str, ...] | list[str], codes: np.ndarray) -> np.ndarray:
    return np.asarray(names, dtype=object)[codes]


def _priority_lane(
    seed: int, cfg: WorldConfig, con: dict[str, np.ndarray], cust: dict[str, np.ndarray],
    answered: np.ndarray, start: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The priority lane: a sharp discontinuity at ``cfg.priority_cutoff`` of a 0-100 risk score.

    Draws only from its own stream (``"priority"``), so every other table is unchanged. The
    score rises smoothly with tier, account age and reason (no bunching at the cutoff); the
    follow-up time's noise is independent of the score, so the effect at the cutoff is exact:
    E[followup_h(1) - followup_h(0) | score = c] = exp(mu + sigma^2 / 2) * (exp(effect) - 1).
    """
    rng = stream(seed, "priority")
    idx = np.flatnonzero(answered)
    m = idx.size
    tier = con["tier"][idx]
    age = cust["age"][con["cust"][idx]]
    reason = con["reason"][idx]
    lin = (
        0.35 * tier
        + 0.15 * np.log(age / 365.0)
        + np.array([0.2, 0.6, 0.9, 0.1, 0.0, -0.4])[reason]
        + 0.9 * rng.standard_normal(m)
    )
    # a model score: full precision (rounding would create mass points at every value)
    score = 100.0 / (1.0 + np.exp(-(lin - 0.2)))
    lane = score >= cfg.priority_cutoff
    u = (score - cfg.priority_cutoff) / 10.0
    log0 = (
        np.log(cfg.priority_followup_median_h)
        + cfg.priority_followup_slope * u
        + cfg.priority_followup_sigma * rng.standard_normal(m)
    )
    y0 = np.exp(log0)
    y1 = y0 * np.exp(cfg.priority_lane_effect + cfg.priority_lane_effect_slope * u)
    ids = (idx + 1).astype(np.int64)
    table = pd.DataFrame(
        {
            "contact_id": ids,
            "customer_id": (con["cust"][idx] + 1).astype(np.int64),
            "created_at": _ts(start, con["t"][idx]),
            "priority_score": score,
            "priority_lane": lane,
            "followup_h": np.where(lane, y1, y0),
        }
    )
    truth = pd.DataFrame({"contact_id": ids, "followup_h__0": y0, "followup_h__1": y1})
    return table, truth


# --------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------


def generate_world(seed: int = 0, scale: float = 1.0, config: WorldConfig | None = None) -> World:
    """Generate the synthetic service world.

    Parameters
    ----------
    seed : int
        Seed of every random stream (named child streams of ``SeedSequence(seed)``).
    scale : float
        Size: 1.0 is about 1,000,000 contacts over 90 days from about 400,000 customers;
        agents and staffing scale with the load.
    config : WorldConfig, optional
        The knobs; defaults to ``WorldConfig()``.

    Returns
    -------
    World
        ``tables`` (analysis tables as in :data:`SCHEMA`), ``truth`` (``truth_effects``,
        ``truth_contacts``), ``meta``.

    Examples
    --------
    >>> w = generate_world(seed=0, scale=0.01)
    >>> sorted(w.tables) == sorted(SCHEMA)
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise DesignError(f"seed must be a non-negative integer, got {seed!r}")
    if not np.isfinite(scale) or scale <= 0 or scale > 100:
        raise DesignError(f"scale must be in (0, 100], got {scale!r}")
    seed = int(seed)
    cfg = config if config is not None else WorldConfig()
    if not isinstance(cfg, WorldConfig):
        raise DesignError(f"config must be a WorldConfig, got {type(cfg).__name__}")
    start = pd.Timestamp(cfg.window_start)
    extraction_s = cfg.window_days * DAY

    cust = _customers(seed, scale, cfg)
    intensity = _intensity(seed, cfg)
    con = _contacts(seed, cfg, cust, intensity)
    n = int(con["n"])
    asg = _assignments(seed, cfg, cust, con)
    z = asg["z"]
    tr = _treatments_and_base(seed, cfg, cust, con, z)
    b, dspec = tr["bot"], tr["spec"]
    home_queue = np.array([QUEUES.index(_REASON_QUEUE[r]) for r in REASONS])[con["reason"]]
    queue = np.where(dspec, QUEUES.index("specialist"), home_queue)

    pre_h = _pre_handle(tr, z, b, dspec)
    ag = _roster(seed, cfg, queue, con["t"], pre_h)
    days_total = cfg.window_days + 30
    assist_mult, assist_on = _assist_factor(cfg, days_total)
    live_mult = np.where(assist_on, assist_mult, 1.0)
    answer, agent, handle = _simulate_queues(con, queue, pre_h, tr["patience"], ag, live_mult)

    answered = agent >= 0
    abandoned = ~answered
    queue_wait = np.where(answered, answer - con["t"], tr["patience"])
    a_site = np.where(answered, ag["site"][np.maximum(agent, 0)], -1)
    day_ans = np.minimum((np.nan_to_num(answer) // DAY).astype(np.int64), days_total - 1)
    assist_active = answered & assist_on[np.maximum(a_site, 0), day_ans]
    amult_c = np.where(answered, ag["amult"][np.maximum(agent, 0)], np.nan)
    afac_c = np.where(answered, assist_mult[np.maximum(a_site, 0), day_ans], np.nan)

    def handle_of(zz: np.ndarray, bb: np.ndarray, dd: np.ndarray, aa: np.ndarray) -> np.ndarray:
        h = _pre_handle(tr, zz, bb, dd) * amult_c
        return h * np.where(aa, afac_c, 1.0)

    rd0 = tr["rd_base"]
    rd1 = tr["rd_base"] * tr["rd_mult"]
    wait0 = np.where(answered, queue_wait + rd0, queue_wait)
    wait1 = np.where(answered, queue_wait + rd1, queue_wait)
    wait_obs = np.where(z, wait1, wait0)

    rng = stream(seed, "outcomes")
    reason = con["reason"]
    ci = con["cust"]
    ctx = {
        "reason": reason,
        "kappa": tr["kappa"],
        "u_f": cust["u_f"][ci],
        "u_s": cust["u_s"][ci],
        "tier_csat": _TIER_CSAT[con["tier"]] + 0.1 * np.log(cust["age"][ci] / 365.0),
        "rv_weight": np.array([1.2, 0.6, 0.2, 0.8, 1.0, 0.4])[reason],
        "bot_fcr": np.array([cfg.bot_fcr_effect[r] for r in REASONS])[reason],
        "bot_csat": np.array([cfg.bot_csat_effect[r] for r in REASONS])[reason],
        "v_fcr": rng.random(n),
        "v_reopen": rng.random(n),
        "n_follow": rng.standard_normal(n),
        "e_csat": rng.logistic(size=n),
    }
    obs_h = handle_of(z, b, dspec, assist_active)
    obs = _downstream(cfg, ctx, wait_obs, obs_h, z, b, dspec)
    # the queue simulation and the potential-outcome formula agree exactly
    if not np.array_equal(obs_h[answered], handle[answered]):
        raise AssertionError("internal: handle time of the queue run differs from its formula")

    rng = stream(seed, "survey")
    resp_lin = (
        cfg.survey_intercept
        + cfg.survey_extreme * (obs["csat"] == 1)
        + cfg.survey_delight * (obs["csat"] == 5)
        + 0.3 * (con["channel"] == CHANNELS.index("email"))
        - 0.2 * (wait_obs > 1800)
    )
    responded = answered & (rng.random(n) < _sigmoid(resp_lin))

    resolution = obs["resolution_s"]
    resolved_s = con["t"] + resolution
    is_resolved = answered & (resolved_s <= extraction_s)
    na = ~answered

    # ---------------- analysis tables ---------------------------------------------------
    site_names = list(SITES)
    contacts = pd.DataFrame(
        {
            "contact_id": np.arange(1, n + 1, dtype=np.int64),
            "customer_id": (ci + 1).astype(np.int64),
            "created_at": _ts(start, con["t"]),
            "channel": _obj(CHANNELS, con["channel"]),
            "reason": _obj(REASONS, reason),
            "queue": _obj(QUEUES, queue),
            "priority": con["priority"].astype(np.int32),
            "site": np.where(answered, _obj(site_names, np.maximum(a_site, 0)), None),
            "agent_id": pd.array(np.where(answered, agent + 1, 0), dtype="Int32"),
            "wait_s": np.round(wait_obs, 3),
            "abandoned": abandoned,
            "handle_s": np.where(answered, obs_h, np.nan),
            "resolved_at": _ts(start, np.where(is_resolved, resolved_s, np.nan)),
            "reopened": pd.array(obs["reopened"], dtype="boolean"),
            "fcr": pd.array(obs["fcr"], dtype="boolean"),
            "csat": pd.array(obs["csat"], dtype="Int8"),
            "assist_active": assist_active,
            "bot_used": b,
            "overflow": tr["overflow"],
            "specialist": dspec,
            "queue_wait_s": np.round(queue_wait, 3),
            "home_queue": _obj(QUEUES, home_queue),
        }
    )
    contacts.loc[na, "agent_id"] = pd.NA
    contacts.loc[~is_resolved, "reopened"] = pd.NA
    contacts.loc[na, "fcr"] = pd.NA
    contacts.loc[~responded, "csat"] = pd.NA
    # wait_s was rounded; potential outcomes are rounded the same way below
    customers = pd.DataFrame(
        {
            "customer_id": np.arange(1, int(cust["n"]) + 1, dtype=np.int64),
            "tier": _obj(TIERS, cust["tier"]),
            "language": _obj(LANGUAGES, cust["lang"]),
            "region": _obj(REGIONS, cust["region"]),
            "account_age_days": cust["age"].astype(np.int32),
            "pre_contacts": cust["pre_contacts"].astype(np.int32),
            "pre_handle_s": cust["pre_handle_s"],
        }
    )
    n_agents_site = np.bincount(ag["site"], minlength=len(site_names))
    sites = pd.DataFrame(
        {
            "site": np.asarray(site_names, dtype=object),
            "region": np.asarray([SITES[s] for s in site_names], dtype=object),
            "n_agents": n_agents_site.astype(np.int32),
        }
    )
    work_days = [",".join(_WEEKDAYS[(p + k) % 7] for k in range(5)) for p in range(7)]
    agents = pd.DataFrame(
        {
            "agent_id": np.arange(1, ag["n"] + 1, dtype=np.int32),
            "site": _obj(site_names, ag["site"]),
            "tenure_months": ag["tenure"].astype(float),
            "skills": _obj(QUEUES, ag["queue"]),
            "shift": _obj(SHIFTS, ag["shift"]),
            "shift_start_hour": np.array([SHIFT_START[SHIFTS[s]] for s in ag["shift"]], np.int32),
            "shift_hours": np.full(ag["n"], SHIFT_HOURS, dtype=np.int32),
            "is_specialist": ag["is_spec"].astype(bool),
            "work_days": _obj(work_days, ag["pattern"]),
        }
    )
    cid = np.flatnonzero(asg["assigned"] & ~(asg["lost"] & (asg["variant"] == 1)))
    assignments = pd.DataFrame(
        {
            "experiment": np.full(cid.size, EXPERIMENT, dtype=object),
            "customer_id": (cid + 1).astype(np.int64),
            "variant": _obj(("control", "treatment"), asg["variant"][cid].astype(np.int64)),
            "assigned_at": _ts(start, asg["first"][cid]),
        }
    )
    experiments = pd.DataFrame(
        {
            "experiment": np.array([EXPERIMENT], dtype=object),
            "unit": np.array(["customer_id"], dtype=object),
            "start_at": _ts(start, np.array([cfg.experiment_start_day * DAY])),
            "end_at": _ts(start, np.array([extraction_s])),
            "control_share": np.array([cfg.control_share]),
        }
    )
    launch = [cfg.assist_launch_days.get(s) for s in site_names]
    rollout = pd.DataFrame(
        {
            "site": np.asarray(site_names, dtype=object),
            "launched_at": _ts(
                start, np.array([np.nan if d is None else d * DAY for d in launch], dtype=float)
            ),
        }
    )
    staffing = _staffing_table(cfg, ag, start)
    priority_reviews, truth_priority = _priority_lane(seed, cfg, con, cust, answered, start)
    meta = {
        "seed": str(seed),
        "scale": repr(float(scale)),
        "window_start": str(start),
        "window_end": str(start + pd.Timedelta(days=cfg.window_days)),
        "extraction_at": str(start + pd.Timedelta(days=cfg.window_days)),
        "generator_version": GENERATOR_VERSION,
        "n_contacts": str(n),
        "n_customers": str(int(cust["n"])),
        "n_agents": str(ag["n"]),
        "experiment": EXPERIMENT,
        "experiment_start_day": str(cfg.experiment_start_day),
        "srm_bias": repr(float(cfg.srm_bias)),
        "priority_cutoff": repr(float(cfg.priority_cutoff)),
        "config_sha256": hashlib.sha256(
            json.dumps(cfg.to_dict(), sort_keys=True, default=str).encode()
        ).hexdigest(),
    }
    world_meta = pd.DataFrame(
        {"key": np.array(list(meta), dtype=object), "value": np.array(list(meta.values()), dtype=object)}
    )
    tables = {
        "customers": customers,
        "sites": sites,
        "agents": agents,
        "contacts": contacts,
        "experiment_assignments": assignments,
        "experiments": experiments,
        "assist_rollout": rollout,
        "staffing": staffing,
        "world_meta": world_meta,
        "priority_reviews": priority_reviews,
    }

    # ---------------- potential outcomes -----------------------------------------------
    zero = np.zeros(n, dtype=bool)
    onev = np.ones(n, dtype=bool)
    po: dict[str, np.ndarray] = {}

    def put(prefix: str, arm: int, out: dict[str, np.ndarray], h: np.ndarray, w: np.ndarray,
            outcomes: tuple[str, ...]) -> None:  # fmt: skip
        vals = {"handle_s": h, "wait_s": np.round(w, 3), **out}
        for o in outcomes:
            po[f"{prefix}__{o}__{arm}"] = vals[o]

    rv_out = ("wait_s", "handle_s", "resolution_s", "fcr", "reopened", "csat")
    for arm, zz, w in ((0, zero, wait0), (1, onev, wait1)):
        h = handle_of(zz, b, dspec, assist_active)
        put("routing_v2", arm, _downstream(cfg, ctx, w, h, zz, b, dspec), h, w, rv_out)
    for arm, aa in ((0, zero), (1, onev)):
        po[f"assist__handle_s__{arm}"] = handle_of(z, b, dspec, aa)
    for arm, bb in ((0, zero), (1, onev)):
        h = handle_of(z, bb, dspec, assist_active)
        put("help_bot", arm, _downstream(cfg, ctx, wait_obs, h, z, bb, dspec), h, wait_obs,
            ("handle_s", "fcr", "csat"))  # fmt: skip
    # specialist routing changes who serves the contact: under the other arm the agent factor is
    # the mean factor (tenure, site, assist) of the pool that would have served it, same hour
    f_cf = _pool_factor(
        answered, handle / pre_h, answer, home_queue, queue, days_total
    )
    for arm, dd in ((0, zero), (1, onev)):
        h_cf = _pre_handle(tr, z, b, dd) * (f_cf[1] if arm else f_cf[0])
        h = np.where(dspec == dd, handle_of(z, b, dd, assist_active), h_cf)
        put("specialist", arm, _downstream(cfg, ctx, wait_obs, h, z, b, dd), h, wait_obs,
            ("handle_s", "fcr", "reopened", "resolution_s"))  # fmt: skip

    launch_day = np.array([np.nan if d is None else d for d in launch], dtype=float)
    cohort_names = np.array(
        ["never" if d is None else f"day{d:02d}" for d in launch] + ["none"], dtype=object
    )
    tc: dict[str, object] = {"contact_id": contacts["contact_id"].to_numpy()}
    for col, typ in TRUTH_SCHEMA["truth_contacts"].items():
        if col in po:
            v = po[col]
            if typ == "BOOLEAN":
                arr = pd.array(v, dtype="boolean")
                arr[na] = pd.NA
            elif typ == "TINYINT":
                arr = pd.array(v, dtype="Int8")
                arr[na] = pd.NA
            else:
                arr = np.where(na & (col.split("__")[1] != "wait_s"), np.nan, v)
            tc[col] = arr
    tc["routing_v2__treated"] = z
    tc["assist__cohort"] = cohort_names[np.where(answered, a_site, len(site_names))]
    ev = np.where(answered, day_ans - np.nan_to_num(launch_day[np.maximum(a_site, 0)], nan=-1e9), np.nan)
    tc["assist__event_day"] = pd.array(
        np.where(np.isfinite(ev) & (np.abs(ev) < 1e6), ev, 0).astype(np.int64), dtype="Int32"
    )
    tc["assist__event_day"][~(np.isfinite(ev) & (np.abs(ev) < 1e6))] = pd.NA
    tc["help_bot__propensity"] = tr["p_bot"]
    tc["specialist__complexity"] = tr["kappa"]
    tc["specialist__escalated"] = tr["esc"]
    tc["specialist__overflow_prob"] = tr["p_over"]
    tc["specialist__complier"] = ~tr["esc"]
    tc["resolution_s"] = np.where(answered, resolution, np.nan)
    tc["csat_latent"] = np.where(answered, obs["latent"], np.nan)
    truth_contacts = pd.DataFrame(tc)[list(TRUTH_SCHEMA["truth_contacts"])]
    effects = truth_effects(contacts, customers, truth_contacts, cfg, priority_reviews)
    # (e) scenarios: truth rows of the injections; text: the contact_text table
    extra_truth = scenarios.truth_rows(cfg, contacts, con["injected"], con["reason_logp"], con["t"])
    if extra_truth is not None:
        effects = pd.concat([effects, extra_truth], ignore_index=True)
    truth_arr = arrivals_truth.truth_arrivals(cfg, cust, intensity, start)
    tables["contact_text"] = text.contact_text(
        seed, cfg, reason=reason, channel=con["channel"], language=cust["lang"][ci], kappa=tr["kappa"],
        mood=cust["u_s"][ci], latent=obs["latent"], responded=responded,
    )
    tables["holidays"] = arrivals_truth.holidays_table(cfg, start)
    truth = {"truth_effects": effects, "truth_contacts": truth_contacts,
             "truth_priority": truth_priority, "truth_arrivals": truth_arr}
    for table, cols in SCHEMA.items():
        tables[table] = tables[table][list(cols)]
    return World(tables=tables, truth=truth, meta=meta, config=cfg)


def _pool_factor(
    answered: np.ndarray,
    factor: np.ndarray,
    answer: np.ndarray,
    home_queue: np.ndarray,
    queue: np.ndarray,
    days_total: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean agent factor of the regular (home) pool and of the specialist pool per contact.

    Means over the answered contacts each pool served in the same hour of the window, falling
    back to the same hour of the week, then to the pool's overall mean.
    """
    n_q = len(QUEUES)
    spec_q = QUEUES.index("specialist")
    t = np.where(answered, answer, 0.0)
    hour_w = np.minimum((t // 3600).astype(np.int64), days_total * 24 - 1)
    how = (t // 3600 % 168).astype(np.int64)
    out = []
    for pool in (home_queue, np.full_like(home_queue, spec_q)):
        res = np.full(answered.size, np.nan)
        for key_a, n_cells in ((how, 168), (hour_w, days_total * 24)):
            key = queue * n_cells + key_a
            s = np.bincount(key[answered], weights=factor[answered], minlength=n_q * n_cells)
            k = np.bincount(key[answered], minlength=n_q * n_cells)
            mean = np.where(k > 0, s / np.maximum(k, 1), np.nan)
            cand = mean[pool * n_cells + key_a]
            res = np.where(np.isfinite(cand), cand, res)
        overall = np.bincount(queue[answered], weights=factor[answered], minlength=n_q) / np.maximum(
            np.bincount(queue[answered], minlength=n_q), 1
        )
        res = np.where(np.isfinite(res), res, overall[pool])
        out.append(np.where(answered, res, np.nan))
    return out[0], out[1]


def _staffing_table(cfg: WorldConfig, ag: dict[str, object], start: pd.Timestamp) -> pd.DataFrame:
    n_int = cfg.window_days * 48
    counts = np.zeros((n_int, len(QUEUES)), dtype=np.int32)
    grid = np.arange(n_int) * 1800.0
    for a in range(ag["n"]):
        starts, ends = ag["windows"][a]
        st = np.asarray(starts[:-1])
        en = np.asarray(ends[:-1])
        k = np.searchsorted(st, grid, side="right") - 1
        on = (k >= 0) & (grid < en[np.maximum(k, 0)])
        counts[on, ag["queue"][a]] += 1
    qcodes = np.tile(np.arange(len(QUEUES)), n_int)
    return pd.DataFrame(
        {
            "interval_start": _ts(start, np.repeat(grid, len(QUEUES))),
            "queue": _obj(QUEUES, qcodes),
            "agents": counts.ravel().astype(np.int32),
        }
    )
