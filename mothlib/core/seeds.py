"""Seeds: the one accepted type, its check, and the table of random streams drawn from a seed.

Every public function with a ``seed`` argument accepts ``int | numpy.random.SeedSequence | None``
(a non-negative integer, a seed sequence, or None for fresh operating-system entropy) and checks
it with :func:`check_seed`.

The study's streams all come from the profile's integer seed ``s`` as ``SeedSequence`` entropy
``[s, tag, ...]``: the second word is the stream's tag, so no two streams can coincide.

=================  ===============================  ============================================
stream             entropy                          used by
=================  ===============================  ============================================
data               ``s`` with spawn key ``(b,)``    :func:`mothlib.simulation.samples.conditions_for_rows`
                   (words ``[s, 0, 0, 0, b]``)      (block ``b``; tag 0 is reserved for it)
network-init       ``[s, 1, network]``              :func:`mothlib.networks.ensemble.network_seeds`
batch-order        ``[data_seed, 2]``               :func:`mothlib.networks.ensemble.train_round`
random-pruning     ``[s, 3, level, kind, layer,     :func:`mothlib.networks.pruning.random_mask` (via the
                   network seed]``                  pruning stage)
pruning-level      ``[s, 4, level]``                the pruning stage's per-level data seed
chain-table        ``[s, 5, network, level]``       :func:`mothlib.study.findings.chain_definition_table`
motif-stage        ``[s, crc32(strategy), network,  :func:`mothlib.study.motif_stage.task_seed` (the
                   level, null index]``             training-length stage: strategy
                                                    "training-length")
=================  ===============================  ============================================

The data, network, pruning and motif-stage streams are the study's numbers and never change;
a new stream takes the next free tag in :data:`STREAM_TAGS`. Every integer-tagged stream is built
by :func:`stream` (never from a literal tag); the data stream (a spawn key, no tag) and the
motif-stage stream (a tag computed from the strategy) are built where the table says. ``SeedSequence`` pads short entropy
with zeros (``[s, 2]`` is ``[s, 2, 0]``), so a tag is never 0 and ``s`` must fit one 32-bit word
(a larger seed spills into the tag's place).
"""

from __future__ import annotations

from typing import cast

import numpy as np

__all__ = ["STREAM_TAGS", "MAX_STREAM_SEED", "SeedLike", "check_seed", "as_seed_sequence", "stream"]

#: Accepted seed type: a non-negative int, a SeedSequence, or None (fresh entropy).
SeedLike = int | np.random.SeedSequence | None

#: The second entropy word of each integer-tagged stream (see the module docstring's table).
STREAM_TAGS: dict[str, int] = {
    "network-init": 1,
    "batch-order": 2,
    "random-pruning": 3,
    "pruning-level": 4,
    "chain-table": 5,
}

#: Largest study seed a tagged stream accepts: one 32-bit entropy word keeps the tag in place.
MAX_STREAM_SEED = 2**32 - 1


def check_seed(seed: SeedLike, name: str = "seed", *, integer: bool = False) -> SeedLike:
    """Return ``seed`` if it is a non-negative int (numpy ints too), a SeedSequence or None.

    Parameters
    ----------
    seed : int, SeedSequence or None
        The seed to check.
    name : str
        The argument's name, for the error message.
    integer : bool
        Accept non-negative ints only (a study setting, written to manifests as a number).

    Raises
    ------
    ValueError
        Naming ``name``, for anything else (floats, negative ints, bools, strings, arrays).
    """
    if not integer and (seed is None or isinstance(seed, np.random.SeedSequence)):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        accepted = "a non-negative int" if integer else (
            "a non-negative int, a numpy.random.SeedSequence or None")
        raise ValueError(f"{name}: must be {accepted}, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"{name}: must be a non-negative int, got {seed!r}")
    return int(seed)


def as_seed_sequence(seed: SeedLike, name: str = "seed") -> np.random.SeedSequence:
    """The checked ``seed`` as a SeedSequence (an int or None is wrapped; a SeedSequence kept)."""
    seed = check_seed(seed, name)
    return seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)


def stream(seed: int, tag: str, *words: int) -> np.random.SeedSequence:
    """The tagged stream ``SeedSequence([seed, STREAM_TAGS[tag], *words])``.

    Parameters
    ----------
    seed : int
        The study seed, 0 .. :data:`MAX_STREAM_SEED`.
    tag : str
        A key of :data:`STREAM_TAGS`.
    *words : int
        Non-negative integers that tell the stream's parts apart (e.g. network, level).
    """
    if cast(int, check_seed(seed, integer=True)) > MAX_STREAM_SEED:  # integer=True: an int
        raise ValueError(f"seed: a tagged stream needs an int 0 .. 2**32 - 1, got {seed!r}")
    if tag not in STREAM_TAGS:
        raise ValueError(f"tag: unknown stream {tag!r}; choose one of {list(STREAM_TAGS)}")
    return np.random.SeedSequence([int(seed), STREAM_TAGS[tag], *(int(w) for w in words)])
