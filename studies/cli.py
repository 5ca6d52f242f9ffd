"""The ``servicelab`` command line.

Commands: ``world build``, ``run``, ``studies``, ``runs``, ``runs show``, ``book``, plus every module in
:mod:`studies.commands` that defines ``register(subparsers)`` (for example ``erlang``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from collections.abc import Sequence

import studies.commands as _commands
from servicelab import __version__
from servicelab.errors import ServicelabError


def _cmd_world_build(args: argparse.Namespace) -> int:
    import time

    from studies.warehouse import build_warehouse

    t0 = time.perf_counter()
    counts = build_warehouse(args.db, seed=args.seed, scale=args.scale, force=args.force)
    print(f"built {args.db} (seed {args.seed}, scale {args.scale}) in {time.perf_counter() - t0:.1f} s")
    width = max(len(t) for t in counts)
    for table, n in counts.items():
        print(f"  {table:<{width}}  {n:>12,d}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from studies.runner import parse_assignments, run_study

    record = run_study(
        args.study,
        db=args.db,
        runs_dir=args.runs_dir,
        seed=args.seed,
        params=parse_assignments(args.set),
        allow_failed_checks=args.allow_failed_checks,
    )
    if record.ok:
        print(record.headline)
        for d in record.manifest.get("diagnostics", []):
            if d["status"] != "ok":
                print(f"  [{d['status'].upper()}] {d['name']}: {d['message']}")
        print(f"run folder: {record.path}")
        return 0
    print(f"run FAILED: {record.manifest.get('error')}", file=sys.stderr)
    print(f"run folder: {record.path}", file=sys.stderr)
    return 1


def _cmd_studies(args: argparse.Namespace) -> int:
    from studies.runner import list_studies

    for name, study in list_studies().items():
        print(f"{name}: {study.title}")
        print(f"    {study.question}")
        for p in study.params:
            print(f"    --set {p.name}=<{p.type.__name__}>  (default {p.default!r})  {p.help}")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from studies.runner import find_run, list_runs

    if args.action == "show":
        if not args.run_id:
            raise ServicelabError("usage: servicelab runs show RUN_ID")
        folder = find_run(args.run_id, args.runs_dir)
        manifest = json.loads((folder / "manifest.json").read_text())
        if args.json:
            print(json.dumps(manifest, indent=2))
            return 0
        report = folder / "report.md"
        print(report.read_text() if report.exists() else json.dumps(manifest, indent=2))
        print(f"run folder: {folder}")
        return 0
    rows = list_runs(args.runs_dir)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no runs under {args.runs_dir}")
        return 0
    for r in rows:
        print(f"{r['run_id']:<32} {r['study']:<16} {r['status']:<8} {r.get('headline') or ''}")
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    from studies.book import build_book

    return build_book(builder=args.builder, db=args.db)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="servicelab", description="Customer-service analytics: studies, experiments, simulation."
    )
    parser.add_argument("--version", action="version", version=f"servicelab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    world = sub.add_parser("world", help="build the synthetic service world warehouse")
    wsub = world.add_subparsers(dest="world_command", required=True, metavar="ACTION")
    build = wsub.add_parser("build", help="generate the world and write it to a DuckDB file")
    build.add_argument("--seed", type=int, default=20260105, help="world seed (default 20260105)")
    build.add_argument("--scale", type=float, default=1.0, help="1.0 = about 1M contacts over 90 days")
    build.add_argument("--db", default="data/tws.duckdb", help="target DuckDB file")
    build.add_argument("--force", action="store_true", help="replace an existing file")
    build.set_defaults(func=_cmd_world_build)

    run = sub.add_parser("run", help="run a study into a new run folder")
    run.add_argument("study", help="study name (see `servicelab studies`)")
    run.add_argument("--seed", type=int, default=None, help="seed (default: the study's)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter")
    run.add_argument("--db", default="data/tws.duckdb", help="warehouse file")
    run.add_argument("--runs-dir", default="runs", help="root of the run folders")
    run.add_argument("--allow-failed-checks", action="store_true",
                     help="mark the run a success even if a diagnostic failed (recorded in the manifest)")
    run.set_defaults(func=_cmd_run)

    st = sub.add_parser("studies", help="list the studies and their parameters")
    st.set_defaults(func=_cmd_studies)

    runs = sub.add_parser("runs", help="list runs, or `runs show ID` for one run's summary")
    runs.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    runs.add_argument("run_id", nargs="?", help="run id (folder name, or a unique prefix/suffix)")
    runs.add_argument("--json", action="store_true", help="machine-readable output")
    runs.add_argument("--runs-dir", default="runs", help="root of the run folders")
    runs.set_defaults(func=_cmd_runs)

    book = sub.add_parser("book", help="build the methodology book (HTML, forced execution, warnings as errors)")
    book.add_argument("--builder", default="html", choices=["html", "dirhtml"])
    book.add_argument("--db", default=None, help="warehouse the notebooks read (default data/tws.duckdb)")
    book.set_defaults(func=_cmd_book)

    for info in pkgutil.iter_modules(_commands.__path__):
        module = importlib.import_module(f"{_commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``servicelab`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ServicelabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for note in getattr(exc, "__notes__", []):
            print(note, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

__all__ = ["build_parser", "main"]
