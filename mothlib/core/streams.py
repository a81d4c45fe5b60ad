"""A counter-based random stream: every draw is a hash of (sample key, counter).

Null sample k of seed s must be the same network whatever chunk it is produced in, so its random
numbers may depend on (s, k) only. Rather than one generator object per sample (a Python loop over
samples), every draw is ``splitmix64(splitmix64(key_k + counter * GOLDEN))``: vectorised over
any number of samples in numpy, and computable one draw at a time inside a numba kernel with the
very same result.

The degree-preserving swap chain, whose cost is almost all its draws, uses a cheaper stream:
step t of a chain takes :func:`splitmix64` output t of its key (one mix) and turns it into two
positions with :func:`two_below` (multiply-shift instead of a 64-bit division).
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np

from mothlib.core.seeds import SeedLike, as_seed_sequence

__all__ = ["GOLDEN", "M1", "M2", "S27", "S30", "S31", "S32", "LOW32", "mix", "draw", "splitmix64", "two_below", "base_key", "sample_keys", "sub_keys"]

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)
S30 = np.uint64(30)
S27 = np.uint64(27)
S31 = np.uint64(31)
S32 = np.uint64(32)
LOW32 = np.uint64(0xFFFFFFFF)


@overload
def mix(x: np.uint64) -> np.uint64: ...


@overload
def mix(x: np.ndarray) -> np.ndarray: ...


def mix(x: Any) -> Any:
    """The splitmix64 finaliser, elementwise on uint64 (wrapping arithmetic)."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = x ^ (x >> S30)
        x = x * M1
        x = x ^ (x >> S27)
        x = x * M2
        x = x ^ (x >> S31)
    return x


def draw(keys: np.ndarray, counter: np.ndarray | int) -> np.ndarray:
    """64 random bits per (key, counter), broadcasting ``keys`` against ``counter``."""
    with np.errstate(over="ignore"):
        c = np.asarray(counter, dtype=np.uint64) * GOLDEN
        return mix(mix(np.asarray(keys, dtype=np.uint64) + c))


def splitmix64(keys: np.ndarray, t: np.ndarray | int) -> np.ndarray:
    """Output ``t`` (from 0) of splitmix64 seeded with each key: ``mix(key + (t + 1) * GOLDEN)``.

    One mix per draw (not :func:`draw`'s two); a compiled loop gets the same numbers from a
    running counter, ``ctr += GOLDEN; mix(ctr)``.
    """
    with np.errstate(over="ignore"):
        c = (np.asarray(t, dtype=np.uint64) + np.uint64(1)) * GOLDEN
        return mix(np.asarray(keys, dtype=np.uint64) + c)


def two_below(h: np.ndarray, L: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """Two positions in [0, L) from each 64-bit h: ``(hi32 * L) >> 32`` and ``(lo32 * L) >> 32``.

    Multiply-shift of the two 32-bit halves of ``h`` (uint64); ``L`` must be below 2**31 (no
    overflow). Each position has probability within 2**-32 of 1/L; a chain whose proposal is
    symmetric whatever the law of its positions keeps its exact stationary law.
    """
    h = np.asarray(h, dtype=np.uint64)
    L = np.asarray(L, dtype=np.uint64)
    return (h >> S32) * L >> S32, (h & LOW32) * L >> S32


def base_key(seed: SeedLike) -> np.uint64:
    """One 64-bit key from a seed (None draws fresh entropy from the operating system)."""
    seq = as_seed_sequence(seed)
    return np.uint64(seq.generate_state(1, np.uint64)[0])


def sample_keys(seed: SeedLike, start: int, stop: int, salt: int) -> np.ndarray:
    """Keys of samples ``start .. stop-1``: each depends on (seed, salt, k) only."""
    base = mix(np.uint64(base_key(seed)) ^ mix(np.uint64(salt)))
    with np.errstate(over="ignore"):
        return mix(base + np.arange(start, stop, dtype=np.uint64) * GOLDEN)


def sub_keys(keys: np.ndarray, index: int) -> np.ndarray:
    """Independent keys for part ``index`` (e.g. a layer block) of every sample."""
    with np.errstate(over="ignore"):
        return mix(np.asarray(keys, dtype=np.uint64) ^ mix(np.uint64(index + 1) * M2))
