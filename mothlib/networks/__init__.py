"""Networks: the batched ensemble of masked MLPs, iterative pruning with retraining, and reading
networks saved by users.

Modules: :mod:`~mothlib.networks.ensemble`, :mod:`~mothlib.networks.pruning` (mask rules and the
training of one level), :mod:`~mothlib.networks.netfile`. It knows nothing of motifs or the study
(the pruning stage's tables are read by :mod:`mothlib.study.pruning_stage`).
"""

from __future__ import annotations

from mothlib.core.lazy import lazy_exports

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

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
