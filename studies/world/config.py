"""Every knob of the synthetic service world, in one frozen dataclass."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pandas as pd

from servicelab.errors import DesignError
from studies.world.scenarios import validate as _validate_scenarios


def _reason_map(**kw: float) -> dict[str, float]:
    return dict(kw)


@dataclass(frozen=True)
class WorldConfig:
    """Parameters of the synthetic world (all times in seconds unless the name says otherwise).

    Effects on handle time are multiplicative on the log scale (``log`` multipliers), effects on
    binary outcomes are shifts of a logit, effects on CSAT are shifts of the latent satisfaction
    score (logistic noise, fixed cut points).

    Examples
    --------
    >>> cfg = WorldConfig(routing_handle_scale=0.0)   # routing-v2 without a handle-time effect
    >>> cfg.window_days
    90
    """

    # --- window and size -------------------------------------------------------------------
    window_start: str = "2026-01-05"  # a Monday, 00:00 UTC
    window_days: int = 90
    contacts_per_scale: float = 1_000_000.0
    customers_per_scale: float = 400_000.0
    # --- seasonality -----------------------------------------------------------------------
    hourly_profile: tuple[float, ...] = (
        0.45, 0.38, 0.33, 0.30, 0.32, 0.40, 0.55, 0.75, 0.95, 1.10, 1.20, 1.25,
        1.25, 1.25, 1.30, 1.35, 1.35, 1.30, 1.20, 1.05, 0.90, 0.78, 0.65, 0.52,
    )  # fmt: skip
    weekly_profile: tuple[float, ...] = (1.10, 1.05, 1.00, 1.00, 0.95, 0.75, 0.70)  # Mon..Sun
    daily_noise_sd: float = 0.06
    trend: float = 0.10  # relative growth of volume over the window
    # holidays (opt-in; the default world has none and is unchanged): days from the window start
    # whose volume is multiplied by holiday_factor; listed in the ``holidays`` table
    holiday_days: tuple[int, ...] = ()
    holiday_factor: float = 0.55
    # --- staffing and queueing -------------------------------------------------------------
    # the roster is the fewest 8-hour shifts (5 consecutive days a week) whose agents cover
    # N = staffing_level * R + staffing_beta * sqrt(R) + staffing_extra in every half hour of the
    # week, R = forecast offered load (Erlangs) of the queue; 0.88 gives occupancy ~0.8 and a few
    # percent abandonment at scale 1, with overloaded peaks
    staffing_level: float = 0.88
    staffing_beta: float = 0.0
    staffing_extra: float = 0.0
    patience_median_s: dict[str, float] = field(
        default_factory=lambda: {"dm": 420.0, "in_app": 360.0, "web_form": 1500.0, "email": 5400.0}
    )
    patience_sigma: float = 1.0
    # --- handle time ------------------------------------------------------------------------
    handle_median_s: dict[str, float] = field(
        default_factory=lambda: _reason_map(
            account_access=420.0,
            suspension_appeal=720.0,
            safety_report=840.0,
            billing_ads=600.0,
            verification=380.0,
            other=330.0,
        )
    )
    handle_sigma: float = 0.5
    customer_handle_sd: float = 0.55  # customer random effect on log handle time
    customer_csat_sd: float = 0.8
    customer_fcr_sd: float = 0.6
    complexity_handle: float = 0.45  # log handle per unit of unobserved complexity
    age_handle: float = 0.12  # log handle per log account age (years): long histories take longer
    tenure_handle: float = 0.10  # log handle per log tenure (experienced agents are faster)
    site_handle: float = 0.08  # spread of site effects on log handle time (+-)
    # --- (a) routing-v2 experiment ----------------------------------------------------------
    experiment_start_day: int = 28
    control_share: float = 0.5
    srm_bias: float = 0.0  # share of treatment assignments lost from the log (SRM injection)
    routing_delay_median_s: float = 30.0
    routing_delay_effect: float = -0.6  # log multiplier on the routing/transfer delay
    routing_handle_effect: dict[str, float] = field(
        default_factory=lambda: _reason_map(
            account_access=-0.16,
            suspension_appeal=-0.06,
            safety_report=0.0,
            billing_ads=-0.09,
            verification=-0.11,
            other=-0.03,
        )
    )
    routing_handle_tier: dict[str, float] = field(
        default_factory=lambda: {"standard": 0.0, "verified": -0.02, "creator": -0.04,
                                 "advertiser": -0.07}
    )  # fmt: skip
    routing_handle_scale: float = 1.0
    routing_fcr_effect: float = 0.25  # logit shift (x reason weight)
    routing_reopen_effect: float = -0.15
    routing_csat_effect: float = 0.20
    routing_followup_effect: float = -0.12  # log multiplier of the follow-up time
    # --- (b) agent-assist staggered rollout --------------------------------------------------
    assist_launch_days: dict[str, int | None] = field(
        default_factory=lambda: {
            "krakow": 14,
            "dublin": 35, "manila": 35, "austin": 35,
            "hyderabad": 49, "toronto": 49, "cairo": 49,
            "bogota": 63, "lisbon": 63, "tokyo": 63,
            "sao_paulo": None, "mexico_city": None,
        }
    )  # fmt: skip
    assist_max_effect: dict[int, float] = field(
        default_factory=lambda: {14: 0.30, 35: 0.22, 49: 0.12, 63: 0.06}
    )  # max reduction of log handle time by launch day (cohort)
    assist_ramp_days: float = 35.0  # effect = max * (1 - exp(-(e + 1) / ramp))
    # --- (c) help bot -----------------------------------------------------------------------
    bot_intercept: float = -1.6
    bot_tier: dict[str, float] = field(
        default_factory=lambda: {"standard": 0.0, "verified": 0.5, "creator": 1.1,
                                 "advertiser": 1.6}
    )  # fmt: skip
    bot_reason: dict[str, float] = field(
        default_factory=lambda: _reason_map(
            account_access=0.3,
            suspension_appeal=0.4,
            safety_report=-0.3,
            billing_ads=0.4,
            verification=0.2,
            other=-0.4,
        )
    )
    bot_age: float = 0.6  # per log(account age / 365)
    confounding_strength: float = 1.0  # multiplies the tier and age terms of opt-in
    bot_handle_effect: dict[str, float] = field(
        default_factory=lambda: _reason_map(
            account_access=-0.30,
            suspension_appeal=0.10,
            safety_report=0.06,
            billing_ads=-0.10,
            verification=-0.22,
            other=-0.05,
        )
    )
    bot_fcr_effect: dict[str, float] = field(
        default_factory=lambda: _reason_map(
            account_access=0.5,
            suspension_appeal=-0.3,
            safety_report=-0.1,
            billing_ads=0.15,
            verification=0.4,
            other=0.1,
        )
    )
    bot_csat_effect: dict[str, float] = field(
        default_factory=lambda: _reason_map(
            account_access=0.35,
            suspension_appeal=-0.4,
            safety_report=-0.2,
            billing_ads=0.1,
            verification=0.25,
            other=0.0,
        )
    )
    # --- (d) specialist queue (instrument: overflow) ----------------------------------------
    overflow_base: float = 0.02
    overflow_peak: float = 0.09  # extra overflow probability at the busiest hour of the week
    escalation_intercept: float = -3.0
    escalation_complexity: float = 1.4
    specialist_handle_effect: float = 0.22  # log handle multiplier at complexity 0
    specialist_handle_complexity: float = -0.20  # ... per unit of complexity
    specialist_fcr_effect: float = 0.6
    specialist_fcr_complexity: float = 0.3
    specialist_followup_effect: float = -0.2
    # --- (e) priority lane (regression discontinuity) -----------------------------------------
    # a risk model scores every answered contact from 0 to 100; contacts scoring at least the
    # cutoff go to the priority lane, whose back-office follow-up is faster. followup_h(0) =
    # exp(log(median) + slope * (score - cutoff) / 10 + sigma * noise), the noise independent of
    # the score; the lane multiplies it by exp(effect + effect_slope * (score - cutoff) / 10)
    priority_cutoff: float = 70.0
    priority_followup_median_h: float = 30.0
    priority_followup_slope: float = 0.15  # log hours per 10 score points (riskier = longer)
    priority_followup_sigma: float = 0.6
    priority_lane_effect: float = -0.5  # log multiplier of the follow-up time at the cutoff
    priority_lane_effect_slope: float = -0.05  # ... per 10 score points above the cutoff
    # --- CSAT and survey --------------------------------------------------------------------
    csat_cuts: tuple[float, ...] = (-0.6, -0.1, 0.5, 1.9)
    survey_intercept: float = -1.6
    survey_extreme: float = 1.1  # extra response logit for CSAT 1
    survey_delight: float = 0.35  # extra response logit for CSAT 5
    # --- (e) ticket text and injected scenarios (studies.world.text, studies.world.scenarios) --
    emit_text: bool = True  # the contact_text table (customer message, survey comment)
    comment_share: float = 0.4  # share of survey responses that leave a comment
    scenarios: tuple[str, ...] = ()  # any of "mix_shift", "handle_regression", "volume_spike", "incident"
    scenario_start_day: int | None = None  # first day of the scenario week (None: the last 7 days)
    mix_shift_reason: str = "suspension_appeal"
    mix_shift_log_odds: float = 0.5
    handle_regression_queue: str = "billing"
    handle_regression_log: float = 0.2
    volume_spike_day: int = 45
    volume_spike_factor: float = 2.5
    incident_day: int = 74
    incident_reason: str = "account_access"
    incident_factor: float = 3.0

    def __post_init__(self) -> None:
        try:
            monday = pd.Timestamp(self.window_start).dayofweek == 0
        except ValueError as exc:
            raise DesignError(f"window_start must be a date, got {self.window_start!r}") from exc
        if not monday:
            raise DesignError(
                f"window_start must be a Monday (the weekly profile starts on Monday), got "
                f"{self.window_start!r}"
            )
        if self.window_days < 70:
            raise DesignError(
                f"window_days must be >= 70 (the assist rollout runs to day 63), got "
                f"{self.window_days}"
            )
        if not 0.0 < self.control_share < 1.0:
            raise DesignError(f"control_share must be in (0, 1), got {self.control_share}")
        if not 0.0 <= self.srm_bias < 1.0:
            raise DesignError(f"srm_bias must be in [0, 1), got {self.srm_bias}")
        if self.staffing_level <= 0:
            raise DesignError(f"staffing_level must be > 0, got {self.staffing_level}")
        if len(self.hourly_profile) != 24 or len(self.weekly_profile) != 7:
            raise DesignError("hourly_profile needs 24 values and weekly_profile 7 values")
        if not 0 < self.experiment_start_day < self.window_days:
            raise DesignError(
                f"experiment_start_day must be inside the window, got {self.experiment_start_day}"
            )
        if not 0.0 < self.priority_cutoff < 100.0:
            raise DesignError(f"priority_cutoff must be inside the score range (0, 100), got "
                              f"{self.priority_cutoff}")
        if self.priority_followup_median_h <= 0 or self.priority_followup_sigma <= 0:
            raise DesignError("priority_followup_median_h and priority_followup_sigma must be > 0")
        launched = [d for d in self.assist_launch_days.values() if d is not None]
        if any(d not in self.assist_max_effect for d in launched):
            raise DesignError("every assist launch day needs an entry in assist_max_effect")
        if not 0.0 <= self.comment_share <= 1.0:
            raise DesignError(f"comment_share must be in [0, 1], got {self.comment_share}")
        bad = [d for d in self.holiday_days if not 0 <= int(d) < self.window_days]
        if bad:
            raise DesignError(f"holiday_days must lie in [0, window_days={self.window_days}), got {bad}")
        if not self.holiday_factor > 0.0:
            raise DesignError(f"holiday_factor must be > 0 (a multiple of the day's volume), got {self.holiday_factor}")
        _validate_scenarios(self)  # (e) scenario knobs

    def replace(self, **changes: Any) -> WorldConfig:
        """A copy with some knobs changed (``dataclasses.replace``)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary of every knob."""
        return asdict(self)
