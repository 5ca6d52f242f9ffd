"""``servicelab scorecard``: score every estimator family against known truths.

It runs the ``scorecard`` study (``studies/catalog/scorecard.py``) into a run folder like any
study; the options are shorthands for its parameters::

    servicelab scorecard --quick                        # the CI subset, about a minute
    servicelab scorecard --families observational,iv --reps 100
    servicelab scorecard --reps 200 --reps-expensive 100 --reps-bayes 20 --jobs 4

is the same as ``servicelab run scorecard --set quick=true`` (and so on). The run folder holds
``tables/scorecard.parquet`` (and ``scorecard.csv``), ``tables/records.parquet`` (one row per
fit), ``results.json``, ``figures/coverage_heatmap.png`` and the report. ``--export DIR`` copies
the table, the per-family headline and the heat map of the finished run into ``DIR``; the book's
``book/data/scorecard/`` is made so (see ``book/chapters/scorecard.md``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``scorecard`` subcommand to ``subparsers``."""
    p = subparsers.add_parser(
        "scorecard",
        help="score every estimator family on synthetic worlds with known effects (coverage, bias, hit rate)",
        description=(
            "Run the scorecard study: every estimator family on small synthetic worlds whose true "
            "effect is known, scored on bias, RMSE, CI width, coverage (with its Monte Carlo "
            "error) and the diagnostic hit rate among wide misses. Writes a run folder."
        ),
        epilog="exit codes: 0 success, 1 the run failed, 2 usage or parameter error, 130 interrupted",
    )
    p.add_argument("--quick", action="store_true", help="the CI subset (8 worlds, about a minute)")
    p.add_argument("--families", default="",
                   help="comma-separated: experiments, observational, sensitivity, iv, did, synth, "
                        "censored, bayes (default: all)")
    p.add_argument("--scenarios", default="", help="comma-separated scenario names (default: all)")
    p.add_argument("--reps", type=int, default=None, help="replications for cheap estimators")
    p.add_argument("--reps-expensive", type=int, default=None,
                   help="replications for EconML learners and bootstraps")
    p.add_argument("--reps-bayes", type=int, default=None, help="replications for PyMC models")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default min(CPUs, 4))")
    p.add_argument("--seed", type=int, default=None, help="root seed (default: the study's, 2026)")
    p.add_argument("--runs-dir", default="runs", help="root of the run folders")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--export", default=None, metavar="DIR",
                   help="after a successful run, copy scorecard.csv, headline.csv and the heat map "
                        "into DIR (how book/data/scorecard/ is made)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Translate the options into study parameters and run it as ``servicelab run scorecard``."""
    from studies.cli import _cmd_run

    sets = [f"quick={'true' if args.quick else 'false'}"]
    for key, value in (("families", args.families), ("scenarios", args.scenarios),
                       ("reps", args.reps), ("reps_expensive", args.reps_expensive),
                       ("reps_bayes", args.reps_bayes), ("n_jobs", args.jobs)):
        if value not in (None, ""):
            sets.append(f"{key}={value}")
    ns = argparse.Namespace(study="scorecard", set=sets, db="data/tws.duckdb", warehouse=None,
                            runs_dir=args.runs_dir, seed=args.seed, allow_failed_checks=False,
                            quiet=args.quiet)
    code = _cmd_run(ns)
    if code == 0 and args.export:
        _export(Path(args.runs_dir), Path(args.export))
    return code


def _export(runs_dir: Path, target: Path) -> None:
    """Copy the newest successful scorecard run's tables and figure into ``target``."""
    import shutil

    import pandas as pd

    runs = sorted(p for p in (runs_dir / "scorecard").iterdir()
                  if p.is_dir() and not p.name.startswith(".") and not p.name.endswith(".failed"))
    run = runs[-1]
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / "scorecard.csv", target / "scorecard.csv")
    pd.read_parquet(run / "tables" / "headline.parquet").to_csv(target / "headline.csv",
                                                                index=False)
    shutil.copyfile(run / "figures" / "coverage_heatmap.png", target / "coverage_heatmap.png")
    manifest = json.loads((run / "manifest.json").read_text())
    (target / "provenance.json").write_text(json.dumps(
        {"run_id": manifest["run_id"], "seed": manifest["seed"], "params": manifest["params"],
         "git": manifest.get("git"), "duration_s": manifest.get("duration_s")}, indent=2) + "\n")
    print(f"exported {run.name} to {target}")
