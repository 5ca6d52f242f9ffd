"""Injected scenarios with a known answer, for validating KPI-driver methods.

A scenario is switched on by naming it in :attr:`WorldConfig.scenarios`; with the default
(``()``) nothing here touches the world, which stays byte-identical to a world generated without
this module. Each scenario draws only from its own named stream (``scenario/<name>``), and writes
its truth rows into ``truth_effects`` with ``intervention = "scenario_<name>"``.

The four scenarios (days count from the window start, day 0 = ``window_start``):

``mix_shift``
    During the *scenario week* (``scenario_start_day`` .. +7) the log-odds of
    ``mix_shift_reason`` rise by ``mix_shift_log_odds`` for every contact: the reason mix shifts
    toward it. Truth: the expected change of each reason's share of contacts in that week
    (estimand ``share_change``), and the mix contribution to the week's AHT change against the
    week before (estimand ``mix_contribution``; see :func:`truth_rows`).
``handle_regression``
    During the scenario week, contacts handled in ``handle_regression_queue`` (home queue, not
    overflowed to specialists) take ``exp(handle_regression_log)`` times longer before the agent
    factors, so the queue run sees the extra work. Truth: the rate contribution to the week's AHT
    (estimand ``rate_contribution``) and the queue's AHT increase (``rate_change``), both with the
    same agent and contact.
``volume_spike``
    On ``volume_spike_day`` extra contacts, ``volume_spike_factor - 1`` times the day's expected
    volume, arrive from customers drawn in proportion to their window contacts, with the usual
    reason and channel draws. Truth: the day and the number of injected contacts.
``incident``
    On ``incident_day`` extra contacts, ``incident_factor - 1`` times the day's expected volume of
    ``incident_reason``, all with that reason (an outage). Truth: the day, the reason and the
    number of injected contacts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from servicelab.errors import DesignError
from servicelab.random import named_stream
from studies.world.schema import QUEUES, REASONS

if TYPE_CHECKING:
    from studies.world.config import WorldConfig

SCENARIOS: tuple[str, ...] = ("mix_shift", "handle_regression", "volume_spike", "incident")
DAY = 86_400.0
# codes of the ``injected`` marker of each contact
ORGANIC, VOLUME_SPIKE, INCIDENT = 0, 1, 2

__all__ = [
    "INCIDENT",
    "ORGANIC",
    "SCENARIOS",
    "VOLUME_SPIKE",
    "add_contacts",
    "apply_handle",
    "reason_logits",
    "scenario_week",
    "truth_rows",
    "validate",
]


def scenario_week(cfg: WorldConfig) -> tuple[int, int]:
    """First day and end day (exclusive) of the scenario week.

    Examples
    --------
    >>> from studies.world import WorldConfig
    >>> scenario_week(WorldConfig())
    (83, 90)
    """
    start = cfg.window_days - 7 if cfg.scenario_start_day is None else int(cfg.scenario_start_day)
    return start, start + 7


def validate(cfg: WorldConfig) -> None:
    """Check the scenario knobs (called from ``WorldConfig.__post_init__``)."""
    unknown = [s for s in cfg.scenarios if s not in SCENARIOS]
    if unknown:
        raise DesignError(f"unknown scenarios {unknown}; choose from {list(SCENARIOS)}")
    if len(set(cfg.scenarios)) != len(cfg.scenarios):
        raise DesignError(f"scenarios must not repeat, got {list(cfg.scenarios)}")
    start, end = scenario_week(cfg)
    if not (start >= 7 and end <= cfg.window_days):
        raise DesignError(
            f"scenario_start_day must leave a week before it and fit the window (7 <= day <= "
            f"{cfg.window_days - 7}), got {start}"
        )
    for name, day in (("volume_spike_day", cfg.volume_spike_day), ("incident_day", cfg.incident_day)):
        if not 0 <= day < cfg.window_days:
            raise DesignError(f"{name} must be inside the window [0, {cfg.window_days}), got {day}")
    for name in ("mix_shift_reason", "incident_reason"):
        if getattr(cfg, name) not in REASONS:
            raise DesignError(f"{name} must be one of {list(REASONS)}, got {getattr(cfg, name)!r}")
    if cfg.handle_regression_queue not in QUEUES or cfg.handle_regression_queue == "specialist":
        raise DesignError(
            f"handle_regression_queue must be a home queue {[q for q in QUEUES if q != 'specialist']}, "
            f"got {cfg.handle_regression_queue!r}"
        )
    for name in ("volume_spike_factor", "incident_factor"):
        if not getattr(cfg, name) >= 1.0:
            raise DesignError(f"{name} must be >= 1 (a multiple of the day's volume), got {getattr(cfg, name)}")


def _day_share(intensity: np.ndarray, day: int) -> np.ndarray:
    """Per-minute arrival weights of one day, normalised, and the day's share of the window."""
    block = intensity[day * 1440 : (day + 1) * 1440]
    return block / block.sum(), block.sum() / intensity.sum()


def add_contacts(
    seed: int,
    cfg: WorldConfig,
    n_window: np.ndarray,
    intensity: np.ndarray,
    cust_idx: np.ndarray,
    t: np.ndarray,
    reason_p: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Append the contacts of ``volume_spike`` and ``incident`` (unsorted, at the end).

    Returns the customer index, the arrival time (seconds) and the ``injected`` marker of every
    contact (``ORGANIC`` for the generated ones); unchanged arrays when neither scenario is on.
    ``reason_p`` is the expected share of each reason (for the incident's volume).
    """
    injected = np.zeros(t.size, dtype=np.int8)
    wanted = [s for s in ("volume_spike", "incident") if s in cfg.scenarios]
    if not wanted:
        return cust_idx, t, injected
    n0 = t.size
    weights = n_window / n_window.sum()
    parts_c, parts_t, parts_k = [cust_idx], [t], [injected]
    for name in wanted:
        rng = named_stream(seed, f"scenario/{name}")
        day = cfg.volume_spike_day if name == "volume_spike" else cfg.incident_day
        minute_p, share = _day_share(intensity, day)
        expected_day = n0 * share
        if name == "volume_spike":
            lam = (cfg.volume_spike_factor - 1.0) * expected_day
            code = VOLUME_SPIKE
        else:
            lam = (cfg.incident_factor - 1.0) * expected_day * reason_p[REASONS.index(cfg.incident_reason)]
            code = INCIDENT
        k = int(rng.poisson(lam))
        minute = rng.choice(1440, size=k, p=minute_p)
        parts_t.append(np.round((day * 1440 + minute + rng.random(k)) * 60.0, 6))
        parts_c.append(rng.choice(weights.size, size=k, p=weights))
        parts_k.append(np.full(k, code, dtype=np.int8))
    return np.concatenate(parts_c), np.concatenate(parts_t), np.concatenate(parts_k)


def _shift_mask(cfg: WorldConfig, t: np.ndarray) -> np.ndarray:
    start, end = scenario_week(cfg)
    return (t >= start * DAY) & (t < end * DAY)


def reason_logits(cfg: WorldConfig, t: np.ndarray, injected: np.ndarray, logp: np.ndarray) -> np.ndarray:
    """Reason log-probabilities with the ``mix_shift`` boost and the incident's reason forced.

    Returns ``logp`` itself (unchanged) when neither scenario is on.
    """
    on_mix = "mix_shift" in cfg.scenarios
    inc = injected == INCIDENT
    if not on_mix and not inc.any():
        return logp
    out = logp.copy()
    if on_mix:
        out[_shift_mask(cfg, t), REASONS.index(cfg.mix_shift_reason)] += cfg.mix_shift_log_odds
    if inc.any():
        forced = np.full(len(REASONS), -np.inf)
        forced[REASONS.index(cfg.incident_reason)] = 0.0
        out[inc] = forced
    return out


def apply_handle(
    cfg: WorldConfig, t: np.ndarray, home_queue: np.ndarray, specialist: np.ndarray, h_base: np.ndarray
) -> np.ndarray:
    """Base handle time with the ``handle_regression`` multiplier (``h_base`` itself when off)."""
    if "handle_regression" not in cfg.scenarios:
        return h_base
    hit = _shift_mask(cfg, t) & (home_queue == QUEUES.index(cfg.handle_regression_queue)) & ~specialist
    return np.where(hit, h_base * np.exp(cfg.handle_regression_log), h_base)


def _row(name: str, outcome: str, estimand: str, segment: str, value_of: str, value: float,
         population: str, definition: str, n: int) -> dict[str, object]:  # fmt: skip
    return {
        "intervention": f"scenario_{name}",
        "outcome": outcome,
        "estimand": estimand,
        "segment": segment,
        "segment_value": value_of,
        "value": float(value),
        "population": population,
        "definition": definition,
        "n": int(n),
    }


def truth_rows(
    cfg: WorldConfig,
    contacts: pd.DataFrame,
    injected: np.ndarray,
    reason_logp: np.ndarray,
    t: np.ndarray,
) -> pd.DataFrame | None:
    """Truth rows (``truth_effects`` columns) of the scenarios that are on; ``None`` when none is.

    Parameters
    ----------
    cfg : WorldConfig
    contacts : DataFrame
        The generated ``contacts`` table.
    injected : ndarray
        Marker of every contact (``ORGANIC``, ``VOLUME_SPIKE``, ``INCIDENT``).
    reason_logp : ndarray
        Reason log-probabilities *without* the mix-shift boost (n x reasons).
    t : ndarray
        Arrival time of every contact, seconds from the window start.

    Notes
    -----
    ``mix_contribution`` of reason *r* is ``dw_r * (m_r - M)``: ``dw_r`` the expected change of
    the share of answered contacts with reason *r* in the scenario week caused by the boost
    (each answered contact's reason probabilities with and without it), ``m_r`` the mean handle
    time of reason *r* and ``M`` the mean over all answered contacts of both weeks (the week
    before and the scenario week). It is the symmetric (Shapley) mix term of a reason-level
    decomposition of the AHT change between the two weeks when the injected shift is the only
    change of the mix. ``rate_contribution`` is the mean over all answered contacts of the
    scenario week of ``handle_s * (1 - exp(-handle_regression_log))`` on the affected contacts
    (zero elsewhere): the AHT the regression added, with the same agent and contact.
    """
    if not cfg.scenarios:
        return None
    rows: list[dict[str, object]] = []
    start, end = scenario_week(cfg)
    answered = ~contacts["abandoned"].to_numpy()
    handle = contacts["handle_s"].to_numpy(dtype=float)
    in_b = (t >= start * DAY) & (t < end * DAY)
    in_a = (t >= (start - 7) * DAY) & (t < start * DAY)
    week = f"the scenario week, days {start}-{end - 1}"
    if "mix_shift" in cfg.scenarios:
        j = REASONS.index(cfg.mix_shift_reason)
        m = in_b & answered & (injected == ORGANIC)
        p0 = np.exp(reason_logp[m] - reason_logp[m].max(axis=1, keepdims=True))
        p0 /= p0.sum(axis=1, keepdims=True)
        p1 = p0.copy()
        p1[:, j] *= np.exp(cfg.mix_shift_log_odds)
        p1 /= p1.sum(axis=1, keepdims=True)
        dw = (p1 - p0).mean(axis=0)
        both = (in_a | in_b) & answered
        reason = contacts["reason"].to_numpy()
        big_m = handle[both].mean()
        for r, name in enumerate(REASONS):
            rows.append(_row("mix_shift", "share", "share_change", "reason", name, dw[r],
                             f"answered contacts of {week}",
                             f"expected share of reason {name} with the +{cfg.mix_shift_log_odds:g} log-odds "
                             f"boost of {cfg.mix_shift_reason} minus without it (same contacts)", int(m.sum())))
            m_r = handle[both & (reason == name)].mean()
            rows.append(_row("mix_shift", "handle_s", "mix_contribution", "reason", name, dw[r] * (m_r - big_m),
                             f"answered contacts of {week} against the week before",
                             "injected share change x (mean handle time of the reason - mean handle time), "
                             "both weeks", int(both.sum())))  # fmt: skip
    rows.extend(_row(name, "days", "first_day", "all", "all", start, week,
                     "first day (0 = window start) of the scenario week; the comparison week is the 7 days "
                     "before it", 7)
                for name in ("mix_shift", "handle_regression") if name in cfg.scenarios)  # fmt: skip
    if "handle_regression" in cfg.scenarios:
        q = cfg.handle_regression_queue
        hit = in_b & answered & (contacts["queue"].to_numpy() == q)
        extra = np.where(hit, handle * (1.0 - np.exp(-cfg.handle_regression_log)), 0.0)
        denom = in_b & answered
        rows.append(_row("handle_regression", "handle_s", "rate_contribution", "queue", q,
                         extra[denom].mean(), f"answered contacts of {week}",
                         f"mean over answered contacts of the week of the handle time the regression added in "
                         f"queue {q} (x{np.exp(cfg.handle_regression_log):.3f} before the agent), same agent",
                         int(denom.sum())))  # fmt: skip
        rows.append(_row("handle_regression", "handle_s", "rate_change", "queue", q, extra[hit].mean(),
                         f"answered contacts of queue {q} in {week}",
                         "mean handle time added per affected contact", int(hit.sum())))  # fmt: skip
    for name, code, day, seg, val in (
        ("volume_spike", VOLUME_SPIKE, cfg.volume_spike_day, "all", "all"),
        ("incident", INCIDENT, cfg.incident_day, "reason", cfg.incident_reason),
    ):
        if name in cfg.scenarios:
            k = int((injected == code).sum())
            rows.append(_row(name, "contacts", "injected_contacts", seg, val, k,
                             f"contacts created on day {day}",
                             f"number of contacts the {name} added on day {day} (segment {seg} = {val})", k))
            rows.append(_row(name, "contacts", "day", seg, val, day, f"day {day} of the window",
                             "day index (0 = window start) of the injection", k))  # fmt: skip
    return pd.DataFrame(rows)
