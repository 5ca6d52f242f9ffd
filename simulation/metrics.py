"""Per-contact records and interval metrics, computed vectorised from numpy arrays.

Service level is never implicit: :class:`~simulation.service_level.ServiceLevel` names its
threshold, its denominator and what short abandons count as, and every result carries that
definition (``../shared/GUIDE.md`` §3). The record arrays are described in
:mod:`simulation.records`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from servicelab.errors import DesignError
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

from .agents import staffed_slot_seconds
from .records import ABANDONED, SERVED, WAITING, diagnostics_for, records_frame
from .service_level import ServiceLevel

__all__ = ["ServiceLevel", "SimulationRun", "window_measures"]


def _overlap(t0: np.ndarray, t1: np.ndarray, a: float, b: float) -> float:
    return float(np.sum(np.clip(np.minimum(t1, b) - np.maximum(t0, a), 0.0, None)))


def _binned_overlap(t0: np.ndarray, t1: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Total overlap of the spans ``[t0, t1)`` with each bin ``[edges[k], edges[k+1])``.

    O(n log n + bins): the integral ``F(t) = sum_i clip(t - t0_i, 0, t1_i - t0_i)`` is
    evaluated at the edges from sorted start and end times, and the bins are its differences.
    """
    s = np.sort(t0)
    e = np.sort(t1)
    cs = np.concatenate([[0.0], np.cumsum(s)])
    ce = np.concatenate([[0.0], np.cumsum(e)])
    ns = np.searchsorted(s, edges, side="left")
    ne = np.searchsorted(e, edges, side="left")
    F = (ns * edges - cs[ns]) - (ne * edges - ce[ne])
    return np.clip(np.diff(F), 0.0, None)


def window_measures(
    rec: dict[str, np.ndarray],
    t0: float,
    t1: float,
    staffed_slot_s: float,
    service_levels: tuple[ServiceLevel, ...] = (ServiceLevel(20.0),),
) -> dict[str, float]:
    """Steady-state style measures for contacts arriving in ``[t0, t1)`` (names as the anchors).

    ``offered``: contacts arriving in the window, unresolved ones (still waiting at the end of
    the run) included; ``p_wait``: share that could not be answered at once; ``p_abandon``;
    ``asa_answered_s`` (mean wait of answered); ``ewq_all_s`` (mean time in queue of all
    resolved contacts, abandoners included; an unresolved wait is unknown); ``lq``
    (time-average queue length in the window, unresolved contacts waiting to the end);
    ``occupancy`` (busy slot time over staffed slot time); one entry per service level
    (unresolved contacts are offered and not answered within the threshold, see
    :class:`ServiceLevel`); ``p_virtual_wait_le_<T>s`` (share whose offered wait, i.e. the wait
    with infinite patience, is within T; unresolved ones are not).
    """
    arr = rec["arrival_s"]
    st = rec["status"]
    wait = rec["wait_s"]
    m = (arr >= t0) & (arr < t1)
    n = int(m.sum())
    ans = st[m] == SERVED
    ab = st[m] == ABANDONED
    unres = st[m] == WAITING
    w = np.where(unres, np.inf, wait[m])  # still waiting at the end: not answered within any t
    out: dict[str, float] = {"offered": float(n)}
    nan = float("nan")
    out["p_wait"] = float(np.mean(ab | unres | (w > 0))) if n else nan
    out["p_abandon"] = float(np.mean(ab)) if n else nan
    out["asa_answered_s"] = float(np.mean(w[ans])) if ans.any() else nan
    out["ewq_all_s"] = float(np.mean(w[~unres])) if n > unres.sum() else nan
    out["lq"] = _overlap(arr, _queue_exit(rec), t0, t1) / (t1 - t0)
    served = st == SERVED
    start = arr[served] + wait[served]
    busy = _overlap(start, start + rec["work_s"][served], t0, t1)
    out["occupancy"] = busy / staffed_slot_s if staffed_slot_s > 0 else nan
    vw = np.where(ans, w, rec["virtual_wait_s"][m])
    vw[unres] = np.inf
    for sl in service_levels:
        good, den = sl.counts(ans, ab, w)
        out[sl.key] = float(good.sum() / den.sum()) if den.sum() else nan
        out[f"p_virtual_wait_le_{sl.threshold_s:g}s"] = (
            float(np.nanmean(vw <= sl.threshold_s)) if n else nan
        )
    return out


def _queue_exit(rec: dict[str, np.ndarray]) -> np.ndarray:
    """When each contact left the queue; contacts still waiting at the end never left (inf)."""
    return np.where(rec["status"] == WAITING, np.inf, rec["arrival_s"] + rec["wait_s"])


@dataclass(frozen=True, eq=False, repr=False)
class SimulationRun(ResultMixin):
    """One simulated run: per-contact record arrays plus run information.

    Use :meth:`records` for the tidy per-contact frame, :meth:`measures` for the
    whole-window measures after warm-up and :meth:`interval_metrics` for the
    per-interval service level, ASA, abandonment, occupancy and queue length.
    """

    model: Any = field(repr=False)  # the ContactCentre that was run
    records_arrays: dict[str, np.ndarray] = field(repr=False)
    info: dict[str, Any] = field(repr=False)

    @property
    def n_contacts(self) -> int:
        """Contacts simulated."""
        return int(self.records_arrays["arrival_s"].size)

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Checks on the result, as :class:`~servicelab.Diagnostic` values."""
        return diagnostics_for(self.records_arrays, self.info)

    def records(self) -> pd.DataFrame:
        """Tidy per-contact (per-attempt) DataFrame."""
        return records_frame(self.records_arrays, self.info)

    def _staffed(self, edges: np.ndarray) -> np.ndarray:
        return staffed_slot_seconds(self.model.agents, edges, self.info["end_s"])

    def measures(
        self, service_levels: tuple[ServiceLevel, ...] = (ServiceLevel(20.0),)
    ) -> dict[str, float]:
        """Measures over contacts arriving in ``[warmup_s, horizon)`` (see :func:`window_measures`)."""
        t0, t1 = float(self.model.warmup_s), float(self.info["end_s"])
        staffed = float(self._staffed(np.array([t0, t1]))[0])
        return window_measures(self.records_arrays, t0, t1, staffed, tuple(service_levels))

    def interval_metrics(
        self, interval_s: float = 1800.0, service_level: ServiceLevel | None = None
    ) -> pd.DataFrame:
        """Per-interval, per-queue metrics (tidy: one row per interval and queue, plus ``all``).

        Contact measures (offered, answered, abandoned, service level, ASA) group contacts by
        the interval they arrive in; ``queue_len`` is the time-average number waiting and
        ``occupancy`` (for ``all`` only) busy slot time over staffed slot time in the interval.
        Intervals before ``warmup_s`` are flagged ``warmup=True``.
        """
        if not interval_s > 0:
            raise DesignError(f"interval_s must be > 0, got {interval_s}")
        sl = service_level or ServiceLevel(20.0)
        r = self.records_arrays
        end = float(self.info["end_s"])
        edges = np.arange(0.0, end + interval_s, interval_s)
        edges = edges[edges <= end + 1e-9]
        if edges[-1] < end:
            edges = np.append(edges, end)
        k = len(edges) - 1
        arr, st, wait = r["arrival_s"], r["status"], r["wait_s"]
        idx = np.clip(np.searchsorted(edges, arr, side="right") - 1, 0, k - 1)
        ans = st == SERVED
        ab = st == ABANDONED
        # contacts still waiting at the end count as offered and not answered within t
        good, den = sl.counts(ans, ab, np.where(st == WAITING, np.inf, wait))
        exit_s = np.minimum(_queue_exit(r), edges[-1])
        qn = self.info["queue_names"]
        frames = []
        for label, sel in [*[(q, r["queue"] == i) for i, q in enumerate(qn)], ("all", None)]:
            mk = np.ones(arr.shape, bool) if sel is None else sel
            cnt = lambda x, mk=mk: np.bincount(idx[mk], weights=x[mk].astype(float), minlength=k)
            offered = cnt(np.ones(arr.shape))
            answered = cnt(ans)
            wsum = np.bincount(idx[mk & ans], weights=wait[mk & ans], minlength=k)
            qlen = _binned_overlap(arr[mk], exit_s[mk], edges) / np.diff(edges)
            with np.errstate(invalid="ignore", divide="ignore"):
                f = pd.DataFrame(
                    {
                        "interval_start_s": edges[:-1],
                        "queue": label,
                        "offered": offered.astype(int),
                        "answered": answered.astype(int),
                        "abandoned": cnt(ab).astype(int),
                        "service_level": cnt(good) / cnt(den),
                        "asa_s": wsum / answered,
                        "abandon_rate": cnt(ab) / offered,
                        "queue_len": qlen,
                    }
                )
            frames.append(f)
        out = pd.concat(frames, ignore_index=True)
        served = ans
        start = arr[served] + wait[served]
        stop = start + r["work_s"][served]
        busy = _binned_overlap(start, stop, edges)
        staffed = self._staffed(edges)
        with np.errstate(invalid="ignore", divide="ignore"):
            occ = np.where(staffed > 0, busy / staffed, np.nan)
        out["occupancy"] = np.nan
        out.loc[out["queue"] == "all", "occupancy"] = occ
        out["warmup"] = out["interval_start_s"] < self.model.warmup_s
        out.attrs["service_level"] = sl.name
        out.attrs["service_level_definition"] = sl.describe()
        return out

    def summary(self, service_level: ServiceLevel | None = None) -> Summary:
        """The result as a :class:`~servicelab.Summary` (table, key facts, diagnostics)."""
        sl = service_level or ServiceLevel(20.0)
        m = self.measures((sl,))
        table = pd.DataFrame({"measure": list(m), "value": list(m.values())})
        return Summary(
            "Contact-centre simulation run",
            table,
            info={
                "contacts": self.n_contacts,
                "agents": self.info["n_agents"],
                "queues": ", ".join(self.info["queue_names"]),
                "routing": type(self.model.routing).__name__,
                "window": f"[{self.model.warmup_s:g}, {self.info['end_s']:g}) s",
                "service level": sl.describe(),
            },
            diagnostics=self.diagnostics,
        )

    def plot(self, ax: Any = None, interval_s: float = 1800.0) -> Any:
        """Service level and abandonment per interval (all queues)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        f = self.interval_metrics(interval_s)
        f = f[f["queue"] == "all"]
        h = f["interval_start_s"] / 3600
        ax.step(h, f["service_level"], where="post", label=f.attrs.get("service_level", "SL"))
        ax.step(h, f["abandon_rate"], where="post", label="abandonment rate")
        ax.set_xlabel("hour")
        ax.set_ylim(0, 1.05)
        ax.legend(loc="lower left", fontsize=8)
        return ax

    def to_dict(self, service_level: ServiceLevel | None = None) -> dict[str, Any]:
        """JSON-ready measures under ``service_level`` (default ``ServiceLevel(20)``), named."""
        sl = service_level or ServiceLevel(20.0)
        return jsonable(
            {
                "n_contacts": self.n_contacts,
                "measures": self.measures((sl,)),
                "service_level": sl.to_dict(),
                "diagnostics": [d.to_dict() for d in self.diagnostics],
            }
        )
