"""Building blocks every other subpackage uses: seeds and random streams, connectivity masks,
thread-safe ``.npy``/``.npz`` reads and table checks. Imports nothing else of mothlib.

Modules: :mod:`~mothlib.core.seeds`, :mod:`~mothlib.core.streams`, :mod:`~mothlib.core.masks`,
:mod:`~mothlib.core.npio`, :mod:`~mothlib.core.tables`.
"""

from __future__ import annotations

from mothlib.core.lazy import lazy_exports

#: Module of this subpackage -> the public names it defines, re-exported here and imported on
#: first use.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "seeds": ("SeedLike", "check_seed", "as_seed_sequence", "stream"),
    "masks": ("Masks", "as_masks", "binary_mask", "module_masks", "neurons_with_edges"),
    "npio": ("load_npy", "load_npz"),
    "tables": ("check_columns",),
    "lazy": ("lazy_exports",),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
