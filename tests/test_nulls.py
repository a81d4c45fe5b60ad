"""Null models: constraints and fixed counts on every sample, uniformity on enumerable cases,
reproducibility, chunk independence, numpy/numba agreement, bad input."""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from mothlib.motifs.counts import count_motifs, remove_ineffectual
from mothlib.motifs.nulls import FIXED_COUNTS, sample_null, sample_nulls

sys.path.insert(0, os.path.dirname(__file__))
from _nets import random_masks  # noqa: E402


def _clean_random(seed, sizes, density, bias):
    ws, bs = random_masks(np.random.default_rng(seed), sizes, density, bias)
    cw, cb, _ = remove_ineffectual(ws, bs)
    return cw, cb


def _live(ws, bs):
    """Per layer, which neurons have an edge."""
    n_layers = len(ws)
    live = []
    for layer in range(n_layers + 1):
        parts = []
        if layer > 0:
            parts.append(ws[layer - 1].any(axis=-1))
            if bs is not None and bs[layer - 1] is not None:
                parts.append(bs[layer - 1])
        if layer < n_layers:
            parts.append(ws[layer].any(axis=-2))
        live.append(np.logical_or.reduce(parts))
    return live


def check_layer_edges(ws, bs, nw, nb):
    live = _live(ws, bs)
    for k in range(nw[0].shape[0]):
        sw = [w[k] for w in nw]
        sb = None if nb is None else [b[k] for b in nb]
        for l, (w, s) in enumerate(zip(ws, sw)):
            assert s.sum() == w.sum(), "weight edge count changed"
            assert not s[~live[l + 1]].any() and not s[:, ~live[l]].any(), "edge at a dead neuron"
            if bs is not None:
                assert sb[l].sum() == bs[l].sum() and not sb[l][~live[l + 1]].any()
        # Every live neuron keeps an incoming (not inputs) and an outgoing (not outputs) edge.
        slive = _live(sw, sb)
        assert all(np.array_equal(a, b) for a, b in zip(slive, live))
        for l in range(len(ws)):
            inc = sw[l].any(axis=1) | (sb[l] if sb is not None else False)
            assert inc[live[l + 1]].all()
            assert sw[l].any(axis=0)[live[l]].all()
        # Clean by construction.
        _, _, rep = remove_ineffectual(sw, sb)
        assert rep[["ghost", "dead"]].to_numpy().sum() == 0


def check_degrees(ws, bs, nw, nb):
    """Every neuron and bias node keeps its in- and out-degree within each block."""
    for l, w in enumerate(ws):
        assert (nw[l].sum(axis=1) == w.sum(axis=0)).all(), "out-degree changed"
        real_in = w.sum(axis=1) + (0 if bs is None else bs[l])
        null_in = nw[l].sum(axis=2) + (0 if nb is None else nb[l])
        assert (null_in == real_in).all(), "in-degree changed"
        if bs is not None:
            assert (nb[l].sum(axis=1) == bs[l].sum()).all(), "bias out-degree changed"
            # A neuron's weight in-degree moves only in exchange for its bias edge, one for one.
            traded = nw[l].sum(axis=2) - w.sum(axis=1)
            assert (traded == bs[l].astype(int) - nb[l].astype(int)).all(), "weight in-degree changed"


#: Every sampler engine: the checks below run for each.
ENGINES = ["numba", "torch"]


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 7), min_size=2, max_size=5),
    density=st.floats(0.1, 0.95),
    bias=st.booleans(),
    null=st.sampled_from(["layer-edges", "degree-preserving"]),
    method=st.sampled_from(["auto", "mcmc", "rejection"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_constraints_and_fixed_counts_on_every_sample(engine, sizes, density, bias, null, method, seed):
    ws, bs = _clean_random(seed, sizes, density, bias)
    nw, nb = sample_null(ws, bs, n_null=12, null_model=null, seed=seed, method=method, engine=engine)
    assert [w.shape for w in nw] == [(12,) + w.shape for w in ws]
    assert (nb is None) == (bs is None)
    if null == "layer-edges":
        check_layer_edges(ws, bs, nw, nb)
    else:
        check_degrees(ws, bs, nw, nb)
    real = count_motifs(ws, bs)
    counts = count_motifs(nw, nb)
    for m in FIXED_COUNTS[null]:
        assert (counts[m] == real[m]).all(), m


def test_degree_preserving_rewires_unclean_networks_as_given():
    ws, bs = random_masks(np.random.default_rng(1), [5, 6, 6, 3], 0.3, True)
    nw, nb = sample_null(ws, bs, n_null=20, null_model="degree-preserving", seed=1)
    check_degrees(ws, bs, nw, nb)
    ref = sample_null(ws, bs, n_null=20, null_model="degree-preserving", seed=1, engine="numpy")
    for l in range(len(ws)):
        assert np.array_equal(nw[l], ref[0][l]) and np.array_equal(nb[l], ref[1][l])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("null", ["layer-edges", "degree-preserving"])
def test_reproducible_and_chunk_independent(null, engine):
    ws, bs = _clean_random(5, [6, 12, 12, 4], 0.45, True)
    a = sample_null(ws, bs, n_null=10, null_model=null, seed=42, engine=engine)
    b = sample_null(ws, bs, n_null=10, null_model=null, seed=42, engine=engine)
    parts = [sample_null(ws, bs, n_null=k1 - k0, null_model=null, seed=42, start=k0, engine=engine)
             for k0, k1 in [(0, 3), (3, 4), (4, 10)]]
    for l in range(len(ws)):
        assert np.array_equal(a[0][l], b[0][l])
        assert np.array_equal(a[0][l], np.concatenate([p[0][l] for p in parts]))
        assert np.array_equal(a[1][l], np.concatenate([p[1][l] for p in parts]))
    c = sample_null(ws, bs, n_null=10, null_model=null, seed=43)
    assert any(not np.array_equal(a[0][l], c[0][l]) for l in range(len(ws)))
    # Samples differ from each other (the chain moves).
    assert len({a[0][1][k].tobytes() for k in range(10)}) > 1


@pytest.mark.parametrize("null", ["layer-edges", "degree-preserving"])
@pytest.mark.parametrize("density", [0.2, 0.8])
@pytest.mark.parametrize("method", ["mcmc", "rejection"])
def test_numpy_and_numba_kernels_agree(null, density, method):
    ws, bs = _clean_random(7, [5, 10, 10, 3], density, True)
    kw = dict(n_null=6, null_model=null, seed=3, method=method)
    a = sample_null(ws, bs, engine="numpy", **kw)
    b = sample_null(ws, bs, engine="numba", **kw)
    for l in range(len(ws)):
        assert np.array_equal(a[0][l], b[0][l]) and np.array_equal(a[1][l], b[1][l])


@pytest.mark.parametrize("density", [0.2, 0.8])
def test_swap_kernels_on_bit_arrays_agree(density):
    # sample_null's numba path writes chains straight into the masks (_mcmc.swaps_into); the
    # token and bit array kernels of _mcmc.swaps (numba and numpy) make the same chains.
    import mothlib.motifs.nulls as nulls
    from mothlib.core.streams import sample_keys, sub_keys

    ws, bs = _clean_random(7, [5, 10, 10, 3], density, True)
    blocks = nulls._live_blocks(ws, bs, "degree-preserving")
    keys = sample_keys(3, 0, 6, salt=2)
    jobs = [(i, np.arange(6), sub_keys(keys, i)) for i in range(len(blocks))]
    got = {e: nulls._run_chains(blocks, jobs, "degree-preserving", 10.0, e) for e in ("numba", "numpy")}
    masks = sample_null(ws, bs, n_null=6, null_model="degree-preserving", seed=3, engine="numba")
    for i, blk in enumerate(blocks):
        assert np.array_equal(got["numba"][i], got["numpy"][i])
        g = got["numba"][i]
        live = masks[0][i][:, blk.tgt[:, None], blk.src[None, :]]
        assert np.array_equal(live, g[:, : blk.n_s].transpose(0, 2, 1))
        if blk.bias_row:
            assert np.array_equal(masks[1][i][:, blk.tgt], g[:, blk.n_s])


# --------------------------------------------------------------------- uniformity by enumeration
# A clean network 2 -> 3 -> 2 with biases: block 0 is sparse (edges move), block 1 is over half
# full (holes move).
W0 = np.array([[1, 0], [0, 1], [1, 0]], dtype=bool)
B0 = np.array([0, 1, 0], dtype=bool)
W1 = np.array([[1, 1, 0], [0, 1, 1]], dtype=bool)
B1 = np.array([1, 0], dtype=bool)


def _layer_edge_states(w, b):
    """All valid (weights, bias) of one block with these live neurons and edge counts."""
    n_t, n_s = w.shape
    slots = list(itertools.product(range(n_t), range(n_s)))
    states = []
    for wsel in itertools.combinations(slots, int(w.sum())):
        for bsel in itertools.combinations(range(n_t), int(b.sum())):
            m = np.zeros_like(w)
            for t, s in wsel:
                m[t, s] = True
            bb = np.zeros_like(b)
            bb[list(bsel)] = True
            if m.any(axis=0).all() and (m.any(axis=1) | bb).all():
                states.append(m.tobytes() + bb.tobytes())
    return states


def _degree_states(w, b):
    """All (weights, bias) with the degrees of every neuron and of the bias node of (w, b)."""
    full = np.concatenate([w, b[:, None]], axis=1)
    n_t, n_s = full.shape
    codes = np.arange(2 ** (n_t * n_s), dtype=np.int64)
    grids = ((codes[:, None] >> np.arange(n_t * n_s)) & 1).astype(bool).reshape(-1, n_t, n_s)
    ok = (grids.sum(axis=1) == full.sum(axis=0)).all(axis=1) & (grids.sum(axis=2) == full.sum(axis=1)).all(axis=1)
    return [np.ascontiguousarray(m[:, :-1]).tobytes() + np.ascontiguousarray(m[:, -1]).tobytes() for m in grids[ok]]


def _uniformity_pvalue(states, samples):
    index = {s: i for i, s in enumerate(states)}
    freq = np.zeros(len(states))
    for s in samples:
        freq[index[s]] += 1  # KeyError: an invalid state
    return chisquare(freq).pvalue, (freq > 0).all()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("null", "method"),
    [("layer-edges", "mcmc"), ("layer-edges", "rejection"), ("degree-preserving", "auto")],
)
def test_uniform_on_enumerable_network(null, method, engine):
    ws, bs = [W0, W1], [B0, B1]
    enum = _layer_edge_states if null == "layer-edges" else _degree_states
    n = 3000
    # A different seed per engine: each engine's own sample must pass on its own.
    nw, nb = sample_null(ws, bs, n_null=n, null_model=null, seed=11 + ENGINES.index(engine), method=method, engine=engine)
    for l in range(2):
        states = enum(ws[l], bs[l])
        assert len(states) >= 3
        samples = [nw[l][k].tobytes() + nb[l][k].tobytes() for k in range(n)]
        p, all_seen = _uniformity_pvalue(states, samples)
        assert all_seen and p > 1e-3, (l, len(states), p)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("null", ["layer-edges", "degree-preserving"])
def test_uniformity_check_detects_a_too_short_chain(null, engine):
    # The same check fails when the chain barely leaves its start: it has the power to fail.
    ws, bs = [W0, W1], [B0, B1]
    enum = _layer_edge_states if null == "layer-edges" else _degree_states
    nw, nb = sample_null(ws, bs, n_null=3000, null_model=null, seed=11, method="mcmc", steps_per_token=0.35, engine=engine)
    states = enum(ws[0], bs[0])
    samples = [nw[0][k].tobytes() + nb[0][k].tobytes() for k in range(3000)]
    p, _ = _uniformity_pvalue(states, samples)
    assert p < 1e-6


@pytest.mark.parametrize("engine", ENGINES)
def test_degree_preserving_uniform_on_a_larger_block(engine):
    w = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 1], [1, 0, 0, 1]], dtype=bool)
    b = np.array([1, 0, 1, 0], dtype=bool)
    nw, nb = sample_null([w], [b], n_null=4000, null_model="degree-preserving", seed=2 + ENGINES.index(engine), engine=engine)
    states = _degree_states(w, b)
    samples = [nw[0][k].tobytes() + nb[0][k].tobytes() for k in range(4000)]
    p, all_seen = _uniformity_pvalue(states, samples)
    assert len(states) > 20 and all_seen and p > 1e-3, (len(states), p)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(n_null=2, null_model="configuration"), "null_model: unknown null model"),
        (dict(n_null=-1), "n_null: must be a non-negative integer"),
        (dict(n_null=2, start=-3), "start: must be"),
        (dict(n_null=2, method="exact"), "method: must be"),
        (dict(n_null=2, engine="opencl"), "engine: must be"),
        (dict(n_null=2, engine="torch", device="no-such-device"), "device: cannot use"),
        (dict(n_null=2, steps_per_token=float("nan")), "steps_per_token"),
    ],
)
def test_bad_arguments(kwargs, match):
    ws, bs = _clean_random(0, [3, 4, 2], 0.6, True)
    with pytest.raises(ValueError, match=match):
        sample_null(ws, bs, **kwargs)


def test_bad_networks():
    ws, bs = random_masks(np.random.default_rng(0), [3, 4, 2], 0.6, True, batch=2)
    with pytest.raises(ValueError, match="one network"):
        sample_null(ws, bs, n_null=2)
    ghost = [np.array([[1, 0], [0, 0]]), np.array([[1, 1]])]  # hidden neuron 1: out edge only
    with pytest.raises(ValueError, match="remove_ineffectual"):
        sample_null(ghost, n_null=2)
    with pytest.raises(ValueError, match=r"weight_masks\[1\]: masks must be binary"):
        sample_null([np.ones((2, 2)), np.full((1, 2), 0.5)], n_null=2)


def test_metropolis_matches_exact_rejection_on_a_larger_network():
    # Beyond enumerable sizes: the chain at its default length and exact rejection sampling
    # agree on the null mean of every count (within 5 standard errors).
    ws, bs = _clean_random(21, [6, 14, 14, 4], 0.35, True)
    n = 400
    ca = count_motifs(*sample_null(ws, bs, n_null=n, seed=1, method="mcmc"))
    cb = count_motifs(*sample_null(ws, bs, n_null=n, seed=2, method="rejection"))
    for m in ("converging2", "chain2", "converging3", "chain3", "bifan", "biparallel"):
        a, b = ca[m].astype(float), cb[m].astype(float)
        se = np.sqrt(a.var() / n + b.var() / n)
        assert abs(a.mean() - b.mean()) <= 5 * se + 1e-9, (m, a.mean(), b.mean(), se)


def test_rejection_falls_back_to_the_chain_and_stays_reproducible(monkeypatch):
    import mothlib.motifs.nulls as nulls

    # Sparse enough that some candidates miss a neuron: with one round allowed, those samples
    # continue as Metropolis chains; results stay valid and chunk independent.
    ws, bs = _clean_random(4, [6, 10, 10, 3], 0.25, True)
    monkeypatch.setattr(nulls, "REJECTION_MAX_ROUNDS", 1)
    a = sample_null(ws, bs, n_null=30, seed=5, method="rejection")
    check_layer_edges(ws, bs, *a)
    b = [sample_null(ws, bs, n_null=k1 - k0, seed=5, method="rejection", start=k0) for k0, k1 in [(0, 11), (11, 30)]]
    for l in range(len(ws)):
        assert np.array_equal(a[0][l], np.concatenate([p[0][l] for p in b]))
    blocks = nulls._live_blocks(ws, bs, "layer-edges")
    keys = nulls.sample_keys(5, 0, 30, salt=1)
    _, ok = nulls._rejection(blocks[1], nulls.sub_keys(keys, 1001), 1)
    assert 0 < ok.sum() < 30  # both paths were taken


def test_rejection_batches_do_not_change_samples(monkeypatch):
    import mothlib.motifs.nulls as nulls

    ws, bs = _clean_random(6, [5, 9, 9, 3], 0.5, True)
    a = sample_null(ws, bs, n_null=9, seed=8, method="rejection")
    monkeypatch.setattr(nulls, "_REJECTION_BATCH_ELEMENTS", 50)  # about one sample per batch
    b = sample_null(ws, bs, n_null=9, seed=8, method="rejection")
    for l in range(len(ws)):
        assert np.array_equal(a[0][l], b[0][l]) and np.array_equal(a[1][l], b[1][l])


# --------------------------------------------------------------------------- the torch engine
@settings(max_examples=20, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 9), min_size=2, max_size=5),
    density=st.floats(0.05, 0.95),
    bias=st.booleans(),
    null=st.sampled_from(["layer-edges", "degree-preserving"]),
    method=st.sampled_from(["auto", "mcmc", "rejection"]),
    start=st.integers(0, 10**6),
    seed=st.integers(0, 2**32 - 1),
)
def test_torch_engine_draws_the_numpy_samples(sizes, density, bias, null, method, start, seed):
    # The torch engine makes the very same draws: identical null networks to the numpy kernels.
    ws, bs = _clean_random(seed, sizes, density, bias)
    kw = dict(n_null=5, null_model=null, seed=seed, method=method, start=start)
    a = sample_null(ws, bs, engine="numpy", **kw)
    b = sample_null(ws, bs, engine="torch", **kw)
    for l in range(len(ws)):
        assert b[0][l].dtype == bool and np.array_equal(a[0][l], b[0][l])
        if bs is not None:
            assert np.array_equal(a[1][l], b[1][l])


def test_torch_draw_and_mod_match_numpy():
    import torch

    from mothlib.motifs import nulls_torch
    from mothlib.core.streams import draw

    keys = np.random.default_rng(0).integers(0, 2**64 - 1, size=50, dtype=np.uint64)
    for counter in (0, 1, 7, 2**40 + 3):
        got = nulls_torch.draw(nulls_torch.to_int64(keys, "cpu"), counter).numpy().view(np.uint64)
        assert np.array_equal(got, draw(keys, counter))
    h = draw(keys, 5)
    m = np.array([1, 2, 3, 1000, 2**31 - 1] * 10, dtype=np.int64)
    got = nulls_torch._mod(nulls_torch.to_int64(h, "cpu"), torch.from_numpy(m)).numpy()
    assert np.array_equal(got, (h % m.astype(np.uint64)).astype(np.int64))


def _splitmix64_py(key: int, t: int) -> int:
    """Output t of splitmix64 seeded with key, in Python integers (the published algorithm)."""
    m = (1 << 64) - 1
    z = (key + (t + 1) * 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


def test_swap_chain_draws_known_answer():
    # The swap chain's step t picks tokens (hi32(h) * L) >> 32 and (lo32(h) * L) >> 32 of the
    # splitmix64 output h number t of the chain's key.
    from mothlib.core.streams import splitmix64, two_below

    assert _splitmix64_py(0, 0) == 0xE220A8397B1DCDAF  # splitmix64 seeded 0, first output
    keys = np.random.default_rng(3).integers(0, 2**64 - 1, size=20, dtype=np.uint64)
    for t in (0, 1, 2, 999, 2**40):
        for L in (1, 2, 7, 1000, 21806, 2**31 - 1):
            h = splitmix64(keys, t)
            i, j = two_below(h, L)
            for k, hi, ii, jj in zip(keys, h, i, j):
                ref = _splitmix64_py(int(k), t)
                assert int(hi) == ref
                assert int(ii) == ((ref >> 32) * L) >> 32 and int(jj) == ((ref & 0xFFFFFFFF) * L) >> 32
                assert 0 <= int(ii) < L and 0 <= int(jj) < L


def test_torch_swap_draws_match_numpy():
    import torch

    from mothlib.motifs import nulls_torch
    from mothlib.core.streams import splitmix64, two_below

    keys = np.random.default_rng(0).integers(0, 2**64 - 1, size=50, dtype=np.uint64)
    L = np.array([1, 2, 3, 1000, 2**31 - 1] * 10, dtype=np.int64)
    for t in (0, 1, 7, 2**40 + 3):
        h = nulls_torch.splitmix64(nulls_torch.to_int64(keys, "cpu"), t)
        assert np.array_equal(h.numpy().view(np.uint64), splitmix64(keys, t))
        got = nulls_torch.two_below(h, torch.from_numpy(L))
        want = two_below(splitmix64(keys, t), L.astype(np.uint64))
        for g, w in zip(got, want):
            assert np.array_equal(g.numpy(), w.astype(np.int64))


def test_torch_rejection_batches_do_not_change_samples(monkeypatch):
    # Memory per round is bounded by _REJECTION_BATCH_ELEMENTS; the samples do not depend on it.
    import mothlib.motifs.nulls as nulls

    ws, bs = _clean_random(6, [5, 9, 9, 3], 0.5, True)
    a = sample_null(ws, bs, n_null=9, seed=8, method="rejection", engine="torch")
    monkeypatch.setattr(nulls, "_REJECTION_BATCH_ELEMENTS", 50)
    b = sample_null(ws, bs, n_null=9, seed=8, method="rejection", engine="torch")
    for l in range(len(ws)):
        assert np.array_equal(a[0][l], b[0][l]) and np.array_equal(a[1][l], b[1][l])


# ------------------------------------------------------------------ several networks at once
def _assert_same_masks(a, b):
    assert len(a[0]) == len(b[0]) and (a[1] is None) == (b[1] is None)
    for x, y in zip(a[0], b[0]):
        assert x.dtype == y.dtype == bool and np.array_equal(x, y)
    for x, y in zip(a[1] or [], b[1] or []):
        assert (x is None and y is None) or np.array_equal(x, y)


_network = st.tuples(
    st.lists(st.integers(1, 7), min_size=2, max_size=4),  # layer sizes
    st.floats(0.1, 0.95),  # density
    st.booleans(),  # biases
)


@pytest.mark.parametrize("engine", ["numpy", "numba", "torch"])
@settings(max_examples=15, deadline=None)
@given(
    nets=st.lists(_network, min_size=1, max_size=4),
    null=st.sampled_from(["layer-edges", "degree-preserving"]),
    method=st.sampled_from(["auto", "mcmc", "rejection"]),
    start=st.integers(0, 1000),
    seed=st.integers(0, 2**32 - 1),
)
def test_sample_nulls_draws_each_network_as_sample_null(engine, nets, null, method, start, seed):
    # Networks of different shapes and sparsity, their chains in one run: network i gets
    # exactly sample_null's samples with its own seed.
    networks = [_clean_random(seed + i, *net) for i, net in enumerate(nets)]
    seeds = [seed + 7 * i for i in range(len(networks))]
    kw = dict(n_null=4, null_model=null, method=method, start=start, engine=engine)
    got = sample_nulls(networks, seeds=seeds, **kw)
    assert len(got) == len(networks)
    for (ws, bs), s, g in zip(networks, seeds, got):
        _assert_same_masks(g, sample_null(ws, bs, seed=s, **kw))


@pytest.mark.parametrize("engine", ["numpy", "numba", "torch"])
@pytest.mark.parametrize("null", ["layer-edges", "degree-preserving"])
def test_sample_nulls_on_larger_networks(engine, null):
    # Long chains of different lengths (sparse blocks move edges, dense ones holes), a network
    # without biases, and one seed given twice (the same samples twice).
    networks = [_clean_random(1, [6, 12, 12, 4], 0.3, True), _clean_random(2, [5, 9, 3], 0.8, False),
                _clean_random(3, [4, 10, 10, 10, 3], 0.5, True), _clean_random(1, [6, 12, 12, 4], 0.3, True)]
    seeds = [10, np.random.SeedSequence(11), 12, 10]
    got = sample_nulls(networks, n_null=6, null_model=null, seeds=seeds, method="mcmc", engine=engine)
    for (ws, bs), s, g in zip(networks, seeds, got):
        _assert_same_masks(g, sample_null(ws, bs, n_null=6, null_model=null, seed=s, method="mcmc", engine=engine))
    _assert_same_masks(got[0], got[3])
    assert len({got[2][0][1][k].tobytes() for k in range(6)}) > 1  # the chains moved


def test_sample_nulls_bad_input():
    net = _clean_random(0, [3, 4, 2], 0.6, True)
    with pytest.raises(ValueError, match="networks: expected at least one"):
        sample_nulls([], n_null=2, seeds=[])
    with pytest.raises(ValueError, match=r"seeds: expected one seed per network \(2\), got 1"):
        sample_nulls([net, net], n_null=2, seeds=[0])
    with pytest.raises(ValueError, match=r"networks\[1\]: expected a \(weight_masks, bias_masks\) pair"):
        sample_nulls([net, net[0]], n_null=2, seeds=[0, 1])
    ghost = ([np.array([[1, 0], [0, 0]]), np.array([[1, 1]])], None)
    with pytest.raises(ValueError, match=r"networks\[1\]: .*remove_ineffectual"):
        sample_nulls([net, ghost], n_null=2, seeds=[0, 1])
    with pytest.raises(ValueError, match="engine: must be"):
        sample_nulls([net], n_null=2, seeds=[0], engine="opencl")
    with pytest.raises(ValueError, match="n_null"):
        sample_nulls([net], n_null=-1, seeds=[0])
    assert [w.shape for w in sample_nulls([net], n_null=0, seeds=[0])[0][0]] == [(0, 4, 3), (0, 2, 4)]
