"""Named parameter sets of the study (``smoke``, ``quick``, ``paper``) as plain data.

A profile is a flat ``dict`` so that every value can be overridden from papermill
(``-p n_null 200``) or the command line. Each stage reads only the fields listed for it in
:data:`STAGE_FIELDS`, so that changing, say, ``n_null`` redoes the motif stage and nothing
upstream of it.
"""

from __future__ import annotations

import copy
from typing import Any

#: The seed study's cumulative pruning schedule (study-protocol.md): 18 recorded levels
#: (dense, then 0.15 ... 0.98); the final prune to 0.99 is neither trained nor recorded.
SEED_SCHEDULE: list[float] = [0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85] + [
    round(0.90 + 0.01 * k, 2) for k in range(10)
]

_COMMON: dict[str, Any] = {
    # -- reproducibility and hardware
    "seed": 0,
    "device": "cpu",
    # -- data (mothlib.data)
    "n_samples": 250_000,
    "scale": 1.0,
    "duration": 0.02,
    "data_chunk_size": 50_000,
    "split": [0.64, 0.16, 0.20],
    # -- ensemble training and pruning (mothlib.ensemble, mothlib.pruning)
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
    # torch CPU threads while training (None: torch's default). On a busy 2-core machine one
    # thread was ~17x faster than two (bench_training.py: 29 vs 496 ms per step).
    "train_threads": None,
    "schedule": SEED_SCHEDULE,
    "loss_threshold": 1e-3,
    "strategies": ["magnitude", "random"],
    # -- motif significance (mothlib.significance)
    "null_models": ["layer-edges", "degree-preserving"],
    "n_null": 1000,
    "n_null_degree": 1000,
    "null_chunk_size": 100,
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
        "learning_rate": 3e-3,
        "schedule": [0.15, 0.45, 0.75, 0.9],
        "loss_threshold": 5e-2,
        "n_null": 20,
        "n_null_degree": 10,
        "null_chunk_size": 10,
    },
    # The CPU default of `make book`: the whole study in about 20 minutes on 2 cores.
    "quick": {
        **_COMMON,
        "n_samples": 250_000,
        "n_networks": 8,
        "hidden_sizes": [128, 128, 128, 16],
        # Training and pruning (measured on this machine, 8 networks of width 128, 250k samples
        # from the simulator, single-threaded while other jobs shared the 2 cores):
        # - a seed round is capped by the 312 validation batches, far too short for width 128,
        #   so rounds run over reshuffled passes up to a cap (early stopping still applies);
        # - lr: dense median val loss after 6000 batches was 1.02e-3 at lr 1e-3 and 7.9e-4 at
        #   2e-3 (at the seed's 5e-4 still 1.09e-3 after 8000), hence 2e-3;
        # - with 1500-batch rounds the median full-split val loss at 85 % pruned was above 1e-3;
        #   with 2500 (below) it was 8.8e-4 (6 of 8 networks under 1e-3 at 85 %, 1 at 90 %),
        #   so the median network's selected level is the 0.85 one (measured 0.84995 of the
        #   weights: floor per layer);
        # - width 128 fails at 90 %, so the schedule stops at 0.95 (14 recorded levels, up to
        #   0.94) instead of 0.99: levels 0.95-0.98 would cost ~1/5 of the run, select nothing;
        # - random pruning only needs its losses, so its rounds are capped at 1000 batches
        #   (which is also es_min_batches: they run exactly 1000, no early stop).
        # Cost: the whole stage is ~48k batches plus 27 full-split evaluations. Measured
        # single-threaded on the busy machine (other jobs on both cores): magnitude levels 0-9
        # alone 442 s (~14 ms per batch); the full stage 1270 s. Result of that run: magnitude
        # median selected level 0.85 (8/8 selected), random median 0.35. Not yet measured on
        # an idle machine with 2 threads (expected ~4-6 ms per batch, i.e. ~5-7 minutes).
        "learning_rate": 2e-3,
        "max_batches_dense": 6000,
        "max_batches_per_round": {"magnitude": 2500, "random": 1000},
        "schedule": SEED_SCHEDULE[:14],
        # One thread: with two, a step took 600 ms instead of 11 ms while anything else ran
        # (load ~3.5); idle, two threads may be ~2x faster (set train_threads=None then).
        "train_threads": 1,
        "n_null": 200,
        "n_null_degree": 100,
    },
    # The seed study's scale, for one GPU.
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
    },
}

#: Which profile fields each stage depends on (its cache key is built from exactly these).
STAGE_FIELDS: dict[str, list[str]] = {
    "data": ["seed", "n_samples", "scale", "duration", "split"],
    "pruning": [
        "seed",
        "n_networks",
        "hidden_sizes",
        "init_std",
        "learning_rate",
        "batch_size",
        "es_check_every",
        "es_min_batches",
        "es_window",
        "es_ratio",
        "max_batches_per_round",
        "max_batches_dense",
        "schedule",
        "loss_threshold",
        "strategies",
    ],
    "motifs": ["seed", "null_models", "n_null", "n_null_degree"],
}


def get_profile(name: str = "quick", **overrides: Any) -> dict[str, Any]:
    """Return a copy of the named profile with ``overrides`` applied.

    Parameters
    ----------
    name : {"smoke", "quick", "paper"}
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


def stage_params(profile: dict[str, Any], stage: str) -> dict[str, Any]:
    """The subset of ``profile`` that ``stage`` depends on (its cache key).

    Raises
    ------
    ValueError
        For an unknown stage.
    """
    if stage not in STAGE_FIELDS:
        raise ValueError(f"unknown stage {stage!r}; known stages: {sorted(STAGE_FIELDS)}")
    return {key: copy.deepcopy(profile[key]) for key in STAGE_FIELDS[stage]}
