"""The chapters in JupyterLab, as a reader opens them: a real `jupyter lab` driven in the system Chromium.

* One chapter (``SLIDER_CHAPTER``, the setup chapter with its gamma slider) is opened from its MyST ``.md``
  source with jupytext's *Jupytext Notebook* viewer (the JupyterLab extension must have loaded), all cells are
  run, no cell has an error output, and moving the gamma slider one step changes the figure (the image data
  differs).
* Every chapter, converted to ``.ipynb`` (as the book's download offers it), is opened in the same JupyterLab
  and only rendered (not executed): no rendered markdown cell shows raw MyST (``(label)=`` targets,
  ``:label:`` lines, ``{prf:ref}``/``{cite:p}`` roles, directive fences), which jupyterlab-myst renders.
* The same chapter, written with RISE's slideshow metadata (``book/_ext/slides.py rise``, the rule of the lecture
  slides), opens in RISE for JupyterLab (``jupyterlab-rise``, its ``/rise/<notebook>`` view): reveal.js shows one
  slide per slide cell of the metadata, and a screenshot is saved to ``_build/screenshots/jupyterlab-rise.png``
  (the copy in ``book/_static/slides/`` shown on the instructors' page comes from it). The widget manager's failure
  to load there (why widgets do not render inside RISE, as the instructors' page says) is checked too.

Playwright for Python drives ``/usr/bin/chromium`` (or ``$CHROMIUM``) through ``executable_path``: no browser is
ever downloaded. Skipped, with a message, where there is no Chromium or no playwright. Marked ``jupyterlab``
(deselect with ``-m 'not jupyterlab'``): it executes one chapter, on a 2-core machine about a minute.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures import book_extension

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
SLIDER_CHAPTER = "02_setup"
SLIDER_LABEL = "γ"
RISE_NOTEBOOK = f"{SLIDER_CHAPTER}-rise.ipynb"
SCREENSHOTS = ROOT / "_build" / "screenshots"
TOKEN = "mappo-lite-test-token"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]

pytestmark = [pytest.mark.jupyterlab, pytest.mark.chapter]

# Raw MyST that a markdown renderer without MyST would leave in the text (jupyterlab-myst renders all of it).
RAW_MYST = [
    (re.compile(r"^\([A-Za-z0-9_.:-]+\)=\s*$", re.M), "a (label)= target"),
    (re.compile(r"^:(?:label|name|class|nonumber|enumerated):", re.M), "a directive option line"),
    (
        re.compile(r"\{(?:prf:[a-z]+|cite(?::[a-z]+)?|ref|numref|eq|doc|math|exercise|solution(?:-start|-end)?)\}"),
        "a role",
    ),
    (re.compile(r"^(?:`{3,}|:{3,})\s*\{", re.M), "a directive fence"),
]


def raw_myst(text: str) -> list[str]:
    found = []
    for pattern, what in RAW_MYST:
        for match in pattern.finditer(text):
            found.append(f"{what}: {text[max(0, match.start() - 30) : match.end() + 30]!r}")
    return found


def test_raw_myst_patterns_catch_raw_myst():
    """The patterns flag what an unrendered chapter shows, and pass rendered prose."""
    raw = "(ch-setup)=\n# Setup\n```{prf:definition}\n:label: def-x\nSee {prf:ref}`def-x` and {cite:p}`zhao2023local`."
    kinds = {p.split(":")[0] for p in raw_myst(raw)}
    assert kinds == {"a (label)= target", "a directive option line", "a role", "a directive fence"}, kinds
    assert raw_myst("Definition 2.1 (Zhao et al., 2023). The set {x: x > 0} and f(x)= 1.") == []


def chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("no Chromium at /usr/bin/chromium (set CHROMIUM=...): JupyterLab is not checked in a browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chapter_stems() -> list[str]:
    return sorted(p.stem for p in BOOK.glob("[0-9]*.md"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A `jupyter lab` on localhost (free port, token, a temp root with the chapters); yields its base URL."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements.txt)")
    executable = chromium()
    base = tmp_path_factory.mktemp("jupyterlab")
    root, settings = base / "root", base / "settings" / "@jupyterlab" / "notebook-extension"
    root.mkdir()
    settings.mkdir(parents=True)
    # render every cell (no windowing), so every markdown cell is in the page
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}), encoding="utf8")
    for stem in chapter_stems():
        shutil.copy(BOOK / f"{stem}.md", root / f"{stem}.md")
        subprocess.run(
            [sys.executable, "-m", "jupytext", "--quiet", "--to", "ipynb", str(root / f"{stem}.md")], check=True
        )
    book_extension("slides").write_rise_notebook(root / f"{SLIDER_CHAPTER}.md", root / RISE_NOTEBOOK)
    port = free_port()
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        OPENBLAS_NUM_THREADS="1",
    )
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    log = (base / "lab.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--no-browser",
            "--ServerApp.open_browser=False",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.allow_root=True",
            f"--LabApp.user_settings_dir={base / 'settings'}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=",
            "--LabServerApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(180):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(1)
        else:
            pytest.fail(f"jupyter lab did not answer in 180 s:\n{(base / 'lab.log').read_text()[-3000:]}")
        if server.poll() is not None:
            pytest.fail(f"jupyter lab exited:\n{(base / 'lab.log').read_text()[-3000:]}")
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{url}/lab?token={TOKEN}")
            page.wait_for_function("window.jupyterapp && window.jupyterapp.started", timeout=120_000)
            page.evaluate("window.jupyterapp.started")
            page.wait_for_selector(".jp-LabShell", timeout=60_000)
            yield page, problems
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


OPEN_JS = """async ([path, factory, keepKernel]) => {
  const app = window.jupyterapp;
  const widget = await app.commands.execute('docmanager:open', {path, factory});
  await widget.context.ready;
  if (widget.sessionContext) {
    await widget.sessionContext.ready;
    if (!keepKernel) await widget.sessionContext.shutdown();  // only rendered: no kernel left running
  }
  return widget.id;
}"""

MARKDOWN_TEXT_JS = """async (id) => {
  const widget = window.jupyterapp.shell.widgets('main').find(w => w.id === id)
      || [...window.jupyterapp.shell.widgets('main')].find(w => w.id === id);
  const cells = widget.content.widgets.filter(c => c.model.type === 'markdown');
  for (const c of cells) { c.rendered = true; }
  await new Promise(r => setTimeout(r, 200));
  for (let i = 0; i < 100; i++) {
    if (cells.every(c => c.node.querySelector(':scope .lm-Widget.myst'))) break;
    await new Promise(r => setTimeout(r, 200));
  }
  return {n: cells.length, texts: cells.map(c => {
    // jupyterlab-myst renders a markdown cell into a `.myst` widget (JupyterLab's own renderer would not)
    const out = c.node.querySelector(':scope .lm-Widget.myst');
    if (!out) return '(not rendered by jupyterlab-myst) ' + c.model.sharedModel.getSource().slice(0, 80);
    // rendered formulas are not MyST (KaTeX's text of "Q(s,a)=" would look like a "(label)=" line): hide them
    const maths = [...out.querySelectorAll('.katex')];
    const before = maths.map(m => m.style.display);
    maths.forEach(m => { m.style.display = 'none'; });
    const text = out.innerText;
    maths.forEach((m, i) => { m.style.display = before[i]; });
    return text;
  })};
}"""

RUN_ALL_JS = """async (id) => {
  const app = window.jupyterapp;
  const widget = [...app.shell.widgets('main')].find(w => w.id === id);
  app.shell.activateById(id);
  await widget.sessionContext.ready;
  await app.commands.execute('notebook:run-all-cells');
  const code = widget.content.widgets.filter(c => c.model.type === 'code');
  const deadline = Date.now() + 900000;
  while (Date.now() < deadline) {
    const status = widget.sessionContext.session?.kernel?.status;
    if (code.every(c => c.model.executionCount !== null) && status === 'idle') break;
    await new Promise(r => setTimeout(r, 500));
  }
  const errors = [];
  for (const c of code) {
    if ((c.model.getMetadata('tags') || []).includes('raises-exception')) continue;  // meant to raise
    for (let i = 0; i < c.model.outputs.length; i++) {
      const o = c.model.outputs.get(i).toJSON();
      if (o.output_type === 'error') errors.push(c.model.sharedModel.getSource().slice(0, 80) + ' -> ' + o.ename + ': ' + o.evalue);
    }
  }
  return {cells: code.length, executed: code.filter(c => c.model.executionCount !== null).length, errors};
}"""

SLIDER_IMAGE_JS = """(label) => {
  for (const box of document.querySelectorAll('.jp-mod-active .widget-interact, .jp-NotebookPanel:not(.lm-mod-hidden) .widget-interact')) {
    const sliders = [...box.querySelectorAll('.widget-slider')];
    const slider = sliders.find(s => (s.querySelector('.widget-label') || {}).textContent.trim() === label);
    if (!slider) continue;
    const img = box.querySelector('.widget-output img');
    const readout = slider.querySelector('.widget-readout');
    return {img: img ? img.src : null, readout: readout ? readout.textContent.trim() : null};
  }
  return null;
}"""


def test_a_chapter_opens_as_a_jupytext_notebook_runs_and_its_slider_redraws(lab):
    page, problems = lab
    widget = page.evaluate(OPEN_JS, [f"{SLIDER_CHAPTER}.md", "Jupytext Notebook", True])
    result = page.evaluate(RUN_ALL_JS, widget)
    assert result["cells"] > 0 and result["executed"] == result["cells"], result
    assert result["errors"] == [], result["errors"]
    # the slider: focus its handle and press the right arrow once (one step)
    page.wait_for_function(f"({SLIDER_IMAGE_JS})({json.dumps(SLIDER_LABEL)})?.img", timeout=60_000)
    before = page.evaluate(SLIDER_IMAGE_JS, SLIDER_LABEL)
    handle = page.locator(".widget-interact .widget-slider", has_text=SLIDER_LABEL).first.locator(".noUi-handle")
    handle.scroll_into_view_if_needed()
    handle.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        f"(() => {{ const now = ({SLIDER_IMAGE_JS})({json.dumps(SLIDER_LABEL)}); "
        f"return now && now.img && now.img !== {json.dumps(before['img'])}; }})()",
        timeout=120_000,
    )
    after = page.evaluate(SLIDER_IMAGE_JS, SLIDER_LABEL)
    assert after["readout"] != before["readout"], (before["readout"], after["readout"])
    assert after["img"] != before["img"]
    extension_errors = [p for p in problems if "jupytext" in p.lower() or "RUNTIME-" in p]
    assert extension_errors == [], extension_errors


def test_every_converted_chapter_renders_without_raw_myst(lab):
    page, problems = lab
    found = {}
    for stem in chapter_stems():
        widget = page.evaluate(OPEN_JS, [f"{stem}.ipynb", "Notebook", False])
        report = page.evaluate(MARKDOWN_TEXT_JS, widget)
        assert report["n"] > 0, stem
        issues = [p for text in report["texts"] for p in raw_myst(text)]
        issues += [t[:120] for t in report["texts"] if t.startswith("(not rendered")]
        if issues:
            found[stem] = issues
        page.evaluate("() => window.jupyterapp.commands.execute('application:close-all')")
    assert not found, "raw MyST in JupyterLab:\n" + "\n".join(
        f"{stem}: " + "\n    ".join(issues[:8]) for stem, issues in found.items()
    )


#: A chapter whose markdown uses the book's TeX macros (\E, \KL, \ip, ...; see tests/book/test_math_macros.py).
MACRO_CHAPTER = "06_theorem1"

TEX_ERRORS_JS = """async ([id, expectErrors]) => {
  const widget = [...window.jupyterapp.shell.widgets('main')].find(w => w.id === id);
  const cells = widget.content.widgets.filter(c => c.model.type === 'markdown');
  for (const c of cells) { c.rendered = true; }
  const scan = () => {
    const errors = [];
    let katex = 0, rendered = 0;
    for (const c of cells) {
      const out = c.node.querySelector(':scope .lm-Widget.myst');
      if (!out) continue;
      rendered += 1;
      katex += out.querySelectorAll('.katex').length;
      // jupyterlab-myst shows a TeX error as an element titled with KaTeX's message (inline) or a red <pre> (display)
      for (const e of out.querySelectorAll('[title]')) {
        if (/control sequence|parse error|KaTeX|expected/i.test(e.title)) errors.push(e.title.slice(0, 120));
      }
      for (const e of out.querySelectorAll('.katex-error, mjx-merror')) errors.push(e.textContent.slice(0, 120));
    }
    return {cells: cells.length, rendered, katex, errors};
  };
  // jupyterlab-myst renders each cell, then the whole notebook again with the first cell's frontmatter: wait for
  // the final state (errors gone, or errors shown for the notebook without macros)
  let report = scan();
  for (let i = 0; i < 150; i++) {
    report = scan();
    const settled = report.rendered === report.cells && report.katex > 0;
    if (settled && (expectErrors ? report.errors.length > 0 : report.errors.length === 0)) break;
    await new Promise(r => setTimeout(r, 200));
  }
  return report;
}"""

WITHOUT_FIRST_CELL_JS = """async ([source, target]) => {
  const contents = window.jupyterapp.serviceManager.contents;
  const model = await contents.get(source, {content: true});
  const nb = model.content;
  nb.cells = nb.cells.slice(1);  // drop the frontmatter cell
  await contents.save(target, {type: 'notebook', format: 'json', content: nb});
  return nb.cells.length;
}"""


def test_a_chapter_using_macros_renders_without_tex_errors(lab):
    """The macros of _config.yml reach jupyterlab-myst through the chapter's frontmatter cell: every formula of a
    macro-heavy chapter renders (KaTeX) without a TeX error; the same chapter without that cell shows errors (so the
    check can fail)."""
    page, _ = lab
    text = (BOOK / f"{MACRO_CHAPTER}.md").read_text(encoding="utf8")
    assert re.search(r"\\(?:E|KL|ip|bfa|cA)(?![A-Za-z])", text), "pick a chapter that uses the macros"
    widget = page.evaluate(OPEN_JS, [f"{MACRO_CHAPTER}.ipynb", "Notebook", False])
    report = page.evaluate(TEX_ERRORS_JS, [widget, False])
    page.evaluate("() => window.jupyterapp.commands.execute('application:close-all')")
    assert report["rendered"] == report["cells"] and report["katex"] > 20, report
    assert report["errors"] == [], report["errors"][:10]
    page.evaluate(WITHOUT_FIRST_CELL_JS, [f"{MACRO_CHAPTER}.ipynb", "without_macros.ipynb"])
    widget = page.evaluate(OPEN_JS, ["without_macros.ipynb", "Notebook", False])
    bad = page.evaluate(TEX_ERRORS_JS, [widget, True])
    page.evaluate("() => window.jupyterapp.commands.execute('application:close-all')")
    assert any("control sequence" in e for e in bad["errors"]), bad


def test_a_chapter_presents_live_in_rise(lab):
    """RISE for JupyterLab opens the chapter with the slides' metadata as a reveal.js slideshow."""
    page, _ = lab
    base = page.url.split("/lab")[0]
    import jupytext

    nb = book_extension("slides").add_rise_metadata(jupytext.read(BOOK / f"{SLIDER_CHAPTER}.md"))
    types = [c.metadata["slideshow"]["slide_type"] for c in nb.cells]
    assert "subslide" in types and "skip" in types, types
    rise = page.context.browser.new_page(viewport={"width": 1280, "height": 720})
    errors: list[str] = []
    console: list[str] = []
    rise.on("pageerror", lambda e: errors.append(str(e)))
    rise.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    rise.goto(f"{base}/rise/{RISE_NOTEBOOK}?token={TOKEN}")
    rise.wait_for_selector(".reveal .slides > section.present", timeout=120_000)
    rise.wait_for_timeout(1500)
    shown = rise.evaluate("() => document.querySelectorAll('.reveal .slides > section').length")
    assert shown == types.count("slide"), (shown, types.count("slide"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    rise.screenshot(path=str(SCREENSHOTS / "jupyterlab-rise.png"))
    rise.close()
    assert errors == [], errors
    # what the instructors' page says: ipywidgets' JupyterLab extension does not load in RISE's page
    # (jupyterlab-contrib/rise issue 119), so widgets do not render there; when this fails, RISE fixed it: update
    # the page ("Presenting live in JupyterLab") and check a widget inside RISE here
    assert any("@jupyterlab/console" in c and "shared scope" in c for c in console), console[:5]
