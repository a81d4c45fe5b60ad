"""Input validation for connectivity masks, and reading masks out of PyTorch models.

Every public function of :mod:`mothlib.motifs.counts`, :mod:`mothlib.motifs.nulls` and
:mod:`mothlib.motifs.significance` goes through :func:`as_masks`, so that all of them accept the same
inputs (lists of arrays or tensors, optionally batched, or a torch module) and reject bad ones
with the same messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Masks", "binary_mask", "module_masks", "is_module", "as_masks", "neurons_with_edges"]

#: A validated network: per layer a bool array (B, n_out, n_in) and a bool array (B, n_out) or
#: None (no bias in that layer), plus whether the caller passed a batch axis.
Masks = tuple[list[np.ndarray], list[np.ndarray | None], bool]


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def binary_mask(arr: Any, name: str) -> np.ndarray:
    """``arr`` as a bool array; a ValueError naming ``name`` unless every entry is 0 or 1."""
    try:
        a = _to_numpy(arr)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ValueError(f"{name}: cannot be read as an array ({exc})") from exc
    if a.dtype == bool:
        return a
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number)):
        raise ValueError(f"{name}: expected a numeric or bool array, got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.complexfloating):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name}: contains NaN or infinite values; masks must be 0/1")
    if not np.all((a == 0) | (a == 1)):
        bad = a[(a != 0) & (a != 1)].ravel()[:3]
        raise ValueError(f"{name}: masks must be binary (0/1), found values such as {bad.tolist()}")
    return a.astype(bool)


def module_masks(model: Any) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Masks of the ``torch.nn.Linear`` layers of ``model``, in registration order.

    Reads the ``weight_mask`` / ``bias_mask`` buffers that ``torch.nn.utils.prune`` leaves on a
    pruned layer where present, the nonzero pattern of the weights otherwise.

    Returns
    -------
    weight_masks : list of bool ndarray (n_out, n_in)
    bias_masks : list of (bool ndarray (n_out,) or None)
        None for a layer without bias: it has no bias parameter, which is not the same as a
        bias whose every entry was pruned (all False); :func:`as_masks` takes both.

    Raises
    ------
    ValueError
        If ``model`` has no ``torch.nn.Linear`` layer, or a mask buffer is not binary.
    """
    import torch

    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not layers:
        raise ValueError("model: contains no torch.nn.Linear layer")
    weights: list[np.ndarray] = []
    biases: list[np.ndarray | None] = []
    for i, layer in enumerate(layers):
        w = getattr(layer, "weight_mask", None)
        weights.append(binary_mask(w if w is not None else layer.weight != 0, f"layer {i} weight mask"))
        if layer.bias is None:
            biases.append(None)
        else:
            b = getattr(layer, "bias_mask", None)
            biases.append(binary_mask(b if b is not None else layer.bias != 0, f"layer {i} bias mask"))
    return weights, biases


def is_module(obj: Any) -> bool:
    return hasattr(obj, "modules") and hasattr(obj, "parameters") and callable(obj.modules)


def as_masks(weight_masks: Any, bias_masks: Any = None) -> Masks:
    """Validate a network's masks and bring them to a common batched form.

    Parameters
    ----------
    weight_masks : sequence of array-like (n_out, n_in) or (B, n_out, n_in), or a torch module
        One binary mask per linear layer, oriented like ``torch.nn.Linear.weight``.
    bias_masks : sequence of array-like (n_out,) or (B, n_out) or None, optional
        One per layer (an entry may be None for a layer without bias); None for no biases.

    Returns
    -------
    weights : list of bool ndarray (B, n_out, n_in)
    biases : list of (bool ndarray (B, n_out) or None)
    batched : bool
        Whether any input mask carried a leading batch axis (B is 1 otherwise).

    Raises
    ------
    ValueError
        Naming the offending layer, for non-binary or non-finite masks, shapes that do not chain
        from layer to layer, a bias mask of the wrong length, or inconsistent batch sizes.
    """
    if is_module(weight_masks):
        if bias_masks is not None:
            raise ValueError("bias_masks: must be None when a torch model is given")
        weight_masks, bias_masks = module_masks(weight_masks)
    if isinstance(weight_masks, np.ndarray) or not isinstance(weight_masks, Sequence):
        raise ValueError(
            "weight_masks: expected a list of per-layer masks (or a torch module), "
            f"got {type(weight_masks).__name__}"
        )
    if len(weight_masks) == 0:
        raise ValueError("weight_masks: at least one layer is needed")
    n_layers = len(weight_masks)
    if bias_masks is None:
        bias_masks = [None] * n_layers
    elif isinstance(bias_masks, np.ndarray) or not isinstance(bias_masks, Sequence):
        raise ValueError(f"bias_masks: expected a list of per-layer masks or None, got {type(bias_masks).__name__}")
    elif len(bias_masks) != n_layers:
        raise ValueError(f"bias_masks: {len(bias_masks)} masks for {n_layers} weight masks")

    ws = [binary_mask(w, f"weight_masks[{i}]") for i, w in enumerate(weight_masks)]
    bs = [None if b is None else binary_mask(b, f"bias_masks[{i}]") for i, b in enumerate(bias_masks)]

    batch: int | None = None
    batch_from = ""

    def _check_batch(size: int, name: str) -> None:
        nonlocal batch, batch_from
        if batch is None:
            batch, batch_from = size, name
        elif size != batch:
            raise ValueError(f"{name}: batch size {size} differs from {batch_from}'s {batch}")

    for i, w in enumerate(ws):
        if w.ndim not in (2, 3):
            raise ValueError(f"weight_masks[{i}]: expected shape (n_out, n_in) or (B, n_out, n_in), got {w.shape}")
        if w.ndim == 3:
            _check_batch(w.shape[0], f"weight_masks[{i}]")
        if i > 0 and w.shape[-1] != ws[i - 1].shape[-2]:
            raise ValueError(
                f"weight_masks[{i}]: has {w.shape[-1]} inputs but weight_masks[{i - 1}] has "
                f"{ws[i - 1].shape[-2]} outputs (shapes {ws[i - 1].shape[-2:]} then {w.shape[-2:]} do not chain)"
            )
    for i, b in enumerate(bs):
        if b is None:
            continue
        if b.ndim not in (1, 2):
            raise ValueError(f"bias_masks[{i}]: expected shape (n_out,) or (B, n_out), got {b.shape}")
        if b.shape[-1] != ws[i].shape[-2]:
            raise ValueError(
                f"bias_masks[{i}]: has length {b.shape[-1]} but layer {i} has {ws[i].shape[-2]} outputs"
            )
        if b.ndim == 2:
            _check_batch(b.shape[0], f"bias_masks[{i}]")
    batched = batch is not None
    size = batch if batch is not None else 1
    ws = [_batch_view(w, size, 2) for w in ws]
    bs = [None if b is None else _batch_view(b, size, 1) for b in bs]
    return ws, bs, batched


def _batch_view(a: np.ndarray, size: int, ndim: int) -> np.ndarray:
    """``a`` as a read-only (size, ...) view: np.broadcast_to, without its cost (several
    microseconds a call) where no axis is broadcast."""
    if a.ndim == ndim + 1 and a.shape[0] == size:
        v = a.view()
    elif a.ndim == ndim and size == 1:
        v = a[None]
    else:
        return np.broadcast_to(a, (size,) + a.shape[-ndim:])
    v.flags.writeable = False
    return v


def neurons_with_edges(
    ws: Sequence[np.ndarray], bs: Sequence[np.ndarray | None]
) -> list[np.ndarray]:
    """Which neurons of every layer have any edge (in or out, bias edges included).

    Works with or without a leading batch axis: ``ws[l]`` is (..., n_out, n_in) and the result
    for layer ``l`` is a bool array (..., n_l).
    """
    n_layers = len(ws)
    has = []
    for layer in range(n_layers + 1):
        parts: list[Any] = []  # numpy's stubs type .any(axis=...) as a bool or an array
        if layer > 0:
            parts.append(ws[layer - 1].any(axis=-1))
            b = bs[layer - 1]
            if b is not None:
                parts.append(b.astype(bool))
        if layer < n_layers:
            parts.append(ws[layer].any(axis=-2))
        h = parts[0].copy()
        for part in parts[1:]:
            h |= part
        has.append(h)
    return has
