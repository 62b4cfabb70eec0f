"""Lecture slides: one reveal.js deck per chapter, cut out of the built book (``make slides``).

**Where a deck comes from.** The book's build (``make book``: every chapter executed once, references resolved,
figures drawn by the library) is the one source: this script reads each numbered chapter's page,
``_build/html/book/<chapter>.html``, and puts its *slide elements* on slides of their own, in reading order,
each titled with the section it stands in (the chapter title makes the title slide). Nothing is executed again
and no second Sphinx build is run, so numbers ("Theorem 7.1", "Fig. 6.2"), math and figures are exactly the book's.
The book is built first when it is missing or out of date (its stamp, ``book_editions.py``).

**The selection rule** (:func:`slide_kind`), read from markup in the chapter sources:

- every statement block of sphinx-proof (``prf:definition``, ``theorem``, ``lemma``, ``proposition``,
  ``corollary``, ``assumption``, ``algorithm``, ...; not ``prf:proof``, ``remark``, ``example``);
- every ``exercise`` and (instructors' edition only) every ``solution`` of sphinx-exercise;
- every code cell with an image in its outputs (the chapter's figures): the figure only, not the code;
- opt in: a directive with ``:class: slide`` (e.g. a ``prf:proof``) or a code cell tagged ``slide`` (shown whole,
  code and outputs);
- opt out: a directive with ``:class: no-slide`` or a code cell tagged ``no-slide``.

**Editions.** ``_build/slides/<chapter>.html`` (instructors) and ``_build/slides/student/<chapter>.html``
(students: every solution block removed before the selection, so no solution slide and no solution inside another
slide; their links lead to the student edition of the book, ``make book-student``).

**Assets, offline.** reveal.js is the copy bundled by ``sphinx-revealjs`` (pinned in requirements.txt); MathJax,
its macros and the sphinx-proof / sphinx-exercise / pygments stylesheets are the book's own (``_build/html/_static``,
MathJax from ``sphinx-mathjax-offline``). ``slides_static/slides.js`` waits for MathJax and the images, shrinks a
slide whose content would not fit the 1280x720 frame (down to ``MIN_SCALE``), then starts reveal.js. Headless
Chromium (Playwright, the system ``/usr/bin/chromium``) prints each deck's print view (``?print-pdf``) to
``<chapter>.pdf`` next to it, one page per slide.

``python book/_ext/slides.py rise book/<chapter>.md`` writes ``book/<chapter>.ipynb`` (git-ignored) with RISE's
slideshow metadata chosen by the same rule, to present the chapter live in JupyterLab with ``jupyterlab-rise``
(book/instructors.md, "Lecture slides").
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import html
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
STATIC = HERE / "slides_static"

# the statement blocks of sphinx-proof that get a slide by default (proofs, remarks and examples are opt-in)
STATEMENT_TYPES = frozenset(
    {
        "definition",
        "theorem",
        "lemma",
        "proposition",
        "corollary",
        "assumption",
        "algorithm",
        "axiom",
        "conjecture",
        "criterion",
        "property",
        "notation",
    }
)
OPT_IN, OPT_OUT = "slide", "no-slide"
EDITIONS = ("instructor", "student")
MIN_SCALE = 0.5  # slides.js shrinks a tall slide at most to this; tests/book/test_slides.py checks that all fit

# reveal.js: a 16:9 frame
REVEAL_CONFIG = {
    "width": 1280,
    "height": 720,
    "margin": 0.05,
    "center": False,
    "hash": True,
    "slideNumber": "c/t",
    "transition": "none",
    "pdfSeparateFragments": False,
    "pdfMaxPagesPerSlide": 1,
}

# the book's stylesheets a deck uses (names under _build/html/_static; mystnb's carries a digest, hence the glob)
BOOK_CSS = ("pygments.css", "proof.css", "exercise.css", "mystnb.*.css")


def revealjs_dir() -> Path:
    """reveal.js as bundled by sphinx-revealjs."""
    import sphinx_revealjs

    return Path(sphinx_revealjs.__file__).parent / "_static" / "revealjs"


# ----------------------------------------------------------------------------------------------------------
# the selection rule


def _classes(el) -> set[str]:
    return set(el.get("class") or [])


def slide_kind(el, edition: str = "instructor") -> str | None:
    """What slide the HTML element `el` of a chapter page makes.

    'block' (the element itself), 'figure' (a code cell's figures only), 'skip' (no slide, and nothing inside is
    searched), None (not a slide element: look inside)."""
    classes = _classes(el)
    if OPT_OUT in classes or f"tag_{OPT_OUT}" in classes:
        return "skip"
    if "solution" in classes:
        return "skip" if edition == "student" else "block"
    if OPT_IN in classes or f"tag_{OPT_IN}" in classes:
        return "block"
    if "proof" in classes and classes & STATEMENT_TYPES:
        return "block"
    if "exercise" in classes:
        return "block"
    if "cell" in classes:
        output = el.select_one(".cell_output")
        return "figure" if output is not None and output.select_one("img") is not None else "skip"
    return None


def _heading(section) -> str:
    h = section.find(re.compile(r"^h[1-6]$"), recursive=False)
    if h is None:
        return ""
    h = copy.copy(h)
    for a in h.select("a.headerlink"):
        a.decompose()
    return h.get_text(" ", strip=True)


def collect_slides(article, edition: str = "instructor") -> list[tuple[str, object]]:
    """(section title, element to show) for each slide of a chapter page, in reading order."""
    from bs4 import Tag

    found: list[tuple[str, object]] = []

    def walk(node, title: str) -> None:
        for child in node.children:
            if not isinstance(child, Tag):
                continue
            if child.name == "section" and "theorem-content" not in _classes(child):
                walk(child, _heading(child) or title)
                continue
            kind = slide_kind(child, edition)
            if kind == "block":
                found.append((title, child))
            elif kind == "figure":
                output = child.select_one(".cell_output")
                figures = output.select("figure") or [img.find_parent("div") or img for img in output.select("img")]
                found.append((title, figures))
            elif kind is None:
                walk(child, title)

    walk(article, "")
    return found


# ----------------------------------------------------------------------------------------------------------
# one deck


def _rewrite_urls(el, stem: str, book_prefix: str, images_prefix: str, images: set[str]) -> None:
    """Links lead to the book's pages (a deck holds only part of a chapter); images come from the decks' own
    _images folder."""
    for a in el.select("a[href]"):
        href = a["href"]
        if re.match(r"^[a-z][a-z0-9+.-]*:", href, re.I) or href.startswith("/"):
            continue
        a["href"] = f"{book_prefix}book/{stem}.html{href}" if href.startswith("#") else f"{book_prefix}book/{href}"
    for img in el.select("img[src]"):
        name = img["src"].rsplit("/", 1)[-1]
        images.add(name)
        img["src"] = images_prefix + name
        if img.get("alt", "").endswith(".png"):
            img["alt"] = "figure"


def _clean(el) -> None:
    """No headerlinks or buttons; dropdowns open; no nested <section> (reveal.js would read it as a slide)."""
    for inner in el.select("section"):
        inner.name = "div"
    for junk in el.select("a.headerlink, button, .copybtn, script"):
        junk.decompose()
    for node in [el, *el.select(".dropdown, .toggle-hidden, details")]:
        node["class"] = [c for c in node.get("class") or [] if c not in ("dropdown", "toggle-hidden", "toggle")]
        if node.name == "details":
            node["open"] = ""


def mathjax_config(page) -> str:
    """The book page's inline MathJax configuration (the book's macros)."""
    for script in page.find_all("script"):
        text = script.string or ""
        if not script.get("src") and "window.MathJax" in text:
            return text
    return "window.MathJax = {};"


def deck_html(root: Path, doc: str, number: int, edition: str, images: set[str]) -> tuple[str, list[dict]]:
    """The reveal.js deck of one chapter and a list describing its slides (kind, title, source id)."""
    from bs4 import BeautifulSoup

    stem = Path(doc).name
    page = BeautifulSoup((root / "_build" / "html" / f"{doc}.html").read_text(encoding="utf8"), "html.parser")
    article = page.select_one("article.bd-article") or page.body
    if edition == "student":
        for solution in article.select("div.solution"):
            solution.decompose()
    top = article.find("section")
    title = _heading(top) if top is not None else stem
    depth = "" if edition == "instructor" else "../"
    book_prefix = f"{depth}../html/" if edition == "instructor" else "../../student/html/"
    slides = collect_slides(article, edition)

    out = []
    info = [{"kind": "title", "title": title, "id": ""}]
    out.append(
        '<section class="slides-title" id="title">'
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="slides-subtitle">mappo-lite, chapter {number}'
        + (" (student edition)" if edition == "student" else "")
        + "</p>"
        f'<p class="slides-book-link"><a href="{book_prefix}book/{stem}.html">Read the chapter in the book</a></p>'
        "</section>"
    )
    for index, (section_title, element) in enumerate(slides, start=1):
        parts = element if isinstance(element, list) else [element]
        body = BeautifulSoup("<div class='slide-body'></div>", "html.parser").div
        for part in parts:
            piece = copy.copy(part)
            _clean(piece)
            _rewrite_urls(piece, stem, book_prefix, f"{depth}_images/", images)
            body.append(piece)
        first = parts[0]
        kind = "figure" if isinstance(element, list) else _kind_name(first)
        info.append({"kind": kind, "title": section_title, "id": first.get("id") or ""})
        out.append(
            f'<section id="slide-{index}" class="slides-element slides-{kind}" data-kind="{kind}">'
            f"<h2>{html.escape(section_title or title)}</h2>{body}</section>"
        )

    static = f"{depth}_static/"
    css = [f"{static}revealjs/dist/reset.css", f"{static}revealjs/dist/reveal.css"]
    css += [f"{static}revealjs/dist/theme/white.css"]
    css += [f"{static}book/{name}" for name in _book_css_names(root)] + [f"{static}slides.css"]
    config = {**REVEAL_CONFIG, "minScale": MIN_SCALE}
    head = "\n".join(f'<link rel="stylesheet" href="{href}">' for href in css)
    document = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} (slides)</title>
{head}
<script>{mathjax_config(page)}</script>
<script>window.SLIDES_CONFIG = {json.dumps(config)};</script>
<script defer src="{static}mathjax/tex-chtml.js"></script>
<script defer src="{static}revealjs/dist/reveal.js"></script>
<script defer src="{static}slides.js"></script>
</head>
<body>
<div class="reveal"><div class="slides">
{chr(10).join(out)}
</div></div>
</body>
</html>
"""
    return document, info


def _kind_name(el) -> str:
    classes = _classes(el)
    if "cell" in classes:
        return "cell"
    if "solution" in classes:
        return "solution"
    if "exercise" in classes:
        return "exercise"
    if "proof" in classes:
        return next(iter(sorted(classes & STATEMENT_TYPES)), "proof")
    return "block"


def _book_css_names(root: Path) -> list[str]:
    static = root / "_build" / "html" / "_static"
    return [p.name for pattern in BOOK_CSS for p in sorted(static.glob(pattern))]


# ----------------------------------------------------------------------------------------------------------
# the driver


def _editions():
    sys.path.insert(0, str(HERE))
    import book_editions

    return book_editions


def chapter_docs(root: Path = ROOT) -> list[str]:
    """The numbered chapters of _toc.yml (the part with `numbered: true`), as 'book/<stem>'."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf8"))
    out = []
    for part in toc.get("parts", []):
        if part.get("numbered"):
            out += [str(Path(c["file"]).with_suffix("")) for c in part.get("chapters", [])]
    return out


def slides_dir(root: Path = ROOT) -> Path:
    return root / "_build" / "slides"


def deck_path(stem: str, edition: str = "instructor", root: Path = ROOT) -> Path:
    base = slides_dir(root) if edition == "instructor" else slides_dir(root) / "student"
    return base / f"{stem}.html"


def manifest_path(root: Path = ROOT) -> Path:
    return slides_dir(root) / "slides.json"


def _copy_static(root: Path, out: Path) -> None:
    static = out / "_static"
    shutil.rmtree(static, ignore_errors=True)
    reveal = revealjs_dir()
    shutil.copytree(reveal / "dist", static / "revealjs" / "dist", ignore=shutil.ignore_patterns("*.map", "*.esm.js"))
    (static / "revealjs" / "LICENSE").write_bytes((reveal / "LICENSE").read_bytes())
    book_static = root / "_build" / "html" / "_static"
    shutil.copytree(book_static / "mathjax", static / "mathjax")
    (static / "book").mkdir()
    for name in _book_css_names(root):
        shutil.copy2(book_static / name, static / "book" / name)
    for path in STATIC.iterdir():
        shutil.copy2(path, static / path.name)


def write_decks(root: Path = ROOT) -> dict:
    """Both editions' decks of every chapter, from the built book in _build/html; returns the manifest."""
    out = slides_dir(root)
    out.mkdir(parents=True, exist_ok=True)
    _copy_static(root, out)
    images: set[str] = set()
    manifest: dict = {"decks": {}}
    for edition in EDITIONS:
        for number, doc in enumerate(chapter_docs(root), start=1):
            document, info = deck_html(root, doc, number, edition, images)
            path = deck_path(Path(doc).name, edition, root)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(document, encoding="utf8")
            manifest["decks"][path.relative_to(out).as_posix()] = {"doc": doc, "edition": edition, "slides": info}
    shutil.rmtree(out / "_images", ignore_errors=True)
    (out / "_images").mkdir()
    for name in sorted(images):
        shutil.copy2(root / "_build" / "html" / "_images" / name, out / "_images" / name)
    return manifest


CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


# resolves once slides.js has fitted every slide and reveal.js is ready (or after 60 s)
WAIT_READY_JS = """async () => {
  for (let i = 0; i < 600 && !window.slidesReady; i++) await new Promise(r => setTimeout(r, 100));
  return !!window.slidesReady;
}"""


def print_pdfs(root: Path, decks: list[str]) -> None:
    """Chromium's print-to-PDF of each deck's reveal.js print view (`?print-pdf`), one page per slide."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no Chromium (set CHROMIUM=/path/to/chromium): the PDF handouts need one")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": REVEAL_CONFIG["width"], "height": REVEAL_CONFIG["height"]})
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort())
        for name in decks:
            deck = slides_dir(root) / name
            page.goto(deck.as_uri() + "?print-pdf")
            if not page.evaluate(WAIT_READY_JS):
                raise RuntimeError(f"{deck} did not become ready in Chromium")
            page.pdf(path=str(deck.with_suffix(".pdf")), print_background=True, prefer_css_page_size=True)
        browser.close()


def _builder_digest() -> str:
    h = hashlib.sha256(Path(__file__).read_bytes())
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def slides_current(root: Path = ROOT) -> bool:
    be = _editions()
    stamp = be._read_stamp(slides_dir(root) / ".slides-build.json")
    book = be._read_stamp(root / "_build" / ".book-build.json")
    return (
        stamp.get("ok") is True
        and book.get("ok") is True
        and stamp.get("book_digest") == book.get("digest")
        and stamp.get("builder_digest") == _builder_digest()
        and all(
            deck_path(Path(d).name, e, root).with_suffix(".pdf").is_file() for d in chapter_docs(root) for e in EDITIONS
        )
    )


def build_slides(root: Path = ROOT, force: bool = False, reuse_any_book: bool = False) -> tuple[bool, str]:
    """`make slides`: the book (only if not current), then both editions' decks and their PDFs."""
    be = _editions()
    if not reuse_any_book:
        book = be.build_book(root)
        if not book.ok:
            return False, "the book itself did not build:\n" + "\n".join(book.problems())
    with be.locked(root / "_build" / ".slides-build.lock"):
        if not force and not reuse_any_book and slides_current(root):
            return True, "up to date, not rebuilt"
        stamp = slides_dir(root) / ".slides-build.json"
        stamp.unlink(missing_ok=True)
        start = time.perf_counter()
        manifest = write_decks(root)
        try:
            print_pdfs(root, list(manifest["decks"]))
        except RuntimeError as error:
            return False, f"the PDF handouts were not printed: {error}"
        manifest_path(root).write_text(json.dumps(manifest, indent=1), encoding="utf8")
        be._write_stamp(
            stamp,
            ok=True,
            book_digest=be._read_stamp(root / "_build" / ".book-build.json").get("digest"),
            builder_digest=_builder_digest(),
            seconds=round(time.perf_counter() - start, 1),
        )
    return True, f"built in {time.perf_counter() - start:.0f} s"


# ----------------------------------------------------------------------------------------------------------
# RISE: slideshow metadata for presenting a chapter live in JupyterLab

_FENCE = r"^(?:`{3,}|:{3,})\{"
_STATEMENT = re.compile(_FENCE + r"(?:prf:(?:" + "|".join(sorted(STATEMENT_TYPES)) + r")|exercise)\}", re.M)
_SOLUTION = re.compile(_FENCE + r"solution(?:-start)?\}", re.M)
_SOLUTION_END = re.compile(_FENCE + r"solution-end\}", re.M)
_CLASS_OPT = re.compile(r"^:class:(.*)$", re.M)


def rise_slide_types(nb) -> list[str]:
    """RISE's `slide_type` of each cell by the decks' rule: a heading (#, ##) starts a slide; a markdown cell with
    a statement block or an exercise, a figure cell (an image output or the book's `hide-input` plotting cells),
    an interactive cell (ipywidgets) and a cell opted in (`slide` tag or class) is a sub-slide of its own; a
    solution (and every cell inside a gated solution), a cell the book hides (`remove-cell`, such as the TeX-macro
    frontmatter cell) and a cell opted out (`no-slide`) are skipped; every other cell continues the slide before it
    ('-'). The first cell shown starts a slide (RISE opens one there whatever its type says)."""
    types = []
    inside_solution = False
    for cell in nb.cells:
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        tags = set(cell.get("metadata", {}).get("tags", []))
        classes = {c for m in _CLASS_OPT.finditer(source) for c in m.group(1).split()}
        markdown = cell.cell_type == "markdown"
        if markdown and _SOLUTION_END.search(source):
            inside_solution = False
            types.append("skip")
            continue
        if markdown and _SOLUTION.search(source):
            inside_solution = "solution-start" in source
            types.append("skip")
            continue
        if inside_solution or OPT_OUT in tags or OPT_OUT in classes or "remove-cell" in tags:
            types.append("skip")
        elif markdown and re.search(r"^#{1,2} ", source, re.M):
            types.append("slide")
        elif markdown and (_STATEMENT.search(source) or OPT_IN in classes):
            types.append("subslide")
        elif cell.cell_type == "code" and (
            OPT_IN in tags
            or "hide-input" in tags
            or "widgets" in source
            or any("image/png" in (o.get("data") or {}) for o in cell.get("outputs", []))
        ):
            types.append("subslide")
        else:
            types.append("-")
    first = next((i for i, t in enumerate(types) if t != "skip"), None)
    if first is not None:
        types[first] = "slide"
    return types


def add_rise_metadata(nb):
    for cell, kind in zip(nb.cells, rise_slide_types(nb)):
        cell.metadata["slideshow"] = {"slide_type": kind}
    nb.metadata["rise"] = {"scroll": True, "width": "100%", "height": "100%"}
    return nb


def write_rise_notebook(md: Path, out: Path | None = None) -> Path:
    import jupytext
    import nbformat

    nb = add_rise_metadata(jupytext.read(md))
    out = out or md.with_suffix(".ipynb")
    nbformat.write(nb, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    b = sub.add_parser("build", help="the decks and PDFs in _build/slides (builds the book first if needed)")
    b.add_argument("--force", action="store_true", help="build even if the stamp says the decks are current")
    b.add_argument("--reuse-any-book", action="store_true", help="use _build/html as it is, current or not (drafts)")
    r = sub.add_parser("rise", help="a chapter as .ipynb with RISE slideshow metadata")
    r.add_argument("chapter", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.what == "rise":
        for md in args.chapter:
            print(write_rise_notebook(md))
        return 0
    ok, message = build_slides(ROOT, force=args.force, reuse_any_book=args.reuse_any_book)
    if not ok:
        print(message, file=sys.stderr)
        print("The slides did not build.", file=sys.stderr)
        return 1
    print(f"The slides ({message}): {slides_dir(ROOT)}/<chapter>.html, .pdf; student/<chapter>.html, .pdf")
    return 0


if __name__ == "__main__":
    sys.exit(main())
