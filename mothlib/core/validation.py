"""Checks of scalar arguments: one integer check and one positive-number check for the package.

In the manner of scikit-learn's ``check_scalar``: each returns the value as a plain Python
``int`` or ``float`` and raises a ValueError whose message names the argument, the expected type
or range and the value received, e.g. ``"n_null: must be a non-negative integer, got -1"``.
Booleans are rejected (``True`` is an ``int`` to Python, never a count or a size here). Every
failure is a ValueError, as the package's argument checks have always raised.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Literal, overload

import numpy as np

__all__ = ["check_int", "check_positive"]


def _expected_int(min_value: int | None, allow_none: bool) -> str:
    if min_value is None:
        text = "an integer"
    elif min_value == 0:
        text = "a non-negative integer"
    elif min_value == 1:
        text = "a positive integer"
    else:
        text = f"an integer >= {min_value}"
    return text + " or None" if allow_none else text


@overload
def check_int(
    value: Any, name: str, *, min_value: int | None = None, allow_none: Literal[False] = False
) -> int: ...


@overload
def check_int(value: Any, name: str, *, min_value: int | None = None, allow_none: bool) -> int | None: ...


def check_int(value: Any, name: str, *, min_value: int | None = None, allow_none: bool = False) -> int | None:
    """Return ``value`` as an ``int`` if it is an integer (numpy integers too) of at least ``min_value``.

    Parameters
    ----------
    value : Any
        The value to check.
    name : str
        The argument's name, for the error message.
    min_value : int, optional
        Smallest accepted value (None: no bound).
    allow_none : bool
        Accept None (and return it).

    Returns
    -------
    int or None
        ``int(value)``, or None where ``value`` is None and ``allow_none``.

    Raises
    ------
    ValueError
        Naming ``name`` and the expected range, for a bool, a float, any other non-integer, or
        an integer below ``min_value``.
    """
    if value is None and allow_none:
        return None
    expected = _expected_int(min_value, allow_none)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: must be {expected}, got {type(value).__name__} {value!r}")
    if min_value is not None and value < min_value:
        raise ValueError(f"{name}: must be {expected}, got {value!r}")
    return int(value)


def check_positive(value: Any, name: str, *, finite: bool = True) -> float:
    """Return ``value`` as a ``float`` if it is a real number above 0 (and finite, by default).

    Parameters
    ----------
    value : Any
        The value to check: a Python or numpy integer or float (not a bool).
    name : str
        The argument's name, for the error message.
    finite : bool
        Reject infinity too (NaN is always rejected).

    Returns
    -------
    float
        ``float(value)``.

    Raises
    ------
    ValueError
        Naming ``name``, for a bool, a non-number, NaN, a number <= 0 or, where ``finite``,
        infinity.
    """
    expected = "a finite positive number" if finite else "a positive number"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: must be {expected}, got {type(value).__name__} {value!r}")
    x = float(value)
    if not x > 0 or (finite and not math.isfinite(x)):  # `not x > 0` also catches NaN
        raise ValueError(f"{name}: must be {expected}, got {value!r}")
    return x
