"""The hawkmoth flight model and its batched Rodas5P simulator.

Modules: :mod:`~mothlib.simulation.flight_model` (parameters, dynamics),
:mod:`~mothlib.simulation.rosenbrock` (the integrator), :mod:`~mothlib.simulation.simulator`
(:func:`simulate`, compiled with numba).
"""

from __future__ import annotations

from mothlib.core.lazy import lazy_exports

#: Module of this subpackage -> the public names it defines, re-exported here and imported on
#: first use (numba compiles the simulator only when it is used).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "simulator": ("simulate", "IntegrationError", "DEFAULT_ATOL", "DEFAULT_RTOL"),
    "flight_model": ("MothParams", "FlightModel", "STATE_NAMES", "CONTROL_NAMES"),
    "rosenbrock": ("integrate",),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
