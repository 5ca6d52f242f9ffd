"""Study ``scorecard``: which estimator can I trust here?

Every servicelab estimator family runs on small synthetic worlds whose true effect is known
(:mod:`causal.scorecard`): randomised experiments (mean, CUPED, ratio, cluster CR2, switchback),
observational estimators (regression, IPW, AIPW, matching, LinearDML, DR learner, causal
forest), the Cinelli–Hazlett sensitivity bound, IV, DiD (TWFE, imputation), synthetic control,
the censored-outcome effects and the Bayesian A/B and hierarchical models. Each estimator is
scored per world on bias, RMSE, interval width, coverage with its Monte Carlo error, and the
**diagnostic hit rate**: of the replications whose interval missed the truth by more than 3 of
its own SEs, the share whose diagnostics said "warning" or "fail".

The study reads no warehouse: it makes its worlds (seeded from the run's seed through
``SeedSequence`` children), so its run folder depends only on the seed and the parameters.
``--set quick=true`` runs the CI subset (about a minute).
"""

from __future__ import annotations

import os
from typing import Any

from servicelab.results import Diagnostic, jsonable, markdown_table
from studies.runner import Param, Study, StudyContext, StudyOutput

FAMILY_KEYS = ("experiments", "observational", "sensitivity", "iv", "did", "synth", "censored",
               "bayes")


def _families_ok(value: str) -> bool:
    return all(v.strip() in FAMILY_KEYS for v in value.split(",") if v.strip())


def _scenarios_ok(value: str) -> bool:
    from causal.scorecard.scenarios import SCENARIOS

    return all(v.strip() in SCENARIOS for v in value.split(",") if v.strip())


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def spec_from_params(params: dict[str, Any]) -> Any:
    """The :class:`causal.scorecard.Scorecard` a run with these parameters sweeps."""
    from causal.scorecard import GROUPS, Scorecard

    fams = _split(params["families"])
    estimators = None if not fams else tuple(e for f in fams for e in GROUPS.get(f, ()))
    n_jobs = params["n_jobs"] or min(os.cpu_count() or 1, 4)
    kw: dict[str, Any] = {"n_jobs": n_jobs}
    if estimators is not None:
        kw["estimators"] = estimators
    if _split(params["scenarios"]):
        kw["scenarios"] = tuple(_split(params["scenarios"]))
    if params["quick"]:
        for key in ("reps", "reps_expensive", "reps_bayes"):
            if params[key] != PARAM_DEFAULTS[key]:
                kw[key] = params[key]
        return Scorecard.quick(**kw)
    return Scorecard(reps=params["reps"], reps_expensive=params["reps_expensive"],
                     reps_bayes=params["reps_bayes"], **kw)


def _report(result: Any, n_records: int) -> str:
    head = result.headline
    tab = result.table
    cols = ["group", "scenario", "estimator", "valid", "bias", "rmse", "ci_width", "coverage",
            "coverage_mcse", "in_band", "flagged", "wide_misses", "hit_rate", "hit_rate_own",
            "silent_wide_miss", "silent_wide_miss_own", "warned"]
    s = result.spec
    lines = [
        "## Estimator scorecard", "",
        (f"{n_records} fits: every estimator on the worlds of its family, {s.reps} replications "
        f"for cheap estimators, {s.reps_expensive} for the EconML learners and bootstraps, "
        f"{s.reps_bayes} for PyMC. Each world's true effect is known; a *wide miss* is an "
        f"estimate more than {s.wide:g} of its own SEs from the truth."), "",
        (f"- **coverage**: share of nominal {result.level:.0%} intervals holding the truth (`coverage_mcse` its "
        "Monte Carlo SE; `in_band`: inside the 99.9% binomial band of a correct interval)."),
        ("- **hit_rate**: share of wide misses whose result showed a warning or fail (any "
        "diagnostic of the result); **hit_rate_own**: the estimate's own diagnostics only."),
        ("- **silent_wide_miss**: share of replications missing widely while every diagnostic "
        "said ok (the issue's criterion: at most 5% in the limited-overlap world)."),
        ("- **warned**: share of replications whose world's fit raised a Python warning (the "
        "classes are in `tables/records.parquet`, column `warnings`)."), "",
        "### Per family", "", markdown_table(head), "",
        "### Every cell", "", markdown_table(tab[cols]), "",
        ("The heat map (figures/coverage_heatmap.png) colours each cell by coverage; white is "
        f"the nominal {result.level:.0%}."),
    ]
    return "\n".join(lines)


def run(ctx: StudyContext) -> StudyOutput:
    """Sweep, score, report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = spec_from_params(ctx.params)
    plan = spec.plan()
    n_fits = sum(len(names) for _, reps in plan for _, names in reps)
    ctx.stage(f"sweeping {len(plan)} scenarios, {n_fits} fits on {spec.n_jobs} process(es)")

    def progress(items: Any, total: int) -> Any:
        return ctx.progress(items, total=total)

    result = spec.run(rng=ctx.seed, progress=progress)
    ctx.stage("scoring and report")
    fig, ax = plt.subplots(figsize=(max(6, 0.62 * result.table["scenario"].nunique() + 3),
                                    max(3, 0.42 * result.table["estimator"].nunique() + 2)))
    result.plot(ax=ax)
    fig.tight_layout()
    diags = []
    lo = result.table[result.table["scenario"] == "obs-limited-overlap"]
    if len(lo):
        worst = lo.sort_values("silent_wide_miss_own", ascending=False).iloc[0]
        bad = float(worst["silent_wide_miss_own"]) > 0.05
        diags.append(Diagnostic(
            "limited_overlap_silent_misses", "warning" if bad else "ok",
            f"in the limited-overlap world, {worst['estimator']} missed the truth by > "
            f"{spec.wide:g} SE with its own diagnostics ok in {worst['silent_wide_miss_own']:.0%}"
            " of replications" + (" (more than 5%)" if bad else " (at most 5%)"),
            float(worst["silent_wide_miss_own"])))
    errors = int(result.table["errors"].sum())
    diags.append(Diagnostic("fit_errors", "warning" if errors else "ok",
                            f"{errors} fits raised an unexpected exception (see records.error)",
                            float(errors)))
    table = result.table
    head = result.headline
    cov = table.dropna(subset=["coverage"])
    headline = (f"scorecard: {len(cov)} estimator x scenario cells; median coverage "
                f"{cov['coverage'].median():.2f}, {int((~cov['in_band']).sum())} cells outside "
                "their binomial band")
    return StudyOutput(
        headline=headline,
        results=jsonable({**result.to_dict(), "n_fits": len(result.records)}),
        tables={"scorecard": table, "headline": head, "records": result.records},
        figures={"coverage_heatmap": fig},
        report_md=_report(result, len(result.records)),
        diagnostics=tuple(diags),
        artifacts={"scorecard.csv": lambda p: table.to_csv(p, index=False)},
    )


PARAMS = (
    Param("quick", bool, False, "the CI subset: 8 worlds, cheap estimators (+ EconML where known "
          "to fail), 100 replications (20 EconML), no PyMC"),
    Param("families", str, "", "comma-separated families ('' = all): " + ", ".join(FAMILY_KEYS),
          check=_families_ok, check_message="a comma-separated list of " + ", ".join(FAMILY_KEYS)),
    Param("scenarios", str, "", "comma-separated scenario names ('' = all; see "
          "causal.scorecard.SCENARIOS)", check=_scenarios_ok,
          check_message="a comma-separated list of scenario names of causal.scorecard.SCENARIOS"),
    Param("reps", int, 200, "replications per world for cheap estimators", min=2),
    Param("reps_expensive", int, 100, "replications for EconML learners and bootstraps", min=0),
    Param("reps_bayes", int, 20, "replications for the PyMC hierarchical model", min=0),
    Param("n_jobs", int, 0, "worker processes (0: min(CPUs, 4); 1: no pool)", min=0),
)
PARAM_DEFAULTS = {p.name: p.default for p in PARAMS}

STUDY = Study(
    name="scorecard",
    title="Estimator scorecard: which estimator can I trust here?",
    question=("How biased are servicelab's estimators, do their 95% intervals cover the truth, "
              "and do their diagnostics warn when they miss, world by world?"),
    params=PARAMS,
    default_seed=2026,
    run=run,
    tables=(),
)
