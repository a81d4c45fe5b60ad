"""The motif stage's table does not depend on ``motif_tasks_per_call`` or ``null_engine``, on the smoke study's
pruned networks (the session's smoke run; only the motif work is redone here)."""

from __future__ import annotations

import pandas as pd

import mothlib.study.motif_stage as motif_stage
from mothlib.study import stages
from mothlib.study.cluster import Runner
from mothlib.study.profiles import get_profile
from mothlib.study.store import ArtifactStore


def test_grouped_batched_motif_tasks_give_the_smoke_runs_table(smoke_run, tmp_path, monkeypatch):
    # The smoke run scored one (network, level) pair per task with the numba engine; here up to
    # 3 pairs per task, their null chains run together by the torch engine (as on a GPU).
    assert get_profile("smoke")["motif_tasks_per_call"] == 1
    store = ArtifactStore("smoke", root=smoke_run.artifacts)
    settings = stages.stage_settings(
        get_profile("smoke", motif_tasks_per_call=3, null_engine="torch"), "motifs")
    real, sizes, engines = motif_stage.motif_zscores_many, [], set()

    def recorded(nets, **kwargs):
        sizes.append(len(nets))
        engines.add(kwargs["engine"])
        return real(nets, **kwargs)

    monkeypatch.setattr(motif_stage, "motif_zscores_many", recorded)
    work, scratch = tmp_path / "work", tmp_path / "scratch"
    work.mkdir()
    scratch.mkdir()
    motif_stage.compute_motif_table(settings, store, work, scratch, Runner(), progress=False)
    got = pd.read_parquet(work / "motifs.parquet")
    pd.testing.assert_frame_equal(got, pd.read_parquet(store.path("motifs.parquet")))
    assert engines == {"torch"}
    assert max(sizes) == 3 and sum(sizes) * got["motif"].nunique() == len(got)
