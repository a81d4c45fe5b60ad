"""A real JupyterLab, offline: open the smoke run's notebook 06 in headless Chromium (Playwright),
run all cells, and check that every Altair chart draws and the widgets respond.

The server listens on 127.0.0.1 only (random free port, random token); the browser resolves no
host name and every request that is not for the server is aborted and reported, so a chart that
needs a CDN cannot draw.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

from mothlib.report import plots
from mothlib.report.plots import LAB_MIME_TYPE

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = "06_motif_significance.ipynb"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    # No host name resolves: only the loopback server (an IP literal) is reachable.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
#: JupyterLab settings for the test: every cell in the DOM (no virtual scrolling), no news.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}

pytestmark = [pytest.mark.book, pytest.mark.timeout(600)]


def _require_browser():
    """Playwright and the system Chromium; skipped locally without them, required under CI."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Playwright package (pip install playwright)")
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        message = "JupyterLab test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message + " -- required under CI")
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(url: str, token: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not start in 90 s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def lab(smoke_run, tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving a folder with the smoke run's executed notebook;
    its kernels use the smoke run's artifacts (stages load, they do not recompute)."""
    _require_browser()
    root = tmp_path_factory.mktemp("lab")
    work, home = root / "work", root / "home"
    work.mkdir()
    shutil.copy(smoke_run.executed / NOTEBOOK, work / NOTEBOOK)
    settings = home / "settings"
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "MOTHLIB_BOOK"))}
    env.update(
        MOTHLIB_ARTIFACTS=str(smoke_run.artifacts),
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p),
        PATH=os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", ""))),
        # This environment's kernelspec and a private config/settings/runtime tree.
        JUPYTER_PATH=str(Path(sys.prefix) / "share" / "jupyter"),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        OMP_NUM_THREADS="1",
    )
    port, token = _free_port(), secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}"
    log = root / "jupyterlab.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
             # Nothing that would ask the internet: no update check, no PyPI extension manager.
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             "--LabApp.extension_manager=readonly",
             # window.jupyterapp, to run notebook commands from the test.
             "--LabApp.expose_app_in_browser=True",
             *(["--allow-root"] if os.geteuid() == 0 else [])],
            cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_server(url, token, process, log)
        yield {"url": url, "token": token, "work": work, "log": log}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _chart_count(path: Path) -> int:
    """Charts the executed notebook shows (book mode renders each as one vegaEmbed call)."""
    nb = nbformat.read(path, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "data" in o]
    return sum("vegaEmbed(el" in o["data"].get("text/html", "") for o in outputs)


def _svg_of(locator) -> str:
    return locator.evaluate("el => (el.querySelector('svg') || {outerHTML: ''}).outerHTML")


@pytest.fixture(scope="module")
def notebook_page(lab, smoke_run):
    """The notebook open in JupyterLab after "Run All Cells" has finished."""
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})

        def only_loopback(route):
            if urlparse(route.request.url).hostname in ("127.0.0.1", None):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        context.route("**/*", only_loopback)
        page = context.new_page()
        console = []
        page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
        page.goto(f"{lab['url']}/lab/tree/{NOTEBOOK}?token={lab['token']}")
        # The server exposes the application object (expose_app_in_browser): run JupyterLab's own
        # "Run All Cells" command once the notebook and its kernel are ready; the command's
        # promise settles when the last cell has run.
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext",
            timeout=90_000,
        )
        page.evaluate(
            """async () => {
                const panel = window.jupyterapp.shell.currentWidget;
                await panel.context.ready;
                await panel.sessionContext.ready;
            }"""
        )
        ran = page.evaluate(
            "async () => await window.jupyterapp.commands.execute('notebook:run-all-cells')"
        )
        assert ran, "Run All Cells stopped early (a cell raised)"
        # Let the last outputs (charts, widget views) draw.
        page.wait_for_timeout(1500)
        yield {"page": page, "blocked": blocked, "console": console,
               "expected_charts": _chart_count(smoke_run.executed / NOTEBOOK), "lab": lab}
        browser.close()


def test_all_cells_run_without_error_output(notebook_page):
    page = notebook_page["page"]
    errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    texts = [errors.nth(k).inner_text() for k in range(errors.count())]
    assert not [t for t in texts if "Error" in t or "Traceback" in t], texts
    assert "Error loading script" not in page.content()


def test_every_chart_draws_with_vega_marks_offline(notebook_page):
    page, expected = notebook_page["page"], notebook_page["expected_charts"]
    assert expected > 0
    charts = page.locator(".jp-OutputArea-output.jp-RenderedVegaLite")
    page.wait_for_function(
        """n => {
            const charts = [...document.querySelectorAll('.jp-OutputArea-output.jp-RenderedVegaLite')];
            return charts.length >= n && charts.every(
                c => c.querySelector('svg g[class*="mark-"], canvas'));
        }""",
        arg=expected, timeout=60_000,
    )
    assert charts.count() == expected, notebook_page["console"][-20:]
    for k in range(expected):
        marks = charts.nth(k).locator('svg g[class*="mark-"] > *, canvas')
        assert marks.count() > 0, f"chart {k} has no Vega marks"
    # Nothing was fetched from outside the loopback server.
    assert not notebook_page["blocked"], notebook_page["blocked"]


def test_explorer_network_choice_changes_its_table(notebook_page):
    page = notebook_page["page"]
    dropdown = page.locator(".widget-dropdown select").first
    options = dropdown.locator("option").all_inner_texts()
    assert len(options) >= 2, f"the smoke run needs two networks, got {options}"
    explorer = page.locator(".widget-vbox", has=dropdown).first
    table = explorer.locator(".widget-html-content", has=page.locator("table")).first
    before = table.inner_html()
    dropdown.select_option(label=options[1])
    page.wait_for_function(
        "([el, old]) => el.innerHTML !== old", arg=[table.element_handle(), before], timeout=30_000
    )
    assert f"network {options[1]}" in explorer.inner_text()


def test_widget_slider_changes_its_chart(notebook_page):
    page = notebook_page["page"]
    # The zscore_slider widget: one slider above an HTML view holding an SVG chart.
    sliders = page.locator(".widget-vbox", has=page.locator(".widget-slider")).filter(
        has_not=page.locator(".widget-dropdown"))
    slider = sliders.last
    view = slider.locator(".widget-html-content").last
    before = _svg_of(view)
    assert "<svg" in before
    # Drag the handle one level down (the last level is selected first; the dense level may have
    # no finite z to draw), as a user would.
    handle = slider.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    low, high = (float(handle.get_attribute(a)) for a in ("aria-valuemin", "aria-valuemax"))
    assert high - low >= 2, "the smoke run needs at least three levels"
    box, track = handle.bounding_box(), slider.locator(".noUi-target").first.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(track["x"] + track["width"] * (high - 1 - low) / (high - low), y, steps=8)
    page.mouse.up()
    page.wait_for_function(
        "([el, old]) => { const s = el.querySelector('svg'); return s && s.outerHTML !== old; }",
        arg=[view.element_handle(), before], timeout=30_000,
    )


def test_vega_slider_changes_its_chart(notebook_page):
    page = notebook_page["page"]
    chart = page.locator(".jp-RenderedVegaLite", has=page.locator("input[type=range]")).first
    before = _svg_of(chart)
    chart.locator("input[type=range]").first.evaluate(
        "el => { el.value = el.min; el.dispatchEvent(new Event('input', {bubbles: true})); }"
    )
    page.wait_for_function(
        "([el, old]) => el.querySelector('svg').outerHTML !== old",
        arg=[chart.element_handle(), before], timeout=30_000,
    )


def _book_chart_specs(executed: Path) -> list[tuple[str, dict]]:
    """(notebook, Vega-Lite spec) of every chart every executed notebook shows."""
    decoder = json.JSONDecoder()
    specs = []
    for path in sorted(executed.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                html = output.get("data", {}).get("text/html", "")
                if "vegaEmbed(el, " in html:
                    start = html.index("vegaEmbed(el, ") + len("vegaEmbed(el, ")
                    specs.append((path.stem, decoder.raw_decode(html, start)[0]))
    return specs


def test_every_chart_of_every_notebook_draws_with_jupyterlabs_vega(notebook_page, smoke_run):
    """Each chart the notebooks show, drawn by the live JupyterLab's own Vega renderer under the
    MIME type the notebooks' renderer emits (notebook 06 above runs in a kernel; the others'
    charts are checked here without re-running their stages)."""
    page = notebook_page["page"]
    specs = _book_chart_specs(smoke_run.executed)
    assert {name[:2] for name, _ in specs} == {path.name[:2] for path in smoke_run.paths}
    drawn = page.evaluate(
        """async ([mime, bundles]) => {
            const rendermime = window.jupyterapp.shell.currentWidget.content.rendermime;
            const results = [];
            for (const [data, metadata] of bundles) {
                const renderer = rendermime.createRenderer(mime);
                document.body.appendChild(renderer.node);
                let error = "";
                try {
                    await renderer.renderModel({data, metadata, trusted: true, setData: () => {}});
                } catch (err) { error = String(err); }
                // Vega may finish drawing after renderModel resolves (seen on a loaded machine).
                const count = () => renderer.node.querySelectorAll('svg g[class*="mark-"] > *').length;
                for (let i = 0; i < 200 && !error && count() === 0; i++) {
                    await new Promise((resolve) => setTimeout(resolve, 50));
                }
                const marks = count();
                results.push({marks, error});
                renderer.node.remove();
                renderer.dispose();
            }
            return results;
        }""",
        # Exactly what the notebooks' renderer sends to JupyterLab (bundle and metadata).
        [LAB_MIME_TYPE, [list(plots.lab_bundle(spec)) for _, spec in specs]],
    )
    for (name, _), result in zip(specs, drawn):
        assert not result["error"] and result["marks"] > 0, (name, result)
