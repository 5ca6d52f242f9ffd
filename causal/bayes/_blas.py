"""Link PyTensor's C code to the OpenBLAS that ships inside the scipy wheel.

PyTensor compiles its BLAS ops (``CGemv``, ``Gemm``, ``Dot22``...) against the library named by its
``blas__ldflags`` setting. Unset, it searches the system for MKL, ``libblas`` or ``libopenblas``
(compiling a test program for each, a few seconds at every import) and, on a machine where
numpy and scipy came from pip, finds none: it warns "PyTensor could not link to a BLAS
installation" and falls back to slower NumPy C-API calls.

Yet an OpenBLAS is installed: scipy's wheel carries ``scipy.libs/libscipy_openblas-*.so`` (the
``scipy-openblas32`` build, 32-bit integers as PyTensor's prototypes expect). Since
scipy-openblas 0.3.24.95 its symbols carry a ``scipy_`` prefix (``scipy_dgemm_``; numpy PR
#25151), so a plain ``-l`` link leaves ``dgemm_`` undefined. :func:`blas_ldflags` therefore
returns PyTensor's documented ``blas__ldflags`` (``-L<dir> -l<lib> -Wl,-rpath,<dir>``) plus one
``-D<routine>_=scipy_<routine>_`` per BLAS routine the library exports: PyTensor passes the
non-``-l``/``-L`` flags to the compiler of every BLAS op, so its declarations and calls of
``dgemm_`` compile to ``scipy_dgemm_``.

:func:`configure_pytensor_blas` puts that into ``PYTENSOR_FLAGS`` before PyTensor is imported
(``causal.bayes`` calls it first thing), and leaves everything alone when the user configured
BLAS already (``blas__ldflags`` in ``PYTENSOR_FLAGS`` or in a ``.pytensorrc``), when PyTensor was
imported before, or when scipy has no bundled OpenBLAS (conda builds link a system BLAS, which
PyTensor finds itself). ``SERVICELAB_PYTENSOR_BLAS=0`` turns it off (the benchmark's baseline).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["blas_ldflags", "configure_pytensor_blas"]

# every Fortran BLAS routine PyTensor's C code declares (tensor/blas_headers.py), without the
# type letter
_ROUTINES = ("gemm", "gemv", "ger", "gerc", "geru", "dot", "dotc", "dotu", "axpy", "scal", "copy",
             "swap", "nrm2", "asum", "rot", "rotg", "symm", "symv", "syrk", "syr2k", "hemm", "herk",
             "her2k", "trmm", "trmv", "trsm", "trsv")
_PREFIX = "scipy_"


def bundled_openblas() -> Path | None:
    """Path of the 32-bit-integer OpenBLAS inside the installed scipy wheel, or ``None``."""
    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.submodule_search_locations:
        return None
    libs = Path(next(iter(spec.submodule_search_locations))).parent / "scipy.libs"
    # the ILP64 build (64-bit integers) carries a "64_" suffix; PyTensor declares int arguments
    found = sorted(p for p in libs.glob("libscipy_openblas*.so") if "64_" not in p.name)
    return found[0] if found else None


def blas_ldflags(library: Path | None = None) -> str:
    """PyTensor ``blas__ldflags`` for scipy's bundled OpenBLAS ('' if there is none).

    Examples
    --------
    >>> flags = blas_ldflags()
    >>> flags == "" or "-Ddgemm_=scipy_dgemm_" in flags
    True
    """
    library = library if library is not None else bundled_openblas()
    if library is None or sys.platform != "linux":
        return ""
    lib = ctypes.CDLL(str(library))
    if not hasattr(lib, f"{_PREFIX}dgemm_") and not hasattr(lib, "dgemm_"):
        return ""
    prefix = _PREFIX if hasattr(lib, f"{_PREFIX}dgemm_") else ""
    name = library.name.removeprefix("lib").removesuffix(".so")
    flags = [f"-L{library.parent}", f"-l{name}", f"-Wl,-rpath,{library.parent}"]
    if prefix:
        flags += [f"-D{t}{r}_={prefix}{t}{r}_" for t in "sdcz" for r in _ROUTINES
                  if hasattr(lib, f"{prefix}{t}{r}_")]
    return " ".join(flags)


def _user_configured() -> bool:
    if "blas__ldflags" in os.environ.get("PYTENSOR_FLAGS", ""):
        return True
    rc = os.environ.get("PYTENSORRC", "~/.pytensorrc")
    for name in rc.split(os.pathsep):
        path = Path(name).expanduser()
        try:
            text = path.read_text()
        except OSError:
            continue
        if "ldflags" in text:
            return True
    return False


def configure_pytensor_blas() -> str:
    """Point PyTensor at scipy's OpenBLAS through ``PYTENSOR_FLAGS``; return what was set.

    Call it before ``import pytensor`` (``causal.bayes`` does). Returns ``""`` when nothing was
    changed (already configured by the user, PyTensor already imported, or no bundled OpenBLAS).
    """
    if ("pytensor" in sys.modules or _user_configured()
            or os.environ.get("SERVICELAB_PYTENSOR_BLAS") == "0"):
        return ""
    flags = blas_ldflags()
    if not flags:
        return ""
    entry = f'blas__ldflags="{flags}"'
    current = os.environ.get("PYTENSOR_FLAGS", "").strip(", ")
    os.environ["PYTENSOR_FLAGS"] = f"{current},{entry}" if current else entry
    return flags
