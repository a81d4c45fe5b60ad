"""The Markov chains of :mod:`mothlib.motifs._mcmc` on a CUDA GPU: one CUDA thread per chain.

The torch engine (:mod:`mothlib.motifs.nulls_torch`) vectorises the chains over samples but loops over
the ~10^5 steps in Python: on a GPU every step is a handful of tiny kernel launches, so it is
bound by launch latency, not by the GPU. Here each CUDA thread runs one whole chain: the very
source of the numba CPU kernels (``mothlib.motifs._chain_kernels.swap_tokens`` for
"degree-preserving", ``move_chain`` for "layer-edges", both ``register_jitable`` so that they compile
for either target), with the same counter-based draws, so it returns the numba engine's samples bit for bit. Each thread keeps
its chain's state in its own rows of global memory: tokens (chains, L) and bitset (chains, words).

Chains of one layer block have the same length and lie next to each other (as
``mothlib.motifs.nulls._run_chains`` builds them), so the threads of a warp mostly finish together.

numba.cuda is imported only when a kernel is first used, so importing mothlib never needs CUDA.
Setting the environment variable ``NUMBA_ENABLE_CUDASIM=1`` before numba.cuda is imported runs
the kernels in numba's CUDA simulator (slow Python threads; what the tests use).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from mothlib.motifs._chain_kernels import move_chain, swap_tokens

#: Threads per CUDA block: one warp. Chains are few (samples x blocks, thousands), so small
#: blocks spread them over every multiprocessor.
THREADS_PER_BLOCK = 32


def why_unavailable() -> str | None:
    """None when numba's CUDA target can run kernels here, else the reason in words."""
    try:
        from numba import cuda
    except Exception as exc:  # noqa: BLE001 - any import failure means no CUDA engine
        return f"numba.cuda cannot be imported ({type(exc).__name__}: {exc})"
    try:
        if cuda.is_available():
            return None
    except Exception as exc:  # noqa: BLE001
        return f"numba.cuda.is_available() failed ({type(exc).__name__}: {exc})"
    return "numba.cuda.is_available() is False (no CUDA GPU or driver found by numba)"


def available() -> bool:
    """Whether the CUDA engine can run (numba.cuda imports and finds a GPU or the simulator)."""
    return why_unavailable() is None


#: numba.cuda, set by :func:`_kernels`: a module global, as the CUDA simulator swaps the
#: kernels' global ``cuda`` for its fake module while they run.
cuda: Any = None


@functools.cache
def _kernels() -> tuple[Any, Any]:
    """Compile-on-first-use kernels (swaps, moves); the import of numba.cuda happens here."""
    global cuda
    from numba import cuda as numba_cuda

    cuda = numba_cuda

    @cuda.jit
    def swaps_kernel(tok, L, bit, n_t, T, keys, st, bb):
        # _mcmc._swaps_numba for chain c = this thread, on its own scratch rows st[c], bb[c]
        c = cuda.grid(1)
        if c < tok.shape[0]:
            bbc = bb[c]
            for w in range(bbc.shape[0]):  # device memory starts uninitialised
                bbc[w] = 0
            swap_tokens(tok[c], bit[c], st[c], bbc, n_t[c], T[c], L[c], keys[c])

    @cuda.jit
    def moves_kernel(tok, L, bit, outdeg, indeg, n_s, n_t, hole, T, keys):
        # _mcmc._moves_numba for chain c = this thread
        c = cuda.grid(1)
        if c < tok.shape[0]:
            move_chain(tok[c], bit[c], outdeg[c], indeg[c], n_s[c], n_t[c], hole[c], T[c], L[c], keys[c])

    return swaps_kernel, moves_kernel


def _grid(n_chains: int) -> tuple[int, int]:
    return (n_chains + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK, THREADS_PER_BLOCK


def _require() -> None:
    reason = why_unavailable()
    if reason is not None:
        raise RuntimeError(f"mothlib.motifs._mcmc_cuda: CUDA kernels cannot run: {reason}")


def _launch_swaps(tok, L, bit, n_t, T, keys):
    """Copy to the device and run the swap chains; returns the device arrays (tok, bit)."""
    from numba import cuda

    _require()
    C = tok.shape[0]
    d_tok, d_bit = cuda.to_device(np.ascontiguousarray(tok)), cuda.to_device(np.ascontiguousarray(bit))
    if C == 0:
        return d_tok, d_bit
    st = cuda.device_array((C, max(tok.shape[1], 1)), dtype=np.int64)
    bb = cuda.device_array((C, (bit.shape[1] + 63) // 64 + 1), dtype=np.uint64)  # zeroed per thread
    args = [cuda.to_device(np.ascontiguousarray(a)) for a in (L, n_t, T, keys)]
    d_L, d_nt, d_T, d_keys = args
    _kernels()[0][_grid(C)](d_tok, d_L, d_bit, d_nt, d_T, d_keys, st, bb)
    return d_tok, d_bit


def _launch_moves(tok, L, bit, outdeg, indeg, n_s, n_t, hole, T, keys):
    """Copy to the device and run the move chains; returns (tok, bit, outdeg, indeg) there."""
    from numba import cuda

    _require()
    d = [cuda.to_device(np.ascontiguousarray(a)) for a in (tok, L, bit, outdeg, indeg, n_s, n_t, hole, T, keys)]
    if tok.shape[0]:
        _kernels()[1][_grid(tok.shape[0])](*d)
    return d[0], d[2], d[3], d[4]


def swaps(tok: np.ndarray, L: np.ndarray, bit: np.ndarray, n_t: np.ndarray, T: np.ndarray,
          keys: np.ndarray) -> None:
    """"degree-preserving" chains in place on the GPU, the draws of :func:`mothlib.motifs._mcmc.swaps`.

    Parameters
    ----------
    tok : int32 or int64 ndarray (C, l_max)
        Chain c's tokens (flat slots) in ``tok[c, :L[c]]``; their final slots on return.
    L, n_t, T : int64 ndarray (C,)
        Tokens, grid columns and steps of each chain.
    bit : bool ndarray (C, n_max)
        The token bitmap of each chain (row c's first n_rows * n_t entries), updated in place.
    keys : uint64 ndarray (C,)
        Each chain's key.
    """
    d_tok, d_bit = _launch_swaps(tok, L, bit, n_t, T, keys)
    d_tok.copy_to_host(tok)
    d_bit.copy_to_host(bit)


def moves(tok: np.ndarray, L: np.ndarray, bit: np.ndarray, outdeg: np.ndarray, indeg: np.ndarray,
          n_s: np.ndarray, n_t: np.ndarray, hole: np.ndarray, T: np.ndarray, keys: np.ndarray) -> None:
    """"layer-edges" chains in place on the GPU, the draws of :func:`mothlib.motifs._mcmc.moves`.

    Arrays as for :func:`swaps`, plus ``outdeg`` int64 (C, s_max) and ``indeg`` int64 (C, t_max)
    (each chain's row and column degrees, updated in place), ``n_s`` int64 (C,) (weight rows) and
    ``hole`` bool (C,) (whether the tokens are the absent slots).
    """
    out = _launch_moves(tok, L, bit, outdeg, indeg, n_s, n_t, hole, T, keys)
    for d, host in zip(out, (tok, bit, outdeg, indeg)):
        d.copy_to_host(host)

