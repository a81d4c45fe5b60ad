"""Typed settings: frozen dataclasses whose fields say whether they change results.

A field is declared once with :func:`setting`: its default, a one-line doc, and its role.

* ``"result"`` fields change what a computation produces; they make up its cache key
  (:meth:`Settings.result_values`), so a key cannot forget one.
* ``"run"`` fields only say how to run (device, threads, chunk sizes, engines, shards); no key
  holds them, because results do not depend on them.
* ``"filter"`` fields choose among stored results (a selection threshold); no key holds them
  either, and no computation reads them.

Values are checked against the field's annotation in one place (:meth:`Settings.__post_init__`),
so a wrong type is a one-line error that names the field and the type it expects, wherever the
value came from (a profile, ``--set``, papermill ``-p``). The shape follows OpenLTH's hparams
dataclasses: the name of a run is derived from its settings, never kept by hand.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

__all__ = ["ROLES", "setting", "Settings", "check_value", "describe_type"]

#: What a field is for: changes results, says how to run, or filters stored results.
ROLES: tuple[str, ...] = ("result", "run", "filter")


def setting(default: Any, doc: str, *, role: str = "result") -> Any:
    """Declare one field of a :class:`Settings` dataclass.

    Parameters
    ----------
    default : object
        The default value (lists are stored as tuples, so they can be the default of a frozen
        field).
    doc : str
        One line: what the field means, with its unit.
    role : {"result", "run", "filter"}
        Whether it changes results (and so the cache key), only how they are computed, or
        which stored results are read.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {list(ROLES)}, got {role!r}")
    if isinstance(default, list):
        default = tuple(default)
    if isinstance(default, dict):
        frozen = types.MappingProxyType(dict(default))
        return dataclasses.field(default_factory=lambda: dict(frozen), metadata={"doc": doc, "role": role})
    return dataclasses.field(default=default, metadata={"doc": doc, "role": role})


def describe_type(tp: Any) -> str:
    """A readable name of a field's annotation, e.g. ``int``, ``list of float``, ``int or None``."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (tuple, list):
        inner = args[0] if args else Any
        return f"list of {describe_type(inner)}"
    if origin is dict:
        return f"dict of {describe_type(args[0])} to {describe_type(args[1])}" if args else "dict"
    if tp is type(None):
        return "None"
    if tp is Any:
        return "any value"
    return getattr(tp, "__name__", str(tp))


class _Mismatch(Exception):
    pass


def _coerce(value: Any, tp: Any) -> Any:
    """``value`` as annotation ``tp`` wants it (lists as tuples, ints as floats), or _Mismatch."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if origin in (Union, types.UnionType):
        # None first, then exact types before coercions (an int stays an int in int | float).
        for arg in sorted(args, key=lambda a: (a is not type(None), get_origin(a) is not None)):
            try:
                return _coerce(value, arg)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        if value in args and not isinstance(value, bool):
            return value
        raise _Mismatch
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        kt, vt = args or (Any, Any)
        return {_coerce(k, kt): _coerce(v, vt) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, bool):
            raise _Mismatch
        if isinstance(value, int):
            return int(value)
        if hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu":
            return int(value)
        raise _Mismatch
    if tp is float:
        if isinstance(value, bool):
            raise _Mismatch
        if isinstance(value, (int, float)) or (hasattr(value, "dtype") and value.dtype.kind in "iuf"):
            out = float(value)
            if math.isnan(out):
                raise _Mismatch
            return out
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise _Mismatch
    return value


def check_value(name: str, value: Any, tp: Any) -> Any:
    """Return ``value`` coerced to annotation ``tp``.

    Raises
    ------
    ValueError
        ``"<name>: expected <type>, got <value> (<type name>)"``.
    """
    try:
        return _coerce(value, tp)
    except _Mismatch:
        raise ValueError(
            f"{name}: expected {describe_type(tp)}, got {value!r} ({type(value).__name__})"
        ) from None


class Settings:
    """Base of the frozen settings dataclasses: typed fields with roles, checked on creation.

    Subclasses are ``@dataclass(frozen=True)`` classes whose fields are made with
    :func:`setting`; they may add range checks in :meth:`validate`.
    """

    #: Short name of the section (``profile.<section>``).
    section: ClassVar[str] = ""
    #: Prefix of the section's flat names (``length_`` for ``length.n_null`` -> ``length_n_null``).
    prefix: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = check_value(self.flat_name(f.name), getattr(self, f.name), hints[f.name])
            object.__setattr__(self, f.name, value)
        self.validate()

    def validate(self) -> None:
        """Range checks beyond the types (ValueError naming the field)."""

    @classmethod
    def flat_name(cls, field: str) -> str:
        """The field's name in a profile, ``--set`` and papermill ``-p``."""
        return cls.prefix + field

    @classmethod
    def declared(cls) -> dict[str, dataclasses.Field]:
        """Field name -> its dataclass field (role and doc in ``metadata``)."""
        return {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def role(cls, field: str) -> str:
        return cls.declared()[field].metadata.get("role", "result")

    @classmethod
    def doc(cls, field: str) -> str:
        return cls.declared()[field].metadata.get("doc", "")

    @classmethod
    def field_type(cls, field: str) -> Any:
        return typing.get_type_hints(cls)[field]

    def result_values(self) -> dict[str, Any]:
        """The fields that change results, by name: what a cache key is made of."""
        return {name: getattr(self, name) for name in self.declared() if self.role(name) == "result"}

    def values(self) -> dict[str, Any]:
        """Every field by name."""
        return {name: getattr(self, name) for name in self.declared()}
