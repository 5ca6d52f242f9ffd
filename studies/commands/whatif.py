r"""``servicelab whatif``: carry a study's measured effects into agents and service level.

Reads the effects of finished runs (with their provenance), applies them to a typical weekday of
the warehouse (mean contacts per half hour over the last weeks' week days, and the mean handle
time), and answers in plain words with bands::

    servicelab run routing-ab
    servicelab whatif 20261202T210541Z-1fec66 --patience-s 180 --shrinkage 0.3

``--effect lever=relative[:low:high[:level]]`` adds an effect measured elsewhere (``volume`` for
a deflection). ``--json`` prints everything; ``--out DIR`` writes ``whatif.json``,
``whatif.csv`` and ``whatif.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``whatif`` subcommand to ``subparsers``."""
    p = subparsers.add_parser(
        "whatif",
        help="carry the effects of study runs into agents and service level, with bands",
        description=("Read the effects that finished runs measured (e.g. routing-ab's handle-time and FCR "
                     "effects), apply them jointly to a typical weekday of the warehouse and report the "
                     "change in required agents and in the service level at today's roster, with bands."),
        epilog="exit codes: 0 success, 2 usage error (an unknown run, a run with no usable effect, bad input)",
    )
    p.add_argument("runs", nargs="*", metavar="RUN_ID", help="run ids (or unique prefixes) to take effects from")
    p.add_argument("--effect", action="append", default=[], metavar="LEVER=R[:LO:HI[:LEVEL]]",
                   help="an effect given by hand: handle_time, volume or fcr (relative change)")
    p.add_argument("--runs-dir", default="runs", help="where runs live (default runs)")
    p.add_argument("--db", default=None, help="DuckDB warehouse for the baseline (default data/tws.duckdb)")
    p.add_argument("--warehouse", default=None, metavar="URL", help="warehouse URL for the baseline")
    p.add_argument("--weeks", type=int, default=4, help="weeks of history for the typical weekday")
    p.add_argument("--aht-s", type=float, default=None, help="mean handle time today (default: the warehouse's)")
    p.add_argument("--patience-s", type=float, default=180.0, help="mean patience (s); 0 for Erlang C")
    p.add_argument("--target-sl", type=float, default=0.8, help="service-level target")
    p.add_argument("--sl-threshold-s", type=float, default=20.0, help="answered within this many seconds")
    p.add_argument("--shrinkage", type=float, default=0.0, help="share of paid time off the phones")
    p.add_argument("--max-occupancy", type=float, default=None, help="occupancy cap in (0, 1]")
    p.add_argument("--draws", type=int, default=200, help="Monte Carlo draws of the effects")
    p.add_argument("--ci-level", type=float, default=0.9, help="level of the bands")
    p.add_argument("--seed", type=int, default=2026, help="seed of the draws")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--out", default=None, metavar="DIR", help="write whatif.json, whatif.csv and whatif.png")
    p.set_defaults(func=run)
    return p


def baseline(warehouse: Any, weeks: int) -> tuple[Any, float]:
    """Mean contacts per half hour of a week day over the last ``weeks`` weeks, and the mean handle time."""
    import pandas as pd

    from studies.catalog.staffing import typical_weekday

    last = warehouse.query("SELECT max(created_at) AS last FROM contacts")["last"].iloc[0]
    if last is None or pd.isna(last):
        raise ValueError("the contacts table is empty: no baseline to apply the effects to")
    end = pd.Timestamp(last).floor("D")
    start = end - pd.Timedelta(weeks=weeks)
    contacts = warehouse.query("SELECT created_at, queue, handle_s FROM contacts WHERE created_at >= ? "
                               "AND created_at < ?", [start.to_pydatetime(), end.to_pydatetime()])
    prof = typical_weekday(contacts, start, end).groupby("slot")["arrivals"].sum().reindex(range(48), fill_value=0.0)
    aht = float(pd.to_numeric(contacts["handle_s"], errors="coerce").dropna().mean())
    return prof.to_numpy(float), aht


def run(args: argparse.Namespace) -> int:
    """Collect the effects, build the baseline, propagate, print and write."""
    from servicelab.errors import ServicelabError
    from simulation import propagate_effects
    from studies.whatif import effects_from_run, parse_effect

    try:
        effects = [e for r in args.runs for e in effects_from_run(r, args.runs_dir)]
        effects += [parse_effect(t) for t in args.effect]
        if not effects:
            raise ValueError("give at least one RUN_ID or --effect")
        from studies.warehouse import DEFAULT_DB, open_warehouse

        wh = open_warehouse(args.warehouse or (args.db or DEFAULT_DB))
        try:
            vol, aht = baseline(wh, args.weeks)
        finally:
            wh.close()
        res = propagate_effects(vol, effects, aht_s=args.aht_s or aht, patience_s=args.patience_s or None,
                                target_sl=args.target_sl, service_level=args.sl_threshold_s,
                                n_draws=args.draws, ci_level=args.ci_level, shrinkage=args.shrinkage,
                                max_occupancy=args.max_occupancy, rng=args.seed)
    except (ServicelabError, ValueError) as e:
        print(f"servicelab whatif: {e}", file=sys.stderr)
        return 2
    from dataclasses import replace

    res = replace(res, notes=(*res.notes, (
        f"baseline: mean contacts per half hour of the last {args.weeks} weeks' week days, all queues pooled as "
        f"one queue served by one pool of agents (a lower bound for a centre split by skill), mean handle time "
        f"{args.aht_s or aht:.0f} s, mean patience "
        + (f"{args.patience_s:g} s (assumed; --patience-s)" if args.patience_s else "none (Erlang C)"))))
    if args.json:
        print(json.dumps(res.to_dict()))
    else:
        print(res.headline())
        print()
        for e in effects:
            print(f"  effect: {e.describe()}")
        for n in res.notes:
            print(f"  note: {n}")
        for d in res.diagnostics:
            print(f"  [{d.status.upper()}] {d.name}: {d.message}")
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "whatif.json").write_text(json.dumps(res.to_dict(), indent=2) + "\n")
        res.table.to_csv(out / "whatif.csv", index=False)
        res.plot().figure.savefig(out / "whatif.png", dpi=110, bbox_inches="tight")
        print(f"wrote {out / 'whatif.json'}", file=sys.stderr)
    return 0
