"""Missing and non-finite input data (issue 9) and empty tables (issue 10), in every study.

For each study, on copies of the small world warehouse with 10% of an outcome set to NULL, to
``inf``, or with the contacts table emptied: today the runs went through silently (or failed with
a misleading message); now each fails before the analysis with a ``DataError`` naming the table,
column, count and fix, and ``drop_missing=true`` analyses exactly the rows one gets by deleting the
bad ones by hand, with the count in the report.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from servicelab.errors import DataError, RunError
from studies.runner import StudyContext, run_study
from studies.runner.quality import Column, TableCheck, check_data
from studies.warehouse import Warehouse

# 10% of the answered contacts, never the first or the last one (the data's time origin and its
# extraction time stay the same when those rows are deleted by hand)
BAD = ("NOT abandoned AND contact_id % 10 = 3 "
       "AND created_at > (SELECT min(created_at) FROM contacts) "
       "AND created_at < (SELECT max(created_at) FROM contacts)")
WINDOW = ("created_at >= (SELECT start_at FROM experiments) "
          "AND created_at < (SELECT end_at FROM experiments)")


def _copy(src: Path, folder: Path, name: str, *sql: str) -> Path:
    path = folder / f"{name}.duckdb"
    shutil.copy(src, path)
    con = duckdb.connect(str(path))
    for s in sql:
        con.execute(s)
    con.close()
    return path


@pytest.fixture(scope="module")
def dbs(world_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("damaged")
    rt = f"NOT abandoned AND contact_id % 10 = 3 AND {WINDOW}"
    return {
        "null": _copy(world_db, folder, "null", f"UPDATE contacts SET handle_s = NULL WHERE {BAD}"),
        "inf": _copy(world_db, folder, "inf",
                     f"UPDATE contacts SET handle_s = 'inf'::DOUBLE WHERE {BAD}"),
        "deleted": _copy(world_db, folder, "deleted", f"DELETE FROM contacts WHERE {BAD}"),
        "empty": _copy(world_db, folder, "empty", "DELETE FROM contacts"),
        "queue_null": _copy(world_db, folder, "queue_null",
                            f"UPDATE contacts SET queue = NULL WHERE {rt}"),
        "queue_deleted": _copy(world_db, folder, "queue_deleted", f"DELETE FROM contacts WHERE {rt}"),
        "resolved_inf": _copy(world_db, folder, "resolved_inf",
                              "UPDATE contacts SET resolved_at = 'infinity'::TIMESTAMP "
                              f"WHERE {rt} AND resolved_at IS NOT NULL"),
    }


def _count(db: Path, where: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    n = con.execute(f"SELECT count(*) FROM contacts WHERE {where}").fetchone()[0]
    con.close()
    return int(n)


def _ctx(db: Path, **params) -> StudyContext:
    return StudyContext(study="t", params=params, seed=1, warehouse=Warehouse(db))


# -- the mechanism on a tiny table ---------------------------------------------------------------
@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.duckdb"
    con = duckdb.connect(str(path))
    con.execute("""
        CREATE TABLE contacts AS
        SELECT range AS id, range % 2 = 0 AS abandoned, TIMESTAMP '2026-01-01' + to_days(range % 10) AS ts,
               CASE WHEN range % 2 = 0 THEN NULL ELSE CAST(100 + range AS DOUBLE) END AS handle_s
        FROM range(100)""")
    con.execute("UPDATE contacts SET handle_s = NULL WHERE id IN (1, 3)")  # answered, in scope
    con.execute("UPDATE contacts SET handle_s = 'nan'::DOUBLE WHERE id = 5")
    con.execute("UPDATE contacts SET handle_s = '-inf'::DOUBLE WHERE id = 7")
    con.execute("UPDATE contacts SET ts = NULL WHERE id = 9")
    con.close()
    return path


CHECK = TableCheck("contacts", (Column("id", "key"), Column("abandoned", "key"),
                                Column("handle_s", required_when="NOT abandoned")),
                   scope="ts < ?", scope_params=(pd.Timestamp("2026-01-09").to_pydatetime(),),
                   scope_label="the first eight days", scope_columns=("ts",))


def test_counts_nulls_and_non_finite_where_required(tiny: Path) -> None:
    with pytest.raises(DataError) as err:
        check_data(_ctx(tiny), [CHECK])
    msg = str(err.value)
    # 80 rows in the first eight days, 40 of them answered; id 9 has no ts (counted separately)
    assert ("contacts.handle_s (outcome): 2 NULL and 2 non-finite (inf/NaN) values among the 40 "
            "rows that need one (10.00%") in msg
    assert "contacts.ts (key (scope)): 1 NULL" in msg
    assert "--set drop_missing=true" in msg and "max_missing" in msg


def test_drop_keeps_exactly_the_valid_rows(tiny: Path) -> None:
    ctx = _ctx(tiny, drop_missing=True)
    dq = check_data(ctx, [CHECK])
    assert dq.rows_dropped == {"contacts": 4}
    kept = ctx.query(f"SELECT id FROM {dq.table('contacts')} t WHERE ts < ? ORDER BY id",
                     [pd.Timestamp("2026-01-09").to_pydatetime()])["id"].tolist()
    con = duckdb.connect(str(tiny), read_only=True)
    by_hand = con.execute("SELECT id FROM contacts WHERE ts < TIMESTAMP '2026-01-09' AND NOT "
                          "(NOT abandoned AND (handle_s IS NULL OR NOT isfinite(handle_s))) "
                          "ORDER BY id").df()["id"].tolist()
    con.close()
    assert kept == by_hand and len(kept) == 80 - 4
    (diag,) = dq.diagnostics
    assert diag.status == "warning" and "dropped 4 contacts rows" in diag.message
    # the counts are recorded with the query, so they reach the manifest
    assert ctx.queries[0]["quality"]["rows_dropped"] == 4


def test_max_missing_is_a_share(tiny: Path) -> None:
    # 4 bad of 40 answered rows in scope = 10%; ts: 1 of 100 rows = 1%
    with pytest.raises(DataError, match="handle_s") as err:
        check_data(_ctx(tiny, max_missing=0.09), [CHECK])
    assert "contacts.ts" not in str(err.value)  # 1% is tolerated
    dq = check_data(_ctx(tiny, max_missing=0.1), [CHECK])
    assert dq.rows_dropped == {"contacts": 4} and dq.diagnostics[0].status == "warning"
    with pytest.raises(RunError, match="max_missing is a share"):
        check_data(_ctx(tiny, max_missing=2.0), [CHECK])


def test_clean_data_pass_with_an_ok_diagnostic(tiny: Path) -> None:
    check = TableCheck("contacts", (Column("id", "key"),
                                    Column("handle_s", required_when="id > 10")))
    con = duckdb.connect(str(tiny))
    con.execute("UPDATE contacts SET handle_s = 1.0 WHERE id > 10")
    con.close()
    dq = check_data(_ctx(tiny), [check])
    assert dq.rows_dropped == {"contacts": 0} and dq.diagnostics[0].status == "ok"


def test_empty_table_and_empty_scope(tiny: Path) -> None:
    late = TableCheck("contacts", (Column("id", "key"),), scope="ts > ?",
                      scope_params=(pd.Timestamp("2027-01-01").to_pydatetime(),),
                      scope_label="2027")
    with pytest.raises(DataError, match=r"the contacts table has no rows in 2027 \(it has 100 rows"):
        check_data(_ctx(tiny), [late])
    con = duckdb.connect(str(tiny))
    con.execute("DELETE FROM contacts")
    con.close()
    with pytest.raises(DataError, match="the contacts table has no rows"):
        check_data(_ctx(tiny), [late])


def test_nullable_column_only_fails_on_infinity(tiny: Path) -> None:
    check = TableCheck("contacts", (Column("ts", nullable=True),))
    dq = check_data(_ctx(tiny), [check])
    assert dq.counts[0].null == 1 and dq.counts[0].bad == 0
    con = duckdb.connect(str(tiny))
    con.execute("UPDATE contacts SET ts = 'infinity'::TIMESTAMP WHERE id = 2")
    con.close()
    with pytest.raises(DataError, match=r"contacts\.ts .*1 non-finite"):
        check_data(_ctx(tiny), [check])


# -- the five studies ------------------------------------------------------------------------------

@pytest.mark.parametrize("study", ["routing-ab", "help-bot", "assist-rollout", "staffing",
                                   "kpi-drivers"])
@pytest.mark.parametrize("kind", ["null", "inf"])
def test_bad_handle_time_fails_with_a_clear_error(study: str, kind: str, dbs, tmp_path) -> None:
    """Today: routing-ab sums the NULLs as 0 (control mean -10%), help-bot and assist-rollout
    drop them silently, inf gives "+nan" everywhere. Now: a DataError naming column and count."""
    with pytest.raises(DataError) as err:
        run_study(study, db=dbs[kind], runs_dir=tmp_path)
    msg = str(err.value)
    assert "contacts.handle_s (outcome)" in msg
    assert ("NULL" if kind == "null" else "non-finite (inf/NaN)") in msg
    assert "--set drop_missing=true" in msg
    if study in ("help-bot", "assist-rollout"):  # scope: all contacts
        n = _count(dbs["null"], "handle_s IS NULL AND NOT abandoned")
        word = f"{n:,} NULL" if kind == "null" else f"{n:,} non-finite"
        assert word in msg
    failed = list((tmp_path / study).glob("*.failed"))
    assert len(failed) == 1
    queries = json.loads((failed[0] / "manifest.json").read_text())["data"]["queries"]
    assert any(q.get("quality", {}).get("table") == "contacts" for q in queries)


@pytest.mark.parametrize("study", ["routing-ab", "help-bot", "assist-rollout", "resolution-time",
                                   "staffing", "kpi-drivers", "priority-cutoff"])
def test_empty_contacts_table_says_so(study: str, dbs, tmp_path) -> None:
    """Today: "control label not found ... []", "no unit is ever treated"..."""
    with pytest.raises(DataError, match=r"the contacts table (has no rows|is empty)"):
        run_study(study, db=dbs["empty"], runs_dir=tmp_path)


def test_routing_ab_drop_mode_equals_deleting_the_rows(dbs, tmp_path) -> None:
    """The NULL-as-0 bias is gone: with drop_missing the estimates are those of a warehouse
    where the contacts with a NULL handle time were deleted, and the report says how many."""
    n_bad = _count(dbs["null"], "handle_s IS NULL AND NOT abandoned")
    dropped = run_study("routing-ab", db=dbs["null"], runs_dir=tmp_path, seed=4,
                        params={"drop_missing": "true", "segment": ""})
    deleted = run_study("routing-ab", db=dbs["deleted"], runs_dir=tmp_path, seed=4,
                        params={"segment": ""})
    assert dropped.ok and deleted.ok
    a = dropped.output.tables["overall"].set_index("metric")
    b = deleted.output.tables["overall"].set_index("metric")
    cols = ["mean_control", "mean_treatment", "effect", "ci_low", "ci_high", "n_control",
            "n_treatment"]
    pd.testing.assert_frame_equal(a[cols], b[cols], check_exact=False, rtol=1e-12)
    res = json.loads((dropped.path / "results.json").read_text())
    assert res["data_quality"]["rows_dropped"]["contacts"] == n_bad
    assert res["decision"]["verdict"] == deleted.output.results["decision"]["verdict"]
    report = (dropped.path / "report.md").read_text()
    assert f"**{n_bad:,} dropped**" in report and "drop_missing = true" in report
    diag = {d.name: d for d in dropped.output.diagnostics}["data_quality"]
    assert diag.status == "warning" and f"dropped {n_bad:,} contacts rows" in diag.message


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


@pytest.mark.parametrize("kind", ["null", "inf"])
def test_help_bot_drop_mode_reads_the_hand_filtered_rows(kind: str, dbs) -> None:
    from studies.catalog.help_bot import load_data

    frame, dq = load_data(_ctx(dbs[kind], drop_missing=True))
    by_hand, _ = load_data(_ctx(dbs["deleted"]))
    _frames_equal(frame, by_hand)
    assert dq.rows_dropped["contacts"] == _count(dbs[kind], "TRUE") - _count(dbs["deleted"], "TRUE")


@pytest.mark.parametrize("kind", ["null", "inf"])
def test_assist_rollout_drop_mode_reads_the_hand_filtered_rows(kind: str, dbs) -> None:
    from studies.catalog.assist_rollout import load_data

    panel, rollout, dq = load_data(_ctx(dbs[kind], drop_missing=True))
    by_hand, rollout_by_hand, _ = load_data(_ctx(dbs["deleted"]))
    _frames_equal(panel, by_hand)
    _frames_equal(rollout, rollout_by_hand)
    assert dq.rows_dropped["contacts"] == _count(dbs[kind], "TRUE") - _count(dbs["deleted"], "TRUE")


def test_resolution_time_null_queue_and_infinite_resolution(dbs, tmp_path) -> None:
    """Today: "column 'queue' has missing values" (no table, count or drop option) and, for an
    infinite resolved_at, "duration_s has 3231 missing values" (the wrong column)."""
    from studies.catalog.resolution_time import load_data

    params = {"draws": 30, "tune": 30, "extra_group": ""}
    with pytest.raises(DataError, match=r"contacts\.queue \(key\): [\d,]+ NULL .*drop_missing"):
        run_study("resolution-time", db=dbs["queue_null"], runs_dir=tmp_path, params=params)
    with pytest.raises(DataError, match=r"contacts\.resolved_at \(outcome\): [\d,]+ non-finite"):
        run_study("resolution-time", db=dbs["resolved_inf"], runs_dir=tmp_path, params=params)
    frame, dq = load_data(_ctx(dbs["queue_null"], drop_missing=True, extra_group=""))
    by_hand, _ = load_data(_ctx(dbs["queue_deleted"], extra_group=""))
    _frames_equal(frame, by_hand)
    n = _count(dbs["queue_null"], "queue IS NULL")
    assert dq.rows_dropped["contacts"] == n and n > 0.05 * len(by_hand)


def test_staffing_drop_mode_counts_and_reads_the_valid_rows(dbs, tmp_path) -> None:
    rec = run_study("staffing", db=dbs["null"], runs_dir=tmp_path, seed=5,
                    params={"recent_days": 14, "n_reps": 2, "check_days": 3,
                            "drop_missing": "true"})
    queries = rec.manifest["data"]["queries"]
    quality = next(q["quality"] for q in queries if "quality" in q)
    contacts = next(q for q in queries if q["sql"].startswith("SELECT created_at, queue"))
    assert quality["rows_dropped"] > 0
    assert contacts["rows"] == quality["rows_scope"] - quality["rows_dropped"]
    diag = {d.name: d for d in rec.output.diagnostics}["data_quality"]
    assert diag.status == "warning"


# -- priority-cutoff: the running variable and the outcome of the priority reviews ----------------
_REVIEWED = "contact_id % 10 = 3"


@pytest.fixture(scope="module")
def review_dbs(world_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("reviews")
    return {
        "score_null": _copy(world_db, folder, "score_null",
                            f"UPDATE priority_reviews SET priority_score = NULL WHERE {_REVIEWED}"),
        "followup_inf": _copy(world_db, folder, "followup_inf",
                              "UPDATE priority_reviews SET followup_h = 'inf'::DOUBLE "
                              f"WHERE {_REVIEWED} AND followup_h IS NOT NULL"),
        "deleted": _copy(world_db, folder, "reviews_deleted",
                         f"DELETE FROM priority_reviews WHERE {_REVIEWED}"),
    }


def _reviews(db: Path, where: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    n = con.execute(f"SELECT count(*) FROM priority_reviews WHERE {where}").fetchone()[0]
    con.close()
    return int(n)


def test_priority_cutoff_null_score_and_infinite_followup(review_dbs, tmp_path) -> None:
    """Before: the study's SQL filtered NULL scores away silently (the RD sample shrank with no
    word). Now: a DataError naming the column, the count and the fix; drop mode reads exactly the
    rows one gets by deleting them by hand."""
    from studies.catalog.priority_cutoff import load_data

    n_null = _reviews(review_dbs["score_null"], "priority_score IS NULL")
    assert n_null > 0
    with pytest.raises(DataError, match=rf"priority_reviews\.priority_score \(key\): {n_null:,} NULL"
                                        r".*drop_missing"):
        run_study("priority-cutoff", db=review_dbs["score_null"], runs_dir=tmp_path)
    with pytest.raises(DataError, match=r"priority_reviews\.followup_h \(outcome\): 0 NULL and "
                                        r"[\d,]+ non-finite"):
        run_study("priority-cutoff", db=review_dbs["followup_inf"], runs_dir=tmp_path)
    frame, dq = load_data(_ctx(review_dbs["score_null"], drop_missing=True, days=14))
    by_hand, _ = load_data(_ctx(review_dbs["deleted"], days=14))
    _frames_equal(frame, by_hand)
    assert dq.rows_dropped["priority_reviews"] == n_null
