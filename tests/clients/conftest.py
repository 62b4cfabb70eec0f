"""Round trips through the graders courses use (nbgrader, otter-grader), each installed in its own venv.

`make test-clients` creates the venvs (.venv-clients/, cached), installs mappo_lite into each and sets
MAPPO_LITE_CLIENT_VENVS to their folder; without it these tests are not collected (so exactly one target runs them).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.clients.helpers import NAMES, VENVS

if not VENVS:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    subprocess.run([sys.executable, "-m", "mappo_lite", "assignments", "build", str(out)], check=True)
    subprocess.run(
        [sys.executable, "-m", "mappo_lite", "assignments", "build", "--format", "otter", str(out)], check=True
    )
    return out


@pytest.fixture(scope="session")
def ours(built):
    """Our grader's total on the solved (instructor) and untouched (student) edition of every assignment."""
    scores = {}
    for name in NAMES:
        for kind, edition in (("solved", "instructor"), ("untouched", "student")):
            r = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "mappo_lite",
                    "assignments",
                    "grade",
                    str(built / edition / f"{name}.ipynb"),
                    "--json",
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            scores[name, kind] = json.loads(r.stdout)
    return scores
