"""The book's TeX macros (``\\E``, ``\\KL``, ``\\ip{a}{b}``, ...) in JupyterLab as in the built book.

**One source of truth**: ``_config.yml`` (``sphinx.config.mathjax3_config.tex.macros``), which the built book's
MathJax reads. JupyterLab renders markdown cells with jupyterlab-myst, which does not read ``_config.yml``: it takes
macros from the MyST frontmatter (a ``math:`` mapping) at the top of the notebook's *first markdown cell*. So every
chapter that uses a macro opens with a markdown cell tagged ``remove-cell`` (the book's build skips it) holding
exactly that frontmatter, generated from ``_config.yml``:

    +++ {"tags": ["remove-cell"]}

    ---
    math:
      '\\E': '\\mathbb{E}'
      ...
    ---

The cell travels with the chapter: the ``.md`` opened with jupytext in JupyterLab, ``jupytext --to ipynb`` and the
book's ``.ipynb`` download all keep it. This test checks that every chapter using a macro has the cell and that
the cell matches ``_config.yml``; after changing the macros, regenerate the cells with
``.venv/bin/python -m tests.book.test_math_macros --write``. ``tests/book/test_jupyterlab.py`` checks in a real
JupyterLab that a chapter using macros renders without a TeX error.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
MARKER = '+++ {"tags": ["remove-cell"]}\n\n---\nmath:\n'
HEADER = re.compile(r"\A---\n.*?\n---\n", re.S)


def config_macros() -> dict[str, str]:
    """``{name: definition}`` from ``_config.yml`` (a macro with arguments is ``[definition, n]`` there)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
    macros = config["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    return {name: (value[0] if isinstance(value, list) else value) for name, value in macros.items()}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def frontmatter_cell(macros: dict[str, str]) -> str:
    """The first markdown cell of a chapter: MyST frontmatter with the macros, tagged remove-cell."""
    lines = [f"  {_quote(chr(92) + name)}: {_quote(value)}" for name, value in macros.items()]
    return MARKER + "\n".join(lines) + "\n---\n\n+++\n"


def uses_macros(text: str, macros) -> bool:
    names = "|".join(re.escape(n) for n in macros)
    return re.search(rf"\\(?:{names})(?![A-Za-z])", text) is not None


def chapters() -> list[Path]:
    return sorted(p for p in BOOK.glob("*.md") if HEADER.match(p.read_text(encoding="utf8")))


def split(text: str) -> tuple[str, str | None, str]:
    """(jupytext header, the frontmatter cell or None, the rest) of a chapter's text."""
    header = HEADER.match(text).group(0)
    rest = text[len(header) :]
    body = rest.lstrip("\n")
    if body.startswith(MARKER):
        end = body.index("\n---\n\n+++\n", len(MARKER) - 1) + len("\n---\n\n+++\n")
        return header, body[:end], body[end:]
    return header, None, rest


def write_cells() -> list[Path]:
    """Insert or refresh the frontmatter cell of every chapter that uses a macro; returns the files changed."""
    macros, changed = config_macros(), []
    cell = frontmatter_cell(macros)
    for path in chapters():
        text = path.read_text(encoding="utf8")
        header, current, rest = split(text)
        if not uses_macros(rest, macros) or current == cell:
            continue
        new = header + "\n" + cell + ("" if rest.startswith("\n") else "\n") + rest
        path.write_text(new, encoding="utf8")
        changed.append(path)
    return changed


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_chapters_using_macros_carry_the_config_macros(path):
    macros = config_macros()
    header, current, rest = split(path.read_text(encoding="utf8"))
    if not uses_macros(rest, macros):
        assert current is None, f"{path.name} uses no macro: drop its frontmatter cell"
        return
    fix = "run .venv/bin/python -m tests.book.test_math_macros --write"
    assert current is not None, f"{path.name} uses the book's macros but has no frontmatter cell ({fix})"
    assert current == frontmatter_cell(macros), f"{path.name}: its macros differ from _config.yml ({fix})"
    # and jupyterlab-myst will find them: the cell is the notebook's first markdown cell, YAML that parses
    import jupytext

    first = next(c for c in jupytext.read(path).cells if c.cell_type == "markdown")
    assert first.metadata.get("tags") == ["remove-cell"]
    front = yaml.safe_load(first.source.strip().strip("-"))
    assert front["math"] == {"\\" + k: v for k, v in macros.items()}


def test_the_check_sees_a_macro_and_a_stale_cell():
    macros = {"E": "\\mathbb{E}", "ip": "\\left\\langle #1, #2 \\right\\rangle"}
    assert uses_macros("the mean $\\E[X]$", macros) and uses_macros("$\\ip{a}{b}$", macros)
    assert not uses_macros("$\\Exp$ and $\\mathbb{E}$ and $\\iota$", macros)
    text = "---\njupytext: {}\n---\n\n" + frontmatter_cell(macros) + "\n# Title\n"
    _, cell, rest = split(text)
    assert cell == frontmatter_cell(macros) and rest == "\n# Title\n"
    assert cell != frontmatter_cell({**macros, "E": "\\mathrm{E}"})


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.book.test_math_macros --write")
    for p in write_cells():
        print(f"updated {p.relative_to(ROOT)}")
