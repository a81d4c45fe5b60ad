"""Read a saved network into per-layer weight and bias masks, without running code from the file.

Two formats are read: a ``safetensors`` file, and a PyTorch state dict saved with
``torch.save(model.state_dict(), path)``, which is loaded with ``torch.load(..., weights_only=True)``
only. A file that would need full unpickling (a whole pickled model, arbitrary objects) is refused
before anything in it runs.

The linear layers are found from the keys: ``<name>.weight`` / ``<name>.bias``, or the pairs that
``torch.nn.utils.prune`` leaves, ``<name>.weight_orig`` / ``<name>.weight_mask`` (and
``bias_orig`` / ``bias_mask``). Only 2-D weights count (conv kernels and norm scales do not). Masks
are the prune masks where present, the nonzero weights otherwise. The layers are chained in the
order of the keys (a state dict keeps module order; a safetensors file does not keep any, so its
names are sorted naturally, ``layers.2`` before ``layers.10``); when that order does not chain, the
one order in which the shapes do chain is used, if there is exactly one. ``layers=`` names the
chain explicitly. Every tensor that is not part of the chain (a convolution kernel, a norm's
scale, a buffer, a linear layer left out by ``layers=``) is listed with the reason in
:attr:`Network.skipped`, so that a caller can say what was not counted.
"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Network", "SkippedTensor", "read_network", "read_tensors", "find_layers"]

_WEIGHT_KEYS = ("weight", "weight_orig", "weight_mask")
_SAVE_HINT = (
    "save the weights only, e.g. torch.save(model.state_dict(), path) or "
    "safetensors.torch.save_file(model.state_dict(), path)"
)
# Orderings tried when inferring the chain from shapes (bounds the search on many square layers).
_SEARCH_BUDGET = 20_000


@dataclass(frozen=True)
class SkippedTensor:
    """A tensor of the file that is not part of the chain of linear layers.

    Attributes
    ----------
    key : str
        The tensor's name in the file.
    shape : tuple of int
    reason : str
        Why it was not used, e.g. ``"4-D weight of 'conv1' (a convolution kernel), not a linear layer"``.
    structural : bool
        True when it carries connections (a weight of more or fewer than 2 dimensions, or a linear
        layer left out): the counted network then is only part of the saved one.
    """

    key: str
    shape: tuple[int, ...]
    reason: str
    structural: bool


@dataclass(frozen=True)
class Network:
    """The linear layers of a saved network, as masks.

    Attributes
    ----------
    path : Path
        The file read.
    format : str
        ``"safetensors"`` or ``"state_dict"``.
    layers : list of str
        Layer names (key prefixes) in chain order; ``""`` for a bare ``nn.Linear``.
    weight_masks : list of bool ndarray (n_out, n_in)
    bias_masks : list of (bool ndarray (n_out,) or None)
        None for a layer without bias.
    order_from : str
        How the order was found: ``"keys"``, ``"shapes"`` or ``"--layers"``.
    skipped : list of SkippedTensor
        Every tensor of the file that is not a weight, bias or prune mask of the chain, in the
        file's order, with the reason (empty for a plain MLP).
    """

    path: Path
    format: str
    layers: list[str]
    weight_masks: list[np.ndarray]
    bias_masks: list[np.ndarray | None]
    order_from: str
    skipped: tuple[SkippedTensor, ...] = ()

    @property
    def partial(self) -> bool:
        """True when a skipped tensor carries connections (a conv kernel, a linear layer left out)."""
        return any(t.structural for t in self.skipped)

    @property
    def sizes(self) -> list[int]:
        """Neurons per layer, inputs first: n_in of the first layer, then every n_out."""
        return [self.weight_masks[0].shape[1]] + [w.shape[0] for w in self.weight_masks]


def _is_safetensors(path: Path) -> bool:
    """A safetensors file starts with an 8-byte little-endian header length, then a JSON object."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    n = int.from_bytes(head[:8], "little")
    return 0 < n <= path.stat().st_size - 8


def _flatten(obj: Mapping, prefix: str = "") -> dict[str, Any]:
    """Tensors of a (possibly nested) mapping, keys joined with dots; other values are dropped."""
    import torch

    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, torch.Tensor):
            out[name] = value
        elif isinstance(value, Mapping):  # a checkpoint such as {"model": state_dict, "epoch": 3}
            out.update(_flatten(value, name + "."))
    return out


def read_tensors(path: str | Path) -> tuple[dict[str, Any], str]:
    """The named tensors of a saved network, in the file's key order.

    Parameters
    ----------
    path : str or Path
        A safetensors file or a ``torch.save``'d state dict.

    Returns
    -------
    tensors : dict of str -> torch.Tensor (on the CPU)
    format : str
        ``"safetensors"`` or ``"state_dict"``.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file is neither format, would need full unpickling (nothing from it is run), or
        holds no tensors.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if not path.is_file():
        raise ValueError(f"{path}: not a file")
    import torch  # here, so that a missing file is reported at once

    if _is_safetensors(path):
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises its own error types for corrupt files
            raise ValueError(f"{path}: not a readable safetensors file ({exc})") from exc
        return dict(tensors), "safetensors"
    try:
        # weights_only=True: only tensors and plain containers are rebuilt, no other callable runs.
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": our error says more
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "weights only load failed" not in text.lower():
            raise ValueError(f"{path}: not a safetensors file or a PyTorch state dict ({text})") from None
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if found:
            raise ValueError(
                f"{path}: refused, reading it would unpickle {found.group(1)} (a whole model or other "
                f"Python objects, not a state dict of tensors); {_SAVE_HINT}"
            ) from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        raise ValueError(
            f"{path}: refused, not a safetensors file or a PyTorch state dict that "
            f"torch.load(weights_only=True) can read ({detail.group(1) if detail else 'unsupported pickle'}); "
            f"{_SAVE_HINT}"
        ) from None
    except Exception as exc:  # truncated zip, random bytes, ...: torch raises many types
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ValueError(
            f"{path}: not a safetensors file or a PyTorch state dict ({type(exc).__name__}: {first})"
        ) from None
    if isinstance(obj, torch.nn.Module):  # only reachable if a caller allowlisted module classes
        raise ValueError(f"{path}: holds a whole model, not a state dict; {_SAVE_HINT}")
    if not isinstance(obj, Mapping):
        raise ValueError(
            f"{path}: expected a state dict (names -> tensors), found a {type(obj).__name__}; {_SAVE_HINT}"
        )
    tensors = _flatten(obj)
    if not tensors:
        raise ValueError(f"{path}: holds no tensors")
    return tensors, "state_dict"


def _natural_key(name: str) -> list[Any]:
    """Sort key with digit runs compared as numbers (``layers.2`` before ``layers.10``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _split(key: str) -> tuple[str, str]:
    prefix, _, leaf = key.rpartition(".")
    return prefix, leaf


def find_layers(tensors: Mapping[str, Any], natural_order: bool = False) -> list[str]:
    """Names of the linear layers (2-D weights) in key order.

    Parameters
    ----------
    tensors : mapping of str -> tensor
    natural_order : bool
        Sort the names naturally instead of keeping the mapping's order (for formats that do
        not keep an order).
    """
    names: list[str] = []
    for key, value in tensors.items():
        prefix, leaf = _split(key)
        if leaf in _WEIGHT_KEYS and value.ndim == 2 and prefix not in names:
            names.append(prefix)
    return sorted(names, key=_natural_key) if natural_order else names


def _shape(tensors: Mapping[str, Any], layer: str) -> tuple[int, int]:
    for leaf in _WEIGHT_KEYS:
        key = f"{layer}.{leaf}" if layer else leaf
        if key in tensors:
            return tuple(tensors[key].shape)
    raise KeyError(layer)  # pragma: no cover - find_layers only yields layers with a weight


def _label(layer: str) -> str:
    return repr(layer) if layer else "'' (the bare layer)"


def _first_break(layers: list[str], shapes: dict[str, tuple[int, int]]) -> tuple[str, str] | None:
    for a, b in zip(layers, layers[1:]):
        if shapes[b][1] != shapes[a][0]:
            return a, b
    return None


def _chain_orders(layers: list[str], shapes: dict[str, tuple[int, int]], limit: int = 2) -> list[list[str]] | None:
    """Up to ``limit`` orders of ``layers`` in which every shape chains; None if the search ran out."""
    found: list[list[str]] = []
    budget = [_SEARCH_BUDGET]

    def extend(path: list[str], left: set[str]) -> bool:
        budget[0] -= 1
        if budget[0] < 0:
            return False
        if not left:
            found.append(list(path))
            return len(found) < limit
        for nxt in [l for l in layers if l in left]:
            if path and shapes[nxt][1] != shapes[path[-1]][0]:
                continue
            path.append(nxt)
            left.remove(nxt)
            go_on = extend(path, left)
            left.add(nxt)
            path.pop()
            if not go_on:
                return False
        return True

    extend([], set(layers))
    return None if budget[0] < 0 else found


def _order(layers: list[str], shapes: dict[str, tuple[int, int]], path: Path) -> tuple[list[str], str]:
    broken = _first_break(layers, shapes)
    if broken is None:
        return layers, "keys"
    orders = _chain_orders(layers, shapes)
    if orders is not None and len(orders) == 1:
        return orders[0], "shapes"
    a, b = broken
    if orders:
        how = "and more than one order of them chains"
    else:
        how = "and no order of them chains" if orders is not None else "and the order cannot be inferred"
    raise ValueError(
        f"{path}: linear layers {_label(a)} ({shapes[a][0]} outputs) and {_label(b)} "
        f"({shapes[b][1]} inputs) do not chain, {how}; name the layers in order with "
        f"--layers (found: {', '.join(layers)})"
    )


def _binary_mask(t: Any, key: str) -> np.ndarray:
    a = t.detach().float().cpu().numpy()
    if not np.all((a == 0) | (a == 1)):
        raise ValueError(f"{key}: a prune mask must hold only 0 and 1")
    return a.astype(bool)


def _values(tensors: Mapping[str, Any], layer: str, leaves: Sequence[str]) -> tuple[str, Any] | None:
    for leaf in leaves:
        key = f"{layer}.{leaf}" if layer else leaf
        if key in tensors:
            return key, tensors[key]
    return None


def _layer_masks(tensors: Mapping[str, Any], layer: str, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Weight and bias mask of one layer: prune mask where present, nonzero values otherwise."""
    import torch

    masks: list[np.ndarray | None] = []
    for stem in ("weight", "bias"):
        values = _values(tensors, layer, (stem, f"{stem}_orig"))
        mask = _values(tensors, layer, (f"{stem}_mask",))
        if values is not None:
            key, t = values
            if t.is_floating_point() or t.is_complex():
                if not bool(torch.isfinite(t).all()):
                    raise ValueError(f"{path}: non-finite weights: {key!r} contains NaN or infinite values")
        if mask is not None:
            key, t = mask
            m = _binary_mask(t, f"{path}: {key!r}")
        elif values is not None:
            key, t = values
            m = (t != 0).cpu().numpy()
        else:
            masks.append(None)
            continue
        if values is not None and tuple(values[1].shape) != tuple(m.shape):
            raise ValueError(
                f"{path}: {key!r} has shape {tuple(m.shape)} but {values[0]!r} has {tuple(values[1].shape)}"
            )
        masks.append(m)
    w, b = masks
    assert w is not None  # a layer of find_layers has a weight
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"{path}: bias of layer {_label(layer)} has shape {b.shape}, expected ({w.shape[0]},)")
    return w, b


_MASK_LEAVES = ("weight", "weight_orig", "weight_mask", "bias", "bias_orig", "bias_mask")


def _skipped(tensors: Mapping[str, Any], used: Sequence[str], linear: Sequence[str]) -> tuple[SkippedTensor, ...]:
    """The tensors outside the chain ``used`` (layer names), each with why it was not used."""
    chain = set(used)
    # Layers with a weight that is not 2-D (conv kernels, norm scales): name -> that weight's shape.
    other_weights: dict[str, tuple[int, ...]] = {}
    for key, value in tensors.items():
        prefix, leaf = _split(key)
        if leaf in _WEIGHT_KEYS and value.ndim != 2:
            other_weights.setdefault(prefix, tuple(value.shape))
    out = []
    for key, value in tensors.items():
        prefix, leaf = _split(key)
        if prefix in chain and leaf in _MASK_LEAVES:
            continue
        shape = tuple(int(n) for n in value.shape)
        label = _label(prefix)
        if prefix in other_weights:
            dims = len(other_weights[prefix])
            if dims >= 3:
                kind, structural = f"a convolution ({dims}-D weight)", True
            elif dims == 1:
                kind, structural = "a normalisation (1-D weight: elementwise, no connections)", False
            else:
                kind, structural = f"a layer with a {dims}-D weight", True
            reason = f"{leaf} of {label}, {kind}, not a linear layer"
        elif prefix in linear and leaf in _MASK_LEAVES:
            reason, structural = f"linear layer {label} is not in the chain given by --layers", True
        else:
            reason, structural = "not a weight, bias or prune mask of a linear layer (a buffer or other state)", False
        out.append(SkippedTensor(key, shape, reason, structural))
    return tuple(out)


def read_network(path: str | Path, layers: Sequence[str] | None = None) -> Network:
    """Read a saved network's linear layers as masks.

    Parameters
    ----------
    path : str or Path
        A safetensors file or a state dict saved with ``torch.save`` (read with
        ``weights_only=True``).
    layers : list of str, optional
        The layer names (key prefixes, e.g. ``["fc1", "fc2"]``) in chain order; by default all
        linear layers, in key order (or the unique order their shapes chain in).

    Returns
    -------
    Network
        The chain's masks; :attr:`Network.skipped` lists every other tensor of the file and why
        it was left out (a convolution kernel, a norm's scale, a buffer).

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        For unreadable or unsafe files, no linear layers, unknown names in ``layers``,
        non-finite weights, non-binary prune masks, or layers whose shapes do not chain (naming
        the two layers).
    """
    path = Path(path)
    tensors, fmt = read_tensors(path)
    found = find_layers(tensors, natural_order=fmt == "safetensors")
    if not found:
        raise ValueError(
            f"{path}: no linear layers (no 2-D '<name>.weight' or '<name>.weight_orig' among "
            f"{len(tensors)} tensors)"
        )
    shapes = {name: _shape(tensors, name) for name in found}
    if layers is not None:
        layers = list(layers)
        if not layers:
            raise ValueError("--layers: names no layer")
        unknown = [name for name in layers if name not in shapes]
        if unknown:
            raise ValueError(
                f"--layers: no linear layer {unknown[0]!r} in {path} (found: {', '.join(found)})"
            )
        if len(set(layers)) != len(layers):
            raise ValueError(f"--layers: names a layer twice ({', '.join(layers)})")
        broken = _first_break(layers, shapes)
        if broken is not None:
            a, b = broken
            raise ValueError(
                f"{path}: linear layers {_label(a)} ({shapes[a][0]} outputs) and {_label(b)} "
                f"({shapes[b][1]} inputs) do not chain"
            )
        order, how = layers, "--layers"
    else:
        order, how = _order(found, shapes, path)
    ws, bs = [], []
    for name in order:
        wm, bm = _layer_masks(tensors, name, path)
        ws.append(wm)
        bs.append(bm)
    return Network(path, fmt, order, ws, bs, how, _skipped(tensors, order, found))
