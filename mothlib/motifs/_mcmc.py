"""Markov chain kernels of the null models, on many independent chains at once.

A chain is one (null sample, layer block). Its state is a 0/1 grid of slots ``s * n_t + t``
(source row s, target column t; row ``n_s`` is the bias node where present) kept as a list of
*tokens* plus a token bitmap. Tokens are the edges, or the holes (absent slots) when the block is
more than half full: the chains below move edges and holes alike, so a dense block needs as few
steps as a sparse one.

* :func:`moves` (null "layer-edges"): pick a token and a slot of the same kind (weight or bias)
  uniformly; if the slot holds no token, move the token there unless a live neuron would lose its
  last outgoing edge (sources) or last incoming edge (targets, bias counts). The proposal is
  symmetric, so the chain's stationary law is uniform over all valid networks.
* :func:`swaps` (null "degree-preserving"): pick two tokens (s1, t1), (s2, t2); if the crossed
  slots (s1, t2), (s2, t1) hold no token, swap (a checkerboard switch; in hole form it is the same
  switch on the complement graph). Degrees stay fixed; symmetric proposal, uniform law.

Step t of a :func:`moves` chain c uses the draws ``draw(key_c, 2t)`` and ``draw(key_c, 2t + 1)``;
step t of a :func:`swaps` chain picks its two tokens with ``two_below(splitmix64(key_c, t), L_c)``
(one mix and no division per step: the draws are most of that chain's cost). Each kernel has
a numpy version (vectorised over chains, a Python loop over steps; the readable reference) and a
numba version (a loop over chains and steps) that makes the very same draws and therefore returns
identical states; the tests check that they agree. :func:`swaps_into` runs the numba swap chains
of one block and writes each final grid straight into its sample's full masks (what
``mothlib.motifs.nulls`` uses for engine "numba": no per-chain bool grid, no copies after the chain).
The per-chain loops live in :mod:`mothlib.motifs._chain_kernels`, which
:mod:`mothlib.motifs._mcmc_cuda` compiles for a CUDA GPU (one thread per chain); ``mothlib.motifs.nulls``
picks between that engine and this module's.
"""

from __future__ import annotations

import numba
import numpy as np

from mothlib.core.streams import draw, splitmix64, two_below
from mothlib.motifs._chain_kernels import draw1, move_chain, pack_tokens, swap_chain, swap_tokens


# ----------------------------------------------------------------------------- numpy kernels
def _by_length(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chain order by decreasing length, and the number of chains still running at each step."""
    order = np.argsort(-T, kind="stable")
    Ts = T[order]
    n_steps = int(Ts[0]) if len(Ts) else 0
    running = np.searchsorted(-Ts, -np.arange(n_steps), side="left")  # #{c: T_c > t}
    return order, running


def moves_numpy(tok, L, bit, outdeg, indeg, n_s, n_t, hole, T, keys) -> None:
    """Run the "layer-edges" chains in place (arrays as built by ``mothlib.motifs.nulls``)."""
    order, running = _by_length(T)
    tok_o, bit_o, od_o, id_o = tok[order], bit[order], outdeg[order], indeg[order]
    Lu = L[order].astype(np.uint64)
    ns, nt, ho, ky = n_s[order], n_t[order], hole[order], keys[order]
    nw = ns * nt
    nwu = np.maximum(nw, 1).astype(np.uint64)
    ntu = np.maximum(nt, 1).astype(np.uint64)
    for t, na in enumerate(running):
        r = np.arange(na)
        h1 = draw(ky[:na], 2 * t)
        h2 = draw(ky[:na], 2 * t + 1)
        i = (h1 % Lu[:na]).astype(np.int64)
        a = tok_o[r, i]
        f = np.where(a >= nw[:na], nw[:na] + (h2 % ntu[:na]).astype(np.int64), (h2 % nwu[:na]).astype(np.int64))
        ok = ~bit_o[r, f]
        h = ho[:na]
        rem = np.where(h, f, a)
        add = np.where(h, a, f)
        ntr = nt[:na]
        sr, tr = rem // ntr, rem % ntr
        sa, ta = add // ntr, add % ntr
        ok &= (sr == ns[:na]) | (sa == sr) | (od_o[r, sr] >= 2)
        ok &= (ta == tr) | (id_o[r, tr] >= 2)
        c = r[ok]
        if len(c) == 0:
            continue
        a, f, i = a[ok], f[ok], i[ok]
        sr, tr, sa, ta = sr[ok], tr[ok], sa[ok], ta[ok]
        bit_o[c, a] = False
        bit_o[c, f] = True
        tok_o[c, i] = f
        od_o[c, sr] -= 1
        od_o[c, sa] += 1
        id_o[c, tr] -= 1
        id_o[c, ta] += 1
    tok[order], bit[order], outdeg[order], indeg[order] = tok_o, bit_o, od_o, id_o


def swaps_numpy(tok, L, bit, n_t, T, keys) -> None:
    """Run the "degree-preserving" chains in place."""
    order, running = _by_length(T)
    tok_o, bit_o = tok[order], bit[order]
    Lu = L[order].astype(np.uint64)
    nt, ky = n_t[order], keys[order]
    for t, na in enumerate(running):
        r = np.arange(na)
        i, j = two_below(splitmix64(ky[:na], t), Lu[:na])
        i, j = i.astype(np.int64), j.astype(np.int64)
        a, b = tok_o[r, i], tok_o[r, j]
        ntr = nt[:na]
        sa, ta = a // ntr, a % ntr
        sb, tb = b // ntr, b % ntr
        x = sa * ntr + tb
        y = sb * ntr + ta
        ok = (sa != sb) & (ta != tb) & ~bit_o[r, x] & ~bit_o[r, y]
        c = r[ok]
        if len(c) == 0:
            continue
        a, b, x, y, i, j = a[ok], b[ok], x[ok], y[ok], i[ok], j[ok]
        bit_o[c, a] = False
        bit_o[c, b] = False
        bit_o[c, x] = True
        bit_o[c, y] = True
        tok_o[c, i] = x
        tok_o[c, j] = y
    tok[order], bit[order] = tok_o, bit_o


# ----------------------------------------------------------------------------- numba kernels
# Loops over chains around the per-chain loops of mothlib.motifs._chain_kernels.
@numba.njit(cache=True, nogil=True)
def _moves_numba(tok, L, bit, outdeg, indeg, n_s, n_t, hole, T, keys):  # pragma: no cover
    for c in range(tok.shape[0]):
        move_chain(tok[c], bit[c], outdeg[c], indeg[c], n_s[c], n_t[c], hole[c], T[c], L[c], keys[c])


@numba.njit(cache=True, nogil=True)
def _swaps_numba(tok, L, bit, n_t, T, keys):  # pragma: no cover
    st = np.empty(tok.shape[1], np.int64)
    bb = np.zeros((bit.shape[1] + 63) // 64 + 1, np.uint64)
    for c in range(tok.shape[0]):
        swap_tokens(tok[c], bit[c], st, bb, n_t[c], T[c], L[c], keys[c])


@numba.njit(cache=True, nogil=True)
def _swaps_into_numba(tokens, nt, n_steps, hole, keys, slot_w, slot_b, out_w, out_b):  # pragma: no cover
    # One block's chains (all start at ``tokens``), each written straight into its sample's
    # full masks: slot x < len(slot_w) is out_w[c, slot_w[x]], a bias slot out_b[c, slot_b[...]].
    L = len(tokens)
    n_w = len(slot_w)
    n_all = n_w + len(slot_b)
    st0 = np.empty(max(L, 1), np.int64)
    bb0 = np.zeros((n_all + 63) // 64 + 1, np.uint64)
    low = np.int64(0xFFFFFFFF)
    pack_tokens(tokens, L, nt, st0, bb0)
    st = np.empty_like(st0)
    bb = np.empty_like(bb0)
    for c in range(len(keys)):
        st[:] = st0
        bb[:] = bb0
        swap_chain(st, bb, nt, n_steps, L, keys[c])
        if hole:  # the edges are the slots without a token
            for x in range(n_w):
                out_w[c, slot_w[x]] = True
            for x in range(n_all - n_w):
                out_b[c, slot_b[x]] = True
        v = not hole
        for q in range(L):
            x = (st[q] >> 32) * nt + (st[q] & low)
            if x < n_w:
                out_w[c, slot_w[x]] = v
            else:
                out_b[c, slot_b[x - n_w]] = v

@numba.njit(cache=True)
def _kth_smallest(vals, lo, hi, m, buf):  # pragma: no cover - compiled
    """The m-th smallest of vals[lo:hi] (m >= 1, distinct values)."""
    n = hi - lo
    # The candidates below an upper estimate of the m-th order statistic of n uniform draws
    # (+ 6 standard deviations) hold it almost surely; a full partition otherwise.
    frac = (m + 6.0 * np.sqrt(m) + 16.0) / n
    if frac < 0.5:
        thr = np.uint64(frac * 18446744073709551616.0)
        c = 0
        for j in range(lo, hi):
            if vals[j] < thr:
                buf[c] = vals[j]
                c += 1
        if c >= m:
            return np.partition(buf[:c], m - 1)[m - 1]
    return np.partition(vals[lo:hi].copy(), m - 1)[m - 1]


@numba.njit(cache=True, nogil=True)
def _rejection_numba(keys, n_s, n_t, n_rows, m_w, m_b, max_rounds, out, done):  # pragma: no cover
    n_w = n_s * n_t
    n_all = n_rows * n_t
    vals = np.empty(n_all, np.uint64)
    buf = np.empty(n_all, np.uint64)
    for p in range(keys.shape[0]):
        cand = out[p]
        for rnd in range(max_rounds):
            base = rnd * n_all
            for j in range(n_all):
                vals[j] = draw1(keys[p], base + j)
            # The m smallest draws of each kind: a uniformly random subset of that size.
            for lo, hi, m in ((0, n_w, m_w), (n_w, n_all, m_b)):
                if m == hi - lo:
                    cand[lo:hi] = True
                elif m == 0:
                    cand[lo:hi] = False
                else:
                    kth = _kth_smallest(vals, lo, hi, m, buf)
                    for j in range(lo, hi):
                        cand[j] = vals[j] <= kth
            ok = True
            for s_ in range(n_s):
                row = False
                for t in range(n_t):
                    if cand[s_ * n_t + t]:
                        row = True
                        break
                if not row:
                    ok = False
                    break
            if ok:
                for t in range(n_t):
                    col = False
                    for s_ in range(n_rows):
                        if cand[s_ * n_t + t]:
                            col = True
                            break
                    if not col:
                        ok = False
                        break
            if ok:
                done[p] = True
                break
        if not done[p]:
            cand[:] = False


def rejection_numba(keys, n_s, n_t, n_rows, m_w, m_b, max_rounds):
    """Exact "layer-edges" grids by rejection, the draws of ``mothlib.motifs.nulls._rejection``.

    Returns (grids bool (P, n_rows * n_t), accepted bool (P,)).
    """
    out = np.zeros((len(keys), n_rows * n_t), dtype=bool)
    done = np.zeros(len(keys), dtype=bool)
    _rejection_numba(np.ascontiguousarray(keys, dtype=np.uint64), n_s, n_t, n_rows, m_w, m_b, max_rounds, out, done)
    return out, done


def _check_engine(engine: str) -> None:
    if engine not in ("numpy", "numba", "auto"):
        raise ValueError(f"engine: must be 'numpy', 'numba' or 'auto' here, got {engine!r}")


def moves(*args, engine: str = "auto") -> None:
    """"layer-edges" chains in place; ``engine`` is "numpy", "numba" or "auto" (numba).

    The CUDA engine is :func:`mothlib.motifs._mcmc_cuda.moves` (same arguments, same draws).
    """
    _check_engine(engine)
    if engine == "numpy":
        moves_numpy(*args)
    else:
        _moves_numba(*args)


def swaps_into(tokens, n_t, n_steps, hole, keys, slot_w, slot_b, out_w, out_b) -> None:
    """One block's "degree-preserving" chains (numba), written into zeroed full masks.

    Every chain starts at the block's ``tokens`` (int64) and runs ``n_steps`` swaps with its key
    (the chains of :func:`swaps`, the same draws); sample c's final grid goes to ``out_w[c]``
    (flat weight masks, slot x < len(slot_w) at ``slot_w[x]``) and ``out_b[c]`` (bias slot
    len(slot_w) + k at ``slot_b[k]``), the complement of the tokens where ``hole``.
    """
    _swaps_into_numba(tokens, n_t, n_steps, hole, keys, slot_w, slot_b, out_w, out_b)


def swaps(*args, engine: str = "auto") -> None:
    """"degree-preserving" chains in place (see :func:`moves` for ``engine``; the CUDA engine is
    :func:`mothlib.motifs._mcmc_cuda.swaps`)."""
    _check_engine(engine)
    if engine == "numpy":
        swaps_numpy(*args)
    else:
        _swaps_numba(*args)
