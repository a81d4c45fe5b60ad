"""Named profiles of the study (``smoke``, ``quick``, ``paper``, ``digits_smoke``,
``digits_quick``), each a set of typed settings sections.

A profile is written as the fields it changes from the defaults that the sections of
:mod:`mothlib.study.settings` declare; :func:`get_profile` builds the sections, checks every
value against its declared type and range, and returns a :class:`Profile`. Overrides use the
fields' flat names (``n_null=200``, ``length_n_null=50``) or their dotted names
(``motifs.n_null``); an unknown name or a value of the wrong type is a one-line ``ValueError``
that names the field and the type it expects.

A second task runs through the same stages: ``task = "digits"`` (scikit-learn's handwritten
digits) with the profiles ``digits_smoke`` and ``digits_quick``; its data and selection
sections differ from the moth's (:data:`mothlib.study.tasks.TASKS`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mothlib.core.settings import Settings
from mothlib.study.settings import SEED_SCHEDULE
from mothlib.study.tasks import TASKS, task_sections

__all__ = ["SEED_SCHEDULE", "PROFILES", "Profile", "get_profile", "as_profile", "field_names", "companion_profile"]

#: What the digits profiles share: the moth's training loop and pruning at a classifier's size.
_DIGITS: dict[str, Any] = {
    "task": "digits",
    # Five layers like the moth's networks (64 pixels in, 10 logits out).
    "hidden_sizes": [32, 32, 32, 16],
    "learning_rate": 3e-3,
    "batch_size": 64,
    "train_threads": 1,
    # Pixels scaled to [-0.5, 0.5]: a smaller initial spread than the moth's 10 inputs need.
    "init_std": 0.2,
}


#: Each profile as the fields it changes from the sections' defaults (:mod:`mothlib.study.settings`).
PROFILES: dict[str, dict[str, Any]] = {
    # Seconds: for the tests. Tiny networks, a short schedule, few nulls.
    "smoke": {
        "n_samples": 6_000,
        "data_chunk_size": 2_000,
        "n_networks": 3,
        "hidden_sizes": [24, 24, 24, 8],
        "es_min_batches": 20,
        "es_window": 10,
        "es_check_every": 5,
        "max_batches_per_round": 40,
        "max_batches_dense": 80,
        "train_threads": 1,
        # Uneven shards ([0, 1], [2]) on purpose: the tests compare shardings.
        "networks_per_task": 2,
        "learning_rate": 3e-3,
        "schedule": [0.15, 0.45, 0.75, 0.9],
        "loss_threshold": 5e-2,
        "max_loss_threshold": 0.5,
        "n_null": 20,
        "n_null_degree": 10,
        "null_chunk_size": 10,
        "length_base_dense": 40,
        "length_base_round": 20,
        "length_networks": 2,
        "length_hidden_sizes": [16, 16, 16, 8],
        "length_n_null": 10,
        "length_n_null_degree": 10,
        "length_networks_per_task": 1,
        "lesion_loss_threshold": 5e-2,
        "lesion_fractions": [0.05, 0.2],
        "lesion_motifs": ["diverging2", "chain2", "bifan"],
        "lesion_draws": 1,
        "lesion_rows": 500,
        "activation_n_null": 10,
        "activation_n_null_degree": 10,
        "structured_networks": 2,
        "structured_max_batches": 20,
        "structured_n_null": 10,
        "structured_n_null_degree": 10,
    },
    # The CPU default of `make book` (measurements behind each choice: benchmarks/README.md).
    "quick": {
        "n_samples": 250_000,
        "n_networks": 8,
        # Width 128 is what a CPU trains in minutes; it stays accurate to about 0.85-0.9 pruned.
        "hidden_sizes": [128, 128, 128, 16],
        # Seed rounds (one pass over the validation batches) are far too short for width 128:
        # rounds run over reshuffled passes up to these caps, early stopping still applies.
        "learning_rate": 2e-3,
        "max_batches_dense": 6000,
        # Random pruning only needs its losses, so its rounds are shorter.
        "max_batches_per_round": {"magnitude": 2500, "random": 1000},
        # Width 128 fails beyond ~0.91 pruned, so the schedule stops at 0.95 (14 recorded levels).
        "schedule": SEED_SCHEDULE[:14],
        "train_threads": 1,
        # Two shards per strategy keep both cores of a 2-core machine busy.
        "networks_per_task": 4,
        "n_null": 200,
        "n_null_degree": 100,
        # Width 64 and bases long enough that the shortest arm's z stand clear of zero, at about
        # 2 minutes of CPU (benchmarks/README.md). One task per arm; the arms run at once.
        "length_base_dense": 1200,
        "length_base_round": 480,
        "length_networks": 4,
        "length_hidden_sizes": [64, 64, 64, 16],
        "length_n_null": 100,
        "length_n_null_degree": 50,
        # The open questions' chapter, sized to add about 2 minutes to `make book` on 2 cores.
        "lesion_loss_threshold": 1e-3,
        "lesion_draws": 2,
        "lesion_rows": 5_000,
        "activation_fractions": [0.45, 0.75, 0.9],
        "activation_n_null": 50,
        "activation_n_null_degree": 25,
        # Structured pruning: 4 networks, rounds as short as random pruning's.
        "structured_networks": 4,
        "structured_max_batches": 1000,
        "structured_n_null": 50,
        "structured_n_null_degree": 25,
    },
    # The seed study's scale, for one GPU: one task holds the whole ensemble.
    "paper": {
        "n_samples": 10_000_000,
        "data_chunk_size": 200_000,
        "n_networks": 400,
        "hidden_sizes": [400, 400, 400, 16],
        "device": "cuda",
        "n_null": 1000,
        "n_null_degree": 1000,
        "null_chunk_size": 250,
        # Several networks' chains per GPU run amortise the per-step and per-launch cost; 8 is a
        # guess, not yet measured on a GPU (benchmarks/bench_nulls.py --batch-networks).
        "motif_tasks_per_call": 8,
        # The seed's size and schedule; factor 1 is one pass over the validation split (the
        # seed's longest round: 1.6 M validation rows / 128).
        "length_base_dense": 12500,
        "length_base_round": 12500,
        "length_networks": 50,
        "length_hidden_sizes": [400, 400, 400, 16],
        "length_schedule": SEED_SCHEDULE,
        "length_n_null": 1000,
        "length_n_null_degree": 1000,
    },
    # The second task at test size: seconds.
    "digits_smoke": {
        **_DIGITS,
        "n_networks": 3,
        "hidden_sizes": [16, 16, 16, 8],
        "es_min_batches": 40,
        "es_window": 20,
        "es_check_every": 10,
        "max_batches_dense": 300,
        "max_batches_per_round": 80,
        "networks_per_task": 2,
        "schedule": [0.25, 0.5, 0.7, 0.8, 0.9],
        "n_null": 20,
        "n_null_degree": 10,
        "null_chunk_size": 10,
    },
    # The second task at the book's size (well under two minutes on two cores:
    # benchmarks/README.md). Magnitude pruning only: the chapter compares magnitude-pruned
    # networks of the two tasks, and random pruning would double the time.
    "digits_quick": {
        **_DIGITS,
        "n_networks": 8,
        "batch_size": 128,
        "es_min_batches": 200,
        "es_window": 100,
        "es_check_every": 20,
        "max_batches_dense": 600,
        "max_batches_per_round": 250,
        # Two shards keep both cores of a 2-core machine busy.
        "networks_per_task": 4,
        "strategies": ["magnitude"],
        "schedule": [0.3, 0.5, 0.65, 0.75, 0.85, 0.9, 0.93, 0.95],
        "n_null": 100,
        "n_null_degree": 50,
        "null_chunk_size": 50,
    },
}


class Profile(Mapping[str, Any]):
    """A named, validated set of settings sections.

    Read a section as an attribute (``profile.motifs.n_null``) or a field by its flat name
    (``profile["n_null"]``); ``profile["profile"]`` and :attr:`name` give the profile's name.
    Iterating gives ``"profile"`` and every flat name, so ``{**profile, "n_null": 5}`` is a
    mapping :func:`as_profile` turns back into a profile.
    """

    def __init__(self, name: str, sections: dict[str, Settings]) -> None:
        self._name = name
        self._sections = dict(sections)
        self._where = {
            cls.flat_name(f): (section, f)
            for section, obj in self._sections.items()
            for cls in [type(obj)]
            for f in cls.declared()
        }

    @property
    def name(self) -> str:
        """The profile's name (names its artifact folder)."""
        return self._name

    @property
    def task(self) -> str:
        return self._sections["study"].task  # type: ignore[attr-defined]

    @property
    def sections(self) -> dict[str, Settings]:
        """Section name -> its settings."""
        return dict(self._sections)

    def __getattr__(self, section: str) -> Any:
        sections = self.__dict__.get("_sections", {})
        if section in sections:
            return sections[section]
        raise AttributeError(f"profile has no section {section!r}; sections: {list(sections)}")

    def __getitem__(self, key: str) -> Any:
        if key == "profile":
            return self._name
        if key not in self._where:
            raise KeyError(f"{key!r} is not a field of a {self.task} profile")
        section, field = self._where[key]
        return getattr(self._sections[section], field)

    def __iter__(self) -> Iterator[str]:
        yield "profile"
        yield from self._where

    def __len__(self) -> int:
        return 1 + len(self._where)

    def __repr__(self) -> str:
        return f"Profile({self._name!r}, task={self.task!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Profile) and self._name == other._name and self._sections == other._sections

    def __hash__(self) -> int:
        return hash((self._name, tuple(self._where)))

    def replace(self, **overrides: Any) -> Profile:
        """A copy with fields replaced (flat or dotted names), checked like :func:`get_profile`."""
        return _build(self._name, {**self.flat(), **overrides})

    def flat(self) -> dict[str, Any]:
        """Flat name -> value of every field."""
        return {key: self[key] for key in self._where}


def field_names(task: str = "moth") -> dict[str, tuple[str, str]]:
    """Flat name -> (section, field) of every field of a ``task`` profile."""
    return {
        cls.flat_name(f): (cls.section, f)
        for cls in task_sections(task).values()
        for f in cls.declared()
    }


def _available_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _canonical_name(key: str, names: dict[str, tuple[str, str]], task: str) -> str:
    if key in names:
        return key
    for flat, (section, field) in names.items():
        if key == f"{section}.{field}":
            return flat
    raise ValueError(
        f"{key}: unknown profile field for a {task} profile; known fields: {', '.join(sorted(names))}"
    )


def _build(name: str, values: Mapping[str, Any]) -> Profile:
    values = dict(values)
    values.pop("profile", None)
    task = values.get("task", values.get("study.task", "moth"))
    if task not in TASKS:
        raise ValueError(f"task: unknown task {task!r}; choose one of {list(TASKS)}")
    names = field_names(task)
    if values.get("device") == "auto":  # the one place a device is resolved
        values["device"] = _available_device()
    by_section: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        section, field = names[_canonical_name(key, names, task)]
        by_section.setdefault(section, {})[field] = value
    sections = {
        section: cls(**by_section.get(section, {}))
        for section, cls in task_sections(task).items()
    }
    return Profile(name, sections)


def get_profile(name: str = "quick", **overrides: Any) -> Profile:
    """The named profile with ``overrides`` applied.

    Parameters
    ----------
    name : {"smoke", "quick", "paper", "digits_smoke", "digits_quick"}
        The profile to start from.
    **overrides
        Field values to replace, by flat name (``n_null=200``).

    Raises
    ------
    ValueError
        For an unknown profile name, an unknown field, or a value of the wrong type or range
        (one line naming the field and what it expects).
    """
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return _build(name, {**PROFILES[name], **overrides})


def companion_profile(profile_name: str) -> str:
    """The digits profile the book compares a moth profile with (``digits_smoke`` beside
    ``smoke``, else ``digits_quick``)."""
    return "digits_smoke" if profile_name == "smoke" else "digits_quick"


def as_profile(profile: Mapping[str, Any] | str) -> Profile:
    """A :class:`Profile` from a profile, a profile name, or a mapping with a ``"profile"`` name
    and flat fields (as ``{**profile, "n_null": 5}`` makes)."""
    if isinstance(profile, Profile):
        return profile
    if isinstance(profile, str):
        return get_profile(profile)
    values = dict(profile)
    name = values.pop("profile", None)
    if name is None:
        raise ValueError("profile: a profile mapping needs its name under 'profile'")
    base = PROFILES.get(name, {})
    return _build(name, {**base, **values})
