"""Lazy re-exports for a package's ``__init__`` (PEP 562): names load with their module on first use.

A subpackage lists, per module, the public names it re-exports; :func:`lazy_exports` returns the
``__getattr__``, ``__dir__`` and ``__all__`` the package binds, so ``import mothlib.motifs`` loads
neither torch nor numba until a name that needs them is used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` of ``package`` re-exporting ``exports``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping
        Module of the package (relative name, e.g. ``"counts"``) -> the names it defines that the
        package re-exports.
    """
    where = {name: module for module, names in exports.items() for name in names}
    names = list(where)

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        vars(sys.modules[package])[name] = value  # later lookups find it without this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__, names
