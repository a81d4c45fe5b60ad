"""A small dependency graph of client-side jobs, run side by side.

``make book`` has independent lines of work: the moth's pruning and motif stages, its
training-length experiment (which needs only the data), the digits study, and ten chapters
that each read a few stages. Run one after another, each leaves workers idle while its last
tasks finish. Here every job is a client thread that waits for the jobs it needs and then
submits its own tasks to the same Dask cluster, so Dask's scheduler keeps every worker busy
with whatever is ready. Jobs only drive and wait; the work itself runs on the cluster.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Job", "run_jobs"]


@dataclass(frozen=True)
class Job:
    """One unit of client-side work.

    Attributes
    ----------
    name : str
        Unique within a graph.
    needs : tuple of str
        Names of jobs that must finish first (listed earlier in the graph).
    run : callable
        Called with no arguments once every job of ``needs`` has finished; its return value is
        the job's result.
    """

    name: str
    needs: tuple[str, ...]
    run: Callable[[], Any]


def _check(jobs: Sequence[Job]) -> None:
    seen: set[str] = set()
    for job in jobs:
        if job.name in seen:
            raise ValueError(f"job {job.name!r} is listed twice")
        missing = [n for n in job.needs if n not in seen]
        if missing:
            raise ValueError(
                f"job {job.name!r} needs {missing}, which are not listed before it "
                f"(jobs must come after the jobs they need)"
            )
        seen.add(job.name)


def _after(needs: list[cf.Future], run: Callable[[], Any]) -> Any:
    for need in needs:
        need.result()  # a failed need fails this job too, without running it
    return run()


def run_jobs(jobs: Sequence[Job], *, parallel: bool = True) -> dict[str, Any]:
    """Run ``jobs`` in threads, each as soon as the jobs it needs have finished.

    Parameters
    ----------
    jobs : sequence of Job
        In an order where every job comes after the jobs it needs (so the graph has no cycle).
    parallel : bool
        False runs them one at a time in the listed order (for work that runs in this process,
        where threads would only compete for the same cores).

    Returns
    -------
    dict
        Job name -> its result.

    Raises
    ------
    ValueError
        For a repeated name or a need that is not listed earlier.
    Exception
        The first failure of any job, as soon as it happens; jobs not yet started are cancelled
        (running ones stop when the caller closes their cluster).
    """
    _check(jobs)
    if not jobs:
        return {}
    pool = cf.ThreadPoolExecutor(len(jobs) if parallel else 1, thread_name_prefix="mothlib-job")
    futures: dict[str, cf.Future] = {}
    try:
        for job in jobs:
            futures[job.name] = pool.submit(_after, [futures[n] for n in job.needs], job.run)
        done, _ = cf.wait(futures.values(), return_when=cf.FIRST_EXCEPTION)
        for future in futures.values():
            if future in done and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        return {name: future.result() for name, future in futures.items()}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
