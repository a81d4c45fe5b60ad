"""Speed of null networks and motif z-scores at the paper's scale, against the seed study's
counting style, all in one run.

Run: ``.venv/bin/python benchmarks/bench_nulls.py [--device cpu|cuda] [--n-null 1000]`` (several
minutes on 2 cores), or ``--smoke`` (a small network, a few nulls: checks that it runs).

For the 10-400-400-400-16-7 network with biases, magnitude-pruned to 0.9 and 0.98 and cleaned:

1. all motif counts: ``count_motifs`` (sparse/dense by density), the dense torch products (the
   method before sparse counting) and the seed-style baseline; ratios (goals: >= 10x at 0.9 and >= 30x
   at 0.98 against the dense method);
2. null networks per second, generation alone and generation + counting, per null model and
   engine (numba on the CPU; torch on ``--device``; with ``--device cuda`` also the cuda engine,
   the Markov chains in numba CUDA kernels, one thread per chain, where numba finds the GPU);
3. ``motif_zscores`` with ``--n-null`` nulls including generation, both null models (goals on the
   2-core machine: <= 3 s at 0.9, <= 1 s at 0.98; ``--z-repeats N`` prints the median of N runs),
   and the ratio against ``--n-null`` seed-style counts;
4. the projected ``paper`` motif stage (400 networks x 14 levels x (1000 + 1000) nulls) from the
   per-null times measured here: on this machine, on a 16-core CPU machine (the per-core time
   measured here divided by 16: a projection) and on one GPU (only when run with
   ``--device cuda``; otherwise printed as not measured).

``--batch-networks K`` times only this: for the torch engine on ``--device``, the ``--n-null``
nulls of K variants of the 0.98-pruned network (magnitude pruning of K random weight draws),
drawn by K calls of ``sample_null`` (one network each) and by one ``sample_nulls`` call (every
chain in one run: what the motif stage's ``motif_tasks_per_call`` does); median seconds of
``--repeats`` runs of each and their ratio. ``--steps-per-token`` shortens the chains alike on
both sides (the torch chains are a Python loop over steps, slow on a CPU).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_motifs  # noqa: E402
from bench_motifs import baseline_counts  # noqa: E402

from mothlib.motifs import _mcmc_cuda  # noqa: E402
from mothlib.core.masks import as_masks  # noqa: E402
from mothlib.motifs.counts import MOTIFS, count_batch, count_motifs, remove_ineffectual  # noqa: E402
from mothlib.motifs.nulls import NULL_MODELS, STEPS_PER_TOKEN, sample_null, sample_nulls  # noqa: E402
from mothlib.motifs.significance import motif_zscores  # noqa: E402

PAPER_TASKS = 400 * 14  # networks x accurate levels of the `paper` profile
PAPER_NULLS = {"layer-edges": 1000, "degree-preserving": 1000}


CPU: list[float] = []  # median CPU seconds of this process for the last timed() call


def timed(fn, repeats):
    """Median wall-clock seconds of ``repeats`` runs, and the last result.

    The median CPU seconds go to CPU[-1]: on a shared machine the wall clock includes waiting.
    """
    times, cpu = [], []
    out = None
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    CPU.append(statistics.median(cpu))
    return statistics.median(times), out


def network(fraction, sizes, seed=0):
    bench_motifs.SIZES = sizes
    ws, bs = bench_motifs.magnitude_pruned(fraction, seed)
    cw, cb, _ = remove_ineffectual(ws, bs)
    return cw, cb


def paper_seconds(per_null, fraction, path):
    """Projected seconds of the `paper` motif stage from one path's per-null seconds at ``fraction``."""
    return sum(PAPER_NULLS[n] * per_null[(fraction, n, path)] for n in NULL_MODELS) * PAPER_TASKS


def batch_networks(k, n_null, sizes, dev, repeats, steps_per_token):
    """K torch-engine sample_null calls (one network each) against one sample_nulls call."""
    import numpy as np

    nets = [network(0.98, sizes, seed) for seed in range(k)]
    edges = [count_motifs(*net)["edges"] for net in nets]
    print(f"{k} networks {'-'.join(map(str, sizes))} magnitude-pruned to 0.98 ({min(edges)}-{max(edges)} "
          f"edges after cleaning); torch engine on {dev}; {n_null} nulls each; steps_per_token "
          f"{steps_per_token:g}; median of {repeats}")
    seeds = list(range(100, 100 + k))
    for null in NULL_MODELS:
        kw = dict(n_null=n_null, null_model=null, engine="torch", device=dev, steps_per_token=steps_per_token)
        sample_nulls(nets[:1], seeds=seeds[:1], **{**kw, "n_null": 2})  # warm-up
        t_one, one = timed(lambda: [sample_null(w, b, seed=s, **kw) for (w, b), s in zip(nets, seeds)], repeats)
        t_all, together = timed(lambda: sample_nulls(nets, seeds=seeds, **kw), repeats)
        for a, b in zip(one, together):  # the same null networks either way
            assert all(np.array_equal(x, y) for x, y in zip(a[0] + a[1], b[0] + b[1])), "samples differ"
        print(f"  {null:17s}: {k} calls of one network {t_one:7.2f} s | one call of {k} networks "
              f"{t_all:7.2f} s | ratio {t_one / t_all:5.2f}x")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu",
                    help="torch device of the torch engine (cpu or cuda; cuda also times the cuda engine)")
    ap.add_argument("--n-null", type=int, default=1000, help="nulls per motif_zscores run (default 1000)")
    ap.add_argument("--chunk", type=int, default=250, help="null networks drawn and counted at once")
    ap.add_argument("--smoke", action="store_true", help="a small network and few nulls (a quick check)")
    ap.add_argument("--z-repeats", type=int, default=1,
                    help="motif_zscores runs per null model; the median is printed (default 1)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--jobs", type=int, default=None,
                    help="motif_zscores n_jobs: threads over chunks of nulls (default: all cores)")
    ap.add_argument("--batch-networks", type=int, default=None, metavar="K",
                    help="only: torch-engine nulls of K networks, one call each vs one batched call")
    ap.add_argument("--repeats", type=int, default=3, help="runs per timing of --batch-networks (median)")
    ap.add_argument("--steps-per-token", type=float, default=STEPS_PER_TOKEN,
                    help=f"chain length of --batch-networks (default {STEPS_PER_TOKEN:g})")
    ap.add_argument("--crossing", action="store_true",
                    help="only: sparse vs dense counting CPU time at several prunings (sets SPARSE_MAX_DENSITY)")
    args = ap.parse_args(argv)
    import torch

    if args.crossing:
        torch.set_num_threads(args.threads)
        from mothlib.motifs.counts import density

        for fraction in (0.0, 0.3, 0.5, 0.7, 0.8):
            vw, vb, _ = as_masks(*network(fraction, [10, 400, 400, 400, 16, 7]))
            cpu = {}
            for method in ("dense", "sparse"):
                timed(lambda: count_batch(vw, vb, method=method), 5)
                cpu[method] = CPU[-1]
            print(f"pruned {fraction}: density {density(vw, vb):.3f}: CPU dense {cpu['dense'] * 1e3:6.2f} ms, "
                  f"sparse {cpu['sparse'] * 1e3:6.2f} ms")
        return

    torch.set_num_threads(args.threads)
    sizes = [10, 400, 400, 400, 16, 7]
    if args.batch_networks is not None:
        if args.batch_networks < 1:
            ap.error("--batch-networks must be at least 1")
        dev = torch.device(args.device)
        torch.empty(0, device=dev)  # a clear error now if the device is not there
        batch_networks(args.batch_networks, args.n_null, [10, 40, 40, 40, 16, 7] if args.smoke else sizes,
                       dev, args.repeats, args.steps_per_token)
        return
    n_null, reps, n_rate = args.n_null, 3, 200
    if args.smoke:
        sizes, n_null, reps, n_rate = [10, 40, 40, 40, 16, 7], 20, 1, 20
    dev = torch.device(args.device)
    torch.empty(0, device=dev)  # a clear error now if the device is not there
    from mothlib.motifs.significance import _n_jobs

    jobs = _n_jobs(args.jobs)
    print(f"network {'-'.join(map(str, sizes))} with biases; torch threads {args.threads}; "
          f"torch device {dev}; {n_null} nulls per z-score run; motif_zscores threads {jobs}")
    per_null = {}  # (fraction, null, engine) -> seconds per null, generation + counting
    for fraction in (0.9, 0.98):
        cw, cb = network(fraction, sizes)
        vw, vb, _ = as_masks(cw, cb)
        print(f"\n== pruned to {fraction}: {count_motifs(cw, cb)['edges']} edges after cleaning")

        # 1. counting
        t_base, base = timed(lambda: baseline_counts(cw, cb), 1 if args.smoke else 2)
        c_base = CPU[-1]
        t_dense, dense = timed(lambda: count_batch(vw, vb, method="dense"), reps * 5)
        c_dense = CPU[-1]
        t_new, new = timed(lambda: count_motifs(cw, cb), reps * 5)
        c_new = CPU[-1]
        assert base == new == {m: int(v[0]) for m, v in dense.items()}, "counts differ"
        goal = {0.9: 10, 0.98: 30}[fraction]
        print(f"counting: seed-style {t_base * 1e3:9.2f} ms | dense (before) {t_dense * 1e3:7.3f} ms | "
              f"count_motifs {t_new * 1e3:7.3f} ms | vs dense {t_dense / t_new:5.1f}x (goal >= {goal}x), "
              f"vs seed-style {t_base / t_new:7.0f}x")
        print(f"  in CPU seconds: seed-style {c_base * 1e3:9.2f} ms | dense {c_dense * 1e3:7.3f} ms | "
              f"count_motifs {c_new * 1e3:7.3f} ms | vs dense {c_dense / c_new:5.1f}x, vs seed-style {c_base / c_new:7.0f}x")

        # 2. null networks per second
        engines = ["numba", "torch"]
        if dev.type == "cuda" and _mcmc_cuda.available():
            engines.append("cuda")  # numba CUDA chains (one thread per chain), counted on dev
        for null in NULL_MODELS:
            for engine in engines:
                kw = dict(n_null=n_rate, null_model=null, seed=1, engine=engine)
                scale, note = 1, ""
                if engine == "torch":
                    kw["device"] = dev
                    if dev.type == "cpu" and null == "degree-preserving" and not args.smoke:
                        # The torch chain is a Python loop over ~1e5 steps here: on the CPU run
                        # 1/20 of them and scale (its time is linear in the steps).
                        scale, note = 20, " (chain time extrapolated x20 from 1/20 of the steps)"
                        kw["steps_per_token"] = STEPS_PER_TOKEN / scale
                if engine in ("numba", "cuda"):
                    sample_null(cw, cb, **{**kw, "n_null": 2})  # warm-up (numba kernels load or compile)
                t_gen, (nw, nb) = timed(lambda: sample_null(cw, cb, **kw), 1)
                t_gen *= scale
                dev_count = dev if engine in ("torch", "cuda") else None
                t_cnt, _ = timed(lambda: count_batch(nw, [None] * len(nw) if nb is None else nb, dev_count), 1)
                where = "cpu" if engine == "numba" else str(dev)
                print(f"  {null:17s} {engine:5s} on {where:4s}: {n_rate / t_gen:8.0f} nulls/s generated, "
                      f"{n_rate / (t_gen + t_cnt):8.0f} nulls/s generated + counted "
                      f"({1e3 * t_gen / n_rate:6.2f} + {1e3 * t_cnt / n_rate:6.2f} ms per null){note}")
                per_null[(fraction, null, engine)] = (t_gen + t_cnt) / n_rate

        # 3. motif_zscores with n_null nulls incl. generation
        target = {0.9: 3.0, 0.98: 1.0}[fraction]
        for null in NULL_MODELS:
            motif_zscores(cw, cb, n_null=2, null_model=null, seed=0)  # warm-up
            t_z, df = timed(lambda: motif_zscores(cw, cb, n_null=n_null, null_model=null, seed=1,
                                                  chunk_size=args.chunk, device="cpu", n_jobs=jobs),
                            args.z_repeats)
            assert list(df.motif) == list(MOTIFS)
            per_null[(fraction, null, "zscores-cpu")] = CPU[-1] / n_null
            runs = f", median of {args.z_repeats}" if args.z_repeats > 1 else ""
            print(f"  motif_zscores {null:17s} {n_null} nulls (cpu default path, {jobs} threads{runs}): {t_z:7.2f} s "
                  f"(goal <= {target:g} s for 1000); {n_null} seed-style counts ~{n_null * t_base:8.0f} s, "
                  f"ratio {n_null * t_base / t_z:6.0f}x; CPU {CPU[-1]:7.2f} s, ratio {n_null * c_base / CPU[-1]:6.0f}x")
            if dev.type != "cpu":
                t_zd, _ = timed(lambda: motif_zscores(cw, cb, n_null=n_null, null_model=null, seed=1,
                                                      chunk_size=args.chunk, device=dev), 1)
                print(f"  motif_zscores {null:17s} {n_null} nulls on {dev}: {t_zd:7.2f} s")
                per_null[(fraction, null, "device-zscores")] = t_zd / n_null

    # 4. projection of the paper's motif stage
    print("\n== projected `paper` motif stage (400 networks x 14 levels x (1000 + 1000) nulls) -- "
          "PROJECTIONS from the per-null times above, not measurements")
    for fraction in (0.9, 0.98):
        # The CPU seconds of motif_zscores per null (generation, counting, summary): robust to
        # the machine being shared, unlike the wall clock.
        s = paper_seconds(per_null, fraction, "zscores-cpu")
        print(f"  CPU default path (numba samplers, sparse counting), every level costed like {fraction}, "
              f"from motif_zscores CPU seconds: one core {s / 3600:7.1f} h; this 2-core machine "
              f"{s / 2 / 3600:7.1f} h; a 16-core CPU machine {s / 16 / 3600:7.2f} h (perfect scaling over tasks)")
    for fraction in (0.9, 0.98):
        s = paper_seconds(per_null, fraction, "torch")
        if dev.type == "cpu":
            print(f"  torch engine on the CPU, every level costed like {fraction}: {s / 3600:7.1f} h on one core (wall)")
        else:
            print(f"  torch engine on {dev}, every level costed like {fraction}: {s / 3600:7.2f} h on one GPU (wall)")
    for fraction in (0.9, 0.98):
        if (fraction, NULL_MODELS[0], "cuda") in per_null:  # measured only with --device cuda
            s = paper_seconds(per_null, fraction, "cuda")
            print(f"  cuda engine (numba chains) on {dev}, every level costed like {fraction}: "
                  f"{s / 3600:7.2f} h on one GPU (wall)")
    if dev.type == "cpu":
        print("  one GPU: not measured (run with --device cuda on a machine with a GPU)")


if __name__ == "__main__":
    main()
