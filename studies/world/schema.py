"""The warehouse contract of the synthetic world: table -> {column: DuckDB type}, in column order.

Analysis tables (``SCHEMA``) are what studies may read; ground-truth tables
(``TRUTH_SCHEMA``, prefix ``truth_``) are for tests and the book only.

pandas dtypes used in :class:`~studies.world.World` frames: ``BIGINT`` -> int64,
``INT`` -> int32 (``Int32`` when the column may be NULL), ``DOUBLE`` -> float64
(NaN = NULL), ``VARCHAR`` -> object (``None`` = NULL), ``TIMESTAMP`` ->
datetime64[ns] (NaT = NULL, values whole microseconds), ``BOOLEAN`` -> bool
(``boolean`` when nullable), ``TINYINT`` -> ``Int8``.
"""

from __future__ import annotations

TIERS: tuple[str, ...] = ("standard", "verified", "creator", "advertiser")
LANGUAGES: tuple[str, ...] = ("en", "es", "pt", "ja", "ar", "hi", "fr", "de")
REGIONS: tuple[str, ...] = ("NA", "LATAM", "EMEA", "APAC")
CHANNELS: tuple[str, ...] = ("dm", "email", "web_form", "in_app")
REASONS: tuple[str, ...] = (
    "account_access",
    "suspension_appeal",
    "safety_report",
    "billing_ads",
    "verification",
    "other",
)
QUEUES: tuple[str, ...] = ("access", "trust_safety", "billing", "general", "specialist")
SHIFTS: tuple[str, ...] = ("early", "day", "late", "night")
VARIANTS: tuple[str, ...] = ("control", "treatment")
INTERVENTIONS: tuple[str, ...] = ("routing_v2", "assist", "help_bot", "specialist")

SCHEMA: dict[str, dict[str, str]] = {
    "customers": {
        "customer_id": "BIGINT",
        "tier": "VARCHAR",
        "language": "VARCHAR",
        "region": "VARCHAR",
        "account_age_days": "INT",
        "pre_contacts": "INT",
        "pre_handle_s": "DOUBLE",
    },
    "sites": {"site": "VARCHAR", "region": "VARCHAR", "n_agents": "INT"},
    "agents": {
        "agent_id": "INT",
        "site": "VARCHAR",
        "tenure_months": "DOUBLE",
        "skills": "VARCHAR",
        "shift": "VARCHAR",
        "shift_start_hour": "INT",
        "shift_hours": "INT",
        "is_specialist": "BOOLEAN",
        # added: the five consecutive working days, comma-separated ("Mon,Tue,Wed,Thu,Fri")
        "work_days": "VARCHAR",
    },
    "contacts": {
        "contact_id": "BIGINT",
        "customer_id": "BIGINT",
        "created_at": "TIMESTAMP",
        "channel": "VARCHAR",
        "reason": "VARCHAR",
        "queue": "VARCHAR",
        "priority": "INT",
        "site": "VARCHAR",
        "agent_id": "INT",
        "wait_s": "DOUBLE",
        "abandoned": "BOOLEAN",
        "handle_s": "DOUBLE",
        "resolved_at": "TIMESTAMP",
        "reopened": "BOOLEAN",
        "fcr": "BOOLEAN",
        "csat": "TINYINT",
        "assist_active": "BOOLEAN",
        "bot_used": "BOOLEAN",
        "overflow": "BOOLEAN",
        "specialist": "BOOLEAN",
        # added: the FCFS queue part of wait_s (wait_s = queue_wait_s + routing/transfer delay
        # for answered contacts; = queue_wait_s for abandoned ones)
        "queue_wait_s": "DOUBLE",
        # added: the queue the contact's reason routes to before any specialist overflow
        "home_queue": "VARCHAR",
    },
    "experiment_assignments": {
        "experiment": "VARCHAR",
        "customer_id": "BIGINT",
        "variant": "VARCHAR",
        "assigned_at": "TIMESTAMP",
    },
    "experiments": {
        "experiment": "VARCHAR",
        "unit": "VARCHAR",
        "start_at": "TIMESTAMP",
        "end_at": "TIMESTAMP",
        "control_share": "DOUBLE",
    },
    "assist_rollout": {"site": "VARCHAR", "launched_at": "TIMESTAMP"},
    "staffing": {"interval_start": "TIMESTAMP", "queue": "VARCHAR", "agents": "INT"},
    "world_meta": {"key": "VARCHAR", "value": "VARCHAR"},
    # added: the priority lane (a regression discontinuity). One row per answered contact: the
    # risk model's score (0-100), whether the contact went to the priority lane (score >= the
    # cutoff in world_meta "priority_cutoff") and the hours until its back-office follow-up
    "priority_reviews": {
        "contact_id": "BIGINT",
        "customer_id": "BIGINT",
        "created_at": "TIMESTAMP",
        "priority_score": "DOUBLE",
        "priority_lane": "BOOLEAN",
        "followup_h": "DOUBLE",
    },
}

# outcomes with potential outcomes in truth_contacts, per intervention
POTENTIAL_OUTCOMES: dict[str, tuple[str, ...]] = {
    "routing_v2": ("wait_s", "handle_s", "resolution_s", "fcr", "reopened", "csat"),
    "assist": ("handle_s",),
    "help_bot": ("handle_s", "fcr", "csat"),
    "specialist": ("handle_s", "fcr", "reopened", "resolution_s"),
}
_PO_TYPE = {
    "wait_s": "DOUBLE",
    "handle_s": "DOUBLE",
    "resolution_s": "DOUBLE",
    "fcr": "BOOLEAN",
    "reopened": "BOOLEAN",
    "csat": "TINYINT",
}


def _truth_contacts_columns() -> dict[str, str]:
    cols: dict[str, str] = {"contact_id": "BIGINT"}
    for intervention, outcomes in POTENTIAL_OUTCOMES.items():
        for outcome in outcomes:
            for arm in (0, 1):
                cols[f"{intervention}__{outcome}__{arm}"] = _PO_TYPE[outcome]
    cols.update(
        {
            "routing_v2__treated": "BOOLEAN",
            "assist__cohort": "VARCHAR",
            "assist__event_day": "INT",
            "help_bot__propensity": "DOUBLE",
            "specialist__complexity": "DOUBLE",
            "specialist__escalated": "BOOLEAN",
            "specialist__overflow_prob": "DOUBLE",
            "specialist__complier": "BOOLEAN",
            "resolution_s": "DOUBLE",
            "csat_latent": "DOUBLE",
        }
    )
    return cols


TRUTH_SCHEMA: dict[str, dict[str, str]] = {
    "truth_effects": {
        "intervention": "VARCHAR",
        "outcome": "VARCHAR",
        "estimand": "VARCHAR",
        "segment": "VARCHAR",
        "segment_value": "VARCHAR",
        "value": "DOUBLE",
        "population": "VARCHAR",
        "definition": "VARCHAR",
        "n": "BIGINT",
    },
    "truth_contacts": _truth_contacts_columns(),
    # added: potential follow-up hours of every priority_reviews row (0 = standard lane)
    "truth_priority": {
        "contact_id": "BIGINT",
        "followup_h__0": "DOUBLE",
        "followup_h__1": "DOUBLE",
    },
    # added (issue 13): the expected contacts per half hour, queue and channel (the arrival
    # intensity integrated over the interval; Poisson given the customers), see
    # studies.world.arrivals_truth
    "truth_arrivals": {
        "interval_start": "TIMESTAMP",
        "queue": "VARCHAR",
        "channel": "VARCHAR",
        "expected": "DOUBLE",
    },
}

# --- (e) ticket text (studies.world.text): one row per contact -------------------------------
# message: the customer's first message (every contact); comment: the free-text comment of a share
# of CSAT survey responses (NULL otherwise). The true reason is contacts.reason; the latent
# complexity and satisfaction behind the wording are in truth_contacts.
SCHEMA["contact_text"] = {"contact_id": "BIGINT", "message": "VARCHAR", "comment": "VARCHAR"}

# --- holidays (issue 13): the days of WorldConfig.holiday_days (empty by default) ----------------
SCHEMA["holidays"] = {"date": "TIMESTAMP", "name": "VARCHAR", "factor": "DOUBLE"}
