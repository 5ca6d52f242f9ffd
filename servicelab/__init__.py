"""servicelab core: the pieces shared by ``causal``, ``simulation`` and ``studies``.

The analysis packages live beside this one:

- :mod:`causal` estimates effects of service interventions (experiments,
  observational and quasi-experimental designs, Bayesian models);
- :mod:`simulation` is the contact-centre simulator and queueing analytics;
- :mod:`studies` holds the warehouse, the synthetic world, the study runner
  and the ``servicelab`` command line.

This package only holds what all of them share: the exception hierarchy,
the result/summary/diagnostic types, the random-number helpers and the
service-level definition (:class:`ServiceLevel`).
"""

from __future__ import annotations

from servicelab.errors import (
    ConvergenceError,
    DataError,
    DesignError,
    RunError,
    ServicelabError,
    UnstableQueueError,
)
from servicelab.random import RNGLike, resolve_rng, spawn
from servicelab.results import (
    Diagnostic,
    Result,
    ResultMixin,
    Summary,
    diagnostics_frame,
    format_frame,
    format_number,
    jsonable,
    markdown_table,
    worst_status,
)
from servicelab.service_level import ServiceLevel

__version__ = "0.1.0"

__all__ = [
    "ConvergenceError",
    "DataError",
    "DesignError",
    "Diagnostic",
    "RNGLike",
    "Result",
    "ResultMixin",
    "RunError",
    "ServiceLevel",
    "ServicelabError",
    "Summary",
    "UnstableQueueError",
    "__version__",
    "diagnostics_frame",
    "format_frame",
    "format_number",
    "jsonable",
    "markdown_table",
    "resolve_rng",
    "spawn",
    "worst_status",
]
