"""The study's ``motifs`` stage: z-scores of every scored level of every pruned network, strategy
and null model (:func:`mothlib.motifs.significance.motif_zscores`), as checkpointed tasks, and
the stage's table read back.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np
import pandas as pd

from mothlib.core.seeds import check_seed
from mothlib.motifs.nulls import NULL_MODELS
from mothlib.motifs.significance import COLUMNS, motif_zscores, motif_zscores_many
from mothlib.networks.pruning import mark_selected, mark_selected_by_accuracy
from mothlib.study.checkpoint import Task, checkpointed_map, label_table
from mothlib.study.cluster import Runner
from mothlib.study.selection import up_to_selected
from mothlib.study.pruning_stage import load_masks, load_pruning_table
from mothlib.study.store import atomic_write

__all__ = [
    "STAGE_COLUMNS", "task_seed", "ScorePlan", "score_plan", "scored_levels", "compute_motif_table",
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
        [cast(int, check_seed(seed, integer=True)), zlib.crc32(strategy.encode()), int(network), int(level), NULL_MODELS.index(null_model)]
    )


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


@dataclass(frozen=True)
class ScorePlan:
    """What scoring networks against the null models reads from a stage's settings, taken in one
    place (:func:`score_plan`): the motif stage and the open-questions stages share it."""

    null_models: tuple[str, ...]
    n_null: dict[str, int]
    seed: int
    chunk_size: int
    device: str
    engine: str
    max_loss_threshold: float
    max_accuracy_margin: float | None

    def options(self, null: str) -> dict[str, Any]:
        """Keyword arguments of one null model's z-score task (:func:`_score`)."""
        return dict(n_null=self.n_null[null], chunk_size=self.chunk_size, device=self.device,
                    engine=self.engine)

    def levels(self, pruning: pd.DataFrame) -> pd.DataFrame:
        """The (strategy, network, level) rows to score (:func:`scored_levels`)."""
        return scored_levels(pruning, self.max_loss_threshold, self.max_accuracy_margin)


def score_plan(settings: Any, n_null: dict[str, int]) -> ScorePlan:
    """The scoring plan of a stage whose :class:`~mothlib.study.stages.StageSettings` hold the
    ``study``, ``selection``, ``nulls`` and ``run`` sections, with ``n_null`` nulls per model."""
    classification = settings.task.classification
    return ScorePlan(
        null_models=settings.nulls.null_models, n_null=dict(n_null), seed=settings.study.seed,
        chunk_size=settings.nulls.null_chunk_size, device=settings.run.device,
        engine=settings.nulls.null_engine,
        # A classification task scores levels by accuracy: max_loss_threshold is the moth's.
        max_loss_threshold=float("inf") if classification else settings.selection.max_loss_threshold,
        max_accuracy_margin=settings.selection.max_accuracy_margin if classification else None,
    )


def _score(ws: list[np.ndarray], bs: list[np.ndarray] | None, null: str, seed: np.random.SeedSequence,
           options: dict[str, Any]) -> pd.DataFrame:
    """Task: one network's z-scores against one null model, cleaned first as the study's
    protocol says (``options``: n_null, chunk_size, device, engine)."""
    # One thread per task: the Dask workers are single-threaded.
    return motif_zscores(ws, bs, null_model=null, seed=seed, clean=True, n_jobs=1, **options)


def _score_many(nets: list[tuple[list[np.ndarray], list[np.ndarray] | None]], null: str,
                seeds: list[np.random.SeedSequence], options: dict[str, Any]) -> list[pd.DataFrame]:
    """Task: several networks' z-scores against one null model (their nulls drawn together)."""
    return motif_zscores_many(nets, null_model=null, seeds=seeds, clean=True, n_jobs=1, **options)


class _Pair(NamedTuple):
    """One (network, level) of the motif stage waiting for its task."""

    ws: list[np.ndarray]
    bs: list[np.ndarray] | None
    seed: np.random.SeedSequence
    name: str
    meta: dict[str, Any]


def compute_motif_table(
    settings: Any,
    store: Any,
    workdir: Path,
    scratch: Path,
    runner: Any = None,
    *,
    progress: bool = True,
) -> None:
    """The ``motifs`` stage's work: z-scores of every scored level (:func:`scored_levels`) of
    every network, strategy and null model, as (strategy, network, level, null model) tasks.

    ``settings`` is the stage's :class:`~mothlib.study.stages.StageSettings` (sections ``study``,
    ``selection``, ``nulls``, ``motifs``, ``run``). Writes ``workdir/motifs.parquet`` (columns
    :data:`STAGE_COLUMNS`). Each finished (strategy, network, level, null model) table is
    checkpointed in ``scratch`` by the client (:func:`~mothlib.study.checkpoint.checkpointed_map`),
    so an interrupted run resumes. With ``motif_tasks_per_call`` > 1 the pairs still to score are
    grouped, in order, into tasks of up to that many per (strategy, null model).
    """
    runner = runner or Runner()
    scratch = Path(scratch)
    table = load_pruning_table(store)
    plan = score_plan(settings, settings.motifs.n_nulls())
    levels = plan.levels(table)
    n_null, null_models, options = plan.n_null, plan.null_models, plan.options
    per_call = settings.motifs.motif_tasks_per_call
    # Networks are the batch entries of load_masks, in the order of their ids.
    position = {int(n): i for i, n in enumerate(sorted(table["network"].unique()))}
    groups: dict[tuple[str, str], list[_Pair]] = {}  # (strategy, null) -> pairs waiting for a task

    def task(strategy: str, null: str) -> Task:
        """The task of a group of pairs (one pair unless ``tasks_per_call`` > 1)."""
        group = groups.pop((strategy, null))
        first = group[0].meta
        more = f"-x{len(group)}" if len(group) > 1 else ""
        key = f"motifs-{strategy}-net{first['network']}-level{first['level']}-{null}{more}"
        if per_call == 1:  # one network per task, as before the setting
            p = group[0]
            return Task(p.name, _score, (p.ws, p.bs, null, p.seed, options(null)), key=key, meta=p.meta)
        return Task(tuple(p.name for p in group), _score_many,
                    ([(p.ws, p.bs) for p in group], null, [p.seed for p in group], options(null)),
                    key=key, meta=tuple(p.meta for p in group))

    def tasks() -> Iterator[Task]:
        """Every pair's task, submitted as it comes (a level's masks are read only when needed)."""
        for (strategy, level), rows in levels.groupby(["strategy", "level"], sort=True):
            masks = None
            for r in rows.itertuples():
                for null in null_models:
                    network = int(r.network)
                    name = f"{strategy}-net{network}-level{level}-{null}.parquet"
                    meta = dict(network=network, level=int(level), fraction_pruned=float(r.fraction_pruned),
                                strategy=strategy, null_model=null, n_null=n_null[null])
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
                    seed = task_seed(plan.seed, strategy, network, int(level), null)
                    groups.setdefault((strategy, null), []).append(_Pair(ws, bs, seed, name, meta))
                    if len(groups[(strategy, null)]) == per_call:
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
    table = pd.read_parquet(store.path("motifs.parquet"))
    if loss_threshold is None:
        return table
    if "max_loss_threshold" not in manifest["params"]:
        raise ValueError("this motif table was scored by accuracy (a classification task): select "
                         "with profile=, whose accuracy_margin applies, not with loss_threshold")
    served = float(manifest["params"]["max_loss_threshold"])
    if float(loss_threshold) > served:
        raise ValueError(
            f"loss_threshold {loss_threshold:g} exceeds max_loss_threshold {served:g} of the motif "
            f"table; set max_loss_threshold >= {loss_threshold:g} (reruns the motif stage)"
        )
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
