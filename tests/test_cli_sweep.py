"""``python -m mappo_lite sweep`` (issue 16, requirement 5): the results are those of the Python API
(:func:`mappo_lite.experiments.sweep.run_sweep` on the same grid) on every backend (serial, ``--jobs 2`` joblib, a
Dask ``LocalCluster`` through ``--scheduler``), the progress bar is on stderr unless ``--quiet`` or ``--json -``, and
``--json FILE`` writes the same document. Hostile command lines are in ``tests/test_cli_hostile.py``."""

from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from mappo_lite.cli import main
from mappo_lite.experiments.sweep import grid, run_sweep

pytest.importorskip("joblib")
pytest.importorskip("tqdm")

ROOT = Path(__file__).resolve().parents[1]
#: A small grid in which the seeds matter (Monte Carlo evaluation): 2 seeds x 2 betas x 2 Ks x 2 games = 16 runs.
AXES = dict(seed=[0, 1], beta=[0.1, 1.0], K=[2, 4], game=["climbing", "penalty"])
ARGV = ["sweep", "--seeds", "0", "1", "--betas", "0.1", "1.0", "--Ks", "2", "4", "--games", "climbing", "penalty"]
ARGV += ["--evaluation", "mc"]


def _cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def expected():
    """The Python API's results on the same grid (same axis order: the game fastest)."""
    configs = grid(**AXES, algo="mappo", evaluation="mc")
    return configs, run_sweep(configs, quiet=True)


def _same_as_api(doc, expected):
    configs, results = expected
    runs = doc["runs"]
    assert len(runs) == len(configs) == 16  # exact: counts
    for run, c, r in zip(runs, configs, results):
        assert (run["game"], run["seed"], run["K"]) == (c["game"], c["seed"], c["K"])  # exact: integers and names
        assert math.isclose(run["beta"], c["beta"], rel_tol=1e-15)
        for key, value in r.items():
            scale = 1e-12 * max(1.0, abs(value))
            assert abs(run[key] - value) <= scale, (key, run, r)
    # the seeds matter here, so agreement is not trivial: the two seeds of the first point differ
    first = [run["average_gap"] for run in runs if (run["game"], run["beta"], run["K"]) == ("climbing", 0.1, 2)]
    assert abs(first[0] - first[1]) > 1e-9 * max(1.0, abs(first[0]))


def test_json_stdout_equals_the_python_api_and_has_no_progress(expected):
    status, out, err = _cli([*ARGV, "--json", "-"])
    assert status == 0, err
    assert err == ""  # --json - : stdout is the data, no progress bar
    doc = json.loads(out)
    assert doc["backend"] == "serial" and doc["axes"]["game"] == AXES["game"]
    _same_as_api(doc, expected)


def test_joblib_jobs_equal_the_python_api(expected):
    status, out, err = _cli([*ARGV, "--jobs", "2", "--json", "-"])
    assert status == 0, err
    doc = json.loads(out)
    assert doc["backend"] == "joblib"
    _same_as_api(doc, expected)


def test_dask_scheduler_equals_the_python_api(expected):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        status, out, err = _cli([*ARGV, "--scheduler", cl.scheduler_address, "--json", "-"])
    assert status == 0, err
    doc = json.loads(out)
    assert doc["backend"] == "dask"
    _same_as_api(doc, expected)


def test_progress_on_stderr_unless_quiet(expected, tmp_path):
    status, out, err = _cli(ARGV)
    assert status == 0, err
    assert "sweep" in err and "16/16" in err  # the tqdm bar counted every run
    assert len(out.splitlines()) == 16  # exact: one text line per run
    status, out_quiet, err_quiet = _cli([*ARGV, "--quiet"])
    assert status == 0 and err_quiet == ""
    assert out_quiet == out
    # --json FILE: the same document in the file, the text on stdout, the bar on stderr (stdout is not the data)
    path = tmp_path / "sweep.json"
    status, out_file, err_file = _cli([*ARGV, "--json", str(path)])
    assert status == 0, err_file
    assert "16/16" in err_file and out_file == out
    _same_as_api(json.loads(path.read_text()), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.json"]  # no temporary left behind


def test_progress_in_a_real_terminal_process():
    """A real interpreter: the bar is on stderr and the error-free run exits 0; --quiet leaves stderr empty."""
    argv = [sys.executable, "-m", "mappo_lite", "sweep", "--Ks", "2", "3", "--games", "climbing"]
    loud = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    quiet = subprocess.run([*argv, "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert loud.returncode == 0 and quiet.returncode == 0, (loud.stderr, quiet.stderr)
    assert "2/2" in loud.stderr and quiet.stderr == ""
    assert loud.stdout == quiet.stdout and len(quiet.stdout.splitlines()) == 2  # exact: one line per run


def test_a_run_that_diverges_ends_in_one_error_line():
    """An error found while running (not before) comes after the progress bar, on a line of its own, the last one."""
    status, out, err = _cli(["sweep", "--Ks", "3", "--betas", "5e-324"])
    assert status == 2 and out == ""
    assert "Traceback" not in err
    assert err.endswith("\n") and err.splitlines()[-1].startswith("mappo_lite: error: a run of the sweep diverged")
    assert "--betas" in err.splitlines()[-1]
