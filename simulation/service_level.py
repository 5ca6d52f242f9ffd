"""The service-level definition, re-exported from the core (:mod:`servicelab.service_level`).

:class:`ServiceLevel` moved to the core so that :mod:`causal` can use the same type in its
experiment metrics without importing :mod:`simulation`; ``from simulation import ServiceLevel``
and ``from simulation.service_level import ServiceLevel`` keep working and give the same class.

Examples
--------
>>> from servicelab.service_level import ServiceLevel as Core
>>> ServiceLevel is Core
True
"""

from __future__ import annotations

from servicelab.service_level import LEGACY_SL_NAMES, ServiceLevel

__all__ = ["LEGACY_SL_NAMES", "ServiceLevel"]
