"""The student edition (`make book-student` -> `_build/student/html`): the book without any exercise solution.

It is built by ``book/_ext/book_editions.py`` from the executed notebooks of the book's own build (shared with
``tests/test_book.py`` and ``tests/test_browser.py``), with the solutions cut out and execution off, so no
chapter is executed again.

What is checked:

* the solution text, taken from the sources: every ``{solution}`` / ``{solution-start}``...``{solution-end}``
  block of every chapter gives text fragments (its code lines and prose runs, and the sentences of its rendered
  block in the full edition); the fragments that appear in the full edition's solution blocks and nowhere else
  in the full edition are looked for in *every file* of the student edition (pages, downloadable notebooks,
  sources, search index): none may be there. Each solution block must contribute at least one such fragment, so
  the check cannot pass by finding nothing to look for;
* the student pages have no solution block, keep every exercise, and say they are the student edition;
* every chapter page of the student edition still offers its notebook, and that notebook keeps the exercises,
  the outputs and no solution cell;
* opened in headless Chromium (when installed), the student pages show no JavaScript error and request
  nothing from outside;
* the solution stripper itself, on notebooks written here (gated solutions spanning cells, plain
  ``{solution}`` directives, colon fences, unbalanced markers).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from tests.fixtures import book_extension

ROOT = Path(__file__).resolve().parents[2]
book_editions = book_extension("book_editions")

from tests.book import test_browser as tb  # noqa: E402  (the same browser and page checks; imported as a module so its tests are not collected twice)


def needs_build(test):
    """A test of the built editions: deselected by `make test-fast` (`chapter`); pytest-xdist workers share the
    builds through the file locks and stamps of book_editions."""
    return pytest.mark.chapter(test)


MIN_FRAGMENT = 20  # characters: shorter pieces of text could occur anywhere


# ----------------------------------------------------------------------------------------------------------
# solution blocks of the sources (a plain line scanner, independent of the stripper under test)

_FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,}|~{3,})\s*(?P<info>.*?)\s*$")


def _closing(lines: list[str], start: int) -> int:
    """Index of the line closing the fence opened at `start`."""
    fence = _FENCE.match(lines[start]).group("fence")
    for j in range(start + 1, len(lines)):
        m = _FENCE.match(lines[j])
        if m and m.group("fence")[0] == fence[0] and len(m.group("fence")) >= len(fence) and not m.group("info"):
            return j
    raise AssertionError(f"unclosed fence at line {start + 1}: {lines[start]!r}")


def solution_blocks(text: str) -> list[list[str]]:
    """The body lines of every solution of a MyST markdown source."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        info = m.group("info")
        end = _closing(lines, i)
        if info.startswith("{solution-start}"):
            k = end + 1
            while k < len(lines) and not (
                (mm := _FENCE.match(lines[k])) and mm.group("info").startswith("{solution-end}")
            ):
                k += 1
            assert k < len(lines), "a {solution-start} without {solution-end}"
            blocks.append(lines[end + 1 : k])
            end = _closing(lines, k)
        elif info.startswith("{solution}"):
            blocks.append(lines[i + 1 : end])
        i = end + 1
    return blocks


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00b6", " ").replace("\u200b", "")).strip()


def source_fragments(block: list[str]) -> set[str]:
    """Code lines and plain-prose runs of a solution block (markup, math and roles cut out)."""
    found = set()
    for line in block:
        if _FENCE.match(line) or re.match(r"^:[\w-]+:", line.strip()):
            continue  # fences and directive options
        found.add(_normalize(line))  # a code line appears verbatim in the page
        prose = re.sub(r"\$[^$]*\$|\{[\w:-]+\}`[^`]*`|`[^`]*`|\[[^\]]*\]\([^)]*\)|[*_#>]", "\n", line)
        found.update(_normalize(run) for run in prose.split("\n"))
    return {f for f in found if len(f) >= MIN_FRAGMENT}


class _Text(HTMLParser):
    """A page's text, split into what is inside a solution block (div.solution) and the rest."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, opens a solution)
        self.depth = 0  # how many solution blocks we are inside
        self.skip = 0
        self.solution: list[str] = []
        self.current: list[str] = []
        self.solutions: list[str] = []
        self.other: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        classes = (dict(attrs).get("class") or "").split()
        opens = tag == "div" and "solution" in classes
        self.stack.append((tag, opens))
        if opens:
            self.depth += 1
        if tag in ("script", "style"):
            self.skip += 1

    def handle_endtag(self, tag):
        while self.stack:
            open_tag, opened = self.stack.pop()
            if open_tag in ("script", "style"):
                self.skip -= 1
            if opened:
                self.depth -= 1
                if self.depth == 0:
                    self.solutions.append(_normalize(" ".join(self.current)))
                    self.current = []
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self.skip:
            return
        (self.current if self.depth else self.other).append(data)


def page_text(path: Path) -> _Text:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf8", errors="replace"))
    parser.close()
    return parser


def notebook_text(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf8"))
    parts = []
    for cell in nb.get("cells", []):
        parts.append("".join(cell.get("source", "")))
        for out in cell.get("outputs", []):
            parts.append("".join(out.get("text", "")))
            for value in (out.get("data") or {}).values():
                if isinstance(value, (str, list)):
                    parts.append("".join(value))
    return _normalize("\n".join(parts))


def all_text(folder: Path) -> dict[str, str]:
    """Every text-bearing file of an edition, as normalized text."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix.lower() in (
            ".png",
            ".jpg",
            ".jpeg",
            ".gif",
            ".svg",
            ".woff",
            ".woff2",
            ".ttf",
            ".eot",
            ".ico",
            ".pdf",
            ".inv",
            ".pickle",
            ".doctree",
        ):
            continue
        if "_static" in path.relative_to(folder).parts:
            continue  # the theme's and extensions' files, the same in both editions
        rel = path.relative_to(folder).as_posix()
        if path.suffix == ".html":
            parsed = page_text(path)
            out[rel] = _normalize(" ".join(parsed.other + parsed.solutions))
        elif path.suffix == ".ipynb":
            out[rel] = notebook_text(path)
        else:
            out[rel] = _normalize(path.read_text(encoding="utf8", errors="replace"))
    return out


# ----------------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def editions() -> tuple[Path, Path]:
    result = book_editions.build_student(ROOT)
    if not result.ok:
        pytest.fail("the student edition did not build:\n" + "\n".join(result.problems()[:40]), pytrace=False)
    how = "reused" if result.reused else f"built in {result.seconds:.1f} s"
    print(f"student edition {how}: {result.html}")
    return book_editions.Paths(ROOT).html, result.html


@pytest.fixture(scope="module")
def solution_fragments(editions) -> dict[str, list[str]]:
    """Per solution block (doc#n): the fragments that are in the full edition's solutions and nowhere else."""
    full, _ = editions
    pages = {doc: page_text(full / f"{doc}.html") for doc in tb.toc_docs() if (full / f"{doc}.html").is_file()}
    elsewhere = " ".join(_normalize(" ".join(p.other)) for p in pages.values())
    fragments: dict[str, list[str]] = {}
    problems = []
    for doc in tb.toc_docs():
        blocks = solution_blocks(tb.source_of(doc).read_text(encoding="utf8"))
        if not blocks:
            continue
        rendered = pages[doc].solutions
        if len(rendered) != len(blocks):
            problems.append(f"{doc}: {len(blocks)} solutions in the source, {len(rendered)} in the full edition")
            continue
        for n, (block, shown) in enumerate(zip(blocks, rendered), start=1):
            sentences = {_normalize(s) for s in re.split(r"(?<=[.!?:;])\s+", shown)}
            candidates = source_fragments(block) | {s for s in sentences if len(s) >= MIN_FRAGMENT}
            good = sorted(f for f in candidates if f in shown and f not in elsewhere)
            if not good:
                problems.append(f"{doc}: solution {n} has no text of its own to look for (source: {block[:3]})")
            fragments[f"{doc}#{n}"] = good
    assert not problems, "\n".join(problems)
    assert fragments, "no solutions in the book?"
    return fragments


# ----------------------------------------------------------------------------------------------------------
# the student edition


@needs_build
def test_no_solution_text_in_the_student_edition(editions, solution_fragments):
    _, student = editions
    files = all_text(student)
    assert any(name.endswith(".ipynb") for name in files) and any(name.endswith(".html") for name in files)
    leaks = []
    for block, fragments in solution_fragments.items():
        for fragment in fragments:
            leaks += [f"{block}: {fragment!r} in {name}" for name, text in files.items() if fragment in text]
    n = sum(map(len, solution_fragments.values()))
    assert not leaks, f"solution text found in the student edition ({len(leaks)} of {n} fragments):\n" + "\n".join(
        leaks[:40]
    )
    print(f"{len(solution_fragments)} solutions, {n} fragments, none in the {len(files)} files of the student edition")


@needs_build
def test_student_pages_keep_the_exercises_and_drop_the_solution_blocks(editions):
    full, student = editions
    problems = []
    for doc in tb.toc_docs():
        if not (full / f"{doc}.html").is_file():
            continue
        full_html = (full / f"{doc}.html").read_text(encoding="utf8")
        page = student / f"{doc}.html"
        if not page.is_file():
            problems.append(f"{doc}: no page in the student edition")
            continue
        html = page.read_text(encoding="utf8")
        exercise = re.compile(r'<div class="exercise[ "]')
        in_full, in_student = len(exercise.findall(full_html)), len(exercise.findall(html))
        if in_full != in_student:
            problems.append(f"{doc}: {in_full} exercises in the full edition, {in_student} in the student edition")
        if re.search(r'<div class="solution[ "]', html):
            problems.append(f"{doc}: a solution block is still on the page")
        if book_editions.STUDENT_BANNER not in html:
            problems.append(f"{doc}: the page does not say it is the student edition")
    assert not problems, "\n".join(problems)


@needs_build
def test_student_notebooks_keep_exercises_and_outputs(editions):
    _, student = editions
    problems = []
    for doc in tb.notebook_docs():
        path = student / "_sources" / f"{doc}.ipynb"
        page = (student / f"{doc}.html").read_text(encoding="utf8")
        if f"_sources/{doc}.ipynb" not in page:
            problems.append(f"{doc}: the page does not offer its notebook")
        if not path.is_file():
            problems.append(f"{doc}: {path.relative_to(student)} missing")
            continue
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        text = "\n".join(c.source for c in nb.cells)
        if "{solution" in text:
            problems.append(f"{doc}: a solution directive is left in the notebook")
        source = tb.source_of(doc).read_text(encoding="utf8")
        if source.count("{exercise}") != text.count("{exercise}"):
            problems.append(
                f"{doc}: {source.count('{exercise}')} exercises in the source, {text.count('{exercise}')} in the notebook"
            )
        code = [c for c in nb.cells if c.cell_type == "code"]
        if code and not any(c.outputs for c in code):
            problems.append(f"{doc}: the notebook has no outputs")
    assert not problems, "\n".join(problems)


@needs_build
def test_student_execution_page_shows_the_book_build(editions):
    """The student edition executes nothing itself: its status page shows the book build's data."""
    _, student = editions
    pages = [p for p in tb.html_pages(student) if "Run Time (s)" in p.read_text(encoding="utf8")]
    assert pages, "no execution-status table in the student edition"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", pages[0].read_text(encoding="utf8"), flags=re.S)
    cells = [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)] for row in rows
    ]
    by_doc = {c[0]: c for c in cells if c}
    problems = []
    for doc in tb.notebook_docs():
        row = by_doc.get(doc)
        if row is None or len(row) < 5:
            problems.append(f"{doc}: not listed")
        elif row[4] != "\u2705" or not float(row[3]) > 0:
            problems.append(f"{doc}: {row}")
    assert not problems, "\n".join(problems)


@needs_build
def test_student_pages_in_the_browser(editions):
    _, student = editions
    path = tb.find_chromium()
    if path is None:
        pytest.skip(f"no Chromium found, so the student edition is not checked in a browser: {tb.INSTALL_HINT}")
    browser = tb.Chromium(path)
    try:
        tab = browser.new_tab()
        problems = {}
        for page in tb.html_pages(student):
            report = tb.visit(tab, page, student)
            problems[report["page"]] = (
                tb.problems_javascript(report) + tb.problems_outside(report) + tb.problems_math(report)
            )
    finally:
        browser.close()
    tb.fail_if(problems, "student edition pages with errors")


# ----------------------------------------------------------------------------------------------------------
# the stripper, on notebooks written here


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        nb.cells.append(nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source))
    return nb


def test_strip_solutions_gated_across_cells():
    nb = _nb(
        (
            "md",
            "Intro.\n\n```{exercise}\n:label: ex-a\nDo it.\n```\n\n```{solution-start} ex-a\n:class: dropdown\n```\n\nSECRET prose.",
        ),
        ("code", "secret = 42"),
        ("md", "More SECRET.\n\n```python\nnot a directive\n```\n\n```{solution-end}\n```\n\nAfter the solution."),
        ("code", "kept = 1"),
    )
    changed = book_editions.strip_solutions(nb)
    text = "\n".join(c.source for c in nb.cells)
    assert "SECRET" not in text and "secret = 42" not in text and "not a directive" not in text
    assert "Do it." in text and "After the solution." in text and "kept = 1" in text and "{exercise}" in text
    assert [c.cell_type for c in nb.cells] == ["markdown", "markdown", "code"] and changed == 3


def test_strip_solutions_plain_and_colon_fences():
    nb = _nb(
        (
            "md",
            "```{exercise}\n:label: ex-b\nQ.\n```\n\n````{solution} ex-b\n:class: dropdown\nSECRET\n```python\nx = 1\n```\n````\n\nTail.",
        ),
        ("md", ":::{solution} ex-b\nSECRET 2\n:::\n"),
        ("md", "Untouched."),
    )
    book_editions.strip_solutions(nb)
    text = "\n".join(c.source for c in nb.cells)
    assert "SECRET" not in text and "x = 1" not in text
    assert "Q." in text and "Tail." in text and "Untouched." in text
    assert len(nb.cells) == 2  # the cell that held only a solution is gone


def test_strip_solutions_rejects_unbalanced_markers():
    with pytest.raises(ValueError, match="never closed"):
        book_editions.strip_solutions(_nb(("md", "```{solution-start} ex-c\n```\n\nSECRET"), ("code", "x = 1")))
    with pytest.raises(ValueError, match="without"):
        book_editions.strip_solutions(_nb(("md", "```{solution-end}\n```")))


def test_source_scanner_finds_every_solution_block():
    text = (
        "```{exercise}\n:label: e\nQ\n```\n\n```{solution-start} e\n:class: dropdown\n```\n\nA1\n\n"
        "```{code-cell} ipython3\nx = 1\n```\n\n```{solution-end}\n```\n\n````{solution} e\nA2\n```python\ny\n```\n````\n"
    )
    blocks = solution_blocks(text)
    assert len(blocks) == 2
    assert "A1" in blocks[0] and "x = 1" in blocks[0] and "A2" in blocks[1] and "y" in blocks[1]


def test_the_build_digest_does_not_depend_on_how_it_is_computed(tmp_path):
    """`make book` stamps the digest of `python book/_ext/book_editions.py digest`; the tests (repository root on
    sys.path, where the checkout's own egg-info is a second copy of the mappo_lite distribution) must get the same
    value, or they would build the book again instead of reusing it."""
    import subprocess
    import sys

    script = Path(book_editions.__file__)
    for cwd in (script.parents[2], tmp_path):
        out = subprocess.run(
            [sys.executable, str(script), "digest"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        assert out == book_editions.source_digest(), cwd
