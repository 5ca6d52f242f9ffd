"""Run a study into a new, atomically written run folder with provenance."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from servicelab.errors import RunError
from servicelab.results import jsonable, worst_status
from studies.runner.catalog import get_study
from studies.runner.context import StudyContext
from studies.runner.provenance import environment, git_state
from studies.runner.report import render_report
from studies.runner.spec import StudyOutput
from studies.warehouse import DEFAULT_DB, Warehouse

DEFAULT_RUNS_DIR = Path("runs")
FAILED_SUFFIX = ".failed"


@dataclass(frozen=True)
class RunRecord:
    """Where a run went and how it ended.

    Attributes
    ----------
    path : Path
        The run folder (``runs/STUDY/<UTC timestamp>-<id>`` or with a ``.failed`` suffix).
    status : str
        ``"success"`` or ``"failed"``.
    manifest : dict
        The manifest written into the folder.
    output : StudyOutput or None
        What the study returned (None when it raised).
    """

    path: Path
    status: str
    manifest: dict[str, Any]
    output: StudyOutput | None

    @property
    def ok(self) -> bool:
        """True for a successful run."""
        return self.status == "success"

    @property
    def headline(self) -> str:
        """The study's headline (or the failure message)."""
        return self.manifest.get("headline") or self.manifest.get("error", "")


def _new_run_id(now: datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def run_study(
    name: str,
    *,
    db: str | Path = DEFAULT_DB,
    runs_dir: str | Path = DEFAULT_RUNS_DIR,
    seed: int | None = None,
    params: Mapping[str, Any] | None = None,
    allow_failed_checks: bool = False,
) -> RunRecord:
    """Run study ``name`` and write a new run folder.

    The folder is written under a hidden temporary name and renamed into place only when complete,
    so an interrupted run never leaves a half-written "success". A study that raises, or whose
    diagnostics include a failure (unless ``allow_failed_checks``), ends in a folder with the
    ``.failed`` suffix holding the manifest, the traceback and whatever outputs exist. Existing run
    folders are never touched.

    Parameters
    ----------
    name : str
        Study name (see ``servicelab studies``).
    db : path
        Warehouse file.
    runs_dir : path
        Root of the run folders.
    seed : int, optional
        Seed; the study's default seed when omitted.
    params : mapping, optional
        Parameter overrides (strings from the command line are parsed to the declared types).
    allow_failed_checks : bool
        Record failed diagnostics but still mark the run a success.

    Returns
    -------
    RunRecord

    Raises
    ------
    RunError
        Unknown study, bad parameters, or a runs folder that cannot be written. These are raised
        before anything is written.
    DataError
        Missing warehouse, tables or columns (also before anything is written).

    Examples
    --------
    >>> rec = run_study("routing-ab", db="data/tws.duckdb", seed=1)  # doctest: +SKIP
    >>> rec.path  # doctest: +SKIP
    PosixPath('runs/routing-ab/20261126T101500Z-1a2b3c')
    """
    study = get_study(name)
    resolved = study.resolve_params(params)
    seed = study.default_seed if seed is None else int(seed)
    if seed < 0:
        raise RunError(f"seed must be a non-negative integer, got {seed}")
    runs_root = Path(runs_dir) / study.name
    try:
        runs_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create the run folder under {runs_root}: {exc}") from exc
    if not os.access(runs_root, os.W_OK | os.X_OK):
        raise RunError(f"run folder {runs_root} is not writable; choose another --runs-dir")

    warehouse = Warehouse(db)
    try:
        warehouse.require(study.tables)
        started = datetime.now(UTC)
        run_id = _new_run_id(started)
        final = runs_root / run_id
        while final.exists() or final.with_name(final.name + FAILED_SUFFIX).exists():
            run_id = _new_run_id(started)
            final = runs_root / run_id
        tmp = runs_root / f".tmp-{run_id}"
        try:
            tmp.mkdir()
        except OSError as exc:
            raise RunError(f"cannot create run folder {tmp}: {exc}") from exc
        manifest: dict[str, Any] = {
            "study": study.name,
            "title": study.title,
            "run_id": run_id,
            "params": resolved,
            "seed": seed,
            "status": "running",
            "started_at": started.isoformat(),
            "git": git_state(),
            "environment": environment(),
            "data": {
                "db": str(Path(db).resolve()),
                "synthetic": warehouse.is_synthetic,
                "world_meta": warehouse.meta(),
                "tables": warehouse.tables(),
            },
        }
        return _execute(study, resolved, seed, warehouse, manifest, tmp, final,
                        allow_failed_checks)
    finally:
        warehouse.close()


def _execute(study, params, seed, warehouse, manifest, tmp: Path, final: Path,
             allow_failed_checks: bool) -> RunRecord:
    t0 = time.perf_counter()
    ctx = StudyContext(study=study.name, params=dict(params), seed=seed, warehouse=warehouse)
    output: StudyOutput | None = None
    open_before = set(plt.get_fignums())
    try:
        output = study.run(ctx)
        if not isinstance(output, StudyOutput):
            raise RunError(f"study {study.name!r} returned {type(output).__name__}, not StudyOutput")
        files = _write_outputs(tmp, output)
        failed = [d for d in output.diagnostics if d.status == "fail"]
        status = "failed" if failed and not allow_failed_checks else "success"
        manifest.update(
            status=status,
            headline=output.headline,
            diagnostics=[d.to_dict() for d in output.diagnostics],
            diagnostics_status=worst_status(output.diagnostics),
            files=files,
        )
        if status == "failed":
            manifest["error"] = (
                "failed checks: " + "; ".join(f"{d.name}: {d.message}" for d in failed)
                + " (rerun with --allow-failed-checks to accept them)"
            )
    except BaseException as exc:
        manifest.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        _safe_write(tmp / "error.txt", traceback.format_exc())
        _finish(manifest, ctx, t0)
        _safe_write(tmp / "manifest.json", json.dumps(jsonable(manifest), indent=2))
        failed_dir = final.with_name(final.name + FAILED_SUFFIX)
        _move(tmp, failed_dir)
        exc.add_note(f"servicelab: the failed run is recorded in {failed_dir}")
        raise
    finally:
        # figures the study made (returned or intermediate) are saved by now: free them
        if output is not None:
            for fig in output.figures.values():
                plt.close(fig)
        for num in set(plt.get_fignums()) - open_before:
            plt.close(num)
    _finish(manifest, ctx, t0)
    (tmp / "report.md").write_text(render_report(manifest, output, fmt="md"))
    (tmp / "report.html").write_text(render_report(manifest, output, fmt="html"))
    (tmp / "manifest.json").write_text(json.dumps(jsonable(manifest), indent=2))
    target = final if manifest["status"] == "success" else final.with_name(final.name + FAILED_SUFFIX)
    _move(tmp, target)
    return RunRecord(path=target, status=manifest["status"], manifest=manifest, output=output)


def _finish(manifest: dict[str, Any], ctx: StudyContext, t0: float) -> None:
    import hashlib

    manifest["data"]["queries"] = ctx.queries
    h = hashlib.sha256()
    h.update(json.dumps(manifest["data"]["tables"], sort_keys=True).encode())
    for q in ctx.queries:
        h.update(q["sha256"].encode())
    manifest["data"]["fingerprint"] = h.hexdigest()
    manifest["finished_at"] = datetime.now(UTC).isoformat()
    manifest["duration_s"] = round(time.perf_counter() - t0, 3)


def _write_outputs(folder: Path, output: StudyOutput) -> list[str]:
    files = []
    (folder / "results.json").write_text(json.dumps(jsonable(output.results), indent=2))
    files.append("results.json")
    if output.tables:
        (folder / "tables").mkdir()
        for key, frame in output.tables.items():
            rel = f"tables/{key}.parquet"
            frame.to_parquet(folder / rel, index=False)
            files.append(rel)
    if output.figures:
        (folder / "figures").mkdir()
        for key, fig in output.figures.items():
            rel = f"figures/{key}.png"
            fig.savefig(folder / rel, dpi=110, bbox_inches="tight")
            files.append(rel)
    for key, writer in output.artifacts.items():
        if "/" in key or key.startswith("."):
            raise RunError(f"artifact name {key!r} must be a plain file name")
        writer(folder / key)
        files.append(key)
    return files


def _safe_write(path: Path, text: str) -> None:
    with contextlib.suppress(OSError):
        path.write_text(text)


def _move(tmp: Path, target: Path) -> None:
    """Rename the finished temporary folder into place; never overwrite an existing run."""
    if target.exists():  # pragma: no cover - run ids are unique; defensive
        shutil.rmtree(tmp, ignore_errors=True)
        raise RunError(f"run folder {target} already exists; refusing to overwrite it")
    try:
        os.rename(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
