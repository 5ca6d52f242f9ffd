"""Flagship study ``routing-ab``: did routing v2 improve service for customers?

The routing-v2 experiment randomised **customers** 50/50. Outcomes are measured on tickets, so every
per-ticket metric (handle time per answered contact, FCR rate, reopen rate, CSAT per response) is a
ratio of customer-level sums analysed by the delta method at the randomisation unit; analysing tickets
as if independent would give intervals that are too narrow. CUPED uses each customer's pre-period
(the experiment's first days are excluded) to cut variance. The sample-ratio check and pre-period
balance are shown loudly. On the synthetic world the report puts each estimate next to the truth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from servicelab.results import format_number, jsonable, markdown_table
from studies.runner import Param, Study, StudyContext, StudyOutput
from studies.runner.quality import QUALITY_PARAMS, Column, DataQuality, TableCheck

if TYPE_CHECKING:
    from causal.experiments import Experiment

EXPERIMENT = "routing-v2"

# metric name -> (label, world outcome with a truth row, unit, higher is better)
METRICS: dict[str, tuple[str, str | None, str, bool]] = {
    "handle_s": ("handle time per answered contact", "handle_s", "s", False),
    "wait_s": ("wait per answered contact", "wait_s", "s", False),
    "fcr": ("first-contact resolution rate", "fcr", "share", True),
    "resolved_48h": ("resolved within 48 h (contacts created >= 48 h before extraction)", None, "share", True),
    "csat": ("CSAT per survey response (1-5)", "csat", "points", True),
    "reopened": ("reopen rate (contacts old enough for a reopen to be seen)", "reopened", "share", False),
}

# guardrail non-inferiority margins, absolute (in the metric's own units), not relative:
CSAT_MARGIN = 0.1  # CSAT points per survey response (1-5 scale)
REOPEN_MARGIN = 0.01  # one percentage point of reopen rate

# What the analysis needs, and when (checked on the warehouse before the analysis; see
# studies.runner.quality). csat may be NULL (no survey response; the metric is per response) and
# resolved_at may be NULL (a ticket still open: resolved_48h counts it as not resolved, eligibility
# is by age); their NULLs are counted and shown, and an infinite resolved_at is an error.
CHECKS = (
    TableCheck(
        "contacts",
        (
            Column("customer_id", "key"),
            Column("abandoned", "key"),
            Column("handle_s", required_when="NOT abandoned", note="NULL for abandoned contacts"),
            Column("wait_s", required_when="NOT abandoned"),
            Column("fcr", required_when="NOT abandoned", note="NULL for abandoned contacts"),
            Column("reopened", required_when="NOT abandoned AND resolved_at IS NOT NULL",
                   note="NULL while a ticket is open"),
            Column("resolved_at", required_when="NOT abandoned", nullable=True,
                   note="NULL while a ticket is open"),
            Column("csat", required_when="NOT abandoned", nullable=True,
                   note="NULL without a survey response"),
        ),
        scope="created_at < (SELECT end_at FROM experiments WHERE experiment = ?)",
        scope_params=(EXPERIMENT,),
        scope_label=f"contacts created before the end of {EXPERIMENT} (its pre-period and window)",
        scope_columns=("created_at",),
    ),
    TableCheck(
        "customers",
        (
            Column("customer_id", "key"),
            Column("pre_contacts", "key"),
            Column("pre_handle_s", required_when="pre_contacts > 0",
                   note="NULL for customers without pre-period contacts"),
        ),
        scope_label="all customers",
    ),
    TableCheck(
        "experiment_assignments",
        (Column("customer_id", "key"), Column("variant", "key")),
        scope="experiment = ?",
        scope_params=(EXPERIMENT,),
        scope_label=f"the assignments of {EXPERIMENT}",
    ),
)

# Each ratio's numerator and denominator are taken over the same contacts: a sum over the non-NULL
# values and their count (a contact never enters a denominator with its NULL summed as 0). The
# tables are read through the data-quality filter, so those NULLs are dropped and counted anyway;
# coalesce(sum, 0) below only turns "no contact of that kind" into 0/0, neutral in the delta method.
_CUSTOMERS_SQL = """
WITH exp AS (
    SELECT start_at, end_at FROM experiments WHERE experiment = ?
),
extraction AS (
    SELECT max(created_at) AS last_created FROM contacts
),
during AS (
    SELECT c.customer_id,
           count(*)                                                     AS contacts,
           count(*) FILTER (WHERE NOT c.abandoned)                      AS answered,
           count(c.wait_s) FILTER (WHERE NOT c.abandoned)               AS wait_n,
           coalesce(sum(c.wait_s) FILTER (WHERE NOT c.abandoned), 0)    AS wait_s_sum,
           count(c.handle_s) FILTER (WHERE NOT c.abandoned)             AS handle_n,
           coalesce(sum(c.handle_s) FILTER (WHERE NOT c.abandoned), 0)  AS handle_s_sum,
           count(c.fcr) FILTER (WHERE NOT c.abandoned)                  AS fcr_n,
           count(*) FILTER (WHERE c.fcr AND NOT c.abandoned)            AS fcr_sum,
           count(*) FILTER (WHERE c.reopened AND NOT c.abandoned
                              AND c.created_at <= x.last_created - to_days(?))        AS reopened_sum,
           count(*) FILTER (WHERE NOT c.abandoned
                              AND c.created_at <= x.last_created - to_days(?))        AS reopen_eligible,
           coalesce(sum(c.csat), 0)                                     AS csat_sum,
           count(c.csat)                                                AS csat_n,
           count(*) FILTER (WHERE NOT c.abandoned
                              AND c.created_at <= x.last_created - INTERVAL 48 HOUR) AS eligible_48h,
           count(*) FILTER (WHERE NOT c.abandoned
                              AND c.created_at <= x.last_created - INTERVAL 48 HOUR
                              AND c.resolved_at IS NOT NULL
                              AND c.resolved_at <= c.created_at + INTERVAL 48 HOUR) AS resolved_48h_sum
    FROM {contacts} c, exp e, extraction x
    WHERE c.created_at >= e.start_at AND c.created_at < e.end_at
    GROUP BY c.customer_id
),
pre AS (
    SELECT c.customer_id,
           count(c.handle_s) FILTER (WHERE NOT c.abandoned)             AS pre_answered,
           coalesce(sum(c.handle_s) FILTER (WHERE NOT c.abandoned), 0)  AS pre_handle_s_sum,
           count(c.wait_s) FILTER (WHERE NOT c.abandoned)               AS pre_wait_n,
           coalesce(sum(c.wait_s) FILTER (WHERE NOT c.abandoned), 0)    AS pre_wait_s_sum
    FROM {contacts} c, exp e
    WHERE c.created_at < e.start_at
    GROUP BY c.customer_id
)
SELECT a.customer_id, a.variant, cu.tier, cu.region, cu.language,
       d.contacts, d.answered, d.handle_n, d.wait_n, d.fcr_n, d.wait_s_sum, d.handle_s_sum,
       d.fcr_sum, d.reopened_sum, d.csat_sum, d.csat_n, d.reopen_eligible, d.eligible_48h,
       d.resolved_48h_sum,
       -- pre-period covariates: the 90 days before the window (customers table) plus the window's
       -- own pre-experiment days; a customer without history gets 0/0 (neutral in the delta method)
       coalesce(p.pre_answered, 0) + cu.pre_contacts                           AS pre_answered,
       coalesce(p.pre_handle_s_sum, 0)
         + CASE WHEN cu.pre_contacts = 0 THEN 0
                ELSE cu.pre_handle_s * cu.pre_contacts END                     AS pre_handle_s_sum,
       coalesce(p.pre_wait_n, 0)                                               AS pre_window_answered,
       coalesce(p.pre_wait_s_sum, 0)                                           AS pre_wait_s_sum
FROM {assignments} a
JOIN {customers} cu USING (customer_id)
JOIN during d USING (customer_id)
LEFT JOIN pre p USING (customer_id)
WHERE a.experiment = ?
ORDER BY a.customer_id
"""

_TRUTH_SQL = """
SELECT outcome, value, definition FROM truth_effects
WHERE intervention = 'routing_v2' AND estimand = 'ATE' AND segment = 'all'
"""


def build_experiment(alpha: float, segment: str | None, cuped: bool) -> Experiment:
    """The routing-v2 analysis spec: primary metrics, guardrails, CUPED, segment slicing."""
    from causal.experiments import Experiment, RatioOfMeans

    cov: dict[str, Any] = (
        {"covariate": "pre_handle_s_sum", "covariate_denominator": "pre_answered"} if cuped else {}
    )
    wait_cov: dict[str, Any] = (
        {"covariate": "pre_wait_s_sum", "covariate_denominator": "pre_window_answered"} if cuped else {}
    )
    return Experiment(
        handle_s=RatioOfMeans("handle_s_sum", "handle_n", higher_is_better=False, **cov),
        wait_s=RatioOfMeans("wait_s_sum", "wait_n", higher_is_better=False, **wait_cov),
        fcr=RatioOfMeans("fcr_sum", "fcr_n"),
        resolved_48h=RatioOfMeans("resolved_48h_sum", "eligible_48h"),
        csat=RatioOfMeans("csat_sum", "csat_n", higher_is_better=True, margin=CSAT_MARGIN,
                            relative_margin=False),
        reopened=RatioOfMeans("reopened_sum", "reopen_eligible", higher_is_better=False,
                              margin=REOPEN_MARGIN, relative_margin=False),
        variant="variant",
        control="control",
        arms=("control", "treatment"),
        guardrails=("csat", "reopened"),
        # pre-period balance is checked with or without CUPED
        balance=("pre_answered", "pre_handle_s_sum"),
        segment=segment,
        ci_level=1 - alpha,
        name=EXPERIMENT,
        unit="customer",
    )


def load_data(ctx: StudyContext) -> tuple[pd.DataFrame, DataQuality]:
    """Check the input tables (NULL / non-finite / empty, see ``CHECKS``), then build the
    customer-level frame from the valid rows.
    """
    dq = ctx.check_data(CHECKS)
    maturity = ctx.params["reopen_maturity_days"]
    sql = _CUSTOMERS_SQL.format(contacts=dq.table("contacts"), customers=dq.table("customers"),
                                assignments=dq.table("experiment_assignments"))
    frame = ctx.query(sql, [EXPERIMENT, maturity, maturity, EXPERIMENT])
    return frame, dq


def run(ctx: StudyContext) -> StudyOutput:
    """Analyse the routing-v2 experiment (see the module docstring)."""
    from causal.experiments import ALL

    ctx.stage("loading the experiment's customers")
    frame, dq = load_data(ctx)
    segment = ctx.params["segment"] or None
    exp = build_experiment(ctx.params["alpha"], segment, ctx.params["cuped"])
    ctx.stage("analysing the experiment")
    result = exp.analyze(frame, rng=ctx.rng)
    table = result.table
    overall = table[table["segment"] == ALL].copy()
    overall.insert(overall.columns.get_loc("metric") + 1, "direction",
                   overall["metric"].map(result.direction_label))

    truth = ctx.truth(_TRUTH_SQL)
    truth_map: dict[str, float] = {}
    if truth is not None:
        truth_map = dict(zip(truth["outcome"], truth["value"], strict=True))
        overall["truth"] = [
            truth_map.get(METRICS[m][1]) if METRICS[m][1] else None for m in overall["metric"]
        ]
        overall["covers_truth"] = [
            (None if pd.isna(t) else bool(lo <= t <= hi))
            for t, lo, hi in zip(overall["truth"], overall["ci_low"], overall["ci_high"], strict=True)
        ]

    primary = ctx.params["primary"]
    p = overall.set_index("metric").loc[primary]
    headline = (
        f"routing v2 changed {METRICS[primary][0]} by {p['effect']:+.2f} {METRICS[primary][2]} "
        f"({p['rel_effect'] * 100:+.1f}%), {round((1 - ctx.params['alpha']) * 100)}% CI "
        f"[{p['ci_low']:+.2f}, {p['ci_high']:+.2f}]"
    )
    if truth is not None and METRICS[primary][1] in truth_map:
        headline += f"; true effect {truth_map[METRICS[primary][1]]:+.2f}"

    decision = result.decision_record(primary)
    level = f"{1 - ctx.params['alpha']:.0%}"
    body = [
        f"**Question.** {STUDY.question}",
        "",
        f"**Decision:** {decision['text']}",
        "",
        f"![Effects of routing v2 with {level} intervals](figures/effects.png)",
        "",
        (
            "**Design.** Customers were randomised 50/50 to routing v2. Ticket-level outcomes are ratios of "
            "customer-level sums, analysed by the delta method at the customer (the randomisation unit). "
            "**Estimand:** the direct effect of routing v2 under the experiment's 50/50 mix (treated "
            "against control customers sharing one agent pool). For wait, service level and abandonment "
            "it is not the effect of launching to everyone: see the routing-design study for the "
            "global effect and the design that recovers it."
        )
        + (
            " CUPED adjusts each metric with the customer's pre-period value (theta pooled over arms)."
            if ctx.params["cuped"]
            else ""
        ),
        "",
        (
            f"**Guardrails.** Non-inferiority against absolute margins: CSAT may not fall by more than "
            f"{CSAT_MARGIN:g} points per response, and the reopen rate may not rise by more than "
            f"{REOPEN_MARGIN * 100:g} percentage point (one-sided test at alpha/2)."
        ),
        "",
        "### Effects (all customers)",
        "",
        markdown_table(_effects_view(overall, level)),
        "",
        ("*effect = treatment - control in the metric's unit; relative = treatment / control - 1; "
         "p (adj.): Holm over the primary metrics, unadjusted for guardrails. All columns: "
         "`tables/overall.parquet`; by segment: `tables/effects.parquet`.*"),
    ]
    if truth is not None:
        body += ["", ("*Truth: the synthetic world's sample average treatment effect per contact "
                 "(`truth_effects`). CSAT truth is over all answered contacts (as if everyone answered the "
                 "survey); the estimate is over responders, so the two can differ when response depends on "
                 "the experience.*")]
    if segment:
        seg = table[(table["segment"] != ALL) & (table["metric"] == primary)]
        body += ["", f"### {METRICS[primary][0]} by {segment}", "",
                 markdown_table(seg[["segment", "n_control", "n_treatment", "effect", "ci_low",
                                     "ci_high", "pvalue_adj"]])]
    fig = result.forest_plot(
        truth={m: truth_map.get(METRICS[m][1]) if METRICS[m][1] else None for m in METRICS},
        units={m: _UNIT_LABEL[METRICS[m][2]] for m in METRICS},
        labels={m: f"{m}" for m in METRICS},
    )
    return _with_time_to_resolution(ctx, StudyOutput(
        headline=headline,
        results=jsonable({"decision": decision, "experiment": result.to_dict(),
                          "overall": overall.to_dict(orient="records"),
                          "data_quality": dq.to_dict()}),
        tables={"effects": table, "overall": overall, "balance": result.balance},
        figures={"effects": fig},
        report_md="\n".join(body),
        diagnostics=tuple(result.diagnostics) + dq.diagnostics,
    ), dq)


_UNIT_LABEL = {"s": "seconds per contact", "share": "share of contacts, 0-1",
               "points": "CSAT points per response"}


def _effects_view(overall: pd.DataFrame, level: str) -> pd.DataFrame:
    """The overall effects for the report: one row per metric, at most ten columns."""
    rows = []
    for r in overall.itertuples(index=False):
        row = {
            "metric": f"{r.metric} ({METRICS[r.metric][2]}"
                      + ("; guardrail)" if r.role == "guardrail" else ")"),
            "direction": r.direction,
            "control": r.mean_control,
            "treatment": r.mean_treatment,
            "effect": r.effect,
            f"{level} CI": f"[{format_number(r.ci_low)}, {format_number(r.ci_high)}]",
            "relative": f"{100 * r.rel_effect:+.1f}%" if pd.notna(r.rel_effect) else None,
            "p (adj.)": format_number(r.pvalue_adj, "pvalue"),
        }
        if "truth" in overall.columns:
            row["truth"] = r.truth
            row["covers truth"] = {True: "yes", False: "no"}.get(r.covers_truth)
        rows.append(row)
    return pd.DataFrame(rows)


# --- time to resolution with censoring handled (issue 11, causal.survival) ------------------------
# Ticket-level Kaplan-Meier curves by arm: tickets still open when the data were cut are censored,
# not dropped, so every contact counts (no "old enough" filter). Customers were randomised, so the
# intervals resample whole customers (cluster bootstrap; Cox hazard ratio: sandwich
# clustered by customer).
_TTR_SQL = """
SELECT c.customer_id,
       CASE WHEN a.variant = 'treatment' THEN 1 ELSE 0 END                   AS treated,
       CASE WHEN c.resolved_at IS NOT NULL AND c.resolved_at <= e.end_at THEN 1 ELSE 0 END AS event,
       date_diff('millisecond', c.created_at,
                 CASE WHEN c.resolved_at IS NOT NULL AND c.resolved_at <= e.end_at
                      THEN c.resolved_at ELSE e.end_at END) / 3600000.0     AS duration_h
FROM {contacts} c
JOIN {assignments} a ON a.customer_id = c.customer_id AND a.experiment = ?
JOIN experiments e ON e.experiment = a.experiment
WHERE NOT c.abandoned AND c.created_at >= e.start_at AND c.created_at < e.end_at
ORDER BY c.contact_id
"""
_TTR_TRUTH_SQL = """
SELECT outcome, value FROM truth_effects
WHERE intervention = 'routing_v2' AND estimand = 'ATE' AND segment = 'all'
  AND outcome IN ('resolution_rmst_48h_s', 'resolved_48h')
"""
TTR_HORIZON_H = 48.0
TTR_BOOT = 200


def time_to_resolution(ctx: StudyContext, dq: DataQuality | None = None):
    """RMST at 48 h, P(resolved within 48 h), hazard ratio and median ratio by arm, with truth.

    The contacts and assignments are read through the data-quality filter ``dq`` (the rows the
    study's NULL rule dropped are dropped here too).
    """
    from causal.survival import SurvivalEffect

    tables = ({"contacts": dq.table("contacts"), "assignments": dq.table("experiment_assignments")}
              if dq is not None else {"contacts": "contacts", "assignments": "experiment_assignments"})
    frame = ctx.query(_TTR_SQL.format(**tables), [EXPERIMENT])
    spec = SurvivalEffect("duration_h", "event", "treated", horizon=TTR_HORIZON_H,
                          cluster="customer_id", n_boot=TTR_BOOT, ci_level=1 - ctx.params["alpha"],
                          population="answered contacts created during the experiment")
    res = spec.fit(frame, rng=ctx.rng)
    table = res.to_frame()[["effect", "estimate", "ci_low", "ci_high", "pvalue", "method"]]
    truth = ctx.truth(_TTR_TRUTH_SQL)
    if truth is not None:
        tm = dict(zip(truth["outcome"], truth["value"], strict=True))
        values = {"rmst_diff": tm.get("resolution_rmst_48h_s", float("nan")) / 3600.0,
                  f"p_event_diff@{TTR_HORIZON_H:g}": tm.get("resolved_48h", float("nan"))}
        table["truth"] = table["effect"].map(values)
        table["covers_truth"] = [None if pd.isna(t) else bool(lo <= t <= hi) for t, lo, hi in
                                 zip(table["truth"], table["ci_low"], table["ci_high"], strict=True)]
    return res, frame, table


def _with_time_to_resolution(ctx: StudyContext, out: StudyOutput, dq: DataQuality | None = None
                             ) -> StudyOutput:
    """The study output with the time-to-resolution section added (report, results, table, figure)."""
    from dataclasses import replace

    ctx.stage("time to resolution (Kaplan-Meier by arm, cluster bootstrap)")
    res, frame, table = time_to_resolution(ctx, dq)
    ax = res.plot()
    ax.set_xlim(0, 4 * TTR_HORIZON_H)
    ax.set_xlabel("hours since the contact was created")
    ax.set_ylabel("P(resolved by t)")
    ax.figure.set_size_inches(7, 4)
    md = [
        "", "### Time to resolution, censoring handled (Kaplan-Meier by arm)", "",
        (f"{len(frame):,} answered contacts, {int((frame['event'] == 0).sum()):,} still open when the "
         "data were cut (censored, not dropped). RMST = mean hours open counted up to 48 h; "
         f"intervals: {res.inference} ({TTR_BOOT} replicates), hazard ratio by Cox with SEs "
         "clustered by customer (> 1 = resolved sooner)."), "",
        table.pipe(markdown_table),
    ]
    results = dict(out.results)
    results["time_to_resolution"] = jsonable({**res.to_dict(), "table": table.to_dict(orient="records")})
    return replace(out, report_md=out.report_md + "\n" + "\n".join(md), results=results,
                   tables={**out.tables, "time_to_resolution": table},
                   figures={**out.figures, "time_to_resolution": ax.figure},
                   diagnostics=(*out.diagnostics, *res.diagnostics))
# --- end time to resolution ---------------------------------------------------------------------


STUDY = Study(
    name="routing-ab",
    title="Routing v2: customer-randomised experiment",
    question="Does routing v2 reduce handle time and wait without hurting CSAT or reopen rate?",
    params=(
        Param("alpha", float, 0.05, "two-sided test level (CI level = 1 - alpha)",
              min=0, max=1, exclusive_min=True, exclusive_max=True),
        Param("cuped", bool, True, "CUPED variance reduction with pre-period covariates"),
        Param("segment", str, "tier", "segment column for the segment view ('' for none)",
              choices=("", "tier", "region", "language")),
        Param("primary", str, "handle_s", "primary metric", choices=tuple(METRICS)),
        Param("reopen_maturity_days", int, 21,
              "reopen rate uses contacts created at least this many days before extraction "
              "(a reopen needs time to happen; open tickets have no reopen yet)", min=0),
        *QUALITY_PARAMS,
    ),
    default_seed=20260105,
    run=run,
    tables={
        "contacts": ("customer_id", "created_at", "abandoned", "wait_s", "handle_s", "fcr", "reopened",
                     "csat", "resolved_at"),
        "customers": ("customer_id", "tier", "region", "language", "pre_contacts", "pre_handle_s"),
        "experiment_assignments": ("experiment", "customer_id", "variant"),
        "experiments": ("experiment", "start_at", "end_at"),
    },
)
