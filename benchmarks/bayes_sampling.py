"""Benchmark: hierarchical model, 50 queues, 1M contacts; bulk ESS per second.

Cases (one JSON line each):

- ``sufficient_stats_pymc_centred_default``: the study's default configuration (cells of
  sufficient statistics, centred queue effects, PyMC NUTS);
- ``sufficient_stats_pymc_noncentred``: the same with non-centred effects (the model's default,
  meant for small groups: with 20k contacts per queue it mixes worse);
- ``sufficient_stats_pymc_same_rows``: non-centred, on the raw-row baseline's rows;
- ``sufficient_stats_nutpie_centred``: the default configuration with nutpie, where installed
  (its numba compilation is inside the timing);
- ``raw_rows_pymc``: the same model on raw rows (the baseline), fewer draws; at ``--raw-n`` rows
  (default 100k: 1M raw rows take many minutes on a shared 2-core machine, and the raw-row cost
  grows linearly with rows, so the ratio at 1M would be about 10x larger still).

ESS/s = minimum bulk ESS over the gated parameters (mu_tau, sigma_tau, tau, ...) divided by the
wall time of ``pm.sample`` (compilation included, as a user pays it). Ratios are against the raw-row
baseline measured in the same process.

- ``pytensor_blas_linked`` (``--blas``): ``import causal.bayes`` plus a censored hierarchical fit
  (8 queues x 600 contacts, 2 x 250 draws; the test suite's fixture) in a fresh process with
  PyTensor linked to scipy's bundled OpenBLAS, against the baseline ``pytensor_no_blas`` in which
  PyTensor searches for a system BLAS at import, finds none, warns and falls back to NumPy C-API
  calls (``SERVICELAB_PYTENSOR_BLAS=0``). Each configuration runs twice and the second (warm
  compile cache) counts. Reports wall and CPU seconds and whether the BLAS warning appeared.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bayes_sampling.py [--n 1000000] [--raw-n 100000]``;
``python benchmarks/bayes_sampling.py --blas`` for the BLAS cases only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import arviz as az

from causal.bayes import (
    HierarchicalEffects,
    Sampler,
    nutpie_available,
    sample_model,
    simulate_hierarchical,
)
from causal.bayes.hierarchical import GATED


def _case(name: str, frame, spec: HierarchicalEffects, seed: int) -> dict:
    t0 = time.perf_counter()
    prep = spec.prepare(frame)
    model = spec.build_model(prep)
    t_prep = time.perf_counter() - t0
    t1 = time.perf_counter()
    idata = sample_model(model, spec.sampler, rng=seed)
    wall = time.perf_counter() - t1
    names = [v for v in GATED if v in idata.posterior]
    ess = az.ess(idata.posterior, var_names=names, method="bulk")
    min_ess = float(min(float(ess[v].min()) for v in names))
    return {"case": name, "rows": len(frame), "cells": len(prep.cells),
            "draws": spec.sampler.draws * spec.sampler.chains, "prepare_s": round(t_prep, 3),
            "sample_s": round(wall, 2), "min_bulk_ess": round(min_ess, 1),
            "ess_per_s": round(min_ess / wall, 2),
            "gate": {d.name: d.status for d in spec.gate.check(idata, names)}}


_BLAS_CHILD = """
import time, warnings, resource
t0 = time.perf_counter()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import causal.bayes
    import pytensor
    from causal.bayes import HierarchicalEffects, Sampler, simulate_hierarchical
    t_import = time.perf_counter() - t0
    frame, _ = simulate_hierarchical(8, 600, mu_tau=-0.25, sigma_tau=0.08, horizon_scale=12000.0,
                                     rng=11)
    spec = HierarchicalEffects("duration_s", "treated", event="event", horizon="horizon_s",
                               sampler=Sampler(draws=250, tune=250, chains=2))
    t1 = time.perf_counter()
    spec.fit(frame, rng=5)
    t_fit = time.perf_counter() - t1
cpu = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"import_s": t_import, "fit_s": t_fit, "cpu_s": cpu.ru_utime + cpu.ru_stime,
                  "ldflags": bool(pytensor.config.blas__ldflags),
                  "blas_warning": any("could not link to a BLAS" in str(w.message)
                                      for w in caught)}))
"""


def _blas_cases() -> list[dict]:
    out = {}
    for name, env in (("pytensor_no_blas", {"SERVICELAB_PYTENSOR_BLAS": "0"}),
                      ("pytensor_blas_linked", {})):
        e = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"} | env
        code = "import json\n" + _BLAS_CHILD
        runs = [subprocess.run([sys.executable, "-c", code], env=e, capture_output=True,
                               text=True, check=True, cwd=Path(__file__).resolve().parents[1])
                for _ in range(2)]
        out[name] = json.loads(runs[-1].stdout.strip().splitlines()[-1])
    base = out["pytensor_no_blas"]
    rows = []
    for name, r in out.items():
        total = r["import_s"] + r["fit_s"]
        base_total = base["import_s"] + base["fit_s"]
        rows.append({"case": name, "import_s": round(r["import_s"], 2),
                     "fit_s": round(r["fit_s"], 2), "total_s": round(total, 2),
                     "cpu_s": round(r["cpu_s"], 2), "blas_linked": r["ldflags"],
                     "blas_warning": r["blas_warning"], "baseline": "pytensor_no_blas",
                     "baseline_total_s": round(base_total, 2),
                     "ratio": round(base_total / total, 2)})
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--raw-n", type=int, default=100_000)
    ap.add_argument("--queues", type=int, default=50)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--raw-draws", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--blas", action="store_true", help="only the BLAS on/off cases")
    args = ap.parse_args(argv)
    if args.blas:
        for r in _blas_cases():
            print(json.dumps(r), flush=True)
        return
    logging.getLogger("pymc").setLevel(logging.WARNING)
    frame, _ = simulate_hierarchical(args.queues, args.n // args.queues, rng=args.seed)
    raw_frame = frame.sample(n=min(args.raw_n, len(frame)), random_state=args.seed)
    base = {"outcome": "duration_s", "treatment": "treated", "group": "queue"}
    sampler = Sampler(draws=args.draws, tune=args.draws, chains=2)
    results = []
    raw = _case("raw_rows_pymc", raw_frame,
                HierarchicalEffects(**base, aggregate=False,
                                    sampler=Sampler(draws=args.raw_draws, tune=args.raw_draws,
                                                    chains=2)), args.seed)
    results.append(raw)
    # the resolution-time study's default: centred effects (every queue has thousands of contacts)
    results.append(_case("sufficient_stats_pymc_centred_default", frame, HierarchicalEffects(
        **base, centred=True, sampler=sampler), args.seed))
    results.append(_case("sufficient_stats_pymc_noncentred", frame, HierarchicalEffects(
        **base, sampler=sampler), args.seed))
    results.append(_case("sufficient_stats_pymc_same_rows_noncentred", raw_frame,
                         HierarchicalEffects(**base, sampler=sampler), args.seed))
    if nutpie_available():
        results.append(_case("sufficient_stats_nutpie_centred", frame, HierarchicalEffects(
            **base, centred=True, sampler=Sampler(draws=args.draws, tune=args.draws, chains=2,
                                    backend="nutpie")), args.seed))
    for r in results:
        r["baseline"] = "raw_rows_pymc"
        r["baseline_ess_per_s"] = raw["ess_per_s"]
        r["ratio"] = round(r["ess_per_s"] / raw["ess_per_s"], 2) if raw["ess_per_s"] else None
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
