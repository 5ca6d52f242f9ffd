"""The world's true arrival intensity: expected contacts per half hour, queue and channel.

A customer's window contacts are Poisson(rate) and each arrives at a minute drawn from the
window's intensity, so, given the customers, the contacts of any half hour form a Poisson count
with mean ``sum(rate) * share(interval)`` (the share of the intensity in the interval). The
queue and channel split follows the generator's own probabilities: the reason given the tier
(more safety reports at night, the ``mix_shift`` boost in its week), the channel given the reason,
and the specialist diversion (overflow by hour of week, or escalation, whose probability over the
unobserved complexity is integrated by Gauss-Hermite quadrature). Injected ``volume_spike`` and
``incident`` contacts add their expected counts on their day. :func:`truth_arrivals` is the
``truth_arrivals`` table (``interval_start, queue, channel, expected``) that forecasts are
backtested against; :func:`holidays_table` lists ``WorldConfig.holiday_days``.

Nothing here draws a random number: the world's other tables are unchanged by this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from studies.world.schema import CHANNELS, QUEUES, REASONS

if TYPE_CHECKING:
    from studies.world.config import WorldConfig

__all__ = ["holidays_table", "truth_arrivals"]

INTERVAL_MIN = 30
DAY = 86_400.0


def holidays_table(cfg: WorldConfig, start: pd.Timestamp) -> pd.DataFrame:
    """The ``holidays`` table: one row per ``cfg.holiday_days`` (empty for the default world).

    Examples
    --------
    >>> from studies.world import WorldConfig
    >>> holidays_table(WorldConfig(holiday_days=(4,)), pd.Timestamp("2026-01-05"))["date"].tolist()
    [Timestamp('2026-01-09 00:00:00')]
    """
    days = sorted(int(d) for d in cfg.holiday_days)
    return pd.DataFrame({
        "date": pd.to_datetime([start + pd.Timedelta(days=d) for d in days]).astype("datetime64[ns]"),
        "name": np.array([f"holiday day {d}" for d in days], dtype=object),
        "factor": np.full(len(days), float(cfg.holiday_factor)),
    })


def _p_escalation(cfg: WorldConfig) -> float:
    """E[sigmoid(a + b kappa)] for kappa ~ N(0, 1) (Gauss-Hermite, 60 nodes)."""
    x, w = np.polynomial.hermite_e.hermegauss(60)
    z = cfg.escalation_intercept + cfg.escalation_complexity * x
    return float(np.sum(w / (1.0 + np.exp(-z))) / np.sqrt(2 * np.pi))


def _split(cfg: WorldConfig, tier_w: np.ndarray, hour: np.ndarray, how: np.ndarray, in_shift: np.ndarray,
           forced_reason: int | None = None) -> np.ndarray:
    """P(queue, channel) per interval (n_int x n_queue x n_channel) for contacts whose tier mix is
    ``tier_w`` (weights summing to 1).
    """
    from studies.world.generate import _CHANNEL_REASON_P, _REASON_QUEUE, _REASON_TIER_P

    n_int, n_r = hour.size, len(REASONS)
    if forced_reason is None:
        night = (hour >= 22) | (hour < 6)
        p_r = np.zeros((n_int, n_r))
        for k, w in enumerate(tier_w):
            if w <= 0:
                continue
            logp = np.tile(np.log(_REASON_TIER_P[k]), (n_int, 1))
            logp[:, 2] += np.log(1.6) * night
            if "mix_shift" in cfg.scenarios:
                logp[in_shift, REASONS.index(cfg.mix_shift_reason)] += cfg.mix_shift_log_odds
            e = np.exp(logp - logp.max(axis=1, keepdims=True))
            p_r += w * e / e.sum(axis=1, keepdims=True)
    else:
        p_r = np.zeros((n_int, n_r))
        p_r[:, forced_reason] = 1.0
    hp, wp = np.asarray(cfg.hourly_profile), np.asarray(cfg.weekly_profile)
    load_how = (wp[:, None] * hp[None, :]).ravel()
    rel = (load_how - load_how.min()) / (load_how.max() - load_how.min())
    p_over = cfg.overflow_base + cfg.overflow_peak * rel[how]
    p_spec = 1.0 - (1.0 - p_over) * (1.0 - _p_escalation(cfg))
    home = np.array([QUEUES.index(_REASON_QUEUE[r]) for r in REASONS])
    out = np.zeros((n_int, len(QUEUES), len(CHANNELS)))
    spec = QUEUES.index("specialist")
    for r in range(n_r):
        pr_ch = p_r[:, r, None] * _CHANNEL_REASON_P[r][None, :]  # n_int x n_ch
        out[:, home[r], :] += pr_ch * (1.0 - p_spec)[:, None]
        out[:, spec, :] += pr_ch * p_spec[:, None]
    return out


def truth_arrivals(cfg: WorldConfig, cust: dict[str, np.ndarray], intensity: np.ndarray,
                   start: pd.Timestamp) -> pd.DataFrame:
    """The ``truth_arrivals`` table: expected contacts per half hour, queue and channel."""
    from studies.world import scenarios
    from studies.world.generate import _REASON_TIER_P

    n_int = cfg.window_days * 1440 // INTERVAL_MIN
    share = intensity.reshape(n_int, INTERVAL_MIN).sum(axis=1) / intensity.sum()
    t0 = np.arange(n_int) * INTERVAL_MIN * 60.0
    hour = (t0 // 3600 % 24).astype(np.int64)
    how = ((t0 // DAY % 7) * 24 + hour).astype(np.int64)
    s_start, s_end = scenarios.scenario_week(cfg)
    in_shift = (t0 >= s_start * DAY) & (t0 < s_end * DAY)
    tier, rate = cust["tier"], cust["rate"]
    r_tier = np.bincount(tier, weights=rate, minlength=_REASON_TIER_P.shape[0])
    # organic: Poisson with mean rate-weighted by tier
    expected = (r_tier.sum() * share)[:, None, None] * _split(cfg, r_tier / r_tier.sum(), hour, how, in_shift)
    n0 = int(cust["n_window"].sum())
    w_tier = np.bincount(tier, weights=cust["n_window"], minlength=r_tier.size) / max(n0, 1)
    for name in ("volume_spike", "incident"):
        if name not in cfg.scenarios:
            continue
        day = cfg.volume_spike_day if name == "volume_spike" else cfg.incident_day
        minute_p, day_share = scenarios._day_share(intensity, day)
        if name == "volume_spike":
            lam, forced = (cfg.volume_spike_factor - 1.0) * n0 * day_share, None
        else:
            reason_p = _REASON_TIER_P[tier].mean(axis=0)
            k = REASONS.index(cfg.incident_reason)
            lam, forced = (cfg.incident_factor - 1.0) * n0 * day_share * reason_p[k], k
        per = np.zeros(n_int)
        per[day * 48 : (day + 1) * 48] = lam * minute_p.reshape(48, INTERVAL_MIN).sum(axis=1)
        expected += per[:, None, None] * _split(cfg, w_tier, hour, how, in_shift, forced)
    n_q, n_c = len(QUEUES), len(CHANNELS)
    ts = (start + pd.to_timedelta(np.repeat(t0, n_q * n_c), unit="s")).astype("datetime64[ns]")
    return pd.DataFrame({
        "interval_start": ts,
        "queue": np.tile(np.repeat(np.array(QUEUES, dtype=object), n_c), n_int),
        "channel": np.tile(np.array(CHANNELS, dtype=object), n_int * n_q),
        "expected": expected.ravel(),
    })
