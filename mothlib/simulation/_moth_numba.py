"""The compiled engine of :func:`mothlib.simulation.simulator.simulate`: Rodas5P on the flight model, LANES
samples side by side in each thread; the simulator spreads blocks of samples over threads.

One kernel family. :func:`integrate_lanes` hands blocks of BLOCK samples to :func:`_block`,
which advances LANES samples in lock step (one attempted step of every lane per round) and
refills a lane with the next sample as soon as its sample is done. Lane data are laid out
component by lane (row = component, column = lane) so that the lane loops vectorise. The
pieces are small ``inline="always"`` helpers: the right-hand side (:func:`_rhs_v`), the
alpha-free part of the Jacobian (:func:`_jacobian_v`), the stage matrix's LU and solve
(:func:`_factor_v`, :func:`_solve_v`), the sin/cos shift (:func:`_shift`), the stage
combinations (:func:`_combine`), the step-size controller (:func:`_control`), the failure
rules (:func:`_fate`) and the lane refill (:func:`_refill`).

The numpy engine (:mod:`mothlib.simulation.flight_model`, :mod:`mothlib.simulation.rosenbrock`) is the readable
reference: this module follows it formula for formula (internal state order, Schur-complement
mass solve, reduced 4x4 stage system, max-norm error test, controller, failure rules), so the
engines agree to round-off; the tests check that, and check this kernel bit for bit against a
plain-Python per-sample twin. Compiled with ``cache=True``, so a new process loads the machine
code from ``__pycache__`` instead of compiling it again.

:func:`integrate_lanes` is a serial kernel that releases the GIL (``nogil=True``):
:func:`mothlib.simulation.simulator.simulate` runs it on row ranges of the batch in a thread
pool. A ``parallel=True`` kernel with ``prange`` ran no faster and gave the same bits, but every
process without a cache file paid far longer to compile it.
"""

from __future__ import annotations

import math
from enum import IntEnum

import numba
import numpy as np

from mothlib.simulation.rosenbrock import (
    A_MAT,
    C_MAT,
    ERR_ORDER,
    FAC_MAX,
    FAC_MIN,
    GAMMA,
    MAX_NONFINITE,
    MAX_STEPS,
    NON_FINITE,
    RODAS_STAGES,
    SAFETY,
    STEP_UNDERFLOW,
)

__all__ = ["BLOCK", "LANES", "Const", "constants", "integrate_lanes"]


class Const(IntEnum):
    """Positions in :func:`constants`' array, the model's scalars as the kernels read them."""

    MASS = 0  # m = m1 + m2
    PP = 1  # head-thorax coupling L1 m1
    QQ = 2  # abdomen coupling L2 m2
    D1 = 3  # I1 + L1^2 m1
    D2 = 4  # I2 + L2^2 m2
    K = 5  # joint stiffness
    C = 6  # joint damping
    G = 7  # gravity
    BETA_R = 8  # joint rest angle
    A1 = 9  # head drag: the 24/Re term's factor, 0.5 rhoA S 24 / kre
    B1 = 10  # head drag: 0.5 rhoA S
    KRE1 = 11  # head: Re per unit speed
    A2 = 12  # abdomen, likewise
    B2 = 13
    KRE2 = 14
    INV_MASS = 15  # 1 / m
    SQRT_KRE1 = 16
    SQRT_KRE2 = 17
    S11 = 18  # Schur complement of the translational block: d1 - pp^2 / m
    S22 = 19  # d2 - qq^2 / m
    PQ_M = 20  # pp qq / m (s12 = -PQ_M cos(theta - phi))


def constants(model) -> np.ndarray:
    """The scalars of ``model`` (a :class:`~mothlib.simulation.flight_model.FlightModel`), shape
    (len(Const),), indexed by :class:`Const`."""
    p = model.p
    (A1, B1, k1), (A2, B2, k2) = model.drag
    values = {
        Const.MASS: model.mass, Const.PP: model.pp, Const.QQ: model.qq,
        Const.D1: model.d1, Const.D2: model.d2, Const.K: p.K, Const.C: p.c, Const.G: p.g,
        Const.BETA_R: p.betaR, Const.A1: A1, Const.B1: B1, Const.KRE1: k1, Const.A2: A2,
        Const.B2: B2, Const.KRE2: k2, Const.INV_MASS: 1.0 / model.mass,
        Const.SQRT_KRE1: math.sqrt(k1), Const.SQRT_KRE2: math.sqrt(k2),
        Const.S11: model.d1 - model.pp**2 / model.mass,
        Const.S22: model.d2 - model.qq**2 / model.mass,
        Const.PQ_M: model.pp * model.qq / model.mass,
    }
    P = np.empty(len(Const))
    for key, value in values.items():
        P[key] = value
    return P


#: Samples advanced side by side in one thread: the fewest at the top of the measured speed
#: curve (more lanes fill the SIMD registers, too many spill; benchmarks/README.md).
LANES = 8
#: Samples per task of the simulator's thread pool: small enough to balance the threads, large
#: enough to refill lanes.
BLOCK = 64
#: Steps shorter than this many ulps of t count as underflow (as rosenbrock.integrate).
_TINY = 16 * 2.220446049250313e-16

# Rows of the lane arrays X (a state and its sin/cos), O (time derivative and what the
# Jacobian reuses) and U (the controls).
_SIN_TH, _COS_TH, _SIN_PH, _COS_PH = 8, 9, 10, 11  # in X and O
_ACC = 12  # O[12:16]: x'', y'', theta'', phi''
_FCA, _FSA, _TAU, _TQC = 0, 1, 2, 3  # in U: F cos(alpha), F sin(alpha), tau, tau + L3 F sin(alpha)
_STEPS, _REJECTED, _NONFINITE_RUN = 0, 1, 2  # rows of the per-lane step counters

_jit = numba.njit(cache=True, error_model="numpy")
_inline = numba.njit(cache=True, inline="always", error_model="numpy")


# -- physics: loops over the lanes with straight-line bodies, each writing one array, so that
# -- LLVM vectorises them (with many arrays its run-time alias checks give up) ----------------
@_inline
def _rhs_v(X, U, P, O):  # pragma: no cover - compiled
    """O[0:8]: the time derivative of the states X[0:8]; O[8:12]: their sin/cos (from X);
    O[12:16]: the accelerations again, for the Jacobian."""
    m, pp, qq, K, c, g = P[Const.MASS], P[Const.PP], P[Const.QQ], P[Const.K], P[Const.C], P[Const.G]
    A1, B1, A2, B2 = P[Const.A1], P[Const.B1], P[Const.A2], P[Const.B2]
    im, sk1, sk2 = P[Const.INV_MASS], P[Const.SQRT_KRE1], P[Const.SQRT_KRE2]
    s11, s22, pq_m, rest = P[Const.S11], P[Const.S22], P[Const.PQ_M], math.pi + P[Const.BETA_R]
    for l in range(X.shape[1]):
        Fca, Fsa, tau, tqc = U[_FCA, l], U[_FSA, l], U[_TAU, l], U[_TQC, l]
        st, ct, sp, cp = X[_SIN_TH, l], X[_COS_TH, l], X[_SIN_PH, l], X[_COS_PH, l]
        th, ph, u, v, thd, phd = X[2, l], X[3, l], X[4, l], X[5, l], X[6, l], X[7, l]
        # Drag of both bodies, one coefficient; few divisions, the expensive scalar operation.
        speed = math.sqrt(u * u + v * v)
        inv = 1.0 / speed if speed > 0 else 0.0
        sq = math.sqrt(speed)
        e1, e2 = 1.0 + sk1 * sq, 1.0 + sk2 * sq
        coef = (A1 + A2) * inv + 0.4 * (B1 + B2) + (6.0 * (B1 * e2 + B2 * e1)) / (e1 * e2)
        dx = coef * abs(u) * u
        dy = coef * abs(v) * v
        pt2 = pp * thd * thd
        qp2 = qq * phd * phd
        spring = K * (ph - th - rest) + c * (phd - thd)
        Qx = (Fca + pt2) * ct - Fsa * st - dx + qp2 * cp
        Qy = (Fca + pt2) * st + Fsa * ct - dy + qp2 * sp - m * g
        Qt = tqc - pp * g * ct + spring
        Qp = -tau - qq * g * cp - spring
        # M q'' = Q by the Schur complement of the translational block (FlightModel.accelerations).
        r1 = Qt - pp * (ct * Qy - st * Qx) * im
        r2 = Qp - qq * (cp * Qy - sp * Qx) * im
        s12 = -pq_m * (ct * cp + st * sp)
        idet = 1.0 / (s11 * s22 - s12 * s12)
        thdd = (s22 * r1 - s12 * r2) * idet
        phdd = (s11 * r2 - s12 * r1) * idet
        xdd = (Qx + pp * st * thdd + qq * sp * phdd) * im
        ydd = (Qy - pp * ct * thdd - qq * cp * phdd) * im
        O[0, l], O[1, l], O[2, l], O[3, l] = u, v, thd, phd
        O[4, l], O[5, l], O[6, l], O[7, l] = xdd, ydd, thdd, phdd
        O[_SIN_TH, l], O[_COS_TH, l], O[_SIN_PH, l], O[_COS_PH, l] = st, ct, sp, cp
        O[_ACC, l], O[_ACC + 1, l], O[_ACC + 2, l], O[_ACC + 3, l] = xdd, ydd, thdd, phdd


@_inline
def _drag_jacobian_body(A, B, sk, speed, sq, au, av, uu, vv, nu, nv, anu, anv):  # pragma: no cover
    """One body's terms of d(D_x, D_y)/d(x', y') (FlightModel._drag_jacobian); 0 at speed 0."""
    den = 1.0 + sk * sq
    gval = 6.0 / den + 0.4
    gp = -3.0 * sk / (sq * den * den) if speed > 0 else 0.0
    return (A * (2.0 * anu - anu * nu * nu) + B * (2.0 * au * gval + gp * nu * uu),
            A * (-anu * nu * nv) + B * (gp * nv * uu),
            A * (-anv * nv * nu) + B * (gp * nu * vv),
            A * (2.0 * anv - anv * nv * nv) + B * (2.0 * av * gval + gp * nv * vv))


@_inline
def _jacobian_v(X, U, O, P, G):  # pragma: no cover - compiled
    """The parts of the stage matrix that do not depend on alpha, shared by the step's two
    factorisations: G[0:4], G[4:8]: Gq's theta and phi columns (FlightModel.factor); G[8:12]:
    the drag Jacobian d(D_x, D_y)/d(x', y')."""
    pp, qq, K, g = P[Const.PP], P[Const.QQ], P[Const.K], P[Const.G]
    A1, B1, A2, B2 = P[Const.A1], P[Const.B1], P[Const.A2], P[Const.B2]
    sk1, sk2 = P[Const.SQRT_KRE1], P[Const.SQRT_KRE2]
    for l in range(X.shape[1]):
        Fca, Fsa = U[_FCA, l], U[_FSA, l]
        st, ct, sp, cp = O[_SIN_TH, l], O[_COS_TH, l], O[_SIN_PH, l], O[_COS_PH, l]
        xdd, ydd, thdd, phdd = O[_ACC, l], O[_ACC + 1, l], O[_ACC + 2, l], O[_ACC + 3, l]
        u, v, thd, phd = X[4, l], X[5, l], X[6, l], X[7, l]
        G[0, l] = -Fca * st - Fsa * ct - pp * st * thd * thd + pp * ct * thdd
        G[1, l] = -Fsa * st + Fca * ct + pp * ct * thd * thd + pp * st * thdd
        G[2, l] = pp * g * st - K + pp * (ct * xdd + st * ydd)
        G[3, l] = K
        G[4, l] = -qq * sp * phd * phd + qq * cp * phdd
        G[5, l] = qq * cp * phd * phd + qq * sp * phdd
        G[6, l] = K
        G[7, l] = qq * g * sp - K + qq * (cp * xdd + sp * ydd)
        # Branch-free over the lanes: at speed 0 every term is 0.
        speed = math.sqrt(u * u + v * v)
        inv = 1.0 / speed if speed > 0 else 0.0
        au, av = abs(u), abs(v)
        uu, vv = au * u, av * v
        nu, nv = u * inv, v * inv  # the direction, not inv**3, which overflows near speed 1e-150
        anu, anv = abs(nu), abs(nv)
        sq = math.sqrt(speed)
        jdu = jdv = jeu = jev = 0.0
        a, b, c, d = _drag_jacobian_body(A1, B1, sk1, speed, sq, au, av, uu, vv, nu, nv, anu, anv)
        jdu += a
        jdv += b
        jeu += c
        jev += d
        a, b, c, d = _drag_jacobian_body(A2, B2, sk2, speed, sq, au, av, uu, vv, nu, nv, anu, anv)
        jdu += a
        jdv += b
        jeu += c
        jev += d
        G[8, l], G[9, l], G[10, l], G[11, l] = jdu, jdv, jeu, jev


@_inline
def _factor_v(X, O, G, A, P, W):  # pragma: no cover - compiled
    """W[4 i + j]: the Doolittle LU (no pivoting) of the reduced 4x4 stage matrix
    alpha M - Gv - Gq / alpha at alpha = A (per lane), as FlightModel.factor; W[16:20]: the
    reciprocals of U's diagonal."""
    m, pp, qq, d1, d2, c = P[Const.MASS], P[Const.PP], P[Const.QQ], P[Const.D1], P[Const.D2], P[Const.C]
    for l in range(X.shape[1]):
        alpha = A[l]
        st, ct, sp, cp = O[_SIN_TH, l], O[_COS_TH, l], O[_SIN_PH, l], O[_COS_PH, l]
        thd, phd = X[6, l], X[7, l]
        ia = 1.0 / alpha
        w00 = alpha * m + G[8, l]
        w01 = G[9, l]
        w02 = -alpha * pp * st - 2.0 * pp * ct * thd - G[0, l] * ia
        w03 = -alpha * qq * sp - 2.0 * qq * cp * phd - G[4, l] * ia
        w10 = G[10, l]
        w11 = alpha * m + G[11, l]
        w12 = alpha * pp * ct - 2.0 * pp * st * thd - G[1, l] * ia
        w13 = alpha * qq * cp - 2.0 * qq * sp * phd - G[5, l] * ia
        w20 = -alpha * pp * st
        w21 = alpha * pp * ct
        w22 = alpha * d1 + c - G[2, l] * ia
        w23 = -c - G[6, l] * ia
        w30 = -alpha * qq * sp
        w31 = alpha * qq * cp
        w32 = -c - G[3, l] * ia
        w33 = alpha * d2 + c - G[7, l] * ia
        # Doolittle, unrolled into scalars so that each lane's matrix stays in registers.
        D0 = 1.0 / w00
        w10 = w10 * D0
        w11 = w11 - w10 * w01
        w12 = w12 - w10 * w02
        w13 = w13 - w10 * w03
        w20 = w20 * D0
        w21 = w21 - w20 * w01
        w22 = w22 - w20 * w02
        w23 = w23 - w20 * w03
        w30 = w30 * D0
        w31 = w31 - w30 * w01
        w32 = w32 - w30 * w02
        w33 = w33 - w30 * w03
        D1 = 1.0 / w11
        w21 = w21 * D1
        w22 = w22 - w21 * w12
        w23 = w23 - w21 * w13
        w31 = w31 * D1
        w32 = w32 - w31 * w12
        w33 = w33 - w31 * w13
        D2 = 1.0 / w22
        w32 = w32 * D2
        w33 = w33 - w32 * w23
        D3 = 1.0 / w33
        W[0, l], W[1, l], W[2, l], W[3, l] = w00, w01, w02, w03
        W[4, l], W[5, l], W[6, l], W[7, l] = w10, w11, w12, w13
        W[8, l], W[9, l], W[10, l], W[11, l] = w20, w21, w22, w23
        W[12, l], W[13, l], W[14, l], W[15, l] = w30, w31, w32, w33
        W[16, l], W[17, l], W[18, l], W[19, l] = D0, D1, D2, D3


@_inline
def _solve_v(W, G, O, IA, R, P, K):  # pragma: no cover - compiled
    """K: the solution of (alpha I - J) K = R (FlightModel.solve) from the factors W of
    :func:`_factor_v`, with 1/alpha = IA per lane."""
    m, pp, qq, d1, d2 = P[Const.MASS], P[Const.PP], P[Const.QQ], P[Const.D1], P[Const.D2]
    for l in range(R.shape[1]):
        ia = IA[l]
        st, ct, sp, cp = O[_SIN_TH, l], O[_COS_TH, l], O[_SIN_PH, l], O[_COS_PH, l]
        pst, pct, qsp, qcp = pp * st, pp * ct, qq * sp, qq * cp
        r2, r3 = R[2, l] * ia, R[3, l] * ia
        rv0, rv1, rv2, rv3 = R[4, l], R[5, l], R[6, l], R[7, l]
        # Reduced system W k_v = M r_v + Gq r_q / alpha, then k_q = (r_q + k_v) / alpha.
        b0 = m * rv0 - pst * rv2 - qsp * rv3 + G[0, l] * r2 + G[4, l] * r3
        b1 = m * rv1 + pct * rv2 + qcp * rv3 + G[1, l] * r2 + G[5, l] * r3
        b2 = pct * rv1 - pst * rv0 + d1 * rv2 + G[2, l] * r2 + G[6, l] * r3
        b3 = qcp * rv1 - qsp * rv0 + d2 * rv3 + G[3, l] * r2 + G[7, l] * r3
        b1 = b1 - W[4, l] * b0
        b2 = b2 - W[8, l] * b0 - W[9, l] * b1
        b3 = b3 - W[12, l] * b0 - W[13, l] * b1 - W[14, l] * b2
        b3 = b3 * W[19, l]
        b2 = (b2 - W[11, l] * b3) * W[18, l]
        b1 = (b1 - W[6, l] * b2 - W[7, l] * b3) * W[17, l]
        b0 = (b0 - W[1, l] * b1 - W[2, l] * b2 - W[3, l] * b3) * W[16, l]
        K[4, l], K[5, l], K[6, l], K[7, l] = b0, b1, b2, b3
        K[0, l] = (R[0, l] + b0) * ia
        K[1, l] = (R[1, l] + b1) * ia
        K[2, l] = (R[2, l] + b2) * ia
        K[3, l] = (R[3, l] + b3) * ia


# -- the method ------------------------------------------------------------------------------
@_inline
def _shift(s0, c0, sd, cd):  # pragma: no cover - compiled
    """sin and cos of x + d from s0 = sin x, c0 = cos x and sd = sin d, cd = cos d."""
    return s0 * cd + c0 * sd, c0 * cd - s0 * sd


@_inline
def _sin_cos_series(d):  # pragma: no cover - compiled
    """sin d and cos d for |d| <= 0.25: truncation below 0.25**14 / 14! ~ 4e-20, so exact to
    round-off, and branch-free and cheaper than libm (a stage moves an angle but little)."""
    d2 = d * d
    sd = d * (1 - d2 / 6 * (1 - d2 / 20 * (1 - d2 / 42 * (1 - d2 / 72 * (1 - d2 / 110 * (1 - d2 / 156))))))
    cd = 1 - d2 / 2 * (1 - d2 / 12 * (1 - d2 / 30 * (1 - d2 / 56 * (1 - d2 / 90 * (1 - d2 / 132 * (1 - d2 / 182))))))
    return sd, cd


@_inline
def _stage_trig(X0, Y, Xs):  # pragma: no cover - compiled
    """Xs[8:12]: sin/cos of the stage's angles Xs[2:4], shifted from the step start's X0[8:12]."""
    for k in range(Xs.shape[1]):
        sd, cd = _sin_cos_series(Xs[2, k] - Y[2, k])
        Xs[_SIN_TH, k], Xs[_COS_TH, k] = _shift(X0[_SIN_TH, k], X0[_COS_TH, k], sd, cd)
        sd, cd = _sin_cos_series(Xs[3, k] - Y[3, k])
        Xs[_SIN_PH, k], Xs[_COS_PH, k] = _shift(X0[_SIN_PH, k], X0[_COS_PH, k], sd, cd)
    for k in range(Xs.shape[1]):  # rare: shifts too large for the series
        for a in range(2):
            d = Xs[2 + a, k] - Y[2 + a, k]
            if abs(d) > 0.25:
                Xs[_SIN_TH + 2 * a, k], Xs[_COS_TH + 2 * a, k] = _shift(
                    X0[_SIN_TH + 2 * a, k], X0[_COS_TH + 2 * a, k], math.sin(d), math.cos(d))


@_inline
def _combine(coef, i, Ks, acc):  # pragma: no cover - compiled
    """acc = sum over m < i of coef[i, m] Ks[m] (a row of the tableau applied to the stages)."""
    for j in range(acc.shape[0]):
        for k in range(acc.shape[1]):
            acc[j, k] = 0.0
        for m in range(i):
            c_im = coef[i, m]
            for k in range(acc.shape[1]):
                acc[j, k] += c_im * Ks[m, j, k]


@_inline
def _error_norm(Y, Ynew_base, Klast, errf, rtol, atol, k):  # pragma: no cover - compiled
    """The max-norm error of lane k's step (rosenbrock.integrate) and whether it is finite; the
    new state is Ynew_base + Klast."""
    enorm = 0.0
    finite = True
    for j in range(8):
        ynew = Ynew_base[j, k] + Klast[j, k]
        sc = atol + rtol * max(abs(Y[j, k]), abs(ynew))
        e = abs(errf[j, k]) / sc
        if not (math.isfinite(e) and math.isfinite(ynew)):
            finite = False
        elif e > enorm:
            enorm = e
    return enorm, finite


@_inline
def _control(enorm, finite, hs, h, land, just_rejected):  # pragma: no cover - compiled
    """Whether the step is accepted, and the next step size (rosenbrock.integrate's controller:
    no growth right after a rejection, a hard cut on non-finite results, and a step shortened
    to land on an output time does not shrink the next one)."""
    accept = finite and enorm <= 1.0
    if finite:
        factor = SAFETY * enorm ** (-1.0 / ERR_ORDER) if enorm > 0 else FAC_MAX
        factor = min(FAC_MAX, max(FAC_MIN, factor))
    else:
        factor = FAC_MIN
    if accept and just_rejected:
        factor = min(factor, 1.0)
    hnew = hs * factor
    if accept and land:
        hnew = max(hnew, h)
    return accept, hnew


@_inline
def _fate(nxt, T, cnt, h, t, t_end, max_steps, k):  # pragma: no cover - compiled
    """Lane k's sample after its step: -1 (carry on), 0 (done) or its failure code, with the
    numpy engine's precedence."""
    if nxt >= T:
        return 0
    if cnt[_NONFINITE_RUN, k] >= MAX_NONFINITE:
        return NON_FINITE
    if h <= _TINY * max(abs(t), t_end):
        return STEP_UNDERFLOW
    if cnt[_STEPS, k] >= max_steps:
        return MAX_STEPS
    return -1


@_inline
def _refill(k, nexti, hi, Y0, Usamp, t_out, h0, out, status, Y, U, cur, t, h, nxt, cnt,
            jrej):  # pragma: no cover - compiled
    """Put the next sample with a step to take into lane k (a sample whose only output time is
    t = 0 is done on the spot). Returns the next unstarted sample and whether lane k is busy."""
    cur[k] = -1
    while nexti < hi:
        i = nexti
        nexti += 1
        for j in range(8):
            Y[j, k] = Y0[i, j]
        for j in range(4):
            U[j, k] = Usamp[i, j]
        t[k] = 0.0
        h[k] = h0
        nxt[k] = 0
        cnt[_STEPS, k] = 0
        cnt[_REJECTED, k] = 0
        cnt[_NONFINITE_RUN, k] = 0
        jrej[k] = False
        if t_out[0] == 0.0:  # an output at t = 0 is the initial state
            for j in range(8):
                out[i, 0, j] = Y0[i, j]
            nxt[k] = 1
        if nxt[k] < t_out.shape[0]:
            cur[k] = i
            return nexti, True
        status[i] = 0
    return nexti, False


@_jit
def _block(Y0, Usamp, P, t_out, rtol, atol, max_steps, h0, mu, out, status, counts, lo, hi,
           lanes):  # pragma: no cover - compiled
    """Integrate samples lo .. hi-1, ``lanes`` of them side by side: one attempted Rodas5P step
    of every busy lane per round (rosenbrock.rodas_step and integrate), a finished lane refilled
    with the next sample. Each lane's arithmetic depends on its own sample only."""
    L = lanes  # a run-time value: with a constant, LLVM unrolls the lane loops instead
    T = t_out.shape[0]
    Y = np.zeros((8, L))  # each lane's state
    U = np.zeros((4, L))  # and controls
    cur = np.full(L, -1, dtype=np.int64)  # its sample, -1 when idle
    t = np.zeros(L)
    h = np.full(L, h0)  # the step size the controller proposes
    hs = np.full(L, h0)  # the step taken (shortened to land on an output time)
    alpha = np.empty(L)
    ia = np.empty(L)
    ihs = np.empty(L)
    mus = np.full(L, mu)
    imus = np.full(L, 1.0 / mu)
    land = np.zeros(L, dtype=np.bool_)
    nxt = np.zeros(L, dtype=np.int64)  # next output time
    cnt = np.zeros((3, L), dtype=np.int64)  # steps, rejected, non-finite run
    jrej = np.zeros(L, dtype=np.bool_)  # the last step was rejected
    X0 = np.empty((12, L))  # the step's start: states and their sin/cos
    O0 = np.empty((16, L))  # its derivatives and what the Jacobian reuses
    Xs = np.empty((12, L))  # a stage's start
    Os = np.empty((16, L))
    G = np.empty((12, L))
    W1 = np.empty((20, L))  # LU of the stage matrix
    W2 = np.empty((20, L))  # LU of the error filter's matrix
    errf = np.empty((8, L))
    Ks = np.empty((RODAS_STAGES, 8, L))
    acc = np.empty((8, L))
    R = np.empty((8, L))
    nexti = lo
    active = 0
    for k in range(L):
        nexti, busy = _refill(k, nexti, hi, Y0, Usamp, t_out, h0, out, status, Y, U, cur, t, h,
                              nxt, cnt, jrej)
        active += busy
    while active > 0:
        # Idle lanes keep computing on their last (finite) state; nothing reads the result.
        for k in range(L):
            if cur[k] >= 0:
                gap = t_out[nxt[k]] - t[k]
                land[k] = h[k] >= gap
                hs[k] = gap if land[k] else h[k]
            alpha[k] = 1.0 / (GAMMA * hs[k])
            ia[k] = 1.0 / alpha[k]
            ihs[k] = 1.0 / hs[k]
            for j in range(8):
                X0[j, k] = Y[j, k]
            X0[_SIN_TH, k], X0[_COS_TH, k] = math.sin(Y[2, k]), math.cos(Y[2, k])
            X0[_SIN_PH, k], X0[_COS_PH, k] = math.sin(Y[3, k]), math.cos(Y[3, k])
        _rhs_v(X0, U, P, O0)
        _jacobian_v(X0, U, O0, P, G)
        _factor_v(X0, O0, G, alpha, P, W1)
        _solve_v(W1, G, O0, ia, O0, P, Ks[0])
        for i in range(1, RODAS_STAGES):
            _combine(A_MAT, i, Ks, acc)
            for j in range(8):
                for k in range(L):
                    Xs[j, k] = Y[j, k] + acc[j, k]
            _stage_trig(X0, Y, Xs)
            _rhs_v(Xs, U, P, Os)
            _combine(C_MAT, i, Ks, acc)
            for j in range(8):
                for k in range(L):
                    R[j, k] = Os[j, k] + ihs[k] * acc[j, k]
            _solve_v(W1, G, O0, ia, R, P, Ks[i])
        # The error estimate Ks[-1] filtered by mu (mu I - J)^-1 (rosenbrock.integrate).
        _factor_v(X0, O0, G, mus, P, W2)
        for j in range(8):
            for k in range(L):
                R[j, k] = mu * Ks[RODAS_STAGES - 1, j, k]
        _solve_v(W2, G, O0, imus, R, P, errf)
        # The new state is the last stage's start plus Ks[-1] (stiffly accurate).
        for k in range(L):
            if cur[k] < 0:
                continue
            enorm, finite = _error_norm(Y, Xs, Ks[RODAS_STAGES - 1], errf, rtol, atol, k)
            accept, hnew = _control(enorm, finite, hs[k], h[k], land[k], jrej[k])
            cnt[_STEPS, k] += 1
            if not accept:
                cnt[_REJECTED, k] += 1
            cnt[_NONFINITE_RUN, k] = 0 if finite else cnt[_NONFINITE_RUN, k] + 1
            jrej[k] = not accept
            i = cur[k]
            if accept:
                for j in range(8):
                    Y[j, k] = Xs[j, k] + Ks[RODAS_STAGES - 1, j, k]
                t[k] = t_out[nxt[k]] if land[k] else t[k] + hs[k]
                if land[k]:
                    for j in range(8):
                        out[i, nxt[k], j] = Y[j, k]
                    nxt[k] += 1
            h[k] = hnew
            fate = _fate(nxt[k], T, cnt, h[k], t[k], t_out[T - 1], max_steps, k)
            if fate >= 0:
                status[i] = fate
                counts[i, 0] = cnt[_STEPS, k]
                counts[i, 1] = cnt[_REJECTED, k]
                if fate != 0:
                    out[i, :, :] = np.nan
                nexti, busy = _refill(k, nexti, hi, Y0, Usamp, t_out, h0, out, status, Y, U,
                                      cur, t, h, nxt, cnt, jrej)
                active += busy - 1


@numba.njit(cache=True, nogil=True, error_model="numpy")
def integrate_lanes(Y0, Usamp, P, t_out, rtol, atol, max_steps, h0, mu, out, status, counts,
                    lanes):  # pragma: no cover - compiled
    """Integrate every sample from t = 0 and record its states at ``t_out`` (T,).

    Y0 (n, 8): initial states, internal order; Usamp (n, 4): F cos(alpha), F sin(alpha), tau,
    tau + L3 F sin(alpha) per sample; P: :func:`constants`. Fills out (n, T, 8) (NaN for a
    failed sample), status (n,) int8 (0 or rosenbrock's failure code) and counts (n, 2)
    (attempted and rejected steps). Blocks of BLOCK samples one after the other, ``lanes`` side
    by side, in the calling thread; the GIL is released, so threads may run it on disjoint row
    ranges (slices of the same arrays) at once. Each sample's numbers are its own.
    """
    n = Y0.shape[0]
    for b in range((n + BLOCK - 1) // BLOCK):
        _block(Y0, Usamp, P, t_out, rtol, atol, max_steps, h0, mu, out, status, counts,
               b * BLOCK, min(n, (b + 1) * BLOCK), lanes)
