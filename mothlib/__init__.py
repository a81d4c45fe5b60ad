"""mothlib: the hawkmoth motif study (Zahn, Daniel & Kutz 2024) as a reusable library.

What a user calls from their own code is here: ``mothlib.count_motifs(model)``,
``mothlib.motif_zscores(model, n_null=1000, seed=0)``, ``mothlib.simulate(...)``,
``mothlib.load_pruning_table(mothlib.ArtifactStore("quick"))`` and so on (``__all__``). Each name is
imported on first use, so ``import mothlib`` loads neither torch nor numba nor Dask. The
subpackages hold the rest, one concern each (imports run one way, top to bottom):

* :mod:`mothlib.report`: charts, widgets and the book;
* :mod:`mothlib.study`: profiles, stages, the artifact store, the findings;
* :mod:`mothlib.networks`, :mod:`mothlib.motifs`, :mod:`mothlib.simulation`: the methods;
* :mod:`mothlib.core`: seeds, random streams, masks, file reads.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Module -> the names this package re-exports from it: the one table to edit when a name moves.
_EXPORTS: dict[str, tuple[str, ...]] = {
    # Simulating the flight model.
    "mothlib.simulation.simulator": ("simulate", "IntegrationError"),
    "mothlib.simulation.flight_model": ("MothParams", "FlightModel"),
    # Motifs of any layered network (masks or a torch module).
    "mothlib.motifs.counts": (
        "MOTIFS", "count_motifs", "count_batch", "chain_counts", "remove_ineffectual",
    ),
    "mothlib.motifs.nulls": ("NULL_MODELS", "sample_null", "sample_nulls"),
    "mothlib.motifs.significance": ("motif_zscores", "motif_zscores_many", "zscore_table"),
    # Networks: users' files, the study's ensembles and the pruning stage's tables.
    "mothlib.networks.netfile": ("read_network", "Network"),
    "mothlib.networks.ensemble": ("EnsembleMLP",),
    # The study: profiles, stages, the stored tables and networks, findings.
    "mothlib.study.profiles": ("PROFILES", "get_profile"),
    "mothlib.study.stages": ("run_all",),
    "mothlib.study.store": ("ArtifactStore", "load"),
    "mothlib.study.pruning_stage": (
        "load_pruning_table", "load_masks", "load_selected_weights", "load_network",
    ),
    "mothlib.study.motif_stage": ("load_motif_table",),
    "mothlib.study.data": ("load_splits",),
    "mothlib.study.training_length": ("load_training_length",),
    "mothlib.study.findings": ("study_findings", "findings_table"),
}

__all__ = [name for names in _EXPORTS.values() for name in names]
#: Public name -> the module that defines it.
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
#: Subpackages, also imported on first use (``mothlib.motifs.nulls`` after ``import mothlib``).
_SUBPACKAGES = ("core", "simulation", "networks", "motifs", "study", "report", "cli")


def __getattr__(name: str) -> Any:
    """Import a public name's module (or a subpackage) on first use (PEP 562)."""
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups find it without this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBPACKAGES))
