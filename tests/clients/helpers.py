"""Helpers of the client round trips (tests/clients): the client venvs made by `make test-clients` and running their
commands. Shared by conftest.py and the tests (imported as a module, not from conftest)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENVS = os.environ.get("MAPPO_LITE_CLIENT_VENVS")
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
