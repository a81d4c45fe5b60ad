"""The CUDA engine (mothlib.motifs._mcmc_cuda): the numba engine's samples, checked in numba's CUDA
simulator; a clear error where there is no GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mothlib.motifs import _mcmc_cuda
from mothlib.motifs.nulls import sample_null
from mothlib.motifs.significance import motif_zscores

REPO = Path(__file__).resolve().parents[1]
SIM_CHECK = Path(__file__).resolve().parent / "_cuda_sim_check.py"


@pytest.fixture(scope="module")
def simulated() -> dict[str, str]:
    """Every check of the simulator script, run once in a fresh process: its output per group."""
    # A fresh process: NUMBA_ENABLE_CUDASIM only works if set before numba.cuda is imported,
    # and this process may have imported it already.
    env = {**os.environ, "PYTHONPATH": str(REPO), "NUMBA_ENABLE_CUDASIM": "1"}
    res = subprocess.run([sys.executable, str(SIM_CHECK)], capture_output=True, text=True,
                         env=env, timeout=300, cwd=REPO)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert res.stdout.rstrip().endswith("ok"), res.stdout
    parts = res.stdout.split("== ")[1:]
    return {p.split("\n", 1)[0]: p for p in parts}


@pytest.mark.parametrize("group", ["swaps", "moves"])
def test_cuda_kernels_equal_numba_kernels_in_the_simulator(simulated, group):
    assert simulated[group].count("identical") == 5, simulated[group]


def test_cuda_engine_samples_equal_numba_engine_in_the_simulator(simulated):
    out = simulated["sample_null"]
    for null in ("layer-edges mcmc", "layer-edges auto", "degree-preserving auto"):
        assert f"sample_null {null}: identical" in out, out
    for null in ("layer-edges", "degree-preserving"):
        assert f"motif_zscores {null}: identical" in out, out
        assert f"sample_nulls {null}: identical" in out, out
        assert f"motif_zscores_many {null}: identical" in out, out


needs_no_gpu = pytest.mark.skipif(_mcmc_cuda.available(), reason="a CUDA GPU is present")


@needs_no_gpu
@pytest.mark.parametrize("null", ["layer-edges", "degree-preserving"])
def test_cuda_engine_without_a_gpu_is_a_clear_error(null):
    ws = [np.array([[1, 0], [1, 1]], dtype=bool), np.array([[1, 1]], dtype=bool)]
    with pytest.raises(ValueError, match=r"engine: 'cuda' needs a GPU.*numba"):
        sample_null(ws, n_null=2, null_model=null, seed=0, engine="cuda")
    with pytest.raises(ValueError, match=r"engine: 'cuda'"):
        motif_zscores(ws, clean=True, n_null=2, null_model=null, seed=0, engine="cuda", device="cpu")


@needs_no_gpu
def test_cuda_kernels_without_a_gpu_raise():
    assert not _mcmc_cuda.available() and _mcmc_cuda.why_unavailable()
    z = np.zeros(1, dtype=np.int64)
    with pytest.raises(RuntimeError, match="CUDA kernels cannot run"):
        _mcmc_cuda.swaps(np.zeros((1, 1), np.int32), z, np.zeros((1, 1), bool), z + 1, z, z.astype(np.uint64))
