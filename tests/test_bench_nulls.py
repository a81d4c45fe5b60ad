"""benchmarks/bench_nulls.py runs end to end (``--smoke``: a small network, a few nulls)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_bench_nulls_smoke_runs_on_the_cpu():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_nulls.py"), "--smoke", "--device", "cpu"],
        capture_output=True, text=True, env=env, timeout=600, cwd=REPO,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    for needle in ("counting: seed-style", "nulls/s generated", "motif_zscores layer-edges",
                   "motif_zscores degree-preserving", "PROJECTIONS", "one GPU: not measured"):
        assert needle in out, needle
    assert out.count("pruned to") == 2


def test_bench_nulls_batch_networks_smoke_runs_on_the_cpu():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_nulls.py"), "--smoke", "--batch-networks", "2",
         "--n-null", "4", "--repeats", "1"],
        capture_output=True, text=True, env=env, timeout=600, cwd=REPO,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    rows = [line for line in res.stdout.splitlines() if "2 calls of one network" in line]
    assert [r.split(":")[0].strip() for r in rows] == ["layer-edges", "degree-preserving"], res.stdout
    assert all("one call of 2 networks" in r and "ratio" in r for r in rows)
