"""Motif participation per edge and per node against brute-force enumeration of instances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from networkx.algorithms.isomorphism import DiGraphMatcher

from mothlib.motifs.counts import MOTIFS, count_motifs
from mothlib.motifs.participation import EDGES_PER_MOTIF, NODES_PER_MOTIF, edge_participation, motif_participation
from tests._nets import PATTERNS, _pattern, random_masks, to_digraph


def enumerate_instances(ws, bs=None) -> dict[str, set[frozenset]]:
    """Every instance of every motif as its set of edges (monomorphisms, deduplicated)."""
    g = to_digraph(ws, bs)
    out = {}
    for name, edges in PATTERNS.items():
        found = set()
        for mapping in DiGraphMatcher(g, _pattern(edges)).subgraph_monomorphisms_iter():
            inv = {p: n for n, p in mapping.items()}
            found.add(frozenset((inv[a], inv[b]) for a, b in edges))
        out[name] = found
    return out


def _node(layer, index, widths, n_layers):
    """The graph node of entry ``index`` of participation's node array of ``layer``."""
    if layer < n_layers and index == widths[layer]:
        return ("bias", layer)
    return (layer, index)


def brute_force(ws, bs=None):
    """Participation from the enumerated instances, shaped as motif_participation() returns it."""
    n_layers = len(ws)
    widths = [w.shape[1] for w in ws] + [ws[-1].shape[0]]
    inst = enumerate_instances(ws, bs)
    edges = {m: [np.zeros((w.shape[0], w.shape[1] + 1), np.int64) for w in ws] for m in MOTIFS}
    nodes = {m: [np.zeros(widths[l] + (1 if l < n_layers else 0), np.int64) for l in range(n_layers + 1)]
             for m in MOTIFS}
    for m in MOTIFS:
        for one in inst[m]:
            touched = set()
            for (src, dst) in one:
                layer = dst[0] - 1
                col = widths[layer] if src[0] == "bias" else src[1]
                edges[m][layer][dst[1], col] += 1
                touched |= {src, dst}
            for n in touched:
                if n[0] == "bias":
                    nodes[m][n[1]][widths[n[1]]] += 1
                else:
                    nodes[m][n[0]][n[1]] += 1
    return edges, nodes, {m: len(v) for m, v in inst.items()}


def _has_edges(ws, bs):
    return any(np.any(w) for w in ws) or (bs is not None and any(np.any(b) for b in bs))


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 4), min_size=2, max_size=5),
    density=st.floats(0.2, 1.0),
    bias=st.booleans(),
    p_empty=st.sampled_from([0.0, 0.5]),
    seed=st.integers(0, 2**32 - 1),
)
def test_participation_matches_enumerated_instances(sizes, density, bias, p_empty, seed):
    rng = np.random.default_rng(seed)
    ws, bs = random_masks(rng, sizes, density, bias)
    # Empty rows and columns: whole neurons without inputs or outputs.
    for w in ws:
        w[rng.random(w.shape[0]) < p_empty] = False
    if not _has_edges(ws, bs):
        with pytest.raises(ValueError, match="no edges"):
            motif_participation(ws, bs)
        return
    want_edges, want_nodes, want_counts = brute_force(ws, bs)
    got_edges, got_nodes = motif_participation(ws, bs)
    counts = count_motifs(ws, bs)
    for m in MOTIFS:
        assert int(counts[m]) == want_counts[m], m  # counts.py = the instances enumerated
        for got, want in zip(got_edges[m], want_edges[m]):
            np.testing.assert_array_equal(got, want, err_msg=m)
        for got, want in zip(got_nodes[m], want_nodes[m]):
            np.testing.assert_array_equal(got, want, err_msg=m)
        assert sum(int(e.sum()) for e in got_edges[m]) == int(counts[m]) * EDGES_PER_MOTIF[m]
        assert sum(int(n.sum()) for n in got_nodes[m]) == int(counts[m]) * NODES_PER_MOTIF[m]


@settings(max_examples=15, deadline=None)
@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=5), seed=st.integers(0, 2**32 - 1))
def test_batched_participation_equals_per_network(sizes, seed):
    rng = np.random.default_rng(seed)
    ws, bs = random_masks(rng, sizes, 0.7, True, batch=3)
    for b in bs:
        b[:, 0] = True  # every network has an edge
    edges, nodes = motif_participation(ws, bs)
    for k in range(3):
        e1, n1 = motif_participation([w[k] for w in ws], [b[k] for b in bs])
        for m in MOTIFS:
            for x, y in zip(edges[m], e1[m]):
                np.testing.assert_array_equal(x[k], y)
            for x, y in zip(nodes[m], n1[m]):
                np.testing.assert_array_equal(x[k], y)


def test_dense_sums_at_a_larger_size():
    sizes = [10, 40, 40, 16, 7]
    ws = [np.ones((sizes[i + 1], sizes[i]), bool) for i in range(4)]
    bs = [np.ones(sizes[i + 1], bool) for i in range(4)]
    edges, nodes = motif_participation(ws, bs)
    counts = count_motifs(ws, bs)
    for m in MOTIFS:
        assert sum(int(e.sum()) for e in edges[m]) == int(counts[m]) * EDGES_PER_MOTIF[m]
        assert sum(int(n.sum()) for n in nodes[m]) == int(counts[m]) * NODES_PER_MOTIF[m]


def test_no_edges_and_bad_masks_are_refused():
    with pytest.raises(ValueError, match="network 1 has no edges"):
        motif_participation([np.stack([np.ones((2, 2)), np.zeros((2, 2))])])
    with pytest.raises(ValueError, match="weight_masks\\[1\\]"):
        edge_participation([np.ones((2, 2)), np.ones((1, 3))])
