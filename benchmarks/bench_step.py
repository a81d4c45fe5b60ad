"""Benchmark: one training round of a profile's shard, today's step against the step before it.

Today :class:`~mothlib.networks.ensemble.EnsembleMLP` runs on pre-zeroed parameters with gradient hooks,
its activations transposed (``W @ h``: weight gradients come out contiguous),
and :class:`~mothlib.networks.ensemble.StackedAdam` is torch's fused Adam kernel over per-network views.
The baseline, written out below, is the step they replaced: the masks multiply the parameters
in every forward pass and Adam runs as nine ``torch._foreach_*`` passes. Both train the same
pruned shard (``networks_per_task`` networks of the profile's widths, half of every weight
pruned at random, synthetic data) for ``--batches`` batches with the validation loss computed
at every batch (as early stopping reads it; it never stops here), one thread, interleaved
``--repeats`` times. Prints each median in ms per batch and their ratio.

Usage::

    .venv/bin/python benchmarks/bench_step.py                  # quick: 4 networks of 10-128-128-128-16-7
    .venv/bin/python benchmarks/bench_step.py --profile paper --batches 50
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from mothlib.networks.ensemble import EarlyStopping, EnsembleMLP, StackedAdam, network_seeds, train_round  # noqa: E402
from mothlib.study.profiles import get_profile  # noqa: E402


class ProductForwardMLP(EnsembleMLP):
    """Baseline model: ``weight * mask`` in every forward pass (no gradient hooks needed)."""

    def _hook_gradients(self) -> None:
        pass

    def forward(self, x):
        ws, bs = self.effective()
        h = torch.einsum("bi,eoi->ebo", x, ws[0]) + bs[0].unsqueeze(1)
        for l in range(1, len(ws)):
            h = torch.baddbmm(bs[l].unsqueeze(1), torch.tanh(h), ws[l].transpose(1, 2))
        return h


class ForeachAdam(StackedAdam):
    """Baseline optimiser: the all-active step as nine foreach passes with per-network bias
    corrections broadcast over each stacked tensor."""

    @torch.no_grad()
    def step(self, grads, active=None):
        b1, b2 = self.betas
        self.step_count += 1
        count = self.step_count.double()
        step_size = (self.lr / (1 - b1 ** count).clamp_min(1e-300)).to(self.params[0].dtype)
        bc2_sqrt = (1 - b2 ** count).clamp_min(1e-300).sqrt().to(self.params[0].dtype)
        grads = list(grads)
        shapes = [(-1,) + (1,) * (p.dim() - 1) for p in self.params]
        torch._foreach_lerp_(self.exp_avg, grads, 1 - b1)
        torch._foreach_mul_(self.exp_avg_sq, b2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, value=1 - b2)
        denom = torch._foreach_sqrt(self.exp_avg_sq)
        torch._foreach_div_(denom, [bc2_sqrt.view(shape) for shape in shapes])
        torch._foreach_add_(denom, self.eps)
        update = torch._foreach_mul(self.exp_avg, [step_size.view(shape) for shape in shapes])
        torch._foreach_div_(update, denom)
        torch._foreach_sub_(self.params, update)


def one_round(model_cls, adam_cls, sizes, n_networks, batch, batches, data) -> float:
    """Seconds per batch of one round (a fresh model, so both sides do the same arithmetic)."""
    model = model_cls(sizes, network_seeds(0, n_networks), init_std=0.2)
    gen = torch.Generator().manual_seed(1)
    model.set_masks([torch.rand(w.shape, generator=gen) > 0.5 for w in model.weights],
                    [torch.rand(b.shape, generator=gen) > 0.5 for b in model.biases])
    opt = adam_cls([*model.weights, *model.biases], lr=1e-3)
    # Watched from batch 1 and never firing: a validation loss at every batch, as in a long round.
    watch_all = EarlyStopping(check_every=1, min_batches=2, window=1, ratio=1e-6)
    t = time.perf_counter()
    train_round(model, opt, data[0], data[1], batch_size=batch, data_seed=0, stopping=watch_all,
                max_batches=batches, progress=False)
    return (time.perf_counter() - t) / batches


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--batches", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    profile = get_profile(args.profile, device="cpu")
    sizes = [10, *profile["hidden_sizes"], 7]
    n_networks = int(profile["networks_per_task"] or profile["n_networks"])
    batch = int(profile["batch_size"])
    gen = torch.Generator().manual_seed(0)
    n = batch * 50
    data = [(torch.rand(n, 10, generator=gen) - 0.5, torch.rand(n, 7, generator=gen) - 0.5) for _ in range(2)]
    sides = {"baseline (mask products, foreach Adam)": (ProductForwardMLP, ForeachAdam),
             "mothlib (gradient hooks, fused Adam)": (EnsembleMLP, StackedAdam)}
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.repeats):
        for name, (model_cls, adam_cls) in sides.items():
            times[name].append(one_round(model_cls, adam_cls, sizes, n_networks, batch, args.batches, data))
    print(f"{args.profile}: {n_networks} networks of {sizes}, batch {batch}, {args.batches} batches, "
          f"median of {args.repeats}")
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, m in medians.items():
        print(f"  {name:40s} {m * 1e3:7.2f} ms per batch")
    base, new = medians.values()
    print(f"  ratio (baseline / mothlib): {base / new:.2f}x")


if __name__ == "__main__":
    main()
