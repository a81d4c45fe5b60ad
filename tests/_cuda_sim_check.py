"""The CUDA engine against the numba engine in numba's CUDA simulator (run by test_mcmc_cuda.py).

Run as a script: ``NUMBA_ENABLE_CUDASIM=1`` must be set before numba.cuda is first imported, so
this runs in a fresh process. ``python tests/_cuda_sim_check.py [GROUP ...]`` with GROUPs among
"swaps", "moves", "sample_null" (the last also checks motif_zscores, sample_nulls and
motif_zscores_many; default: all three); prints one line per case and "ok" at the end. The
simulator is the default; ``NUMBA_ENABLE_CUDASIM=0`` on a machine with a GPU checks the real
kernels instead.
"""

from __future__ import annotations

import os
import sys
import warnings

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
# The simulator runs the kernels on numpy scalars, which warn on the (intended) uint64 wrap-around.
warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from _nets import random_masks  # noqa: E402

from mothlib.motifs import _mcmc  # noqa: E402
from mothlib.motifs import _mcmc_cuda  # noqa: E402
from mothlib.motifs import nulls  # noqa: E402
from mothlib.core.streams import sample_keys, sub_keys  # noqa: E402
from mothlib.motifs.counts import remove_ineffectual  # noqa: E402
from mothlib.motifs.significance import motif_zscores, motif_zscores_many  # noqa: E402

# (layer sizes, density, bias, steps per token, samples): sparse blocks move edges, dense ones
# holes; the blocks of a network have different token counts, so its chains different lengths T.
CASES = [
    ([3, 4, 3], 0.35, True, 2.0, 3),
    ([4, 5, 3], 0.8, True, 1.0, 2),
    ([5, 6, 6, 3], 0.5, False, 1.5, 2),
    ([3, 3], 0.6, True, 0.5, 4),
    ([4, 6, 3], 0.45, True, 6.0, 20),  # 40 chains: more than one CUDA block of threads
]


def _arrays(sizes, density, bias, spt, n, null, seed):
    ws, bs = random_masks(np.random.default_rng(seed), sizes, density, bias)
    ws, bs, _ = remove_ineffectual(ws, bs)
    blocks = nulls._live_blocks(ws, [None] * len(ws) if bs is None else bs, null)
    keys = sample_keys(seed, 0, n, salt=7)
    jobs = [(i, np.arange(n), sub_keys(keys, i)) for i, b in enumerate(blocks) if b.grid.size]
    return nulls._chain_arrays(blocks, nulls._chain_specs(blocks, jobs, spt))


def check_kernels(null):
    for seed, (sizes, density, bias, spt, n) in enumerate(CASES):
        ref = _arrays(sizes, density, bias, spt, n, null, seed)
        got = tuple(a.copy() for a in ref)
        start = ref[0].copy()
        tok, L, bit, outdeg, indeg, n_s, n_t, hole, T, keys = ref
        if null == "layer-edges":
            _mcmc.moves(*ref, engine="numba")
            _mcmc_cuda.moves(*got)
        else:
            _mcmc.swaps(tok, L, bit, n_t, T, keys, engine="numba")
            _mcmc_cuda.swaps(got[0], got[1], got[2], got[6], got[8], got[9])
        for k, (a, b) in enumerate(zip(ref, got)):  # bit's padding is the same uninitialised copy
            assert np.array_equal(a, b), (null, sizes, k)
        moved = int((ref[0] != start).any(axis=1).sum())
        assert moved or T.max() < 8, "the chains never moved: an empty check"
        print(f"{null} kernels {sizes} density {density} hole {sorted(set(hole.tolist()))} "
              f"T {sorted(set(T.tolist()))}: identical, {moved} of {len(T)} chains moved")


def check_sample_null():
    ws, bs = random_masks(np.random.default_rng(4), [5, 6, 6, 3], 0.55, True)
    ws[1][:, :2] = False  # pruned weights: live grids smaller than the layers
    ws, bs, _ = remove_ineffectual(ws, bs)
    for null, method in (("layer-edges", "mcmc"), ("layer-edges", "auto"), ("degree-preserving", "auto")):
        kw = dict(n_null=3, null_model=null, seed=5, start=2, method=method)
        a = nulls.sample_null(ws, bs, engine="numba", **kw)
        b = nulls.sample_null(ws, bs, engine="cuda", **kw)
        for l in range(len(ws)):
            assert np.array_equal(a[0][l], b[0][l]) and np.array_equal(a[1][l], b[1][l]), (null, method, l)
        print(f"sample_null {null} {method}: identical")
    for null in nulls.NULL_MODELS:
        kw = dict(n_null=5, null_model=null, seed=1, chunk_size=2, device="cpu", method="mcmc", clean=True)
        pd.testing.assert_frame_equal(motif_zscores(ws, bs, engine="numba", **kw),
                                      motif_zscores(ws, bs, engine="cuda", **kw))
        print(f"motif_zscores {null}: identical")
    # Two networks of different shapes, their chains in one run of the kernels.
    other = remove_ineffectual(*random_masks(np.random.default_rng(6), [4, 5, 3], 0.6, False))[:2]
    nets = [(ws, bs), other]
    for null in nulls.NULL_MODELS:
        kw = dict(n_null=2, null_model=null, start=1, method="mcmc")
        got = nulls.sample_nulls(nets, seeds=[5, 6], engine="cuda", **kw)
        for (w, b), s, (gw, gb) in zip(nets, [5, 6], got):
            rw, rb = nulls.sample_null(w, b, seed=s, engine="numba", **kw)
            assert all(np.array_equal(x, y) for x, y in zip(rw, gw)), null
            assert (rb is None) == (gb is None) and all(np.array_equal(x, y) for x, y in zip(rb or [], gb or []))
        print(f"sample_nulls {null}: identical")
        kw = dict(n_null=3, null_model=null, chunk_size=2, device="cpu", method="mcmc", clean=True)
        tables = motif_zscores_many(nets, seeds=[1, 2], engine="cuda", **kw)
        for (w, b), s, t in zip(nets, [1, 2], tables):
            pd.testing.assert_frame_equal(t, motif_zscores(w, b, seed=s, engine="numba", **kw))
        print(f"motif_zscores_many {null}: identical")


if __name__ == "__main__":
    assert _mcmc_cuda.available(), _mcmc_cuda.why_unavailable()
    groups = sys.argv[1:] or ["swaps", "moves", "sample_null"]
    for group in groups:
        print(f"== {group}")
        if group == "swaps":
            check_kernels("degree-preserving")
        elif group == "moves":
            check_kernels("layer-edges")
        else:
            check_sample_null()
    print("ok")
