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

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bayes_sampling.py [--n 1000000] [--raw-n 100000]``
"""

from __future__ import annotations

import argparse
import json
import logging
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--raw-n", type=int, default=100_000)
    ap.add_argument("--queues", type=int, default=50)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--raw-draws", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
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
