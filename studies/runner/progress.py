"""Progress of a run on stderr: stage names, elapsed time and an estimate of the time left.

A study marks its main stages with ``ctx.stage("fitting the model")`` (a plain call starts the next
stage; ``with ctx.stage(...):`` also ends it) and wraps long loops in ``ctx.progress(iterable,
total=...)``. Lines go to stderr only (stdout carries the headline). Stage lines are printed whether
or not stderr is a terminal, so logs of batch jobs show them; the live ``tqdm`` bar of
:meth:`Progress.iterate` only on a terminal, and in a log a loop reports at most every
``log_every_s`` seconds instead.

Stage times have no ETA of their own, so the runner passes the stage times of the last successful run
of the same study with the same parameters and data (``expected``): each stage line then says how
long that run took and how much is left.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TextIO, TypeVar

from studies.runner.interrupts import check_interrupted

__all__ = ["Progress", "format_duration"]

T = TypeVar("T")


def format_duration(seconds: float) -> str:
    """``"0:07"``, ``"12:30"``, ``"1:02:03"`` (minutes:seconds, hours when needed).

    Examples
    --------
    >>> format_duration(75.4), format_duration(3723)
    ('1:15', '1:02:03')
    """
    s = max(round(seconds), 0)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class _Stage:
    """Handle of a started stage; as a context manager, leaving the block ends the stage."""

    def __init__(self, progress: Progress, name: str) -> None:
        self._progress = progress
        self.name = name

    def __enter__(self) -> _Stage:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.end_stage(self)


class Progress:
    """Stage lines and loop progress for one run.

    Parameters
    ----------
    label : str
        Prefix of every line (the study name).
    enabled : bool
        False prints nothing (timings are still recorded).
    stream : file, optional
        Where lines go; ``sys.stderr`` (looked up at each line) by default.
    bars : bool, optional
        Live ``tqdm`` bars in :meth:`iterate`; default: when ``stream`` is a terminal.
    expected : sequence of (name, seconds), optional
        Stage times of a comparable earlier run, in order, for the time left.
    on_stage : callable(name), optional
        Called when a stage starts (the runner records it in the in-progress manifest).
    log_every_s : float
        Without bars, the least time between two progress lines of one loop.
    clock : callable
        Monotonic clock (injectable for tests).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> p = Progress("demo", stream=out, clock=iter([0.0, 0.0, 5.0, 5.0, 9.0]).__next__)
    >>> _ = p.stage("loading")
    >>> _ = p.stage("fitting")
    >>> p.finish()
    >>> [s["name"] for s in p.stages], [s["seconds"] for s in p.stages]
    (['loading', 'fitting'], [5.0, 4.0])
    >>> print(out.getvalue().splitlines()[1])
    [demo 0:05] fitting
    """

    def __init__(self, label: str = "", *, enabled: bool = True, stream: TextIO | None = None,
                 bars: bool | None = None, expected: Sequence[tuple[str, float]] | None = None,
                 on_stage: Callable[[str], None] | None = None, log_every_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.enabled = enabled
        self._stream = stream
        self._bars = bars
        self.expected = [(str(n), float(s)) for n, s in (expected or ())]
        self.on_stage = on_stage
        self.log_every_s = log_every_s
        self._clock = clock
        self._t0 = clock()
        self._current: _Stage | None = None
        self._started = 0.0
        self._done: list[dict[str, Any]] = []

    @classmethod
    def silent(cls) -> Progress:
        """A progress that prints nothing (the default of a bare :class:`StudyContext`)."""
        return cls(enabled=False)

    # -- stages ----------------------------------------------------------------------------------
    @property
    def stages(self) -> list[dict[str, Any]]:
        """Finished stages as ``{"name", "seconds"}``, in order."""
        return list(self._done)

    @property
    def current(self) -> str | None:
        """The stage under way, if any."""
        return self._current.name if self._current is not None else None

    @property
    def elapsed(self) -> float:
        """Seconds since the progress started."""
        return self._clock() - self._t0

    def stage(self, name: str) -> _Stage:
        """End the current stage (if any) and start ``name``; print its line.

        Raises
        ------
        RunInterrupted
            If the run received SIGINT/SIGTERM that the study (or a library) swallowed.
        """
        check_interrupted()
        if self._current is not None:
            self.end_stage(self._current)
        now = self._clock()
        self._current, self._started = _Stage(self, name), now
        if self.on_stage is not None:
            self.on_stage(name)
        self._line(f"{name}{self._eta_note(name)}", now)
        return self._current

    def end_stage(self, stage: _Stage) -> None:
        """End ``stage`` if it is the current one (recording its time)."""
        if self._current is stage:
            self._done.append({"name": stage.name, "seconds": round(self._clock() - self._started, 3)})
            self._current = None

    def finish(self, status: str | None = None) -> None:
        """End the current stage; with ``status``, print the closing line."""
        if self._current is not None:
            self.end_stage(self._current)
        if status is not None:
            self._line(status, self._clock())

    def _eta_note(self, name: str) -> str:
        names = [n for n, _ in self.expected]
        if name not in names:
            return ""
        i = names.index(name)
        this = self.expected[i][1]
        left = sum(s for _, s in self.expected[i:])
        return (f" ({i + 1}/{len(names)}; {format_duration(this)} in the last run with these "
                f"parameters, about {format_duration(left)} left)")

    # -- loops -----------------------------------------------------------------------------------
    def iterate(self, iterable: Iterable[T], total: int | None = None, stage: str | None = None
                ) -> Iterator[T]:
        """Yield from ``iterable``, showing count, rate and time left.

        Parameters
        ----------
        iterable : iterable
            The loop.
        total : int, optional
            Its length (taken from ``len(iterable)`` when it has one).
        stage : str, optional
            Start this stage first.
        """
        if stage is not None:
            self.stage(stage)
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        desc = self.current or self.label
        if self.enabled and self._use_bars():
            from tqdm.auto import tqdm

            bar = tqdm(iterable, total=total, desc=f"[{self.label}] {desc}", file=self.stream,
                       leave=False, dynamic_ncols=True, mininterval=0.5)
            with bar:
                for item in bar:
                    check_interrupted()
                    yield item
            return
        start = last = self._clock()
        for i, item in enumerate(iterable, start=1):
            check_interrupted()
            yield item
            now = self._clock()
            if self.enabled and now - last >= self.log_every_s:
                last = now
                rate = (now - start) / i
                note = (f"{i}/{total}, about {format_duration(rate * (total - i))} left"
                        if total else f"{i} done")
                self._line(f"{desc}: {note}", now)

    # -- output ----------------------------------------------------------------------------------
    @property
    def stream(self) -> TextIO:
        """The output stream (``sys.stderr`` unless one was given)."""
        return self._stream if self._stream is not None else sys.stderr

    def _use_bars(self) -> bool:
        if self._bars is not None:
            return self._bars
        try:
            return bool(self.stream.isatty())
        except (AttributeError, ValueError):
            return False

    def _line(self, text: str, now: float) -> None:
        if not self.enabled:
            return
        prefix = f"[{self.label} {format_duration(now - self._t0)}]" if self.label else \
            f"[{format_duration(now - self._t0)}]"
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stderr must not fail the run
            print(f"{prefix} {text}", file=self.stream, flush=True)


def expected_from(stages: Iterable[Mapping[str, Any]] | None) -> list[tuple[str, float]]:
    """``[(name, seconds)]`` from a manifest's ``stages`` list (malformed entries skipped)."""
    out = []
    for s in stages or ():
        try:
            out.append((str(s["name"]), float(s["seconds"])))
        except (KeyError, TypeError, ValueError):
            continue
    return out
