"""Activation contributions against a per-sample loop; activation masks keep the block counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mothlib.networks.activations import activation_masks, jaccard, mean_contributions

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _slow_contributions(ws, bs, X):
    """Per network and sample, |w_ij a_j| for every connection (bias: |b_i| * 1), averaged."""
    out = []
    for e in range(len(ws[0])):
        blocks = [np.zeros((w.shape[1], w.shape[2] + 1)) for w in ws]
        for x in X.astype(np.float64):
            a = x
            for l, (w, b) in enumerate(zip(ws, bs)):
                for i in range(w.shape[1]):
                    for j in range(w.shape[2]):
                        blocks[l][i, j] += abs(w[e, i, j] * a[j])
                    blocks[l][i, -1] += abs(b[e, i] * 1.0)
                a = np.tanh(w[e].astype(np.float64) @ a + b[e])
        out.append([blk / len(X) for blk in blocks])
    return [np.stack([o[l] for o in out]) for l in range(len(ws))]


@settings(max_examples=20, deadline=None)
@given(sizes=st.lists(st.integers(1, 4), min_size=2, max_size=4), batch=st.integers(1, 7),
       seed=st.integers(0, 2**32 - 1))
def test_mean_contributions_match_a_per_sample_loop(sizes, batch, seed):
    rng = np.random.default_rng(seed)
    ws = [rng.normal(size=(2, sizes[i + 1], sizes[i])).astype(np.float32) for i in range(len(sizes) - 1)]
    bs = [rng.normal(size=(2, sizes[i + 1])).astype(np.float32) for i in range(len(sizes) - 1)]
    X = rng.normal(size=(11, sizes[0])).astype(np.float32)
    got = mean_contributions(ws, bs, X, batch_size=batch)
    for g, w in zip(got, _slow_contributions(ws, bs, X)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4), density=st.floats(0, 1),
       seed=st.integers(0, 2**32 - 1))
def test_activation_masks_keep_the_block_counts_and_the_largest(sizes, density, seed):
    rng = np.random.default_rng(seed)
    E = 3
    contrib = [rng.integers(0, 4, (E, sizes[i + 1], sizes[i] + 1)).astype(float) for i in range(len(sizes) - 1)]
    wms = [rng.random((E, sizes[i + 1], sizes[i])) < density for i in range(len(sizes) - 1)]
    bms = [rng.random((E, sizes[i + 1])) < density for i in range(len(sizes) - 1)]
    aw, ab = activation_masks(contrib, wms, bms)
    for c, w, b, rw, rb in zip(contrib, aw, ab, wms, bms):
        np.testing.assert_array_equal(w.sum(axis=(1, 2)), rw.sum(axis=(1, 2)))
        np.testing.assert_array_equal(b.sum(axis=1), rb.sum(axis=1))
        for e in range(E):
            kept, dropped = c[e, :, :-1][w[e]], c[e, :, :-1][~w[e]]
            if kept.size and dropped.size:
                assert kept.min() >= dropped.max()
            kept, dropped = c[e, :, -1][b[e]], c[e, :, -1][~b[e]]
            if kept.size and dropped.size:
                assert kept.min() >= dropped.max()


def test_jaccard():
    a = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], bool)
    b = np.array([[1, 0, 1, 0], [0, 0, 0, 0]], bool)
    np.testing.assert_allclose(jaccard(a, b), [1 / 3, 1.0])
