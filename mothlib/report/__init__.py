"""What readers see: Altair charts, ipywidgets explorers, and the book (papermill + Jupyter Book).

Modules: :mod:`~mothlib.report.plots`, :mod:`~mothlib.report.length_plots`,
:mod:`~mothlib.report.task_plots`, :mod:`~mothlib.report.tables` (tables for readers),
:mod:`~mothlib.report.threshold`, :mod:`~mothlib.report.widgets`,
:mod:`~mothlib.report.book` (``python -m mothlib study`` and ``book``).
"""

from __future__ import annotations

from mothlib.core.lazy import lazy_exports

#: Module of this subpackage -> the public names it defines, re-exported here and imported on
#: first use (Altair, papermill and the stages load only when used).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "book": ("run_study", "make_book", "notebook_profile", "find_checkout", "CheckoutNotFound"),
    "threshold": ("threshold_explorer",),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
