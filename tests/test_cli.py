"""The command line ``python -m mappo_lite``, run as a real subprocess from the repository root.

All command lines are started together (a few at a time) by one module fixture, so the interpreter start-up and
the numba cache loading overlap; each test then checks one run. Expected numbers come from the library's Python
API or from the games' published values, never from the CLI itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from mappo_lite import GAMES, evaluate, make_game, optimal_value
from mappo_lite.cli import main
from mappo_lite.games.catalogue import CLIMBING

ROOT = Path(__file__).resolve().parents[1]


def _run(args):
    return subprocess.run(
        [sys.executable, "-m", "mappo_lite", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _write_files(folder: Path) -> dict:
    game = make_game("random", n_states=4, n_agents=2, n_actions=[2, 3], gamma=0.8, seed=3)
    files = {
        "game": folder / "game.npz",
        "corrupt": folder / "corrupt.npz",
        "missing_key": folder / "no_r.npz",
        "negative": folder / "negative.npz",
        "stochastic_g1": folder / "g1.npz",
        "extra_key": folder / "extra.npz",
    }
    game.save(files["game"])
    files["corrupt"].write_bytes(b"PK\x03\x04 definitely not a real zip archive")
    np.savez(files["missing_key"], P=game.P, gamma=0.8)
    np.savez(files["negative"], P=-game.P, r=game.r, gamma=0.8)
    np.savez(files["stochastic_g1"], P=game.P, r=game.r, gamma=1.0)
    np.savez(files["extra_key"], P=game.P, r=game.r, gamma=0.8, notes=np.zeros(1))
    return {"game_obj": game, **{k: str(v) for k, v in files.items()}}


# the bad inputs the issue names: run as real subprocesses
BAD = {
    "unknown-game": ["evaluate", "chess"],
    "missing-file": ["evaluate", "{missing}"],
    "corrupt-file": ["solve", "{corrupt}"],
    "K=0": ["train", "climbing", "--K", "0"],
    "beta=nan": ["train", "climbing", "--beta", "nan"],
    "unknown-algo": ["train", "climbing", "--algo", "qmix"],
}

# more bad inputs, checked in-process through mappo_lite.cli.main (same code path, no interpreter start-up)
BAD_IN_PROCESS = {
    "missing-key": (["evaluate", "{missing_key}"], "'r'"),
    "extra-key": (["evaluate", "{extra_key}"], "notes"),
    "negative-P": (["solve", "{negative}"], "negative"),
    "gamma1-stochastic": (["evaluate", "{stochastic_g1}"], "gamma"),
    "K=abc": (["train", "climbing", "--K", "abc"], "K"),
    "K=-1": (["train", "climbing", "--K", "-1"], "K"),
    "beta=-1": (["train", "climbing", "--beta", "-1"], "beta"),
    "beta=inf": (["train", "climbing", "--beta", "inf"], "beta"),
    "eta=0": (["train", "climbing", "--algo", "independent-pg", "--eta", "0"], "eta"),
    "T=0": (["train", "climbing", "--solver", "sgd", "--T", "0"], "T"),
    "unknown-solver": (["train", "climbing", "--solver", "adam"], "adam"),
    "unknown-evaluation": (["train", "climbing", "--evaluation", "td"], "td"),
    "radius=nan": (["train", "climbing", "--radius", "nan"], "radius"),
    "bad-features": (["train", "climbing", "--features", "random:x"], "features"),
    "ideal-compact": (["train", "climbing", "--features", "random:2"], "tabular"),
    "param-on-file": (["evaluate", "{game}", "--param", "k=1"], "built-in"),
    "bad-param-value": (["evaluate", "penalty", "--param", "k=5"], "k"),
    "unknown-param": (["evaluate", "climbing", "--param", "size=5"], "size"),
    "param-syntax": (["evaluate", "climbing", "--param", "size"], "--param"),
    "unknown-method": (["solve", "climbing", "--method", "magic"], "magic"),
    "no-command": ([], "command"),
    "unknown-command": (["fly", "climbing"], "fly"),
}


def _fill(args, files):
    return [a.format(**{k: v for k, v in files.items() if isinstance(v, str)}) for a in args]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    files = _write_files(tmp_path_factory.mktemp("cli"))
    files["missing"] = str(Path(files["game"]).with_name("does_not_exist.npz"))
    jobs = {
        "games": ["games"],
        "evaluate": ["evaluate", "climbing", "--json"],
        "solve": ["solve", "ratio", "--json"],
        "train": [
            "train",
            "climbing",
            "--algo",
            "mappo",
            "--evaluation",
            "exact",
            "--solver",
            "ideal",
            "--K",
            "200",
            "--beta",
            "0.05",
            "--seed",
            "0",
            "--json",
        ],
        "train-file": ["train", files["game"], "--algo", "independent-npg", "--K", "50", "--json"],
    }
    for name, args in BAD.items():
        jobs["bad:" + name] = _fill(args, files)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(_run, args) for name, args in jobs.items()}
        results = {name: f.result() for name, f in futures.items()}
    results["files"] = files
    return results


def _ok_json(proc):
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, "--json prints exactly one JSON object"
    return json.loads(lines[0])


def _main(argv, capsys):
    """Run the CLI in-process; returns (status, stdout, stderr)."""
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _main_json(argv, capsys):
    status, out, err = _main(argv, capsys)
    assert status == 0 and err == "", err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


# ------------------------------------------------------------------------------------------------------------
# good runs
# ------------------------------------------------------------------------------------------------------------


def test_games_lists_every_builtin(runs, capsys):
    try:
        make_game("gridworld")
    except Exception as exc:  # noqa: BLE001 - only the other engineer's unfinished gridworld may be skipped
        pytest.skip(f"gridworld not available yet (another engineer's work in progress): {exc}")
    proc = runs["games"]
    assert proc.returncode == 0, proc.stderr
    listed = [line.split()[0] for line in proc.stdout.strip().splitlines()]
    assert sorted(listed) == sorted(GAMES)
    data = _main_json(["games", "--json"], capsys)
    by_name = {g["name"]: g for g in data["games"]}
    assert sorted(by_name) == sorted(GAMES)
    assert by_name["climbing"]["optimum"] == 11.0 and by_name["ratio"]["optimum"] == 1.0  # exact: meta constants
    assert by_name["climbing"]["action_sizes"] == [3, 3]
    for name, g in by_name.items():
        assert g["optimum"] == pytest.approx(optimal_value(make_game(name)).J_star, abs=1e-9), name


def test_evaluate_climbing(runs, capsys):
    data = _ok_json(runs["evaluate"])
    assert data["J"] == pytest.approx(CLIMBING.mean(), abs=1e-12)
    assert data["V"] == pytest.approx([CLIMBING.mean()], abs=1e-12)
    status, out, err = _main(["evaluate", "climbing"], capsys)
    assert status == 0 and "J =" in out and err == ""


def test_solve_ratio(runs, capsys):
    data = _ok_json(runs["solve"])
    assert data["J_star"] == pytest.approx(1.0, abs=1e-12)
    assert data["greedy"] == [[0, 0]]
    value = _main_json(["solve", "two_step", "--method", "value", "--json"], capsys)
    assert value["J_star"] == pytest.approx(0.99 * 8, abs=1e-9)
    penalty = _main_json(["solve", "penalty", "--param", "k=-50", "--json"], capsys)
    assert penalty["J_star"] == pytest.approx(10.0, abs=1e-12)


def test_train_climbing_reaches_11(runs):
    data = _ok_json(runs["train"])
    J = data["J"]
    assert len(J) == 201
    assert J[0] == pytest.approx(CLIMBING.mean(), abs=1e-12)
    assert J[-1] == pytest.approx(11.0, abs=1e-6)
    assert data["J_star"] == pytest.approx(11.0, rel=1e-12)  # J* comes out of a (1x1) solve
    assert "J_output" in data and 0 <= data["output_index"] < 200
    assert data["J_output"] == J[data["output_index"]]  # exact: read out of J


def test_train_from_npz_file(runs):
    data = _ok_json(runs["train-file"])
    game = runs["files"]["game_obj"]
    J = data["J"]
    assert len(J) == 51
    assert J[0] == pytest.approx(evaluate(game, "uniform").J, abs=1e-12)
    assert data["J_star"] == pytest.approx(optimal_value(game).J_star, abs=1e-10)
    assert max(J) <= data["J_star"] + 1e-9
    assert data["algo"] == "independent-npg" and "J_output" in data


def test_train_other_modes_in_process(capsys):
    for args in (
        ["--algo", "independent-pg", "--K", "20"],
        ["--algo", "centralized", "--K", "20"],
        ["--solver", "sgd", "--T", "100", "--K", "10"],
        ["--evaluation", "mc", "--K", "5"],
        ["--solver", "sgd", "--features", "random:3", "--radius", "5", "--K", "5", "--T", "50"],
    ):
        data = _main_json(["train", "two_step", "--json", *args], capsys)
        K = int(args[args.index("--K") + 1])
        assert len(data["J"]) == K + 1 and data["J_star"] == pytest.approx(0.99 * 8, abs=1e-9)
        assert data["J"][0] == pytest.approx(evaluate(make_game("two_step"), "uniform").J, abs=1e-12)
    # same seed, same numbers (also through the CLI)
    a = _main_json(["train", "climbing", "--solver", "sgd", "--T", "50", "--K", "5", "--seed", "3", "--json"], capsys)
    b = _main_json(["train", "climbing", "--solver", "sgd", "--T", "50", "--K", "5", "--seed", "3", "--json"], capsys)
    assert a["J"] == b["J"] and a["output_index"] == b["output_index"]  # exact: same seed, same computation


def test_train_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--algo",
        "--K",
        "--beta",
        "--solver",
        "--evaluation",
        "--T",
        "--eta",
        "--n-rollouts",
        "--sgd-init",
        "--features",
        "--radius",
        "--seed",
        "--json",
        "--param",
        "GAME",
    ):
        assert flag in out, flag


# ------------------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_one_line_exit_2(runs, name):
    proc = runs["bad:" + name]
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mappo_lite: error:"), lines[0]


def test_bad_input_messages_name_the_problem(runs):
    expect = {
        "unknown-game": "chess",
        "missing-file": "does not exist",
        "corrupt-file": "corrupt.npz",
        "K=0": "K",
        "beta=nan": "beta",
        "unknown-algo": "qmix",
    }
    for name, word in expect.items():
        assert word in runs["bad:" + name].stderr, (name, runs["bad:" + name].stderr)


@pytest.mark.parametrize("name", list(BAD_IN_PROCESS))
def test_more_bad_input_in_process(runs, capsys, name):
    args, word = BAD_IN_PROCESS[name]
    status, out, err = _main(_fill(args, runs["files"]), capsys)
    assert status == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mappo_lite: error:"), err
    assert word in lines[0], lines[0]


def test_bad_gamma_member_exit_2(tmp_path, capsys):
    import zipfile

    good = tmp_path / "good.npz"
    make_game("climbing").save(good)
    bad = tmp_path / "bad_gamma.npz"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for n in zin.namelist():
            zout.writestr(n, b"garbage" if n == "gamma.npy" else zin.read(n))
    status, out, err = _main(["evaluate", str(bad)], capsys)
    assert status == 2 and out == "" and err.startswith("mappo_lite: error:")
