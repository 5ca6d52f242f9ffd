"""A fake study for the runner and CLI tests, installable in the catalog in process or in a subprocess.

``python -m tests.studies.fake_study ARGS...`` runs ``servicelab ARGS...`` with the fake study
installed (the signal tests start it as a subprocess and signal it).
"""

from __future__ import annotations

import sys
import time
import warnings
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from servicelab.results import Diagnostic
from studies.runner import Param, Study, StudyContext, StudyOutput, catalog

MODES = ("ok", "raise", "interrupt", "fail", "slow", "swallow", "warn")


def _analysis(ctx: StudyContext) -> StudyOutput:
    p = ctx.params
    ctx.stage("querying")
    frame = ctx.query("SELECT handle_s FROM contacts WHERE handle_s >= ?", [p["min_handle_s"]])
    noise = ctx.rng.normal(size=3)
    mean = float(frame["handle_s"].mean())
    ctx.stage("plotting")
    fig, ax = plt.subplots()
    ax.hist(frame["handle_s"])
    if p["mode"] == "raise":
        raise ZeroDivisionError("boom")
    if p["mode"] == "interrupt":
        raise KeyboardInterrupt
    if p["mode"] in ("slow", "swallow"):
        ctx.stage("waiting")
        deadline = time.monotonic() + p["seconds"]
        try:
            while time.monotonic() < deadline:
                time.sleep(0.02)
        except KeyboardInterrupt:
            if p["mode"] != "swallow":
                raise
            # like PyMC: stop early, keep the draws so far and carry on as if nothing happened
    if p["mode"] == "warn":
        warnings.warn_explicit("PyTensor could not link to a BLAS installation. Slow.", UserWarning,
                               "cmodule.py", 1, module="pytensor.link.c.cmodule")
        warnings.warn("something we do not know about", RuntimeWarning, stacklevel=1)
    diags = (Diagnostic("check", "fail" if p["mode"] == "fail" else "ok", "a check", 0.0),
             Diagnostic("other", "warning", "a loud warning", 1.0))
    return StudyOutput(
        headline=f"mean handle {mean:.1f} s",
        results={"mean": mean, "noise": noise.tolist()},
        tables={"handle": frame.describe().reset_index()},
        figures={"hist": fig},
        report_md="Some **markdown**.",
        diagnostics=diags,
        artifacts={"extra.txt": lambda path: path.write_text("hello")},
    )


FAKE = Study(
    name="fake",
    title="A fake study",
    question="Does the runner work?",
    params=(
        Param("min_handle_s", float, 0.0, "filter", min=0),
        Param("mode", str, "ok", "behaviour", choices=MODES),
        Param("n", int, 3, "an int", min=1, max=10),
        Param("flag", bool, False, "a bool"),
        Param("share", float, 0.5, "a share", min=0, max=1, exclusive_min=True),
        Param("seconds", float, 30.0, "how long the slow modes wait", min=0),
    ),
    default_seed=5,
    run=_analysis,
    tables={"contacts": ("contact_id", "handle_s")},
)


def install(setattr_: Any = setattr) -> None:
    """Make ``fake`` a known study (``setattr_`` is ``monkeypatch.setattr`` in tests)."""
    real_get, real_names = catalog.get_study, catalog.study_names
    setattr_(catalog, "get_study", lambda name: FAKE if name == "fake" else real_get(name))
    setattr_(catalog, "study_names", lambda: sorted([*real_names(), "fake"]))


if __name__ == "__main__":
    from studies.cli import main

    install()
    sys.exit(main(sys.argv[1:]))
