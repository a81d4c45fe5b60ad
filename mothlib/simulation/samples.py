"""The moth's training samples: initial states and controls drawn from the study's ranges,
integrated over one window and turned into network inputs and outputs.

Each sample draws an initial state and constant controls uniformly from flight-model.md's
ranges (:data:`RANGES`), integrates one window with :func:`mothlib.simulation.simulator.simulate`
and becomes one row of network inputs (10) and outputs (7), in the study's order
(:data:`INPUT_COLUMNS`, :data:`OUTPUT_COLUMNS`). Sample ``i`` of a data set is drawn from a
random stream keyed by ``(seed, i // GENERATOR_BLOCK)``, so the samples depend on the seed only
(not on how the rows are cut into tasks), and the first ``n`` samples of a larger data set are
the data set of size ``n``. The ``data`` stage that stores them is :mod:`mothlib.study.data`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from mothlib.simulation.simulator import simulate

__all__ = [
    "INPUT_COLUMNS", "OUTPUT_COLUMNS", "RANGES", "GENERATOR_BLOCK", "sample_conditions",
    "conditions_for_rows", "make_features", "simulate_rows",
]

#: Network inputs, in order: initial angles, final position and angles, initial velocities.
INPUT_COLUMNS: tuple[str, ...] = (
    "phi0", "theta0", "x_f", "y_f", "phi_f", "theta_f", "xd0", "yd0", "phid0", "thetad0",
)
#: Network outputs, in order: force components, abdominal torque, final velocities.
OUTPUT_COLUMNS: tuple[str, ...] = ("Fx", "Fy", "tau", "xd_f", "yd_f", "phid_f", "thetad_f")

#: Uniform sampling ranges of flight-model.md (x0 = y0 = 0).
RANGES: dict[str, tuple[float, float]] = {
    "xd0": (-1500.0, 1500.0),
    "yd0": (-1500.0, 1500.0),
    "theta0": (0.0, 2 * math.pi),
    "phi0": (0.0, 2 * math.pi),
    "thetad0": (-25.0, 25.0),
    "phid0": (-25.0, 25.0),
    "F": (0.0, 44300.0),
    "alpha": (0.0, 2 * math.pi),
    "tau": (-100000.0, 100000.0),
}
#: Samples per random stream: fixed, so that the data do not depend on the chunk size.
GENERATOR_BLOCK = 10_000


def sample_conditions(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` initial states and controls uniformly from the study's ranges.

    Returns
    -------
    states : numpy.ndarray, shape (n, 8)
        ``(x, x', y, y', theta, theta', phi, phi')`` with ``x = y = 0``.
    controls : numpy.ndarray, shape (n, 3)
        ``(F, alpha, tau)``.
    """
    if int(n) < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    draw = {name: rng.uniform(lo, hi, int(n)) for name, (lo, hi) in RANGES.items()}
    states = np.zeros((int(n), 8))
    for col, name in ((1, "xd0"), (3, "yd0"), (4, "theta0"), (5, "thetad0"), (6, "phi0"),
                      (7, "phid0")):
        states[:, col] = draw[name]
    controls = np.column_stack([draw["F"], draw["alpha"], draw["tau"]])
    return states, controls


def conditions_for_rows(seed: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Initial states and controls of samples ``lo .. hi-1`` of the data set with ``seed``."""
    states, controls = [], []
    for block in range(lo // GENERATOR_BLOCK, (hi - 1) // GENERATOR_BLOCK + 1):
        rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(block,)))
        s, u = sample_conditions(GENERATOR_BLOCK, rng)
        first = block * GENERATOR_BLOCK
        a, b = max(lo, first) - first, min(hi, first + GENERATOR_BLOCK) - first
        states.append(s[a:b])
        controls.append(u[a:b])
    return np.concatenate(states), np.concatenate(controls)


def make_features(
    states0: np.ndarray, controls: np.ndarray, states_f: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Network inputs (n, 10) and outputs (n, 7) from initial states, controls and end states.

    Column orders are :data:`INPUT_COLUMNS` and :data:`OUTPUT_COLUMNS`.
    """
    s0, u, sf = np.asarray(states0), np.asarray(controls), np.asarray(states_f)
    X = np.column_stack(
        [s0[:, 6], s0[:, 4], sf[:, 0], sf[:, 2], sf[:, 6], sf[:, 4], s0[:, 1], s0[:, 3],
         s0[:, 7], s0[:, 5]]
    )
    Y = np.column_stack(
        [u[:, 0] * np.cos(u[:, 1]), u[:, 0] * np.sin(u[:, 1]), u[:, 2], sf[:, 1], sf[:, 3],
         sf[:, 7], sf[:, 5]]
    )
    return X, Y


def simulate_rows(
    lo: int, hi: int, *, seed: int, duration: float, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``lo .. hi-1`` of the data set with ``seed``, simulated (one task of the data stage).

    Returns
    -------
    X : float64 array (hi - lo, 10), Y : float64 array (hi - lo, 7)
        NaN rows where a sample failed to integrate to tolerance.
    """
    s0, u = conditions_for_rows(seed, lo, hi)
    with warnings.catch_warnings():
        # Failures are counted in the metadata, not warned about chunk by chunk.
        warnings.simplefilter("ignore", RuntimeWarning)
        sf = simulate(s0, u, duration=float(duration), scale=float(scale), on_failure="nan")
    return make_features(s0, u, sf)
