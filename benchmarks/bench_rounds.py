"""Benchmark: the first pruning rounds of one shard of a profile, as the pruning stage runs them.

Trains the dense level of networks ``--networks`` (default 0-3: one `quick` shard) on the
profile's data, then ``--levels`` magnitude levels, one thread, and prints each round's
batches, the batch at which each network stopped early, and its wall and CPU seconds. Needs the
profile's ``data`` stage (``python -m mothlib study --profile quick --stages data``).

It times the code of the checkout it runs in: to compare two versions, run it in a checkout of
each (``git worktree add /tmp/old <commit>``; ``PYTHONPATH=/tmp/old python
benchmarks/bench_rounds.py``) on an otherwise idle machine, and compare the CPU seconds.

Usage::

    .venv/bin/python benchmarks/bench_rounds.py                  # quick, networks 0-3, 3 levels
    .venv/bin/python benchmarks/bench_rounds.py --levels 5 --networks 4 5 6 7
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from mothlib.networks import ensemble, pruning  # noqa: E402
from mothlib.study.data import load_splits  # noqa: E402
from mothlib.study.profiles import get_profile  # noqa: E402
from mothlib.study import stages  # noqa: E402
from mothlib.study.stages import pruning_settings, stage_settings  # noqa: E402
from mothlib.study.store import ArtifactStore  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--networks", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--levels", type=int, default=3, help="magnitude levels after the dense one")
    ap.add_argument("--strategy", default="magnitude")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    profile = get_profile(args.profile)
    settings = pruning_settings(stage_settings(profile, "pruning"))
    if args.levels >= len(settings.fractions):
        ap.error(f"--levels must be below {len(settings.fractions)} for profile {args.profile!r}")
    store = ArtifactStore(args.profile)
    if not stages.is_current("data", profile, store):
        sys.exit(f"error: no current 'data' stage for profile {args.profile!r} under {store.root}; "
                 f"run `python -m mothlib study --profile {args.profile} --stages data` first")
    splits = load_splits(store)

    real = ensemble.train_round  # the pruning rounds import it when they run
    totals = [0.0, 0.0]

    def timed_round(*a, **k):
        wall, cpu = time.perf_counter(), time.process_time()
        result = real(*a, **k)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        totals[0] += wall
        totals[1] += cpu
        print(f"{k.get('desc', 'round'):16s} batches {result.n_batches:5d}  stopped at "
              f"{result.stopped_at.tolist()}  {wall:6.1f} s wall  {cpu:6.1f} s CPU", flush=True)
        return result

    ensemble.train_round = timed_round
    try:
        state = pruning.train_dense(settings, tuple(args.networks), splits)
        for _ in range(args.levels):
            state = pruning.prune_and_retrain(settings, state, args.strategy, splits)
    finally:
        ensemble.train_round = real
    print(f"rounds in all: {totals[0]:.1f} s wall, {totals[1]:.1f} s CPU")


if __name__ == "__main__":
    main()
