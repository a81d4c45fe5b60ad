"""The stages on real Dask clusters: same results in process, on one worker and on two; a
killed worker or client costs only unfinished work; a bad scheduler address fails fast.

The smoke profile runs three times (in process, 1 worker, 2 workers) in module-scoped fixtures
that the other tests reuse.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mothlib.study import stages
from mothlib.study.cluster import Runner, open_runner
from mothlib.study.data import load_splits
from mothlib.study.profiles import get_profile
from mothlib.study.pruning_stage import load_masks, load_weights
from mothlib.study.store import ArtifactStore

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")
# Small everything: the point is where the work runs, not the statistics.
SMALL = dict(n_samples=2000, data_chunk_size=500, schedule=[0.3, 0.6, 0.8], max_batches_dense=60,
             max_batches_per_round=30, n_null=8, n_null_degree=6)
PROFILE = get_profile("smoke", **SMALL)


def _run(root: Path, runner: Runner | None, profile=PROFILE) -> ArtifactStore:
    store = ArtifactStore("smoke", root)
    stages.run_all(profile, store=store, runner=runner, progress=False)
    return store


@pytest.fixture(scope="module")
def inline(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("inline"), None)


@pytest.fixture(scope="module")
def two_workers():
    with open_runner("local", n_workers=2) as runner:
        yield runner


def _assert_same_results(a: ArtifactStore, b: ArtifactStore) -> None:
    for split, (X, Y) in load_splits(a).items():
        np.testing.assert_array_equal(X, load_splits(b)[split][0])
        np.testing.assert_array_equal(Y, load_splits(b)[split][1])
    for name in ("pruning.parquet", "motifs.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(a.path(name)), pd.read_parquet(b.path(name)),
                                      check_exact=True)
    n_levels = len(PROFILE["schedule"])
    for strategy in PROFILE["strategies"]:
        for level in range(n_levels):
            for x, y in zip(sum(load_masks(a, strategy, level), []), sum(load_masks(b, strategy, level), [])):
                np.testing.assert_array_equal(x, y)
            for x, y in zip(sum(load_weights(a, strategy, level), []), sum(load_weights(b, strategy, level), [])):
                np.testing.assert_array_equal(x, y)
    for stage in ("pruning", "motifs"):
        assert a.require(stage)["outputs_hash"] == b.require(stage)["outputs_hash"]


def _total(data):
    return {k: float(np.sum(v)) for k, v in data.items()}


def test_scattered_dicts_with_the_same_keys_stay_apart(two_workers):
    """Two stages scatter their splits under the same names ("train", ...) at once (make book
    runs the moth's and the digits' pruning side by side): each task must see its own."""
    a = two_workers.scatter({"train": np.ones(5), "val": np.ones(2)})
    b = two_workers.scatter({"train": np.full(5, 3.0), "val": np.zeros(2)})
    assert two_workers.result(two_workers.submit(_total, a)) == {"train": 5.0, "val": 2.0}
    assert two_workers.result(two_workers.submit(_total, b)) == {"train": 15.0, "val": 0.0}


def test_one_and_two_workers_give_the_in_process_results(inline, two_workers, tmp_path):
    assert two_workers.n_workers == 2
    _assert_same_results(inline, _run(tmp_path / "two", two_workers))
    with open_runner("local", n_workers=1) as one:
        assert one.n_workers == 1
        _assert_same_results(inline, _run(tmp_path / "one", one))


def _kill_on_start(stage: str, flag: Path):
    """A worker plugin that SIGKILLs its worker as it starts a task of ``stage``, once in all:
    the worker that creates ``flag`` (holding its address) is the one killed.

    Built inside a function so that cloudpickle sends the class by value (the workers cannot
    import this test module).
    """
    from distributed import WorkerPlugin

    class KillOnStart(WorkerPlugin):
        def setup(self, worker) -> None:
            self.address = worker.address

        def transition(self, key, start, finish, **kwargs) -> None:
            if finish != "executing" or not str(key).startswith(f"{stage}-"):
                return
            try:
                fd = os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return  # a worker was killed already (perhaps this one, before its restart)
            os.write(fd, self.address.encode())
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)

    return KillOnStart()


def _kill_a_worker_mid_stage(runner: Runner, stage: str, store: ArtifactStore, profile) -> list[str]:
    """Run ``stage``; a worker SIGKILLs itself as it starts one of the stage's tasks (an event
    on the worker, not a poll that a fast task can slip past)."""
    client = runner.client
    flag = store.root / f"killed-{stage}-{uuid.uuid4().hex[:8]}"
    name = f"kill-on-start-{flag.name}"
    errors: list[BaseException] = []

    def work() -> None:
        try:
            stages.run(stage, profile, store, runner, progress=False)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    client.register_plugin(_kill_on_start(stage, flag), name=name)
    try:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join(300)  # bounds a hang only
        assert not thread.is_alive(), "the stage did not finish after a worker was killed"
    finally:
        client.unregister_worker_plugin(name)
    assert not errors, errors
    assert flag.exists(), f"no worker started a {stage} task, so nothing was killed"
    return [flag.read_text()]


def test_a_killed_worker_costs_only_its_running_task(inline, two_workers, tmp_path):
    store = ArtifactStore("smoke", tmp_path)
    stages.run("data", PROFILE, store, two_workers, progress=False)
    _kill_a_worker_mid_stage(two_workers, "pruning", store, PROFILE)
    _kill_a_worker_mid_stage(two_workers, "motifs", store, PROFILE)
    _assert_same_results(inline, store)


def test_killed_client_resumes_where_it_stopped(inline, tmp_path):
    """`python -m mothlib study` on its own LocalCluster, killed with its workers mid-pruning."""
    root = tmp_path / "art"
    env = {**os.environ, "MOTHLIB_ARTIFACTS": str(root), "PYTHONPATH": str(REPO)}
    over = [a for k, v in SMALL.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    cmd = [sys.executable, "-m", "mothlib", "study", "--profile", "smoke", "--workers", "2",
           "--stages", "data,pruning", "--no-progress", *over]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints: list[Path] = []
    try:
        deadline = time.monotonic() + 240  # bounds a hang only; the kill waits on checkpoints
        while time.monotonic() < deadline and proc.poll() is None:
            checkpoints = list(root.glob("smoke/.partial/pruning-*/shard*/*/level_*.npz"))
            if len([c for c in checkpoints if not c.name.endswith("00.npz")]) >= 2:
                break
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the client and its workers
        proc.wait()
    store = ArtifactStore("smoke", root)
    assert checkpoints, "the run never checkpointed a pruned level"
    assert store.manifest("pruning") is None, "the run finished before it could be killed"
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not any(root.glob("smoke/.partial/pruning-*")), "scratch should be removed on success"
    # (tests/test_pruning.py counts the rounds a resumed client trains; here: same results.)
    pd.testing.assert_frame_equal(pd.read_parquet(inline.path("pruning.parquet")),
                                  pd.read_parquet(store.path("pruning.parquet")), check_exact=True)
    assert inline.require("pruning")["outputs_hash"] == store.require("pruning")["outputs_hash"]


def test_results_do_not_depend_on_sharding(inline, tmp_path):
    """One network per task instead of two: same masks; weights and losses agree to float
    rounding (a batch of one network takes another matmul kernel)."""
    store = ArtifactStore("smoke", tmp_path)
    stages.run_all(get_profile("smoke", **SMALL, networks_per_task=1), ["data", "pruning"], store, progress=False)
    a, b = (pd.read_parquet(s.path("pruning.parquet")) for s in (inline, store))
    pd.testing.assert_frame_equal(a, b, rtol=1e-6)
    for strategy in PROFILE["strategies"]:
        for level in range(len(PROFILE["schedule"])):
            for x, y in zip(sum(load_masks(inline, strategy, level), []), sum(load_masks(store, strategy, level), [])):
                np.testing.assert_array_equal(x, y)
            for x, y in zip(sum(load_weights(inline, strategy, level), []), sum(load_weights(store, strategy, level), [])):
                np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)


def test_unreachable_scheduler_fails_fast_and_clearly(tmp_path, monkeypatch):
    import distributed

    # "Fast" means the client gives up after our timeout rather than Dask's default: check the
    # timeout it was handed, not the seconds it took.
    connects: list[dict] = []
    real_client = distributed.Client

    def client(*args, **kwargs):
        connects.append(kwargs)
        return real_client(*args, **kwargs)

    monkeypatch.setattr(distributed, "Client", client)
    with pytest.raises(RuntimeError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9' within 2 s"):
        with open_runner("tcp://127.0.0.1:9", timeout=2):
            pass
    assert [c.get("timeout") for c in connects] == ["2s"]
    result = subprocess.run(
        [sys.executable, "-m", "mothlib", "study", "--profile", "smoke", "--scheduler", "tcp://127.0.0.1:9"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "MOTHLIB_ARTIFACTS": str(tmp_path)},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot reach the Dask scheduler")
    with pytest.raises(ValueError, match="n_workers"):
        with open_runner("local", n_workers=0):
            pass


def test_scheduler_from_environment(monkeypatch):
    from mothlib.study.cluster import resolve_scheduler

    monkeypatch.setenv("MOTHLIB_SCHEDULER", "none")
    assert resolve_scheduler(None) == "none"
    assert resolve_scheduler("tcp://x:1") == "tcp://x:1"
    monkeypatch.delenv("MOTHLIB_SCHEDULER")
    assert resolve_scheduler(None) == "local"
