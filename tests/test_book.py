"""Build the book from the smoke run (``-W``) and check in headless Chromium, with every host
name unresolvable, that the charts draw and the widgets render offline."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mothlib import pipeline

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    # No name resolves: a page that needs the network cannot draw.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--virtual-time-budget=15000", "--dump-dom",
]

pytestmark = pytest.mark.book


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is None:
        message = "headless Chromium is not installed (apt-get install chromium); book pages not opened"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " -- required under CI")
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def built_book(smoke_run, tmp_path_factory):
    """The book's sources copied beside the smoke run's executed notebooks, then built."""
    src = tmp_path_factory.mktemp("book-src")
    shutil.copy(REPO / "_config.yml", src / "_config.yml")
    shutil.copytree(REPO / "book", src / "book",
                    ignore=shutil.ignore_patterns("notebooks", "_build"))
    # Fetch the vendored scripts once into the repository's (git-ignored) cache, then reuse it.
    pipeline.vendor_assets(REPO / "book" / "_assets")
    shutil.copytree(REPO / "book" / "_assets" / "vendor", src / "book" / "_assets" / "vendor",
                    dirs_exist_ok=True)
    shutil.copytree(smoke_run.executed, src / "book" / "notebooks")
    html = pipeline.build_book(src, warnings_as_errors=True)
    return html


def _pages(html: Path) -> list[Path]:
    return sorted((html / "book" / "notebooks").glob("*.html"))


def test_every_notebook_page_is_built_with_charts_and_no_errors(built_book):
    pages = _pages(built_book)
    assert [p.stem for p in pages] == [p.stem for p in sorted((REPO / "notebooks").glob("*.ipynb"))]
    for page in pages:
        text = page.read_text()
        assert 'class="mothlib-chart"' in text, f"{page.name} has no chart"
        assert "output traceback" not in text and "output error" not in text, page.name
        assert "Traceback (most recent call last)" not in text, page.name


def test_no_page_loads_anything_from_the_internet(built_book):
    pattern = re.compile(r"<(?:script|link|img|iframe)\b[^>]*(?:src|href)=\"(?:https?:)?//", re.I)
    for page in built_book.rglob("*.html"):
        found = pattern.findall(page.read_text())
        assert not found, f"{page.relative_to(built_book)} loads {found}"
    assert (built_book / "_static" / "vendor" / pipeline.VEGA_BUNDLE).exists()


def test_charts_draw_and_widgets_render_in_headless_chromium(built_book):
    chromium = _chromium()
    for page in _pages(built_book):
        dom = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, page.as_uri()],
            capture_output=True, text=True, timeout=120,
        ).stdout
        assert "Error loading script" not in dom, page.name
        ids = re.findall(r'<div id="(vega-[0-9a-f]+)" class="mothlib-chart', dom)
        assert ids, f"{page.name}: no chart in the rendered page"
        for chart_id in ids:
            start = dom.index(f'id="{chart_id}"')
            segment = dom[start:dom.find("<script", start)]
            assert "<svg" in segment or "<canvas" in segment, f"{page.name}: {chart_id} did not draw"
            assert "Chart error" not in segment and "needs the Vega bundle" not in segment
        if page.stem.startswith("06"):
            assert "lm-Widget" in dom and "widget-slider" in dom, "widgets did not render"
