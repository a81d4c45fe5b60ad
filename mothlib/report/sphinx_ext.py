"""A Sphinx extension the book's ``_config.yml`` loads: each page lists every script once.

Sphinx 7.4 registers an inline script that an extension adds after the builder starts (as
sphinx-thebe does with ``const THEBE_JS_URL = ...`` and sphinx-togglebutton with its selector)
twice: once as given (file name ``None``) and again when it adds "assets registered after
``Builder.init()``" (file name ``''``), which compare unequal. A second ``const`` declaration is a
JavaScript SyntaxError on every page ("Identifier 'THEBE_JS_URL' has already been declared").
:func:`dedupe_scripts` drops such repeats from each page's script list.
"""

from __future__ import annotations

from typing import Any

__all__ = ["script_key", "dedupe_scripts", "setup"]


def script_key(script: Any) -> tuple:
    """What makes two of a page's scripts the same: file (``None`` and ``''`` alike: inline),
    and attributes (an inline script's ``body`` among them)."""
    filename = getattr(script, "filename", script) or ""
    attributes = getattr(script, "attributes", {}) or {}
    return (str(filename), tuple(sorted((str(k), str(v)) for k, v in attributes.items())))


def dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """``html-page-context`` handler: keep the first of every repeated script of the page.

    ``context["script_files"]`` is the builder's per-page list (Sphinx restores it after each
    page), so it is edited in place.
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    kept = []
    for script in scripts:
        key = script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept


def setup(app: Any) -> dict[str, Any]:
    """Register :func:`dedupe_scripts` (Sphinx extension entry point)."""
    app.connect("html-page-context", dedupe_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
