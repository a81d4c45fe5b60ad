"""The numbers a chapter quotes in its text, kept so that a rerun's own notebook shows them.

A chapter's prose cites values with myst-nb's ``{glue:text}`name``` role; only Jupyter Book
fills those in. A chapter glues through :func:`glue` here, which also remembers each value, and
ends with :func:`glued_summary`: in a notebook executed outside the book (``papermill ... -p
loss_threshold 0.002``, or JupyterLab) that cell shows every quoted number by name; the book
removes the cell (tag ``remove-cell``), where the text itself shows them.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

__all__ = ["glue", "glued_values", "glued_summary", "forget"]

#: name -> value glued in this kernel, in order.
_GLUED: dict[str, Any] = {}


def glue(name: str, value: Any, display: bool = False) -> None:
    """``myst_nb.glue(name, value, display=display)``, remembering the value for
    :func:`glued_summary`."""
    from myst_nb import glue as myst_glue

    if not isinstance(name, str) or not name:
        raise ValueError(f"glue: name must be a non-empty string, got {name!r}")
    _GLUED[name] = value
    myst_glue(name, value, display=display)


def glued_values() -> dict[str, Any]:
    """Every value glued so far in this kernel, by name (a copy)."""
    return dict(_GLUED)


def forget() -> None:
    """Forget the glued values (a notebook rerun in the same kernel starts afresh)."""
    _GLUED.clear()


def _readable(value: Any) -> str:
    """One glued value as text: markdown and HTML objects by their source, floats to 4
    significant digits, undefined numbers as "undefined"."""
    data = getattr(value, "data", None)  # IPython's Markdown, HTML
    if isinstance(data, str):
        return data
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "undefined" if not math.isfinite(value) else f"{value:.4g}"
    if hasattr(value, "to_html") or hasattr(value, "to_dict"):  # a table or a chart
        return f"<{type(value).__name__}>"
    return str(value)


def glued_summary():
    """The glued values as a two-column table (``number``, ``value``), for a rerun's notebook.

    Returns
    -------
    pandas.io.formats.style.Styler
        One row per glued name, in the order glued (no row when nothing was glued); displayed
        whole (no cell cut short), without the index. ``.data`` is the DataFrame.
    """
    frame = pd.DataFrame({"number": list(_GLUED),
                          "value": [_readable(v) for v in _GLUED.values()]})
    return frame.style.hide(axis="index").set_caption("Numbers this chapter quotes")
