"""The structured pruning strategy: whole neurons only, by incoming norm, on a matched schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mothlib.networks.pruning import prune_count, structured_counts, structured_masks

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _removed_weights(sizes, ks):
    left = [sizes[0], *[n - k for n, k in zip(sizes[1:-1], ks)], sizes[-1]]
    total = sum(a * b for a, b in zip(sizes, sizes[1:]))
    return total - sum(a * b for a, b in zip(left, left[1:]))


@settings(max_examples=50, deadline=None)
@given(sizes=st.lists(st.integers(1, 12), min_size=3, max_size=6),
       fractions=st.lists(st.floats(0.01, 0.99), min_size=1, max_size=5))
def test_counts_come_closest_to_the_magnitude_schedule_and_grow(sizes, fractions):
    total = sum(a * b for a, b in zip(sizes, sizes[1:]))
    before = None
    for f in sorted(fractions):
        ks = structured_counts(sizes, f)
        target = prune_count(f, total)
        got = abs(_removed_weights(sizes, ks) - target)
        # No common share of every hidden layer does better (brute force over all shares).
        for n in sizes[1:-1]:
            for k in range(n):
                other = [min(m - 1, (k * m) // n) for m in sizes[1:-1]]
                assert got <= abs(_removed_weights(sizes, other) - target)
        assert all(k < n for k, n in zip(ks, sizes[1:-1]))
        if before is not None:
            assert all(a >= b for a, b in zip(ks, before))
        before = ks


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 8), min_size=3, max_size=5),
       fractions=st.lists(st.floats(0.05, 0.95), min_size=1, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_masks_remove_whole_neurons_only(sizes, fractions, seed):
    gen = torch.Generator().manual_seed(seed)
    E = 2
    ws = [torch.randn(E, sizes[i + 1], sizes[i], generator=gen) for i in range(len(sizes) - 1)]
    wms = [torch.ones_like(w, dtype=torch.bool) for w in ws]
    bms = [torch.ones(E, w.shape[1], dtype=torch.bool) for w in ws]
    for f in sorted(fractions):
        new_w, new_b = structured_masks(ws, wms, bms, f)
        ks = structured_counts(sizes, f)
        for e in range(E):
            alive = [np.ones(sizes[0], bool)]
            for h in range(len(sizes) - 2):
                alive.append(new_b[h][e].numpy())
                assert int((~alive[-1]).sum()) == ks[h]
            alive.append(np.ones(sizes[-1], bool))
            np.testing.assert_array_equal(new_b[-1][e].numpy(), np.ones(sizes[-1], bool))
            for l, m in enumerate(new_w):
                # Exactly the outer product of the kept neurons: no single weight is removed.
                np.testing.assert_array_equal(m[e].numpy(), np.outer(alive[l + 1], alive[l]))
            # The removed neurons are those of smallest incoming norm.
            for h in range(len(sizes) - 2):
                norm = (ws[h][e] ** 2).sum(dim=1).numpy()
                gone, kept = norm[~alive[h + 1]], norm[alive[h + 1]]
                if gone.size and kept.size and h == 0:
                    assert gone.max() <= kept.min()
        for old, new in zip(wms + bms, new_w + new_b):
            assert not bool((new & ~old).any())  # masks only grow
        wms, bms = new_w, new_b


def test_too_shallow_a_network_is_refused():
    with pytest.raises(ValueError, match="needs a hidden layer"):
        structured_counts([3, 2], 0.5)
