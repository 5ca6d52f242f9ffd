"""List and inspect run folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from servicelab.errors import RunError


def list_runs(runs_dir: str | Path = "runs") -> list[dict[str, Any]]:
    """One row per run folder (successful and failed), oldest first.

    In-progress temporary folders (``.tmp-*``) are not listed.
    """
    root = Path(runs_dir)
    rows = []
    if not root.exists():
        return rows
    for manifest_path in sorted(root.glob("*/*/manifest.json")):
        folder = manifest_path.parent
        if folder.name.startswith("."):
            continue
        try:
            m = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError):
            rows.append({"run_id": folder.name, "study": folder.parent.name, "status": "unreadable",
                         "path": str(folder)})
            continue
        rows.append(
            {
                "run_id": folder.name,
                "study": m.get("study"),
                "status": m.get("status"),
                "seed": m.get("seed"),
                "started_at": m.get("started_at"),
                "headline": m.get("headline") or m.get("error"),
                "path": str(folder),
            }
        )
    rows.sort(key=lambda r: (r.get("started_at") or "", r["run_id"]))
    return rows


def find_run(run_id: str, runs_dir: str | Path = "runs") -> Path:
    """The folder of run ``run_id`` (full folder name, or a unique prefix or suffix of it)."""
    matches = [
        Path(r["path"]) for r in list_runs(runs_dir)
        if r["run_id"] == run_id or r["run_id"].startswith(run_id) or r["run_id"].endswith(run_id)
    ]
    if not matches:
        raise RunError(f"no run {run_id!r} under {runs_dir}; see `servicelab runs`")
    if len(matches) > 1:
        exact = [m for m in matches if m.name == run_id]
        if len(exact) == 1:
            return exact[0]
        raise RunError(f"run id {run_id!r} is ambiguous: {[m.name for m in matches]}")
    return matches[0]
