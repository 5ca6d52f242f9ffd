"""Access to the reference numbers (see :mod:`servicelab.anchors`)."""

from __future__ import annotations

from servicelab.anchors import anchor_dir, anchor_path, load_anchor

ANCHOR_DIR = anchor_dir()

__all__ = ["ANCHOR_DIR", "anchor_path", "load_anchor"]
