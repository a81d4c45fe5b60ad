"""What readers see: Altair charts, ipywidgets explorers, and the book (papermill + Jupyter Book).

Modules: :mod:`~mothlib.report.plots`, :mod:`~mothlib.report.length_plots`,
:mod:`~mothlib.report.task_plots`, :mod:`~mothlib.report.threshold`, :mod:`~mothlib.report.widgets`,
:mod:`~mothlib.report.book` (``python -m mothlib study`` and ``book``).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Module of this subpackage -> the public names it defines, re-exported here and imported on
#: first use (Altair, papermill and the stages load only when used).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "book": ("run_study", "make_book", "notebook_profile", "find_checkout", "CheckoutNotFound"),
    "threshold": ("threshold_explorer",),
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
