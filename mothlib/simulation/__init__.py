"""The hawkmoth flight model and its batched Rodas5P simulator.

Modules: :mod:`~mothlib.simulation.flight_model` (parameters, dynamics),
:mod:`~mothlib.simulation.rosenbrock` (the integrator), :mod:`~mothlib.simulation.simulator`
(:func:`simulate`, compiled with numba).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Module of this subpackage -> the public names it defines, re-exported here and imported on
#: first use (numba compiles the simulator only when it is used).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "simulator": ("simulate", "IntegrationError", "DEFAULT_ATOL", "DEFAULT_RTOL"),
    "flight_model": ("MothParams", "FlightModel", "STATE_NAMES", "CONTROL_NAMES"),
    "rosenbrock": ("integrate",),
}

__all__ = [name for names in _EXPORTS.values() for name in names]
#: Public name -> the module of this subpackage that defines it.
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value  # later lookups find it without this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
