"""Every lesson and exercise, run as a workshop runs it: JupyterLab in a real Chromium, driven by Playwright.

A JupyterLab server starts on a free loopback port over a temporary copy of ``notebooks/`` (so nothing the
browser saves can reach the tree), and Debian's ``chromium`` opens each notebook in turn in one browser. For each
one the test runs all cells, waits for the kernel to go idle and checks what a learner would see: no error, no
"Error displaying widget" or "Loading widget", every control a real widget, every figure an image. Then it presses
a slider's arrow key three times quickly and checks that the figure changed and that, once the kernel is idle,
the readout and the figure show the same value. A screenshot of each notebook is kept in ``$BROWSER_ARTIFACTS``
(default: a folder under the system's temporary directory), never in the tree.

Without Chromium or Playwright the tests skip and say why; with ``CI=true`` they fail instead (``.ci/run``
installs Chromium from the distribution's packages).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.relative_to(ROOT / "notebooks") for p in (ROOT / "notebooks").rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts and "text" not in p.parts)
TOKEN = "simkit-browser-test"
INLINE = "module://matplotlib_inline.backend_inline"
# What the issue asked for: Debian's Chromium, headless, talking to nothing but the loopback server.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# JupyterLab settings for the test's own server: start the notebook's kernel without asking ("Select Kernel"),
# keep every cell in the page (windowing would drop off-screen outputs), and fetch no news.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True, "windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
RUN_TIMEOUT_S = 300  # one notebook, every cell; the slowest lesson takes well under a minute headless

pytestmark = pytest.mark.browser


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}; .ci/run installs chromium from the distribution's packages")
    pytest.skip(reason)


def _chromium() -> str:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    _unavailable("no Chromium found (install Debian's `chromium` package, or set CHROMIUM=/path/to/it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def artifacts() -> Path:
    folder = Path(os.environ.get("BROWSER_ARTIFACTS") or Path(tempfile.gettempdir()) / "simkit-browser")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Server:
    """A JupyterLab (or Voilà) server on a free loopback port, over a copy of the notebooks."""

    def __init__(self, home: Path, app: list[str]):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / f"{app[0]}-{self.port}.log"
        settings = home / "settings"
        for plugin, values in SETTINGS.items():
            path = settings / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = {**os.environ, "MPLBACKEND": INLINE, "JUPYTERLAB_SETTINGS_DIR": str(settings),
               "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
               # the kernels import this tree's simkit, installed or not
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", *app, "--no-browser", f"--port={self.port}", "--ServerApp.ip=127.0.0.1",
             "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={home / 'notebooks'}"],
            cwd=home / "notebooks", env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={TOKEN}", timeout=5)
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{app[0]} did not start:\n{self.log.read_text()[-3000:]}")
                time.sleep(0.3)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("browser")
    shutil.copytree(ROOT / "notebooks", home / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return home


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed (pip install -e '.[dev]')")
    with tempfile.TemporaryDirectory(prefix="simkit-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(profile, executable_path=executable, args=FLAGS,
                                                       headless=True, viewport={"width": 1400, "height": 1000})
        yield context
        context.close()


@pytest.fixture(scope="module")
def lab(home, browser):
    server = Server(home, ["jupyter", "lab", "--allow-root", "--LabApp.expose_app_in_browser=True"])
    yield server
    server.stop()


# JavaScript run in the page. `window.jupyterapp` is JupyterLab itself (expose_app_in_browser).
# The notebook under test, found by its path (the focused widget can be another tab, or none, for a moment).
NOTEBOOK = ("Array.from(window.jupyterapp.shell.widgets('main'))"
            ".find(w => w.context && w.context.path === window.simkitPath)")
KERNEL_READY = f"""() => {{ const w = window.jupyterapp && {NOTEBOOK}; const k = w && w.sessionContext && w.sessionContext.session
    && w.sessionContext.session.kernel; return !!k && k.status === 'idle' && !!w.content.widgets.length; }}"""
ALL_RAN = f"""() => {{ const w = {NOTEBOOK}; const k = w.sessionContext.session.kernel;
    const busy = Array.from(document.querySelectorAll('.jp-InputPrompt')).some(e => e.textContent.includes('*'));
    const code = Array.from(w.model.cells).filter(c => c.type === 'code' && c.sharedModel.getSource().trim());
    const counted = code.every(c => c.executionCount !== null);
    const failed = code.some(c => c.outputs.toJSON().some(o => o.output_type === 'error'));
    return k.status === 'idle' && !busy && (counted || failed); }}"""
# Every image decoded, and every control set showing a figure of its own (the page has caught up with the kernel).
FIGURES_SHOWN = """() => Array.from(document.querySelectorAll('.jp-OutputArea-output img'))
        .every(i => i.complete && i.naturalWidth > 0)
    && Array.from(document.querySelectorAll('.widget-interact')).every(b => b.querySelector('img'))"""
IDLE = f"""() => {{ const w = {NOTEBOOK}; return w.sessionContext.session.kernel.status === 'idle'
    && !Array.from(document.querySelectorAll('.jp-InputPrompt')).some(e => e.textContent.includes('*')); }}"""
STATE = f"""() => {{ const w = {NOTEBOOK};
    return Array.from(w.content.widgets).map(cell => ({{
        type: cell.model.type, source: cell.model.sharedModel.getSource(),
        count: cell.model.type === 'code' ? cell.model.executionCount : null,
        errors: cell.model.type === 'code' ? cell.model.outputs.toJSON().filter(o => o.output_type === 'error')
            .map(o => o.ename + ': ' + o.evalue) : [],
        images: Array.from(cell.node.querySelectorAll('.jp-OutputArea-output img'))
            .filter(i => i.complete && i.naturalWidth > 0).length,
        interacts: cell.node.querySelectorAll('.widget-interact').length,
        interact_images: Array.from(cell.node.querySelectorAll('.widget-interact img'))
            .filter(i => i.complete && i.naturalWidth > 0).length,
        text: cell.node.innerText }})); }}"""
# Asked of the lesson's kernel as a user expression (its value comes back in the reply, whatever else the kernel
# prints meanwhile): what each control set shows and what its figure was drawn with.
# ``outputs`` is what the kernel last handed the control set's Output widget (each output's type and mime types):
# when the page shows no figure, it says whether the kernel sent none or the page lost the one it was sent.
DRAWN = ("__import__('json').dumps([{'values': {k: w.value for k, w in c.controls.items()}, 'drawn': c.drawn,"
         " 'redraws': c.redraws, 'outputs': [[o['output_type'], *sorted(o.get('data', {})), o.get('text', '')[:200]"
         " if o['output_type'] != 'error' else __import__('re').sub(r'\\x1b\\[[0-9;]*m', '', o.get('ename', '') + ': ' + o.get('evalue', '') + ' | '"
         " + ' | '.join(o.get('traceback', [])[-3:]))[-1500:]]"
         " for o in c.widget.out.outputs], 'recovered': getattr(c.widget, '_recovered', [])}"
         " for c in __import__('simkit').controls.REGISTRY], default=str)")
EXECUTE = f"""async (expression) => {{ const k = {NOTEBOOK}.sessionContext.session.kernel;
    const reply = await k.requestExecute({{code: '', silent: true, store_history: false,
                                          user_expressions: {{q: expression}}}}).done;
    const q = reply.content.user_expressions.q;
    return q.status === 'ok' ? q.data['text/plain'] : q.ename + ': ' + q.evalue; }}"""


def _open(page, url: str, path: str):
    page.add_init_script(f"window.simkitPath = {json.dumps(path)};")
    page.goto(url)
    page.wait_for_function(KERNEL_READY, timeout=90_000, polling=250)
    assert page.locator(".jp-Dialog").count() == 0, "a dialog blocks the notebook (Select Kernel?)"


def _run_all(page, name: str):
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function("() => Array.from(document.querySelectorAll('.jp-InputPrompt'))"
                           ".some(e => e.textContent.includes('*') || /\\d/.test(e.textContent))", timeout=30_000)
    page.wait_for_function(ALL_RAN, timeout=RUN_TIMEOUT_S * 1000, polling=500)
    # The kernel is idle, but the browser may still be building the last widgets and decoding their figures.
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    try:
        page.wait_for_function(FIGURES_SHOWN, timeout=60_000, polling=250)
    except PlaywrightTimeout:
        pass  # the checks below say which cell lacks its figure
    cells = page.evaluate(STATE)
    for i, cell in enumerate(cells):
        assert not cell["errors"], f"{name}: cell {i} failed: {cell['errors']}"
        if cell["type"] == "code" and cell["source"].strip():
            assert cell["count"] is not None, f"{name}: cell {i} never ran (did an earlier cell fail?)"
        for broken in ("Error displaying widget", "Loading widget", "Traceback"):
            assert broken not in cell["text"], f"{name}: cell {i} shows {broken!r}:\n{cell['text'][:1500]}"
        if "sk.interact(" in cell["source"]:
            assert cell["interacts"] == 1, f"{name}: cell {i}'s controls did not render as a widget"
        if "sk.interact(" in cell["source"]:
            assert cell["interact_images"] >= 1, (f"{name}: cell {i}'s controls show no figure under them "
                                                  f"({cell['images']} figure(s) elsewhere in the cell)")
    assert sum(c["images"] for c in cells) >= 1, f"{name}: no figure on the page"
    return cells


def _kernel(page) -> list[dict]:
    printed = page.evaluate(EXECUTE, DRAWN)
    try:
        return json.loads(ast.literal_eval(printed))  # the repr of the JSON text
    except (ValueError, SyntaxError):
        raise AssertionError(f"asking the kernel about its controls gave {printed!r}") from None


def _until(page, done, timeout_s: float = 60) -> dict:
    """Ask the kernel about its first control set each time it is idle, until ``done(it)`` or ``timeout_s``; return it."""
    deadline = time.monotonic() + timeout_s
    while True:
        page.wait_for_function(IDLE, timeout=timeout_s * 1000, polling=250)
        first = _kernel(page)[0]
        if done(first) or time.monotonic() > deadline:
            return first
        time.sleep(0.5)


def _settled(page, box, label: str, timeout_s: float = 60) -> tuple[str, dict]:
    """Wait until the slider's readout, its control in the kernel and the figure's values agree; return them."""
    readouts = []

    def agree(first):
        readouts.append(box.locator(".widget-readout").first.inner_text())
        return first["values"] == first["drawn"] and float(readouts[-1]) == pytest.approx(float(first["drawn"][label]))

    first = _until(page, agree, timeout_s)
    return readouts[-1], first


def _warn_if_recovered(name: str, first: dict) -> None:
    if first["recovered"]:  # the redraw got past a figure without its image (issue 14): say so in the test log
        warnings.warn(f"{name}: a redraw recovered from: {first['recovered']}", stacklevel=2)


CHANGED = """(before) => { const i = document.querySelector('.widget-interact img');
    return !!i && i.complete && i.naturalWidth > 0 && i.getAttribute('src') !== before; }"""


def _press_a_slider(page, name: str):
    """Three quick arrow presses on the first slider of the first control set; the figure must follow."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.locator(".widget-interact").first
    handle = box.locator(".noUi-handle").first
    figure = box.locator("img").first
    before = figure.get_attribute("src", timeout=30_000)  # _run_all saw it there
    start = _kernel(page)[0]["redraws"]
    if handle.count() == 0:  # menus only (lesson 13): choose the first menu's next entry
        return _choose_from_a_menu(page, name, box, before, start)
    at_max = float(handle.get_attribute("aria-valuenow")) >= float(handle.get_attribute("aria-valuemax"))
    handle.focus()
    for _ in range(3):
        page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
    label = box.locator(".widget-slider .widget-label").first.inner_text()
    readout, first = _settled(page, box, label)
    assert first["values"] == first["drawn"], (
        f"{name}: the figure was drawn with {first['drawn']}, the controls say {first['values']}; "
        f"{first['redraws'] - start} redraw(s) ran, the kernel set the Output widget's outputs to {first['outputs']} "
        f"({len(_kernel(page))} control set(s) in the kernel); under the controls the page shows:\n"
        f"{box.locator('.jp-OutputArea').first.inner_text()[:800]}")
    assert float(readout) == pytest.approx(float(first["drawn"][label])), f"{name}: readout {readout} against figure {first['drawn']}"
    # The kernel's reply can overtake the widget update that carries the new figure (they travel on different
    # channels): wait for the page to show a figure other than the one before the presses.
    try:
        page.wait_for_function(CHANGED, arg=before, timeout=30_000, polling=250)
    except PlaywrightTimeout:
        shown = box.locator(".jp-OutputArea").first.inner_text()[:800]
        sent = _kernel(page)[0]["outputs"]
        pytest.fail(f"{name}: three presses left the figure unchanged (redrawn with {first['drawn']}); "
                    f"the kernel set the Output widget's outputs to {sent}; "
                    f"{box.locator('img').count()} image(s) under the controls, which show:\n{shown}")
    _warn_if_recovered(name, first)
    return first["redraws"] - start


def _choose_from_a_menu(page, name: str, box, before: str, start: int) -> int:
    """Choose the next entry of the first menu of a control set that has no slider; the figure must follow."""
    menu = box.locator("select").first
    assert menu.count() == 1, f"{name}: its first control set has neither a slider nor a menu"
    options = menu.locator("option").all_inner_texts()
    chosen = options[(options.index(menu.evaluate("m => m.options[m.selectedIndex].text")) + 1) % len(options)]
    menu.select_option(label=chosen)

    def followed(first):
        return first["values"] == first["drawn"] and chosen in map(str, first["drawn"].values())

    first = _until(page, followed)
    assert followed(first), (
        f"{name}: chose {chosen!r}; the figure was drawn with {first['drawn']}, the controls say {first['values']}")
    page.wait_for_function(CHANGED, arg=before, timeout=30_000, polling=250)
    _warn_if_recovered(name, first)
    return first["redraws"] - start


#: Lessons whose browser run is known to be unsteady, with why (each a non-strict xfail until it is fixed).
UNSTEADY: dict[str, str] = {
    # none now. Lesson 08 was, until the inline backend's flush_figures on a subshell's thread (after each widget
    # message) was found to close the figure a redraw was drawing; sk.interact now flushes on the main thread only
}


@pytest.mark.parametrize("notebook", [
    pytest.param(p, id=str(p), marks=[pytest.mark.xfail(reason=UNSTEADY[str(p)], strict=False)]
                 if str(p) in UNSTEADY else []) for p in NOTEBOOKS])
def test_notebook_runs_in_jupyterlab_in_chromium(notebook, browser, lab):
    name = str(notebook)
    page = browser.new_page()
    try:
        # ?reset: open this notebook alone, not the tabs an earlier test left in the workspace
        _open(page, f"{lab.url}/lab/tree/{notebook.as_posix()}?reset&token={TOKEN}", notebook.as_posix())
        cells = _run_all(page, name)
        if any("sk.interact(" in c["source"] for c in cells):
            redraws = _press_a_slider(page, name)
            assert 1 <= redraws <= 3, f"{name}: moving a control ran {redraws} redraws"
            print(f"{name}: a control moved, {redraws} redraw(s)")
    finally:
        page.screenshot(path=str(artifacts() / f"lab-{name.replace('/', '-')}.png"), full_page=True)
        # one kernel at a time on a 2-core machine: shut this notebook's down before the next one starts
        page.evaluate(f"() => {{ const w = {NOTEBOOK}; return w && w.sessionContext.shutdown(); }}")
        page.close()


VOILA = ["03-lost-messages-dual-write-and-outbox.ipynb"]  # the lesson the issue demonstrated through Voilà


@pytest.mark.parametrize("notebook", VOILA)
def test_lesson_renders_as_a_voila_dashboard_with_working_controls(notebook, browser, lab):
    """Voilà (a server extension of the same server) runs the lesson and shows outputs and controls, no code."""
    page = browser.new_page()
    try:
        page.goto(f"{lab.url}/voila/render/{notebook}?token={TOKEN}", wait_until="commit")
        box = page.locator(".widget-interact").first
        box.locator("img").first.wait_for(timeout=RUN_TIMEOUT_S * 1000)
        text = page.inner_text("body")
        for broken in ("Error displaying widget", "Loading widget", "Traceback"):
            assert broken not in text, f"the dashboard shows {broken!r}"
        assert "sk.interact(" not in text and "import simkit" not in text, "the dashboard shows code"
        assert page.locator(".jp-CodeCell .jp-InputArea:visible").count() == 0, "the dashboard shows code cells"
        before = box.locator("img").first.get_attribute("src")
        handle = box.locator(".noUi-handle").first
        at_max = float(handle.get_attribute("aria-valuenow")) >= float(handle.get_attribute("aria-valuemax"))
        handle.focus()
        page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
        page.wait_for_function("(before) => { const i = document.querySelector('.widget-interact img');"
                               " return i && i.getAttribute('src') !== before; }", arg=before, timeout=120_000)
        page.screenshot(path=str(artifacts() / f"voila-{notebook}.png"), full_page=True)
    finally:
        page.close()
