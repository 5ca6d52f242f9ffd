"""Benchmark: wall time of light ``servicelab`` commands, each in a fresh interpreter.

Prints one JSON line per case: the case, our figure (median CPU seconds, user + system, of the child
process over ``--repeat`` runs; the median wall time is given too), the baseline's figure measured in
the same run and their ratio. CPU time is the figure because the benchmark machines are shared: wall
time under load varies several-fold from run to run, CPU time much less. The baseline is what every
command paid before the CLI was made lazy: importing every study module and every command module
(``list_studies()`` plus ``studies.commands.*``) in a fresh interpreter. The bare interpreter
(``python -c pass``) is printed as a case too, as the floor. Run from the repository root::

    python benchmarks/cli_startup.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

STACK = ("import pandas, matplotlib.pyplot, duckdb, scipy.stats, statsmodels.api, sklearn.linear_model, "
         "pymc, simpy")
STACK_NAME = "import of the analysis stack (pandas, matplotlib, duckdb, scipy, statsmodels, sklearn, pymc, simpy)"


def _time(argv: list[str], env: dict[str, str], repeat: int, before: list[str] | None = None
          ) -> tuple[float, float]:
    """Median (CPU seconds, wall seconds) of ``argv`` in a fresh process."""
    cpu, wall = [], []
    for _ in range(repeat):
        if before:
            subprocess.run(before, cwd=REPO, env=env, capture_output=True, check=False)
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=REPO, env=env, capture_output=True, check=False)
        wall.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return statistics.median(cpu), statistics.median(wall)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    py = sys.executable
    cli = [py, "-m", "studies"]
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as runs:
        env = {**os.environ, "SERVICELAB_CACHE_DIR": cache, "MPLBACKEND": "Agg"}
        baseline, baseline_wall = _time([py, "-c", STACK], env, args.repeat)
        drop_index = [py, "-c", f"import shutil; shutil.rmtree({cache!r}, ignore_errors=True)"]
        cases = {
            "python -c pass (floor)": ([py, "-c", "pass"], None),
            "servicelab --help": ([*cli, "--help"], None),
            "servicelab --version": ([*cli, "--version"], None),
            "servicelab studies (cold: index rebuilt)": ([*cli, "studies"], drop_index),
            "servicelab studies (warm index)": ([*cli, "studies"], None),
            "servicelab run no-such-study": ([*cli, "run", "no-such-study"], None),
            "servicelab run routing-ab --set alpha=1.5": (
                [*cli, "run", "routing-ab", "--set", "alpha=1.5", "--db", f"{runs}/absent.duckdb"], None),
            "servicelab runs (empty)": ([*cli, "runs", "--runs-dir", runs], None),
        }
        for case, (command, before) in cases.items():
            ours, wall = _time(command, env, args.repeat, before)
            print(json.dumps({"case": case, "ours_cpu_s": round(ours, 3), "ours_wall_s": round(wall, 3),
                              "baseline": STACK_NAME,
                              "baseline_cpu_s": round(baseline, 3), "baseline_wall_s": round(baseline_wall, 3),
                              "ratio": round(ours / baseline, 4)}),
                  flush=True)


if __name__ == "__main__":
    main()
