"""Imports next to their first use (issue 16, requirement 6): no chapter opens with a wall of imported names.

The rule, checked on the code cells of every MyST notebook in ``book/`` (read with jupytext, as Jupyter opens them):

* every name an ``import`` binds in code cell *i* (``import a.b`` binds ``a``; ``as`` names count) is used (read, as a
  Python name) in cell *i* or in one of the next ``MAX_GAP`` = 2 code cells. A name used first 3 or more cells later
  belongs in the cell of its first use; a name never used is not imported;
* an import inside an exercise solution (between ``{solution-start}`` and ``{solution-end}``) is not used after that
  solution outside it: the student edition cuts the solutions out, and the next cell would then fail.

Uses are ``ast.Name`` loads, so ``t1.plot(...)`` uses ``t1`` and a function defined in a cell uses, in that cell, the
names its body reads. IPython magics (``%matplotlib inline``) are blanked before parsing. The test of the rule itself
(``test_the_rule_flags_a_bad_chapter``) writes chapters that break it and one that keeps it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[2]
#: A name imported in code cell i must be used by code cell i + MAX_GAP.
MAX_GAP = 2
CHAPTERS = sorted(p for p in (ROOT / "book").glob("*.md"))


def code_cells(path: Path) -> list[tuple[str, bool]]:
    """The code cells of a MyST notebook as (source, inside an exercise solution)."""
    nb = jupytext.read(path)
    out, in_solution = [], False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            if "{solution-start}" in cell.source:
                in_solution = True
            if "{solution-end}" in cell.source:
                in_solution = False
        elif cell.cell_type == "code":
            out.append((cell.source, in_solution))
    return out


def _parse(source: str) -> ast.Module:
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    return ast.parse("\n".join(lines))


def _imported(tree: ast.Module) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names += [a.asname or a.name.split(".")[0] for a in node.names]
    return names


def _used(tree: ast.Module) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store)}


def far_imports(cells: list[tuple[str, bool]], max_gap: int = MAX_GAP) -> list[str]:
    """Every breach of the rule (see the module docstring), one message each."""
    trees = [_parse(src) for src, _ in cells]
    used = [_used(t) for t in trees]
    problems = []
    for i, tree in enumerate(trees):
        for name in _imported(tree):
            first = next((j for j in range(i, len(trees)) if name in used[j]), None)
            if first is None:
                problems.append(f"code cell {i}: {name!r} is imported and never used")
            elif first - i > max_gap:
                problems.append(
                    f"code cell {i}: {name!r} is first used in code cell {first}, {first - i} cells later "
                    f"(at most {max_gap}): import it there"
                )
            if cells[i][1]:
                later = [j for j in range(i + 1, len(trees)) if not cells[j][1] and name in used[j]]
                if later:
                    problems.append(
                        f"code cell {i} (an exercise solution) imports {name!r}, which code cell {later[0]} outside "
                        "the solution uses: the student edition, without the solution, would fail there"
                    )
    return problems


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_imports_are_next_to_their_first_use(path):
    problems = far_imports(code_cells(path))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def _chapter(tmp_path: Path, name: str, cells: list[str]) -> Path:
    head = "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\nkernelspec:\n"
    head += "  display_name: Python 3\n  language: python\n  name: python3\n---\n\n# A chapter\n\n"
    body = ""
    for c in cells:
        body += c if c.startswith(("```{solution", "Some")) else f"```{{code-cell}} ipython3\n{c}\n```\n\n"
        if c.startswith(("```{solution", "Some")):
            body += "\n\n"
    path = tmp_path / f"{name}.md"
    path.write_text(head + body)
    return path


def test_the_rule_flags_a_bad_chapter(tmp_path):
    wall = "%matplotlib inline\nimport math\n\nimport numpy as np\nfrom os import path as osp, sep"
    bad = _chapter(
        tmp_path, "bad", [wall, "x = np.ones(3)", "y = 2", "z = 3", "print(math.pi, x, y, z)", "print(osp.sep)"]
    )
    problems = far_imports(code_cells(bad))
    assert len(problems) == 3, problems  # exact: a count
    assert any("'math'" in p and "code cell 4" in p for p in problems)
    assert any("'osp'" in p and "code cell 5" in p for p in problems)
    assert any("'sep'" in p and "never used" in p for p in problems)
    good = _chapter(
        tmp_path,
        "good",
        ["%matplotlib inline\nimport numpy as np", "x = np.ones(3)", "y = 2", "import math\n\nprint(math.pi, x, y)"],
    )
    assert far_imports(code_cells(good)) == []
    # a function body counts as a use in the cell that defines it
    assert far_imports(code_cells(_chapter(tmp_path, "fn", ["import math", "def f():\n    return math.pi"]))) == []
    solution = _chapter(
        tmp_path,
        "solution",
        [
            "Some text.",
            "```{solution-start} ex-1\n:class: dropdown\n```",
            "import math\n\nprint(math.pi)",
            "```{solution-end}\n```",
            "print(math.e)",
        ],
    )
    problems = far_imports(code_cells(solution))
    assert len(problems) == 1 and "student edition" in problems[0], problems
