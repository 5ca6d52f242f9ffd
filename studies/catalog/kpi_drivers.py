"""Study ``kpi-drivers``: why did AHT move last week?

The week under review (by default the last 7 days of the data) is compared with the week before:

1. **Decomposition** of the change of AHT (mean handle time per answered contact) into the mix of
   segments and their rates (Shapley), with the part explained by launches in the intervention
   registry (routing v2's treated contacts, agent assist live at the agent's site) separated out,
   cluster-bootstrap intervals over customers.
2. **Mechanism attribution** with DoWhy-GCM on a graph of the process (reason -> specialist ->
   handle time): which mechanism changed.
3. **Anomalies** in the daily contact volume per reason and the daily AHT per queue over the
   whole window (STL residuals, robust z), with flags on registry launch days named as such.
4. **Topics** of the English customer messages (NMF): which topics grew from one week to the next.

On a world built with injected scenarios (``WorldConfig(scenarios=...)``) the report puts the
injected contributions, day and segment next to what each method found.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from servicelab.errors import DataError
from servicelab.results import Diagnostic, jsonable, markdown_table
from studies.runner import Param, Study, StudyContext, StudyOutput
from studies.runner.quality import QUALITY_PARAMS, Column, TableCheck

CHECKS = (
    TableCheck(
        "contacts",
        (
            Column("contact_id", "key"),
            Column("customer_id", "key"),
            Column("abandoned", "key"),
            Column("queue", "key"),
            Column("reason", "key", required_when="NOT abandoned"),
            Column("channel", "key", required_when="NOT abandoned"),
            Column("specialist", "key", required_when="NOT abandoned"),
            Column("assist_active", "key", required_when="NOT abandoned"),
            Column("handle_s", required_when="NOT abandoned", note="NULL for abandoned contacts"),
        ),
        scope_label="all contacts",
        scope_columns=("created_at",),
    ),
    TableCheck("contact_text", (Column("contact_id", "key"), Column("message")),
               scope_label="all customer messages"),
)

_SPAN_SQL = "SELECT min(created_at) AS t0, max(created_at) AS t1 FROM {contacts} AS c"

_CONTACTS_SQL = """
SELECT c.contact_id, c.customer_id, c.created_at, c.queue, c.reason, c.channel, c.handle_s,
       c.specialist, c.assist_active,
       coalesce(a.variant = 'treatment' AND c.created_at >= e.start_at, false) AS routing_v2
FROM {contacts} c
CROSS JOIN (SELECT start_at FROM experiments WHERE experiment = 'routing-v2') e
LEFT JOIN experiment_assignments a ON a.customer_id = c.customer_id AND a.experiment = 'routing-v2'
WHERE NOT c.abandoned AND c.created_at >= ? AND c.created_at < ?
ORDER BY c.contact_id
"""

_VOLUME_SQL = """
SELECT date_trunc('day', created_at) AS day, reason AS segment, count(*) AS contacts
FROM {contacts} AS c GROUP BY 1, 2 ORDER BY 1, 2
"""

_AHT_SQL = """
SELECT date_trunc('day', created_at) AS day, queue AS segment, avg(handle_s) AS aht_s
FROM {contacts} AS c WHERE NOT abandoned GROUP BY 1, 2 ORDER BY 1, 2
"""

_REGISTRY_SQL = """
SELECT 'routing_v2' AS intervention, 'all' AS scope, start_at AS launched_at FROM experiments
WHERE experiment = 'routing-v2'
UNION ALL
SELECT 'assist', site, launched_at FROM assist_rollout WHERE launched_at IS NOT NULL
ORDER BY launched_at
"""

_TEXT_SQL = """
SELECT t.contact_id, t.message, c.created_at
FROM {contact_text} t JOIN {contacts} c USING (contact_id) JOIN customers cu USING (customer_id)
WHERE cu.language = 'en' AND c.created_at >= ? AND c.created_at < ?
ORDER BY t.contact_id
"""

_TRUTH_SQL = """
SELECT intervention, outcome, estimand, segment, segment_value, value, definition FROM truth_effects
WHERE intervention LIKE 'scenario_%'
"""

# exposure column of each registry intervention in the contacts query
_EXPOSURE = {"routing_v2": "routing_v2", "assist": "assist_active"}


def _grid(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """A complete day x segment grid (missing volume = 0; missing AHT dropped with its series)."""
    wide = frame.pivot(index="day", columns="segment", values=value)
    wide = wide.reindex(pd.date_range(wide.index.min(), wide.index.max(), freq="D"))
    wide = wide.fillna(0) if value == "contacts" else wide.dropna(axis=1)
    return wide.rename_axis("day").reset_index().melt(id_vars="day", var_name="segment", value_name=value)


def _is_day_or_empty(text: str) -> bool:
    """``after_start`` is checked before any data is read: '' or a real calendar day, YYYY-MM-DD."""
    import datetime as dt

    if text == "":
        return True
    try:
        return len(text) == 10 and dt.date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def _periods(ctx: StudyContext, contacts_end: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    raw = ctx.params["after_start"]
    after = (contacts_end.normalize() - pd.Timedelta(days=6)) if not raw else pd.Timestamp(raw)
    return after - pd.Timedelta(days=7), after, after + pd.Timedelta(days=7)


def run(ctx: StudyContext) -> StudyOutput:
    """Decompose, attribute, detect and read (see the module docstring)."""
    from causal.attribution import AnomalyDetector, Decomposition, MechanismAttribution
    from causal.text import TextFeatures, TopicModel

    p = ctx.params
    ctx.stage("checking and loading the two weeks of contacts")
    dq = ctx.check_data(CHECKS)
    tables = {"contacts": dq.table("contacts"), "contact_text": dq.table("contact_text")}
    segments = tuple(s.strip() for s in p["segments"].split(",") if s.strip())
    span = ctx.query(_SPAN_SQL.format(**tables))
    t0, t1 = pd.Timestamp(span["t0"].iloc[0]), pd.Timestamp(span["t1"].iloc[0])
    before_start, after_start, after_end = _periods(ctx, t1)
    if before_start < t0.normalize():
        raise DataError(f"the week before {after_start.date()} starts before the data ({t0.date()}); "
                        "choose a later after_start")  # fmt: skip
    frame = ctx.query(_CONTACTS_SQL.format(**tables), [str(before_start), str(after_end)])
    frame["period"] = np.where(frame["created_at"] >= after_start, "after", "before")
    registry = ctx.query(_REGISTRY_SQL)

    # ---- launches whose exposure changes between the two weeks
    launches, launch_notes = [], []
    for name, col in _EXPOSURE.items():
        share = frame.groupby("period")[col].mean()
        if abs(share.get("after", 0) - share.get("before", 0)) > 0.005:
            launches.append(col)
            launch_notes.append(f"{name}: exposed share {share['before']:.1%} -> {share['after']:.1%}")
        else:
            launch_notes.append(f"{name}: exposed share unchanged ({share.get('after', 0):.1%}), not a driver")
    ctx.stage(f"decomposing the change ({p['n_boot']} cluster bootstrap replications)")
    dec = Decomposition("handle_s", segments, launches=tuple(launches), cluster="customer_id",
                        n_boot=p["n_boot"]).fit(frame, rng=ctx.rng)  # fmt: skip

    # ---- mechanism attribution on the process graph (log handle time; reason encoded by its
    # before-week mean log handle time)
    frame["log_handle"] = np.log(frame["handle_s"])
    level = frame[frame["period"] == "before"].groupby("reason")["log_handle"].mean()
    frame["reason_level"] = frame["reason"].map(level)
    frame["specialist_f"] = frame["specialist"].astype(float)
    gcm_res = None
    if p["gcm"]:
        ctx.stage("mechanism attribution (DoWhy-GCM)")
        edges = (("reason_level", "specialist_f"), ("reason_level", "log_handle"), ("specialist_f", "log_handle"))
        gcm_res = MechanismAttribution(edges, "log_handle").fit(
            frame[frame["period"] == "before"], frame[frame["period"] == "after"], rng=ctx.rng)

    # ---- anomalies over the whole window
    ctx.stage("anomalies over the whole window")
    vol = _grid(ctx.query(_VOLUME_SQL.format(**tables)), "contacts")
    aht = _grid(ctx.query(_AHT_SQL.format(**tables)), "aht_s")
    an_vol = AnomalyDetector("contacts", "day", segment="segment", threshold=p["threshold"]).fit(vol)
    an_aht = AnomalyDetector("aht_s", "day", segment="segment", transform="log", threshold=p["threshold"]).fit(aht)
    launch_days = {pd.Timestamp(d).normalize(): f"{i} ({s})" for i, s, d in registry.itertuples(index=False)}
    flags = pd.concat([an_vol.flags.assign(series="contacts per reason"),
                       an_aht.flags.assign(series="AHT per queue")], ignore_index=True)  # fmt: skip
    flags["known_launch"] = [launch_days.get(pd.Timestamp(d).normalize(), "") for d in flags["day"]]

    # ---- topics behind the change (English messages of the two weeks)
    ctx.stage(f"topics of the messages ({p['n_topics']} topics)")
    text = ctx.query(_TEXT_SQL.format(**tables), [str(before_start), str(after_end)])
    topics = TopicModel(n_topics=p["n_topics"], features=TextFeatures(min_df=5, stop_words="english")).fit(
        text["message"], rng=ctx.rng)  # fmt: skip
    is_after = (text["created_at"] >= after_start).to_numpy()
    shift = pd.DataFrame({"topic": [topics.label(k) for k in range(p["n_topics"])],
                          "share_before": topics.doc_topics[~is_after].mean(axis=0),
                          "share_after": topics.doc_topics[is_after].mean(axis=0),
                          "npmi": topics.topics["npmi"].to_numpy()})  # fmt: skip
    shift["change"] = shift["share_after"] - shift["share_before"]
    shift = shift.sort_values("change", ascending=False).reset_index(drop=True)

    # ---- truth (scenario worlds only)
    truth_rows: list[dict[str, Any]] = []
    waterfall_truth: dict[tuple[str, str], float] = {}
    truth = ctx.truth(_TRUTH_SQL)
    if truth is not None and len(truth):
        truth_rows, waterfall_truth = _compare(truth, dec, flags, t0, after_start, segments)

    # ---- report
    change = dec.totals.set_index("component").loc["change"]
    headline = (f"AHT {dec.kpi_before:.0f} s -> {dec.kpi_after:.0f} s ({change['estimate']:+.1f} s, 95% CI "
                f"[{change['ci_low']:+.1f}, {change['ci_high']:+.1f}]); " + dec.narrative(2, " s"))  # fmt: skip
    totals = dec.totals[["component", "estimate", "se", "ci_low", "ci_high"]]
    top = dec.top(6)
    body = [
        f"**Question.** {STUDY.question}",
        "",
        (f"**Periods.** before = {before_start.date()} to {(after_start - pd.Timedelta(days=1)).date()}, "
        f"after = {after_start.date()} to {(after_end - pd.Timedelta(days=1)).date()}; AHT = mean handle time "
        f"per answered contact ({int((frame.period == 'before').sum())} and {int((frame.period == 'after').sum())} "
        "contacts)."),
        "",
        "### Decomposition of the AHT change",
        "",
        f"Segments: {', '.join(segments)}; Shapley mix/rate split, bootstrap over customers "
        f"({dec.n_boot} replicates). Known launches: " + "; ".join(launch_notes) + ".",
        "",
        markdown_table(totals),
        "",
        "Largest contributions:",
        "",
        markdown_table(top),
    ]
    if len(dec.dimensions):
        body += ["", "Mix by dimension (Shapley):", "", markdown_table(dec.dimensions)]
    if gcm_res is not None:
        body += ["", "### Mechanism attribution (DoWhy-GCM, mean log handle time)", "",
                 markdown_table(gcm_res.contributions),
                 "", ("*reason_level: the reason mix (each reason coded by its before-week mean log handle "
                 "time); specialist_f: the escalation/overflow mechanism; log_handle: handling itself.*")]  # fmt: skip
    body += ["", "### Anomalies (whole window)", "",
             markdown_table(flags[["series", "segment", "day", "value", "expected", "z", "scope", "known_launch"]])
             if len(flags) else "No anomaly above the threshold.",
             "", "### Topics of the English messages (NMF)", "", markdown_table(shift)]  # fmt: skip
    if truth_rows:
        body += ["", "### Against the injected truth", "", markdown_table(pd.DataFrame(truth_rows))]
    figs: dict[str, Any] = {}
    ax = dec.plot(truth=waterfall_truth or None)
    ax.figure.set_size_inches(9, 4.5)
    figs["waterfall"] = ax.figure
    seg_top = flags.loc[flags["series"] == "contacts per reason", "segment"]
    mark = None
    inc = [r for r in truth_rows if r["check"] == "incident day"]
    if inc:
        mark = pd.Timestamp(t0.normalize()) + pd.Timedelta(days=int(inc[0]["truth"]))
    ax2 = an_vol.plot(segment=seg_top.iloc[0] if len(seg_top) else None, mark=mark)
    figs["anomalies"] = ax2.figure
    ax3 = topics.plot(dates=text["created_at"], freq="D")
    ax3.axvline(after_start, color="grey", ls=":")
    figs["topics"] = ax3.figure
    diags = (*dq.diagnostics, *dec.diagnostics, *an_vol.diagnostics, *an_aht.diagnostics, *topics.diagnostics,
             *(gcm_res.diagnostics if gcm_res is not None else ()))  # fmt: skip
    if truth_rows and not all(r["recovered"] for r in truth_rows):
        diags = (*diags, Diagnostic("truth", "warning", "some injected contributions were not recovered; see the "
                                    "truth table"))  # fmt: skip
    results = {"decomposition": dec.to_dict(), "anomalies": flags.to_dict(orient="records"),
               "topics": shift.to_dict(orient="records"), "coherence": topics.coherence,
               "gcm": gcm_res.to_dict() if gcm_res is not None else None, "truth": truth_rows,
               "periods": {"before_start": str(before_start), "after_start": str(after_start),
                           "after_end": str(after_end)},
               "data_quality": dq.to_dict()}  # fmt: skip
    return StudyOutput(headline=headline, results=jsonable(results),
                       tables={"totals": totals, "contributions": dec.contributions, "anomalies": flags,
                               "topics": shift, "truth": pd.DataFrame(truth_rows)},
                       figures=figs, report_md="\n".join(body), diagnostics=tuple(diags))  # fmt: skip


def _compare(truth: pd.DataFrame, dec: Any, flags: pd.DataFrame, t0: pd.Timestamp, after_start: pd.Timestamp,
             segments: tuple[str, ...]) -> tuple[list[dict[str, Any]], dict[tuple[str, str], float]]:  # fmt: skip
    """Each injected quantity next to the estimate (only for scenarios the study's periods cover)."""
    rows: list[dict[str, Any]] = []
    marks: dict[tuple[str, str], float] = {}
    after_day = (after_start.normalize() - t0.normalize()).days
    get = lambda name, est: truth[(truth.intervention == f"scenario_{name}") & (truth.estimand == est)]
    for name, comp, dim in (("mix_shift", "mix", "reason"), ("handle_regression", "rate", "reason")):
        first = get(name, "first_day")
        if first.empty or int(first["value"].iloc[0]) != after_day or dim not in segments:
            continue
        est_name = "mix_contribution" if comp == "mix" else "rate_contribution"
        agg = dec.aggregate(dim, comp).set_index(dim)
        for r in get(name, est_name).itertuples():
            value = r.segment_value
            if comp == "rate":  # the injected queue's reason(s): billing -> billing_ads
                value = {"billing": "billing_ads"}.get(value, value)
            if value not in agg.index or (comp == "mix" and abs(r.value) < 1.0):
                continue
            e = agg.loc[value]
            ok = bool(e["ci_low"] <= r.value <= e["ci_high"])
            rows.append({"check": f"{comp} contribution of {value}", "truth": r.value, "estimate": e["estimate"],
                         "ci_low": e["ci_low"], "ci_high": e["ci_high"], "recovered": ok})  # fmt: skip
            if len(segments) == 1:
                marks[(comp, value)] = float(r.value)
    vol = flags[flags["series"] == "contacts per reason"]
    days = ((pd.to_datetime(vol["day"]).dt.normalize() - t0.normalize()).dt.days).to_numpy()
    injected: set[tuple[int, str]] = set()
    for name, label in (("incident", "incident day"), ("volume_spike", "volume spike day")):
        d = get(name, "day")
        if d.empty:
            continue
        day, seg = int(d["value"].iloc[0]), d["segment_value"].iloc[0]
        hit = (days == day) & ((vol["segment"] == seg).to_numpy() if seg != "all" else True)
        rows.append({"check": label, "truth": day, "estimate": int(day) if hit.any() else None,
                     "ci_low": None, "ci_high": None, "recovered": bool(hit.any())})  # fmt: skip
        injected |= {(day, s) for s in vol["segment"]} if seg == "all" else {(day, seg)}
    if rows:
        start = get("mix_shift", "first_day")
        week = set(range(int(start["value"].iloc[0]), int(start["value"].iloc[0]) + 7)) if len(start) else set()
        other = [(dd, s) for dd, s in zip(days, vol["segment"], strict=True)
                 if (dd, s) not in injected and not (dd in week and s == "suspension_appeal")]  # fmt: skip
        n_days = int(days.max() - days.min() + 1) if len(days) else 90
        rate = len(other) / max(n_days, 1) * 90
        rows.append({"check": "false alarms per 90 days (volume)", "truth": 0.0, "estimate": rate, "ci_low": None,
                     "ci_high": None, "recovered": rate <= 1.0})  # fmt: skip
    return rows, marks


STUDY = Study(
    name="kpi-drivers",
    title="What drives the metrics: last week against the week before",
    question="Why did AHT move last week: the mix of contacts, slower handling somewhere, a launch, an incident?",
    params=(
        Param("after_start", str, "", "first day (YYYY-MM-DD) of the week under review ('' = the last 7 days)",
              check=_is_day_or_empty, check_message="'' or a date YYYY-MM-DD"),
        Param("segments", str, "reason", "segment columns of the decomposition, comma-separated",
              choices=("reason", "queue", "queue,reason", "reason,channel")),
        Param("n_boot", int, 200, "bootstrap replicates (clusters: customers)", min=20),
        Param("threshold", float, 5.0, "robust z threshold of the anomaly flags", min=0,
              exclusive_min=True),
        Param("n_topics", int, 8, "topics of the English messages", min=2, max=50),
        Param("gcm", bool, True, "run the DoWhy-GCM mechanism attribution"),
        *QUALITY_PARAMS,
    ),
    default_seed=20260105,
    run=run,
    tables={
        "contacts": ("contact_id", "customer_id", "created_at", "queue", "reason", "channel", "handle_s",
                     "specialist", "assist_active", "abandoned"),
        "experiments": ("experiment", "start_at"),
        "experiment_assignments": ("experiment", "customer_id", "variant"),
        "assist_rollout": ("site", "launched_at"),
        "contact_text": ("contact_id", "message"),
        "customers": ("customer_id", "language"),
    },
)
