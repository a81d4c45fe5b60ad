"""Motifs of layered feed-forward networks: counts, null models and significance (z-scores).

Modules: :mod:`~mothlib.motifs.counts`, :mod:`~mothlib.motifs.nulls` (and its torch engine
:mod:`~mothlib.motifs.nulls_torch`), :mod:`~mothlib.motifs.significance` (z-scores and p-values),
:mod:`~mothlib.motifs.participation` (motif instances per edge and node) and
:mod:`~mothlib.motifs.degrees` (degree heterogeneity). Modules named ``_x`` are this
subpackage's own kernels. It knows nothing of the networks' training or of the study.
"""

from __future__ import annotations

from mothlib.core.lazy import lazy_exports

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

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
