"""Erlang B/C/A and the staffing search at large scale: the windowed chain against the full chain.

The baseline is the method servicelab used before (kept here, compactly): the birth-death chain's
weights for *every* state ``0..n`` (and the whole queue tail), so memory and time grow with the
number of agents and the load, and a requirement search that doubles from the square-root rule and
bisects. It is measured in the same process, at sizes it can still do; the cases it cannot do (1e9
agents needs a 7.45 GiB array) are measured for ours alone, with the baseline's requirement stated.

Prints one JSON line per case: ``case, ours_s, baseline_s, ratio (baseline / ours), ours_peak_mb,
baseline_peak_mb`` (peak traced numpy/Python allocation, tracemalloc) and the answers of both
(which must agree). Run from the repo root::

    .venv/bin/python benchmarks/erlang_scale.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulation import ServiceLevel, erlang_a, erlang_c, required_agents
from simulation.analytic import square_root_staffing


# -- the former method (full chain), for the baseline -------------------------------------------
def _full_log_weights(load: float, n: int) -> np.ndarray:
    k = np.arange(n + 1, dtype=float)
    return k * math.log(load) - special.gammaln(k + 1.0)


def full_erlang_c_sl(lam_h: float, aht: float, n: int, t: float) -> float:
    load = lam_h / 3600 * aht
    if load >= n:
        return 0.0
    lw = _full_log_weights(load, n)
    b = math.exp(lw[-1] - special.logsumexp(lw))
    c = b / (1 - load / n * (1 - b))
    return 1 - c * math.exp(-(n / aht - lam_h / 3600) * t)


def full_erlang_a_sl(lam_h: float, aht: float, n: int, pat: float, t: float) -> float:
    lam, mu, theta = lam_h / 3600, 1 / aht, 1 / pat
    lw_low = _full_log_weights(lam / mu, n)
    chunks, last, top, start, size = [lw_low], lw_low[-1], float(lw_low.max()), 1, max(256, min(1 << 16, 4 * n))
    peak = max(0.0, (lam - n * mu) / theta)
    while True:
        j = np.arange(start, start + size, dtype=float)
        lw = last + np.cumsum(math.log(lam) - np.log(n * mu + j * theta))
        chunks.append(lw)
        top, last, start = max(top, float(lw.max())), float(lw[-1]), start + size
        if start > peak and last < top - 45:
            break
        size = min(size * 2, 1 << 20)
    lw = np.concatenate(chunks)
    pi = np.exp(lw - special.logsumexp(lw))
    pq = pi[n:]
    m = np.arange(pq.size, dtype=float)
    nmu = n * mu
    x = -math.expm1(-theta * t)
    cdf = special.betainc(m + 1, nmu / theta + 1, x)
    return float(1 - pq.sum() + np.sum(pq * nmu / (nmu + (m + 1) * theta) * cdf))


def full_required_agents(lam_h: float, aht: float, target: float, t: float, pat: float | None) -> int:
    load = lam_h / 3600 * aht

    def ok(n: int) -> bool:
        sl = full_erlang_c_sl(lam_h, aht, n, t) if pat is None else full_erlang_a_sl(lam_h, aht, n, pat, t)
        return sl >= target - 1e-12

    lo = math.floor(load) if pat is None else 0
    hi = max(lo + 1, square_root_staffing(lam_h, aht, beta=1.0).agents)
    while not ok(hi):
        lo, hi = hi, 2 * hi + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


# -- measuring ---------------------------------------------------------------------------------
def measure(fn: Callable[[], Any], repeat: int = 1) -> tuple[Any, float, float]:
    """(answer, best wall seconds, peak traced MB); one untimed call first (imports, caches)."""
    fn()
    best, out = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return out, best, peak


def emit(case: str, ours: tuple[Any, float, float], base: tuple[Any, float, float] | None, note: str = "") -> None:
    row: dict[str, Any] = {"case": case, "ours_s": round(ours[1], 5), "ours_peak_mb": round(ours[2], 2),
                           "ours_answer": ours[0]}
    if base is not None:
        row |= {"baseline": "full chain (former method)", "baseline_s": round(base[1], 5),
                "baseline_peak_mb": round(base[2], 2), "baseline_answer": base[0],
                "ratio": round(base[1] / ours[1], 2) if ours[1] > 0 else None}
    else:
        row |= {"baseline": note, "baseline_s": None, "ratio": None}
    print(json.dumps(row), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller baseline sizes")
    quick = ap.parse_args().quick
    sl = ServiceLevel(20)
    rep = 1 if quick else 3
    # many agents at a small load: the baseline's arrays grow with n, ours do not
    n_base = 10**6 if quick else 10**7
    for n in (520, n_base):
        emit(f"erlang_c agents={n:.0e} arrivals=600/h",
             measure(lambda n=n: erlang_c(600, 300, n, sl).service_level, rep),
             measure(lambda n=n: full_erlang_c_sl(600, 300, n, 20), rep))
    emit("erlang_c agents=1e9 arrivals=600/h", measure(lambda: erlang_c(600, 300, 10**9, sl).service_level, rep),
         None, "full chain not run: 1e9 float64 states need 7.45 GiB (it raised MemoryError)")
    emit("erlang_a agents=1e9 arrivals=600/h patience=120s",
         measure(lambda: erlang_a(600, 300, 10**9, 120, sl).service_level, rep), None,
         "full chain not run: 1e9 float64 states need 7.45 GiB")
    # the requirement search at large loads
    lam_base = 1e6 if quick else 1e7
    for lam in (6000.0, lam_base):
        emit(f"required_agents erlang_c arrivals={lam:.0e}/h",
             measure(lambda lam=lam: required_agents(lam, 300, target_sl=0.8, service_level=sl).agents, rep),
             measure(lambda lam=lam: full_required_agents(lam, 300, 0.8, 20, None), 1))
        emit(f"required_agents erlang_a arrivals={lam:.0e}/h patience=120s",
             measure(lambda lam=lam: required_agents(lam, 300, target_sl=0.8, service_level=sl,
                                                     patience_s=120).agents, rep),
             measure(lambda lam=lam: full_required_agents(lam, 300, 0.8, 20, 120.0), 1))
    for pat, cap in ((None, None), (120.0, None), (120.0, 0.02)):
        emit(f"required_agents arrivals=1e9/h patience={pat} max_abandon={cap}",
             measure(lambda pat=pat, cap=cap: required_agents(1e9, 300, target_sl=0.8, service_level=sl,
                                                              patience_s=pat, max_abandon=cap).agents, rep),
             None, "full chain not run at 1e9/h here: the former code took 99 s and 3.5 GB for Erlang C on "
                   "this machine (one run, before the change)")


if __name__ == "__main__":
    main()
