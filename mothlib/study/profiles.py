"""Named parameter sets of the study (``smoke``, ``quick``, ``paper``) as plain data.

A profile is a flat ``dict`` so that every value can be overridden from papermill
(``-p n_null 200``) or the command line (``--set n_null=200``). The stages
(:mod:`mothlib.study.stages`) turn it into typed settings at their boundary; each stage's cache key
holds only the fields that change its results, so changing, say, ``n_null`` redoes the motif
stage and nothing upstream of it, and ``loss_threshold`` (a filter over stored levels) redoes
nothing.

A second task runs through the same stages: ``task = "digits"`` (scikit-learn's handwritten
digits, :mod:`mothlib.study.digits`) with the profiles ``digits_smoke`` and ``digits_quick``. Its
networks minimise cross-entropy, and a network's selected level is its most pruned one whose
validation accuracy is within ``accuracy_margin`` of its dense level's.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["SEED_SCHEDULE", "TASKS", "TASK_LOSS", "PROFILES", "get_profile"]

#: The seed study's cumulative pruning schedule (study-protocol.md): 18 recorded levels
#: (dense, then 0.15 ... 0.98); the final prune to 0.99 is neither trained nor recorded.
SEED_SCHEDULE: list[float] = [0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85] + [
    round(0.90 + 0.01 * k, 2) for k in range(10)
]

#: The study's tasks: the moth's flight-model inverse problem and handwritten digits.
TASKS: tuple[str, ...] = ("moth", "digits")
#: The loss each task's networks minimise (mothlib.networks.ensemble.LOSSES).
TASK_LOSS: dict[str, str] = {"moth": "mse", "digits": "cross_entropy"}

_COMMON: dict[str, Any] = {
    # -- the task (the moth's unless a profile says otherwise)
    "task": "moth",
    # -- reproducibility and hardware
    "seed": 0,
    "device": "cpu",
    # -- data (mothlib.study.data; n_samples, scale, duration and data_chunk_size are the moth's only)
    "n_samples": 250_000,
    "scale": 1.0,
    "duration": 0.02,
    "data_chunk_size": 50_000,
    "split": [0.64, 0.16, 0.20],
    # -- ensemble training and pruning (mothlib.networks.ensemble, mothlib.networks.pruning)
    "n_networks": 8,
    "hidden_sizes": [400, 400, 400, 16],
    "init_std": 0.2,
    "learning_rate": 5e-4,
    "batch_size": 128,
    "es_check_every": 100,
    "es_min_batches": 1000,
    "es_window": 500,
    "es_ratio": 1.01,
    "max_batches_per_round": None,
    "max_batches_dense": None,
    # torch CPU threads while training (None: torch's default; Dask workers have one core each).
    "train_threads": None,
    # Networks per pruning task: how the ensemble spreads over workers (results do not depend on it).
    "networks_per_task": None,
    "schedule": SEED_SCHEDULE,
    "strategies": ["magnitude", "random"],
    # -- selection (a filter over the pruning table: changing it retrains nothing)
    "loss_threshold": 1e-3,
    # Classification tasks select by validation accuracy instead: the most pruned level within
    # this margin (accuracy units) of the network's own dense level.
    "accuracy_margin": 0.02,
    # -- motif significance (mothlib.motifs.significance)
    "null_models": ["layer-edges", "degree-preserving"],
    "n_null": 1000,
    "n_null_degree": 1000,
    "null_chunk_size": 100,
    # (network, level) pairs of one strategy and null model per motif task: their null chains
    # run together on the torch and cuda engines (results do not depend on it; 1: one per task).
    "motif_tasks_per_call": 1,
    # Null sampler of the motif stage (mothlib.motifs.nulls.ENGINES): "auto" is numba on the CPU and
    # torch on a GPU; "cuda" runs the Markov chains as numba CUDA kernels. Same samples on all.
    "null_engine": "auto",
    # Levels are scored up to each network's last one under this loss, so any loss_threshold
    # up to it only filters the motif table.
    "max_loss_threshold": 1e-2,
    # -- training length (mothlib.study.training_length): the same networks trained for several lengths
    # Round lengths as multiples of the base lengths below (early stopping off), plus a reference
    # arm that follows the profile's own protocol (es_*, max_batches_*).
    "length_factors": [1, 2, 4],
    "length_base_dense": 6000,
    "length_base_round": 2500,
    "length_networks": 8,
    "length_hidden_sizes": [400, 400, 400, 16],
    "length_schedule": [0.25, 0.45, 0.65, 0.75, 0.85],
    "length_n_null": 200,
    "length_n_null_degree": 100,
    "length_networks_per_task": None,
    # Its classification counterpart: levels within this accuracy margin of dense are scored.
    "max_accuracy_margin": 0.05,
}

#: What the digits profiles share: the moth's training loop and pruning at a classifier's size.
_DIGITS: dict[str, Any] = {
    **_COMMON,
    "task": "digits",
    # Five layers like the moth's networks (64 pixels in, 10 logits out).
    "hidden_sizes": [32, 32, 32, 16],
    "learning_rate": 3e-3,
    "batch_size": 64,
    "train_threads": 1,
    # Pixels scaled to [-0.5, 0.5]: a smaller initial spread than the moth's 10 inputs need.
    "init_std": 0.2,
    # The stated selection rule: within 2 percentage points of the dense network's accuracy.
    "accuracy_margin": 0.02,
    "max_accuracy_margin": 0.05,
}


PROFILES: dict[str, dict[str, Any]] = {
    # Seconds: for the tests. Tiny networks, a short schedule, few nulls.
    "smoke": {
        **_COMMON,
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
    },
    # The CPU default of `make book` (measurements behind each choice: benchmarks/README.md).
    "quick": {
        **_COMMON,
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
        # Sized to add about 3 minutes to `make book` on 2 cores (benchmarks/README.md).
        # One task per arm (a task trains 4 networks about as fast as 2); the arms run at once.
        "length_base_dense": 300,
        "length_base_round": 120,
        "length_networks": 4,
        "length_hidden_sizes": [32, 32, 32, 16],
        "length_n_null": 100,
        "length_n_null_degree": 50,
    },
    # The seed study's scale, for one GPU: one task holds the whole ensemble.
    "paper": {
        **_COMMON,
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


def get_profile(name: str = "quick", **overrides: Any) -> dict[str, Any]:
    """Return a copy of the named profile with ``overrides`` applied.

    Parameters
    ----------
    name : {"smoke", "quick", "paper", "digits_smoke", "digits_quick"}
        The profile to start from.
    **overrides
        Field values to replace, e.g. ``n_null=200``.

    Raises
    ------
    ValueError
        For an unknown profile name or an unknown field.
    """
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    profile = copy.deepcopy(PROFILES[name])
    unknown = sorted(set(overrides) - set(profile))
    if unknown:
        raise ValueError(
            f"unknown profile field(s) {unknown}; known fields: {sorted(profile)}"
        )
    profile.update(copy.deepcopy(overrides))
    profile["profile"] = name
    return profile
