"""Where the study's tasks run: a local Dask cluster (default), an existing Dask scheduler, or
this process.

Every long stage is cut into tasks, each a pure function of its arguments (arrays and seeds);
the stage submits them through a :class:`Runner`, writes each result through the artifact store
as it arrives (so a killed client resumes from the last finished task) and never assumes the
workers share its file system.

``open_runner("local")`` starts a ``distributed.LocalCluster`` of single-threaded worker
processes, one per core; ``open_runner("tcp://host:8786")`` joins an existing scheduler (a
``dask-jobqueue`` SLURM/PBS cluster, say); ``open_runner("none")`` runs every task in this
process, in submission order (for debugging and notebooks).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Any

__all__ = ["Runner", "open_runner", "resolve_scheduler", "SCHEDULER_ENV", "INLINE"]

#: Environment variable naming the scheduler (``local``, ``none`` or an address).
SCHEDULER_ENV = "MOTHLIB_SCHEDULER"
#: Scheduler names meaning "run in this process".
INLINE = ("none", "inline", "in-process")
#: Single-threaded workers: the tasks are sized for one core each, and two BLAS/numba pools
#: fighting over one core are far slower than one.
WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}


#: Worker settings for many small torch operations (benchmarks/README.md). Dask's default
#: MALLOC_TRIM_THRESHOLD_ turns off glibc's adaptive mmap threshold, so every activation buffer
#: was mmapped and unmapped again: training steps ran about 2x slower than in a plain process.
LOCAL_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": str(1 << 30),
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": str(1 << 30),
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    # A worker holds only the task it runs, so a higher-priority task (Stage.priority) that
    # becomes ready goes next instead of after tasks already sent ahead.
    "distributed.scheduler.worker-saturation": 1.0,
}


class _LazyFuture:
    """An in-process task, run when its result is first asked for (so the client's checkpoint
    of one task is written before the next task starts, as on a cluster)."""

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        self._call: tuple | None = (fn, args, kwargs)
        self._future: Future = Future()

    def result(self) -> Any:
        if self._call is not None:
            fn, args, kwargs = self._call
            self._call = None
            try:
                self._future.set_result(fn(*args, **kwargs))
            except Exception as exc:  # noqa: BLE001 - re-raised just below, as on a cluster
                self._future.set_exception(exc)
        return self._future.result()


class _InlineCompleted:
    """``as_completed`` for inline futures: submission order, and ``add`` while iterating."""

    def __init__(self, futures: Iterable[_LazyFuture] = ()) -> None:
        self._queue = collections.deque(futures)

    def add(self, future: _LazyFuture) -> None:
        self._queue.append(future)

    def __iter__(self) -> Iterator[_LazyFuture]:
        while self._queue:
            yield self._queue.popleft()


class Runner:
    """Submits tasks to a Dask client, or runs them in this process when ``client`` is None.

    Parameters
    ----------
    client : distributed.Client, optional
        None runs every task at once, in this process.
    priority : int
        Dask priority of the tasks it submits (higher runs first among tasks ready at the same
        time; in this process tasks run in submission order whatever it is).
    """

    def __init__(self, client: Any = None, priority: int = 0) -> None:
        self.client = client
        self.priority = int(priority)

    def with_priority(self, priority: int) -> Runner:
        """The same cluster, submitting at ``priority`` (see the class parameters)."""
        return Runner(self.client, priority)

    def __repr__(self) -> str:
        where = "in-process" if self.client is None else f"dask scheduler {self.address}"
        return f"Runner({where}, workers={self.n_workers})"

    @property
    def address(self) -> str | None:
        return None if self.client is None else self.client.scheduler.address

    @property
    def dashboard(self) -> str | None:
        """The Dask dashboard's address when one is served (bokeh installed), else None."""
        if self.client is None:
            return None
        with contextlib.suppress(Exception):
            info = self.client.scheduler_info()
            if info.get("services", {}).get("dashboard"):
                return self.client.dashboard_link
        return None

    @property
    def n_workers(self) -> int:
        """Workers available now (1 in process)."""
        if self.client is None:
            return 1
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def submit(self, fn: Callable[..., Any], *args: Any, key: str | None = None, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` as a task; return its future.

        ``key`` names the task on the cluster (its dashboard label and retry identity). Tasks
        are pure, so a task lost with its worker is simply rerun.
        """
        if self.client is not None:
            return self.client.submit(fn, *args, key=key, pure=False, priority=self.priority, **kwargs)
        return _LazyFuture(fn, args, kwargs)

    def scatter(self, data: Any) -> Any:
        """Send ``data`` (e.g. the training arrays) to every worker once; use the handle as an
        argument of :meth:`submit`."""
        if self.client is None:
            return data
        if isinstance(data, dict):
            # Dask would key a scattered dict's values by the dict's own keys ("train", ...),
            # so two stages scattering their splits at once would overwrite each other.
            futures = self.client.scatter(list(data.values()), broadcast=True, hash=False)
            return dict(zip(data, futures))
        return self.client.scatter(data, broadcast=True, hash=False)

    def as_completed(self, futures: Iterable[Any] = ()) -> Any:
        """Iterate futures as they finish; ``.add(future)`` adds one while iterating."""
        if self.client is None:
            return _InlineCompleted(futures)
        from distributed import as_completed

        return as_completed(list(futures))

    @staticmethod
    def result(future: Any) -> Any:
        """The task's result (raising its exception)."""
        return future.result()

    def cancel(self, futures: Iterable[Any]) -> None:
        if self.client is not None:
            self.client.cancel(list(futures))


def resolve_scheduler(scheduler: str | None) -> str:
    """``scheduler``, else ``$MOTHLIB_SCHEDULER``, else Dask's ``scheduler-address`` config,
    else ``"local"``."""
    if scheduler:
        return scheduler
    if os.environ.get(SCHEDULER_ENV):
        return os.environ[SCHEDULER_ENV]
    import dask

    return dask.config.get("scheduler-address", None) or "local"


def _has_bokeh() -> bool:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def open_runner(
    scheduler: str | None = None,
    *,
    n_workers: int | None = None,
    timeout: float = 10.0,
) -> Iterator[Runner]:
    """A :class:`Runner` for the duration of a ``with`` block.

    Parameters
    ----------
    scheduler : str, optional
        ``"local"`` (a LocalCluster started here and closed at the end), ``"none"`` (this
        process), or a scheduler address such as ``"tcp://10.0.0.5:8786"``. Default: see
        :func:`resolve_scheduler`.
    n_workers : int, optional
        Worker processes of a local cluster (default: one per core).
    timeout : float
        Seconds to wait for an existing scheduler before giving up.

    Raises
    ------
    RuntimeError
        When the scheduler at the address cannot be reached within ``timeout``.
    ValueError
        For ``n_workers`` < 1.
    """
    scheduler = resolve_scheduler(scheduler)
    if n_workers is not None and int(n_workers) < 1:
        raise ValueError(f"n_workers must be at least 1, got {n_workers}")
    if scheduler.lower() in INLINE:
        yield Runner(None)
        return
    from distributed import Client, LocalCluster

    if scheduler == "local":
        import dask

        n = int(n_workers or os.cpu_count() or 1)
        with dask.config.set(LOCAL_CONFIG):
            cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True,
                dashboard_address=":0" if _has_bokeh() else None,
                silence_logs=logging.ERROR, env=dict(WORKER_ENV),
            )
        client = Client(cluster)
        try:
            yield Runner(client)
        finally:
            client.close()
            cluster.close()
        return
    try:
        client = Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        raise RuntimeError(
            f"cannot reach the Dask scheduler at {scheduler!r} within {timeout:g} s ({exc}); "
            f"start one (`dask scheduler`) or use --scheduler local"
        ) from exc
    try:
        yield Runner(client)
    finally:
        client.close()
