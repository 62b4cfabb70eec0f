"""Round trips through the graders courses use (nbgrader, otter-grader), each installed in its own venv.

`make test-clients` creates the venvs (.venv-clients/, cached), installs mappo_lite into each and sets
MAPPO_LITE_CLIENT_VENVS to their folder; without it these tests are not collected (so exactly one target runs them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENVS = os.environ.get("MAPPO_LITE_CLIENT_VENVS")
if not VENVS:
    collect_ignore_glob = ["test_*.py"]

NAMES = ("a1_softmax_policies", "a2_localized_q", "a3_sgd_mappo", "a4_ratio_game")


def client_bin(venv: str, exe: str) -> Path:
    return Path(VENVS) / venv / "bin" / exe


def client_env(venv: str, tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MAPPO_LITE_ASSIGNMENTS")}
    env["PATH"] = str(Path(VENVS) / venv / "bin") + os.pathsep + env.get("PATH", "")
    env["JUPYTER_DATA_DIR"] = str(tmp / "jupyter-data")  # only the venv's own kernel
    env["NUMBA_CACHE_DIR"] = str(ROOT / ".numba_cache_clients" / venv)
    return env


def run(cmd, *, cwd, env, timeout=600):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd} exited {r.returncode}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}"
    return r


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
