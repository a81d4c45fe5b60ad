"""Benchmark: batched ensemble training vs the same networks trained one after another.

Both sides run the same number of Adam steps on the same batches (synthetic data, the sizes of
a profile). Each (mode, repeat) runs in its own subprocess so that its peak resident memory
(``ru_maxrss``) is its own. Prints the median seconds of each mode, the ratio and peak memory.

``--eval-chunks`` times :func:`mothlib.networks.ensemble.evaluate` (one level's losses: the whole
250,000-row data set) for a shard of the profile (``networks_per_task`` networks) at several
chunk sizes, interleaved, one thread, and prints each median and its ratio to the default.

``--gpu`` instead times one pruning round of the ``paper`` profile's training (400 networks of
10-400-400-400-16-7 by default) on CUDA with :func:`mothlib.networks.ensemble.train_round`, and prints
steps/s and ``torch.cuda.max_memory_allocated``; without CUDA it stops with a clear message.

Usage::

    .venv/bin/python benchmarks/bench_training.py            # quick profile sizes, 300 steps
    .venv/bin/python benchmarks/bench_training.py --steps 1000 --repeats 5
    .venv/bin/python benchmarks/bench_training.py --eval-chunks
    .venv/bin/python benchmarks/bench_training.py --gpu      # on a CUDA machine
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from mothlib.networks.ensemble import EarlyStopping, EnsembleMLP, StackedAdam, network_seeds, train_round  # noqa: E402
from mothlib.study.profiles import get_profile  # noqa: E402


def _data(n: int, n_in: int, n_out: int, seed: int = 0, device: str = "cpu"):
    gen = torch.Generator().manual_seed(seed)
    X = torch.rand(n, n_in, generator=gen) - 0.5
    A = torch.randn(n_in, n_out, generator=gen)
    return X.to(device), (torch.tanh(X @ A) * 0.4).to(device)


def run_mode(mode: str, sizes: list[int], n_networks: int, steps: int, batch: int) -> dict:
    X, Y = _data(steps * batch, sizes[0], sizes[-1])
    seeds = network_seeds(0, n_networks)
    start = time.perf_counter()
    if mode == "ensemble":
        model = EnsembleMLP(sizes, seeds)
        params = [*model.weights, *model.biases]
        opt = StackedAdam(params)
        for s in range(steps):
            xb, yb = X[s * batch : (s + 1) * batch], Y[s * batch : (s + 1) * batch]
            opt.step(torch.autograd.grad(model.per_network_mse(xb, yb).sum(), params))
    else:  # one network after another, plain nn.Sequential + torch.optim.Adam
        for s0 in seeds:
            single = EnsembleMLP(sizes, [s0])
            layers: list[nn.Module] = []
            for l, (w, b) in enumerate(zip(single.weights, single.biases)):
                lin = nn.Linear(w.shape[2], w.shape[1])
                with torch.no_grad():
                    lin.weight.copy_(w[0])
                    lin.bias.copy_(b[0])
                layers += ([nn.Tanh()] if l else []) + [lin]
            net = nn.Sequential(*layers)
            opt = torch.optim.Adam(net.parameters(), lr=5e-4)
            for s in range(steps):
                xb, yb = X[s * batch : (s + 1) * batch], Y[s * batch : (s + 1) * batch]
                opt.zero_grad(set_to_none=True)
                ((net(xb) - yb) ** 2).mean().backward()
                opt.step()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def gpu(args: argparse.Namespace) -> None:
    if not torch.cuda.is_available():
        sys.exit("bench_training --gpu needs a CUDA GPU, and torch.cuda.is_available() is False here "
                 "(this machine has no GPU or a CPU-only torch build); run it on a GPU machine.")
    profile = get_profile("paper")
    sizes = [10, *profile["hidden_sizes"], 7]
    n_val = args.gpu_samples // 5
    device = "cuda"
    train = _data(args.gpu_samples, 10, 7, 1, device)
    val = _data(n_val, 10, 7, 2, device)
    model = EnsembleMLP(sizes, network_seeds(0, profile["n_networks"]), profile["init_std"], device)
    opt = StackedAdam([*model.weights, *model.biases], lr=profile["learning_rate"])
    never = EarlyStopping(profile["es_check_every"], profile["es_min_batches"], profile["es_window"], 1e-12)
    kw = dict(batch_size=profile["batch_size"], stopping=never, progress=False)
    train_round(model, opt, train, val, data_seed=0, max_batches=50, **kw)  # warm-up
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    res = train_round(model, opt, train, val, data_seed=1, max_batches=args.gpu_batches, **kw)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(f"device: {torch.cuda.get_device_name()}")
    print(f"paper training round: {profile['n_networks']} networks {sizes}, batch {profile['batch_size']}, "
          f"{res.n_batches} batches (synthetic data, {args.gpu_samples} training rows)")
    print(f"  {res.n_batches / seconds:.1f} steps/s ({seconds:.2f} s), "
          f"{res.n_batches * profile['n_networks'] / seconds:.0f} network-steps/s")
    print(f"  peak CUDA memory allocated: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


def eval_chunks(args: argparse.Namespace) -> None:
    from mothlib.networks.ensemble import EnsembleMLP, _eval_chunk, evaluate

    torch.set_num_threads(1)
    profile = get_profile(args.profile)
    sizes = [10, *profile["hidden_sizes"], 7]
    E = int(profile["networks_per_task"] or profile["n_networks"])
    model = EnsembleMLP(sizes, list(range(E)), 0.2)
    X, Y = _data(250_000, sizes[0], sizes[-1])
    default = _eval_chunk(model, len(X), None)
    chunks = sorted({default, 512, 1024, 2048, 8192})
    times: dict[int, list[float]] = {c: [] for c in chunks}
    for _ in range(args.repeats):
        for c in chunks:  # interleaved, so that machine load hits every size alike
            started = time.perf_counter()
            evaluate(model, X, Y, chunk=c)
            times[c].append(time.perf_counter() - started)
    print(f"evaluate: {E} networks {sizes} on 250000 rows, one thread, {args.repeats} repeats")
    for c in chunks:
        med = statistics.median(times[c])
        mark = "  (default)" if c == default else ""
        print(f"  chunk {c:6d} rows: median {med:.3f} s, {med / statistics.median(times[default]):.2f}x "
              f"the default{mark}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="quick", help="profile whose sizes to use (default quick)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100 steps, 3 repeats")
    parser.add_argument("--gpu", action="store_true", help="time one paper-profile round on CUDA")
    parser.add_argument("--gpu-batches", type=int, default=2000)
    parser.add_argument("--gpu-samples", type=int, default=1_000_000)
    parser.add_argument("--eval-chunks", action="store_true", help="time evaluate() at several chunk sizes")
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.eval_chunks:
        eval_chunks(args)
        return
    if args.gpu:
        gpu(args)
        return
    profile = get_profile(args.profile)
    sizes = [10, *profile["hidden_sizes"], 7]
    E, batch = profile["n_networks"], profile["batch_size"]
    steps = 100 if args.quick else args.steps
    if args._child:
        print(json.dumps(run_mode(args._child, sizes, E, steps, batch)))
        return
    results: dict[str, list[dict]] = {"ensemble": [], "sequential": []}
    for _ in range(args.repeats):
        for mode in results:  # interleaved, so that machine load hits both alike
            out = subprocess.run(
                [sys.executable, __file__, "--profile", args.profile, "--steps", str(steps), "--_child", mode],
                check=True, capture_output=True, text=True,
            ).stdout
            results[mode].append(json.loads(out.strip().splitlines()[-1]))
    print(f"training {E} networks {sizes}, {steps} Adam steps of batch {batch}, "
          f"{torch.get_num_threads()} threads, {args.repeats} repeats")
    med = {m: statistics.median(r["seconds"] for r in rs) for m, rs in results.items()}
    for mode, rs in results.items():
        rss = max(r["maxrss_mib"] for r in rs)
        print(f"  {mode:10s} median {med[mode]:.3f} s ({1000 * med[mode] / steps:.2f} ms/step of the "
              f"ensemble), peak RSS {rss:.0f} MiB")
    print(f"  sequential / ensemble time ratio: {med['sequential'] / med['ensemble']:.2f}x")


if __name__ == "__main__":
    main()
