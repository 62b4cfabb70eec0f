"""The package is complete as a wheel: built from the sources, installed in a fresh venv, used from an unrelated folder.

A user who runs ``pip install mappo_lite[course]`` has no checkout: the assignment sources must come with the
package (``mappo_lite/course/sources``, package data), and every command must work from any folder. This test builds
the wheel from a copy of the working tree (so no ``build/`` folder appears in the checkout), installs it with the
``course`` extra into a new venv, pinned by ``constraints.txt`` (the locked environment: the versions the book is
tested with), and runs the command line there, in an empty folder outside the repository, with no ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.clients


def _tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    return [f for f in out.decode().split("\0") if f and (ROOT / f).is_file()]


def _run(cmd, *, cwd, env, timeout=600):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd} exited {r.returncode}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know which files belong to the package")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for f in _tracked_files():
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    had_build = (ROOT / "build").exists()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MAPPO_LITE_ASSIGNMENTS")}
    _run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist")],
        cwd=src,
        env=env,
    )
    assert (ROOT / "build").exists() == had_build, "building the wheel left a build/ folder in the checkout"
    (wheel,) = (tmp / "dist").glob("mappo_lite-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp, env=env)
    py = venv / "bin" / "python"
    _run(
        [str(py), "-m", "pip", "install", "-q", f"{wheel}[course]", "-c", str(ROOT / "constraints.txt")],
        cwd=tmp,
        env=env,
        timeout=900,
    )
    work = tmp / "elsewhere"  # an unrelated, empty folder
    work.mkdir()
    env["NUMBA_CACHE_DIR"] = str(tmp / "numba_cache")
    return {"wheel": wheel, "py": py, "cwd": work, "env": env}


def _cli(w, *args, timeout=600):
    return _run([str(w["py"]), "-m", "mappo_lite", *args], cwd=w["cwd"], env=w["env"], timeout=timeout)


def test_the_wheel_ships_the_assignment_sources(wheel_venv):
    names = zipfile.ZipFile(wheel_venv["wheel"]).namelist()
    shipped = sorted(n for n in names if n.startswith("mappo_lite/course/sources/") and n.endswith(".md"))
    expected = sorted(
        f"mappo_lite/course/sources/{p.name}" for p in (ROOT / "mappo_lite" / "course" / "sources").glob("*.md")
    )
    assert shipped == expected and len(expected) >= 5, shipped
    assert not any(n.startswith(("tests/", "book/", "assignments/")) for n in names)


def test_the_installed_package_is_the_wheel_not_the_checkout(wheel_venv):
    r = _run(
        [str(wheel_venv["py"]), "-c", "import mappo_lite; print(mappo_lite.__file__)"],
        cwd=wheel_venv["cwd"],
        env=wheel_venv["env"],
    )
    path = Path(r.stdout.strip()).resolve()
    assert "site-packages" in path.parts and ROOT not in path.parents, path


def test_games_and_evaluate_from_the_wheel(wheel_venv):
    games = json.loads(_cli(wheel_venv, "games", "--json").stdout)
    assert any(g["name"] == "climbing" for g in games["games"]) if isinstance(games, dict) else games
    ev = json.loads(_cli(wheel_venv, "evaluate", "climbing", "--json").stdout)
    here = subprocess.run(
        [sys.executable, "-m", "mappo_lite", "evaluate", "climbing", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ev == json.loads(here.stdout)  # exact: the same JSON from the same code and inputs


def test_assignments_list_build_grade_from_the_wheel(wheel_venv, tmp_path):
    listed = json.loads(_cli(wheel_venv, "assignments", "list", "--json").stdout)["assignments"]
    points = {a["name"]: a["points"] for a in listed}
    assert set(points) == {"a1_softmax_policies", "a2_localized_q", "a3_sgd_mappo", "a4_ratio_game"}
    out = tmp_path / "release"
    _cli(wheel_venv, "assignments", "build", str(out), "a1_softmax_policies")
    name = "a1_softmax_policies"
    solved = json.loads(
        _cli(wheel_venv, "assignments", "grade", str(out / "instructor" / f"{name}.ipynb"), "--json").stdout
    )
    untouched = json.loads(
        _cli(wheel_venv, "assignments", "grade", str(out / "student" / f"{name}.ipynb"), "--json").stdout
    )
    assert solved["total"] == solved["max"] == points[name], solved
    assert untouched["total"] == 0 and untouched["max"] == points[name], untouched


def test_source_option_before_or_after_the_subcommand(wheel_venv, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy2(ROOT / "mappo_lite" / "course" / "sources" / "a1_softmax_policies.md", src)
    before = json.loads(_cli(wheel_venv, "assignments", "--source", str(src), "list", "--json").stdout)
    after = json.loads(_cli(wheel_venv, "assignments", "list", "--json", "--source", str(src)).stdout)
    assert before == after and [a["name"] for a in before["assignments"]] == ["a1_softmax_policies"]
