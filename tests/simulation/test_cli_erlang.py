"""``servicelab erlang``, exercised through a parser that registers the subcommand."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from studies.commands import erlang
from tests.anchors import load_anchor

ANCHOR = load_anchor("queueing")


def _run(argv, capsys):
    parser = argparse.ArgumentParser(prog="servicelab")
    erlang.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["erlang", *argv])
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_measures_json_match_anchors(capsys):
    code, out, _ = _run(
        [
            "--arrivals-per-hour",
            "6000",
            "--aht-s",
            "300",
            "--agents",
            "520",
            "--patience-s",
            "120",
            "--sl-threshold-s",
            "20",
            "--json",
        ],
        capsys,
    )
    assert code == 0
    res = json.loads(out)
    a_row = next(r for r in ANCHOR["erlang_a"] if r["c"] == 520)
    c_row = next(r for r in ANCHOR["erlang_c"] if r["c"] == 520)
    tol = ANCHOR["tolerance_abs"]
    assert res["erlang_c"]["p_wait"] == pytest.approx(c_row["p_wait"], abs=1e-6)
    assert res["erlang_c"]["service_level"] == pytest.approx(c_row["sl_20s"], abs=tol)
    assert res["erlang_a"]["p_wait"] == pytest.approx(a_row["p_wait"], abs=tol)
    assert res["erlang_a"]["p_abandon"] == pytest.approx(a_row["p_abandon"], abs=tol)
    assert res["erlang_a"]["service_level"] == pytest.approx(a_row["sl_answered_20s"], abs=tol)
    sl = res["erlang_a"]["service_level_definition"]
    assert (sl["threshold_s"], sl["denominator"], sl["short_abandon_s"]) == (20.0, "offered", None)
    assert sl["description"].startswith("answered within 20 s, over all offered contacts")


def test_measures_table(capsys):
    code, out, _ = _run(
        ["--arrivals-per-hour", "6000", "--aht-s", "300", "--agents", "520", "--patience-s", "120"],
        capsys,
    )
    assert code == 0
    assert "erlang_c" in out and "erlang_a" in out
    assert "0.2748" in out and "0.1540" in out
    assert "service level = answered within 20 s, over all offered contacts" in out


@pytest.mark.parametrize("row", ANCHOR["staffing_80_within_20s_aht5_patience2"])
def test_target_prints_minimum_agents(row, capsys):
    code, out, _ = _run(
        [
            "--arrivals-per-hour",
            str(row["lam"] * 60),
            "--aht-s",
            "300",
            "--patience-s",
            "120",
            "--target-sl",
            "0.8",
            "--sl-threshold-s",
            "20",
            "--json",
        ],
        capsys,
    )
    assert code == 0
    res = json.loads(out)
    assert res["erlang_c"]["agents"] == row["erlang_c_agents"]
    assert res["erlang_a"]["agents"] == row["erlang_a_agents"]
    code, out, _ = _run(
        [
            "--arrivals-per-hour",
            str(row["lam"] * 60),
            "--aht-s",
            "300",
            "--patience-s",
            "120",
            "--target-sl",
            "0.8",
            "--max-abandon",
            "0.02",
        ],
        capsys,
    )
    assert code == 0
    assert str(row["erlang_a_agents_with_abandon_le_2pct"]) in out


def test_overloaded_without_patience_fails_naming_erlang_a(capsys):
    code, _, err = _run(["--arrivals-per-hour", "6000", "--aht-s", "300", "--agents", "480"], capsys)
    assert code == 2
    assert "Erlang A" in err
    assert "erlang_a" in err


def test_overloaded_with_patience_reports_erlang_a_only(capsys):
    code, out, _ = _run(
        ["--arrivals-per-hour", "6000", "--aht-s", "300", "--agents", "480", "--patience-s", "300", "--json"],
        capsys,
    )
    assert code == 0
    res = json.loads(out)
    assert "error" in res["erlang_c"]
    assert res["erlang_a"]["p_wait"] == pytest.approx(0.82008, abs=5e-4)


@pytest.mark.parametrize(
    "argv",
    [
        ["--arrivals-per-hour", "6000", "--aht-s", "300"],  # neither --agents nor --target-sl
        ["--arrivals-per-hour", "-1", "--aht-s", "300", "--agents", "5"],
        ["--arrivals-per-hour", "600", "--aht-s", "300", "--agents", "0"],
        ["--arrivals-per-hour", "600", "--aht-s", "300", "--agents", "60", "--target-sl", "0.8"],
    ],
)
def test_bad_input_exit_code(argv, capsys):
    code, out, err = _run(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("servicelab erlang: error:")


@pytest.mark.parametrize(
    ("argv", "missing"),
    [
        (["--target-sl", "0.8", "--max-abandon", "0.02"], "--patience-s"),  # Erlang C has no abandons
        (["--agents", "520", "--patience-s", "120", "--max-abandon", "0.02"], "without --agents"),
        (["--agents", "520", "--max-abandon", "0.02"], "--patience-s"),
    ],
)
def test_max_abandon_without_erlang_a_staffing_is_an_error(argv, missing, capsys):
    code, out, err = _run(["--arrivals-per-hour", "6000", "--aht-s", "300", *argv], capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("servicelab erlang: error: --max-abandon")
    assert missing in err


def test_registered_in_the_servicelab_command(capsys):
    from studies.cli import main

    code = main(
        ["erlang", "--arrivals-per-hour", "120", "--aht-s", "300", "--target-sl", "0.8", "--json"]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["erlang_c"]["agents"] == 14


def test_agents_range_prints_a_table_of_agents_against_service_level(capsys):
    code, out, _ = _run(["--arrivals-per-hour", "6000", "--aht-s", "300", "--agents", "500:540:10",
                         "--patience-s", "120"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Erlang A by agents")
    assert all(h in lines[1] for h in ("agents", "service level", "ASA", "occupancy", "P(wait)", "P(abandon)"))
    body = [ln.split() for ln in lines[2:7]]
    assert [int(r[0]) for r in body] == [500, 510, 520, 530, 540]
    sl = [float(r[1]) for r in body]
    assert sl == sorted(sl)  # more agents, higher service level
    assert body[2][1] == "0.9924" and body[2][4] == "0.1540"  # the 520-agent anchor
    assert lines[-1].startswith("service level = answered within 20 s")


def test_agents_range_json_and_erlang_c_marks_unstable_rows(capsys):
    code, out, _ = _run(["--arrivals-per-hour", "6000", "--aht-s", "300", "--agents", "499:501", "--json"], capsys)
    assert code == 0
    res = json.loads(out)
    rows = res["rows"]
    assert [r["agents"] for r in rows] == [499, 500, 501]
    assert [r["stable"] for r in rows] == [False, False, True]
    assert rows[2]["p_wait"] > 0.9
    assert res["service_level_definition"]["key"] == "sl_20s"


@pytest.mark.parametrize("bad", ["10:5", "0:5", "a:b", "1:2:3:4", "1:200000000"])
def test_bad_agent_ranges_are_errors(bad, capsys):
    code, out, err = _run(["--arrivals-per-hour", "600", "--aht-s", "300", "--agents", bad], capsys)
    assert code == 2 and out == "" and "--agents" in err


def test_zero_arrivals_and_a_billion_agents(capsys):
    code, out, _ = _run(["--arrivals-per-hour", "0", "--aht-s", "300", "--target-sl", "0.8",
                         "--patience-s", "120", "--json"], capsys)
    assert code == 0
    res = json.loads(out)
    assert res["erlang_c"]["agents"] == res["erlang_a"]["agents"] == 0
    assert res["erlang_a"]["service_level"] == 1.0
    code, out, _ = _run(["--arrivals-per-hour", "600", "--aht-s", "300", "--agents", "1000000000", "--json"],
                        capsys)
    assert code == 0
    assert json.loads(out)["erlang_c"]["p_wait"] == 0.0


def test_service_level_flags_and_the_deprecated_name(capsys):
    base = ["--arrivals-per-hour", "6000", "--aht-s", "300", "--agents", "480", "--patience-s", "300", "--json"]
    _, out, _ = _run([*base, "--sl-denominator", "answered"], capsys)
    answered = json.loads(out)["erlang_a"]
    _, out, err = _run([*base, "--sl-definition", "answered_within_t/answered"], capsys)
    assert json.loads(out)["erlang_a"]["service_level"] == answered["service_level"]
    assert "deprecated" in err
    _, out, _ = _run([*base, "--short-abandon-s", "5"], capsys)
    assert json.loads(out)["erlang_a"]["service_level_definition"]["key"] == "sl_20s_excl_abandon_lt_5s"
    code, _, err = _run([*base, "--sl-definition", "answered_within_t/answered", "--sl-denominator", "answered"],
                        capsys)
    assert code == 2 and "one or the other" in err


def test_a_closed_pipe_ends_quietly():
    # `servicelab erlang ... | head -1`: the reader goes away after one line; no traceback
    cmd = [sys.executable, "-c", "import sys; from studies.cli import main; sys.exit(main(sys.argv[1:]))",
           "erlang", "--arrivals-per-hour", "6000", "--aht-s", "300", "--agents", "480:4000", "--patience-s", "120"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert first.startswith(b"Erlang A by agents")
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == erlang.EXIT_BROKEN_PIPE
