"""Motif counts of layered feed-forward networks, and removal of ineffectual neurons.

A network is given by its binary masks in PyTorch's orientation (``weight_masks[l]`` is
(n_out, n_in), ``bias_masks[l]`` is (n_out,)); the bias node of layer l is an extra source that
feeds layer l+1. Since edges only join consecutive layers, every motif of motifs.md has a closed
form in degrees and small matrix products, so counting a network costs a few matrix products
instead of a subgraph enumeration. Two evaluations of the same closed forms (chosen by
:func:`count_batch`): dense torch products (any device; described below), and on the CPU a numba
kernel over edge lists and bitsets whose cost follows the number of edges
(:mod:`mothlib.motifs._count_sparse`). All counts are exact int64: matrix products of 0/1 masks are
small integers (exact in float32 below 2**24, float64 beyond), converted to int64 before any
binomial is formed; sums of squares are exact in float64 below 2**53 and fall back to int64.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mothlib.core.masks import as_masks, neurons_with_edges

# torch is imported by the functions that count with it: the book's chapters import this module
# (directly and through mothlib.study.findings) for the motif names and remove_ineffectual.
if TYPE_CHECKING:
    import torch

__all__ = [
    "MOTIFS", "MOTIF_ORDER", "SECOND_ORDER", "THIRD_ORDER", "SPARSE_MAX_DENSITY", "COUNT_METHODS",
    "density", "count_batch", "count_motifs", "CHAIN_DEFINITIONS", "chain_counts",
    "remove_ineffectual",
]

#: Motif names in report order (first order, then 2nd order with 3 nodes, then 3rd order with 4 nodes).
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


def _sum_prod(x: torch.Tensor, y: torch.Tensor, bound: int) -> torch.Tensor:
    """sum(x * y) over the last two axes of two integer-valued matrices, exact int64.

    ``bound`` bounds every entry. The products are exact in float32 while entries stay below
    2**12 (else float64 is used); they are accumulated in float64, exact below 2**53, else
    recomputed in int64.
    """
    import torch

    if x.dtype == torch.float32 and bound >= _SQ_F32_EXACT:
        x, y = x.double(), y.double()
    s = (x * y).sum(dim=(1, 2), dtype=torch.float64)
    if bool((s >= _EXACT).any()):
        return (x.long() * y.long()).sum(dim=(1, 2))
    return s.long()


def _chunks(n: int) -> list[slice]:
    parts = 2 if n >= 128 else 1
    edges = [n * k // parts for k in range(parts + 1)]
    return [slice(edges[k], edges[k + 1]) for k in range(parts)]


def _gram_sums(
    a: torch.Tensor, w_next: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """||H||_F^2 and <K, H> for H = A A^T and K = W'^T W' (both over the rows of A).

    H and K are symmetric, so only their block upper triangle is formed (off-diagonal blocks
    count twice): about 3/4 of the work of the full products.
    """
    import torch

    hh = torch.zeros(a.shape[0], dtype=torch.int64, device=a.device)
    hk = torch.zeros_like(hh)
    parts = _chunks(a.shape[1])
    for i, ri in enumerate(parts):
        for rj in parts[i:]:
            weight = 1 if ri == rj else 2
            h = a[:, ri] @ a[:, rj].transpose(1, 2)
            bound = max(a.shape[2], 1 if w_next is None else w_next.shape[1])
            hh += weight * _sum_prod(h, h, bound)
            if w_next is not None:
                k = w_next[:, :, ri].transpose(1, 2) @ w_next[:, :, rj]
                hk += weight * _sum_prod(h, k, bound)
    return hh, (None if w_next is None else hk)


def _count(
    ws: list[np.ndarray], bs: list[np.ndarray | None], device: Any = None
) -> dict[str, np.ndarray]:
    """Counts of validated masks (B, ...) as int64 arrays of shape (B,).

    Matrix products run in torch (numpy's stacked matmul is an order of magnitude slower here,
    and torch can use a GPU). Products of 0/1 matrices are small integers, exact in float32 (see
    below); degrees become int64 before any binomial is formed, sums of products are taken in
    float64 (exact below 2**53) and fall back to int64 beyond.
    """
    import torch

    dev = torch.device(device or "cpu")
    size = ws[0].shape[0]
    counts = {m: torch.zeros(size, dtype=torch.int64, device=dev) for m in MOTIFS}
    # 0/1 matrices are held in float32 while every product entry and degree is a sum of fewer
    # than _F32_EXACT 0/1 terms: each partial sum is then an integer below 2**24, which float32
    # represents exactly in any summation order. Wider layers use float64.
    wide = max(max(w.shape[1:]) for w in ws) + 1 >= _F32_EXACT
    np_dtype = np.float64 if wide else np.float32

    def _tensor(x: Any) -> torch.Tensor:
        if isinstance(x, torch.Tensor):  # e.g. null networks drawn on the device
            return x.to(dev, torch.float64 if wide else torch.float32)
        return torch.from_numpy(np.array(x, dtype=np_dtype)).to(dev)

    # Per layer block the adjacency A (B, n_out, n_in [+1]) with the bias node as last source.
    blocks = []
    for w, b in zip(ws, bs):
        a = _tensor(w)
        if b is not None:
            a = torch.cat([a, _tensor(b)[:, :, None]], dim=2)
        blocks.append(a)
    outdeg = [a.sum(dim=1).long() for a in blocks]  # (B, n_in [+1])
    indeg = [a.sum(dim=2).long() for a in blocks]  # (B, n_out)
    n_layers = len(blocks)
    for l, a in enumerate(blocks):
        counts["edges"] += outdeg[l].sum(dim=1)
        div2 = _comb2(outdeg[l]).sum(dim=1)
        counts["diverging2"] += div2
        counts["diverging3"] += _comb3(outdeg[l]).sum(dim=1)
        counts["converging2"] += _comb2(indeg[l]).sum(dim=1)
        counts["converging3"] += _comb3(indeg[l]).sum(dim=1)
        n_mid = a.shape[1]  # neurons of layer l+1
        w_next = blocks[l + 1][:, :, :n_mid] if l + 1 < n_layers else None  # W' (no bias column)
        if w_next is None and a.shape[2] < a.shape[1]:
            gram_sq, _ = _gram_sums(a.transpose(1, 2), None)  # the smaller Gram, same norm
        else:
            gram_sq, paths_sq = _gram_sums(a, w_next)
        # bifan: sum over source pairs i < j of C(G_ij, 2), G = A^T A (#common out-neighbours).
        # Over all (i, j) that is (sum G^2 - sum G) / 2, with ||A^T A||_F = ||A A^T||_F and
        # sum G = sum of indeg^2; the diagonal part is sum C(outdeg, 2) = div2.
        all_pairs = (gram_sq - (indeg[l] * indeg[l]).sum(dim=1)) // 2
        counts["bifan"] += (all_pairs - div2) // 2
        if w_next is None:
            continue
        # chain2 through the neurons of layer l+1 (bias nodes have no incoming edge); it is also
        # the number of 2-paths, i.e. the sum of P = W' A (2-paths from layer l to layer l+2).
        paths = (indeg[l] * outdeg[l + 1][:, :n_mid]).sum(dim=1)
        counts["chain2"] += paths
        # biparallel: sum of C(P, 2) = (sum P^2 - sum P) / 2, and sum P^2 = <W'^T W', A A^T>.
        assert paths_sq is not None  # _gram_sums gives it wherever w_next is not None
        counts["biparallel"] += (paths_sq - paths) // 2
        if l + 2 < n_layers:
            # 2-paths ending at each neuron of layer l+2 (W' @ indeg), times its out-degree. The
            # entries are at most n_mid * (n_in + 1): exact in float32 below 2**24, else float64.
            dt = a.dtype if n_mid * a.shape[2] < _F32_EXACT else torch.float64
            ending = (w_next.to(dt) @ indeg[l].to(dt)[:, :, None])[:, :, 0].long()
            counts["chain3"] += (ending * outdeg[l + 2][:, : ending.shape[1]]).sum(dim=1)
    return {m: v.cpu().numpy() for m, v in counts.items()}


@contextlib.contextmanager
def _one_thread(device: Any) -> Iterator[None]:
    """Run torch single-threaded on the CPU for the duration.

    The products here are small and many: torch's thread pool spends CPU time on them (idle
    threads spinning) without shortening the wall time, and steals cores from Dask's workers.
    """
    import torch

    if torch.device(device or "cpu").type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


#: Sparse (edge-list/bitset) counting on the CPU for networks at most this dense (edges / slots
#: over all blocks); dense torch products above (one thread: sparse faster up to density 0.7,
#: dense at 1.0; `benchmarks/bench_nulls.py --crossing`, figures in benchmarks/README.md).
SPARSE_MAX_DENSITY: float = 0.8
COUNT_METHODS: tuple[str, ...] = ("auto", "dense", "sparse")


def density(ws: list[np.ndarray], bs: list[np.ndarray | None]) -> float:
    """Fraction of present edges over all weight and bias slots of a batch of masks."""
    edges = sum(int(np.count_nonzero(w)) for w in ws) + sum(int(np.count_nonzero(b)) for b in bs if b is not None)
    slots = sum(w.size for w in ws) + sum(b.size for b in bs if b is not None)
    return edges / max(slots, 1)


def _count_sparse(ws: list[np.ndarray], bs: list[np.ndarray | None]) -> dict[str, np.ndarray]:
    from mothlib.motifs._count_sparse import COLUMNS, count_sparse

    cw = tuple(np.asarray(w) for w in ws)
    cb = tuple(np.zeros(w.shape[:2], dtype=bool) if b is None else np.asarray(b) for w, b in zip(cw, bs))
    out = count_sparse(cw, cb)
    return {m: out[:, COLUMNS.index(m)].copy() for m in MOTIFS}


def count_batch(
    ws: list[Any], bs: list[Any], device: Any = None, method: str = "auto"
) -> dict[str, np.ndarray]:
    """Counts of already validated masks (B, ...), as int64 arrays (B,); see :func:`count_motifs`.

    The masks are bool numpy arrays or torch tensors (e.g. null networks drawn on ``device``).

    ``method``: "dense" (torch products, on ``device``), "sparse" (numba edge lists, CPU only)
    or "auto": sparse on a (little-endian) CPU when the batch is at most
    :data:`SPARSE_MAX_DENSITY` dense, dense otherwise. All give the same exact counts.
    """
    import torch

    if method not in COUNT_METHODS:
        raise ValueError(f"method: must be one of {list(COUNT_METHODS)}, got {method!r}")
    on_cpu = torch.device(device or "cpu").type == "cpu"
    if method == "sparse" and not on_cpu:
        raise ValueError(f"method: 'sparse' counting runs on the CPU only, not on device {device!r}")
    if on_cpu and method != "dense" and any(isinstance(w, torch.Tensor) for w in ws):
        ws = [w.cpu().numpy() for w in ws]  # torch masks on the CPU: no copy
        bs = [None if b is None else b.cpu().numpy() for b in bs]
    if method == "auto":
        from mothlib.motifs._count_sparse import LITTLE_ENDIAN

        sparse = on_cpu and LITTLE_ENDIAN and density(ws, bs) <= SPARSE_MAX_DENSITY
        method = "sparse" if sparse else "dense"
    if method == "sparse":
        from mothlib.motifs._count_sparse import LITTLE_ENDIAN

        if not LITTLE_ENDIAN:
            raise ValueError("method: 'sparse' counting needs a little-endian CPU")
        return _count_sparse(ws, bs)
    with _one_thread(device):
        return _count(ws, bs, device)


def count_motifs(weight_masks: Any, bias_masks: Any = None, *, clean: bool = False) -> dict[str, Any]:
    """Count the motifs of a layered network as given (``clean=True``: after removing ghost and dead neurons).

    The default counts every edge of the masks, as :func:`mothlib.motifs.significance.motif_zscores`
    does by default, so ``count_motifs(m)`` equals the ``count`` column of ``motif_zscores(m)``
    for the same ``clean``. The study's protocol is ``clean=True``: ghost and dead hidden neurons
    (:func:`remove_ineffectual`) are removed first, as its stages and the ``motifs`` command do.

    Parameters
    ----------
    weight_masks : list of array-like (n_out, n_in) or (B, n_out, n_in), or a torch module
        Binary weight masks, one per linear layer, oriented like ``torch.nn.Linear.weight``. A
        torch module (e.g. ``nn.Sequential``) is read layer by layer: ``torch.nn.utils.prune``'s
        ``weight_mask``/``bias_mask`` buffers where present, nonzero weights otherwise; a layer
        without bias has no bias edges.
    bias_masks : list of array-like (n_out,) or (B, n_out), optional
        Binary bias masks (an entry may be None); None for a network without biases.
    clean : bool
        Remove ghost and dead hidden neurons (:func:`remove_ineffectual`) before counting.

    Returns
    -------
    dict of str -> int, or dict of str -> int64 ndarray (B,)
        Motif name (see :data:`MOTIFS`) -> count: a Python ``int`` for one network, an int64
        array of shape (B,) when any mask carries a leading batch axis B.

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
    if clean:
        ws, clean_bs, _ = remove_ineffectual(ws, bs)
        bs = [None] * len(ws) if clean_bs is None else clean_bs
    return _unbatch(count_batch(ws, bs), batched)


def _unbatch(counts: dict[str, np.ndarray], batched: bool) -> dict[str, Any]:
    """Counts (B,) as given for batched masks; Python ints for one network."""
    return counts if batched else {m: int(v[0]) for m, v in counts.items()}


#: Definitions of a chain count: every path (the motif definition), or the seed's connected
#: (start, end) node pairs.
CHAIN_DEFINITIONS: tuple[str, ...] = ("paths", "seed-pairs")


def chain_counts(weight_masks: Any, bias_masks: Any = None, definition: str = "paths") -> dict[str, Any]:
    """Count 2nd- and 3rd-order chains, as paths or by the seed's (start, end) pair definition.

    Parameters
    ----------
    weight_masks, bias_masks
        As for :func:`count_motifs` (batched masks or a torch module allowed).
    definition : {"paths", "seed-pairs"}
        ``"paths"`` counts every path A->B->C (chain2) and A->B->C->D (chain3), as
        :func:`count_motifs` does; ``"seed-pairs"`` counts the connected (start, end) node pairs,
        as the seed study did (a pair joined by several paths counts once).

    Returns
    -------
    dict of str -> int, or dict of str -> int64 ndarray (B,)
        ``{"chain2": count, "chain3": count}``: ints for one network, arrays for a batch, as
        :func:`count_motifs`'s counts.

    Raises
    ------
    ValueError
        For an unknown ``definition``, or masks :func:`count_motifs` would reject.
    """
    if definition not in CHAIN_DEFINITIONS:
        raise ValueError(f"definition: must be one of {list(CHAIN_DEFINITIONS)}, got {definition!r}")
    ws, bs, batched = as_masks(weight_masks, bias_masks)
    # Blocks (B, n_out, n_in + 1), the last column the bias node's edges. Path counts are
    # integers far below 2**53, so float64 products (BLAS) are exact where int64 ones are slow.
    blocks = [
        np.concatenate([w, np.zeros(w.shape[:2] + (1,), bool) if b is None else b[:, :, None]], axis=2)
        .astype(np.float64)
        for w, b in zip(ws, bs)
    ]
    result = {"chain2": np.zeros(len(blocks[0]), np.int64), "chain3": np.zeros(len(blocks[0]), np.int64)}
    for order, name in ((2, "chain2"), (3, "chain3")):
        for start in range(len(blocks) - order + 1):
            # Paths start at any node of layer `start` (neurons and bias node); later hops go
            # through neurons only, since a bias node has no incoming edges.
            paths = blocks[start]
            for hop in range(1, order):
                paths = blocks[start + hop][:, :, :-1] @ paths
            kept = paths if definition == "paths" else paths > 0
            result[name] += np.rint(kept.sum(axis=(1, 2))).astype(np.int64)
    return _unbatch(result, batched)


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
) -> tuple[list[np.ndarray], list[np.ndarray | None] | None, pd.DataFrame]:
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
        One row per network and hidden layer with the numbers of removed neurons that had at
        least one edge: columns ``network, layer, ghost, dead`` (``network`` is the batch index,
        0 for unbatched masks; ``layer`` 1 is the first hidden layer).
    """
    ws, bs, batched = as_masks(weight_masks, bias_masks)
    fwd, bwd = _reachability(ws, bs)
    n_layers = len(ws)
    keep = [f & b for f, b in zip(fwd, bwd)]
    keep[0] = np.ones_like(keep[0])
    keep[-1] = np.ones_like(keep[-1])
    # Which neurons had any edge (in or out, bias included) before cleaning.
    had = neurons_with_edges(ws, bs)
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
    else:
        new_w = [np.ascontiguousarray(w) for w in new_w]
        new_b = [None if b is None else np.ascontiguousarray(b) for b in new_b]
    has_bias = any(b is not None for b in bs)
    return new_w, (new_b if has_bias else None), report
