"""Result building blocks shared by every package: diagnostics and summaries.

Results are values, not printouts. Each result object in servicelab has

- ``summary()`` returning a :class:`Summary` (``str``, ``_repr_html_``,
  ``to_frame()``, ``to_markdown()``);
- ``plot(ax=None)`` returning the matplotlib Axes;
- ``to_dict()`` returning plain JSON-serialisable data;
- ``diagnostics``: a tuple of :class:`Diagnostic`, shown loudly by the summary
  and by study reports.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Status = Literal["ok", "warning", "fail"]
_RANK: dict[str, int] = {"ok": 0, "warning": 1, "fail": 2}


@dataclass(frozen=True)
class Diagnostic:
    """One check on a result: what was checked, how it came out, and what to do.

    Parameters
    ----------
    name : str
        Short identifier, e.g. ``"srm"`` or ``"rhat"``.
    status : {"ok", "warning", "fail"}
        ``"fail"`` means the headline number should not be trusted.
    message : str
        Plain-language finding, naming the fix when the status is not ok.
    value : float or None
        The checked statistic (a p-value, an R-hat, an F statistic...).

    Examples
    --------
    >>> Diagnostic("srm", "ok", "arm counts match the design (p=0.48)", 0.48).status
    'ok'
    """

    name: str
    status: Status
    message: str
    value: float | None = None

    def __post_init__(self) -> None:
        if self.status not in _RANK:
            raise ValueError(f"Diagnostic status must be ok, warning or fail; got {self.status!r}")

    @property
    def loud(self) -> bool:
        """True when the diagnostic is a warning or a failure."""
        return self.status != "ok"

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON."""
        return _jsonable(asdict(self))


def worst_status(diagnostics: Iterable[Diagnostic]) -> Status:
    """The most severe status among ``diagnostics`` (``"ok"`` when empty)."""
    worst: Status = "ok"
    for d in diagnostics:
        if _RANK[d.status] > _RANK[worst]:
            worst = d.status
    return worst


def diagnostics_frame(diagnostics: Iterable[Diagnostic]) -> pd.DataFrame:
    """Diagnostics as a tidy frame with columns name, status, message, value."""
    rows = [asdict(d) for d in diagnostics]
    return pd.DataFrame(rows, columns=["name", "status", "message", "value"])


@dataclass
class Summary:
    """A printable, exportable summary of a result (modelled on statsmodels' Summary).

    Parameters
    ----------
    title : str
        Heading, e.g. ``"Experiment: routing-v2 vs control"``.
    table : pandas.DataFrame
        The main table, one row per estimate.
    info : dict
        Key facts shown above the table (design, estimand, population, n).
    diagnostics : sequence of Diagnostic
        Shown below the table; warnings and failures are flagged loudly.
    notes : sequence of str
        Free-text notes (definitions, decisions).

    Examples
    --------
    >>> s = Summary("Demo", pd.DataFrame({"effect": [1.0]}), info={"n": 10})
    >>> "Demo" in str(s) and "| effect |" in s.to_markdown()
    True
    """

    title: str
    table: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)
    diagnostics: Sequence[Diagnostic] = ()
    notes: Sequence[str] = ()

    # -- exports ---------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The main table as a DataFrame (a copy)."""
        return self.table.copy()

    @property
    def status(self) -> Status:
        """Worst diagnostic status."""
        return worst_status(self.diagnostics)

    def _banner(self) -> str | None:
        loud = [d for d in self.diagnostics if d.loud]
        if not loud:
            return None
        kind = "FAILED CHECKS" if self.status == "fail" else "WARNINGS"
        return f"!! {kind}: " + "; ".join(f"{d.name}: {d.message}" for d in loud)

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown (no extra dependency)."""
        lines = [f"### {self.title}", ""]
        banner = self._banner()
        if banner:
            lines += [f"> **{banner}**", ""]
        for k, v in self.info.items():
            lines.append(f"- **{k}**: {_fmt(v)}")
        if self.info:
            lines.append("")
        lines += _markdown_table(self.table)
        if self.diagnostics:
            lines += ["", "**Diagnostics**", ""]
            lines += _markdown_table(
                diagnostics_frame(self.diagnostics).assign(
                    status=lambda f: f["status"].map(_status_word)
                )
            )
        for note in self.notes:
            lines += ["", f"*{note}*"]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        width = 78
        out = [self.title, "=" * min(width, max(len(self.title), 20))]
        banner = self._banner()
        if banner:
            out += [banner, "-" * width]
        key_width = max([24] + [len(str(k)) + 2 for k in self.info])
        for k, v in self.info.items():
            out.append(f"{str(k) + ':':<{key_width}}{_fmt(v)}")
        if self.info:
            out.append("-" * width)
        with pd.option_context("display.width", 120, "display.max_columns", 30):
            out.append(format_frame(self.table).to_string(index=False))
        if self.diagnostics:
            out += ["-" * width, "Diagnostics:"]
            out += [f"  [{_status_word(d.status)}] {d.name}: {d.message}" for d in self.diagnostics]
        out += [f"Note: {n}" for n in self.notes]
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        parts = [f"<div class='servicelab-summary'><h4>{html.escape(self.title)}</h4>"]
        banner = self._banner()
        if banner:
            color = "#b00020" if self.status == "fail" else "#b36b00"
            parts.append(
                f"<p style='color:{color};font-weight:bold;border:2px solid {color};"
                f"padding:4px'>{html.escape(banner)}</p>"
            )
        if self.info:
            items = "".join(
                f"<li><b>{html.escape(str(k))}</b>: {html.escape(_fmt(v))}</li>"
                for k, v in self.info.items()
            )
            parts.append(f"<ul>{items}</ul>")
        parts.append(format_frame(self.table).to_html(index=False, border=0))
        if self.diagnostics:
            parts.append("<p><b>Diagnostics</b></p><ul>")
            for d in self.diagnostics:
                style = {"ok": "", "warning": "color:#b36b00", "fail": "color:#b00020"}[d.status]
                parts.append(
                    f"<li style='{style}'>[{_status_word(d.status)}] <b>{html.escape(d.name)}</b>: "
                    f"{html.escape(d.message)}</li>"
                )
            parts.append("</ul>")
        parts += [f"<p><i>{html.escape(n)}</i></p>" for n in self.notes]
        parts.append("</div>")
        return "".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON."""
        return {
            "title": self.title,
            "info": _jsonable(self.info),
            "table": _jsonable(self.table.to_dict(orient="records")),
            "diagnostics": [d.to_dict() for d in self.diagnostics],
            "notes": list(self.notes),
        }


# -- helpers ---------------------------------------------------------------------------------
def _status_word(status: str) -> str:
    return {"ok": "ok", "warning": "WARNING", "fail": "FAIL"}[status]


MISSING = "—"
"""How a missing number (None, NaN, NaT) is shown in every summary and report."""

_P_COLUMN = re.compile(r"(^|_)(p|pvalue|p_value)(_|$)|pvalue", re.IGNORECASE)


def is_pvalue_column(column: str | None) -> bool:
    """Whether a column holds p-values (``pvalue``, ``pvalue_adj``, ``ni_pvalue``, ``p``...)."""
    return bool(column) and bool(_P_COLUMN.search(str(column)))


def format_number(x: Any, column: str | None = None) -> str:
    """The one number format of summaries, Markdown tables, HTML and reports.

    - missing (None, NaN, NaT) -> ``"—"``; integers (and integral floats) without decimals;
    - p-values (by ``column`` name) with two significant digits, ``"<0.0001"`` below 1e-4;
    - otherwise four significant digits without trailing zeros; ``|x| >= 10,000`` rounded with
      thousands separators; ``|x| < 0.001`` in scientific notation (never ``0.0000``).

    Examples
    --------
    >>> [format_number(v) for v in (14.0, 968.602, -56.5643, 0.0552, 2.7e-4, 11560.4, None)]
    ['14', '968.6', '-56.56', '0.0552', '2.70e-04', '11,560', '—']
    >>> format_number(0.000913, "pvalue_adj"), format_number(3e-9, "pvalue")
    ('0.00091', '<0.0001')
    """
    if x is None or x is pd.NaT:
        return MISSING
    if isinstance(x, bool | np.bool_):
        return str(bool(x))
    if isinstance(x, int | np.integer):
        return str(int(x))
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(f):
        return MISSING
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if is_pvalue_column(column) and 0 <= f <= 1:
        return "<0.0001" if f < 1e-4 else f"{f:.2g}"
    ax = abs(f)
    if ax == 0:
        return "0"
    if ax >= 1e15:
        return f"{f:.3e}"
    if ax >= 1e4:
        return f"{f:,.0f}"
    if f.is_integer():
        return f"{f:.0f}"
    if ax < 1e-3:
        return f"{f:.2e}"
    decimals = max(0, 3 - math.floor(math.log10(ax)))
    text = f"{f:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _fmt_float(x: float, column: str | None = None) -> str:
    return format_number(x, column)


def _fmt(v: Any, column: str | None = None) -> str:
    if v is None or v is pd.NaT or v is pd.NA:
        return MISSING
    if isinstance(v, float | np.floating | int | np.integer | bool | np.bool_):
        return format_number(v, column)
    return str(v)


def format_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell of ``frame`` as the string :func:`format_number` gives (column-aware).

    Examples
    --------
    >>> format_frame(pd.DataFrame({"effect": [1.5, float("nan")], "pvalue": [0.2, 1e-9]})
    ...              ).to_dict("list")
    {'effect': ['1.5', '—'], 'pvalue': ['0.2', '<0.0001']}
    """
    out = pd.DataFrame({i: [_fmt(v, str(c)) for v in frame.iloc[:, i].tolist()]
                        for i, c in enumerate(frame.columns)}, index=frame.index)
    out.columns = frame.columns
    return out


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a GitHub-flavoured Markdown table (numbers formatted as in summaries).

    Examples
    --------
    >>> print(markdown_table(pd.DataFrame({"a": [1.5], "n": [14.0]})))
    | a | n |
    |---|---|
    | 1.5 | 14 |
    """
    return "\n".join(_markdown_table(frame))


def _markdown_table(df: pd.DataFrame) -> list[str]:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        cells = [_fmt(v, c).replace("|", "\\|").replace("\n", " ") for v, c in zip(row, cols,
                                                                                  strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _jsonable(obj: Any) -> Any:
    """Convert numpy/pandas scalars and containers into JSON-friendly Python values."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        f = float(obj)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    if obj is pd.NaT:
        return None
    return obj


jsonable = _jsonable


# -- the result protocol ------------------------------------------------------------------------
@runtime_checkable
class Result(Protocol):
    """What every servicelab result offers (checked for each exported type by the test suite).

    ``summary()`` returns a :class:`Summary`, ``plot(ax=None)`` the matplotlib Axes it drew on,
    ``to_dict()`` plain JSON-serialisable data, and ``diagnostics`` is a tuple of
    :class:`Diagnostic`. Results are immutable values; those holding frames or arrays compare by
    identity (``eq=False``) because element-wise ``==`` on a DataFrame has no truth value.

    Examples
    --------
    >>> from simulation import erlang_c
    >>> isinstance(erlang_c(100, 300, 12), Result)
    True
    >>> isinstance(Diagnostic("srm", "ok", "fine"), Result)
    False
    """

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Checks on the result; warnings and failures are shown loudly."""
        ...

    def summary(self) -> Summary:
        """A printable, exportable :class:`Summary`."""
        ...

    def plot(self, ax: Axes | None = None) -> Axes:
        """Draw the result on ``ax`` (a new figure when None) and return the Axes."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (for ``results.json`` and ``glue``)."""
        ...


class ResultMixin:
    """Display behaviour shared by results: notebooks show the summary, ``print`` its text.

    ``_repr_html_`` renders :meth:`summary` (so a notebook cell shows the table, not a dataclass
    repr), ``__str__`` is the summary's text, and ``__repr__`` is one short line. None of them
    raise: a summary that fails to build falls back to the class name and the error, so that a
    broken result never breaks the notebook displaying it. Put the mixin first among the bases;
    a dataclass keeps this ``__repr__`` only when declared with ``repr=False``.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True, eq=False, repr=False)
    ... class Demo(ResultMixin):
    ...     frame: pd.DataFrame
    ...     def summary(self) -> Summary:
    ...         return Summary("Demo result", self.frame)
    >>> r = Demo(pd.DataFrame({"effect": [1.5]}))
    >>> r == r, repr(r)
    (True, "<Demo: 'Demo result'>")
    >>> "<h4>Demo result</h4>" in r._repr_html_()
    True
    """

    def _safe_summary(self) -> Summary | Exception:
        try:
            return self.summary()  # type: ignore[attr-defined]
        except Exception as exc:  # display must never raise; the error is shown instead
            return exc

    def _repr_html_(self) -> str:
        s = self._safe_summary()
        if isinstance(s, Summary):
            return s._repr_html_()
        return (f"<pre>{html.escape(type(self).__name__)}: summary() failed: "
                f"{html.escape(repr(s))}</pre>")

    def __str__(self) -> str:
        s = self._safe_summary()
        return str(s) if isinstance(s, Summary) else f"{type(self).__name__}: summary() failed: {s!r}"

    def __repr__(self) -> str:
        s = self._safe_summary()
        if not isinstance(s, Summary):
            return f"<{type(self).__name__}: summary() failed: {s!r}>"
        status = worst_status(getattr(self, "diagnostics", ()) or ())
        tail = "" if status == "ok" else f" [{status}]"
        return f"<{type(self).__name__}: {s.title!r}{tail}>"
