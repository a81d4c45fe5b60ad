"""The API reference's sources (book/api/): one page per public subpackage, every public module on
its page with autodoc, in the table of contents and linked from the landing page. The built pages
are checked in tests/test_book.py (they need the book build)."""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
API = REPO / "book" / "api"
SUBPACKAGES = ("core", "simulation", "networks", "motifs", "study", "report")


def public_modules(package: str) -> list[str]:
    """Dotted names of a subpackage's public modules (no leading underscore)."""
    return sorted(
        f"mothlib.{package}.{info.name}"
        for info in pkgutil.iter_modules([str(REPO / "mothlib" / package)])
        if not info.name.startswith("_")
    )


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_every_public_module_is_on_its_subpackage_page(package):
    page = (API / f"{package}.md").read_text()
    documented = re.findall(r"\.\. automodule:: (\S+)\n   :members:\n", page)
    assert documented == public_modules(package), (
        f"book/api/{package}.md must document exactly the public modules, with :members:"
    )
    assert f".. automodule:: mothlib.{package}\n   :no-members:" in page


def test_api_pages_are_in_the_toc_linked_from_the_landing_page_and_autodoc_is_on():
    toc = yaml.safe_load((REPO / "book" / "_toc.yml").read_text())
    parts = {part["caption"]: [c["file"] for c in part["chapters"]] for part in toc["parts"]}
    assert parts["API reference"] == ["book/api/index"] + [f"book/api/{p}" for p in
                                                           ("motifs", "networks", "simulation", "study",
                                                            "report", "core")]
    index = (API / "index.md").read_text()
    for package in SUBPACKAGES:
        assert f"]({package}.md)" in index
    assert "](api/index.md)" in (REPO / "book" / "intro.md").read_text()
    sphinx = yaml.safe_load((REPO / "_config.yml").read_text())["sphinx"]
    assert {"sphinx.ext.autodoc", "sphinx.ext.napoleon"} <= set(sphinx["extra_extensions"])
