"""The object a study's ``run`` receives: parameters, seed, RNG and recorded data access."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from studies.runner.progress import Progress
from studies.warehouse import Warehouse, frame_sha256
from studies.warehouse.base import portable_sha256

T = TypeVar("T")

if TYPE_CHECKING:
    from studies.runner.quality import DataQuality, TableCheck


@dataclass
class StudyContext:
    """Parameters, randomness and data access for one study run.

    Every query goes through :meth:`query`, which binds parameters and records two content hashes
    of the result: ``sha256`` (exact) and ``portable_sha256`` (the same on every engine; see
    :func:`~studies.warehouse.base.portable_sha256`), which forms the run's data fingerprint.
    """

    study: str
    params: dict[str, Any]
    seed: int
    warehouse: Warehouse
    rng: np.random.Generator = field(init=False)
    queries: list[dict[str, Any]] = field(default_factory=list)
    reporter: Progress = field(default_factory=Progress.silent, repr=False)
    runs_dir: Path | None = None  # where this run's folder lives (other runs can be read from it)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run a parameterised query on the analysis tables and record its fingerprint."""
        frame = self.warehouse.query(sql, params)
        self.queries.append(
            {
                "sql": " ".join(sql.split()),
                "params": _plain(params),
                "rows": len(frame),
                "sha256": frame_sha256(frame),
                "portable_sha256": portable_sha256(frame),
            }
        )
        return frame

    def check_data(self, checks: Sequence[TableCheck]) -> DataQuality:
        """Count NULL and non-finite required values and apply the ``max_missing`` rule before
        the analysis; read the checked tables through the returned
        :meth:`~studies.runner.quality.DataQuality.table`. See :mod:`studies.runner.quality`.
        """
        from studies.runner.quality import check_data

        return check_data(self, checks)

    @property
    def is_synthetic(self) -> bool:
        """Whether the data are the synthetic world (so the truth is known)."""
        return self.warehouse.is_synthetic

    def truth(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
              ) -> pd.DataFrame | None:
        """Query a ground-truth table, or ``None`` when the warehouse is not the synthetic world.

        Use it only to put the truth next to an estimate in a report, never to estimate.
        """
        if not self.is_synthetic:
            return None
        return self.warehouse.query(sql, params, allow_truth=True)

    # -- progress (see studies.runner.progress) --------------------------------------------------
    def stage(self, name: str) -> Any:
        """Start the next main stage of the run, e.g. ``ctx.stage("fitting the model")``.

        Prints the stage with the elapsed time (and, after a comparable earlier run, the time left)
        on stderr; ``with ctx.stage(...):`` also ends it at the end of the block.
        """
        return self.reporter.stage(name)

    def progress(self, iterable: Iterable[T], total: int | None = None, stage: str | None = None
                 ) -> Iterator[T]:
        """Iterate with a progress display (count, rate, time left) on stderr."""
        return self.reporter.iterate(iterable, total=total, stage=stage)


def _plain(params: Any) -> Any:
    if params is None:
        return []
    if isinstance(params, Mapping):
        return {str(k): _scalar(v) for k, v in params.items()}
    return [_scalar(v) for v in params]


def _scalar(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    return str(v)
