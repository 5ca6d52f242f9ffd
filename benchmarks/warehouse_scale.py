"""The routing-ab experiment analysis at warehouse scale: DuckDB and Spark pushdown vs pandas.

A contact table (default 100M rows; ``--rows``) is written as a folder of Parquet files by DuckDB,
streamed from a generator query (never held in memory). The same ``Experiment`` spec as the
routing-ab study's core (4 metrics, CUPED on two of them, 3 segments) is analysed by three paths,
each in its own subprocess so that peak memory is measured cleanly (the Spark path's figure is the
Python process plus its JVM, sampled every 50 ms):

- ``duckdb``: ``exp.analyze((con, "SELECT * FROM read_parquet(...)"))`` with ``memory_limit``;
  sums, sums of squares and cross-products by arm and segment are computed in SQL and only a few
  dozen rows reach Python;
- ``spark``: the very same engine SQL, transpiled to Spark SQL by ``studies.warehouse`` and run by
  Spark ``local[2]`` over the same files (the engine's ``Source.query`` is routed to a
  ``SparkWarehouse``; the engine itself is unchanged);
- ``pandas`` (the baseline): the files are read into a DataFrame and analysed there, at
  ``--pandas-rows`` rows at most (default 20M, about what 16 GB holds comfortably); when that is
  fewer than ``--rows``, DuckDB is also run on that same subset, so the pandas comparison is at
  equal size.

Prints one JSON line per case (seconds, rows per second, peak RSS), then one line of ratios with
the identical-numbers checks (largest absolute difference of every estimate, target 1e-9 between
DuckDB and pandas and 1e-6 relative between DuckDB and Spark, whose sums run in another order),
``meets_target`` (one boolean per target, among them DuckDB's peak RSS under 2 GB at the full
size) and ``all_targets_met``.

Usage::

    python benchmarks/warehouse_scale.py --rows 100000000
    python benchmarks/warehouse_scale.py --rows 2000000 --skip spark   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GEN_SQL = """
COPY (
WITH u AS (
  SELECT i,
    (hash(i, 1) % 1000003) / 1000003.0 + 1e-7 AS u1,
    (hash(i, 2) % 1000003) / 1000003.0 AS u2,
    (hash(i, 3) % 1000003) / 1000003.0 + 1e-7 AS u3,
    (hash(i, 4) % 1000003) / 1000003.0 AS u4,
    (hash(i, 5) % 1000003) / 1000003.0 AS u5,
    CAST(hash(i, 6) % 3 AS BIGINT) AS s,
    CAST(hash(i, 7) % 2 AS BIGINT) AS d
  FROM range({start}, {stop}) t(i)
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
) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
"""
FILE_ROWS = 10_000_000  # rows per Parquet file: a subset of the first k files is a prefix of the table
COLUMNS = ["metric", "segment", "effect", "ci_low", "ci_high", "pvalue", "theta", "variance_reduction",
           "mean_control", "mean_treatment"]


def spec():
    sys.path.insert(0, str(ROOT))
    from causal.experiments import Experiment, Mean, Proportion

    return Experiment(
        handle=Mean("handle_s", covariate="pre_handle_s", higher_is_better=False),
        wait=Mean("wait_s", covariate="pre_wait_s", higher_is_better=False),
        resolved=Proportion("resolved"),
        reopened=Proportion("reopened", higher_is_better=False),
        segment="segment",
        name="warehouse-scale",
    )


def generate(folder: Path, rows: int, file_rows: int) -> list[str]:
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET memory_limit = '1GB'")
    con.execute("SET preserve_insertion_order = false")
    files = []
    for k, start in enumerate(range(0, rows, file_rows)):
        path = folder / f"part-{k:05d}.parquet"
        con.execute(GEN_SQL.format(start=start, stop=min(rows, start + file_rows), path=path))
        files.append(str(path))
    con.close()
    return files


class PeakRSS:
    """Peak resident memory of this process and all its children (the Spark JVM), sampled."""

    def __init__(self, every_s: float = 0.05) -> None:
        import psutil

        self._proc = psutil.Process()
        self.base = self._now()
        self.peak = self.base
        self._stop = threading.Event()
        self._every = every_s
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _now(self) -> float:
        import psutil

        total = 0
        for p in [self._proc, *self._proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                continue
        return total / 2**20

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self.peak = max(self.peak, self._now())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._now())
        return self.peak


def child(path: str, files: list[str], out: str, memory_limit: str) -> None:
    import duckdb

    exp = spec()
    listing = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
    t0 = time.perf_counter()
    if path == "spark":
        sys.path.insert(0, str(ROOT))
        from causal.experiments import _data as engine
        from studies.warehouse.spark import SparkWarehouse, local_spark_session

        spark = local_spark_session("local[2]", conf={"spark.driver.memory": "2g",
                                                      "spark.ui.showConsoleProgress": "false"})
        spark.read.parquet(*files).createOrReplaceTempView("src")
        wh = SparkWarehouse(session=spark)
        con = duckdb.connect()  # only for the column list: LIMIT 0 reads no row
        rel_sql = f"SELECT * FROM read_parquet({listing}) LIMIT 0"
        engine.Source.query = lambda _self, sql: wh.query(sql)  # the engine's SQL, on Spark
        startup = time.perf_counter() - t0
        meter = PeakRSS()
        t1 = time.perf_counter()
        res = exp.analyze((con, rel_sql))
    else:
        con = duckdb.connect()
        con.execute("SET threads = 2")
        con.execute("SET memory_limit = ?", [memory_limit])
        con.execute("SET preserve_insertion_order = false")
        startup = time.perf_counter() - t0
        meter = PeakRSS()
        t1 = time.perf_counter()
        if path == "duckdb":
            res = exp.analyze((con, f"SELECT * FROM read_parquet({listing})"))
        else:
            import pandas as pd

            frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
            res = exp.analyze(frame)
    secs = time.perf_counter() - t1
    peak = meter.stop()
    Path(out).write_text(json.dumps({"seconds": secs, "startup_s": startup, "peak_mb": peak,
                                     "table": res.table[COLUMNS].to_dict(orient="records")}))


def run_case(path: str, files: list[str], tmp: str, memory_limit: str, tag: str) -> dict:
    out = os.path.join(tmp, f"{tag}.json")
    subprocess.run([sys.executable, __file__, "--child", path, "--files", json.dumps(files), "--out", out,
                    "--memory-limit", memory_limit],
                   check=True, env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    return json.loads(Path(out).read_text())


def max_diff(a: dict, b: dict, relative: bool = False) -> float:
    worst = 0.0
    for x, y in zip(a["table"], b["table"], strict=True):
        assert (x["metric"], x["segment"]) == (y["metric"], y["segment"])
        for k, v in x.items():
            if isinstance(v, float) and isinstance(y[k], float):
                d = abs(v - y[k])
                worst = max(worst, d / max(abs(v), 1e-12) if relative else d)
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--pandas-rows", type=int, default=20_000_000,
                    help="largest table the pandas baseline reads (a prefix of the files)")
    ap.add_argument("--file-rows", type=int, default=FILE_ROWS, help="rows per Parquet file")
    ap.add_argument("--memory-limit", default="1GB", help="DuckDB's memory_limit")
    ap.add_argument("--skip", nargs="*", default=[], choices=["spark", "pandas"])
    ap.add_argument("--dir", default=None, help="where to write the Parquet files (default: a temporary folder)")
    ap.add_argument("--child", choices=["duckdb", "spark", "pandas"])
    ap.add_argument("--files")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        child(args.child, json.loads(args.files), args.out, args.memory_limit)
        return
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        t0 = time.perf_counter()
        files = generate(Path(tmp) / "contacts", args.rows, args.file_rows)
        gen_s = time.perf_counter() - t0
        size_mb = sum(os.path.getsize(f) for f in files) / 2**20
        pandas_files = files[: max(1, args.pandas_rows // args.file_rows)]
        pandas_rows = min(args.rows, len(pandas_files) * args.file_rows)
        results: dict[str, dict] = {}
        cases = [("duckdb", files, args.rows)]
        if "spark" not in args.skip:
            cases.append(("spark", files, args.rows))
        if "pandas" not in args.skip:
            if pandas_rows < args.rows:
                cases.append(("duckdb_subset", pandas_files, pandas_rows))
            cases.append(("pandas", pandas_files, pandas_rows))
        for tag, subset, rows in cases:
            path = tag.split("_")[0]
            r = run_case(path, subset, tmp, args.memory_limit, tag)
            results[tag] = r
            print(json.dumps({"case": f"warehouse_scale_{tag}", "rows": rows, "files": len(subset),
                              "metrics": 4, "segments": 3, "cuped": True,
                              "seconds": round(r["seconds"], 3), "startup_s": round(r["startup_s"], 2),
                              "rows_per_s": round(rows / r["seconds"]), "peak_mb": round(r["peak_mb"], 1),
                              "parquet_mb": round(size_mb, 1), "generate_s": round(gen_s, 2)}), flush=True)
        duck = results["duckdb"]
        ratio: dict = {"case": "warehouse_scale_ratio", "rows": args.rows, "pandas_rows": pandas_rows,
                       "duckdb_peak_mb": round(duck["peak_mb"], 1)}
        targets: dict = {"duckdb_peak_mb": "< 2048 at 100M rows"}
        meets: dict = {"duckdb_peak_mb": bool(duck["peak_mb"] < 2048)}
        if "spark" in results:
            sp = results["spark"]
            ratio["spark_seconds_over_duckdb"] = round(sp["seconds"] / duck["seconds"], 2)
            ratio["spark_peak_mb"] = round(sp["peak_mb"], 1)
            ratio["max_rel_diff_spark_vs_duckdb"] = max_diff(duck, sp, relative=True)
            targets["max_rel_diff_spark_vs_duckdb"] = "<= 1e-6"
            meets["max_rel_diff_spark_vs_duckdb"] = bool(ratio["max_rel_diff_spark_vs_duckdb"] <= 1e-6)
        if "pandas" in results:
            pd_ = results["pandas"]
            same = results.get("duckdb_subset", duck)
            ratio["speedup_duckdb_vs_pandas"] = round(pd_["seconds"] / same["seconds"], 2)
            ratio["memory_fraction_duckdb_of_pandas"] = round(same["peak_mb"] / max(pd_["peak_mb"], 1e-9), 4)
            ratio["max_abs_diff_duckdb_vs_pandas"] = max_diff(same, pd_)
            targets["max_abs_diff_duckdb_vs_pandas"] = "<= 1e-9"
            meets["max_abs_diff_duckdb_vs_pandas"] = bool(ratio["max_abs_diff_duckdb_vs_pandas"] <= 1e-9)
        ratio.update(targets=targets, meets_target=meets, all_targets_met=all(meets.values()))
        print(json.dumps(ratio))


if __name__ == "__main__":
    main()
