"""The numba engine of :func:`mothlib.simulator.simulate`: the same Rodas5P method, compiled and
spread over the CPU cores with ``prange``.

Two kernels compute bit for bit the same numbers (tested): :func:`_one` integrates one sample
at a time (the readable one); :func:`integrate_lanes`, the one ``simulate`` uses, integrates
LANES samples side by side in lock step, with the data laid out component by lane so that part
of the arithmetic runs in SIMD registers (~1.3x faster, measured), refilling a lane with the
next sample as soon as its sample is done.

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


#: Samples integrated side by side in one thread by the lane kernel (_block), and samples per
#: parallel task. Measured, one thread: 4 lanes 9.4k samples/s, 8 and 16 lanes 17-18k, 32 15k;
#: the per-sample kernel (_one) 14k.
LANES = 8
BLOCK = 64

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


    @numba.njit(cache=True, inline="always", error_model="numpy")
    def _sincos_taylor(s0, c0, d):  # pragma: no cover - compiled
        """_sincos_shift's series branch alone (branch-free, for the lanes)."""
        d2 = d * d
        sd = d * (1 - d2 / 6 * (1 - d2 / 20 * (1 - d2 / 42 * (1 - d2 / 72 * (1 - d2 / 110 * (1 - d2 / 156))))))
        cd = 1 - d2 / 2 * (1 - d2 / 12 * (1 - d2 / 30 * (1 - d2 / 56 * (1 - d2 / 90 * (1 - d2 / 132 * (1 - d2 / 182))))))
        return s0 * cd + c0 * sd, c0 * cd - s0 * sd

    # Lane kernels: loops over the lanes (last axis) with straight-line bodies, each reading few
    # arrays and writing one, so that LLVM can vectorise them (with many arrays its run-time
    # alias checks give up). Formulas and their order are exactly those of the scalar kernels.
    @numba.njit(cache=True, inline="always", error_model="numpy")
    def _rhs_v(X, U, P, O):  # pragma: no cover - compiled
        """X rows 0-7: states, 8-11: sin/cos of theta and phi; U: (Fca, Fsa, tau, tqc) rows.
        O rows 0-7: time derivatives, 8-15: aux as _rhs."""
        m, pp, qq, d1, d2, K, c, g, betaR = P[0], P[1], P[2], P[3], P[4], P[5], P[6], P[7], P[8]
        A1, B1, k1, A2, B2, k2 = P[9], P[10], P[11], P[12], P[13], P[14]
        im, sk1, sk2, s11, s22, pq_m = P[15], P[16], P[17], P[18], P[19], P[20]
        for l in range(X.shape[1]):
            Fca, Fsa, tau, tqc = U[0, l], U[1, l], U[2, l], U[3, l]
            st, ct, sp, cp = X[8, l], X[9, l], X[10, l], X[11, l]
            th, ph, u, v, thd, phd = X[2, l], X[3, l], X[4, l], X[5, l], X[6, l], X[7, l]
            speed = math.sqrt(u * u + v * v)
            inv = 1.0 / speed if speed > 0 else 0.0
            sq = math.sqrt(speed)
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
            O[0, l], O[1, l], O[2, l], O[3, l] = u, v, thd, phd
            O[4, l], O[5, l], O[6, l], O[7, l] = xdd, ydd, thdd, phdd
            O[8, l], O[9, l], O[10, l], O[11, l] = st, ct, sp, cp
            O[12, l], O[13, l], O[14, l], O[15, l] = xdd, ydd, thdd, phdd

    @numba.njit(cache=True, inline="always", error_model="numpy")
    def _jacobian_v(X, U, O, P, G):  # pragma: no cover - compiled
        """G (12, lanes) as _jacobian, from states X and the aux rows of O."""
        pp, qq, K, g = P[1], P[2], P[5], P[7]
        A1, B1, A2, B2 = P[9], P[10], P[12], P[13]
        sk1, sk2 = math.sqrt(P[11]), math.sqrt(P[14])
        for l in range(X.shape[1]):
            Fca, Fsa = U[0, l], U[1, l]
            st, ct, sp, cp = O[8, l], O[9, l], O[10, l], O[11, l]
            xdd, ydd, thdd, phdd = O[12, l], O[13, l], O[14, l], O[15, l]
            u, v, thd, phd = X[4, l], X[5, l], X[6, l], X[7, l]
            G[0, l] = -Fca * st - Fsa * ct - pp * st * thd * thd + pp * ct * thdd
            G[1, l] = -Fsa * st + Fca * ct + pp * ct * thd * thd + pp * st * thdd
            G[2, l] = pp * g * st - K + pp * (ct * xdd + st * ydd)
            G[3, l] = K
            G[4, l] = -qq * sp * phd * phd + qq * cp * phdd
            G[5, l] = qq * cp * phd * phd + qq * sp * phdd
            G[6, l] = K
            G[7, l] = qq * g * sp - K + qq * (cp * xdd + sp * ydd)
            # Branch-free; at speed 0 every term is 0, as in _jacobian.
            speed = math.sqrt(u * u + v * v)
            inv = 1.0 / speed if speed > 0 else 0.0
            au, av = abs(u), abs(v)
            uu, vv = au * u, av * v
            nu, nv = u * inv, v * inv
            anu, anv = abs(nu), abs(nv)
            sq = math.sqrt(speed)
            jdu = jdv = jeu = jev = 0.0
            den = 1.0 + sk1 * sq
            gval = 6.0 / den + 0.4
            gp = -3.0 * sk1 / (sq * den * den) if speed > 0 else 0.0
            jdu += A1 * (2.0 * anu - anu * nu * nu) + B1 * (2.0 * au * gval + gp * nu * uu)
            jdv += A1 * (-anu * nu * nv) + B1 * (gp * nv * uu)
            jeu += A1 * (-anv * nv * nu) + B1 * (gp * nu * vv)
            jev += A1 * (2.0 * anv - anv * nv * nv) + B1 * (2.0 * av * gval + gp * nv * vv)
            den = 1.0 + sk2 * sq
            gval = 6.0 / den + 0.4
            gp = -3.0 * sk2 / (sq * den * den) if speed > 0 else 0.0
            jdu += A2 * (2.0 * anu - anu * nu * nu) + B2 * (2.0 * au * gval + gp * nu * uu)
            jdv += A2 * (-anu * nu * nv) + B2 * (gp * nv * uu)
            jeu += A2 * (-anv * nv * nu) + B2 * (gp * nu * vv)
            jev += A2 * (2.0 * anv - anv * nv * nv) + B2 * (2.0 * av * gval + gp * nv * vv)
            G[8, l], G[9, l], G[10, l], G[11, l] = jdu, jdv, jeu, jev

    @numba.njit(cache=True, inline="always", error_model="numpy")
    def _factor_v(X, O, G, A, P, W):  # pragma: no cover - compiled
        """W rows 4 i + j: the LU of _factor at alpha = A (per lane); rows 16-19: D."""
        m, pp, qq, d1, d2, c = P[0], P[1], P[2], P[3], P[4], P[6]
        for l in range(X.shape[1]):
            alpha = A[l]
            st, ct, sp, cp = O[8, l], O[9, l], O[10, l], O[11, l]
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
            # _factor's Doolittle loop, unrolled.
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

    @numba.njit(cache=True, inline="always", error_model="numpy")
    def _solve_v(W, G, O, IA, R, P, K):  # pragma: no cover - compiled
        """K = _solve's result for right-hand sides R, factors W (_factor_v), 1/alpha = IA."""
        m, pp, qq, d1, d2 = P[0], P[1], P[2], P[3], P[4]
        for l in range(R.shape[1]):
            ia = IA[l]
            st, ct, sp, cp = O[8, l], O[9, l], O[10, l], O[11, l]
            pst, pct, qsp, qcp = pp * st, pp * ct, qq * sp, qq * cp
            r2, r3 = R[2, l] * ia, R[3, l] * ia
            rv0, rv1, rv2, rv3 = R[4, l], R[5, l], R[6, l], R[7, l]
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

    @numba.njit(cache=True, error_model="numpy")
    def _start(k, i, Y0, Fca, Fsa, tau, tqc, t_out, h0, out, Y, lane_u, cur, t, h, nxt, cnt,
               jrej):  # pragma: no cover - compiled
        """Put sample i into lane k; False when it has no step to take (only the output t = 0)."""
        cur[k] = i
        for j in range(8):
            Y[j, k] = Y0[i, j]
        lane_u[0, k], lane_u[1, k], lane_u[2, k], lane_u[3, k] = Fca[i], Fsa[i], tau[i], tqc[i]
        t[k] = 0.0
        h[k] = h0
        nxt[k] = 0
        cnt[0, k] = 0
        cnt[1, k] = 0
        cnt[2, k] = 0
        jrej[k] = False
        if t_out[0] == 0.0:
            for j in range(8):
                out[i, 0, j] = Y0[i, j]
            nxt[k] = 1
        return nxt[k] < t_out.shape[0]

    @numba.njit(cache=True, error_model="numpy")
    def _block(Y0, Fca, Fsa, tau, tqc, P, t_out, rtol, atol, max_steps, h0, mu, out, status,
               counts, lo, hi, lanes):  # pragma: no cover - compiled
        """Samples lo .. hi-1, LANES of them side by side: one attempted step of every lane per
        round, the arithmetic of all lanes in vectorisable loops (the data are laid out
        component by lane), a finished lane refilled with the next sample. Each lane runs
        exactly _one's arithmetic, so results are bit for bit those of _one (tested)."""
        L = lanes  # a run-time value: with a constant, LLVM unrolls the lane loops instead
        T = t_out.shape[0]
        Y = np.zeros((8, L))
        lane_u = np.zeros((4, L))  # Fca, Fsa, tau, tqc of each lane's sample
        cur = np.full(L, -1, dtype=np.int64)
        t = np.zeros(L)
        h = np.full(L, h0)
        hs = np.full(L, h0)
        alpha = np.empty(L)
        ia = np.empty(L)
        ihs = np.empty(L)
        mus = np.full(L, mu)
        imus = np.full(L, 1.0 / mu)
        land = np.zeros(L, dtype=np.bool_)
        nxt = np.zeros(L, dtype=np.int64)
        cnt = np.zeros((3, L), dtype=np.int64)  # steps, rejected, non-finite run
        jrej = np.zeros(L, dtype=np.bool_)
        X0 = np.empty((12, L))  # the step's start: states and their sin/cos
        O0 = np.empty((16, L))  # its derivatives and aux
        Xs = np.empty((12, L))  # a stage's start
        Os = np.empty((16, L))
        G = np.empty((12, L))
        W1 = np.empty((20, L))
        W2 = np.empty((20, L))
        errf = np.empty((8, L))
        Ks = np.empty((STAGES, 8, L))
        acc = np.empty((8, L))
        R = np.empty((8, L))
        tiny = 16 * 2.220446049250313e-16
        nexti = lo
        active = 0
        for k in range(L):
            while nexti < hi:
                i = nexti
                nexti += 1
                if _start(k, i, Y0, Fca, Fsa, tau, tqc, t_out, h0, out, Y, lane_u, cur, t, h,
                          nxt, cnt, jrej):
                    active += 1
                    break
                status[i] = 0
                cur[k] = -1
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
                X0[8, k], X0[9, k] = math.sin(Y[2, k]), math.cos(Y[2, k])
                X0[10, k], X0[11, k] = math.sin(Y[3, k]), math.cos(Y[3, k])
            _rhs_v(X0, lane_u, P, O0)
            _jacobian_v(X0, lane_u, O0, P, G)
            _factor_v(X0, O0, G, alpha, P, W1)
            _solve_v(W1, G, O0, ia, O0, P, Ks[0])
            for i in range(1, STAGES):
                for j in range(8):
                    for k in range(L):
                        acc[j, k] = 0.0
                    for m in range(i):
                        a_im = A_MAT[i, m]
                        for k in range(L):
                            acc[j, k] += a_im * Ks[m, j, k]
                    for k in range(L):
                        Xs[j, k] = Y[j, k] + acc[j, k]
                for k in range(L):
                    Xs[8, k], Xs[9, k] = _sincos_taylor(X0[8, k], X0[9, k], Xs[2, k] - Y[2, k])
                    Xs[10, k], Xs[11, k] = _sincos_taylor(X0[10, k], X0[11, k],
                                                          Xs[3, k] - Y[3, k])
                for k in range(L):  # rare: shifts too large for the series
                    for a in range(2):
                        d = Xs[2 + a, k] - Y[2 + a, k]
                        if abs(d) > 0.25:
                            Xs[8 + 2 * a, k], Xs[9 + 2 * a, k] = _sincos_shift(
                                X0[8 + 2 * a, k], X0[9 + 2 * a, k], d)
                _rhs_v(Xs, lane_u, P, Os)
                for j in range(8):
                    for k in range(L):
                        acc[j, k] = 0.0
                    for m in range(i):
                        c_im = C_MAT[i, m]
                        for k in range(L):
                            acc[j, k] += c_im * Ks[m, j, k]
                    for k in range(L):
                        R[j, k] = Os[j, k] + ihs[k] * acc[j, k]
                _solve_v(W1, G, O0, ia, R, P, Ks[i])
            _factor_v(X0, O0, G, mus, P, W2)
            for j in range(8):
                for k in range(L):
                    R[j, k] = mu * Ks[STAGES - 1, j, k]
            _solve_v(W2, G, O0, imus, R, P, errf)
            for k in range(L):
                if cur[k] < 0:
                    continue
                enorm = 0.0
                finite = True
                for j in range(8):
                    ynew = Xs[j, k] + Ks[STAGES - 1, j, k]
                    sc = atol + rtol * max(abs(Y[j, k]), abs(ynew))
                    e = abs(errf[j, k]) / sc
                    if not (math.isfinite(e) and math.isfinite(ynew)):
                        finite = False
                    elif e > enorm:
                        enorm = e
                accept = finite and enorm <= 1.0
                cnt[0, k] += 1
                if not accept:
                    cnt[1, k] += 1
                cnt[2, k] = 0 if finite else cnt[2, k] + 1
                if finite:
                    factor = SAFETY * enorm ** (-1.0 / ERR_ORDER) if enorm > 0 else FAC_MAX
                    factor = min(FAC_MAX, max(FAC_MIN, factor))
                else:
                    factor = FAC_MIN
                if accept and jrej[k]:
                    factor = min(factor, 1.0)
                hnew = hs[k] * factor
                if accept and land[k]:
                    hnew = max(hnew, h[k])
                jrej[k] = not accept
                i = cur[k]
                if accept:
                    for j in range(8):
                        Y[j, k] = Xs[j, k] + Ks[STAGES - 1, j, k]
                    t[k] = t_out[nxt[k]] if land[k] else t[k] + hs[k]
                    if land[k]:
                        for j in range(8):
                            out[i, nxt[k], j] = Y[j, k]
                        nxt[k] += 1
                h[k] = hnew
                fate = -1
                if nxt[k] >= T:
                    fate = 0
                elif cnt[2, k] >= MAX_NONFINITE:
                    fate = NON_FINITE
                elif h[k] <= tiny * max(abs(t[k]), t_out[T - 1]):
                    fate = STEP_UNDERFLOW
                elif cnt[0, k] >= max_steps:
                    fate = MAX_STEPS
                if fate >= 0:
                    status[i] = fate
                    counts[i, 0] = cnt[0, k]
                    counts[i, 1] = cnt[1, k]
                    if fate != 0:
                        out[i, :, :] = np.nan
                    active -= 1
                    cur[k] = -1
                    while nexti < hi:
                        i2 = nexti
                        nexti += 1
                        if _start(k, i2, Y0, Fca, Fsa, tau, tqc, t_out, h0, out, Y, lane_u, cur,
                                  t, h, nxt, cnt, jrej):
                            active += 1
                            break
                        status[i2] = 0
                        cur[k] = -1

    @numba.njit(cache=True, parallel=True, error_model="numpy")
    def integrate_lanes(Y0, Fca, Fsa, tau, tqc, P, t_out, rtol, atol, max_steps, h0, mu, out,
                        status, counts, lanes):  # pragma: no cover - compiled
        """As :func:`integrate_batch` (same arguments, same results bit for bit), BLOCK samples
        per parallel task, each block integrated LANES samples side by side."""
        n = Y0.shape[0]
        for b in numba.prange((n + BLOCK - 1) // BLOCK):
            _block(Y0, Fca, Fsa, tau, tqc, P, t_out, rtol, atol, max_steps, h0, mu, out, status,
                   counts, b * BLOCK, min(n, (b + 1) * BLOCK), lanes)

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
