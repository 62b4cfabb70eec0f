"""The built book as its readers get it: offline, in a real browser, with notebooks to download.

All tests here look at ONE build of the book, ``_build/html``, made exactly as ``make book`` makes it and shared
with ``tests/test_book.py::test_whole_book_builds_with_warnings_as_errors`` (``book/_ext/book_editions.py``
builds it once per source digest under a file lock; a current ``make book`` build is reused).

Without a browser (always run):

* no page, stylesheet or inline style loads anything from outside ``_build/html``: every ``src``/``href`` of a
  script, stylesheet, image, font, frame or media element, and every CSS ``url()``/``@import``, is a relative
  path or ``data:`` (plain ``<a href>`` links to papers are allowed: nothing is fetched until a reader clicks);
* no page displays an ipywidget (the widget manager is deliberately not shipped, so it would show nothing);
* every figure PNG is a real picture (not blank);
* every chapter page offers its executed notebook (``_sources/<chapter>.ipynb``) in the download menu; every
  such notebook is valid nbformat 4 for the ``python3`` kernel with its outputs and reads no data file that lives
  next to its source in ``book/`` (the download is the notebook alone); and one chapter, downloaded into an empty
  folder, runs top to bottom in a fresh kernel (nbclient) and draws the same figures.

In headless Chromium (skipped, with the install command, only when no Chromium is installed), every page is
opened from ``file://`` while every request that would leave the machine (http, https, ws, ftp) is failed
before it is sent and recorded; then:

* no JavaScript exception, console error or failed load, and every stylesheet loaded;
* nothing was requested from outside (and every resource the page loaded is a local file);
* MathJax finished and every math element is typeset, without TeX errors or undefined macros, and no raw TeX
  (``$...$``, ``\\(``, ``$$``, ``\\macro``) is left in the page's text outside code;
* every image has loaded with a non-zero size, every figure has its image, and every figure named in the
  source (``name: fig-...``) is on its page;
* every theorem-like, algorithm, exercise and solution block of the source is rendered on its page (the
  sphinx-proof / sphinx-exercise classes, a numbered title, the extensions' stylesheets), and the blocks not
  inside a collapsed dropdown are visible;
* no display equation (``mjx-container[display]``) or code block (``pre``) is wider than its box (a horizontal
  scrollbar hiding part of it): ``book/_static`` wraps code and scales wide equations to fit;
* every internal link points to an existing file and anchor;
* the execution-status page lists every chapter with its run time and a success mark;
* the search page finds a word of the book, offline;
* a screenshot of every page (and of a figure and a theorem-like block of each chapter) is saved under
  ``_build/screenshots/``.

A last test runs the same checks on a deliberately broken page, to show that each check can fail.
Chromium is driven through the Chrome DevTools Protocol over a pipe (``--remote-debugging-pipe``): no Python
package and no chromedriver are needed. Set ``CHROMIUM=/path/to/chromium`` to choose the browser.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
import yaml

from tests.fixtures import book_extension

ROOT = Path(__file__).resolve().parents[2]
book_editions = book_extension("book_editions")  # book/_ext/book_editions.py

SCREENSHOTS = ROOT / "_build" / "screenshots"
SEARCH_WORD = "advantage"

# Every test here needs the executed book: `chapter` (deselected by `make test-fast`). Under pytest-xdist the
# workers share the one build (a file lock in book_editions) and the one browser pass (`visits`).
pytestmark = pytest.mark.chapter


# ==========================================================================================================
# Chromium over the DevTools protocol

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
INSTALL_HINT = (
    "install it (Debian/Ubuntu: `sudo apt-get install chromium`; .ci/run does this in CI) or set "
    "CHROMIUM=/path/to/chromium"
)


def find_chromium() -> str | None:
    """$CHROMIUM, else the first of chromium / chromium-browser / google-chrome found on PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else shutil.which(explicit)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    pass


LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
# requests that would leave the machine: paused by the browser and failed by Tab._event
REMOTE_PATTERNS = ("http://*", "https://*", "ws://*", "wss://*", "ftp://*")


class Chromium:
    """Headless Chromium driven through the Chrome DevTools Protocol over a pipe (``--remote-debugging-pipe``:
    commands on the child's fd 3, replies and events on its fd 4, JSON messages ending in a NUL byte)."""

    def __init__(self, executable: str, width: int = 1280, height: int = 900, timeout: float = 60.0):
        self.timeout, self.width, self.height = timeout, width, height
        self.profile = tempfile.mkdtemp(prefix="mappo-lite-chromium-")
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()

        def as_fds_3_and_4():  # in the child, before exec; dup first so the copies are inheritable
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [
            executable,
            "--headless",
            "--remote-debugging-pipe",
            f"--user-data-dir={self.profile}",
            "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--mute-audio",
            "--hide-scrollbars",
            "--force-color-profile=srgb",
            "--lang=en-US",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            preexec_fn=as_fds_3_and_4,
            close_fds=False,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._out = os.fdopen(to_child_w, "wb", buffering=0)
        self._in = os.fdopen(from_child_r, "rb", buffering=0)
        self._write_lock = threading.Lock()
        self._next_id = 0
        self._replies: dict[int, queue.Queue] = {}
        self._tabs: dict[str, Tab] = {}
        threading.Thread(target=self._read_loop, daemon=True).start()
        try:
            self.version = self.send("Browser.getVersion", timeout=30)["product"]
        except BrowserError as err:
            self.close()
            raise BrowserError(f"{executable} did not start: {err}\n{self.stderr_text()[-2000:]}") from None

    def stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def _read_loop(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = self._in.read(1 << 16)
            except (OSError, ValueError):
                chunk = b""
            if not chunk:
                for q in list(self._replies.values()):
                    q.put({"error": {"message": "Chromium closed the connection"}})
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    q = self._replies.pop(message["id"], None)
                    if q is not None:
                        q.put(message)
                else:
                    tab = self._tabs.get(message.get("sessionId", ""))
                    if tab is not None:
                        tab._event(message["method"], message.get("params", {}))

    def send(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float | None = None,
        wait: bool = True,
    ):
        q: queue.Queue = queue.Queue()
        with self._write_lock:
            self._next_id += 1
            message = {"id": self._next_id, "method": method, "params": params or {}}
            if session:
                message["sessionId"] = session
            if wait:
                self._replies[self._next_id] = q
            try:
                self._out.write(json.dumps(message).encode() + b"\0")
            except (BrokenPipeError, ValueError):
                raise BrowserError(f"{method}: Chromium is gone") from None
        if not wait:
            return None
        try:
            reply = q.get(timeout=timeout or self.timeout)
        except queue.Empty:
            raise BrowserError(f"no reply to {method} within {timeout or self.timeout} s") from None
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply["result"]

    def new_tab(self) -> Tab:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        tab = Tab(self, session)
        self._tabs[session] = tab
        tab._setup()
        return tab

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("Browser.close", timeout=10)
            except BrowserError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for handle in (self._out, self._in):
            try:
                handle.close()
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)


class Tab:
    """One page: records blocked requests and errors since the last `goto`."""

    def __init__(self, browser: Chromium, session: str):
        self.browser, self.session = browser, session
        self._cond = threading.Condition()
        self._loads = 0
        self.errors: list[str] = []
        self.blocked: list[str] = []

    def send(self, method, params=None, **kw):
        return self.browser.send(method, params, session=self.session, **kw)

    def _setup(self):
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Fetch.enable", {"patterns": [{"urlPattern": p, "requestStage": "Request"} for p in REMOTE_PATTERNS]})
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.browser.width, "height": self.browser.height, "deviceScaleFactor": 1, "mobile": False},
        )

    def _event(self, method: str, params: dict) -> None:  # on the reader thread: never wait for a reply here
        if method == "Fetch.requestPaused":
            with self._cond:
                self.blocked.append(params["request"]["url"])
            self.browser.send(
                "Fetch.failRequest",
                {"requestId": params["requestId"], "errorReason": "BlockedByClient"},
                session=self.session,
                wait=False,
            )
        elif method == "Page.loadEventFired":
            with self._cond:
                self._loads += 1
                self._cond.notify_all()
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = (details.get("exception") or {}).get("description") or details.get("text", "")
            with self._cond:
                self.errors.append(
                    f"uncaught exception ({details.get('url', '')}:{details.get('lineNumber', '?')}): "
                    f"{text.splitlines()[0] if text else ''}"
                )
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            with self._cond:
                self.errors.append(f"console.{params['type']}: {text}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            url = entry.get("url", "")
            with self._cond:
                if url and url in self.blocked:
                    return  # already recorded as a blocked request
                self.errors.append(f"{entry.get('source', 'log')} error: {entry.get('text', '')} {url}".strip())

    def goto(self, url: str, loads: int = 1, timeout: float = 60.0) -> None:
        """Open `url` and wait for `loads` load events (2 for a page that redirects to another)."""
        with self._cond:
            self.errors, self.blocked = [], []
            start = self._loads
        reply = self.send("Page.navigate", {"url": url})
        if reply.get("errorText"):
            raise BrowserError(f"cannot open {url}: {reply['errorText']}")
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._loads < start + loads:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BrowserError(f"{url} did not finish loading within {timeout} s")
                self._cond.wait(left)

    def evaluate(self, expression: str, timeout: float = 60.0):
        reply = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True, "timeout": int(timeout * 1000)},
            timeout=timeout + 10,
        )
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            raise BrowserError((details.get("exception") or {}).get("description") or details.get("text"))
        return reply["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


# ==========================================================================================================
# what the browser reads from a page

COLLECT_JS = r"""
(async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const within = (p, ms) => Promise.race([p, sleep(ms).then(() => 'timeout')]);
  let mathjax = 'absent';
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    mathjax = await within(MathJax.startup.promise.then(() => 'done', e => 'failed: ' + e), 30000);
  } else if (document.querySelector('script[src*="mathjax" i]')) {
    mathjax = 'not started';
  }
  await within(Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); }))), 20000);
  await within(document.fonts.ready, 10000);
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  // the reader-visible prose: text outside code, math and scripts
  const skip = 'script, style, pre, code, .highlight, mjx-container, .math, textarea, noscript, template';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const prose = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (el && !el.closest(skip) && n.nodeValue.trim()) prose.push(n.nodeValue.trim());
  }
  const collapsed = el => !!(el.parentElement && el.parentElement.closest(
      'details:not([open]), .toggle-hidden, .dropdown:not(.toggle-shown), [hidden]'));
  const red = e => { const c = getComputedStyle(e).color; return c === 'rgb(255, 0, 0)' || c === 'red'; };
  return {
    url: location.href,
    title: document.title,
    mathjax,
    math: [...document.querySelectorAll('.math')].map(el => ({
      tex: el.textContent.trim().slice(0, 160),
      typeset: !!el.querySelector('mjx-container'),
      errors: [...el.querySelectorAll('mjx-merror, [data-mjx-error]')].map(e => e.getAttribute('data-mjx-error') || e.textContent),
      undefined_macros: [...el.querySelectorAll('mjx-mtext, mjx-mi, mjx-mo')].filter(red).map(e => e.textContent),
    })),
    prose: prose.join('\n'),
    images: [...document.images].map(img => ({src: img.currentSrc || img.src, complete: img.complete,
                                              w: img.naturalWidth, h: img.naturalHeight})),
    figures: [...document.querySelectorAll('figure')].map(f => ({id: f.id,
        imgs: [...f.querySelectorAll('img')].map(i => i.naturalWidth * i.naturalHeight),
        caption: ((f.querySelector('figcaption') || {}).textContent || '').trim()})),
    blocks: [...document.querySelectorAll('div.proof, div.exercise, div.solution')].map(el => {
      const r = el.getBoundingClientRect();
      const title = el.querySelector('.admonition-title');
      return {classes: [...el.classList], id: el.id, title: title ? title.textContent.trim() : '',
              width: r.width, height: r.height, collapsed: collapsed(el)};
    }),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id)
         .concat([...document.querySelectorAll('a[name]')].map(a => a.name)),
    stylesheets: [...document.querySelectorAll('link[rel~="stylesheet"]')].map(l => ({href: l.href, loaded: !!l.sheet})),
    resources: performance.getEntriesByType('resource').map(e => e.name),
    downloads: [...document.querySelectorAll('a[href$=".ipynb"]')].map(a => a.href),
    // wider than its own box (a scrollbar, content hidden) or than the box it sits in
    overflow: [...document.querySelectorAll('mjx-container[display], pre')].filter(el => {
      if (collapsed(el) || el.clientWidth === 0) return false;
      const parent = el.parentElement;
      return el.scrollWidth > el.clientWidth + 1 || (parent && parent.clientWidth > 0 &&
          el.getBoundingClientRect().width > parent.getBoundingClientRect().width + 1);
    }).map(el => ({tag: el.tagName.toLowerCase(), scroll: el.scrollWidth, client: el.clientWidth,
                   text: (el.closest('.math') || el).textContent.trim().slice(0, 100)})),
    tables: [...document.querySelectorAll('table')].map(t => [...t.rows].map(r => [...r.cells].map(c => c.innerText.trim()))),
  };
})()
"""

SCROLL_TO_JS = r"""
(async (selector) => {
  const el = document.querySelector(selector);
  if (!el) return false;
  el.scrollIntoView({block: 'center'});
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return true;
})(%s)
"""

SEARCH_RESULTS_JS = r"""
(async () => {
  for (let i = 0; i < 100; i++) {
    const items = document.querySelectorAll('#search-results li');
    if (items.length) return [...items].map(li => (li.querySelector('a') || {}).href || '');
    await new Promise(r => setTimeout(r, 100));
  }
  return [];
})()
"""


def visit(tab: Tab, path: Path, html_root: Path) -> dict:
    """Open one page and return what COLLECT_JS read from it, plus the errors and blocked requests."""
    redirect = re.search(r"""http-equiv=["']?refresh""", path.read_text(encoding="utf8"), flags=re.I) is not None
    tab.goto(path.as_uri(), loads=2 if redirect else 1)
    report = tab.evaluate(COLLECT_JS)
    report["page"] = path.relative_to(html_root).as_posix()
    report["errors"] = list(tab.errors)
    report["blocked"] = list(tab.blocked)
    return report


def shot_name(page: str, suffix: str = "") -> str:
    return page.removesuffix(".html").replace("/", "__") + (f"--{suffix}" if suffix else "") + ".png"


# ==========================================================================================================
# the checks: each returns a list of problems (empty = fine); the same functions check the book and the broken page

RAW_TEX = [
    (re.compile(r"\\[()\[\]]"), "a TeX delimiter \\( \\) \\[ \\]"),
    (re.compile(r"\$\$"), "$$"),
    (re.compile(r"\$[^$\n]*[\\^_{}][^$\n]*\$"), "$...$ around TeX"),
    (re.compile(r"\\(?:begin|end)\{"), "\\begin{...}"),
    (re.compile(r"\\[A-Za-z]{2,}"), "a TeX macro"),
]


def problems_javascript(report: dict) -> list[str]:
    found = list(report["errors"])
    found += [f"stylesheet did not load: {s['href']}" for s in report["stylesheets"] if not s["loaded"]]
    return found


def problems_outside(report: dict) -> list[str]:
    found = [f"requested (and blocked): {url}" for url in report["blocked"]]
    found += [f"loaded from outside: {url}" for url in report["resources"] if not url.startswith(LOCAL_SCHEMES)]
    return found


def problems_math(report: dict) -> list[str]:
    found = []
    math = report["math"]
    if math and report["mathjax"] != "done":
        found.append(f"MathJax did not finish ({report['mathjax']}) on a page with {len(math)} math elements")
    for m in math:
        if not m["typeset"]:
            found.append(f"not typeset: {m['tex']!r}")
        for error in m["errors"]:
            found.append(f"TeX error {error!r} in {m['tex']!r}")
        for macro in m["undefined_macros"]:
            found.append(f"undefined macro {macro!r} in {m['tex']!r}")
    for pattern, what in RAW_TEX:
        for match in pattern.finditer(report["prose"]):
            context = report["prose"][max(0, match.start() - 40) : match.end() + 40].replace("\n", " ")
            found.append(f"raw TeX ({what}) in the text: ...{context}...")
    return found


def problems_overflow(report: dict) -> list[str]:
    return [
        f"{o['tag']} overflows its box ({o['scroll']} px of content in {o['client']} px): {o['text']!r}"
        for o in report["overflow"]
    ]


def problems_images(report: dict, expected_figures: list[str] = ()) -> list[str]:
    found = [
        f"image not shown: {img['src']} (complete={img['complete']}, {img['w']}x{img['h']})"
        for img in report["images"]
        if not (img["complete"] and img["w"] > 0 and img["h"] > 0)
    ]
    for fig in report["figures"]:
        if not fig["imgs"] or not all(fig["imgs"]):
            found.append(f"figure {fig['id'] or fig['caption'][:60]!r} has no visible image")
    ids = {fig["id"] for fig in report["figures"]}
    found += [f"figure {name!r} of the source is not on the page" for name in expected_figures if name not in ids]
    return found


BLOCK_TITLES = {"exercise": "Exercise", "solution": "Solution to"}


def block_kind(classes: list[str]) -> str:
    if "exercise" in classes:
        return "exercise"
    if "solution" in classes:
        return "solution"
    kinds = [
        c for c in classes if c not in ("proof", "admonition", "dropdown", "toggle", "toggle-hidden", "toggle-shown")
    ]
    return f"prf:{kinds[0]}" if kinds else "prf:proof"


def problems_blocks(report: dict, expected: dict[str, int]) -> list[str]:
    found = []
    rendered: dict[str, int] = {}
    for block in report["blocks"]:
        kind = block_kind(block["classes"])
        rendered[kind] = rendered.get(kind, 0) + 1
        if kind != "prf:proof":
            name = BLOCK_TITLES.get(kind, kind.removeprefix("prf:").capitalize())
            if not re.match(rf"{re.escape(name)}\b.*\d", block["title"]):
                found.append(f"{kind} block {block['id']!r} has no numbered title (title: {block['title']!r})")
        if not block["collapsed"] and (block["width"] <= 0 or block["height"] <= 0):
            found.append(f"{kind} block {block['id']!r} is not visible")
    for kind in sorted(set(expected) | set(rendered)):
        if expected.get(kind, 0) != rendered.get(kind, 0):
            found.append(f"{kind}: {expected.get(kind, 0)} in the source, {rendered.get(kind, 0)} rendered")
    sheets = " ".join(s["href"] for s in report["stylesheets"] if s["loaded"])
    if any(k.startswith("prf:") for k in rendered) and "proof.css" not in sheets:
        found.append("sphinx-proof's stylesheet (proof.css) is not loaded")
    if any(k in ("exercise", "solution") for k in rendered) and "exercise.css" not in sheets:
        found.append("sphinx-exercise's stylesheet (exercise.css) is not loaded")
    return found


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key == "id" or (tag == "a" and key == "name"):
                self.ids.add(value or "")


def html_ids(path: Path) -> set[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf8", errors="replace"))
    return parser.ids


def problems_links(reports: list[dict], html_root: Path) -> list[str]:
    """Every file:// link of every page points to an existing file, and its #fragment to an id there."""
    ids_by_path = {Path(unquote(urlsplit(r["url"]).path)).resolve(): set(r["ids"]) for r in reports}
    found = []
    for report in reports:
        for href in sorted(set(report["links"])):
            parts = urlsplit(href)
            if parts.scheme != "file":
                continue
            target = Path(unquote(parts.path))
            if not target.exists():
                found.append(f"{report['page']}: link to a missing file: {href}")
                continue
            if target.is_dir():
                target = target / "index.html"
            if parts.fragment and target.suffix == ".html":
                resolved = target.resolve()
                if resolved not in ids_by_path:
                    ids_by_path[resolved] = html_ids(resolved)
                if unquote(parts.fragment) not in ids_by_path[resolved]:
                    found.append(f"{report['page']}: link to a missing anchor: {href}")
    return found


# ==========================================================================================================
# the sources: what each page must show


def toc_docs() -> list[str]:
    return book_editions.toc_docs(ROOT)


def source_of(doc: str) -> Path:
    for suffix in (".md", ".ipynb"):
        if (ROOT / f"{doc}{suffix}").is_file():
            return ROOT / f"{doc}{suffix}"
    raise FileNotFoundError(doc)


def notebook_docs() -> list[str]:
    """The toc's notebook pages (MyST markdown with a kernelspec, or .ipynb)."""
    out = []
    for doc in toc_docs():
        path = source_of(doc)
        text = path.read_text(encoding="utf8")
        if path.suffix == ".ipynb" or re.match(r"---\s*\n(?:.*\n)*?kernelspec:", text):
            out.append(doc)
    return out


def chapter_docs() -> list[str]:
    """Notebook pages in a numbered part of the toc (the chapters)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))
    numbered = []
    for part in toc.get("parts", []):
        if part.get("numbered"):
            numbered += [
                str(Path(c["file"]).with_suffix("")) if Path(c["file"]).suffix else c["file"]
                for c in part.get("chapters", [])
            ]
    notebooks = set(notebook_docs())
    return [doc for doc in numbered if doc in notebooks]


_DIRECTIVE = re.compile(r"^(?:`{3,}|:{3,})\{(prf:[a-z]+|exercise|solution|solution-start)\}", re.M)
_FIGURE_NAME = re.compile(r"^:?\s*:?name:\s*(fig-[A-Za-z0-9_.-]+)", re.M)


def expected_blocks(doc: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in _DIRECTIVE.findall(source_of(doc).read_text(encoding="utf8")):
        kind = "solution" if name.startswith("solution") else name
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def expected_figures(doc: str) -> list[str]:
    """The HTML ids of the figures named in the source (docutils lower-cases names into ids)."""
    from docutils.nodes import make_id

    return [make_id(name) for name in _FIGURE_NAME.findall(source_of(doc).read_text(encoding="utf8"))]


def html_pages(html_root: Path) -> list[Path]:
    return sorted(
        p
        for p in html_root.rglob("*.html")
        if not any(part.startswith(("_", ".")) for part in p.relative_to(html_root).parts)
    )


# ==========================================================================================================
# fixtures


@pytest.fixture(scope="module")
def book() -> Path:
    """`_build/html`, built like `make book` unless a build of the same sources is already there."""
    result = book_editions.build_book(ROOT)
    if not result.ok:
        pytest.fail(
            "the book did not build, so its pages cannot be checked "
            "(see test_book.py::test_whole_book_builds_with_warnings_as_errors):\n" + "\n".join(result.problems()[:30]),
            pytrace=False,
        )
    return result.html


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(f"no Chromium found, so the book is not checked in a browser: {INSTALL_HINT}")
    return path


@pytest.fixture(scope="module")
def browser(chromium_path):
    chromium = Chromium(chromium_path)
    yield chromium
    chromium.close()


def visit_every_page(book: Path, browser: Chromium) -> dict[str, dict]:
    """Every page of the book opened in Chromium (screenshots saved on the way), by path relative to the book."""
    # overwritten page by page, never cleared: the slide and JupyterLab tests save theirs in the same folder, and
    # with two pytest workers clearing it could delete theirs after they were saved
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab = browser.new_tab()
    chapters = {f"{doc}.html" for doc in chapter_docs()}
    reports = {}
    for path in html_pages(book):
        report = visit(tab, path, book)
        page = report["page"]
        report["screenshots"] = [str(tab.screenshot(SCREENSHOTS / shot_name(page)))]
        if page in chapters:  # a figure and a theorem-like block, as a reader sees them
            for suffix, selector in (
                ("figure", "figure img"),
                ("block", "div.proof.theorem, div.proof.definition, div.proof.algorithm, div.proof.lemma"),
            ):
                if tab.evaluate(SCROLL_TO_JS % json.dumps(selector)):
                    report["screenshots"].append(str(tab.screenshot(SCREENSHOTS / shot_name(page, suffix))))
        reports[page] = report
    return reports


@pytest.fixture(scope="module")
def visits(book, browser) -> dict[str, dict]:
    """`visit_every_page`, once per test run: pytest-xdist workers that both need it share one browser pass
    (under a lock, through a file tagged with the run's id), so the screenshots are written by one of them."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        return visit_every_page(book, browser)
    shared = book.parent / ".browser-visits.json"
    with book_editions.locked(book.parent / ".browser-visits.lock"):
        try:
            saved = json.loads(shared.read_text(encoding="utf8"))
        except (OSError, ValueError):
            saved = {}
        if saved.get("run") == run and saved.get("book") == str(book):
            return saved["reports"]
        reports = visit_every_page(book, browser)
        shared.write_text(json.dumps({"run": run, "book": str(book), "reports": reports}), encoding="utf8")
        return reports


def fail_if(problems: dict[str, list[str]], what: str) -> None:
    problems = {page: found for page, found in problems.items() if found}
    if problems:
        lines = [
            f"{page}:\n    "
            + "\n    ".join(found[:12])
            + (f"\n    ... and {len(found) - 12} more" if len(found) > 12 else "")
            for page, found in problems.items()
        ]
        pytest.fail(f"{what}:\n" + "\n".join(lines), pytrace=False)


# ==========================================================================================================
# without a browser


RESOURCE_ATTRS = {  # tag -> attributes whose URL the browser fetches when it shows the page
    "script": ("src",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "input": ("src",),
    "image": ("href", "xlink:href"),
    "use": ("href", "xlink:href"),
}
FETCHED_LINK_RELS = {
    "stylesheet",
    "preload",
    "modulepreload",
    "prefetch",
    "icon",
    "shortcut",
    "apple-touch-icon",
    "manifest",
    "mask-icon",
    "preconnect",
    "dns-prefetch",
}
_CSS_REMOTE = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])\s*((?:https?:)?//[^'")\s]+)""", re.I)
_REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.I)  # http://, https://, //host (not data:, not relative)


class _Resources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.remote: list[str] = []
        self.widget_views = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        urls = [attrs.get(a) for a in RESOURCE_ATTRS.get(tag, ())]
        if tag == "link" and FETCHED_LINK_RELS.intersection((attrs.get("rel") or "").lower().split()):
            urls.append(attrs.get("href"))
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            urls.append((attrs.get("content") or "").lower().partition("url=")[2] or None)
        for url in filter(None, urls):
            for candidate in re.split(r",\s+", url) if "srcset" in attrs and url == attrs.get("srcset") else [url]:
                if _REMOTE.match(candidate) and not candidate.strip().lower().startswith("file:"):
                    self.remote.append(f"<{tag}> {candidate.strip()}")
        if attrs.get("style"):
            self.remote += [f"style attribute: {m}" for m in _CSS_REMOTE.findall(attrs["style"])]
        if tag == "script" and attrs.get("type") == "application/vnd.jupyter.widget-view+json":
            self.widget_views += 1

    def handle_data(self, data):
        if self.lasttag == "style":
            self.remote += [f"<style>: {m}" for m in _CSS_REMOTE.findall(data)]


def test_no_page_loads_anything_from_outside_the_book(book):
    problems = {}
    for path in html_pages(book):
        parser = _Resources()
        parser.feed(path.read_text(encoding="utf8"))
        problems[path.relative_to(book).as_posix()] = parser.remote
    for css in sorted(book.rglob("*.css")):
        problems[css.relative_to(book).as_posix()] = [
            f"CSS: {m}" for m in _CSS_REMOTE.findall(css.read_text(encoding="utf8", errors="replace"))
        ]
    fail_if(problems, "resources loaded from outside _build/html (they would not load offline)")


def test_no_page_displays_a_widget(book):
    """The ipywidgets manager is not shipped (nb_ipywidgets_js: {}): a widget output would show nothing."""
    shown = {}
    for path in html_pages(book):
        parser = _Resources()
        parser.feed(path.read_text(encoding="utf8"))
        if parser.widget_views:
            shown[path.relative_to(book).as_posix()] = [
                f"{parser.widget_views} widget output(s): tag the interact(...) cell `remove-output`"
            ]
    fail_if(shown, "pages that display ipywidgets (they cannot work in a static page)")


def test_figure_images_are_not_blank(book):
    from matplotlib.image import imread

    blank = {}
    pngs = sorted((book / "_images").glob("*.png")) if (book / "_images").is_dir() else []
    for png in pngs:
        pixels = imread(png)
        if pixels.size == 0 or float(pixels.std()) == 0.0:
            blank[png.name] = ["a blank image"]
    fail_if(blank, "blank figure images")


def test_every_chapter_page_offers_its_notebook(book):
    docs = notebook_docs()
    assert docs, "no notebook pages in _toc.yml"
    missing = {}
    for doc in docs:
        page = book / f"{doc}.html"
        html = page.read_text(encoding="utf8")
        download = book / "_sources" / f"{doc}.ipynb"
        found = []
        if not re.search(
            rf'<a href="[^"]*_sources/{re.escape(doc)}\.ipynb"[^>]*\s+class="[^"]*btn-download-notebook-button', html
        ):
            found.append(f"no .ipynb entry in the download menu of {page.relative_to(book)}")
        if not download.is_file():
            found.append(f"{download.relative_to(book)} is missing")
        missing[doc] = found
    fail_if(missing, "chapter pages without their notebook download")


def book_data_files() -> set[str]:
    """Names of the files in book/ that are not pages (data a chapter might read next to its source)."""
    folder = ROOT / "book"
    return {
        p.name
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix not in (".md", ".ipynb", ".bib")
        and not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts)
    }


def test_downloaded_notebooks_are_valid(book):
    data_files = book_data_files()
    problems = {}
    for doc in notebook_docs():
        path = book / "_sources" / f"{doc}.ipynb"
        found = []
        nb = nbformat.read(path, as_version=4)
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError as err:
            found.append(f"not valid nbformat: {err.message}")
        if nb.metadata.get("kernelspec", {}).get("name") != "python3":
            found.append(f"kernelspec {nb.metadata.get('kernelspec')!r}, not python3")
        if "formats" in nb.metadata.get("jupytext", {}):
            found.append("paired with a text file by jupytext metadata (JupyterLab would look for it)")
        code = [c for c in nb.cells if c.cell_type == "code"]
        if code and not any(c.outputs for c in code):
            found.append("not executed (no outputs)")
        for cell in code:
            if any(o.output_type == "error" for o in cell.outputs) and "raises-exception" not in cell.metadata.get(
                "tags", []
            ):
                found.append(f"a cell raised: {cell.source[:80]!r}")
            found += [
                f"reads {name!r} from the book's folder, which the download does not include (a reader's "
                f"copy would fail there): ship the data with mappo_lite or compute it in the notebook"
                for name in sorted(data_files)
                if name in cell.source
            ]
        problems[doc] = found
    fail_if(problems, "downloadable notebooks that JupyterLab would not open or run as they are")


def test_a_downloaded_chapter_runs_in_a_fresh_kernel(book, tmp_path):
    """As a reader would: the first chapter's download, alone in an empty folder, run top to bottom."""
    from nbclient import NotebookClient

    doc = chapter_docs()[0]
    downloaded = nbformat.read(book / "_sources" / f"{doc}.ipynb", as_version=4)
    nb = nbformat.from_dict(json.loads(json.dumps(downloaded)))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    target = tmp_path / Path(doc).with_suffix(".ipynb").name
    nbformat.write(nb, target)
    start = time.perf_counter()
    NotebookClient(
        nb, timeout=300, kernel_name="python3", allow_errors=False, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    seconds = time.perf_counter() - start

    def pictures(notebook):
        return sum("image/png" in o.get("data", {}) for c in notebook.cells if c.cell_type == "code" for o in c.outputs)

    assert pictures(nb) == pictures(downloaded) > 0, (doc, pictures(nb), pictures(downloaded))
    print(f"{doc}: downloaded notebook ran in a fresh kernel in {seconds:.1f} s, {pictures(nb)} figures")


# ==========================================================================================================
# in Chromium


def test_pages_open_without_javascript_errors(visits):
    assert len(visits) >= len(toc_docs())
    fail_if(
        {page: problems_javascript(r) for page, r in visits.items()},
        "JavaScript errors, console errors or files that did not load",
    )


def test_nothing_is_requested_from_outside_the_book(visits):
    fail_if(
        {page: problems_outside(r) for page, r in visits.items()},
        "requests that would need a network (all were blocked)",
    )


def test_every_math_element_is_typeset(visits):
    total = sum(len(r["math"]) for r in visits.values())
    assert total > 0, "no math anywhere in the book?"
    fail_if({page: problems_math(r) for page, r in visits.items()}, "math that a reader would not see typeset")


def test_no_math_or_code_overflows_its_box(visits):
    """No display equation or code block is clipped behind a horizontal scrollbar (book/_static fits them)."""
    fail_if({page: problems_overflow(r) for page, r in visits.items()}, "math or code wider than its box")


def test_every_figure_image_is_shown(visits):
    expected = {f"{doc}.html": expected_figures(doc) for doc in toc_docs()}
    assert any(expected.values()), "no named figures in the sources?"
    fail_if(
        {page: problems_images(r, expected.get(page, [])) for page, r in visits.items()},
        "images or figures that a reader would not see",
    )


def test_theorem_algorithm_and_exercise_blocks_are_rendered(visits):
    expected = {f"{doc}.html": expected_blocks(doc) for doc in toc_docs()}
    assert any(expected.values()), "no prf:/exercise blocks in the sources?"
    fail_if(
        {page: problems_blocks(r, expected.get(page, {})) for page, r in visits.items()},
        "theorem-like, algorithm, exercise or solution blocks not rendered as in the source",
    )


def test_internal_links_resolve(visits, book):
    problems = problems_links(list(visits.values()), book)
    assert not problems, "broken internal links:\n" + "\n".join(problems[:40])
    assert sum(len(r["links"]) for r in visits.values()) > 100


def test_chapter_pages_show_the_notebook_download_button(visits):
    missing = {}
    for doc in notebook_docs():
        report = visits[f"{doc}.html"]
        targets = [Path(unquote(urlsplit(h).path)) for h in report["downloads"] if h.startswith("file:")]
        ok = any(t.as_posix().endswith(f"/_sources/{doc}.ipynb") and t.is_file() for t in targets)
        missing[f"{doc}.html"] = (
            [] if ok else [f"no link to an existing _sources/{doc}.ipynb among {report['downloads']}"]
        )
    fail_if(missing, "pages without their .ipynb download")


def test_execution_status_page_lists_every_chapter(visits):
    report = next(
        (
            r
            for page, r in visits.items()
            if any(t and t[0][:5] == ["Document", "Modified", "Method", "Run Time (s)", "Status"] for t in r["tables"])
        ),
        None,
    )
    assert report is not None, "no page shows the execution table ({nb-exec-table})"
    table = next(
        t for t in report["tables"] if t and t[0][:5] == ["Document", "Modified", "Method", "Run Time (s)", "Status"]
    )
    rows = {row[0]: row for row in table[1:]}
    problems = []
    for doc in notebook_docs():
        row = rows.get(doc)
        if row is None:
            problems.append(f"{doc}: not in the table")
            continue
        try:
            seconds = float(row[3])
        except ValueError:
            seconds = -1.0
        if not seconds > 0:
            problems.append(f"{doc}: run time {row[3]!r}")
        if row[4] != "\u2705":
            problems.append(f"{doc}: status {row[4]!r} (not \u2705)")
    assert not problems, f"{report['page']}:\n" + "\n".join(problems)
    print("\n".join(f"{r[0]}: {r[3]} s {r[4]}" for r in table[1:]))


def test_search_works_offline(book, browser):
    tab = browser.new_tab()
    tab.goto((book / "search.html").as_uri() + f"?q={SEARCH_WORD}")
    results = tab.evaluate(SEARCH_RESULTS_JS)
    assert results, f"searching for {SEARCH_WORD!r} on search.html found nothing (errors: {tab.errors})"
    assert not tab.errors and not tab.blocked, (tab.errors, tab.blocked)


def test_screenshots_are_saved(visits):
    from matplotlib.image import imread

    shots = [Path(s) for r in visits.values() for s in r["screenshots"]]
    assert len(shots) >= 2
    for shot in shots:
        pixels = imread(shot)
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100 and float(pixels.std()) > 0.01, shot
    print(f"{len(shots)} screenshots in {SCREENSHOTS}")


# ----------------------------------------------------------------------------------------------------------
# the checks themselves, on a page with one defect of each kind

BROKEN_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>broken</title>
<link rel="stylesheet" href="https://fonts.example.invalid/font.css">
<link rel="stylesheet" href="missing.css">
<script>window.MathJax = {tex: {macros: {R: '\\\\mathbb{R}'}}, options: {processHtmlClass: 'math'}};</script>
<script defer src="%(mathjax)s"></script>
<script>throw new Error("boom");</script>
</head><body>
<p>Good: <span class="math notranslate nohighlight">\\(x \\in \\R\\)</span>.
   Undefined macro: <span class="math notranslate nohighlight">\\(\\nosuchmacro x\\)</span>.
   Raw: $x^2$ and \\alpha.</p>
<figure id="fig-good"><img src="good.png"><figcaption>good</figcaption></figure>
<figure id="fig-bad"><img src="missing.png"><figcaption>bad</figcaption></figure>
<div class="proof theorem admonition" id="thm-x"><p class="admonition-title">Theorem 1</p><p>ok</p></div>
<div style="width: 200px"><span class="math notranslate nohighlight">\\[\\sum_{i=1}^{n} a_i b_i c_i d_i e_i f_i g_i h_i
  + \\sum_{j=1}^{n} a_j b_j c_j d_j e_j f_j g_j h_j + \\sum_{k=1}^{n} a_k b_k c_k d_k e_k f_k g_k h_k\\]</span>
<pre style="white-space: pre; overflow-x: auto">a_very_long_line_of_code_that_does_not_fit = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]</pre></div>
<pre>short</pre>
<a href="page.html#nowhere">bad anchor</a> <a href="gone.html">bad file</a> <a href="page.html#thm-x">good</a>
<script src="https://cdn.example.invalid/lib.js"></script>
</body></html>
"""


def test_the_checks_catch_a_broken_page(book, browser, tmp_path):
    from matplotlib.figure import Figure

    mathjax = book / "_static" / "mathjax" / "tex-chtml.js"
    assert mathjax.is_file(), "MathJax is not bundled in the book (sphinx-mathjax-offline)"
    page = tmp_path / "page.html"
    page.write_text(BROKEN_PAGE % {"mathjax": mathjax.as_uri()}, encoding="utf8")
    fig = Figure(figsize=(2, 1))
    fig.subplots().plot([0, 1], [0, 1])
    fig.savefig(tmp_path / "good.png")

    report = visit(browser.new_tab(), page, tmp_path)

    js = problems_javascript(report)
    assert any("boom" in p for p in js) and any("missing.css" in p for p in js), js
    outside = problems_outside(report)
    assert any("fonts.example.invalid" in p for p in outside) and any("cdn.example.invalid" in p for p in outside), (
        outside
    )
    math = problems_math(report)
    assert any("nosuchmacro" in p for p in math), math
    assert any("$x^2$" in p for p in math) and any("\\alpha" in p for p in math), math
    assert not any("x \\in \\R" in p for p in math), math  # the good formula passes
    overflow = problems_overflow(report)
    assert len(overflow) == 2, overflow
    assert any(p.startswith("mjx-container") for p in overflow) and any("a_very_long_line" in p for p in overflow)
    images = problems_images(report, ["fig-good", "fig-bad", "fig-absent"])
    assert any("missing.png" in p for p in images) and any("fig-absent" in p for p in images), images
    assert not any("good.png" in p for p in images), images
    blocks = problems_blocks(report, {"prf:theorem": 1, "exercise": 1})
    assert blocks == ["exercise: 1 in the source, 0 rendered", "sphinx-proof's stylesheet (proof.css) is not loaded"], (
        blocks
    )
    links = problems_links([report], tmp_path)
    assert len(links) == 2 and any("#nowhere" in p for p in links) and any("gone.html" in p for p in links), links
    parser = _Resources()
    parser.feed(page.read_text(encoding="utf8"))
    assert len(parser.remote) == 2, parser.remote
