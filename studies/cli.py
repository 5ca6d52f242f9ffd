"""The ``servicelab`` command line.

Commands: ``world build``, ``run``, ``studies``, ``runs`` (``list``, ``show``, ``diff``, ``index``,
``clean``), ``book``, plus every module in :mod:`studies.commands` that defines ``register(subparsers)`` (for example
``erlang``).

Exit codes: 0 success; 1 the run failed (an exception, failed checks, a full disk; its ``.failed``
folder says why); 2 the command could not start (usage, an unknown study, a bad parameter, missing
data); 130 interrupted (Ctrl-C, SIGTERM or SIGHUP; the run is recorded as ``.failed``, status
``interrupted``).

Startup is kept light: this module imports no analysis library, and neither does ``servicelab
--help``, ``servicelab studies`` or a mistyped study name. Command modules are read without being
imported (the name and help of each ``subparsers.add_parser(...)`` call in their ``register``) and
imported only when their command runs.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import json
import os
import pkgutil
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

COMMANDS_PACKAGE = "studies.commands"

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _cmd_world_build(args: argparse.Namespace) -> int:
    import time

    from studies.warehouse import build_warehouse

    t0 = time.perf_counter()
    if args.format == "parquet":
        from studies.warehouse import build_parquet_world

        if not args.out:
            raise _usage_error("--format parquet needs --out DIR (the folder of the Parquet world)")
        target = args.out
        counts = build_parquet_world(target, seed=args.seed, scale=args.scale, force=args.force)
    else:
        if args.out:
            raise _usage_error("--out is for --format parquet; a DuckDB file is written to --db PATH")
        target = args.db
        counts = build_warehouse(target, seed=args.seed, scale=args.scale, force=args.force)
    print(f"built {target} (seed {args.seed}, scale {args.scale}) in {time.perf_counter() - t0:.1f} s")
    width = max(len(t) for t in counts)
    for table, n in counts.items():
        print(f"  {table:<{width}}  {n:>12,d}")
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from studies.runner.catalog import get_study, study_names, unknown_study_message

    if args.study not in study_names():  # answered without importing any study (or servicelab)
        raise _usage_error(unknown_study_message(args.study))
    from studies.runner.spec import parse_assignments

    # parameters are checked before any data is read or any folder is created
    overrides = parse_assignments(args.set)
    get_study(args.study).resolve_params(overrides)
    from studies.runner.run import run_study

    record = run_study(
        args.study,
        db=args.db,
        warehouse=args.warehouse,
        runs_dir=args.runs_dir,
        seed=args.seed,
        params=overrides,
        allow_failed_checks=args.allow_failed_checks,
        progress=not args.quiet,
        raise_errors=False,
    )
    if record.ok:
        print(record.headline)
        for d in record.manifest.get("diagnostics", []):
            if d["status"] != "ok":
                print(f"  [{d['status'].upper()}] {d['name']}: {d['message']}")
        print(f"run folder: {record.path}")
        return EXIT_OK
    word = "INTERRUPTED" if record.status == "interrupted" else "FAILED"
    print(f"run {word}: {record.error}", file=sys.stderr)
    exc = record.exception
    if exc is not None and not isinstance(exc, KeyboardInterrupt) and not _is_servicelab_error(exc):
        from studies.runner.run import storage_problem

        what = ("(" if storage_problem(exc, record.path) is not None
                else f"(an unexpected {type(exc).__name__}; ")
        error_txt = record.path / "error.txt"
        where = (f"the traceback is in {error_txt})" if error_txt.exists()
                 else "no traceback: error.txt could not be written)")
        print(f"  {what}{where}", file=sys.stderr)
    kept = record.manifest.get("files") or []
    if exc is not None and kept and record.status != "interrupted":  # it stopped part-way through writing
        print(f"  outputs kept: {', '.join(kept)}", file=sys.stderr)
    print(f"run folder: {record.path}", file=sys.stderr)
    return EXIT_INTERRUPTED if record.status == "interrupted" else EXIT_RUN_FAILED


def _cmd_studies(args: argparse.Namespace) -> int:
    from studies.runner.catalog import describe_studies

    studies = describe_studies(use_cache=not args.refresh)
    if args.json:
        print(json.dumps(studies, indent=2))
        return EXIT_OK
    for study in studies:
        print(f"{study['name']}: {study['title']}")
        print(f"    {study['question']}")
        for p in study["params"]:
            allowed = f"; {p['allowed']}" if p["allowed"] else ""
            print(f"    --set {p['name']}=<{p['type']}>  (default {p['default']!r}{allowed})  {p['help']}")
    return EXIT_OK


def _cmd_runs(args: argparse.Namespace) -> int:
    from studies.runner import store

    if args.other and args.action != "diff":
        raise _usage_error(f"unexpected argument {args.other!r}; only `servicelab runs diff` takes two runs")
    if args.action == "show":
        if not args.run_id:
            raise _usage_error("usage: servicelab runs show RUN_ID [--json]")
        folder = store.find_run(args.run_id, args.runs_dir)
        if args.json:
            manifest = folder / "manifest.json"
            print(manifest.read_text() if manifest.exists() else "{}")
            return EXIT_OK
        print(store.run_summary(folder))
        return EXIT_OK
    if args.action == "diff":
        if not (args.run_id and args.other):
            raise _usage_error("usage: servicelab runs diff RUN_A RUN_B [--json]")
        from studies.runner.compare import diff_runs

        diff = diff_runs(args.run_id, args.other, args.runs_dir)
        print(json.dumps(diff.to_dict(), indent=2) if args.json else diff.to_text())
        return EXIT_OK
    if args.action == "index":
        from studies.runner.index import write_index

        print(f"wrote {write_index(args.runs_dir)}")
        return EXIT_OK
    if args.action == "clean":
        if args.run_id:
            raise _usage_error("`servicelab runs clean` takes no run id; it removes every abandoned run")
        older = store.parse_age(args.older_than) if args.older_than else 0.0
        removed = store.clean_runs(args.runs_dir, older_than_s=older, dry_run=args.dry_run)
        verb = "would remove" if args.dry_run else "removed"
        for r in removed:
            print(f"{verb} {r['path']}  ({r.get('note') or 'abandoned'}; last write {r['last_write']})")
        print(f"{verb} {len(removed)} abandoned run folder(s) under {args.runs_dir}")
        return EXIT_OK
    if args.run_id:
        raise _usage_error(f"unexpected argument {args.run_id!r}; did you mean `servicelab runs show "
                           f"{args.run_id}`?")
    rows = store.list_runs(args.runs_dir)
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print(f"no runs under {args.runs_dir}")
        return EXIT_OK
    for r in rows:
        text = r.get("headline") or ""
        if r["status"] in ("running", "abandoned", "starting", "unknown", "unreadable"):
            text = r.get("note") or text
        if len(text) > 110:
            text = text[:107] + "..."
        print(f"{r['run_id']:<24} {r['study']:<16} {r['status']:<11} {text}")
    if any(r["status"] == "abandoned" for r in rows):
        print("abandoned runs died without finishing; `servicelab runs clean` removes them", file=sys.stderr)
    return EXIT_OK


def _cmd_book(args: argparse.Namespace) -> int:
    from studies.book import build_book

    return build_book(builder=args.builder, db=args.db, jobs=args.jobs, force=args.force,
                      pages=args.pages or None)


# -- plugin commands (studies/commands/*.py) ----------------------------------------------------------
def _command_modules() -> list[tuple[str, str | None]]:
    """(module name, file path) of every module in :mod:`studies.commands`, without importing them."""
    spec = importlib.util.find_spec(COMMANDS_PACKAGE)
    paths = list(spec.submodule_search_locations or []) if spec else []
    out = []
    for info in pkgutil.iter_modules(paths):
        if info.name.startswith("_"):
            continue
        full = f"{COMMANDS_PACKAGE}.{info.name}"
        found = importlib.util.find_spec(full)
        out.append((full, found.origin if found and found.has_location else None))
    return out


def declared_commands(path: str | Path) -> list[tuple[str, str]] | None:
    """The ``(name, help)`` of each command a module's ``register(subparsers)`` adds, read from its source.

    Returns None when that cannot be read statically (no ``register``, or a name or help that is not a
    literal); the module is then imported to register it.

    Examples
    --------
    >>> import studies.commands, pathlib
    >>> declared_commands(pathlib.Path(studies.commands.__file__).with_name("erlang.py"))[0][0]
    'erlang'
    """
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError, ValueError):
        return None
    register = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "register"), None)
    if register is None or not register.args.args:
        return None
    sub = register.args.args[0].arg
    found: list[tuple[str, str]] = []
    for node in ast.walk(register):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_parser" and isinstance(node.func.value, ast.Name)
                and node.func.value.id == sub):
            continue
        name = node.args[0] if node.args else None
        help_ = next((k.value for k in node.keywords if k.arg == "help"), None)
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)
                and (help_ is None or (isinstance(help_, ast.Constant) and isinstance(help_.value, str)))):
            return None
        found.append((name.value, help_.value if help_ is not None else ""))
    return found or None


def _not_loaded(args: argparse.Namespace) -> int:  # noqa: ARG001  # pragma: no cover - command-handler signature; main() always loads the command run
    raise RuntimeError("command module was not loaded; call studies.cli.main()")


def _register_commands(sub: Any, load: Collection[str] | None) -> None:
    for module_name, path in _command_modules():
        declared = declared_commands(path) if (path and load is not None) else None
        if declared is not None and not any(name in load for name, _ in declared):
            for name, help_ in declared:
                placeholder = sub.add_parser(name, help=help_, add_help=False)
                placeholder.set_defaults(func=_not_loaded)
            continue
        register = getattr(importlib.import_module(module_name), "register", None)
        if callable(register):
            register(sub)


# -- parser and entry point ----------------------------------------------------------------------------
class _VersionAction(argparse.Action):
    """``--version``, importing servicelab only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,  # noqa: ARG002
                 option_string: str | None = None) -> None:  # noqa: ARG002 - argparse.Action's call signature
        from servicelab import __version__

        parser.exit(message=f"servicelab {__version__}\n")


def build_parser(load_commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered.

    Parameters
    ----------
    load_commands : collection of str, optional
        Plugin commands (from :mod:`studies.commands`) to import and register in full; the others are
        listed from their source without importing them. None (the default) imports every one.
    """
    parser = argparse.ArgumentParser(
        prog="servicelab", description="Customer-service analytics: studies, experiments, simulation.",
        epilog="exit codes: 0 success, 1 the run failed, 2 usage or parameter error, 130 interrupted",
    )
    parser.add_argument("--version", action=_VersionAction, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    world = sub.add_parser("world", help="build the synthetic service world warehouse")
    wsub = world.add_subparsers(dest="world_command", required=True, metavar="ACTION")
    build = wsub.add_parser("build", help="generate the world and write it to a DuckDB file")
    build.add_argument("--seed", type=int, default=20260105, help="world seed (default 20260105)")
    build.add_argument("--scale", type=float, default=1.0, help="1.0 = about 1M contacts over 90 days")
    build.add_argument("--db", default="data/tws.duckdb", help="target DuckDB file")
    build.add_argument("--format", choices=["duckdb", "parquet"], default="duckdb",
                       help="a DuckDB file (--db) or a Parquet folder (--out), read by DuckDB and Spark")
    build.add_argument("--out", default=None, help="target folder of --format parquet")
    build.add_argument("--force", action="store_true", help="replace an existing file")
    build.set_defaults(func=_cmd_world_build)

    run = sub.add_parser(
        "run", help="run a study into a new run folder",
        description="Run a study. Parameters are checked (type, range, choices) before any data is read. "
                    "Progress goes to stderr, the headline to stdout.",
        epilog="exit codes: 0 success, 1 the run failed (see its .failed folder), 2 usage or parameter "
               "error (nothing written), 130 interrupted (recorded as .failed, status interrupted)")
    run.add_argument("study", help="study name (see `servicelab studies`)")
    run.add_argument("--seed", type=int, default=None, help="seed (default: the study's)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter")
    run.add_argument("--db", default="data/tws.duckdb", help="warehouse file (DuckDB)")
    run.add_argument("--warehouse", default=None, metavar="URL",
                     help="warehouse URL, wins over --db: duckdb:///FILE.duckdb, duckdb:///DIR (a Parquet "
                          "world), spark+local:///DIR (Spark local[2] over a Parquet world), or a FILE.toml "
                          "describing a URL or a DB-API driver (Trino, BigQuery...) and its dialect")
    run.add_argument("--runs-dir", default="runs", help="root of the run folders")
    run.add_argument("--allow-failed-checks", action="store_true",
                     help="mark the run a success even if a diagnostic failed (recorded in the manifest)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    run.set_defaults(func=_cmd_run)

    st = sub.add_parser("studies", help="list the studies and their parameters (with allowed values)")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument("--refresh", action="store_true",
                    help="rebuild the cached catalog index by importing every study module")
    st.set_defaults(func=_cmd_studies)

    runs = sub.add_parser(
        "runs", help="list runs; `runs show ID` for one run's summary; `runs diff A B` compares two; "
                     "`runs clean` removes abandoned runs",
        description="List run folders (successful, failed, interrupted, running and abandoned), show one "
                    "(`show ID`, by id or a unique prefix of its timestamp or hex part), compare two "
                    "(`diff A B`: parameters, data fingerprint, effects side by side), rewrite the HTML "
                    "index runs/index.html (`index`; every run rewrites it), or remove the "
                    "temporary folders of runs whose process is gone (`clean`).")
    runs.add_argument("action", nargs="?", choices=["list", "show", "diff", "clean", "index"],
                      default="list")
    runs.add_argument("run_id", nargs="?", help="run id (folder name, or a unique prefix of its timestamp "
                                                "or hex part)")
    runs.add_argument("other", nargs="?", help="diff: the second run id")
    runs.add_argument("--json", action="store_true",
                      help="machine-readable output (show: the whole manifest; diff: the comparison)")
    runs.add_argument("--runs-dir", default="runs", help="root of the run folders")
    runs.add_argument("--dry-run", action="store_true", help="clean: only print what would be removed")
    runs.add_argument("--older-than", metavar="AGE", default=None,
                      help="clean: only runs whose last write is older than AGE (90s, 30m, 2h, 7d)")
    runs.set_defaults(func=_cmd_runs)

    book = sub.add_parser("book", help="build the methodology book (HTML, notebooks executed, warnings as errors)")
    book.add_argument("--builder", default="html", choices=["html", "dirhtml"])
    book.add_argument("--db", default=None, help="warehouse the notebooks read (default data/tws.duckdb)")
    book.add_argument("--jobs", type=int, default=None, help="notebooks executed at once (default: CPUs, <= 4)")
    book.add_argument("--force", action="store_true",
                      help="execute every notebook, even those cached for this code and data")
    book.add_argument("--pages", nargs="*", default=None,
                      help="only execute notebooks whose file name contains one of these (others must be cached)")
    book.set_defaults(func=_cmd_book)

    _register_commands(sub, load_commands)
    return parser


def _command_word(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (its first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def _is_servicelab_error(exc: BaseException) -> bool:
    # an instance of ServicelabError exists only if servicelab.errors was imported: looking it up in
    # sys.modules keeps `servicelab --help` from importing servicelab (and pandas) just for this check
    errors = sys.modules.get("servicelab.errors")
    return errors is not None and isinstance(exc, errors.ServicelabError)


class _UsageError(Exception):
    """A command-line usage problem found by a command (exit 2)."""


def _usage_error(message: str) -> _UsageError:
    return _UsageError(message)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``servicelab`` command; returns the exit code (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    word = _command_word(argv)
    parser = build_parser(load_commands=() if word is None else (word,))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `servicelab studies | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        if not _is_servicelab_error(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        for note in getattr(exc, "__notes__", []):
            print(note, file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_RUN_FAILED", "EXIT_USAGE", "build_parser",
           "declared_commands", "main"]
