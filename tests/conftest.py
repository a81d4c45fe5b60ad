"""Shared fixtures: synthetic study tables with known answers, and one smoke run of the notebooks.

The smoke run (papermill over every notebook with the ``smoke`` profile, in a tmp artifact
root) is session-scoped so that the notebook tests and the book test share it. Under
pytest-xdist (``make test`` runs two workers) the first worker that needs it makes it in the
folder the workers share, under a file lock, and the others read it: one smoke run per session.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Compile the numba kernels once, before pytest-xdist starts its workers (the controller
    only): in a fresh checkout every worker, Dask worker and notebook kernel would otherwise
    compile them itself (benchmarks/README.md)."""
    if not hasattr(config, "workerinput"):
        from mothlib.study.warmup import warm_kernels

        warm_kernels()


FRACTIONS = [0.0, 0.15, 0.35, 0.55, 0.75, 0.85, 0.9, 0.92, 0.94]
MOTIFS = [
    "diverging2", "converging2", "chain2", "diverging3",
    "converging3", "chain3", "bifan", "biparallel",
]


def synthetic_tables(
    n_networks: int = 6,
    *,
    converge: bool = True,
    rising: bool = True,
    level_off: bool = True,
    chains_negative: bool = True,
    selected_level: int = 7,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pruning and motif tables with the contract's columns and known behaviour.

    The last network never gets under the threshold (no selected level). ``converge`` makes the
    spread of z across networks shrink with sparsity; ``rising`` makes converging/biparallel z
    rise linearly; ``level_off`` makes diverging2/bifan saturate; ``chains_negative`` makes chain
    z fall below -2.
    """
    rng = np.random.default_rng(seed)
    prune_rows, motif_rows = [], []
    for strategy in ("magnitude", "random"):
        for net in range(n_networks):
            has_level = net < n_networks - 1
            for level, f in enumerate(FRACTIONS):
                val = 1e-4 * (1 + level) if has_level else 1.0
                if has_level and level > selected_level:
                    val = 1.0
                prune_rows.append(dict(
                    network=net, strategy=strategy, level=level, fraction_pruned=f,
                    train_loss=val, val_loss=val, test_loss=val,
                    selected=bool(has_level and level == selected_level),
                ))
                for null_model in ("layer-edges", "degree-preserving"):
                    noise_scale = 3.0 * (1.0 - f) + 0.05 if converge else 0.5 + 3.0 * f
                    for m in MOTIFS:
                        if m in ("converging2", "converging3", "biparallel"):
                            base = 30 * f + 1 if rising else 5 * np.cos(9 * f)
                        elif m in ("diverging2", "bifan"):
                            base = 20 * (1 - np.exp(-20 * f)) if level_off else 40 * f**4
                        elif m.startswith("chain"):
                            base = -10 * f - 1 if chains_negative else 3.0
                        else:
                            base = 5 + 10 * f
                        # Positive multiplicative jitter keeps each network's own curve monotone.
                        z = base * (1 + noise_scale * 0.05 * rng.standard_normal()) + (
                            noise_scale * rng.standard_normal()
                        )
                        motif_rows.append(dict(
                            network=net, level=level, fraction_pruned=f, strategy=strategy,
                            null_model=null_model, n_null=20, motif=m, count=int(100 * (1 - f)),
                            null_mean=50.0, null_std=2.0, z=z, p_value=0.05, sp=np.nan, z_note="",
                        ))
    pruning = pd.DataFrame(prune_rows)
    motifs = pd.DataFrame(motif_rows)
    # Significance profile: z normalised to unit length within each order.
    order = motifs["motif"].str[-1].where(~motifs["motif"].isin(["bifan", "biparallel"]), "3")
    keys = ["network", "level", "strategy", "null_model", order]
    norm = motifs.groupby(keys)["z"].transform(lambda z: np.sqrt((z**2).sum()))
    motifs["sp"] = motifs["z"] / norm
    return pruning, motifs


@pytest.fixture
def tables():
    return synthetic_tables()


# -- one smoke run of every notebook, shared by the notebook and book tests ------------------

@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, request):
    """Run the smoke study as make book does (stages and chapters side by side on a local
    cluster of two workers, papermill in book mode) in a tmp tree."""
    import json
    import shutil
    from types import SimpleNamespace

    from filelock import FileLock

    from mothlib.report import book as pipeline

    def result(root: Path, seconds: dict) -> SimpleNamespace:
        executed = root / "executed"
        return SimpleNamespace(root=root, artifacts=root / "artifacts", executed=executed,
                               paths=[executed / p.name for p in pipeline.list_notebooks()],
                               stage_seconds=seconds)

    def run(root: Path) -> dict:
        return pipeline.execute_study("smoke", artifacts_root=root / "artifacts",
                                      output_dir=root / "executed", progress=False,
                                      scheduler="local", n_workers=2)

    if not hasattr(request.config, "workerinput"):  # one process: no sharing needed
        root = tmp_path_factory.mktemp("smoke-run")
        return result(root, run(root))
    # pytest-xdist: the workers' base temp folders share a parent.
    root = tmp_path_factory.getbasetemp().parent / "smoke-run"
    done = root / "stage_seconds.json"
    with FileLock(str(root) + ".lock"):
        if not done.exists():
            shutil.rmtree(root, ignore_errors=True)  # a half-made run of a crashed worker
            root.mkdir()
            seconds = run(root)
            done.write_text(json.dumps({k: list(v) for k, v in seconds.items()}))
    return result(root, {k: tuple(v) for k, v in json.loads(done.read_text()).items()})


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a test module's torch work on one thread, restoring the setting afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
