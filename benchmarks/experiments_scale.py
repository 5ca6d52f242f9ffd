"""Experiment analysis at warehouse scale: sufficient statistics in DuckDB vs pandas.

A contact table (default 10M rows) is generated inside DuckDB. The same ``Experiment`` spec
(4 metrics with CUPED, 3 segments) is analysed twice, each path in its own subprocess so that
peak memory is measured cleanly:

- ``warehouse``: ``exp.analyze((con, "contacts"))``; sums, sums of squares and cross-products by
  arm and segment are computed in SQL and only a few dozen rows reach Python;
- ``pandas`` (baseline): the table is read into a DataFrame and analysed there.

Prints one JSON line per case (time, peak RSS increase), then one line with the ratios and the
largest absolute difference between the two results (target: >= 5x faster, <= 1/5 of the
memory, identical numbers to 1e-9), with ``meets_target`` (one boolean per target) and
``all_targets_met``.

Usage::

    python benchmarks/experiments_scale.py --rows 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GEN_SQL = """
CREATE OR REPLACE TABLE contacts AS
WITH u AS (
  SELECT i,
    (hash(i, 1) % 1000003) / 1000003.0 + 1e-7 AS u1,
    (hash(i, 2) % 1000003) / 1000003.0 AS u2,
    (hash(i, 3) % 1000003) / 1000003.0 + 1e-7 AS u3,
    (hash(i, 4) % 1000003) / 1000003.0 AS u4,
    (hash(i, 5) % 1000003) / 1000003.0 AS u5,
    CAST(hash(i, 6) % 3 AS BIGINT) AS s,
    CAST(hash(i, 7) % 2 AS BIGINT) AS d
  FROM range({rows}) t(i)
), z AS (
  SELECT *, sqrt(-2 * ln(u1)) * cos(2 * pi() * u2) AS z1,
            sqrt(-2 * ln(u3)) * cos(2 * pi() * u4) AS z2
  FROM u
)
SELECT i AS contact_id,
  CASE WHEN d = 1 THEN 'treatment' ELSE 'control' END AS variant,
  ['standard', 'verified', 'creator'][s + 1] AS segment,
  420 * exp(0.4 * z1) AS pre_handle_s,
  420 * exp(0.4 * z1 + 0.3 * z2) * (1 - 0.03 * d) AS handle_s,
  60 * exp(0.5 * z2) AS pre_wait_s,
  60 * exp(0.5 * z2 + 0.2 * z1) * (1 - 0.05 * d) AS wait_s,
  CAST(u5 < 0.7 + 0.02 * d AS INTEGER) AS resolved,
  CAST(u2 < 0.08 AS INTEGER) AS reopened
FROM z
"""


def spec():
    sys.path.insert(0, str(ROOT))
    from causal.experiments import Experiment, Mean, Proportion

    return Experiment(
        handle=Mean("handle_s", covariate="pre_handle_s", higher_is_better=False),
        wait=Mean("wait_s", covariate="pre_wait_s", higher_is_better=False),
        resolved=Proportion("resolved"),
        reopened=Proportion("reopened", higher_is_better=False),
        segment="segment",
        name="scale-benchmark",
    )


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(path: str, db: str, out: str) -> None:
    import duckdb

    exp = spec()
    con = duckdb.connect(db, read_only=True)
    con.execute("SET threads = 2")
    base = _rss_mb()
    t0 = time.perf_counter()
    if path == "warehouse":
        res = exp.analyze((con, "contacts"))
    else:
        frame = con.sql("SELECT * FROM contacts").df()
        res = exp.analyze(frame)
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cols = ["metric", "segment", "effect", "ci_low", "ci_high", "pvalue", "theta",
            "variance_reduction", "mean_control", "mean_treatment"]
    Path(out).write_text(json.dumps({
        "seconds": secs, "peak_mb": peak - base, "rss_base_mb": base,
        "table": res.table[cols].to_dict(orient="records"),
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--child", choices=["warehouse", "pandas"])
    ap.add_argument("--db")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.db, args.out)
        return
    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "bench.duckdb")
        con = duckdb.connect(db)
        t0 = time.perf_counter()
        con.execute(GEN_SQL.format(rows=int(args.rows)))
        con.close()
        gen_s = time.perf_counter() - t0
        results = {}
        for path in ("warehouse", "pandas"):
            out = os.path.join(tmp, f"{path}.json")
            subprocess.run(
                [sys.executable, __file__, "--child", path, "--db", db, "--out", out],
                check=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            results[path] = json.loads(Path(out).read_text())
            print(json.dumps({
                "case": f"experiment_analyze_{path}", "rows": args.rows,
                "metrics": 4, "segments": 3, "cuped": True,
                "seconds": round(results[path]["seconds"], 3),
                "peak_mb": round(results[path]["peak_mb"], 1),
                "generate_s": round(gen_s, 2),
            }))
        w, p = results["warehouse"], results["pandas"]
        diff = 0.0
        for a, b in zip(w["table"], p["table"], strict=True):
            assert (a["metric"], a["segment"]) == (b["metric"], b["segment"])
            for k, v in a.items():
                if isinstance(v, float):
                    diff = max(diff, abs(v - b[k]))
        speedup = p["seconds"] / w["seconds"]
        mem_frac = w["peak_mb"] / max(p["peak_mb"], 1e-9)
        meets = {"speedup": bool(speedup >= 5), "memory_fraction": bool(mem_frac <= 0.2),
                 "max_abs_diff": bool(diff <= 1e-9)}
        print(json.dumps({
            "case": "experiment_analyze_ratio", "rows": args.rows,
            "speedup_vs_pandas": round(speedup, 2),
            "memory_fraction_of_pandas": round(mem_frac, 4),
            "max_abs_diff": diff,
            "targets": {"speedup": ">= 5", "memory_fraction": "<= 0.2", "max_abs_diff": "<= 1e-9"},
            "meets_target": meets,
            "all_targets_met": all(meets.values()),
        }))


if __name__ == "__main__":
    main()
