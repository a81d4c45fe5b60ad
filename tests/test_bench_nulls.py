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
