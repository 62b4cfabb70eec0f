"""otter-grader 7: `otter assign` on our `--format otter` export, `otter run` (local, no Docker) on a solved and an
untouched submission; the scores equal our grader's."""

from __future__ import annotations

import json

import pytest

from tests.clients.helpers import NAMES, client_bin, client_env, run

pytestmark = pytest.mark.clients


@pytest.mark.parametrize("name", NAMES)
def test_otter_assign_and_run_score_like_our_grader(name, built, ours, tmp_path):
    env = client_env("otter", tmp_path)
    otter = client_bin("otter", "otter")
    run([otter, "assign", built / "otter" / f"{name}.ipynb", "dist"], cwd=tmp_path, env=env)
    (zipfile,) = (tmp_path / "dist" / "autograder").glob("*.zip")
    for kind, nb in (("solved", "autograder"), ("untouched", "student")):
        res = tmp_path / kind
        res.mkdir()
        run([otter, "run", "-a", zipfile, "-o", res, tmp_path / "dist" / nb / f"{name}.ipynb"], cwd=tmp_path, env=env)
        tests = json.loads((res / "results.json").read_text())["tests"]
        got = sum(t["score"] for t in tests if "score" in t)
        possible = sum(t["max_score"] for t in tests if "max_score" in t)
        want = ours[name, kind]
        tol = 1e-9 * max(1.0, want["max"])
        assert abs(got - want["total"]) <= tol, (kind, got, want["total"], tests)
        assert abs(possible - want["max"]) <= tol, (possible, want["max"])  # autograded points; written answers by hand
