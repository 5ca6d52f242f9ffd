"""Study ``resolution-time``: how did routing v2 change time to resolution, queue by queue?

Time to resolution is right-censored: tickets still open at extraction have no resolution time
yet, only a lower bound (extraction minus creation). Dropping them removes the longest tickets,
more of them in the slower arm, and biases the comparison. The study fits a lognormal
accelerated-failure-time model with ``pm.Censored`` for open tickets, the treatment effect
partially pooled across queues, categorical covariates (priority, channel), and the convergence
gate. Uncensored rows enter as sufficient statistics per cell.

Effects are reported only on scales the follow-up supports (the mean is refused): the restricted
mean time to resolution up to a horizon inside the follow-up (RMST), quantile ratios the
Kaplan–Meier curves reach, and P(resolved by t). Two checks computed without the truth say when
the lognormal does not fit (then even those effects can be far off): the posterior predictive
coverage of the cells' open shares (``ppc_coverage``) and the model's survival curve against
Kaplan–Meier (``km_agreement``). On the synthetic world the report puts each effect next to the
truth on the same scale, computed from the uncensored potential outcomes.

Caveat: customers are the randomisation unit and some have several tickets; the model treats
tickets as independent given their cell, so its intervals are somewhat too narrow where
customers contact often.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from servicelab import Diagnostic, jsonable
from servicelab.results import markdown_table
from studies.runner import Param, Study, StudyContext, StudyOutput
from studies.runner.quality import QUALITY_PARAMS, Column, DataQuality, TableCheck
from studies.runner.report import effect_figure

_WINDOW = ("created_at >= (SELECT start_at FROM experiments WHERE experiment = 'routing-v2') "
           "AND created_at < (SELECT end_at FROM experiments WHERE experiment = 'routing-v2')")


def checks(params: dict) -> tuple[TableCheck, ...]:
    """What the model needs, checked on the warehouse before it runs (studies.runner.quality).

    resolved_at may be NULL (a ticket still open at extraction, the censoring the model handles),
    not infinite. The scope is the model's: answered contacts created during the experiment.
    """
    extra = (Column(params["extra_group"], "key"),) if params.get("extra_group") else ()
    contacts = TableCheck(
        "contacts",
        (Column("contact_id", "key"), Column("customer_id", "key"), Column("queue", "key"),
         Column("priority", "key"), Column("channel", "key"),
         Column("resolved_at", nullable=True, note="NULL while a ticket is open (censored)")),
        scope=f"NOT abandoned AND {_WINDOW}",
        scope_label="answered contacts created during routing-v2",
        scope_columns=("created_at", "abandoned"),
    )
    customers = TableCheck("customers", (Column("customer_id", "key"), *extra),
                           scope_label="all customers")
    assignments = TableCheck(
        "experiment_assignments", (Column("customer_id", "key"), Column("variant", "key")),
        scope="experiment = 'routing-v2'", scope_label="the assignments of routing-v2")
    return contacts, customers, assignments


if TYPE_CHECKING:
    from causal.bayes import HierarchicalEffects

_SQL = """
WITH meta AS (
    SELECT CAST(value AS TIMESTAMP) AS extraction_at FROM world_meta WHERE key = 'extraction_at'
),
exp AS (SELECT start_at, end_at FROM experiments WHERE experiment = 'routing-v2')
SELECT c.contact_id, c.queue, cu.region, cu.language, CAST(c.priority AS VARCHAR) AS priority,
       c.channel, CASE WHEN a.variant = 'treatment' THEN 1 ELSE 0 END AS treated,
       CASE WHEN c.resolved_at IS NULL THEN 0 ELSE 1 END AS event,
       date_diff('millisecond', c.created_at, coalesce(c.resolved_at, m.extraction_at)) / 1000.0
           AS duration_s,
       date_diff('millisecond', c.created_at, m.extraction_at) / 1000.0 AS horizon_s
FROM {contacts} c
JOIN {assignments} a ON a.customer_id = c.customer_id AND a.experiment = 'routing-v2'
JOIN {customers} cu ON cu.customer_id = c.customer_id, meta m, exp e
WHERE NOT c.abandoned AND c.created_at >= e.start_at AND c.created_at < e.end_at
ORDER BY c.contact_id
"""

_TRUTH_SQL = """
SELECT c.queue, count(*) AS n,
       avg(ln(t.routing_v2__resolution_s__1) - ln(t.routing_v2__resolution_s__0)) AS true_log_ratio,
       avg(least(t.routing_v2__resolution_s__1, $tau))
           - avg(least(t.routing_v2__resolution_s__0, $tau)) AS true_rmst_diff
FROM contacts c JOIN truth_contacts t USING (contact_id), experiments e
WHERE e.experiment = 'routing-v2' AND NOT c.abandoned
  AND c.created_at >= e.start_at AND c.created_at < e.end_at
GROUP BY c.queue ORDER BY c.queue
"""

# the same estimands as the model's overall effects, from the uncensored potential outcomes of the
# same contacts (report only: never used to estimate)
_TRUTH_SCALES_SQL = """
SELECT avg(least(t.routing_v2__resolution_s__1, $tau))
           - avg(least(t.routing_v2__resolution_s__0, $tau)) AS rmst_diff,
       quantile_cont(t.routing_v2__resolution_s__1, $q1)
           / quantile_cont(t.routing_v2__resolution_s__0, $q1) AS ratio_q1,
       quantile_cont(t.routing_v2__resolution_s__1, $q2)
           / quantile_cont(t.routing_v2__resolution_s__0, $q2) AS ratio_q2,
       avg(CAST(t.routing_v2__resolution_s__1 <= $t1 AS DOUBLE))
           - avg(CAST(t.routing_v2__resolution_s__0 <= $t1 AS DOUBLE)) AS p_resolved_t1,
       avg(CAST(t.routing_v2__resolution_s__1 <= $t2 AS DOUBLE))
           - avg(CAST(t.routing_v2__resolution_s__0 <= $t2 AS DOUBLE)) AS p_resolved_t2
FROM contacts c JOIN truth_contacts t USING (contact_id), experiments e
WHERE e.experiment = 'routing-v2' AND NOT c.abandoned
  AND c.created_at >= e.start_at AND c.created_at < e.end_at
"""


def build_spec(params: dict) -> HierarchicalEffects:
    """The model spec from the study parameters."""
    from causal.bayes import HierarchicalEffects, Sampler

    extra = (params["extra_group"],) if params["extra_group"] else ()
    return HierarchicalEffects(
        "duration_s", "treated", group="queue", extra_groups=extra,
        covariates=("priority", "channel"), likelihood="lognormal", event="event",
        horizon="horizon_s", centred=params["centred"],
        sampler=Sampler(draws=params["draws"], tune=params["tune"], chains=params["chains"],
                        target_accept=params["target_accept"], backend=params["backend"]),
        estimand=("CATE by queue (log ratio); overall: RMST difference up to tau (seconds), "
                  "quantile ratios, P(resolved by t)"),
        population="answered contacts created during the routing-v2 experiment")


def load_data(ctx: StudyContext) -> tuple[pd.DataFrame, DataQuality]:
    """Check the input tables (see ``CHECKS``), then read the answered contacts of the window."""
    dq = ctx.check_data(checks(ctx.params))
    frame = ctx.query(_SQL.format(contacts=dq.table("contacts"), customers=dq.table("customers"),
                                  assignments=dq.table("experiment_assignments")))
    return frame, dq


def run(ctx: StudyContext) -> StudyOutput:
    """Fit the censored hierarchical model and compare it with the drop-open analysis."""
    from causal.bayes import enforce

    ctx.stage("loading contacts")
    frame, dq = load_data(ctx)
    spec = build_spec(ctx.params)
    p = ctx.params
    ctx.stage(f"sampling the posterior ({p['chains']} chains x {p['tune']} tuning + {p['draws']} draws)")
    result = spec.fit(frame, rng=ctx.rng)
    diagnostics = list(result.diagnostics)
    if not result.converged:
        enforce(diagnostics, allow_unconverged=ctx.params["allow_unconverged"],
                what="resolution-time (censored hierarchical model)")
        diagnostics = [Diagnostic(d.name, "warning", d.message + " [allowed: allow_unconverged]",
                                  d.value) if d.status == "fail" else d for d in diagnostics]
    effects = result.effects.drop(columns=["n_total"])
    fu = result.prepared.followup
    naive_log = float(result.prepared.complete_pooling[0])
    mu_tau = (result.idata.posterior["mu_tau"].values.ravel()
              if "mu_tau" in result.idata.posterior else
              result.idata.posterior["tau"].values.reshape(-1, len(effects)).mean(axis=1))
    scales = result.scales.copy()
    truth = ctx.truth(_TRUTH_SQL, {"tau": fu.tau})
    truth_all = None
    if truth is not None:
        effects = effects.merge(truth[["queue", "true_log_ratio", "true_rmst_diff"]],
                                left_on="group", right_on="queue", how="left").drop(
                                    columns="queue")
        effects["tau_covers_truth"] = ((effects["tau_low"] <= effects["true_log_ratio"])
                                       & (effects["true_log_ratio"] <= effects["tau_high"]))
        effects["rmst_covers_truth"] = ((effects["rmst_diff_low"] <= effects["true_rmst_diff"])
                                        & (effects["true_rmst_diff"] <= effects["rmst_diff_high"]))
        qs = (*spec.quantiles, *spec.quantiles)[:2]
        tt = ctx.truth(_TRUTH_SCALES_SQL, {"tau": fu.tau, "q1": qs[0], "q2": qs[1],
                                           "t1": fu.resolved_by[0], "t2": fu.resolved_by[-1]})
        row = tt.iloc[0]
        truth_by_quantity = {scales.loc[0, "quantity"]: float(row["rmst_diff"])}
        for q, col in zip(qs, ("ratio_q1", "ratio_q2"), strict=True):
            truth_by_quantity[f"ratio of {q:.0%} quantiles (treatment / control)"] = float(row[col])
        for t, col in zip((fu.resolved_by[0], fu.resolved_by[-1]),
                          ("p_resolved_t1", "p_resolved_t2"), strict=True):
            truth_by_quantity[f"P(resolved by {t:.4g} s) difference"] = float(row[col])
        scales["truth"] = scales["quantity"].map(truth_by_quantity)
        scales["covers_truth"] = ((scales["ci_low"] <= scales["truth"])
                                  & (scales["truth"] <= scales["ci_high"]))
        truth_all = {
            "log_ratio": float(np.average(truth["true_log_ratio"], weights=truth["n"])),
            "rmst_diff_s": float(row["rmst_diff"]),
            "by_scale": truth_by_quantity}
    o = result.overall
    p_faster = float(np.mean(mu_tau < 0))
    rel = np.expm1(mu_tau)
    lo, hi = np.quantile(rel, [0.025, 0.975])
    tau_days = fu.tau / 86400
    headline = (f"routing v2 changed the mean time to resolution within the first "
                f"{tau_days:.1f} days (RMST) by {o.estimate / 3600:+.1f} h (95% interval "
                f"{o.ci_low / 3600:+.1f} to {o.ci_high / 3600:+.1f} h); a typical ticket "
                f"{rel.mean():+.1%} ({lo:+.1%} to {hi:+.1%}), P(faster) = {p_faster:.3f}")
    if truth_all is not None:
        headline += (f"; truth {truth_all['rmst_diff_s'] / 3600:+.1f} h and "
                     f"{np.expm1(truth_all['log_ratio']):+.1%}")
    loud = [d for d in result.diagnostics if d.name in ("ppc_coverage", "km_agreement")
            and d.status != "ok"]
    if loud:
        headline += " -- MODEL MISFIT: " + "; ".join(d.name for d in loud) + " (see checks)"
    comparison = pd.DataFrame([
        {"analysis": "censored hierarchical model", "log_ratio": float(mu_tau.mean())},
        {"analysis": "drop open tickets (naive)", "log_ratio": naive_log},
    ])
    if truth_all is not None:
        comparison.loc[len(comparison)] = {"analysis": "truth (world)",
                                           "log_ratio": truth_all["log_ratio"]}
    ctx.stage("posterior and prior predictive checks, figures and report")
    shrink_ax = result.plot()
    ppc_ax = result.plot_ppc(rng=ctx.rng)
    prior = spec.prior_predictive(frame, draws=300, rng=ctx.rng)
    prior_ax = prior.plot()
    checks = [d for d in result.diagnostics if d.name in ("follow_up", "ppc_coverage",
                                                          "km_agreement")]
    body = [
        f"**Question.** {STUDY.question}", "",
        (f"**Data.** {len(frame):,} answered contacts created during the experiment; "
         f"{int((frame['event'] == 0).sum()):,} ({(frame['event'] == 0).mean():.1%}) still open "
         f"at extraction (right-censored); the longest follow-up is {fu.max_time / 86400:.1f} "
         "days."), "",
        ("**Model.** log(time to resolution) ~ Normal(baseline[queue] + covariates + "
         "treated x effect[queue], sigma[queue]); open tickets enter through their survival "
         "probability (`pm.Censored`); queue effects are partially pooled."), "",
        ("**Reading the numbers.** The effects are on scales the follow-up supports: the "
         f"restricted mean time to resolution up to tau = {fu.tau:,.0f} s "
         f"({tau_days:.1f} days; {fu.tau_rule}), the ratio of quantiles both arms reach "
         "within tau, and the difference in P(resolved by t). The plain mean is not reported: "
         f"{result.summary().info['mean (refused)']}."), "",
        "**Model checks (computed without the truth).**", "",
        *[f"- **{d.status.upper()}** `{d.name}`: {d.message}" for d in checks], "",
        "### Overall effects on supported scales", "",
        markdown_table(scales), "",
        "### Censored model against dropping open tickets (log scale)", "",
        markdown_table(comparison), "",
        "### Effects by queue", "", markdown_table(effects[[c for c in effects.columns
                                                if c not in ("nopool_se",)]]), "",
        ("*tau: effect on log(time to resolution), i.e. exp(tau) - 1 is the relative change of "
         "a ticket's time within its stratum; rmst: restricted mean seconds up to tau; nopool: "
         "resolved tickets only, one queue at a time.*"),
    ]
    idata = result.idata
    return _with_frequentist_comparison(frame, StudyOutput(
        headline=headline,
        results=jsonable({"conclusion": {
                              "relative_mean": float(rel.mean()), "ci_low": float(lo),
                              "ci_high": float(hi), "p_faster": p_faster,
                              "effect": ("faster" if hi < 0 else "slower" if lo > 0
                                         else "no detectable change"),
                              "naive_relative": float(np.expm1(naive_log)),
                              "truth_relative": (None if truth_all is None
                                                 else float(np.expm1(truth_all["log_ratio"]))),
                              "covers_truth": (None if truth_all is None else bool(
                                  lo <= np.expm1(truth_all["log_ratio"]) <= hi)),
                              "converged": bool(result.converged)},
                          "model": result.to_dict(), "p_faster": p_faster,
                          "relative_effect": {"mean": float(rel.mean()), "ci_low": float(lo),
                                              "ci_high": float(hi)},
                          "rmst_horizon_s": fu.tau,
                          "scales": scales.to_dict(orient="records"),
                          "naive_drop_open": {"log_ratio": naive_log},
                          "truth": truth_all,
                          "prior_predictive": [d.to_dict() for d in prior.diagnostics],
                          "data_quality": dq.to_dict()}),
        tables={"effects": effects, "comparison": comparison, "scales": scales},
        figures={"effects_by_queue": effect_figure(
                     effects, label="group", estimate="tau_mean", low="tau_low", high="tau_high",
                     truth="true_log_ratio" if "true_log_ratio" in effects else None,
                     xlabel="effect on log(time to resolution): exp(effect) - 1 is the relative "
                            "change", title="Routing v2: effect on time to resolution by queue "
                            "(posterior mean, 95% interval)"),
                 "shrinkage": shrink_ax.figure, "ppc": ppc_ax.figure,
                 "prior_predictive": prior_ax.figure},
        report_md="\n".join(body),
        diagnostics=(*diagnostics, *prior.diagnostics, *dq.diagnostics),
        artifacts={"posterior.nc": lambda path: _save(idata, path)},
    ))


def _save(idata, path: Path) -> None:
    idata.to_netcdf(str(path))


# --- frequentist comparison (issue 11, causal.survival) -------------------------------------------
# The same question answered without priors: per queue, a censored log-normal AFT model (the
# likelihood of the Bayesian model, fitted by maximum likelihood with model-based SEs; tickets
# treated as independent, like the Bayesian model) and the Kaplan-Meier median ratio of the arms.
def frequentist_by_queue(frame: pd.DataFrame, ci_level: float = 0.95) -> pd.DataFrame:
    """Per queue: log-normal AFT log time ratio of ``treated`` (with priority and channel) and
    the Kaplan-Meier median ratio treatment / control (lifelines takes about 10 s per 50,000
    tickets, so there is no pooled fit on top).
    """
    from causal.survival import AFT, KaplanMeier

    rows = []
    for q, sub in frame.groupby("queue", sort=True):
        covs = [c for c in ("treated", "priority", "channel") if c == "treated" or sub[c].nunique() > 1]
        # model-based SEs: lifelines' sandwich for AFT models costs minutes at this size
        aft = AFT("duration_s", "event", covs, distribution="lognormal", ci_level=ci_level).fit(sub)
        row = aft.to_frame().loc["treated"]
        med = KaplanMeier("duration_s", "event", group="treated").fit(sub).median().set_index("group")
        rows.append({"group": q, "n": len(sub), "aft_log_ratio": float(row["coef"]),
                     "aft_low": float(np.log(row["ci_low"])), "aft_high": float(np.log(row["ci_high"])),
                     "km_median_ratio": float(med.loc[1, "median"] / med.loc[0, "median"])})
    return pd.DataFrame(rows)


def _with_frequentist_comparison(frame: pd.DataFrame, out: StudyOutput) -> StudyOutput:
    """The study output with the Bayesian-vs-frequentist table added."""
    from dataclasses import replace

    freq = frequentist_by_queue(frame)
    eff = out.tables["effects"]
    keep = [c for c in ("group", "tau_mean", "tau_low", "tau_high", "true_log_ratio") if c in eff.columns]
    table = freq.merge(eff[keep], on="group", how="left")
    md = ["", "### Bayesian and frequentist answers side by side", "",
          ("Per queue: the posterior mean and 95% interval of tau (log time ratio) next to the "
           "maximum-likelihood log-normal AFT estimate (same censored likelihood, no priors, "
           "model-based SEs) and the Kaplan-Meier median ratio treatment / control. With thousands of tickets per "
           "queue the two should agree; a gap points at the priors or the pooling."), "",
          markdown_table(table)]
    results = dict(out.results)
    results["frequentist"] = jsonable(table.to_dict(orient="records"))
    return replace(out, report_md=out.report_md + "\n" + "\n".join(md), results=results,
                   tables={**out.tables, "frequentist": table})
# --- end frequentist comparison -------------------------------------------------------------------



def _backend_installed(backend: str) -> bool:
    """``backend`` is checked before any data is read: nutpie is an optional package."""
    import importlib.util

    return backend != "nutpie" or importlib.util.find_spec("nutpie") is not None


STUDY = Study(
    name="resolution-time",
    title="Routing v2 and time to resolution: a censored hierarchical model",
    question=("How much did routing v2 change time to resolution in each queue, counting the "
              "tickets still open at extraction, and how likely is it that it helps?"),
    params=(
        Param("draws", int, 1000, "posterior draws per chain", min=10),
        Param("tune", int, 1000, "tuning steps per chain", min=0),
        Param("chains", int, 2, "chains (sampled one after the other; R-hat needs 2)", min=2),
        Param("target_accept", float, 0.95, "NUTS target acceptance (raise on divergences)", min=0,
              max=1, exclusive_min=True, exclusive_max=True),
        Param("backend", str, "pymc", "NUTS implementation", choices=("pymc", "nutpie"),
              check=_backend_installed, check_message="'pymc', or 'nutpie' once the optional nutpie "
              "package is installed (uv pip install nutpie)"),
        Param("centred", bool, True,
              "centred queue effects: right when every queue has thousands of contacts, as here "
              "(set false for many small queues)"),
        Param("extra_group", str, "", "second pooled grouping ('' for none)",
              choices=("", "region", "language")),
        Param("allow_unconverged", bool, False,
              "report numbers even if the convergence gate fails (as warnings)"),
        *QUALITY_PARAMS,
    ),
    default_seed=20260105,
    run=run,
    tables={
        "contacts": ("contact_id", "customer_id", "created_at", "resolved_at", "abandoned",
                     "queue", "priority", "channel"),
        "customers": ("customer_id", "region", "language"),
        "experiment_assignments": ("experiment", "customer_id", "variant"),
        "experiments": ("experiment", "start_at", "end_at"),
        "world_meta": ("key", "value"),
    },
)
