r"""Export the assignments as otter-grader sources (``assignments build --format otter``), from the same MyST sources.

otter-grader (``otter assign``, 7.x) reads one *master notebook* per assignment in its notebook format: a raw cell
``# ASSIGNMENT CONFIG`` (YAML), then every question between raw cells ``# BEGIN QUESTION`` (YAML: ``name``,
``manual``, ``points``) and ``# END QUESTION``, holding an optional prompt, a ``# BEGIN SOLUTION`` …
``# END SOLUTION`` block of cells and, for autograded questions, a ``# BEGIN TESTS`` … ``# END TESTS`` block of
test cells. :func:`otter_notebook` writes that notebook from an :class:`~.source.Assignment`, cell for cell:

* read-only cells (``locked`` code, the text between questions) are copied unchanged;
* a solution cell with its following test cells (our *question*) becomes one otter question named by the
  solution cell's ``grade_id``; the markdown cell just before it (the question's statement) is its prompt;
* a code solution keeps its ``# BEGIN SOLUTION`` / ``# END SOLUTION`` lines, which otter replaces by ``...``
  (a solution cell without markers is wrapped in them: the whole cell is the answer, as in nbgrader);
* a written answer (markdown ``grade`` and ``solution``) becomes a manual question with the same points;
* every test cell becomes one otter test case in otter's *exception-based* format, with a ``# BEGIN TEST
  CONFIG`` block giving its ``points`` (ours) and ``hidden: true`` when it is a hidden test. nbgrader's rule is
  kept: a test cell scores its points when it runs without an error, in the notebook's global namespace, after
  the cells before it (so a later test may use a name an earlier one defined). The test function therefore
  executes the cell's code in otter's ``env`` (the notebook's globals) rather than being the code itself; the
  ``# BEGIN HIDDEN TESTS`` marker lines are dropped. A test cell with public and hidden lines becomes one hidden
  case with all of its points and a public case worth 0 with its public lines, which students can run.

Points: each question's otter total is the sum of its test cells' points, equal to ``assignments list``. The
notebook-level metadata names the assignment (``mappo_lite.assignment``, ``title``, ``source_sha256``) and says
no *edition*: otter copies it into the student notebook and the solution notebook alike.

Nothing here imports otter: the output is plain nbformat (tests/clients/test_otter.py runs the real
``otter assign`` and ``otter run`` on it).
"""

from __future__ import annotations

import copy
import json
import re

from ..errors import MappoLiteError
from .checksum import is_grade, is_locked, is_solution, nbgrader_meta
from .release import BuildResult, write_editions
from .source import BEGIN_HIDDEN, BEGIN_SOLUTION, END_HIDDEN, END_SOLUTION, Assignment

__all__ = ["otter_notebook", "assignment_config", "test_case_source", "build_otter", "OTTER_FORMAT_VERSION"]

#: Version of this export's layout (the ``mappo_lite.otter_format`` notebook metadata).
OTTER_FORMAT_VERSION = 1

#: Line suffixes and markers otter assign acts on anywhere in a cell (``otter/assign/solutions.py``,
#: ``blocks.py``); a source line containing one would be changed or dropped by otter, so the export refuses it.
_OTTER_TOKENS = re.compile(
    r"#\s*(SOLUTION|SEED|IGNORE|BEGIN\s+IGNORE|END\s+IGNORE|BEGIN\s+PROMPT|END\s+PROMPT|"
    r"BEGIN\s+(QUESTION|TESTS|TEST\s+CONFIG)|END\s+(QUESTION|TESTS|TEST\s+CONFIG)|ASSIGNMENT\s+CONFIG)\b"
)


def _src(cell) -> str:
    return "".join(cell.source) if isinstance(cell.source, list) else cell.source


def _raw(text: str):
    import nbformat

    return nbformat.v4.new_raw_cell(text)


def _yaml(obj) -> str:
    """Flow-style YAML that otter's ``yaml.full_load`` reads back exactly (JSON is a subset of YAML)."""
    return "\n".join(f"{k}: {json.dumps(v)}" for k, v in obj.items())


def assignment_config(assignment: Assignment) -> dict:
    """The ``# ASSIGNMENT CONFIG`` of the master notebook.

    Tests live in the notebook's metadata in the exception-based format; ``otter assign`` runs them on the
    solution notebook (``run_tests``); the autograder zip is generated without PDFs; the export cell writes the
    submission zip without a PDF (no LaTeX needed).
    """
    return {
        "name": assignment.name,
        "init_cell": True,
        "check_all_cell": False,
        "run_tests": True,
        "solutions_pdf": False,
        "export_cell": {"pdf": False},
        "generate": {"pdf": False},
        "tests": {"files": False, "ok_format": False},
    }


def _check_tokens(assignment: Assignment, cell, allowed: tuple = ()) -> None:
    for line in _src(cell).split("\n"):
        if line.strip() in allowed:
            continue
        m = _OTTER_TOKENS.search(line)
        if m:
            gid = nbgrader_meta(cell).get("grade_id", "")
            raise MappoLiteError(
                f"{assignment.name}: cell {gid or '(text)'}: the line {line.strip()!r} contains {m.group(0)!r}, "
                "which otter assign would act on; reword it to export to otter"
            )


def _identifier(grade_id: str) -> str:
    return "test_" + re.sub(r"\W", "_", grade_id)


def test_case_source(grade_id: str, code: str, points: float, hidden: bool) -> str:
    """One otter test cell (exception-based format) that runs ``code`` in the notebook's globals ``env``."""
    config = f'""" # BEGIN TEST CONFIG\npoints: {json.dumps(float(points))}\nhidden: {"true" if hidden else "false"}\n""" # END TEST CONFIG'
    run = f"    exec(compile(cell, {('<' + grade_id + '>')!r}, 'exec'), env)"
    return f"{config}\ndef {_identifier(grade_id)}(env):\n    cell = {_literal(code)}\n{run}"


def _literal(code: str) -> str:
    """A Python string literal for ``code``: the cell's lines as they are (a raw triple-quoted string) when that
    reads back exactly, else ``repr``."""
    import ast

    text = "\n" + code + "\n"
    lit = f"r'''{text}'''"
    try:
        if ast.literal_eval(lit) == text:
            return lit
    except (SyntaxError, ValueError):
        pass
    return repr(text)


def _split_hidden(source: str) -> tuple:
    """(public lines, all lines without the hidden markers) of a test cell."""
    public, full, inside = [], [], False
    for line in source.split("\n"):
        s = line.strip()
        if s == f"# {BEGIN_HIDDEN}":
            inside = True
            continue
        if s == f"# {END_HIDDEN}":
            inside = False
            continue
        full.append(line)
        if not inside:
            public.append(line)
    return "\n".join(public), "\n".join(full)


def _has_code(text: str) -> bool:
    return any(ln.strip() and not ln.strip().startswith("#") for ln in text.split("\n"))


def _test_cells(assignment: Assignment, cell) -> list:
    """The otter test cells for one of our test cells."""
    import nbformat

    meta = nbgrader_meta(cell)
    gid, points = meta["grade_id"], float(meta["points"])
    src = _src(cell)
    public, full = _split_hidden(src)
    has_hidden = any(ln.strip() == f"# {BEGIN_HIDDEN}" for ln in src.split("\n"))
    if not has_hidden:
        return [nbformat.v4.new_code_cell(test_case_source(gid, full, points, hidden=False))]
    cells = [nbformat.v4.new_code_cell(test_case_source(gid, full, points, hidden=True))]
    if _has_code(public):
        cells.insert(0, nbformat.v4.new_code_cell(test_case_source(f"{gid}_public_part", public, 0.0, hidden=False)))
    return cells


def _solution_cell(assignment: Assignment, cell):
    import nbformat

    src = _src(cell)
    if cell.cell_type == "markdown":
        return nbformat.v4.new_markdown_cell(src)
    lines = src.split("\n")
    if not any(ln.strip() == f"# {BEGIN_SOLUTION}" for ln in lines):
        src = f"# {BEGIN_SOLUTION}\n{src}\n# {END_SOLUTION}"
    return nbformat.v4.new_code_cell(src)


def otter_notebook(assignment: Assignment):
    """The otter-assign master notebook of ``assignment`` (see the module docstring)."""
    import nbformat

    cells = list(assignment.notebook.cells)
    questions = {q.id: q for q in assignment.questions}
    out = [_raw("# ASSIGNMENT CONFIG\n" + _yaml(assignment_config(assignment)))]
    i = 0
    while i < len(cells):
        cell = cells[i]
        nxt = cells[i + 1] if i + 1 < len(cells) else None
        if cell.cell_type == "markdown" and not is_solution(cell) and nxt is not None and is_solution(nxt):
            i += 1  # the prompt: written inside the question below
            continue
        if is_solution(cell):
            gid = nbgrader_meta(cell)["grade_id"]
            q = questions[gid]
            if cell.cell_type == "code" and is_grade(cell):
                raise MappoLiteError(
                    f"{assignment.name}: {gid} is a code cell that is both solution and grade; otter has no such "
                    "question (put the checks in a test cell after it)"
                )
            if q.kind == "code" and q.auto_points <= 0:
                raise MappoLiteError(f"{assignment.name}: {gid} is worth 0 points; otter would count it as 1")
            _check_tokens(assignment, cell, allowed=(f"# {BEGIN_SOLUTION}", f"# {END_SOLUTION}"))
            header = {"name": gid}
            if q.kind == "written":
                header.update({"manual": True, "points": q.manual_points})
            out.append(_raw("# BEGIN QUESTION\n" + _yaml(header)))
            prev = cells[i - 1] if i > 0 else None
            if prev is not None and prev.cell_type == "markdown" and not is_solution(prev):
                _check_tokens(assignment, prev)
                out.append(nbformat.v4.new_markdown_cell(_src(prev)))
            out += [_raw(f"# {BEGIN_SOLUTION}"), _solution_cell(assignment, cell), _raw(f"# {END_SOLUTION}")]
            j = i + 1
            tests = []
            while j < len(cells) and is_grade(cells[j]) and not is_solution(cells[j]):
                _check_tokens(assignment, cells[j], allowed=(f"# {BEGIN_HIDDEN}", f"# {END_HIDDEN}"))
                tests += _test_cells(assignment, cells[j])
                j += 1
            if tests:
                out += [_raw("# BEGIN TESTS"), *tests, _raw("# END TESTS")]
            out.append(_raw("# END QUESTION"))
            i = j
            continue
        if cell.cell_type == "code" and not is_locked(cell):
            raise MappoLiteError(f"{assignment.name}: a test cell outside a question ({nbgrader_meta(cell)})")
        _check_tokens(assignment, cell)
        new = copy.deepcopy(cell)
        new.metadata.pop("nbgrader", None)
        if new.cell_type == "code":
            new.outputs, new.execution_count = [], None
        out.append(new)
        i += 1
    for k, c in enumerate(out):
        c["id"] = f"otter-{k:03d}"  # deterministic, like the editions' ids
    nb = nbformat.v4.new_notebook(cells=out)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["mappo_lite"] = {
        "assignment": assignment.name,
        "title": assignment.title,
        "source_sha256": assignment.sha256,
        "otter_format": OTTER_FORMAT_VERSION,
    }
    return nb


def build_otter(outdir, names=None, source_dir=None) -> BuildResult:
    """Write ``outdir/otter/<name>.ipynb`` (one otter-assign master notebook per assignment) and
    ``outdir/release.json`` (as :func:`.release.build`: everything is converted before anything is written)."""
    out, paths, rel, info = write_editions(
        outdir, {"otter": (otter_notebook, "otter master notebook")}, names, source_dir
    )
    return BuildResult(out, paths["otter"], [], rel, info)  # the masters hold the solutions
