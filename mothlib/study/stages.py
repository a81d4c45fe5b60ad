"""The study's stages, declared once: name, settings sections, inputs, outputs, version, work.

``python -m mothlib study``, ``make book``, the notebooks and the tests all run stages through
:func:`run` / :func:`run_all`. A stage declares the settings sections it reads
(:mod:`mothlib.study.settings`); its cache key is its algorithm version, the ``result`` fields of
those sections (derived, never listed by hand) and the content hashes of its inputs. Fields that
only change how it runs (device, threads, chunk sizes, engines, shards) or which stored results
are read (the selection threshold) are in no key. Its work receives a :class:`StageSettings` that
holds only those sections, so it cannot read a setting outside its key.

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
``activations``       data,       ``activations.parquet``, ``activation_overlap.parquet``
                      pruning     (the dense networks' busiest connections as masks)
``lesions``           data,       ``lesions.parquet`` (lesion curves by motif
                      pruning     participation, random and magnitude)
``structured``        data,       ``structured*.parquet``, ``structured_masks/``,
                      pruning     ``structured_weights/`` (pruning by whole neurons)
====================  ==========  =========================================================

Selection (``loss_threshold``, ``accuracy_margin``) is not a stage: it is the task's rule
(:data:`mothlib.study.tasks.TASKS`), a filter over the pruning table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mothlib.core.settings import Settings
from mothlib.study.cluster import Runner
from mothlib.study.profiles import as_profile
from mothlib.study.store import ArtifactStore
from mothlib.study.tasks import Task, get_task

__all__ = [
    "Stage", "StageSettings", "STAGES", "get_stage", "stage_settings", "stage_params", "check_stage",
    "pruning_settings", "length_plan", "activation_settings", "structured_settings",
    "run", "run_all", "default_stages",
    "is_current", "verify",
]


@dataclass(frozen=True)
class Stage:
    """One stage of the study.

    Attributes
    ----------
    name : str
    version : int
        Algorithm version, part of the cache key: bumped whenever the stage's results would
        change for the same settings, so artifacts of older code are never taken as current.
    sections : tuple of str
        The settings sections it reads (:mod:`mothlib.study.settings`). Its cache key is the
        hash of their ``result`` fields; its work sees only these sections.
    inputs : tuple of str
        Upstream stages.
    outputs : tuple of str
        Files or folders it writes, relative to the profile's artifact folder.
    compute : callable
        ``compute(settings, store, workdir, scratch, runner, progress)`` writes the outputs;
        ``settings`` is the :class:`StageSettings` of the stage.
    summary : str
        One line for listings.
    priority : int
        Dask priority of its tasks (higher first) when stages share a cluster, as in ``make
        book``: the longest chain of rounds (pruning, then structured pruning, which waits for
        it) goes first, so that the other stages fill the gaps rather than delay it.
    """

    name: str
    version: int
    sections: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    compute: Callable[..., None]
    summary: str
    priority: int = 0


class StageSettings:
    """The sections one stage reads, as attributes (``settings.motifs.n_null``); reading any
    other section is an AttributeError, so a stage cannot depend on a setting outside its key."""

    def __init__(self, stage: str, sections: dict[str, Settings]) -> None:
        self._stage = stage
        self._sections = sections

    def __getattr__(self, name: str) -> Any:
        sections = self.__dict__.get("_sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(
            f"stage {self.__dict__.get('_stage')!r} does not read settings section {name!r} "
            f"(it reads {list(sections)}); declare it in the stage's sections"
        )

    @property
    def task(self) -> Task:
        """The task of the study (from the ``study`` section)."""
        return get_task(self._sections["study"].task)  # type: ignore[attr-defined]

    def __reduce__(self) -> tuple[Any, ...]:
        return (StageSettings, (self._stage, self._sections))


# -- data ----------------------------------------------------------------------------------
def _data_compute(s: StageSettings, store: ArtifactStore, workdir: Path, scratch: Path,
                  runner: Runner, progress: bool) -> None:
    s.task.compute_data(s.data, s.study.seed, workdir, scratch, runner, progress)


# -- pruning -------------------------------------------------------------------------------
def pruning_settings(s: StageSettings) -> Any:
    """The pruning stage's settings as :class:`~mothlib.networks.pruning.PruningSettings`."""
    from mothlib.networks.pruning import PruningSettings

    return PruningSettings(
        n_networks=s.ensemble.n_networks, hidden_sizes=s.ensemble.hidden_sizes,
        schedule=s.ensemble.schedule, strategies=s.ensemble.strategies, seed=s.study.seed,
        init_std=s.training.init_std, learning_rate=s.training.learning_rate,
        batch_size=s.training.batch_size, stopping=s.training.stopping,
        max_batches_dense=s.training.max_batches_dense,
        max_batches_per_round=s.training.max_batches_per_round,
        device=s.run.device, threads=s.run.train_threads,
        networks_per_task=s.ensemble.networks_per_task, loss=s.task.loss,
    )


def _pruning_compute(s: StageSettings, store: ArtifactStore, workdir: Path, scratch: Path,
                     runner: Runner, progress: bool) -> None:
    from mothlib.study.data import load_splits
    from mothlib.study.pruning_stage import compute_pruning

    compute_pruning(pruning_settings(s), load_splits(store), workdir, scratch, runner, progress=progress)


# -- motifs --------------------------------------------------------------------------------
def _motif_compute(s: StageSettings, store: ArtifactStore, workdir: Path, scratch: Path,
                   runner: Runner, progress: bool) -> None:
    from mothlib.study.motif_stage import compute_motif_table

    compute_motif_table(s, store, workdir, scratch, runner, progress=progress)


# -- training length -----------------------------------------------------------------------
def length_plan(s: StageSettings) -> Any:
    """The training-length stage's plan (:func:`mothlib.study.training_length.plan`)."""
    from mothlib.study.training_length import plan

    return plan(s)


def _length_compute(s: StageSettings, store: ArtifactStore, workdir: Path, scratch: Path,
                    runner: Runner, progress: bool) -> None:
    from mothlib.study.data import load_splits
    from mothlib.study.training_length import compute_training_length

    compute_training_length(s, load_splits(store), workdir, scratch, runner, progress=progress)


# -- the paper's open questions ---------------------------------------------------------------
def _open_motif_settings(s: StageSettings, n_null: dict[str, int]) -> Any:
    """The motif stage's scoring plan with another stage's null sample sizes."""
    from mothlib.study.motif_stage import score_plan

    return score_plan(s, n_null)


def activation_settings(s: StageSettings) -> Any:
    """The activations stage's scoring plan (:class:`~mothlib.study.motif_stage.ScorePlan`)."""
    return _open_motif_settings(s, s.activations.n_nulls())


def structured_settings(s: StageSettings) -> Any:
    """The structured stage's (pruning settings, scoring settings)."""
    from mothlib.study.open_questions import structured_pruning_settings

    return (structured_pruning_settings(pruning_settings(s), s.structured.max_batches),
            _open_motif_settings(s, s.structured.n_nulls()))


def _activations_compute(s: StageSettings, store: ArtifactStore, workdir: Path, scratch: Path,
                         runner: Runner, progress: bool) -> None:
    from mothlib.study.data import load_splits
    from mothlib.study.open_questions import compute_activations

    compute_activations(activation_settings(s), tuple(s.activations.fractions), s.activations.batch_size, store,
                        load_splits(store), workdir, scratch, runner, progress=progress)


def _lesions_compute(s: StageSettings, store: ArtifactStore, workdir: Path, scratch: Path,
                     runner: Runner, progress: bool) -> None:
    from mothlib.study.data import load_splits
    from mothlib.study.open_questions import compute_lesions

    compute_lesions(s.lesions, s.study.seed, s.task.loss, store, load_splits(store), workdir, scratch, runner,
                    progress=progress)


def _structured_compute(s: StageSettings, store: ArtifactStore, workdir: Path, scratch: Path,
                        runner: Runner, progress: bool) -> None:
    from mothlib.study.data import load_splits
    from mothlib.study.open_questions import compute_structured

    pruning, motif = structured_settings(s)
    compute_structured(pruning, motif, s.structured.networks, store, load_splits(store), workdir, scratch, runner,
                       progress=progress)


STAGES: dict[str, Stage] = {
    "data": Stage(
        name="data", version=1, sections=("study", "data"),
        inputs=(), outputs=("data",), compute=_data_compute,
        summary="simulate wingstrokes, split and scale them",
        priority=2,
    ),
    "pruning": Stage(
        name="pruning", version=5, sections=("study", "training", "ensemble", "run"),
        inputs=("data",), outputs=("pruning.parquet", "masks", "weights"), compute=_pruning_compute,
        summary="train the ensemble, prune it level by level, record every level",
        priority=2,
    ),
    "motifs": Stage(
        name="motifs", version=3, sections=("study", "selection", "nulls", "motifs", "run"),
        inputs=("pruning",), outputs=("motifs.parquet",), compute=_motif_compute,
        summary="z-scores of every selectable level against both null models",
        priority=1,
    ),
    "training_length": Stage(
        name="training_length", version=4, sections=("study", "training", "nulls", "length", "run"),
        inputs=("data",),
        outputs=("training_length.parquet", "training_length_levels.parquet",
                 "training_length_degrees.parquet"),
        compute=_length_compute,
        summary="the same networks trained for several lengths: z, losses, degree heterogeneity",
    ),
    "activations": Stage(
        name="activations", version=1, sections=("study", "selection", "nulls", "activations", "run"),
        inputs=("data", "pruning"), outputs=("activations.parquet", "activation_overlap.parquet"),
        compute=_activations_compute,
        summary="the dense networks' busiest connections as masks: z-scores and overlap with pruning",
        priority=1,
    ),
    "lesions": Stage(
        name="lesions", version=1, sections=("study", "lesions", "run"),
        inputs=("data", "pruning"), outputs=("lesions.parquet",), compute=_lesions_compute,
        summary="surviving edges removed by motif participation, at random and by magnitude: loss and paths",
        priority=1,
    ),
    "structured": Stage(
        name="structured", version=1,
        sections=("study", "training", "ensemble", "selection", "nulls", "structured", "run"),
        inputs=("data", "pruning"),
        outputs=("structured.parquet", "structured_masks", "structured_weights", "structured_motifs.parquet"),
        compute=_structured_compute,
        summary="whole neurons pruned from the dense networks, retrained, and their motif z-scores",
        priority=2,
    ),
}

#: What builds the typed settings each stage's work takes (checked before any work starts).
_BUILDERS: dict[str, Callable[[StageSettings], Any]] = {
    "pruning": pruning_settings, "training_length": length_plan,
    "activations": activation_settings, "structured": structured_settings,
}


def get_stage(name: str) -> Stage:
    """The stage called ``name`` (ValueError naming the known stages)."""
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; known stages: {list(STAGES)}")
    return STAGES[name]


def stage_settings(profile: Mapping[str, Any], stage: str) -> StageSettings:
    """The sections ``stage`` reads from ``profile``."""
    st = get_stage(stage)
    p = as_profile(profile)
    return StageSettings(stage, {name: getattr(p, name) for name in st.sections})


def stage_params(profile: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The stage's cache parameters: its algorithm version and, by flat name, every ``result``
    field of the sections it reads (never a hand-kept list).

    Raises
    ------
    ValueError
        For an unknown stage or a bad profile field.
    """
    st = get_stage(stage)
    params: dict[str, Any] = {"version": st.version}
    settings = stage_settings(profile, stage)
    for name in st.sections:
        section = getattr(settings, name)
        params.update({section.flat_name(f): v for f, v in section.result_values().items()})
    return params


def _store(profile: Mapping[str, Any], store: ArtifactStore | None) -> ArtifactStore:
    return store if store is not None else ArtifactStore(as_profile(profile).name)


def check_stage(name: str, profile: Mapping[str, Any]) -> None:
    """Build the stage's typed settings (ValueError naming a bad field) without running it."""
    settings = stage_settings(profile, name)
    if name in _BUILDERS:
        _BUILDERS[name](settings)


def is_current(name: str, profile: Mapping[str, Any], store: ArtifactStore | None = None) -> bool:
    """True when the stage's artifacts match the profile (nothing to compute)."""
    st = get_stage(name)
    return _store(profile, store).is_current(name, stage_params(profile, name), st.inputs)


def run(
    name: str,
    profile: Mapping[str, Any],
    store: ArtifactStore | None = None,
    runner: Runner | None = None,
    *,
    progress: bool = True,
    force: bool = False,
) -> dict[str, Any]:
    """Run one stage unless its artifacts are current; return its manifest.

    Parameters
    ----------
    name : {"data", "pruning", "motifs", "training_length", "activations", "lesions", "structured"}
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
    st = get_stage(name)
    check_stage(name, profile)  # bad fields fail before anything is written
    settings = stage_settings(profile, name)
    store = _store(profile, store)
    runner = runner or Runner()

    def compute(workdir: Path, scratch: Path) -> None:
        st.compute(settings, store, workdir, scratch, runner.with_priority(st.priority), progress)

    return store.run_stage(name, stage_params(profile, name), list(st.outputs), compute,
                           inputs=list(st.inputs), force=force)


def default_stages(profile: Mapping[str, Any]) -> list[str]:
    """The stages a profile's study runs: all for the moth; the training-length experiment is
    the moth's own, so another task runs data, pruning and motifs."""
    return list(get_task(as_profile(profile).task).stages)


def run_all(
    profile: Mapping[str, Any],
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
        check_stage(name, profile)
    return {
        name: run(name, profile, store, runner, progress=progress)
        for name in STAGES if name in wanted
    }


def verify(profile: Mapping[str, Any], store: ArtifactStore | None = None) -> dict[str, list[str] | None]:
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
