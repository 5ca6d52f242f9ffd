"""The world's ticket text and injected scenarios: existing tables unchanged, text realism
(measured against the truth), scenario truth rows, and the text-as-confounder target."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from causal.text import CommentSentiment, KeywordRule, ReasonClassifier, TextAdjustedEffect
from servicelab.errors import DesignError
from studies.world import SCHEMA, TRUTH_SCHEMA, WorldConfig, generate_world
from studies.world.text import keyword_lexicon

# table hashes of generate_world(seed=11, scale=0.01) computed on main before text and scenarios
# existed (pd.util.hash_pandas_object over the schema's columns; world_meta is left out: its
# config_sha256 covers the new knobs)
MAIN_HASHES = {
    "customers": "74221744b94848bb",
    "sites": "6a0a6f1b37dcf46e",
    "agents": "a81ada0c866b9866",
    "contacts": "3c1d065693ad22ad",
    "experiment_assignments": "82a6165e61108c3a",
    "experiments": "8c254d52cc19e9bd",
    "assist_rollout": "99b4ed546462ad03",
    "staffing": "c320c745676811ee",
    "truth_effects": "b2bd9a7113d1ace5",
    "truth_contacts": "7f2d341d22c09004",
}
_MAIN_COLUMNS = {**{t: c for t, c in SCHEMA.items() if t in MAIN_HASHES}, **TRUTH_SCHEMA}


def _hash(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()[:16]


@pytest.fixture(scope="module")
def world():
    return generate_world(seed=3, scale=0.012)


@pytest.fixture(scope="module")
def joined(world) -> pd.DataFrame:
    c = world.tables["contacts"].merge(world.tables["contact_text"], on="contact_id", validate="1:1")
    cu = world.tables["customers"].set_index("customer_id")
    c["tier"] = cu.loc[c.customer_id, "tier"].to_numpy()
    c["language"] = cu.loc[c.customer_id, "language"].to_numpy()
    tc = world.truth["truth_contacts"].set_index("contact_id")
    c["kappa"] = tc.loc[c.contact_id, "specialist__complexity"].to_numpy()
    c["latent"] = tc.loc[c.contact_id, "csat_latent"].to_numpy()
    return c


def test_existing_tables_are_unchanged_for_the_same_seed() -> None:
    w = generate_world(seed=11, scale=0.01)
    frames = {**w.tables, **w.truth}
    # issue 11 appended truth rows (the priority lane, routing-v2's RMST and P(resolved) at 48 h);
    # the rows that existed before are unchanged
    te = frames["truth_effects"]
    added = (te.intervention == "priority_lane") | te.outcome.isin(["resolution_rmst_48h_s",
                                                                   "resolved_48h"])
    frames["truth_effects"] = te[~added].reset_index(drop=True)
    got = {t: _hash(frames[t][list(c)]) for t, c in _MAIN_COLUMNS.items() if t in MAIN_HASHES}
    assert got == MAIN_HASHES


def test_text_table_contract_and_determinism(world, joined) -> None:
    ct = world.tables["contact_text"]
    assert list(ct.columns) == list(SCHEMA["contact_text"])
    assert len(ct) == len(world.tables["contacts"])
    assert ct.message.map(lambda s: isinstance(s, str) and s.strip() != "").all()
    has = ct.comment.notna().to_numpy()
    responded = joined.csat.notna().to_numpy()
    assert not (has & ~responded).any()  # only survey responders comment
    assert 0.3 < has[responded].mean() < 0.5  # comment_share = 0.4
    ja = joined[joined.language == "ja"].message
    assert ja.str.contains(r"[\u3040-\u30ff]").mean() > 0.95  # Japanese customers write Japanese
    again = generate_world(seed=3, scale=0.012).tables["contact_text"]
    pd.testing.assert_frame_equal(ct, again)
    assert generate_world(seed=3, scale=0.01, config=WorldConfig(emit_text=False)).tables["contact_text"].empty


def test_wording_depends_on_complexity_and_satisfaction(joined) -> None:
    words = joined.message.str.split().map(len)
    assert np.corrcoef(joined.kappa, np.log(words))[0, 1] > 0.3
    a = joined[joined.comment.notna()]
    bad = a.comment.str.contains("worst|useless|awful|not helpful|disappointed")
    assert a.latent[bad].mean() < a.latent[~bad].mean() - 0.5


def test_keyword_rule_is_measurably_imperfect_and_the_classifier_beats_it(joined) -> None:
    """Measured: reason accuracy of TF-IDF logistic regression vs the naive keyword rule."""
    r = ReasonClassifier(baseline=KeywordRule(keyword_lexicon(), "other")).fit(joined.message, joined.reason, rng=0)
    assert r.baseline_accuracy < 0.75
    assert r.accuracy > r.baseline_accuracy + 0.15
    assert r.accuracy < 0.99  # vague and neighbouring-reason messages cap any classifier


def test_comment_sentiment_tracks_the_latent_satisfaction(joined) -> None:
    a = joined[joined.comment.notna()]
    s = CommentSentiment().fit(a.comment, a.csat.astype(float), rng=0)
    assert s.spearman(a.latent) > 0.6


def test_text_adjusted_specialist_effect_is_closer_to_the_truth(world, joined) -> None:
    """Measured target: adjusting for the message moves the specialist effect on log handle time
    toward its truth; the structured-only estimate is biased by the unobserved complexity."""
    ans = joined[~joined.abandoned].assign(log_h=lambda f: np.log(f.handle_s))
    r = TextAdjustedEffect("log_h", "specialist", ("reason", "channel", "tier", "priority", "language"),
                           "message").fit(ans, rng=0)  # fmt: skip
    truth = world.effect("specialist", "log_handle_s")
    err_s = abs(r.structured.estimate - truth)
    err_t = abs(r.text_adjusted.estimate - truth)
    assert err_s > 3 * r.structured.se  # confounded
    assert err_t < err_s - 2 * r.text_adjusted.se


def test_scenarios_inject_and_record_their_truth() -> None:
    cfg = WorldConfig(scenarios=("mix_shift", "handle_regression", "volume_spike", "incident"))
    w = generate_world(seed=5, scale=0.02, config=cfg)
    te = w.truth["truth_effects"]
    sc = te[te.intervention.str.startswith("scenario_")]
    assert set(sc.intervention) == {f"scenario_{s}" for s in cfg.scenarios}
    c = w.tables["contacts"]
    day = (c.created_at - pd.Timestamp(cfg.window_start)).dt.days
    per_day = c.groupby(day).size()
    spike = sc[(sc.intervention == "scenario_volume_spike") & (sc.estimand == "injected_contacts")].value.iloc[0]
    assert per_day[45] > per_day[[38, 52]].mean() + 0.5 * spike
    inc = c[day == 74].reason.value_counts()
    assert inc.idxmax() == "account_access"
    share = c[day >= 83].reason.eq("suspension_appeal").mean() - c[(day >= 76) & (day < 83)].reason.eq(
        "suspension_appeal").mean()  # fmt: skip
    truth_share = sc[(sc.estimand == "share_change") & (sc.segment_value == "suspension_appeal")].value.iloc[0]
    assert truth_share > 0.05
    assert share == pytest.approx(truth_share, abs=0.04)
    rate = sc[sc.estimand == "rate_contribution"].value.iloc[0]
    assert rate > 0
    assert sc[sc.estimand == "mix_contribution"].value.sum() > 0
    base = generate_world(seed=5, scale=0.02)
    assert len(base.truth["truth_effects"]) == len(te) - len(sc)
    with pytest.raises(DesignError, match="unknown scenarios"):
        WorldConfig(scenarios=("meteor",))
    with pytest.raises(DesignError, match="handle_regression_queue"):
        WorldConfig(handle_regression_queue="specialist")
    with pytest.raises(DesignError, match="incident_day"):
        WorldConfig(incident_day=200)
