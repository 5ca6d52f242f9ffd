"""Study ``assist-rollout``: what did the agent-assist tool do to handle time?

Assist went live site by site (staggered adoption), with never-treated sites and one early
single-site pilot. The study builds a site x day panel of mean handle time per answered contact
and estimates

- the ATT over treated site-days with the Borusyak–Jaravel–Spiess imputation estimator (valid
  when effects grow with exposure), next to naive two-way fixed effects, which is biased here,
  with an event-study plot and a pre-trend test;
- the pilot site's effect with a synthetic control built from sites not yet treated during the
  pilot's window (convex weights; optionally the Bayesian variant through CausalPy), with the
  pre-period RMSPE, donor weights, the placebo-in-space rank p-value and the conformal interval
  (Chernozhukov, Wüthrich & Zhu 2021) with its meaning; the Bayesian variant goes through the
  convergence gate (``allow_unconverged`` to report it anyway, as warnings).
"""

from __future__ import annotations

import pandas as pd

from servicelab.results import Diagnostic, format_number, jsonable, markdown_table
from studies.runner import Param, Study, StudyContext, StudyOutput
from studies.runner.quality import QUALITY_PARAMS, Column, DataQuality, TableCheck
from studies.runner.report import effect_figure

# What the analysis needs (checked on the warehouse before it runs; see studies.runner.quality):
# an answered contact without a site or a handle time is counted and fails the run (or is dropped
# with drop_missing=true), never silently left out of a site-day mean. A NULL launch date is a
# never-treated site, by design.
CHECKS = (
    TableCheck(
        "contacts",
        (
            Column("created_at", "key"),
            Column("abandoned", "key"),
            Column("site", "key", required_when="NOT abandoned",
                   note="NULL for abandoned contacts"),
            Column("handle_s", required_when="NOT abandoned", note="NULL for abandoned contacts"),
        ),
        scope_label="all contacts",
    ),
    TableCheck("assist_rollout", (Column("site", "key"),), scope_label="all sites"),
)

# day 0 is the first day of the data (all contacts, valid or not), the same origin as the rollout
_PANEL_SQL = """
WITH w AS (SELECT min(created_at) AS t0 FROM contacts)
SELECT c.site,
       date_diff('day', date_trunc('day', w.t0), date_trunc('day', c.created_at)) AS day,
       avg(c.handle_s) AS handle_s,
       count(*) AS contacts
FROM {contacts} c, w
WHERE NOT c.abandoned
GROUP BY 1, 2
ORDER BY 1, 2
"""

_ROLLOUT_SQL = """
WITH w AS (SELECT min(created_at) AS t0 FROM contacts)
SELECT r.site,
       date_diff('day', date_trunc('day', w.t0), r.launched_at) AS launch_day
FROM {assist_rollout} r, w
ORDER BY r.site
"""

# the panel estimand by event day: mean over treated site-days of the site-day mean effect on its
# assisted contacts (the same day origin and launch days as the study's queries)
_EVENT_TRUTH_SQL = """
WITH w AS (SELECT min(created_at) AS t0 FROM contacts),
r AS (
    SELECT site, date_diff('day', date_trunc('day', w.t0), launched_at) AS launch_day
    FROM assist_rollout, w WHERE launched_at IS NOT NULL
),
sd AS (
    SELECT c.site,
           date_diff('day', date_trunc('day', w.t0), date_trunc('day', c.created_at)) AS day,
           avg(t.assist__handle_s__1 - t.assist__handle_s__0) AS effect
    FROM contacts c JOIN truth_contacts t USING (contact_id), w
    WHERE NOT c.abandoned AND c.assist_active
    GROUP BY 1, 2
)
SELECT sd.day - r.launch_day AS rel_time, avg(sd.effect) AS truth, count(*) AS site_days
FROM sd JOIN r USING (site)
WHERE sd.day >= r.launch_day
GROUP BY 1 ORDER BY 1
"""

# the pilot site's true counterfactual path: its daily mean handle time without assist
_COUNTERFACTUAL_SQL = """
WITH w AS (SELECT min(created_at) AS t0 FROM contacts)
SELECT date_diff('day', date_trunc('day', w.t0), date_trunc('day', c.created_at)) AS day,
       avg(CASE WHEN c.assist_active THEN t.assist__handle_s__0 ELSE c.handle_s END) AS handle_s_0
FROM contacts c JOIN truth_contacts t USING (contact_id), w
WHERE NOT c.abandoned AND c.site = ?
GROUP BY 1 ORDER BY 1
"""

_TRUTH_SQL = """
SELECT segment, segment_value, value, population FROM truth_effects
WHERE intervention = 'assist' AND outcome = 'handle_s'
"""



def load_data(ctx: StudyContext) -> tuple[pd.DataFrame, pd.DataFrame, DataQuality]:
    """Check the input tables (see ``CHECKS``), then build the site x day panel and the rollout."""
    dq = ctx.check_data(CHECKS)
    panel = ctx.query(_PANEL_SQL.format(contacts=dq.table("contacts")))
    rollout = ctx.query(_ROLLOUT_SQL.format(assist_rollout=dq.table("assist_rollout")))
    panel = panel.merge(rollout, on="site", how="left")
    panel["launch_day"] = panel["launch_day"].astype(float)
    return panel, rollout, dq


def run(ctx: StudyContext) -> StudyOutput:
    """Staggered DiD on the site x day panel, then a synthetic control for the pilot."""
    from causal.bayes import enforce
    from causal.quasi import BayesianSyntheticControl, StaggeredDiD, SyntheticControl

    p = ctx.params
    ctx.stage("loading the site x day panel")
    panel, rollout, dq = load_data(ctx)
    ctx.stage(f"staggered DiD ({p['n_boot']} site bootstrap replications)")
    stag = StaggeredDiD("handle_s", "site", "day", "launch_day", pre_periods=p["pre_periods"],
                        n_boot=p["n_boot"], population="treated site-days").fit(panel,
                                                                               rng=ctx.rng)
    # the pilot: the earliest-launching site if it launched alone
    launches = rollout.dropna(subset=["launch_day"])
    first = launches["launch_day"].min()
    pilot_sites = launches.loc[launches["launch_day"] == first, "site"].tolist()
    synth, bayes, sc_note = None, None, ""
    if len(pilot_sites) == 1:
        pilot = pilot_sites[0]
        nxt = launches.loc[launches["launch_day"] > first, "launch_day"].min()
        window = panel[panel["day"] < nxt]
        donors = rollout.loc[(rollout["launch_day"].isna()) | (rollout["launch_day"] >= nxt),
                             "site"].tolist()
        wide = window.pivot_table(index="day", columns="site", values="handle_s")
        complete = [s for s in donors if s in wide and wide[s].notna().all()]
        dropped = sorted(set(donors) - set(complete))
        sc_note = (f"Pilot site **{pilot}** launched on day {int(first)}; donors are the "
                   f"{len(complete)} sites not yet treated before day {int(nxt)}"
                   + (f" (dropped for gaps in the daily panel: {dropped})" if dropped else "")
                   + ".")
        spec = {"outcome": "handle_s", "unit": "site", "time": "day", "treated_unit": pilot,
                    "treatment_time": first, "donors": complete}
        ctx.stage("synthetic control of the pilot site")
        synth = SyntheticControl(**spec, demean=p["demean"]).fit(window)
        if p["bayesian"]:
            ctx.stage(f"Bayesian synthetic control (2 chains x {p['draws']} draws)")
            bayes = BayesianSyntheticControl(**spec, draws=p["draws"], tune=p["draws"],
                                             chains=2).fit(window, rng=ctx.rng)
            enforce(bayes.diagnostics, allow_unconverged=p["allow_unconverged"],
                    what="assist-rollout (Bayesian synthetic control)")
    ctx.stage("tables, figures and report")
    truth = ctx.truth(_TRUTH_SQL)
    truth_att = None
    rows = [stag.att.to_row(), stag.twfe.to_row()]
    effects = pd.DataFrame(rows)
    if truth is not None:
        t = truth[(truth.segment == "panel") & (truth.segment_value == "site_day")]
        truth_att = float(t["value"].iloc[0]) if len(t) else None
        effects["truth"] = truth_att
        effects["covers_truth"] = [truth_att is not None and lo <= truth_att <= hi
                                   for lo, hi in zip(effects.ci_low, effects.ci_high,
                                                     strict=True)]
    headline = (f"Agent assist changed mean handle time by {stag.att.estimate:+.1f} s per treated "
                f"site-day (imputation DiD), 95% CI [{stag.att.ci_low:+.1f}, "
                f"{stag.att.ci_high:+.1f}]; naive TWFE {stag.twfe.estimate:+.1f} s")
    if truth_att is not None:
        headline += f"; true ATT {truth_att:+.1f} s"
    body = [
        f"**Question.** {STUDY.question}", "",
        ("**Design.** Staggered adoption by site; panel of site x day mean handle time per "
        "answered contact. Never-treated and not-yet-treated sites are the controls."), "",
        "### Staggered DiD", "", markdown_table(effects), "",
        *[f"- {n}" for n in stag.summary().notes],
        (f"- Pre-trend test: chi2({stag.pretrend_df}) = {stag.pretrend_stat:.2f}, "
        f"p = {stag.pretrend_p:.3f}."), "",
        "### Cohorts", "", markdown_table(stag.cohorts), "",
    ]
    tables = {"effects": effects, "event_study": stag.event_study, "panel": panel}
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    stag.plot(ax=ax)
    event_truth = ctx.truth(_EVENT_TRUTH_SQL)
    if event_truth is not None and len(event_truth):
        ax.plot(event_truth["rel_time"], event_truth["truth"], "D", mfc="none", mec="#d62728",
                mew=1.2, ms=5, ls="none", label="true effect (synthetic world)")
        ax.legend(fontsize=8)
    ax.set_xlabel("days since the site's assist launch")
    ax.set_ylabel("effect on mean handle time (s per answered contact)")
    ax.set_title("Event study (imputation DiD), 95% intervals")
    fig.tight_layout()
    figures = {"event_study": fig, "effects": effect_figure(
        effects, label="method", estimate="estimate", low="ci_low", high="ci_high",
        truth=truth_att, xlabel="effect on mean handle time (s per treated site-day)",
        title="Agent assist: ATT over treated site-days")}
    diags = list(stag.diagnostics) + list(dq.diagnostics)
    att = stag.att
    results = {"staggered": stag.to_dict(), "truth_att": truth_att,
               "data_quality": dq.to_dict(),
               "conclusion": {
                   "estimate": att.estimate, "ci_low": att.ci_low, "ci_high": att.ci_high,
                   "effect": ("reduces" if att.ci_high < 0 else "increases" if att.ci_low > 0
                              else "no detectable change"),
                   "twfe_estimate": stag.twfe.estimate,
                   "twfe_closer_to_zero": bool(abs(stag.twfe.estimate) < abs(att.estimate)),
                   "pretrend_p": stag.pretrend_p,
                   "pretrend_rejected": bool(stag.pretrend_p < 0.05),
                   "truth": truth_att,
                   "covers_truth": (None if truth_att is None
                                    else bool(att.ci_low <= truth_att <= att.ci_high)),
               }}
    for name, res in (("synthetic_control", synth), ("bayesian_synthetic_control", bayes)):
        if res is None:
            continue
        sc_diags = list(res.diagnostics)
        if name == "bayesian_synthetic_control" and p["allow_unconverged"]:
            sc_diags = [Diagnostic(d.name, "warning", d.message + " [allowed: allow_unconverged]",
                                   d.value) if d.status == "fail" else d for d in sc_diags]
        inference = (f"Pre-period RMSPE {res.pre_rmspe:.1f} s; placebo-in-space rank p-value "
                     "(share of all sites, the pilot included, whose post/pre RMSPE ratio is at "
                     f"least the pilot's) = {res.p_value if res.p_value is not None else 'n/a'}.")
        if res.conformal is not None:
            c = res.conformal
            inference += (f" {c.ci_level:.0%} conformal interval for the average effect: "
                          + (f"[{c.ci_low:+.1f}, {c.ci_high:+.1f}] s. {c.meaning}" if c.valid
                             else f"none ({c.reason})."))
        elif name == "bayesian_synthetic_control":
            inference += " The interval is the equal-tailed 95% posterior interval."
        body += [f"### {res.method}", "", sc_note, "", markdown_table(pd.DataFrame([res.att.to_row()])),
                 "", inference, "",
                 markdown_table(res.weights[res.weights > 0.01].sort_values(ascending=False)
                     .rename("weight").reset_index()), ""]
        fig, ax = plt.subplots(figsize=(8, 4))
        res.plot(ax=ax)
        cf = ctx.truth(_COUNTERFACTUAL_SQL, [res.treated_unit])
        if cf is not None and len(cf):
            # on the plot's scale: before the launch the counterfactual is the observed series,
            # so the shift between the two there is the demeaning (0 without it)
            path = res.path.merge(cf, left_on="time", right_on="day", how="inner")
            pre = path["time"] < res.treatment_time
            shift = float((path.loc[pre, "treated"] - path.loc[pre, "handle_s_0"]).mean())
            ax.plot(path["time"], path["handle_s_0"] + shift, color="#d62728", lw=1.2,
                    label="true counterfactual (synthetic world)")
            ax.legend(fontsize=8)
        ax.set_xlabel("day of the data (day 0 = first contact)")
        ax.set_ylabel("mean handle time per answered contact (s)"
                      + (", demeaned" if p["demean"] else ""))
        ax.set_title(f"{res.method}: pilot site {res.treated_unit}, pre-period RMSPE "
                     f"{format_number(res.pre_rmspe)} s", fontsize=10)
        fig.tight_layout()
        figures[name] = fig
        tables[f"{name}_weights"] = res.weights.rename("weight").reset_index()
        diags += sc_diags
        results[name] = res.to_dict()
    if synth is None:
        body += ["No single-site pilot in this warehouse: the synthetic control was skipped."]
    if truth is not None and synth is not None:
        t = truth[(truth.segment == "cohort")]
        body += ["*Truth by cohort (contact-level ATT):*", "",
                 markdown_table(t[["segment_value", "value"]]), ""]
    return StudyOutput(headline=headline, results=jsonable(results), tables=tables,
                       figures=figures, report_md="\n".join(body), diagnostics=tuple(diags))


STUDY = Study(
    name="assist-rollout",
    title="Agent assist: staggered rollout and a single-site pilot",
    question=("How much did the agent-assist tool change handle time where it went live, and "
              "what did the single-site pilot show on its own?"),
    params=(
        Param("pre_periods", int, 7, "pre-adoption days in the pre-trend test", min=0),
        Param("n_boot", int, 199, "site bootstrap replications (fewer than 20 give no usable SE)",
              min=20),
        Param("demean", bool, True, "demeaned synthetic control (sites differ in level)"),
        Param("bayesian", bool, False, "also fit the Bayesian synthetic control (CausalPy)"),
        Param("draws", int, 300, "posterior draws (and tuning steps) for the Bayesian variant",
              min=10),
        Param("allow_unconverged", bool, False,
              "report the Bayesian synthetic control even if its convergence gate fails (as "
              "warnings)"),
        *QUALITY_PARAMS,
    ),
    default_seed=11,
    run=run,
    tables={
        "contacts": ("created_at", "site", "abandoned", "handle_s"),
        "assist_rollout": ("site", "launched_at"),
    },
)
