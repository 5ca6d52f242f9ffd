"""Interrupts during a run: SIGINT (Ctrl-C), SIGTERM and SIGHUP become :class:`RunInterrupted`, and are remembered.

Libraries sometimes catch ``KeyboardInterrupt`` and carry on (PyMC stops sampling after the chains
it finished and returns them). While a run executes, :class:`InterruptGuard` records every SIGINT and
SIGTERM it receives, so the runner can refuse to record a success after one, whatever the study did
with the exception. SIGKILL cannot be caught: such a run is left as a temporary folder that
``servicelab runs`` lists as abandoned.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

__all__ = ["InterruptGuard", "RunInterrupted", "check_interrupted"]

# SIGHUP: the terminal or ssh session of a long run went away (POSIX only)
_HANDLED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_ACTIVE: list[InterruptGuard] = []


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by a signal (``SIGINT`` from Ctrl-C, ``SIGTERM``, or ``SIGHUP``).

    A ``KeyboardInterrupt`` so that code catching ``Exception`` does not swallow it.

    Examples
    --------
    >>> RunInterrupted("SIGTERM").signal_name
    'SIGTERM'
    """

    def __init__(self, signal_name: str = "SIGINT") -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name

    def __str__(self) -> str:
        return f"interrupted by {self.signal_name}" + (" (Ctrl-C)" if self.signal_name == "SIGINT" else "")


class InterruptGuard:
    """Context manager turning SIGINT/SIGTERM/SIGHUP into :class:`RunInterrupted` and recording them.

    The handlers are installed only in the main thread, only for signals that are not ignored
    (a process started with SIGINT ignored keeps ignoring it), and the previous handlers are restored
    on exit. While :attr:`deferred` is true (the runner committing a finished run folder, or recording
    a failed one) a signal is only recorded; it is delivered again to the restored handler on exit, so
    it is never lost.

    Attributes
    ----------
    seen : str or None
        Name of the first signal received while the guard was active.
    """

    def __init__(self) -> None:
        self.seen: str | None = None
        self.deferred = False
        self._pending: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in _HANDLED:
                previous = signal.getsignal(sig)
                if previous in (signal.SIG_IGN, None):
                    continue
                self._previous[sig] = previous
                signal.signal(sig, self._handle)
        _ACTIVE.append(self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if _ACTIVE and _ACTIVE[-1] is self:
            _ACTIVE.pop()
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
        if self._pending is not None:
            pending, self._pending = self._pending, None
            signal.raise_signal(pending)

    def _handle(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002 - signal-handler signature
        name = signal.Signals(signum).name
        if self.seen is None:
            self.seen = name
        if self.deferred:
            self._pending = signum
            return
        raise RunInterrupted(name)

    def resume(self) -> None:
        """End a deferral: signals raise again, and one that came while deferred is raised now.

        The runner defers from the moment it creates a run folder until its error handling is in
        place; the held signal is raised here as :class:`RunInterrupted` (so it is recorded), not
        delivered again on exit.
        """
        self.deferred = False
        self._pending = None
        self.check()

    def check(self) -> None:
        """Raise :class:`RunInterrupted` if a signal was received (even if the study swallowed it)."""
        if self.seen is not None:
            raise RunInterrupted(self.seen)


def check_interrupted() -> None:
    """Raise :class:`RunInterrupted` if the running study has received SIGINT, SIGTERM or SIGHUP.

    Progress stages call it, so a run whose interrupt a library swallowed stops at the next stage.
    Outside a run it does nothing.
    """
    if _ACTIVE:
        _ACTIVE[-1].check()
