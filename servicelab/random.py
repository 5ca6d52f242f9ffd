"""Random numbers: the one seed module of servicelab. Every random path takes ``rng``; no global state.

Semantics (documented once, used everywhere)
--------------------------------------------
``rng`` is an :data:`RNGLike`: an int seed, a :class:`numpy.random.Generator`, a
:class:`numpy.random.SeedSequence` or ``None`` (fresh OS entropy, not reproducible).

*Consuming* helpers draw from ``rng`` and so **advance** a Generator passed in: calling them twice
with the same Generator gives different numbers, as a stream should. An int seed always gives the
same result.

- :func:`resolve_rng`: a Generator for ``rng`` (a Generator is returned as is).
- :func:`seed_int`: one integer seed for a third-party library (scikit-learn's ``random_state``,
  PyMC's ``random_seed``, DoWhy's refuters), drawn from ``rng``.
- :func:`spawn`: ``n`` independent Generators for replications (``SeedSequence.spawn``).

*Non-consuming* helpers derive seeds from the identity of ``rng`` without drawing from it, so the
same object always gives the same children. Common random numbers need that: two policies
simulated from the same ``rng`` must see the same contacts.

- :func:`root_seed_sequence`: the SeedSequence behind ``rng``.
- :func:`child_seeds`: ``n`` child SeedSequences, the same on every call.
- :func:`named_stream`: the Generator of a named stream (``"arrivals"``, ``"work/billing"``) under a
  SeedSequence; changing one component's draws never reshuffles another's.
"""

from __future__ import annotations

import zlib
from typing import TypeAlias

import numpy as np

RNGLike: TypeAlias = int | np.random.Generator | np.random.SeedSequence | None

__all__ = [
    "RNGLike",
    "child_seeds",
    "named_stream",
    "resolve_rng",
    "root_seed_sequence",
    "seed_int",
    "spawn",
]

_SEED_MAX = 2**31 - 1


def resolve_rng(rng: RNGLike = None) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``rng`` (consuming: a Generator is returned as is).

    Parameters
    ----------
    rng : int, Generator, SeedSequence or None
        A seed, an existing generator (returned as is), a seed sequence, or
        ``None`` for fresh OS entropy.

    Examples
    --------
    >>> bool(resolve_rng(42).integers(10) == resolve_rng(42).integers(10))
    True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def seed_int(rng: RNGLike = None) -> int:
    """An integer seed in ``[0, 2**31 - 1)`` for a third-party library, drawn from ``rng`` (consuming).

    Use it where a library wants ``random_state=int`` or ``random_seed=int``. The same int seed
    gives the same integer; a Generator is advanced by one draw.

    Examples
    --------
    >>> seed_int(3) == seed_int(3)
    True
    >>> g = np.random.default_rng(3)
    >>> seed_int(g) == seed_int(g)
    False
    """
    return int(resolve_rng(rng).integers(0, _SEED_MAX))


def spawn(rng: RNGLike, n: int) -> list[np.random.Generator]:
    """Return ``n`` independent generators derived from ``rng`` (for replications).

    Uses :meth:`numpy.random.SeedSequence.spawn`, so replication ``i`` gets the
    same stream whatever the number of workers that run it. Consuming: spawning twice from the
    same Generator or SeedSequence gives new children; an int seed gives the same ones.

    Examples
    --------
    >>> a = [g.random() for g in spawn(7, 3)]
    >>> b = [g.random() for g in spawn(7, 3)]
    >>> a == b
    True
    """
    if n < 0:
        raise ValueError(f"spawn needs n >= 0, got {n}")
    if isinstance(rng, np.random.Generator):
        return list(rng.spawn(n))
    seq = rng if isinstance(rng, np.random.SeedSequence) else np.random.SeedSequence(rng)
    return [np.random.default_rng(s) for s in seq.spawn(n)]


def root_seed_sequence(rng: RNGLike) -> np.random.SeedSequence:
    """The :class:`~numpy.random.SeedSequence` behind ``rng``, without touching ``rng`` (non-consuming).

    An int or ``None`` is wrapped in a new SeedSequence, a SeedSequence is returned as is and
    a Generator gives the seed sequence its bit generator was created from
    (``rng.bit_generator.seed_seq``); nothing is drawn from it. A generator without one (built
    from a legacy seed) is read through a copy of its current state, so it is not advanced either.

    Examples
    --------
    >>> g = np.random.default_rng(5)
    >>> root_seed_sequence(g).entropy == root_seed_sequence(5).entropy == 5
    True
    """
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if isinstance(rng, np.random.Generator):
        seq = rng.bit_generator.seed_seq
        if isinstance(seq, np.random.SeedSequence):
            return seq
        state = type(rng.bit_generator)()
        state.state = rng.bit_generator.state
        return np.random.SeedSequence(np.random.Generator(state).integers(0, 2**63, 2).tolist())
    return np.random.SeedSequence(rng)


def child_seeds(rng: RNGLike, n: int) -> list[np.random.SeedSequence]:
    """``n`` independent child seeds of ``rng``, the same on every call with the same ``rng``.

    Child ``i`` is ``SeedSequence(root.entropy, spawn_key=root.spawn_key + (i,),
    pool_size=root.pool_size)``: exactly what a fresh ``SeedSequence(rng).spawn(n)[i]`` gives
    for an int seed, but ``rng`` is never advanced (see :func:`root_seed_sequence`).

    Examples
    --------
    >>> s = np.random.SeedSequence(7)
    >>> [c.spawn_key for c in child_seeds(s, 2)] == [c.spawn_key for c in child_seeds(s, 2)]
    True
    >>> bool(child_seeds(7, 3)[2].generate_state(1)[0] == np.random.SeedSequence(7).spawn(3)[2].generate_state(1)[0])
    True
    """
    if int(n) != n or n < 0:
        raise ValueError(f"child_seeds needs an integer n >= 0, got {n!r}")
    root = root_seed_sequence(rng)
    return [
        np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, i), pool_size=root.pool_size)
        for i in range(int(n))
    ]


def named_stream(rng: RNGLike, name: str) -> np.random.Generator:
    """The generator of stream ``name`` under ``rng`` (non-consuming: same name, same numbers).

    The stream's key is a stable hash (CRC-32) of ``name`` appended to the root's spawn key.

    Examples
    --------
    >>> s = np.random.SeedSequence(1)
    >>> named_stream(s, "work/q").random() == named_stream(s, "work/q").random()
    True
    >>> named_stream(1, "a").random() == named_stream(1, "b").random()
    False
    """
    root = root_seed_sequence(rng)
    key = (*root.spawn_key, zlib.crc32(name.encode()))
    return np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=key))
