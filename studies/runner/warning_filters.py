"""The third-party warnings a study run silences: each one named, matched narrowly, and explained.

Only warnings we understand and that say nothing about the numbers of a run belong here. Each
entry names one warning class, a regular expression matching the start of its message and the
module that emits it, and says why it is harmless. Everything else (convergence, numerical problems,
deprecations in our own code) stays visible. The filters are active only while a study runs
(:func:`study_warning_filters`), never installed globally.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["KNOWN_WARNINGS", "KnownWarning", "study_warning_filters"]


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
