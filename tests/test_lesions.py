"""Lesion curves: losses against a plain forward pass, paths against enumeration, the orders."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mothlib.networks.lesions import (
    as_blocks, check_lesion_fractions, input_output_paths, lesion_curve, lesion_losses, removal_count,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _net(rng, sizes, density=0.7):
    ws = [rng.normal(size=(sizes[i + 1], sizes[i])) * (rng.random((sizes[i + 1], sizes[i])) < density)
          for i in range(len(sizes) - 1)]
    bs = [rng.normal(size=sizes[i + 1]) * (rng.random(sizes[i + 1]) < density) for i in range(len(sizes) - 1)]
    return [w.astype(np.float32) for w in ws], [b.astype(np.float32) for b in bs]


def _forward(ws, bs, x):
    h = x.astype(np.float64)
    for l, (w, b) in enumerate(zip(ws, bs)):
        h = h @ w.T.astype(np.float64) + b
        if l < len(ws) - 1:
            h = np.tanh(h)
    return h


def _paths_by_enumeration(wms):
    total = 0
    widths = [wms[0].shape[1]] + [w.shape[0] for w in wms]
    for path in itertools.product(*[range(n) for n in widths]):
        total += all(wms[l][path[l + 1], path[l]] for l in range(len(wms)))
    return total


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(1, 4), min_size=2, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_losses_and_paths_match_a_plain_forward_pass_and_enumeration(sizes, seed):
    rng = np.random.default_rng(seed)
    ws, bs = _net(rng, sizes)
    n_edges = sum(b.size for b in as_blocks(ws, bs))
    removed = rng.random((4, n_edges)) < 0.3
    x = rng.normal(size=(50, sizes[0])).astype(np.float32)
    y = rng.normal(size=(50, sizes[-1])).astype(np.float32)
    losses, paths = lesion_losses(ws, bs, removed, x, y)
    for v in range(4):
        start, lw, lb = 0, [], []
        for w, b in zip(ws, bs):
            block = np.concatenate([w, b[:, None]], axis=1).ravel().copy()
            block[removed[v, start:start + block.size]] = 0
            start += block.size
            block = block.reshape(w.shape[0], w.shape[1] + 1)
            lw.append(block[:, :-1])
            lb.append(block[:, -1])
        want = np.mean((_forward(lw, lb, x) - y) ** 2)
        assert losses[v] == pytest.approx(want, rel=1e-4, abs=1e-6)
        assert paths[v] == _paths_by_enumeration([w != 0 for w in lw])


def test_paths_of_a_dense_network_and_a_batch():
    wms = [np.ones((3, 5, 4), bool), np.ones((3, 2, 5), bool)]
    wms[0][1] = False
    np.testing.assert_array_equal(input_output_paths(wms), [40, 0, 40])


def test_orders_remove_what_they_say():
    rng = np.random.default_rng(1)
    ws, bs = _net(rng, [4, 6, 6, 3], 0.8)
    values = np.concatenate([b.ravel() for b in as_blocks(ws, bs)])
    alive = values != 0
    score = rng.integers(0, 5, values.shape).astype(float)
    x = rng.normal(size=(20, 4)).astype(np.float32)
    y = rng.normal(size=(20, 3)).astype(np.float32)
    table = lesion_curve(ws, bs, {"s": score}, [0.1, 0.5], x, y, seed=np.random.SeedSequence(3), n_draws=2)
    n_alive = int(alive.sum())
    assert set(table["order"]) == {"none", "magnitude", "random", "by", "matched"}
    for f in (0.1, 0.5):
        rows = table[table["fraction"] == f]
        assert (rows["n_removed"] == removal_count(f, n_alive)).all()
    none = table[table["order"] == "none"].iloc[0]
    assert none["n_removed"] == 0 and none["paths"] == input_output_paths([[w != 0 for w in ws][l][None] for l in range(3)])[0]
    again = lesion_curve(ws, bs, {"s": score}, [0.1, 0.5], x, y, seed=np.random.SeedSequence(3), n_draws=2)
    assert table.equals(again)


def test_bad_fractions_and_empty_networks_are_refused():
    for bad in ([0.0], [1.0], [1.5], [-0.1], []):
        with pytest.raises(ValueError, match="lesion_fractions"):
            check_lesion_fractions(bad)
    ws, bs = [np.zeros((2, 2), np.float32)], [np.zeros(2, np.float32)]
    with pytest.raises(ValueError, match="no surviving edges"):
        lesion_curve(ws, bs, {}, [0.1], np.zeros((3, 2), np.float32), np.zeros((3, 2), np.float32),
                     seed=np.random.SeedSequence(0))
    torch.manual_seed(0)
