"""Render a run's report as Markdown and HTML."""

from __future__ import annotations

import html
from typing import Any

from markdown_it import MarkdownIt

from servicelab.results import markdown_table
from studies.runner.spec import StudyOutput

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:980px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:0.92em}th,td{border:1px solid #ccc;padding:3px 8px}
th{background:#f3f3f3}img{max-width:100%}blockquote{margin:1em 0;padding:0.5em 1em;border-left:6px solid
#b00020;background:#fdecee}code{background:#f6f6f6;padding:0 3px}
"""


def render_report(manifest: dict[str, Any], output: StudyOutput, fmt: str = "md") -> str:
    """Build the report: headline, loud diagnostics, the study's body, tables, figures, provenance.

    Parameters
    ----------
    manifest : dict
        The run manifest.
    output : StudyOutput
        What the study returned.
    fmt : {"md", "html"}
        Output format.
    """
    md = _markdown(manifest, output)
    if fmt == "md":
        return md
    if fmt != "html":
        raise ValueError(f"fmt must be 'md' or 'html', got {fmt!r}")
    body = MarkdownIt("commonmark").enable("table").render(md)
    title = html.escape(f"{manifest['study']} — {manifest['run_id']}")
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


def _markdown(manifest: dict[str, Any], output: StudyOutput) -> str:
    lines = [f"# {manifest['title']}", "", f"Study `{manifest['study']}`, run `{manifest['run_id']}`.", ""]
    status = manifest["status"]
    failed = [d for d in output.diagnostics if d.status == "fail"]
    warned = [d for d in output.diagnostics if d.status == "warning"]
    if failed:
        word = "RUN FAILED" if status == "failed" else "FAILED CHECKS (accepted with --allow-failed-checks)"
        lines += [f"> **{word}:** " + "; ".join(f"{d.name}: {d.message}" for d in failed), ""]
    if warned:
        lines += ["> **WARNINGS:** " + "; ".join(f"{d.name}: {d.message}" for d in warned), ""]
    lines += [f"**Headline:** {output.headline}", ""]
    if output.report_md:
        lines += [output.report_md.strip(), ""]
    if output.diagnostics:
        lines += ["## Diagnostics", ""]
        lines += [f"- [{d.status.upper()}] **{d.name}**: {d.message}" for d in output.diagnostics]
        lines.append("")
    for key, frame in output.tables.items():
        lines += [f"## Table: {key}", ""]
        shown = frame.head(40)
        lines.append(markdown_table(shown))
        if len(frame) > len(shown):
            lines.append(f"\n*first {len(shown)} of {len(frame)} rows; all in `tables/{key}.parquet`*")
        lines.append("")
    for key in output.figures:
        lines += [f"## Figure: {key}", "", f"![{key}](figures/{key}.png)", ""]
    data = manifest["data"]
    git = manifest["git"]
    env = manifest["environment"]
    lines += [
        "## Provenance",
        "",
        f"- parameters: `{manifest['params']}`; seed: `{manifest['seed']}`",
        f"- git: `{git.get('sha')}`" + (" (dirty working tree)" if git.get("dirty") else ""),
        f"- Python {env['python']}; " + ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v),
        (
            f"- data: `{data['db']}` ({'synthetic world' if data['synthetic'] else 'warehouse'}); "
            f"fingerprint `{data.get('fingerprint', '')[:16]}`"
        ),
        (
            f"- started {manifest['started_at']}, finished {manifest.get('finished_at')}, "
            f"{manifest.get('duration_s')} s; status **{status}**"
        ),
        "",
    ]
    return "\n".join(lines)
