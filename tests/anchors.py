"""Access to the reference numbers in ``../shared/anchors`` (published results the code must reproduce)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ANCHOR_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "anchors"


def load_anchor(name: str) -> dict[str, Any]:
    """Load ``ANCHOR_DIR / f"{name}.json"``."""
    return json.loads((ANCHOR_DIR / f"{name}.json").read_text())
