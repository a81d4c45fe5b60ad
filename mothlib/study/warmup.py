"""Compile the numba kernels once, in one process, before worker processes start.

The kernels are compiled with ``cache=True``: a process loads their machine code from
``__pycache__`` when a cache file exists. Processes that start before any cache file exists
(the test workers of a fresh checkout, the workers of its first study) each compile them again,
the simulator's alone taking over ten seconds of CPU. :func:`warm_kernels` compiles every kernel
the study runs on the CPU, on small inputs, so that later processes only load them; with the
caches present it takes a few seconds. The test session calls it before its workers start
(``tests/conftest.py``). On a local Dask cluster, :func:`warm_workers` does the same on the
workers themselves, one kernel family per worker, as the first tasks of ``python -m mothlib
study`` and ``make book``: otherwise both workers of a fresh checkout compile the same kernels
at the same moment, on first use.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mothlib.study.cluster import Runner

__all__ = ["ENTRY_KERNELS", "WARM_PRIORITY", "warm_kernels", "warm_workers", "warm_simulator", "warm_motifs"]

#: The kernels Python calls (the others are called from these and compile with them), as
#: ``module.name``. ``_mcmc._swaps_numba`` is missing on purpose: on the CPU the
#: degree-preserving chains write straight into the masks (``_swaps_into_numba``).
ENTRY_KERNELS: tuple[str, ...] = (
    "mothlib.simulation._moth_numba.integrate_lanes",
    "mothlib.motifs._count_sparse._count_sparse",
    "mothlib.motifs._mcmc._moves_numba",
    "mothlib.motifs._mcmc._rejection_numba",
    "mothlib.motifs._mcmc._swaps_into_numba",
)


def warm_simulator() -> None:
    """Compile (or load) the simulator's kernel: the numba engine on two samples."""
    from mothlib.simulation.samples import sample_conditions
    from mothlib.simulation.simulator import simulate

    states, controls = sample_conditions(2, np.random.default_rng(0))
    simulate(states, controls, engine="numba")


def warm_motifs() -> None:
    """Compile (or load) the motif engine's kernels: the motifs of a small sparse network of the
    study's depth (five layers) counted, and a few null networks of both null models drawn with
    the numba chains (layer-edges by rejection and by Markov chain)."""
    from mothlib.motifs.significance import motif_zscores

    rng = np.random.default_rng(0)
    sizes = [10, 12, 12, 12, 6, 7]
    ws = [(rng.random((n_out, n_in)) < 0.4).astype(np.uint8) for n_in, n_out in zip(sizes, sizes[1:])]
    bs = [(rng.random(n_out) < 0.4).astype(np.uint8) for n_out in sizes[1:]]
    for null_model, method in (("layer-edges", "rejection"), ("layer-edges", "mcmc"),
                               ("degree-preserving", "auto")):
        motif_zscores(ws, bs, n_null=2, null_model=null_model, seed=0, clean=True, engine="numba",
                      method=method)


def warm_kernels(parallel: bool = True) -> float:
    """Compile (or load) every kernel of :data:`ENTRY_KERNELS`, the study's CPU paths through numba.

    Parameters
    ----------
    parallel : bool
        Compile the simulator's and the motif engine's kernels in two processes at once (when
        the machine has two cores or more); either way they are in the cache afterwards.

    Returns
    -------
    float
        Seconds it took.
    """
    started = time.perf_counter()
    if parallel and (os.cpu_count() or 1) > 1:
        # spawn: the caller may hold threads (Dask, torch) that fork would copy half-alive.
        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
            for job in [pool.submit(warm_simulator), pool.submit(warm_motifs)]:
                job.result()
    else:
        warm_simulator()
        warm_motifs()
    return time.perf_counter() - started


#: Dask priority of the warm-up tasks: ahead of every stage's (:attr:`mothlib.study.stages.Stage.priority`).
WARM_PRIORITY = 100


def warm_workers(runner: Runner) -> list[Any]:
    """Start compiling (or loading) the kernels on the workers of ``runner``'s cluster, ahead of
    every other task: the simulator's on one worker while the motif engine's compile on another.

    Meant for a local cluster, whose workers share this machine's ``__pycache__``: the other
    workers then load what these two compiled (a third worker, if any, may start on the data
    before the simulator's cache exists, and compile it itself). Nothing waits for them: the
    worker that finished the simulator's kernel starts simulating the data set while the other
    still compiles.

    Returns
    -------
    list
        The two tasks' futures, to gather when the stages are done (a failure shows there);
        empty in process (``runner.client`` None).
    """
    if runner.client is None:
        return []
    workers = sorted(runner.client.scheduler_info()["workers"])
    first = runner.with_priority(WARM_PRIORITY)
    return [first.submit(fn, key=f"warm-{fn.__name__}", workers=[workers[i % len(workers)]])
            for i, fn in enumerate((warm_simulator, warm_motifs))]
