"""Networks: the batched ensemble of masked MLPs, iterative pruning with retraining, and reading
networks saved by users.

Modules: :mod:`~mothlib.networks.ensemble`, :mod:`~mothlib.networks.pruning` (mask rules and the
training of one level), :mod:`~mothlib.networks.netfile`. It knows nothing of motifs or the study
(the pruning stage's tables are read by :mod:`mothlib.study.pruning_stage`).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Module of this subpackage -> the public names it defines, re-exported here and imported on
#: first use (torch loads only when a name that needs it is used).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "ensemble": (
        "EnsembleMLP", "StackedAdam", "EarlyStopping", "train_round", "evaluate",
        "evaluate_accuracy", "network_seeds", "to_sequential",
    ),
    "pruning": (
        "PruningSettings", "prune_model", "magnitude_mask", "random_mask", "mark_selected",
        "mark_selected_by_accuracy",
    ),
    "netfile": ("Network", "read_network", "read_tensors"),
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
