"""``benchmarks/warehouse_scale.py`` at a tiny size: it writes the Parquet files, runs DuckDB and
pandas on them, and its identical-numbers check holds. (Two child processes only: pandas reads the
whole table, and the Spark path, whose SQL the Spark tests run, is skipped.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_runs_and_its_paths_agree(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "warehouse_scale.py"), "--rows", "30000",
                           "--file-rows", "10000", "--pandas-rows", "30000", "--skip", "spark",
                           "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    cases = {x["case"]: x for x in lines}
    assert set(cases) == {"warehouse_scale_duckdb", "warehouse_scale_pandas", "warehouse_scale_ratio"}
    assert cases["warehouse_scale_duckdb"]["rows"] == 30000 and cases["warehouse_scale_duckdb"]["files"] == 3
    assert cases["warehouse_scale_pandas"]["rows"] == 30000 and cases["warehouse_scale_pandas"]["files"] == 3
    ratio = cases["warehouse_scale_ratio"]
    assert ratio["max_abs_diff_duckdb_vs_pandas"] <= 1e-9
    assert ratio["meets_target"]["max_abs_diff_duckdb_vs_pandas"] is True
    assert 0 < ratio["duckdb_peak_mb"] < 2048
    assert not list(tmp_path.iterdir())  # the Parquet files are removed afterwards
