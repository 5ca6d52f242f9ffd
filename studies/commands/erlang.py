"""``servicelab erlang``: a quick Erlang C / Erlang A calculator on the command line.

Examples
--------
Measures at a given staffing (Erlang C, and Erlang A when a patience is given)::

    servicelab erlang --arrivals-per-hour 6000 --aht-s 300 --agents 520 --patience-s 120

A table of agents against service level, ASA, occupancy and P(wait) (and abandonment for
Erlang A), one row per staffing in a range (``FIRST:LAST`` inclusive, or ``FIRST:LAST:STEP``)::

    servicelab erlang --arrivals-per-hour 6000 --aht-s 300 --agents 480:540:5 --patience-s 120

Minimum agents for a target (no ``--agents``)::

    servicelab erlang --arrivals-per-hour 6000 --aht-s 300 --patience-s 120 --target-sl 0.8

The service level is named in every output: answered within ``--sl-threshold-s`` over
``--sl-denominator`` contacts, with ``--short-abandon-s`` (and ``--short-abandons``) for short
abandons; see :class:`simulation.ServiceLevel`. ``--sl-definition`` (a former string name) still
works and is deprecated. Zero arrivals are allowed. Output into a closed pipe (``| head``) ends
quietly with exit status 141, like other command-line tools killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

from servicelab.errors import ServicelabError, UnstableQueueError
from simulation import ServiceLevel
from simulation.analytic import erlang_a, erlang_c
from simulation.service_level import LEGACY_SL_NAMES
from simulation.staffing import required_agents

__all__ = ["register", "run"]

MAX_TABLE_ROWS = 100_000
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool whose reader went away


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``erlang`` subcommand to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    p = subparsers.add_parser(
        "erlang",
        help="Erlang C / Erlang A calculator (measures, a staffing table, or minimum agents for a target)",
        description=(
            "Exact Erlang C (no abandonment) and, with --patience-s, Erlang A (M/M/n+M) "
            "measures for one stationary interval. --agents N gives the measures at N agents, "
            "--agents FIRST:LAST[:STEP] a table of agents against service level, ASA, occupancy, "
            "P(wait) and P(abandon); without --agents and with --target-sl, the minimum agents."
        ),
    )
    p.add_argument("--arrivals-per-hour", type=float, required=True, help="arrival rate per hour (>= 0)")
    p.add_argument("--aht-s", type=float, required=True, help="mean handle time in seconds")
    p.add_argument("--agents", type=str, default=None,
                   help="agents in the pool: N, or a range FIRST:LAST[:STEP] (inclusive) for a table")
    p.add_argument("--patience-s", type=float, default=None, help="mean patience in seconds (Erlang A)")
    p.add_argument("--sl-threshold-s", type=float, default=20.0, help="service-level threshold (s)")
    p.add_argument("--sl-denominator", choices=("offered", "answered", "answered_and_late_abandons"),
                   default="offered", help="contacts the service level is over (default: all offered)")
    p.add_argument("--short-abandon-s", type=float, default=None,
                   help="contacts abandoning in under this many seconds are short abandons")
    p.add_argument("--short-abandons", choices=("excluded", "met"), default="excluded",
                   help="short abandons are left out (default) or count as answered in time")
    p.add_argument("--sl-definition", choices=LEGACY_SL_NAMES, default=None,
                   help="deprecated: a former service-level name (use --sl-denominator and --short-abandon-s)")
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


def _service_level(args: argparse.Namespace) -> ServiceLevel:
    if args.sl_definition is not None:
        if args.sl_denominator != "offered" or args.short_abandon_s is not None:
            raise ServicelabError("--sl-definition is the deprecated form of --sl-denominator/--short-abandon-s: "
                                  "give one or the other")
        print("servicelab erlang: note: --sl-definition is deprecated; use --sl-denominator and "
              "--short-abandon-s", file=sys.stderr)
        return ServiceLevel.from_legacy(args.sl_definition, args.sl_threshold_s)
    return ServiceLevel(args.sl_threshold_s, args.sl_denominator, args.short_abandon_s, args.short_abandons)


def _agent_range(text: str) -> range | int:
    """``N`` -> N; ``A:B`` or ``A:B:S`` -> range(A, B + 1, S)."""
    parts = text.split(":")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise ServicelabError(f"--agents must be an integer N or a range FIRST:LAST[:STEP], got {text!r}") from None
    if len(nums) == 1:
        return nums[0]
    if len(nums) not in (2, 3):
        raise ServicelabError(f"--agents range must be FIRST:LAST or FIRST:LAST:STEP, got {text!r}")
    first, last = nums[0], nums[1]
    step = nums[2] if len(nums) == 3 else 1
    if first < 1 or last < first or step < 1:
        raise ServicelabError(f"--agents range needs 1 <= FIRST <= LAST and STEP >= 1, got {text!r}")
    rows = range(first, last + 1, step)
    if len(rows) > MAX_TABLE_ROWS:
        raise ServicelabError(f"--agents {text} gives {len(rows):,} rows; at most {MAX_TABLE_ROWS:,}: raise STEP")
    return rows


def _measures(args: argparse.Namespace, agents: int, sl: ServiceLevel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        out["erlang_c"] = erlang_c(args.arrivals_per_hour, args.aht_s, agents, sl).to_dict()
    except UnstableQueueError as exc:
        if args.patience_s is None:
            raise
        out["erlang_c"] = {"error": str(exc)}
    if args.patience_s is not None:
        out["erlang_a"] = erlang_a(args.arrivals_per_hour, args.aht_s, agents, args.patience_s, sl).to_dict()
    return out


def _staffing(args: argparse.Namespace, sl: ServiceLevel) -> dict[str, Any]:
    common = {"target_sl": args.target_sl, "service_level": sl}
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


def _table(result: dict[str, Any], sl: ServiceLevel) -> str:
    models = list(result)
    lines = [f"{'':<26}" + "".join(f"{m:>14}" for m in models)]
    for key, label, fmt in _ROWS:
        cells = []
        for m in models:
            v = result[m].get(key)
            cells.append(f"{fmt.format(v):>14}" if isinstance(v, int | float) else f"{'-':>14}")
        if any(c.strip() != "-" for c in cells):
            lines.append(f"{label:<26}" + "".join(cells))
    lines.append(f"service level = {sl.describe()}")
    lines.extend(f"{m}: {result[m]['error']}" for m in models if "error" in result[m])
    return "\n".join(lines)


def _sweep(args: argparse.Namespace, agents: range, sl: ServiceLevel) -> Iterator[dict[str, Any]]:
    """One row per staffing: Erlang A with a patience, else Erlang C (unstable rows marked)."""
    for n in agents:
        if args.patience_s is not None:
            r = erlang_a(args.arrivals_per_hour, args.aht_s, n, args.patience_s, sl)
            yield {"agents": n, "model": "erlang_a", "service_level": r.service_level, "asa_s": r.asa_answered_s,
                   "occupancy": r.occupancy, "p_wait": r.p_wait, "p_abandon": r.p_abandon}
            continue
        try:
            c = erlang_c(args.arrivals_per_hour, args.aht_s, n, sl)
        except UnstableQueueError:
            yield {"agents": n, "model": "erlang_c", "service_level": None, "asa_s": None, "occupancy": None,
                   "p_wait": None, "stable": False}
            continue
        yield {"agents": n, "model": "erlang_c", "service_level": c.service_level, "asa_s": c.asa_s,
               "occupancy": c.occupancy, "p_wait": c.p_wait, "stable": True}


def _sweep_lines(rows: Iterator[dict[str, Any]], erlang_a_model: bool) -> Iterator[str]:
    cols = ["agents", "service_level", "asa_s", "occupancy", "p_wait"] + (["p_abandon"] if erlang_a_model else [])
    heads = {"agents": "agents", "service_level": "service level", "asa_s": "ASA (s)" if not erlang_a_model
             else "ASA answered (s)", "occupancy": "occupancy", "p_wait": "P(wait)", "p_abandon": "P(abandon)"}
    yield "".join(f"{heads[c]:>17}" for c in cols)
    for row in rows:
        if row["service_level"] is None:
            yield f"{row['agents']:>17d}" + f"{'unstable (load >= agents)':>34}"
            continue
        cells = [f"{row['agents']:>17d}"]
        cells += [f"{row[c]:>17.4f}" if c != "asa_s" else f"{row[c]:>17.2f}" for c in cols[1:]]
        yield "".join(cells)


class _Output:
    """stdout that goes quiet once its reader has gone (``| head``): no traceback, exit 141."""

    def __init__(self) -> None:
        self.broken = False

    def line(self, text: str) -> None:
        if self.broken:
            return
        try:
            sys.stdout.write(text + "\n")
        except BrokenPipeError:
            self._close()

    def flush(self) -> None:
        if self.broken:
            return
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            self._close()

    def _close(self) -> None:
        self.broken = True
        # the interpreter flushes stdout again at exit: point it at /dev/null so that this
        # flush cannot raise a second BrokenPipeError (the recipe of the Python docs, signal module)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
            pass


def run(args: argparse.Namespace) -> int:
    """Execute ``servicelab erlang``; returns the exit code (0 ok, 2 bad input, 141 closed pipe)."""
    out = _Output()
    try:
        sl = _service_level(args)
        if args.max_abandon is not None and (args.patience_s is None or args.agents is not None):
            raise ServicelabError(
                "--max-abandon caps abandonment in Erlang A staffing: it needs --patience-s and "
                "--target-sl without --agents (with --agents, drop --max-abandon and read p_abandon)"
            )
        rate = f"{args.arrivals_per_hour:g}/h, AHT {args.aht_s:g} s" + (
            f", patience {args.patience_s:g} s" if args.patience_s is not None else "")
        if args.agents is None:
            if args.target_sl is None:
                raise ServicelabError(
                    "give --agents for measures, or --target-sl (without --agents) for the minimum number of agents"
                )
            result: Any = _staffing(args, sl)
            header = f"Minimum agents for {args.target_sl:.0%} within {args.sl_threshold_s:g} s ({rate})"
        else:
            if args.target_sl is not None:
                raise ServicelabError("--target-sl needs no --agents: drop one of them")
            agents = _agent_range(args.agents)
            if isinstance(agents, range):
                rows = _sweep(args, agents, sl)
                if args.json:
                    payload = {"service_level_definition": sl.to_dict(), "rows": list(rows)}
                    out.line(json.dumps(payload, indent=2))
                else:
                    model = "Erlang A" if args.patience_s is not None else "Erlang C"
                    out.line(f"{model} by agents: {rate}")
                    for text in _sweep_lines(rows, args.patience_s is not None):
                        out.line(text)
                        if out.broken:
                            break
                    out.line(f"service level = {sl.describe()}")
                out.flush()
                return EXIT_BROKEN_PIPE if out.broken else 0
            result = _measures(args, agents, sl)
            header = f"Erlang measures: {rate}, {agents} agents"
    except ServicelabError as exc:
        print(f"servicelab erlang: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        out.line(json.dumps(result, indent=2))
    else:
        out.line(header)
        out.line(_table(result, sl))
    out.flush()
    return EXIT_BROKEN_PIPE if out.broken else 0
