"""Service-time and patience distributions (all in seconds), vectorised.

Any object with ``sample(rng, n) -> ndarray`` and a ``mean`` attribute works
(duck typing), and so does a frozen :mod:`scipy.stats` distribution (it is
wrapped by :func:`as_distribution`). That is how the simulator supports
*any* patience distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from servicelab.errors import DesignError

__all__ = [
    "Deterministic",
    "Distribution",
    "Empirical",
    "Exponential",
    "Gamma",
    "LogNormal",
    "Never",
    "Scaled",
    "as_distribution",
]


@runtime_checkable
class Distribution(Protocol):
    """What the simulator needs from a distribution: ``sample(rng, n)`` and ``mean``."""

    mean: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` non-negative values (seconds)."""
        ...


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise DesignError(f"{name} must be a positive finite number of seconds, got {value!r}")
    return value


@dataclass(frozen=True)
class Exponential:
    """Exponential distribution with mean ``mean`` seconds.

    Examples
    --------
    >>> Exponential(300.0).sample(np.random.default_rng(0), 3).shape
    (3,)
    """

    mean: float

    def __post_init__(self) -> None:
        _positive("Exponential.mean", self.mean)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws from the distribution using ``rng``."""
        return rng.exponential(self.mean, n)


@dataclass(frozen=True)
class LogNormal:
    """Log-normal distribution given by its ``mean`` (seconds) and coefficient of variation ``cv``.

    Examples
    --------
    >>> x = LogNormal(300.0, 1.0).sample(np.random.default_rng(0), 200_000)
    >>> bool(abs(x.mean() / 300.0 - 1) < 0.02)
    True
    """

    mean: float
    cv: float = 1.0

    def __post_init__(self) -> None:
        _positive("LogNormal.mean", self.mean)
        _positive("LogNormal.cv", self.cv)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws from the distribution using ``rng``."""
        s2 = np.log1p(self.cv**2)
        return rng.lognormal(np.log(self.mean) - s2 / 2, np.sqrt(s2), n)


@dataclass(frozen=True)
class Gamma:
    """Gamma distribution given by its ``mean`` (seconds) and coefficient of variation ``cv``."""

    mean: float
    cv: float = 1.0

    def __post_init__(self) -> None:
        _positive("Gamma.mean", self.mean)
        _positive("Gamma.cv", self.cv)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws from the distribution using ``rng``."""
        shape = 1.0 / self.cv**2
        return rng.gamma(shape, self.mean / shape, n)


@dataclass(frozen=True)
class Deterministic:
    """A constant ``value`` seconds (still consumes no random numbers)."""

    value: float

    def __post_init__(self) -> None:
        if not np.isfinite(self.value) or self.value < 0:
            raise DesignError(f"Deterministic.value must be >= 0 and finite, got {self.value!r}")

    @property
    def mean(self) -> float:
        """The distribution's mean."""
        return float(self.value)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:  # noqa: ARG002 - distribution interface; constant
        """``n`` independent draws from the distribution using ``rng``."""
        return np.full(n, float(self.value))


@dataclass(frozen=True)
class Never:
    """Infinite patience: the contact never abandons."""

    mean: float = float("inf")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:  # noqa: ARG002 - distribution interface; constant
        """``n`` independent draws from the distribution using ``rng``."""
        return np.full(n, np.inf)


@dataclass(frozen=True)
class Empirical:
    """Resample observed values (seconds) with replacement, e.g. calibrated handle times."""

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        arr = np.asarray(self.values, dtype=float)
        if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise DesignError("Empirical.values must be a non-empty set of finite values >= 0")

    @property
    def mean(self) -> float:
        """The distribution's mean."""
        return float(np.mean(self.values))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws from the distribution using ``rng``."""
        return rng.choice(np.asarray(self.values, dtype=float), size=n, replace=True)


@dataclass(frozen=True)
class Scaled:
    """A distribution multiplied by ``factor``, e.g. handle times under a relative effect.

    A handle-time change of -6% is ``Scaled(aht, 0.94)``: every draw is the base draw times
    0.94, so the shape (and the coefficient of variation) is kept and the mean scales.

    Parameters
    ----------
    base : distribution
        Anything :func:`as_distribution` accepts (a number means exponential with that mean).
    factor : float
        Positive multiplier.

    Examples
    --------
    >>> d = Scaled(Exponential(300.0), 0.9)
    >>> d.mean
    270.0
    """

    base: Any
    factor: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", as_distribution(self.base, "Scaled.base"))
        if not (np.isfinite(self.factor) and self.factor > 0):
            raise DesignError(f"Scaled.factor must be positive and finite, got {self.factor!r}")
        object.__setattr__(self, "factor", float(self.factor))

    @property
    def mean(self) -> float:
        """The distribution's mean."""
        return float(self.base.mean) * self.factor

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws from the distribution using ``rng``."""
        return np.asarray(self.base.sample(rng, n), dtype=float) * self.factor


@dataclass(frozen=True)
class _Scipy:
    frozen: Any

    @property
    def mean(self) -> float:
        return float(self.frozen.mean())

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.asarray(self.frozen.rvs(size=n, random_state=rng), dtype=float)


def as_distribution(obj: Any, name: str = "distribution") -> Any:
    """Return ``obj`` as a simulator distribution.

    Accepts a distribution of this module (or anything with ``sample`` and
    ``mean``), a frozen ``scipy.stats`` distribution, a positive number
    (read as the mean of an exponential), or ``None``/``inf`` (never abandons).

    Examples
    --------
    >>> as_distribution(120.0).mean
    120.0
    """
    if obj is None:
        return Never()
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        if obj == float("inf"):
            return Never()
        return Exponential(_positive(name, obj))
    if hasattr(obj, "sample") and hasattr(obj, "mean"):
        return obj
    if hasattr(obj, "rvs") and hasattr(obj, "mean"):
        return _Scipy(obj)
    raise DesignError(
        f"{name} must be a distribution (with sample(rng, n) and mean), a frozen scipy.stats "
        f"distribution or a positive mean in seconds; got {obj!r}"
    )
