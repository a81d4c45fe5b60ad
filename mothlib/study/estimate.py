"""Project a profile's run time from a small slice of its work, timed on the current cluster.

``python -m mothlib study --profile paper --estimate`` times, as tasks on the cluster it would
use: simulating a few thousand wingstrokes, a few hundred training batches of one task's
networks at the profile's widths, and a few hundred null networks at three sparsities; then it
scales each to the profile's full work. The projections are upper bounds where the work depends
on results not known in advance (early stopping; how many levels stay accurate: every recorded
level is assumed scored).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mothlib.core.seeds import check_seed
from mothlib.study.tasks import Task, get_task

__all__ = ["estimate_profile", "time_training", "time_nulls"]


def time_training(sizes: list[int], n_networks: int, batch_size: int, n_batches: int,
                  device: str = "cpu", threads: int | None = 1) -> float:
    """Task: seconds per training batch of ``n_networks`` networks of layer widths ``sizes``."""
    import torch

    from mothlib.networks.ensemble import EnsembleMLP, StackedAdam, resolve_device

    if threads is not None:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    model = EnsembleMLP(sizes, list(range(n_networks)), 0.2, dev)
    opt = StackedAdam([*model.weights, *model.biases], lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(batch_size * 8, sizes[0], generator=gen).to(dev)
    Y = torch.rand(batch_size * 8, sizes[-1], generator=gen).to(dev)
    params = [*model.weights, *model.biases]

    def step(i: int) -> None:
        rows = slice((i % 8) * batch_size, (i % 8 + 1) * batch_size)
        loss = model.per_network_mse(X[rows], Y[rows])
        opt.step(torch.autograd.grad(loss.sum(), params))

    for i in range(5):  # warm-up
        step(i)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for i in range(n_batches):
        step(i)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / n_batches


def time_nulls(sizes: list[int], fraction: float, null: str, n_null: int, seed: int = 0,
               device: str = "cpu") -> float:
    """Task: seconds per null network (sampling, cleaning, counting) of a random network of
    layer widths ``sizes`` with ``fraction`` of each layer's weights pruned."""
    from mothlib.motifs.significance import motif_zscores

    rng = np.random.default_rng(check_seed(seed))
    ws = [rng.random((o, i)) >= fraction for i, o in zip(sizes[:-1], sizes[1:])]
    started = time.perf_counter()
    motif_zscores(ws, None, n_null=n_null, null_model=null, seed=seed, device=device, n_jobs=1, clean=True)
    return (time.perf_counter() - started) / max(1, n_null)


def _timed(runner: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
    return runner.result(runner.submit(fn, *args, **kwargs))


def _round_batches(dense: int, per_round: Sequence[int]) -> int:
    return int(dense + sum(per_round))


def _time_data(task: Task, data: Any, seed: int, samples: int) -> float:
    """Task: seconds per sample of the task's data set."""
    if task.name == "moth":
        from mothlib.simulation.samples import simulate_rows

        simulate_rows(0, 100, seed=seed, duration=data.duration, scale=data.scale)  # compiles
        started = time.perf_counter()
        simulate_rows(0, samples, seed=seed, duration=data.duration, scale=data.scale)
        return (time.perf_counter() - started) / samples
    from mothlib.study.digits import load_raw, stratified_split

    started = time.perf_counter()
    _, labels = load_raw()
    stratified_split(labels, data.split, seed)
    return (time.perf_counter() - started) / len(labels)


def estimate_profile(
    profile: Mapping[str, Any],
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    samples: int = 2000,
    batches: int = 100,
    nulls: int = 50,
) -> pd.DataFrame:
    """Projected time of each stage of ``profile`` on the cluster ``scheduler`` names.

    Every stage the profile's task runs is projected (data, pruning, motifs and, for the moth,
    the training-length experiment), from timed slices of the same work.

    Returns
    -------
    DataFrame
        One row per stage: ``stage, work, unit_cost, projected_hours`` (on the cluster's
        workers, perfectly shared) and ``projected_hours_one_worker``.
    """
    from mothlib.study import stages
    from mothlib.study.cluster import open_runner
    from mothlib.study.profiles import as_profile

    p = as_profile(profile)
    task = get_task(p.task)
    wanted = stages.default_stages(p)
    pruning = stages.pruning_settings(stages.stage_settings(p, "pruning"))
    n_null = p.motifs.n_nulls()
    null_models = p.nulls.null_models
    io = (task.n_inputs, task.n_outputs)
    sizes = [io[0], *pruning.hidden_sizes, io[1]]
    n_rows = task.n_rows(p.data)
    n_val = int(round(p.data.split[1] * n_rows))
    one_pass = max(1, n_val // pruning.batch_size)
    rows = []
    with open_runner(scheduler, n_workers=n_workers) as runner:
        workers = runner.n_workers
        per_sample = _timed(runner, _time_data, task, p.data, p.study.seed, samples)
        rows.append(("data", f"{n_rows:,} samples ({task.name})", f"{per_sample * 1e3:.3f} ms/sample",
                     per_sample * n_rows))

        def per_batch_of(sizes: list[int], shard: int) -> tuple[float, int]:
            k = min(shard, 8)
            cost = _timed(runner, time_training, sizes, k, pruning.batch_size, batches,
                          pruning.device, pruning.threads) * shard / k
            return cost, k

        shard = len(pruning.shards()[0])
        per_batch, k = per_batch_of(sizes, shard)
        dense = pruning.round_cap("", 0) or one_pass
        per_shard = _round_batches(dense, [
            (pruning.round_cap(s, 1) or one_pass) * (len(pruning.fractions) - 1) for s in pruning.strategies
        ])
        n_shards = len(pruning.shards())
        rows.append(("pruning", f"{n_shards} task(s) x {per_shard:,} batches of {shard} networks",
                     f"{per_batch * 1e3:.1f} ms/batch" + ("" if k == shard else f" (timed with {k})"),
                     per_batch * per_shard * n_shards))

        probes = [0.5, 0.9, 0.98]

        def null_costs(sizes: list[int], null_models: Sequence[str]) -> dict[str, list[float]]:
            return {
                null: [_timed(runner, time_nulls, sizes, f, null, nulls, device=p.run.device) for f in probes]
                for null in null_models
            }

        per_null = null_costs(sizes, null_models)
        fractions = pruning.fractions
        total = sum(
            float(np.interp(f, probes, per_null[null])) * n_null[null]
            for f in fractions for null in null_models
        ) * pruning.n_networks * len(pruning.strategies)
        n = sum(n_null[null] for null in null_models)
        rows.append(("motifs", f"{pruning.n_networks} networks x {len(fractions)} levels x "
                     f"{len(pruning.strategies)} strategies x {n:,} nulls (every level scored: an upper bound)",
                     ", ".join(f"{null} {np.median(v) * 1e3:.1f} ms/null" for null, v in per_null.items()),
                     total))

        if "training_length" in wanted:
            arms = stages.length_plan(stages.stage_settings(p, "training_length")).arms
            length = p.length
            l_n_null = length.n_nulls()
            l_sizes = [io[0], *length.hidden_sizes, io[1]]
            some_arm = next(iter(arms.values()))
            l_shard = len(some_arm.shards()[0])
            l_batch, _ = per_batch_of(l_sizes, l_shard)
            batches_all = sum(
                _round_batches(arm.round_cap("magnitude", 0) or one_pass,
                               [(arm.round_cap("magnitude", 1) or one_pass) * (len(arm.fractions) - 1)])
                for arm in arms.values()
            ) * len(some_arm.shards())
            l_null = null_costs(l_sizes, null_models)
            l_nulls = sum(
                float(np.interp(f, probes, l_null[null])) * l_n_null[null]
                for f in some_arm.fractions for null in null_models
            ) * length.networks * len(arms)
            rows.append(("training_length",
                         f"{len(arms)} arms x {length.networks} networks: {batches_all:,} batches of "
                         f"{l_shard} networks, {len(some_arm.fractions)} levels scored",
                         f"{l_batch * 1e3:.1f} ms/batch",
                         l_batch * batches_all + l_nulls))
        if "activations" in wanted:
            act = p.activations
            n_levels = len(act.fractions) or len(fractions) - 1
            a_total = sum(float(np.interp(0.75, probes, per_null[null])) * act.n_nulls()[null]
                          for null in null_models) * n_levels * pruning.n_networks
            rows.append(("activations", f"{pruning.n_networks} networks x {n_levels} levels (upper bound)",
                         "as motifs", a_total))
        if "lesions" in wanted:
            les = p.lesions
            n_scores = len(les.motifs)
            variants = len(les.fractions) * (1 + les.draws + n_scores * (1 + les.draws))
            rows_used = n_val if les.rows is None else min(les.rows, n_val)
            # A forward pass costs about a third of a training batch (forward and backward), per row.
            per_row = per_batch / shard / pruning.batch_size / 3
            rows.append(("lesions", f"{pruning.n_networks} networks x {variants} lesioned variants x {rows_used:,} rows",
                         f"{per_row * 1e6:.2f} us/row", per_row * rows_used * variants * pruning.n_networks))
        if "structured" in wanted:
            st = p.structured
            n_struct = min(st.networks or pruning.n_networks, pruning.n_networks)
            cap = st.max_batches or pruning.round_cap("magnitude", 1) or one_pass
            s_batches = cap * (len(fractions) - 1) * -(-n_struct // shard)
            s_nulls = sum(float(np.interp(f, probes, per_null[null])) * st.n_nulls()[null]
                          for f in fractions for null in null_models) * n_struct
            rows.append(("structured", f"{n_struct} networks: {s_batches:,} batches, {len(fractions)} levels scored",
                         f"{per_batch * 1e3:.1f} ms/batch", per_batch * s_batches + s_nulls))
    out = pd.DataFrame(rows, columns=["stage", "work", "unit_cost", "seconds_one_worker"])
    out["projected_hours"] = out["seconds_one_worker"] / workers / 3600
    out["projected_hours_one_worker"] = out["seconds_one_worker"] / 3600
    out.attrs["workers"] = workers
    return out.drop(columns="seconds_one_worker")
