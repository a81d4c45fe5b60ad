"""The stages behind the paper's open questions: ``activations``, ``lesions`` and ``structured``.

All three read the pruning stage's stored weights and masks (and the data stage's validation
split), so changing their own settings recomputes only them.

``activations``
    For every dense network the mean contribution ``|w_ij a_j|`` of each connection over the
    validation inputs; at each scored level of magnitude pruning the activation mask (per block
    as many of the busiest connections as the magnitude-pruned network keeps there), its motif
    z-scores against both nulls and its overlap (Jaccard index per block) with the pruned mask.
    Outputs ``activations.parquet`` (the motif stage's columns, strategy ``"activation"``) and
    ``activation_overlap.parquet``.
``lesions``
    Each network at its selected level of magnitude pruning (``lesion_loss_threshold``), its
    surviving edges removed without retraining in the orders of
    :func:`mothlib.networks.lesions.lesion_curve` (participation in each motif, random,
    magnitude-matched random, smallest magnitude). Output ``lesions.parquet``.
``structured``
    The ensemble's dense networks (level 0 of the pruning stage) pruned by whole neurons
    (:func:`mothlib.networks.pruning.structured_masks`), retrained on the ensemble's schedule,
    and the motif z-scores of every scored level. Outputs ``structured.parquet`` (the pruning
    table's columns), ``structured_masks/``, ``structured_weights/`` and
    ``structured_motifs.parquet`` (the motif stage's columns).
"""

from __future__ import annotations

import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mothlib.core.npio import load_npz
from mothlib.core.seeds import check_seed
from mothlib.motifs.participation import edge_participation
from mothlib.networks.activations import activation_masks, jaccard, mean_contributions
from mothlib.networks.ensemble import EnsembleMLP, StackedAdam, network_seeds
from mothlib.networks.lesions import as_blocks, lesion_curve
from mothlib.networks.pruning import (
    PruningSettings, ShardState, mark_selected, pack_masks, prune_and_retrain, unpack_masks,
)
from mothlib.study.checkpoint import Task, checkpointed_map, label_table
from mothlib.study.cluster import Runner
from mothlib.study.motif_stage import STAGE_COLUMNS, ScorePlan, _score, task_seed
from mothlib.study.pruning_stage import COLUMNS, load_pruning_table, load_weights
from mothlib.study.store import ArtifactStore, atomic_write

__all__ = [
    "OVERLAP_COLUMNS", "LESION_STAGE_COLUMNS", "compute_activations", "compute_lesions",
    "compute_structured", "load_activation_table", "load_overlap_table", "load_lesion_table",
    "load_structured_table", "load_structured_motifs", "load_structured_masks", "lesion_seed",
    "structured_pruning_settings",
]

OVERLAP_COLUMNS = ["network", "level", "fraction_pruned", "layer", "kind", "edges", "jaccard"]
LESION_STAGE_COLUMNS = ["network", "level", "fraction_pruned", "order", "score", "draw", "fraction",
                        "n_removed", "val_loss", "paths"]


def _write(path: Path, table: pd.DataFrame) -> None:
    with atomic_write(path) as handle:
        table.reset_index(drop=True).to_parquet(handle)


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_write(path) as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]  # numpy's stubs read ** as allow_pickle


def _zscore_tasks(nets: list[tuple[dict[str, Any], list[np.ndarray], list[np.ndarray]]], strategy: str,
                  settings: ScorePlan) -> list[Task]:
    """One z-score task per (network, level, null model), seeded like the motif stage's."""
    tasks = []
    for meta, ws, bs in nets:
        for null in settings.null_models:
            seed = task_seed(settings.seed, strategy, meta["network"], meta["level"], null)
            name = f"{strategy}-net{meta['network']}-level{meta['level']}-{null}.parquet"
            full = {**meta, "strategy": strategy, "null_model": null, "n_null": int(settings.n_null[null])}
            tasks.append(Task(name, _score, (ws, bs, null, seed, settings.options(null)), meta=full))
    return tasks


def _zscores(runner: Runner, nets: list[Any], strategy: str, settings: ScorePlan, scratch: Path,
             progress: bool) -> pd.DataFrame:
    parts = checkpointed_map(runner, _zscore_tasks(nets, strategy, settings), scratch / "zscores",
                             desc=f"{strategy}: z-scores", progress=progress, prepare=label_table)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=STAGE_COLUMNS)
    return out[STAGE_COLUMNS].sort_values(["network", "level", "null_model"], kind="stable")


# -- activations -----------------------------------------------------------------------------
def compute_activations(
    motif: ScorePlan, fractions: tuple[float, ...], batch_size: int, store: ArtifactStore,
    splits: dict[str, Any], workdir: Path, scratch: Path, runner: Runner | None = None, *, progress: bool = True,
) -> None:
    """The ``activations`` stage's work (module docstring). ``fractions`` picks the scored levels
    by their pruned fraction (empty: every level :func:`scored_levels` gives)."""
    runner = runner or Runner()
    table = load_pruning_table(store)
    levels = motif.levels(table[table["strategy"] == "magnitude"])
    levels = levels[levels["level"] > 0]
    if fractions:
        sched = sorted(table["fraction_pruned"].round(6).unique())
        missing = [f for f in fractions if not any(abs(f - s) < 1e-3 for s in sched)]
        if missing:
            raise ValueError(f"activation_fractions: {missing} are not pruned fractions of the schedule ({sched})")
        keep = levels["fraction_pruned"].map(lambda x: any(abs(x - f) < 1e-3 for f in fractions))
        levels = levels[keep]
    position = {int(n): i for i, n in enumerate(sorted(table["network"].unique()))}
    ws, bs = load_weights(store, "magnitude", 0)
    contrib = mean_contributions(ws, bs, splits["val"][0], batch_size)
    nets, overlap = [], []
    for level, rows in levels.groupby("level", sort=True):
        lw, lb = load_weights(store, "magnitude", int(level))
        ref_w, ref_b = [w != 0 for w in lw], [b != 0 for b in lb]
        aw, ab = activation_masks(contrib, ref_w, ref_b)
        for r in rows.itertuples():
            k = position[int(r.network)]
            meta = dict(network=int(r.network), level=int(level), fraction_pruned=float(r.fraction_pruned))
            nets.append((meta, [w[k] for w in aw], [b[k] for b in ab]))
            for layer in range(len(aw)):
                for kind, a, ref in (("weights", aw[layer], ref_w[layer]), ("biases", ab[layer], ref_b[layer])):
                    overlap.append((*meta.values(), layer, kind, int(ref[k].sum()), float(jaccard(a[k:k + 1], ref[k:k + 1])[0])))
    _write(workdir / "activations.parquet", _zscores(runner, nets, "activation", motif, Path(scratch), progress))
    _write(workdir / "activation_overlap.parquet", pd.DataFrame(overlap, columns=OVERLAP_COLUMNS))


# -- lesions ---------------------------------------------------------------------------------
def lesion_seed(seed: int, network: int) -> np.random.SeedSequence:
    """The lesion stream of one network: ``[seed, crc32("lesions"), network]`` (a computed tag,
    like the motif stage's)."""
    check_seed(seed, integer=True)
    return np.random.SeedSequence([int(seed), zlib.crc32(b"lesions"), int(network)])


def _lesion_task(ws: list[np.ndarray], bs: list[np.ndarray], X: np.ndarray, Y: np.ndarray, motifs: tuple[str, ...],
                 fractions: tuple[float, ...], draws: int, bins: int, loss: str,
                 seed: np.random.SeedSequence) -> pd.DataFrame:
    """Task: one network's lesion curves, ordered by its edges' participation in ``motifs``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread per task: the Dask workers are single-threaded
    try:
        part = edge_participation([w != 0 for w in ws], [b != 0 for b in bs])
        scores = {m: np.concatenate([p.ravel() for p in part[m]]).astype(np.float64) for m in motifs}
        assert len(scores[motifs[0]]) == sum(b.size for b in as_blocks(ws, bs))
        return lesion_curve(ws, bs, scores, fractions, X, Y, seed=seed, n_draws=draws, n_bins=bins, loss=loss)
    finally:
        torch.set_num_threads(before)


def compute_lesions(
    lesion: Any, seed: int, loss: str, store: ArtifactStore, splits: dict[str, Any], workdir: Path,
    scratch: Path, runner: Runner | None = None, *, progress: bool = True,
) -> None:
    """The ``lesions`` stage's work (module docstring): one task per network with a selected level.

    ``lesion`` is the profile's :class:`~mothlib.study.settings.LesionSettings`.
    """
    runner = runner or Runner()
    table = load_pruning_table(store)
    marked = mark_selected(table[table["strategy"] == "magnitude"], lesion.loss_threshold)
    chosen = marked[marked["selected"]].sort_values("network")
    if chosen.empty:
        raise ValueError(f"lesion_loss_threshold: no network has a level with validation loss under {lesion.loss_threshold:g}")
    position = {int(n): i for i, n in enumerate(sorted(table["network"].unique()))}
    X, Y = splits["val"]
    rows = len(X) if lesion.rows is None else min(int(lesion.rows), len(X))
    data = runner.scatter({"X": np.asarray(X[:rows]), "Y": np.asarray(Y[:rows])})
    tasks = []
    for level, group in chosen.groupby("level", sort=True):
        lw, lb = load_weights(store, "magnitude", int(level))
        for r in group.itertuples():
            k, net = position[int(r.network)], int(r.network)
            meta = dict(network=net, level=int(level), fraction_pruned=float(r.fraction_pruned))
            tasks.append(Task(f"lesions-net{net}.parquet", _lesion_task,
                              ([w[k] for w in lw], [b[k] for b in lb], data["X"], data["Y"], tuple(lesion.motifs),
                               tuple(lesion.fractions), int(lesion.draws), int(lesion.bins), loss,
                               lesion_seed(seed, net)), meta=meta))
    parts = checkpointed_map(runner, tasks, Path(scratch), desc="lesions: networks", unit="network",
                             progress=progress, prepare=label_table)
    out = pd.concat(parts, ignore_index=True)[LESION_STAGE_COLUMNS]
    _write(workdir / "lesions.parquet", out.sort_values(["network"], kind="stable"))


# -- structured pruning ----------------------------------------------------------------------
def _structured_chain(settings: PruningSettings, state: ShardState, splits: dict[str, Any]) -> list[dict[str, np.ndarray]]:
    """Task: a shard pruned by whole neurons level after level; each level's record."""
    out = []
    for _ in range(len(settings.fractions) - 1):
        state = prune_and_retrain(settings, state, "structured", splits)
        out.append(_record(state))
    return out


def _record(state: ShardState) -> dict[str, np.ndarray]:
    n_layers = sum(1 for k in state.model if k.startswith("wm"))
    wms = [state.model[f"wm{l}"] for l in range(n_layers)]
    bms = [state.model[f"bm{l}"] for l in range(n_layers)]
    out = {"losses": state.losses, "fraction_pruned": state.fraction_pruned, **pack_masks(wms, bms)}
    for l in range(n_layers):
        out[f"kw{l}"] = state.model[f"w{l}"][wms[l]]
        out[f"kb{l}"] = state.model[f"b{l}"][bms[l]]
    return out


def _dense_state(settings: PruningSettings, networks: tuple[int, ...], ws: list[np.ndarray], bs: list[np.ndarray],
                 losses: np.ndarray) -> ShardState:
    """The stored dense networks as a round's checkpoint (Adam's state fresh: it is not stored)."""
    sizes = [ws[0].shape[2], *[w.shape[1] for w in ws]]
    seeds = network_seeds(settings.seed, settings.n_networks)
    model = EnsembleMLP(sizes, [seeds[n] for n in networks], float(settings.init_std))
    arrays = {}
    for l, (w, b) in enumerate(zip(ws, bs)):
        arrays.update({f"w{l}": w[list(networks)], f"b{l}": b[list(networks)],
                       f"wm{l}": np.ones(w[list(networks)].shape, bool), f"bm{l}": np.ones(b[list(networks)].shape, bool)})
    model.load_state_arrays(arrays)
    opt = StackedAdam([*model.weights, *model.biases], lr=float(settings.learning_rate))
    return ShardState(tuple(networks), 0, model.state_arrays(), opt.state_arrays(), losses,
                      np.zeros(len(networks)))


def compute_structured(
    pruning: PruningSettings, motif: ScorePlan, n_networks: int | None, store: ArtifactStore,
    splits: dict[str, Any], workdir: Path, scratch: Path, runner: Runner | None = None, *, progress: bool = True,
) -> None:
    """The ``structured`` stage's work (module docstring).

    ``pruning`` gives the schedule, training and round cap (its ``strategies`` must be
    ``("structured",)``); ``n_networks`` the networks pruned (the first; None: all).
    """
    runner = runner or Runner()
    scratch = Path(scratch)
    table = load_pruning_table(store)
    dense = table[(table["strategy"] == "magnitude") & (table["level"] == 0)].sort_values("network")
    networks = [int(n) for n in dense["network"]][: n_networks or None]
    ws, bs = load_weights(store, "magnitude", 0)
    k = int(pruning.networks_per_task or len(networks))
    shards = [tuple(networks[a:a + k]) for a in range(0, len(networks), k)]
    n_levels = len(pruning.fractions)
    data = runner.scatter({name: tuple(np.asarray(a, dtype=np.float32) for a in v) for name, v in splits.items()})
    tasks = []
    for i, shard in enumerate(shards):
        losses = dense.set_index("network").loc[list(shard), ["train_loss", "val_loss", "test_loss"]].to_numpy()
        state = _dense_state(pruning, shard, ws, bs, losses)
        names = tuple(f"shard{i:03d}/level_{lv:02d}.npz" for lv in range(1, n_levels))
        tasks.append(Task(names, _structured_chain, (pruning, state, data), key=f"structured-shard{i}",
                          meta=tuple(i for _ in names)))
    found: dict[int, list[dict[str, np.ndarray]]] = {}

    def collect(task: Task, outs: list[dict[str, np.ndarray]]) -> None:
        found[int(task.meta[0])] = list(outs)  # a shard's levels 1 .. n_levels-1, in order

    checkpointed_map(runner, tasks, scratch / "rounds", desc="structured: shards", unit="level",
                     progress=progress, save=_save_npz, load=load_npz, on_result=collect, keep=False)
    by_shard = [found[i] for i in range(len(shards))]
    rows, scored = [], []
    for level in range(n_levels):
        if level == 0:
            level_ws = [w[networks] for w in ws]
            level_bs = [b[networks] for b in bs]
            fractions = np.zeros(len(networks))
            losses = dense.set_index("network").loc[networks, ["train_loss", "val_loss", "test_loss"]].to_numpy()
            wm, bm = [np.ones(w.shape, bool) for w in level_ws], [np.ones(b.shape, bool) for b in level_bs]
        else:
            recs = [shard[level - 1] for shard in by_shard]
            masks = [unpack_masks(r) for r in recs]
            wm = [np.concatenate([m[0][l] for m in masks]) for l in range(len(ws))]
            bm = [np.concatenate([m[1][l] for m in masks]) for l in range(len(ws))]
            level_ws = [np.zeros(m.shape, np.float32) for m in wm]
            level_bs = [np.zeros(m.shape, np.float32) for m in bm]
            for l in range(len(ws)):
                level_ws[l][wm[l]] = np.concatenate([r[f"kw{l}"] for r in recs])
                level_bs[l][bm[l]] = np.concatenate([r[f"kb{l}"] for r in recs])
            fractions = np.concatenate([r["fraction_pruned"] for r in recs])
            losses = np.concatenate([r["losses"] for r in recs])
        _save_npz(workdir / "structured_masks" / f"level_{level:02d}.npz", pack_masks(wm, bm))
        _save_npz(workdir / "structured_weights" / f"level_{level:02d}.npz",
                  {**{f"w{l}": w[m] for l, (w, m) in enumerate(zip(level_ws, wm))},
                   **{f"b{l}": b[m] for l, (b, m) in enumerate(zip(level_bs, bm))}})
        for i, net in enumerate(networks):
            rows.append((net, "structured", level, float(fractions[i]), *(float(x) for x in losses[i])))
            scored.append((net, level, [w[i] for w in wm], [b[i] for b in bm]))
    pruned = pd.DataFrame(rows, columns=COLUMNS)
    _write(workdir / "structured.parquet", pruned)
    keep = motif.levels(pruned)
    wanted = {(int(r.network), int(r.level)) for r in keep.itertuples()}
    frac = {(int(r.network), int(r.level)): float(r.fraction_pruned) for r in pruned.itertuples()}
    nets = [(dict(network=n, level=lv, fraction_pruned=frac[(n, lv)]), w, b)
            for n, lv, w, b in scored if (n, lv) in wanted]
    _write(workdir / "structured_motifs.parquet", _zscores(runner, nets, "structured", motif, scratch, progress))


# -- readers ---------------------------------------------------------------------------------
def load_activation_table(store: ArtifactStore) -> pd.DataFrame:
    """z-scores of the activation masks (the motif table's columns, strategy ``"activation"``)."""
    store.require("activations")
    return pd.read_parquet(store.path("activations.parquet"))


def load_overlap_table(store: ArtifactStore) -> pd.DataFrame:
    """Per network, level, layer and kind (weights, biases): edges kept and the Jaccard index of
    the activation mask and the magnitude-pruned mask (:data:`OVERLAP_COLUMNS`)."""
    store.require("activations")
    return pd.read_parquet(store.path("activation_overlap.parquet"))


def load_lesion_table(store: ArtifactStore) -> pd.DataFrame:
    """The lesion curves (:data:`LESION_STAGE_COLUMNS`)."""
    store.require("lesions")
    return pd.read_parquet(store.path("lesions.parquet"))


def load_structured_table(store: ArtifactStore, loss_threshold: float | None = None) -> pd.DataFrame:
    """The structured strategy's pruning table (the pruning table's columns; with
    ``loss_threshold`` a ``selected`` column, :func:`~mothlib.networks.pruning.mark_selected`)."""
    store.require("structured")
    table = pd.read_parquet(store.path("structured.parquet"))
    return table if loss_threshold is None else mark_selected(table, loss_threshold)


def load_structured_motifs(store: ArtifactStore) -> pd.DataFrame:
    """The structured networks' motif z-scores (the motif table's columns)."""
    store.require("structured")
    return pd.read_parquet(store.path("structured_motifs.parquet"))


def load_structured_masks(store: ArtifactStore, level: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The structured networks' masks at one level (as :func:`~mothlib.study.pruning_stage.load_masks`)."""
    store.require("structured")
    path = store.path("structured_masks") / f"level_{int(level):02d}.npz"
    if not path.exists():
        raise FileNotFoundError(f"no structured masks at level {level} ({path} missing)")
    return unpack_masks(load_npz(path))


def structured_pruning_settings(base: PruningSettings, max_batches: int | None) -> PruningSettings:
    """``base`` (the ensemble's pruning settings) for the structured strategy alone, its round
    cap ``max_batches`` or else the magnitude strategy's."""
    cap = max_batches if max_batches is not None else base.round_cap("magnitude", 1)
    return replace(base, strategies=("structured",), max_batches_per_round=cap)
