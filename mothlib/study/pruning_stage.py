"""The study's ``pruning`` stage: the tasks of :mod:`mothlib.networks.pruning` run as (shard, level)
rounds, checkpointed, and the stage's stored outputs read back.

Outputs under the profile's artifact folder: ``pruning.parquet`` (one row per network, strategy
and level: :data:`COLUMNS`, plus :data:`ACCURACY_COLUMNS` for a classification task),
``masks/<strategy>/level_XX.npz`` (bit-packed, all networks) and
``weights/<strategy>/level_XX.npz`` (the unpruned weights' values, in mask order).

Selection is a filter over the table (changing the threshold retrains nothing): :func:`select`
applies the profile's task's rule (:func:`~mothlib.networks.pruning.mark_selected` for the moth,
:func:`~mothlib.networks.pruning.mark_selected_by_accuracy` for a classification task).
"""

from __future__ import annotations

from collections.abc import Mapping, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mothlib.core.npio import load_npz
from mothlib.networks.pruning import (
    PruningSettings,
    ShardState,
    check_splits,
    mark_selected,
    pack_masks,
    prune_and_retrain,
    train_dense,
    unpack_masks,
)
from mothlib.study.checkpoint import Task, checkpointed_map
from mothlib.study.cluster import Runner
from mothlib.study.store import ArtifactStore, atomic_write

# The training module (mothlib.networks.ensemble, and so torch) is imported by the two readers
# that use it: the book's chapters import this module to read tables and masks.
if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "COLUMNS",
    "ACCURACY_COLUMNS",
    "compute_pruning",
    "select",
    "load_pruning_table",
    "load_masks",
    "load_weights",
    "load_selected_weights",
    "load_network",
]

COLUMNS = ["network", "strategy", "level", "fraction_pruned", "train_loss", "val_loss", "test_loss"]
#: Extra columns of a classification task's table (share of rows classified right).
ACCURACY_COLUMNS = ["train_accuracy", "val_accuracy", "test_accuracy"]


# -- the stage's work ----------------------------------------------------------------------
def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_write(path) as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub: a key could be allow_pickle


def _record(state: ShardState) -> dict[str, np.ndarray]:
    """What the outputs keep of a level: losses, fractions, masks and the kept weights."""
    n_layers = sum(1 for k in state.model if k.startswith("wm"))
    wms = [state.model[f"wm{l}"] for l in range(n_layers)]
    bms = [state.model[f"bm{l}"] for l in range(n_layers)]
    out = {"losses": state.losses, "fraction_pruned": state.fraction_pruned, **pack_masks(wms, bms)}
    if state.accuracy is not None:
        out["accuracy"] = state.accuracy
    for l in range(n_layers):
        out[f"kw{l}"] = state.model[f"w{l}"][wms[l]]
        out[f"kb{l}"] = state.model[f"b{l}"][bms[l]]
    return out


def compute_pruning(
    settings: PruningSettings,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    workdir: str | Path,
    scratch: str | Path,
    runner: Runner | None = None,
    *,
    progress: bool = True,
    on_round: Callable[[ShardState], None] | None = None,
) -> None:
    """The ``pruning`` stage's work: train, prune and record every level of every strategy.

    Tasks are (shard, level) rounds: :func:`~mothlib.networks.pruning.train_dense` for level 0
    of each shard, then one :func:`~mothlib.networks.pruning.prune_and_retrain` per strategy and
    level, each started from the previous level's :class:`~mothlib.networks.pruning.ShardState`,
    run by :func:`~mothlib.study.checkpoint.checkpointed_map`. The client writes every finished
    level to ``scratch`` (its record, then the checkpoint), so a rerun with the same ``scratch``
    resumes from the last finished level of each shard; a task lost with a worker is rerun from
    its checkpointed input.

    Outputs under ``workdir``: ``pruning.parquet`` (:data:`COLUMNS`), ``masks/<strategy>/level_XX.npz``
    (bit-packed, all networks) and ``weights/<strategy>/level_XX.npz`` (the unpruned weights'
    values, in mask order).

    Parameters
    ----------
    settings : PruningSettings
    splits : dict
        ``"train"``, ``"val"``, ``"test"`` -> ``(X (n, n_in), Y (n, n_out))``.
    workdir, scratch : path
    runner : Runner, optional
        Where the tasks run (default: this process).
    progress : bool
    on_round : callable, optional
        Called with every round's :class:`~mothlib.networks.pruning.ShardState` as it arrives,
        before it is checkpointed (a round found finished on a rerun is not passed again).
    """
    runner = runner or Runner()
    workdir, scratch = Path(workdir), Path(scratch)
    check_splits(splits)
    n_levels = len(settings.fractions)
    shards = settings.shards()
    data = runner.scatter({k: tuple(np.asarray(a, dtype=np.float32) for a in v) for k, v in splits.items()})

    def folder(k: int, strategy: str) -> Path:
        return scratch / f"shard{k:03d}" / (strategy or "dense")

    def name(k: int, strategy: str) -> str:
        """A chain's checkpoint (its latest state), relative to ``scratch``."""
        return (folder(k, strategy) / "state.npz").relative_to(scratch).as_posix()

    def finished(k: int, strategy: str) -> ShardState | None:
        path = folder(k, strategy) / "state.npz"
        return _load_state(path) if path.exists() else None

    def chain(k: int, strategy: str, state: ShardState) -> list[Task]:
        """The next level of (shard, strategy) after ``state``, if any."""
        if state.level + 1 >= n_levels:
            return []
        # Each level overwrites the chain's checkpoint, so a present one is no sign of this level.
        return [Task(name(k, strategy), prune_and_retrain, (settings, state, strategy, data), rerun=True,
                     key=f"pruning-{strategy}-shard{k}-level{state.level + 1}", meta=(k, strategy))]

    def after_dense(k: int, dense: ShardState) -> tuple[list[Task], int]:
        """Each strategy's next level after the dense one (or its latest checkpoint), and the
        levels the strategies had finished."""
        tasks, n = [], 0
        for strategy in settings.strategies:
            ckpt = finished(k, strategy)
            if ckpt is None:
                _save_npz(folder(k, strategy) / "level_00.npz", _record(dense))
                ckpt = dense
            n += ckpt.level
            tasks += chain(k, strategy, ckpt)
        return tasks, n

    def on_result(task: Task, state: ShardState) -> list[Task]:
        k, strategy = task.meta
        return after_dense(k, state)[0] if strategy == "" else chain(k, strategy, state)

    def prepare(state: ShardState, meta: Any) -> ShardState:
        if on_round is not None:
            on_round(state)
        return state

    tasks, done = [], 0
    for k, networks in enumerate(shards):
        dense = finished(k, "")
        if dense is None:
            tasks.append(Task(name(k, ""), train_dense, (settings, networks, data),
                              key=f"pruning-dense-shard{k}", meta=(k, "")))
            continue
        follow, n = after_dense(k, dense)
        tasks += follow
        done += 1 + n
    checkpointed_map(
        runner, tasks, scratch, desc="pruning: rounds", unit="round", progress=progress,
        save=_save_state, load=_load_state, prepare=prepare, on_result=on_result,
        postfix=lambda s: {"median_val": f"{np.median(s.losses[:, 1]):.2e}"} if s.level else None,
        total=len(shards) * (1 + len(settings.strategies) * (n_levels - 1)), initial=done, keep=False,
    )
    _write_outputs(settings, shards, folder, workdir)


def _save_state(path: Path, state: ShardState) -> None:
    """A round's checkpoint: a pruned level's record beside it first, then the state itself, so
    a level counts as done only once its record is written."""
    if state.level > 0:
        _save_npz(path.parent / f"level_{state.level:02d}.npz", _record(state))
    _save_npz(path, state.to_arrays())


def _load_state(path: Path) -> ShardState:
    return ShardState.from_arrays(load_npz(path))


def _write_outputs(settings: PruningSettings, shards: list[tuple[int, ...]], folder: Any, workdir: Path) -> None:
    rows = []
    for strategy in settings.strategies:
        for level in range(len(settings.fractions)):
            records = [load_npz(folder(k, strategy) / f"level_{level:02d}.npz") for k in range(len(shards))]
            wms, bms = zip(*(unpack_masks(r) for r in records))
            n_layers = len(wms[0])
            _save_npz(workdir / "masks" / strategy / f"level_{level:02d}.npz", pack_masks(
                [np.concatenate([w[l] for w in wms]) for l in range(n_layers)],
                [np.concatenate([b[l] for b in bms]) for l in range(n_layers)],
            ))
            kept = {f"{p}{l}": np.concatenate([r[f"k{p}{l}"] for r in records])
                    for l in range(n_layers) for p in "wb"}
            _save_npz(workdir / "weights" / strategy / f"level_{level:02d}.npz", kept)
            for networks, r in zip(shards, records):
                for i, e in enumerate(networks):
                    tr, va, te = (float(x) for x in r["losses"][i])
                    # Accuracy columns only for a classification task (the moth's table is unchanged).
                    acc = tuple(float(x) for x in r["accuracy"][i]) if "accuracy" in r else ()
                    rows.append((e, strategy, level, float(r["fraction_pruned"][i]), tr, va, te, *acc))
    columns = COLUMNS + (ACCURACY_COLUMNS if settings.loss == "cross_entropy" else [])
    table = pd.DataFrame(rows, columns=columns)
    rank = table["strategy"].map({s: i for i, s in enumerate(settings.strategies)})
    table = table.assign(_rank=rank).sort_values(["_rank", "network", "level"], kind="stable")
    with atomic_write(workdir / "pruning.parquet") as handle:
        table.drop(columns="_rank").reset_index(drop=True).to_parquet(handle, index=False)


def select(table: pd.DataFrame, profile: Mapping[str, Any]) -> pd.DataFrame:
    """The profile's task's selection rule over a pruning table (:attr:`Task.select
    <mothlib.study.tasks.Task>` with the profile's ``selection`` section): the moth's
    :func:`~mothlib.networks.pruning.mark_selected` with ``loss_threshold``, a classification
    task's :func:`~mothlib.networks.pruning.mark_selected_by_accuracy` with ``accuracy_margin``."""
    from mothlib.study.profiles import as_profile
    from mothlib.study.tasks import get_task

    p = as_profile(profile)
    return get_task(p.task).select(table, p.selection)


# -- readers -------------------------------------------------------------------------------
def load_pruning_table(
    store: ArtifactStore, loss_threshold: float | None = None, *, profile: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The pruning stage's table, one row per (network, strategy, level).

    Parameters
    ----------
    store : ArtifactStore
    loss_threshold : float, optional
        When given, a ``selected`` column marks each network's selected level
        (:func:`~mothlib.networks.pruning.mark_selected`).
    profile : dict, optional
        Instead of ``loss_threshold``: select by the profile's task (:func:`select`).

    Raises
    ------
    FileNotFoundError
        When the pruning stage has not run for the store's profile.
    ValueError
        When both ``loss_threshold`` and ``profile`` are given.
    """
    if loss_threshold is not None and profile is not None:
        raise ValueError("give loss_threshold or profile, not both")
    store.require("pruning")
    table = pd.read_parquet(store.path("pruning.parquet"))
    if profile is not None:
        return select(table, profile)
    return table if loss_threshold is None else mark_selected(table, loss_threshold)


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
    return unpack_masks(load_npz(path))


def load_weights(store: ArtifactStore, strategy: str, level: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights of every network at one level (pruned entries exactly 0).

    Returns
    -------
    weights : list of float32 arrays (n_networks, n_out, n_in)
    biases : list of float32 arrays (n_networks, n_out)
    """
    wms, bms = load_masks(store, strategy, level)
    kept = load_npz(store.path("weights") / strategy / f"level_{int(level):02d}.npz")

    def fill(masks: list[np.ndarray], prefix: str) -> list[np.ndarray]:
        out = []
        for l, m in enumerate(masks):
            full = np.zeros(m.shape, dtype=np.float32)
            full[m] = kept[f"{prefix}{l}"]
            out.append(full)
        return out

    return fill(wms, "w"), fill(bms, "b")


def load_selected_weights(
    store: ArtifactStore, strategy: str = "magnitude", *, loss_threshold: float
) -> dict[str, Any]:
    """Weights of every network at its selected level under ``loss_threshold`` (no retraining:
    every level's weights are stored).

    Returns
    -------
    dict with ``weights`` (list of (n_networks, n_out, n_in) arrays, masked entries 0; a
    network without a selected level is all zeros), ``biases`` (list of (n_networks, n_out)),
    ``level`` ((n_networks,), -1 = none selected), ``seeds`` and ``layer_sizes``.
    """
    from mothlib.networks.ensemble import network_seeds

    table = load_pruning_table(store, loss_threshold)
    rows = table[table["strategy"] == strategy]
    if rows.empty:
        raise FileNotFoundError(f"no pruning results for strategy {strategy!r}")
    networks = sorted(rows["network"].unique())
    chosen = rows[rows["selected"]].set_index("network")["level"]
    level = np.array([int(chosen.get(n, -1)) for n in networks])
    ws, bs = load_weights(store, strategy, 0)
    weights = [np.zeros_like(w) for w in ws]
    biases = [np.zeros_like(b) for b in bs]
    for lev in sorted(set(level.tolist()) - {-1}):
        lw, lb = load_weights(store, strategy, lev)
        pick = level == lev
        for out, src in zip(weights + biases, lw + lb):
            out[pick] = src[pick]
    seeds = network_seeds(int(store.require("pruning")["params"]["seed"]), len(networks))
    return {"weights": weights, "biases": biases, "level": level,
            "seeds": np.asarray(seeds, dtype=np.uint64),
            "layer_sizes": np.asarray([ws[0].shape[2], *[w.shape[1] for w in ws]])}


def load_network(store: ArtifactStore, strategy: str, network: int, *, loss_threshold: float) -> nn.Sequential:
    """One network at its selected level as ``nn.Sequential`` with ``torch.nn.utils.prune`` masks.

    Raises
    ------
    ValueError
        When the network index is out of range or the network has no selected level.
    """
    from mothlib.networks.ensemble import to_sequential

    sel = load_selected_weights(store, strategy, loss_threshold=loss_threshold)
    n = len(sel["level"])
    if not 0 <= network < n:
        raise ValueError(f"network index {network} outside 0..{n - 1}")
    level = int(sel["level"][network])
    if level < 0:
        raise ValueError(
            f"network {network} ({strategy}) has no level with validation loss under {loss_threshold}"
        )
    wms, bms = load_masks(store, strategy, level)
    return to_sequential(
        [w[network] for w in sel["weights"]],
        [b[network] for b in sel["biases"]],
        [m[network] for m in wms],
        [m[network] for m in bms],
    )
