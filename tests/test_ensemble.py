"""Batched ensemble vs per-network twins: forward, gradients, Adam, early stopping, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import prune

from mothlib.core.masks import as_masks
from mothlib.networks.ensemble import (
    EarlyStopping,
    EnsembleMLP,
    StackedAdam,
    evaluate,
    masks_from_module,
    network_seeds,
    resolve_device,
    to_sequential,
    train_round,
)


# Tiny tensors: one thread is several times faster than two on a shared 2-core machine.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _twin(model: EnsembleMLP, e: int) -> nn.Sequential:
    """Network ``e`` as a plain nn.Sequential with its masked weights copied in."""
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


def _random_masks(model: EnsembleMLP, gen: torch.Generator, p: float = 0.4):
    wms = [torch.rand(w.shape, generator=gen) > p for w in model.weights]
    bms = [torch.rand(b.shape, generator=gen) > p for b in model.biases]
    return wms, bms


def _data(n: int, seed: int, n_in: int = 4, n_out: int = 3):
    gen = torch.Generator().manual_seed(seed)
    X = torch.rand(n, n_in, generator=gen) - 0.5
    A = torch.randn(n_in, n_out, generator=gen)
    return X, torch.tanh(X @ A) * 0.4


@settings(max_examples=25, deadline=None)
@given(
    E=st.integers(1, 4),
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    seed=st.integers(0, 2**31 - 1),
    batch=st.integers(1, 5),
)
def test_forward_and_gradients_match_per_network_twin(E, sizes, seed, batch):
    model = EnsembleMLP(sizes, network_seeds(seed, E), init_std=0.7)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # nonzero biases, so that they are tested too
        for b in model.biases:
            b.copy_(torch.randn(b.shape, generator=gen))
    model.set_masks(*_random_masks(model, gen))
    x = torch.randn(batch, sizes[0], generator=gen)
    y = torch.randn(batch, sizes[-1], generator=gen)
    out = model(x)
    assert out.shape == (E, batch, sizes[-1])
    loss = model.per_network_mse(x, y).sum()
    grads = torch.autograd.grad(loss, [*model.weights, *model.biases])
    # (E, B, n_in) input path gives the same as the shared input path
    torch.testing.assert_close(model(x.expand(E, -1, -1)), out)
    for e in range(E):
        twin = _twin(model, e)
        torch.testing.assert_close(out[e], twin(x), rtol=1e-5, atol=1e-6)
        twin_loss = ((twin(x) - y) ** 2).mean()
        twin_loss.backward()
        lins = [m for m in twin if isinstance(m, nn.Linear)]
        for l, lin in enumerate(lins):
            # The ensemble's gradient is masked (chain rule through w * mask).
            torch.testing.assert_close(
                grads[l][e], lin.weight.grad * model.weight_masks[l][e], rtol=1e-5, atol=1e-6
            )
            torch.testing.assert_close(
                grads[len(lins) + l][e], lin.bias.grad * model.bias_masks[l][e], rtol=1e-5, atol=1e-6
            )


def test_initialisation_follows_the_seed():
    seeds = network_seeds(3, 4)
    assert seeds == network_seeds(3, 6)[:4] and len(set(seeds)) == 4
    model = EnsembleMLP([10, 30, 7], seeds, init_std=0.2)
    w = model.weights[0].detach()
    assert abs(float(w.std()) - 0.2) < 0.03
    assert all(float(b.detach().abs().max()) == 0 for b in model.biases)
    alone = EnsembleMLP([10, 30, 7], seeds[2:3], init_std=0.2)
    torch.testing.assert_close(alone.weights[1][0], model.weights[1][2], rtol=0, atol=0)


def test_stacked_adam_equals_torch_adam():
    gen = torch.Generator().manual_seed(0)
    model = EnsembleMLP([4, 5, 3], network_seeds(0, 3))
    twin = _twin(model, 1)
    opt = StackedAdam([*model.weights, *model.biases], lr=1e-2)
    topt = torch.optim.Adam(twin.parameters(), lr=1e-2)
    for _ in range(20):
        x, y = torch.randn(8, 4, generator=gen), torch.randn(8, 3, generator=gen)
        grads = torch.autograd.grad(model.per_network_mse(x, y).sum(), [*model.weights, *model.biases])
        opt.step(grads)
        topt.zero_grad()
        ((twin(x) - y) ** 2).mean().backward()
        topt.step()
    torch.testing.assert_close(model.weights[1][1], twin[2].weight, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model.biases[0][1], twin[0].bias, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("staggered", [False, True])
def test_each_network_steps_as_torch_fused_adam_alone_bit_for_bit(staggered):
    """Every network's parameters, moments and step count are those of torch.optim.Adam
    (fused=True) run on that network alone; with ``staggered`` the networks are frozen at
    different steps, so their bias corrections differ."""
    model = EnsembleMLP([4, 6, 5, 3], network_seeds(1, 3))
    opt = StackedAdam([*model.weights, *model.biases], lr=3e-3)
    alone = [[nn.Parameter(p[e].detach().clone()) for p in opt.params] for e in range(3)]
    topts = [torch.optim.Adam(ps, lr=3e-3, fused=True) for ps in alone]
    gen = torch.Generator().manual_seed(2)
    for t in range(1, 26):
        grads = [torch.randn(p.shape, generator=gen) for p in opt.params]
        active = torch.tensor([True, t % 3 != 0, t < 10]) if staggered else None
        opt.step(grads, active)
        for e in range(3):
            if active is None or active[e]:
                for q, g in zip(alone[e], grads):
                    q.grad = g[e].clone()
                topts[e].step()
    for e in range(3):
        state = [topts[e].state[q] for q in alone[e]]
        assert opt.step_count[e] == state[0]["step"]
        for k, q in enumerate(alone[e]):
            assert torch.equal(opt.params[k][e], q.detach())
            assert torch.equal(opt.exp_avg[k][e], state[k]["exp_avg"])
            assert torch.equal(opt.exp_avg_sq[k][e], state[k]["exp_avg_sq"])


def test_masked_step_moves_active_networks_as_the_all_active_step_bit_for_bit():
    """A network's update does not depend on whether its companions are frozen: the masked step
    of networks [0, 2, 3] equals the all-active step of a sub-ensemble of just those networks."""
    gen = torch.Generator().manual_seed(3)
    shapes = [(5, 7, 4), (5, 3), (5, 9, 11)]
    params = [torch.randn(s, generator=gen) for s in shapes]
    opt = StackedAdam(params, lr=1e-2)
    for _ in range(3):
        opt.step([torch.randn(s, generator=gen) for s in shapes])
    active = torch.tensor([True, False, True, True, False])
    cols = active.nonzero()[:, 0]
    sub_params = [p[cols].clone() for p in params]
    sub = opt.subset(sub_params, cols)
    for _ in range(4):
        grads = [torch.randn(s, generator=gen) for s in shapes]
        opt.step(grads, active)
        sub.step([g[cols] for g in grads])
    for a, b in zip([*sub_params, *sub.exp_avg, *sub.exp_avg_sq], [*params, *opt.exp_avg, *opt.exp_avg_sq]):
        assert torch.equal(a, b[cols])
    assert torch.equal(sub.step_count, opt.step_count[cols])


def test_inactive_network_is_frozen_exactly():
    gen = torch.Generator().manual_seed(1)
    model = EnsembleMLP([4, 6, 3], network_seeds(1, 3))
    params = [*model.weights, *model.biases]
    opt = StackedAdam(params, lr=1e-2)
    x, y = torch.randn(8, 4, generator=gen), torch.randn(8, 3, generator=gen)
    for _ in range(3):
        opt.step(torch.autograd.grad(model.per_network_mse(x, y).sum(), params))
    before = [t[1].clone() for t in [*params, *opt.exp_avg, *opt.exp_avg_sq]]
    w0 = params[0][0].detach().clone()
    steps_before = opt.step_count.clone()
    active = torch.tensor([True, False, True])
    for _ in range(4):
        opt.step(torch.autograd.grad(model.per_network_mse(x, y).sum(), params), active)
    after = [t[1] for t in [*params, *opt.exp_avg, *opt.exp_avg_sq]]
    for b, a in zip(before, after):
        assert torch.equal(b, a)
    assert opt.step_count[1] == steps_before[1] and opt.step_count[0] == steps_before[0] + 4
    assert not torch.equal(params[0][0].detach(), w0)  # the active ones moved


def _stop_twin(val: list[list[float]], check_every, min_batches, window, ratio) -> list[int]:
    """Plain-python early stopping: the batch at which each network stops (T if never)."""
    T, E = len(val), len(val[0])
    stopped = [T] * E
    for e in range(E):
        for b in range(1, T + 1):
            if b > min_batches and b % check_every == 0:
                seq = [val[i][e] for i in range(b)]
                older = sum(seq[b - 2 * window : b - window]) / window
                recent = sum(seq[b - window :]) / window
                if older / recent < ratio:
                    stopped[e] = b
                    break
    return stopped


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    check_every=st.integers(1, 7),
    window=st.integers(1, 8),
    extra=st.integers(0, 10),
    ratio=st.floats(0.9, 1.2),
)
def test_early_stopping_rule_matches_plain_python(seed, check_every, window, extra, ratio):
    rng = np.random.default_rng(seed)
    T, E = 60, 4
    # Decaying losses with noise and different rates: networks stop at different batches.
    t = np.arange(T)[:, None]
    val = np.exp(-t / rng.uniform(5, 60, E)) + 0.05 + 0.02 * rng.random((T, E))
    rule = EarlyStopping(check_every, 2 * window + extra, window, ratio)
    hist = torch.tensor(val, dtype=torch.float64)
    active = np.ones(E, bool)
    stopped = np.full(E, T)
    for b in range(1, T + 1):
        if rule.should_check(b):
            newly = rule.stop(hist[:b]).numpy() & active
            stopped[newly] = b
            active &= ~newly
    assert stopped.tolist() == _stop_twin(val.tolist(), check_every, 2 * window + extra, window, ratio)


def test_early_stopping_rejects_impossible_windows():
    with pytest.raises(ValueError, match="min_batches"):
        EarlyStopping(check_every=1, min_batches=5, window=3)
    with pytest.raises(ValueError, match="at least 1"):
        EarlyStopping(check_every=0, min_batches=10, window=3)


def _train(seeds, rounds=2, max_batches=None, masks_seed=None):
    X, Y = _data(600, 5)
    Xv, Yv = _data(300, 6)
    model = EnsembleMLP([4, 8, 8, 3], seeds, init_std=0.5)
    if masks_seed is not None:  # same masks per network whatever the ensemble
        wms, bms = [], []
        for w, b in zip(model.weights, model.biases):
            wms.append(torch.stack([torch.rand(w.shape[1:], generator=torch.Generator().manual_seed(s)) > 0.3 for s in seeds]))
            bms.append(torch.stack([torch.rand(b.shape[1:], generator=torch.Generator().manual_seed(s + 1)) > 0.3 for s in seeds]))
        model.set_masks(wms, bms)
    opt = StackedAdam([*model.weights, *model.biases], lr=5e-3)
    stopping = EarlyStopping(check_every=2, min_batches=8, window=4, ratio=1.02)
    results = [
        train_round(model, opt, (X, Y), (Xv, Yv), batch_size=16, data_seed=11 + r,
                    stopping=stopping, max_batches=max_batches, progress=False)
        for r in range(rounds)
    ]
    return model, opt, results


def test_network_in_ensemble_equals_network_alone():
    seeds = network_seeds(7, 8)
    model, opt, results = _train(seeds, max_batches=60, masks_seed=1)
    stops = results[0].stopped_at
    assert len(set(stops.tolist())) > 1, "networks should stop at different batches"
    for e in (0, int(np.argmin(stops)), 7):
        alone, aopt, aresults = _train(seeds[e : e + 1], max_batches=60, masks_seed=1)
        for r in range(2):
            assert aresults[r].stopped_at[0] == results[r].stopped_at[e]
        for w, aw in zip([*model.weights, *model.biases], [*alone.weights, *alone.biases]):
            torch.testing.assert_close(w[e], aw[0], rtol=1e-5, atol=1e-6)
        for m, am in zip(opt.exp_avg_sq, aopt.exp_avg_sq):
            torch.testing.assert_close(m[e], am[0], rtol=1e-5, atol=1e-9)
        assert opt.step_count[e] == aopt.step_count[0]


def test_round_length_defaults_to_validation_batches_and_masked_weights_stay_zero():
    seeds = network_seeds(2, 3)
    model, opt, results = _train(seeds, rounds=1, masks_seed=4)
    assert results[0].n_batches <= 300 // 16
    assert results[0].stopped_at.max() <= 300 // 16
    for w, m in zip([*model.weights, *model.biases], [*model.weight_masks, *model.bias_masks]):
        assert torch.all(w[~m] == 0)
    # Zeroing moments of newly masked entries keeps them at exactly 0 under further training.
    new = [m & (torch.rand(m.shape) > 0.5) for m in model.weight_masks]
    model.set_masks(new, model.bias_masks)
    opt.zero_masked([*model.weight_masks, *model.bias_masks])
    X, Y = _data(600, 5)
    train_round(model, opt, (X, Y), (X, Y), batch_size=16, data_seed=0,
                stopping=EarlyStopping(2, 8, 4, 1e-9), max_batches=30, progress=False)
    for w, m in zip(model.weights, model.weight_masks):
        assert torch.all(w[~m] == 0) and torch.any(w[m] != 0)


def test_a_round_too_short_to_stop_early_gives_the_same_result_without_validation_history():
    """Rounds that end by min_batches skip the per-batch validation losses (never read): the
    networks and the last losses equal those of a round that computes them and never stops."""
    X, Y = _data(600, 5)
    Xv, Yv = _data(300, 6)
    out = []
    # 40 batches: the first rule cannot act (min_batches 40); the second could but never checks.
    for stopping in (EarlyStopping(check_every=2, min_batches=40, window=4, ratio=1.02),
                     EarlyStopping(check_every=1000, min_batches=8, window=4, ratio=1.02)):
        model = EnsembleMLP([4, 8, 8, 3], network_seeds(3, 3), init_std=0.5)
        opt = StackedAdam([*model.weights, *model.biases], lr=5e-3)
        result = train_round(model, opt, (X, Y), (Xv, Yv), batch_size=16, data_seed=5,
                             stopping=stopping, max_batches=40, progress=False)
        out.append((model, result))
    (a, ra), (b, rb) = out
    for x, y in zip([*a.weights, *a.biases], [*b.weights, *b.biases]):
        assert torch.equal(x, y)
    np.testing.assert_array_equal(ra.last_val, rb.last_val)
    np.testing.assert_array_equal(ra.last_train, rb.last_train)
    assert ra.n_batches == rb.n_batches == 40


def test_train_round_rejects_tiny_splits_and_bad_caps():
    model = EnsembleMLP([4, 3], [0])
    opt = StackedAdam([*model.weights, *model.biases])
    X, Y = _data(10, 0)
    stop = EarlyStopping(1, 2, 1, 1.0)
    with pytest.raises(ValueError, match="at least one batch"):
        train_round(model, opt, (X, Y), (X, Y), batch_size=16, data_seed=0, stopping=stop, progress=False)
    with pytest.raises(ValueError, match="max_batches"):
        train_round(model, opt, (X, Y), (X, Y), batch_size=4, data_seed=0, stopping=stop,
                    max_batches=0, progress=False)


def test_evaluate_equals_direct_mse():
    model = EnsembleMLP([4, 5, 3], network_seeds(0, 2))
    X, Y = _data(1000, 3)
    got = evaluate(model, X, Y, chunk=64)
    want = model.per_network_mse(X, Y).detach().double().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_export_round_trip_and_outputs_equal():
    gen = torch.Generator().manual_seed(3)
    model = EnsembleMLP([4, 7, 6, 3], network_seeds(3, 3))
    with torch.no_grad():
        for b in model.biases:
            b.copy_(torch.randn(b.shape, generator=gen))
    model.set_masks(*_random_masks(model, gen))
    x = torch.randn(20, 4, generator=gen)
    for e in range(3):
        seq = model.to_sequential(e)
        lins = [m for m in seq if isinstance(m, nn.Linear)]
        assert all(hasattr(lin, "weight_mask") and hasattr(lin, "bias_orig") for lin in lins)
        torch.testing.assert_close(seq(x), model(x)[e], rtol=1e-5, atol=1e-6)
        wms, bms = masks_from_module(seq)
        for l in range(3):
            assert np.array_equal(wms[l], model.weight_masks[l][e].numpy())
            assert np.array_equal(bms[l], model.bias_masks[l][e].numpy())
    # A module without prune buffers: masks are the nonzero entries.
    plain = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))
    with torch.no_grad():
        plain[0].weight[0, 1] = 0
    wms, bms = masks_from_module(plain)
    assert wms[0].sum() == 5 and bms[1].all()


def test_export_rejects_bad_masks_and_shapes():
    w = [np.ones((3, 2)), np.ones((1, 3))]
    b = [np.zeros(3), np.zeros(1)]
    with pytest.raises(ValueError, match="binary"):
        to_sequential(w, b, [np.full((3, 2), 0.5), np.ones((1, 3))], None)
    with pytest.raises(ValueError, match="input width"):
        to_sequential([np.ones((3, 2)), np.ones((1, 4))], b)
    with pytest.raises(ValueError, match="no torch.nn.Linear"):
        masks_from_module(nn.Tanh())
    model = EnsembleMLP([2, 3], [0, 1])
    with pytest.raises(ValueError, match="does not match"):
        model.set_masks([torch.ones(2, 2, 2, dtype=torch.bool)], [torch.ones(2, 3, dtype=torch.bool)])


def test_missing_bias_reads_as_none_and_mask_buffers_must_be_binary():
    """A layer without bias has no bias edges: None, not an all-False mask (which would say
    every bias was pruned), the same as the counting code reads the module directly."""
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.Tanh(), nn.Linear(4, 2))
    prune.custom_from_mask(net[2], "bias", torch.tensor([1.0, 0.0]))
    wms, bms = masks_from_module(net)
    assert bms[0] is None
    np.testing.assert_array_equal(bms[1], [True, False])
    assert wms[0].shape == (4, 3) and wms[0].all()
    ws, bs, _ = as_masks(net)
    assert bs[0] is None
    np.testing.assert_array_equal(bs[1][0], bms[1])
    np.testing.assert_array_equal(ws[1][0], wms[1])
    prune.custom_from_mask(net[0], "weight", torch.full((4, 3), 0.5))
    with pytest.raises(ValueError, match="layer 0 weight mask: masks must be binary"):
        masks_from_module(net)


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def _reference_round(model, optimizer, train, val, *, batch_size, data_seed, stopping, max_batches, loss="mse"):
    """The obviously-correct twin of ``train_round``: every network computed at every batch,
    every validation loss computed, stopped networks frozen by the optimiser's ``active`` switch."""
    from mothlib.networks.ensemble import _epoch_order

    (Xtr, Ytr), (Xv, Yv) = train, val
    gen = np.random.default_rng(np.random.SeedSequence([int(data_seed), 2]))
    total = len(Xv) // batch_size if max_batches is None else max_batches
    E = model.n_networks
    params = [*model.weights, *model.biases]
    active = torch.ones(E, dtype=torch.bool)
    stopped_at = np.full(E, total)
    val_hist = torch.empty(total, E)
    train_order = val_order = np.empty((0, batch_size), dtype=np.int64)
    ti = vi = 0
    b = 0
    for b in range(1, total + 1):
        if ti == len(train_order):
            train_order, ti = _epoch_order(gen, len(Xtr), batch_size), 0
        if vi == len(val_order):
            val_order, vi = _epoch_order(gen, len(Xv), batch_size), 0
        idx, vidx = torch.from_numpy(train_order[ti]), torch.from_numpy(val_order[vi])
        ti, vi = ti + 1, vi + 1
        per_net = model.per_network_loss(Xtr[idx], Ytr[idx], loss)
        grads = torch.autograd.grad(per_net.sum(), params)
        optimizer.step(grads, active)
        with torch.no_grad():
            val_hist[b - 1] = model.per_network_loss(Xv[vidx], Yv[vidx], loss)
        if stopping.should_check(b):
            newly = stopping.stop(val_hist[:b]) & active
            stopped_at[newly.numpy()] = b
            active &= ~newly
            if not bool(active.any()):
                break
    return b, stopped_at


def _twin_case(case: int):
    """A random small ensemble, data and stopping rule; returns a fresh (model, optimizer) maker
    and the round's keyword arguments."""
    rng = np.random.default_rng(case)
    E = int(rng.integers(2, 7))
    sizes = [4, *rng.integers(3, 12, size=int(rng.integers(1, 4))).tolist(), 3]
    loss = "cross_entropy" if case % 3 == 2 else "mse"
    X, Y = _data(700, case, n_out=3)
    Xv, Yv = _data(300, case + 50, n_out=3)
    if loss == "cross_entropy":
        Y, Yv = Y.argmax(dim=1), Yv.argmax(dim=1)
    window = int(rng.integers(2, 6))
    stopping = EarlyStopping(check_every=int(rng.integers(1, 4)), min_batches=2 * window + int(rng.integers(0, 5)),
                             window=window, ratio=float(rng.uniform(1.0, 1.05)))
    seeds = network_seeds(case, E)

    def fresh():
        model = EnsembleMLP(sizes, seeds, init_std=0.5)
        model.set_masks(*_random_masks(model, torch.Generator().manual_seed(case)))
        return model, StackedAdam([*model.weights, *model.biases], lr=1e-2)

    kwargs = dict(train=(X, Y), val=(Xv, Yv), batch_size=16, data_seed=case, stopping=stopping,
                  max_batches=60, loss=loss)
    return fresh, kwargs


@pytest.mark.parametrize("case", range(6))
def test_train_round_equals_its_all_networks_twin(case):
    """Stopped networks leave the computation (and validation losses are computed only where
    early stopping reads them), yet every network trains as when all are computed: the same
    stops, and weights and moments equal to float rounding (a smaller stack of networks may
    take another matmul kernel)."""
    fresh, kwargs = _twin_case(case)
    a, oa = fresh()
    r = train_round(a, oa, progress=False, **kwargs)
    b, ob = fresh()
    nb, sb = _reference_round(b, ob, **kwargs)
    assert r.n_batches == nb
    np.testing.assert_array_equal(r.stopped_at, sb)
    for x, y in zip([*a.weights, *a.biases], [*b.weights, *b.biases]):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)
    for x, y in zip(oa.exp_avg_sq, ob.exp_avg_sq):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-9)
    assert torch.equal(oa.step_count, ob.step_count)
    for x, y in zip([*a.weight_masks, *a.bias_masks], [*b.weight_masks, *b.bias_masks]):
        assert torch.equal(x, y)


def test_the_twin_cases_stop_networks_at_different_batches():
    """The twin cases above exercise sub-ensembles: networks stop at different batches."""
    staggered = 0
    for case in range(6):
        fresh, kwargs = _twin_case(case)
        model, opt = fresh()
        r = train_round(model, opt, progress=False, **kwargs)
        staggered += len(set(r.stopped_at.tolist())) > 1
    assert staggered >= 3


class _ProductForward(EnsembleMLP):
    """The ``torch.nn.utils.prune`` way, as the ensemble once computed: the masks multiply the
    parameters in every forward pass and no gradient hook is needed."""

    def _hook_gradients(self) -> None:
        pass

    def forward(self, x):
        ws, bs = self.effective()
        h = torch.baddbmm(bs[0].unsqueeze(2), ws[0], x.T.expand(len(ws[0]), -1, -1))
        for l in range(1, len(ws)):
            h = torch.baddbmm(bs[l].unsqueeze(2), ws[l], torch.tanh(h))
        return h.transpose(1, 2)


@settings(max_examples=15, deadline=None)
@given(case=st.integers(0, 10**6))
def test_pre_zeroed_parameters_with_gradient_hooks_train_as_mask_products_bit_for_bit(case):
    fresh, kwargs = _twin_case(case)
    a, oa = fresh()
    b = _ProductForward(a.layer_sizes, a.seeds, init_std=0.5)
    b.set_masks(*_random_masks(b, torch.Generator().manual_seed(case)))
    ob = StackedAdam([*b.weights, *b.biases], lr=1e-2)
    ra = train_round(a, oa, progress=False, **kwargs)
    rb = train_round(b, ob, progress=False, **kwargs)
    assert ra.n_batches == rb.n_batches
    np.testing.assert_array_equal(ra.stopped_at, rb.stopped_at)
    np.testing.assert_array_equal(ra.last_val, rb.last_val)
    for x, y in zip([*a.weights, *a.biases, *oa.exp_avg, *oa.exp_avg_sq],
                    [*b.weights, *b.biases, *ob.exp_avg, *ob.exp_avg_sq]):
        assert torch.equal(x, y)
    for p, m in zip([*a.weights, *a.biases], [*a.weight_masks, *a.bias_masks]):
        assert not p[~m].any()
    X = kwargs["train"][0]
    np.testing.assert_array_equal(evaluate(a, X, kwargs["train"][1], loss=kwargs["loss"]),
                                  evaluate(b, X, kwargs["train"][1], loss=kwargs["loss"]))


def test_gradient_of_a_pruned_entry_is_zero_for_any_autograd_user():
    """backward() and torch.autograd.grad, on the ensemble and on a sub-ensemble, after a re-mask."""
    model = EnsembleMLP([3, 5, 4, 2], network_seeds(1, 3))
    gen = torch.Generator().manual_seed(1)
    model.set_masks(*_random_masks(model, gen))
    model.set_masks(*_random_masks(model, gen))  # a second set_masks: one hook per parameter still
    x, y = torch.randn(6, 3, generator=gen), torch.randn(6, 2, generator=gen)
    model.per_network_mse(x, y).sum().backward()
    sub = model.subset(torch.tensor([2, 0]))
    grads = torch.autograd.grad(sub.per_network_mse(x, y).sum(), [*sub.weights, *sub.biases])
    for net, gs in ((model, [p.grad for p in [*model.weights, *model.biases]]), (sub, grads)):
        for g, m in zip(gs, [*net.weight_masks, *net.bias_masks]):
            assert not g[~m].any()
            assert g[m].abs().sum() > 0
    assert len(model.weights[0]._backward_hooks) == 1


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copied_ensemble_masks_its_gradients_too(how):
    """Tensor hooks are not copied with a tensor: the copy hooks its own parameters."""
    import copy
    import pickle

    model = EnsembleMLP([3, 5, 2], network_seeds(3, 2))
    gen = torch.Generator().manual_seed(3)
    model.set_masks(*_random_masks(model, gen))
    twin = copy.deepcopy(model) if how == "deepcopy" else pickle.loads(pickle.dumps(model))
    twin(torch.randn(4, 3, generator=gen)).sum().backward()
    for p, m in zip([*twin.weights, *twin.biases], [*twin.weight_masks, *twin.bias_masks]):
        assert not p.grad[~m].any()
        assert len(p._backward_hooks) == 1
    assert model.weights[0].grad is None  # the original's parameters are untouched


def test_loaded_arrays_are_zeroed_under_their_masks():
    model = EnsembleMLP([3, 5, 2], network_seeds(2, 2))
    arrays = model.state_arrays()
    arrays["wm0"][:, 0, :] = False
    arrays["w0"][:] = 1.0  # values under the mask, as a file from elsewhere may hold
    model.load_state_arrays(arrays)
    assert not model.weights[0][:, 0, :].any()
    assert (model.weights[0][:, 1:, :] == 1.0).all()
