"""What a study is: its question, parameters, data needs and ``run`` function."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from servicelab.errors import RunError
from servicelab.results import Diagnostic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from studies.runner.context import StudyContext

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One study parameter with its type, default and help text.

    Parameters
    ----------
    name : str
        Identifier used on the command line (``--set name=value``).
    type : type
        ``int``, ``float``, ``bool`` or ``str``.
    default : Any
        Default value (must be of ``type``).
    help : str
        One-line description shown by ``servicelab studies``.
    choices : tuple, optional
        Allowed values.

    Examples
    --------
    >>> Param("alpha", float, 0.05, "test level").parse("0.1")
    0.1
    """

    name: str
    type: type
    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None

    def parse(self, raw: Any) -> Any:
        """Convert ``raw`` (a string from the command line, or a Python value) to the parameter's type."""
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
                raise RunError(
                    f"parameter {self.name!r} expects {self.type.__name__}, got {raw!r}"
                ) from None
        else:
            ok = isinstance(raw, self.type) and not (self.type is int and isinstance(raw, bool))
            if self.type is float and isinstance(raw, int) and not isinstance(raw, bool):
                raw, ok = float(raw), True
            if not ok:
                raise RunError(
                    f"parameter {self.name!r} expects {self.type.__name__}, got {type(raw).__name__} "
                    f"{raw!r}"
                )
            value = raw
        if self.choices is not None and value not in self.choices:
            raise RunError(f"parameter {self.name!r} must be one of {list(self.choices)}, got {value!r}")
        return value


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

    def resolve_params(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overridden by ``given``; unknown names and wrong types are errors."""
        known = {p.name: p for p in self.params}
        given = dict(given or {})
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise RunError(
                f"study {self.name!r} has no parameter(s) {unknown}; known: {sorted(known)}"
            )
        out = {p.name: p.default for p in self.params}
        for key, raw in given.items():
            out[key] = known[key].parse(raw)
        return out


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """Parse ``["key=value", ...]`` from ``--set`` into a dict (values stay strings)."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RunError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value
    return out
