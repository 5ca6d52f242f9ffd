"""Per-contact record arrays of a simulated run: status codes, the tidy frame and run checks.

The engine (:mod:`simulation.engine`) writes one record per contact attempt into compact
arrays; :mod:`simulation.metrics` reads them. Both import this module and neither imports the
other's internals, so there is no import cycle: ``engine -> metrics -> records``.

Record arrays (``SimulationRun.records_arrays``), one entry per attempt:

``contact_id`` (int32), ``attempt`` (uint8, 0 = first), ``queue`` (int16 queue index),
``arrival_s``, ``wait_s`` (time waited until answered or abandoned, NaN while unresolved),
``virtual_wait_s`` (the wait an abandoned contact *would* have had, when known), ``work_s``
(handle time drawn for the contact), ``agent`` (int32, -1 if never answered), ``status``
(uint8: :data:`WAITING`, :data:`SERVED` or :data:`ABANDONED`) and ``callback`` (uint8, 1 when
it accepted a callback).

Examples
--------
>>> import numpy as np
>>> rec = {"status": np.array([SERVED, ABANDONED, WAITING], np.uint8)}
>>> diagnostics_for(rec, {})[0].status
'warning'
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from servicelab.results import Diagnostic

__all__ = [
    "ABANDONED",
    "RECORD_FIELDS",
    "SERVED",
    "WAITING",
    "diagnostics_for",
    "records_frame",
]

#: Status codes of a record: still waiting when the run ended, answered, abandoned.
WAITING, SERVED, ABANDONED = 0, 1, 2

#: Names of the record arrays, in the order the engine writes them.
RECORD_FIELDS = (
    "contact_id",
    "attempt",
    "queue",
    "arrival_s",
    "wait_s",
    "virtual_wait_s",
    "work_s",
    "agent",
    "status",
    "callback",
)


def diagnostics_for(records: dict[str, np.ndarray], info: dict[str, Any]) -> tuple[Diagnostic, ...]:  # noqa: ARG001 - info: run facts, for checks that need them
    """Run-level checks: contacts still unresolved when the run ended."""
    unresolved = int(np.sum(records["status"] == WAITING))
    if unresolved:
        return (
            Diagnostic(
                "unresolved",
                "warning",
                f"{unresolved} contacts were still waiting when the run ended (no agents on duty "
                "or drain_s too short); their waits are NaN",
                float(unresolved),
            ),
        )
    return (Diagnostic("unresolved", "ok", "every contact was answered or abandoned", 0.0),)


def records_frame(records: dict[str, np.ndarray], info: dict[str, Any]) -> pd.DataFrame:
    """Tidy per-contact frame built from the record arrays (one row per attempt).

    Columns: ``contact_id, attempt, queue, channel, arrival_s, wait_s, answered, abandoned,
    start_s, handle_s, agent, group, overflow, callback, virtual_wait_s``.
    """
    st = records["status"]
    served = st == SERVED
    agent = records["agent"]
    gofa = info["group_of_agent"]
    grp = np.where(agent >= 0, gofa[np.clip(agent, 0, None)], -1)
    qcodes = records["queue"].astype(np.int64)
    prim = info["primary_groups"]
    prim_mat = np.zeros((len(prim), len(info["group_names"]) + 1), bool)
    for q, gs in enumerate(prim):
        prim_mat[q, list(gs)] = True
    is_prim = prim_mat[qcodes, grp]  # grp == -1 hits the all-False last column
    start = np.where(served, records["arrival_s"] + records["wait_s"], np.nan)
    channels = info["queue_channels"]
    channel_names = list(dict.fromkeys(channels))
    channel_of_queue = np.array([channel_names.index(c) for c in channels], dtype=np.int64)
    return pd.DataFrame(
        {
            "contact_id": records["contact_id"].astype(np.int64),
            "attempt": records["attempt"].astype(np.int8),
            "queue": pd.Categorical.from_codes(qcodes, info["queue_names"]),
            "channel": pd.Categorical.from_codes(channel_of_queue[qcodes], channel_names),
            "arrival_s": records["arrival_s"],
            "wait_s": records["wait_s"],
            "answered": served,
            "abandoned": st == ABANDONED,
            "start_s": start,
            "handle_s": np.where(served, records["work_s"], np.nan),
            "agent": agent,
            "group": pd.Categorical.from_codes(grp, info["group_names"]),
            "overflow": served & ~is_prim,
            "callback": records["callback"].astype(bool),
            "virtual_wait_s": np.where(served, records["wait_s"], records["virtual_wait_s"]),
        }
    )
