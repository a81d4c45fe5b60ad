"""The client-side job graph that runs make book's stages and chapters side by side."""

from __future__ import annotations

import threading
import time

import pytest

from mothlib.study.jobs import Job, run_jobs


def test_jobs_start_after_their_needs_and_independent_ones_overlap():
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    both_running = threading.Barrier(2, timeout=5)

    def work(name: str, meet: bool = False):
        def run():
            with lock:
                log.append(("start", name))
            if meet:
                both_running.wait()  # fails unless the two independent jobs run at once
            time.sleep(0.01)
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


def test_a_failed_job_fails_the_run_and_its_dependants_never_start():
    started: list[str] = []

    def boom():
        raise RuntimeError("stage pruning failed")

    jobs = [
        Job("pruning", (), boom),
        Job("motifs", ("pruning",), lambda: started.append("motifs")),
    ]
    with pytest.raises(RuntimeError, match="stage pruning failed"):
        run_jobs(jobs)
    time.sleep(0.05)
    assert started == []


@pytest.mark.parametrize("jobs, message", [
    ([Job("a", ("b",), lambda: 0), Job("b", (), lambda: 0)], "needs \\['b'\\]"),
    ([Job("a", (), lambda: 0), Job("a", (), lambda: 0)], "listed twice"),
])
def test_bad_graphs_are_named(jobs, message):
    with pytest.raises(ValueError, match=message):
        run_jobs(jobs)
