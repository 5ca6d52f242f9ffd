"""``servicelab erlang``: a quick Erlang C / Erlang A calculator on the command line.

Examples
--------
Measures at a given staffing (Erlang C, and Erlang A when a patience is given)::

    servicelab erlang --arrivals-per-hour 6000 --aht-s 300 --agents 520 --patience-s 120

Minimum agents for a target (no ``--agents``)::

    servicelab erlang --arrivals-per-hour 6000 --aht-s 300 --patience-s 120 --target-sl 0.8
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from servicelab.errors import ServicelabError, UnstableQueueError
from simulation.analytic import SL_DEFINITIONS, erlang_a, erlang_c
from simulation.staffing import required_agents

__all__ = ["register", "run"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``erlang`` subcommand to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    p = subparsers.add_parser(
        "erlang",
        help="Erlang C / Erlang A calculator (measures, or minimum agents for a target)",
        description=(
            "Exact Erlang C (no abandonment) and, with --patience-s, Erlang A (M/M/n+M) "
            "measures for one stationary interval. Without --agents and with --target-sl, "
            "print the minimum number of agents instead."
        ),
    )
    p.add_argument("--arrivals-per-hour", type=float, required=True, help="arrival rate per hour")
    p.add_argument("--aht-s", type=float, required=True, help="mean handle time in seconds")
    p.add_argument("--agents", type=int, default=None, help="agents in the pool")
    p.add_argument("--patience-s", type=float, default=None, help="mean patience in seconds (Erlang A)")
    p.add_argument("--sl-threshold-s", type=float, default=20.0, help="service-level threshold (s)")
    p.add_argument(
        "--sl-definition",
        choices=sorted(SL_DEFINITIONS),
        default="answered_within_t/all_arrivals",
        help="service-level definition (default: answered within t over all arrivals)",
    )
    p.add_argument("--target-sl", type=float, default=None, help="target service level (without --agents)")
    p.add_argument(
        "--max-abandon",
        type=float,
        default=None,
        help="abandonment cap for Erlang A staffing (needs --patience-s and --target-sl, no --agents)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)
    return p


def _measures(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        out["erlang_c"] = erlang_c(
            args.arrivals_per_hour, args.aht_s, args.agents, args.sl_threshold_s, args.sl_definition
        ).to_dict()
    except UnstableQueueError as exc:
        if args.patience_s is None:
            raise
        out["erlang_c"] = {"error": str(exc)}
    if args.patience_s is not None:
        out["erlang_a"] = erlang_a(
            args.arrivals_per_hour,
            args.aht_s,
            args.agents,
            args.patience_s,
            args.sl_threshold_s,
            args.sl_definition,
        ).to_dict()
    return out


def _staffing(args: argparse.Namespace) -> dict[str, Any]:
    common = {
        "target_sl": args.target_sl,
        "sl_threshold_s": args.sl_threshold_s,
        "sl_definition": args.sl_definition,
    }
    out: dict[str, Any] = {
        "erlang_c": required_agents(args.arrivals_per_hour, args.aht_s, model="erlang_c", **common).to_dict()
    }
    if args.patience_s is not None:
        out["erlang_a"] = required_agents(
            args.arrivals_per_hour,
            args.aht_s,
            patience_s=args.patience_s,
            max_abandon=args.max_abandon,
            model="erlang_a",
            **common,
        ).to_dict()
    return out


_ROWS = (
    ("agents", "agents", "{:.0f}"),
    ("load", "offered load (Erlangs)", "{:.2f}"),
    ("p_wait", "P(wait)", "{:.4f}"),
    ("p_abandon", "P(abandon)", "{:.4f}"),
    ("asa_s", "ASA (s)", "{:.2f}"),
    ("asa_answered_s", "ASA of answered (s)", "{:.2f}"),
    ("mean_wait_all_s", "mean wait, all (s)", "{:.2f}"),
    ("lq", "mean queue length", "{:.3f}"),
    ("occupancy", "occupancy", "{:.4f}"),
    ("service_level", "service level", "{:.4f}"),
)


def _table(result: dict[str, Any], args: argparse.Namespace) -> str:
    models = list(result)
    lines = [f"{'':<26}" + "".join(f"{m:>14}" for m in models)]
    for key, label, fmt in _ROWS:
        cells = []
        for m in models:
            v = result[m].get(key)
            cells.append(f"{fmt.format(v):>14}" if isinstance(v, int | float) else f"{'-':>14}")
        if any(c.strip() != "-" for c in cells):
            lines.append(f"{label:<26}" + "".join(cells))
    lines.append(f"service level = {SL_DEFINITIONS[args.sl_definition]}, t = {args.sl_threshold_s:g} s")
    for m in models:
        if "error" in result[m]:
            lines.append(f"{m}: {result[m]['error']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Execute ``servicelab erlang``; returns the exit code (0 ok, 2 bad input)."""
    try:
        if args.max_abandon is not None and (args.patience_s is None or args.agents is not None):
            raise ServicelabError(
                "--max-abandon caps abandonment in Erlang A staffing: it needs --patience-s and "
                "--target-sl without --agents (with --agents, drop --max-abandon and read p_abandon)"
            )
        if args.agents is None:
            if args.target_sl is None:
                raise ServicelabError(
                    "give --agents for measures, or --target-sl (without --agents) for the minimum number of agents"
                )
            result = _staffing(args)
            header = (
                f"Minimum agents for {args.target_sl:.0%} within {args.sl_threshold_s:g} s "
                f"({args.arrivals_per_hour:g}/h, AHT {args.aht_s:g} s"
                + (f", patience {args.patience_s:g} s" if args.patience_s else "")
                + ")"
            )
        else:
            if args.target_sl is not None:
                raise ServicelabError("--target-sl needs no --agents: drop one of them")
            result = _measures(args)
            header = f"Erlang measures: {args.arrivals_per_hour:g}/h, AHT {args.aht_s:g} s, {args.agents} agents" + (
                f", patience {args.patience_s:g} s" if args.patience_s else ""
            )
    except ServicelabError as exc:
        print(f"servicelab erlang: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(header)
        print(_table(result, args))
    return 0
