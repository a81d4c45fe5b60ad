"""The per-chain loops of the null models' Markov chains, compiled for the CPU and for CUDA.

Every function here is ``register_jitable``: the same source compiles into the numba CPU kernels
of :mod:`mothlib.motifs._mcmc` and into the CUDA kernels of :mod:`mothlib.motifs._mcmc_cuda` (one
thread per chain), so both make the very same draws and return identical states. Both modules
import this one and neither imports the other.
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

from mothlib.core.streams import GOLDEN, M1, M2, S27, S30, S31

__all__ = ["mix1", "draw1", "move_chain", "swap_chain", "pack_tokens", "swap_tokens"]


@register_jitable(inline="always")
def mix1(x):
    """:func:`mothlib.core.streams.mix` on one uint64 (the same constants, so the same draws)."""
    x = x ^ (x >> S30)
    x = x * M1
    x = x ^ (x >> S27)
    x = x * M2
    return x ^ (x >> S31)


@register_jitable(inline="always")
def draw1(key, counter):
    """:func:`mothlib.core.streams.draw` for one (key, counter)."""
    return mix1(mix1(key + np.uint64(counter) * GOLDEN))


@register_jitable
def move_chain(tok, bit, outdeg, indeg, ns, nt, hole, n_steps, L, key):  # pragma: no cover
    """One "layer-edges" chain in place: its rows of the arrays of :func:`mothlib.motifs._mcmc.moves`."""
    nw = ns * nt
    Lu = np.uint64(max(L, 1))
    for t in range(n_steps):
        i = np.int64(draw1(key, 2 * t) % Lu)
        h2 = draw1(key, 2 * t + 1)
        a = np.int64(tok[i])
        if a >= nw:
            f = nw + np.int64(h2 % np.uint64(max(nt, 1)))
        else:
            f = np.int64(h2 % np.uint64(max(nw, 1)))
        if bit[f]:
            continue
        if hole:
            rem, add = f, a
        else:
            rem, add = a, f
        sr, tr = rem // nt, rem % nt
        sa, ta = add // nt, add % nt
        if sr != ns and sa != sr and outdeg[sr] < 2:
            continue
        if ta != tr and indeg[tr] < 2:
            continue
        bit[a] = False
        bit[f] = True
        tok[i] = f
        outdeg[sr] -= 1
        outdeg[sa] += 1
        indeg[tr] -= 1
        indeg[ta] += 1


@register_jitable
def swap_chain(st, bb, nt, n_steps, L, key):  # pragma: no cover
    """One "degree-preserving" chain of ``n_steps`` swaps in place on its packed state ``st``, ``bb``."""
    # Tokens as row << 32 | column in ``st`` (one cache line per token, no integer division
    # inside the loop), their slots set in the bitset ``bb`` (1/8 of a bool row: it stays in
    # the L1 cache). The step is branch-free (a rejected swap changes nothing): the accept
    # test is a coin flip the CPU cannot predict.
    one = np.uint64(1)
    low = np.int64(0xFFFFFFFF)
    low_u = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    Lu = np.uint64(max(L, 1))
    ctr = key
    for _ in range(n_steps):
        # two_below(splitmix64(key, t), L) of mothlib.core.streams
        ctr += GOLDEN
        h = mix1(ctr)
        i = np.int64(((h >> s32) * Lu) >> s32)
        j = np.int64(((h & low_u) * Lu) >> s32)
        pa = st[i]
        pb = st[j]
        sa, ta = pa >> 32, pa & low
        sb, tb = pb >> 32, pb & low
        a = sa * nt + ta
        b = sb * nt + tb
        x = sa * nt + tb
        y = sb * nt + ta
        # When sa == sb or ta == tb, {x, y} = {a, b} (both set): never accepted.
        free = ((bb[x >> 6] >> np.uint64(x & 63)) | (bb[y >> 6] >> np.uint64(y & 63))) & one
        ok = (sa != sb) & (ta != tb) & (free == 0)
        m = np.uint64(ok)
        # Accepted: a, b, x, y are four distinct slots; rejected: m = 0 changes nothing.
        bb[a >> 6] &= ~(m << np.uint64(a & 63))
        bb[b >> 6] &= ~(m << np.uint64(b & 63))
        bb[x >> 6] |= m << np.uint64(x & 63)
        bb[y >> 6] |= m << np.uint64(y & 63)
        # A swap keeps each token's row: only the columns trade.
        st[i] = (sa << 32) | (tb if ok else ta)
        st[j] = (sb << 32) | (ta if ok else tb)


@register_jitable(inline="always")
def pack_tokens(tokens, L, nt, st, bb):  # pragma: no cover
    """The chain state of :func:`swap_chain`: tokens (flat slots) as row << 32 | column in
    ``st``, their slots set in the (zeroed) bitset ``bb``."""
    one = np.uint64(1)
    for q in range(L):
        x = np.int64(tokens[q])
        st[q] = ((x // nt) << 32) | (x % nt)
        bb[x >> 6] |= one << np.uint64(x & 63)


@register_jitable
def swap_tokens(tk, row, st, bb, nt, n_steps, L, key):  # pragma: no cover
    """One "degree-preserving" chain in place on its rows ``tk`` (tokens) and ``row`` (bitmap).

    The chain runs on the scratch ``st`` and ``bb`` (zeroed; zero again on return).
    """
    low = np.int64(0xFFFFFFFF)
    pack_tokens(tk, L, nt, st, bb)
    for q in range(L):
        row[tk[q]] = False  # the slots set in the row are the tokens: set again below
    swap_chain(st, bb, nt, n_steps, L, key)
    for q in range(L):
        x = (st[q] >> 32) * nt + (st[q] & low)
        tk[q] = x
        row[x] = True
        bb[x >> 6] = 0  # every set word holds a token: the bitset is zero again
