"""Settings are declared once and cache keys are derived from them.

Key completeness: for every declared field of every task's profile, changing its value changes
the cache key of exactly the stages that read it (its section is one of the stage's, and the
field changes results); run-only and filter fields change no key. A stage's work sees only its
own sections, and what its settings builder reads is exactly its key's fields plus run fields.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mothlib.core.settings import Settings, check_value, setting
from mothlib.study import stages
from mothlib.study.profiles import PROFILES, Profile, as_profile, field_names, get_profile
from mothlib.study.stages import STAGES, StageSettings, stage_params, stage_settings

#: A different valid value for fields whose generic change would be out of range.
_SPECIAL: dict[str, Any] = {
    "split": (0.6, 0.2, 0.2),
    "schedule": (0.15, 0.45, 0.75),
    "length_schedule": (0.25, 0.45),
    "strategies": ("magnitude",),
    "null_models": ("layer-edges",),
    "length_factors": (1.0, 3.0),
    "device": "cuda",
    "null_engine": "numpy",
    "loss_threshold": 0.01,
    "accuracy_margin": 0.01,
    "max_batches_per_round": 7,
    "lesion_fractions": (0.05, 0.3),
    "lesion_motifs": ("bifan",),
    "activation_fractions": (0.45,),
}


def _changed(name: str, value: Any) -> Any:
    if name in _SPECIAL:
        assert _SPECIAL[name] != value, name
        return _SPECIAL[name]
    if value is None:
        return 3
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 1.5
    if isinstance(value, tuple) and value and isinstance(value[0], int):
        return (value[0] + 1, *value[1:])
    raise AssertionError(f"no changed value for {name}={value!r}")


def _profiles() -> list[str]:
    return ["smoke", "digits_smoke"]


@pytest.mark.parametrize("profile_name", _profiles())
def test_each_field_changes_the_key_of_exactly_the_stages_that_read_it(profile_name):
    base = get_profile(profile_name)
    names = field_names(base.task)
    checked = 0
    for flat, (section, field) in names.items():
        if flat == "task":  # a different task has different sections: tested below
            continue
        cls = type(getattr(base, section))
        other = base.replace(**{flat: _changed(flat, base[flat])})
        assert other[flat] != base[flat]
        for stage, st in STAGES.items():
            reads = section in st.sections and cls.role(field) == "result"
            moved = stage_params(base, stage) != stage_params(other, stage)
            assert moved == reads, (
                f"{flat} ({cls.role(field)} field of section {section!r}) "
                f"{'changed' if moved else 'did not change'} the key of stage {stage!r}"
            )
        checked += 1
    assert checked == len(names) - 1


def test_the_task_is_in_every_key():
    moth, digits = get_profile("smoke"), get_profile("digits_smoke")
    for stage in ("data", "pruning", "motifs"):
        assert stage_params(moth, stage)["task"] == "moth"
        assert stage_params(digits, stage)["task"] == "digits"


def test_run_and_filter_fields_are_declared_and_in_no_key():
    base = get_profile("smoke")
    keys = {stage: stage_params(base, stage) for stage in STAGES}
    for flat, (section, field) in field_names("moth").items():
        role = type(getattr(base, section)).role(field)
        assert role in ("result", "run", "filter")
        if role != "result":
            assert not any(flat in key for key in keys.values()), flat
    for flat in ("device", "train_threads", "networks_per_task", "null_chunk_size",
                 "null_engine", "motif_tasks_per_call", "data_chunk_size", "length_networks_per_task"):
        section, field = field_names("moth")[flat]
        assert type(getattr(base, section)).role(field) == "run", flat
    assert type(base.selection).role("loss_threshold") == "filter"


def test_a_stage_sees_only_its_own_sections():
    s = stage_settings(get_profile("smoke"), "motifs")
    assert s.motifs.n_null == PROFILES["smoke"]["n_null"]
    with pytest.raises(AttributeError, match="does not read settings section 'ensemble'"):
        s.ensemble  # noqa: B018


class _Recording:
    """A section that records which of its fields are read."""

    def __init__(self, section: Settings, log: set[str]) -> None:
        self._section, self._log = section, log

    def __getattr__(self, name: str) -> Any:
        cls = type(self._section)
        if name in cls.declared():
            self._log.add(cls.flat_name(name))
            return getattr(self._section, name)
        attr = getattr(cls, name)  # a property or method (stopping, n_nulls) reads fields via self
        if isinstance(attr, property):
            return attr.fget(self)  # type: ignore[misc]
        if callable(attr):
            return lambda *a, **k: attr(self, *a, **k)
        return getattr(self._section, name)


def _motif_reads(settings: StageSettings, tmp_path: Any, monkeypatch: Any) -> None:
    """Run the motif stage's work on two tiny networks of one level (a faked pruning stage)."""
    import numpy as np
    import pandas as pd

    from mothlib.study import motif_stage

    rng = np.random.default_rng(0)
    sizes = [4, 5, 3]
    wm = [rng.random((2, o, i)) < 0.7 for i, o in zip(sizes[:-1], sizes[1:])]
    bm = [rng.random((2, o)) < 0.7 for o in sizes[1:]]
    table = pd.DataFrame(dict(network=[0, 1, 0, 1], strategy="magnitude", level=[0, 0, 1, 1],
                              fraction_pruned=[0.0, 0.0, 0.3, 0.3], val_loss=1e-4, val_accuracy=0.9))
    monkeypatch.setattr(motif_stage, "load_pruning_table", lambda store: table)
    monkeypatch.setattr(motif_stage, "_load_masks", lambda store, strategy, level: (wm, bm))
    (tmp_path / "work").mkdir()
    motif_stage.compute_motif_table(settings, None, tmp_path / "work", tmp_path / "scratch", progress=False)
    assert (tmp_path / "work" / "motifs.parquet").exists()


@pytest.mark.parametrize("profile_name", _profiles())
@pytest.mark.parametrize("stage", ["pruning", "motifs", "training_length"])
def test_what_a_stage_reads_is_its_key_and_run_fields(profile_name, stage, tmp_path, monkeypatch):
    profile = get_profile(profile_name, n_null=3, n_null_degree=3)
    if stage not in stages.default_stages(profile):
        pytest.skip(f"{profile.task} runs no {stage} stage")
    plain = stage_settings(profile, stage)
    log: set[str] = set()
    recording = StageSettings(stage, {
        name: _Recording(getattr(plain, name), log) for name in STAGES[stage].sections  # type: ignore[misc]
    })
    # The study section's task is read through a property of StageSettings.
    log.add("task")
    if stage == "motifs":  # its work reads the sections itself
        _motif_reads(recording, tmp_path, monkeypatch)
    else:  # the typed settings the stage's work takes are built from the sections
        {"pruning": stages.pruning_settings, "training_length": stages.length_plan}[stage](recording)
    key = set(stage_params(profile, stage)) - {"version"}
    allowed = set(key)
    for name in STAGES[stage].sections:
        cls = type(getattr(plain, name))
        allowed |= {cls.flat_name(f) for f in cls.declared() if cls.role(f) == "run"}
    assert log <= allowed, f"{stage} reads {sorted(log - allowed)} outside its key and run fields"
    assert key <= log, f"{stage}'s key holds {sorted(key - log)}, which its work never reads"


def test_wrong_types_and_unknown_names_are_one_line_errors():
    with pytest.raises(ValueError, match=r"^n_null: expected int, got 'abc' \(str\)$"):
        get_profile("smoke", n_null="abc")
    with pytest.raises(ValueError, match=r"^hidden_sizes: expected list of int"):
        get_profile("smoke", hidden_sizes=[1.5, 2])
    with pytest.raises(ValueError, match=r"^n_nul: unknown profile field for a moth profile"):
        get_profile("smoke", n_nul=3)
    with pytest.raises(ValueError, match=r"^n_samples: unknown profile field for a digits profile"):
        get_profile("digits_smoke", n_samples=10)
    with pytest.raises(ValueError, match=r"^null_engine: expected one of"):
        get_profile("smoke", null_engine="gpu")
    with pytest.raises(ValueError, match=r"^device: expected 'cpu', 'cuda'"):
        get_profile("smoke", device="tpu")
    with pytest.raises(ValueError, match=r"^loss_threshold: 0.9 is above max_loss_threshold"):
        get_profile("smoke", loss_threshold=0.9)


def test_dotted_and_flat_names_are_the_same_setting():
    assert get_profile("smoke", **{"motifs.n_null": 5}) == get_profile("smoke", n_null=5)
    assert get_profile("smoke", **{"length.n_null": 5})["length_n_null"] == 5


def test_a_profile_round_trips_through_a_mapping():
    p = get_profile("smoke", n_null=5)
    assert isinstance(p, Profile)
    assert as_profile({**p}) == p
    assert as_profile({**p, "n_null": 6})["n_null"] == 6


def test_check_value_coerces_and_names_the_field():
    assert check_value("x", [1, 2], tuple[float, ...]) == (1.0, 2.0)
    assert check_value("x", None, int | None) is None
    assert check_value("x", 3, int | dict[str, int] | None) == 3
    assert check_value("x", {"a": 1}, int | dict[str, int] | None) == {"a": 1}
    for value, tp in [(True, int), (1.5, int), ("1", float), (float("nan"), float), ([1], int)]:
        with pytest.raises(ValueError, match="^x: expected"):
            check_value("x", value, tp)


def test_setting_rejects_an_unknown_role_and_freezes_lists():
    with pytest.raises(ValueError, match="role"):
        setting(1, "doc", role="cache")

    @dataclasses.dataclass(frozen=True)
    class Demo(Settings):
        widths: tuple[int, ...] = setting([1, 2], "widths")

    assert Demo().widths == (1, 2)
