"""Iterative layer-wise pruning of an ensemble, retraining after every prune (stage ``pruning``).

The seed loop: train a round, record (losses, masks, weights), prune to the next cumulative
fraction of the schedule, repeat. With the seed schedule (0.15 ... 0.99) 18 levels are recorded
(level 0 = dense, then 0.15 ... 0.98); the final prune is neither trained nor recorded.

Strategies
----------
``magnitude``
    In each layer the ``floor(f * n)`` weights with the smallest ``|w|`` are masked (already
    pruned weights count as smallest, so masks only grow; ties broken by flat index). Biases are
    pruned the same way by their own magnitudes.
``random``
    The same per-layer counts, chosen uniformly at random among the still unpruned weights
    (cumulative: masks only grow), from a generator seeded by (seed, level, network, layer).

Both strategies start from the same trained dense level 0 (trained once and shared), so their
level-0 rows are identical.

``floor(f * n)`` is computed in decimal arithmetic (``Decimal(repr(f)) * n``) so that, e.g.,
``0.29 * 100`` gives 29 and not 28 from binary rounding.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from mothlib.ensemble import (
    EarlyStopping,
    EnsembleMLP,
    StackedAdam,
    evaluate,
    network_seeds,
    resolve_device,
    to_sequential,
    train_round,
)
from mothlib.profiles import stage_params
from mothlib.store import ArtifactStore, atomic_write, atomic_write_json

__all__ = [
    "STRATEGIES",
    "prune_count",
    "magnitude_mask",
    "random_mask",
    "select_levels",
    "validate_schedule",
    "run_pruning",
    "build_pruning",
    "load_masks",
    "load_selected_weights",
    "load_network",
    "pack_masks",
    "unpack_masks",
]

STRATEGIES = ("magnitude", "random")
OUTPUTS = ["pruning.parquet", "masks", "weights"]
COLUMNS = [
    "network",
    "strategy",
    "level",
    "fraction_pruned",
    "train_loss",
    "val_loss",
    "test_loss",
    "selected",
]


# -- masks ---------------------------------------------------------------------------------
def prune_count(fraction: float, n: int) -> int:
    """``floor(fraction * n)`` in decimal arithmetic (no binary rounding surprises)."""
    return int(math.floor(Decimal(repr(float(fraction))) * int(n)))


def validate_schedule(schedule: Sequence[float]) -> list[float]:
    """Check a cumulative pruning schedule: strictly increasing fractions in (0, 1)."""
    sched = [float(f) for f in schedule]
    if len(sched) < 1:
        raise ValueError("schedule must list at least one pruning fraction")
    if any(not (0.0 < f < 1.0) or not math.isfinite(f) for f in sched):
        raise ValueError(f"schedule fractions must lie strictly between 0 and 1, got {sched}")
    if any(b <= a for a, b in zip(sched, sched[1:])):
        raise ValueError(f"schedule must be strictly increasing (cumulative fractions), got {sched}")
    return sched


def magnitude_mask(values: torch.Tensor, mask: torch.Tensor, fraction: float) -> torch.Tensor:
    """Mask the ``floor(fraction * n)`` smallest-magnitude entries of each network.

    Parameters
    ----------
    values : tensor (E, ...)
        Parameters of one layer for every network.
    mask : bool tensor (E, ...)
        Current mask; masked entries are pruned first whatever their stored value.
    fraction : float
        Cumulative fraction to prune, per network and layer.

    Returns
    -------
    bool tensor (E, ...), a superset of the pruned entries of ``mask``.
    """
    E = values.shape[0]
    flat = values.detach().reshape(E, -1).abs()
    m = mask.reshape(E, -1)
    n = flat.shape[1]
    k = prune_count(fraction, n)
    if int((~m).sum(dim=1).max()) > k:
        raise ValueError(f"fraction {fraction} prunes fewer entries than already pruned")
    key = torch.where(m, flat, torch.full_like(flat, -1.0))
    order = torch.argsort(key, dim=1, stable=True)
    new = torch.ones_like(m)
    new.scatter_(1, order[:, :k], False)
    return new.reshape(mask.shape)


def random_mask(
    mask: np.ndarray, fraction: float, seeds: Sequence[Sequence[int]]
) -> np.ndarray:
    """Grow ``mask`` at random to ``floor(fraction * n)`` pruned entries per network.

    Parameters
    ----------
    mask : bool array (E, ...)
    fraction : float
    seeds : one entropy sequence per network (the choice for a network depends only on it)
    """
    mask = np.asarray(mask, dtype=bool)
    E = mask.shape[0]
    flat = mask.reshape(E, -1).copy()
    k = prune_count(fraction, flat.shape[1])
    for e in range(E):
        alive = np.flatnonzero(flat[e])
        need = k - (flat.shape[1] - len(alive))
        if need < 0:
            raise ValueError(f"fraction {fraction} prunes fewer entries than already pruned")
        gen = np.random.default_rng(np.random.SeedSequence(list(seeds[e])))
        flat[e, gen.choice(alive, size=need, replace=False)] = False
    return flat.reshape(mask.shape)


def prune_model(
    model: EnsembleMLP, fraction: float, strategy: str, seed: int, level: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """New (weight, bias) masks of every layer for ``strategy`` at ``fraction``."""
    if strategy == "magnitude":
        wms = [magnitude_mask(w, m, fraction) for w, m in zip(model.weights, model.weight_masks)]
        bms = [magnitude_mask(b, m, fraction) for b, m in zip(model.biases, model.bias_masks)]
        return wms, bms
    if strategy == "random":
        def grow(masks: list[torch.Tensor], kind: int) -> list[torch.Tensor]:
            return [
                torch.from_numpy(
                    random_mask(
                        m.cpu().numpy(),
                        fraction,
                        [[int(seed), 3, level, kind, l, s] for s in model.seeds],
                    )
                ).to(model.device)
                for l, m in enumerate(masks)
            ]

        return grow(model.weight_masks, 0), grow(model.bias_masks, 1)
    raise ValueError(f"unknown pruning strategy {strategy!r}; choose from {list(STRATEGIES)}")


def pack_masks(weight_masks: Sequence[np.ndarray], bias_masks: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Bit-packed form of per-layer masks (``np.packbits`` plus the shapes)."""
    out: dict[str, np.ndarray] = {}
    for prefix, masks in (("w", weight_masks), ("b", bias_masks)):
        for l, m in enumerate(masks):
            m = np.asarray(m, dtype=bool)
            out[f"{prefix}{l}"] = np.packbits(m.ravel())
            out[f"{prefix}{l}_shape"] = np.asarray(m.shape, dtype=np.int64)
    return out


def unpack_masks(packed: dict[str, np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Inverse of :func:`pack_masks`."""
    result: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    for prefix, masks in (("w", result[0]), ("b", result[1])):
        l = 0
        while f"{prefix}{l}" in packed:
            shape = tuple(int(s) for s in packed[f"{prefix}{l}_shape"])
            n = int(np.prod(shape))
            masks.append(np.unpackbits(packed[f"{prefix}{l}"], count=n).astype(bool).reshape(shape))
            l += 1
    return result


def select_levels(val_loss: np.ndarray, threshold: float) -> np.ndarray:
    """Most pruned level whose validation loss is at most ``threshold``, per network.

    Parameters
    ----------
    val_loss : array (n_networks, n_levels), levels in pruning order
    threshold : float

    Returns
    -------
    int array (n_networks,): the level index, or -1 where no level qualifies.
    """
    val_loss = np.asarray(val_loss, dtype=float)
    if val_loss.ndim != 2:
        raise ValueError(f"val_loss must be 2-d (networks, levels), got shape {val_loss.shape}")
    ok = val_loss <= threshold  # NaN compares False: a diverged level is never selected
    last = val_loss.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)
    return np.where(ok.any(axis=1), last, -1)


# -- checkpoints ---------------------------------------------------------------------------
def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_write(path) as handle:
        np.savez(handle, **arrays)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def _level_seed(seed: int, level: int) -> int:
    return int(np.random.SeedSequence([int(seed), 4, int(level)]).generate_state(1)[0])


def _check_splits(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[int, int]:
    missing = {"train", "val", "test"} - set(splits)
    if missing:
        raise ValueError(f"data splits {sorted(missing)} missing")
    n_in = n_out = None
    for name in ("train", "val", "test"):
        X, Y = (np.asarray(a) for a in splits[name])
        if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y):
            raise ValueError(f"{name} split: X {X.shape} and Y {Y.shape} must be 2-d with equal rows")
        if len(X) == 0:
            raise ValueError(f"{name} split is empty")
        if n_in is None:
            n_in, n_out = X.shape[1], Y.shape[1]
        elif (X.shape[1], Y.shape[1]) != (n_in, n_out):
            raise ValueError(f"{name} split has {X.shape[1]} inputs / {Y.shape[1]} outputs, train has {n_in} / {n_out}")
        if not (np.isfinite(X).all() and np.isfinite(Y).all()):
            raise ValueError(f"{name} split contains NaN or infinite values")
    return int(n_in), int(n_out)


def _validate_profile(profile: dict[str, Any]) -> None:
    validate_schedule(profile["schedule"])
    strategies = list(profile["strategies"])
    if not strategies or len(set(strategies)) != len(strategies):
        raise ValueError(f"strategies must be a non-empty list without repeats, got {strategies}")
    for s in strategies:
        if s not in STRATEGIES:
            raise ValueError(f"unknown pruning strategy {s!r}; choose from {list(STRATEGIES)}")
    if int(profile["n_networks"]) < 1:
        raise ValueError(f"n_networks must be at least 1, got {profile['n_networks']}")
    if profile.get("train_threads") is not None and int(profile["train_threads"]) < 1:
        raise ValueError(f"train_threads must be None or at least 1, got {profile['train_threads']}")
    if int(profile["batch_size"]) < 1:
        raise ValueError(f"batch_size must be at least 1, got {profile['batch_size']}")
    if not float(profile["loss_threshold"]) > 0:
        raise ValueError(f"loss_threshold must be positive, got {profile['loss_threshold']}")
    v = profile.get("max_batches_dense")
    if v is not None and int(v) < 1:
        raise ValueError(f"max_batches_dense must be None or at least 1, got {v}")
    caps = profile.get("max_batches_per_round")
    for s in strategies:
        v = _round_cap(profile, s, 1)
        if v is not None and int(v) < 1:
            raise ValueError(f"max_batches_per_round must be None or at least 1, got {caps}")
    _stopping(profile)


def _round_cap(profile: dict[str, Any], strategy: str, level: int) -> int | None:
    """Batch cap of one round: ``max_batches_dense`` for level 0, else ``max_batches_per_round``
    (an int, None for the seed's one pass over the validation batches, or a dict by strategy)."""
    if level == 0 and profile.get("max_batches_dense") is not None:
        return int(profile["max_batches_dense"])
    cap = profile.get("max_batches_per_round")
    if isinstance(cap, dict):
        if strategy not in cap:
            raise ValueError(f"max_batches_per_round has no entry for strategy {strategy!r}: {cap}")
        cap = cap[strategy]
    return None if cap is None else int(cap)


def _stopping(profile: dict[str, Any]) -> EarlyStopping:
    return EarlyStopping(
        check_every=int(profile["es_check_every"]),
        min_batches=int(profile["es_min_batches"]),
        window=int(profile["es_window"]),
        ratio=float(profile["es_ratio"]),
    )


# -- the pruning run -----------------------------------------------------------------------
def run_pruning(
    profile: dict[str, Any],
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    outdir: str | Path,
    scratch: str | Path,
    *,
    progress: bool = True,
) -> None:
    """Train, prune and record every level of every strategy; write the stage outputs.

    After every level a checkpoint (parameters, masks, Adam state, records; the data order and
    random masks are derived from (seed, level), so no generator state is needed) is written
    atomically to ``scratch``; a rerun with the same ``scratch`` continues from it.

    Parameters
    ----------
    profile : dict
        A profile (see :mod:`mothlib.profiles`).
    splits : dict
        ``"train"``, ``"val"``, ``"test"`` -> ``(X (n, n_in), Y (n, n_out))`` float arrays.
    outdir : path
        Where ``pruning.parquet``, ``masks/`` and ``weights/`` are written.
    scratch : path
        Checkpoint folder.
    """
    _validate_profile(profile)
    n_in, n_out = _check_splits(splits)
    threads = profile.get("train_threads")
    if threads is None:
        _run_pruning(profile, splits, Path(outdir), Path(scratch), n_in, n_out, progress)
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        _run_pruning(profile, splits, Path(outdir), Path(scratch), n_in, n_out, progress)
    finally:
        torch.set_num_threads(before)


def _run_pruning(
    profile: dict[str, Any],
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    outdir: Path,
    scratch: Path,
    n_in: int,
    n_out: int,
    progress: bool,
) -> None:
    device = resolve_device(profile["device"])
    sizes = [n_in, *[int(h) for h in profile["hidden_sizes"]], n_out]
    schedule = validate_schedule(profile["schedule"])
    fractions = [0.0, *schedule[:-1]]  # the last prune is neither trained nor recorded
    n_levels = len(fractions)
    seed = int(profile["seed"])
    seeds = network_seeds(seed, int(profile["n_networks"]))
    threshold = float(profile["loss_threshold"])
    stopping = _stopping(profile)
    batch_size = int(profile["batch_size"])
    data = {
        k: tuple(torch.as_tensor(np.asarray(a, dtype=np.float32), device=device) for a in splits[k])
        for k in ("train", "val", "test")
    }
    E = len(seeds)

    def fresh() -> tuple[EnsembleMLP, StackedAdam]:
        model = EnsembleMLP(sizes, seeds, float(profile["init_std"]), device)
        opt = StackedAdam([*model.weights, *model.biases], lr=float(profile["learning_rate"]))
        return model, opt

    def train_and_eval(
        model: EnsembleMLP, opt: StackedAdam, level: int, strategy: str, desc: str
    ) -> np.ndarray:
        cap = _round_cap(profile, strategy, level)
        train_round(
            model, opt, data["train"], data["val"], batch_size=batch_size,
            data_seed=_level_seed(seed, level), stopping=stopping, max_batches=cap,
            progress=progress, desc=desc,
        )
        return np.stack([evaluate(model, *data[k]) for k in ("train", "val", "test")], axis=1)

    # Level 0 (dense) is trained once and shared by every strategy.
    dense_path = scratch / "dense.npz"
    if dense_path.exists():
        dense = _load_npz(dense_path)
    else:
        model, opt = fresh()
        losses = train_and_eval(model, opt, 0, "", "dense")
        dense = {**model.state_arrays(), **opt.state_arrays(), "losses": losses}
        _save_npz(dense_path, dense)

    n_layers = len(sizes) - 1
    frames: list[pd.DataFrame] = []
    for strategy in profile["strategies"]:
        ckpt_path = scratch / f"{strategy}.npz"
        mask_dir = scratch / "masks" / strategy
        model, opt = fresh()
        if ckpt_path.exists():
            state = _load_npz(ckpt_path)
        else:
            state = {k: v for k, v in dense.items() if k != "losses"}
            state["losses"] = np.full((n_levels, E, 3), np.nan)
            state["losses"][0] = dense["losses"]
            state["fraction_pruned"] = np.zeros((n_levels, E))
            state["next_level"] = np.array(1)
            _save_npz(mask_dir / "level_00.npz", pack_masks(
                [np.ones((E, o, i), bool) for i, o in zip(sizes[:-1], sizes[1:])],
                [np.ones((E, o), bool) for o in sizes[1:]],
            ))
            # Selected so far: the level-0 weights of networks already under the threshold.
            sel = np.where(state["losses"][0, :, 1] <= threshold, 0, -1)
            state["selected_level"] = sel
            for l in range(n_layers):
                state[f"sw{l}"] = state[f"w{l}"] * state[f"wm{l}"]
                state[f"sb{l}"] = state[f"b{l}"] * state[f"bm{l}"]
            _save_npz(ckpt_path, state)
        model.load_state_arrays(state)
        opt.load_state_arrays(state)
        start = int(state["next_level"])
        bar = tqdm(total=n_levels, desc=f"pruning ({strategy})", disable=not progress, initial=start)
        for level in range(start, n_levels):
            wms, bms = prune_model(model, fractions[level], strategy, seed, level)
            model.set_masks(wms, bms)
            opt.zero_masked([*model.weight_masks, *model.bias_masks])
            losses = train_and_eval(model, opt, level, strategy, f"{strategy} level {level}")
            arrays = {**model.state_arrays(), **opt.state_arrays()}
            state.update(arrays)
            state["losses"][level] = losses
            n_w = sum(int(np.prod(m.shape[1:])) for m in model.weight_masks)
            kept = sum(m.reshape(E, -1).sum(dim=1).cpu().numpy() for m in model.weight_masks)
            state["fraction_pruned"][level] = 1.0 - kept / n_w
            better = losses[:, 1] <= threshold  # a later level under the threshold wins
            state["selected_level"] = np.where(better, level, state["selected_level"])
            for l in range(n_layers):
                shape = (-1,) + (1,) * (arrays[f"w{l}"].ndim - 1)
                state[f"sw{l}"] = np.where(better.reshape(shape), arrays[f"w{l}"] * arrays[f"wm{l}"], state[f"sw{l}"])
                state[f"sb{l}"] = np.where(better[:, None], arrays[f"b{l}"] * arrays[f"bm{l}"], state[f"sb{l}"])
            state["next_level"] = np.array(level + 1)
            _save_npz(mask_dir / f"level_{level:02d}.npz", pack_masks(
                [m.cpu().numpy() for m in model.weight_masks],
                [m.cpu().numpy() for m in model.bias_masks],
            ))
            # The checkpoint goes last: a level counts as done only once it is in it.
            _save_npz(ckpt_path, state)
            bar.update(1)
            bar.set_postfix(median_val=f"{np.median(losses[:, 1]):.2e}")
        bar.close()
        frames.append(_write_strategy(outdir, strategy, state, seeds, sizes, fractions, mask_dir))

    table = pd.concat(frames, ignore_index=True)[COLUMNS]
    with atomic_write(outdir / "pruning.parquet") as handle:
        table.to_parquet(handle, index=False)
    summary = {
        s: {
            "n_networks": E,
            "n_selected": int(table[(table.strategy == s) & table.selected].shape[0]),
            "unselected_networks": sorted(
                set(range(E)) - set(table[(table.strategy == s) & table.selected].network)
            ),
        }
        for s in profile["strategies"]
    }
    atomic_write_json(outdir / "weights" / "summary.json", summary)


def _write_strategy(
    outdir: Path,
    strategy: str,
    state: dict[str, np.ndarray],
    seeds: list[int],
    sizes: list[int],
    fractions: list[float],
    mask_dir: Path,
) -> pd.DataFrame:
    """Write one strategy's masks and weights; return its rows of the results table."""
    n_layers = len(sizes) - 1
    E = len(seeds)
    n_levels = len(fractions)
    shutil.copytree(mask_dir, outdir / "masks" / strategy, dirs_exist_ok=True)
    sel = state["selected_level"]
    selected = {f"w{l}": state[f"sw{l}"] for l in range(n_layers)}
    selected.update({f"b{l}": state[f"sb{l}"] for l in range(n_layers)})
    selected.update(level=sel, seeds=np.asarray(seeds, dtype=np.uint64), layer_sizes=np.asarray(sizes))
    _save_npz(outdir / "weights" / strategy / "selected.npz", selected)
    final = {k: state[k] for k in state if k[:1] in "wb" or k.startswith("adam")}
    _save_npz(outdir / "weights" / strategy / "final.npz", final)
    rows = []
    for level in range(n_levels):
        for e in range(E):
            tr, va, te = state["losses"][level, e]
            rows.append((e, strategy, level, float(state["fraction_pruned"][level, e]), tr, va, te, bool(sel[e] == level)))
    return pd.DataFrame(rows, columns=COLUMNS)


def build_pruning(
    profile: dict[str, Any], store: ArtifactStore | None = None, *, progress: bool = True
) -> dict[str, Any]:
    """Stage ``pruning``: train the ensemble, prune it iteratively, record every level.

    Reads the ``data`` stage (:func:`mothlib.data.load_splits`). Outputs, under the profile's
    artifact folder: ``pruning.parquet`` (one row per network, strategy and level),
    ``masks/<strategy>/level_XX.npz`` (bit-packed), ``weights/<strategy>/selected.npz`` (each
    network's selected level; ``level`` -1 where no level is under ``loss_threshold``),
    ``weights/<strategy>/final.npz`` and ``weights/summary.json`` (counts of unselected networks).

    Returns
    -------
    dict: the stage's manifest.
    """
    _validate_profile(profile)
    store = store if store is not None else ArtifactStore(profile["profile"])

    def compute(workdir: Path, scratch: Path) -> None:
        from mothlib.data import load_splits

        run_pruning(profile, load_splits(store), workdir, scratch, progress=progress)

    return store.run_stage(
        "pruning", stage_params(profile, "pruning"), OUTPUTS, compute, inputs=["data"]
    )


# -- readers -------------------------------------------------------------------------------
def _strategy_file(store: ArtifactStore, strategy: str, name: str) -> Path:
    store.require("pruning")
    path = store.path("weights") / strategy / name
    if not path.exists():
        raise FileNotFoundError(f"no pruning results for strategy {strategy!r} ({path} missing)")
    return path


def load_masks(
    store: ArtifactStore, strategy: str, level: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Masks of every network at one level.

    Returns
    -------
    weight_masks : list (one per layer) of bool arrays (n_networks, n_out, n_in)
    bias_masks : list of bool arrays (n_networks, n_out)
    """
    store.require("pruning")
    path = store.path("masks") / strategy / f"level_{int(level):02d}.npz"
    if not path.exists():
        raise FileNotFoundError(f"no masks for strategy {strategy!r} at level {level} ({path} missing)")
    return unpack_masks(_load_npz(path))


def load_selected_weights(store: ArtifactStore, strategy: str = "magnitude") -> dict[str, Any]:
    """Weights of every network at its selected level.

    Returns
    -------
    dict with ``weights`` (list of (n_networks, n_out, n_in) arrays, masked entries 0),
    ``biases`` (list of (n_networks, n_out)), ``level`` ((n_networks,), -1 = none selected),
    ``seeds`` and ``layer_sizes``.
    """
    arrays = _load_npz(_strategy_file(store, strategy, "selected.npz"))
    n_layers = len(arrays["layer_sizes"]) - 1
    return {
        "weights": [arrays[f"w{l}"] for l in range(n_layers)],
        "biases": [arrays[f"b{l}"] for l in range(n_layers)],
        "level": arrays["level"],
        "seeds": arrays["seeds"],
        "layer_sizes": arrays["layer_sizes"],
    }


def load_network(store: ArtifactStore, strategy: str, network: int) -> nn.Sequential:
    """One network at its selected level as ``nn.Sequential`` with ``torch.nn.utils.prune`` masks.

    Raises
    ------
    ValueError
        When the network index is out of range or the network has no selected level.
    """
    sel = load_selected_weights(store, strategy)
    n = len(sel["level"])
    if not 0 <= network < n:
        raise ValueError(f"network index {network} outside 0..{n - 1}")
    level = int(sel["level"][network])
    if level < 0:
        raise ValueError(
            f"network {network} ({strategy}) has no level with validation loss under the threshold"
        )
    wms, bms = load_masks(store, strategy, level)
    return to_sequential(
        [w[network] for w in sel["weights"]],
        [b[network] for b in sel["biases"]],
        [m[network] for m in wms],
        [m[network] for m in bms],
    )
