"""nbgrader 0.9.6: generate_assignment on our instructor notebooks, autograde a solved and an untouched submission,
scores from the gradebook equal our grader's; the release says edition student."""

from __future__ import annotations

import shutil

import nbformat
import pytest

from tests.clients.helpers import NAMES, client_bin, client_env, run

pytestmark = pytest.mark.clients

CONFIG = """c = get_config()
c.CourseDirectory.db_assignments = [dict(name="ps")]
c.CourseDirectory.db_students = [dict(id="solved"), dict(id="untouched")]
c.GenerateAssignment.preprocessors.append("mappo_lite.course.release.mark_student_edition")
"""


def test_nbgrader_round_trip(built, ours, tmp_path):
    env = client_env("nbgrader", tmp_path)
    nbg = client_bin("nbgrader", "nbgrader")
    course = tmp_path / "course"
    (course / "source" / "ps").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(CONFIG)
    for name in NAMES:
        shutil.copy(built / "instructor" / f"{name}.ipynb", course / "source" / "ps")
    run([nbg, "generate_assignment", "ps", "--force"], cwd=course, env=env)
    for name in NAMES:
        rel = nbformat.read(course / "release" / "ps" / f"{name}.ipynb", as_version=4)
        ours_student = nbformat.read(built / "student" / f"{name}.ipynb", as_version=4)
        assert rel.metadata["mappo_lite"]["edition"] == "student"
        assert [c.source for c in rel.cells] == [c.source for c in ours_student.cells]
        assert [c.metadata for c in rel.cells] == [c.metadata for c in ours_student.cells]
    for student, folder in (("solved", built / "instructor"), ("untouched", course / "release" / "ps")):
        sub = course / "submitted" / student / "ps"
        sub.mkdir(parents=True)
        for name in NAMES:
            shutil.copy(folder / f"{name}.ipynb", sub)
    run([nbg, "autograde", "ps", "--force"], cwd=course, env=env, timeout=900)
    py = client_bin("nbgrader", "python")
    code = (
        "import json\nfrom nbgrader.api import Gradebook\n"
        "with Gradebook('sqlite:///gradebook.db') as gb:\n"
        "    print(json.dumps({f'{s}/{n.name}': n.score for s in ('solved','untouched') "
        "for n in gb.find_submission('ps', s).notebooks}))"
    )
    import json

    got = json.loads(run([py, "-c", code], cwd=course, env=env).stdout)
    for name in NAMES:
        for kind in ("solved", "untouched"):
            want = ours[name, kind]["total"]
            assert abs(got[f"{kind}/{name}"] - want) <= 1e-9 * max(1.0, want), (name, kind, got, want)
