"""Reference numbers (published results on real data, exact queueing values) that servicelab must reproduce.

The canonical copy lives in the team's ``shared/anchors`` folder beside the repository; this package
carries a copy so tests and the book work in a clone without it. :func:`anchor_dir` prefers the shared
copy when present (a test checks that both agree).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PACKAGED_DIR = Path(__file__).resolve().parent
SHARED_DIR = PACKAGED_DIR.parents[2] / "shared" / "anchors"


def anchor_dir() -> Path:
    """The folder holding the anchor JSON files and their ``data/`` CSVs."""
    return SHARED_DIR if (SHARED_DIR / "queueing.json").exists() else PACKAGED_DIR


def load_anchor(name: str) -> dict[str, Any]:
    """Load anchor ``name`` (``"experiments"``, ``"causal"`` or ``"queueing"``).

    Examples
    --------
    >>> load_anchor("queueing")["erlang_c"][0]["c"]
    12
    """
    return json.loads((anchor_dir() / f"{name}.json").read_text())


def anchor_path(relative: str) -> Path:
    """Path of a file inside the anchor folder, e.g. ``"data/tt_users_seed42.csv"``."""
    return anchor_dir() / relative
