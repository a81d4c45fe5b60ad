"""Motifs of layered feed-forward networks: counts, null models and significance (z-scores).

Modules: :mod:`~mothlib.motifs.counts`, :mod:`~mothlib.motifs.nulls` (and its torch engine
:mod:`~mothlib.motifs.nulls_torch`), :mod:`~mothlib.motifs.significance` (z-scores and p-values),
:mod:`~mothlib.motifs.participation` (motif instances per edge and node) and
:mod:`~mothlib.motifs.degrees` (degree heterogeneity). Modules named ``_x`` are this
subpackage's own kernels. It knows nothing of the networks' training or of the study.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Module of this subpackage -> the public names it defines, re-exported here and imported on
#: first use (torch loads only when a name that needs it is used).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "counts": (
        "MOTIFS", "MOTIF_ORDER", "CHAIN_DEFINITIONS", "count_motifs", "count_batch", "chain_counts",
        "remove_ineffectual", "density",
    ),
    "nulls": ("NULL_MODELS", "sample_null", "sample_nulls"),
    "participation": ("motif_participation", "edge_participation"),
    "significance": ("null_moments", "zscore_table", "motif_zscores", "motif_zscores_many"),
    "degrees": ("degree_cv", "degree_heterogeneity"),
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
