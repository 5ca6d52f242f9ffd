"""Simulator throughput and memory against ciw and a bare heapq loop, measured in the same run.

Prints one JSON line per case: ``case, ours_per_s, baseline, baseline_per_s, ratio`` (contacts
per second of wall time; ``ratio = ours / baseline``). Run from the repo root::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/simulation_throughput.py [--quick]

Targets (issue 6): single pool >= 100k contacts/s and >= 6x ciw; >= 60k/s at 10,000 agents;
>= 70k/s multi-skill with shifts and abandonment; <= 100 bytes per contact of memory growth
beyond the output arrays; >= 1.8x on 2 cores for parallel replications with identical results.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulation import (
    AgentGroup,
    ContactCentre,
    IntervalForecast,
    LogNormal,
    Poisson,
    Queue,
    Shift,
    SkillsBasedOverflow,
    replicate,
)


def emit(case: str, ours: float, baseline: str, base: float, **extra: object) -> None:
    row = {"case": case, "ours_per_s": round(ours, 1), "baseline": baseline,
           "baseline_per_s": round(base, 1), "ratio": round(ours / base, 3) if base else None}
    row.update(extra)
    print(json.dumps(row), flush=True)


def single_pool(agents: int, n_contacts: int) -> ContactCentre:
    lam = 100.0 / 60 * agents / 520  # per second; 520 agents <-> 100/min as in the issue
    return ContactCentre(
        [Queue("q", Poisson(lam, n_contacts / lam), aht_s=300.0, patience_s=120.0)],
        [AgentGroup("agents", ("q",), agents)],
    )


def time_ours(model: ContactCentre, seed: int = 1) -> tuple[float, int]:
    gc.collect()
    t = time.perf_counter()
    run = model.run(rng=seed)
    dt = time.perf_counter() - t
    return run.n_contacts / dt, run.n_contacts


def heapq_loop(lam: float, agents: int, n: int, seed: int = 1) -> float:
    """Bare-Python M/M/c+M event loop (FIFO, abandonment): the pure-Python speed limit."""
    rng = np.random.default_rng(seed)
    arr = np.cumsum(rng.exponential(1 / lam, n)).tolist()
    work = rng.exponential(300.0, n).tolist()
    pat = rng.exponential(120.0, n).tolist()
    t0 = time.perf_counter()
    heap: list = [(arr[0], 0, 0)]
    free = agents
    queue: list[int] = []
    head = 0
    status = bytearray(n)
    push, pop = heapq.heappush, heapq.heappop
    while heap:
        now, kind, c = pop(heap)
        if kind == 0:  # arrival
            if c + 1 < n:
                push(heap, (arr[c + 1], 0, c + 1))
            if free:
                free -= 1
                status[c] = 1
                push(heap, (now + work[c], 1, c))
            else:
                queue.append(c)
                push(heap, (now + pat[c], 2, c))
        elif kind == 1:  # departure
            while head < len(queue) and status[queue[head]]:
                head += 1
            if head < len(queue):
                c2 = queue[head]
                head += 1
                status[c2] = 1
                push(heap, (now + work[c2], 1, c2))
            else:
                free += 1
        elif not status[c]:
            status[c] = 2
    return n / (time.perf_counter() - t0)


def ciw_rate(lam_per_min: float, agents: int, n: int, seed: int = 1) -> tuple[float, float]:
    """ciw on the same model: contacts per second and bytes per contact (tracemalloc)."""
    import ciw

    net = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(lam_per_min)],
        service_distributions=[ciw.dists.Exponential(1 / 5)],
        number_of_servers=[agents],
        reneging_time_distributions=[ciw.dists.Exponential(1 / 2)],
    )
    ciw.seed(seed)  # ciw only has global seeding; baseline only
    sim = ciw.Simulation(net)
    t = time.perf_counter()
    sim.simulate_until_max_time(n / lam_per_min)
    rate = len(sim.get_all_records()) / (time.perf_counter() - t)
    return rate, float("nan")


def ciw_memory(n: int) -> float:
    import ciw

    net = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(100.0)],
        service_distributions=[ciw.dists.Exponential(1 / 5)],
        number_of_servers=[520],
        reneging_time_distributions=[ciw.dists.Exponential(1 / 2)],
    )
    ciw.seed(2)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    sim = ciw.Simulation(net)
    sim.simulate_until_max_time(n / 100.0)
    recs = sim.get_all_records()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return used / max(len(recs), 1)


def our_memory(n: int) -> tuple[float, float]:
    model = single_pool(520, n)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    run = model.run(rng=3)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    out = sum(a.nbytes for a in run.records_arrays.values())
    return (peak - out) / run.n_contacts, out / run.n_contacts


def multi_skill(n_target: int) -> ContactCentre:
    hours = 24
    per_hour = n_target / hours
    shape = 0.6 + 0.8 * np.sin(np.linspace(0, np.pi, 2 * hours)) ** 2  # busy middle of the day
    shape = shape / shape.sum()
    names = ["account", "billing", "safety", "chat"]
    mix = [0.4, 0.25, 0.15, 0.2]
    queues = [
        Queue(nm, IntervalForecast(tuple(n_target * w * shape), interval_s=1800),
              aht_s=LogNormal(300.0 if nm != "chat" else 900.0, 0.9),
              patience_s=LogNormal(150.0, 1.0), channel="chat" if nm == "chat" else "voice",
              priority=2 if nm == "safety" else 1)
        for nm, w in zip(names, mix, strict=True)
    ]
    load = per_hour / 3600 * 300 * 1.15  # rough erlangs
    day = Shift(0, 12 * 3600, breaks=((5 * 3600, 5.5 * 3600),), period_s=86400)
    late = Shift(12 * 3600, 24 * 3600, breaks=((17 * 3600, 17.5 * 3600),), period_s=86400)
    def n(x: float) -> int:
        return max(1, int(x * load))
    agents = []
    for sh, tag in ((day, "day"), (late, "late")):
        agents += [
            AgentGroup(f"acc-{tag}", ("account", "billing"), n(0.42)),
            AgentGroup(f"bil-{tag}", ("billing", "account"), n(0.26)),
            AgentGroup(f"saf-{tag}", ("safety", "account"), n(0.16)),
            AgentGroup(f"chat-{tag}", ("chat",), n(0.21), concurrency=3),
            AgentGroup(f"float-{tag}", ("account", "billing", "safety"), n(0.1)),
        ]
        for g in agents[-5:]:
            object.__setattr__(g, "shift", sh)
    return ContactCentre(queues, agents, routing=SkillsBasedOverflow(30.0))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller runs (CI smoke)")
    a = ap.parse_args()
    k = 0.2 if a.quick else 1.0
    n = int(200_000 * k)

    # single pool, 520 agents: ours vs ciw and vs a bare heapq loop
    ours, _ = time_ours(single_pool(520, n))
    ciw_n = int(30_000 * k)
    ciw_s, _ = ciw_rate(100.0, 520, ciw_n)
    emit("single_pool_520", ours, "ciw", ciw_s, contacts=n, baseline_contacts=ciw_n)
    emit("single_pool_520", ours, "bare_heapq_loop", heapq_loop(100 / 60, 520, n), contacts=n)

    # 10,000 agents
    ours, _ = time_ours(single_pool(10_000, n))
    lam = 100 / 60 * 10_000 / 520
    ciw_n = int(1_000 * k)
    ciw_s, _ = ciw_rate(lam * 60, 10_000, ciw_n)
    emit("single_pool_10000", ours, "ciw", ciw_s, contacts=n, baseline_contacts=ciw_n)
    emit("single_pool_10000", ours, "bare_heapq_loop", heapq_loop(lam, 10_000, n), contacts=n)

    # multi-skill with shifts, breaks, chat concurrency, abandonment and overflow routing
    ms = multi_skill(n)
    ours, cnt = time_ours(ms)
    emit("multi_skill_shifts_abandonment", ours, "bare_heapq_loop_single_pool",
         heapq_loop(100 / 60, 520, n), contacts=cnt, agents=ms.n_agents)

    # memory growth beyond output arrays (tracemalloc; both sides under the same tracer)
    mem_n = int(100_000 * k)
    ours_b, out_b = our_memory(mem_n)
    ciw_b = ciw_memory(int(20_000 * k))
    print(json.dumps({"case": "memory_bytes_per_contact", "ours_per_s": None, "baseline": "ciw",
                      "baseline_per_s": None, "ratio": round(ciw_b / ours_b, 2),
                      "ours_bytes_per_contact_beyond_outputs": round(ours_b, 1),
                      "ours_output_bytes_per_contact": round(out_b, 1),
                      "ciw_bytes_per_contact": round(ciw_b, 1)}), flush=True)

    # parallel replications on 2 cores vs sequential, identical results
    m = single_pool(520, int(60_000 * k))
    t = time.perf_counter()
    seq = replicate(m, 4, rng=9, backend="serial", progress=False)
    t_seq = time.perf_counter() - t
    t = time.perf_counter()
    par = replicate(m, 4, rng=9, backend="process", n_workers=2, progress=False)
    t_par = time.perf_counter() - t
    total = float(seq.replications["offered"].sum())
    emit("parallel_replications_2_cores", total / t_par, "sequential", total / t_seq,
         identical=bool(seq.replications.equals(par.replications)))


if __name__ == "__main__":
    main()
