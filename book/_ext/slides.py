"""Lecture slides: one reveal.js deck per chapter, built from the chapters themselves (``make slides``).

Two roles in one file.

* **A Sphinx extension** (loaded only by the slide build, never by the book's): for the ``revealjs`` builder of
  `sphinx-revealjs <https://sphinx-revealjs.readthedocs.io>`_ it turns each chapter's resolved doctree into a deck.
  The chapter title becomes the title slide; then, in reading order, every *slide element* of the chapter gets a
  slide of its own, titled with the section it stands in:

  - every statement block of sphinx-proof (``prf:definition``, ``theorem``, ``lemma``, ``proposition``,
    ``corollary``, ``assumption``, ``algorithm``, ...; not the proofs) and every ``exercise``;
  - every code cell with an image in its outputs (the chapter's figures; the output only, not the code);
  - opt in: any block with the class ``slide`` (``:class: slide`` on a directive, e.g. a ``prf:proof`` or a
    ``solution``) and any code cell tagged ``slide`` (shown with its code);
  - opt out: any block with the class ``no-slide``, any code cell tagged ``no-slide``.

  References keep working: the doctree is rewritten *after* Sphinx resolved them, so numbers are the book's
  (Theorem 1, Figure 6.2, ...), and every internal link points to the book's page (``../html/book/...``).

* **The driver** (``python book/_ext/slides.py build``, what ``make slides`` runs): it reuses the executed
  notebooks of the book's build (``_build/jupyter_execute``; the book is built first only when its stamp is
  missing or out of date, as for the student edition, ``book_editions.py``) and runs one Sphinx build with
  notebook execution off per edition: the instructors' decks ``_build/slides/<chapter>.html`` and the students'
  ``_build/slides/student/<chapter>.html`` (made from the notebooks with every solution cut out, exactly as the
  student edition of the book). Then headless Chromium prints each deck's reveal.js print view to
  ``<chapter>.pdf`` next to it. Nothing is executed again.

``python book/_ext/slides.py rise book/<chapter>.md`` writes ``book/<chapter>.ipynb`` with RISE's slideshow
metadata chosen by the same rule, to present the chapter live in JupyterLab (book/instructors.md, "Lecture
slides").
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
STATIC = HERE / "slides_static"

# the statement blocks of sphinx-proof that get a slide by default (the proofs, remarks and examples are opt-in)
STATEMENT_TYPES = {
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
OPT_IN, OPT_OUT = "slide", "no-slide"
EDITIONS = ("instructor", "student")

# reveal.js: a 16:9 frame; every slide's content must fit it (slides.js shrinks a tall slide down to MIN_SCALE,
# tests/book/test_slides.py checks that nothing overflows)
REVEAL_CONFIG = {
    "width": 1280,
    "height": 720,
    "margin": 0.04,
    "center": False,
    "hash": True,
    "slideNumber": "c/t",
    "transition": "none",
    "pdfSeparateFragments": False,
    "pdfMaxPagesPerSlide": 1,
}


# ----------------------------------------------------------------------------------------------------------
# the Sphinx extension: a chapter's doctree -> a deck


def _cell_tags(node) -> list[str]:
    return list((node.get("cell_metadata") or {}).get("tags", []) or [])


def _is_code_cell(node) -> bool:
    return node.get("nb_element") == "cell_code"


def _has_image(node) -> bool:
    from docutils import nodes

    return any(True for _ in node.findall(nodes.image))


def _slide_kind(node, edition: str) -> str | None:
    """What slide `node` makes: 'block' (the node itself), 'output' (a code cell's output only), 'cell' (a whole
    code cell), 'skip' (opted out, or a solution in the student edition: not even its descendants), None (look
    inside)."""
    from sphinx_exercise.nodes import exercise_enumerable_node, exercise_node, solution_node
    from sphinx_proof.nodes import proof_node

    classes = set(node.get("classes", []) if hasattr(node, "get") else [])
    if isinstance(node, solution_node) and edition == "student":
        return "skip"
    if OPT_OUT in classes:
        return "skip"
    if _is_code_cell(node):
        tags = _cell_tags(node)
        if OPT_OUT in tags:
            return "skip"
        if OPT_IN in tags:
            return "cell"
        return "output" if _has_image(node) else "skip"
    if OPT_IN in classes:
        return "block"
    if isinstance(node, proof_node):
        return None  # a proof is opt-in (its class), its content is not searched
    if node.get("realtype") in STATEMENT_TYPES if hasattr(node, "get") else False:
        return "block"
    if isinstance(node, (exercise_node, exercise_enumerable_node)):
        return "block"
    return None


def collect_slides(doctree, edition: str = "instructor") -> list[tuple[str, object]]:
    """(section title, node to show) for each slide of a chapter, in reading order."""
    from docutils import nodes
    from sphinx_proof.nodes import proof_node

    found: list[tuple[str, object]] = []

    def walk(node, title: str) -> None:
        for child in node.children:
            if not isinstance(child, nodes.Element):
                continue
            if isinstance(child, nodes.section) and child.children and isinstance(child[0], nodes.title):
                walk(child, child[0].astext())
                continue
            kind = _slide_kind(child, edition)
            if kind == "skip":
                continue
            if kind == "block":
                found.append((title, child))
            elif kind == "output":
                outputs = [c for c in child.children if c.get("nb_element") == "cell_code_output"]
                if outputs:
                    found.append((title, outputs[0]))
            elif kind == "cell":
                found.append((title, child))
            elif not isinstance(child, proof_node):
                walk(child, title)

    walk(doctree, "")
    return found


def _flatten_sections(node):
    """sphinx-proof nests its content in a docutils section; reveal.js would read it as a slide: make it a div."""
    from docutils import nodes

    for inner in list(node.findall(nodes.section)):
        if inner is node:
            continue
        box = nodes.container(classes=inner.get("classes", []), ids=[])
        box.extend(inner.children)
        inner.replace_self(box)
    return node


def _point_links_to_book(node, docname: str, book_prefix: str) -> None:
    """Internal links lead to the book's pages (the deck holds only part of each chapter)."""
    from docutils import nodes

    for ref in node.findall(nodes.reference):
        uri = ref.get("refuri", "")
        if not ref.get("internal") or "://" in uri or uri.startswith("mailto:"):
            continue
        if uri.startswith("#") or uri == "":
            uri = f"{docname}.html{uri}"
        ref["refuri"] = book_prefix + uri


def build_deck(app, doctree, docname: str) -> None:
    """`doctree-resolved` handler of the revealjs builder: replace the chapter's doctree by its deck."""
    from docutils import nodes

    if app.builder.name != "revealjs":
        return
    edition = app.config.slides_edition
    top = next(iter(doctree.findall(nodes.section)), None)
    if top is None or not top.children or not isinstance(top[0], nodes.title):
        return
    slides = collect_slides(doctree, edition)
    deck = nodes.section(ids=list(top.get("ids", [])), classes=["slides-title"])
    deck += copy.deepcopy(top[0])
    number = app.env.titles.get(docname)
    chapter = app.config.slides_chapters.get(docname, "")
    subtitle = nodes.paragraph(classes=["slides-subtitle"])
    subtitle += nodes.Text(f"mappo-lite, chapter {chapter}" if chapter else "mappo-lite")
    if edition == "student":
        subtitle += nodes.Text(" (student edition)")
    deck += subtitle
    link = nodes.paragraph(classes=["slides-book-link"])
    ref = nodes.reference("", "Read the chapter in the book", internal=True, refuri="")
    link += ref
    deck += link
    del number
    for index, (title, node) in enumerate(slides, start=1):
        slide = nodes.section(ids=[f"slide-{index}"], classes=["slides-element"])
        slide += nodes.title(title, title or top[0].astext())
        body = _flatten_sections(copy.deepcopy(node))
        if body.get("nb_element") == "cell_code_output":
            body["classes"] = [*body.get("classes", []), "slides-figure"]
        slide += body
        deck += slide
    _point_links_to_book(deck, docname, app.config.slides_book_prefix)
    doctree.children = [deck]
    deck.parent = doctree


def setup(app):
    app.add_config_value("slides_edition", "instructor", "env")
    app.add_config_value("slides_book_prefix", "../html/", "env")
    app.add_config_value("slides_chapters", {}, "env")
    app.connect("doctree-resolved", build_deck)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


# ----------------------------------------------------------------------------------------------------------
# the driver: stage the executed notebooks, one Sphinx build per edition, the PDFs


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


def _flat_toc(root: Path) -> str:
    """The book's _toc.yml with every file moved from book/ to the top (the decks sit in one folder)."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf8"))

    def strip(node):
        if isinstance(node, dict):
            return {k: (v.removeprefix("book/") if k in ("file", "root") else strip(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [strip(x) for x in node]
        return node

    return yaml.safe_dump(strip(toc), sort_keys=False)


def _slides_config(root: Path, edition: str, book_prefix: str) -> dict:
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf8"))
    config["execute"] = {**config.get("execute", {}), "execute_notebooks": "off"}
    sphinx = config.setdefault("sphinx", {})
    sphinx["extra_extensions"] = [*sphinx.get("extra_extensions", []), "sphinx_revealjs"]
    local = {name: str(root / path) for name, path in (sphinx.get("local_extensions") or {}).items()}
    local["slides"] = str(HERE)
    sphinx["local_extensions"] = local
    cfg = sphinx.setdefault("config", {})
    cfg["bibtex_bibfiles"] = [str(root / f) for f in config.pop("bibtex_bibfiles", [])]
    cfg["html_static_path"] = []
    cfg["revealjs_static_path"] = [str(STATIC)]
    cfg["revealjs_style_theme"] = "white"
    cfg["revealjs_css_files"] = ["slides.css"]
    cfg["revealjs_script_files"] = ["slides.js"]
    cfg["revealjs_script_conf"] = REVEAL_CONFIG
    cfg["slides_edition"] = edition
    cfg["slides_book_prefix"] = book_prefix
    cfg["slides_chapters"] = {Path(d).name: str(i) for i, d in enumerate(chapter_docs(root), start=1)}
    if edition == "student":
        cfg["hide_solutions"] = True
    return config


def stage(root: Path, edition: str, where: Path) -> None:
    """Sources of one slide build: the book's pages at the top of `where`, executed notebooks for the chapters."""
    import nbformat
    import yaml

    be = _editions()
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    shutil.copytree(root / "book", where, dirs_exist_ok=True, ignore=shutil.ignore_patterns("_ext", "*.ipynb"))
    (where / "_toc.yml").write_text(_flat_toc(root), encoding="utf8")
    prefix = "../html/book/" if edition == "instructor" else "../../student/html/book/"
    (where / "_config.yml").write_text(yaml.safe_dump(_slides_config(root, edition, prefix), sort_keys=False))
    parser = be._md_parser()
    for doc in be.toc_docs(root):
        executed = root / "_build" / "jupyter_execute" / f"{doc}.ipynb"
        if not executed.is_file():
            continue
        nb = nbformat.read(executed, as_version=4)
        if edition == "student":
            be.strip_solutions(nb, parser)
        name = Path(doc).name
        (where / f"{name}.md").unlink(missing_ok=True)
        nbformat.write(nb, where / f"{name}.ipynb")


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
        and all(deck_path(Path(d).name, e, root).is_file() for d in chapter_docs(root) for e in EDITIONS)
    )


def build_html(root: Path, edition: str) -> tuple[bool, str]:
    be = _editions()
    work = slides_dir(root) / f".src-{edition}"
    stage(root, edition, work / "src")
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    proc = be._jupyter_book(
        ["build", str(work / "src"), "--path-output", str(out), "--builder", "custom", "--custom-builder", "revealjs"]
        + ["--all", "-n", "-W", "--keep-going"],
        cwd=root,
    )
    log = proc.stdout + proc.stderr
    built = out / "_build" / "revealjs"
    ok = proc.returncode == 0 and built.is_dir()
    target = slides_dir(root) if edition == "instructor" else slides_dir(root) / "student"
    target.mkdir(parents=True, exist_ok=True)
    for sub in ("_static", "_images"):
        shutil.rmtree(target / sub, ignore_errors=True)
        if (built / sub).is_dir():
            shutil.copytree(built / sub, target / sub)
    for doc in chapter_docs(root):
        name = Path(doc).name
        if (built / f"{name}.html").is_file():
            shutil.copy2(built / f"{name}.html", target / f"{name}.html")
        else:
            ok = False
            log += f"\nno deck was written for {name}"
    (work / "build.log").write_text(log, encoding="utf8")
    return ok, log


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


WAIT_READY_JS = """async () => {
  for (let i = 0; i < 300 && !(window.Reveal && Reveal.isReady && Reveal.isReady()); i++)
    await new Promise(r => setTimeout(r, 100));
  if (window.MathJax && MathJax.startup) await MathJax.startup.promise;
  for (let i = 0; i < 100 && !window.slidesFitted; i++) await new Promise(r => setTimeout(r, 100));
  return !!(window.Reveal && Reveal.isReady());
}"""


def print_pdfs(root: Path = ROOT) -> list[Path]:
    """Chromium's print-to-PDF of each deck's reveal.js print view (`?print-pdf`), one page per slide."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no Chromium (set CHROMIUM=/path/to/chromium): the PDF handouts need one")
    written = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
        for edition in EDITIONS:
            for doc in chapter_docs(root):
                deck = deck_path(Path(doc).name, edition, root)
                page.goto(deck.as_uri() + "?print-pdf")
                page.evaluate(WAIT_READY_JS)
                pdf = deck.with_suffix(".pdf")
                w, h = REVEAL_CONFIG["width"], REVEAL_CONFIG["height"]
                page.pdf(
                    path=str(pdf), width=f"{w}px", height=f"{h}px", print_background=True, prefer_css_page_size=True
                )
                written.append(pdf)
        browser.close()
    return written


def build_slides(root: Path = ROOT, force: bool = False, reuse_any_book: bool = False) -> tuple[bool, str]:
    """`make slides`: the book (only if not current), then both editions' decks and their PDFs."""
    be = _editions()
    force = force or os.environ.get("MAPPO_LITE_REBUILD", "") not in ("", "0")
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
        for edition in EDITIONS:
            ok, log = build_html(root, edition)
            if not ok:
                return False, "\n".join(be.build_problems(log) or log.splitlines()[-40:])
        print_pdfs(root)
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


def rise_slide_types(nb) -> list[str]:
    """RISE's `slide_type` of each cell by the decks' rule: a heading starts a slide, a cell holding a slide
    element (a statement block, an exercise, a figure, a `slide` tag or class) or an interactive cell (ipywidgets)
    is a sub-slide of its own, a solution and an opted-out cell are skipped, every other cell continues ('-')."""
    import re

    statement = re.compile(r"^(?:`{3,}|:{3,})\{(?:prf:(?:" + "|".join(sorted(STATEMENT_TYPES)) + r")|exercise)\}", re.M)
    solution = re.compile(r"^(?:`{3,}|:{3,})\{solution", re.M)
    opt_in = re.compile(r"^:class:.*\bslide\b", re.M)
    types = []
    inside_solution = False
    for cell in nb.cells:
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "markdown":
            if re.search(r"^(?:`{3,}|:{3,})\{solution-start\}", source, re.M):
                inside_solution = True
            if re.search(r"^(?:`{3,}|:{3,})\{solution-end\}", source, re.M):
                inside_solution = False
                types.append("skip")
                continue
        if inside_solution or OPT_OUT in tags or (cell.cell_type == "markdown" and solution.search(source)):
            types.append("skip")
        elif cell.cell_type == "markdown" and re.match(r"^#{1,2} ", source.lstrip()):
            types.append("slide")
        elif cell.cell_type == "markdown" and (statement.search(source) or opt_in.search(source)):
            types.append("subslide")
        elif cell.cell_type == "code" and (
            OPT_IN in tags
            or "widgets." in source
            or any("image/png" in (o.get("data") or {}) for o in cell.get("outputs", []))
            or "hide-input" in tags
        ):
            types.append("subslide")
        else:
            types.append("-")
    return types


def write_rise_notebook(md: Path, out: Path | None = None) -> Path:
    import jupytext
    import nbformat

    nb = jupytext.read(md)
    for cell, kind in zip(nb.cells, rise_slide_types(nb)):
        cell.metadata["slideshow"] = {"slide_type": kind}
    nb.metadata["rise"] = {"scroll": True, "width": "100%", "height": "100%", "enable_chalkboard": False}
    out = out or md.with_suffix(".ipynb")
    nbformat.write(nb, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    b = sub.add_parser("build", help="the decks and PDFs in _build/slides (builds the book first if needed)")
    b.add_argument("--force", action="store_true", help="build even if the stamp says the decks are current")
    b.add_argument(
        "--reuse-any-book", action="store_true", help="use _build/jupyter_execute as it is, current or not (drafts)"
    )
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
        print("The slides did not build (logs: _build/slides/.src-*/build.log).", file=sys.stderr)
        return 1
    print(f"The slides ({message}): {slides_dir(ROOT)}/<chapter>.html, .pdf; student/<chapter>.html, .pdf")
    return 0


if __name__ == "__main__":
    sys.exit(main())
