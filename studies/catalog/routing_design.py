"""Study ``routing-design``: which experiment measures routing v2's effect on wait in a shared queue?

Routing v2 cuts handle time. The agents are a shared pool, so the time it frees shortens the
queue for everybody: a customer-randomised A/B test compares treated and control contacts that
wait in the *same* queue, and its wait estimate is biased toward zero against the global effect
of launching to everyone (GTE). The study runs on the shared-pool world with interference
(:class:`simulation.SharedPoolCentre`; no warehouse tables):

1. truth rows at the chosen occupancy (:func:`simulation.interference_truth`): the direct effect
   a customer-randomised test estimates and the GTE, for wait, service level, abandonment and
   handle time, and the same two for wait across occupancies (interference grows with load);
2. the design doctor (:class:`studies.design_doctor.DesignDoctor`): customer, agent, site and
   switchback designs (slices and burn-ins from the measured relaxation time) under common
   random numbers, scored against the GTE;
3. the recommended design, its coverage of the GTE and the pre-registration note.

Estimands are named: the customer-randomised test estimates the direct effect under a 50/50
mix; the switchback and site designs estimate the GTE (everyone treated against no one).
"""

from __future__ import annotations

from typing import Any

from servicelab.results import jsonable, markdown_table
from studies.runner import Param, Study, StudyContext, StudyOutput


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


def _occ_ok(text: Any) -> bool:
    try:
        v = _floats(str(text))
    except ValueError:
        return False
    return bool(v) and all(0 < x < 1 for x in v)


def run(ctx: StudyContext) -> StudyOutput:
    """Truth, design doctor and recommendation (see the module docstring)."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from simulation import ServiceLevel, SharedPoolCentre, interference_truth
    from studies.design_doctor import DesignDoctor, HandleTimeChange

    p = ctx.params
    centre = SharedPoolCentre(sites=p["sites"], agents_per_site=p["agents_per_site"],
                              occupancy=p["occupancy"], days=p["days"],
                              service_level=ServiceLevel(p["sl_threshold_s"]))
    mech = HandleTimeChange(1 + p["handle_effect"])
    ctx.stage("design doctor: truth, relaxation time and design replications")
    doc = DesignDoctor(centre, mech, truth_reps=p["truth_reps"], relax_reps=p["truth_reps"] * 2)
    rep = doc.evaluate(p["reps"], rng=ctx.seed, n_jobs=max(1, p["n_jobs"]), progress=False)
    ctx.stage("interference against occupancy")
    occ_rows = []
    for i, occ in enumerate(_floats(p["occupancies"])):
        c = SharedPoolCentre(sites=p["sites"], agents_per_site=p["agents_per_site"],
                             occupancy=occ, days=p["days"],
                             service_level=ServiceLevel(p["sl_threshold_s"]))
        t = interference_truth(c, mech.factor, n_reps=p["truth_reps"], rng=ctx.seed + 1 + i)
        w = t.frame.set_index("metric").loc["wait_s"]
        occ_rows.append({"occupancy": occ, "gte_wait_s": w["gte"], "direct_wait_s": w["direct"],
                         "gte_se": w["gte_se"], "direct_se": w["direct_se"],
                         "control_wait_s": w["control"]})
    occ = pd.DataFrame(occ_rows)

    best = rep.recommend()
    f = rep.frame
    prim = f[f["metric"] == "wait_s"].set_index("design")
    cust, b = prim.loc["customer"], prim.loc[best]
    gte = rep.truth.value("wait_s")
    headline = (f"at occupancy {centre.occupancy:g} the customer-randomised wait estimate is "
                f"{cust['mean_estimate']:+.2f} s against a global effect of {gte:+.2f} s "
                f"({cust['bias_pct_of_gte']:+.0f}%); the recommended design ({best}) estimates "
                f"{b['mean_estimate']:+.2f} s and covers the GTE in {100 * b['coverage']:.0f}% of "
                f"{p['reps']} replications")

    fig1, ax1 = plt.subplots(figsize=(7, 4))
    rep.plot(ax=ax1)
    ax1.set_title("estimated wait effect by design vs the GTE")
    fig1.tight_layout()
    from causal.results import critical_value

    z = critical_value(0.95)  # 95% bars from the replications' standard errors
    fig2, ax2 = plt.subplots(figsize=(6, 3.5))
    ax2.errorbar(occ["occupancy"], occ["gte_wait_s"], yerr=z * occ["gte_se"], fmt="o-",
                 label="GTE (all vs none)")
    ax2.errorbar(occ["occupancy"], occ["direct_wait_s"], yerr=z * occ["direct_se"], fmt="s--",
                 label="customer-randomised (direct)")
    ax2.axhline(0, color="black", lw=0.8)
    ax2.set_xlabel("occupancy")
    ax2.set_ylabel("effect on mean wait (s)")
    ax2.legend(fontsize=8)
    fig2.tight_layout()

    cols = ["design", "mean_estimate", "bias", "bias_pct_of_gte", "sd", "mean_se", "rmse",
            "coverage", "power", "predicted_power", "mde"]
    body = [
        f"**Question.** {STUDY.question}", "",
        (f"**World.** {centre.sites} sites x {centre.agents_per_site} agents, occupancy "
         f"{centre.occupancy:g}, {centre.days:g} days, mechanism: {mech.describe()}; service level "
         f"{centre.service_level.describe()}. Relaxation time of the queue: "
         f"{rep.info['tau_s']:.0f} s."), "",
        "### Truth: direct effect under the 50/50 mix vs the global effect", "",
        markdown_table(rep.truth.frame), "",
        "### The design doctor (primary metric: mean wait)", "",
        markdown_table(f.loc[f["metric"] == "wait_s", cols]), "",
        "### Interference against occupancy (mean wait)", "", markdown_table(occ), "",
        rep.preregistration(),
    ]
    return StudyOutput(
        headline=headline,
        results=jsonable({"doctor": rep.to_dict(), "occupancy": occ.to_dict(orient="records"),
                          "recommended": best}),
        tables={"designs": f, "truth": rep.truth.frame, "occupancy": occ,
                "records": rep.records},
        figures={"estimate_by_design": fig1, "interference_by_occupancy": fig2},
        report_md="\n".join(body),
        diagnostics=(*rep.diagnostics, *rep.truth.diagnostics),
        artifacts={"preregistration.md": lambda path: path.write_text(rep.preregistration())},
    )


STUDY = Study(
    name="routing-design",
    title="Routing v2 in a shared queue: which experiment design recovers the global effect?",
    question=("Does a customer-randomised test measure routing v2's effect on wait and service "
              "level when the arms share the agents, and which design should we run instead?"),
    params=(
        Param("handle_effect", float, -0.1, "relative handle-time change of treated contacts",
              min=-0.9, max=1.0),
        Param("occupancy", float, 0.95, "offered load / agents under control", min=0, max=1,
              exclusive_min=True, exclusive_max=True),
        Param("occupancies", str, "0.7,0.8,0.9,0.95", "occupancies of the interference sweep",
              check=_occ_ok, check_message="comma-separated numbers in (0, 1)"),
        Param("sites", int, 4, "independent sites (pools)", min=4),
        Param("agents_per_site", int, 25, "agents per site", min=1),
        Param("days", float, 2.0, "experiment duration in days", min=0, exclusive_min=True),
        Param("sl_threshold_s", float, 60.0, "service level: answered within this many seconds",
              min=0),
        Param("reps", int, 40, "design-doctor replications", min=2),
        Param("truth_reps", int, 4, "CRN replications of the truth rows", min=2),
        Param("n_jobs", int, 1, "worker processes", min=1),
    ),
    default_seed=2026,
    run=run,
    tables=(),
)
