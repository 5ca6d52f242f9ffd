"""Deprecated names of :mod:`causal.bayes`, kept as aliases that warn."""

from __future__ import annotations

import warnings
from typing import Any

from servicelab.errors import ServicelabWarning

__all__ = ["BayesDeprecationWarning", "deprecated_alias"]


class BayesDeprecationWarning(ServicelabWarning, DeprecationWarning):
    """A renamed :mod:`causal.bayes` name was used; the message gives the new one."""


def deprecated_alias(module: str, old: str, new: str, obj: Any) -> Any:
    """Warn that ``module.old`` is now ``module.new`` and return ``obj``.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     _ = deprecated_alias("causal.bayes", "Old", "New", int)
    >>> w[0].category.__name__
    'BayesDeprecationWarning'
    """
    warnings.warn(f"{module}.{old} is deprecated; use {module}.{new}", BayesDeprecationWarning,
                  stacklevel=3)
    return obj
