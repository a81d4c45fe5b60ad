"""Speed of motif counting and of motif z-scores, against the seed study's counting style.

Run: ``.venv/bin/python benchmarks/bench_motifs.py`` (a few minutes on 2 cores; null samples
reduced to --n-null and the 1000-null time extrapolated linearly, which the printout says), or
``--full`` for 1000 null networks per sparsity as in the study.

Goals: all counts of the dense 10-400-400-400-16-7 network with biases >= 50x faster
than the baseline; ``motif_zscores`` with 1000 nulls of that network pruned to 90 % (null
generation included) >= 10x faster than 1000 baseline counts alone.

The baseline counts in the seed's style (per-node Python loops with factorials for diverging and
converging motifs, a Python loop over source pairs for bi-fans, ``scipy.special.comb`` over the
2-path matrix for bi-parallels, matrix products for chains) but with the correct definitions
(paths for chains, C(n, 3) for 3rd-order converging), so that its counts can be checked against
``count_motifs``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import comb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mothlib.motifs.counts import MOTIFS, count_motifs, remove_ineffectual  # noqa: E402
from mothlib.motifs.significance import motif_zscores  # noqa: E402

SIZES = [10, 400, 400, 400, 16, 7]


def baseline_counts(ws, bs):
    """Seed-style counting with correct definitions (slow on purpose: it is the reference)."""
    blocks = [np.hstack([w.astype(np.int64), b.astype(np.int64)[:, None]]) for w, b in zip(ws, bs)]
    c = dict.fromkeys(MOTIFS, 0)
    f = math.factorial
    for a in blocks:
        c["edges"] += int(a.sum())
        for j in range(a.shape[1]):  # sources (bias node last)
            d = int(a[:, j].sum())
            if d >= 2:
                c["diverging2"] += f(d) // (f(2) * f(d - 2))
            if d >= 3:
                c["diverging3"] += f(d) // (f(3) * f(d - 3))
        for i in range(a.shape[0]):  # targets
            d = int(a[i].sum())
            if d >= 2:
                c["converging2"] += f(d) // (f(2) * f(d - 2))
            if d >= 3:
                c["converging3"] += f(d) // (f(3) * f(d - 3))
        for i in range(a.shape[1]):  # pairs of sources
            col = a[:, i]
            for j in range(i + 1, a.shape[1]):
                common = int(col @ a[:, j])
                c["bifan"] += common * (common - 1) // 2
    for l in range(len(blocks) - 1):
        n_mid = ws[l].shape[0]
        p2 = blocks[l + 1][:, :n_mid] @ blocks[l]
        c["chain2"] += int(p2.sum())
        c["biparallel"] += int(round(comb(p2, 2).sum()))
        if l + 2 < len(blocks):
            c["chain3"] += int((blocks[l + 2][:, : ws[l + 1].shape[0]] @ p2).sum())
    return c


def magnitude_pruned(fraction, seed=0):
    """Masks of random Gaussian weights and biases pruned layer-wise by magnitude."""
    rng = np.random.default_rng(seed)
    ws, bs = [], []
    for i in range(len(SIZES) - 1):
        for shape, out in (((SIZES[i + 1], SIZES[i]), ws), ((SIZES[i + 1],), bs)):
            x = np.abs(rng.standard_normal(shape)).ravel()
            keep = np.ones(x.size, dtype=bool)
            keep[np.argsort(x, kind="stable")[: int(math.floor(fraction * x.size))]] = False
            out.append(keep.reshape(shape))
    return ws, bs


CPU: list[tuple[str, float]] = []  # (label, median CPU seconds) of the last timed() calls


def timed(fn, repeats):
    """Median wall-clock seconds of ``repeats`` runs (CPU seconds of this process kept in CPU).

    Both are printed: on a shared machine the wall clock includes waiting for other processes.
    """
    times, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    CPU.append(("", statistics.median(cpu)))
    return statistics.median(times), out


def igraph_motifs(ws, bs, size, limit):
    """igraph's motifs_randesu on the connectivity graph, in a subprocess with a time limit."""
    import multiprocessing as mp

    def work(q):
        import igraph

        offsets = np.cumsum([0] + SIZES + [1] * (len(SIZES) - 1))
        edges = []
        for l, (w, b) in enumerate(zip(ws, bs)):
            o, i = np.nonzero(w)
            edges += list(zip(offsets[l] + i, offsets[l + 1] + o))
            bias_node = offsets[len(SIZES)] + l
            edges += [(bias_node, offsets[l + 1] + o) for o in np.flatnonzero(b)]
        g = igraph.Graph(n=int(offsets[-1]), edges=[(int(a), int(b)) for a, b in edges], directed=True)
        t = time.perf_counter()
        g.motifs_randesu(size=size)
        q.put(time.perf_counter() - t)

    q = mp.get_context("fork").Queue()
    p = mp.get_context("fork").Process(target=work, args=(q,))
    p.start()
    p.join(limit)
    if p.is_alive():
        p.kill()
        p.join()
        return None
    return q.get() if not q.empty() else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="1000 nulls per sparsity, more repeats")
    ap.add_argument("--n-null", type=int, default=100, help="null networks per z-score run (default 100)")
    ap.add_argument("--igraph-limit", type=float, default=60.0, help="seconds allowed per igraph run")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: the baseline is single-threaded too)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch threads: {args.threads}")
    n_null = 1000 if args.full else args.n_null
    reps = 5 if args.full else 3

    print("== all counts of the dense 10-400-400-400-16-7 network with biases")
    ws = [np.ones((SIZES[i + 1], SIZES[i]), dtype=bool) for i in range(len(SIZES) - 1)]
    bs = [np.ones(SIZES[i + 1], dtype=bool) for i in range(len(SIZES) - 1)]
    t_base, base = timed(lambda: baseline_counts(ws, bs), reps)
    c_base = CPU[-1][1]
    t_fast, fast = timed(lambda: count_motifs(ws, bs), reps * 5)
    c_fast = CPU[-1][1]
    assert base == {m: int(v) for m, v in fast.items()}, (base, fast)
    print(f"baseline (seed style)  median {t_base:9.4f} s wall, {c_base:9.4f} s CPU")
    print(f"count_motifs           median {t_fast:9.4f} s wall, {c_fast:9.4f} s CPU")
    print(f"speed-up               {t_base / t_fast:9.1f}x wall, {c_base / c_fast:6.1f}x CPU   (goal >= 50x)")

    print(f"\n== motif_zscores, layer-edges null, {n_null} nulls incl. generation, vs 1000 baseline counts")
    for fraction in (0.5, 0.9, 0.98):
        ws, bs = magnitude_pruned(fraction)
        cw, cb, _ = remove_ineffectual(ws, bs)
        t_b, base = timed(lambda: baseline_counts(cw, cb), 2)
        assert base == {m: int(v) for m, v in count_motifs(cw, cb).items()}
        motif_zscores(cw, cb, n_null=2, seed=0)  # warm-up (numba kernels load)
        c_b = CPU[-1][1]
        t_z, df = timed(lambda: motif_zscores(cw, cb, n_null=n_null, seed=1, chunk_size=50), 1)
        c_z = CPU[-1][1]
        t_z1000 = t_z * 1000 / n_null
        note = "" if n_null == 1000 else f" (measured {t_z:.1f} s for {n_null}, x{1000 / n_null:g})"
        print(
            f"pruned {fraction:4.0%} ({count_motifs(cw, cb)['edges']} edges after cleaning): baseline 1 count {t_b:6.2f} s -> 1000 counts ~{1000 * t_b:8.0f} s; "
            f"motif_zscores 1000 nulls {t_z1000:7.1f} s{note}; ratio {1000 * t_b / t_z1000:6.1f}x"
            + ("   (goal >= 10x)" if fraction == 0.9 else "")
        )
        print(f"    in CPU seconds: ratio {1000 * c_b / (c_z * 1000 / n_null):6.1f}x")
        for size in (3, 4):
            t_ig = igraph_motifs(cw, cb, size, args.igraph_limit)
            shown = f"{t_ig:8.2f} s" if t_ig is not None else f"did not finish in {args.igraph_limit:g} s"
            print(f"    igraph motifs_randesu(size={size}) on the same network: {shown}")
        n_dp = max(n_null // 4, 2)
        t_dp, _ = timed(lambda: motif_zscores(cw, cb, n_null=n_dp, null_model="degree-preserving", seed=1), 1)
        print(f"    degree-preserving null: {t_dp:.1f} s for {n_dp} nulls (~{t_dp * 1000 / n_dp:.0f} s per 1000)")


if __name__ == "__main__":
    main()
