"""Effects from study runs, with provenance, for :func:`simulation.propagate_effects`.

``servicelab whatif RUN_ID ...`` reads the effects a finished run measured, carries them into the
staffing requirement and the service level of a typical weekday in the warehouse, and answers in
plain words with bands. Each effect keeps its provenance: the study, the run id, the metric and
the arms.

Which runs carry an effect into staffing:

``routing-ab``
    the primary arm's relative effect on handle time (``handle_s``: the workload per contact) and
    on first-contact resolution (``fcr``: repeat contacts), each with its interval.

Other studies are refused with the reason: help-bot measures the bot's effect on the handle
time of the contacts that used it (not a deflection of volume), resolution-time an effect on
time to resolution (not on agents' work), staffing and capacity studies are plans, not effects.
Effects measured elsewhere can be given by hand (``--effect volume=-0.04:-0.06:-0.02``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from servicelab.errors import DataError, DesignError

__all__ = ["CARRIES", "effects_from_run", "parse_effect"]

CARRIES = {"routing-ab": {"handle_s": "handle_time", "fcr": "fcr"}}
WHY_NOT = {
    "help-bot": "it measures the bot's effect on the handle time of contacts that used it, not a "
                "deflection of volume; give a measured deflection with --effect volume=...",
    "resolution-time": "its effect is on time to resolution, not on agents' work",
    "staffing": "it is a plan, not a measured effect",
}


def effects_from_run(run: str | Path, runs_dir: str | Path = "runs") -> list[Any]:
    """The staffing-relevant effects a finished run measured, as :class:`simulation.Effect` objects.

    Parameters
    ----------
    run : str or Path
        A run id (or unique prefix, as for ``servicelab runs show``) or a run folder.
    runs_dir : str or Path
        Where runs live.

    Raises
    ------
    RunError
        No such run (or an ambiguous prefix).
    DesignError
        The run did not succeed, or its study has no effect that carries into staffing.
    """
    from simulation import Effect
    from studies.runner.store import find_run

    folder = Path(run) if Path(run).is_dir() else find_run(str(run), runs_dir)
    manifest = json.loads((folder / "manifest.json").read_text())
    study, run_id = manifest.get("study"), manifest.get("run_id", folder.name)
    if manifest.get("status") != "success" or folder.name.endswith(".failed"):
        raise DesignError(f"run {run_id} ({study}) did not succeed (status {manifest.get('status')!r}); "
                          "carry effects from a successful run")
    if study not in CARRIES:
        why = WHY_NOT.get(str(study), "servicelab does not know how its results change staffing")
        raise DesignError(f"run {run_id} is a {study} run, which has no effect to carry into staffing: {why}. "
                          f"whatif reads {', '.join(CARRIES)} runs")
    results = json.loads((folder / "results.json").read_text())
    rows = results.get("overall") or []
    out = []
    for metric, lever in CARRIES[study].items():
        row = next((r for r in rows if r.get("metric") == metric and r.get("segment", "all") == "all"), None)
        if row is None:
            raise DataError(f"run {run_id} has no overall row for {metric!r} in results.json")
        vals = [row.get(k) for k in ("rel_effect", "rel_ci_low", "rel_ci_high")]
        if any(v is None for v in vals):
            raise DataError(f"run {run_id}: the {metric} effect has no relative estimate and interval")
        out.append(Effect(lever, float(vals[0]), float(vals[1]), float(vals[2]),
                          ci_level=float(row.get("ci_level", 0.95)),
                          source=f"{study} run {run_id}: {metric}, {row.get('arm', 'treatment')} vs control"))
    return out


def parse_effect(text: str) -> Any:
    """``lever=relative[:low:high[:level]]`` (e.g. ``volume=-0.04:-0.06:-0.02``) as an Effect.

    Examples
    --------
    >>> parse_effect("volume=-0.04:-0.06:-0.02").describe()
    'volume -4.0% (95% CI -6.0% to -2.0%) from given on the command line'
    """
    from simulation import Effect

    lever, sep, rest = text.partition("=")
    if not sep:
        raise DesignError(f"--effect {text!r}: write lever=relative[:low:high[:level]], e.g. volume=-0.04:-0.06:-0.02")
    try:
        nums = [float(v) for v in rest.split(":")]
    except ValueError:
        raise DesignError(f"--effect {text!r}: the numbers after '=' must be relative changes, e.g. -0.04") from None
    if len(nums) not in (1, 3, 4):
        raise DesignError(f"--effect {text!r}: give the estimate, or the estimate, low and high (and a level)")
    kw: dict[str, Any] = {"source": "given on the command line"}
    if len(nums) >= 3:
        kw.update(ci_low=nums[1], ci_high=nums[2])
    if len(nums) == 4:
        kw["ci_level"] = nums[3]
    return Effect(lever.strip(), nums[0], **kw)
