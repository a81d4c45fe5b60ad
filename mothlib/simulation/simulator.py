"""Simulate the hawkmoth flight model for a batch of samples: fast, accurate and honest.

:func:`simulate` integrates many samples at once with an adaptive, L-stable Rodas5P method
(order 5, embedded order-4 error estimate), each sample with its own step sizes, on the model
of :mod:`mothlib.simulation.flight_model`: compiled with numba and spread over the cores
(:mod:`mothlib.simulation._moth_numba`), or, as the readable reference, vectorised over the batch with
numpy (:mod:`mothlib.simulation.rosenbrock`). Every returned state has passed the step-error test; a
sample that cannot be integrated raises :class:`IntegrationError` (or comes back as NaN with a
warning), never as a wrong number. Speed and accuracy figures: benchmarks/README.md.

Examples
--------
>>> import numpy as np
>>> from mothlib.simulation.simulator import simulate
>>> s0 = np.array([[0, 100.0, 0, -50.0, 1.0, 2.0, 4.0, -1.0]])
>>> u = np.array([[20000.0, 1.2, 5000.0]])
>>> simulate(s0, u).shape
(1, 8)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mothlib.core.validation import check_positive
from mothlib.simulation.flight_model import (
    CONTROL_NAMES,
    FROM_INTERNAL,
    STATE_NAMES,
    TO_INTERNAL,
    FlightModel,
    MothParams,
)
from mothlib.simulation.rosenbrock import STATUS_TEXT, integrate

__all__ = [
    "CONTROL_NAMES",
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "IntegrationError",
    "MothParams",
    "STATE_NAMES",
    "simulate",
]

#: Default tolerances of the per-step error test (max norm over the 8 components, scale
#: ``atol + rtol |y|``). The relative part is the tight one on purpose: an error made while a
#: velocity is ~1000 cm/s stays when that velocity ends near 0, where the golden metric
#: ``|a-b|/(|b|+1)`` is absolute. At these values end states stay well inside the golden bar 1e-6
#: of a 1e-12 solution (benchmarks/README.md, "Simulator").
DEFAULT_RTOL = 5e-10
DEFAULT_ATOL = 2e-8
#: Attempted steps per sample before it counts as failed: far above what samples of the
#: study's ranges need (about 50, benchmarks/README.md), so only a runaway sample reaches it.
DEFAULT_MAX_STEPS = 20_000
#: Slowest rate (1/s) of the step-error filter (:func:`mothlib.simulation.rosenbrock.integrate`): fast
#: enough to discount the joint's transient, slow enough not to inflate the errors of the slow,
#: unstable modes; the fewest steps among the rates tried (benchmarks/README.md, "Simulator").
FILTER_RATE = 50.0
#: Samples integrated together: large enough to amortise numpy's per-call overhead, small
#: enough that the working arrays stay in cache.
DEFAULT_BATCH = 4096


class IntegrationError(RuntimeError):
    """Some samples could not be integrated to tolerance.

    Attributes
    ----------
    indices : numpy.ndarray of int
        Row indices (into the batch passed to :func:`simulate`) of the failed samples.
    reasons : list of str
        Why each of them failed (same order).
    """

    def __init__(self, indices: np.ndarray, reasons: Sequence[str]) -> None:
        self.indices = np.asarray(indices)
        self.reasons = list(reasons)
        shown = ", ".join(f"{i} ({r})" for i, r in zip(self.indices[:10], self.reasons[:10]))
        more = f" and {len(self.indices) - 10} more" if len(self.indices) > 10 else ""
        super().__init__(
            f"{len(self.indices)} sample(s) could not be integrated to tolerance: {shown}{more}; "
            "pass on_failure='nan' to get NaN rows for them instead"
        )


def _as_batch(arr, name: str, width: int) -> np.ndarray:
    a = np.asarray(arr, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != width:
        raise ValueError(f"{name} must have shape (N, {width}), got {a.shape}")
    if not np.all(np.isfinite(a)):
        rows = np.unique(np.nonzero(~np.isfinite(a))[0])
        raise ValueError(f"{name} has non-finite values in rows {rows[:10].tolist()}")
    return a


def _check_times(times, duration: float) -> np.ndarray:
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"times must be a non-empty 1-D array, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError("times has non-finite values")
    if np.any(np.diff(t) <= 0):
        raise ValueError("times must be strictly increasing")
    if t[0] < 0 or t[-1] > duration:
        raise ValueError(
            f"times must lie within [0, duration] = [0, {duration}], got [{t[0]}, {t[-1]}]"
        )
    return t


def _run_numba(params, s0, u, t_out, out, status, rtol, atol, max_steps, h0, mu, n_jobs) -> None:
    """Integrate with the compiled engine into ``out`` (n, T, 8) and ``status`` (n,): the kernel
    called once on all rows with one thread, else on blocks of BLOCK rows in a thread pool (it
    releases the GIL; each sample is integrated on its own, so the bits do not depend on how
    the rows are cut or which thread runs them)."""
    # numba and its kernels load when this engine runs: the book's charts import this module
    # (through mothlib.simulation.samples, for its column names) without simulating.
    import numba

    from mothlib.simulation import _moth_numba

    model = FlightModel(params, u.T)
    Y0 = np.ascontiguousarray(s0[:, TO_INTERNAL])
    controls = np.ascontiguousarray(np.column_stack([model.Fca, model.Fsa, model.tau, model.tq_const]))
    P = _moth_numba.constants(model)
    n = s0.shape[0]
    res = np.empty((n, t_out.size, 8))
    counts = np.zeros((n, 2), dtype=np.int64)

    def run(lo: int, hi: int) -> None:
        # Row slices of C-contiguous arrays: the kernel's one compiled signature.
        _moth_numba.integrate_lanes(Y0[lo:hi], controls[lo:hi], P, t_out, rtol, atol, max_steps,
                                    h0, mu, res[lo:hi], status[lo:hi], counts[lo:hi],
                                    _moth_numba.LANES)

    starts = range(0, n, _moth_numba.BLOCK)
    # At most NUMBA_NUM_THREADS threads, as when the kernel ran on numba's own pool: the Dask
    # workers set it to 1 (mothlib.study.cluster.WORKER_ENV). numba.config sets its attributes
    # at import time, out of mypy's sight.
    threads = min(n_jobs, numba.config.NUMBA_NUM_THREADS, len(starts))  # type: ignore[attr-defined]
    if threads <= 1:
        run(0, n)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            # list() re-raises a worker's exception
            list(pool.map(lambda lo: run(lo, min(n, lo + _moth_numba.BLOCK)), starts))
    out[:] = res[:, :, FROM_INTERNAL]


def simulate(
    initial_states,
    controls,
    *,
    duration: float = 0.02,
    scale: float = 1.0,
    times=None,
    on_failure: str = "raise",
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    max_steps: int = DEFAULT_MAX_STEPS,
    batch_size: int = DEFAULT_BATCH,
    n_jobs: int | None = None,
    engine: str = "auto",
) -> np.ndarray:
    """Integrate the flight model for a batch of samples under constant controls.

    Parameters
    ----------
    initial_states : array_like, shape (N, 8)
        ``(x, x', y, y', theta, theta', phi, phi')`` at t = 0 (CGS units, radians).
    controls : array_like, shape (N, 3)
        ``(F, alpha, tau)``: aerodynamic force (dyn), its angle to the head-thorax axis (rad),
        abdominal torque (dyn cm); constant over the window.
    duration : float
        Length of the window in seconds (the study's wingstroke: 0.02).
    scale : float
        Length scale of the moth (:meth:`MothParams.at_scale`).
    times : array_like, shape (T,), optional
        Strictly increasing output times within ``[0, duration]``. Without it only the end
        state is returned.
    on_failure : {"raise", "nan"}
        What to do with samples that cannot be integrated to tolerance (step-size underflow,
        more than ``max_steps`` steps, non-finite values): raise :class:`IntegrationError`
        naming them, or return NaN rows for them and warn with their count.
    rtol, atol : float
        Relative and absolute tolerance of each step's error (max norm over components).
    max_steps : int
        Attempted steps per sample before it fails.
    batch_size : int
        Samples integrated together (memory and cache). Results do not depend on it: each
        sample's steps are its own.
    n_jobs : int, optional
        Threads that integrate side by side (numba: blocks of samples in a thread pool, at most
        ``NUMBA_NUM_THREADS``, default one per CPU core; numpy: batches in a thread pool,
        default 1).
    engine : {"auto", "numba", "numpy"}
        ``"numba"`` (and ``"auto"``): the method compiled, 8 samples side by side per thread,
        spread over the cores. ``"numpy"``: the readable reference, the batch vectorised with
        numpy, one Python loop over time steps (several times slower). Both run the same
        method with the same step-size control and agree to round-off, carried by the
        step-size controller (the tests ask for 1e-10 on random samples, 2e-9 on adversarial
        ones). Both run on the CPU.

    Returns
    -------
    numpy.ndarray, float64
        Shape (N, 8): the states at ``duration``; with ``times``, shape (N, T, 8).

    Raises
    ------
    ValueError
        For wrong shapes, non-finite inputs, a non-positive duration or tolerance, output times
        out of range, an unknown ``on_failure`` or ``engine``.
    IntegrationError
        With ``on_failure="raise"``, when some samples fail; ``.indices`` names them.
    """
    if engine not in ("auto", "numpy", "numba"):
        raise ValueError(f"engine must be 'auto', 'numpy' or 'numba', got {engine!r}")
    use_numba = engine != "numpy"
    if on_failure not in ("raise", "nan"):
        raise ValueError(f"on_failure must be 'raise' or 'nan', got {on_failure!r}")
    duration = check_positive(duration, "duration")
    check_positive(rtol, "rtol")
    check_positive(atol, "atol")
    if int(max_steps) < 1 or int(batch_size) < 1:
        raise ValueError("max_steps and batch_size must be positive integers")
    if n_jobs is None:
        # numpy threads did not pay where measured (benchmarks/README.md, "Simulator").
        n_jobs = (os.cpu_count() or 1) if use_numba else 1
    if int(n_jobs) < 1:
        raise ValueError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    params = MothParams.at_scale(scale)
    s0 = _as_batch(initial_states, "initial_states", 8)
    u = _as_batch(controls, "controls", 3)
    if s0.shape[0] != u.shape[0]:
        raise ValueError(
            f"initial_states has {s0.shape[0]} rows but controls has {u.shape[0]}"
        )
    t_out = np.array([duration]) if times is None else _check_times(times, duration)

    n = s0.shape[0]
    out = np.empty((n, t_out.size, 8))
    status = np.zeros(n, dtype=np.int8)
    # A first step well below the joint mode's time scale (~1/16000 s); the controller grows it.
    h0 = min(1e-6, duration)
    # Error-filter rate (rosenbrock.integrate): modes decaying within the window, and never
    # slower than FILTER_RATE, count by what survives of them.
    mu = max(FILTER_RATE, 1.0 / duration)

    def run(lo: int) -> None:
        hi = min(n, lo + int(batch_size))
        # Overflow inside a step is caught by the finiteness test, which fails the sample.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            res = integrate(
                FlightModel(params, u[lo:hi].T),
                s0[lo:hi, TO_INTERNAL].T,
                t_out,
                rtol=float(rtol),
                atol=float(atol),
                max_steps=int(max_steps),
                h0=h0,
                mu=mu,
            )
        out[lo:hi] = res.states[:, :, FROM_INTERNAL]
        status[lo:hi] = res.status

    starts = range(0, n, int(batch_size))
    if use_numba:
        _run_numba(params, s0, u, t_out, out, status, float(rtol), float(atol),
                   int(max_steps), h0, mu, int(n_jobs))
    elif int(n_jobs) == 1 or len(starts) == 1:
        for lo in starts:
            run(lo)
    else:
        with ThreadPoolExecutor(max_workers=min(int(n_jobs), len(starts))) as pool:
            list(pool.map(run, starts))  # list() re-raises a worker's exception

    failed = np.nonzero(status)[0]
    if failed.size:
        reasons = [STATUS_TEXT[int(status[i])] for i in failed]
        if on_failure == "raise":
            raise IntegrationError(failed, reasons)
        warnings.warn(
            f"{failed.size} of {n} sample(s) could not be integrated to tolerance and are NaN",
            RuntimeWarning,
            stacklevel=2,
        )
    return out[:, -1, :] if times is None else out
