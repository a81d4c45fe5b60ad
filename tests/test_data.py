"""Tests of the data stage (mothlib.study.data) on a small smoke profile in a temporary store."""

from __future__ import annotations

import numpy as np
import pytest

import mothlib.simulation.samples as samples
from mothlib.simulation.samples import (
    GENERATOR_BLOCK,
    INPUT_COLUMNS,
    OUTPUT_COLUMNS,
    RANGES,
    conditions_for_rows,
    sample_conditions,
)
from mothlib.study.data import Scaler, load_metadata, load_scaler, load_splits
from mothlib.study import stages
from mothlib.study.profiles import get_profile
from mothlib.simulation.simulator import simulate
from mothlib.study.store import ArtifactStore

N = 600


def profile(**kw):
    kw.setdefault("n_samples", N)
    kw.setdefault("data_chunk_size", 250)
    return get_profile("smoke", **kw)


def build_dataset(profile, store, runner=None):
    return stages.run("data", profile, store, runner)


def store(tmp_path, name="s"):
    return ArtifactStore("smoke", root=tmp_path / name)


def counting(monkeypatch, fail_on=None, nan_rows=()):
    """Replace samples.simulate by a wrapper that counts calls (and may fail or poison rows)."""
    calls = []

    def wrapper(s0, u, **kw):
        calls.append(len(s0))
        if fail_on is not None and len(calls) == fail_on:
            raise KeyboardInterrupt("simulated interruption")
        out = simulate(s0, u, **kw)
        for r in nan_rows:
            if r < len(out):
                out[r] = np.nan
        return out

    monkeypatch.setattr(samples, "simulate", wrapper)
    return calls


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    st = ArtifactStore("smoke", root=tmp_path_factory.mktemp("built"))
    manifest = build_dataset(profile(), st)
    return st, manifest


def test_sample_conditions_within_the_spec_ranges():
    s, u = sample_conditions(5000, np.random.default_rng(1))
    assert s.shape == (5000, 8) and u.shape == (5000, 3)
    assert np.all(s[:, [0, 2]] == 0)
    for col, name in ((1, "xd0"), (3, "yd0"), (4, "theta0"), (5, "thetad0"), (6, "phi0"),
                      (7, "phid0")):
        lo, hi = RANGES[name]
        assert lo <= s[:, col].min() and s[:, col].max() <= hi
        assert s[:, col].min() < lo + 0.01 * (hi - lo) and s[:, col].max() > hi - 0.01 * (hi - lo)
    for col, name in enumerate(("F", "alpha", "tau")):
        lo, hi = RANGES[name]
        assert lo <= u[:, col].min() and u[:, col].max() <= hi


def test_rows_do_not_depend_on_how_they_are_cut():
    whole = conditions_for_rows(7, 0, GENERATOR_BLOCK + 50)
    parts = [conditions_for_rows(7, a, b) for a, b in
             ((0, 13), (13, GENERATOR_BLOCK - 1), (GENERATOR_BLOCK - 1, GENERATOR_BLOCK + 50))]
    for i in range(2):
        np.testing.assert_array_equal(np.concatenate([p[i] for p in parts]), whole[i])
    assert not np.array_equal(conditions_for_rows(8, 0, 10)[0], whole[0][:10])


def test_shapes_sizes_and_metadata(built):
    st, manifest = built
    assert manifest["stage"] == "data" and manifest["params"]["n_samples"] == N
    splits = load_splits(st)
    assert list(splits) == ["train", "val", "test"]
    sizes = {k: len(x) for k, (x, _) in splits.items()}
    assert sizes == {"train": 384, "val": 96, "test": 120}
    for X, Y in splits.values():
        assert X.dtype == np.float32 and Y.dtype == np.float32
        assert X.shape[1] == 10 and Y.shape[1] == 7 and len(X) == len(Y)
    meta = load_metadata(st)
    assert meta["n_failed"] == 0 and meta["n_valid"] == N
    assert meta["input_columns"] == list(INPUT_COLUMNS)
    assert meta["output_columns"] == list(OUTPUT_COLUMNS)


def test_columns_agree_with_the_simulator(built):
    st, _ = built
    raw = load_splits(st, scaled=False)
    s0, u = conditions_for_rows(0, 0, 5)  # the smoke profile's seed; no failures: rows 0..4
    sf = simulate(s0, u)
    named = {
        "phi0": s0[:, 6], "theta0": s0[:, 4], "x_f": sf[:, 0], "y_f": sf[:, 2],
        "phi_f": sf[:, 6], "theta_f": sf[:, 4], "xd0": s0[:, 1], "yd0": s0[:, 3],
        "phid0": s0[:, 7], "thetad0": s0[:, 5],
        "Fx": u[:, 0] * np.cos(u[:, 1]), "Fy": u[:, 0] * np.sin(u[:, 1]), "tau": u[:, 2],
        "xd_f": sf[:, 1], "yd_f": sf[:, 3], "phid_f": sf[:, 7], "thetad_f": sf[:, 5],
    }
    X, Y = raw["train"]
    np.testing.assert_allclose(X[:5], np.column_stack([named[c] for c in INPUT_COLUMNS]))
    np.testing.assert_allclose(Y[:5], np.column_stack([named[c] for c in OUTPUT_COLUMNS]))
    # The last test row is the last sample.
    s_last, u_last = conditions_for_rows(0, N - 1, N)
    np.testing.assert_allclose(raw["test"][1][-1, 2], u_last[0, 2])
    np.testing.assert_allclose(raw["test"][0][-1, 0], s_last[0, 6])


def test_scaling_from_training_split_and_inverse(built):
    st, _ = built
    scaled, raw = load_splits(st), load_splits(st, scaled=False)
    scalers = load_scaler(st)
    assert scalers["inputs"].columns == INPUT_COLUMNS
    for i, key in enumerate(("inputs", "outputs")):
        Z = scaled["train"][i]
        np.testing.assert_array_equal(Z.min(axis=0), -0.5)
        np.testing.assert_array_equal(Z.max(axis=0), 0.5)
        sc = scalers[key]
        np.testing.assert_array_equal(sc.min, raw["train"][i].min(axis=0))
        np.testing.assert_array_equal(sc.max, raw["train"][i].max(axis=0))
        for split in ("train", "val", "test"):
            back = sc.inverse_transform(scaled[split][i])
            span = sc.max - sc.min
            assert np.all(np.abs(back - raw[split][i]) <= 1e-6 * span)
            np.testing.assert_allclose(
                sc.inverse_transform(sc.transform(raw[split][i])), raw[split][i], rtol=1e-12
            )
    with pytest.raises(ValueError, match="expected 7 columns"):
        scalers["outputs"].transform(np.zeros((3, 10)))


def test_scaler_fit_and_constant_column():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [2.0, 5.0]])
    sc = Scaler.fit(X, ["a", "b"])
    np.testing.assert_array_equal(sc.transform(X), [[-0.5, -0.5], [0.5, -0.5], [0.0, -0.5]])
    assert Scaler.from_dict(sc.to_dict()).columns == ("a", "b")
    with pytest.raises(ValueError, match="non-empty finite"):
        Scaler.fit(np.array([[np.nan, 1.0]]))


def test_reproducible_and_independent_of_chunk_size(built, tmp_path):
    st, _ = built
    ref = load_splits(st)
    other = store(tmp_path, "other")
    build_dataset(profile(data_chunk_size=97), other)
    for split, (X, Y) in load_splits(other).items():
        np.testing.assert_array_equal(X, ref[split][0])
        np.testing.assert_array_equal(Y, ref[split][1])
    seeded = store(tmp_path, "seeded")
    build_dataset(profile(seed=1), seeded)
    assert not np.array_equal(load_splits(seeded)["train"][0], ref["train"][0])


def test_cache_and_invalidation(tmp_path, monkeypatch):
    st = store(tmp_path)
    calls = counting(monkeypatch)
    first = build_dataset(profile(), st)
    assert len(calls) == 3  # 600 samples in chunks of 250
    again = build_dataset(profile(), st)
    assert len(calls) == 3 and again["key"] == first["key"]
    # The chunk size is not part of the key: the data would be the same.
    build_dataset(profile(data_chunk_size=100), st)
    assert len(calls) == 3
    changed = build_dataset(profile(n_samples=500), st)
    assert len(calls) == 5 and changed["key"] != first["key"]
    assert sum(len(x) for x, _ in load_splits(st).values()) == 500


def test_resume_after_interruption(built, tmp_path, monkeypatch):
    st = store(tmp_path)
    calls = counting(monkeypatch, fail_on=3)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(profile(), st)
    assert len(calls) == 3 and st.manifest("data") is None
    calls = counting(monkeypatch)
    build_dataset(profile(), st)
    assert calls == [100]  # only the unfinished last chunk (rows 500..599) is simulated
    ref = load_splits(built[0])
    for split, (X, Y) in load_splits(st).items():
        np.testing.assert_array_equal(X, ref[split][0])
        np.testing.assert_array_equal(Y, ref[split][1])
    assert not any(st.dir.joinpath(".partial").glob("data-*/*.npz"))  # scratch cleaned up


def test_failed_samples_are_dropped_and_counted(tmp_path, monkeypatch):
    st = store(tmp_path)
    counting(monkeypatch, nan_rows=(3, 7))
    build_dataset(profile(), st)
    meta = load_metadata(st)
    assert meta["n_failed"] == 6 and meta["n_valid"] == N - 6  # two rows in each of 3 chunks
    assert meta["failed_rows"] == [3, 7, 253, 257, 503, 507]
    splits = load_splits(st)
    assert sum(len(x) for x, _ in splits.values()) == N - 6
    assert all(np.isfinite(x).all() and np.isfinite(y).all() for x, y in splits.values())


def test_missing_stage_and_bad_profiles(tmp_path):
    st = store(tmp_path)
    with pytest.raises(FileNotFoundError, match="'data'"):
        load_splits(st)
    with pytest.raises(FileNotFoundError, match="'data'"):
        load_scaler(st)
    with pytest.raises(ValueError, match="n_samples"):
        build_dataset(profile(n_samples=5), st)
    with pytest.raises(ValueError, match="split"):
        build_dataset(profile(split=[0.5, 0.2, 0.2]), st)
    with pytest.raises(ValueError, match="chunk_size"):
        build_dataset(profile(data_chunk_size=0), st)
    with pytest.raises(ValueError, match="duration"):
        build_dataset(profile(duration=0.0), st)
