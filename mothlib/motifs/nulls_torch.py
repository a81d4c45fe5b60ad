"""The torch engine of the null models: the same samplers as :mod:`mothlib.motifs.nulls` and
:mod:`mothlib.motifs._mcmc`, batched over samples in torch, on any device (CPU or CUDA).

Every random number is a counter-based draw of :mod:`mothlib.core.streams` (``draw``; the swap chain's
``splitmix64`` and ``two_below``), computed here in int64 with wrapping multiplication and
logical shifts, so the torch engine makes bit for bit the draws of the numpy and numba engines
and returns the very same null networks on every device (the tests check it): null sample k of
a seed does not depend on the engine, the device or the chunk size.

* :func:`rejection`: exact uniform "layer-edges" blocks (the m smallest of one draw per slot);
* :func:`moves` / :func:`swaps`: the Metropolis chains of "layer-edges" and "degree-preserving",
  one torch step for all chains at once (a Python loop over steps, vectorised over chains).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["draw", "moves", "rejection", "splitmix64", "swaps", "to_int64", "two_below"]


def _signed(x: int) -> int:
    return x - (1 << 64) if x >= 1 << 63 else x


_GOLDEN = _signed(0x9E3779B97F4A7C15)
M1 = _signed(0xBF58476D1CE4E5B9)
M2 = _signed(0x94D049BB133111EB)
_SIGN = _signed(1 << 63)


def _shr(x: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 (as uint64 bits)."""
    return (x >> s) & ((1 << (64 - s)) - 1)


def _mix(x: torch.Tensor) -> torch.Tensor:
    x = x ^ _shr(x, 30)
    x = x * M1
    x = x ^ _shr(x, 27)
    x = x * M2
    return x ^ _shr(x, 31)


def draw(keys: torch.Tensor, counter: torch.Tensor | int) -> torch.Tensor:
    """The 64 bits of :func:`mothlib.core.streams.draw` (as int64), broadcasting keys against counter."""
    if isinstance(counter, int):  # Python ints do not wrap: reduce mod 2**64 first
        return _mix(_mix(keys + _signed(counter * 0x9E3779B97F4A7C15 % (1 << 64))))
    return _mix(_mix(keys + counter * _GOLDEN))


def splitmix64(keys: torch.Tensor, t: int) -> torch.Tensor:
    """The 64 bits of :func:`mothlib.core.streams.splitmix64` (as int64) for one step ``t``."""
    return _mix(keys + _signed((t + 1) * 0x9E3779B97F4A7C15 % (1 << 64)))


def two_below(h: torch.Tensor, L: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`mothlib.core.streams.two_below` in int64: products below 2**63 as L < 2**31."""
    return (_shr(h, 32) * L) >> 32, ((h & 0xFFFFFFFF) * L) >> 32


def to_int64(keys: np.ndarray, device: Any) -> torch.Tensor:
    """uint64 numpy keys as the int64 tensor with the same bits."""
    return torch.from_numpy(np.ascontiguousarray(keys, dtype=np.uint64).view(np.int64)).to(device)


def _mod(h: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """(h as uint64) % m for int64 m > 0, exactly: split h = hi * 2**32 + lo."""
    hi = _shr(h, 32)
    lo = h & 0xFFFFFFFF
    r = hi % m
    # (r * 2**32 + lo) % m without overflow: r < m < 2**31 keeps r * 2**32 below 2**63.
    return ((r << 32) + lo) % m


def rejection(
    n_s: int, n_t: int, n_rows: int, m_w: int, m_b: int, keys: np.ndarray, max_rounds: int,
    batch_elements: int, device: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact uniform "layer-edges" grids by rejection, as ``mothlib.motifs.nulls._rejection``.

    Returns (grids bool (P, n_rows, n_t), accepted bool (P,)) on ``device``.
    """
    n_w, n_all = n_s * n_t, n_rows * n_t
    P = len(keys)
    k = to_int64(keys, device)
    out = torch.zeros((P, n_all), dtype=torch.bool, device=device)
    done = torch.zeros(P, dtype=torch.bool, device=device)
    pending = torch.arange(P, device=device)
    batch = max(1, batch_elements // max(n_all, 1))  # bounds memory per round
    slots = torch.arange(n_all, dtype=torch.int64, device=device)
    for rnd in range(max_rounds):
        if len(pending) == 0:
            break
        failed = []
        for b0 in range(0, len(pending), batch):
            ids = pending[b0 : b0 + batch]
            # Unsigned order of the draws = signed order after flipping the sign bit.
            bits = draw(k[ids, None], rnd * n_all + slots[None, :]) ^ _SIGN
            cand = torch.zeros((len(ids), n_all), dtype=torch.bool, device=device)
            for lo, hi, m in ((0, n_w, m_w), (n_w, n_all, m_b)):
                if m == hi - lo:
                    cand[:, lo:hi] = True
                elif m > 0:
                    pick = torch.topk(bits[:, lo:hi], m, dim=1, largest=False, sorted=False).indices
                    cand[:, lo:hi].scatter_(1, pick, True)
            g = cand.view(-1, n_rows, n_t)
            ok = g[:, :n_s, :].any(dim=2).all(dim=1) & g.any(dim=1).all(dim=1)
            out[ids[ok]] = cand[ok]
            done[ids[ok]] = True
            failed.append(ids[~ok])
        pending = torch.cat(failed)
    return out.view(P, n_rows, n_t), done


def _by_length(T: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    order = torch.sort(-T, stable=True).indices
    Ts = T[order].cpu().numpy()
    n_steps = int(Ts[0]) if len(Ts) else 0
    running = np.searchsorted(-Ts, -np.arange(n_steps), side="left")
    return order, running.tolist()


def moves(tok, L, bit, outdeg, indeg, n_s, n_t, hole, T, keys) -> None:
    """"layer-edges" chains in place on torch tensors (as ``mothlib.motifs._mcmc.moves_numpy``)."""
    order, running = _by_length(T)
    tok_o, bit_o, od_o, id_o = tok[order], bit[order], outdeg[order], indeg[order]
    Lc = L[order].clamp(min=1)
    ns, nt, ho, ky = n_s[order], n_t[order], hole[order], keys[order]
    nw = ns * nt
    nwc, ntc = nw.clamp(min=1), nt.clamp(min=1)
    for t, na in enumerate(running):
        r = torch.arange(na, device=tok.device)
        h1 = draw(ky[:na], 2 * t)
        h2 = draw(ky[:na], 2 * t + 1)
        i = _mod(h1, Lc[:na])
        a = tok_o[r, i]
        f = torch.where(a >= nw[:na], nw[:na] + _mod(h2, ntc[:na]), _mod(h2, nwc[:na]))
        ok = ~bit_o[r, f]
        h = ho[:na]
        rem = torch.where(h, f, a)
        add = torch.where(h, a, f)
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


def swaps(tok, L, bit, n_t, T, keys) -> None:
    """"degree-preserving" chains in place on torch tensors (as ``mothlib.motifs._mcmc.swaps_numpy``)."""
    order, running = _by_length(T)
    tok_o, bit_o = tok[order], bit[order]
    Lc = L[order].clamp(min=1)
    nt, ky = n_t[order], keys[order]
    for t, na in enumerate(running):
        r = torch.arange(na, device=tok.device)
        i, j = two_below(splitmix64(ky[:na], t), Lc[:na])
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
