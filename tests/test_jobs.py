"""The client-side job graph that runs make book's stages and chapters side by side."""

from __future__ import annotations

import threading

import pytest

from mothlib.study.jobs import Job, run_jobs


def test_jobs_start_after_their_needs_and_independent_ones_overlap():
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    # Generous: it only bounds a hang; the two jobs meet as soon as both have started.
    both_running = threading.Barrier(2, timeout=60)

    def work(name: str, meet: bool = False):
        def run():
            with lock:
                log.append(("start", name))
            if meet:
                both_running.wait()  # fails unless the two independent jobs run at once
            with lock:
                log.append(("end", name))
            return name.upper()
        return run

    jobs = [
        Job("data", (), work("data")),
        Job("pruning", ("data",), work("pruning", meet=True)),
        Job("length", ("data",), work("length", meet=True)),
        Job("motifs", ("pruning",), work("motifs")),
        Job("chapter", ("motifs", "length"), work("chapter")),
    ]
    results = run_jobs(jobs)
    assert results == {j.name: j.name.upper() for j in jobs}
    at = {event: i for i, event in enumerate(log)}
    for job in jobs:
        for need in job.needs:
            assert at[("end", need)] < at[("start", job.name)]


def test_jobs_one_at_a_time_keep_the_listed_order():
    order: list[str] = []
    jobs = [Job(n, (), lambda n=n: order.append(n)) for n in "abcd"]
    run_jobs(jobs, parallel=False)
    assert order == list("abcd")


def _job_threads_finish(before: set[threading.Thread]) -> None:
    """Join the job threads started since ``before``: once they have exited, no job can start."""
    for thread in set(threading.enumerate()) - before:
        if thread.name.startswith("mothlib-job"):
            thread.join(60)  # bounds a hang only; an idle pool thread exits at once after shutdown
            assert not thread.is_alive(), f"job thread {thread.name} never exited"


def test_a_failed_job_fails_the_run_and_its_dependants_never_start():
    started: list[str] = []
    before = set(threading.enumerate())

    def boom():
        raise RuntimeError("stage pruning failed")

    jobs = [
        Job("pruning", (), boom),
        Job("motifs", ("pruning",), lambda: started.append("motifs")),
    ]
    with pytest.raises(RuntimeError, match="stage pruning failed"):
        run_jobs(jobs)
    # run_jobs returns without waiting for its threads; the dependant's thread decides whether
    # to run it, so wait for that thread to exit rather than for some time to pass.
    _job_threads_finish(before)
    assert started == []


@pytest.mark.parametrize("jobs, message", [
    ([Job("a", ("b",), lambda: 0), Job("b", (), lambda: 0)], "needs \\['b'\\]"),
    ([Job("a", (), lambda: 0), Job("a", (), lambda: 0)], "listed twice"),
])
def test_bad_graphs_are_named(jobs, message):
    with pytest.raises(ValueError, match=message):
        run_jobs(jobs)
