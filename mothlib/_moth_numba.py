"""The numba engine of :func:`mothlib.simulator.simulate`: the same Rodas5P method, one sample per
loop iteration, compiled and spread over the CPU cores with ``prange``.

It mirrors :mod:`mothlib.flight_model` and :mod:`mothlib.rosenbrock` formula for formula
(internal state order, Schur-complement mass solve, reduced 4x4 stage system, max-norm error
test, step-size controller, failure rules), so the two engines agree to round-off; the tests
check that. numba is a core dependency; where it cannot be imported the numpy engine is used.
Every function is compiled with ``cache=True``: a new process loads the machine code from
``__pycache__`` (first call ~0.5 s) instead of compiling it (~12-20 s on the 2-core machine).
"""

from __future__ import annotations

import math

import numpy as np

from mothlib.rosenbrock import (
    A_MAT,
    C_MAT,
    ERR_ORDER,
    FAC_MAX,
    FAC_MIN,
    GAMMA,
    MAX_NONFINITE,
    MAX_STEPS,
    NON_FINITE,
    SAFETY,
    STAGES,
    STEP_UNDERFLOW,
)

try:
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dev dependency
    numba = None
    HAVE_NUMBA = False


def constants(model) -> np.ndarray:
    """The model's scalar constants packed for the kernel."""
    p = model.p
    (A1, B1, k1), (A2, B2, k2) = model.drag
    return np.array(
        [model.mass, model.pp, model.qq, model.d1, model.d2, p.K, p.c, p.g, p.betaR,
         A1, B1, k1, A2, B2, k2, 1.0 / model.mass, math.sqrt(k1), math.sqrt(k2),
         model.d1 - model.pp**2 / model.mass, model.d2 - model.qq**2 / model.mass,
         model.pp * model.qq / model.mass],
        dtype=np.float64,
    )


if HAVE_NUMBA:

    @numba.njit(cache=True, inline="always", error_model="numpy")
    def _sincos_shift(s0, c0, d):  # pragma: no cover - compiled
        """sin and cos of (x + d) from s0 = sin x, c0 = cos x; Taylor in d when |d| is small."""
        if abs(d) > 0.25:
            return s0 * math.cos(d) + c0 * math.sin(d), c0 * math.cos(d) - s0 * math.sin(d)
        # Truncation below 0.25**14 / 14! ~ 4e-20: exact to round-off, ~4x cheaper than libm.
        d2 = d * d
        sd = d * (1 - d2 / 6 * (1 - d2 / 20 * (1 - d2 / 42 * (1 - d2 / 72 * (1 - d2 / 110 * (1 - d2 / 156))))))
        cd = 1 - d2 / 2 * (1 - d2 / 12 * (1 - d2 / 30 * (1 - d2 / 56 * (1 - d2 / 90 * (1 - d2 / 132 * (1 - d2 / 182))))))
        return s0 * cd + c0 * sd, c0 * cd - s0 * sd

    @numba.njit(cache=True, inline="always", error_model="numpy")
    def _rhs(Y, Fca, Fsa, tau, tqc, P, dY, aux, st, ct, sp, cp):  # pragma: no cover - compiled
        m, pp, qq, d1, d2, K, c, g, betaR = P[0], P[1], P[2], P[3], P[4], P[5], P[6], P[7], P[8]
        A1, B1, k1, A2, B2, k2 = P[9], P[10], P[11], P[12], P[13], P[14]
        th, ph, u, v, thd, phd = Y[2], Y[3], Y[4], Y[5], Y[6], Y[7]
        im, sk1, sk2, s11, s22, pq_m = P[15], P[16], P[17], P[18], P[19], P[20]
        speed = math.sqrt(u * u + v * v)
        inv = 1.0 / speed if speed > 0 else 0.0
        sq = math.sqrt(speed)
        # Divisions are the expensive scalar operations here: few of them, reciprocals reused.
        e1, e2 = 1.0 + sk1 * sq, 1.0 + sk2 * sq
        coef = (A1 + A2) * inv + 0.4 * (B1 + B2) + (6.0 * (B1 * e2 + B2 * e1)) / (e1 * e2)
        dx = coef * abs(u) * u
        dy = coef * abs(v) * v
        pt2 = pp * thd * thd
        qp2 = qq * phd * phd
        spring = K * (ph - th - (math.pi + betaR)) + c * (phd - thd)
        Qx = (Fca + pt2) * ct - Fsa * st - dx + qp2 * cp
        Qy = (Fca + pt2) * st + Fsa * ct - dy + qp2 * sp - m * g
        Qt = tqc - pp * g * ct + spring
        Qp = -tau - qq * g * cp - spring
        r1 = Qt - pp * (ct * Qy - st * Qx) * im
        r2 = Qp - qq * (cp * Qy - sp * Qx) * im
        s12 = -pq_m * (ct * cp + st * sp)
        idet = 1.0 / (s11 * s22 - s12 * s12)
        thdd = (s22 * r1 - s12 * r2) * idet
        phdd = (s11 * r2 - s12 * r1) * idet
        xdd = (Qx + pp * st * thdd + qq * sp * phdd) * im
        ydd = (Qy - pp * ct * thdd - qq * cp * phdd) * im
        for i in range(4):
            dY[i] = Y[4 + i]
        dY[4], dY[5], dY[6], dY[7] = xdd, ydd, thdd, phdd
        aux[0], aux[1], aux[2], aux[3] = st, ct, sp, cp
        aux[4], aux[5], aux[6], aux[7] = xdd, ydd, thdd, phdd

    @numba.njit(cache=True, inline="always", error_model="numpy")
    def _jacobian(Y, Fca, Fsa, P, aux, G):  # pragma: no cover - compiled
        """The parts of the stage matrix that do not depend on alpha (shared by the step's two
        factorisations): G[0:4], G[4:8]: Gq's theta and phi columns; G[8:12]: the drag
        Jacobian d(D_x, D_y)/d(x', y')."""
        pp, qq, K, g = P[1], P[2], P[5], P[7]
        st, ct, sp, cp = aux[0], aux[1], aux[2], aux[3]
        xdd, ydd, thdd, phdd = aux[4], aux[5], aux[6], aux[7]
        u, v, thd, phd = Y[4], Y[5], Y[6], Y[7]
        G[0] = -Fca * st - Fsa * ct - pp * st * thd * thd + pp * ct * thdd
        G[1] = -Fsa * st + Fca * ct + pp * ct * thd * thd + pp * st * thdd
        G[2] = pp * g * st - K + pp * (ct * xdd + st * ydd)
        G[3] = K
        G[4] = -qq * sp * phd * phd + qq * cp * phdd
        G[5] = qq * cp * phd * phd + qq * sp * phdd
        G[6] = K
        G[7] = qq * g * sp - K + qq * (cp * xdd + sp * ydd)
        # Drag Jacobian, as FlightModel._drag_jacobian.
        speed = math.sqrt(u * u + v * v)
        jdu = jdv = jeu = jev = 0.0
        if speed > 0:
            inv = 1.0 / speed
            au, av = abs(u), abs(v)
            uu, vv = au * u, av * v
            nu, nv = u * inv, v * inv  # not inv**3, which overflows near speed 1e-150
            anu, anv = abs(nu), abs(nv)
            sq = math.sqrt(speed)
            for b in range(2):
                A, B, kre = P[9 + 3 * b], P[10 + 3 * b], P[11 + 3 * b]
                sk = math.sqrt(kre)
                den = 1.0 + sk * sq
                gval = 6.0 / den + 0.4
                gp = -3.0 * sk / (sq * den * den)
                jdu += A * (2.0 * anu - anu * nu * nu) + B * (2.0 * au * gval + gp * nu * uu)
                jdv += A * (-anu * nu * nv) + B * (gp * nv * uu)
                jeu += A * (-anv * nv * nu) + B * (gp * nu * vv)
                jev += A * (2.0 * anv - anv * nv * nv) + B * (2.0 * av * gval + gp * nv * vv)
        G[8], G[9], G[10], G[11] = jdu, jdv, jeu, jev

    @numba.njit(cache=True, inline="always", error_model="numpy")
    def _factor(Y, P, aux, alpha, G, W, D):  # pragma: no cover - compiled
        """W: LU of the reduced 4x4 matrix (alpha M - Gv - Gq / alpha); D: reciprocals of U's
        diagonal. G: :func:`_jacobian`'s output."""
        m, pp, qq, d1, d2, c = P[0], P[1], P[2], P[3], P[4], P[6]
        st, ct, sp, cp = aux[0], aux[1], aux[2], aux[3]
        thd, phd = Y[6], Y[7]
        jdu, jdv, jeu, jev = G[8], G[9], G[10], G[11]

        ia = 1.0 / alpha
        W[0, 0] = alpha * m + jdu
        W[0, 1] = jdv
        W[0, 2] = -alpha * pp * st - 2.0 * pp * ct * thd - G[0] * ia
        W[0, 3] = -alpha * qq * sp - 2.0 * qq * cp * phd - G[4] * ia
        W[1, 0] = jeu
        W[1, 1] = alpha * m + jev
        W[1, 2] = alpha * pp * ct - 2.0 * pp * st * thd - G[1] * ia
        W[1, 3] = alpha * qq * cp - 2.0 * qq * sp * phd - G[5] * ia
        W[2, 0] = -alpha * pp * st
        W[2, 1] = alpha * pp * ct
        W[2, 2] = alpha * d1 + c - G[2] * ia
        W[2, 3] = -c - G[6] * ia
        W[3, 0] = -alpha * qq * sp
        W[3, 1] = alpha * qq * cp
        W[3, 2] = -c - G[3] * ia
        W[3, 3] = alpha * d2 + c - G[7] * ia
        for k in range(4):
            D[k] = 1.0 / W[k, k]
            for i in range(k + 1, 4):
                W[i, k] = W[i, k] * D[k]
                for j in range(k + 1, 4):
                    W[i, j] = W[i, j] - W[i, k] * W[k, j]

    @numba.njit(cache=True, inline="always", error_model="numpy")
    def _solve(W, D, G, P, aux, ia, R, k):  # pragma: no cover - compiled
        m, pp, qq, d1, d2 = P[0], P[1], P[2], P[3], P[4]
        st, ct, sp, cp = aux[0], aux[1], aux[2], aux[3]
        pst, pct, qsp, qcp = pp * st, pp * ct, qq * sp, qq * cp
        r2, r3 = R[2] * ia, R[3] * ia
        rv0, rv1, rv2, rv3 = R[4], R[5], R[6], R[7]
        b0 = m * rv0 - pst * rv2 - qsp * rv3 + G[0] * r2 + G[4] * r3
        b1 = m * rv1 + pct * rv2 + qcp * rv3 + G[1] * r2 + G[5] * r3
        b2 = pct * rv1 - pst * rv0 + d1 * rv2 + G[2] * r2 + G[6] * r3
        b3 = qcp * rv1 - qsp * rv0 + d2 * rv3 + G[3] * r2 + G[7] * r3
        b1 = b1 - W[1, 0] * b0
        b2 = b2 - W[2, 0] * b0 - W[2, 1] * b1
        b3 = b3 - W[3, 0] * b0 - W[3, 1] * b1 - W[3, 2] * b2
        b3 = b3 * D[3]
        b2 = (b2 - W[2, 3] * b3) * D[2]
        b1 = (b1 - W[1, 2] * b2 - W[1, 3] * b3) * D[1]
        b0 = (b0 - W[0, 1] * b1 - W[0, 2] * b2 - W[0, 3] * b3) * D[0]
        k[4], k[5], k[6], k[7] = b0, b1, b2, b3
        for i in range(4):
            k[i] = (R[i] + k[4 + i]) * ia

    @numba.njit(cache=True, error_model="numpy")
    def _one(y0, Fca, Fsa, tau, tqc, P, t_out, rtol, atol, max_steps, h0, mu, out):  # pragma: no cover
        """Integrate one sample; fill ``out`` (T, 8); return (status, steps, rejected)."""
        T = t_out.shape[0]
        Y = y0.copy()
        nxt = 0
        if t_out[0] == 0.0:
            out[0, :] = Y
            nxt = 1
        dY = np.empty(8)
        aux = np.empty(8)
        W = np.empty((4, 4))
        G = np.empty(12)
        D = np.empty(4)
        W2 = np.empty((4, 4))
        D2 = np.empty(4)
        errf = np.empty(8)
        Ks = np.empty((STAGES, 8))
        arg = np.empty(8)
        R = np.empty(8)
        Ynew = np.empty(8)
        stage_aux = np.empty(8)
        t = 0.0
        h = h0
        steps = 0
        rej = 0
        nonfinite_run = 0
        just_rejected = False
        tiny = 16 * 2.220446049250313e-16
        while nxt < T:
            target = t_out[nxt]
            gap = target - t
            land = h >= gap
            hs = gap if land else h
            # -- one Rodas5P step, as rosenbrock.rodas_step
            st0, ct0 = math.sin(Y[2]), math.cos(Y[2])
            sp0, cp0 = math.sin(Y[3]), math.cos(Y[3])
            _rhs(Y, Fca, Fsa, tau, tqc, P, dY, aux, st0, ct0, sp0, cp0)
            alpha = 1.0 / (GAMMA * hs)
            _jacobian(Y, Fca, Fsa, P, aux, G)
            _factor(Y, P, aux, alpha, G, W, D)
            ia = 1.0 / alpha
            ih = 1.0 / hs
            _solve(W, D, G, P, aux, ia, dY, Ks[0])
            for i in range(1, STAGES):
                for j in range(8):
                    acc = 0.0
                    for l in range(i):
                        acc += A_MAT[i, l] * Ks[l, j]
                    arg[j] = Y[j] + acc
                st, ct = _sincos_shift(st0, ct0, arg[2] - Y[2])
                sp, cp = _sincos_shift(sp0, cp0, arg[3] - Y[3])
                _rhs(arg, Fca, Fsa, tau, tqc, P, dY, stage_aux, st, ct, sp, cp)
                for j in range(8):
                    acc = 0.0
                    for l in range(i):
                        acc += C_MAT[i, l] * Ks[l, j]
                    R[j] = dY[j] + ih * acc
                _solve(W, D, G, P, aux, ia, R, Ks[i])
            # Filtered error estimate mu (mu I - J)^-1 err, as rosenbrock.integrate.
            _factor(Y, P, aux, mu, G, W2, D2)
            for j in range(8):
                R[j] = mu * Ks[STAGES - 1, j]
            _solve(W2, D2, G, P, aux, 1.0 / mu, R, errf)
            enorm = 0.0
            finite = True
            for j in range(8):
                Ynew[j] = arg[j] + Ks[STAGES - 1, j]
                sc = atol + rtol * max(abs(Y[j]), abs(Ynew[j]))
                e = abs(errf[j]) / sc
                if not (math.isfinite(e) and math.isfinite(Ynew[j])):
                    finite = False
                elif e > enorm:
                    enorm = e
            accept = finite and enorm <= 1.0
            steps += 1
            if not accept:
                rej += 1
            nonfinite_run = 0 if finite else nonfinite_run + 1
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
            just_rejected = not accept
            if accept:
                Y[:] = Ynew
                t = target if land else t + hs
                if land:
                    out[nxt, :] = Ynew
                    nxt += 1
            h = hnew
            if nxt >= T:
                break
            # Same precedence as the numpy engine.
            if nonfinite_run >= MAX_NONFINITE:
                return NON_FINITE, steps, rej
            if h <= tiny * max(abs(t), t_out[T - 1]):
                return STEP_UNDERFLOW, steps, rej
            if steps >= max_steps:
                return MAX_STEPS, steps, rej
        return 0, steps, rej

    @numba.njit(cache=True, parallel=True, error_model="numpy")
    def integrate_batch(Y0, Fca, Fsa, tau, tqc, P, t_out, rtol, atol, max_steps, h0, mu, out,
                        status, counts):  # pragma: no cover - compiled
        """Y0 (n, 8) internal order; out (n, T, 8); status (n,) int8; counts (n, 2): attempted
        and rejected steps."""
        n = Y0.shape[0]
        for i in numba.prange(n):
            st, steps, rej = _one(Y0[i], Fca[i], Fsa[i], tau[i], tqc[i], P, t_out, rtol, atol,
                                  max_steps, h0, mu, out[i])
            status[i] = st
            counts[i, 0] = steps
            counts[i, 1] = rej
            if st != 0:
                out[i, :, :] = np.nan
