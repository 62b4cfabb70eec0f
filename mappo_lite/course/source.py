r"""Instructor sources: MyST notebooks with nbgrader v3 cell metadata and solution / hidden-test markers.

An assignment is one MyST markdown notebook ``mappo_lite/course/sources/<name>.md`` (or a ``.ipynb``) whose header names it::

    ---
    jupytext: {text_representation: {extension: .md, format_name: myst, format_version: 0.13}}
    kernelspec: {display_name: Python 3, language: python, name: python3}
    mappo_lite: {assignment: <name>, title: "A title"}
    ---

Cells carry nbgrader's v3 metadata (``schema_version: 3``, the flags ``grade``/``solution``/``locked``, a
``grade_id`` and, for grade cells, ``points``) as a MyST cell option (code cells) or a ``+++ {"nbgrader": {...}}``
separator (markdown cells). Inside cells:

* ``# BEGIN SOLUTION`` … ``# END SOLUTION`` (solution cells) is replaced by the stub in the student edition;
  a solution cell without markers is replaced whole;
* ``# BEGIN HIDDEN TESTS`` … ``# END HIDDEN TESTS`` (test cells) is removed from the student edition.

The rules checked here (``load_assignment`` raises :class:`AssignmentSourceError` naming the file and cell):

* nbgrader's own schema v3: the three flags are booleans, ``grade_id`` (letters, digits, ``_``, ``-``) is present and
  unique when a flag is set, ``points`` ≥ 0 is present exactly on grade cells, a markdown cell is ``grade`` iff it is
  ``solution``; no other keys (``checksum`` and ``cell_type`` are computed by ``build``; ``task`` cells are not
  supported);
* markers appear only as whole lines of exactly that text (the single-``#`` form both nbgrader and otter-grader
  accept), properly paired and not nested; solution markers only in solution cells, hidden-test markers only in
  grade (test) cells; nbgrader's other delimiters (``BEGIN MARK SCHEME``, ``AUTOTEST``) are reserved;
* every code cell is an nbgrader cell (read-only code is ``locked: true``), so the grader knows where every line
  of the graded notebook comes from;
* questions: a **question** is a solution cell plus the test cells that follow it up to the next solution cell; a
  code answer needs at least one test cell, a written answer (a markdown cell that is ``solution`` and ``grade``)
  is graded by hand; test cells before the first solution cell are an error.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MappoLiteError
from .checksum import is_grade, is_locked, is_solution, nbgrader_meta

__all__ = [
    "BEGIN_SOLUTION",
    "END_SOLUTION",
    "BEGIN_HIDDEN",
    "END_HIDDEN",
    "CODE_STUB",
    "TEXT_STUB",
    "AssignmentSourceError",
    "TestCell",
    "Question",
    "Assignment",
    "default_source_dir",
    "find_sources",
    "load_assignment",
    "load_all",
    "solution_regions",
]

BEGIN_SOLUTION = "BEGIN SOLUTION"
END_SOLUTION = "END SOLUTION"
BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
#: Delimiters nbgrader reacts to that our format does not use (a line containing one would change nbgrader's output).
RESERVED = ("BEGIN MARK SCHEME", "END MARK SCHEME", "AUTOTEST", "HASHED")
#: nbgrader's default stubs (``ClearSolutions.code_stub['python']`` and ``ClearSolutions.text_stub``).
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"

_GRADE_ID = re.compile(r"^[A-Za-z0-9_\-]+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
_ALLOWED_KEYS = {"schema_version", "grade", "solution", "locked", "grade_id", "points"}
_ENV_SOURCE = "MAPPO_LITE_ASSIGNMENTS"
#: the instructor sources shipped with the package (package data, in a checkout and in an installed wheel alike)
PACKAGED_SOURCES = Path(__file__).resolve().parent / "sources"


class AssignmentSourceError(MappoLiteError):
    """An assignment source breaks a rule of the format (the message names the file and the cell)."""


@dataclass(frozen=True)
class TestCell:
    """One autograder test cell: ``points`` if it runs without an error."""

    grade_id: str
    points: float
    has_public: bool  # visible lines outside the hidden region
    has_hidden: bool  # a BEGIN/END HIDDEN TESTS region

    @property
    def kind(self) -> str:
        return {(True, False): "public", (False, True): "hidden", (True, True): "public+hidden"}.get(
            (self.has_public, self.has_hidden), "empty"
        )


@dataclass(frozen=True)
class Question:
    """A solution cell and its tests. ``kind`` is ``"code"`` (autograded) or ``"written"`` (graded by hand)."""

    id: str  # the solution cell's grade_id
    title: str
    kind: str
    cell_type: str
    tests: tuple  # TestCell, in notebook order; for a code cell that is also a grade cell, itself first
    manual_points: float = 0.0  # written answers: the points of the markdown grade cell

    @property
    def points(self) -> float:
        return float(sum(t.points for t in self.tests)) + self.manual_points

    @property
    def auto_points(self) -> float:
        return float(sum(t.points for t in self.tests))

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "points": self.points,
            "autograded_points": self.auto_points,
            "manual_points": self.manual_points,
            "tests": [{"grade_id": t.grade_id, "points": t.points, "visibility": t.kind} for t in self.tests],
        }


@dataclass
class Assignment:
    """A parsed, validated instructor source. ``notebook`` is the complete nbformat v4 notebook (read-only use)."""

    name: str
    title: str
    path: Path
    notebook: object  # nbformat.NotebookNode
    questions: list
    sha256: str
    code_stub: str = CODE_STUB
    text_stub: str = TEXT_STUB
    extra: dict = field(default_factory=dict)

    @property
    def points(self) -> float:
        return float(sum(q.points for q in self.questions))

    @property
    def auto_points(self) -> float:
        return float(sum(q.auto_points for q in self.questions))

    def cell(self, grade_id: str):
        for c in self.notebook.cells:
            if nbgrader_meta(c).get("grade_id") == grade_id and (is_grade(c) or is_solution(c) or is_locked(c)):
                return c
        raise KeyError(grade_id)

    @property
    def solution_ids(self) -> list:
        return [nbgrader_meta(c)["grade_id"] for c in self.notebook.cells if is_solution(c)]

    def secret_lines(self) -> list:
        """``(grade_id, "solution"|"hidden", line)`` for every line a student must not see (markers excluded)."""
        out = []
        for c in self.notebook.cells:
            gid = nbgrader_meta(c).get("grade_id")
            if is_solution(c):
                for line in solution_regions(c.source):
                    out.append((gid, "solution", line))
            if is_grade(c) and not is_solution(c):
                for line in _region_lines(c.source, BEGIN_HIDDEN, END_HIDDEN):
                    out.append((gid, "hidden", line))
        return out

    def summary(self) -> dict:
        """What ``release.json`` says about this assignment (no solution or hidden-test text)."""
        return {
            "name": self.name,
            "title": self.title,
            "source": self.path.name,
            "source_sha256": self.sha256,
            "notebook": f"{self.name}.ipynb",
            "points": self.points,
            "autograded_points": self.auto_points,
            "manual_points": self.points - self.auto_points,
            "questions": [q.as_dict() for q in self.questions],
        }


# ------------------------------------------------------------------------------------------------ locating sources


def default_source_dir() -> Path:
    """``$MAPPO_LITE_ASSIGNMENTS`` if set, else the sources shipped inside the package (``mappo_lite/course/sources/``,
    package data: present in a checkout and in an installed wheel alike)."""
    env = os.environ.get(_ENV_SOURCE)
    if env:
        return Path(env)
    return PACKAGED_SOURCES


def _source_dir(source_dir) -> Path:
    d = Path(source_dir) if source_dir is not None else default_source_dir()
    if not d.is_dir():
        raise MappoLiteError(f"assignment source folder {str(d)!r} does not exist (use --source DIR)")
    return d


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise AssignmentSourceError(f"{path}: not UTF-8 text ({exc})") from None


def _declared_name(path: Path):
    """The ``mappo_lite.assignment`` name a file declares, or None (not an assignment source)."""
    text = _read_text(path)
    if path.suffix == ".md":
        m = re.match(r"---[ \t]*\n(.*?)\n---[ \t]*(\n|$)", text, re.S)
        if m is None:
            return None
        import yaml

        try:
            header = yaml.safe_load(m.group(1))
        except yaml.YAMLError as exc:
            if "mappo_lite" in m.group(1):
                raise AssignmentSourceError(
                    f"{path}: the YAML header cannot be parsed ({str(exc).splitlines()[0]})"
                ) from None
            return None
        ml = header.get("mappo_lite") if isinstance(header, dict) else None
        return str(ml["assignment"]) if isinstance(ml, dict) and "assignment" in ml else None
    if path.suffix == ".ipynb":
        import json

        try:
            meta = json.loads(text).get("metadata", {})
        except (ValueError, AttributeError):
            return None
        ml = meta.get("mappo_lite") if isinstance(meta, dict) else None
        return ml.get("assignment") if isinstance(ml, dict) else None
    return None


def find_sources(source_dir=None) -> dict:
    """``{name: path}`` of the assignment sources in ``source_dir`` (files declaring ``mappo_lite.assignment``),
    sorted by name. A ``.md`` and a ``.ipynb`` with the same name is an error."""
    d = _source_dir(source_dir)
    found = {}
    for path in sorted(list(d.glob("*.md")) + list(d.glob("*.ipynb"))):
        name = _declared_name(path)
        if name is None:
            continue
        if name in found:
            raise AssignmentSourceError(f"two sources for assignment {name!r}: {found[name].name} and {path.name}")
        found[name] = path
    return dict(sorted(found.items()))


def resolve(name_or_path, source_dir=None) -> Path:
    """The source file of an assignment given its name or a path."""
    p = Path(str(name_or_path))
    if p.suffix in (".md", ".ipynb") and p.is_file():
        return p
    sources = find_sources(source_dir)
    if str(name_or_path) in sources:
        return sources[str(name_or_path)]
    known = ", ".join(sources) or "none"
    raise MappoLiteError(f"unknown assignment {str(name_or_path)!r} (known: {known})")


# ------------------------------------------------------------------------------------------------ markers


def _marker_lines(source: str, begin: str, end: str, where: str):
    """Check the begin/end markers of one kind in ``source``; return [(begin_line, end_line)] (0-based)."""
    lines = source.split("\n")
    pairs, open_at = [], None
    for i, line in enumerate(lines):
        for token in (begin, end):
            if token in line and line.strip() != f"# {token}":
                raise AssignmentSourceError(
                    f"{where}: line {i + 1} {line.strip()!r} mentions {token!r}; markers must be whole lines "
                    f"'# {token}' (single '#', nothing else on the line)"
                )
        stripped = line.strip()
        if stripped == f"# {begin}":
            if open_at is not None:
                raise AssignmentSourceError(f"{where}: nested '# {begin}' (line {i + 1})")
            open_at = i
        elif stripped == f"# {end}":
            if open_at is None:
                raise AssignmentSourceError(f"{where}: '# {end}' without '# {begin}' (line {i + 1})")
            pairs.append((open_at, i))
            open_at = None
    if open_at is not None:
        raise AssignmentSourceError(f"{where}: '# {begin}' (line {open_at + 1}) has no '# {end}'")
    return pairs


def _region_lines(source: str, begin: str, end: str) -> list:
    lines = source.split("\n")
    out, inside = [], False
    for line in lines:
        s = line.strip()
        if s == f"# {begin}":
            inside = True
        elif s == f"# {end}":
            inside = False
        elif inside:
            out.append(line)
    return out


def solution_regions(source: str) -> list:
    """The lines a student must not see in a solution cell: inside the markers, or the whole cell without them."""
    if any(line.strip() == f"# {BEGIN_SOLUTION}" for line in source.split("\n")):
        return _region_lines(source, BEGIN_SOLUTION, END_SOLUTION)
    return source.split("\n")


# ------------------------------------------------------------------------------------------------ parsing


def _read_notebook(path: Path):
    import nbformat

    if path.suffix == ".md":
        import jupytext

        try:
            nb = jupytext.reads(_read_text(path), fmt="myst")
        except Exception as exc:  # jupytext raises assorted errors on malformed MyST
            raise AssignmentSourceError(f"{path}: cannot parse the MyST notebook ({exc})") from None
    elif path.suffix == ".ipynb":
        try:
            nb = nbformat.reads(_read_text(path), as_version=4)
        except Exception as exc:
            raise AssignmentSourceError(f"{path}: not a readable notebook ({exc})") from None
    else:
        raise AssignmentSourceError(f"{path}: an assignment source is a .md (MyST) or .ipynb notebook")
    return nb


def _cell_where(path: Path, index: int, cell) -> str:
    gid = nbgrader_meta(cell).get("grade_id")
    first = cell.source.strip().split("\n")[0][:50] if cell.source.strip() else "(empty)"
    return f"{path.name}, cell {index + 1} ({cell.cell_type}{', ' + gid if gid else ''}: {first!r})"


def _check_nbgrader_meta(cell, where: str) -> dict:
    meta = cell.metadata.get("nbgrader")
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise AssignmentSourceError(f"{where}: metadata 'nbgrader' must be a mapping")
    extra = set(meta) - _ALLOWED_KEYS
    if "task" in extra:
        raise AssignmentSourceError(f"{where}: nbgrader task cells are not supported")
    if extra & {"checksum", "cell_type"}:
        raise AssignmentSourceError(f"{where}: remove 'checksum'/'cell_type' from the source; build computes them")
    if extra:
        raise AssignmentSourceError(
            f"{where}: unknown nbgrader metadata keys {sorted(extra)} (nbgrader v3 forbids them)"
        )
    if meta.get("schema_version") != 3 or isinstance(meta.get("schema_version"), bool):
        raise AssignmentSourceError(f"{where}: nbgrader metadata needs 'schema_version: 3'")
    for flag in ("grade", "solution", "locked"):
        if not isinstance(meta.get(flag), bool):
            raise AssignmentSourceError(f"{where}: nbgrader flag {flag!r} must be true or false")
    active = meta["grade"] or meta["solution"] or meta["locked"]
    if active:
        gid = meta.get("grade_id")
        if not isinstance(gid, str) or not _GRADE_ID.match(gid):
            raise AssignmentSourceError(
                f"{where}: grade_id must be a non-empty string of letters, digits, '_' and '-', got {gid!r}"
            )
    if meta["grade"]:
        pts = meta.get("points")
        if isinstance(pts, bool) or not isinstance(pts, (int, float)) or not math.isfinite(pts) or pts < 0:
            raise AssignmentSourceError(f"{where}: a grade cell needs 'points', a number >= 0, got {pts!r}")
    elif "points" in meta:
        raise AssignmentSourceError(f"{where}: 'points' belongs on grade cells only (set grade: true or remove it)")
    if cell.cell_type == "markdown" and meta["grade"] != meta["solution"]:
        raise AssignmentSourceError(
            f"{where}: a markdown cell must be both grade and solution (a written answer), or neither"
        )
    if cell.cell_type == "raw":
        raise AssignmentSourceError(f"{where}: raw cells cannot be nbgrader cells")
    return meta


def _heading(source: str):
    for line in source.split("\n"):
        m = re.match(r"^#{1,6}\s+(.*\S)\s*$", line)
        if m:
            return m.group(1)
    return None


def _test_cell(cell, meta) -> TestCell:
    src = cell.source
    hidden = _region_lines(src, BEGIN_HIDDEN, END_HIDDEN)
    public = [ln for ln in src.split("\n") if ln.strip() and not ln.strip().startswith("#")]
    n_public = len(public) - len([ln for ln in hidden if ln.strip() and not ln.strip().startswith("#")])
    return TestCell(
        meta["grade_id"],
        float(meta["points"]),
        n_public > 0,
        bool(any(ln.strip() == f"# {BEGIN_HIDDEN}" for ln in src.split("\n"))),
    )


def load_assignment(path, *, source_dir=None) -> Assignment:
    """Read and validate one source (a path, or a name looked up in ``source_dir``)."""
    path = resolve(path, source_dir)
    text = _read_text(path)
    nb = _read_notebook(path)
    meta = nb.metadata.get("mappo_lite")
    if not isinstance(meta, dict) or "assignment" not in meta:
        raise AssignmentSourceError(f"{path}: the header needs 'mappo_lite: {{assignment: {path.stem}}}'")
    name = str(meta["assignment"])
    if name != path.stem or not _NAME.match(name):
        raise AssignmentSourceError(
            f"{path}: mappo_lite.assignment must equal the file name {path.stem!r} (letters, digits, '_' and '-')"
        )
    lang = nb.metadata.get("kernelspec", {}).get("language", "python")
    if lang != "python":
        raise AssignmentSourceError(f"{path}: only Python notebooks are supported (kernelspec language {lang!r})")
    ids, questions, current, title = set(), [], None, None
    heading = None

    def close(q):
        if q is None:
            return
        if q["kind"] == "code" and not q["tests"]:
            raise AssignmentSourceError(
                f"{path.name}: solution cell {q['id']!r} has no test cell after it "
                "(a code question needs a grade cell with points)"
            )
        questions.append(Question(q["id"], q["title"], q["kind"], q["cell_type"], tuple(q["tests"]), q["manual"]))

    for i, cell in enumerate(nb.cells):
        where = _cell_where(path, i, cell)
        if cell.cell_type == "markdown":
            h = _heading(cell.source)
            if h is not None:
                heading = h
                if title is None and cell.source.lstrip().startswith("# "):
                    title = h
        for token in RESERVED:
            if token in cell.source:
                raise AssignmentSourceError(f"{where}: {token!r} is reserved by nbgrader; do not use it")
        m = _check_nbgrader_meta(cell, where)
        sol_pairs = _marker_lines(cell.source, BEGIN_SOLUTION, END_SOLUTION, where)
        hid_pairs = _marker_lines(cell.source, BEGIN_HIDDEN, END_HIDDEN, where)
        active = bool(m) and (m["grade"] or m["solution"] or m["locked"])
        if sol_pairs and not (m and m["solution"]):
            raise AssignmentSourceError(f"{where}: solution markers in a cell that is not a solution cell")
        if hid_pairs and not (m and m["grade"] and not m["solution"] and cell.cell_type == "code"):
            raise AssignmentSourceError(
                f"{where}: hidden-test markers belong in test cells (code, grade, not solution)"
            )
        if cell.cell_type == "code" and not active:
            raise AssignmentSourceError(
                f"{where}: every code cell must be an nbgrader cell (read-only code: locked: true with a grade_id)"
            )
        if not active:
            continue
        gid = m["grade_id"]
        if gid in ids:
            raise AssignmentSourceError(f"{where}: duplicate grade_id {gid!r}")
        ids.add(gid)
        if m["solution"]:
            close(current)
            written = cell.cell_type == "markdown"
            current = {
                "id": gid,
                "title": heading or gid,
                "kind": "written" if written else "code",
                "cell_type": cell.cell_type,
                "tests": [],
                "manual": float(m["points"]) if written else 0.0,
            }
            if m["grade"] and not written:
                current["tests"].append(_test_cell(cell, m))
        elif m["grade"]:
            if current is None:
                raise AssignmentSourceError(f"{where}: test cell {gid!r} comes before any solution cell")
            if current["kind"] == "written":
                raise AssignmentSourceError(
                    f"{where}: test cell {gid!r} follows a written (markdown) answer; "
                    "tests must follow a code solution cell"
                )
            current["tests"].append(_test_cell(cell, m))
    close(current)
    if not questions:
        raise AssignmentSourceError(f"{path}: no questions (no solution cells)")
    nb = copy.deepcopy(nb)
    nb.metadata.pop("jupytext", None)
    return Assignment(
        name=name,
        title=str(meta.get("title") or title or name),
        path=path,
        notebook=nb,
        questions=questions,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        code_stub=str(meta.get("code_stub", CODE_STUB)),
        text_stub=str(meta.get("text_stub", TEXT_STUB)),
    )


def load_all(source_dir=None, names=None) -> list:
    """Every assignment in ``source_dir`` (or those in ``names``), validated, in name order."""
    sources = find_sources(source_dir)
    if names:
        unknown = [n for n in names if n not in sources]
        if unknown:
            raise MappoLiteError(
                f"unknown assignment(s) {', '.join(map(repr, unknown))} (known: {', '.join(sources) or 'none'})"
            )
        sources = {n: sources[n] for n in names}
    if not sources:
        raise MappoLiteError(f"no assignment sources in {str(_source_dir(source_dir))!r}")
    return [load_assignment(p) for p in sources.values()]
