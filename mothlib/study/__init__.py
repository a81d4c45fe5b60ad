"""The study: its profiles, its stages (run as Dask tasks), the artifact store and the findings.

Modules: :mod:`~mothlib.study.profiles`, :mod:`~mothlib.study.stages`, :mod:`~mothlib.study.store`,
:mod:`~mothlib.study.cluster`, :mod:`~mothlib.study.jobs`, :mod:`~mothlib.study.estimate`,
:mod:`~mothlib.study.data`, :mod:`~mothlib.study.digits`, :mod:`~mothlib.study.training_length`,
:mod:`~mothlib.study.findings`, :mod:`~mothlib.study.reference`.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Module of this subpackage -> the public names it defines, re-exported here and imported on
#: first use (the stages import torch and Dask; the store and the profiles need neither).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "profiles": ("PROFILES", "Profile", "get_profile"),
    "settings": ("SEED_SCHEDULE",),
    "tasks": ("TASKS", "get_task"),
    "stages": ("STAGES", "run", "run_all", "is_current", "verify", "stage_settings", "stage_params"),
    "store": ("ArtifactStore", "load", "default_root"),
    "cluster": ("Runner", "open_runner"),
    "estimate": ("estimate_profile",),
    "data": ("load_splits",),
    "pruning_stage": ("load_pruning_table", "load_masks", "load_weights", "load_selected_weights", "load_network"),
    "motif_stage": ("load_motif_table",),
    "training_length": ("load_training_length",),
    "findings": ("study_findings", "findings_table"),
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
