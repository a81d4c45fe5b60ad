"""z-scores, p-values, significance profiles, motif_zscores and the motifs stage."""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import mothlib.study.motif_stage as motif_stage
from mothlib.motifs.counts import MOTIFS, count_motifs, remove_ineffectual
from mothlib.study import stages
from mothlib.study.profiles import get_profile
from mothlib.motifs.significance import motif_zscores, zscore_table
from mothlib.study.motif_stage import STAGE_COLUMNS, load_motif_table, task_seed
from mothlib.study.stages import stage_params
from mothlib.study.store import ArtifactStore

sys.path.insert(0, os.path.dirname(__file__))
from _nets import random_masks  # noqa: E402


def _hand_table(real, null):
    """The definitions, one motif at a time in plain Python."""
    rows = []
    n = len(null)
    for j, m in enumerate(MOTIFS):
        xs = [int(v) for v in null[:, j]]
        mean = sum(xs) / n
        std = (sum((x - mean) ** 2 for x in xs) / n) ** 0.5
        hits = sum(1 for x in xs if abs(x - mean) >= abs(real[m] - mean))
        z = (real[m] - mean) / std if std > 0 else float("nan")
        rows.append((m, mean, std, z, (1 + hits) / (n + 1)))
    return rows


def test_zscore_table_against_hand_loop():
    rng = np.random.default_rng(0)
    null = rng.integers(0, 30, size=(40, len(MOTIFS)))
    null[:, 0] = 17  # edges fixed
    real = {m: int(rng.integers(0, 30)) for m in MOTIFS}
    real["edges"] = 17
    df = zscore_table(real, null, "layer-edges")
    assert list(df.columns) == ["motif", "count", "null_mean", "null_std", "z", "p_value", "sp", "z_note"]
    for row, (m, mean, std, z, p) in zip(df.itertuples(), _hand_table(real, null)):
        assert row.motif == m and row.count == real[m]
        assert row.null_mean == pytest.approx(mean) and row.null_std == pytest.approx(std)
        assert row.p_value == pytest.approx(p)
        if np.isnan(z):
            assert np.isnan(row.z) and "fixes this count" in row.z_note
        else:
            assert row.z == pytest.approx(z) and row.z_note == ""
    # Significance profile: unit length within each order, NaN for edges.
    assert np.isnan(df.sp[0])
    for order in (slice(1, 4), slice(4, 9)):
        z = df.z.to_numpy()[order]
        assert np.linalg.norm(df.sp.to_numpy()[order]) == pytest.approx(1.0)
        assert np.allclose(df.sp.to_numpy()[order], z / np.linalg.norm(z))


def test_zscore_table_degenerate_cases():
    real = {m: 5 for m in MOTIFS}
    const = np.full((10, len(MOTIFS)), 5)
    df = zscore_table(real, const, "degree-preserving")
    assert df.z.isna().all() and df.sp.isna().all() and (df.p_value == 1.0).all()
    assert "degree-preserving null fixes" in df.z_note[1]  # diverging2
    assert "all 10 null samples have the same count" in df.z_note[7]  # bifan
    one = zscore_table(real, const[:1])
    assert one.z.isna().all() and one.z_note[0].startswith("undefined: 1 null sample")
    empty = zscore_table(real, np.zeros((0, len(MOTIFS)), dtype=np.int64))
    assert empty.z.isna().all() and empty.p_value.isna().all()
    # One finite z of an order: sp is its sign.
    null = np.full((4, len(MOTIFS)), 5)
    null[:, MOTIFS.index("bifan")] = [3, 4, 6, 7]
    df = zscore_table({**real, "bifan": 9}, null)
    assert df.sp[MOTIFS.index("bifan")] == 1.0 and df.sp[[1, 2, 3]].isna().all()
    with pytest.raises(ValueError, match="null_counts"):
        zscore_table(real, np.zeros((3, 2)))


def _net(seed=0, sizes=(5, 8, 8, 3), density=0.4):
    return random_masks(np.random.default_rng(seed), list(sizes), density, True)


@pytest.mark.parametrize("null", ["layer-edges", "degree-preserving"])
def test_motif_zscores_chunk_independent_and_reproducible(null):
    ws, bs = _net()
    a = motif_zscores(ws, bs, clean=True, n_null=30, null_model=null, seed=9, chunk_size=7)
    b = motif_zscores(ws, bs, clean=True, n_null=30, null_model=null, seed=9, chunk_size=30)
    pd.testing.assert_frame_equal(a, b)
    cw, cb, _ = remove_ineffectual(ws, bs)
    real = count_motifs(cw, cb)
    assert a["count"].tolist() == [real[m] for m in MOTIFS]
    assert a.set_index("motif").loc["edges", "z_note"].startswith("undefined")
    if null == "degree-preserving":
        fixed = a.set_index("motif").loc[["diverging2", "converging2", "chain2", "diverging3", "converging3"]]
        assert fixed.z.isna().all() and fixed.z_note.str.contains("fixes").all()


@pytest.mark.parametrize("null", ["layer-edges", "degree-preserving"])
def test_motif_zscores_independent_of_threads(null):
    # n_jobs threads draw chunks in any order: sample k is the same network, so the same table.
    ws, bs = _net(3, sizes=(6, 10, 10, 4))
    a = motif_zscores(ws, bs, clean=True, n_null=40, null_model=null, seed=5, chunk_size=40, n_jobs=1)
    for n_jobs, chunk in ((2, 7), (3, 5), (None, 9)):
        b = motif_zscores(ws, bs, clean=True, n_null=40, null_model=null, seed=5, chunk_size=chunk, n_jobs=n_jobs)
        pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ValueError, match="n_jobs"):
        motif_zscores(ws, bs, clean=True, n_null=4, n_jobs=0)


def test_motif_zscores_matches_its_definition():
    ws, bs = _net(1)
    cw, cb, _ = remove_ineffectual(ws, bs)
    from mothlib.motifs.nulls import sample_null

    seq = np.random.SeedSequence(4)
    nw, nb = sample_null(cw, cb, n_null=25, seed=seq)
    c = count_motifs(nw, nb)
    expect = zscore_table(count_motifs(cw, cb), np.stack([c[m] for m in MOTIFS], axis=1), "layer-edges")
    got = motif_zscores(ws, bs, clean=True, n_null=25, seed=np.random.SeedSequence(4), chunk_size=4)
    pd.testing.assert_frame_equal(got, expect)


def test_motif_zscores_torch_model_and_clean_flag():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    import torch.nn.utils.prune as prune

    prune.random_unstructured(model[0], "weight", amount=0.5)
    prune.random_unstructured(model[2], "weight", amount=0.5)
    ws = [model[0].weight_mask.numpy(), model[2].weight_mask.numpy()]
    bs = [np.ones(6), np.ones(3)]
    a = motif_zscores(model, clean=True, n_null=10, seed=1)
    b = motif_zscores(ws, bs, clean=True, n_null=10, seed=1)
    pd.testing.assert_frame_equal(a, b)
    cw, cb, _ = remove_ineffectual(ws, bs)
    pd.testing.assert_frame_equal(motif_zscores(cw, cb, n_null=10, seed=1, clean=False), b)


def test_motif_zscores_bad_input():
    ws, bs = _net(2, density=0.25)
    _, _, rep = remove_ineffectual(ws, bs)
    assert rep[["ghost", "dead"]].to_numpy().sum() > 0
    with pytest.raises(ValueError, match="remove_ineffectual"):
        motif_zscores(ws, bs, n_null=5, clean=False)
    with pytest.raises(ValueError, match="device"):
        motif_zscores(ws, bs, clean=True, n_null=5, device="no-such-device")
    a = motif_zscores(ws, bs, clean=True, n_null=5, seed=0, device="cpu")
    pd.testing.assert_frame_equal(a, motif_zscores(ws, bs, clean=True, n_null=5, seed=0, device=torch.device("cpu")))
    with pytest.raises(ValueError, match="n_null"):
        motif_zscores(ws, bs, clean=True, n_null=-2)
    with pytest.raises(ValueError, match="chunk_size"):
        motif_zscores(ws, bs, clean=True, n_null=5, chunk_size=0)
    with pytest.raises(ValueError, match="unknown null model"):
        motif_zscores(ws, bs, clean=True, n_null=5, null_model="erdos")
    with pytest.raises(ValueError, match=r"bias_masks\[0\]"):
        motif_zscores(ws, [np.ones(3)] + bs[1:], n_null=5)


# ------------------------------------------------------------------------------ the stage
SIZES = [4, 6, 6, 3]
N_NET = 3
LEVELS = [0.0, 0.3, 0.6]


def build_motif_table(profile, store):
    return stages.run("motifs", profile, store, progress=False)


def _fake_pruning(tmp_path, selected):
    """A pruning stage in a tmp store: random nested masks, a table, a manifest."""
    profile = get_profile("smoke", n_null=6, n_null_degree=4, null_chunk_size=4)
    store = ArtifactStore("smoke", root=tmp_path)
    rng = np.random.default_rng(0)
    keys = [rng.random((N_NET, SIZES[i + 1], SIZES[i])) for i in range(len(SIZES) - 1)]
    bkeys = [rng.random((N_NET, SIZES[i + 1])) for i in range(len(SIZES) - 1)]
    masks = {}
    for strategy in ["magnitude", "random"]:
        for level, f in enumerate(LEVELS):
            masks[(strategy, level)] = ([k >= f for k in keys], [k >= f for k in bkeys])
    # Validation loss under max_loss_threshold up to each network's last scored level.
    last = {k: -1 if v is None else v for k, v in selected.items()}
    rows = [
        dict(network=n, strategy=s, level=lv, fraction_pruned=f, train_loss=0.1,
             val_loss=0.1 if lv <= last[(s, n)] else 1.0, test_loss=0.1)
        for s in ["magnitude", "random"] for n in range(N_NET) for lv, f in enumerate(LEVELS)
    ]
    assert profile["max_loss_threshold"] == 0.5

    def compute(workdir, scratch):
        pd.DataFrame(rows).to_parquet(workdir / "pruning.parquet")
        (workdir / "masks").mkdir()
        (workdir / "masks" / "fake.txt").write_text("masks come from the test's load_masks")

    store.run_stage("pruning", stage_params(profile, "pruning"), ["pruning.parquet", "masks"], compute)
    return profile, store, masks


SELECTED = {("magnitude", 0): 2, ("magnitude", 1): 0, ("magnitude", 2): None,
            ("random", 0): 1, ("random", 1): 1, ("random", 2): 1}


def test_build_motif_table_with_fake_pruning_and_resume(tmp_path, monkeypatch):
    profile, store, masks = _fake_pruning(tmp_path, SELECTED)
    monkeypatch.setattr(motif_stage, "_load_masks", lambda st, strategy, level: masks[(strategy, level)])
    real_zscores = motif_stage.motif_zscores
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt  # an interrupted run
        return real_zscores(*args, **kwargs)

    monkeypatch.setattr(motif_stage, "motif_zscores", flaky)
    with pytest.raises(KeyboardInterrupt):
        build_motif_table(profile, store)
    assert store.manifest("motifs") is None
    calls.clear()
    monkeypatch.setattr(motif_stage, "motif_zscores", lambda *a, **k: (calls.append(1), real_zscores(*a, **k))[1])
    manifest = build_motif_table(profile, store)
    # (magnitude: net 0 levels 0-2, net 1 level 0) + (random: 3 nets x levels 0-1) = 10 tasks x 2 nulls.
    n_tasks = 20
    assert len(calls) == n_tasks - 4  # the 4 finished before the interruption were not redone
    df = pd.read_parquet(store.path("motifs.parquet"))
    assert manifest["stage"] == "motifs" and list(df.columns) == STAGE_COLUMNS
    assert len(df) == n_tasks * len(MOTIFS)
    assert set(df.null_model) == {"layer-edges", "degree-preserving"}
    assert set(df[df.null_model == "layer-edges"].n_null) == {6}
    assert set(df[df.null_model == "degree-preserving"].n_null) == {4}
    assert 2 not in set(df[df.strategy == "magnitude"].network)  # no selected level
    # A row equals a direct call with the documented seed.
    part = df[(df.strategy == "random") & (df.network == 2) & (df.level == 1) & (df.null_model == "layer-edges")]
    ws, bs = masks[("random", 1)]
    direct = real_zscores([w[2] for w in ws], [b[2] for b in bs], n_null=6, null_model="layer-edges",
                          seed=task_seed(profile["seed"], "random", 2, 1, "layer-edges"))
    pd.testing.assert_frame_equal(part[direct.columns].reset_index(drop=True), direct)
    assert (part.fraction_pruned == 0.3).all()
    # Cached: a second call recomputes nothing.
    calls.clear()
    build_motif_table(profile, store)
    assert calls == []
    # Any threshold up to max_loss_threshold filters this table; a larger one is refused.
    assert len(load_motif_table(store, 0.5)) == len(df)
    with pytest.raises(ValueError, match="max_loss_threshold"):
        load_motif_table(store, 0.6)
    # A different threshold inside the range leaves the stage current.
    build_motif_table({**profile, "loss_threshold": 0.3}, store)
    assert calls == []


def test_build_motif_table_needs_pruning(tmp_path):
    profile = get_profile("smoke")
    with pytest.raises(FileNotFoundError, match="pruning"):
        build_motif_table(profile, ArtifactStore("smoke", root=tmp_path))
    with pytest.raises(ValueError, match="null_models"):
        build_motif_table({**profile, "null_models": ["nope"]}, ArtifactStore("smoke", root=tmp_path))


def test_structured_network_is_significant():
    # Two dense 4x4 blocks per layer: many more bi-fans and bi-parallels than random networks
    # with the same edges, so z is large and positive and the p-value minimal.
    block = np.kron(np.eye(2, dtype=bool), np.ones((4, 4), dtype=bool))
    df = motif_zscores([block, block], clean=True, n_null=200, seed=0).set_index("motif")
    assert df.loc["bifan", "z"] > 3 and df.loc["biparallel", "z"] > 3
    assert df.loc["bifan", "p_value"] == pytest.approx(1 / 201)
    assert df.loc["bifan", "sp"] > 0


def test_tasks_per_call_groups_pairs_and_leaves_the_table_unchanged(tmp_path, monkeypatch):
    # The 20 (network, level, null) pairs of SELECTED in tasks of up to 3 pairs of one strategy
    # and null model, their nulls drawn together by the torch engine: the table of one pair per
    # task (numba). An interrupted grouped run resumes from its per-pair checkpoints.
    profile, store1, masks = _fake_pruning(tmp_path / "one", SELECTED)
    _, store3, _ = _fake_pruning(tmp_path / "three", SELECTED)  # the same masks (seeded)
    monkeypatch.setattr(motif_stage, "_load_masks", lambda st, strategy, level: masks[(strategy, level)])
    real_many = motif_stage.motif_zscores_many
    sizes, interrupt = [], [True]

    def batched(nets, **kwargs):
        sizes.append(len(nets))
        if len(sizes) == 3 and interrupt:
            interrupt.clear()
            raise KeyboardInterrupt  # an interrupted run: two tasks (6 pairs) were checkpointed
        assert kwargs["engine"] == "torch"
        return real_many(nets, **kwargs)

    monkeypatch.setattr(motif_stage, "motif_zscores_many", batched)
    grouped = {**profile, "motif_tasks_per_call": 3, "null_engine": "torch"}
    with pytest.raises(KeyboardInterrupt):
        build_motif_table(grouped, store3)
    assert sizes == [3, 3, 3]
    sizes.clear()
    build_motif_table(grouped, store3)
    # Left: magnitude 1 per null (its first 3 per null were done), random 3 + 3 per null.
    assert sorted(sizes) == [1, 1, 3, 3, 3, 3]
    build_motif_table(profile, store1)
    a, b = (pd.read_parquet(s.path("motifs.parquet")) for s in (store1, store3))
    assert len(a) == 20 * len(MOTIFS)
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ValueError, match="tasks_per_call"):
        build_motif_table({**profile, "motif_tasks_per_call": 0}, store1)


def test_motif_stage_settings_name_an_unknown_null_engine():
    with pytest.raises(ValueError, match="null_engine: expected one of"):
        get_profile("smoke", null_engine="opencl")
