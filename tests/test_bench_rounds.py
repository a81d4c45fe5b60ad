"""benchmarks/bench_rounds.py runs end to end on the smoke study's data, and says clearly when
the data stage is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "bench_rounds.py"


def _run(artifacts: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MOTHLIB_ARTIFACTS": str(artifacts)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=REPO)


def test_bench_rounds_prints_each_round_and_the_total(smoke_run):
    res = _run(smoke_run.artifacts, "--profile", "smoke", "--networks", "0", "1", "--levels", "2")
    assert res.returncode == 0, res.stderr[-3000:]
    lines = res.stdout.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["dense", "magnitude", "magnitude"]
    assert all("stopped at [" in line and "s CPU" in line for line in lines[:3])
    assert lines[-1].startswith("rounds in all:")


def test_bench_rounds_without_data_names_the_missing_stage(tmp_path):
    res = _run(tmp_path, "--profile", "smoke", "--levels", "1")
    assert res.returncode == 1
    assert "no current 'data' stage for profile 'smoke'" in res.stderr
    assert "--stages data" in res.stderr
