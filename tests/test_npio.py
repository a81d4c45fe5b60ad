"""Thread-safe array reads: numpy's header parsing always runs under mothlib's lock."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

import mothlib
from mothlib.core import npio as _npio
from mothlib.study import pruning_stage
from mothlib.study.store import _load_path


@pytest.fixture
def lock_seen(monkeypatch):
    """Record, for each header numpy parses, whether the read lock was held."""
    seen: list[bool] = []
    real = ast.literal_eval

    def spy(text):
        seen.append(_npio.HEADER_LOCK.locked())
        return real(text)

    monkeypatch.setattr(ast, "literal_eval", spy)
    return seen


def test_npz_and_npy_round_trip_and_parse_under_the_lock(tmp_path: Path, lock_seen) -> None:
    arrays = {"a": np.arange(12, dtype=np.int64).reshape(3, 4), "b": np.array([True, False])}
    np.savez(tmp_path / "x.npz", **arrays)
    np.save(tmp_path / "y.npy", arrays["a"])

    for loaded in (_npio.load_npz(tmp_path / "x.npz"), pruning_stage.load_npz(tmp_path / "x.npz")):
        assert list(loaded) == ["a", "b"]
        for k in arrays:
            np.testing.assert_array_equal(loaded[k], arrays[k])
            assert loaded[k].dtype == arrays[k].dtype
    mapped = _npio.load_npy(tmp_path / "y.npy", mmap_mode="r")
    assert isinstance(mapped, np.memmap)
    np.testing.assert_array_equal(mapped, arrays["a"])

    assert len(lock_seen) == 5 and all(lock_seen)
    assert not _npio.HEADER_LOCK.locked()


def test_artifact_store_reads_npz_under_the_lock(tmp_path: Path, lock_seen) -> None:
    np.savez(tmp_path / "m.npz", w=np.ones((2, 2)))
    out = _load_path(tmp_path / "m.npz")
    np.testing.assert_array_equal(out["w"], np.ones((2, 2)))
    assert lock_seen == [True]


def test_no_module_calls_np_load_directly() -> None:
    root = Path(mothlib.__file__).parent
    offenders = [
        p.name for p in root.glob("*.py")
        if p.name != "_npio.py" and re.search(r"\bnp\.load\(|numpy\.load\(", p.read_text())
    ]
    assert offenders == [], f"read arrays through mothlib.core.npio, not np.load: {offenders}"
