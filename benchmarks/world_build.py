"""Benchmark: build time of the synthetic service world.

Prints one JSON line per case: the case, our figure (seconds to generate the world), the
baseline's figure measured in the same process (a bare heapq FCFS multi-server loop over the
same number of contacts: the floor of any per-contact queue simulation in Python) and their
ratio. A second case per scale measures the cost of the ticket text: the world with text
(``contact_text``, the default) against the same world without it (``WorldConfig(emit_text=False)``,
the world as it was before text), built in the same process after a warm-up, alternating, best of
``--repeat``; the target is a ratio <= 2. Run from the repository root::

    python benchmarks/world_build.py --scale 1.0
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studies.world import WorldConfig, generate_world


def bare_heapq_queue(n: int, servers: int, seed: int = 0) -> float:
    """Seconds for an FCFS multi-server loop with abandonment over ``n`` contacts."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0, n)).tolist()
    service = (rng.exponential(0.85 * servers, n)).tolist()
    patience = rng.exponential(30.0, n).tolist()
    t0 = time.perf_counter()
    free = [0.0] * servers
    heapq.heapify(free)
    answered = 0
    for t, s, p in zip(arrivals, service, patience, strict=True):
        f = free[0]
        start = f if f > t else t
        if start - t > p:
            continue
        heapq.heapreplace(free, start + s)
        answered += 1
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, nargs="+", default=[1.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=2, help="builds per variant (the best is kept)")
    args = parser.parse_args(argv)
    generate_world(seed=args.seed, scale=0.01)  # warm-up: imports and first-call costs of both paths
    for scale in args.scale:
        timings: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.repeat):  # alternate, so that load changes hit both alike; keep the best
            for text in (False, True):
                t0 = time.perf_counter()
                world = generate_world(seed=args.seed, scale=scale, config=WorldConfig(emit_text=text))
                timings[text].append(time.perf_counter() - t0)
        ours, bare = min(timings[True]), min(timings[False])
        n = len(world.tables["contacts"])
        base = bare_heapq_queue(n, servers=100, seed=args.seed)
        print(
            json.dumps(
                {
                    "case": f"world_build_scale_{scale:g}",
                    "contacts": n,
                    "ours_s": round(ours, 3),
                    "baseline": "bare heapq FCFS loop, same contacts",
                    "baseline_s": round(base, 3),
                    "ratio": round(ours / base, 2),
                    "us_per_contact": round(1e6 * ours / n, 2),
                }
            )
        )
        print(
            json.dumps(
                {
                    "case": f"world_build_text_scale_{scale:g}",
                    "contacts": n,
                    "ours_s": round(ours, 3),
                    "baseline": "same world without text (emit_text=False)",
                    "baseline_s": round(bare, 3),
                    "ratio": round(ours / bare, 2),
                    "target_ratio": 2.0,
                    "repeats": args.repeat,
                }
            )
        )


if __name__ == "__main__":
    main()
