"""Design doctor: 6 designs x 200 replications of one week of a 500-agent centre, serial vs parallel.

Prints one JSON line per case:

- ``speedup``: the same ``--speedup-reps`` replications run serially and in a process pool of
  ``--jobs`` workers (``ratio = serial_s / parallel_s``; ``identical``: same records);
- ``design``: per design (customer, agent, site and three switchbacks whose slices and burn-in
  come from the measured relaxation time), on the primary metric (mean wait) against the GTE:
  bias (and % of the GTE), SD, mean SE, RMSE, coverage of the GTE, realised power, the power
  predicted from the mean SE, and their gap in points;
- ``targets``: the issue's scorecard: the customer-randomised bias, the recommended design's
  coverage (target 92-98%) and the largest power-prediction gap (target <= 5 points).

Run from the repo root (the full case takes about an hour of CPU on 2 cores)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/design_doctor.py            # 200 reps, 500 agents
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/design_doctor.py --quick    # 40 reps, 100 agents, 2 days
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulation import SharedPoolCentre
from studies.design_doctor import DesignDoctor, HandleTimeChange, switchback_candidates


def emit(**row: object) -> None:
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}),
          flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--speedup-reps", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--factor", type=float, default=0.98,
                   help="handle-time multiplier (small, so that power is informative)")
    ap.add_argument("--occupancy", type=float, default=0.95)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--days", type=float, default=None, help="override the duration (days)")
    a = ap.parse_args(argv)
    if a.quick:
        centre = SharedPoolCentre(sites=4, agents_per_site=25, occupancy=a.occupancy, days=2.0)
        reps, sp_reps = a.reps or 40, a.speedup_reps or 4
    else:
        centre = SharedPoolCentre(sites=10, agents_per_site=50, occupancy=a.occupancy, days=7.0)
        reps, sp_reps = a.reps or 200, a.speedup_reps or 6
    if a.days:
        from dataclasses import replace

        centre = replace(centre, days=a.days)
    base = DesignDoctor(centre, HandleTimeChange(a.factor), designs=("customer", "agent", "site",
                                                                     "switchback"),
                        metrics=("wait_s",), truth_reps=10, relax_reps=10)
    t = time.perf_counter()
    from simulation import relaxation_time

    tau = relaxation_time(centre, a.factor, n_reps=10, rng=a.seed).tau_s
    cands = switchback_candidates(tau)[1:]  # the three with burn-in: 6 designs in all
    doc = DesignDoctor(centre, base.mechanism, designs=base.designs, metrics=base.metrics,
                       switchbacks=cands, truth_reps=10)
    emit(case="relaxation", tau_s=tau, seconds=time.perf_counter() - t,
         switchbacks=[[c.slice_s, c.burn_in_s] for c in cands])

    t = time.perf_counter()
    ser = doc.evaluate(sp_reps, rng=a.seed, n_jobs=1, progress=False)
    t_ser = time.perf_counter() - t
    t = time.perf_counter()
    par = doc.evaluate(sp_reps, rng=a.seed, n_jobs=a.jobs, progress=False)
    t_par = time.perf_counter() - t
    emit(case="speedup", n_reps=sp_reps, designs=6, workers=a.jobs, serial_s=t_ser,
         parallel_s=t_par, ratio=t_ser / t_par, identical=bool(ser.records.equals(par.records)),
         contacts_per_run=int(centre.arrival_rate_per_s * centre.days * 86400 * centre.sites))

    t = time.perf_counter()
    rep = doc.evaluate(reps, rng=a.seed + 1, n_jobs=a.jobs, progress=True)
    emit(case="evaluation", n_reps=reps, designs=6, agents=centre.n_agents, days=centre.days,
         seconds=time.perf_counter() - t, workers=a.jobs)
    f = rep.frame
    for _, r in f.iterrows():
        emit(case="design", design=r["design"], gte=r["gte"], bias=r["bias"],
             bias_pct_of_gte=r["bias_pct_of_gte"], sd=r["sd"], mean_se=r["mean_se"],
             rmse=r["rmse"], coverage=r["coverage"], power=r["power"],
             predicted_power=r["predicted_power"],
             power_gap_points=100 * (r["predicted_power"] - r["power"]), mde=r["mde"])
    best = rep.recommend()
    b = f.set_index("design").loc[best]
    c = f.set_index("design").loc["customer"]
    gaps = np.abs(f["predicted_power"] - f["power"]) * 100
    emit(case="targets", occupancy=centre.occupancy, factor=a.factor, n_reps=reps,
         customer_bias_pct_of_gte=c["bias_pct_of_gte"], recommended=best,
         recommended_coverage=b["coverage"], coverage_in_92_98=bool(0.92 <= b["coverage"] <= 0.98),
         recommended_power=b["power"], recommended_predicted_power=b["predicted_power"],
         max_power_gap_points=float(gaps.max()),
         power_gap_within_5=bool(abs(b["predicted_power"] - b["power"]) * 100 <= 5))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
