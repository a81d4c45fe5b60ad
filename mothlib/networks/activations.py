"""Activation contributions of a dense network's connections, and the activation mask.

The contribution of the connection j -> i on an input is ``|w_ij * a_j|``, with ``a_j`` the
presynaptic activation (the input itself for the first layer, ``tanh`` of the pre-activation
after, 1 for a bias); :func:`mean_contributions` averages it over a set of inputs, in batches.
Since ``|w_ij a_j| = |w_ij| |a_j|``, the mean is ``|w_ij|`` times the mean of ``|a_j|``.
:func:`activation_masks` keeps, in each layer block (a layer's weights; its biases), the
connections of largest mean contribution, as many as reference masks keep there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["mean_abs_activations", "mean_contributions", "activation_masks", "jaccard"]


@torch.no_grad()
def mean_abs_activations(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], X: np.ndarray, batch_size: int = 4096,
) -> list[np.ndarray]:
    """Mean over the rows of X of ``|a_j|`` for the inputs of every layer.

    Parameters
    ----------
    weights : list of float arrays (E, n_out, n_in)
    biases : list of float arrays (E, n_out)
    X : array (n, n_in)
    batch_size : int
        Rows per forward pass.

    Returns
    -------
    list of float64 arrays (E, n_l), one per layer l = 0 .. L-1 (the layer's inputs).
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"X: expected a non-empty (n, n_in) array, got shape {X.shape}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    ws = [torch.as_tensor(np.asarray(w, dtype=np.float32)) for w in weights]
    bs = [torch.as_tensor(np.asarray(b, dtype=np.float32)) for b in biases]
    if ws[0].shape[2] != X.shape[1]:
        raise ValueError(f"X has {X.shape[1]} columns, the first layer {ws[0].shape[2]} inputs")
    sums = [torch.zeros(w.shape[0], w.shape[2], dtype=torch.float64) for w in ws]
    for start in range(0, len(X), int(batch_size)):
        a = torch.from_numpy(X[start : start + int(batch_size)]).T.expand(ws[0].shape[0], -1, -1)  # (E, n_in, B)
        for l, (w, b) in enumerate(zip(ws, bs)):
            sums[l] += a.abs().sum(dim=2, dtype=torch.float64)
            if l + 1 < len(ws):
                a = torch.tanh(torch.baddbmm(b.unsqueeze(2), w, a))
    return [(s / len(X)).numpy() for s in sums]


def mean_contributions(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], X: np.ndarray, batch_size: int = 4096,
) -> list[np.ndarray]:
    """Mean over the rows of X of ``|w_ij a_j|`` for every connection, bias as last column.

    Parameters
    ----------
    weights, biases, X, batch_size
        As for :func:`mean_abs_activations`.

    Returns
    -------
    list of float64 arrays (E, n_out, n_in + 1), one per layer block; the last column the bias
    (``|b_i|``, its activation being 1).
    """
    acts = mean_abs_activations(weights, biases, X, batch_size)
    return [
        np.concatenate([np.abs(np.asarray(w, np.float64)) * a[:, None, :], np.abs(np.asarray(b, np.float64))[:, :, None]], axis=2)
        for w, b, a in zip(weights, biases, acts)
    ]


def _top_k(values: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per row of values (E, n) the k[e] largest entries (ties to the lower index)."""
    order = np.argsort(-values, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(values.shape[1])[None, :].repeat(len(values), 0), axis=1)
    return rank < k[:, None]


def activation_masks(
    contributions: Sequence[np.ndarray], weight_masks: Sequence[np.ndarray], bias_masks: Sequence[np.ndarray],
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per layer block the connections of largest mean contribution, as many as the reference
    masks keep in that block (weights and biases of a layer are separate blocks).

    Parameters
    ----------
    contributions : list of arrays (E, n_out, n_in + 1)
        From :func:`mean_contributions`.
    weight_masks, bias_masks : lists of bool arrays (E, n_out, n_in) and (E, n_out)
        The reference masks (e.g. the magnitude-pruned networks at one level).

    Returns
    -------
    weight_masks, bias_masks : lists of bool arrays, same shapes, same number of True per
    network and block as the reference.
    """
    wms, bms = [], []
    for c, wm, bm in zip(contributions, weight_masks, bias_masks):
        wm, bm = np.asarray(wm, bool), np.asarray(bm, bool)
        if c.shape != wm.shape[:2] + (wm.shape[2] + 1,) or bm.shape != wm.shape[:2]:
            raise ValueError(f"contributions {c.shape} do not fit masks {wm.shape} and {bm.shape}")
        E = len(c)
        w = _top_k(c[:, :, :-1].reshape(E, -1), wm.reshape(E, -1).sum(axis=1))
        b = _top_k(c[:, :, -1], bm.sum(axis=1))
        wms.append(w.reshape(wm.shape))
        bms.append(b)
    return wms, bms


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Jaccard index ``|a & b| / |a | b|`` of two bool arrays (E, ...) per network (1 for two empty sets)."""
    a = np.asarray(a, bool).reshape(len(a), -1)
    b = np.asarray(b, bool).reshape(len(b), -1)
    union = (a | b).sum(axis=1)
    return np.where(union > 0, (a & b).sum(axis=1) / np.maximum(union, 1), 1.0)
