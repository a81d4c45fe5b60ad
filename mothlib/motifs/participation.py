"""Motif participation: for every edge and every node, the number of motif instances holding it.

The motifs and their instances are those of :mod:`mothlib.motifs.counts` (motifs.md): an
instance is a set of edges isomorphic to the pattern (not induced). Edges join consecutive layers
only, so each count per edge or node has a closed form in degrees, path counts and small matrix
products of the layer blocks, like the counts themselves; summed over the edges they give each
motif's count times its edges per motif (:data:`EDGES_PER_MOTIF`), summed over the nodes its
count times its nodes per motif (:data:`NODES_PER_MOTIF`). Products are taken in float64 (every
entry is an integer far below 2**53 for any network that fits in memory) and rounded to int64
before any binomial is formed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mothlib.core.masks import as_masks
from mothlib.motifs.counts import MOTIF_ORDER, MOTIFS

__all__ = ["EDGES_PER_MOTIF", "NODES_PER_MOTIF", "motif_participation", "edge_participation"]

#: Edges of each motif's pattern.
EDGES_PER_MOTIF: dict[str, int] = {
    "edges": 1, "diverging2": 2, "converging2": 2, "chain2": 2, "diverging3": 3,
    "converging3": 3, "chain3": 3, "bifan": 4, "biparallel": 4,
}
#: Nodes of each motif's pattern.
NODES_PER_MOTIF: dict[str, int] = {m: MOTIF_ORDER[m] + 1 for m in MOTIFS}


def _c2(x: np.ndarray) -> np.ndarray:
    return x * (x - 1) // 2


def _c3(x: np.ndarray) -> np.ndarray:
    return x * (x - 1) * (x - 2) // 6


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer matrix product of small non-negative integer matrices (float64 BLAS)."""
    return np.rint(np.matmul(a, b)).astype(np.int64)


def _check_edges(ws: list[np.ndarray], bs: list[np.ndarray | None]) -> None:
    n_edges = sum(w.sum(axis=(1, 2)) for w in ws) + sum(b.sum(axis=1) for b in bs if b is not None)
    empty = np.flatnonzero(np.asarray(n_edges) == 0)
    if empty.size:
        raise ValueError(
            f"participation: network {int(empty[0])} has no edges (nothing takes part in any motif)"
        )


def motif_participation(
    weight_masks: Any, bias_masks: Any = None
) -> tuple[dict[str, list[np.ndarray]], dict[str, list[np.ndarray]]]:
    """Per edge and per node, the number of instances of each motif that contain it.

    Parameters
    ----------
    weight_masks, bias_masks
        As for :func:`mothlib.motifs.counts.count_motifs` (one network, a batch with a leading
        axis B, or a torch module).

    Returns
    -------
    edges : dict of str -> list of int64 ndarray
        Motif -> one array per layer block l, shape (B, n_{l+1}, n_l + 1) (no B for one
        network): entry [o, i] is the number of instances containing the edge i -> o, the last
        column the edges of layer l's bias node; 0 where there is no edge.
    nodes : dict of str -> list of int64 ndarray
        Motif -> one array per layer l = 0 .. L, shape (B, n_l + 1) for l < L (the last entry
        layer l's bias node) and (B, n_L) for the output layer: instances containing the node.

    Raises
    ------
    ValueError
        For masks :func:`~mothlib.motifs.counts.count_motifs` rejects, or a network with no
        edges.

    Examples
    --------
    >>> import numpy as np
    >>> edges, nodes = motif_participation([np.ones((2, 1)), np.ones((1, 2))])
    >>> [int(x) for x in edges["chain2"][0][:, 0]]
    [1, 1]
    """
    ws, bs, batched = as_masks(weight_masks, bias_masks)
    _check_edges(ws, bs)
    size = ws[0].shape[0]
    L = len(ws)
    # Block l: (B, n_{l+1}, n_l + 1), the bias node of layer l as last source (zeros if absent).
    A = [
        np.concatenate([w, np.zeros((size, w.shape[1], 1), bool) if b is None else b[:, :, None]], axis=2)
        .astype(np.float64)
        for w, b in zip(ws, bs)
    ]
    Ai = [a.astype(np.int64) for a in A]
    W = [a[:, :, :-1] for a in A]  # neuron columns only (what a path continues through)
    out = [a.sum(axis=1) for a in Ai]  # (B, n_l + 1): out-degree of layer l's sources
    inn = [a.sum(axis=2) for a in Ai]  # (B, n_{l+1}): in-degree of layer l+1's neurons
    widths = [w.shape[2] for w in ws] + [ws[-1].shape[1]]

    def node_zeros(l: int) -> np.ndarray:
        return np.zeros((size, widths[l] + (1 if l < L else 0)), np.int64)

    # Per node of layer l: in-degree, out-degree, 2- and 3-paths starting and ending there.
    indeg = [node_zeros(l) for l in range(L + 1)]
    outdeg = [node_zeros(l) for l in range(L + 1)]
    for l in range(L):
        outdeg[l][:] = out[l]
        indeg[l + 1][:, : widths[l + 1]] = inn[l]
    p2_out = [node_zeros(l) for l in range(L + 1)]
    p2_in = [node_zeros(l) for l in range(L + 1)]
    p3_out = [node_zeros(l) for l in range(L + 1)]
    p3_in = [node_zeros(l) for l in range(L + 1)]
    for l in range(L - 1):  # paths leaving layer l through a neuron of layer l+1
        p2_out[l][:] = (Ai[l] * outdeg[l + 1][:, : widths[l + 1], None]).sum(axis=1)
    for l in range(L - 1, -1, -1):
        if l + 1 <= L:
            p3_out[l][:] = (Ai[l] * p2_out[l + 1][:, : widths[l + 1], None]).sum(axis=1)
    for l in range(1, L + 1):  # paths arriving at layer l from any source of layer l-1
        p2_in[l][:, : widths[l]] = (Ai[l - 1] * indeg[l - 1][:, None, :]).sum(axis=2)
        p3_in[l][:, : widths[l]] = (Ai[l - 1] * p2_in[l - 1][:, None, :]).sum(axis=2)

    edge = {m: [np.zeros(a.shape, np.int64) for a in A] for m in MOTIFS}
    node = {m: [node_zeros(l) for l in range(L + 1)] for m in MOTIFS}
    for l in range(L):
        a = Ai[l]
        n_next = widths[l + 1]
        src_out = out[l][:, None, :]  # source's out-degree, per edge
        dst_in = inn[l][:, :, None]  # target's in-degree, per edge
        edge["edges"][l] = a.copy()
        edge["diverging2"][l] = a * (src_out - 1)
        edge["diverging3"][l] = a * _c2(src_out - 1)
        edge["converging2"][l] = a * (dst_in - 1)
        edge["converging3"][l] = a * _c2(dst_in - 1)
        tgt_out = outdeg[l + 1][:, :n_next, None]
        src_in = indeg[l][:, None, :]
        edge["chain2"][l] = a * (tgt_out + src_in)
        edge["chain3"][l] = a * (p2_out[l + 1][:, :n_next, None] + src_in * tgt_out + p2_in[l][:, None, :])
        # bifan with the edge i -> o: another target p of i and another source j of o with j -> p;
        # (A A^T A)[o, i] counts (j, p) with j, p free, less p = o, less j = i, plus (i, o) once.
        hha = _mm(_mm(A[l], np.swapaxes(A[l], 1, 2)).astype(np.float64), A[l])
        edge["bifan"][l] = a * (hha - dst_in - src_out + 1)
    for l in range(L - 1):
        # biparallel over blocks l, l+1: P = W' A counts the 2-paths from layer l to layer l+2.
        P = _mm(W[l + 1], A[l]).astype(np.float64)
        first = _mm(np.swapaxes(W[l + 1], 1, 2), P) - outdeg[l + 1][:, : widths[l + 1], None]
        edge["biparallel"][l] += Ai[l] * first
        second = _mm(P, np.swapaxes(A[l], 1, 2)) - indeg[l + 1][:, None, : widths[l + 1]]
        edge["biparallel"][l + 1][:, :, : widths[l + 1]] += Ai[l + 1][:, :, :-1] * second
        # Nodes: as the start or end of the two parallel paths, C(P, 2) over the other end.
        Pi = np.rint(P).astype(np.int64)
        node["biparallel"][l] += _c2(Pi).sum(axis=1)
        node["biparallel"][l + 2][:, : widths[l + 2]] += _c2(Pi).sum(axis=2)
        # As a middle node: one of its in-edges takes part in its first-block role.
        node["biparallel"][l + 1][:, : widths[l + 1]] += (Ai[l] * first).sum(axis=2)

    for l in range(L + 1):
        deg_in, deg_out = indeg[l], outdeg[l]
        node["edges"][l] = deg_in + deg_out
        node["diverging2"][l] = _c2(deg_out)
        node["diverging3"][l] = _c3(deg_out)
        node["converging2"][l] = _c2(deg_in)
        node["converging3"][l] = _c3(deg_in)
        node["chain2"][l] = p2_out[l] + deg_in * deg_out + p2_in[l]
        node["chain3"][l] = p3_out[l] + deg_in * p2_out[l] + p2_in[l] * deg_out + p3_in[l]
    for l in range(L):
        n_next = widths[l + 1]
        # A leaf of a diverging motif holds one edge, from its centre; likewise a converging
        # motif's source holds one edge, to its centre.
        for m in ("diverging2", "diverging3"):
            node[m][l + 1][:, :n_next] += edge[m][l].sum(axis=2)
        for m in ("converging2", "converging3"):
            node[m][l] += edge[m][l].sum(axis=1)
        # bifan: a pair of sources with C(common targets, 2) pairs of targets, and the reverse.
        G = _mm(np.swapaxes(A[l], 1, 2), A[l])
        H = _mm(A[l], np.swapaxes(A[l], 1, 2))
        diag_g = np.diagonal(G, axis1=1, axis2=2)
        diag_h = np.diagonal(H, axis1=1, axis2=2)
        node["bifan"][l] += _c2(G).sum(axis=2) - _c2(diag_g)
        node["bifan"][l + 1][:, :n_next] += _c2(H).sum(axis=2) - _c2(diag_h)

    if not batched:
        edge = {m: [x[0] for x in v] for m, v in edge.items()}
        node = {m: [x[0] for x in v] for m, v in node.items()}
    return edge, node


def edge_participation(weight_masks: Any, bias_masks: Any = None) -> dict[str, list[np.ndarray]]:
    """Per edge, the number of instances of each motif containing it: the ``edges`` part of
    :func:`participation` (same arguments, same shapes)."""
    return motif_participation(weight_masks, bias_masks)[0]
