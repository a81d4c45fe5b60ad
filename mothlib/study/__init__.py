"""The study: its profiles, its stages (run as Dask tasks), the artifact store and the findings.

Modules: :mod:`~mothlib.study.profiles`, :mod:`~mothlib.study.stages`, :mod:`~mothlib.study.store`,
:mod:`~mothlib.study.cluster`, :mod:`~mothlib.study.jobs`, :mod:`~mothlib.study.estimate`,
:mod:`~mothlib.study.data`, :mod:`~mothlib.study.digits`, :mod:`~mothlib.study.training_length`,
:mod:`~mothlib.study.findings`, :mod:`~mothlib.study.findings_record`,
:mod:`~mothlib.study.reference`, :mod:`~mothlib.study.warmup`.
"""

from __future__ import annotations

from mothlib.core.lazy import lazy_exports

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
    "warmup": ("warm_kernels",),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
