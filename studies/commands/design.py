r"""``servicelab design``: the design doctor on the command line.

Which experiment design recovers the global effect of a handle-time change in a shared queue?
It simulates customer, agent, site and switchback designs (slices and burn-ins from the measured
relaxation time) under common random numbers and prints bias against the GTE, SD, SE, RMSE,
coverage, power and MDE per design, the recommendation and a pre-registration note::

    servicelab design --factor 0.9 --occupancy 0.95 --sites 10 --agents-per-site 50 --days 7 \\
        --reps 200 --jobs 2 --out runs/design

``--out DIR`` writes ``preregistration.md``, ``designs.csv`` and ``report.json``. An unstable
queue (offered load at or above the agents) exits with status 2 and the load.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``design`` subcommand to ``subparsers``."""
    p = subparsers.add_parser(
        "design",
        help="design doctor: simulate customer, agent, site and switchback designs against the global effect",
        description=(
            "Simulate candidate experiment designs for a handle-time change on a shared-pool "
            "centre under common random numbers, score them against the global treatment effect "
            "(bias, SE, RMSE, coverage, power, MDE), recommend one and write a pre-registration."
        ),
        epilog="exit codes: 0 success, 2 usage or parameter error (e.g. an unstable queue)",
    )
    p.add_argument("--factor", type=float, required=True,
                   help="handle-time multiplier of treated contacts (0.9 = 10%% shorter)")
    p.add_argument("--occupancy", type=float, default=0.9, help="offered load / agents (< 1)")
    p.add_argument("--sites", type=int, default=10, help="independent sites (pools)")
    p.add_argument("--agents-per-site", type=int, default=50, help="agents per site")
    p.add_argument("--aht-s", type=float, default=300.0, help="mean handle time (s)")
    p.add_argument("--patience-s", type=float, default=300.0,
                   help="mean patience (s); 0 for no abandonment")
    p.add_argument("--days", type=float, default=7.0, help="experiment duration in days")
    p.add_argument("--metric", default="wait_s",
                   choices=("wait_s", "service_level", "abandonment", "handle_s"),
                   help="primary metric")
    p.add_argument("--sl-threshold-s", type=float, default=60.0,
                   help="service level: answered within this many seconds, over offered contacts")
    p.add_argument("--reps", type=int, default=100, help="replications per design")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--seed", type=int, default=2026, help="root seed")
    p.add_argument("--out", default=None, metavar="DIR", help="write the note, table and JSON here")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Build the centre and the doctor from the options, evaluate, print and write."""
    from servicelab.errors import ServicelabError
    from simulation import ServiceLevel, SharedPoolCentre
    from studies.design_doctor import DesignDoctor, HandleTimeChange

    metrics = ("wait_s", "service_level", "abandonment", "handle_s")
    try:
        centre = SharedPoolCentre(
            sites=args.sites, agents_per_site=args.agents_per_site, occupancy=args.occupancy,
            aht_s=args.aht_s, patience_s=args.patience_s or None, days=args.days,
            service_level=ServiceLevel(args.sl_threshold_s))
        doc = DesignDoctor(centre, HandleTimeChange(args.factor),
                           metrics=(args.metric, *[m for m in metrics if m != args.metric]),
                           designs=("customer", "agent", "switchback") + (
                               ("site",) if args.sites >= 4 else ()))
        rep = doc.evaluate(args.reps, rng=args.seed, n_jobs=args.jobs, progress=not args.quiet)
    except ServicelabError as e:
        print(f"servicelab design: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rep.to_dict()))
    else:
        print(rep.summary())
        print()
        print(rep.preregistration())
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "preregistration.md").write_text(rep.preregistration())
        rep.frame.to_csv(out / "designs.csv", index=False)
        (out / "report.json").write_text(json.dumps(rep.to_dict(), indent=2) + "\n")
        print(f"wrote {out / 'preregistration.md'}", file=sys.stderr)
    return 0
