"""Replication seeds derived without side effects (the basis of common random numbers).

``SeedSequence.spawn`` advances the sequence it is called on and turning a
``Generator`` into seeds by drawing from it advances the generator, so passing
the same object twice would give *different* replications. :func:`child_seeds`
derives the children from the root's ``entropy``, ``spawn_key`` and
``pool_size`` only, so the same int, SeedSequence or Generator object always
gives the same replication seeds, which is what a paired (CRN) comparison needs.
"""

from __future__ import annotations

import numpy as np

from servicelab.random import RNGLike

__all__ = ["child_seeds", "root_seed_sequence"]


def root_seed_sequence(rng: RNGLike) -> np.random.SeedSequence:
    """The :class:`~numpy.random.SeedSequence` behind ``rng``, without touching ``rng``.

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
    >>> child_seeds(7, 3)[2].generate_state(1) == np.random.SeedSequence(7).spawn(3)[2].generate_state(1)
    array([ True])
    """
    if int(n) != n or n < 0:
        raise ValueError(f"child_seeds needs an integer n >= 0, got {n!r}")
    root = root_seed_sequence(rng)
    return [
        np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, i), pool_size=root.pool_size)
        for i in range(int(n))
    ]
