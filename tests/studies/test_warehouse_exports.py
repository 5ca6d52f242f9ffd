"""Exports and run comparison: the effects table as CSV, ``runs/index.html`` after every run, and
``servicelab runs diff A B`` (parameters, data fingerprint and effects side by side)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from servicelab.errors import RunError
from studies.cli import main
from studies.runner import Param, Study, StudyContext, StudyOutput, catalog, run_study
from studies.runner.compare import diff_runs
from studies.runner.index import render_index


def _effects_study(ctx: StudyContext) -> StudyOutput:
    shift = ctx.params["shift"]
    frame = ctx.query("SELECT channel, avg(handle_s) AS mean_s, count(*) AS n FROM contacts "
                      "WHERE handle_s >= ? GROUP BY channel ORDER BY channel", [ctx.params["min_handle_s"]])
    effects = pd.DataFrame({"metric": "handle_s", "segment": frame["channel"],
                            "effect": frame["mean_s"] + shift, "ci_low": frame["mean_s"] + shift - 1.0,
                            "ci_high": frame["mean_s"] + shift + 1.0, "n": frame["n"]})
    return StudyOutput(headline=f"effect {effects['effect'].iloc[0]:.1f} s", results={"shift": shift},
                       tables={"effects": effects, "raw": frame})


FX = Study(name="fx", title="Effects", question="Do exports work?",
           params=(Param("shift", float, 0.0, "added to every effect"),
                   Param("min_handle_s", float, 0.0, "filter", min=0)),
           default_seed=1, run=_effects_study, tables={"contacts": ("channel", "handle_s")})


@pytest.fixture
def fx(monkeypatch: pytest.MonkeyPatch) -> Study:
    real_get, real_names = catalog.get_study, catalog.study_names
    monkeypatch.setattr(catalog, "get_study", lambda name: FX if name == "fx" else real_get(name))
    monkeypatch.setattr(catalog, "study_names", lambda: sorted([*real_names(), "fx"]))
    return FX


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE contacts AS SELECT range AS contact_id, ['chat', 'email', 'phone'][range % 3 + 1] "
                "AS channel, (range % 7) * 60.0 AS handle_s FROM range(3000)")
    con.close()
    return path


def test_effects_table_is_exported_as_csv_with_study_and_run(fx: Study, db: Path, tmp_path: Path) -> None:
    rec = run_study("fx", db=db, runs_dir=tmp_path / "runs", params={"shift": "2.5"})
    csv = rec.path / "tables" / "effects.csv"
    assert csv.is_file() and "tables/effects.csv" in rec.manifest["files"]
    got = pd.read_csv(csv)
    assert list(got.columns[:2]) == ["study", "run_id"]
    assert set(got["study"]) == {"fx"} and set(got["run_id"]) == {rec.manifest["run_id"]}
    want = pd.read_parquet(rec.path / "tables" / "effects.parquet")
    pd.testing.assert_frame_equal(got.drop(columns=["study", "run_id"]), want, check_exact=False, rtol=1e-12)
    assert not (rec.path / "tables" / "raw.csv").exists()  # only the effects table is exported
    # the same table as a Tableau Hyper extract, read back with pantab
    import pantab

    hyper = rec.path / "tables" / "effects.hyper"
    assert hyper.is_file() and "tables/effects.hyper" in rec.manifest["files"]
    back = pantab.frame_from_hyper(str(hyper), table="effects")
    assert list(back.columns) == list(got.columns)
    for col in want.columns:
        a, b = back[col].to_numpy(), want[col].to_numpy()
        if pd.api.types.is_numeric_dtype(want[col]):
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-12)
        else:
            assert [str(v) for v in a] == [str(v) for v in b]


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.links: list[str] = []
        self._in_td = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._in_td = True
            self.rows[-1].append("")
        elif tag == "a":
            self.links.append(dict(attrs)["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_td = False

    def handle_data(self, data: str) -> None:
        if self._in_td:
            self.rows[-1][-1] += data


def test_index_html_is_rewritten_after_every_run(fx: Study, db: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    a = run_study("fx", db=db, runs_dir=runs, params={"shift": "1"})
    first = (runs / "index.html").read_text()
    assert a.manifest["run_id"] in first
    b = run_study("fx", db=db, runs_dir=runs, params={"shift": "2"})
    parser = _Cells()
    parser.feed((runs / "index.html").read_text())
    body = [r for r in parser.rows if r]  # the header row has <th> cells only
    assert [r[1] for r in body] == [b.manifest["run_id"], a.manifest["run_id"]]  # newest first
    assert all(r[0] == "fx" and r[2] == "success" and r[5] == "duckdb" for r in body)
    assert body[0][6] == b.headline
    for href in parser.links:  # relative links that resolve to the reports
        assert (runs / href).is_file() and href.endswith("report.html")
    assert len(parser.links) == 2


def test_index_escapes_and_lists_failed_runs(fx: Study, db: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "runs"

    def boom(ctx: StudyContext) -> StudyOutput:
        raise ValueError("<b>bad</b> & worse")

    broken = Study(name="fx", title="x", question="x", params=FX.params, default_seed=1, run=boom,
                   tables=FX.tables)
    monkeypatch.setattr(catalog, "get_study", lambda name: broken)
    rec = run_study("fx", db=db, runs_dir=runs, raise_errors=False)
    assert rec.status == "failed"
    text = (runs / "index.html").read_text()
    assert "&lt;b&gt;bad&lt;/b&gt; &amp; worse" in text and "<b>bad" not in text
    assert 'class="failed"' in text
    assert "no runs yet" in render_index(tmp_path / "elsewhere")


def test_runs_diff_shows_params_fingerprint_and_effects(fx: Study, db: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    a = run_study("fx", db=db, runs_dir=runs, params={"shift": "1"})
    b = run_study("fx", db=db, runs_dir=runs, params={"shift": "3.5"})
    c = run_study("fx", db=db, runs_dir=runs, params={"min_handle_s": "120"})
    d = diff_runs(a.manifest["run_id"], b.manifest["run_id"], runs)
    params = d.params.set_index("name")
    assert not params.loc["shift", "same"] and params.loc["shift", "a"] == 1.0 and params.loc["shift", "b"] == 3.5
    assert params.loc["min_handle_s", "same"] and params.loc["seed", "same"]
    assert d.same_data  # same query results: the same fingerprint
    assert d.labels == ["metric", "segment"] and len(d.effects) == 3
    assert d.effects["effect_diff"].to_numpy() == pytest.approx([2.5, 2.5, 2.5], rel=1e-12)
    assert d.effects["ci_low_b"].to_numpy() == pytest.approx(d.effects["ci_low_a"].to_numpy() + 2.5, rel=1e-12)
    # another filter reads other rows: the fingerprint differs, and the diff says so
    d2 = diff_runs(a.path, c.path, runs)
    assert not d2.same_data and "the runs read different data" in d2.to_text()

    a_hex = a.manifest["run_id"].split("-")[1]
    assert main(["runs", "diff", a_hex, b.manifest["run_id"], "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "* shift" in out and "effects (B - A); ci_high with --json" in out and "effect_diff" in out
    assert "ci_low_diff" in out and "ci_high_diff" not in out  # two estimates on the terminal, all in JSON
    assert main(["runs", "diff", a_hex, b.manifest["run_id"], "--runs-dir", str(runs), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["same_data"] is True
    assert [round(r["effect_diff"], 9) for r in payload["effects"]] == [2.5, 2.5, 2.5]


def test_runs_diff_bad_input(fx: Study, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    a = run_study("fx", db=db, runs_dir=runs)
    assert main(["runs", "diff", a.manifest["run_id"], "--runs-dir", str(runs)]) == 2
    assert "usage: servicelab runs diff RUN_A RUN_B" in capsys.readouterr().err
    assert main(["runs", "diff", a.manifest["run_id"], "nosuchrun", "--runs-dir", str(runs)]) == 2
    assert "no run 'nosuchrun'" in capsys.readouterr().err
    assert main(["runs", "show", a.manifest["run_id"], "extra", "--runs-dir", str(runs)]) == 2
    (runs / "fx" / "broken").mkdir()
    with pytest.raises(RunError, match="no readable manifest"):
        diff_runs(a.path, runs / "fx" / "broken", runs)
    # a run without an effects table: parameters and data are compared, effects are not
    fake_folder = runs / "fx" / "noeffects"
    fake_folder.mkdir()
    (fake_folder / "manifest.json").write_text(json.dumps({"study": "fx", "params": {"shift": 0.0}, "seed": 1}))
    d = diff_runs(a.path, fake_folder, runs)
    assert d.effects is None and "no effects table" in d.note and "noeffects" in d.note
    assert main(["runs", "index", "--runs-dir", str(runs)]) == 0
    assert (runs / "index.html").is_file()
