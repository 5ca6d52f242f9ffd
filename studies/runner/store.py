"""List, find, summarise and clean run folders.

A study's runs live in ``runs/STUDY/``:

- ``<id>/``: a successful run; ``<id>.failed/``: a failed or interrupted one;
- ``.tmp-<id>/``: a run under way. Its ``manifest.json`` (written when it starts) names its process
  and host: while that process lives the run is *running*; once it is gone (SIGKILL, a power cut, a
  crash of the interpreter) the folder is *abandoned*, and :func:`clean_runs` may remove it.

``<id>`` is ``<UTC timestamp>-<6 hex digits>``, e.g. ``20260105T101500Z-1a2b3c``; a run can be named
by its whole id or folder name, or by a unique prefix of the timestamp or of the hex part.

This module imports nothing heavy, so ``servicelab runs`` answers at once.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "FAILED_SUFFIX",
    "TMP_PREFIX",
    "clean_runs",
    "find_run",
    "list_runs",
    "parse_age",
    "pid_alive",
    "process_start_token",
    "run_summary",
]

FAILED_SUFFIX = ".failed"
TMP_PREFIX = ".tmp-"
STARTING_GRACE_S = 60.0  # a temporary folder without a manifest this young may be a run starting


def _run_error(message: str) -> Exception:
    from servicelab.errors import RunError

    return RunError(message)


# -- processes ---------------------------------------------------------------------------------------
def process_start_token(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux ``/proc``), or None elsewhere.

    Stored in the manifest with the pid, so a pid reused by another process is not taken for the run.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int, token: str | None = None) -> bool:
    """Whether process ``pid`` exists on this host (and, given ``token``, is the same process).

    Examples
    --------
    >>> pid_alive(os.getpid(), process_start_token(os.getpid()))
    True
    """
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): the pid exists, which is all we can tell
    fields = stat[stat.rfind(")") + 2:].split()
    if fields and fields[0] in ("Z", "X"):  # a zombie has finished
        return False
    return token is None or len(fields) <= 19 or fields[19] == token


# -- listing -------------------------------------------------------------------------------------------
def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _last_activity(folder: Path) -> float:
    times = []
    for p in (folder, folder / "manifest.json"):
        try:
            times.append(p.stat().st_mtime)
        except OSError:
            continue
    return max(times) if times else 0.0


def _row(folder: Path) -> dict[str, Any] | None:
    name = folder.name
    if name.startswith(TMP_PREFIX):
        kind, run_id = "tmp", name[len(TMP_PREFIX):]
    elif name.startswith("."):
        return None
    elif name.endswith(FAILED_SUFFIX):
        kind, run_id = "failed", name[: -len(FAILED_SUFFIX)]
    else:
        kind, run_id = "final", name
    m = _read_manifest(folder)
    row: dict[str, Any] = {"run_id": run_id, "folder": name, "study": folder.parent.name, "path": str(folder)}
    if m is None:
        if kind == "tmp":
            young = time.time() - _last_activity(folder) < STARTING_GRACE_S
            row.update(status="starting" if young else "abandoned",
                       note="" if young else "no manifest: the run died as it started")
        else:
            row.update(status="unreadable", note="manifest.json is missing or damaged")
        return row
    row.update(study=m.get("study", row["study"]), seed=m.get("seed"), started_at=m.get("started_at"),
               finished_at=m.get("finished_at"), duration_s=m.get("duration_s"),
               headline=m.get("headline") or m.get("error"))
    status = m.get("status")
    if kind == "tmp":
        here = m.get("host") == socket.gethostname()
        pid = m.get("pid")
        stage = (m.get("progress") or {}).get("stage")
        row.update(pid=pid, host=m.get("host"), stage=stage)
        if not here:
            row.update(status="unknown", note=f"started on host {m.get('host')!r}: cannot check its process here")
        elif pid_alive(pid, m.get("process_start")):
            row.update(status="running", note=f"pid {pid}" + (f", stage {stage!r}" if stage else ""))
        else:
            row.update(status="abandoned",
                       note=f"its process (pid {pid}) is gone" + (f" during stage {stage!r}" if stage else ""))
    elif kind == "failed":
        row["status"] = status if status in ("failed", "interrupted") else "failed"
        if status not in ("failed", "interrupted"):
            row["note"] = "the failure could not be recorded in the manifest" + (
                " (see error.txt)" if (folder / "error.txt").exists() else "")
    else:
        row["status"] = status or "unreadable"
    return row


def list_runs(runs_dir: str | Path = "runs") -> list[dict[str, Any]]:
    """One row per run folder, oldest first: finished, failed, interrupted, running and abandoned.

    Each row has ``run_id``, ``folder``, ``study``, ``status`` (``success``, ``failed``,
    ``interrupted``, ``running``, ``abandoned``, ``starting``, ``unknown`` for a run of another
    host, ``unreadable``), ``seed``, ``started_at``, ``headline`` (or the error), ``path`` and,
    where useful, a ``note``.

    Examples
    --------
    >>> list_runs("no/such/folder")
    []
    """
    root = Path(runs_dir)
    rows: list[dict[str, Any]] = []
    if not root.is_dir():
        return rows
    for study_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            folders = sorted(p for p in study_dir.iterdir() if p.is_dir())
        except OSError:
            continue
        for folder in folders:
            row = _row(folder)
            if row is not None:
                rows.append(row)
    rows.sort(key=lambda r: (r.get("started_at") or "", r["run_id"]))
    return rows


def find_run(run_id: str, runs_dir: str | Path = "runs") -> Path:
    """The folder of run ``run_id``: its id or folder name, or a unique prefix of the timestamp or hex part.

    Successful, failed, interrupted, running and abandoned runs are all found.

    Raises
    ------
    RunError
        No run matches, or several do (they are listed).
    """
    rows = list_runs(runs_dir)
    key = run_id.strip().rstrip("/")
    key = key.rsplit("/", 1)[-1]
    exact = [r for r in rows if key in (r["run_id"], r["folder"])]
    if len(exact) == 1:
        return Path(exact[0]["path"])
    matches = exact or [r for r in rows if key and (r["run_id"].startswith(key)
                                                    or r["run_id"].partition("-")[2].startswith(key))]
    if not matches:
        raise _run_error(f"no run {run_id!r} under {runs_dir}; see `servicelab runs`")
    if len(matches) > 1:
        listed = "; ".join(f"{r['study']}/{r['folder']} ({r['status']})" for r in matches[:10])
        raise _run_error(f"run id {run_id!r} is ambiguous: {listed}; give more characters")
    return Path(matches[0]["path"])


# -- summary ---------------------------------------------------------------------------------------
def run_summary(folder: str | Path) -> str:
    """A short text summary of one run: study, status, seed, parameters, headline, loud diagnostics, error,
    files and timing.

    Examples
    --------
    >>> print(run_summary("runs/routing-ab/20260105T101500Z-1a2b3c"))  # doctest: +SKIP
    """
    folder = Path(folder)
    row = _row(folder) or {"status": "unreadable"}
    m = _read_manifest(folder) or {}
    lines = [f"run       {row.get('study')}/{folder.name}",
             f"status    {row['status']}" + (f" ({row['note']})" if row.get("note") else "")]
    if m.get("title"):
        lines.append(f"title     {m['title']}")
    lines.append(f"seed      {m.get('seed')}")
    params = m.get("params") or {}
    if params:
        lines.append("params    " + ", ".join(f"{k}={v!r}" for k, v in params.items()))
    if m.get("headline"):
        lines.append(f"headline  {m['headline']}")
    loud = [d for d in m.get("diagnostics", []) if d.get("status") != "ok"]
    if loud:
        lines.append(f"checks    {len(loud)} of {len(m['diagnostics'])} not ok:")
        lines += [f"  [{d.get('status', '?').upper()}] {d.get('name')}: {d.get('message')}" for d in loud]
    elif m.get("diagnostics"):
        lines.append(f"checks    all {len(m['diagnostics'])} ok")
    if m.get("error"):
        lines.append(f"error     {m['error']}")
        if (folder / "error.txt").exists():
            lines.append(f"          traceback in {folder / 'error.txt'}")
    started, finished = m.get("started_at"), m.get("finished_at")
    if started:
        when = f"started   {started}"
        if finished:
            when += f", finished {finished} ({m.get('duration_s')} s)"
        lines.append(when)
    stages = m.get("stages") or []
    if stages:
        lines.append("stages    " + "; ".join(f"{s.get('name')} {s.get('seconds', 0):.1f} s" for s in stages))
    git = m.get("git") or {}
    if git.get("sha"):
        lines.append(f"git       {git['sha'][:12]}" + (" (dirty working tree)" if git.get("dirty") else ""))
    files = m.get("files") or []
    extra = [n for n in ("report.md", "report.html", "error.txt") if (folder / n).exists()]
    if files or extra:
        lines.append("files     " + ", ".join([*files, *extra]))
    lines.append(f"folder    {folder}")
    return "\n".join(lines)


# -- cleaning ----------------------------------------------------------------------------------------
def parse_age(text: str) -> float:
    """Seconds in ``"90"``, ``"90s"``, ``"30m"``, ``"2h"`` or ``"7d"``.

    Examples
    --------
    >>> parse_age("2h"), parse_age("45")
    (7200.0, 45.0)
    """
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    t = text.strip().lower()
    factor = units.get(t[-1:])
    number = t[:-1] if factor is not None else t
    try:
        value = float(number) * (factor or 1.0)
    except ValueError:
        raise _run_error(f"--older-than expects a duration like 90s, 30m, 2h or 7d; got {text!r}") from None
    if not value >= 0:
        raise _run_error(f"--older-than must be >= 0, got {text!r}")
    return value


def clean_runs(runs_dir: str | Path = "runs", *, older_than_s: float = 0.0, dry_run: bool = False
               ) -> list[dict[str, Any]]:
    """Remove abandoned temporary run folders (never a running, finished or failed run).

    Parameters
    ----------
    runs_dir : path
        Root of the run folders.
    older_than_s : float
        Only folders whose last write is at least this old.
    dry_run : bool
        Only say what would be removed.

    Returns
    -------
    list of dict
        The rows (as :func:`list_runs`) of the folders removed (or that would be).
    """
    removed = []
    now = time.time()
    for row in list_runs(runs_dir):
        if row["status"] != "abandoned":
            continue
        folder = Path(row["path"])
        if not folder.name.startswith(TMP_PREFIX):  # only temporary folders, whatever the manifest says
            continue
        age = now - _last_activity(folder)
        if age < older_than_s:
            continue
        again = _row(folder)  # the process could have been a run starting a moment ago
        if again is None or again["status"] != "abandoned":
            continue
        row = {**row, "age_s": round(age, 1),
               "last_write": datetime.fromtimestamp(now - age, UTC).isoformat(timespec="seconds")}
        if not dry_run:
            shutil.rmtree(folder)
        removed.append(row)
    return removed
