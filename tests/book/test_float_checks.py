"""No check in the book or the assignments compares a computed float with ``==``.

Floating point differs between CPUs, SIMD paths and BLAS kernels: a value that is 0 in exact arithmetic can come
out as 1e-32 on another machine (this is how ``book/07_experiment.md`` once failed on an AMD EPYC). So every claim
is checked with a tolerance stated relative to the scale of the quantity, and an exact comparison is allowed only
where both sides are exact by construction (integers, counts, strings, values copied or read back without
arithmetic). This module scans the code cells of every MyST notebook under ``book/`` and ``mappo_lite/course/sources/``:

* every ``==`` / ``!=`` inside an ``assert`` must have an exact literal on one side (an ``int``, ``str``,
  ``bool``, ``None``, a collection of those, ``len(...)`` or ``.shape``) and no ``float`` literal anywhere;
* ``np.array_equal``, ``np.testing.assert_array_equal`` and ``assert_equal`` are exact comparisons too;
* a line that needs an exact comparison of computed objects says why, in a trailing comment ``# exact: <why>``.

The make target ``make test-portable`` is the other half of the proof: it runs the library tests, every chapter
and every assignment's instructor solution under another numerical path (see the README).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "book").glob("*.md")) + sorted((ROOT / "mappo_lite" / "course" / "sources").glob("*.md"))

_EXACT_MARK = re.compile(r"#\s*exact:\s*\S")
_EXACT_CALLS = {"array_equal", "assert_array_equal", "assert_equal", "array_equiv"}
_EXACT_FUNCS = {"len", "type", "isinstance", "set", "sorted", "frozenset", "id"}
_EXACT_ATTRS = {"shape", "ndim", "size", "dtype", "kind", "name"}


def _is_float_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (float, complex))


def _is_exact_operand(node: ast.AST) -> bool:
    """An operand that is exact by construction whatever the machine: see the module docstring."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _is_exact_operand(node.operand)
    if isinstance(node, ast.Constant):
        return node.value is None or isinstance(node.value, (bool, int, str, bytes))
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_is_exact_operand(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is None or _is_exact_operand(k) for k in node.keys) and all(
            _is_exact_operand(v) for v in node.values
        )
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _EXACT_FUNCS:
        return True
    if isinstance(node, ast.Attribute) and node.attr in _EXACT_ATTRS:
        return True
    return False


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def exact_float_comparisons(code: str) -> list[tuple[int, str]]:
    """``(line, reason)`` for every comparison in ``code`` that may compare computed floats exactly."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        # IPython magics and shell escapes: drop those lines and try again
        tree = ast.parse("\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in code.splitlines()))
    lines = code.splitlines()
    found = []

    def marked(node: ast.AST) -> bool:
        last = getattr(node, "end_lineno", node.lineno)
        return any(_EXACT_MARK.search(lines[i - 1]) for i in range(node.lineno, last + 1) if i - 1 < len(lines))

    for stmt in ast.walk(tree):
        if isinstance(stmt, ast.Call) and _call_name(stmt) in _EXACT_CALLS and not marked(stmt):
            found.append((stmt.lineno, f"{_call_name(stmt)}(...) compares exactly"))
        if not isinstance(stmt, ast.Assert) or marked(stmt):
            continue
        for node in ast.walk(stmt.test):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
                continue
            operands = [node.left, *node.comparators]
            if any(_is_float_literal(n) for o in operands for n in ast.walk(o)):
                found.append((node.lineno, "== / != with a float literal"))
            elif not any(_is_exact_operand(o) for o in operands):
                found.append((node.lineno, "== / != between two computed values"))
    return sorted(set(found))


def _code_cells(path: Path):
    nb = jupytext.read(path)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            yield index, cell.source


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_exact_float_comparison_in_checks(path: Path) -> None:
    problems = []
    for index, source in _code_cells(path):
        for line, reason in exact_float_comparisons(source):
            problems.append(f"cell {index}, line {line}: {reason}: {source.splitlines()[line - 1].strip()}")
    assert not problems, (
        f"{path.relative_to(ROOT)}: use a tolerance relative to the quantity's scale, or mark an exact-by-"
        "construction comparison with '# exact: <why>':\n  " + "\n  ".join(problems)
    )


def test_the_sources_are_found() -> None:
    names = {p.name for p in SOURCES}
    assert {"07_experiment.md", "a1_softmax_policies.md"} <= names and len(SOURCES) >= 15


@pytest.mark.parametrize(
    "code",
    [
        "assert np.all(g[1] == 0.0)",
        "assert x - y == 0.5",
        "assert -1.5 != f(x)",
        "assert a == b",
        "assert np.array_equal(a, b)",
        "ok = np.testing.assert_array_equal(a, b)",
        "assert table['x'] == reference(0.05, 300)",
        "assert n > 0 and J == J_star",
    ],
)
def test_the_scanner_flags_exact_float_comparisons(code: str) -> None:
    assert exact_float_comparisons(code), code


@pytest.mark.parametrize(
    "code",
    [
        "assert len(levels) == 4",
        "assert result['total'] == 2 and result['questions'][1]['points'] == 0",
        "assert set(curves) == {'a', 'b'}",
        "assert a.shape == b.shape",
        "assert np.array_equal(loaded.P, game.P)  # exact: read back from the file, no arithmetic",
        "assert abs(x - y) <= 1e-12 * scale",
        "if eta == 0.05:\n    pass",
        "%time f()\nassert name == 'climbing'",
    ],
)
def test_the_scanner_accepts_exact_by_construction(code: str) -> None:
    assert not exact_float_comparisons(code), code
