"""Run a study into a new run folder with provenance, from its first second to its end.

The life of a run:

1. **Checks**, before anything is read or written: the study exists, every parameter has the right
   type and range, the runs folder is writable, the warehouse has the tables and columns the study
   needs. A failure raises (the command line exits 2) and leaves nothing behind.
2. **Start**: ``runs/STUDY/.tmp-<id>/`` is created with ``manifest.json`` (status ``"running"``, pid,
   host, parameters, seed, git state, environment, data), written atomically. ``servicelab runs``
   lists it as *running* while its process lives and as *abandoned* once it is gone (SIGKILL, a
   power cut); ``servicelab runs clean`` removes abandoned ones.
3. **Run**: the study runs with progress lines on stderr, the named third-party warning filters of
   :mod:`studies.runner.warning_filters`, and SIGINT/SIGTERM/SIGHUP turned into :class:`RunInterrupted`
   and remembered, so a study (or library) that swallows the interrupt cannot make the run a success.
4. **End**: outputs are written file by file (each atomically), then the report and the manifest;
   the folder is renamed to ``<id>`` (success) or ``<id>.failed`` (failed checks, an exception, an
   interrupt, a full disk). A failed run's manifest and ``error.txt`` are written first and small, so
   they survive a full disk; whatever outputs were complete stay in the folder.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import socket
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from servicelab.errors import RunError
from studies.runner import catalog
from studies.runner.context import StudyContext
from studies.runner.interrupts import InterruptGuard, RunInterrupted
from studies.runner.nodata import NoWarehouse
from studies.runner.progress import Progress, expected_from, format_duration
from studies.runner.provenance import environment, git_state
from studies.runner.spec import Study, StudyOutput
from studies.runner.store import FAILED_SUFFIX, TMP_PREFIX, process_start_token
from studies.runner.warning_filters import quiet_library_logs, study_warning_filters
from studies.warehouse import DEFAULT_DB, Warehouse, open_warehouse

__all__ = ["DEFAULT_RUNS_DIR", "EFFECTS_TABLE", "RunRecord", "export_frame", "run_study", "storage_problem"]

DEFAULT_RUNS_DIR = Path("runs")
_PARTIAL = ".partial."
EFFECTS_TABLE = "effects"
"""The table a study names so is also written as ``tables/effects.csv`` (with study and run id)."""
_HISTORY_LIMIT = 25  # finished runs read when looking for the last comparable one (stage times)


@dataclass(frozen=True)
class RunRecord:
    """Where a run went and how it ended.

    Attributes
    ----------
    path : Path
        The run folder (``runs/STUDY/<UTC timestamp>-<id>`` or with a ``.failed`` suffix).
    status : str
        ``"success"``, ``"failed"`` or ``"interrupted"``.
    manifest : dict
        The manifest written into the folder.
    output : StudyOutput or None
        What the study returned (None when it raised or was interrupted).
    exception : BaseException or None
        What ended a failed or interrupted run (``run_study(..., raise_errors=False)``).
    """

    path: Path
    status: str
    manifest: dict[str, Any]
    output: StudyOutput | None
    exception: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True for a successful run."""
        return self.status == "success"

    @property
    def headline(self) -> str:
        """The study's headline (or the failure message)."""
        return self.manifest.get("headline") or self.manifest.get("error", "")

    @property
    def error(self) -> str | None:
        """Why the run failed (None for a success)."""
        return self.manifest.get("error")


def _new_run_id(now: datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def run_study(
    name: str,
    *,
    db: str | Path = DEFAULT_DB,
    warehouse: str | Warehouse | None = None,
    runs_dir: str | Path = DEFAULT_RUNS_DIR,
    seed: int | None = None,
    params: Mapping[str, Any] | None = None,
    allow_failed_checks: bool = False,
    progress: bool | None = None,
    raise_errors: bool = True,
) -> RunRecord:
    """Run study ``name`` and write a new run folder.

    The folder is written under a hidden temporary name and renamed into place only when complete,
    so an interrupted run never leaves a half-written "success". A study that raises, is interrupted
    (SIGINT/Ctrl-C, SIGTERM or SIGHUP, even if the study catches the interrupt), cannot write its outputs, or
    whose diagnostics include a failure (unless ``allow_failed_checks``) ends in a folder with the
    ``.failed`` suffix holding the manifest, ``error.txt`` and whatever outputs were complete.
    Existing run folders are never touched.

    Parameters
    ----------
    name : str
        Study name (see ``servicelab studies``).
    db : path
        Warehouse file (DuckDB), the shorthand for ``warehouse="duckdb:///PATH"``.
    warehouse : str or Warehouse, optional
        A warehouse URL (``duckdb:///DIR``, ``spark+local:///DIR``; see
        :func:`studies.warehouse.open_warehouse`) or an open :class:`~studies.warehouse.Warehouse`
        (which the run does not close). Wins over ``db``.
    runs_dir : path
        Root of the run folders.
    seed : int, optional
        Seed; the study's default seed when omitted.
    params : mapping, optional
        Parameter overrides (strings from the command line are parsed to the declared types and
        checked against the declared ranges before any data is read).
    allow_failed_checks : bool
        Record failed diagnostics but still mark the run a success.
    progress : bool, optional
        Print stage lines on stderr; by default only when stderr is a terminal.
    raise_errors : bool
        Re-raise what ended a failed run (the default). ``False`` returns its :class:`RunRecord`
        instead (``status`` ``"failed"`` or ``"interrupted"``, the exception in ``exception``); the
        command line uses it. Problems found before the run starts always raise.

    Returns
    -------
    RunRecord

    Raises
    ------
    ParameterError
        Unknown or invalid parameters (before anything is read or written).
    RunError
        Unknown study, or a runs folder that cannot be written (before anything is written).
    DataError
        Missing warehouse, tables or columns (before anything is written).
    RunInterrupted
        SIGINT, SIGTERM or SIGHUP during the run (a ``KeyboardInterrupt``), after recording it as
        ``.failed`` with status ``"interrupted"``.

    Examples
    --------
    >>> rec = run_study("routing-ab", db="data/tws.duckdb", seed=1)  # doctest: +SKIP
    >>> rec.path  # doctest: +SKIP
    PosixPath('runs/routing-ab/20261126T101500Z-1a2b3c')
    """
    study = catalog.get_study(name)
    resolved = study.resolve_params(params)
    seed = study.default_seed if seed is None else int(seed)
    if seed < 0:
        raise RunError(f"seed must be a non-negative integer, got {seed}")
    runs_root = Path(runs_dir) / study.name
    _check_writable(runs_root)

    owned = not isinstance(warehouse, Warehouse)
    if not study.tables:
        # a study that declares no tables (it makes its own data, e.g. scorecard) needs no warehouse
        warehouse = NoWarehouse() if owned else warehouse
    elif isinstance(warehouse, Warehouse):
        pass
    elif warehouse is not None:
        warehouse = open_warehouse(warehouse)
    else:
        warehouse = Warehouse(db)
    try:
        warehouse.require(study.tables)
        try:
            runs_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"cannot create the run folder under {runs_root}: "
                           f"{storage_problem(exc, runs_root.parent) or exc}") from exc
        started = datetime.now(UTC)
        run_id = _new_run_id(started)
        final = runs_root / run_id
        while final.exists() or final.with_name(final.name + FAILED_SUFFIX).exists():
            run_id = _new_run_id(started)
            final = runs_root / run_id
        tmp = runs_root / f"{TMP_PREFIX}{run_id}"
        pid = os.getpid()
        manifest: dict[str, Any] = {
            "study": study.name,
            "title": study.title,
            "run_id": run_id,
            "params": resolved,
            "seed": seed,
            "status": "running",
            "started_at": started.isoformat(),
            "pid": pid,
            "host": socket.gethostname(),
            "process_start": process_start_token(pid),
            "git": git_state(),
            "environment": environment(),
            "data": {
                "db": (str(Path(warehouse.location).resolve()) if warehouse.backend == "duckdb"
                       else warehouse.location),
                **warehouse.describe(),
                "synthetic": warehouse.is_synthetic,
                "world_meta": warehouse.meta(),
                "tables": warehouse.tables(),
            },
        }
        # The guard is up before the folder exists: from the first manifest on, SIGINT, SIGTERM or SIGHUP
        # ends in a recorded .failed run, never in a .tmp folder left "running" (abandoned). Until
        # _execute's error handling is in place a signal is only recorded; _execute raises it there.
        guard = InterruptGuard()
        with guard:
            guard.deferred = True
            _start_folder(tmp, manifest)
            reporter = Progress(
                study.name,
                enabled=_stderr_is_tty() if progress is None else progress,
                expected=_expected_stages(runs_root, manifest),
                on_stage=lambda stage: _note_stage(tmp, manifest, stage),
            )
            ctx = StudyContext(study=study.name, params=dict(resolved), seed=seed, warehouse=warehouse,
                               reporter=reporter, runs_dir=Path(runs_dir))
            try:
                return _execute(study, ctx, manifest, tmp, final, allow_failed_checks, raise_errors, guard)
            finally:
                _refresh_index(Path(runs_dir))
    finally:
        if owned:
            warehouse.close()


def _refresh_index(runs_dir: Path) -> None:
    """Rewrite ``runs/index.html``; a convenience, so a failure to write it never fails the run."""
    from studies.runner.index import write_index

    with contextlib.suppress(OSError):
        write_index(runs_dir)


def _check_writable(runs_root: Path) -> None:
    """Fail early (before reading data, creating nothing) if ``runs_root`` cannot be created or written."""
    existing = runs_root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise RunError(f"cannot create the run folder under {runs_root}: {existing} is not a folder; "
                       "choose another --runs-dir")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunError(f"run folder {existing} is not writable; choose another --runs-dir")


def _start_folder(tmp: Path, manifest: dict[str, Any]) -> None:
    """Create the temporary run folder and its first manifest; clean up and explain on failure."""
    try:
        tmp.mkdir()
    except OSError as exc:
        raise RunError(f"cannot create run folder {tmp}: {storage_problem(exc, tmp.parent) or exc}"
                       ) from exc
    try:
        write_json_atomic(tmp / "manifest.json", manifest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RunError(f"cannot start the run in {tmp}: {storage_problem(exc, tmp.parent) or exc}; "
                       "nothing was written") from exc


def _execute(study: Study, ctx: StudyContext, manifest: dict[str, Any], tmp: Path, final: Path,
             allow_failed_checks: bool, raise_errors: bool, guard: InterruptGuard) -> RunRecord:
    """Run the study inside ``guard`` (entered, deferring, by the caller) and record how it ended."""
    t0 = time.perf_counter()
    output: StudyOutput | None = None
    written: list[str] = []
    open_before: set[int] | None = None  # the caller's figures, known once pyplot is imported
    try:
        try:
            guard.resume()  # a signal held since the folder was created is raised here
            # the first lines of a study import its analysis libraries (seconds): say so at once
            ctx.reporter.stage("starting")
            import matplotlib.pyplot as plt

            open_before = set(plt.get_fignums())
            quiet = contextlib.nullcontext() if ctx.reporter.enabled else quiet_library_logs()
            with study_warning_filters(), quiet:
                output = study.run(ctx)
            guard.check()  # an interrupt the study swallowed still ends the run
            if not isinstance(output, StudyOutput):
                raise RunError(f"study {study.name!r} returned {type(output).__name__}, not StudyOutput")
            ctx.reporter.stage("writing the run folder")
            failed = [d for d in output.diagnostics if d.status == "fail"]
            status = "failed" if failed and not allow_failed_checks else "success"
            manifest.update(
                status=status,
                headline=output.headline,
                diagnostics=[d.to_dict() for d in output.diagnostics],
                diagnostics_status=_worst(output.diagnostics),
                files=written,
            )
            if status == "failed":
                manifest["error"] = (
                    "failed checks: " + "; ".join(f"{d.name}: {d.message}" for d in failed)
                    + " (rerun with --allow-failed-checks to accept them)"
                )
            _write_outputs(tmp, output, written, study.name, manifest["run_id"])
            _write_reports(tmp, manifest, output, ctx, t0)
            guard.check()
            # commit: from here a signal is held until the folder is in place (milliseconds)
            guard.deferred = True
            ctx.reporter.finish()
            _finish(manifest, ctx, t0)
            write_json_atomic(tmp / "manifest.json", manifest)
            target = final if status == "success" else final.with_name(final.name + FAILED_SUFFIX)
            _move(tmp, target)
            ctx.reporter.finish(f"{status} after {format_duration(time.perf_counter() - t0)}")
            return RunRecord(path=target, status=status, manifest=manifest, output=output)
        except BaseException as exc:
            guard.deferred = True  # a second Ctrl-C must not break the recording of the first
            record = _record_failure(exc, guard, manifest, ctx, tmp, final, t0, written)
            if raise_errors:
                exc.add_note(f"servicelab: the {record.status} run is recorded in {record.path}")
                if record.status == "interrupted" and not isinstance(exc, KeyboardInterrupt):
                    raise RunInterrupted(guard.seen or "SIGINT") from exc
                raise
            return record
    finally:
        # figures the study made (returned or intermediate) are saved by now: free them
        if open_before is not None:
            import matplotlib.pyplot as plt

            if output is not None and isinstance(output, StudyOutput):
                for fig in output.figures.values():
                    plt.close(fig)
            for num in set(plt.get_fignums()) - open_before:
                plt.close(num)


def _record_failure(exc: BaseException, guard: InterruptGuard, manifest: dict[str, Any],
                    ctx: StudyContext, tmp: Path, final: Path, t0: float, written: list[str]
                    ) -> RunRecord:
    """Write the failed run's manifest and error file (small, first), keep what was written, move it."""
    signal_name = guard.seen
    if signal_name is None and isinstance(exc, KeyboardInterrupt):
        signal_name = exc.signal_name if isinstance(exc, RunInterrupted) else "SIGINT"
    stage = ctx.reporter.current
    ctx.reporter.finish()
    _remove_partials(tmp)
    during = f" during {stage!r}" if stage else ""
    if signal_name is not None:
        status = "interrupted"
        error = str(RunInterrupted(signal_name)) + during
        if not isinstance(exc, KeyboardInterrupt):  # the study swallowed it, then failed on
            error += f"; afterwards {type(exc).__name__}: {exc}"
        # an interrupted study's numbers come from a partial computation: not reported
        for key in ("headline", "diagnostics", "diagnostics_status"):
            manifest.pop(key, None)
    else:
        status = "failed"
        problem = storage_problem(exc, tmp)
        error = f"{problem}{during}" if problem else f"{type(exc).__name__}: {exc}{during}"
    kept = [f for f in written if (tmp / f).exists()]
    manifest.update(status=status, error=error, failed_stage=stage, files=kept)
    _finish(manifest, ctx, t0)
    saved = []
    if _write_failure_manifest(tmp / "manifest.json", manifest):
        saved.append("manifest.json")
    detail = "".join(traceback.format_exception(exc))
    with contextlib.suppress(OSError):
        write_text_atomic(tmp / "error.txt", f"{error}\n\n{detail}")
        saved.append("error.txt")
    failed_dir = final.with_name(final.name + FAILED_SUFFIX)
    try:
        _move(tmp, failed_dir)
    except OSError:  # pragma: no cover - a rename within one folder; keep it where it is
        failed_dir = tmp
    if not saved:
        manifest["error"] = error + " (the manifest and error file could not be written either)"
    ctx.reporter.finish(f"{status} after {format_duration(time.perf_counter() - t0)}")
    return RunRecord(path=failed_dir, status=status, manifest=manifest, output=None, exception=exc)


# what an abridged failure manifest adds to the start manifest (the rest can be rebuilt or is lost)
_FAILURE_KEYS = ("status", "error", "failed_stage", "files", "stages", "finished_at", "duration_s")


def _write_failure_manifest(path: Path, manifest: dict[str, Any]) -> bool:
    """Record a failed run's manifest; on a full disk, an abridged one over the start manifest.

    The whole manifest is written atomically when it can be. When that fails (a full disk has no
    room for its temporary copy), the start manifest is overwritten in place, compactly, with its
    own fields plus :data:`_FAILURE_KEYS` and a note: truncating it frees the blocks the new text
    needs, so the folder still says why the run failed instead of ``running``. If even that fails
    the start manifest is put back. Returns whether a failure manifest was recorded.
    """
    try:
        write_json_atomic(path, manifest)
        return True
    except OSError:
        pass
    from servicelab.results import jsonable

    try:
        old = path.read_bytes()
        abridged = json.loads(old)
    except (OSError, ValueError):
        return False
    abridged.pop("progress", None)
    abridged.update({k: manifest[k] for k in _FAILURE_KEYS if k in manifest})
    abridged["abridged"] = "the full manifest could not be written (storage); the data fingerprint is missing"
    text = json.dumps(jsonable(abridged), separators=(",", ":")).encode()
    try:
        with path.open("r+b") as f:
            f.truncate(0)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        return True
    except OSError:
        with contextlib.suppress(OSError), path.open("r+b") as f:
            f.truncate(0)
            f.write(old)
        return False


def storage_problem(exc: BaseException, where: Path) -> str | None:
    """A plain sentence for a full disk, an exceeded quota or a read-only file system in ``exc``'s chain.

    Returns None for any other error. The free space is measured on the file system holding ``where``.

    Examples
    --------
    >>> import errno
    >>> storage_problem(OSError(errno.ENOSPC, "No space left on device"), Path(".")).startswith(
    ...     "the disk is full")
    True
    """
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            where = _existing(where)
            if e.errno == errno.EROFS:
                return f"the file system holding {where} is read-only"
            try:
                free = f"{shutil.disk_usage(where).free / 1e6:,.1f} MB free on {_mount_point(where)}"
            except OSError:
                free = "free space unknown"
            what = "the disk quota is exceeded" if e.errno == errno.EDQUOT else "the disk is full"
            name = f" while writing {Path(e.filename).name}" if getattr(e, "filename", None) else ""
            return f"{what} ({free}){name}"
        e = e.__cause__ or e.__context__
    return None


def _existing(path: Path) -> Path:
    path = Path(path).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _mount_point(path: Path) -> Path:
    path = _existing(path)
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def _worst(diagnostics: Any) -> str:
    from servicelab.results import worst_status

    return worst_status(diagnostics)


def _finish(manifest: dict[str, Any], ctx: StudyContext, t0: float) -> None:
    import hashlib

    manifest["data"]["queries"] = ctx.queries
    h = hashlib.sha256()
    h.update(json.dumps(manifest["data"]["tables"], sort_keys=True).encode())
    for q in ctx.queries:  # engine-independent hashes: the same data give the same fingerprint anywhere
        h.update(q.get("portable_sha256", q["sha256"]).encode())
    manifest["data"]["fingerprint"] = h.hexdigest()
    manifest["stages"] = ctx.reporter.stages
    manifest.pop("progress", None)
    manifest["finished_at"] = datetime.now(UTC).isoformat()
    manifest["duration_s"] = round(time.perf_counter() - t0, 3)


# -- writing ---------------------------------------------------------------------------------------
def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``: never a half-written file."""
    tmp = path.with_name(f"{_PARTIAL}{path.name}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    """:func:`write_text_atomic` of ``obj`` as indented JSON (numpy values and the like converted)."""
    from servicelab.results import jsonable

    write_text_atomic(path, json.dumps(jsonable(obj), indent=2))


def _write_file(folder: Path, rel: str, write: Any, written: list[str]) -> None:
    """Call ``write(partial_path)``, then move the file into place as ``folder/rel`` and record it."""
    target = folder / rel
    partial = target.with_name(f"{_PARTIAL}{target.name}")
    try:
        write(partial)
        os.replace(partial, target)
    except BaseException as exc:
        partial.unlink(missing_ok=True)  # frees the space a full disk needs for the manifest
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(target)
        raise
    written.append(rel)


def write_hyper(frame: Any, path: str | Path, table: str = EFFECTS_TABLE) -> None:
    """Write ``frame`` as a Tableau Hyper extract (one table, ``table``) with pantab.

    Tableau opens the file directly (Data > New Data Source > More > Hyper); ``pantab.frame_from_hyper``
    reads it back. Hyper runs as a local helper process of the pantab package, with no server.
    """
    import pantab

    pantab.frame_to_hyper(frame, str(path), table=table)


def export_frame(frame: Any, study: str, run_id: str) -> Any:
    """A table as exported to CSV: ``study`` and ``run_id`` columns first, so exports of many runs stack.

    Examples
    --------
    >>> import pandas as pd
    >>> export_frame(pd.DataFrame({"effect": [1.5]}), "routing-ab", "20260105T101500Z-1a2b3c").columns.tolist()
    ['study', 'run_id', 'effect']
    """
    out = frame.copy()
    for pos, (name, value) in enumerate((("study", study), ("run_id", run_id))):
        if name not in out.columns:
            out.insert(pos, name, value)
    return out


def _write_outputs(folder: Path, output: StudyOutput, written: list[str], study: str = "",
                   run_id: str = "") -> None:
    for key in output.artifacts:
        if "/" in key or key.startswith("."):
            raise RunError(f"artifact name {key!r} must be a plain file name")
    _write_file(folder, "results.json",
                lambda p: p.write_text(json.dumps(_jsonable(output.results), indent=2)), written)
    if output.tables:
        (folder / "tables").mkdir(exist_ok=True)
        for key, frame in output.tables.items():
            _write_file(folder, f"tables/{key}.parquet", lambda p, f=frame: f.to_parquet(p, index=False),
                        written)
        if EFFECTS_TABLE in output.tables:  # the tidy effects table, for BI tools (Tableau, Excel...)
            frame = export_frame(output.tables[EFFECTS_TABLE], study, run_id)
            _write_file(folder, f"tables/{EFFECTS_TABLE}.csv", lambda p: frame.to_csv(p, index=False), written)
            _write_file(folder, f"tables/{EFFECTS_TABLE}.hyper", lambda p: write_hyper(frame, p), written)
    if output.figures:
        (folder / "figures").mkdir(exist_ok=True)
        for key, fig in output.figures.items():
            _write_file(folder, f"figures/{key}.png",
                        lambda p, f=fig: f.savefig(p, dpi=110, bbox_inches="tight", format="png"), written)
    for key, writer in output.artifacts.items():
        _write_file(folder, key, writer, written)


def _write_reports(tmp: Path, manifest: dict[str, Any], output: StudyOutput, ctx: StudyContext,
                   t0: float) -> None:
    from studies.runner.report import render_report

    _finish(manifest, ctx, t0)
    write_text_atomic(tmp / "report.md", render_report(manifest, output, fmt="md"))
    write_text_atomic(tmp / "report.html", render_report(manifest, output, fmt="html"))


def _jsonable(obj: Any) -> Any:
    from servicelab.results import jsonable

    return jsonable(obj)


def _remove_partials(folder: Path) -> None:
    for p in folder.rglob(f"{_PARTIAL}*"):
        with contextlib.suppress(OSError):
            p.unlink()


def _move(tmp: Path, target: Path) -> None:
    """Rename the finished temporary folder into place; never overwrite an existing run, never delete one."""
    if target.exists():  # pragma: no cover - run ids are unique; defensive
        raise RunError(f"run folder {target} already exists; refusing to overwrite it (the run stays in {tmp})")
    os.rename(tmp, target)


# -- progress support --------------------------------------------------------------------------------
def _stderr_is_tty() -> bool:
    import sys

    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _note_stage(tmp: Path, manifest: dict[str, Any], stage: str) -> None:
    """Record the stage under way in the in-progress manifest (``servicelab runs`` shows it)."""
    if manifest.get("status") != "running" or not tmp.exists():
        return
    manifest["progress"] = {"stage": stage, "since": datetime.now(UTC).isoformat()}
    with contextlib.suppress(OSError):  # a progress note must never fail the run
        write_json_atomic(tmp / "manifest.json", manifest)


def _expected_stages(runs_root: Path, manifest: dict[str, Any]) -> list[tuple[str, float]]:
    """Stage times of the latest successful run of this study with the same parameters and data file.

    Only the newest few finished runs are read, so a long history costs nothing noticeable.
    """
    try:
        folders = sorted((p for p in runs_root.iterdir() if p.is_dir() and not p.name.startswith(".")
                          and not p.name.endswith(FAILED_SUFFIX)), reverse=True)
    except OSError:
        return []
    want = json.loads(json.dumps(_jsonable(manifest["params"])))
    for folder in folders[:_HISTORY_LIMIT]:
        try:
            m = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            continue
        if (m.get("status") == "success" and m.get("params") == want
                and m.get("data", {}).get("db") == manifest["data"]["db"] and m.get("stages")):
            return expected_from(m["stages"])
    return []
