"""Task priorities and the kernel warm-up on real local Dask clusters.

``make book`` runs every stage on one cluster; a stage's tasks carry its
:attr:`~mothlib.study.stages.Stage.priority`, so the pruning chains run ahead of work nobody waits
for, and :func:`~mothlib.study.warmup.warm_workers` compiles each numba kernel family on one
worker only.
"""

from __future__ import annotations

import time
import uuid

import pytest

from mothlib.study import stages
from mothlib.study.cluster import Runner, open_runner
from mothlib.study.profiles import get_profile
from mothlib.study.store import ArtifactStore


def _hold_the_worker(started: str, gate: str) -> None:
    from distributed import Event

    Event(started).set()
    Event(gate).wait(timeout=60)


def _stamp(_: int) -> int:
    return time.monotonic_ns()


def test_higher_priority_tasks_run_first_on_a_busy_worker():
    from distributed import Event

    with open_runner("local", n_workers=1) as runner:
        started, gate = (f"{what}-{uuid.uuid4().hex}" for what in ("started", "gate"))
        blocker = runner.submit(_hold_the_worker, started, gate)  # the rest queue behind it
        assert Event(started, client=runner.client).wait(timeout=60)
        # Keys of their own (task groups of one), so that Dask sends every task to the worker at
        # once rather than queueing a large group: the worker then picks by priority alone. Bulk
        # tasks are submitted before and after the urgent ones, so that no submission order (first
        # or last in, by key) puts the urgent ones first without their priority.
        def bulk(i: int):
            return runner.submit(_stamp, i, key=f"bulk{chr(97 + i)}-{uuid.uuid4().hex}")

        low = [bulk(0), bulk(1)]
        high = [runner.with_priority(3).submit(_stamp, i, key=f"urgent{chr(97 + i)}-{uuid.uuid4().hex}")
                for i in range(2)]
        low += [bulk(2), bulk(3)]
        time.sleep(0.5)  # every task reaches the scheduler before the worker frees up
        Event(gate, client=runner.client).set()
        blocker.result()
        low_times = [f.result() for f in low]
        high_times = [f.result() for f in high]
    assert max(high_times) < min(low_times), (high_times, low_times)


def test_with_priority_keeps_the_cluster_and_in_process_order():
    runner = Runner(None)
    ranked = runner.with_priority(5)
    assert ranked.client is runner.client and ranked.priority == 5 and runner.priority == 0
    order: list[str] = []
    later = runner.submit(order.append, "first")
    sooner = ranked.submit(order.append, "second")
    later.result()
    sooner.result()
    assert order == ["first", "second"]  # in process, submission order whatever the priority


def test_a_stage_submits_its_tasks_at_its_own_priority(tmp_path, monkeypatch):
    seen: list[int] = []
    stage = stages.STAGES["data"]

    def compute(settings, store, workdir, scratch, runner, progress):
        seen.append(runner.priority)
        raise RuntimeError("stop here")

    monkeypatch.setitem(stages.STAGES, "data", stage.__class__(**{**vars(stage), "compute": compute}))
    profile = get_profile("smoke")
    with pytest.raises(RuntimeError, match="stop here"):
        stages.run("data", profile, ArtifactStore("smoke", tmp_path), Runner(None), progress=False)
    assert seen == [stage.priority]
    # The longest chains first: pruning (and structured pruning, which waits for it) ahead of
    # the training-length experiment, which no other stage reads.
    assert stages.STAGES["pruning"].priority > stages.STAGES["training_length"].priority
    assert stages.STAGES["structured"].priority > stages.STAGES["training_length"].priority


def _compiled_kernels() -> dict[str, bool]:
    from mothlib.motifs import _count_sparse
    from mothlib.simulation import _moth_numba

    return {"simulator": bool(_moth_numba.integrate_lanes.signatures),
            "motifs": bool(_count_sparse._count_sparse.signatures)}


def test_warm_workers_puts_each_kernel_family_on_its_own_worker():
    from mothlib.study.warmup import warm_workers

    assert warm_workers(Runner(None)) == []
    with open_runner("local", n_workers=2) as runner:
        runner.client.gather(warm_workers(runner))
        compiled = runner.client.run(_compiled_kernels)
    first, second = (compiled[w] for w in sorted(compiled))
    # The session's caches exist (conftest.py), so each worker only loaded what it was given.
    assert first == {"simulator": True, "motifs": False}, compiled
    assert second == {"simulator": False, "motifs": True}, compiled
