r"""Build the instructor and student editions of the assignments and ``release.json``.

The student edition is made by the steps of nbgrader's ``generate_assignment``, in nbgrader's order
(``nbgrader/converters/generate_assignment.py``, 0.9.x), reimplemented on plain nbformat notebooks:

1. **LockCells**: every solution, grade and read-only cell gets ``deletable: false``; grade cells that are not
   solutions and read-only cells also get ``editable: false``.
2. **ClearSolutions**: each ``# BEGIN SOLUTION`` … ``# END SOLUTION`` region becomes the stub
   ``# YOUR CODE HERE`` / ``raise NotImplementedError()``, every line indented like the ``BEGIN`` marker; a solution
   cell without markers becomes the stub (markdown: ``YOUR ANSWER HERE``).
3. **ClearOutput**: outputs and execution counts removed (and the ``collapsed``/``scrolled`` cell metadata).
4. **ComputeChecksums**, 5. **ClearHiddenTests** (the ``# BEGIN HIDDEN TESTS`` … ``# END HIDDEN TESTS`` lines,
   markers included, are deleted), 6. **ComputeChecksums** again: the checksum written in the student notebook is
   that of the cell the student receives, with ``metadata.nbgrader.cell_type``.

We also drop the attachments of solution cells (nbgrader keeps them, a known way for an image in a written
solution to leak) and give every cell a deterministic id (its ``grade_id`` when it has one). The instructor edition
is the source as an ``.ipynb`` (no checksums, no outputs): a valid nbgrader *source* notebook.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import MappoLiteError
from .checksum import compute_checksum, is_grade, is_locked, is_nbgrader_cell, is_solution, nbgrader_meta
from .source import BEGIN_HIDDEN, BEGIN_SOLUTION, END_HIDDEN, END_SOLUTION, Assignment, load_all

__all__ = [
    "FORMAT_VERSION",
    "instructor_notebook",
    "student_notebook",
    "release_info",
    "build",
    "BuildResult",
    "clear_solutions",
    "clear_hidden_tests",
    "lock_cell",
    "mark_student_edition",
]

#: Version of the layout of ``release.json`` and of the ``mappo_lite`` notebook metadata.
FORMAT_VERSION = 1
_ID = re.compile(r"^[a-zA-Z0-9_\-]{1,64}$")


def _src(cell) -> str:
    return "".join(cell.source) if isinstance(cell.source, list) else cell.source


def clear_solutions(cell, code_stub: str, text_stub: str) -> None:
    """nbgrader's ClearSolutions on one solution cell (in place)."""
    if not is_solution(cell):
        return
    stub = (code_stub if cell.cell_type == "code" else text_stub).split("\n")
    new, inside, replaced = [], False, False
    for line in _src(cell).split("\n"):
        if BEGIN_SOLUTION in line:
            inside, replaced = True, True
            indent = re.match(r"\s*", line).group(0)
            new.extend(indent + s for s in stub)
        elif END_SOLUTION in line:
            inside = False
        elif not inside:
            new.append(line)
    cell.source = "\n".join(new) if replaced else "\n".join(stub)
    cell.pop("attachments", None)


def clear_hidden_tests(cell) -> None:
    """nbgrader's ClearHiddenTests on one cell (in place): the region and its markers go."""
    lines, inside = [], False
    for line in _src(cell).split("\n"):
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif not inside:
            lines.append(line)
    cell.source = "\n".join(lines)


def lock_cell(cell) -> None:
    """nbgrader's LockCells with its defaults (in place)."""
    if is_solution(cell):
        cell.metadata["deletable"] = False
    elif is_grade(cell) or is_locked(cell):
        cell.metadata["deletable"] = False
        cell.metadata["editable"] = False


def _clear_output(cell) -> None:
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
        for key in ("collapsed", "scrolled"):
            cell.metadata.pop(key, None)


def _set_checksum(cell) -> None:
    if is_nbgrader_cell(cell):
        cell.metadata["nbgrader"]["checksum"] = compute_checksum(cell)
        cell.metadata["nbgrader"]["cell_type"] = cell.cell_type


def _assign_ids(nb) -> None:
    used = set()
    for i, cell in enumerate(nb.cells):
        gid = nbgrader_meta(cell).get("grade_id")
        cid = gid if (gid and _ID.match(gid) and gid not in used) else f"cell-{i:03d}"
        while cid in used:
            cid += "x"
        used.add(cid)
        cell["id"] = cid


def _base(assignment: Assignment, edition: str):
    nb = copy.deepcopy(assignment.notebook)
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata.pop("jupytext", None)
    nb.metadata.pop("celltoolbar", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata["mappo_lite"] = {
        "assignment": assignment.name,
        "title": assignment.title,
        "edition": edition,
        "source_sha256": assignment.sha256,
        "format_version": FORMAT_VERSION,
    }
    for cell in nb.cells:
        cell.source = _src(cell)
        _clear_output(cell)
    _assign_ids(nb)
    return nb


def instructor_notebook(assignment: Assignment):
    """The complete notebook (solutions, public and hidden tests), without outputs."""
    return _base(assignment, "instructor")


def student_notebook(assignment: Assignment, code_stub: str | None = None, text_stub: str | None = None):
    """The student edition (see the module docstring for the steps)."""
    code_stub = assignment.code_stub if code_stub is None else code_stub
    text_stub = assignment.text_stub if text_stub is None else text_stub
    nb = _base(assignment, "student")
    for cell in nb.cells:
        lock_cell(cell)
        clear_solutions(cell, code_stub, text_stub)
        _set_checksum(cell)  # nbgrader's first ComputeChecksums (what its database stores)
        clear_hidden_tests(cell)
        _set_checksum(cell)
    return nb


def release_info(assignments) -> dict:
    """The content of ``release.json``: names, questions, points (no solution or test text)."""
    items = [a.summary() for a in assignments]
    return {
        "format_version": FORMAT_VERSION,
        "generator": "mappo_lite.assignments",
        "assignments": items,
        "total_points": float(sum(a["points"] for a in items)),
    }


def _validate(nb, what: str) -> None:
    import nbformat

    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise MappoLiteError(f"{what} is not a valid notebook: {str(exc).splitlines()[0]}") from None


@dataclass
class BuildResult:
    outdir: Path
    instructor: list
    student: list
    release: Path
    info: dict


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_editions(outdir, editions: dict, names=None, source_dir=None):
    """Render every assignment in each edition and write ``outdir/<folder>/<name>.ipynb`` plus
    ``outdir/release.json``; returns ``(outdir, {folder: [paths]}, release path, release info)``.

    ``editions`` maps a folder name to ``(render, label)``: ``render(assignment)`` makes the notebook, ``label`` names
    it in a validation error. Every source is parsed, validated and converted before anything is written: on an
    error nothing is written. Existing files of the same names are replaced; other files in ``outdir`` are left
    alone. The one writer of :func:`build` and :func:`.otter.build_otter`."""
    import nbformat

    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise MappoLiteError(f"output folder {str(out)!r} exists and is not a folder")
    assignments = load_all(source_dir, names)
    rendered = []
    for a in assignments:
        texts = {}
        for folder, (render, label) in editions.items():
            nb = render(a)
            _validate(nb, f"{label} of {a.name}")
            texts[folder] = nbformat.writes(nb)
        rendered.append((a, texts))
    info = release_info(assignments)
    for folder in editions:
        (out / folder).mkdir(parents=True, exist_ok=True)
    paths = {folder: [] for folder in editions}
    for a, texts in rendered:
        for folder, text in texts.items():
            p = out / folder / f"{a.name}.ipynb"
            _atomic_write(p, text + "\n")
            paths[folder].append(p)
    rel = out / "release.json"
    _atomic_write(rel, json.dumps(info, indent=2) + "\n")
    return out, paths, rel, info


def build(
    outdir, names=None, source_dir=None, code_stub: str | None = None, text_stub: str | None = None
) -> BuildResult:
    """Write ``outdir/instructor/<name>.ipynb``, ``outdir/student/<name>.ipynb`` and ``outdir/release.json``.

    Every source is parsed, validated and converted before anything is written: on an error nothing is written.
    Existing files of the same names are replaced; other files in ``outdir`` are left alone.
    """
    editions = {
        "instructor": (instructor_notebook, "instructor edition"),
        "student": (lambda a: student_notebook(a, code_stub, text_stub), "student edition"),
    }
    out, paths, rel, info = write_editions(outdir, editions, names, source_dir)
    return BuildResult(out, paths["instructor"], paths["student"], rel, info)


def mark_student_edition(nb, resources):
    """An nbgrader ``generate_assignment`` step: the released notebook's ``mappo_lite.edition`` becomes ``"student"``.

    nbgrader copies the notebook-level metadata of the source (our instructor edition, ``"instructor"``)
    unchanged into its release; its own steps change cells only. Add this step in ``nbgrader_config.py``::

        c.GenerateAssignment.preprocessors.append("mappo_lite.course.release.mark_student_edition")

    (a plain function: nbconvert calls it as ``(nb, resources) -> (nb, resources)``; it imports nothing).
    """
    meta = nb.metadata.get("mappo_lite")
    if isinstance(meta, dict):
        meta["edition"] = "student"
    return nb, resources
