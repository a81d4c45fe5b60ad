"""The artifact store: cache keys, invalidation, atomicity, scratch resume and loading."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from mothlib.study.store import ArtifactStore, atomic_write, atomic_write_json, hash_params, load


def _writer(calls, value=1.0, fail=False):
    def compute(workdir, scratch):
        calls.append(scratch)
        pd.DataFrame({"x": [value]}).to_parquet(workdir / "table.parquet")
        (workdir / "arrays").mkdir()
        np.savez(workdir / "arrays" / "a.npz", a=np.arange(3) * value)
        if fail:
            raise RuntimeError("interrupted")

    return compute


def test_stage_runs_once_then_is_current(tmp_path):
    store = ArtifactStore("smoke", tmp_path)
    calls = []
    outputs = ["table.parquet", "arrays"]
    first = store.run_stage("s", {"a": 1}, outputs, _writer(calls))
    second = store.run_stage("s", {"a": 1}, outputs, _writer(calls))
    assert len(calls) == 1
    assert first["key"] == second["key"]
    assert set(first["hashes"]) == {"table.parquet", "arrays/a.npz"}
    assert first["mothlib_version"] and first["params"] == {"a": 1}
    assert not (store.dir / ".partial").exists() or not any((store.dir / ".partial").iterdir())


def test_changed_params_redo_the_stage_and_its_dependents(tmp_path):
    store = ArtifactStore("smoke", tmp_path)
    calls, down = [], []
    store.run_stage("up", {"a": 1}, ["table.parquet"], _writer(calls))
    store.run_stage("down", {"b": 1}, ["arrays"], _writer(down), inputs=["up"])
    assert store.is_current("down", {"b": 1}, inputs=["up"])
    # Same parameters upstream but different content: the dependent must be redone.
    store.run_stage("up", {"a": 2}, ["table.parquet"], _writer(calls, value=2.0))
    assert len(calls) == 2
    assert not store.is_current("down", {"b": 1}, inputs=["up"])
    store.run_stage("down", {"b": 1}, ["arrays"], _writer(down), inputs=["up"])
    assert len(down) == 2
    assert pd.read_parquet(store.path("table.parquet"))["x"].tolist() == [2.0]


def test_params_hash_is_order_and_tuple_insensitive():
    assert hash_params({"a": [1, 2], "b": 3}) == hash_params({"b": 3, "a": (1, 2)})
    assert hash_params({"a": 1}) != hash_params({"a": 2})


def test_failed_stage_leaves_old_outputs_and_no_new_manifest(tmp_path):
    store = ArtifactStore("smoke", tmp_path)
    calls = []
    store.run_stage("s", {"a": 1}, ["table.parquet", "arrays"], _writer(calls))
    with pytest.raises(RuntimeError, match="interrupted"):
        store.run_stage("s", {"a": 2}, ["table.parquet", "arrays"], _writer(calls, 5.0, fail=True))
    # The completed result of the old parameters is intact, and the new one is not current.
    assert store.is_current("s", {"a": 1})
    assert not store.is_current("s", {"a": 2})
    assert pd.read_parquet(store.path("table.parquet"))["x"].tolist() == [1.0]
    leftovers = [p.name for p in store.dir.iterdir() if p.name.startswith(".s-work")]
    assert leftovers == []


def test_scratch_survives_an_interruption_and_is_removed_on_success(tmp_path):
    store = ArtifactStore("smoke", tmp_path)
    seen = []

    def flaky(workdir, scratch):
        seen.append(sorted(p.name for p in scratch.iterdir()))
        (scratch / f"chunk{len(seen)}").write_text("done")
        if len(seen) == 1:
            raise KeyboardInterrupt
        pd.DataFrame({"x": [1]}).to_parquet(workdir / "t.parquet")

    with pytest.raises(KeyboardInterrupt):
        store.run_stage("s", {"a": 1}, ["t.parquet"], flaky)
    manifest = store.run_stage("s", {"a": 1}, ["t.parquet"], flaky)
    assert seen == [[], ["chunk1"]]
    assert not store.scratch("s", manifest["key"]).joinpath("chunk1").exists()


def test_missing_output_or_manifest_is_not_current(tmp_path):
    store = ArtifactStore("smoke", tmp_path)
    store.run_stage("s", {"a": 1}, ["table.parquet", "arrays"], _writer([]))
    os.unlink(store.path("table.parquet"))
    assert not store.is_current("s", {"a": 1})
    with pytest.raises(RuntimeError, match="did not write its outputs"):
        store.run_stage("t", {}, ["nothing.parquet"], lambda w, s: None)


def test_load_without_file_names(tmp_path):
    store = ArtifactStore("smoke", tmp_path)
    store.run_stage("s", {"a": 1}, ["table.parquet", "arrays"], _writer([], value=3.0))
    loaded = load("s", profile="smoke", root=tmp_path)
    assert loaded["table.parquet"]["x"].tolist() == [3.0]
    np.testing.assert_array_equal(loaded["arrays"]["a.npz"]["a"], [0.0, 3.0, 6.0])
    store.run_stage("one", {}, ["only.parquet"], lambda w, s: pd.DataFrame({"y": [1]}).to_parquet(w / "only.parquet"))
    assert load("one", "smoke", tmp_path)["y"].tolist() == [1]


def test_missing_stage_error_names_stage_and_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"stage 'pruning' of profile 'quick'.*mothlib study"):
        load("pruning", profile="quick", root=tmp_path)


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "f.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(ValueError):
        with atomic_write(target, "w") as handle:
            handle.write("partial")
            raise ValueError("boom")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_bad_profile_name(tmp_path):
    with pytest.raises(ValueError, match="invalid profile name"):
        ArtifactStore("../x", tmp_path)
