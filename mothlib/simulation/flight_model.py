"""The planar two-body hawkmoth flight model (flight-model.md): parameters, dynamics, Jacobian.

Everything here works on *batches* held component-major: a state is an ``(8, n)`` array in the
internal order ``(x, y, theta, phi, x', y', theta', phi')`` (positions first, then velocities),
so that each component is one contiguous vector and the per-sample 4x4 algebra is written out
as elementwise arithmetic instead of millions of tiny LAPACK calls.

The mass matrix is solved by its block structure (a 2x2 Schur complement; it is symmetric
positive definite, so no pivoting is needed). For the implicit stages of the Rosenbrock method
the 8x8 system ``(alpha I - J) k = r`` is reduced to a 4x4 one in the velocities and multiplied
through by the mass matrix, which leaves ``alpha M + C + K / alpha`` (symmetric positive
definite) plus small non-symmetric terms: elimination without pivoting is safe there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mothlib.core.validation import check_positive

__all__ = [
    "STATE_NAMES", "CONTROL_NAMES", "TO_INTERNAL", "FROM_INTERNAL", "MothParams", "FlightModel",
]

#: Public state order (flight-model.md): (x, x', y, y', theta, theta', phi, phi').
STATE_NAMES: tuple[str, ...] = ("x", "xd", "y", "yd", "theta", "thetad", "phi", "phid")
#: Control order: aerodynamic force F, its angle alpha to the head-thorax axis, abdominal torque.
CONTROL_NAMES: tuple[str, ...] = ("F", "alpha", "tau")
#: Public index of each internal component: internal = public[:, TO_INTERNAL].
TO_INTERNAL = np.array([0, 2, 4, 6, 1, 3, 5, 7])
#: Internal index of each public component: public = internal[FROM_INTERNAL].
FROM_INTERNAL = np.argsort(TO_INTERNAL)


@dataclass(frozen=True)
class MothParams:
    """Physical parameters of the moth at length scale ``s`` (CGS units; flight-model.md).

    Use :meth:`at_scale` to build one; the derived masses, moments of inertia and frontal areas
    are fields too, so a ``MothParams`` is a complete description of the model.
    """

    scale: float
    bhead: float
    ahead: float
    bbutt: float
    abutt: float
    rho_head: float
    rho_butt: float
    rhoA: float
    muA: float
    L1: float
    L2: float
    L3: float
    K: float
    c: float
    g: float
    betaR: float
    m1: float
    m2: float
    I1: float
    I2: float
    S_head: float
    S_butt: float

    @classmethod
    def at_scale(cls, s: float = 1.0) -> MothParams:
        """Parameters with every length multiplied by ``s`` (``s = 1``: the seed's moth).

        Raises
        ------
        ValueError
            If ``s`` is not a finite positive number.
        """
        s = check_positive(s, "scale")
        bhead, ahead, bbutt, abutt = 0.5 * s, 0.9 * s, 0.75 * s, 1.9 * s
        rho_head, rho_butt = 0.9, 0.4
        m1 = rho_head * (4.0 / 3.0) * math.pi * bhead**2 * ahead
        m2 = rho_butt * (4.0 / 3.0) * math.pi * bbutt**2 * abutt
        return cls(
            scale=s,
            bhead=bhead,
            ahead=ahead,
            bbutt=bbutt,
            abutt=abutt,
            rho_head=rho_head,
            rho_butt=rho_butt,
            rhoA=0.00118,
            muA=0.000186,
            L1=0.9 * s,
            L2=1.9 * s,
            L3=0.75 * s,
            K=23000.0,
            c=14075.8,
            g=980.0,
            betaR=0.0,
            m1=m1,
            m2=m2,
            I1=0.2 * m1 * bhead**2 * (1.0 + (ahead / bhead) ** 2),
            I2=0.2 * m2 * bbutt**2 * (1.0 + (abutt / bbutt) ** 2),
            S_head=math.pi * bhead**2,
            S_butt=math.pi * bbutt**2,
        )


class FlightModel:
    """Batched right-hand side, Jacobian and stage solver of the flight model.

    Parameters
    ----------
    params : MothParams
        The moth.
    controls : array, shape (3, n)
        ``(F, alpha, tau)`` per sample, held constant over the window.
    """

    def __init__(self, params: MothParams, controls: np.ndarray) -> None:
        p = params
        self.p = p
        F, alpha, tau = controls
        self.Fca = F * np.cos(alpha)
        self.Fsa = F * np.sin(alpha)
        self.tau = tau
        self.tq_const = tau + self.Fsa * p.L3  # torque on the head-thorax besides gravity
        self.mass = p.m1 + p.m2
        self.pp = p.L1 * p.m1  # head-thorax coupling p = L1 m1
        self.qq = p.L2 * p.m2  # abdomen coupling q = L2 m2
        self.d1 = p.I1 + p.L1**2 * p.m1
        self.d2 = p.I2 + p.L2**2 * p.m2
        # Drag of body b: 0.5 rhoA S_b Cd_b |u| u with Cd = 24/Re + 6/(1+sqrt(Re)) + 0.4 and
        # Re = kre_b * speed. The 24/Re term is written A_b |u| u / speed so that speed = 0
        # (its limit, 0) needs no division.
        self.drag = []
        for b, S in ((p.bhead, p.S_head), (p.bbutt, p.S_butt)):
            kre = p.rhoA * 2.0 * b / p.muA
            self.drag.append((0.5 * p.rhoA * S * 24.0 / kre, 0.5 * p.rhoA * S, kre))

    def subset(self, keep: np.ndarray) -> FlightModel:
        """The same model restricted to the samples selected by ``keep``."""
        new = object.__new__(FlightModel)
        new.__dict__.update(self.__dict__)
        new.Fca, new.Fsa, new.tau = self.Fca[keep], self.Fsa[keep], self.tau[keep]
        new.tq_const = self.tq_const[keep]
        return new

    # -- dynamics ------------------------------------------------------------------------
    def _drag(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Drag components (D_x, D_y) at velocities (u, v) = (x', y')."""
        speed = np.sqrt(u * u + v * v)
        inv = np.divide(1.0, speed, out=np.zeros_like(speed), where=speed > 0)
        sq = np.sqrt(speed)
        (A1, B1, k1), (A2, B2, k2) = self.drag
        coef = (A1 + A2) * inv + (0.4 * (B1 + B2)) + (6.0 * B1) / (1.0 + math.sqrt(k1) * sq)
        coef += (6.0 * B2) / (1.0 + math.sqrt(k2) * sq)
        return coef * np.abs(u) * u, coef * np.abs(v) * v

    def forces(self, Y: np.ndarray) -> tuple:
        """Generalised forces Q and the trigonometric terms, for ``Y`` of shape (8, n)."""
        ph, u, v, thd, phd = Y[3], Y[4], Y[5], Y[6], Y[7]
        p = self.p
        (st, sp), (ct, cp) = np.sin(Y[2:4]), np.cos(Y[2:4])
        dx, dy = self._drag(u, v)
        pt2 = self.pp * thd * thd
        qp2 = self.qq * phd * phd
        spring = p.K * (ph - Y[2] - (math.pi + p.betaR)) + p.c * (phd - thd)
        Qx = (self.Fca + pt2) * ct - self.Fsa * st - dx + qp2 * cp
        Qy = (self.Fca + pt2) * st + self.Fsa * ct - dy + qp2 * sp - self.mass * p.g
        Qt = self.tq_const - self.pp * p.g * ct + spring
        Qp = -self.tau - self.qq * p.g * cp - spring
        return (Qx, Qy, Qt, Qp), (st, ct, sp, cp)

    def accelerations(self, Q: tuple, trig: tuple) -> tuple:
        """Solve M(q) q'' = Q by the Schur complement of the translational block."""
        Qx, Qy, Qt, Qp = Q
        st, ct, sp, cp = trig
        m, pp, qq = self.mass, self.pp, self.qq
        # M = [[m I, B], [B^T, D]], B = [[-p sin th, -q sin ph], [p cos th, q cos ph]].
        r1 = Qt - pp * (ct * Qy - st * Qx) / m
        r2 = Qp - qq * (cp * Qy - sp * Qx) / m
        s11 = self.d1 - pp * pp / m
        s22 = self.d2 - qq * qq / m
        s12 = -pp * qq * (ct * cp + st * sp) / m
        det = s11 * s22 - s12 * s12
        thdd = (s22 * r1 - s12 * r2) / det
        phdd = (s11 * r2 - s12 * r1) / det
        xdd = (Qx + pp * st * thdd + qq * sp * phdd) / m
        ydd = (Qy - pp * ct * thdd - qq * cp * phdd) / m
        return xdd, ydd, thdd, phdd

    def rhs(self, Y: np.ndarray) -> tuple[np.ndarray, tuple]:
        """Time derivative of ``Y`` (8, n) and what the Jacobian reuses."""
        Q, trig = self.forces(Y)
        acc = self.accelerations(Q, trig)
        dY = np.empty_like(Y)
        dY[:4] = Y[4:]
        dY[4], dY[5], dY[6], dY[7] = acc
        return dY, (trig, acc)

    # -- implicit stages -----------------------------------------------------------------
    def _drag_jacobian(self, u: np.ndarray, v: np.ndarray) -> list[np.ndarray]:
        """d(D_x, D_y)/d(x', y'); set to 0 at speed 0, where the drag is not differentiable."""
        speed = np.sqrt(u * u + v * v)
        moving = speed > 0
        inv = np.divide(1.0, speed, out=np.zeros_like(speed), where=moving)
        au, av = np.abs(u), np.abs(v)
        uu, vv = au * u, av * v
        # The direction (nu, nv) = (u, v) / speed, not inv**3: a speed of ~1e-150 would
        # overflow inv**3 (and give 0 * inf) although every term is finite.
        nu, nv = u * inv, v * inv
        anu, anv = np.abs(nu), np.abs(nv)
        ju = [np.zeros_like(u) for _ in range(4)]  # dDx/du, dDx/dv, dDy/du, dDy/dv
        sq = np.sqrt(speed)
        for A, B, kre in self.drag:
            sk = math.sqrt(kre)
            den = 1.0 + sk * sq
            gval = 6.0 / den + 0.4
            # g'(s) * (ds/du) = -3 sqrt(kre) / (sqrt(s) (1 + sqrt(kre s))^2) * u / s
            gp = np.divide(-3.0 * sk, sq * den * den, out=np.zeros_like(sq), where=moving)
            ju[0] += A * (2.0 * anu - anu * nu * nu) + B * (2.0 * au * gval + gp * nu * uu)
            ju[1] += A * (-anu * nu * nv) + B * (gp * nv * uu)
            ju[2] += A * (-anv * nv * nu) + B * (gp * nu * vv)
            ju[3] += A * (2.0 * anv - anv * nv * nv) + B * (2.0 * av * gval + gp * nv * vv)
        return ju

    def factor(self, Y: np.ndarray, aux: tuple, alpha: np.ndarray) -> list:
        """LU factors (no pivoting) of W = alpha M - dQ/dv - (dQ/dq - dM/dq q'') / alpha.

        Returns the factors and ``Gq`` (the position block), which the stage solves reuse.
        """
        (st, ct, sp, cp), (xdd, ydd, thdd, phdd) = aux
        p = self.p
        pp, qq = self.pp, self.qq
        u, v, thd, phd = Y[4], Y[5], Y[6], Y[7]
        K, c = p.K, p.c
        # Gq = dQ/dq - (dM/dq) q''; only the theta and phi columns are non-zero.
        gqt = (
            -self.Fca * st - self.Fsa * ct - pp * st * thd * thd + pp * ct * thdd,
            -self.Fsa * st + self.Fca * ct + pp * ct * thd * thd + pp * st * thdd,
            pp * p.g * st - K + pp * (ct * xdd + st * ydd),
            np.full_like(st, K),
        )
        gqp = (
            -qq * sp * phd * phd + qq * cp * phdd,
            qq * cp * phd * phd + qq * sp * phdd,
            np.full_like(st, K),
            qq * p.g * sp - K + qq * (cp * xdd + sp * ydd),
        )
        jdu, jdv, jeu, jev = self._drag_jacobian(u, v)
        zero = np.zeros_like(st)
        # Gv = dQ/dv, rows (Qx, Qy, Qt, Qp), columns (x', y', theta', phi').
        gv = (
            (-jdu, -jdv, 2.0 * pp * ct * thd, 2.0 * qq * cp * phd),
            (-jeu, -jev, 2.0 * pp * st * thd, 2.0 * qq * sp * phd),
            (zero, zero, np.full_like(st, -c), np.full_like(st, c)),
            (zero, zero, np.full_like(st, c), np.full_like(st, -c)),
        )
        ia = 1.0 / alpha
        m = self.mass
        M = (
            (m, 0.0, -pp * st, -qq * sp),
            (0.0, m, pp * ct, qq * cp),
            (-pp * st, pp * ct, self.d1, 0.0),
            (-qq * sp, qq * cp, 0.0, self.d2),
        )
        W = [[alpha * M[i][j] - gv[i][j] for j in range(4)] for i in range(4)]
        for i in range(4):
            W[i][2] = W[i][2] - gqt[i] * ia
            W[i][3] = W[i][3] - gqp[i] * ia
        # Doolittle LU in place: W[i][j] holds U for j >= i and L (unit diagonal) below.
        for k in range(4):
            for i in range(k + 1, 4):
                W[i][k] = W[i][k] / W[k][k]
                for j in range(k + 1, 4):
                    W[i][j] = W[i][j] - W[i][k] * W[k][j]
        mats = (m, pp * st, pp * ct, qq * sp, qq * cp, self.d1, self.d2)
        return [W, (gqt, gqp), mats, ia]

    @staticmethod
    def solve(fac: list, R: np.ndarray) -> np.ndarray:
        """Solve (alpha I - J) k = R for ``R`` of shape (8, n), given :meth:`factor`'s output."""
        W, (gqt, gqp), (m, pst, pct, qsp, qcp, d1, d2), ia = fac
        rq, rv = R[:4], R[4:]
        # Reduced system: W k_v = M r_v + Gq r_q / alpha, then k_q = (r_q + k_v) / alpha.
        r2, r3 = rq[2] * ia, rq[3] * ia
        b0 = m * rv[0] - pst * rv[2] - qsp * rv[3] + gqt[0] * r2 + gqp[0] * r3
        b1 = m * rv[1] + pct * rv[2] + qcp * rv[3] + gqt[1] * r2 + gqp[1] * r3
        b2 = pct * rv[1] - pst * rv[0] + d1 * rv[2] + gqt[2] * r2 + gqp[2] * r3
        b3 = qcp * rv[1] - qsp * rv[0] + d2 * rv[3] + gqt[3] * r2 + gqp[3] * r3
        b1 = b1 - W[1][0] * b0
        b2 = b2 - W[2][0] * b0 - W[2][1] * b1
        b3 = b3 - W[3][0] * b0 - W[3][1] * b1 - W[3][2] * b2
        b3 = b3 / W[3][3]
        b2 = (b2 - W[2][3] * b3) / W[2][2]
        b1 = (b1 - W[1][2] * b2 - W[1][3] * b3) / W[1][1]
        b0 = (b0 - W[0][1] * b1 - W[0][2] * b2 - W[0][3] * b3) / W[0][0]
        k = np.empty_like(R)
        k[4], k[5], k[6], k[7] = b0, b1, b2, b3
        k[:4] = (rq + k[4:]) * ia
        return k
