"""Tests of mothlib.simulator: golden vectors, an independent scipy twin, the API's promises."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from mothlib.flight_model import TO_INTERNAL, FlightModel
from mothlib.rosenbrock import integrate, rodas_step
from mothlib.simulator import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    FILTER_RATE,
    IntegrationError,
    MothParams,
    simulate,
)

ENGINES = ["numpy", "numba"]
GOLDEN = Path(__file__).parent / "data" / "moth_final_states.csv"
S0 = ["x0", "xd0", "y0", "yd0", "theta0", "thetad0", "phi0", "phid0"]
SF = ["x_f", "xd_f", "y_f", "yd_f", "theta_f", "thetad_f", "phi_f", "phid_f"]
U = ["F", "alpha", "tau"]


def rel_err(a, b):
    """The golden-vector metric |a - b| / (|b| + 1), elementwise."""
    return np.abs(np.asarray(a) - np.asarray(b)) / (np.abs(np.asarray(b)) + 1.0)


def draw(n, seed):
    """Initial states and controls uniformly from flight-model.md's ranges."""
    rng = np.random.default_rng(seed)
    s = np.zeros((n, 8))
    s[:, 1] = rng.uniform(-1500, 1500, n)
    s[:, 3] = rng.uniform(-1500, 1500, n)
    s[:, 4] = rng.uniform(0, 2 * np.pi, n)
    s[:, 5] = rng.uniform(-25, 25, n)
    s[:, 6] = rng.uniform(0, 2 * np.pi, n)
    s[:, 7] = rng.uniform(-25, 25, n)
    u = np.column_stack(
        [rng.uniform(0, 44300, n), rng.uniform(0, 2 * np.pi, n), rng.uniform(-1e5, 1e5, n)]
    )
    return s, u


def spec_rhs(t, s, F, alpha, tau, scale):
    """The equations of motion typed straight from flight-model.md, one sample, no tricks."""
    bhead, ahead, bbutt, abutt = 0.5 * scale, 0.9 * scale, 0.75 * scale, 1.9 * scale
    rho_head, rho_butt, rhoA, muA = 0.9, 0.4, 0.00118, 0.000186
    L1, L2, L3 = 0.9 * scale, 1.9 * scale, 0.75 * scale
    K, c, g, betaR = 23000.0, 14075.8, 980.0, 0.0
    m1 = rho_head * (4 / 3) * math.pi * bhead**2 * ahead
    m2 = rho_butt * (4 / 3) * math.pi * bbutt**2 * abutt
    I1 = 0.2 * m1 * bhead**2 * (1 + (ahead / bhead) ** 2)
    I2 = 0.2 * m2 * bbutt**2 * (1 + (abutt / bbutt) ** 2)
    S_head, S_butt = math.pi * bhead**2, math.pi * bbutt**2
    x, xd, y, yd, th, thd, ph, phd = s
    speed = math.sqrt(xd**2 + yd**2)
    Dx = Dy = 0.0
    if speed > 0:
        for b, S in ((bhead, S_head), (bbutt, S_butt)):
            Re = rhoA * speed * (2 * b) / muA
            Cd = 24 / Re + 6 / (1 + math.sqrt(Re)) + 0.4
            Dx += 0.5 * Cd * rhoA * S * abs(xd) * xd
            Dy += 0.5 * Cd * rhoA * S * abs(yd) * yd
    M = np.array(
        [
            [m1 + m2, 0, -L1 * m1 * math.sin(th), -L2 * m2 * math.sin(ph)],
            [0, m1 + m2, L1 * m1 * math.cos(th), L2 * m2 * math.cos(ph)],
            [-L1 * m1 * math.sin(th), L1 * m1 * math.cos(th), I1 + L1**2 * m1, 0],
            [-L2 * m2 * math.sin(ph), L2 * m2 * math.cos(ph), 0, I2 + L2**2 * m2],
        ]
    )
    spring = K * (ph - th - math.pi - betaR) + c * (phd - thd)
    Q = np.array(
        [
            F * math.cos(alpha + th) - Dx + L1 * m1 * math.cos(th) * thd**2
            + L2 * m2 * math.cos(ph) * phd**2,
            F * math.sin(alpha + th) - Dy + L1 * m1 * math.sin(th) * thd**2
            + L2 * m2 * math.sin(ph) * phd**2 - (m1 + m2) * g,
            tau - L1 * m1 * g * math.cos(th) + spring + F * L3 * math.sin(alpha),
            -tau - L2 * m2 * g * math.cos(ph) - spring,
        ]
    )
    xdd, ydd, thdd, phdd = np.linalg.solve(M, Q)
    return [xd, xdd, yd, ydd, thd, thdd, phd, phdd]


@pytest.fixture(scope="module")
def golden():
    return pd.read_csv(GOLDEN)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("scale", [1.0, 1.3])
def test_golden_vectors(golden, scale, engine):
    rows = golden[golden.scale == scale]
    assert len(rows) == 24
    out = simulate(rows[S0].to_numpy(), rows[U].to_numpy(), scale=scale, engine=engine)
    assert out.dtype == np.float64 and out.shape == (24, 8)
    assert rel_err(out, rows[SF].to_numpy()).max() < 1e-6


def test_against_scipy_twin():
    """30 random samples from the spec's ranges, both scales, against DOP853 at 1e-11."""
    for scale, seed, n in ((1.0, 11, 18), (1.3, 12, 12)):
        s, u = draw(n, seed)
        ours = simulate(s, u, scale=scale)
        for i in range(n):
            ref = solve_ivp(
                spec_rhs, (0.0, 0.02), s[i], method="DOP853", rtol=1e-11, atol=1e-11,
                args=(*u[i], scale),
            )
            assert ref.success
            assert rel_err(ours[i], ref.y[:, -1]).max() < 1e-6, (scale, i)


def test_params_follow_the_spec_table():
    p1, p = MothParams.at_scale(1.0), MothParams.at_scale(1.3)
    assert p.L1 == pytest.approx(0.9 * 1.3) and p.bbutt == pytest.approx(0.75 * 1.3)
    assert p1.m1 == pytest.approx(0.9 * 4 / 3 * math.pi * 0.5**2 * 0.9)
    assert p1.I2 == pytest.approx(0.2 * p1.m2 * 0.75**2 * (1 + (1.9 / 0.75) ** 2))
    assert p1.S_head == pytest.approx(math.pi * 0.25)
    # Masses scale with volume, inertias with mass times length squared.
    assert p.m2 / p1.m2 == pytest.approx(1.3**3)
    assert p.I1 / p1.I1 == pytest.approx(1.3**5)
    assert (p.K, p.c, p.g, p.rhoA) == (p1.K, p1.c, p1.g, p1.rhoA)
    with pytest.raises(ValueError, match="scale"):
        MothParams.at_scale(0.0)
    with pytest.raises(Exception):
        p.L1 = 3.0  # frozen


def test_rhs_and_jacobian_against_finite_differences():
    """The vectorised RHS matches the spec's, and the stage solve inverts (alpha I - J_fd)."""
    s, u = draw(6, 5)
    s[:, 0] = np.linspace(-3, 3, 6)
    s[0, [1, 3]] = [700.0, 0.0]  # one velocity component exactly zero
    params = MothParams.at_scale(1.3)
    model = FlightModel(params, u.T)
    Y = s[:, TO_INTERNAL].T.copy()
    dY, aux = model.rhs(Y)
    for i in range(6):
        ref = np.array(spec_rhs(0.0, s[i], *u[i], 1.3))[TO_INTERNAL]
        np.testing.assert_allclose(dY[:, i], ref, rtol=1e-12, atol=1e-9)
    # Central-difference Jacobian, one column per state component.
    J = np.zeros((6, 8, 8))
    for j in range(8):
        eps = 1e-6 * max(1.0, np.abs(Y[j]).max())
        Yp, Ym = Y.copy(), Y.copy()
        Yp[j] += eps
        Ym[j] -= eps
        J[:, :, j] = ((model.rhs(Yp)[0] - model.rhs(Ym)[0]) / (2 * eps)).T
    alpha = np.array([1e3, 1e4, 1e5, 3e3, 3e4, 2e2])
    fac = model.factor(Y, aux, alpha)
    R = np.random.default_rng(0).normal(size=(8, 6)) * 100
    k = model.solve(fac, R)
    for i in range(6):
        lhs = alpha[i] * k[:, i] - J[i] @ k[:, i]
        np.testing.assert_allclose(lhs, R[:, i], rtol=1e-5, atol=1e-5 * np.abs(R[:, i]).max())


def test_engines_agree_to_round_off():
    """numba and numpy run the same method step for step: agreement far below the tolerance."""
    s, u = draw(60, 21)
    a = simulate(s, u, engine="numba")
    b = simulate(s, u, engine="numpy")
    assert rel_err(a, b).max() < 1e-10


@pytest.mark.parametrize("engine", ENGINES)
def test_batch_equals_single_samples_and_batch_size_is_irrelevant(engine):
    s, u = draw(7, 3)
    batch = simulate(s, u, engine=engine)
    for i in range(7):
        one = simulate(s[i : i + 1], u[i : i + 1], engine=engine)[0]
        np.testing.assert_allclose(one, batch[i], rtol=1e-12)
    np.testing.assert_allclose(
        simulate(s, u, batch_size=2, n_jobs=2, engine=engine), batch, rtol=1e-12
    )
    np.testing.assert_array_equal(simulate(s, u, engine=engine), batch)  # reproducible


@pytest.mark.parametrize("engine", ENGINES)
def test_trajectories_agree_with_end_states(engine):
    s, u = draw(4, 8)
    times = np.array([0.0, 0.005, 0.0123, 0.02])
    traj = simulate(s, u, times=times, engine=engine)
    assert traj.shape == (4, 4, 8)
    np.testing.assert_array_equal(traj[:, 0], s)
    assert rel_err(traj[:, -1], simulate(s, u, engine=engine)).max() < 1e-7
    for k in (1, 2):
        ref = simulate(s, u, duration=times[k], engine=engine)
        assert rel_err(traj[:, k], ref).max() < 1e-7
    # An output time inside a shorter window.
    short = simulate(s, u, duration=0.01, times=[0.004, 0.01], engine=engine)
    assert short.shape == (4, 2, 8)


@pytest.mark.parametrize("engine", ENGINES)
def test_zero_velocity_and_zero_force_give_finite_states(engine):
    s = np.zeros((3, 8))
    s[:, 4], s[:, 6] = 1.0, 4.0
    u = np.array([[0.0, 0.0, 0.0], [10000.0, 1.0, 0.0], [0.0, 0.0, 5e4]])
    out = simulate(s, u, engine=engine)
    assert np.all(np.isfinite(out))
    # At rest with no force the body falls: y' ends near -g t (drag is small at 20 cm/s).
    assert out[0, 3] == pytest.approx(-980.0 * 0.02, rel=0.05)


@pytest.mark.parametrize("engine", ENGINES)
def test_failures_raise_with_indices_or_become_nan(engine):
    s, u = draw(12, 4)
    full = simulate(s, u, engine=engine)
    with pytest.raises(IntegrationError) as info:
        simulate(s, u, max_steps=3, engine=engine)
    assert isinstance(info.value, RuntimeError)
    np.testing.assert_array_equal(info.value.indices, np.arange(12))
    assert "max_steps" in str(info.value)
    # A step budget that some samples meet and others do not: the median of their step counts.
    model = FlightModel(MothParams.at_scale(1.0), u.T)
    res = integrate(model, s[:, TO_INTERNAL].T, np.array([0.02]), rtol=DEFAULT_RTOL,
                    atol=DEFAULT_ATOL, max_steps=10**6, h0=1e-6, mu=FILTER_RATE)
    limit = int(np.median(res.n_steps))
    with pytest.warns(RuntimeWarning, match=r"\d+ of 12 sample"):
        part = simulate(s, u, max_steps=limit, on_failure="nan", engine=engine)
    nan_rows = np.isnan(part).any(axis=1)
    assert 0 < nan_rows.sum() < 12
    assert np.isnan(part[nan_rows]).all()
    np.testing.assert_allclose(part[~nan_rows], full[~nan_rows], rtol=1e-12)
    with pytest.raises(IntegrationError) as info:
        simulate(s, u, max_steps=limit, engine=engine)
    np.testing.assert_array_equal(info.value.indices, np.nonzero(nan_rows)[0])


@pytest.mark.parametrize("engine", ENGINES)
def test_overflow_fails_the_sample_not_the_batch(engine):
    s, u = draw(3, 6)
    s[1, 1] = 1e160  # the drag overflows
    s[2, 5] = 1e200
    with pytest.raises(IntegrationError) as info:
        simulate(s, u, engine=engine)
    np.testing.assert_array_equal(info.value.indices, [1, 2])
    assert info.value.reasons == ["non-finite state"] * 2
    with pytest.warns(RuntimeWarning, match="2 of 3"):
        out = simulate(s, u, engine=engine, on_failure="nan")
    assert np.isfinite(out[0]).all() and np.isnan(out[1:]).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"initial_states": np.zeros((3, 7))}, r"initial_states must have shape \(N, 8\)"),
        ({"initial_states": np.zeros(8)}, "initial_states must have shape"),
        ({"controls": np.zeros((3, 2))}, r"controls must have shape \(N, 3\)"),
        ({"controls": np.zeros((2, 3))}, "3 rows but controls has 2"),
        ({"initial_states": np.full((3, 8), np.nan)}, "initial_states has non-finite"),
        ({"controls": np.array([[np.inf, 0, 0]] * 3)}, "controls has non-finite"),
        ({"on_failure": "ignore"}, "on_failure"),
        ({"duration": 0.0}, "duration"),
        ({"duration": -0.02}, "duration"),
        ({"duration": float("nan")}, "duration"),
        ({"times": [0.01, 0.03]}, r"within \[0, duration\]"),
        ({"times": [-0.01, 0.01]}, r"within \[0, duration\]"),
        ({"times": [0.01, 0.005]}, "strictly increasing"),
        ({"times": [[0.01]]}, "1-D"),
        ({"times": []}, "1-D"),
        ({"rtol": 0.0}, "rtol"),
        ({"atol": -1.0}, "atol"),
        ({"scale": -1.0}, "scale"),
        ({"max_steps": 0}, "max_steps"),
        ({"device": "cuda"}, "device"),
        ({"engine": "fortran"}, "engine"),
        ({"n_jobs": 0}, "n_jobs"),
    ],
)
def test_bad_input_raises_value_error(kwargs, match):
    args = {"initial_states": np.zeros((3, 8)), "controls": np.zeros((3, 3))}
    args.update(kwargs)
    s0, u = args.pop("initial_states"), args.pop("controls")
    with pytest.raises(ValueError, match=match):
        simulate(s0, u, **args)


# -- property-based twins ------------------------------------------------------------------

_ANGLE = st.floats(0.0, 2 * math.pi)
_SAMPLE = st.tuples(
    st.floats(-1500.0, 1500.0),  # x'0
    st.floats(-1500.0, 1500.0),  # y'0
    _ANGLE,  # theta0
    st.floats(-25.0, 25.0),  # theta'0
    _ANGLE,  # phi0
    st.floats(-25.0, 25.0),  # phi'0
    st.floats(0.0, 44300.0),  # F
    _ANGLE,  # alpha
    st.floats(-1e5, 1e5),  # tau
)


def _unpack(sample):
    xd, yd, th, thd, ph, phd, F, alpha, tau = sample
    return np.array([0.0, xd, 0.0, yd, th, thd, ph, phd]), np.array([F, alpha, tau])


@settings(max_examples=15, deadline=None)
@example(sample=(0.0, 9.2e-152, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0), scale=1.0, engine="numba")
@example(sample=(1e-160, 0.0, 1.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0), scale=1.3, engine="numpy")
@given(sample=_SAMPLE, scale=st.sampled_from([1.0, 1.3]), engine=st.sampled_from(ENGINES))
def test_hypothesis_twin_against_scipy(sample, scale, engine):
    """Any state and control of the spec's ranges, either scale: within the golden bar of
    DOP853 at 1e-11 on the spec's equations."""
    s, u = _unpack(sample)
    ours = simulate(s[None], u[None], scale=scale, engine=engine)[0]
    ref = solve_ivp(spec_rhs, (0.0, 0.02), s, method="DOP853", rtol=1e-11, atol=1e-11,
                    args=(*u, scale))
    assert ref.success
    assert rel_err(ours, ref.y[:, -1]).max() < 1e-6


@settings(max_examples=15, deadline=None)
@example(samples=[(0.0, 9.21964864482273e-152, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)], scale=1.0)
@example(samples=[(0.0,) * 9], scale=1.0)
@given(samples=st.lists(_SAMPLE, min_size=1, max_size=6), scale=st.sampled_from([1.0, 1.3]))
def test_hypothesis_engines_agree(samples, scale):
    """Same method, same steps: the engines differ only by round-off (numba's shifted sin/cos,
    reciprocals), which the step-size controller can carry up to a few percent of the
    integration error itself (measured: 2.6e-10 apart at the all-zero state, whose violent
    joint transient leaves both ~1.3e-8 from DOP853 at 1e-12)."""
    s, u = (np.array(a) for a in zip(*map(_unpack, samples)))
    a = simulate(s, u, scale=scale, engine="numba")
    b = simulate(s, u, scale=scale, engine="numpy")
    assert rel_err(a, b).max() < 2e-9


class _Scalar:
    """y' = lam y + y^2 (one component) in the model interface of mothlib.rosenbrock."""

    lam = -3.0

    def rhs(self, Y):
        return self.lam * Y + Y * Y, Y

    def factor(self, Y, aux, alpha):
        return alpha - (self.lam + 2.0 * aux)  # alpha I - J, J exact at the step's start

    @staticmethod
    def solve(fac, R):
        return R / fac


def _scalar_exact(y0, lam, h):
    # Bernoulli equation: 1/y solves a linear one.
    return 1.0 / ((1.0 / y0 + 1.0 / lam) * np.exp(-lam * h) - 1.0 / lam)


def test_tableau_has_order_five_with_an_order_four_estimate():
    """Local errors of one step shrink like h^6 and the estimate like h^5 (typos in a
    coefficient would break this)."""
    model, y0 = _Scalar(), np.array([[0.7]])
    hs = np.array([0.025, 0.0125, 0.00625])
    errs, ests = [], []
    for h in hs:
        y1, est = rodas_step(model, y0, np.array([h]), mu=1e12)  # mu -> inf: no filter
        errs.append(abs(y1[0, 0] - _scalar_exact(0.7, model.lam, h)))
        ests.append(abs(est[0, 0]))
    err_orders = np.log2(np.array(errs[:-1]) / errs[1:])
    est_orders = np.log2(np.array(ests[:-1]) / ests[1:])
    assert np.all(err_orders > 5.5), err_orders
    assert np.all((est_orders > 4.5) & (est_orders < 5.5)), est_orders


def test_lane_kernel_is_bit_for_bit_the_per_sample_kernel():
    """The vectorised lane kernel (what simulate runs) against the readable per-sample one,
    with few lanes so that lanes are refilled, output times, and samples that fail."""
    from mothlib import _moth_numba as nb

    s, u = draw(23, 31)
    s[0, [1, 3]] = 0.0  # at rest
    s[1, 1] = 1e200  # overflows: non-finite
    model = FlightModel(MothParams.at_scale(1.3), u.T)
    Y0 = np.ascontiguousarray(s[:, TO_INTERNAL])
    P = nb.constants(model)
    for t_out, max_steps in ((np.array([0.02]), 20_000), (np.array([0.0, 0.007, 0.02]), 45)):
        lanes = np.empty((23, t_out.size, 8))
        status = np.zeros(23, dtype=np.int8)
        counts = np.zeros((23, 2), dtype=np.int64)
        nb.integrate_lanes(Y0, model.Fca, model.Fsa, model.tau, model.tq_const, P, t_out,
                           DEFAULT_RTOL, DEFAULT_ATOL, max_steps, 1e-6, FILTER_RATE, lanes,
                           status, counts, 3)
        for i in range(23):
            one = np.empty((t_out.size, 8))
            st, steps, rej = nb._one(Y0[i], model.Fca[i], model.Fsa[i], model.tau[i],
                                     model.tq_const[i], P, t_out, DEFAULT_RTOL, DEFAULT_ATOL,
                                     max_steps, 1e-6, FILTER_RATE, one)
            assert (st, steps, rej) == (status[i], *counts[i]), i
            if st == 0:
                np.testing.assert_array_equal(lanes[i], one)
            else:
                assert np.isnan(lanes[i]).all()
        assert status[1] == 3 and 0 < (status > 0).sum() < 23
