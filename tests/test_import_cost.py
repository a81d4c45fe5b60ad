"""A chapter's import cell loads no heavy library it does not use: the chapters import the study's
modules to read tables and draw charts, and each of the book's fresh kernels would pay seconds
for torch, numba and scipy.stats (altair, which draws the charts, is the one heavy import left).

``mothlib.study.open_questions`` and ``mothlib.study.training_length`` (chapters 9 and 10) are
left out: they import torch, which those chapters load anyway when their stages' settings are
built (the pruning settings' early-stopping rule lives in :mod:`mothlib.networks.ensemble`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The mothlib modules the chapters' import cells name (chapters 9 and 10: see above).
CHAPTER_MODULES = (
    "mothlib.report.glued", "mothlib.report.plots", "mothlib.report.tables", "mothlib.report.book",
    "mothlib.report.threshold", "mothlib.report.widgets", "mothlib.report.length_plots",
    "mothlib.report.task_plots", "mothlib.study.reference", "mothlib.study.findings",
    "mothlib.study.stages", "mothlib.study.store", "mothlib.study.data", "mothlib.study.profiles",
    "mothlib.study.pruning_stage", "mothlib.study.motif_stage", "mothlib.motifs.counts",
    "mothlib.simulation.samples", "mothlib.simulation.simulator",
)
#: Seconds of import each, loaded by the functions that compute with them.
HEAVY = ("torch", "numba", "scipy", "sklearn", "dask", "distributed", "papermill")


def test_chapter_imports_and_profile_load_nothing_heavy():
    # The import cell also builds the profile (its settings checks import their modules).
    code = "\n".join([
        "import importlib, sys",
        f"for name in {CHAPTER_MODULES!r}:",
        "    importlib.import_module(name)",
        "from mothlib.report.book import notebook_profile",
        "notebook_profile('quick', {'n_networks': 2}, seed=0)",
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))",
    ])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                            cwd=REPO, timeout=300, env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [], f"a chapter's imports load {result.stdout.strip()}"
