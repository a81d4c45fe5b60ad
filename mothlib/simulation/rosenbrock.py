"""A batched, adaptive Rodas5P integrator: every sample takes its own steps, all in lock step.

Rodas5P (Steinebach 2023; the stiffly accurate form of Hairer & Wanner's ``rodas.f``) is an
L-stable, stiffly accurate 5th-order Rosenbrock method with an embedded 4th-order error
estimate. Each step needs one Jacobian factorisation and eight right-hand-side evaluations, and
no Newton iteration, which makes it easy to vectorise over a batch: one loop over time steps, each
sample with its own step size, finished or failed samples dropped from the working set.

The model supplies ``rhs(Y) -> (dY, aux)``, ``factor(Y, aux, alpha)``, ``solve(factors, R)`` (the
stage solve of ``(alpha I - J) k = R``) and ``subset(keep)``, with states shaped (d, n).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "GAMMA", "RODAS_STAGES", "ERR_ORDER", "A_MAT", "C_MAT", "SAFETY", "FAC_MIN", "FAC_MAX", "OK",
    "MAX_STEPS", "STEP_UNDERFLOW", "NON_FINITE", "MAX_NONFINITE", "STATUS_TEXT", "Result",
    "rodas_step", "integrate",
]

# Rodas5P (G. Steinebach, BIT Numer. Math. 2023, "Construction of Rosenbrock-Wanner method
# Rodas5P and numerical benchmarks within the Julia Differential Equations package"; the
# tableau as in OrdinaryDiffEq.jl): L-stable, stiffly accurate, order 5 with an embedded
# order-4 estimate, eight stages; chosen for its few steps per sample on this stiff model
# (benchmarks/README.md, "Simulator"). Stage i starts from Y + sum_j A[i, j] K[j]; the last
# two stages continue from the previous stage's result (A's last rows end in ones), the
# solution is the last stage's start plus K[-1] and K[-1] is the error estimate.
GAMMA = 0.21193756319429014
_A = (
    (3.0,),
    (2.849394379747939, 0.45842242204463923),
    (-6.954028509809101, 2.489845061869568, -10.358996098473584),
    (2.8029986275628964, 0.5072464736228206, -0.3988312541770524, -0.04721187230404641),
    (-7.502846399306121, 2.561846144803919, -11.627539656261098, -0.18268767659942256,
     0.030198172008377946),
)
_C = (
    (-14.155112264123755,),
    (-17.97296035885952, -2.859693295451294),
    (147.12150275711716, -1.41221402718213, 71.68940251302358),
    (165.43517024871676, -0.4592823456491126, 42.90938336958603, -5.961986721573306),
    (24.854864614690072, -3.0009227002832186, 47.4931110020768, 5.5814197821558125,
     -0.6610691825249471),
    (30.91273214028599, -3.1208243349937974, 77.79954646070892, 34.28646028294783,
     -19.097331116725623, -28.087943162872662),
    (37.80277123390563, -3.2571969029072276, 112.26918849496327, 66.9347231244047,
     -40.06618937091002, -54.66780262877968, -9.48861652309627),
)
#: Number of Rodas stages (named apart from mothlib.study.stages.STAGES, the pipeline's stages).
RODAS_STAGES = 8
#: Order of the embedded estimate plus one: the step-size controller's exponent is -1/ERR_ORDER.
ERR_ORDER = 5
A_MAT = np.zeros((RODAS_STAGES, RODAS_STAGES))
C_MAT = np.zeros((RODAS_STAGES, RODAS_STAGES))
for _i in range(1, RODAS_STAGES):
    if _i <= len(_A):
        A_MAT[_i, :_i] = _A[_i - 1]
    else:  # stiffly accurate tail: continue from the previous stage's start plus its K
        A_MAT[_i, : _i - 1] = A_MAT[_i - 1, : _i - 1]
        A_MAT[_i, _i - 1] = 1.0
    C_MAT[_i, :_i] = _C[_i - 1]

# Step-size control (Hairer & Wanner's rodas.f defaults).
SAFETY, FAC_MIN, FAC_MAX = 0.9, 0.2, 6.0

#: Why a sample failed (``Result.status``): 0 = fine.
OK, MAX_STEPS, STEP_UNDERFLOW, NON_FINITE = 0, 1, 2, 3
MAX_NONFINITE = 10
STATUS_TEXT = {MAX_STEPS: "max_steps reached", STEP_UNDERFLOW: "step size underflow",
               NON_FINITE: "non-finite state"}


@dataclass
class Result:
    """States at the output times and the fate of every sample."""

    states: np.ndarray  # (n, T, d); NaN for failed samples
    status: np.ndarray  # (n,) int: OK or the failure code
    n_steps: np.ndarray = field(repr=False)  # (n,) attempted steps
    n_rejected: np.ndarray = field(repr=False)  # (n,) rejected steps


def rodas_step(
    model, Y: np.ndarray, h: np.ndarray, mu: float
) -> tuple[np.ndarray, np.ndarray]:
    """One Rodas5P step of size ``h`` (n,) from ``Y`` (d, n): the new state and the filtered
    error estimate ``mu (mu I - J)^-1 err`` (see :func:`integrate`)."""
    d, n = Y.shape
    f0, aux = model.rhs(Y)
    fac = model.factor(Y, aux, 1.0 / (GAMMA * h))
    ih = 1.0 / h
    # Stages stacked as (s, d*n) so that each combination is one small matrix product.
    K = np.empty((RODAS_STAGES, d * n))
    K[0] = model.solve(fac, f0).reshape(-1)
    for i in range(1, RODAS_STAGES):
        arg = Y + (A_MAT[i, :i] @ K[:i]).reshape(d, n)
        fi, _ = model.rhs(arg)
        fi += ih * (C_MAT[i, :i] @ K[:i]).reshape(d, n)
        K[i] = model.solve(fac, fi).reshape(-1)
    err = K[RODAS_STAGES - 1].reshape(d, n)
    filtered = model.solve(model.factor(Y, aux, np.full(n, mu)), mu * err)
    return arg + err, filtered


def integrate(
    model,
    Y0: np.ndarray,
    t_out: np.ndarray,
    *,
    rtol: float,
    atol: float,
    max_steps: int,
    h0: float,
    mu: float,
) -> Result:
    """Integrate every column of ``Y0`` (d, n) from t = 0 and return the states at ``t_out``.

    The error of each step is measured in the max norm, ``|err_i| / (atol + rtol max(|y_i|,
    |y_new_i|))`` over all components, stricter than the usual RMS norm. The embedded error
    estimate is first filtered with ``mu (mu I - J)^-1`` (in the spirit of Shampine's filter
    in Radau5, but at a fixed rate ``mu`` instead of ``1 / (gamma h)``): error in modes that
    decay much faster than ``mu`` (the joint's ~2e4 /s mode) is weighted by the fraction of it
    that survives, error in slower modes is kept whole. Without it the start of every window
    is spent resolving a transient to an accuracy that cannot reach the end state; with it
    the steps halve and the end states stay as accurate (benchmarks/README.md, "Simulator").
    Steps are shortened to land exactly on the output times. A sample fails (and gets NaN)
    when it needs more than ``max_steps`` attempted steps, when its step shrinks below
    round-off of ``t``, or when its state stops being finite.
    """
    d, n = Y0.shape
    T = len(t_out)
    t_out = np.asarray(t_out, dtype=np.float64)
    states = np.full((n, T, d), np.nan)
    status = np.zeros(n, dtype=np.int8)
    n_steps = np.zeros(n, dtype=np.int64)
    n_rej = np.zeros(n, dtype=np.int64)

    idx = np.arange(n)
    Y = np.array(Y0, dtype=np.float64, copy=True)
    t = np.zeros(n)
    nxt = np.zeros(n, dtype=np.int64)
    if T and t_out[0] == 0.0:  # an output at t = 0 is the initial state
        states[:, 0, :] = Y.T
        nxt[:] = 1
        if T == 1:
            return Result(states, status, n_steps, n_rej)
    h = np.full(n, h0)
    just_rejected = np.zeros(n, dtype=bool)
    steps = np.zeros(n, dtype=np.int64)
    rej = np.zeros(n, dtype=np.int64)
    nonfinite_run = np.zeros(n, dtype=np.int64)
    tiny = 16 * np.finfo(np.float64).eps

    while idx.size:
        target = t_out[nxt]
        gap = target - t
        land = h >= gap
        hs = np.where(land, gap, h)
        Ynew, err = rodas_step(model, Y, hs, mu)
        scale = atol + rtol * np.maximum(np.abs(Y), np.abs(Ynew))
        enorm = np.max(np.abs(err) / scale, axis=0)
        finite = np.isfinite(enorm) & np.all(np.isfinite(Ynew), axis=0)
        accept = finite & (enorm <= 1.0)
        steps += 1
        rej += ~accept
        nonfinite_run = np.where(finite, 0, nonfinite_run + 1)

        # New step size: the usual controller, no growth right after a rejection,
        # a hard cut on non-finite results.
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = SAFETY * np.power(np.where(finite, enorm, np.inf), -1.0 / ERR_ORDER)
        factor = np.clip(np.nan_to_num(factor, nan=FAC_MIN), FAC_MIN, FAC_MAX)
        factor = np.where(accept & just_rejected, np.minimum(factor, 1.0), factor)
        hnew = hs * factor
        # A step shortened to land on an output time says little about the next one.
        hnew = np.where(accept & land, np.maximum(hnew, h), hnew)
        just_rejected = ~accept

        Y = np.where(accept, Ynew, Y)
        t = np.where(accept, np.where(land, target, t + hs), t)
        hit = accept & land
        if hit.any():
            states[idx[hit], nxt[hit], :] = Ynew[:, hit].T
            nxt = nxt + hit
        h = hnew

        done = nxt >= T
        fail = np.zeros(idx.size, dtype=np.int8)
        fail[~done & (steps >= max_steps)] = MAX_STEPS
        fail[~done & (h <= tiny * np.maximum(np.abs(t), t_out[-1]))] = STEP_UNDERFLOW
        # Ten non-finite tries in a row have cut the step by 0.2**10 ~ 1e-7: give up.
        fail[~done & (nonfinite_run >= MAX_NONFINITE)] = NON_FINITE
        bad = fail > 0
        if bad.any():
            status[idx[bad]] = fail[bad]
            states[idx[bad]] = np.nan
        finished = done | bad
        if finished.any():
            n_steps[idx[finished]] = steps[finished]
            n_rej[idx[finished]] = rej[finished]
            keep = ~finished
            idx, Y, t, h, nxt = idx[keep], Y[:, keep], t[keep], h[keep], nxt[keep]
            steps, rej, just_rejected = steps[keep], rej[keep], just_rejected[keep]
            nonfinite_run = nonfinite_run[keep]
            model = model.subset(keep)
    return Result(states, status, n_steps, n_rej)
