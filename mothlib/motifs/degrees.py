"""Degree heterogeneity of a layered network's masks: how unevenly edges spread over neurons.

The ``training_length`` stage (:mod:`mothlib.study.training_length`) records it for every layer
block of the cleaned masks of every pruned level, next to the motif z-scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["degree_cv", "degree_heterogeneity"]


def degree_cv(degrees: Sequence[int] | np.ndarray) -> float:
    """Coefficient of variation (population std / mean) of the positive degrees.

    Neurons of degree 0 on this side (pruned away, or removed as ineffectual) are left out:
    they are not part of the graph the null models rewire.

    Parameters
    ----------
    degrees : int array (n,)

    Returns
    -------
    float
        ``std(d) / mean(d)`` over ``d > 0`` (ddof 0); NaN when no degree is positive.
    """
    d = np.asarray(degrees, dtype=float).ravel()
    if d.size and (d < 0).any():
        raise ValueError(f"degrees must be non-negative, got minimum {d.min()}")
    d = d[d > 0]
    if d.size == 0:
        return float("nan")
    return float(d.std() / d.mean())


def degree_heterogeneity(weight_masks: Sequence[np.ndarray]) -> pd.DataFrame:
    """Degree CV of each layer block of one network's weight masks (bias edges not counted).

    Parameters
    ----------
    weight_masks : sequence of bool arrays, block ``l`` of shape (n_{l+1}, n_l)
        Masks of one network (the stage passes them cleaned of ineffectual neurons).

    Returns
    -------
    DataFrame
        Two rows per block (``block`` l joins layer l to l+1): ``side`` "out" (out-degrees of
        layer l's neurons) and "in" (in-degrees of layer l+1's neurons), with ``n_neurons`` (of
        positive degree) and ``cv`` (:func:`degree_cv`).
    """
    rows = []
    for l, w in enumerate(weight_masks):
        w = np.asarray(w)
        if w.ndim != 2:
            raise ValueError(f"weight_masks[{l}] must be 2-d (n_out, n_in), got shape {w.shape}")
        w = w.astype(bool)
        for side, deg in (("out", w.sum(axis=0)), ("in", w.sum(axis=1))):
            rows.append({"block": l, "side": side, "n_neurons": int((deg > 0).sum()), "cv": degree_cv(deg)})
    return pd.DataFrame(rows, columns=["block", "side", "n_neurons", "cv"])
