"""Sampling settings, the convergence gate and NetCDF export shared by the Bayesian models.

Every model in :mod:`causal.bayes` samples through :func:`sample_model`, which

- uses PyMC's NUTS by default and nutpie when ``Sampler(backend="nutpie")`` (and it is installed);
- derives the sampler seed from ``rng`` (:func:`servicelab.random.seed_int`) so the same seed
  gives the same draws;
- refuses a partial posterior: PyMC catches ``KeyboardInterrupt`` (Ctrl-C), stops the chain in
  progress and returns what it has (in sequential sampling it even goes on with the next chain,
  then cuts all chains to the shortest or drops the short one). :func:`sample_model` compares
  the chains and draws it got with the request and re-raises :class:`KeyboardInterrupt` when
  they differ, so an interrupted study always ends in a failed run, never in numbers from a
  truncated posterior;
- records the chains, draws and tuning steps actually run on ``idata.attrs``
  (``servicelab_chains``, ``servicelab_draws``, ``servicelab_tune``, ``servicelab_backend``);
  :meth:`ConvergenceGate.check` reports them as the ``"sampled"`` diagnostic;
- runs the :class:`ConvergenceGate` (R-hat, bulk and tail ESS, divergences) and turns it into
  :class:`servicelab.Diagnostic` values that the results carry.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import arviz as az
import numpy as np
import pymc as pm

from servicelab import ConvergenceError, DesignError, Diagnostic, RNGLike, worst_status
from servicelab.random import seed_int

Backend = Literal["pymc", "nutpie"]


def nutpie_available() -> bool:
    """Whether the optional nutpie sampler is importable."""
    return importlib.util.find_spec("nutpie") is not None


@dataclass(frozen=True)
class Sampler:
    """MCMC settings (parameters only; no work here).

    Parameters
    ----------
    draws, tune, chains : int
        Posterior draws and tuning steps per chain, and the number of chains.
    target_accept : float
        NUTS target acceptance rate; raise it (0.95, 0.99) when there are divergences.
    backend : {"pymc", "nutpie"}
        ``"pymc"`` is PyMC's NUTS (the default); ``"nutpie"`` needs the optional ``nutpie`` package.
    cores : int
        Parallel chains. The default 1 samples chains one after the other (shared machines).

    Examples
    --------
    >>> Sampler(draws=500, chains=2).draws
    500
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.9
    backend: Backend = "pymc"
    cores: int = 1

    def __post_init__(self) -> None:
        if self.draws < 1 or self.tune < 0 or self.chains < 1:
            raise DesignError(
                f"Sampler needs draws >= 1, tune >= 0, chains >= 1; got draws={self.draws}, "
                f"tune={self.tune}, chains={self.chains}"
            )
        if not 0.5 <= self.target_accept < 1:
            raise DesignError(f"target_accept must be in [0.5, 1); got {self.target_accept}")
        if self.backend not in ("pymc", "nutpie"):
            raise DesignError(f"backend must be 'pymc' or 'nutpie'; got {self.backend!r}")


@dataclass(frozen=True)
class ConvergenceGate:
    """The checks a posterior must pass before its numbers are reported.

    Parameters
    ----------
    rhat_max : float
        Largest acceptable rank-normalised split R-hat (default 1.01).
    ess_bulk_min, ess_tail_min : float
        Smallest acceptable bulk and tail effective sample sizes (default 400).
    max_divergences : int
        Largest acceptable number of divergent transitions (default 0).

    Examples
    --------
    >>> ConvergenceGate().rhat_max
    1.01
    """

    rhat_max: float = 1.01
    ess_bulk_min: float = 400.0
    ess_tail_min: float = 400.0
    max_divergences: int = 0

    def check(self, idata: az.InferenceData, var_names: Sequence[str] | None = None
              ) -> tuple[Diagnostic, ...]:
        """Diagnostics for ``idata``: rhat, ess_bulk, ess_tail and divergences.

        A check that fails gives a ``"fail"`` diagnostic naming the worst parameter and the fix.
        """
        post = idata.posterior
        names = list(var_names) if var_names is not None else list(post.data_vars)
        names = [n for n in names if n in post.data_vars]
        n_chains = post.sizes["chain"]
        rhat_v, rhat_at = _worst(az.rhat(post, var_names=names), largest=True)
        bulk_v, bulk_at = _worst(az.ess(post, var_names=names, method="bulk"), largest=False)
        tail_v, tail_at = _worst(az.ess(post, var_names=names, method="tail"), largest=False)
        n_div = int(idata.sample_stats["diverging"].sum()) if "sample_stats" in idata else 0
        out = []
        if n_chains < 2:
            out.append(Diagnostic("rhat", "fail",
                                  "R-hat needs at least 2 chains; sample with chains >= 2",
                                  float("nan")))
        else:
            ok = rhat_v <= self.rhat_max
            out.append(Diagnostic(
                "rhat", "ok" if ok else "fail",
                f"max R-hat {rhat_v:.4f} at {rhat_at} (gate <= {self.rhat_max})" + (
                    "" if ok else "; sample longer or reparameterise"),
                rhat_v))
        for name, value, at, floor in (("ess_bulk", bulk_v, bulk_at, self.ess_bulk_min),
                                       ("ess_tail", tail_v, tail_at, self.ess_tail_min)):
            ok = value >= floor
            out.append(Diagnostic(
                name, "ok" if ok else "fail",
                f"min {name.replace('_', ' ')} {value:.0f} at {at} (gate >= {floor:.0f})" + (
                    "" if ok else "; raise draws or chains"),
                value))
        ok = n_div <= self.max_divergences
        out.append(Diagnostic(
            "divergences", "ok" if ok else "fail",
            f"{n_div} divergent transitions (gate <= {self.max_divergences})" + (
                "" if ok else "; raise target_accept or use a non-centred parameterisation"),
            float(n_div)))
        out.append(_sampled_diagnostic(idata))
        return tuple(out)


def _sampled_diagnostic(idata: az.InferenceData) -> Diagnostic:
    """What was actually sampled (chains x draws), failing if fewer than requested."""
    got = sampled(idata)
    want_c = idata.attrs.get("servicelab_chains_requested", got["chains"])
    want_d = idata.attrs.get("servicelab_draws_requested", got["draws"])
    short = got["chains"] < want_c or got["draws"] < want_d
    tune = f" after {got['tune']} tuning steps" if got["tune"] >= 0 else ""
    msg = (f"{got['chains']} chain(s) x {got['draws']} draws{tune} ({got['backend']})"
           + (f"; only part of the {want_c} x {want_d} requested: sampling was interrupted"
              if short else ""))
    return Diagnostic("sampled", "fail" if short else "ok", msg,
                      float(got["chains"] * got["draws"]))


def _worst(ds: Any, *, largest: bool) -> tuple[float, str]:
    best_v, best_at = (-math.inf if largest else math.inf), "-"
    for name, arr in ds.data_vars.items():
        values = np.asarray(arr.values, dtype=float).ravel()
        if values.size == 0:
            continue
        if np.isnan(values).any():
            return (math.inf if largest else 0.0), f"{name} (nan)"
        i = int(np.argmax(values) if largest else np.argmin(values))
        v = float(values[i])
        if (v > best_v) if largest else (v < best_v):
            best_v, best_at = v, name if values.size == 1 else f"{name}[{i}]"
    return best_v, best_at


def sample_model(model: pm.Model, sampler: Sampler, rng: RNGLike = None,
                 var_names: Sequence[str] | None = None) -> az.InferenceData:
    """Sample ``model`` with ``sampler``'s settings; the seed comes from ``rng``.

    Raises
    ------
    KeyboardInterrupt
        When the posterior holds fewer chains or draws than requested: PyMC returns partial
        draws after Ctrl-C instead of raising, and those must never be reported.

    Examples
    --------
    >>> with pm.Model() as m:  # doctest: +SKIP
    ...     _ = pm.Normal("x")
    >>> idata = sample_model(m, Sampler(draws=200, tune=200, chains=2), rng=1)  # doctest: +SKIP
    >>> idata.attrs["servicelab_chains"], idata.attrs["servicelab_draws"]  # doctest: +SKIP
    (2, 200)
    """
    seed = seed_int(rng)
    kwargs: dict[str, Any] = {
        "draws": sampler.draws, "tune": sampler.tune, "chains": sampler.chains,
        "cores": sampler.cores, "target_accept": sampler.target_accept, "random_seed": seed,
        "progressbar": False, "compute_convergence_checks": False, "model": model,
    }
    if var_names is not None:
        kwargs["var_names"] = list(var_names)
    if sampler.backend == "nutpie":
        if not nutpie_available():
            raise DesignError(
                "backend='nutpie' needs the optional nutpie package; install it "
                "(uv pip install nutpie) or use backend='pymc'")
        kwargs["nuts_sampler"] = "nutpie"
        kwargs.pop("cores")
    if sampler.backend == "nutpie":
        idata = pm.sample(**kwargs)
    else:
        with stop_every_chain_on_interrupt() as callback:
            idata = pm.sample(**kwargs, callback=callback)
    return check_complete(idata, chains=sampler.chains, draws=sampler.draws, tune=sampler.tune,
                          backend=sampler.backend, seed=seed)


# signals whose Python handlers raise (KeyboardInterrupt, or a runner's subclass of it)
_STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def stop_every_chain_on_interrupt() -> Iterator[Callable[..., None]]:
    """A ``pm.sample`` callback that stops every chain after the first Ctrl-C, not only the current one.

    PyMC's sequential sampler catches ``KeyboardInterrupt`` per chain: Ctrl-C ends the chain in
    progress and the next chain is sampled in full (minutes at study scale) before the partial
    posterior comes back. The Python handlers of SIGINT (and of SIGTERM/SIGHUP where a runner
    installed one) are wrapped to note the signal before doing what they did; the callback, called
    at every draw, then raises ``KeyboardInterrupt`` at once in each later chain. Outside the main
    thread (no signal handlers there) the callback never raises.

    Examples
    --------
    >>> with stop_every_chain_on_interrupt() as callback:
    ...     callback()  # no signal yet: sampling goes on
    ...     # pm.sample(..., callback=callback)
    """
    seen: list[int] = []
    previous: dict[int, Any] = {}

    def noting(signum: int, frame: Any) -> Any:
        seen.append(signum)
        return previous[signum](signum, frame)

    def callback(trace: Any = None, draw: Any = None) -> None:  # noqa: ARG001 - pm.sample's callback signature
        if seen:
            raise KeyboardInterrupt(f"interrupted by {signal.Signals(seen[0]).name}")

    if threading.current_thread() is threading.main_thread():
        for sig in _STOP_SIGNALS:
            handler = signal.getsignal(sig)
            if callable(handler):  # not SIG_DFL, SIG_IGN or a handler installed outside Python
                previous[sig] = handler
                signal.signal(sig, noting)
    try:
        yield callback
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def check_complete(idata: az.InferenceData, *, chains: int, draws: int, tune: int = 0,
                   backend: str = "pymc", seed: int | None = None) -> az.InferenceData:
    """Stamp what was sampled on ``idata.attrs`` and raise if sampling stopped early.

    Used by :func:`sample_model` and by models sampled inside a library (CausalPy).

    Raises
    ------
    KeyboardInterrupt
        When ``idata`` holds fewer than ``chains`` chains or ``draws`` draws per chain: the
        sampler was interrupted (Ctrl-C) and returned a partial posterior.

    Examples
    --------
    >>> import xarray as xr
    >>> post = xr.Dataset({"x": (("chain", "draw"), np.zeros((1, 5)))})
    >>> try:  # doctest re-raises a KeyboardInterrupt, so the example catches it
    ...     check_complete(az.InferenceData(posterior=post), chains=2, draws=5)
    ... except KeyboardInterrupt as stop:
    ...     print(str(stop)[:61])
    sampling was interrupted: the posterior has 1 chain(s) x 5 dr
    """
    post = idata.posterior
    got_chains, got_draws = int(post.sizes["chain"]), int(post.sizes["draw"])
    idata.attrs.update({"servicelab_chains": got_chains, "servicelab_draws": got_draws,
                        "servicelab_tune": int(tune), "servicelab_backend": backend,
                        "servicelab_chains_requested": int(chains),
                        "servicelab_draws_requested": int(draws)})
    if seed is not None:
        idata.attrs["servicelab_seed"] = int(seed)
    if got_chains < chains or got_draws < draws:
        raise KeyboardInterrupt(
            f"sampling was interrupted: the posterior has {got_chains} chain(s) x {got_draws} "
            f"draw(s), {chains} x {draws} were requested; no numbers are reported from a partial "
            "posterior")
    return idata


def sampled(idata: az.InferenceData) -> dict[str, int | str]:
    """Chains, draws and tuning steps actually in ``idata`` (and the sampler that ran).

    Examples
    --------
    >>> import xarray as xr
    >>> post = xr.Dataset({"x": (("chain", "draw"), np.zeros((2, 5)))})
    >>> sampled(az.InferenceData(posterior=post))["chains"]
    2
    """
    post = idata.posterior
    return {"chains": int(post.sizes["chain"]), "draws": int(post.sizes["draw"]),
            "tune": int(idata.attrs.get("servicelab_tune", -1)),
            "backend": str(idata.attrs.get("servicelab_backend", "unknown"))}


def enforce(diagnostics: Sequence[Diagnostic], *, allow_unconverged: bool, what: str) -> None:
    """Raise :class:`ConvergenceError` when a diagnostic failed, unless explicitly allowed."""
    if allow_unconverged or worst_status(diagnostics) != "fail":
        return
    failed = "; ".join(f"{d.name}: {d.message}" for d in diagnostics if d.status == "fail")
    raise ConvergenceError(
        f"{what} failed the convergence gate ({failed}). Fix the sampler settings, or pass "
        "allow_unconverged=True (a study: --set allow_unconverged=true) to report the numbers "
        "anyway, flagged loudly.")


def save_netcdf(idata: az.InferenceData, path: str | Path) -> Path:
    """Write ``idata`` to ``path`` as NetCDF and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    idata.to_netcdf(str(path))
    return path
