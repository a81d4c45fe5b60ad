"""Seeds: one checking helper, and a table of stream tags under which no two streams coincide."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from mothlib.core import seeds
from mothlib.networks.ensemble import EnsembleMLP, network_seeds
from mothlib.networks.pruning import STRATEGIES, _level_seed, prune_model, random_mask
from mothlib.study.motif_stage import task_seed


def _state(seq: np.random.SeedSequence) -> tuple[int, ...]:
    return tuple(int(x) for x in seq.generate_state(4))


def test_stream_tags_are_distinct_and_clear_of_the_motif_stage_tags():
    tags = list(seeds.STREAM_TAGS.values())
    assert len(set(tags)) == len(tags) and 0 not in tags  # 0: the data stream's padding
    # The motif stage tags its streams with the strategy's crc32 ("training-length" too).
    crc = {zlib.crc32(s.encode()) for s in (*STRATEGIES, "training-length")}
    assert len(crc) == len(STRATEGIES) + 1 and crc.isdisjoint(tags) and 0 not in crc


def test_the_table_describes_the_study_streams():
    # These streams are the study's numbers: the table must say how they are built.
    assert network_seeds(7, 3) == [int(seeds.stream(7, "network-init", i).generate_state(1)[0])
                                   for i in range(3)]
    assert _level_seed(7, 2) == int(seeds.stream(7, "pruning-level", 2).generate_state(1)[0])
    assert _state(task_seed(7, "magnitude", 4, 2, "layer-edges")) == _state(np.random.SeedSequence(
        [7, zlib.crc32(b"magnitude"), 4, 2, 0]))


def test_the_streams_draw_the_numbers_of_their_literal_entropy():
    # ensemble and pruning build their streams with seeds.stream; the study's numbers came from
    # these literal entropy lists, and must not change.
    assert network_seeds(7, 3) == [int(np.random.SeedSequence([7, 1, i]).generate_state(1)[0]) for i in range(3)]
    assert _level_seed(7, 2) == int(np.random.SeedSequence([7, 4, 2]).generate_state(1)[0])
    assert _state(seeds.stream(11, "batch-order")) == _state(np.random.SeedSequence([11, 2]))
    model = EnsembleMLP([5, 4, 3], network_seeds(3, 2))
    for kind, masks in enumerate((model.weight_masks, model.bias_masks)):
        for l, m in enumerate(masks):
            m.copy_(torch.rand(m.shape, generator=torch.Generator().manual_seed(10 * kind + l)) < 0.8)
    got_w, got_b = prune_model(model, 0.5, "random", seed=9, level=2)
    for kind, (masks, got) in enumerate(((model.weight_masks, got_w), (model.bias_masks, got_b))):
        for l, (m, g) in enumerate(zip(masks, got)):
            old = random_mask(m.cpu().numpy(), 0.5, [[9, 3, 2, kind, l, s] for s in model.seeds])
            assert np.array_equal(g.cpu().numpy(), old)


def test_the_chain_table_no_longer_shares_a_stream():
    # Its old entropy [seed, network, level] was the pruning-level stream for network 4 and
    # the network-init stream for network 1.
    pruning_level = {_state(seeds.stream(0, "pruning-level", level)) for level in range(10)}
    network_init = {_state(seeds.stream(0, "network-init", i)) for i in range(10)}
    chain = {_state(seeds.stream(0, "chain-table", net, level)) for net in range(10) for level in range(10)}
    assert not chain & (pruning_level | network_init)
    assert _state(np.random.SeedSequence([0, 4, 3])) in pruning_level  # the old collision


@pytest.mark.parametrize("good", [0, 5, np.int64(3), np.uint32(2**32 - 1), None, np.random.SeedSequence(1)])
def test_check_seed_accepts_the_one_seed_type(good):
    assert seeds.check_seed(good) is good or seeds.check_seed(good) == good
    assert isinstance(seeds.as_seed_sequence(good), np.random.SeedSequence)


@pytest.mark.parametrize("bad, message", [
    (1.5, "got float 1.5"), (1.0, "got float"), (-1, "non-negative int, got -1"),
    ("0", "got str '0'"), (True, "got bool"), (np.array([1, 2]), "got ndarray"),
])
def test_check_seed_rejects_other_values_naming_the_argument(bad, message):
    with pytest.raises(ValueError, match=f"^null_seed: must be .*{message}"):
        seeds.check_seed(bad, "null_seed")


def test_integer_seeds_and_streams_reject_the_rest():
    with pytest.raises(ValueError, match="seed: must be a non-negative int, got NoneType"):
        seeds.check_seed(None, integer=True)
    with pytest.raises(ValueError, match="SeedSequence"):
        seeds.check_seed(np.random.SeedSequence(0), integer=True)
    with pytest.raises(ValueError, match=r"2\*\*32 - 1"):
        seeds.stream(2**32, "chain-table", 0, 0)  # would spill into the tag's word
    with pytest.raises(ValueError, match="tag: unknown stream 'chains'"):
        seeds.stream(0, "chains")


def test_public_seeded_functions_use_the_check():
    from mothlib.motifs.nulls import sample_null
    from mothlib.study.digits import compute_digits
    from mothlib.study.settings import DigitsDataSettings
    from mothlib.motifs.significance import motif_zscores

    ws = [np.ones((3, 2), dtype=bool), np.ones((1, 3), dtype=bool)]
    with pytest.raises(ValueError, match="seed: must be"):
        sample_null(ws, None, n_null=2, seed=0.5)
    with pytest.raises(ValueError, match="seed: must be"):
        motif_zscores(ws, None, n_null=2, seed="1")
    with pytest.raises(ValueError, match="seed: must be a non-negative int"):
        compute_digits(DigitsDataSettings(), -1, "never-written")
