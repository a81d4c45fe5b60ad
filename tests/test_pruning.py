"""Pruning: mask rules vs sort-based twins, selection, the stage's outputs, cache and kill-resume.

The ``data`` stage is replaced by a fake one (synthetic arrays in a tmp store, read by a fake
``mothlib.study.data`` module), so these tests depend on nothing upstream.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mothlib.networks.ensemble as ensemble
import mothlib.study.pruning_stage as pruning_stage
from mothlib.networks.ensemble import EnsembleMLP, masks_from_module, network_seeds
from mothlib.study.profiles import get_profile
from mothlib.study import stages
from mothlib.study.pruning_stage import (
    load_masks,
    load_network,
    load_pruning_table,
    load_selected_weights,
    load_weights,
)
from mothlib.networks.pruning import (
    mark_selected,
    magnitude_mask,
    pack_masks,
    prune_count,
    random_mask,
    sparsest_accurate_levels,
    unpack_masks,
    validate_schedule,
)
from mothlib.study.store import ArtifactStore

REPO = Path(__file__).resolve().parents[1]

# A run small enough for seconds, with enough levels to kill it in the middle.
SMALL = dict(
    n_networks=3,
    hidden_sizes=[12, 12, 6],
    es_min_batches=20,
    es_window=10,
    es_check_every=5,
    max_batches_per_round=30,
    max_batches_dense=60,
    schedule=[0.2, 0.4, 0.6, 0.8, 0.9],
    loss_threshold=2e-2,
    learning_rate=3e-3,
)

FAKE_DATA = '''
import sys, types
import numpy as np

def load_splits(store):
    store.require("data")
    with np.load(store.path("data") / "splits.npz") as z:
        return {k: (z[k + "_X"], z[k + "_Y"]) for k in ("train", "val", "test")}

fake = types.ModuleType("mothlib.study.data")
fake.load_splits = load_splits
sys.modules["mothlib.study.data"] = fake
'''


def _install_fake_data(monkeypatch):
    import mothlib.study.data

    # Recorded first, so that the real module is back after the test (FAKE_DATA replaces it).
    monkeypatch.setitem(sys.modules, "mothlib.study.data", mothlib.study.data)
    namespace: dict = {}
    exec(FAKE_DATA, namespace)  # noqa: S102 - our own source, shared with the subprocess
    monkeypatch.setitem(sys.modules, "mothlib.study.data", namespace["fake"])


def _splits(seed=0, sizes=(2000, 600, 600), nan=False):
    rng = np.random.default_rng(seed)
    A = np.random.default_rng(99).standard_normal((10, 7))
    out = {}
    for name, n in zip(("train", "val", "test"), sizes):
        X = rng.uniform(-0.5, 0.5, (n, 10)).astype(np.float32)
        out[name] = (X, (np.tanh(X @ A * 0.5) * 0.4).astype(np.float32))
    if nan:
        out["val"][0][3, 2] = np.nan
    return out


def _write_data(store: ArtifactStore, splits, tag=0):
    def compute(workdir, scratch):
        (workdir / "data").mkdir()
        np.savez(workdir / "data" / "splits.npz",
                 **{f"{k}_{xy}": a for k, v in splits.items() for xy, a in zip("XY", v)})

    store.run_stage("data", {"tag": tag}, ["data"], compute)


@pytest.fixture
def store(tmp_path, monkeypatch):
    _install_fake_data(monkeypatch)
    st_ = ArtifactStore("smoke", tmp_path / "artifacts")
    _write_data(st_, _splits())
    return st_


# Tiny tensors: one thread is several times faster than two on a shared 2-core machine.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- mask rules ----------------------------------------------------------------------------
@given(f=st.floats(0.001, 0.999), n=st.integers(0, 10**6))
def test_prune_count_is_exact_floor(f, n):
    assert prune_count(f, n) == int(Fraction(repr(f)) * n // 1)


def test_prune_count_avoids_binary_rounding():
    assert prune_count(0.29, 100) == 29 and int(0.29 * 100) == 28


def _magnitude_twin(values: np.ndarray, mask: np.ndarray, f: float) -> np.ndarray:
    """Per network: already-pruned first, then ascending |w|, ties by flat index."""
    out = np.ones_like(mask)
    for e in range(values.shape[0]):
        v, m = values[e].ravel(), mask[e].ravel()
        k = prune_count(f, v.size)
        keys = sorted(range(v.size), key=lambda i: (bool(m[i]), abs(float(v[i])) if m[i] else 0.0, i))
        flat = np.ones(v.size, bool)
        flat[keys[:k]] = False
        out[e] = flat.reshape(mask.shape[1:])
    return out


@settings(max_examples=60, deadline=None)
@given(
    E=st.integers(1, 3),
    shape=st.tuples(st.integers(1, 6), st.integers(1, 6)) | st.tuples(st.integers(1, 9)),
    seed=st.integers(0, 10**6),
    fractions=st.lists(st.floats(0.01, 0.99), min_size=1, max_size=4, unique=True),
)
def test_magnitude_mask_matches_sort_twin_and_only_grows(E, shape, seed, fractions):
    rng = np.random.default_rng(seed)
    # Small integers make ties (and exact zeros) common.
    values = rng.integers(-3, 4, (E, *shape)).astype(np.float32)
    mask = np.ones((E, *shape), bool)
    for f in sorted(fractions):
        new = magnitude_mask(torch.from_numpy(values), torch.from_numpy(mask), f).numpy()
        assert np.array_equal(new, _magnitude_twin(values, mask, f))
        n = int(np.prod(shape))
        assert ((~new).reshape(E, -1).sum(axis=1) == prune_count(f, n)).all()
        assert not (~mask & new).any(), "a pruned entry came back"
        mask = new
        values = values * mask  # retraining leaves pruned weights at 0


@settings(max_examples=40, deadline=None)
@given(
    E=st.integers(1, 3),
    n=st.integers(1, 40),
    seed=st.integers(0, 10**6),
    fractions=st.lists(st.floats(0.01, 0.99), min_size=1, max_size=4, unique=True),
)
def test_random_mask_counts_grow_and_determinism(E, n, seed, fractions):
    mask = np.ones((E, n), bool)
    for level, f in enumerate(sorted(fractions)):
        seeds = [[seed, level, e] for e in range(E)]
        new = random_mask(mask, f, seeds)
        assert ((~new).sum(axis=1) == prune_count(f, n)).all()
        assert not (~mask & new).any()
        assert np.array_equal(new, random_mask(mask, f, seeds))
        # A network's choice depends only on its own seed.
        assert np.array_equal(new[-1:], random_mask(mask[-1:], f, seeds[-1:]))
        mask = new


def test_mask_rules_reject_shrinking_fractions():
    mask = np.zeros((1, 10), bool)
    with pytest.raises(ValueError, match="fewer"):
        magnitude_mask(torch.ones(1, 10), torch.from_numpy(mask), 0.5)
    with pytest.raises(ValueError, match="fewer"):
        random_mask(mask, 0.5, [[0]])


def _select_twin(val, threshold):
    out = []
    for row in val:
        ok = [i for i, v in enumerate(row) if v <= threshold]
        out.append(ok[-1] if ok else -1)
    return out


@given(
    val=st.lists(
        st.lists(st.floats(0, 1) | st.just(float("nan")), min_size=1, max_size=6),
        min_size=1, max_size=5,
    ).filter(lambda rows: len({len(r) for r in rows}) == 1),
    threshold=st.floats(0.01, 0.99),
)
def test_sparsest_accurate_levels_matches_twin(val, threshold):
    assert sparsest_accurate_levels(np.array(val), threshold).tolist() == _select_twin(val, threshold)


def test_sparsest_accurate_levels_examples():
    val = np.array([[5e-4, 2e-3, 8e-4, 5e-2], [2e-3, 3e-3, 4e-3, 5e-3]])
    assert sparsest_accurate_levels(val, 1e-3).tolist() == [2, -1]
    with pytest.raises(ValueError, match="2-d"):
        sparsest_accurate_levels(np.zeros(3), 1e-3)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), shapes=st.lists(st.tuples(st.integers(1, 5), st.integers(1, 9)), min_size=1, max_size=3))
def test_pack_round_trip(seed, shapes):
    rng = np.random.default_rng(seed)
    wms = [rng.random((2, *s)) > 0.5 for s in shapes]
    bms = [rng.random((2, s[0])) > 0.5 for s in shapes]
    w2, b2 = unpack_masks(pack_masks(wms, bms))
    assert all(np.array_equal(a, b) for a, b in zip(wms + bms, w2 + b2))
    assert all(a.dtype == bool for a in w2 + b2)


@pytest.mark.parametrize(
    "schedule, match",
    [([], "at least one"), ([0.2, 0.1], "increasing"), ([0.5, 0.5], "increasing"),
     ([0.0, 0.5], "between"), ([0.5, 1.0], "between"), ([float("nan")], "between")],
)
def test_validate_schedule_rejects(schedule, match):
    with pytest.raises(ValueError, match=match):
        validate_schedule(schedule)


# -- the stage -----------------------------------------------------------------------------
def _profile(**kw):
    return get_profile("smoke", **{**SMALL, **kw})


def build_pruning(profile, store, runner=None):
    return stages.run("pruning", profile, store, runner)


def _settings(profile):
    return stages.pruning_settings(stages.stage_settings(profile, "pruning"))


def test_stage_outputs_selection_and_reload(store):
    profile = _profile()
    manifest = build_pruning(profile, store)
    assert manifest["inputs"] == {"data": store.require("data")["outputs_hash"]}
    assert list(pd.read_parquet(store.path("pruning.parquet")).columns) == pruning_stage.COLUMNS
    threshold = SMALL["loss_threshold"]
    table = load_pruning_table(store, threshold)
    n_levels = len(SMALL["schedule"])
    assert len(table) == 2 * 3 * n_levels
    assert sorted(table.level.unique()) == list(range(n_levels))
    # Level 0 (dense) is shared by both strategies.
    a, b = (table[(table.strategy == s) & (table.level == 0)] for s in ("magnitude", "random"))
    np.testing.assert_array_equal(a.val_loss.values, b.val_loss.values)
    sizes = [10, 12, 12, 6, 7]
    n_w = sum(i * o for i, o in zip(sizes[:-1], sizes[1:]))
    expected = [0.0] + [sum(prune_count(f, i * o) for i, o in zip(sizes[:-1], sizes[1:])) / n_w
                        for f in SMALL["schedule"][:-1]]
    for strategy in ("magnitude", "random"):
        t = table[table.strategy == strategy]
        np.testing.assert_allclose(t.groupby("level").fraction_pruned.first().values, expected)
        assert t.groupby("network").selected.sum().max() <= 1
        vals = t.pivot(index="network", columns="level", values="val_loss").values
        chosen = sparsest_accurate_levels(vals, SMALL["loss_threshold"])
        for e in range(3):
            rows = t[(t.network == e) & t.selected]
            assert rows.level.tolist() == ([chosen[e]] if chosen[e] >= 0 else [])
        sel = load_selected_weights(store, strategy, loss_threshold=threshold)
        assert sel["level"].tolist() == chosen.tolist()
        prev: list[np.ndarray] = []  # the previous level's masks
        for level in range(n_levels):
            wms, bms = load_masks(store, strategy, level)
            assert [m.shape for m in wms] == [(3, o, i) for i, o in zip(sizes[:-1], sizes[1:])]
            assert [m.shape for m in bms] == [(3, o) for o in sizes[1:]]
            if level:
                assert all((~p & q).sum() == 0 for p, q in zip(prev, wms))  # only grow
            prev = wms
            frac = 1 - sum(m.reshape(3, -1).sum(1) for m in wms) / n_w
            np.testing.assert_allclose(frac, t[t.level == level].sort_values("network").fraction_pruned)
        # Pruned weights are exactly 0 after retraining, and the reloaded network reproduces
        # the recorded validation loss.
        X, Y = _splits()["val"]
        for e in np.flatnonzero(sel["level"] >= 0):
            wms, bms = load_masks(store, strategy, int(sel["level"][e]))
            assert all((w[e][~m[e]] == 0).all() for w, m in zip(sel["weights"], wms))
            assert all((w[e][m[e]] != 0).all() for w, m in zip(sel["weights"], wms))
            net = load_network(store, strategy, int(e), loss_threshold=threshold)
            got_w, got_b = masks_from_module(net)
            assert all(np.array_equal(g, m[e]) for g, m in zip(got_w, wms))
            with torch.no_grad():
                mse = float(((net(torch.from_numpy(X)) - torch.from_numpy(Y)) ** 2).mean())
            row = t[(t.network == e) & (t.level == sel["level"][e])]
            assert mse == pytest.approx(float(row.val_loss.iloc[0]), rel=1e-4)


def test_every_level_keeps_its_weights_and_any_threshold_selects_without_retraining(store):
    """Weights stored per level equal the trained state; a new threshold is a filter."""
    profile = _profile()
    build_pruning(profile, store)
    manifest = store.require("pruning")
    table = load_pruning_table(store)
    vals = {s: table[table.strategy == s].pivot(index="network", columns="level", values="val_loss").values
            for s in ("magnitude", "random")}
    for threshold in (1e-9, float(np.median(table.val_loss)), 10.0):
        marked = load_pruning_table(store, threshold)
        for strategy in ("magnitude", "random"):
            sel = load_selected_weights(store, strategy, loss_threshold=threshold)
            assert sel["level"].tolist() == sparsest_accurate_levels(vals[strategy], threshold).tolist()
            t = marked[marked.strategy == strategy]
            assert sorted(t[t.selected].network) == [e for e in range(3) if sel["level"][e] >= 0]
            for e in range(3):
                lev = int(sel["level"][e])
                if lev < 0:
                    assert all((w[e] == 0).all() for w in sel["weights"])
                    continue
                ws, bs = load_weights(store, strategy, lev)
                assert all(np.array_equal(a[e], b[e]) for a, b in zip(sel["weights"] + sel["biases"], ws + bs))
    assert store.require("pruning") == manifest  # nothing was recomputed


def test_unselected_networks_are_reported(store):
    build_pruning(_profile(strategies=["magnitude"]), store)
    table = load_pruning_table(store, 1e-9)
    assert not table.selected.any()
    with pytest.raises(ValueError, match="no level"):
        load_network(store, "magnitude", 1, loss_threshold=1e-9)
    with pytest.raises(FileNotFoundError, match="random"):
        load_selected_weights(store, "random", loss_threshold=1e-9)
    with pytest.raises(ValueError, match="loss_threshold"):
        mark_selected(table, 0.0)


def test_threshold_is_not_part_of_the_pruning_key(store):
    build_pruning(_profile(strategies=["magnitude"]), store)
    before = store.require("pruning")
    build_pruning(_profile(strategies=["magnitude"], loss_threshold=0.06), store)
    assert store.require("pruning") == before


def test_stage_cache_and_invalidation(store, monkeypatch):
    calls = []
    real = pruning_stage.compute_pruning
    monkeypatch.setattr(pruning_stage, "compute_pruning", lambda *a, **k: (calls.append(1), real(*a, **k)))
    profile = _profile(strategies=["magnitude"], schedule=[0.3, 0.6])
    build_pruning(profile, store)
    build_pruning(profile, store)
    assert len(calls) == 1
    build_pruning({**profile, "learning_rate": 1e-3}, store)
    assert len(calls) == 2
    _write_data(store, _splits(seed=1), tag=1)  # new upstream data: redone
    build_pruning({**profile, "learning_rate": 1e-3}, store)
    assert len(calls) == 3


def test_missing_data_stage(tmp_path, monkeypatch):
    _install_fake_data(monkeypatch)
    with pytest.raises(FileNotFoundError, match="data"):
        build_pruning(_profile(), ArtifactStore("smoke", tmp_path))
    with pytest.raises(FileNotFoundError, match="pruning"):
        load_masks(ArtifactStore("smoke", tmp_path), "magnitude", 0)


def test_round_caps_per_strategy(tmp_path, monkeypatch):
    seen = []
    real = ensemble.train_round
    monkeypatch.setattr(ensemble, "train_round",
                        lambda *a, **k: (seen.append((k["desc"], k["max_batches"])), real(*a, **k))[1])
    profile = _profile(schedule=[0.3, 0.6, 0.8], max_batches_dense=9,
                       max_batches_per_round={"magnitude": 7, "random": 5})
    pruning_stage.compute_pruning(_settings(profile), _splits(), tmp_path / "o", tmp_path / "s", progress=False)
    # Two shards (networks [0, 1] and [2]): every round runs once per shard.
    assert sorted(seen) == sorted(2 * [("dense level 0", 9), ("magnitude level 1", 7), ("magnitude level 2", 7),
                                       ("random level 1", 5), ("random level 2", 5)])
    # None: the seed's limit, one pass over the validation batches (600 // 128 = 4).
    seen.clear()
    profile = _profile(schedule=[0.3, 0.6], max_batches_dense=None, max_batches_per_round=None,
                       strategies=["magnitude"])
    before = torch.get_num_threads()
    pruning_stage.compute_pruning(_settings({**profile, "train_threads": 2}), _splits(), tmp_path / "o2",
                            tmp_path / "s2", progress=False)
    assert sorted(set(seen)) == [("dense level 0", None), ("magnitude level 1", None)]
    assert torch.get_num_threads() == before  # train_threads is restored afterwards


@pytest.mark.parametrize(
    "override, match",
    [(dict(strategies=["lottery"]), "unknown pruning strategy"),
     (dict(strategies=[]), "non-empty"),
     (dict(schedule=[0.5, 0.3]), "increasing"),
     (dict(schedule=[0.5, 1.5]), "between"),
     (dict(n_networks=0), "n_networks"),
     (dict(train_threads=0), "threads"),
     (dict(networks_per_task=0), "networks_per_task"),
     (dict(learning_rate=-1.0), "learning_rate"),
     (dict(es_min_batches=5), "min_batches"),
     (dict(max_batches_per_round=0), "max_batches_per_round"),
     (dict(max_batches_per_round={"magnitude": 10}), "no entry for strategy 'random'")],
)
def test_bad_profiles(store, override, match):
    with pytest.raises(ValueError, match=match):
        build_pruning(_profile(**override), store)


@pytest.mark.parametrize(
    "splits, match",
    [(_splits(nan=True), "NaN"),
     ({**_splits(), "test": (np.zeros((5, 9), np.float32), np.zeros((5, 7), np.float32))}, "inputs"),
     ({**_splits(), "val": (np.zeros((5, 10), np.float32), np.zeros((4, 7), np.float32))}, "equal rows"),
     ({"train": _splits()["train"]}, "missing")],
)
def test_bad_data(tmp_path, splits, match):
    with pytest.raises(ValueError, match=match):
        pruning_stage.compute_pruning(_settings(_profile()), splits, tmp_path / "o", tmp_path / "s", progress=False)


# -- kill and resume -----------------------------------------------------------------------
# The round at which the run kills itself: after its training, before its checkpoint. In
# process the tasks run in submission order (dense; magnitude 1; random 1; magnitude 2; ...), so
# by then magnitude and random level 1 are checkpointed and magnitude level 2's work is lost.
KILL_AT = "magnitude level 2"
RUNNER = FAKE_DATA + '''
import json
import os
import signal
import mothlib.networks.ensemble as ensemble
from mothlib.study.profiles import get_profile
from mothlib.study import stages
from mothlib.study.store import ArtifactStore
_round = ensemble.train_round


def train_round(*a, **k):
    out = _round(*a, **k)
    if k["desc"] == sys.argv[3]:
        os.kill(os.getpid(), signal.SIGKILL)  # a kill at a chosen point, not after some time
    return out


ensemble.train_round = train_round  # the pruning rounds import it when they run
profile = get_profile("smoke", **json.loads(sys.argv[2]))
stages.run("pruning", profile, ArtifactStore("smoke", sys.argv[1]), progress=False)
'''


def test_killed_run_resumes_without_redoing_levels(tmp_path, monkeypatch):
    _install_fake_data(monkeypatch)
    import json

    # One shard: the two strategies' rounds alternate level by level.
    over = dict(SMALL, strategies=["magnitude", "random"], networks_per_task=None)
    profile = _profile(**over)
    root = tmp_path / "killed"
    killed = ArtifactStore("smoke", root)
    _write_data(killed, _splits())
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script), str(root), json.dumps(over), KILL_AT], env=env,
                            start_new_session=True)

    def finished_levels() -> dict[str, int]:
        out = {}
        for strategy in ("magnitude", "random"):
            for ckpt in (root / "smoke" / ".partial").glob(f"pruning-*/shard000/{strategy}/state.npz"):
                with np.load(ckpt) as z:
                    out[strategy] = int(z["level"])
        return out

    try:
        proc.wait(timeout=600)  # it kills itself at KILL_AT; the timeout only bounds a hang
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run neither reached {KILL_AT!r} nor finished")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the run was not killed at {KILL_AT!r} (exit {proc.returncode})"
    done = finished_levels()
    assert done.get("magnitude", 0) >= 1, "the run never wrote a pruned level's checkpoint"
    assert done == {"magnitude": 1, "random": 1}, done  # killed mid-level 2, as KILL_AT says
    assert killed.manifest("pruning") is None, "the run finished before it could be killed"
    n_levels = len(SMALL["schedule"])

    calls = []
    real = ensemble.train_round
    monkeypatch.setattr(ensemble, "train_round", lambda *a, **k: (calls.append(k["desc"]), real(*a, **k))[1])
    build_pruning(profile, killed)
    # Dense and the finished levels were not trained again.
    assert "dense level 0" not in calls
    assert len(calls) == sum(n_levels - 1 - done.get(s, 0) for s in ("magnitude", "random"))
    for strategy in ("magnitude", "random"):
        assert not any(c.startswith(strategy) and int(c.split()[-1]) <= done.get(strategy, 0) for c in calls)

    fresh = ArtifactStore("smoke", tmp_path / "fresh")
    _write_data(fresh, _splits())
    build_pruning(profile, fresh)
    a = pd.read_parquet(killed.path("pruning.parquet"))
    b = pd.read_parquet(fresh.path("pruning.parquet"))
    pd.testing.assert_frame_equal(a, b, check_exact=True)  # resumed from exact checkpoints
    for strategy in ("magnitude", "random"):
        for level in range(n_levels):
            for x, y in zip(*[sum(load_masks(s, strategy, level), []) for s in (killed, fresh)]):
                assert np.array_equal(x, y)
        sa, sb = (load_selected_weights(x, strategy, loss_threshold=SMALL["loss_threshold"]) for x in (killed, fresh))
        for x, y in zip(sa["weights"] + sa["biases"], sb["weights"] + sb["biases"]):
            np.testing.assert_array_equal(x, y)
    assert not list((root / "smoke" / ".partial").glob("pruning-*")), "scratch left behind"


def test_network_seeds_make_each_network_on_its_own():
    seeds = network_seeds(0, 5)
    assert seeds[:3] == network_seeds(0, 3)  # network i's seed depends on (seed, i) only
    assert len(set(seeds)) == 5 and set(seeds).isdisjoint(network_seeds(1, 5))
    model = EnsembleMLP([10, 4, 7], seeds)
    for i, s in enumerate(seeds):
        alone = EnsembleMLP([10, 4, 7], [s])
        gen = torch.Generator().manual_seed(s)  # the documented init: N(0, init_std) per network
        for l, (n_in, n_out) in enumerate([(10, 4), (4, 7)]):
            torch.testing.assert_close(model.weights[l][i], alone.weights[l][0], rtol=0, atol=0)
            torch.testing.assert_close(model.weights[l][i], torch.randn(n_out, n_in, generator=gen) * 0.2,
                                       rtol=0, atol=0)
    # Reordering the seeds reorders the networks.
    swapped = EnsembleMLP([10, 4, 7], seeds[::-1])
    torch.testing.assert_close(swapped.weights[0].flip(0), model.weights[0], rtol=0, atol=0)
