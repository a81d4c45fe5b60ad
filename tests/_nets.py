"""Helpers shared by the motif tests: random layered networks and a brute-force motif oracle."""

from __future__ import annotations

import networkx as nx
import numpy as np
from networkx.algorithms.isomorphism import DiGraphMatcher

PATTERNS = {
    "edges": [("A", "B")],
    "diverging2": [("A", "B"), ("A", "C")],
    "converging2": [("A", "C"), ("B", "C")],
    "chain2": [("A", "B"), ("B", "C")],
    "diverging3": [("A", "B"), ("A", "C"), ("A", "D")],
    "converging3": [("A", "D"), ("B", "D"), ("C", "D")],
    "chain3": [("A", "B"), ("B", "C"), ("C", "D")],
    "bifan": [("A", "C"), ("A", "D"), ("B", "C"), ("B", "D")],
    "biparallel": [("A", "B"), ("A", "C"), ("B", "D"), ("C", "D")],
}


def random_masks(rng, sizes, density=0.5, bias=True, batch=None):
    """Random binary masks of a layered network with the given layer sizes."""
    lead = () if batch is None else (batch,)
    ws = [rng.random(lead + (sizes[i + 1], sizes[i])) < density for i in range(len(sizes) - 1)]
    bs = None
    if bias:
        bs = [rng.random(lead + (sizes[i + 1],)) < density for i in range(len(sizes) - 1)]
    return ws, bs


def to_digraph(ws, bs=None) -> nx.DiGraph:
    """The connectivity graph: nodes (layer, index) and ("bias", layer)."""
    g = nx.DiGraph()
    for l, w in enumerate(ws):
        w = np.asarray(w)
        for i in range(w.shape[1]):
            g.add_node((l, i))
        for o in range(w.shape[0]):
            g.add_node((l + 1, o))
        for o, i in zip(*np.nonzero(w)):
            g.add_edge((l, int(i)), (l + 1, int(o)))
        if bs is not None and bs[l] is not None:
            g.add_node(("bias", l))
            for o in np.nonzero(np.asarray(bs[l]))[0]:
                g.add_edge(("bias", l), (l + 1, int(o)))
    return g


def _pattern(edges) -> nx.DiGraph:
    p = nx.DiGraph()
    p.add_edges_from(edges)
    return p


def enumerate_counts(ws, bs=None) -> dict[str, int]:
    """Motif counts by subgraph monomorphism enumeration, divided by automorphisms."""
    g = to_digraph(ws, bs)
    out = {}
    for name, edges in PATTERNS.items():
        p = _pattern(edges)
        autos = sum(1 for _ in DiGraphMatcher(p, p).isomorphisms_iter())
        monos = sum(1 for _ in DiGraphMatcher(g, p).subgraph_monomorphisms_iter())
        assert monos % autos == 0
        out[name] = monos // autos
    return out


def iterative_clean(ws, bs=None):
    """The seed's procedure: drop hidden neurons with no in (bias counts) or no out edge, repeat."""
    ws = [np.array(w, dtype=bool) for w in ws]
    bs = None if bs is None else [None if b is None else np.array(b, dtype=bool) for b in bs]
    changed = True
    while changed:
        changed = False
        for layer in range(1, len(ws)):
            for j in range(ws[layer].shape[1]):
                has_bias = bs is not None and bs[layer - 1] is not None and bool(bs[layer - 1][j])
                incoming = ws[layer - 1][j].any() or has_bias
                outgoing = ws[layer][:, j].any()
                if incoming == outgoing:  # both: effectual; neither: already isolated
                    continue
                ws[layer - 1][j] = False
                ws[layer][:, j] = False
                if has_bias:
                    bs[layer - 1][j] = False
                changed = True
    return ws, bs


def ghost_dead_by_paths(ws, bs=None):
    """Per hidden layer, (ghost, dead) counts from explicit path searches in networkx."""
    g = to_digraph(ws, bs)
    sources = [n for n in g if n[0] == 0 or n[0] == "bias"]
    reached = set(sources)
    for s in sources:
        reached |= nx.descendants(g, s)
    n_layers = len(ws)
    outputs = [n for n in g if n[0] == n_layers]
    coreached = set(outputs)
    for t in outputs:
        coreached |= nx.ancestors(g, t)
    ghost, dead = [], []
    for layer in range(1, n_layers):
        nodes = [n for n in g if n[0] == layer and g.degree(n) > 0]
        ghost.append(sum(n not in reached for n in nodes))
        dead.append(sum(n in reached and n not in coreached for n in nodes))
    return ghost, dead
