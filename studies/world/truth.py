"""True effects computed from the potential outcomes of the generated sample."""

from __future__ import annotations

import numpy as np
import pandas as pd

from studies.world.config import WorldConfig
from studies.world.schema import POTENTIAL_OUTCOMES, TRUTH_SCHEMA


def _diff(tc: pd.DataFrame, intervention: str, outcome: str) -> np.ndarray:
    y1 = tc[f"{intervention}__{outcome}__1"].astype("float64").to_numpy(na_value=np.nan)
    y0 = tc[f"{intervention}__{outcome}__0"].astype("float64").to_numpy(na_value=np.nan)
    return y1 - y0


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and labels of a segment column (missing values get their own code)."""
    codes, labels = pd.factorize(values, use_na_sentinel=False)
    return codes.astype(np.int64), np.asarray(labels, dtype=object)


def _rows(
    rows: list[dict[str, object]],
    intervention: str,
    outcome: str,
    estimand: str,
    diff: np.ndarray,
    mask: np.ndarray,
    population: str,
    definition: str,
    segments: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> None:
    ok = mask & np.isfinite(diff)
    rows.append(
        {
            "intervention": intervention,
            "outcome": outcome,
            "estimand": estimand,
            "segment": "all",
            "segment_value": "all",
            "value": float(diff[ok].mean()) if ok.any() else np.nan,
            "population": population,
            "definition": definition,
            "n": int(ok.sum()),
        }
    )
    for seg, (codes, labels) in (segments or {}).items():
        k = np.bincount(codes[ok], minlength=len(labels))
        tot = np.bincount(codes[ok], weights=diff[ok], minlength=len(labels))
        for j in sorted(range(len(labels)), key=lambda i: (str(type(labels[i])), labels[i])):
            if k[j] == 0:
                continue
            rows.append(
                {
                    "intervention": intervention,
                    "outcome": outcome,
                    "estimand": "CATE" if estimand == "ATE" else estimand,
                    "segment": seg,
                    "segment_value": str(labels[j]),
                    "value": float(tot[j] / k[j]),
                    "population": f"{population}, {seg} = {labels[j]}",
                    "definition": definition,
                    "n": int(k[j]),
                }
            )


def truth_effects(
    contacts: pd.DataFrame, customers: pd.DataFrame, tc: pd.DataFrame, cfg: WorldConfig,
    priority: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ``truth_effects`` table (see :data:`~studies.world.schema.TRUTH_SCHEMA`)."""
    rows: list[dict[str, object]] = []
    answered = ~contacts["abandoned"].to_numpy()
    tier = customers["tier"].to_numpy()[contacts["customer_id"].to_numpy() - 1]
    seg = {"reason": _codes(contacts["reason"].to_numpy()), "tier": _codes(tier)}
    start = pd.Timestamp(cfg.window_start) + pd.Timedelta(days=cfg.experiment_start_day)
    in_exp = (contacts["created_at"] >= start).to_numpy()

    for outcome in POTENTIAL_OUTCOMES["routing_v2"]:
        _rows(
            rows, "routing_v2", outcome, "ATE", _diff(tc, "routing_v2", outcome),
            in_exp & answered,
            "answered contacts created during the experiment (day "
            f"{cfg.experiment_start_day} to the end)",
            f"mean over answered contacts created during the experiment of {outcome}(1) - "
            f"{outcome}(0), treatment = the customer's routing-v2 arm; other interventions at "
            "their realised values and the queue path held fixed; csat is the full (unsurveyed) "
            "potential score; wait_s = shared queue wait + routing delay, and only the delay "
            "depends on the arm (queue spillovers hit both arms alike); resolution_s is "
            "uncensored",
            seg,
        )  # fmt: skip

    treated = tc["routing_v2__treated"].to_numpy()
    for outcome in ("handle_s", "wait_s", "csat"):
        _rows(
            rows, "routing_v2", outcome, "ATT", _diff(tc, "routing_v2", outcome),
            in_exp & answered & treated,
            "answered contacts of treatment customers during the experiment",
            f"mean over answered treated contacts of {outcome}(1) - {outcome}(0)",
        )  # fmt: skip

    # (b) assist: ATT over treated contacts, by cohort and event week, and per treated site-day
    active = contacts["assist_active"].to_numpy()
    d_h = _diff(tc, "assist", "handle_s")
    event = tc["assist__event_day"].to_numpy(dtype=float, na_value=np.nan)
    week = np.where(np.isfinite(event), np.floor(event / 7.0), -1).astype(int)
    _rows(
        rows, "assist", "handle_s", "ATT", d_h, active,
        "answered contacts handled by agents of sites where assist was live",
        "mean over answered contacts with assist_active of handle_s(1) - handle_s(0) "
        "(same agent, same contact)",
        {"cohort": _codes(tc["assist__cohort"].to_numpy()), "event_week": _codes(week),
         "site": _codes(contacts["site"].to_numpy())},
    )  # fmt: skip
    h0 = tc["assist__handle_s__0"].to_numpy(dtype=float)
    h1 = tc["assist__handle_s__1"].to_numpy(dtype=float)
    _rows(
        rows, "assist", "log_handle_s", "ATT", np.log(h1) - np.log(h0), active,
        "answered contacts handled by agents of sites where assist was live",
        "mean over answered contacts with assist_active of log handle_s(1) - log handle_s(0)",
        {"cohort": _codes(tc["assist__cohort"].to_numpy())},
    )  # fmt: skip
    day = ((contacts["created_at"] - pd.Timestamp(cfg.window_start)).dt.days).to_numpy()
    site = contacts["site"].to_numpy()
    for outcome, dd in (("handle_s", d_h), ("log_handle_s", np.log(h1) - np.log(h0))):
        m = active & np.isfinite(dd)
        sd = pd.DataFrame({"site": site[m], "day": day[m], "d": dd[m]})
        per = sd.groupby(["site", "day"])["d"].mean()
        rows.append(
            {
                "intervention": "assist",
                "outcome": outcome,
                "estimand": "ATT",
                "segment": "panel",
                "segment_value": "site_day",
                "value": float(per.mean()),
                "population": "treated site-days (site x day of contact creation, assist live)",
                "definition": f"mean over treated site-days of the site-day mean of {outcome}(1) - "
                f"{outcome}(0) over its assisted contacts (the estimand of a site x day panel)",
                "n": int(per.size),
            }
        )

    # (c) help bot
    bot = contacts["bot_used"].to_numpy()
    for outcome in POTENTIAL_OUTCOMES["help_bot"]:
        d = _diff(tc, "help_bot", outcome)
        definition = (
            f"mean of {outcome}(1) - {outcome}(0) with 1 = used the help bot before the contact; "
            "csat is the full (unsurveyed) potential score"
        )
        _rows(rows, "help_bot", outcome, "ATE", d, answered, "answered contacts", definition, seg)
        _rows(rows, "help_bot", outcome, "ATT", d, answered & bot,
              "answered contacts whose customer used the bot", definition)  # fmt: skip

    # (d) specialist
    spec = contacts["specialist"].to_numpy()
    complier = tc["specialist__complier"].to_numpy()
    for outcome in (*POTENTIAL_OUTCOMES["specialist"], "log_handle_s"):
        if outcome == "log_handle_s":
            d = np.log(tc["specialist__handle_s__1"].to_numpy(dtype=float)) - np.log(
                tc["specialist__handle_s__0"].to_numpy(dtype=float)
            )
        else:
            d = _diff(tc, "specialist", outcome)
        definition = (
            f"mean of {outcome}(1) - {outcome}(0) with 1 = routed to the specialist pool; under "
            "the realised arm the agent's factor (tenure, site, assist) is the actual one, under "
            "the other arm the mean factor of the pool that would have served the contact in the "
            "same hour; resolution_s uncensored"
        )
        _rows(rows, "specialist", outcome, "ATE", d, answered, "answered contacts", definition)
        _rows(rows, "specialist", outcome, "ATT", d, answered & spec,
              "answered contacts handled by a specialist", definition)  # fmt: skip
        _rows(
            rows, "specialist", outcome, "LATE", d, answered & complier,
            "compliers: answered contacts that go to a specialist if and only if overflowed "
            "(not escalated)",
            definition + "; instrument = overflow",
        )  # fmt: skip
    rows += _resolution_horizon_rows(tc, in_exp & answered)
    if priority is not None:
        rows.append(_priority_row(priority, cfg))
    out = pd.DataFrame(rows, columns=list(TRUTH_SCHEMA["truth_effects"]))
    out["n"] = out["n"].astype(np.int64)
    return out


HORIZON_48H_S = 48 * 3600.0


def _resolution_horizon_rows(tc: pd.DataFrame, mask: np.ndarray) -> list[dict[str, object]]:
    """Routing v2 on time to resolution at 48 h: RMST difference and P(resolved within 48 h)
    (uncensored potential outcomes; the estimands of a Kaplan-Meier analysis by arm).
    """
    y0 = tc["routing_v2__resolution_s__0"].to_numpy(dtype=float)
    y1 = tc["routing_v2__resolution_s__1"].to_numpy(dtype=float)
    ok = mask & np.isfinite(y0) & np.isfinite(y1)
    pop = "answered contacts created during the experiment"
    out = []
    for outcome, d, definition in (
        ("resolution_rmst_48h_s", np.minimum(y1, HORIZON_48H_S) - np.minimum(y0, HORIZON_48H_S),
         ("mean of min(resolution_s(1), 48 h) - min(resolution_s(0), 48 h): the difference in "
         "restricted mean time to resolution up to 48 h (uncensored potential outcomes)")),
        ("resolved_48h", (y1 <= HORIZON_48H_S).astype(float) - (y0 <= HORIZON_48H_S).astype(float),
         "P(resolution_s(1) <= 48 h) - P(resolution_s(0) <= 48 h) (uncensored potential outcomes)"),
    ):
        out.append({"intervention": "routing_v2", "outcome": outcome, "estimand": "ATE",
                    "segment": "all", "segment_value": "all", "value": float(d[ok].mean()),
                    "population": pop, "definition": definition, "n": int(ok.sum())})
    return out


def _priority_row(priority: pd.DataFrame, cfg: WorldConfig) -> dict[str, object]:
    """The priority lane's effect on follow-up hours at the cutoff (exact, from the model)."""
    mu = np.log(cfg.priority_followup_median_h)
    value = float(np.exp(mu + cfg.priority_followup_sigma**2 / 2) * np.expm1(cfg.priority_lane_effect))
    return {
        "intervention": "priority_lane",
        "outcome": "followup_h",
        "estimand": "ATE",
        "segment": "cutoff",
        "segment_value": f"{cfg.priority_cutoff:g}",
        "value": value,
        "population": f"answered contacts with priority_score = {cfg.priority_cutoff:g} (the cutoff)",
        "definition": (
            "E[followup_h(1) - followup_h(0) | priority_score = cutoff], exact from the generating "
            "model: exp(log(median) + sigma^2 / 2) * (exp(effect) - 1), the follow-up noise being "
            "independent of the score; the local estimand of a sharp regression discontinuity"
        ),
        "n": len(priority),
    }
