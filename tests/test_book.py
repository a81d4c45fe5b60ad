"""Build the book from the smoke run (``-W``) and check in headless Chromium, with every host
name unresolvable, that the charts draw and the widgets render offline."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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


#: A book already built (e.g. ``make book``'s ``_build/html`` at ``quick``) to check instead of the
#: smoke run's: ``MOTHLIB_BOOK_HTML=_build/html pytest tests/test_book.py``.
BOOK_HTML_ENV = "MOTHLIB_BOOK_HTML"


@pytest.fixture(scope="module")
def built_book(request, tmp_path_factory):
    """The book's sources copied beside the smoke run's executed notebooks, then built (or the
    book that ``$MOTHLIB_BOOK_HTML`` names)."""
    if os.environ.get(BOOK_HTML_ENV):
        html = Path(os.environ[BOOK_HTML_ENV]).resolve()
        if not (html / "index.html").is_file():
            pytest.fail(f"{BOOK_HTML_ENV}={html}: no built book there (no index.html)")
        return html
    smoke_run = request.getfixturevalue("smoke_run")
    src = tmp_path_factory.mktemp("book-src")
    shutil.copy(REPO / "_config.yml", src / "_config.yml")
    shutil.copytree(REPO / "book", src / "book",
                    ignore=shutil.ignore_patterns("notebooks", "_build"))
    # Fetch the vendored scripts once into the repository's (git-ignored) cache, then reuse it.
    pipeline.vendor_assets(REPO / "book" / "_assets")
    shutil.copytree(REPO / "book" / "_assets" / "vendor", src / "book" / "_assets" / "vendor",
                    dirs_exist_ok=True)
    shutil.copytree(REPO / "book" / "_extra", src / "book" / "_extra", dirs_exist_ok=True)
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
    profile = "[a-z_]+" if os.environ.get(BOOK_HTML_ENV) else "smoke"
    assert re.search(f"Profile {profile}\\b", " ".join(text.split())) and " UTC" in text
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
    the root postBuild puts the runnable notebook at that path."""
    import urllib.parse

    for page in _pages(built_book):
        links = re.findall(r'href="(https://mybinder\.org/v2/gh/[^"]+)"', page.read_text())
        assert links, f"{page.name} has no Binder launch button"
        query = urllib.parse.parse_qs(urllib.parse.urlparse(links[0].replace("&amp;", "&")).query)
        assert query["urlpath"][0] == f"lab/tree/book/notebooks/{page.stem}.ipynb"
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    subprocess.run(["bash", str(REPO / "postBuild")], cwd=tmp_path, check=True,
                   env={**os.environ, "PYTHON": sys.executable})
    made = sorted(p.name for p in (tmp_path / "book" / "notebooks").glob("*.ipynb"))
    assert made == [f"{p.stem}.ipynb" for p in _pages(built_book)]


# -- pages as a reader sees them: real browser, three window widths -------------------------

#: Window widths the book is read at (the text column stays about 704 px across them).
WINDOW_WIDTHS = (1024, 1300, 1600)

#: Runs in the page once its charts have drawn; returns what a reader would see wrong.
_PAGE_CHECKS = r"""
() => {
  const problems = [];
  const visible = el => {
    // Inside a closed <details> (a hide-input cell) nothing is drawn, whatever its box says.
    if (!el || el.offsetParent === null || el.closest("details:not([open])")) return false;
    if (el.checkVisibility && !el.checkVisibility({checkVisibilityCSS: true})) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const column = document.querySelector("article.bd-article") || document.querySelector("main");
  const col = column.getBoundingClientRect();
  document.querySelectorAll(".mothlib-chart").forEach((chart, i) => {
    const svg = chart.querySelector("svg");
    if (!svg) { problems.push(`chart ${i} did not draw`); return; }
    const r = svg.getBoundingClientRect();
    if (r.width > col.width + 1 || r.right > col.right + 1)
      problems.push(`chart ${i} is ${Math.round(r.width)} px wide in a ${Math.round(col.width)} px column`);
    svg.querySelectorAll("g.role-legend").forEach(legend => {
      const l = legend.getBoundingClientRect();
      if (l.right > Math.min(window.innerWidth, col.right) + 1 || l.left < 0)
        problems.push(`chart ${i}: a legend lies outside the column or the window`);
    });
  });
  document.querySelectorAll("div.cell_input").forEach(input => {
    if (visible(input) && /\bglue\(/.test(input.textContent))
      problems.push("a visible code cell calls glue: " + input.textContent.trim().slice(0, 60));
  });
  document.querySelectorAll("table td, table th").forEach(cell => {
    if (!visible(cell)) return;
    const text = cell.textContent.trim();
    if (/(^|[^A-Za-z])(NaN|nan)([^A-Za-z]|$)/.test(text))
      problems.push(`a table cell shows NaN: "${text.slice(0, 40)}"`);
    if (/\d\.\d{5,}/.test(text))
      problems.push(`a table cell shows more than four decimals: "${text.slice(0, 40)}"`);
  });
  return problems;
}
"""


def _reader_pages(html: Path) -> list[Path]:
    """The pages that show results (the API reference shows code examples, not results)."""
    return sorted(p.resolve() for p in (html / "book").rglob("*.html") if "api" not in p.relative_to(html).parts)


def _browse(html: Path, widths=WINDOW_WIDTHS) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Open every built page at each window width with no network: (problems, console errors)
    per ``page @ width``."""
    from playwright.sync_api import sync_playwright

    problems: dict[str, list[str]] = {}
    errors: dict[str, list[str]] = {}
    console: list[str] = []  # the current page's errors
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        for width in widths:
            context = browser.new_context(viewport={"width": width, "height": 900})
            context.route("**/*", lambda route: route.continue_()
                          if route.request.url.startswith("file:") else route.abort())
            page = context.new_page()
            page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: console.append(str(exc)))
            for path in _reader_pages(html):
                console.clear()
                page.goto(path.as_uri(), wait_until="load")
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.mothlib-chart')].every("
                    "c => c.querySelector('svg') || c.textContent.length > 0)", timeout=30_000)
                key = f"{path.relative_to(html.resolve())} @ {width}px"
                found = page.evaluate(_PAGE_CHECKS)
                if found:
                    problems[key] = found
                if console:
                    errors[key] = list(console)
            context.close()
        browser.close()
    return problems, errors


@pytest.fixture(scope="module")
def browsed(built_book):
    return _browse(built_book)


def test_every_page_fits_its_column_and_shows_no_plumbing(browsed):
    """At 1024, 1300 and 1600 px: every chart within the text column and its legends inside
    the window, no visible code cell calling glue, no table cell showing NaN or more than four
    decimals."""
    problems, _ = browsed
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())


def test_no_page_logs_a_javascript_error(browsed):
    """Not one console error or failed load on any result page at any width: widget pages
    included (the widget manager's icon fonts are vendored beside the chapters)."""
    _, errors = browsed
    assert not errors, "\n".join(f"{k}: {v}" for k, v in errors.items())
def test_api_reference_pages_hold_every_public_function_and_class(built_book):
    """autodoc sees through the subpackages' lazy exports: every function and class that a public
    module defines and lists in ``__all__`` has its entry on the subpackage's page."""
    import importlib
    import inspect

    from test_api_pages import SUBPACKAGES, public_modules

    api = built_book / "book" / "api"
    assert (api / "index.html").exists()
    for package in SUBPACKAGES:
        page = (api / f"{package}.html").read_text()
        ids = set(re.findall(r'id="(mothlib\.[^"]+)"', page))
        for name in public_modules(package):
            module = importlib.import_module(name)
            for member in module.__all__:
                obj = getattr(module, member)
                if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == name:
                    assert f"{name}.{member}" in ids, f"{member} of {name} missing from api/{package}.html"
    motifs = (api / "motifs.html").read_text()
    from mothlib.motifs.counts import count_motifs

    first = count_motifs.__doc__.splitlines()[0]
    assert "Count the motifs of a layered network as given" in first
    text = re.sub(r"<[^>]+>", "", motifs)  # the page's text, without markup
    assert "Count the motifs of a layered network as given" in text
    assert "Remove ghost and dead hidden neurons" in text  # the clean parameter, rendered by napoleon
    assert "api/index.html" in (built_book / "book" / "intro.html").read_text()
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
