"""The stage declarations: cache keys with algorithm versions, verify, the command line."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mothlib.study import stages
from mothlib.study.profiles import get_profile
from mothlib.study.store import ArtifactStore

REPO = Path(__file__).resolve().parents[1]
TINY = get_profile("smoke", n_samples=300, data_chunk_size=100)


def test_every_stage_is_declared_once_with_known_inputs():
    names = list(stages.STAGES)
    assert {"data", "pruning", "motifs"} <= set(names)
    for name, st in stages.STAGES.items():
        assert st.name == name and st.version >= 1
        assert all(i in stages.STAGES and names.index(i) < names.index(name) for i in st.inputs)
        # Sections, not fields: a stage's key is derived from what they declare (test_settings.py).
        assert st.sections and len(set(st.sections)) == len(st.sections)
        assert all(s in stages.stage_settings(TINY, name).__dict__["_sections"] for s in st.sections)


def test_an_algorithm_version_bump_recomputes_the_stage(tmp_path, monkeypatch):
    store = ArtifactStore("smoke", tmp_path)
    first = stages.run("data", TINY, store, progress=False)
    assert stages.is_current("data", TINY, store)
    bumped = dataclasses.replace(stages.STAGES["data"], version=stages.STAGES["data"].version + 1)
    monkeypatch.setitem(stages.STAGES, "data", bumped)
    assert not stages.is_current("data", TINY, store)  # made by "older code"
    second = stages.run("data", TINY, store, progress=False)
    assert second["key"] != first["key"] and second["params"]["version"] == bumped.version


def test_verify_reports_a_flipped_byte_and_the_stage_is_recomputed(tmp_path):
    store = ArtifactStore("smoke", tmp_path)
    stages.run("data", TINY, store, progress=False)
    report = stages.verify(TINY, store)
    assert report["data"] == [] and all(report[k] is None for k in stages.STAGES if k != "data")
    target = store.path("data") / "X_train.npy"
    raw = bytearray(target.read_bytes())
    raw[-1] ^= 0x01  # same size: only the hash can tell
    target.write_bytes(bytes(raw))
    assert stages.is_current("data", TINY, store)  # sizes match; verify is the deep check
    env = {**os.environ, "MOTHLIB_ARTIFACTS": str(tmp_path), "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "mothlib", "verify", "--profile", "smoke",
           "--set", "n_samples=300", "--set", "data_chunk_size=100"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "data: DAMAGED" in result.stdout and "data/X_train.npy" in result.stdout
    assert not stages.is_current("data", TINY, store)  # never used silently
    stages.run("data", TINY, store, progress=False)
    assert stages.verify(TINY, store)["data"] == []
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "data: ok" in result.stdout


def test_a_truncated_file_is_not_current(tmp_path):
    store = ArtifactStore("smoke", tmp_path)
    stages.run("data", TINY, store, progress=False)
    target = store.path("data") / "Y_val.npy"
    target.write_bytes(target.read_bytes()[:-8])
    assert not stages.is_current("data", TINY, store)


def test_bad_stage_and_settings_are_named():
    with pytest.raises(ValueError, match="unknown stage 'plots'"):
        stages.run("plots", TINY)
    with pytest.raises(ValueError, match="n_samples"):
        stages.run_all(get_profile("smoke", n_samples=3), ["data"])
    with pytest.raises(ValueError, match="null_models"):
        stages.check_stage("motifs", get_profile("smoke", null_models=["nope"]))


@pytest.mark.parametrize("name", ["smoke", "digits_smoke"])
def test_estimate_projects_every_stage(name):
    from mothlib.study.estimate import estimate_profile

    profile = get_profile(name)
    table = estimate_profile(profile, scheduler="none", samples=200, batches=5, nulls=4)
    assert table["stage"].tolist() == stages.default_stages(profile)
    assert (table["projected_hours"] > 0).all() and table.attrs["workers"] == 1
    np_hours = table.set_index("stage")["projected_hours"]
    assert np_hours.equals(table.set_index("stage")["projected_hours_one_worker"])


def test_another_task_does_not_run_the_moths_training_length_experiment():
    assert "training_length" in stages.default_stages(get_profile("smoke"))
    assert stages.default_stages(get_profile("digits_smoke")) == ["data", "pruning", "motifs"]
