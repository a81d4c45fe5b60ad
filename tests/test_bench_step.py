"""benchmarks/bench_step.py: it runs end to end, and its baseline does the same training as
mothlib's step (so the ratio it prints compares equal work)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import torch

from mothlib.networks.ensemble import EnsembleMLP, StackedAdam, network_seeds

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "bench_step.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_step", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_step_prints_both_medians_and_their_ratio():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, str(SCRIPT), "--profile", "smoke", "--batches", "5", "--repeats", "1"],
                         capture_output=True, text=True, env=env, timeout=300, cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = res.stdout.splitlines()
    assert lines[0].startswith("smoke: 2 networks of [10, 24, 24, 24, 8, 7], batch 128, 5 batches")
    assert "baseline" in lines[1] and lines[1].endswith("ms per batch")
    assert "mothlib" in lines[2] and lines[2].endswith("ms per batch")
    assert lines[3].strip().startswith("ratio (baseline / mothlib): ") and lines[3].endswith("x")


def test_the_baseline_trains_the_networks_mothlib_trains():
    bench = _bench_module()
    gen = torch.Generator().manual_seed(4)
    masks = None
    sides = []
    for model_cls, adam_cls in ((bench.ProductForwardMLP, bench.ForeachAdam), (EnsembleMLP, StackedAdam)):
        model = model_cls([5, 9, 9, 3], network_seeds(4, 3), init_std=0.5)
        if masks is None:
            masks = ([torch.rand(w.shape, generator=gen) > 0.5 for w in model.weights],
                     [torch.rand(b.shape, generator=gen) > 0.5 for b in model.biases])
        model.set_masks(*masks)
        opt = adam_cls([*model.weights, *model.biases], lr=1e-2)
        data = torch.Generator().manual_seed(5)
        for _ in range(30):
            x, y = torch.randn(16, 5, generator=data), torch.randn(16, 3, generator=data)
            opt.step(torch.autograd.grad(model.per_network_mse(x, y).sum(), [*model.weights, *model.biases]))
        sides.append(model)
    for a, b in zip([*sides[0].weights, *sides[0].biases], [*sides[1].weights, *sides[1].biases]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    for w, m in zip(sides[0].weights, masks[0]):
        assert not w[~m].any()
