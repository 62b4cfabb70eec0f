"""The lecture slides (`make slides` -> `_build/slides`): one reveal.js deck and one PDF per chapter and edition.

The decks are cut out of the book's own build (``book/_ext/slides.py``; the book is the one ``make test`` and
``tests/book/test_browser.py`` share, built once per source digest by ``book_editions.py``), so building them
here takes seconds and executes nothing. What is checked:

* the selection rule itself, on a tiny synthetic chapter page and a tiny synthetic notebook (RISE metadata):
  statement blocks, exercises, figure cells and opted-in blocks get a slide, proofs, plain cells and opted-out
  blocks do not, solutions only in the instructors' edition;
* every numbered chapter has both decks and both PDFs, and each deck has a slide for every definition, theorem,
  lemma, proposition, assumption and algorithm of its source;
* the students' decks hold no solution: no solution block, and none of the sentences of the instructors'
  solution slides (each instructors' deck has one solution slide per solution of the source, so the check
  cannot pass by finding nothing to look for);
* in headless Chromium (every request leaving the folder is failed and recorded): no JavaScript error, nothing
  requested from outside, MathJax finished without TeX errors and left no raw TeX, no raw MyST in the text,
  every image shown, every slide rendered with content that fits reveal.js's frame (after slides.js' shrinking);
  a screenshot of the first slide of each deck is saved to ``_build/screenshots/slides/``;
* every page of every PDF (``pdftoppm``) is not blank, and each PDF has as many pages as its deck has slides
  (and the blank-page check itself flags a white page);
* every link of an instructors' deck leads to an existing page and anchor of the book, a students' deck's links
  lead into the student edition;
* editing the slide builder does not make the book's build stale (its digest skips it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pytest
from bs4 import BeautifulSoup

from tests.book import test_browser as tb  # noqa: F401  (public helpers; imported as a module, not collected twice)
from tests.book import test_jupyterlab as tj
from tests.fixtures import book_extension

ROOT = Path(__file__).resolve().parents[2]
slides = book_extension("slides")
book_editions = book_extension("book_editions")
SCREENSHOTS = ROOT / "_build" / "screenshots" / "slides"
STATEMENTS = ("definition", "theorem", "lemma", "proposition", "assumption", "algorithm", "corollary")


# ----------------------------------------------------------------------------------------------------------
# the selection rule, on synthetic input (no build needed)

SYNTHETIC_PAGE = """
<article class="bd-article"><section id="ch"><h1>Chapter<a class="headerlink" href="#ch">#</a></h1>
<p>Intro prose.</p>
<div class="proof definition admonition" id="def-a"><p class="admonition-title">Definition 1.1</p></div>
<section id="s1"><h2>First section<a class="headerlink" href="#s1">#</a></h2>
  <div class="proof theorem admonition" id="thm-a"><p>Theorem</p></div>
  <div class="proof admonition" id="proof-a"><p>A proof</p></div>
  <div class="proof admonition slide" id="proof-b"><p>An opted-in proof</p></div>
  <div class="proof lemma admonition no-slide" id="lem-out"><p>An opted-out lemma</p></div>
  <div class="cell docutils container" id="c-plain"><div class="cell_input"><pre>x = 1</pre></div>
    <div class="cell_output"><pre>1</pre></div></div>
  <div class="cell tag_hide-input docutils container" id="c-fig"><div class="cell_input"><pre>plot()</pre></div>
    <div class="cell_output"><figure id="fig-a"><img src="../_images/a.png"/><figcaption>Fig 1</figcaption></figure></div></div>
  <div class="cell tag_no-slide docutils container" id="c-fig-out"><div class="cell_output"><img src="../_images/b.png"/></div></div>
  <div class="cell tag_slide docutils container" id="c-in"><div class="cell_input"><pre>shown()</pre></div></div>
  <section id="s2"><h3>Inner section</h3>
    <div class="proof algorithm admonition" id="alg-a"><p>Algorithm</p></div>
    <div class="exercise admonition" id="ex-a"><p>Exercise</p></div>
    <div class="solution dropdown admonition" id="sol-a"><p>Solution</p>
      <div class="cell docutils container"><div class="cell_output"><img src="../_images/c.png"/></div></div></div>
  </section>
</section></section></article>
"""


def _ids(found) -> list[tuple[str, str]]:
    out = []
    for title, element in found:
        first = element[0] if isinstance(element, list) else element
        out.append((title, first.get("id") or first.find_parent(class_="cell").get("id")))
    return out


def test_selection_rule_on_a_synthetic_page():
    article = BeautifulSoup(SYNTHETIC_PAGE, "html.parser").article
    instructor = _ids(slides.collect_slides(article, "instructor"))
    assert instructor == [
        ("Chapter", "def-a"),
        ("First section", "thm-a"),
        ("First section", "proof-b"),
        ("First section", "fig-a"),
        ("First section", "c-in"),
        ("Inner section", "alg-a"),
        ("Inner section", "ex-a"),
        ("Inner section", "sol-a"),
    ], instructor
    student = _ids(slides.collect_slides(article, "student"))
    assert student == [item for item in instructor if item[1] != "sol-a"], student


def test_rise_metadata_rule_on_a_synthetic_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Chapter"),
        nbformat.v4.new_markdown_cell("Prose."),
        nbformat.v4.new_markdown_cell("```{prf:theorem}\n:label: thm-a\nText\n```"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("plot()", metadata={"tags": ["hide-input"]}),
        nbformat.v4.new_code_cell("plot()", metadata={"tags": ["hide-input", "no-slide"]}),
        nbformat.v4.new_markdown_cell("```{exercise}\n:label: ex-a\nDo it.\n```"),
        nbformat.v4.new_markdown_cell("````{solution-start} ex-a\n:class: dropdown\n````"),
        nbformat.v4.new_code_cell("answer()"),
        nbformat.v4.new_markdown_cell("````{solution-end}\n````"),
        nbformat.v4.new_markdown_cell("```{solution} ex-a\nShort.\n```"),
        nbformat.v4.new_markdown_cell("## Section"),
        nbformat.v4.new_code_cell("shown()", metadata={"tags": ["slide"]}),
    ]
    kinds = slides.rise_slide_types(nb)
    assert kinds == [
        "slide",
        "-",
        "subslide",
        "-",
        "subslide",
        "skip",
        "subslide",
        "skip",
        "skip",
        "skip",
        "skip",
        "slide",
        "subslide",
    ], kinds
    # the book's hidden frontmatter cell (TeX macros for JupyterLab) is skipped, and the first cell shown starts a
    # slide even when it is not a heading (RISE opens one there; the JupyterLab test counts slides)
    nb.cells = [
        nbformat.v4.new_markdown_cell("---\nmath:\n  '\\E': '\\mathbb{E}'\n---", metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_markdown_cell("Prose first."),
        nbformat.v4.new_markdown_cell("# Chapter"),
    ]
    assert slides.rise_slide_types(nb) == ["skip", "slide", "slide"]


# ----------------------------------------------------------------------------------------------------------
# the built decks


@pytest.fixture(scope="module")
def built() -> dict:
    """`make slides` (the book is reused when current, built once otherwise); returns the decks' manifest."""
    ok, message = slides.build_slides(ROOT)
    if not ok:
        pytest.fail(f"the slides did not build: {message}", pytrace=False)
    return json.loads(slides.manifest_path(ROOT).read_text(encoding="utf8"))


def decks() -> list[tuple[str, str]]:
    return [(Path(doc).name, edition) for doc in slides.chapter_docs(ROOT) for edition in slides.EDITIONS]


def deck_sections(path: Path) -> list:
    page = BeautifulSoup(path.read_text(encoding="utf8"), "html.parser")
    return page.select(".reveal > .slides > section")


def source_text(stem: str) -> str:
    return (ROOT / "book" / f"{stem}.md").read_text(encoding="utf8")


@pytest.mark.chapter
def test_a_deck_and_a_pdf_per_chapter_and_edition_with_every_statement(built):
    assert slides.chapter_docs(ROOT) == tb.chapter_docs()
    for stem, edition in decks():
        deck = slides.deck_path(stem, edition, ROOT)
        assert deck.is_file() and deck.with_suffix(".pdf").is_file(), deck
        sections = deck_sections(deck)
        kinds = [s.get("data-kind") for s in sections[1:]]
        expected = tb.expected_blocks(f"book/{stem}")
        for kind in STATEMENTS:
            n = expected.get(f"prf:{kind}", 0)
            assert kinds.count(kind) == n, f"{deck.name} ({edition}): {kinds.count(kind)} {kind} slides, source has {n}"
        n_ex = expected.get("exercise", 0)
        assert kinds.count("exercise") == n_ex, (deck, kinds)
        assert kinds.count("figure") >= 1, f"{deck}: no figure slide"


@pytest.mark.chapter
def test_links_lead_to_the_books_pages(built):
    """Instructors' decks link into the book (_build/html), students' decks into its student edition."""
    problems, ids = {}, {}

    def ids_of(target: Path) -> set[str]:
        if target not in ids:
            ids[target] = tb.html_ids(target)
        return ids[target]

    for stem, edition in decks():
        deck = slides.deck_path(stem, edition, ROOT)
        page = BeautifulSoup(deck.read_text(encoding="utf8"), "html.parser")
        book = ROOT / "_build" / ("html" if edition == "instructor" else "student/html")
        found = []
        for a in page.select("a[href]"):
            href = a["href"]
            if re.match(r"^[a-z][a-z0-9+.-]*:", href, re.I):
                continue
            target = (deck.parent / href.split("#")[0]).resolve()
            if not target.is_relative_to(book.resolve()):
                found.append(f"{href} does not lead into {book.relative_to(ROOT)}")
            elif edition == "instructor" and not target.is_file():
                found.append(f"{href}: no such page")
            elif edition == "instructor" and "#" in href and href.split("#", 1)[1] not in ids_of(target):
                found.append(f"{href}: no such anchor")
        problems[f"{edition}/{stem}"] = found
    tb.fail_if(problems, "links of the decks")


def _sentences(text: str) -> set[str]:
    return {s.strip() for s in re.split(r"(?<=[.!?:])\s+|\n", text) if len(s.strip()) >= 20}


@pytest.mark.chapter
def test_no_solution_in_the_students_decks(built):
    for doc in slides.chapter_docs(ROOT):
        stem = Path(doc).name
        teacher = BeautifulSoup(slides.deck_path(stem, "instructor", ROOT).read_text(encoding="utf8"), "html.parser")
        student = BeautifulSoup(slides.deck_path(stem, "student", ROOT).read_text(encoding="utf8"), "html.parser")
        n_solutions = tb.expected_blocks(doc).get("solution", 0)
        solution_slides = teacher.select('section[data-kind="solution"]')
        assert len(solution_slides) == n_solutions, (
            f"{stem}: {len(solution_slides)} solution slides, {n_solutions} in the source"
        )
        assert not student.select(".solution, [data-kind=solution]"), f"{stem}: a solution block in the students' deck"
        assert "Solution to" not in student.get_text(" "), stem
        rest = teacher.__copy__()
        for s in rest.select('section[data-kind="solution"]'):
            s.decompose()
        elsewhere = " ".join(rest.get_text(" ").split())
        student_text = " ".join(student.get_text(" ").split())
        for slide in solution_slides:
            own = {" ".join(s.split()) for s in _sentences(slide.get_text("\n"))}
            own = {s for s in own if s not in elsewhere}
            assert own, f"{stem}: a solution slide with no text of its own to look for: {slide.get('id')}"
            leaked = [s for s in own if s in student_text]
            assert not leaked, f"{stem}: solution text in the students' deck: {leaked[:3]}"


# ----------------------------------------------------------------------------------------------------------
# in Chromium

SLIDES_JS = r"""
(async () => {
  for (let i = 0; i < 600 && !window.slidesReady; i++) await new Promise(r => setTimeout(r, 100));
  if (!window.slidesReady) return {ready: false};
  const frame = document.querySelector('.reveal .slides');
  const out = [];
  const n = Reveal.getTotalSlides();
  for (let i = 0; i < n; i++) {
    Reveal.slide(i);
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    const s = Reveal.getCurrentSlide();
    const f = frame.getBoundingClientRect();
    const scale = f.width / Reveal.getConfig().width;
    const parts = [...s.children];
    const bottom = Math.max(...parts.map(p => p.getBoundingClientRect().bottom));
    const right = Math.max(...parts.map(p => p.getBoundingClientRect().right));
    const body = s.querySelector('.slide-body');
    out.push({id: s.id, kind: s.dataset.kind || 'title', visible: s.offsetHeight > 0 && !!s.textContent.trim(),
              fit: parseFloat(s.dataset.fitScale || '1'),
              below: (bottom - f.bottom) / scale, beyond: (right - f.right) / scale,
              inner: body ? [...body.querySelectorAll('pre, mjx-container[display]')].filter(
                  e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.slice(0, 60)) : []});
  }
  return {ready: true, n, slides: out};
})()
"""


@pytest.fixture(scope="module")
def browser_reports(built) -> dict:
    path = tb.find_chromium()
    if path is None:
        pytest.skip(f"no Chromium found, so the slides are not checked in a browser: {tb.INSTALL_HINT}")
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    chromium = tb.Chromium(path, width=1280, height=720)
    reports = {}
    try:
        tab = chromium.new_tab()
        for stem, edition in decks():
            deck = slides.deck_path(stem, edition, ROOT)
            report = tb.visit(tab, deck, slides.slides_dir(ROOT))
            report["slides"] = tab.evaluate(SLIDES_JS, timeout=120)
            tab.evaluate("(async () => { Reveal.slide(0); await new Promise(r => setTimeout(r, 400)); })()")
            shot = tab.screenshot(SCREENSHOTS / f"{edition}--{stem}.png")
            report["screenshot_blank"] = page_is_blank(shot)  # looked at when saved
            report["errors"] = list(tab.errors)
            report["blocked"] = list(tab.blocked)
            reports[report["page"]] = report
    finally:
        chromium.close()
    return reports


@pytest.mark.chapter
def test_decks_render_offline_with_math_and_images(browser_reports):
    problems = {}
    for page, report in browser_reports.items():
        found = tb.problems_javascript(report) + tb.problems_outside(report) + tb.problems_math(report)
        found += tb.problems_images(report)
        folder = slides.slides_dir(ROOT).as_uri() + "/"
        found += [
            f"loaded from outside the slides' folder: {url}"
            for url in report["resources"]
            if not url.startswith((folder, "data:"))
        ]
        found += tj.raw_myst(report["prose"])
        found += [f"raw markdown fence: {m}" for m in re.findall(r"`{3,}.{0,40}", report["prose"])]
        if not report["math"]:
            found.append("no math element at all (is MathJax's input there?)")
        problems[page] = found
    tb.fail_if(problems, "slides that do not render offline")


@pytest.mark.chapter
def test_every_slide_renders_and_fits_the_frame(browser_reports):
    problems = {}
    for page, report in browser_reports.items():
        result = report["slides"]
        found = [] if result.get("ready") else ["reveal.js / slides.js never became ready"]
        n_sections = len(deck_sections(slides.slides_dir(ROOT) / page))
        if result.get("ready") and result["n"] != n_sections:
            found.append(f"reveal.js counts {result['n']} slides, the deck has {n_sections}")
        for s in result.get("slides", []):
            if not s["visible"]:
                found.append(f"slide {s['id']} ({s['kind']}) shows nothing")
            if s["below"] > 2 or s["beyond"] > 2:
                found.append(
                    f"slide {s['id']} ({s['kind']}) overflows the frame by {s['below']:.0f} px down,"
                    f" {s['beyond']:.0f} px right (shrunk to {s['fit']:.2f})"
                )
            found += [f"slide {s['id']}: a wide block is cut: {t!r}" for t in s["inner"]]
        problems[page] = found
    tb.fail_if(problems, "slides that do not render or do not fit")
    blank = [page for page, report in browser_reports.items() if report["screenshot_blank"]]
    assert not blank, f"the first slide's screenshot is blank: {blank}"


def pdf_pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def page_is_blank(png: Path) -> bool:
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("L"), dtype=float) / 255.0
    ink = np.mean(pixels < 0.8)  # share of pixels darker than light grey
    return ink < 0.002


@pytest.mark.chapter
def test_pdf_handouts_have_one_nonblank_page_per_slide(built, tmp_path):
    if shutil.which("pdftoppm") is None or shutil.which("pdfinfo") is None:
        pytest.skip("poppler-utils (pdftoppm, pdfinfo) are not installed: apt-get install poppler-utils")
    problems = {}
    for stem, edition in decks():
        deck = slides.deck_path(stem, edition, ROOT)
        pdf = deck.with_suffix(".pdf")
        found = []
        n_slides = len(deck_sections(deck))
        if pdf_pages(pdf) != n_slides:
            found.append(f"{pdf_pages(pdf)} pages for {n_slides} slides")
        prefix = tmp_path / f"{edition}-{stem}"
        subprocess.run(["pdftoppm", "-r", "24", "-png", str(pdf), str(prefix)], check=True)
        pngs = sorted(tmp_path.glob(f"{edition}-{stem}-*.png"))
        if len(pngs) != n_slides:
            found.append(f"pdftoppm rendered {len(pngs)} pages for {n_slides} slides")
        found += [f"page {i} is blank" for i, png in enumerate(pngs, start=1) if page_is_blank(png)]
        problems[f"{edition}/{stem}.pdf"] = found
    tb.fail_if(problems, "PDF handouts")


def test_blank_page_check_can_fail(tmp_path):
    from PIL import Image

    white = tmp_path / "white.png"
    Image.new("L", (320, 180), 255).save(white)
    text = tmp_path / "text.png"
    img = Image.new("L", (320, 180), 255)
    img.paste(0, (20, 20, 200, 40))
    img.save(text)
    assert page_is_blank(white) and not page_is_blank(text)


def test_the_slide_builder_is_not_part_of_the_books_digest(tmp_path):
    """Editing the slide builder or its assets rebuilds the decks, not the book (book_editions.source_digest)."""
    for name in ("_config.yml", "_toc.yml", "requirements.txt", "pyproject.toml"):
        (tmp_path / name).write_text(name, encoding="utf8")
    (tmp_path / "book" / "_ext" / "slides_static").mkdir(parents=True)
    (tmp_path / "mappo_lite").mkdir()
    (tmp_path / "book" / "chapter.md").write_text("# A chapter", encoding="utf8")
    builder = tmp_path / "book" / "_ext" / "slides.py"
    asset = tmp_path / "book" / "_ext" / "slides_static" / "slides.js"
    builder.write_text("one", encoding="utf8")
    asset.write_text("one", encoding="utf8")
    before = book_editions.source_digest(tmp_path)
    builder.write_text("two", encoding="utf8")
    asset.write_text("two", encoding="utf8")
    assert book_editions.source_digest(tmp_path) == before
    (tmp_path / "book" / "chapter.md").write_text("# A chapter, edited", encoding="utf8")
    assert book_editions.source_digest(tmp_path) != before
