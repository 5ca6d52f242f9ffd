from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def world_small():
    from studies.world import generate_world

    return generate_world(seed=5, scale=0.03)
