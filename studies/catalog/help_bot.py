"""Study ``help-bot``: does using the self-service help bot before a contact shorten handling?

Customers *choose* to use the bot, and who chooses depends on tier, account age and contact
reason, which also drive handle time: the naive comparison is confounded. The study states the
causal graph, adjusts for the confounders with several estimators side by side (DoWhy identifies,
EconML and our own estimators estimate, DoWhy refutes), reports the sensitivity of the answer to a
hidden confounder, then asks *for which contacts* the bot helps and learns a targeting policy
("which contacts should be offered the bot?"). On the synthetic world each number is put next to
the truth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from servicelab.results import jsonable, markdown_table
from studies.runner import Param, Study, StudyContext, StudyOutput
from studies.runner.quality import QUALITY_PARAMS, Column, DataQuality, TableCheck
from studies.runner.report import effect_figure

if TYPE_CHECKING:
    from causal.observational import ObservationalResult

GRAPH = """digraph {
  tier -> bot; log_age -> bot; reason -> bot;
  tier -> handle_s; log_age -> handle_s; reason -> handle_s; channel -> handle_s;
  bot -> handle_s;
}"""

# What the analysis needs (checked on the warehouse before it runs; see studies.runner.quality):
# an answered contact without a handle time is counted and fails the run (or is dropped with
# drop_missing=true), never silently left out.
CHECKS = (
    TableCheck(
        "contacts",
        (
            Column("contact_id", "key"),
            Column("customer_id", "key"),
            Column("abandoned", "key"),
            Column("bot_used", "key", required_when="NOT abandoned"),
            Column("reason", "key", required_when="NOT abandoned"),
            Column("channel", "key", required_when="NOT abandoned"),
            Column("handle_s", required_when="NOT abandoned", note="NULL for abandoned contacts"),
        ),
        scope_label="all contacts",
    ),
    TableCheck(
        "customers",
        (Column("customer_id", "key"), Column("tier", "key"), Column("account_age_days", "key")),
        scope_label="all customers",
    ),
)

_SQL = """
SELECT c.contact_id, c.handle_s, c.bot_used, c.reason, c.channel, cu.tier,
       cu.account_age_days
FROM {contacts} c JOIN {customers} cu USING (customer_id)
WHERE NOT c.abandoned
ORDER BY c.contact_id
"""

_TRUTH_SQL = """
SELECT estimand, segment, segment_value, value FROM truth_effects
WHERE intervention = 'help_bot' AND outcome = 'handle_s'
"""

ESTIMATORS = ("naive", "regression", "ipw", "aipw", "linear_dml", "dr_learner")



def load_data(ctx: StudyContext) -> tuple[pd.DataFrame, DataQuality]:
    """Check the input tables (see ``CHECKS``), then read the answered contacts."""
    dq = ctx.check_data(CHECKS)
    frame = ctx.query(_SQL.format(contacts=dq.table("contacts"), customers=dq.table("customers")))
    return frame, dq


def run(ctx: StudyContext) -> StudyOutput:
    """Identify, estimate, refute, assess sensitivity, then heterogeneity and policy."""
    from causal.observational import CateAnalysis, ObservationalStudy

    p = ctx.params
    ctx.stage("loading contacts")
    frame, dq = load_data(ctx)
    if p["max_rows"] and len(frame) > p["max_rows"]:
        frame = frame.sample(p["max_rows"], random_state=int(ctx.rng.integers(2**31)))
    frame = frame.assign(bot=frame["bot_used"].astype(int),
                         log_age=np.log(frame["account_age_days"].clip(lower=1) / 365.0))
    trim = p["trim"] if p["trim"] > 0 else None
    ctx.stage(f"estimating the effect ({len(ESTIMATORS)} estimators) and refuting it")
    obs = ObservationalStudy(
        "bot", "handle_s", graph=GRAPH, effect_modifiers=["reason"], estimand=p["estimand"],
        population="answered contacts" + (" whose customer used the bot"
                                          if p["estimand"] == "ATT" else ""),
        estimators=ESTIMATORS, n_refute_simulations=p["refute_simulations"], trim=trim,
    ).fit(frame, rng=ctx.rng)
    ctx.stage(f"heterogeneity and targeting ({p['cate_learner']})")
    cate = CateAnalysis(
        "bot", "handle_s", confounders=["log_age", "channel"], effect_modifiers=["reason", "tier"],
        segments=["reason", "tier"], learner=p["cate_learner"], higher_is_better=False,
        cost=p["cost_s"], n_estimators=p["forest_trees"],
        population="answered contacts",
    ).fit(frame, rng=ctx.rng)

    ctx.stage("tables, figures and report")
    table = obs.table()
    seg = cate.segments.copy()
    truth = ctx.truth(_TRUTH_SQL)
    truth_value = None
    if truth is not None:
        t_all = truth[(truth.estimand == p["estimand"]) & (truth.segment == "all")]
        truth_value = float(t_all["value"].iloc[0]) if len(t_all) else None
        table["truth"] = truth_value
        table["covers_truth"] = [lo <= truth_value <= hi if truth_value is not None else None
                                 for lo, hi in zip(table.ci_low, table.ci_high, strict=True)]
        tc = truth[truth.estimand == "CATE"].rename(columns={"segment_value": "value",
                                                             "value": "truth"})
        seg = seg.merge(tc[["segment", "value", "truth"]], on=["segment", "value"], how="left")
    main = obs.estimate("AIPW")
    headline = (f"Using the help bot changes handle time by {main.estimate:+.1f} s "
                f"({p['estimand']}, AIPW), 95% CI [{main.ci_low:+.1f}, {main.ci_high:+.1f}]; "
                f"naive difference {obs.estimate('naive').estimate:+.1f} s")
    if truth_value is not None:
        headline += f"; true effect {truth_value:+.1f} s"
    rank = None
    if truth is not None and "truth" in seg:
        from scipy import stats

        r = seg[seg.segment == "reason"].dropna(subset=["truth"])
        if len(r) > 2:
            rank = float(stats.spearmanr(r["cate"], r["truth"]).statistic)
    pol = cate.policy
    body = [
        f"**Question.** {STUDY.question}", "",
        "**Design.** Observational: customers opt in to the bot. Graph (DOT):", "",
        "```", GRAPH, "```", "",
        f"**Identification.** {obs.identified}.", "",
        "### Effect estimates", "",
        markdown_table(table[[c for c in ["method", "estimand", "estimate", "se", "ci_low", "ci_high",
                               "truth", "covers_truth"] if c in table]]), "",
        ("The naive difference compares bot users with non-users as they are; the others adjust "
        "for tier, account age and reason."), "",
        "### Refutations", "",
        *[f"- **{r.name}**: {r.reading}" for r in obs.refutations], "",
        "### Sensitivity to a hidden confounder", "",
        obs.sensitivity.explain() if obs.sensitivity else "(not run)", "",
        "### Heterogeneity (CATE by segment, held-out evaluation)", "",
        markdown_table(seg), "",
        *([f"Rank correlation of the estimated and true CATE by reason: {rank:.2f}.", ""]
          if rank is not None else []),
        *[f"- {n}" for n in cate.summary().notes], "",
        "### Which contacts should be offered the bot?", "",
        (f"The policy tree ({pol['rule']}) offers the bot to {pol['share_treated']:.0%} of "
        f"contacts. Handle time saved per contact vs offering it to nobody: "
        f"{pol['value_policy']:.1f} s (SE {pol['value_policy_se']:.1f}); offering it to everyone "
        f"saves {pol['value_treat_all']:.1f} s."),
    ]
    import matplotlib.pyplot as plt

    figs = {"estimates": effect_figure(
        table, label="method", estimate="estimate", low="ci_low", high="ci_high",
        truth=truth_value,
        xlabel="effect of using the bot on handle time (s per answered contact)",
        title=f"Help bot: {p['estimand']} by estimator (naive = no adjustment)")}
    for kind in ("love", "overlap", "graph"):
        fig, ax = plt.subplots(figsize=(7, 4))
        obs.plot(ax=ax, kind=kind)
        fig.tight_layout()
        figs[kind] = fig
    figs["cate"] = effect_figure(
        seg.assign(row=seg["segment"] + " = " + seg["value"].astype(str)), label="row",
        estimate="cate", low="ci_low", high="ci_high",
        truth="truth" if "truth" in seg else None,
        xlabel="CATE of using the bot on handle time (s per answered contact)",
        title=f"Help bot: effect by segment ({p['cate_learner']})")
    return StudyOutput(
        headline=headline,
        results=jsonable({"conclusion": _conclusion(obs, main, truth_value),
                          "observational": obs.to_dict(), "cate": cate.to_dict(),
                          "truth_ate": truth_value, "cate_rank_correlation": rank,
                          "n": len(frame), "data_quality": dq.to_dict()}),
        tables={"effects": table, "cate_segments": seg, "balance": obs.balance,
                "refutations": obs.refutation_table()},
        figures=figs,
        report_md="\n".join(body),
        diagnostics=tuple(obs.diagnostics) + tuple(cate.diagnostics) + dq.diagnostics,
    )


def _conclusion(obs: ObservationalResult, main, truth: float | None) -> dict:
    """The study's verdict as data (for notebooks to glue rather than to restate by hand)."""
    naive = obs.estimate("naive")
    if main.ci_high < 0:
        effect = "shortens"
    elif main.ci_low > 0:
        effect = "lengthens"
    else:
        effect = "no detectable change"
    return {
        "method": main.method, "estimand": main.estimand, "estimate": main.estimate,
        "ci_low": main.ci_low, "ci_high": main.ci_high, "effect": effect,
        "naive_estimate": naive.estimate,
        "naive_outside_ci": not main.ci_low <= naive.estimate <= main.ci_high,
        "naive_direction": ("above" if naive.estimate > main.estimate else "below"),
        "truth": truth,
        "covers_truth": None if truth is None else bool(main.ci_low <= truth <= main.ci_high),
    }


STUDY = Study(
    name="help-bot",
    title="Help bot: observational effect on handle time, heterogeneity and targeting",
    question=("Does using the self-service help bot before contacting support shorten handle "
              "time, for which contacts, and to whom should the bot be offered?"),
    params=(
        Param("estimand", str, "ATE", "ATE over answered contacts or ATT over bot users",
              choices=("ATE", "ATT")),
        Param("trim", float, 0.0, "propensity trimming threshold (0 = none)", min=0, max=0.5,
              exclusive_max=True),
        Param("refute_simulations", int, 10, "simulations per DoWhy refuter (a spread needs 2)", min=2),
        Param("cate_learner", str, "linear_dml", "CATE model",
              choices=("linear_dml", "causal_forest")),
        Param("forest_trees", int, 100, "trees for causal_forest (grown in groups of 4)", min=4),
        Param("cost_s", float, 0.0, "cost of offering the bot, in seconds of handle time", min=0),
        Param("max_rows", int, 0, "subsample contacts for speed (0 = all)",
              check=lambda n: n == 0 or n >= 1000, check_message="0 (all rows) or at least 1000"),
        *QUALITY_PARAMS,
    ),
    default_seed=7,
    run=run,
    tables={
        "contacts": ("contact_id", "customer_id", "abandoned", "handle_s", "bot_used", "reason",
                     "channel"),
        "customers": ("customer_id", "tier", "account_age_days"),
    },
)
