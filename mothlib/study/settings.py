"""The study's settings, declared once: one frozen, typed section per concern.

A profile (:mod:`mothlib.study.profiles`) is a set of these sections; a stage
(:mod:`mothlib.study.stages`) reads some of them, and its cache key is the hash of the
``result`` fields of exactly those sections, so no field can be left out of a key by hand.
Fields that only say how to run (``role="run"``) or which stored results to read
(``role="filter"``) are in no key.

Names. Every field has a flat name, unique across sections, used by ``--set``, papermill ``-p``
and notebook parameters: the field's own name, with the section's prefix for the
training-length experiment (``length.n_null`` is ``length_n_null``). The dotted form
``section.field`` is accepted too.

Task-specific sections: the data set and the selection rule depend on the task (the moth's
regression or the digits' classification); :data:`mothlib.study.tasks.TASKS` names the
section classes a task uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mothlib.core.settings import Settings, setting

if TYPE_CHECKING:  # the training module is imported where a stage builds its rule
    from mothlib.networks.ensemble import EarlyStopping

__all__ = [
    "SEED_SCHEDULE", "StudySettings", "RunSettings", "MothDataSettings", "DigitsDataSettings",
    "TrainingSettings", "EnsembleSettings", "LossSelection", "AccuracySelection", "NullSettings",
    "MotifSettings", "TrainingLengthSettings", "LesionSettings", "ActivationSettings",
    "StructuredSettings", "SECTIONS",
]

#: The seed study's cumulative pruning schedule (study-protocol.md): 18 recorded levels
#: (dense, then 0.15 ... 0.98); the final prune to 0.99 is neither trained nor recorded.
SEED_SCHEDULE: list[float] = [0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85] + [
    round(0.90 + 0.01 * k, 2) for k in range(10)
]

_NULL_MODELS = ("layer-edges", "degree-preserving")
_ENGINES = ("auto", "numpy", "numba", "torch", "cuda")


def _at_least(section: Settings, minimum: float, *names: str) -> None:
    for name in names:
        value = getattr(section, name)
        if value is not None and value < minimum:
            raise ValueError(f"{section.flat_name(name)}: must be at least {minimum:g}, got {value!r}")


def _positive(section: Settings, *names: str) -> None:
    for name in names:
        value = getattr(section, name)
        if value is not None and not value > 0:
            raise ValueError(f"{section.flat_name(name)}: must be positive, got {value!r}")


def _schedule(section: Settings, name: str) -> None:
    s = getattr(section, name)
    if not s or any(not 0 < f < 1 for f in s) or any(b <= a for a, b in zip(s, s[1:])):
        raise ValueError(
            f"{section.flat_name(name)}: must be strictly increasing fractions between 0 and 1 (exclusive), got {list(s)}"
        )


def _split(section: Settings) -> None:
    s = section.split  # type: ignore[attr-defined]
    if len(s) != 3 or min(s) < 0 or abs(sum(s) - 1.0) > 1e-9:
        raise ValueError(f"split: must be three non-negative fractions summing to 1, got {list(s)}")


@dataclass(frozen=True)
class StudySettings(Settings):
    """What every stage depends on: the task and the root seed."""

    section = "study"
    task: str = setting("moth", "the task: 'moth' (the flight model's inverse problem) or 'digits'")
    seed: int = setting(0, "root seed of every random stream of the study")

    def validate(self) -> None:  # the task's name is checked against the tasks where profiles are made
        _at_least(self, 0, "seed")


@dataclass(frozen=True)
class RunSettings(Settings):
    """Where and how the work runs (no result depends on these)."""

    section = "run"
    device: str = setting("cpu", "torch device: 'cpu', 'cuda' or 'cuda:N' ('auto' becomes one of them when the profile is made)", role="run")
    train_threads: int | None = setting(None, "torch CPU threads while training (None: torch's default)", role="run")

    def validate(self) -> None:
        _at_least(self, 1, "train_threads")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")


@dataclass(frozen=True)
class MothDataSettings(Settings):
    """The moth's data set: simulated wingstrokes."""

    section = "data"
    n_samples: int = setting(250_000, "wingstrokes to simulate (failed ones are dropped and counted)")
    scale: float = setting(1.0, "moth size factor (MothParams.at_scale)")
    duration: float = setting(0.02, "seconds integrated per sample")
    split: tuple[float, ...] = setting((0.64, 0.16, 0.20), "train/validation/test fractions, summing to 1")
    data_chunk_size: int = setting(50_000, "samples per task and checkpoint (memory only)", role="run")

    def validate(self) -> None:
        _at_least(self, 10, "n_samples")
        _at_least(self, 1, "data_chunk_size")
        _positive(self, "scale", "duration")
        _split(self)


@dataclass(frozen=True)
class DigitsDataSettings(Settings):
    """The digits data set: scikit-learn's 1,797 images, split stratified."""

    section = "data"
    split: tuple[float, ...] = setting((0.64, 0.16, 0.20), "train/validation/test fractions, summing to 1")

    def validate(self) -> None:
        _split(self)


@dataclass(frozen=True)
class TrainingSettings(Settings):
    """How each network is trained in every round (shared by pruning and training length)."""

    section = "training"
    init_std: float = setting(0.2, "standard deviation of the normal weight initialisation")
    learning_rate: float = setting(5e-4, "Adam's learning rate")
    batch_size: int = setting(128, "samples per batch")
    es_check_every: int = setting(100, "early stopping: batches between validation checks")
    es_min_batches: int = setting(1000, "early stopping: batches before a network may stop")
    es_window: int = setting(500, "early stopping: batches the validation loss is compared over")
    es_ratio: float = setting(1.01, "early stopping: stop when the loss rose by this factor over the window")
    max_batches_dense: int | None = setting(None, "batch cap of the dense round (None: that of the other rounds)")
    max_batches_per_round: int | dict[str, int] | None = setting(
        None, "batch cap of a pruned round (None: one pass over the validation batches), or one per strategy"
    )

    def validate(self) -> None:
        _positive(self, "init_std", "learning_rate", "es_ratio")
        _at_least(self, 1, "batch_size", "es_check_every", "es_min_batches", "es_window", "max_batches_dense")
        cap = self.max_batches_per_round
        for value in (cap.values() if isinstance(cap, dict) else [cap]):
            if value is not None and value < 1:
                raise ValueError(f"max_batches_per_round: must be None or at least 1, got {cap!r}")

    @property
    def stopping(self) -> EarlyStopping:
        """The early-stopping rule of every round."""
        from mothlib.networks.ensemble import EarlyStopping

        return EarlyStopping(check_every=self.es_check_every, min_batches=self.es_min_batches,
                             window=self.es_window, ratio=self.es_ratio)


@dataclass(frozen=True)
class EnsembleSettings(Settings):
    """The pruned ensemble: its networks and the pruning schedule."""

    section = "ensemble"
    n_networks: int = setting(8, "networks in the ensemble; network i starts from (seed, i) alone")
    hidden_sizes: tuple[int, ...] = setting((400, 400, 400, 16), "widths of the hidden layers")
    schedule: tuple[float, ...] = setting(SEED_SCHEDULE, "cumulative pruning fractions; the last prune is not trained")
    strategies: tuple[str, ...] = setting(
        ("magnitude", "random"), "pruning strategies of the pruning stage: 'magnitude', 'random' (structured pruning is a stage of its own)"
    )
    networks_per_task: int | None = setting(None, "networks trained together in one task (None: all)", role="run")

    def validate(self) -> None:
        _at_least(self, 1, "n_networks", "networks_per_task")
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(f"hidden_sizes: must be positive widths, got {list(self.hidden_sizes)}")
        _schedule(self, "schedule")
        if not self.strategies or len(set(self.strategies)) != len(self.strategies):
            raise ValueError(f"strategies: must be a non-empty list without repeats, got {list(self.strategies)}")
        unknown = [s for s in self.strategies if s not in ("magnitude", "random")]
        if unknown:
            raise ValueError(f"strategies: unknown pruning strategy {unknown[0]!r}; choose from ['magnitude', 'random']")


@dataclass(frozen=True)
class LossSelection(Settings):
    """A regression task's selection: each network's most pruned level under a loss threshold."""

    section = "selection"
    loss_threshold: float = setting(1e-3, "validation loss a selected level must not exceed", role="filter")
    max_loss_threshold: float = setting(1e-2, "the largest threshold the motif table serves (levels scored up to it)")

    def validate(self) -> None:
        _positive(self, "loss_threshold", "max_loss_threshold")
        if self.loss_threshold > self.max_loss_threshold:
            raise ValueError(
                f"loss_threshold: {self.loss_threshold:g} is above max_loss_threshold "
                f"({self.max_loss_threshold:g}), the largest threshold the motif table was scored for; "
                f"raise max_loss_threshold too (the motif stage then reruns)"
            )


@dataclass(frozen=True)
class AccuracySelection(Settings):
    """A classification task's selection: the most pruned level within an accuracy margin of dense."""

    section = "selection"
    accuracy_margin: float = setting(0.02, "accuracy below the dense level's a selected level may lose", role="filter")
    max_accuracy_margin: float = setting(0.05, "the largest margin the motif table serves (levels scored up to it)")

    def validate(self) -> None:
        _at_least(self, 0, "accuracy_margin", "max_accuracy_margin")
        if self.accuracy_margin > self.max_accuracy_margin:
            raise ValueError(
                f"accuracy_margin: {self.accuracy_margin:g} is above max_accuracy_margin "
                f"({self.max_accuracy_margin:g}), the largest margin the motif table was scored for"
            )


@dataclass(frozen=True)
class NullSettings(Settings):
    """The null models and how their samples are drawn (motif and training-length stages)."""

    section = "nulls"
    null_models: tuple[Literal["layer-edges", "degree-preserving"], ...] = setting(_NULL_MODELS, "null models to compare with")
    null_chunk_size: int = setting(100, "null networks drawn and counted at once (memory only)", role="run")
    null_engine: Literal["auto", "numpy", "numba", "torch", "cuda"] = setting(
        "auto", "null sampler: numba on the CPU and torch on a GPU for 'auto'; the same samples on all", role="run"
    )

    def validate(self) -> None:
        if not self.null_models or len(set(self.null_models)) != len(self.null_models):
            raise ValueError(f"null_models: must be a non-empty list without repeats, got {list(self.null_models)}")
        _at_least(self, 1, "null_chunk_size")


@dataclass(frozen=True)
class MotifSettings(Settings):
    """The motif stage: how many null networks per (network, level)."""

    section = "motifs"
    n_null: int = setting(1000, "layer-edges null networks per network and level")
    n_null_degree: int = setting(1000, "degree-preserving null networks per network and level")
    motif_tasks_per_call: int = setting(1, "(network, level) pairs whose chains run together on torch/cuda", role="run")

    def validate(self) -> None:
        _at_least(self, 0, "n_null", "n_null_degree")
        _at_least(self, 1, "motif_tasks_per_call")

    def n_nulls(self) -> dict[str, int]:
        """Null model -> number of null networks."""
        return {"layer-edges": self.n_null, "degree-preserving": self.n_null_degree}


@dataclass(frozen=True)
class TrainingLengthSettings(Settings):
    """The training-length experiment: the same networks trained for several lengths."""

    section = "length"
    prefix = "length_"
    factors: tuple[float, ...] = setting((1, 2, 4), "round lengths as multiples of the base lengths (early stopping off)")
    base_dense: int = setting(6000, "batches of the dense round at factor 1")
    base_round: int = setting(2500, "batches of each pruned round at factor 1")
    networks: int = setting(8, "networks per arm")
    hidden_sizes: tuple[int, ...] = setting((400, 400, 400, 16), "widths of the hidden layers")
    schedule: tuple[float, ...] = setting((0.25, 0.45, 0.65, 0.75, 0.85), "cumulative pruning fractions")
    n_null: int = setting(200, "layer-edges null networks per network and level")
    n_null_degree: int = setting(100, "degree-preserving null networks per network and level")
    networks_per_task: int | None = setting(None, "networks trained together in one task (None: all)", role="run")

    def validate(self) -> None:
        _at_least(self, 1, "base_dense", "base_round", "networks", "networks_per_task")
        _at_least(self, 2, "n_null", "n_null_degree")
        if not self.factors or any(not (f > 0 and math.isfinite(f)) for f in self.factors):
            raise ValueError(f"length_factors: must be a non-empty list of positive numbers, got {list(self.factors)}")
        if len({f"{f:g}" for f in self.factors}) != len(self.factors):
            raise ValueError(f"length_factors: must be distinct, got {list(self.factors)}")
        for f in self.factors:
            if round(f * self.base_round) < 1 or round(f * self.base_dense) < 1:
                raise ValueError(f"length_factors: factor {f:g} gives rounds of under one batch")
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(f"length_hidden_sizes: must be positive widths, got {list(self.hidden_sizes)}")
        _schedule(self, "schedule")

    def n_nulls(self) -> dict[str, int]:
        """Null model -> number of null networks."""
        return {"layer-edges": self.n_null, "degree-preserving": self.n_null_degree}


_LESION_MOTIFS = ("diverging2", "converging2", "chain2", "diverging3", "converging3", "chain3", "bifan", "biparallel")


@dataclass(frozen=True)
class LesionSettings(Settings):
    """The lesion experiment: surviving edges removed without retraining, by motif participation."""

    section = "lesions"
    prefix = "lesion_"
    fractions: tuple[float, ...] = setting((0.01, 0.02, 0.05, 0.1, 0.2), "shares of the surviving edges removed, each in (0, 1)")
    loss_threshold: float = setting(1e-3, "validation loss that selects each network's lesioned level (magnitude pruning); profiles set it to their loss_threshold")
    motifs: tuple[str, ...] = setting(_LESION_MOTIFS, "motifs whose participation orders the removals")
    draws: int = setting(3, "draws of the random and magnitude-matched random orders")
    bins: int = setting(10, "magnitude bins (quantiles per layer block) of the matched random order")
    rows: int | None = setting(None, "validation rows the losses are measured on (None: all)")

    def validate(self) -> None:
        from mothlib.networks.lesions import check_lesion_fractions

        check_lesion_fractions(self.fractions)
        _positive(self, "loss_threshold")
        _at_least(self, 1, "draws", "bins", "rows")
        unknown = sorted(set(self.motifs) - set(_LESION_MOTIFS))
        if unknown or not self.motifs or len(set(self.motifs)) != len(self.motifs):
            raise ValueError(
                f"lesion_motifs: must be distinct motifs of {list(_LESION_MOTIFS)}, got {list(self.motifs)}"
            )


@dataclass(frozen=True)
class ActivationSettings(Settings):
    """The activation masks: the dense networks' busiest connections, scored like pruned ones."""

    section = "activations"
    prefix = "activation_"
    fractions: tuple[float, ...] = setting((), "pruned fractions of the levels scored (empty: every level the motif stage scores)")
    n_null: int = setting(200, "layer-edges null networks per network and level")
    n_null_degree: int = setting(100, "degree-preserving null networks per network and level")
    batch_size: int = setting(4096, "validation rows per forward pass (memory only)", role="run")

    def validate(self) -> None:
        _at_least(self, 2, "n_null", "n_null_degree")
        _at_least(self, 1, "batch_size")
        if any(not 0 < f < 1 for f in self.fractions):
            raise ValueError(f"activation_fractions: must be pruned fractions in (0, 1), got {list(self.fractions)}")

    def n_nulls(self) -> dict[str, int]:
        """Null model -> number of null networks."""
        return {"layer-edges": self.n_null, "degree-preserving": self.n_null_degree}


@dataclass(frozen=True)
class StructuredSettings(Settings):
    """Structured pruning: whole neurons removed, on the ensemble's schedule, from its dense networks."""

    section = "structured"
    prefix = "structured_"
    networks: int | None = setting(None, "networks pruned (the ensemble's first; None: all)")
    max_batches: int | None = setting(None, "batch cap of each pruned round (None: the magnitude strategy's)")
    n_null: int = setting(200, "layer-edges null networks per network and level")
    n_null_degree: int = setting(100, "degree-preserving null networks per network and level")

    def validate(self) -> None:
        _at_least(self, 1, "networks", "max_batches")
        _at_least(self, 2, "n_null", "n_null_degree")

    def n_nulls(self) -> dict[str, int]:
        """Null model -> number of null networks."""
        return {"layer-edges": self.n_null, "degree-preserving": self.n_null_degree}


#: Every section class, by section name (task-specific sections: one entry per variant).
SECTIONS: dict[str, tuple[type[Settings], ...]] = {
    "study": (StudySettings,),
    "run": (RunSettings,),
    "data": (MothDataSettings, DigitsDataSettings),
    "training": (TrainingSettings,),
    "ensemble": (EnsembleSettings,),
    "selection": (LossSelection, AccuracySelection),
    "nulls": (NullSettings,),
    "motifs": (MotifSettings,),
    "length": (TrainingLengthSettings,),
    "lesions": (LesionSettings,),
    "activations": (ActivationSettings,),
    "structured": (StructuredSettings,),
}


