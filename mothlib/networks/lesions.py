"""Lesions without retraining: remove a network's surviving edges in a given order and measure
its loss and the input-to-output paths left.

Edges are addressed as in :func:`mothlib.motifs.participation.motif_participation`: layer block l is
(n_{l+1}, n_l + 1), the last column the bias node's edges, and an edge's flat index runs over
the blocks' entries in order (:func:`as_blocks`). Orders (:func:`lesion_curve`):

``by:<score>``
    The surviving edges with the highest score first (e.g. participation in a motif); ties in
    a random order from the network's generator.
``magnitude``
    The smallest ``|w|`` first (ties by index).
``random``
    Uniformly random surviving edges (``n_draws`` draws).
``matched:<score>``
    For each fraction, as many random surviving edges as ``by:<score>`` removes from each
    magnitude bin (``n_bins`` quantile bins of ``|w|`` per block): random edges with the same
    magnitude distribution and block counts as the score's choice (``n_draws`` draws).

Every lesioned variant of a network is evaluated in one batched ensemble
(:class:`~mothlib.networks.ensemble.EnsembleMLP`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mothlib.networks.pruning import prune_count

__all__ = [
    "LESION_COLUMNS", "check_lesion_fractions", "removal_count", "as_blocks", "from_blocks",
    "input_output_paths", "lesion_losses", "lesion_curve",
]

#: Columns of :func:`lesion_curve`'s table.
LESION_COLUMNS = ["order", "score", "draw", "fraction", "n_removed", "val_loss", "paths"]


def check_lesion_fractions(fractions: Sequence[float], name: str = "lesion_fractions") -> list[float]:
    """Fractions of the surviving edges to remove: non-empty, each in (0, 1), no repeats."""
    out = [float(f) for f in fractions]
    if not out:
        raise ValueError(f"{name}: at least one fraction is needed")
    for f in out:
        if not 0.0 < f < 1.0:
            raise ValueError(f"{name}: {f!r} is outside (0, 1); give fractions of the surviving edges")
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: repeated fractions in {out}")
    return out


def removal_count(fraction: float, n_surviving: int) -> int:
    """Edges a fraction removes: ``floor(fraction * n)``, at least one, at most ``n``."""
    return min(int(n_surviving), max(1, prune_count(fraction, n_surviving)))


def as_blocks(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per layer the block (n_out, n_in + 1): the weights, then the bias as last column."""
    return [np.concatenate([np.asarray(w), np.asarray(b)[:, None]], axis=1) for w, b in zip(weights, biases)]


def from_blocks(blocks: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Inverse of :func:`as_blocks` (works on a leading batch axis too)."""
    return [b[..., :-1] for b in blocks], [b[..., -1] for b in blocks]


def input_output_paths(weight_masks: Sequence[np.ndarray]) -> np.ndarray:
    """Directed paths from the input neurons to the output neurons (bias nodes not counted).

    Parameters
    ----------
    weight_masks : list of bool arrays (B, n_out, n_in)

    Returns
    -------
    int64 array (B,)
    """
    bound = float(np.prod([float(w.shape[-1]) for w in weight_masks])) * weight_masks[-1].shape[-2]
    if bound >= 2.0**53:  # float64 products would round: exact Python integers
        paths: Any = np.ones(weight_masks[0].shape[:1] + (weight_masks[0].shape[-1],), dtype=object)
        for w in weight_masks:
            paths = np.einsum("boi,bi->bo", np.asarray(w).astype(object), paths)
        return np.array([int(p) for p in paths.sum(axis=1)], dtype=np.int64)
    v = np.ones(weight_masks[0].shape[:1] + (weight_masks[0].shape[-1], 1))
    for w in weight_masks:
        v = np.matmul(np.asarray(w, dtype=np.float64), v)
    return np.rint(v.sum(axis=(1, 2))).astype(np.int64)


def lesion_losses(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], removed: np.ndarray,
    X: np.ndarray, Y: np.ndarray, *, loss: str = "mse",
) -> tuple[np.ndarray, np.ndarray]:
    """Loss and input-to-output paths of one network with each of V edge sets removed.

    Parameters
    ----------
    weights, biases : lists of (n_out, n_in) and (n_out,) float arrays (pruned entries 0)
    removed : bool array (V, n_edges)
        Edges (flat block indices, :func:`as_blocks`) removed in each variant.
    X, Y : arrays (n, n_in) and (n, n_out) (or class indices (n, 1) for cross-entropy)
    loss : {"mse", "cross_entropy"}

    Returns
    -------
    losses : float64 (V,)
    paths : int64 (V,)
    """
    # torch is imported here, where the variants are evaluated: every profile's settings check
    # imports this module (check_lesion_fractions).
    import torch

    from mothlib.networks.ensemble import EnsembleMLP, check_loss, evaluate

    check_loss(loss)
    blocks = as_blocks(weights, biases)
    sizes = [b.size for b in blocks]
    removed = np.asarray(removed, dtype=bool)
    if removed.ndim != 2 or removed.shape[1] != sum(sizes):
        raise ValueError(f"removed: expected shape (V, {sum(sizes)}), got {removed.shape}")
    n_var = removed.shape[0]
    keep = ~removed
    bounds = np.cumsum([0, *sizes])
    masked = [
        (blocks[l] != 0)[None] & keep[:, bounds[l]:bounds[l + 1]].reshape((n_var, *blocks[l].shape))
        for l in range(len(blocks))
    ]
    wm, bm = from_blocks(masked)
    layer_sizes = [blocks[0].shape[1] - 1, *[b.shape[0] for b in blocks]]
    model = EnsembleMLP(layer_sizes, [0] * n_var, device="cpu")
    with torch.no_grad():
        for l, (w, b) in enumerate(zip(weights, biases)):
            model.weights[l].copy_(torch.from_numpy(np.broadcast_to(np.asarray(w, np.float32), model.weights[l].shape).copy()))
            model.biases[l].copy_(torch.from_numpy(np.broadcast_to(np.asarray(b, np.float32), model.biases[l].shape).copy()))
    model.set_masks([torch.from_numpy(np.ascontiguousarray(m)) for m in wm],
                    [torch.from_numpy(np.ascontiguousarray(m)) for m in bm])
    x = torch.as_tensor(np.asarray(X, dtype=np.float32))
    y = torch.as_tensor(np.asarray(Y, dtype=np.float32 if loss == "mse" else np.int64))
    losses = evaluate(model, x, y, loss=loss)
    return np.asarray(losses, dtype=np.float64), input_output_paths(wm)


def _top(score: np.ndarray, alive: np.ndarray, gen: np.random.Generator) -> np.ndarray:
    """Surviving edge indices by score, highest first; ties in a random order."""
    idx = np.flatnonzero(alive)
    shuffled = idx[gen.permutation(len(idx))]
    return shuffled[np.argsort(-score[shuffled], kind="stable")]


def lesion_curve(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], scores: Mapping[str, np.ndarray],
    fractions: Sequence[float], X: np.ndarray, Y: np.ndarray, *, seed: np.random.SeedSequence,
    n_draws: int = 3, n_bins: int = 10, loss: str = "mse",
) -> pd.DataFrame:
    """Validation loss and paths left as the surviving edges are removed in several orders.

    Parameters
    ----------
    weights, biases : lists of (n_out, n_in) and (n_out,) float arrays, pruned entries exactly 0
    scores : dict of str -> array (n_edges,)
        Per edge (flat block index) a score, e.g. its participation in a motif: each gives the
        orders ``by:<name>`` and ``matched:<name>``.
    fractions : sequence of float in (0, 1)
        Shares of the surviving edges removed (each from the unlesioned network).
    X, Y : validation inputs and targets
    seed : SeedSequence
        The network's stream: ties, random and matched draws come from it alone.
    n_draws : int
        Draws of the random and matched orders.
    n_bins : int
        Magnitude bins (quantiles of ``|w|`` among a block's surviving edges) of the matched order.
    loss : {"mse", "cross_entropy"}

    Returns
    -------
    DataFrame
        :data:`LESION_COLUMNS`: ``order`` (by, magnitude, random, matched), ``score`` (the score's
        name, "" for magnitude and random), ``draw``, ``fraction``, ``n_removed``, ``val_loss``,
        ``paths``; first a row of the unlesioned network (order "none", fraction 0).

    Raises
    ------
    ValueError
        For a fraction outside (0, 1), a network without surviving edges, a score of the wrong
        length, or ``n_draws``/``n_bins`` below 1.
    """
    fracs = check_lesion_fractions(fractions)
    if int(n_draws) < 1 or int(n_bins) < 1:
        raise ValueError(f"n_draws and n_bins must be at least 1, got {n_draws}, {n_bins}")
    blocks = as_blocks(weights, biases)
    values = np.concatenate([b.ravel() for b in blocks])
    alive = values != 0
    n_alive = int(alive.sum())
    if n_alive == 0:
        raise ValueError("lesion_curve: the network has no surviving edges")
    for name, s in scores.items():
        if np.shape(s) != values.shape:
            raise ValueError(f"scores[{name!r}]: expected shape {values.shape}, got {np.shape(s)}")
    gen = np.random.default_rng(seed)
    mag = np.abs(values)
    # Magnitude bin of every surviving edge, per block (ids unique across blocks).
    bins = np.full(values.shape, -1, np.int64)
    start = 0
    for l, b in enumerate(blocks):
        part = slice(start, start + b.size)
        a = alive[part]
        if a.any():
            edges = np.quantile(mag[part][a], np.linspace(0, 1, n_bins + 1)[1:-1])
            local = np.searchsorted(edges, mag[part], side="right")
            bins[part] = np.where(a, l * n_bins + local, -1)
        start += b.size
    counts = [removal_count(f, n_alive) for f in fracs]
    rows: list[tuple[str, str, int]] = [("none", "", 0)]
    sets: list[np.ndarray] = [np.zeros(values.shape, bool)]
    fraction_of: list[float] = [0.0]

    def add(order: str, score: str, draw: int, chosen: np.ndarray, f: float) -> None:
        r = np.zeros(values.shape, bool)
        r[chosen] = True
        rows.append((order, score, draw))
        sets.append(r)
        fraction_of.append(f)

    by_magnitude = np.flatnonzero(alive)[np.argsort(mag[alive], kind="stable")]
    for f, k in zip(fracs, counts):
        add("magnitude", "", 0, by_magnitude[:k], f)
    for d in range(int(n_draws)):
        perm = np.flatnonzero(alive)[gen.permutation(n_alive)]
        for f, k in zip(fracs, counts):
            add("random", "", d, perm[:k], f)
    for name in sorted(scores):
        order = _top(np.asarray(scores[name], dtype=np.float64), alive, gen)
        for f, k in zip(fracs, counts):
            add("by", name, 0, order[:k], f)
        for d in range(int(n_draws)):
            for f, k in zip(fracs, counts):
                ids, need = np.unique(bins[order[:k]], return_counts=True)
                chosen = [gen.choice(np.flatnonzero(bins == i), size=c, replace=False) for i, c in zip(ids, need)]
                add("matched", name, d, np.concatenate(chosen), f)
    removed = np.stack(sets)
    losses, paths = lesion_losses(weights, biases, removed, X, Y, loss=loss)
    table = pd.DataFrame(rows, columns=["order", "score", "draw"])
    table["fraction"] = fraction_of
    table["n_removed"] = removed.sum(axis=1).astype(np.int64)
    table["val_loss"] = losses
    table["paths"] = paths
    return table[LESION_COLUMNS]
