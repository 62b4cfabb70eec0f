"""Course assignments (issue 5): source format, student/instructor editions, nbgrader checksums, no leaks, grader.

One build of every assignment is shared by the module (fixtures ``built``, ``instructor_reports``,
``student_reports``); the tampering tests use short time limits. The nbgrader cross-check runs when nbgrader is
importable here or ``NBGRADER_PYTHON`` names a Python that has it (nbgrader is not a dependency).
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from mappo_lite.cli import main
from mappo_lite.course.checks import assert_own_code
from mappo_lite.course.checksum import compute_checksum, is_locked
from mappo_lite.course.grade import grade_notebook
from mappo_lite.course.release import build, student_notebook
from mappo_lite.course.source import AssignmentSourceError, load_all, load_assignment

ROOT = Path(__file__).resolve().parents[2]
CHECK_SCRIPT = ROOT / "mappo_lite" / "course" / "nbgrader_check.py"
NAMES = ("a1_softmax_policies", "a2_localized_q", "a3_sgd_mappo", "a4_ratio_game")


def _gid(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("assignments") / "out"
    res = build(out)
    return out, res


@pytest.fixture(scope="module")
def instructor_reports(built):
    out, _ = built
    return {n: grade_notebook(out / "instructor" / f"{n}.ipynb", timeout=60) for n in NAMES}


@pytest.fixture(scope="module")
def student_reports(built):
    out, _ = built
    return {n: grade_notebook(out / "student" / f"{n}.ipynb", timeout=60) for n in NAMES}


# ------------------------------------------------------------------------------------------------ the assignments


def test_list_four_assignments_with_questions_points_public_and_hidden_tests(capsys):
    assert main(["assignments", "list", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)["assignments"]
    assert [a["name"] for a in items] == list(NAMES)
    for a in items:
        assert 3 <= len(a["questions"]) <= 6, a["name"]
        assert a["points"] > 0 and a["autograded_points"] > 0
        for q in a["questions"]:
            if q["kind"] == "code":
                vis = {t["visibility"] for t in q["tests"]}
                assert any("public" in v for v in vis) and any("hidden" in v for v in vis), (a["name"], q["id"])
                assert q["points"] == sum(t["points"] for t in q["tests"]) > 0
    assert main(["assignments", "list"]) == 0
    assert "a3_sgd_mappo" in capsys.readouterr().out


def test_build_writes_both_editions_and_release_json(built):
    out, res = built
    assert sorted(p.name for p in (out / "student").iterdir()) == [f"{n}.ipynb" for n in NAMES]
    assert sorted(p.name for p in (out / "instructor").iterdir()) == [f"{n}.ipynb" for n in NAMES]
    info = json.loads((out / "release.json").read_text())
    assert [a["name"] for a in info["assignments"]] == list(NAMES)
    assert info["total_points"] == sum(a["points"] for a in info["assignments"])
    for a in load_all():
        entry = next(e for e in info["assignments"] if e["name"] == a.name)
        assert entry["points"] == a.points and len(entry["questions"]) == len(a.questions)
        for edition in ("student", "instructor"):
            nb = nbformat.read(out / edition / f"{a.name}.ipynb", as_version=4)
            nbformat.validate(nb)
            assert nb.metadata["mappo_lite"]["assignment"] == a.name
            assert nb.metadata["mappo_lite"]["edition"] == edition
            assert nb.metadata["kernelspec"]["name"] == "python3"
            assert "jupytext" not in nb.metadata
            for cell in nb.cells:
                if cell.cell_type == "code":
                    assert cell.outputs == [] and cell.execution_count is None


def test_student_edition_follows_nbgrader(built):
    out, _ = built
    for a in load_all():
        inst = nbformat.read(out / "instructor" / f"{a.name}.ipynb", as_version=4)
        stud = nbformat.read(out / "student" / f"{a.name}.ipynb", as_version=4)
        assert [c.id for c in inst.cells] == [c.id for c in stud.cells]
        assert [c.cell_type for c in inst.cells] == [c.cell_type for c in stud.cells]
        n_stub = 0
        for ci, cs in zip(inst.cells, stud.cells):
            meta_i = ci.metadata.get("nbgrader")
            if not meta_i:
                assert cs.source == ci.source and "nbgrader" not in cs.metadata
                continue
            meta_s = cs.metadata["nbgrader"]
            assert "checksum" not in meta_i, "the instructor edition is an nbgrader source notebook"
            assert meta_s["checksum"] == compute_checksum(cs) and len(meta_s["checksum"]) == 32
            assert meta_s["cell_type"] == cs.cell_type
            assert {k: v for k, v in meta_s.items() if k not in ("checksum", "cell_type")} == meta_i
            assert cs.metadata["deletable"] is False
            if meta_i["solution"]:
                assert "editable" not in cs.metadata
                if cs.cell_type == "markdown":
                    assert cs.source == "YOUR ANSWER HERE"
                else:
                    lines = ci.source.split("\n")
                    k = next(i for i, ln in enumerate(lines) if ln.strip() == "# BEGIN SOLUTION")
                    indent = lines[k][: len(lines[k]) - len(lines[k].lstrip())]
                    assert f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()" in cs.source
                    assert lines[:k] == cs.source.split("\n")[:k], "the code before the marker is kept"
                n_stub += 1
            else:
                assert cs.metadata["editable"] is False
                assert is_locked(cs)
                if meta_i["grade"]:
                    assert "BEGIN HIDDEN TESTS" not in cs.source
        assert n_stub == len(a.questions)


def test_checksum_is_nbgraders_md5_recipe():
    cell = nbformat.v4.new_code_cell(
        "assert f(1) == 2",
        metadata={
            "nbgrader": {
                "grade": True,
                "solution": False,
                "locked": False,
                "grade_id": "q1_test",
                "points": 2,
                "schema_version": 3,
            }
        },
    )
    expected = hashlib.md5(
        b"assert f(1) == 2" + b"code" + b"True" + b"False" + b"True" + b"q1_test" + b"2.0"
    ).hexdigest()
    assert compute_checksum(cell) == expected  # a grade cell is locked whatever its flag says; points as a float
    sol = nbformat.v4.new_markdown_cell(
        "YOUR ANSWER HERE",
        metadata={
            "nbgrader": {
                "grade": True,
                "solution": True,
                "locked": True,
                "grade_id": "w",
                "points": 0.5,
                "schema_version": 3,
            }
        },
    )
    expected = hashlib.md5(b"YOUR ANSWER HERE" + b"markdown" + b"True" + b"True" + b"False" + b"w" + b"0.5").hexdigest()
    assert compute_checksum(sol) == expected  # a solution cell is never locked
    ro = nbformat.v4.new_code_cell(
        "x = 'é'",
        metadata={
            "nbgrader": {"grade": False, "solution": False, "locked": True, "grade_id": "ro", "schema_version": 3}
        },
    )
    assert (
        compute_checksum(ro)
        == hashlib.md5("x = 'é'".encode() + b"code" + b"False" + b"False" + b"True" + b"ro").hexdigest()
    )


def _nbgrader_python():
    if importlib.util.find_spec("nbgrader") is not None:
        return sys.executable
    return os.environ.get("NBGRADER_PYTHON")


def test_nbgrader_itself_produces_our_student_notebooks(built):
    """nbgrader's generate_assignment (preprocessors and, if available, the real command) on our instructor
    notebooks gives exactly our student notebooks; nbgrader's validator accepts them."""
    py = _nbgrader_python()
    if not py:
        pytest.skip("nbgrader is not installed (it is not a dependency); set NBGRADER_PYTHON to a Python that has it")
    out, _ = built
    cmd = [py, str(CHECK_SCRIPT), str(out)]
    bindir = os.path.dirname(py)
    if shutil.which("nbgrader", path=bindir + os.pathsep + os.environ.get("PATH", "")):
        cmd.append("--cli")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    assert report["ok"], json.dumps(report, indent=1)[:4000]
    assert proc.returncode == 0
    assert sum(n["checksums_checked"] for n in report["notebooks"]) >= 4 * 10
    assert [n["name"] for n in report["notebooks"]] == list(NAMES)


# ------------------------------------------------------------------------------------------------ no leaks


def test_no_solution_or_hidden_test_leaks_into_student_folder(built, instructor_reports):
    out, _ = built
    files = list((out / "student").rglob("*"))
    assert all(p.suffix == ".ipynb" for p in files if p.is_file())
    raw = {p.name: p.read_text(encoding="utf-8") for p in files if p.is_file()}
    source_lines = set()
    for p in files:
        if p.is_file():
            nb = json.loads(raw[p.name])
            for cell in nb["cells"]:
                src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                source_lines |= {ln.strip() for ln in src.split("\n")}
                assert cell.get("outputs", []) == [] and not cell.get("attachments")
    everything = "\n".join(raw.values())
    n_checked = {"solution": 0, "hidden": 0}
    for a in load_all():
        inst_text = (out / "instructor" / f"{a.name}.ipynb").read_text(encoding="utf-8")
        kinds = set()
        for gid, kind, line in a.secret_lines():
            s = line.strip()
            if not s:
                continue
            kinds.add(kind)
            n_checked[kind] += 1
            assert json.dumps(s)[1:-1] in inst_text  # the check is not vacuous: the line is in the instructor edition
            assert s not in source_lines, f"{a.name}/{gid}: {kind} line {s!r} appears in a student notebook"
            if len(s) >= 12:
                assert json.dumps(s)[1:-1] not in everything, f"{a.name}/{gid}: {kind} line {s!r} leaks into student/"
        assert kinds == {"solution", "hidden"}, a.name
    assert n_checked["solution"] > 50 and n_checked["hidden"] > 50
    # no output of the executed instructor notebooks (solutions run) appears either
    for rep in instructor_reports.values():
        for cell in rep.executed.cells:
            for o in cell.get("outputs", []):
                texts = [o.get("text", "")] + [v if isinstance(v, str) else "" for v in o.get("data", {}).values()]
                for t in texts:
                    for piece in t.split("\n"):
                        if len(piece.strip()) >= 8:
                            assert json.dumps(piece.strip())[1:-1] not in everything, piece
    info = (out / "release.json").read_text()
    for a in load_all():
        for _, _, line in a.secret_lines():
            assert len(line.strip()) < 12 or line.strip() not in info


# ------------------------------------------------------------------------------------------------ grading


def _notes(d):
    """The report's notes about the submission (without the sandbox's own, which depend on the machine: a weaker
    level than bubblewrap is said in a note starting with 'sandbox:')."""
    return [n for n in d["notes"] if not n.startswith("sandbox:")]


def test_instructor_notebooks_score_full_marks_fast(instructor_reports):
    for name, rep in instructor_reports.items():
        d = rep.as_dict()
        assert d["total"] == d["max"] > 0, (name, rep.text())
        assert all(q["status"] == "passed" for q in d["questions"] if q["kind"] == "code"), rep.text()
        assert d["kernel_restarts"] == 0 and not _notes(d), rep.text()
        assert d["seconds"] < 30, (name, d["seconds"])
    text = instructor_reports["a1_softmax_policies"].text()
    assert "total: 11 / 11 autograded points" in text and "passed" in text
    a3 = instructor_reports["a3_sgd_mappo"].as_dict()
    assert a3["needs_manual_grading"] == ["explain_stall"] and a3["manual_max"] == 2


def test_untouched_student_notebooks_score_zero_without_crashing(student_reports):
    for _name, rep in student_reports.items():
        d = rep.as_dict()
        assert d["total"] == 0 and d["max"] > 0, rep.text()
        for q in d["questions"]:
            if q["kind"] == "code":
                assert q["points"] == 0 and q["status"] == "failed"
                assert any("NotImplementedError" in f for f in q["feedback"]), q
            else:
                assert q["status"] == "unanswered" and q["points"] == 0
        assert d["kernel_restarts"] == 0 and not _notes(d), rep.text()
        assert "needs_manual_grading" in d and d["needs_manual_grading"] == []


def _edit(nb, grade_id, source):
    for c in nb.cells:
        if _gid(c) == grade_id:
            c.source = source
            return
    raise KeyError(grade_id)


def test_editing_moving_or_deleting_cells_cannot_raise_a_score(built, tmp_path, capsys):
    out, _ = built
    nb = nbformat.read(out / "instructor" / "a1_softmax_policies.ipynb", as_version=4)
    _edit(nb, "joint", "def joint_from_conditionals(tables):\n    return 0.0")  # a wrong answer ...
    _edit(nb, "joint_public", "pass")  # ... with its tests edited away
    _edit(nb, "joint_hidden", "pass")
    for c in nb.cells:
        if _gid(c) == "joint_hidden":
            c.metadata["nbgrader"]["points"] = 100  # and the points metadata changed
    _edit(nb, "coordination", "def coordinated_thetas():\n    return [0, 0]")  # a wrong answer ...
    nb.cells = [c for c in nb.cells if _gid(c) not in ("coordination_public", "coordination_hidden", "softmax")]
    moved = next(c for c in nb.cells if _gid(c) == "score_hidden")  # a hidden test moved before its answer
    nb.cells.remove(moved)
    nb.cells.insert(1, moved)
    extra = nbformat.v4.new_code_cell("print('student scratch cell ran')")
    k = next(i for i, c in enumerate(nb.cells) if _gid(c) == "loglinear")
    nb.cells.insert(k + 1, extra)
    dup = copy.deepcopy(next(c for c in nb.cells if _gid(c) == "loglinear_public"))
    dup.source = "pass"
    dup.id = "dup"
    nb.cells.append(dup)
    path = tmp_path / "tampered.ipynb"
    nbformat.write(nb, path)
    assert (
        main(
            [
                "assignments",
                "grade",
                str(path),
                "--json",
                "--timeout",
                "20",
                "--executed",
                str(tmp_path / "graded.ipynb"),
            ]
        )
        == 0
    )
    d = json.loads(capsys.readouterr().out)
    pts = {q["id"]: q["points"] for q in d["questions"]}
    assert pts == {"softmax": 0, "loglinear": 2, "score": 3, "joint": 0, "coordination": 0}, d
    assert d["total"] == 5 and d["max"] == 11
    notes = " ".join(d["notes"])
    for text in (
        "'joint_public' was modified",
        "'coordination_hidden' is missing",
        "answer cell 'softmax' is missing",
        "second cell with grade_id 'loglinear_public'",
        "1 code cell(s) added by the student",
    ):
        assert text in notes, d["notes"]
    graded = nbformat.read(tmp_path / "graded.ipynb", as_version=4)
    assert any(
        "student scratch cell ran" in o.get("text", "")
        for c in graded.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    # the untouched student notebook with every test cell deleted still scores 0
    stud = nbformat.read(out / "student" / "a1_softmax_policies.ipynb", as_version=4)
    stud.cells = [c for c in stud.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    nbformat.write(stud, tmp_path / "no_tests.ipynb")
    rep = grade_notebook(tmp_path / "no_tests.ipynb", timeout=20)
    assert rep.total == 0 and rep.max == 11
    assert sum("is missing from the submission" in n for n in rep.notes) == 11


def test_loops_exits_and_crashes_get_a_report_not_a_grader_crash(built, tmp_path):
    out, _ = built
    nb = nbformat.read(out / "instructor" / "a1_softmax_policies.ipynb", as_version=4)
    _edit(nb, "softmax", "while True:\n    pass")  # infinite loop (interrupted at the time limit)
    _edit(nb, "loglinear", "import sys\nsys.exit(3)")
    _edit(nb, "score", "import os\nos._exit(0)")  # kills the kernel
    _edit(
        nb, "joint", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    )  # ignores the interrupt
    nbformat.write(nb, tmp_path / "bad.ipynb")
    rep = grade_notebook(tmp_path / "bad.ipynb", timeout=2, total_timeout=120)
    d = rep.as_dict()
    pts = {q["id"]: q["points"] for q in d["questions"]}
    assert pts == {"softmax": 0, "loglinear": 0, "score": 0, "joint": 0, "coordination": 2}, rep.text()
    fb = {q["id"]: " ".join(q["feedback"]) for q in d["questions"]}
    assert "time limit" in fb["softmax"]
    assert "SystemExit" in fb["loglinear"]
    assert "kernel died" in fb["score"]
    assert "did not stop at the time limit" in fb["joint"]
    assert d["kernel_restarts"] == 2
    # an overall time limit shorter than the work: the rest is "not run", still a report
    rep2 = grade_notebook(tmp_path / "bad.ipynb", timeout=30, total_timeout=4)
    assert rep2.total == 0
    assert any("overall time limit" in t["message"] for q in rep2.questions for t in q["tests"])


# ------------------------------------------------------------------------------------------------ bad input


def _one_line_error(capsys, argv, fragment):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mappo_lite: error:") and "\n" not in err and fragment in err, err


def test_bad_paths_and_arguments_are_one_line_errors(tmp_path, capsys, built):
    out, _ = built
    _one_line_error(capsys, ["assignments", "grade", str(tmp_path / "nope.ipynb")], "no such notebook")
    _one_line_error(capsys, ["assignments", "grade", str(tmp_path)], "not a notebook file")
    (tmp_path / "junk.ipynb").write_text("{not json")
    _one_line_error(capsys, ["assignments", "grade", str(tmp_path / "junk.ipynb")], "invalid JSON")
    (tmp_path / "list.ipynb").write_text("[1, 2]")
    _one_line_error(capsys, ["assignments", "grade", str(tmp_path / "list.ipynb")], "not a Jupyter notebook")
    nb = nbformat.read(out / "student" / "a4_ratio_game.ipynb", as_version=4)
    nb.metadata["mappo_lite"]["assignment"] = "no_such_assignment"
    nbformat.write(nb, tmp_path / "other.ipynb")
    _one_line_error(capsys, ["assignments", "grade", str(tmp_path / "other.ipynb")], "unknown assignment")
    _one_line_error(capsys, ["assignments", "grade", str(tmp_path / "other.ipynb"), "--timeout", "0"], "positive")
    (tmp_path / "afile").write_text("x")
    _one_line_error(capsys, ["assignments", "build", str(tmp_path / "afile")], "not a folder")
    _one_line_error(capsys, ["assignments", "list", "--source", str(tmp_path / "missing")], "does not exist")
    _one_line_error(capsys, ["assignments", "build", str(tmp_path / "o"), "no_such"], "unknown assignment")
    assert not (tmp_path / "o").exists()
    _one_line_error(capsys, ["assignments"], "required")


# ------------------------------------------------------------------------------------------------ source format

TEMPLATE = textwrap.dedent("""\
    ---
    jupytext:
      text_representation: {extension: .md, format_name: myst, format_version: 0.13}
    kernelspec: {display_name: Python 3, language: python, name: python3}
    mappo_lite: {assignment: demo, title: Demo}
    ---

    # Demo

    ```{code-cell} ipython3
    :nbgrader: {grade: false, grade_id: setup, locked: true, schema_version: 3, solution: false}

    import math
    ```

    ## Question 1

    ```{code-cell} ipython3
    :nbgrader: {grade: false, grade_id: q1, locked: false, schema_version: 3, solution: true}

    def double(x):
        # BEGIN SOLUTION
        return 2 * x
        # END SOLUTION
    ```

    ```{code-cell} ipython3
    :nbgrader: {grade: true, grade_id: q1_test, locked: true, points: 1.5, schema_version: 3, solution: false}

    assert double(1) == 2
    # BEGIN HIDDEN TESTS
    assert double(-3) == -6
    # END HIDDEN TESTS
    ```

    +++ {"nbgrader": {"grade": true, "grade_id": "why", "locked": false, "points": 1, "schema_version": 3, "solution": true}}

    Because 2 x = x + x.
    """)

_start = TEMPLATE.index("```{code-cell} ipython3\n:nbgrader: {grade: true, grade_id: q1_test")
TEST_CELL = TEMPLATE[_start : TEMPLATE.index("```\n", _start + 10) + 4]


def _write_demo(tmp_path, text=TEMPLATE, name="demo"):
    d = tmp_path / "src"
    d.mkdir(exist_ok=True)
    p = d / f"{name}.md"
    p.write_text(text)
    return p


def test_template_source_parses_builds_and_grades(tmp_path):
    p = _write_demo(tmp_path)
    a = load_assignment(p)
    assert [q.id for q in a.questions] == ["q1", "why"]
    assert (
        a.questions[0].tests[0].kind == "public+hidden" and a.points == 2.5 and a.auto_points == 1.5
    )  # exact: sums of halves
    stud = student_notebook(a)
    sol = next(c for c in stud.cells if _gid(c) == "q1")
    assert sol.source == "def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    test = next(c for c in stud.cells if _gid(c) == "q1_test")
    assert test.source == "assert double(1) == 2"
    assert main(["assignments", "build", str(tmp_path / "cli"), "--source", str(p.parent)]) == 0
    assert (tmp_path / "cli" / "student" / "demo.ipynb").is_file() and (tmp_path / "cli" / "release.json").is_file()
    res = build(tmp_path / "out", source_dir=p.parent)
    rep = grade_notebook(res.instructor[0], source_dir=p.parent, timeout=20)
    assert rep.total == rep.max == 1.5 and rep.manual_max == 1  # exact: sums of halves
    assert [q["status"] for q in rep.questions] == ["passed", "needs manual grading"]


BAD_SOURCES = [
    (
        "solution: true}\n\ndef double",
        "solution: false}\n\ndef double",
        "solution markers in a cell that is not a solution",
    ),
    (
        "schema_version: 3, solution: true}\n\ndef",
        "schema_version: 3, solution: true, checksum: abc}\n\ndef",
        "build computes them",
    ),
    (
        "schema_version: 3, solution: true}\n\ndef",
        "schema_version: 3, solution: true, colour: red}\n\ndef",
        "unknown nbgrader metadata",
    ),
    ("grade_id: q1_test", "grade_id: q1", "duplicate grade_id"),
    ("points: 1.5, ", "", "needs 'points'"),
    ("grade_id: setup, locked: true,", "grade_id: setup, locked: true, points: 1,", "grade cells only"),
    ("    # END SOLUTION\n", "", "has no '# END SOLUTION'"),
    ("    # BEGIN SOLUTION", "    ### BEGIN SOLUTION", "markers must be whole lines"),
    ("# BEGIN HIDDEN TESTS\nassert double(-3) == -6\n# END HIDDEN TESTS\n", "", None),  # fine: no hidden tests
    (
        ":nbgrader: {grade: false, grade_id: setup, locked: true, schema_version: 3, solution: false}\n",
        "",
        "every code cell must be an nbgrader cell",
    ),
    ("schema_version: 3, solution: true}\n\ndef", "schema_version: 2, solution: true}\n\ndef", "schema_version: 3"),
    ('"solution": true}}', '"solution": false}}', "both grade and solution"),
    (TEST_CELL, "", "has no test cell after it"),
    ("assignment: demo", "assignment: other", "must equal the file name"),
    ("assert double(1) == 2", "assert double(1) == 2  # AUTOTEST", "reserved by nbgrader"),
]


@pytest.mark.parametrize("old,new,message", BAD_SOURCES)
def test_source_rules(tmp_path, old, new, message):
    assert old in TEMPLATE
    p = _write_demo(tmp_path, TEMPLATE.replace(old, new, 1))
    if message is None:
        load_assignment(p)
        return
    with pytest.raises(AssignmentSourceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_assignment(p)


def test_the_example_on_the_instructors_page_works(tmp_path):
    page = (ROOT / "book" / "instructors.md").read_text(encoding="utf-8")
    start = page.index("````md\n") + len("````md\n")
    example = page[start : page.index("\n````\n", start) + 1]
    p = _write_demo(tmp_path, example)
    a = load_assignment(p)
    assert [(q.id, q.kind, q.points) for q in a.questions] == [("uniform", "code", 2.0), ("why", "written", 1.0)]
    res = build(tmp_path / "out", source_dir=p.parent)
    full = grade_notebook(res.instructor[0], source_dir=p.parent, timeout=20)
    zero = grade_notebook(res.student[0], source_dir=p.parent, timeout=20)
    assert (full.total, full.max, zero.total) == (2, 2, 0), full.text() + zero.text()


def test_invalid_source_makes_build_write_nothing(tmp_path, capsys):
    p = _write_demo(tmp_path)
    _write_demo(tmp_path, TEMPLATE.replace("demo", "broken").replace("    # END SOLUTION\n", ""), name="broken")
    _one_line_error(capsys, ["assignments", "build", str(tmp_path / "o"), "--source", str(p.parent)], "broken")
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------------------ helpers, CLI


def test_assert_own_code_catches_calls_to_the_reference():
    import mappo_lite.kernels.core as K
    from mappo_lite.kernels.core import softmax_rows as ref

    ns = {"K": K, "ref": ref, "np": __import__("numpy")}
    exec(
        "def direct(x):\n    return ref(x)\n"
        "def via_module(x):\n    return K.softmax_rows(x)\n"
        "def via_import(x):\n    from mappo_lite.kernels import softmax_rows\n    return softmax_rows(x)\n"
        "def helper(x):\n    return ref(x)\n"
        "def via_helper(x):\n    return helper(x)\n"
        "def own(x):\n    e = np.exp(x - x.max(axis=1, keepdims=True))\n    return e / e.sum(axis=1, keepdims=True)\n",
        ns,
    )
    for name in ("direct", "via_module", "via_import", "via_helper"):
        with pytest.raises(AssertionError, match="write your own"):
            assert_own_code(ns[name], ref)
    assert_own_code(ns["own"], ref)


def test_cli_registration_is_cheap():
    code = (
        "import sys, mappo_lite.cli as c; c.build_parser(); "
        "print(sorted(m for m in ('jupytext', 'nbclient', 'nbformat') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
