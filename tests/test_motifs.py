"""count_motifs against brute-force enumeration and golden data; remove_ineffectual; bad input."""

from __future__ import annotations

import json
import re
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mothlib.motifs.counts import MOTIF_ORDER, MOTIFS, SECOND_ORDER, THIRD_ORDER, count_motifs, remove_ineffectual

sys.path.insert(0, os.path.dirname(__file__))
from _nets import PATTERNS, enumerate_counts, ghost_dead_by_paths, iterative_clean, random_masks  # noqa: E402

DATA = Path(__file__).parent / "data"


def _ints(counts):
    """Counts of one network, after checking their kind: Python ints (not 0-d arrays)."""
    assert all(type(v) is int for v in counts.values())
    return dict(counts)


def _lists(case, w="weight_masks", b="bias_masks"):
    ws = [np.array(x) for x in case[w]]
    bs = None if case[b] is None else [np.array(x) for x in case[b]]
    return ws, bs


#: One layered instance of each motif (layer sizes; every edge between adjacent layers present).
_INSTANCES = {
    "edges": [1, 1], "diverging2": [1, 2], "converging2": [2, 1], "chain2": [1, 1, 1],
    "diverging3": [1, 3], "converging3": [3, 1], "chain3": [1, 1, 1, 1], "bifan": [2, 2],
    "biparallel": [1, 2, 1],
}


@pytest.mark.parametrize("motif", list(_INSTANCES))
def test_motif_orders_follow_their_patterns(motif):
    # A motif's order is its number of nodes minus one, read off the oracle's edge pattern.
    nodes = {n for edge in PATTERNS[motif] for n in edge}
    assert MOTIF_ORDER[motif] == len(nodes) - 1
    assert (motif in SECOND_ORDER) == (len(nodes) == 3)
    assert (motif in THIRD_ORDER) == (len(nodes) == 4)
    # Its smallest layered instance holds exactly one copy of it, with that many nodes.
    sizes = _INSTANCES[motif]
    assert sum(sizes) == len(nodes)
    ws = [np.ones((sizes[i + 1], sizes[i]), dtype=bool) for i in range(len(sizes) - 1)]
    assert count_motifs(ws)[motif] == 1 == enumerate_counts(ws)[motif]


def test_motif_names_are_the_oracles_and_the_counts_keys():
    assert set(MOTIFS) == set(PATTERNS) == set(MOTIF_ORDER) == set(_INSTANCES)
    assert tuple(count_motifs([np.ones((2, 2), dtype=bool)])) == MOTIFS
    # The two orders split the motifs other than edges, each in MOTIFS order.
    assert tuple(m for m in MOTIFS if m in SECOND_ORDER + THIRD_ORDER) == SECOND_ORDER + THIRD_ORDER
    assert set(SECOND_ORDER + THIRD_ORDER) == set(MOTIFS) - {"edges"}


@pytest.mark.parametrize("index", range(12))
def test_golden_small_networks(index):
    case = json.loads((DATA / "motif_counts.json").read_text())[index]
    ws, bs = _lists(case)
    assert _ints(count_motifs(ws, bs)) == case["counts"]


def test_golden_dense_seed_network():
    gold = json.loads((DATA / "motif_counts_dense.json").read_text())
    s = gold["sizes"]
    ws = [np.ones((s[i + 1], s[i]), dtype=bool) for i in range(len(s) - 1)]
    bs = [np.ones(s[i + 1], dtype=bool) for i in range(len(s) - 1)]
    got = _ints(count_motifs(ws, bs))
    assert got == gold["counts"]
    assert max(got.values()) > 10**10  # beyond float32 and int32: exact int64


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 4), min_size=2, max_size=5),
    density=st.floats(0.2, 0.9),
    bias=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_counts_match_enumeration(sizes, density, bias, seed):
    ws, bs = random_masks(np.random.default_rng(seed), sizes, density, bias)
    assert _ints(count_motifs(ws, bs)) == enumerate_counts(ws, bs)


@settings(max_examples=10, deadline=None)
@given(sizes=st.lists(st.integers(1, 4), min_size=2, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_batched_counts_equal_per_network(sizes, seed):
    rng = np.random.default_rng(seed)
    ws, bs = random_masks(rng, sizes, 0.5, True, batch=3)
    got = count_motifs(ws, bs)
    for k in range(3):
        expect = enumerate_counts([w[k] for w in ws], [b[k] for b in bs])
        for m in MOTIFS:
            assert got[m].dtype == np.int64 and got[m].shape == (3,)
            assert got[m][k] == expect[m]
    # An unbatched bias mask broadcasts over a batched weight list.
    mixed = count_motifs(ws, [b[0] for b in bs])
    assert mixed["edges"][0] == got["edges"][0]


def test_torch_model_with_and_without_prune_buffers():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3, bias=False), torch.nn.Linear(3, 2)
    )
    dense = count_motifs(model)
    ones = [np.ones((5, 4)), np.ones((3, 5)), np.ones((2, 3))]
    assert _ints(dense) == _ints(count_motifs(ones, [np.ones(5), None, np.ones(2)]))
    import torch.nn.utils.prune as prune

    prune.random_unstructured(model[0], "weight", amount=0.5)
    prune.l1_unstructured(model[0], "bias", amount=2)
    prune.l1_unstructured(model[3], "weight", amount=3)
    ws = [model[0].weight_mask.numpy(), np.ones((3, 5)), model[3].weight_mask.numpy()]
    bs = [model[0].bias_mask.numpy(), None, np.ones(2)]
    assert _ints(count_motifs(model)) == _ints(count_motifs(ws, bs)) == enumerate_counts(ws, bs)
    # Nonzero weights are read where there is no buffer.
    with torch.no_grad():
        model[2].weight[0] = 0.0
    ws[1][0] = 0
    assert _ints(count_motifs(model)) == _ints(count_motifs(ws, bs))


def test_tensor_and_list_inputs_accepted():
    ws = [torch.tensor([[1.0, 0.0], [1.0, 1.0]]), [[1, 1]]]
    assert count_motifs(ws)["chain2"] == 3


@pytest.mark.parametrize("index", range(12))
def test_remove_ineffectual_golden(index):
    case = json.loads((DATA / "ineffectual.json").read_text())[index]
    ws, bs = _lists(case)
    cw, cb, report = remove_ineffectual(ws, bs)
    exp_w, exp_b = _lists(case, "clean_weight_masks", "clean_bias_masks")
    assert all(np.array_equal(a, b.astype(bool)) for a, b in zip(cw, exp_w))
    if exp_b is None:
        assert cb is None
    else:
        assert all(np.array_equal(a, b.astype(bool)) for a, b in zip(cb, exp_b))
    assert list(report.columns) == ["network", "layer", "ghost", "dead"]
    assert (report["network"] == 0).all()
    assert report["layer"].tolist() == list(range(1, len(ws)))
    assert report["ghost"].tolist() == case["ghost_per_hidden_layer"]
    assert report["dead"].tolist() == case["dead_per_hidden_layer"]
    assert _ints(count_motifs(cw, cb)) == case["clean_counts"]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=6),
    density=st.floats(0.05, 0.6),
    bias=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_remove_ineffectual_matches_fixed_point_and_paths(sizes, density, bias, seed):
    ws, bs = random_masks(np.random.default_rng(seed), sizes, density, bias)
    cw, cb, report = remove_ineffectual(ws, bs)
    iw, ib = iterative_clean(ws, bs)
    assert all(np.array_equal(a, b) for a, b in zip(cw, iw))
    if bias:
        assert all(np.array_equal(a, b) for a, b in zip(cb, ib))
    ghost, dead = ghost_dead_by_paths(ws, bs)
    assert report["ghost"].tolist() == ghost and report["dead"].tolist() == dead
    # Idempotent: a clean network has nothing left to remove.
    cw2, cb2, report2 = remove_ineffectual(cw, cb)
    assert all(np.array_equal(a, b) for a, b in zip(cw, cw2))
    assert report2[["ghost", "dead"]].to_numpy().sum() == 0


def test_remove_ineffectual_batched_has_network_column():
    rng = np.random.default_rng(3)
    ws, bs = random_masks(rng, [4, 5, 5, 3], 0.3, True, batch=4)
    cw, cb, report = remove_ineffectual(ws, bs)
    assert list(report.columns) == ["network", "layer", "ghost", "dead"]
    assert cw[0].shape == ws[0].shape and cb[1].shape == bs[1].shape
    for k in range(4):
        sw, sb, sr = remove_ineffectual([w[k] for w in ws], [b[k] for b in bs])
        assert all(np.array_equal(a[k], b) for a, b in zip(cw, sw))
        part = report[report.network == k].reset_index(drop=True)
        assert (sr["network"] == 0).all()
        assert part.drop(columns="network").equals(sr.drop(columns="network"))


def test_one_network_gives_ints_and_a_batch_int64_arrays():
    from mothlib.motifs.counts import chain_counts

    ws, bs = random_masks(np.random.default_rng(5), [3, 4, 4, 2], 0.6, True, batch=2)
    one_w, one_b = [w[1] for w in ws], [b[1] for b in bs]
    for count in (count_motifs, chain_counts):
        batch, one = count(ws, bs), count(one_w, one_b)
        assert list(batch) == list(one)
        for m in one:
            assert type(one[m]) is int and type(batch[m]) is np.ndarray  # a number; arrays for a batch
            assert batch[m].dtype == np.int64
            assert batch[m].shape == (2,) and one[m] == batch[m][1]
    *_, batch_report = remove_ineffectual(ws, bs)
    *_, one_report = remove_ineffectual(one_w, one_b)
    assert list(one_report.columns) == list(batch_report.columns)
    assert (one_report.dtypes == batch_report.dtypes).all()


@pytest.mark.parametrize(
    ("ws", "bs", "match"),
    [
        ([np.ones((3, 2)), np.ones((2, 4))], None, r"weight_masks\[1\]: has 4 inputs"),
        ([np.ones((3, 2)), np.full((2, 3), 2.0)], None, r"weight_masks\[1\]: masks must be binary"),
        ([np.ones((3, 2)), np.array([[1.0, np.nan, 0], [1, 1, 1]])], None, r"weight_masks\[1\]: contains NaN"),
        ([np.ones((3, 2)), np.ones((2, 3))], [np.ones(3), np.ones(3)], r"bias_masks\[1\]: has length 3"),
        ([np.ones((3, 2)), np.ones((2, 3))], [np.ones(3)], r"bias_masks: 1 masks for 2"),
        ([np.ones((2, 3, 2)), np.ones((4, 2, 3))], None, r"weight_masks\[1\]: batch size 4"),
        ([np.ones((2, 3, 2)), np.ones((2, 3))], [np.ones((5, 3)), None], r"bias_masks\[0\]: batch size 5"),
        ([np.ones(3)], None, r"weight_masks\[0\]: expected shape"),
        ([np.array([["a"]])], None, r"weight_masks\[0\]: expected a numeric"),
        ([], None, r"at least one layer"),
        (np.ones((3, 2)), None, r"expected a list"),
    ],
)
def test_bad_input_names_the_layer(ws, bs, match):
    with pytest.raises(ValueError, match=match):
        count_motifs(ws, bs)
    with pytest.raises(ValueError, match=match):
        remove_ineffectual(ws, bs)


def test_float64_and_int64_fallbacks(monkeypatch):
    import mothlib.motifs.counts as motifs

    ws, bs = random_masks(np.random.default_rng(8), [5, 7, 6, 4], 0.6, True, batch=2)
    expect = count_motifs(ws, bs)
    monkeypatch.setattr(motifs, "_SQ_F32_EXACT", 2)  # squares taken in float64
    got = count_motifs(ws, bs)
    assert all(np.array_equal(got[m], expect[m]) for m in MOTIFS)
    monkeypatch.setattr(motifs, "_F32_EXACT", 4)  # products in float64
    monkeypatch.setattr(motifs, "_EXACT", 4.0)  # sums of squares in int64
    got = count_motifs(ws, bs)
    assert all(np.array_equal(got[m], expect[m]) for m in MOTIFS)


# ----------------------------------------------------------------- sparse (edge-list) counting
def _sparse_dense_enum(ws, bs, batched):
    """Counts by every method and accumulator mode; all must be equal."""
    from mothlib.motifs._count_sparse import COLUMNS, count_sparse
    from mothlib.core.masks import as_masks
    from mothlib.motifs.counts import count_batch

    vw, vb, _ = as_masks(ws, bs)
    dense = count_batch(vw, vb, method="dense")
    sparse = count_batch(vw, vb, method="sparse")
    auto = count_batch(vw, vb)
    req = dict(dtype=bool, requirements=["C", "W"])
    cw = tuple(np.require(w, **req) for w in vw)
    cb = tuple(np.zeros(w.shape[:2], bool) if b is None else np.require(b, **req) for w, b in zip(cw, vb))
    modes = [count_sparse(cw, cb, mode) for mode in (0, 1, 2, 3, 4)]
    for m in MOTIFS:
        assert dense[m].dtype == sparse[m].dtype == np.int64
        assert np.array_equal(dense[m], sparse[m]), m
        assert np.array_equal(dense[m], auto[m]), m
        for out in modes:
            assert np.array_equal(out[:, COLUMNS.index(m)], dense[m]), m
    return sparse


def _holes(rng, ws, bs, p_empty):
    """Empty some rows and columns (isolated neurons, targets without inputs, unused biases)."""
    ws = [np.array(w) for w in ws]
    for w in ws:
        w[..., rng.random(w.shape[-2]) < p_empty, :] = False
        w[..., :, rng.random(w.shape[-1]) < p_empty] = False
    if bs is not None:
        bs = [np.array(b) & (rng.random(b.shape[-1]) >= p_empty) for b in bs]
    return ws, bs


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 5), min_size=2, max_size=5),
    density=st.floats(0.0, 1.0),
    p_empty=st.sampled_from([0.0, 0.3, 0.7]),
    bias=st.sampled_from([None, "all", "some"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_sparse_counts_match_dense_and_enumeration(sizes, density, p_empty, bias, seed):
    rng = np.random.default_rng(seed)
    ws, bs = random_masks(rng, sizes, density, bias is not None)
    ws, bs = _holes(rng, ws, bs, p_empty)
    if bias == "some":
        bs = [b if rng.random() < 0.5 else None for b in bs]
    sparse = _sparse_dense_enum(ws, bs, False)
    expect = enumerate_counts(ws, bs)
    assert {m: int(v[0]) for m, v in sparse.items()} == expect


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=2, max_size=5),
    density=st.floats(0.0, 1.0),
    p_empty=st.sampled_from([0.0, 0.2]),
    batch=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_sparse_counts_match_dense_on_larger_batches(sizes, density, p_empty, batch, seed):
    # Larger than enumeration allows: both accumulators of every sum are exercised.
    rng = np.random.default_rng(seed)
    ws, bs = random_masks(rng, sizes, density, True, batch=batch)
    ws, bs = _holes(rng, ws, bs, p_empty)
    _sparse_dense_enum(ws, bs, True)


@pytest.mark.parametrize("density", [0.1, 0.95])
def test_sparse_counts_with_degrees_over_255(density):
    # Dense-row sums keep uint8 accumulators only while every degree is < 256, int16 above: a
    # network whose degrees pass 255 runs the int16 ones (and the other accumulators) too.
    rng = np.random.default_rng(3)
    ws, bs = random_masks(rng, [3, 300, 280, 4], density, True, batch=2)
    ws, bs = _holes(rng, ws, bs, 0.05)
    _sparse_dense_enum(ws, bs, True)


def test_sparse_counts_golden_and_dense_seed_network():
    from mothlib.core.masks import as_masks
    from mothlib.motifs.counts import count_batch

    for case in json.loads((DATA / "motif_counts.json").read_text()):
        ws, bs = _lists(case)
        vw, vb, _ = as_masks(ws, bs)
        got = count_batch(vw, vb, method="sparse")
        assert {m: int(v[0]) for m, v in got.items()} == case["counts"]
    gold = json.loads((DATA / "motif_counts_dense.json").read_text())
    s = gold["sizes"]
    vw, vb, _ = as_masks([np.ones((s[i + 1], s[i]), bool) for i in range(len(s) - 1)],
                         [np.ones(s[i + 1], bool) for i in range(len(s) - 1)])
    got = count_batch(vw, vb, method="sparse")
    assert {m: int(v[0]) for m, v in got.items()} == gold["counts"]


def test_count_batch_method_choice_and_errors():
    from mothlib.core.masks import as_masks
    from mothlib.motifs.counts import SPARSE_MAX_DENSITY, count_batch, density

    vw, vb, _ = as_masks([np.ones((3, 2)), np.eye(3)[:1]], [np.ones(3), None])
    assert density(vw, vb) == pytest.approx((6 + 1 + 3) / (6 + 3 + 3))
    assert 0 < SPARSE_MAX_DENSITY < 1
    with pytest.raises(ValueError, match="method: must be one of"):
        count_batch(vw, vb, method="fast")


# ------------------------------------------------ count_motifs and motif_zscores count the same network
REPO = Path(__file__).resolve().parents[1]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bias=st.booleans())
def test_count_motifs_and_motif_zscores_count_the_same_network(seed, bias):
    """By default both count the masks as given; with clean=True both count the cleaned network,
    which equals remove_ineffectual followed by count_motifs (the slow, obvious twin)."""
    from mothlib.motifs.significance import motif_zscores

    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 6, size=int(rng.integers(2, 5))).tolist()
    ws, bs = random_masks(rng, sizes, float(rng.uniform(0.2, 0.8)), bias)
    given_counts = count_motifs(ws, bs)
    table = motif_zscores(ws, bs, n_null=2, null_model="degree-preserving", seed=0)
    assert dict(zip(table["motif"], table["count"].tolist())) == given_counts
    assert given_counts["edges"] == sum(int(w.sum()) for w in ws) + sum(int(b.sum()) for b in bs or [])
    cw, cb, _ = remove_ineffectual(ws, bs)
    cleaned = count_motifs(cw, cb)
    assert count_motifs(ws, bs, clean=True) == cleaned
    for null in ("layer-edges", "degree-preserving"):
        table = motif_zscores(ws, bs, clean=True, n_null=2, null_model=null, seed=0)
        assert dict(zip(table["motif"], table["count"].tolist())) == cleaned
    batch_w = [np.stack([w, w]) for w in ws]
    batch_b = None if bs is None else [np.stack([b, b]) for b in bs]
    batch = count_motifs(batch_w, batch_b, clean=True)
    assert {m: int(v[1]) for m, v in batch.items()} == cleaned


def test_layer_edges_null_refuses_an_unclean_network_naming_clean_true():
    from mothlib.motifs.significance import motif_zscores

    # Hidden neuron 1 has no incoming edge (a ghost) but feeds the output.
    ws = [np.array([[1, 1], [0, 0]], bool), np.array([[1, 1]], bool)]
    with pytest.raises(ValueError, match=r"1 ghost and 0 dead hidden neurons; pass clean=True"):
        motif_zscores(ws, n_null=2, seed=0)
    table = motif_zscores(ws, n_null=2, seed=0, clean=True)
    assert table.set_index("motif").loc["edges", "count"] == 3
    assert count_motifs(ws)["edges"] == 4 and count_motifs(ws, clean=True)["edges"] == 3


def _readme_python() -> str:
    """The Python example of README's section "Using mothlib on your own networks"."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Using mothlib on your own networks"):]
    return re.findall(r"```python\n(.*?)```", section, re.S)[0]


def test_readme_python_example_runs_and_says_what_it_returns():
    code = _readme_python().replace("n_null=1000", "n_null=5")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - README's own example
    counts, table, study, model = (namespace[k] for k in ("counts", "table", "study", "model"))
    assert all(type(v) is int for v in counts.values())  # ints, not 0-d arrays
    assert dict(zip(table["motif"], table["count"].tolist())) == counts  # as given, both
    assert dict(zip(study["motif"], study["count"].tolist())) == count_motifs(model, clean=True)
    assert counts["edges"] > count_motifs(model, clean=True)["edges"]  # the example has ineffectual neurons
    shown = re.search(r"\{'edges': (\d+), 'diverging2': (\d+)", code)
    assert shown is not None and (int(shown[1]), int(shown[2])) == (counts["edges"], counts["diverging2"])
    assert len(table) == len(MOTIFS) and list(table.columns[:2]) == ["motif", "count"]
    readme = (REPO / "README.md").read_text()
    assert "a DataFrame per motif" not in readme and "shape ()" not in readme
