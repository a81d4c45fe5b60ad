"""motif_zscores on every engine and device: the torch path against the numba path."""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import mothlib.motifs.significance as sig
from mothlib.motifs.counts import MOTIFS, count_motifs, remove_ineffectual
from mothlib.motifs.nulls import sample_null
from mothlib.motifs.significance import motif_zscores

sys.path.insert(0, os.path.dirname(__file__))
from _nets import random_masks  # noqa: E402


def _net(seed=0, sizes=(5, 9, 9, 3), density=0.4):
    return random_masks(np.random.default_rng(seed), list(sizes), density, True)


@pytest.mark.parametrize("null", ["layer-edges", "degree-preserving"])
def test_torch_path_on_cpu_equals_numba_path(null):
    ws, bs = _net()
    a = motif_zscores(ws, bs, clean=True, n_null=40, null_model=null, seed=3, chunk_size=16)
    b = motif_zscores(ws, bs, clean=True, n_null=40, null_model=null, seed=3, chunk_size=7, engine="torch", device="cpu")
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("null", ["layer-edges", "degree-preserving"])
def test_torch_and_numba_z_agree_within_monte_carlo_error(null):
    # Independent null samples (different seeds) of the two paths: the null means of every
    # count that the null does not fix agree within 5 standard errors, and so do the z-scores.
    ws, bs = _net(1, density=0.35)
    n = 300
    a = motif_zscores(ws, bs, clean=True, n_null=n, null_model=null, seed=10, chunk_size=100).set_index("motif")
    b = motif_zscores(ws, bs, clean=True, n_null=n, null_model=null, seed=20, chunk_size=64, engine="torch",
                      device="cpu").set_index("motif")
    free = a.index[a.null_std > 0]
    assert len(free) >= 3
    for m in free:
        se = np.sqrt(a.null_std[m] ** 2 / n + b.null_std[m] ** 2 / n)
        assert abs(a.null_mean[m] - b.null_mean[m]) <= 5 * se, m
        # z = (N - mean) / std: its Monte Carlo error is about se / std plus the std's error.
        dz = abs(a.z[m] - b.z[m])
        assert dz <= 5 * se / a.null_std[m] + 0.5 * abs(a.z[m]) * 5 / np.sqrt(n), (m, a.z[m], b.z[m])


def test_torch_path_counts_each_null_on_the_device_it_was_drawn():
    ws, bs = _net(2)
    cw, cb, _ = remove_ineffectual(ws, bs)
    nw, nb = sig._sample_null(cw, cb, n_null=6, null_model="layer-edges", seed=np.random.SeedSequence(1), start=0,
                              engine="torch", device=torch.device("cpu"))
    assert all(isinstance(w, torch.Tensor) and w.dtype == torch.bool for w in nw)
    got = sig._count_null(nw, nb, torch.device("cpu"))
    ref = count_motifs(*sample_null(cw, cb, n_null=6, seed=np.random.SeedSequence(1), engine="numpy"))
    for m in MOTIFS:
        assert np.array_equal(got[m], ref[m])


def test_memory_bounded_by_chunk_size(monkeypatch):
    ws, bs = _net(3)
    sizes = []
    real = sig._sample_null

    def spy(*args, **kwargs):
        sizes.append(kwargs["n_null"])
        return real(*args, **kwargs)

    monkeypatch.setattr(sig, "_sample_null", spy)
    motif_zscores(ws, bs, clean=True, n_null=23, seed=0, chunk_size=5, engine="torch", device="cpu")
    assert sizes == [5, 5, 5, 5, 3]


def test_the_device_is_never_chosen_behind_the_callers_back(monkeypatch):
    # Issue 21: None used to mean "CUDA when available" here and "the CPU" in nulls and counts;
    # it is the CPU everywhere now, and a GPU is used only when asked for.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert sig._zscore_device(None).type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert sig._zscore_device(None).type == "cpu"
    with pytest.raises(ValueError, match="device"):
        sig._zscore_device("no-such-device")


# ------------------------------------------------------------------ several networks at once
def _nets():
    """Networks of different shapes and sparsity, one without biases, one unclean."""
    return [_net(4), _net(5, sizes=(4, 7, 3), density=0.7), _net(6, sizes=(6, 10, 10, 4), density=0.25),
            (random_masks(np.random.default_rng(7), [5, 8, 3], 0.5, False)[0], None)]


@pytest.mark.parametrize("engine", ["numba", "torch"])
@pytest.mark.parametrize("null", ["layer-edges", "degree-preserving"])
def test_motif_zscores_many_equals_one_call_per_network(null, engine):
    nets, seeds = _nets(), [3, 4, np.random.SeedSequence(5), 6]
    got = sig.motif_zscores_many(nets, clean=True, n_null=14, null_model=null, seeds=seeds, chunk_size=5,
                                 engine=engine, device="cpu")
    assert len(got) == len(nets)
    for (ws, bs), seed, table in zip(nets, seeds, got):
        ref = motif_zscores(ws, bs, clean=True, n_null=14, null_model=null, seed=seed, chunk_size=14)
        pd.testing.assert_frame_equal(table, ref)


def test_motif_zscores_many_batches_the_torch_engine_and_loops_the_others(monkeypatch):
    nets = _nets()[:3]
    calls = []
    real = sig._sample_nulls
    monkeypatch.setattr(sig, "_sample_nulls", lambda nets, **kw: (calls.append(len(nets)), real(nets, **kw))[1])
    sig.motif_zscores_many(nets, clean=True, n_null=7, seeds=[0, 1, 2], chunk_size=3, engine="torch", device="cpu")
    assert calls == [3, 3, 3]  # one draw of all three networks per chunk
    calls.clear()
    sig.motif_zscores_many(nets, clean=True, n_null=7, seeds=[0, 1, 2], chunk_size=3, device="cpu")
    assert calls == []  # numba: one motif_zscores per network


def test_motif_zscores_many_bad_input():
    nets = _nets()[:2]
    with pytest.raises(ValueError, match="networks: expected at least one"):
        sig.motif_zscores_many([], n_null=2, seeds=[])
    with pytest.raises(ValueError, match=r"seeds: expected one seed per network \(2\), got 3"):
        sig.motif_zscores_many(nets, n_null=2, seeds=[0, 1, 2])
    with pytest.raises(ValueError, match=r"networks\[0\]: expected a \(weight_masks, bias_masks\) pair"):
        sig.motif_zscores_many([nets[0][0]], n_null=2, seeds=[0])
    with pytest.raises(ValueError, match="chunk_size"):
        sig.motif_zscores_many(nets, n_null=2, seeds=[0, 1], chunk_size=0, engine="torch", device="cpu")
    clean = tuple(remove_ineffectual(*nets[0])[:2])
    with pytest.raises(ValueError, match=r"networks\[1\]: .*remove_ineffectual"):
        sig.motif_zscores_many([clean, _net(2, density=0.25)], n_null=2, seeds=[0, 1], clean=False,
                               engine="torch", device="cpu")
