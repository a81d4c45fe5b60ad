"""The training_length stage: equal lengths give equal networks, training is cumulative, the
degree-heterogeneity measure, resume after an interruption, and bad settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mothlib.study.pruning_stage as pruning_stage
import mothlib.study.training_length as tl
from mothlib.study import stages
from mothlib.study.data import load_splits
from mothlib.networks.ensemble import EarlyStopping
from mothlib.study.profiles import get_profile
from mothlib.study.stages import stage_params
from mothlib.study.store import ArtifactStore
from mothlib.study.training_length import (
    REFERENCE,
    compute_training_length,
    load_training_length,
)
from mothlib.motifs.degrees import degree_cv, degree_heterogeneity

D, R = 20, 10  # base round lengths (batches)


#: The names these tests used before the settings were declared once -> the profile's names.
_NAMES = dict(
    factors="length_factors", base_dense="length_base_dense", base_round="length_base_round",
    n_networks="length_networks", hidden_sizes="length_hidden_sizes", schedule="length_schedule",
    reference_dense="max_batches_dense", reference_round="max_batches_per_round",
    null_models="null_models", threads="train_threads", networks_per_task="length_networks_per_task",
    learning_rate="learning_rate",
)


def _settings(**kw) -> stages.StageSettings:
    """The training-length stage's settings of a smoke profile at these tests' small size."""
    base = dict(
        factors=[1, 2], base_dense=D, base_round=R, n_networks=2, hidden_sizes=[8, 8, 8, 4],
        schedule=[0.3, 0.6, 0.8], reference=EarlyStopping(check_every=5, min_batches=10, window=5),
        reference_dense=30, reference_round=15, n_null={"layer-edges": 4, "degree-preserving": 4},
        learning_rate=3e-3, threads=1, networks_per_task=1,
    )
    base.update(kw)
    fields: dict = {"null_chunk_size": 100}
    for name, value in base.items():
        if name == "reference":
            fields.update(es_check_every=value.check_every, es_min_batches=value.min_batches,
                          es_window=value.window, es_ratio=value.ratio)
        elif name == "n_null":
            fields.update(length_n_null=value.get("layer-edges"), length_n_null_degree=value.get("degree-preserving"))
        else:
            fields[_NAMES[name]] = value
    return stages.stage_settings(get_profile("smoke", **fields), "training_length")


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    store = ArtifactStore("smoke", tmp_path_factory.mktemp("art"))
    stages.run("data", get_profile("smoke", n_samples=3000), store, progress=False)
    return load_splits(store)


def _run(settings: stages.StageSettings, splits, root) -> dict[str, pd.DataFrame]:
    (root / "out").mkdir(parents=True, exist_ok=True)
    compute_training_length(settings, splits, root / "out", root / "scratch", progress=False)
    return {k: pd.read_parquet(root / "out" / f) for k, f in tl.TABLES.items()}


@pytest.fixture(scope="module")
def reference_run(splits, tmp_path_factory):
    return _run(_settings(), splits, tmp_path_factory.mktemp("run"))


# -- degree heterogeneity ------------------------------------------------------------------
def test_degree_cv_by_hand():
    # degrees 1, 2, 3 (the 0 is left out): mean 2, population std sqrt(2/3)
    assert degree_cv([1, 2, 3, 0]) == pytest.approx(np.sqrt(2 / 3) / 2)
    assert degree_cv([4, 4, 0]) == 0.0
    assert np.isnan(degree_cv([0, 0]))
    with pytest.raises(ValueError, match="non-negative"):
        degree_cv([1, -1])
    # Sources a, b, c -> targets x, y: x <- a, b, c; y <- a.
    w = np.array([[1, 1, 1], [1, 0, 0]], dtype=bool)
    df = degree_heterogeneity([w]).set_index("side")
    # in-degrees (3, 1): mean 2, std 1; out-degrees (2, 1, 1): mean 4/3, std sqrt(2)/3
    assert df.loc["in", "cv"] == pytest.approx(0.5)
    assert df.loc["out", "cv"] == pytest.approx((np.sqrt(2) / 3) / (4 / 3))
    assert df.loc["in", "n_neurons"] == 2 and df.loc["out", "n_neurons"] == 3
    with pytest.raises(ValueError, match=r"weight_masks\[0\]"):
        degree_heterogeneity([np.ones(3, dtype=bool)])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 7), st.integers(1, 7), st.floats(0.0, 1.0), st.integers(0, 2**31))
def test_degree_heterogeneity_against_a_loop(n_out, n_in, density, seed):
    w = np.random.default_rng(seed).random((n_out, n_in)) < density
    df = degree_heterogeneity([w]).set_index("side")
    for side, n_nodes in (("in", n_out), ("out", n_in)):
        deg = [sum(int(w[i, j]) for j in range(n_in)) if side == "in"
               else sum(int(w[j, i]) for j in range(n_out)) for i in range(n_nodes)]
        deg = [d for d in deg if d > 0]
        if not deg:
            assert np.isnan(df.loc[side, "cv"])
            continue
        mean = sum(deg) / len(deg)
        std = (sum((d - mean) ** 2 for d in deg) / len(deg)) ** 0.5
        assert df.loc[side, "cv"] == pytest.approx(std / mean, abs=1e-12)


# -- the stage's work ----------------------------------------------------------------------
def test_tables(reference_run):
    z, levels, degrees = reference_run["z"], reference_run["levels"], reference_run["degrees"]
    assert list(z.columns) == tl.Z_COLUMNS and list(levels.columns) == tl.LEVEL_COLUMNS
    assert list(degrees.columns) == tl.DEGREE_COLUMNS
    assert list(dict.fromkeys(levels.arm)) == [REFERENCE, "1x", "2x"]
    # 2 networks x 3 levels (dense included) per arm; z at the 2 pruned levels x 2 nulls x 9 motifs.
    assert len(levels) == 3 * 2 * 3 and len(z) == 3 * 2 * 2 * 2 * 9
    assert set(z.level) == {1, 2} and set(z.null_model) == {"layer-edges", "degree-preserving"}
    assert len(degrees) == 3 * 2 * 2 * 5 * 2  # blocks 0..4, sides in/out
    assert (degrees.cv.dropna() >= 0).all() and np.isfinite(z.z).any()
    # Every arm prunes the same counts: the fraction of a level does not depend on the arm.
    assert levels.groupby("level").fraction_pruned.nunique().max() == 1


def test_training_is_cumulative_and_grows_with_the_factor(reference_run):
    levels = reference_run["levels"]
    for arm, f in (("1x", 1), ("2x", 2)):
        rows = levels[levels.arm == arm]
        # Early stopping off: Adam's step count is exactly the capped rounds, summed.
        assert (rows.batches_trained == f * D + rows.level * f * R).all()
    wide = levels.pivot_table(index=["network", "level"], columns="arm", values="batches_trained")
    assert (wide["2x"] > wide["1x"]).all()
    for _, rows in levels.groupby(["arm", "network"]):
        assert np.all(np.diff(rows.sort_values("level").batches_trained) > 0)
    ref = levels[levels.arm == REFERENCE]
    assert (ref.batches_trained <= 30 + ref.level * 15).all()  # within its caps


def test_equal_lengths_give_identical_networks(reference_run, splits, tmp_path):
    # (a) another run with only the 1x arm; (b) a reference arm whose rule never fires and whose
    # caps equal the 1x arm's: both reproduce the 1x rows exactly.
    never = EarlyStopping(check_every=10**9, min_batches=2, window=1)
    other = _run(_settings(factors=[1], reference=never, reference_dense=D, reference_round=R),
                 splits, tmp_path)
    for name, keys in (("levels", ["network", "level"]), ("z", ["network", "level", "null_model", "motif"]),
                       ("degrees", ["network", "level", "block", "side"])):
        first = reference_run[name]
        want = first[first.arm == "1x"].drop(columns=["arm", "factor"]).sort_values(keys).reset_index(drop=True)
        for arm in ("1x", REFERENCE):
            got = other[name][other[name].arm == arm].drop(columns=["arm", "factor"])
            pd.testing.assert_frame_equal(got.sort_values(keys).reset_index(drop=True), want)


def test_resume_after_interruption(reference_run, splits, tmp_path, monkeypatch):
    real_train, real_score = pruning_stage.prune_and_retrain, tl.motif_zscores
    rounds, scores = [], []

    def flaky_round(*args, **kwargs):
        rounds.append(1)
        if len(rounds) == 7:
            raise KeyboardInterrupt  # interrupted while pruning the second arm
        return real_train(*args, **kwargs)

    monkeypatch.setattr(pruning_stage, "prune_and_retrain", flaky_round)
    with pytest.raises(KeyboardInterrupt):
        _run(_settings(), splits, tmp_path)
    monkeypatch.setattr(pruning_stage, "prune_and_retrain", real_train)

    def flaky_score(*args, **kwargs):
        scores.append(1)
        if len(scores) == 5:
            raise KeyboardInterrupt  # interrupted while scoring
        return real_score(*args, **kwargs)

    monkeypatch.setattr(tl, "motif_zscores", flaky_score)
    with pytest.raises(KeyboardInterrupt):
        _run(_settings(), splits, tmp_path)
    scores.clear()
    monkeypatch.setattr(tl, "motif_zscores", lambda *a, **k: (scores.append(1), real_score(*a, **k))[1])
    resumed = _run(_settings(), splits, tmp_path)
    n_tasks = 3 * 2 * 2 * 2  # arms x networks x pruned levels x nulls
    assert len(scores) == n_tasks - 4  # the 4 finished before the interruption were not redone
    for name, df in resumed.items():
        pd.testing.assert_frame_equal(df, reference_run[name])


def test_bad_settings_name_the_argument():
    for kw, pattern in (
        (dict(factors=[]), "length_factors"),
        (dict(factors=[1, 1.0]), "distinct"),
        (dict(factors=[1, -2]), "length_factors"),
        (dict(base_round=0), "length_base_round"),
        (dict(base_dense=1.5), "length_base_dense"),
        (dict(n_networks=0), "length_networks"),
        (dict(n_null={"layer-edges": 1, "degree-preserving": 4}), "n_null"),
        (dict(null_models=["config"]), "null_models"),
        (dict(schedule=[0.5, 0.4]), "schedule"),
        (dict(factors=[0.01]), "under one batch"),
    ):
        with pytest.raises(ValueError, match=pattern):
            _settings(**kw)
    with pytest.raises(ValueError, match="length_factors"):
        stages.run("training_length", get_profile("smoke", length_factors="2x"), progress=False)


def test_stage_key_and_reader(tmp_path):
    p = get_profile("smoke")
    params = stage_params(p, "training_length")
    assert list(params["length_factors"]) == [1, 2, 4] and "length_n_null" in params
    assert "length_networks_per_task" not in params  # how it runs, not what it computes
    assert stage_params(get_profile("smoke", length_n_null=12), "training_length") != params
    assert stages.STAGES["training_length"].inputs == ("data",)
    store = ArtifactStore("smoke", tmp_path)
    with pytest.raises(FileNotFoundError):
        load_training_length(store)
    with pytest.raises(ValueError, match="table"):
        load_training_length(store, "nope")


def test_arms_at_once_on_a_dask_cluster_match_in_process(reference_run, splits, tmp_path):
    # On a cluster the arms' pruning runs concurrently (threads sharing the client); the tables
    # must equal the in-process run's.
    from mothlib.study.cluster import open_runner

    (tmp_path / "out").mkdir()
    with open_runner("local", n_workers=2) as runner:
        compute_training_length(_settings(), splits, tmp_path / "out", tmp_path / "scratch", runner,
                                progress=False)
    for name, file in tl.TABLES.items():
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / file), reference_run[name])


# -- the chapter's helpers -----------------------------------------------------------------
def _z_rows(values: dict[str, list[float]], fraction: float = 0.45) -> pd.DataFrame:
    """A z table: arm -> z of networks 0, 1, ... for motif bifan at one level."""
    return pd.DataFrame([
        dict(arm=arm, network=k, level=2, fraction_pruned=fraction, null_model="layer-edges",
             motif="bifan", z=v)
        for arm, zs in values.items() for k, v in enumerate(zs)
    ])


def test_gap_explained_by_hand():
    seed = pd.DataFrame({"motif": ["bifan"], "fraction_pruned": [0.45], "z_median": [5.0]})
    # medians 1 (short) and 3 (long) against the seed's 5: half the gap closed.
    z = _z_rows({"1x": [0.0, 1.0, 2.0], "4x": [2.0, 3.0, 4.0]})
    gap = tl.gap_explained(z, seed, "1x", "4x", motifs=["bifan"], n_boot=200)
    assert gap["share"] == pytest.approx(0.5) and gap["n_cells"] == 1
    assert gap["low"] <= 0.5 <= gap["high"]
    # Identical networks in both arms resample together: no spread when every network moves alike.
    z = _z_rows({"1x": [1.0, 1.0, 1.0], "4x": [3.0, 3.0, 3.0]})
    gap = tl.gap_explained(z, seed, "1x", "4x", motifs=["bifan"], n_boot=50)
    assert gap["low"] == gap["high"] == pytest.approx(0.5)
    # No common fraction with the seed: undefined, not an error.
    gap = tl.gap_explained(_z_rows({"1x": [1.0], "4x": [2.0]}, 0.33), seed, "1x", "4x", motifs=["bifan"])
    assert np.isnan(gap["share"]) and gap["n_cells"] == 0
    with pytest.raises(ValueError, match="different arms"):
        tl.gap_explained(z, seed, "1x", "1x", motifs=["bifan"])
    with pytest.raises(ValueError, match="arm '8x'"):
        tl.gap_explained(z, seed, "1x", "8x", motifs=["bifan"])


def test_length_effect_by_hand():
    z = _z_rows({"1x": [1.0, 2.0, 3.0], "4x": [4.0, 8.0, 9.0], "2x": [0.0, 0.0, 0.0]})
    eff = tl.length_effect(z, 2, "1x", "4x").set_index("motif")
    assert eff.loc["bifan", "z_short"] == 2.0 and eff.loc["bifan", "z_long"] == 8.0
    assert eff.loc["bifan", "ratio"] == 4.0
    assert np.isnan(tl.length_effect(z, 2, "2x", "4x").loc[0, "ratio"])  # z_short 0: no ratio


def test_findings_per_arm_use_the_findings_code(reference_run):
    from mothlib.study.findings import findings_table
    from mothlib.networks.pruning import mark_selected

    z, levels = reference_run["z"], reference_run["levels"]
    by_arm = tl.findings_by_arm(z, levels, 1.0)
    assert list(dict.fromkeys(by_arm.arm)) == [REFERENCE, "1x", "2x"] and len(by_arm) == 18
    one = findings_table(mark_selected(levels[levels.arm == "2x"].assign(strategy="magnitude"), 1.0),
                         z[z.arm == "2x"].assign(strategy="magnitude"))
    pd.testing.assert_frame_equal(by_arm[by_arm.arm == "2x"].drop(columns=["arm", "factor"])
                                  .reset_index(drop=True), one)
    verdict = tl.verdicts(by_arm)
    assert list(verdict.columns) == [REFERENCE, "1x", "2x", "same_at_every_length"]
    same = verdict[[REFERENCE, "1x", "2x"]].nunique(axis=1) == 1
    assert (verdict["same_at_every_length"] == same).all()
    corr = tl.heterogeneity_correlation(tl.mean_heterogeneity(z, reference_run["degrees"]))
    assert set(corr.null_model) == {"layer-edges", "degree-preserving"}
    assert ((corr.rho.abs() <= 1) | corr.rho.isna()).all()
