"""The second task (handwritten digits): its data stage, cross-entropy training against per-network
twins, the accuracy selection rule, and the digits smoke study end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mothlib.study import digits
from mothlib.study import findings
from mothlib.study import stages
from mothlib.study.settings import DigitsDataSettings
from mothlib.study.data import SPLITS, Scaler, load_metadata, load_splits, split_sizes
from mothlib.networks.ensemble import (
    EarlyStopping,
    EnsembleMLP,
    StackedAdam,
    _epoch_order,
    evaluate,
    evaluate_accuracy,
    network_seeds,
    train_round,
)
from mothlib.study.profiles import PROFILES, get_profile
from mothlib.networks.pruning import PruningSettings, mark_selected, mark_selected_by_accuracy
from mothlib.study.motif_stage import load_motif_table
from mothlib.study.pruning_stage import ACCURACY_COLUMNS, COLUMNS, load_pruning_table, select
from mothlib.study.store import ArtifactStore

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- the data stage ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits_store(tmp_path_factory):
    store = ArtifactStore("digits_smoke", tmp_path_factory.mktemp("digits-data"))
    stages.run("data", get_profile("digits_smoke"), store, progress=False)
    return store


def _folder(store):
    return store.path("data")


def test_shapes_sizes_and_metadata(digits_store):
    X_all, y_all = digits.load_raw()
    assert X_all.shape == (1797, 64) and y_all.shape == (1797,)
    splits = load_splits(digits_store)
    want = dict(zip(SPLITS, split_sizes(len(y_all), get_profile("digits_smoke")["split"])))
    for s in SPLITS:
        X, Y = splits[s]
        assert X.shape == (want[s], 64) and X.dtype == np.float32
        assert Y.shape == (want[s], 1) and Y.dtype == np.int64
        assert set(np.unique(Y)) == set(range(digits.N_CLASSES))
    meta = load_metadata(digits_store)
    assert meta["sizes"] == want and sum(want.values()) == 1797
    assert meta["n_classes"] == 10 and meta["input_columns"] == list(digits.PIXEL_COLUMNS)


def test_no_row_in_two_splits_and_rows_match_the_source(digits_store):
    X_all, y_all = digits.load_raw()
    rows = {s: np.load(_folder(digits_store) / f"rows_{s}.npy") for s in SPLITS}
    joined = np.concatenate(list(rows.values()))
    assert len(joined) == len(np.unique(joined)) == len(y_all)  # a partition: no leakage
    raw = load_splits(digits_store, scaled=False)
    for s in SPLITS:
        np.testing.assert_array_equal(raw[s][0], X_all[rows[s]])
        np.testing.assert_array_equal(raw[s][1][:, 0], y_all[rows[s]])
        np.testing.assert_array_equal(load_splits(digits_store)[s][1], raw[s][1])


def test_split_is_stratified_and_seeded():
    _, y = digits.load_raw()
    split = (0.64, 0.16, 0.20)
    a = digits.stratified_split(y, split, 0)
    share = np.bincount(y) / len(y)
    for s in SPLITS:
        counts = np.bincount(y[a[s]], minlength=10)
        # Every class keeps its share in every split, to within rounding of the two cuts.
        assert np.abs(counts - share * len(a[s])).max() <= 2, (s, counts)
    again = digits.stratified_split(y, split, 0)
    other = digits.stratified_split(y, split, 1)
    assert all(np.array_equal(a[s], again[s]) for s in SPLITS)
    assert not np.array_equal(a["test"], other["test"])


def test_scaling_uses_the_training_split_only(digits_store):
    raw = load_splits(digits_store, scaled=False)
    scaled = load_splits(digits_store)
    d = json.loads((_folder(digits_store) / "scaling.json").read_text())
    scaler = Scaler.from_dict(d["inputs"])
    np.testing.assert_array_equal(scaler.min, raw["train"][0].min(axis=0))
    np.testing.assert_array_equal(scaler.max, raw["train"][0].max(axis=0))
    for s in SPLITS:
        want = np.clip(scaler.transform(raw[s][0]), -0.5, 0.5).astype(np.float32)
        np.testing.assert_array_equal(scaled[s][0], want)
        assert scaled[s][0].min() >= -0.5 and scaled[s][0].max() <= 0.5


def test_changing_validation_and_test_rows_leaves_the_training_data_alone(tmp_path, monkeypatch):
    X_all, y_all = digits.load_raw()
    rows = digits.stratified_split(y_all, (0.64, 0.16, 0.20), 0)
    poisoned = X_all.copy()
    held_out = np.concatenate([rows["val"], rows["test"]])
    poisoned[held_out] = 1000.0  # far outside every training pixel range
    data = DigitsDataSettings()
    digits.compute_digits(data, 0, tmp_path / "clean")
    monkeypatch.setattr(digits, "load_raw", lambda: (poisoned, y_all))
    digits.compute_digits(data, 0, tmp_path / "poisoned")
    for name in ("scaling.json", "X_train.npy", "Y_train.npy"):
        assert (tmp_path / "clean" / "data" / name).read_bytes() == (
            tmp_path / "poisoned" / "data" / name).read_bytes(), name
    assert np.load(tmp_path / "poisoned" / "data" / "X_test.npy").max() == 0.5  # clipped


def test_bad_digits_settings_are_named():
    with pytest.raises(ValueError, match="split"):
        DigitsDataSettings(split=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="seed"):
        get_profile("digits_smoke", seed=-1)
    with pytest.raises(ValueError, match="unknown task 'cifar'"):
        stages.check_stage("data", get_profile("digits_smoke", task="cifar"))


# -- cross-entropy against per-network twins ------------------------------------------------

def _twin(model: EnsembleMLP, e: int) -> nn.Sequential:
    """Network ``e`` alone as nn.Sequential (masked weights copied in)."""
    layers: list[nn.Module] = []
    ws, bs = model.effective()
    for l, (w, b) in enumerate(zip(ws, bs)):
        lin = nn.Linear(w.shape[2], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(w[e])
            lin.bias.copy_(b[e])
        if l:
            layers.append(nn.Tanh())
        layers.append(lin)
    return nn.Sequential(*layers)


@settings(max_examples=25, deadline=None)
@given(
    E=st.integers(1, 4),
    hidden=st.lists(st.integers(1, 6), min_size=0, max_size=3),
    n_in=st.integers(1, 5),
    n_classes=st.integers(2, 5),
    seed=st.integers(0, 2**31 - 1),
    batch=st.integers(1, 6),
    column=st.booleans(),
)
def test_cross_entropy_and_gradients_match_per_network_twin(E, hidden, n_in, n_classes, seed, batch, column):
    sizes = [n_in, *hidden, n_classes]
    model = EnsembleMLP(sizes, network_seeds(seed, E), init_std=0.9)
    gen = torch.Generator().manual_seed(seed)
    model.set_masks([torch.rand(w.shape, generator=gen) > 0.3 for w in model.weights],
                    [torch.rand(b.shape, generator=gen) > 0.3 for b in model.biases])
    x = torch.randn(batch, n_in, generator=gen)
    y = torch.randint(0, n_classes, (batch,), generator=gen)
    per_net = model.per_network_loss(x, y[:, None] if column else y, "cross_entropy")
    assert per_net.shape == (E,)
    grads = torch.autograd.grad(per_net.sum(), [*model.weights, *model.biases])
    for e in range(E):
        twin = _twin(model, e)
        twin_loss = F.cross_entropy(twin(x), y)
        torch.testing.assert_close(per_net[e], twin_loss, rtol=1e-5, atol=1e-6)
        twin_loss.backward()
        lins = [m for m in twin if isinstance(m, nn.Linear)]
        for l, lin in enumerate(lins):
            torch.testing.assert_close(grads[l][e], lin.weight.grad * model.weight_masks[l][e],
                                       rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(grads[len(lins) + l][e], lin.bias.grad * model.bias_masks[l][e],
                                       rtol=1e-5, atol=1e-6)


def _classes(n: int, seed: int, n_in: int = 6, n_classes: int = 4):
    gen = torch.Generator().manual_seed(seed)
    X = torch.rand(n, n_in, generator=gen) - 0.5
    A = torch.randn(n_in, n_classes, generator=gen)
    return X, (X @ A).argmax(dim=1, keepdim=True)


def test_train_round_with_cross_entropy_equals_torch_adam_on_each_network_alone():
    X, Y = _classes(320, 1)
    Xv, Yv = _classes(160, 2)
    seeds = network_seeds(5, 3)
    model = EnsembleMLP([6, 8, 8, 4], seeds, init_std=0.5)
    twins = [_twin(model, e) for e in range(3)]
    opts = [torch.optim.Adam(t.parameters(), lr=5e-3) for t in twins]
    opt = StackedAdam([*model.weights, *model.biases], lr=5e-3)
    no_stop = EarlyStopping(check_every=1, min_batches=10_000, window=2, ratio=1.0)
    n_batches = 16  # within one pass of each split: the batch order is one permutation
    result = train_round(model, opt, (X, Y), (Xv, Yv), batch_size=16, data_seed=9,
                         stopping=no_stop, max_batches=n_batches, progress=False, loss="cross_entropy")
    assert result.n_batches == n_batches
    gen = np.random.default_rng(np.random.SeedSequence([9, 2]))
    order = _epoch_order(gen, len(X), 16)
    for b in range(n_batches):
        idx = torch.from_numpy(order[b])
        for twin, topt in zip(twins, opts):
            topt.zero_grad()
            F.cross_entropy(twin(X[idx]), Y[idx, 0]).backward()
            topt.step()
    for e, twin in enumerate(twins):
        lins = [m for m in twin if isinstance(m, nn.Linear)]
        for l, lin in enumerate(lins):
            torch.testing.assert_close(model.weights[l][e], lin.weight, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(model.biases[l][e], lin.bias, rtol=1e-4, atol=1e-5)
    # Whole-split loss and accuracy, in chunks, against each twin.
    got_loss = evaluate(model, Xv, Yv, chunk=37, loss="cross_entropy")
    got_acc = evaluate_accuracy(model, Xv, Yv, chunk=37)
    with torch.no_grad():
        for e, twin in enumerate(twins):
            np.testing.assert_allclose(got_loss[e], float(F.cross_entropy(twin(Xv), Yv[:, 0])), rtol=1e-5)
            np.testing.assert_allclose(got_acc[e], float((twin(Xv).argmax(1) == Yv[:, 0]).double().mean()))


def test_mse_is_still_the_default_and_unchanged():
    model = EnsembleMLP([4, 5, 3], network_seeds(0, 2))
    x, y = torch.randn(7, 4), torch.randn(7, 3)
    assert torch.equal(model.per_network_loss(x, y), model.per_network_mse(x, y))
    assert PruningSettings(n_networks=1, hidden_sizes=[2], schedule=[0.5]).loss == "mse"
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        PruningSettings(n_networks=1, hidden_sizes=[2], schedule=[0.5], loss="hinge")
    with pytest.raises(ValueError, match="unknown loss"):
        model.per_network_loss(x, y, "hinge")


# -- the accuracy selection rule ---------------------------------------------------------------

def _table(accuracies: dict[tuple[str, int], list[float]]) -> pd.DataFrame:
    rows = [
        dict(network=n, strategy=s, level=level, fraction_pruned=0.1 * level, val_loss=1.0,
             val_accuracy=a)
        for (s, n), accs in accuracies.items() for level, a in enumerate(accs)
    ]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # order must not matter


def _selected(table: pd.DataFrame) -> dict[tuple[str, int], int]:
    rows = table[table["selected"]]
    assert not rows.duplicated(["strategy", "network"]).any()
    return {(s, int(n)): int(l) for s, n, l in zip(rows["strategy"], rows["network"], rows["level"])}


def test_accuracy_selection_on_a_hand_made_table():
    table = _table({
        ("magnitude", 0): [0.5, 0.75, 0.5, 0.25, 0.0],       # dense 0.5, margin 0.25: >= 0.25
        ("magnitude", 1): [0.875, 0.5, 0.75, 0.625, 0.125],  # a dip, then back within margin
        ("magnitude", 2): [0.5, np.nan, 0.125],              # NaN is never selected
        ("random", 0): [0.5, 0.125, 0.0, 0.0, 0.0],          # only the dense level qualifies
    })
    got = _selected(mark_selected_by_accuracy(table, 0.25))
    # Level 3 of network 0 sits exactly on the margin (0.5 - 0.25): it qualifies.
    assert got == {("magnitude", 0): 3, ("magnitude", 1): 3, ("magnitude", 2): 0, ("random", 0): 0}
    assert _selected(mark_selected_by_accuracy(table, 0.0)) == {
        ("magnitude", 0): 2, ("magnitude", 1): 0, ("magnitude", 2): 0, ("random", 0): 0}
    assert len(mark_selected_by_accuracy(table, 0.25)) == len(table)


@settings(max_examples=50, deadline=None)
@given(
    accs=st.lists(st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=1, max_size=6),
                  min_size=1, max_size=4),
    margin=st.floats(0, 0.5),
)
def test_accuracy_selection_matches_a_plain_loop(accs, margin):
    table = _table({("magnitude", n): a for n, a in enumerate(accs)})
    want = {}
    for n, a in enumerate(accs):
        for level in range(len(a)):  # the last level that qualifies wins
            if a[level] >= a[0] - margin:
                want[("magnitude", n)] = level
    assert _selected(mark_selected_by_accuracy(table, margin)) == want


def test_accuracy_selection_rejects_bad_input():
    table = _table({("magnitude", 0): [0.9, 0.8]})
    with pytest.raises(ValueError, match="accuracy_margin"):
        mark_selected_by_accuracy(table, -0.1)
    with pytest.raises(ValueError, match="val_accuracy"):
        mark_selected_by_accuracy(table.drop(columns="val_accuracy"), 0.02)
    with pytest.raises(ValueError, match="dense level"):
        mark_selected_by_accuracy(table[table["level"] > 0], 0.02)


def test_select_follows_the_task():
    table = _table({("magnitude", 0): [0.9, 0.89, 0.5]}).assign(val_loss=[1e-4, 1e-2, 1e-3])
    moth = get_profile("smoke", loss_threshold=2e-3)
    pd.testing.assert_frame_equal(select(table, moth), mark_selected(table, 2e-3))
    digits_profile = get_profile("digits_smoke", accuracy_margin=0.02)
    pd.testing.assert_frame_equal(select(table, digits_profile), mark_selected_by_accuracy(table, 0.02))


# -- cache keys ------------------------------------------------------------------------------------

def test_every_key_holds_its_task():
    # Keys are derived from the settings (tests/test_settings.py): the task is a result field of
    # the study section every stage reads, so a moth and a digits study never share a key.
    for name in ("smoke", "quick", "paper"):
        p = get_profile(name)
        for stage, st_ in stages.STAGES.items():
            params = stages.stage_params(p, stage)
            assert params["task"] == "moth" and params["version"] == st_.version
    d = get_profile("digits_smoke")
    assert all(stages.stage_params(d, s)["task"] == "digits" for s in stages.STAGES)
    assert stages.stage_params(d, "motifs")["max_accuracy_margin"] == d["max_accuracy_margin"]
    # Selection is a filter: the margin is in no key.
    other = get_profile("digits_smoke", accuracy_margin=0.04)
    assert all(stages.stage_params(d, s) == stages.stage_params(other, s) for s in stages.STAGES)
    assert {"digits_smoke", "digits_quick"} <= set(PROFILES)


# -- the digits smoke study end to end ----------------------------------------------------------

@pytest.fixture(scope="module")
def digits_study(tmp_path_factory):
    profile = get_profile("digits_smoke")
    store = ArtifactStore("digits_smoke", tmp_path_factory.mktemp("digits-study"))
    stages.run_all(profile, store=store, progress=False)
    return profile, store


def test_smoke_study_writes_pruning_and_motif_tables(digits_study):
    profile, store = digits_study
    pruning = load_pruning_table(store)
    assert list(pruning.columns) == COLUMNS + ACCURACY_COLUMNS
    n_levels = len(profile["schedule"])  # dense + every prune but the last
    assert len(pruning) == profile["n_networks"] * len(profile["strategies"]) * n_levels
    dense = pruning[pruning["level"] == 0]
    # Trained classifiers: far better than chance (0.1) on every split.
    assert dense[ACCURACY_COLUMNS].min().min() > 0.5
    assert np.isfinite(pruning[["train_loss", "val_loss", "test_loss"]].to_numpy()).all()
    chosen = load_pruning_table(store, profile=profile)
    assert chosen.groupby(["strategy", "network"])["selected"].sum().eq(1).all()
    motifs = load_motif_table(store)
    assert not motifs.empty and set(motifs["null_model"]) == set(profile["null_models"])
    # The motif stage scored every level the largest margin selects, and no more.
    widest = mark_selected_by_accuracy(pruning, profile["max_accuracy_margin"])
    top = widest[widest["selected"]].set_index(["strategy", "network"])["level"]
    got = motifs.groupby(["strategy", "network"])["level"].max()
    pd.testing.assert_series_equal(got.sort_index(), top.sort_index(), check_names=False)


def test_smoke_study_selects_by_accuracy_and_feeds_the_findings(digits_study):
    profile, store = digits_study
    pruning = load_pruning_table(store, profile=profile)
    motifs = load_motif_table(store, profile=profile)
    top = pruning[pruning["selected"]].set_index(["strategy", "network"])["level"]
    limit = pd.Series(list(zip(motifs["strategy"], motifs["network"]))).map(top).to_numpy()
    assert (motifs["level"].to_numpy() <= limit).all()
    table = findings.findings_table(pruning, motifs)
    assert list(table["finding"]) == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="max_accuracy_margin"):
        load_motif_table(store, profile={**profile, "accuracy_margin": profile["max_accuracy_margin"] + 0.01})


def test_smoke_study_is_cached(digits_study):
    profile, store = digits_study
    names = stages.default_stages(profile)
    before = {s: store.manifest(s)["key"] for s in names}
    assert all(stages.is_current(s, profile, store) for s in names)
    stages.run_all({**profile, "accuracy_margin": 0.01}, store=store, progress=False)
    assert {s: store.manifest(s)["key"] for s in names} == before


# -- the chapter's comparisons (mothlib.report.task_plots) on hand-made tables ------------------------

from mothlib.report import task_plots  # noqa: E402
from mothlib.study.findings import ZSCORED_MOTIFS  # noqa: E402


def _sel_rows(profiles: dict[int, list[float]], column: str = "sp") -> pd.DataFrame:
    """Motif rows at selected levels: network -> values in ZSCORED_MOTIFS."""
    return pd.DataFrame([
        dict(network=n, level=3, fraction_pruned=0.9, strategy="magnitude", null_model="layer-edges",
             motif=m, z=v, sp=v)
        for n, values in profiles.items() for m, v in zip(ZSCORED_MOTIFS, values)
    ])


def test_profile_agreement_matches_a_plain_computation():
    rng = np.random.default_rng(0)
    base = rng.standard_normal(len(ZSCORED_MOTIFS))
    a = {n: list(base + 0.3 * rng.standard_normal(len(base))) for n in range(4)}
    b = {n: list(base + 0.3 * rng.standard_normal(len(base))) for n in range(3)}
    a[0][2] = np.nan  # a motif undefined for one network is dropped from its correlations
    agreement = task_plots.profile_agreement({"a": _sel_rows(a), "b": _sel_rows(b)})
    A, B = np.array(list(a.values())), np.array(list(b.values()))
    med = {"a": np.nanmedian(A, axis=0), "b": np.nanmedian(B, axis=0)}

    def corr(x, y):
        ok = np.isfinite(x) & np.isfinite(y)
        return np.corrcoef(x[ok], y[ok])[0, 1]

    got = agreement.set_index(["task", "network", "kind"])["correlation"]
    for task, M, other in (("a", A, "b"), ("b", B, "a")):
        for i in range(len(M)):
            loo = np.nanmedian(np.delete(M, i, axis=0), axis=0)
            assert got[(task, i, "within")] == pytest.approx(corr(M[i], loo))
            assert got[(task, i, "across")] == pytest.approx(corr(M[i], med[other]))
    assert got[("both", -1, "between")] == pytest.approx(corr(med["a"], med["b"]))
    summary = task_plots.agreement_summary(agreement)
    assert summary["same_profile"] == 1.0 and summary["between"] > 0.9
    # The opposite profile on the second task: the tasks do not share a profile.
    flipped = {n: list(-np.asarray(v)) for n, v in b.items()}
    summary = task_plots.agreement_summary(
        task_plots.profile_agreement({"a": _sel_rows(a), "b": _sel_rows(flipped)}))
    assert summary["same_profile"] == 0.0 and summary["between"] < -0.9
    # Networks that disagree among themselves give no verdict.
    noise = {n: list(rng.standard_normal(len(base))) for n in range(2)}
    noise[1] = list(-np.asarray(noise[0]))
    summary = task_plots.agreement_summary(
        task_plots.profile_agreement({"a": _sel_rows(a), "b": _sel_rows(noise)}))
    assert np.isnan(summary["same_profile"])


def test_motif_differences_by_interquartile_overlap():
    k = len(ZSCORED_MOTIFS)
    a = {n: [5.0 + n] + [1.0 + 0.1 * n] * (k - 1) for n in range(4)}    # diverging2 high
    b = {n: [-5.0 - n] + [1.05 + 0.1 * n] * (k - 1) for n in range(4)}  # diverging2 low
    table = task_plots.motif_differences({"a": _sel_rows(a), "b": _sel_rows(b)})
    assert list(table.index) == list(ZSCORED_MOTIFS)
    assert table["differ"].tolist() == [True] + [False] * (k - 1)
    assert table["same sign"].tolist() == [False] + [True] * (k - 1)
    assert table.loc[ZSCORED_MOTIFS[0], "z median (a)"] == pytest.approx(6.5)


def test_findings_by_task_holds_on_all_only_where_every_task_holds():
    from conftest import synthetic_tables

    good = synthetic_tables()
    bad = synthetic_tables(chains_negative=False, rising=False)
    table = task_plots.findings_by_task({"good": good, "bad": bad})
    assert table["holds on all"].tolist() == (table["holds (good)"] & table["holds (bad)"]).tolist()
    assert table["holds (good)"].sum() > table["holds (bad)"].sum()
    assert not table.loc[table["finding"] == 5, "holds on all"].item()


def test_chart_builders_draw_or_show_a_placeholder():
    rows = _sel_rows({0: list(range(len(ZSCORED_MOTIFS))), 1: list(range(len(ZSCORED_MOTIFS)))[::-1]})
    at_selected = {"a": rows, "b": rows}
    for chart in (task_plots.profile_chart(task_plots.median_profiles(at_selected)),
                  task_plots.agreement_chart(task_plots.profile_agreement(at_selected))):
        assert chart.to_dict()["layer"]
    empty = task_plots.profile_chart(task_plots.median_profiles({"a": rows.iloc[0:0], "b": rows.iloc[0:0]}))
    assert "No data" in str(empty.to_dict())
    with pytest.raises(ValueError, match="val_accuracy"):
        task_plots.accuracy_chart(pd.DataFrame({"fraction_pruned": [0.0], "network": [0]}))
