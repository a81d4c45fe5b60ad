"""Motif counts of layered feed-forward networks, and removal of ineffectual neurons.

A network is given by its binary masks in PyTorch's orientation (``weight_masks[l]`` is
(n_out, n_in), ``bias_masks[l]`` is (n_out,)); the bias node of layer l is an extra source that
feeds layer l+1. Since edges only join consecutive layers, every motif of motifs.md has a closed
form in degrees and small matrix products, so counting a network costs a few matrix products
instead of a subgraph enumeration. All counts are exact int64: matrix products of 0/1 masks are
small integers (exact in float32 below 2**24, float64 beyond), converted to int64 before any
binomial is formed; sums of squares are exact in float64 below 2**53 and fall back to int64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from mothlib._masks import as_masks

#: Motif names in report order: first order, then 2nd order (3 nodes), then 3rd order (4 nodes).
MOTIFS: tuple[str, ...] = (
    "edges",
    "diverging2",
    "converging2",
    "chain2",
    "diverging3",
    "converging3",
    "chain3",
    "bifan",
    "biparallel",
)
#: Order of each motif (number of nodes minus one).
MOTIF_ORDER: dict[str, int] = {
    "edges": 1,
    "diverging2": 2,
    "converging2": 2,
    "chain2": 2,
    "diverging3": 3,
    "converging3": 3,
    "chain3": 3,
    "bifan": 3,
    "biparallel": 3,
}
SECOND_ORDER: tuple[str, ...] = tuple(m for m in MOTIFS if MOTIF_ORDER[m] == 2)
THIRD_ORDER: tuple[str, ...] = tuple(m for m in MOTIFS if MOTIF_ORDER[m] == 3)


_EXACT = 2.0**53  # float64 holds every integer below this exactly
_F32_EXACT = 2**24  # float32 holds every integer below this exactly
_SQ_F32_EXACT = 2**12  # ... and so the square of every integer below this


def _comb2(x):
    return x * (x - 1) // 2


def _comb3(x):
    return x * (x - 1) * (x - 2) // 6


def _sum_sq(m: torch.Tensor) -> torch.Tensor:
    """Sum of squares over the last two axes, exact int64.

    Squares of the small integer entries are exact in the working dtype (entries < 2**12 in
    float32); they are accumulated in float64, exact below 2**53, else recomputed in int64.
    """
    if m.dtype == torch.float32 and bool((m >= _SQ_F32_EXACT).any()):
        m = m.double()
    s = (m * m).sum(dim=(1, 2), dtype=torch.float64)
    if bool((s >= _EXACT).any()):
        mi = m.long()
        return (mi * mi).sum(dim=(1, 2))
    return s.long()


def _count(
    ws: list[np.ndarray], bs: list[np.ndarray | None], device: str | None = None
) -> dict[str, np.ndarray]:
    """Counts of validated masks (B, ...) as int64 arrays of shape (B,).

    Matrix products run in torch (numpy's stacked matmul is an order of magnitude slower here,
    and torch can use a GPU). Products of 0/1 matrices are small integers, exact in float32 (see
    below); degrees become int64 before any binomial is formed, sums of squares are taken in
    float64 (exact below 2**53) and fall back to int64 beyond.
    """
    dev = torch.device(device or "cpu")
    size = ws[0].shape[0]
    counts = {m: torch.zeros(size, dtype=torch.int64, device=dev) for m in MOTIFS}
    # 0/1 matrices are held in float32 while every product entry and degree is a sum of at most
    # _F32_EXACT 0/1 terms: each partial sum is then an integer below 2**24, which float32
    # represents exactly in any summation order. Wider layers use float64.
    wide = max(max(w.shape[1:]) for w in ws) + 1 >= _F32_EXACT
    dtype = torch.float64 if wide else torch.float32

    def _tensor(x: np.ndarray) -> torch.Tensor:
        np_dtype = np.float64 if wide else np.float32
        return torch.from_numpy(np.array(x, dtype=np_dtype)).to(dev)

    # Per layer block the adjacency (B, n_out, n_in [+1]) with the bias node as last source.
    blocks = []
    for w, b in zip(ws, bs):
        a = _tensor(w)
        if b is not None:
            a = torch.cat([a, _tensor(b)[:, :, None]], dim=2)
        blocks.append(a)
    outdeg = [a.sum(dim=1).long() for a in blocks]  # (B, n_in [+1])
    indeg = [a.sum(dim=2).long() for a in blocks]  # (B, n_out)
    for l, a in enumerate(blocks):
        counts["edges"] += outdeg[l].sum(dim=1)
        div2 = _comb2(outdeg[l]).sum(dim=1)
        counts["diverging2"] += div2
        counts["diverging3"] += _comb3(outdeg[l]).sum(dim=1)
        counts["converging2"] += _comb2(indeg[l]).sum(dim=1)
        counts["converging3"] += _comb3(indeg[l]).sum(dim=1)
        # bifan: sum over source pairs i < j of C(G_ij, 2), G = A^T A (#common out-neighbours).
        # Sum of C(G, 2) over all (i, j) = (sum G^2 - sum G) / 2, sum G = sum of indeg^2, and the
        # diagonal part is sum C(outdeg, 2) = div2.
        gram = a.transpose(1, 2) @ a if a.shape[1] >= a.shape[2] else a @ a.transpose(1, 2)
        # ||A^T A||_F = ||A A^T||_F: take the smaller Gram matrix.
        all_pairs = (_sum_sq(gram) - (indeg[l] * indeg[l]).sum(dim=1)) // 2
        counts["bifan"] += (all_pairs - div2) // 2
    n_layers = len(blocks)
    for l in range(n_layers - 1):
        n_mid = ws[l].shape[1]
        # chain2 through neurons of layer l+1 (bias nodes have no incoming edge).
        counts["chain2"] += (indeg[l] * outdeg[l + 1][:, :n_mid]).sum(dim=1)
        # 2-paths from every source of layer l (incl. its bias node) to layer l+2.
        paths2 = blocks[l + 1][:, :, :n_mid] @ blocks[l]
        ending = paths2.sum(dim=2).long()  # 2-paths ending at each neuron of layer l+2
        counts["biparallel"] += (_sum_sq(paths2) - ending.sum(dim=1)) // 2
        if l + 2 < n_layers:
            n_end = ws[l + 1].shape[1]
            counts["chain3"] += (ending * outdeg[l + 2][:, :n_end]).sum(dim=1)
    return {m: v.cpu().numpy() for m, v in counts.items()}


def count_motifs(weight_masks: Any, bias_masks: Any = None) -> dict[str, Any]:
    """Count the motifs of a layered network (the masks as given; nothing is removed).

    Parameters
    ----------
    weight_masks : list of array-like (n_out, n_in) or (B, n_out, n_in), or a torch module
        Binary weight masks, one per linear layer, oriented like ``torch.nn.Linear.weight``. A
        torch module (e.g. ``nn.Sequential``) is read layer by layer: ``torch.nn.utils.prune``'s
        ``weight_mask``/``bias_mask`` buffers where present, nonzero weights otherwise; a layer
        without bias has no bias edges.
    bias_masks : list of array-like (n_out,) or (B, n_out), optional
        Binary bias masks (an entry may be None); None for a network without biases.

    Returns
    -------
    dict
        Motif name (see :data:`MOTIFS`) -> count: a Python int, or an int64 array (B,) when any
        mask carries a leading batch axis B.

    Raises
    ------
    ValueError
        For non-binary or non-finite masks, shapes that do not chain, wrong bias lengths or
        inconsistent batch sizes (the message names the layer).

    Examples
    --------
    >>> import numpy as np
    >>> count_motifs([np.ones((3, 2)), np.ones((1, 3))])["chain2"]
    6
    """
    ws, bs, batched = as_masks(weight_masks, bias_masks)
    counts = _count(ws, bs)
    if batched:
        return counts
    return {m: int(v[0]) for m, v in counts.items()}


def _reachability(
    ws: list[np.ndarray], bs: list[np.ndarray | None]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Forward (from inputs and bias nodes) and backward (to outputs) reachability per layer.

    Returns lists over layers 0..L of bool arrays (B, n_layer).
    """
    size = ws[0].shape[0]
    fwd = [np.ones((size, ws[0].shape[2]), dtype=bool)]
    for w, b in zip(ws, bs):
        r = np.matmul(w.astype(np.float32), fwd[-1].astype(np.float32)[:, :, None])[:, :, 0] > 0
        if b is not None:
            r |= b
        fwd.append(r)
    bwd = [np.ones((size, ws[-1].shape[1]), dtype=bool)]
    for w in reversed(ws):
        s = np.matmul(bwd[0].astype(np.float32)[:, None, :], w.astype(np.float32))[:, 0, :] > 0
        bwd.insert(0, s)
    return fwd, bwd


def remove_ineffectual(
    weight_masks: Any, bias_masks: Any = None
) -> tuple[list[np.ndarray], list[np.ndarray] | None, pd.DataFrame]:
    """Zero every edge of ghost and dead hidden neurons.

    A ghost is a hidden neuron that no path reaches from an input neuron or a bias node; a dead
    neuron is reached but has no path to an output neuron. One forward and one backward
    reachability sweep find both; this equals repeatedly dropping hidden neurons with no incoming
    edge (bias edges count) or no outgoing edge until nothing changes. Input neurons, output
    neurons and bias nodes are never removed (they lose their edges to removed neurons).

    Parameters
    ----------
    weight_masks, bias_masks
        As for :func:`count_motifs` (batched masks or a torch module allowed).

    Returns
    -------
    weight_masks : list of bool ndarray, same shapes as given (batch axis kept if given)
    bias_masks : list of (bool ndarray or None), or None when no biases were given
    report : pandas.DataFrame
        One row per hidden layer (``layer`` 1 = first hidden layer) with the numbers of removed
        neurons that had at least one edge: columns ``layer, ghost, dead``. For batched input the
        rows of every network are stacked and a first column ``network`` (batch index) is added.
    """
    ws, bs, batched = as_masks(weight_masks, bias_masks)
    fwd, bwd = _reachability(ws, bs)
    n_layers = len(ws)
    keep = [f & b for f, b in zip(fwd, bwd)]
    keep[0] = np.ones_like(keep[0])
    keep[-1] = np.ones_like(keep[-1])
    # Which neurons had any edge (in or out, bias included) before cleaning.
    had = []
    for layer in range(n_layers + 1):
        h = np.zeros_like(keep[layer])
        if layer > 0:
            h |= ws[layer - 1].any(axis=2)
            if bs[layer - 1] is not None:
                h |= bs[layer - 1]
        if layer < n_layers:
            h |= ws[layer].any(axis=1)
        had.append(h)
    new_w = [w & keep[l + 1][:, :, None] & keep[l][:, None, :] for l, w in enumerate(ws)]
    new_b = [None if b is None else b & keep[l + 1] for l, b in enumerate(bs)]
    rows = []
    size = ws[0].shape[0]
    for net in range(size):
        for layer in range(1, n_layers):
            ghost = int((had[layer][net] & ~fwd[layer][net]).sum())
            dead = int((had[layer][net] & fwd[layer][net] & ~bwd[layer][net]).sum())
            rows.append({"network": net, "layer": layer, "ghost": ghost, "dead": dead})
    report = pd.DataFrame(rows, columns=["network", "layer", "ghost", "dead"]).astype(
        {"network": "int64", "layer": "int64", "ghost": "int64", "dead": "int64"}
    )
    if not batched:
        new_w = [w[0] for w in new_w]
        new_b = [None if b is None else b[0] for b in new_b]
        report = report.drop(columns="network")
    else:
        new_w = [np.ascontiguousarray(w) for w in new_w]
        new_b = [None if b is None else np.ascontiguousarray(b) for b in new_b]
    has_bias = any(b is not None for b in bs)
    return new_w, (new_b if has_bias else None), report
