"""mothlib.core.validation: the package's integer and positive-number checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mothlib.core.validation import check_int, check_positive


@pytest.mark.parametrize("good", [0, 7, np.int64(3), np.uint32(2**32 - 1)])
def test_check_int_accepts_python_and_numpy_ints(good):
    out = check_int(good, "n", min_value=0)
    assert out == good and type(out) is int


@pytest.mark.parametrize("bad, message", [
    (True, "got bool True"), (np.bool_(False), "got bool"), (1.0, "got float 1.0"), ("3", "got str '3'"),
    (None, "got NoneType None"), (np.array([1]), "got ndarray"),
])
def test_check_int_rejects_non_integers_naming_the_field(bad, message):
    with pytest.raises(ValueError, match=f"^chunk_size: must be a positive integer, {message}"):
        check_int(bad, "chunk_size", min_value=1)


@pytest.mark.parametrize("min_value, expected", [
    (0, "a non-negative integer"), (1, "a positive integer"), (10, r"an integer >= 10"),
])
def test_check_int_states_the_range(min_value, expected):
    with pytest.raises(ValueError, match=f"^n: must be {expected}, got -1$"):
        check_int(-1, "n", min_value=min_value)


def test_check_int_none_only_where_allowed():
    assert check_int(None, "n_jobs", min_value=1, allow_none=True) is None
    assert check_int(-5, "x") == -5  # no bound
    with pytest.raises(ValueError, match="^n_jobs: must be a positive integer or None, got 0$"):
        check_int(0, "n_jobs", min_value=1, allow_none=True)


@pytest.mark.parametrize("good", [1, 0.5, np.float32(2.0), np.int64(4), 1e-300])
def test_check_positive_returns_a_float(good):
    out = check_positive(good, "scale")
    assert out == float(good) and type(out) is float


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, True, "1.0", None])
def test_check_positive_rejects_naming_the_field(bad):
    with pytest.raises(ValueError, match="^scale: must be a finite positive number, got"):
        check_positive(bad, "scale")


def test_check_positive_may_allow_infinity():
    assert check_positive(math.inf, "ratio", finite=False) == math.inf
    with pytest.raises(ValueError, match="^ratio: must be a positive number, got nan"):
        check_positive(math.nan, "ratio", finite=False)
