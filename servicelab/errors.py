"""One exception hierarchy for the whole project.

Every message names the offending column, parameter or value and says what
to do about it. Catch :class:`ServicelabError` to catch them all.
"""

from __future__ import annotations


class ServicelabError(Exception):
    """Base class of every error servicelab raises on purpose."""


class DataError(ServicelabError, ValueError):
    """The data are unusable as given: a missing column, NaNs, bad types, no overlap."""


class DesignError(ServicelabError, ValueError):
    """The design or its parameters are invalid: a single arm, too few clusters, bad sizes."""


class ConvergenceError(ServicelabError, RuntimeError):
    """A fit or sampler did not converge (propensity model, MCMC gate, optimiser)."""


class UnstableQueueError(ServicelabError, ValueError):
    """Offered load is at or above the number of agents where a formula needs load < agents."""


class RunError(ServicelabError, RuntimeError):
    """A study run could not be written, or a study or parameter is unknown."""


class ServicelabWarning(UserWarning):
    """Base class of every warning servicelab issues on purpose (filter them by this class)."""
