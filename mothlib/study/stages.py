"""The study's stages, declared once: name, settings, inputs, outputs, version and work.

``python -m mothlib study``, ``make book``, the notebooks and the tests all run stages through
:func:`run` / :func:`run_all`. A stage's cache key is its algorithm version, the profile fields
that change its results (:attr:`Stage.fields`) and the content hashes of its inputs; fields that
only change how it runs (chunk sizes, shards, threads, device) are not in it. The profile dict
stops here: :attr:`Stage.settings` turns it into the typed settings the library functions take.

====================  ==========  =========================================================
stage                 inputs      outputs
====================  ==========  =========================================================
``data``              --          ``data/`` (splits as ``.npy``, scaling, metadata)
``pruning``           data        ``pruning.parquet``, ``masks/``, ``weights/`` (every level)
``motifs``            pruning     ``motifs.parquet`` (every level a threshold up to
                                  ``max_loss_threshold`` can select)
``training_length``   data        ``training_length*.parquet`` (z, losses and degree
                                  heterogeneity of the same networks trained for
                                  several lengths)
====================  ==========  =========================================================

Selection (``loss_threshold``) is not a stage: it is :func:`mothlib.networks.pruning.mark_selected`, a
filter over the pruning table.

Tasks: the profile field ``task`` (:data:`mothlib.study.profiles.TASKS`, default ``"moth"``) picks the
data set (``"digits"``: :mod:`mothlib.study.digits`), the loss and the selection rule
(:func:`mothlib.networks.pruning.select`); the settings functions read it. A task other than the moth
adds ``task`` (and the fields of :data:`TASK_FIELDS`) to the cache keys, so the moth's keys are
those of a study without tasks.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mothlib.study.cluster import Runner
from mothlib.study.store import ArtifactStore

__all__ = ["Stage", "STAGES", "TASK_FIELDS", "stage_params", "run", "run_all", "default_stages", "is_current", "verify"]


@dataclass(frozen=True)
class Stage:
    """One stage of the study.

    Attributes
    ----------
    name : str
    version : int
        Algorithm version, part of the cache key: bumped whenever the stage's results would
        change for the same settings, so artifacts of older code are never taken as current.
    fields : tuple of str
        Profile fields that change the results (the cache key).
    run_fields : tuple of str
        Profile fields that only change how the stage runs (not in the key).
    inputs : tuple of str
        Upstream stages.
    outputs : tuple of str
        Files or folders it writes, relative to the profile's artifact folder.
    settings : callable
        ``settings(profile) -> typed settings`` (raises ValueError naming a bad field).
    compute : callable
        ``compute(settings, store, workdir, scratch, runner, progress)`` writes the outputs.
    summary : str
        One line for listings.
    """

    name: str
    version: int
    fields: tuple[str, ...]
    run_fields: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    settings: Callable[[dict[str, Any]], Any]
    compute: Callable[..., None]
    summary: str


def _task(p: dict[str, Any]) -> str:
    """The profile's task (``"moth"`` when absent); ValueError naming the known tasks."""
    from mothlib.study.profiles import TASKS

    task = p.get("task", "moth")
    if task not in TASKS:
        raise ValueError(f"task: unknown task {task!r}; choose one of {list(TASKS)}")
    return task


# -- data ----------------------------------------------------------------------------------
def _data_settings(p: dict[str, Any]) -> Any:
    from mothlib.study.data import DataSettings

    if _task(p) == "digits":  # n_samples, scale, duration are the moth's; digits uses every image
        from mothlib.study.digits import DigitsSettings

        return DigitsSettings(seed=int(p["seed"]), split=tuple(p["split"]))
    return DataSettings(
        n_samples=p["n_samples"], seed=int(p["seed"]), scale=float(p["scale"]),
        duration=float(p["duration"]), split=tuple(p["split"]), chunk_size=p["data_chunk_size"],
    )


def _data_compute(settings: Any, store: ArtifactStore, workdir: Path, scratch: Path,
                  runner: Runner, progress: bool) -> None:
    from mothlib.study.data import compute_dataset
    from mothlib.study.digits import DigitsSettings

    if isinstance(settings, DigitsSettings):
        from mothlib.study.digits import compute_digits

        compute_digits(settings, workdir, progress=progress)
        return
    compute_dataset(settings, workdir, scratch, runner, progress=progress)


# -- pruning -------------------------------------------------------------------------------
def _pruning_settings(p: dict[str, Any]) -> Any:
    from mothlib.networks.ensemble import EarlyStopping
    from mothlib.study.profiles import TASK_LOSS
    from mothlib.networks.pruning import PruningSettings

    return PruningSettings(
        n_networks=int(p["n_networks"]), hidden_sizes=tuple(p["hidden_sizes"]),
        schedule=tuple(p["schedule"]), strategies=tuple(p["strategies"]), seed=int(p["seed"]),
        init_std=float(p["init_std"]), learning_rate=float(p["learning_rate"]),
        batch_size=int(p["batch_size"]),
        stopping=EarlyStopping(
            check_every=int(p["es_check_every"]), min_batches=int(p["es_min_batches"]),
            window=int(p["es_window"]), ratio=float(p["es_ratio"]),
        ),
        max_batches_dense=p["max_batches_dense"], max_batches_per_round=p["max_batches_per_round"],
        device=str(p["device"]), threads=p["train_threads"], networks_per_task=p["networks_per_task"],
        loss=TASK_LOSS[_task(p)],
    )


def _pruning_compute(settings: Any, store: ArtifactStore, workdir: Path, scratch: Path,
                     runner: Runner, progress: bool) -> None:
    from mothlib.study.data import load_splits
    from mothlib.study.pruning_stage import compute_pruning

    compute_pruning(settings, load_splits(store), workdir, scratch, runner, progress=progress)


# -- motifs --------------------------------------------------------------------------------
def _motif_settings(p: dict[str, Any]) -> Any:
    from mothlib.study.motif_stage import MotifStageSettings

    return MotifStageSettings(
        null_models=tuple(p["null_models"]),
        n_null={"layer-edges": int(p["n_null"]), "degree-preserving": int(p["n_null_degree"])},
        max_loss_threshold=float(p["max_loss_threshold"]), seed=int(p["seed"]),
        chunk_size=int(p["null_chunk_size"]),
        device=str(p["device"]),
        # A classification task scores levels by accuracy (max_loss_threshold is then unused).
        max_accuracy_margin=None if _task(p) == "moth" else float(p["max_accuracy_margin"]),
        tasks_per_call=int(p["motif_tasks_per_call"]),
        engine=str(p["null_engine"]),
    )


def _motif_compute(settings: Any, store: ArtifactStore, workdir: Path, scratch: Path,
                   runner: Runner, progress: bool) -> None:
    from mothlib.study.motif_stage import compute_motif_table

    compute_motif_table(settings, store, workdir, scratch, runner, progress=progress)


# -- training length -----------------------------------------------------------------------
def _length_settings(p: dict[str, Any]) -> Any:
    from mothlib.networks.ensemble import EarlyStopping
    from mothlib.study.training_length import LengthSettings

    cap = p["max_batches_per_round"]
    return LengthSettings(
        factors=p["length_factors"], base_dense=p["length_base_dense"],
        base_round=p["length_base_round"], n_networks=p["length_networks"],
        hidden_sizes=tuple(p["length_hidden_sizes"]), schedule=tuple(p["length_schedule"]),
        reference=EarlyStopping(
            check_every=int(p["es_check_every"]), min_batches=int(p["es_min_batches"]),
            window=int(p["es_window"]), ratio=float(p["es_ratio"]),
        ),
        reference_dense=p["max_batches_dense"],
        # The reference arm prunes by magnitude only: its cap is the profile's magnitude cap.
        reference_round=cap.get("magnitude") if isinstance(cap, dict) else cap,
        null_models=tuple(p["null_models"]),
        n_null={"layer-edges": p["length_n_null"], "degree-preserving": p["length_n_null_degree"]},
        seed=int(p["seed"]), init_std=float(p["init_std"]),
        learning_rate=float(p["learning_rate"]), batch_size=int(p["batch_size"]),
        chunk_size=int(p["null_chunk_size"]), device=str(p["device"]),
        threads=p["train_threads"], networks_per_task=p["length_networks_per_task"],
    )


def _length_compute(settings: Any, store: ArtifactStore, workdir: Path, scratch: Path,
                    runner: Runner, progress: bool) -> None:
    from mothlib.study.data import load_splits
    from mothlib.study.training_length import compute_training_length

    compute_training_length(settings, load_splits(store), workdir, scratch, runner, progress=progress)


STAGES: dict[str, Stage] = {
    "data": Stage(
        name="data", version=1,
        fields=("seed", "n_samples", "scale", "duration", "split"),
        run_fields=("data_chunk_size",),
        inputs=(), outputs=("data",),
        settings=_data_settings, compute=_data_compute,
        summary="simulate wingstrokes, split and scale them",
    ),
    "pruning": Stage(
        name="pruning", version=5,
        fields=(
            "seed", "n_networks", "hidden_sizes", "init_std", "learning_rate", "batch_size",
            "es_check_every", "es_min_batches", "es_window", "es_ratio", "max_batches_per_round",
            "max_batches_dense", "schedule", "strategies",
        ),
        run_fields=("device", "train_threads", "networks_per_task"),
        inputs=("data",), outputs=("pruning.parquet", "masks", "weights"),
        settings=_pruning_settings, compute=_pruning_compute,
        summary="train the ensemble, prune it level by level, record every level",
    ),
    "motifs": Stage(
        name="motifs", version=3,
        fields=("seed", "null_models", "n_null", "n_null_degree", "max_loss_threshold"),
        run_fields=("null_chunk_size", "device", "motif_tasks_per_call", "null_engine"),
        inputs=("pruning",), outputs=("motifs.parquet",),
        settings=_motif_settings, compute=_motif_compute,
        summary="z-scores of every selectable level against both null models",
    ),
    "training_length": Stage(
        name="training_length", version=4,
        fields=(
            "seed", "init_std", "learning_rate", "batch_size", "es_check_every",
            "es_min_batches", "es_window", "es_ratio", "max_batches_dense",
            "max_batches_per_round", "null_models", "length_factors", "length_base_dense",
            "length_base_round", "length_networks", "length_hidden_sizes", "length_schedule",
            "length_n_null", "length_n_null_degree",
        ),
        run_fields=("device", "train_threads", "null_chunk_size", "length_networks_per_task"),
        inputs=("data",),
        outputs=("training_length.parquet", "training_length_levels.parquet",
                 "training_length_degrees.parquet"),
        settings=_length_settings, compute=_length_compute,
        summary="the same networks trained for several lengths: z, losses, degree heterogeneity",
    ),
}


#: Cache fields a stage adds for tasks other than the moth (with ``task`` itself).
TASK_FIELDS: dict[str, tuple[str, ...]] = {"motifs": ("max_accuracy_margin",)}


def _stage(name: str) -> Stage:
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; known stages: {list(STAGES)}")
    return STAGES[name]


def stage_params(profile: dict[str, Any], stage: str) -> dict[str, Any]:
    """The stage's cache parameters: its algorithm version and the fields of :attr:`Stage.fields`
    (for a task other than the moth also ``task`` and the stage's :data:`TASK_FIELDS`).

    Raises
    ------
    ValueError
        For an unknown stage or task.
    """
    st = _stage(stage)
    params = {"version": st.version, **{key: copy.deepcopy(profile[key]) for key in st.fields}}
    task = _task(profile)
    if task != "moth":  # the moth's keys stay those of a study without tasks
        params["task"] = task
        params.update({key: copy.deepcopy(profile[key]) for key in TASK_FIELDS.get(stage, ())})
    return params


def _store(profile: dict[str, Any], store: ArtifactStore | None) -> ArtifactStore:
    return store if store is not None else ArtifactStore(profile["profile"])


def is_current(name: str, profile: dict[str, Any], store: ArtifactStore | None = None) -> bool:
    """True when the stage's artifacts match the profile (nothing to compute)."""
    st = _stage(name)
    return _store(profile, store).is_current(name, stage_params(profile, name), st.inputs)


def run(
    name: str,
    profile: dict[str, Any],
    store: ArtifactStore | None = None,
    runner: Runner | None = None,
    *,
    progress: bool = True,
    force: bool = False,
) -> dict[str, Any]:
    """Run one stage unless its artifacts are current; return its manifest.

    Parameters
    ----------
    name : {"data", "pruning", "motifs", "training_length"}
    profile : dict
        From :func:`mothlib.study.profiles.get_profile`.
    store : ArtifactStore, optional
        Default: the profile's store under ``$MOTHLIB_ARTIFACTS`` (or ``artifacts/``).
    runner : Runner, optional
        Where the tasks run (default: this process; see :func:`mothlib.study.cluster.open_runner`).
    progress : bool
        One tqdm bar of tasks.
    force : bool
        Recompute even when current.

    Raises
    ------
    ValueError
        For an unknown stage or a bad profile field (named).
    FileNotFoundError
        When an input stage has not run.
    """
    st = _stage(name)
    settings = st.settings(profile)  # bad fields fail before anything is written
    store = _store(profile, store)
    runner = runner or Runner()

    def compute(workdir: Path, scratch: Path) -> None:
        st.compute(settings, store, workdir, scratch, runner, progress)

    return store.run_stage(name, stage_params(profile, name), list(st.outputs), compute,
                           inputs=list(st.inputs), force=force)


def default_stages(profile: dict[str, Any]) -> list[str]:
    """The stages a profile's study runs: all for the moth; the training-length experiment is
    the moth's own, so another task runs data, pruning and motifs."""
    if profile.get("task", "moth") == "moth":
        return list(STAGES)
    return [name for name in STAGES if name != "training_length"]


def run_all(
    profile: dict[str, Any],
    stages: Sequence[str] | None = None,
    store: ArtifactStore | None = None,
    runner: Runner | None = None,
    *,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Run the named stages (default: :func:`default_stages`) in pipeline order; return
    name -> manifest."""
    wanted = default_stages(profile) if stages is None else list(stages)
    for name in wanted:  # every bad name or field is reported before any work starts
        _stage(name).settings(profile)
    return {
        name: run(name, profile, store, runner, progress=progress)
        for name in STAGES if name in wanted
    }


def verify(profile: dict[str, Any], store: ArtifactStore | None = None) -> dict[str, list[str] | None]:
    """Re-hash every completed stage's artifacts; damaged stages lose their manifest (and so
    are recomputed by the next run).

    Returns
    -------
    dict
        Stage -> list of damaged files (empty: intact), or None when the stage has not run.
    """
    store = _store(profile, store)
    return {
        name: (store.verify(name) if store.manifest(name) is not None else None)
        for name in STAGES
    }
