"""A static HTML index of every run, ``runs/index.html``, rewritten after each run.

One table, newest run first: study, run id (a link to its ``report.html`` when there is one), status,
start time, duration, backend and the headline (or the error). It is plain HTML with no script, so
it can be opened from the file system or served from a shared drive as it is. ``servicelab runs
index`` rewrites it by hand (for example after ``runs clean``).

This module imports nothing heavy (it reads the manifests through :mod:`studies.runner.store`).
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from studies.runner.store import list_runs

__all__ = ["INDEX_NAME", "render_index", "write_index"]

INDEX_NAME = "index.html"

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:14px}th,td{border-bottom:1px solid #ddd;padding:4px 10px;
text-align:left;vertical-align:top}th{background:#f4f4f4}td.num{text-align:right}
.success{color:#176b2c}.failed,.abandoned{color:#a4161a}.interrupted,.running,.starting{color:#8a5a00}"""


def _backend(folder: Path) -> str:
    try:
        data = json.loads((folder / "manifest.json").read_text()).get("data") or {}
    except (OSError, ValueError, AttributeError):
        return ""
    return str(data.get("backend") or "")


def render_index(runs_dir: str | Path = "runs") -> str:
    """The HTML text of the index of the runs under ``runs_dir`` (links relative to ``runs_dir``).

    Examples
    --------
    >>> "no runs yet" in render_index("no/such/folder")
    True
    """
    root = Path(runs_dir)
    rows = list(reversed(list_runs(root)))
    head = ["study", "run", "status", "started (UTC)", "seconds", "backend", "headline or error"]
    lines = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>servicelab runs</title>", f"<style>{_STYLE}</style></head><body>",
             (f"<h1>servicelab runs</h1><p>{len(rows)} run folder(s) under <code>{html.escape(str(root))}"
              "</code>, newest first. Rewritten after every run; <code>servicelab runs index</code> "
              "rewrites it by hand.</p>")]
    if not rows:
        lines.append("<p>no runs yet</p></body></html>")
        return "\n".join(lines) + "\n"
    lines.append("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>")
    lines.extend(_row_html(root, r) for r in rows)
    lines.append("</tbody></table></body></html>")
    return "\n".join(lines) + "\n"


def _row_html(root: Path, r: dict[str, Any]) -> str:
    folder = Path(r["path"])
    esc = html.escape
    run = esc(r["run_id"])
    if (folder / "report.html").is_file():
        href = (folder / "report.html").relative_to(root).as_posix()
        run = f'<a href="{esc(href)}">{run}</a>'
    text = r.get("headline") or r.get("note") or ""
    seconds = r.get("duration_s")
    cells = [esc(str(r.get("study", ""))), run,
             f'<span class="{esc(r["status"])}">{esc(r["status"])}</span>',
             esc(str(r.get("started_at") or "")[:19].replace("T", " ")),
             "" if seconds is None else f"{float(seconds):.1f}", esc(_backend(folder)), esc(str(text))]
    classes = ["", "", "", "", ' class="num"', "", ""]
    return "<tr>" + "".join(f"<td{c}>{v}</td>" for c, v in zip(classes, cells, strict=True)) + "</tr>"


def write_index(runs_dir: str | Path = "runs") -> Path:
    """Write ``runs_dir/index.html`` (through a temporary file: never half-written) and return its path.

    Raises
    ------
    OSError
        The folder cannot be written (the runner ignores this after a run: the index is a convenience).
    """
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    target = root / INDEX_NAME
    partial = root / f".{INDEX_NAME}.{os.getpid()}.partial"
    try:
        partial.write_text(render_index(root))
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target
