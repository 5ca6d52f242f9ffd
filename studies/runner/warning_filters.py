"""The third-party warnings a study run silences: each one named, matched narrowly, and explained.

Only warnings we understand and that say nothing about the numbers of a run belong here. Each
entry names one warning class, a regular expression matching the start of its message and the
module that emits it, and says why it is harmless. Everything else (convergence, numerical problems,
deprecations in our own code) stays visible. The filters are active only while a study runs
(:func:`study_warning_filters`), never installed globally.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["CHATTY_LOGGERS", "KNOWN_WARNINGS", "KnownWarning", "quiet_library_logs", "study_warning_filters"]


@dataclass(frozen=True)
class KnownWarning:
    """One silenced third-party warning.

    Parameters
    ----------
    category : type of Warning
        The warning class (never ``Warning`` itself).
    message : str
        Regular expression matched against the start of the message.
    module : str
        Regular expression matched against the module that emits it.
    why : str
        Why it is safe to hide (shown by ``servicelab studies --warnings``).
    """

    category: type[Warning]
    message: str
    module: str
    why: str


KNOWN_WARNINGS: tuple[KnownWarning, ...] = (
    KnownWarning(
        UserWarning,
        r"PyTensor could not link to a BLAS installation",
        r"pytensor\.",
        # pip wheels of PyTensor find no BLAS to link its C code against, so some operations are
        # slower; results are identical. Printed once per process as a long paragraph.
        "pip-installed PyTensor links no BLAS: slower matrix operations, same results",
    ),
)


@contextmanager
def study_warning_filters(known: tuple[KnownWarning, ...] = KNOWN_WARNINGS) -> Iterator[None]:
    """Within the block, ignore exactly the :data:`KNOWN_WARNINGS` (the previous filters come back after).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     with study_warning_filters():
    ...         warnings.warn_explicit("PyTensor could not link to a BLAS installation.", UserWarning,
    ...                                "cmodule.py", 1, module="pytensor.link.c.cmodule")
    ...         warnings.warn("anything else", UserWarning)
    >>> [str(w.message) for w in seen]
    ['anything else']
    """
    with warnings.catch_warnings():
        for k in known:
            warnings.filterwarnings("ignore", message=k.message, category=k.category, module=k.module)
        yield


# Libraries that log progress at INFO on stderr by their own handler. PyMC prints "Initializing NUTS
# using jitter+adapt_diag...", "Sequential sampling (2 chains in 1 job)", "NUTS: [...]" and "Sampling
# 2 chains ... took 97 seconds" for every model: the runner's stage line already names the sampler
# and the draws, and the manifest records stage times. Their warnings and errors stay visible.
# The level is set on "pymc.sampling" (whose loggers print those lines), not on "pymc": importing
# pymc, which a study does lazily inside the run, resets the level of "pymc" to INFO.
CHATTY_LOGGERS: tuple[str, ...] = ("pymc.sampling",)


@contextmanager
def quiet_library_logs(loggers: tuple[str, ...] = CHATTY_LOGGERS, level: int = logging.WARNING
                       ) -> Iterator[None]:
    """Within the block, the :data:`CHATTY_LOGGERS` log at ``level`` and above only (levels restored after).

    The runner uses it when progress lines are off (``servicelab run -q``, or stderr not a
    terminal), so a quiet run is quiet.

    Examples
    --------
    >>> import logging
    >>> log = logging.getLogger("pymc.sampling.mcmc")
    >>> logging.getLogger("pymc").setLevel(logging.INFO)  # as importing pymc does
    >>> with quiet_library_logs():
    ...     log.isEnabledFor(logging.INFO), log.isEnabledFor(logging.WARNING)
    (False, True)
    >>> log.isEnabledFor(logging.INFO)
    True
    """
    saved = {name: logging.getLogger(name).level for name in loggers}
    try:
        for name in loggers:
            logger = logging.getLogger(name)
            if logger.getEffectiveLevel() < level:
                logger.setLevel(level)
        yield
    finally:
        for name, old in saved.items():
            logging.getLogger(name).setLevel(old)
