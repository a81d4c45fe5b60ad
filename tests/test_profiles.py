"""Profiles are typed sections: overridable, validated, and split into per-stage cache keys."""

import pytest

from mothlib.study.profiles import PROFILES, SEED_SCHEDULE, get_profile
from mothlib.study.stages import STAGES, check_stage, stage_params


def test_seed_schedule_has_seventeen_prunes_then_the_unrecorded_one():
    # 18 recorded levels = dense + 17 prunes; the list holds the 17 recorded fractions
    # and the last prune (0.99) is applied but neither trained nor recorded.
    assert SEED_SCHEDULE[:8] == [0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85]
    assert SEED_SCHEDULE[8:] == pytest.approx([0.9 + 0.01 * k for k in range(10)], abs=1e-12)
    assert SEED_SCHEDULE[-1] == 0.99
    assert all(a < b for a, b in zip(SEED_SCHEDULE, SEED_SCHEDULE[1:]))


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_has_every_stage_field(name):
    profile = get_profile(name)
    assert profile["profile"] == name
    for stage, st in STAGES.items():
        missing = [s for s in st.sections if s not in profile.sections]
        assert not missing, f"{name} lacks {stage} sections {missing}"


def test_overrides_apply_and_do_not_leak():
    changed = get_profile("smoke", n_null=7, hidden_sizes=[3, 3, 3, 2])
    assert changed["n_null"] == 7 and list(changed["hidden_sizes"]) == [3, 3, 3, 2]
    with pytest.raises(AttributeError):  # settings are frozen: a profile cannot change under a run
        changed["schedule"].append(0.5)
    assert get_profile("smoke")["n_null"] == PROFILES["smoke"]["n_null"]
    assert list(get_profile("smoke")["schedule"]) == PROFILES["smoke"]["schedule"]


def test_unknown_profile_and_field_are_named():
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        get_profile("huge")
    with pytest.raises(ValueError, match="n_nul"):
        get_profile("smoke", n_nul=3)
    with pytest.raises(ValueError, match="unknown stage 'plots'"):
        stage_params(get_profile("smoke"), "plots")


def test_stage_params_change_only_with_their_own_fields():
    base = get_profile("smoke")
    more_nulls = get_profile("smoke", n_null=base["n_null"] + 1)
    assert stage_params(base, "data") == stage_params(more_nulls, "data")
    assert stage_params(base, "pruning") == stage_params(more_nulls, "pruning")
    assert stage_params(base, "motifs") != stage_params(more_nulls, "motifs")


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_makes_valid_settings(name):
    profile = get_profile(name)
    for stage in STAGES:
        check_stage(stage, profile)


def test_selection_and_run_fields_are_in_no_cache_key():
    base = get_profile("smoke")
    for field, value in [("loss_threshold", 0.2), ("networks_per_task", 1), ("train_threads", 2),
                         ("data_chunk_size", 17), ("null_chunk_size", 3), ("motif_tasks_per_call", 3),
                         ("null_engine", "numpy")]:
        other = get_profile("smoke", **{field: value})
        for stage in STAGES:
            assert stage_params(base, stage) == stage_params(other, stage), (field, stage)


def test_the_algorithm_version_is_part_of_the_key():
    assert all(stage_params(get_profile("smoke"), s)["version"] == STAGES[s].version for s in STAGES)
