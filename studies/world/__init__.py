"""The synthetic service world: a seeded support operation with known ground truth.

``generate_world(seed, scale)`` returns a :class:`World` whose ``tables`` follow the warehouse
contract :data:`SCHEMA` and whose ``truth`` holds the true effects and both potential outcomes
of every contact for the four interventions (``routing_v2``, ``assist``, ``help_bot``,
``specialist``), as in :data:`TRUTH_SCHEMA`.

Examples
--------
>>> from studies.world import generate_world
>>> w = generate_world(seed=0, scale=0.01)
>>> int(w.meta["seed"])
0
"""

from __future__ import annotations

from studies.world.config import WorldConfig
from studies.world.generate import GENERATOR_VERSION, SITES, World, generate_world, stream
from studies.world.schema import (
    CHANNELS,
    INTERVENTIONS,
    POTENTIAL_OUTCOMES,
    QUEUES,
    REASONS,
    SCHEMA,
    TIERS,
    TRUTH_SCHEMA,
)

__all__ = [
    "CHANNELS",
    "GENERATOR_VERSION",
    "INTERVENTIONS",
    "POTENTIAL_OUTCOMES",
    "QUEUES",
    "REASONS",
    "SCHEMA",
    "SITES",
    "TIERS",
    "TRUTH_SCHEMA",
    "World",
    "WorldConfig",
    "generate_world",
    "stream",
]
