"""Building blocks every other subpackage uses: seeds and random streams, connectivity masks,
thread-safe ``.npy``/``.npz`` reads and table checks. Imports nothing else of mothlib.

Modules: :mod:`~mothlib.core.seeds`, :mod:`~mothlib.core.streams`, :mod:`~mothlib.core.masks`,
:mod:`~mothlib.core.npio`, :mod:`~mothlib.core.tables`.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Module of this subpackage -> the public names it defines, re-exported here and imported on
#: first use.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "seeds": ("SeedLike", "check_seed", "as_seed_sequence", "stream"),
    "masks": ("Masks", "as_masks", "binary_mask", "module_masks", "neurons_with_edges"),
    "npio": ("load_npy", "load_npz"),
    "tables": ("check_columns",),
}

__all__ = [name for names in _EXPORTS.values() for name in names]
#: Public name -> the module of this subpackage that defines it.
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value  # later lookups find it without this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
