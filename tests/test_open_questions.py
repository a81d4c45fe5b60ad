"""The open questions' stages: lesion curves identical in process and on a 2-worker cluster;
the structured stage's masks remove whole neurons; bad settings are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mothlib.study import open_questions as oq
from mothlib.study import stages
from mothlib.study.cluster import open_runner
from mothlib.study.profiles import get_profile
from mothlib.study.store import ArtifactStore

pytestmark = pytest.mark.usefixtures("one_torch_thread")
PROFILE = get_profile("smoke", n_samples=2000, data_chunk_size=500, schedule=[0.3, 0.6, 0.8],
                      max_batches_dense=60, max_batches_per_round=30, lesion_draws=2)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("oq")
    store = ArtifactStore("smoke", root)
    stages.run_all(PROFILE, stages=["data", "pruning"], store=store, progress=False)
    return root


def _copy(base_root, tmp_path) -> ArtifactStore:
    import shutil

    shutil.copytree(base_root, tmp_path / "root")
    return ArtifactStore("smoke", tmp_path / "root")


def test_lesion_curves_are_the_same_on_two_workers(base, tmp_path):
    a = _copy(base, tmp_path / "a")
    stages.run("lesions", PROFILE, store=a, progress=False)
    b = _copy(base, tmp_path / "b")
    with open_runner("local", n_workers=2) as runner:
        stages.run("lesions", PROFILE, store=b, runner=runner, progress=False)
    ta, tb = oq.load_lesion_table(a), oq.load_lesion_table(b)
    assert len(ta) > 0 and set(ta["order"]) == {"none", "magnitude", "random", "by", "matched"}
    pd.testing.assert_frame_equal(ta, tb, check_exact=True)


def test_structured_stage_removes_whole_neurons_and_leaves_pruning_alone(base, tmp_path):
    store = _copy(base, tmp_path)
    before = store.require("pruning")["outputs_hash"]
    stages.run("structured", PROFILE, store=store, progress=False)
    assert store.require("pruning")["outputs_hash"] == before
    table = oq.load_structured_table(store)
    assert set(table["strategy"]) == {"structured"}
    for level in sorted(table["level"].unique()):
        wms, bms = oq.load_structured_masks(store, int(level))
        for e in range(len(wms[0])):
            alive = [np.ones(wms[0].shape[2], bool), *[b[e] for b in bms[:-1]], np.ones(wms[-1].shape[1], bool)]
            for l, w in enumerate(wms):
                np.testing.assert_array_equal(w[e], np.outer(alive[l + 1], alive[l]))
    z = oq.load_structured_motifs(store)
    assert set(z["null_model"]) == set(PROFILE["null_models"]) and set(z["strategy"]) == {"structured"}


def test_new_stages_rerun_alone():
    other = PROFILE.replace(lesion_draws=3)
    for stage in stages.STAGES:
        moved = stages.stage_params(PROFILE, stage) != stages.stage_params(other, stage)
        assert moved == (stage == "lesions"), stage


@pytest.mark.parametrize("override, match", [
    ({"lesion_fractions": [0.1, 1.0]}, "lesion_fractions: 1.0 is outside"),
    ({"lesion_fractions": [0.0]}, "outside \\(0, 1\\)"),
    ({"lesion_motifs": ["triangle"]}, "lesion_motifs"),
    ({"activation_fractions": [1.5]}, "activation_fractions"),
    ({"structured_networks": 0}, "structured_networks"),
])
def test_bad_settings_are_refused(override, match):
    with pytest.raises(ValueError, match=match):
        get_profile("smoke", **override)
