"""Build the book from the smoke run (``-W``) and check in headless Chromium, with every host
name unresolvable, that the charts draw and the widgets render offline."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mothlib.report import book as pipeline

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
    # Any quoting (or none) of src/href: Sphinx quotes with ", but a theme need not.
    pattern = re.compile(r"<(?:script|link|img|iframe)\b[^>]*(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I)
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


def _soup(page: Path):
    from bs4 import BeautifulSoup

    return BeautifulSoup(page.read_text(), "html.parser")


def test_setup_cells_are_hidden_and_parameters_shown_once(built_book):
    for page in _pages(built_book):
        soup = _soup(page)
        cells = soup.select("div.cell")
        # The notebook's own parameters cell is removed; papermill's, with the values used, shown.
        assert not soup.select("div.cell.tag_parameters"), page.name
        injected = soup.select("div.cell.tag_injected-parameters")
        assert len(injected) == 1 and "profile_name" in injected[0].get_text(), page.name
        assert not soup.select("div.cell.tag_remove-cell"), page.name
        hidden = soup.select("div.cell.tag_hide-input")
        assert hidden, f"{page.name}: no hidden setup cell"
        for cell in hidden:
            code = cell.select_one("div.cell_input")
            toggle = code.find_parent("details")
            assert toggle is not None and not toggle.has_attr("open"), f"{page.name}: input shown"
        # Imports appear only inside collapsed inputs.
        for cell in cells:
            if "tag_hide-input" not in cell["class"] and cell.select_one("div.cell_input"):
                assert "import " not in cell.select_one("div.cell_input").get_text(), page.name


def test_every_chapter_opens_with_an_in_short_box(built_book):
    for page in _pages(built_book):
        soup = _soup(page)
        box = soup.select_one("div.admonition")
        assert box is not None and "In short" in box.get_text(), page.name
        section = soup.select_one("section")
        assert section.find("div", class_="admonition") is box  # before any other content box
        numbers = box.select("span.pasted-text")
        assert numbers, f"{page.name}: the In-short box has no glued numbers"


def test_landing_page_shows_the_findings_table_and_a_drawn_chart(built_book):
    page = built_book / "book" / "intro.html"
    soup = _soup(page)
    text = soup.get_text(" ")
    first = soup.select_one("section section")  # the first section: what this run found
    assert "What this run found" in first.get_text()
    assert first.select_one("div.mothlib-chart") is not None
    table = first.select_one("table")
    assert table is not None and all(w in table.get_text() for w in ("claim", "criterion", "holds"))
    assert len(table.select("tbody tr")) == 6
    assert "Profile smoke" in " ".join(text.split()) and " UTC" in text
    dom = subprocess.run([_chromium(), *CHROMIUM_FLAGS, page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    chart_id = re.findall(r'<div id="(vega-[0-9a-f]+)" class="mothlib-chart', dom)[0]
    start = dom.index(f'id="{chart_id}"')
    drawn = dom[start:dom.find("<script", start)]
    assert "<svg" in drawn, "the landing page's chart did not draw"
    # Altair's actions menu offers only what works offline: saving the figure.
    assert "Save as SVG" in drawn and "Save as PNG" in drawn
    assert "Open in Vega Editor" not in drawn and "View Source" not in drawn


def test_each_chapter_links_the_tables_it_used(built_book):
    """Every chapter from 3 on offers its Parquet tables, and each link resolves to a file."""
    import pandas as pd

    for page in _pages(built_book):
        if page.stem[:2] not in ("03", "04", "05", "06", "07", "08"):
            continue
        links = re.findall(r'<a class="reference download internal"[^>]*href="([^"]+)"', page.read_text())
        assert links, f"{page.name} links no table"
        for href in links:
            target = (page.parent / href).resolve()
            assert target.is_file(), f"{page.name}: {href} does not resolve"
            assert len(pd.read_parquet(target)) > 0


def test_launch_buttons_open_each_chapter_on_binder_in_jupyterlab(built_book, tmp_path):
    """The rocket menu links Binder (environment.yml) in JupyterLab at the chapter's path, and
    binder/postBuild puts the runnable notebook at that path."""
    import urllib.parse

    for page in _pages(built_book):
        links = re.findall(r'href="(https://mybinder\.org/v2/gh/[^"]+)"', page.read_text())
        assert links, f"{page.name} has no Binder launch button"
        query = urllib.parse.parse_qs(urllib.parse.urlparse(links[0].replace("&amp;", "&")).query)
        assert query["urlpath"][0] == f"lab/tree/book/notebooks/{page.stem}.ipynb"
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    subprocess.run(["bash", str(REPO / "binder" / "postBuild")], cwd=tmp_path, check=True)
    made = sorted(p.name for p in (tmp_path / "book" / "notebooks").glob("*.ipynb"))
    assert made == [f"{p.stem}.ipynb" for p in _pages(built_book)]


def _open_in_playwright(pages, check):
    """Open each page in headless Chromium through Playwright, no name resolving; ``check(path,
    page, errors)`` with the console errors, page errors and failed requests it logged."""
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import sync_playwright

    chromium = _chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium,
                                    args=["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND"])
        try:
            for path in pages:
                page = browser.new_page(viewport={"width": 1300, "height": 900})
                errors: list[str] = []
                page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                page.goto(path.as_uri())
                page.wait_for_load_state("load")
                page.wait_for_timeout(1500)  # MathJax typesets after load
                check(path, page, errors)
                page.close()
        finally:
            browser.close()


def test_maths_is_typeset_offline_and_no_page_logs_a_javascript_error(built_book):
    """Every page without widgets logs no console error (no repeated `const THEBE_JS_URL`, no
    theme-mode error); the methods page's formulas are typeset by the vendored MathJax and no raw
    TeX is left in its text; its motif figure is the drawing mothlib made."""
    pages = [p for p in sorted(built_book.rglob("*.html"))
             if p.parent.name in ("book", "notebooks") and "lm-Widget" not in p.read_text()
             and "application/vnd.jupyter.widget-state" not in p.read_text()]
    assert built_book / "book" / "methods.html" in pages

    def check(path, page, errors):
        assert not errors, f"{path.name}: {errors}"
        if path.name != "methods.html":
            return
        assert page.evaluate("document.querySelectorAll('mjx-container svg').length") > 30
        text = page.evaluate("""() => { const c = document.querySelector('main').cloneNode(true);
            c.querySelectorAll('pre, code, mjx-container, script, style').forEach(e => e.remove());
            return c.innerText; }""")
        for raw in ("$", "\\frac", "\\(", "\\[", "\\begin", "\\binom"):
            assert raw not in text, f"methods: raw {raw!r} in the text"
        drawing = page.evaluate("Array.from(document.images).filter(i => i.src.endsWith('motifs.svg'))"
                                ".map(i => i.naturalWidth)")
        assert drawing and drawing[0] > 0, "the motif drawing did not load"

    _open_in_playwright(pages, check)


def test_chapter_5_shows_the_motif_drawings(built_book):
    """Chapter 5 shows the eight motifs as mothlib draws them (myst-nb writes SVG output to a file)."""
    import xml.etree.ElementTree as ET

    page = built_book / "book" / "notebooks" / "05_motif_counts.html"
    images = [img["src"] for img in _soup(page).select("div.cell_output img") if img["src"].endswith(".svg")]
    drawings = [ET.parse(page.parent / src).getroot() for src in images]
    panels = [d.findall(".//{http://www.w3.org/2000/svg}g[@class='motif']") for d in drawings]
    assert [len(p) for p in panels if p] == [8], f"chapter 5: {images}"
