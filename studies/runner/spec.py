"""What a study is: its question, parameters (typed, with allowed ranges), data needs and ``run`` function.

This module is imported to list studies, so it stays light: no pandas, matplotlib or analysis library
at import time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from servicelab.errors import DesignError, RunError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from servicelab.results import Diagnostic
    from studies.runner.context import StudyContext

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_TYPES = (int, float, bool, str)


class ParameterError(RunError, DesignError):
    """A study parameter has the wrong type, is out of its allowed range, or is not a known choice.

    Raised by :meth:`Study.resolve_params` before any data is read or any run folder is created (the
    command line exits with status 2). It is both a :class:`~servicelab.errors.RunError` (the run could
    not start) and a :class:`~servicelab.errors.DesignError` (the design's parameters are invalid).
    """


@dataclass(frozen=True)
class Param:
    """One study parameter: type, default, help text and the values it may take.

    Parameters
    ----------
    name : str
        Identifier used on the command line (``--set name=value``).
    type : type
        ``int``, ``float``, ``bool`` or ``str``.
    default : Any
        Default value (must be of ``type`` and within the allowed values).
    help : str
        One-line description shown by ``servicelab studies``.
    choices : tuple, optional
        Allowed values.
    min, max : float, optional
        Bounds of a numeric parameter, inclusive unless ``exclusive_min`` / ``exclusive_max``.
    exclusive_min, exclusive_max : bool
        Make the bound strict (``alpha`` in (0, 1): ``min=0, max=1, exclusive_min=True,
        exclusive_max=True``).
    check : callable(value) -> bool, optional
        Any further condition; ``check_message`` (required with it) says what is allowed, e.g.
        ``"0 (all rows) or at least 1000"``.
    check_message : str
        The allowed values in words, completing "must be ...".

    Notes
    -----
    Float values must be finite (``nan`` and ``inf`` are rejected); booleans are never accepted as
    numbers.

    Examples
    --------
    >>> alpha = Param("alpha", float, 0.05, "test level", min=0, max=1, exclusive_min=True,
    ...               exclusive_max=True)
    >>> alpha.parse("0.1")
    0.1
    >>> alpha.allowed
    'in (0, 1)'
    >>> alpha.parse("1.5")
    Traceback (most recent call last):
    ...
    studies.runner.spec.ParameterError: parameter 'alpha' must be in (0, 1), got 1.5
    """

    name: str
    type: type
    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    exclusive_min: bool = False
    exclusive_max: bool = False
    check: Callable[[Any], bool] | None = None
    check_message: str = ""

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise TypeError(f"Param {self.name!r}: type must be one of int, float, bool, str; got {self.type!r}")
        numeric = self.type in (int, float)
        if (self.min is not None or self.max is not None) and not numeric:
            raise TypeError(f"Param {self.name!r}: min/max apply to int and float parameters only")
        if (self.exclusive_min and self.min is None) or (self.exclusive_max and self.max is None):
            raise TypeError(f"Param {self.name!r}: an exclusive bound needs the bound itself")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise TypeError(f"Param {self.name!r}: min {self.min} > max {self.max}")
        if self.check is not None and not self.check_message:
            raise TypeError(f"Param {self.name!r}: a check needs a check_message saying what is allowed")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        if self.type is float and isinstance(self.default, int) and not isinstance(self.default, bool):
            object.__setattr__(self, "default", float(self.default))
        if not isinstance(self.default, self.type) or (self.type is int and isinstance(self.default, bool)):
            raise TypeError(f"Param {self.name!r}: default {self.default!r} is not {self.type.__name__}")
        self.validate(self.default, what="default")

    @property
    def allowed(self) -> str:
        """The allowed values in words (``"in (0, 1)"``, ``">= 1"``, ``"one of ATE, ATT"``), or ``""``."""
        parts = []
        if self.choices is not None:
            parts.append("one of " + ", ".join(repr(c) if c == "" else str(c) for c in self.choices))
        if self.min is not None and self.max is not None:
            lo = "(" if self.exclusive_min else "["
            hi = ")" if self.exclusive_max else "]"
            parts.append(f"in {lo}{_num(self.min)}, {_num(self.max)}{hi}")
        elif self.min is not None:
            parts.append(f"{'>' if self.exclusive_min else '>='} {_num(self.min)}")
        elif self.max is not None:
            parts.append(f"{'<' if self.exclusive_max else '<='} {_num(self.max)}")
        if self.check is not None:
            parts.append(self.check_message)
        return "; ".join(parts)

    def parse(self, raw: Any) -> Any:
        """Convert ``raw`` (a command-line string or a Python value) to the parameter's type and validate it.

        Raises
        ------
        ParameterError
            Wrong type, not finite, out of range, not a choice, or failing ``check``.
        """
        value: Any
        if isinstance(raw, str) and self.type is not str:
            text = raw.strip()
            try:
                if self.type is bool:
                    if text.lower() in _TRUE:
                        value = True
                    elif text.lower() in _FALSE:
                        value = False
                    else:
                        raise ValueError(text)
                else:
                    value = self.type(text)
            except ValueError:
                hint = " (true/false)" if self.type is bool else ""
                raise ParameterError(
                    f"parameter {self.name!r} expects {self.type.__name__}{hint}, got {raw!r}"
                ) from None
        else:
            ok = isinstance(raw, self.type) and not (self.type is int and isinstance(raw, bool))
            if self.type is float and isinstance(raw, int) and not isinstance(raw, bool):
                raw, ok = float(raw), True
            if not ok:
                raise ParameterError(
                    f"parameter {self.name!r} expects {self.type.__name__}, got {type(raw).__name__} "
                    f"{raw!r}"
                )
            value = raw
        self.validate(value)
        return value

    def validate(self, value: Any, what: str = "") -> None:
        """Raise :class:`ParameterError` unless ``value`` (already of the right type) is allowed."""
        label = f"parameter {self.name!r}" + (f" ({what})" if what else "")
        if self.type is float and not math.isfinite(value):
            raise ParameterError(f"{label} must be a finite number, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ParameterError(f"{label} must be one of {list(self.choices)}, got {value!r}")
        below = self.min is not None and (value <= self.min if self.exclusive_min else value < self.min)
        above = self.max is not None and (value >= self.max if self.exclusive_max else value > self.max)
        if below or above:
            raise ParameterError(f"{label} must be {self.allowed}, got {value!r}")
        if self.check is not None and not self.check(value):
            raise ParameterError(f"{label} must be {self.check_message}, got {value!r}")

    def describe(self) -> dict[str, Any]:
        """JSON-safe description (for ``servicelab studies`` and the catalog index)."""
        return {"name": self.name, "type": self.type.__name__, "default": self.default, "help": self.help,
                "allowed": self.allowed}


def _num(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class StudyOutput:
    """What a study's ``run`` returns; the runner writes it into the run folder.

    Parameters
    ----------
    headline : str
        One line with the main number and its interval (printed by ``servicelab run``).
    results : dict
        JSON-safe results, written to ``results.json``.
    tables : dict of str -> DataFrame
        Written as Parquet under ``tables/`` and shown in the report.
    figures : dict of str -> Figure
        Written as PNG under ``figures/`` and embedded in the report.
    report_md : str
        Markdown body of the report (the runner adds the header, diagnostics and provenance).
    diagnostics : tuple of Diagnostic
        Checks; any ``"fail"`` makes the run fail unless ``allow_failed_checks`` is set.
    artifacts : dict of str -> callable(Path)
        Extra files (e.g. ``posterior.nc``) written by the callable into the given path.
    """

    headline: str
    results: dict[str, Any] = field(default_factory=dict)
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    figures: Mapping[str, Figure] = field(default_factory=dict)
    report_md: str = ""
    diagnostics: tuple[Diagnostic, ...] = ()
    artifacts: Mapping[str, Callable[[Path], None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Study:
    """A named, documented, reproducible unit of analysis.

    Parameters
    ----------
    name : str
        Command-line name, e.g. ``"routing-ab"``.
    title : str
        Human title.
    question : str
        The question it answers.
    params : tuple of Param
        Parameters with defaults.
    default_seed : int
        Seed used when the caller gives none.
    run : callable(StudyContext) -> StudyOutput
        The analysis.
    tables : mapping or tuple
        Tables (and optionally columns) the study needs; checked before it runs.
    """

    name: str
    title: str
    question: str
    params: tuple[Param, ...]
    default_seed: int
    run: Callable[[StudyContext], StudyOutput]
    tables: Mapping[str, tuple[str, ...]] | tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise TypeError(f"study {self.name!r} declares parameter(s) {dupes} more than once")

    def resolve_params(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overridden by ``given``, every value checked against its :class:`Param`.

        Call it before opening any data: it only looks at the parameters.

        Raises
        ------
        ParameterError
            An unknown name, a wrong type, or a value outside the allowed range or choices; the
            message names the parameter, the value and what is allowed.

        Examples
        --------
        >>> study = Study("demo", "Demo", "?", (Param("n", int, 3, "count", min=1),), 1, run=print)
        >>> study.resolve_params({"n": "5"})
        {'n': 5}
        """
        known = {p.name: p for p in self.params}
        given = dict(given or {})
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ParameterError(
                f"study {self.name!r} has no parameter(s) {unknown}; known: {sorted(known)} "
                "(see `servicelab studies`)"
            )
        out = {p.name: p.default for p in self.params}
        for key, raw in given.items():
            out[key] = known[key].parse(raw)
        return out

    def describe(self) -> dict[str, Any]:
        """JSON-safe description: name, title, question, default seed and parameters (with allowed values)."""
        return {"name": self.name, "title": self.title, "question": self.question,
                "default_seed": self.default_seed, "params": [p.describe() for p in self.params]}


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """Parse ``["key=value", ...]`` from ``--set`` into a dict (values stay strings)."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value
    return out
