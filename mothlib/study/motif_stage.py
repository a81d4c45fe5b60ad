"""The study's ``motifs`` stage: z-scores of every scored level of every pruned network, strategy
and null model (:func:`mothlib.motifs.significance.motif_zscores`), as checkpointed tasks, and
the stage's table read back.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from mothlib.core.seeds import check_seed
from mothlib.motifs.nulls import NULL_MODELS
from mothlib.motifs.significance import COLUMNS, motif_zscores, motif_zscores_many
from mothlib.networks.pruning import mark_selected, mark_selected_by_accuracy
from mothlib.study.checkpoint import Task, checkpointed_map, label_table
from mothlib.study.cluster import Runner
from mothlib.study.findings import up_to_selected
from mothlib.study.pruning_stage import load_masks, load_pruning_table
from mothlib.study.store import atomic_write

__all__ = [
    "STAGE_COLUMNS", "task_seed", "MotifStageSettings", "scored_levels", "compute_motif_table",
    "load_motif_table",
]

STAGE_COLUMNS = ["network", "level", "fraction_pruned", "strategy", "null_model", "n_null"] + COLUMNS


def _load_masks(store: Any, strategy: str, level: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The pruning stage's masks (a seam for tests that fake the pruning stage)."""
    return load_masks(store, strategy, level)


def task_seed(seed: int, strategy: str, network: int, level: int, null_model: str) -> np.random.SeedSequence:
    """The null-sample seed of one (strategy, network, level, null model), from the profile seed.

    The motif-stage stream of :mod:`mothlib.core.seeds` (its tag is the strategy's crc32).
    """
    return np.random.SeedSequence(
        [check_seed(seed, integer=True), zlib.crc32(strategy.encode()), int(network), int(level), NULL_MODELS.index(null_model)]
    )


@dataclass(frozen=True)
class MotifStageSettings:
    """What the motif table depends on.

    Parameters
    ----------
    null_models : sequence of {"layer-edges", "degree-preserving"}
    n_null : dict
        Null model -> number of null networks.
    max_loss_threshold : float
        The largest loss threshold the table serves: each network is scored at every level up
        to its last level with validation loss at most this, so any selection threshold up to
        it filters the table instead of recomputing nulls.
    seed : int
    chunk_size : int
        Null networks drawn and counted at once (memory only).
    device : str, optional
        Torch device where the null networks are drawn and counted.
    max_accuracy_margin : float, optional
        A classification task's counterpart of ``max_loss_threshold`` (which it then replaces):
        each network is scored up to its last level whose validation accuracy is within this
        margin of its dense level's, so any ``accuracy_margin`` up to it filters the table.
    tasks_per_call : int
        Up to this many (network, level) pairs of one strategy and null model are scored in one
        task by :func:`motif_zscores_many` (their null chains in one run on the torch and cuda
        engines); 1 submits each pair alone. The table does not depend on it.
    engine : str
        Null sampler (:data:`mothlib.motifs.nulls.ENGINES`; "auto": numba on the CPU, torch on a GPU).
        Every engine draws the same null networks, so the table does not depend on it.
    """

    null_models: tuple[str, ...]
    n_null: dict[str, int]
    max_loss_threshold: float
    seed: int = 0
    chunk_size: int = 100
    device: str = "cpu"
    max_accuracy_margin: float | None = None
    tasks_per_call: int = 1
    engine: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "null_models", tuple(self.null_models))
        unknown = sorted(set(self.null_models) - set(NULL_MODELS))
        if unknown or not self.null_models:
            raise ValueError(f"null_models: unknown or no null model(s) {unknown}; choose from {list(NULL_MODELS)}")
        for null in self.null_models:
            n = self.n_null.get(null)
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
                raise ValueError(f"n_null[{null!r}] must be a non-negative integer, got {n!r}")
        if not float(self.max_loss_threshold) > 0:
            raise ValueError(f"max_loss_threshold must be positive, got {self.max_loss_threshold!r}")
        if int(self.chunk_size) < 1:
            raise ValueError(f"chunk_size must be at least 1, got {self.chunk_size!r}")
        if self.max_accuracy_margin is not None and not float(self.max_accuracy_margin) >= 0:
            raise ValueError(f"max_accuracy_margin must be non-negative, got {self.max_accuracy_margin!r}")
        n = self.tasks_per_call
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"tasks_per_call must be a positive integer, got {n!r}")
        from mothlib.motifs.nulls import ENGINES

        if self.engine not in ENGINES:
            raise ValueError(f"null_engine must be one of {list(ENGINES)}, got {self.engine!r}")


def scored_levels(
    pruning: pd.DataFrame, max_loss_threshold: float, max_accuracy_margin: float | None = None
) -> pd.DataFrame:
    """The (strategy, network, level) rows the motif stage scores: for each network, levels 0 up
    to its last level with validation loss at most ``max_loss_threshold`` (or, when
    ``max_accuracy_margin`` is given, with validation accuracy within it of the dense level's).

    Columns ``strategy, network, level, fraction_pruned``.
    """
    if max_accuracy_margin is None:
        marked = mark_selected(pruning, max_loss_threshold)
    else:
        marked = mark_selected_by_accuracy(pruning, max_accuracy_margin)
    rows = up_to_selected(pruning, marked)
    return rows[["strategy", "network", "level", "fraction_pruned"]].reset_index(drop=True)


def _score(ws: list[np.ndarray], bs: list[np.ndarray] | None, settings: MotifStageSettings,
           null: str, seed: np.random.SeedSequence) -> pd.DataFrame:
    """Task: one network's z-scores against one null model."""
    return motif_zscores(ws, bs, n_null=int(settings.n_null[null]), null_model=null, clean=True,
                         chunk_size=int(settings.chunk_size), seed=seed, device=settings.device,
                         engine=settings.engine,
                         n_jobs=1)  # one thread per task: the Dask workers are single-threaded


def _score_many(nets: list[tuple[list[np.ndarray], list[np.ndarray] | None]], settings: MotifStageSettings,
                null: str, seeds: list[np.random.SeedSequence]) -> list[pd.DataFrame]:
    """Task: several networks' z-scores against one null model (their nulls drawn together)."""
    return motif_zscores_many(nets, n_null=int(settings.n_null[null]), null_model=null, seeds=seeds, clean=True,
                              chunk_size=int(settings.chunk_size), device=settings.device,
                              engine=settings.engine, n_jobs=1)


class _Pair(NamedTuple):
    """One (network, level) of the motif stage waiting for its task."""

    ws: list[np.ndarray]
    bs: list[np.ndarray] | None
    seed: np.random.SeedSequence
    name: str
    meta: dict[str, Any]


def compute_motif_table(
    settings: MotifStageSettings,
    store: Any,
    workdir: Path,
    scratch: Path,
    runner: Any = None,
    *,
    progress: bool = True,
) -> None:
    """The ``motifs`` stage's work: z-scores of every scored level (:func:`scored_levels`) of
    every network, strategy and null model, as (strategy, network, level, null model) tasks.

    Writes ``workdir/motifs.parquet`` (columns :data:`STAGE_COLUMNS`). Each finished
    (strategy, network, level, null model) table is checkpointed in ``scratch`` by the client
    (:func:`~mothlib.study.checkpoint.checkpointed_map`), so an interrupted run resumes. With
    ``settings.tasks_per_call`` > 1 the pairs still to score are grouped, in order, into tasks of
    up to that many per (strategy, null model).
    """
    runner = runner or Runner()
    scratch = Path(scratch)
    table = load_pruning_table(store)
    levels = scored_levels(table, settings.max_loss_threshold, settings.max_accuracy_margin)
    # Networks are the batch entries of load_masks, in the order of their ids.
    position = {int(n): i for i, n in enumerate(sorted(table["network"].unique()))}
    groups: dict[tuple[str, str], list[_Pair]] = {}  # (strategy, null) -> pairs waiting for a task

    def task(strategy: str, null: str) -> Task:
        """The task of a group of pairs (one pair unless ``tasks_per_call`` > 1)."""
        group = groups.pop((strategy, null))
        first = group[0].meta
        more = f"-x{len(group)}" if len(group) > 1 else ""
        key = f"motifs-{strategy}-net{first['network']}-level{first['level']}-{null}{more}"
        if settings.tasks_per_call == 1:  # one network per task, as before the setting
            p = group[0]
            return Task(p.name, _score, (p.ws, p.bs, settings, null, p.seed), key=key, meta=p.meta)
        return Task(tuple(p.name for p in group), _score_many,
                    ([(p.ws, p.bs) for p in group], settings, null, [p.seed for p in group]),
                    key=key, meta=tuple(p.meta for p in group))

    def tasks() -> Iterator[Task]:
        """Every pair's task, submitted as it comes (a level's masks are read only when needed)."""
        for (strategy, level), rows in levels.groupby(["strategy", "level"], sort=True):
            masks = None
            for r in rows.itertuples():
                for null in settings.null_models:
                    network = int(r.network)
                    name = f"{strategy}-net{network}-level{level}-{null}.parquet"
                    meta = dict(network=network, level=int(level), fraction_pruned=float(r.fraction_pruned),
                                strategy=strategy, null_model=null, n_null=int(settings.n_null[null]))
                    if (scratch / name).exists():
                        # Finished in an earlier run: read back, and left out of the groups.
                        yield Task(name, meta=meta)
                        continue
                    if masks is None:
                        masks = _load_masks(store, strategy, int(level))
                    wm, bm = masks
                    k = position[network]
                    ws = [np.asarray(w[k]) for w in wm]
                    bs = None if bm is None else [np.asarray(b[k]) for b in bm]
                    seed = task_seed(settings.seed, strategy, network, int(level), null)
                    groups.setdefault((strategy, null), []).append(_Pair(ws, bs, seed, name, meta))
                    if len(groups[(strategy, null)]) == settings.tasks_per_call:
                        yield task(strategy, null)
        for strategy, null in list(groups):  # the last, partly filled groups
            yield task(strategy, null)

    parts = checkpointed_map(runner, tasks(), scratch, desc="motifs: z-scores", progress=progress,
                             prepare=label_table)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=STAGE_COLUMNS)
    out = out[STAGE_COLUMNS].sort_values(["strategy", "network", "level", "null_model"], kind="stable")
    with atomic_write(workdir / "motifs.parquet") as handle:
        out.reset_index(drop=True).to_parquet(handle)


def load_motif_table(
    store: Any, loss_threshold: float | None = None, *, profile: dict[str, Any] | None = None
) -> pd.DataFrame:
    """The motif stage's table (one row per network, level, strategy, null model and motif).

    Parameters
    ----------
    store : ArtifactStore
    loss_threshold : float, optional
        When given, only the rows a study with this selection threshold uses: each network's
        levels up to its selected one (per strategy). Without it, every scored level.
    profile : dict, optional
        Instead of ``loss_threshold``: keep the rows up to the level the profile's task selects
        (:func:`mothlib.study.pruning_stage.select`; a classification task's ``accuracy_margin`` must not
        exceed the table's ``max_accuracy_margin``).

    Raises
    ------
    FileNotFoundError
        When the motif stage has not run.
    ValueError
        When ``loss_threshold`` exceeds the table's ``max_loss_threshold``: levels it would
        select may be unscored (raise ``max_loss_threshold``; that reruns the motif stage).
    """
    if loss_threshold is not None and profile is not None:
        raise ValueError("give loss_threshold or profile, not both")
    if profile is not None and profile.get("task", "moth") == "moth":
        loss_threshold, profile = profile["loss_threshold"], None
    manifest = store.require("motifs")
    if profile is not None:
        return _motifs_by_profile(store, manifest, profile)
    served = float(manifest["params"]["max_loss_threshold"])
    if loss_threshold is not None and float(loss_threshold) > served:
        raise ValueError(
            f"loss_threshold {loss_threshold:g} exceeds max_loss_threshold {served:g} of the motif "
            f"table; set max_loss_threshold >= {loss_threshold:g} (reruns the motif stage)"
        )
    table = pd.read_parquet(store.path("motifs.parquet"))
    if loss_threshold is None:
        return table
    pruning = load_pruning_table(store, loss_threshold)
    return up_to_selected(table, pruning).reset_index(drop=True)


def _motifs_by_profile(store: Any, manifest: dict[str, Any], profile: dict[str, Any]) -> pd.DataFrame:
    """:func:`load_motif_table` for a classification task: selection by accuracy margin."""
    margin = float(profile["accuracy_margin"])
    served = manifest["params"].get("max_accuracy_margin")
    if served is None or margin > float(served):
        raise ValueError(
            f"accuracy_margin {margin:g} exceeds max_accuracy_margin {served} of the motif table; "
            f"set max_accuracy_margin >= {margin:g} (reruns the motif stage)"
        )
    table = pd.read_parquet(store.path("motifs.parquet"))
    return up_to_selected(table, load_pruning_table(store, profile=profile)).reset_index(drop=True)
