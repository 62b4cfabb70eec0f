"""The command line's promise under hostile input (issue 12, part 2): exit status 2, exactly one stderr line starting
``mappo_lite: error:``, no traceback, nothing written (stdout empty, the working folder untouched), bounded memory
and bounded time.

The table has three parts:

* ``ISSUE_CASES``: every input the review listed, run as real subprocesses (a few at a time), each in an empty
  working folder, with its peak RSS measured by ``os.wait4`` (``MAX_RSS``) and a wall-clock bound (``MAX_SECONDS``);
  the children also run under an address-space cap (``AS_CAP``) so that a regression cannot take the machine's
  memory, and an "out of memory" message (the fallback for a MemoryError) counts as a failure: the estimate must
  refuse the request before any allocation.
* the categories those inputs stand for, run in-process through ``mappo_lite.cli.main`` (same code path, no
  interpreter start-up): every numeric option of every subcommand, found by walking the argparse parser, × NaN,
  inf, -inf, negative, zero, fractional, huge (10**30), non-number; every key of a game file (dense and sparse form)
  and of a dataset file × wrong dtype (text, bytes, bool, datetime, Python objects), complex, wrong shape, empty;
  plus the file, γ, reward-scale and parameter cases. Values an option documents as valid (``--seed 0``,
  ``--radius inf``, …) are listed in ``VALID`` and must succeed with one finite JSON document instead.
* a subprocess sample of those categories, for the memory and traceback guarantees.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from mappo_lite import limits, make_game
from mappo_lite.cli import build_parser, main
from mappo_lite.offline import collect_dataset
from mappo_lite.sparse_games import sparse_from_dense

ROOT = Path(__file__).resolve().parents[1]
#: Peak resident memory allowed for one hostile command (the interpreter with NumPy, SciPy and numba is ~200 MB).
MAX_RSS = 1.5e9
#: Address-space cap of the children (a safety net: an allocation beyond it fails instead of swapping).
AS_CAP = 4 * 2**30
#: Wall-clock bound of one hostile command (start-up included; the machine is shared).
MAX_SECONDS = 60
#: Wall-clock bound of one in-process case.
MAX_SECONDS_IN_PROCESS = 20

HUGE = "1" + "0" * 30
CATEGORIES = {
    "nan": "nan",
    "inf": "inf",
    "-inf": "-inf",
    "negative": "-1",
    "zero": "0",
    "fraction": "0.5",
    "huge": HUGE,
    "non-number": "abc",
}

#: (option, category) pairs that are valid values of the option: they must succeed (exit 0, one finite JSON line).
VALID = {
    ("--seed", "zero"),
    ("--reward-noise", "zero"),
    ("--reward-noise", "fraction"),
    ("--reward-noise", "huge"),
    ("--radius", "inf"),
    ("--radius", "huge"),
    ("--radius", "fraction"),
    ("--lam", "inf"),
    ("--lam", "huge"),
    ("--lam", "fraction"),
    ("--L", "inf"),
    ("--L", "huge"),
    ("--L", "fraction"),
    ("--beta", "huge"),
    ("--beta", "fraction"),
    ("--coverage", "huge"),
    ("--coverage", "fraction"),
    ("--ridge", "huge"),
    ("--ridge", "fraction"),
    ("--state-fraction", "fraction"),
    ("--eta", "fraction"),
    ("--timeout", "fraction"),
    ("--timeout", "huge"),
    ("--total-timeout", "fraction"),
    ("--total-timeout", "huge"),
    ("--blas-threads", "zero"),
    ("--seeds", "zero"),
    ("--betas", "huge"),
    ("--betas", "fraction"),
}
#: Valid values whose run is not attempted here (they would run the benchmark or a grading kernel); their parsing
#: is checked instead (``test_valid_but_expensive_values_parse``).
NOT_RUN = {"bench", "assignments"}

#: A cheap valid command line per subcommand, and extra arguments that make an option matter.
BASE = {
    "evaluate": ["evaluate", "climbing", "--json"],
    "solve": ["solve", "climbing", "--json"],
    "train": ["train", "climbing", "--K", "2", "--json"],
    "offline": ["offline", "climbing", "--K", "2", "--n", "20", "--json"],
    "bench": ["bench", "--quick", "--json"],
    "assignments grade": ["assignments", "grade", "{missing}.ipynb", "--json"],
    "sweep": ["sweep", "--games", "climbing", "--Ks", "2", "--json", "-"],
}
CONTEXT = {
    ("train", "--T"): ["--solver", "sgd"],
    ("train", "--eta"): ["--solver", "sgd", "--T", "20"],
    ("train", "--n-rollouts"): ["--evaluation", "mc"],
    ("train", "--radius"): ["--solver", "sgd", "--T", "20"],
    ("offline", "--critic-dim"): ["--critic", "random"],
}


# ------------------------------------------------------------------------------------------------------------
# runners
# ------------------------------------------------------------------------------------------------------------
def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != limits.ENV_VAR}
    env.update(
        PYTHONPATH=str(ROOT),
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache")),
    )
    env.update(extra)
    return env


def run_subprocess(argv, cwd: Path, close_stdout=False, stdout_path=None, env=None, broken_pipe=False):
    """Run ``python -m mappo_lite argv`` in ``cwd``; returns dict(status, out, err, rss, seconds). ``close_stdout``:
    the child starts with fd 1 closed; ``stdout_path``: stdout goes to that file or device; ``broken_pipe``: stdout
    is a pipe whose reading end is already closed."""
    out_f = open(stdout_path, "wb") if stdout_path else io.BytesIO()
    out_tmp = None if stdout_path else tempfile.TemporaryFile()
    stdout = out_f if stdout_path else out_tmp
    if broken_pipe:
        read_end, stdout = os.pipe()
        os.close(read_end)
    err_tmp = tempfile.TemporaryFile()

    def child():
        try:
            resource.setrlimit(resource.RLIMIT_AS, (AS_CAP, AS_CAP))
        except (ValueError, OSError):  # some systems (macOS) do not enforce RLIMIT_AS
            pass
        if close_stdout:
            os.close(1)

    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mappo_lite", *argv],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=err_tmp,
        env=env or _env(),
        preexec_fn=child,
    )
    if broken_pipe:
        os.close(stdout)
    timer = threading.Timer(MAX_SECONDS * 2, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - t0
    if stdout_path:
        out_f.close()
        out = ""  # written to a device (/dev/full), nothing to read back
    else:
        out_tmp.seek(0)
        out = out_tmp.read().decode(errors="replace")
        out_tmp.close()
    err_tmp.seek(0)
    err = err_tmp.read().decode(errors="replace")
    err_tmp.close()
    rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)  # bytes on macOS, KiB on Linux
    return dict(status=proc.returncode, out=out, err=err, rss=rss, seconds=seconds)


def run_in_process(argv, cwd: Path, env=None):
    """``mappo_lite.cli.main(argv)`` with stdout and stderr captured, in ``cwd``."""
    out, err = io.StringIO(), io.StringIO()
    old_cwd, old_env = os.getcwd(), dict(os.environ)
    os.environ.pop(limits.ENV_VAR, None)
    os.environ.update(env or {})
    os.chdir(cwd)
    t0 = time.monotonic()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(argv)
            except SystemExit as exc:  # --help and friends only
                status = exc.code
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)
    return dict(status=status, out=out.getvalue(), err=err.getvalue(), rss=None, seconds=time.monotonic() - t0)


def assert_refused(res, cwd: Path, name, word=None, bound=MAX_SECONDS):
    """The promise: exit 2, one stderr line 'mappo_lite: error: ...', no traceback, nothing written, bounded."""
    err = res["err"]
    assert res["status"] == 2, (name, res["status"], err[-2000:])
    assert "Traceback" not in err, (name, err[-2000:])
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mappo_lite: error: "), (name, err[-2000:])
    assert res["out"] == "", (name, res["out"][:500])
    assert not any(cwd.iterdir()), (name, sorted(p.name for p in cwd.iterdir()))
    assert res["seconds"] < bound, (name, res["seconds"])
    if res["rss"] is not None:
        assert res["rss"] < MAX_RSS, (name, res["rss"])
        assert "out of memory" not in err, (name, err)
    if word is not None:
        words = [word] if isinstance(word, str) else word
        for w in words:
            assert w in lines[0], (name, w, lines[0])
    return lines[0]


def _no_constants(c):
    raise ValueError(f"non-finite JSON constant {c}")


def assert_succeeds(res, cwd: Path, name):
    assert res["status"] == 0, (name, res["err"][-2000:])
    assert "Traceback" not in res["err"], name
    lines = res["out"].strip().splitlines()
    assert len(lines) == 1, (name, res["out"][:500])
    json.loads(lines[0], parse_constant=_no_constants)
    assert not any(cwd.iterdir()), (name, sorted(p.name for p in cwd.iterdir()))
    assert res["seconds"] < MAX_SECONDS_IN_PROCESS, (name, res["seconds"])


# ------------------------------------------------------------------------------------------------------------
# hostile files
# ------------------------------------------------------------------------------------------------------------
def _npy_header(shape, descr="<f8"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _base_game():
    return make_game("random", n_states=2, n_agents=2, n_actions=2, gamma=0.9, seed=1)


def _game_arrays(sparse=False):
    g = _base_game()
    if sparse:
        s = sparse_from_dense(g)
        return dict(
            next_states=np.array(s.next_states),
            probs=np.array(s.probs),
            r=np.array(g.r),
            gamma=np.float64(0.9),
            rho=np.array(g.rho),
        )
    return dict(P=np.array(g.P), r=np.array(g.r), gamma=np.float64(0.9), rho=np.array(g.rho))


def _variants(key, arr):
    """{variant: replacement array} for one key: wrong dtypes, complex, wrong shape, empty."""
    a = np.asarray(arr)
    out = {
        "dtype-str": a.astype(str),
        "dtype-bytes": a.astype("S"),
        "dtype-bool": (a != 0),
        "dtype-datetime": np.zeros(a.shape, "datetime64[s]"),
        "dtype-object": a.astype(object),
        "complex": a.astype(complex),
        "complex-imag": a + 1e-3j,
        "shape": a.reshape(-1)[:1] if a.ndim == 0 else (a[..., :1] if a.shape[-1] > 1 else np.concatenate([a, a], -1)),
        "empty": np.zeros((0,) * max(1, a.ndim), a.dtype),
    }
    if a.ndim == 0:
        out["shape"] = np.array([a, a])
    if a.dtype.kind in "iu":
        out["dtype-fractional"] = a + 0.5
    return out


def _write_hostile_files(folder: Path) -> dict:
    files = {}
    # dense and sparse game files, every key x every variant
    for form in ("dense", "sparse"):
        base = _game_arrays(form == "sparse")
        good = folder / f"{form}-good.npz"
        np.savez(good, **base)
        files[f"{form}:good"] = good
        for key, arr in base.items():
            for variant, bad in _variants(key, arr).items():
                path = folder / f"{form}-{key}-{variant}.npz"
                np.savez(path, **{**base, key: bad})
                files[f"{form}:{key}:{variant}"] = path
    # datasets for climbing, every key x every variant
    ds = collect_dataset(make_game("climbing"), 30, seed=0)
    dpath = folder / "data-good.npz"
    ds.save(dpath)
    with np.load(dpath) as z:
        dbase = {k: z[k] for k in z.files}
    files["data:good"] = dpath
    for key, arr in dbase.items():
        for variant, bad in _variants(key, arr).items():
            path = folder / f"data-{key}-{variant}.npz"
            np.savez(path, **{**dbase, key: bad})
            files[f"data:{key}:{variant}"] = path
    two = collect_dataset(make_game("two_step"), 30, seed=0)
    files["data:other-game"] = folder / "data-two_step.npz"
    two.save(files["data:other-game"])
    # the issue's files
    h = _npy_header((200000, 200000))
    files["huge-header"] = folder / "huge_header.npz"
    with zipfile.ZipFile(files["huge-header"], "w") as z:
        z.writestr("P.npy", h + b"\0" * 16)
        z.writestr("r.npy", _npy_header((1, 3, 3)) + b"\0" * 72)
        z.writestr("gamma.npy", _npy_header(()) + b"\0" * 8)
    files["zip-bomb"] = folder / "bomb.npz"
    with zipfile.ZipFile(files["zip-bomb"], "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("P.npy", "w", force_zip64=True) as f:
            f.write(_npy_header((1, 3, 3, 25_000_000)))
            block = bytes(2**24)
            for _ in range(1_800_000_000 // len(block) + 1):
                f.write(block)
        z.writestr("r.npy", _npy_header((1, 3, 3)) + b"\0" * 72)
        z.writestr("gamma.npy", _npy_header(()) + b"\0" * 8)
    assert files["zip-bomb"].stat().st_size < 3e6
    files["lying-size"] = folder / "lying.npz"  # header declares more data than the member holds
    with zipfile.ZipFile(files["lying-size"], "w") as z:
        z.writestr("P.npy", _npy_header((1, 3, 3, 1)) + b"\0" * 8)
        z.writestr("r.npy", _npy_header((1, 3, 3)) + b"\0" * 72)
        z.writestr("gamma.npy", _npy_header(()) + b"\0" * 8)
    files["pickle"] = folder / "pickle.npz"
    with zipfile.ZipFile(files["pickle"], "w") as z:
        z.writestr("P.npy", _npy_header((1,), "|O") + b"\x80\x04K\x01.")
    files["not-npy-member"] = folder / "member.npz"
    with zipfile.ZipFile(files["not-npy-member"], "w") as z:
        z.writestr("P.txt", "hello")
    files["data:rewards-1e308"] = folder / "data-rewards-1e308.npz"
    np.savez(files["data:rewards-1e308"], **{**dbase, "rewards": np.full(dbase["rewards"].shape, 1e308)})
    files["data:huge-sizes"] = folder / "data-huge-sizes.npz"
    np.savez(files["data:huge-sizes"], **{**dbase, "action_sizes": np.array([2**40, 2**40])})
    files["many-members"] = folder / "many.npz"
    with zipfile.ZipFile(files["many-members"], "w") as z:
        for i in range(5000):
            z.writestr(f"a{i}.npy", b"")
    files["plain-npy"] = folder / "plain.npy"
    np.save(files["plain-npy"], np.ones((1, 3, 3, 1)))
    files["npy-named-npz"] = folder / "plain_named.npz"
    files["npy-named-npz"].write_bytes(files["plain-npy"].read_bytes())
    files["text"] = folder / "text.npz"
    files["text"].write_text("hello")
    files["empty-file"] = folder / "empty.npz"
    files["empty-file"].write_bytes(b"")
    files["fifo"] = folder / "fifo.npz"
    os.mkfifo(files["fifo"])
    files["directory"] = folder / "dir.npz"
    files["directory"].mkdir()
    files["missing"] = folder / "missing.npz"
    one = np.ones((1, 3, 3, 1))
    zero_r = np.zeros((1, 3, 3))
    files["S=0"] = folder / "s0.npz"
    np.savez(files["S=0"], P=np.ones((0, 3, 3, 0)), r=np.zeros((0, 3, 3)), gamma=0.0)
    files["r=1e308"] = folder / "big_r.npz"
    np.savez(files["r=1e308"], P=one, r=np.full((1, 3, 3), 1e308), gamma=0.0)
    files["r=-1e308"] = folder / "big_negative_r.npz"
    np.savez(files["r=-1e308"], P=one, r=np.full((1, 3, 3), -1e308), gamma=0.5)
    files["r=1e300,gamma=0.99"] = folder / "big_r_discounted.npz"
    np.savez(files["r=1e300,gamma=0.99"], P=one, r=np.full((1, 3, 3), 1e300), gamma=0.99)
    for label, g in (
        ("gamma=1-1e-15", 1 - 1e-15),
        ("gamma=nextafter(1,0)", np.nextafter(1.0, 0.0)),
        ("gamma=1-1e-11", 1 - 1e-11),
        ("gamma=1.5", 1.5),
        ("gamma=-0.1", -0.1),
        ("gamma=nan", np.nan),
        ("gamma=1,rows=1", 1.0),
    ):
        files[label] = folder / f"{label.replace('(', '_').replace(')', '_').replace(',', '_')}.npz"
        np.savez(files[label], P=one, r=zero_r + 1, gamma=g)
    files["stopping-near-1"] = folder / "stop_near_1.npz"
    np.savez(files["stopping-near-1"], P=one * (1 - 1e-13), r=zero_r + 1, gamma=1.0)
    files["stopping-1e-11"] = folder / "stop_1e-11.npz"
    np.savez(files["stopping-1e-11"], P=one * (1 - 1e-11), r=zero_r + 1, gamma=1.0)
    files["P=nan"] = folder / "p_nan.npz"
    np.savez(files["P=nan"], P=one * np.nan, r=zero_r, gamma=0.0)
    files["r=inf"] = folder / "r_inf.npz"
    np.savez(files["r=inf"], P=one, r=zero_r + np.inf, gamma=0.0)
    files["extra-key"] = folder / "extra.npz"
    np.savez(files["extra-key"], P=one, r=zero_r, gamma=0.0, notes=np.zeros(1))
    return {k: str(v) for k, v in files.items()}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return _write_hostile_files(tmp_path_factory.mktemp("hostile_files"))


@pytest.fixture()
def empty_dir(tmp_path):
    d = tmp_path / "cwd"
    d.mkdir()
    return d


# ------------------------------------------------------------------------------------------------------------
# the issue's inputs, as subprocesses (memory and time measured)
# ------------------------------------------------------------------------------------------------------------
ISSUE_CASES = {
    # memory
    "745-byte npz declaring 298 GiB": (["solve", "{huge-header}"], "memory"),
    "zip bomb": (["evaluate", "{zip-bomb}"], "memory"),
    "--K 1e12": (["train", "climbing", "--K", "1000000000000"], "memory"),
    "--T 1e13": (["train", "climbing", "--solver", "sgd", "--T", "10000000000000"], "memory"),
    "offline --n 1e10": (["offline", "climbing", "--n", "10000000000"], "memory"),
    "n_states=1e6": (["evaluate", "random", "--param", "n_states=1000000"], "memory"),
    "--features random:1e9": (["train", "climbing", "--solver", "sgd", "--features", "random:1000000000"], "memory"),
    "--features random:1e9 ideal": (["train", "climbing", "--features", "random:1000000000"], None),
    "--critic-dim 1e8": (["offline", "climbing", "--critic", "random", "--critic-dim", "100000000"], "memory"),
    # huge integers
    "--K 1e30": (["train", "climbing", "--K", HUGE], "K"),
    "--critic-dim 1e30": (["offline", "climbing", "--critic", "random", "--critic-dim", HUGE], "critic-dim"),
    "offline --n 1e30": (["offline", "climbing", "--n", HUGE], "n"),
    "--n-rollouts 1e30": (["train", "climbing", "--evaluation", "mc", "--n-rollouts", HUGE], "n-rollouts"),
    "n_agents=40": (["evaluate", "random", "--param", "n_agents=40"], "memory"),
    "n_agents=1e30": (["evaluate", "random", "--param", f"n_agents={HUGE}"], "n_agents"),
    "n_states=1e30": (["evaluate", "random", "--param", f"n_states={HUGE}"], "memory"),
    "--features random:1e30": (["train", "climbing", "--solver", "sgd", "--features", f"random:{HUGE}"], "features"),
    # negative seeds
    "--seed -1": (["train", "climbing", "--seed", "-1"], "seed"),
    "offline --seed -1": (["offline", "climbing", "--seed", "-1"], "seed"),
    "--param seed=-1": (["evaluate", "random", "--param", "seed=-1"], "seed"),
    # bad --param types
    "k=abc": (["evaluate", "penalty", "--param", "k=abc"], "k"),
    "k=[1,2]": (["evaluate", "penalty", "--param", "k=[1,2]"], "k"),
    "k=null": (["evaluate", "penalty", "--param", "k=null"], "k"),
    "gamma=abc": (["evaluate", "two_step", "--param", "gamma=abc"], "gamma"),
    "n_states=abc": (["evaluate", "random", "--param", "n_states=abc"], "n_states"),
    "n_states=Infinity": (["evaluate", "random", "--param", "n_states=Infinity"], "n_states"),
    "n_states=null": (["evaluate", "random", "--param", "n_states=null"], "n_states"),
    "n_states=1.7": (["evaluate", "random", "--param", "n_states=1.7"], "n_states"),
    'n_actions=[2,"x"]': (["evaluate", "random", "--param", 'n_actions=[2,"x"]'], "n_actions"),
    "seed=1.5": (["evaluate", "random", "--param", "seed=1.5"], "seed"),
    "plain .npy as game": (["evaluate", "{plain-npy}"], ".npy"),
    # silent wrong answers
    "complex P": (["solve", "{dense:P:complex}"], ["P", "complex"]),
    "complex r": (["solve", "{dense:r:complex-imag}"], ["r", "complex"]),
    "complex rho": (["solve", "{dense:rho:complex}"], ["rho", "complex"]),
    "complex gamma": (["solve", "{dense:gamma:complex}"], ["gamma", "complex"]),
    "str gamma": (["solve", "{dense:gamma:dtype-str}"], "gamma"),
    "bytes r": (["solve", "{dense:r:dtype-bytes}"], "r"),
    "datetime r": (["solve", "{dense:r:dtype-datetime}"], "datetime"),
    "bool P": (["solve", "{dense:P:dtype-bool}"], "bool"),
    "rewards 1e308": (["solve", "{r=1e308}"], "rewards"),
    "gamma=1-1e-15": (["solve", "{gamma=1-1e-15}"], ["1e-10", "horizon"]),
    "gamma=nextafter(1,0)": (["evaluate", "{gamma=nextafter(1,0)}"], ["1e-10", "horizon"]),
    "two_step gamma=1-1e-15": (["solve", "two_step", "--param", "gamma=0.999999999999999"], "horizon"),
    # messages
    "divergence names --eta": (
        ["train", "climbing", "--solver", "sgd", "--eta", "100", "--K", "5", "--T", "100"],
        "--eta",
    ),
    "divergence names --beta": (["train", "climbing", "--beta", "5e-324", "--K", "4"], "--beta"),
    "gamma out of range mentions stopping games": (["solve", "{gamma=1.5}"], ["[0, 1)", "stopping"]),
    "FIFO": (["evaluate", "{fifo}"], "FIFO"),
    "directory": (["evaluate", "{directory}"], "directory"),
    "/dev/null": (["evaluate", "/dev/null"], "null device"),
    "S=0": (["evaluate", "{S=0}"], "S >= 1"),
    "dataset of another game names the file": (
        ["offline", "climbing", "--dataset", "{data:other-game}"],
        "data-two_step.npz",
    ),
}


def _fill(argv, files):
    out = []
    for a in argv:
        if a.startswith("{") and a.endswith("}") and a[1:-1] in files:
            out.append(files[a[1:-1]])
        elif a.startswith("{") and "}" in a:
            key, rest = a[1:].split("}", 1)
            out.append(files[key] + rest)
        else:
            out.append(a)
    return out


@pytest.fixture(scope="module")
def issue_runs(files, tmp_path_factory):
    root = tmp_path_factory.mktemp("issue_cwds")
    jobs = {}
    for i, (name, (argv, _)) in enumerate(ISSUE_CASES.items()):
        cwd = root / f"case{i}"
        cwd.mkdir()
        jobs[name] = (_fill(argv, files), cwd)
    extra = {
        "games --json, stdout closed": (["games", "--json"], dict(close_stdout=True)),
        "games --json, stdout /dev/full": (["games", "--json"], dict(stdout_path="/dev/full")),
        "games --json, stdout a broken pipe": (["games", "--json"], dict(broken_pipe=True)),
        "bad MAPPO_LITE_MAX_BYTES": (["evaluate", "climbing"], dict(env=_env(**{limits.ENV_VAR: "lots"}))),
        "MAPPO_LITE_MAX_BYTES=10M refuses": (
            ["evaluate", "random", "--param", "n_states=300"],
            dict(env=_env(**{limits.ENV_VAR: "10M"})),
        ),
        "--max-memory 10M refuses": (["evaluate", "random", "--param", "n_states=300", "--max-memory", "10M"], {}),
    }
    for i, (name, (argv, kw)) in enumerate(extra.items()):
        cwd = root / f"extra{i}"
        cwd.mkdir()
        jobs[name] = (argv, cwd, kw)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futs = {
            name: pool.submit(run_subprocess, job[0], job[1], **(job[2] if len(job) > 2 else {}))
            for name, job in jobs.items()
        }
        return {name: (f.result(), jobs[name][1]) for name, f in futs.items()}


@pytest.mark.parametrize("name", list(ISSUE_CASES))
def test_issue_input_refused(issue_runs, name):
    res, cwd = issue_runs[name]
    assert_refused(res, cwd, name, ISSUE_CASES[name][1])


@pytest.mark.parametrize(
    "name",
    [
        "games --json, stdout closed",
        "games --json, stdout /dev/full",
        "games --json, stdout a broken pipe",
        "bad MAPPO_LITE_MAX_BYTES",
        "MAPPO_LITE_MAX_BYTES=10M refuses",
        "--max-memory 10M refuses",
    ],
)
def test_output_and_limit_cases(issue_runs, name):
    res, cwd = issue_runs[name]
    if "stdout" in name:
        res = {**res, "out": ""}  # nothing reached stdout (it was closed or full)
    word = {
        "games --json, stdout closed": "stdout",
        "games --json, stdout /dev/full": "stdout",
        "games --json, stdout a broken pipe": "Broken pipe",
        "bad MAPPO_LITE_MAX_BYTES": limits.ENV_VAR,
    }.get(name, "memory")
    assert_refused(res, cwd, name, word)


def test_memory_limit_can_be_raised(empty_dir):
    """The request --max-memory 10M refuses runs with the default limit, and with a raised one."""
    for extra in ([], ["--max-memory", "2G"]):
        res = run_in_process(["evaluate", "random", "--param", "n_states=300", "--json", *extra], empty_dir)
        assert_succeeds(res, empty_dir, extra)
    res = run_in_process(
        ["evaluate", "random", "--param", "n_states=300", "--json"], empty_dir, env={limits.ENV_VAR: "4G"}
    )
    assert_succeeds(res, empty_dir, "env 4G")


# ------------------------------------------------------------------------------------------------------------
# categories: every numeric option x hostile values (in-process)
# ------------------------------------------------------------------------------------------------------------
def _subparsers(parser, prefix=()):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subparsers(sub, prefix + (name,))
    if prefix:
        yield " ".join(prefix), parser


def numeric_options():
    """[(subcommand, option)] for every option whose type converts '1' to a number, from the real parser."""
    out = []
    for cmd, sub in _subparsers(build_parser()):
        for action in sub._actions:
            if not action.option_strings or action.type is None:
                continue
            try:
                v = action.type("1")
            except Exception:  # noqa: BLE001 - a type that refuses "1" is not a numeric option
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append((cmd, action.option_strings[-1]))
    return out


NUMERIC = numeric_options()
OPTION_CASES = [(cmd, opt, cat) for cmd, opt in NUMERIC for cat in CATEGORIES]


def test_numeric_options_found_and_covered():
    opts = {opt for _, opt in NUMERIC}
    for expected in (
        "--K",
        "--beta",
        "--T",
        "--eta",
        "--n-rollouts",
        "--radius",
        "--seed",
        "--n",
        "--coverage",
        "--state-fraction",
        "--reward-noise",
        "--lam",
        "--L",
        "--ridge",
        "--critic-dim",
        "--max-memory",
        "--blas-threads",
        "--timeout",
        "--total-timeout",
    ):
        assert expected in opts, expected
    for cmd, opt in NUMERIC:
        assert cmd in BASE, f"add a cheap base command for {cmd!r} (new option {opt})"


def _option_argv(cmd, opt, value):
    base = list(BASE[cmd])
    return base + CONTEXT.get((cmd, opt), []) + [opt, value]


@pytest.mark.parametrize("cmd,opt,cat", OPTION_CASES, ids=[f"{c}:{o}:{k}" for c, o, k in OPTION_CASES])
def test_numeric_option_hostile_value(cmd, opt, cat, empty_dir):
    argv = [a.replace("{missing}", str(empty_dir.parent / "nothing")) for a in _option_argv(cmd, opt, CATEGORIES[cat])]
    if (opt, cat) in VALID:
        if cmd.split()[0] in NOT_RUN:
            pytest.skip("valid value of a command that would run the benchmark or a kernel; see the parse test")
        assert_succeeds(run_in_process(argv, empty_dir), empty_dir, argv)
        return
    line = assert_refused(run_in_process(argv, empty_dir), empty_dir, argv, bound=MAX_SECONDS_IN_PROCESS)
    if cmd not in ("assignments grade",):
        assert opt.lstrip("-") in line, (argv, line)  # the message names the option


def test_valid_but_expensive_values_parse():
    parser = build_parser()
    for cmd, opt in NUMERIC:
        if cmd.split()[0] not in NOT_RUN:
            continue
        for cat, value in CATEGORIES.items():
            if (opt, cat) in VALID:
                argv = [a.replace("{missing}", "x") for a in _option_argv(cmd, opt, value)]
                args = parser.parse_args(argv)
                assert math.isfinite(getattr(args, opt.lstrip("-").replace("-", "_"))), (cmd, opt, cat)


# ------------------------------------------------------------------------------------------------------------
# categories: every file key x wrong dtype, complex, wrong shape, empty (in-process)
# ------------------------------------------------------------------------------------------------------------
def _file_case_names():
    names = []
    for form, keys in (
        ("dense", ("P", "r", "gamma", "rho")),
        ("sparse", ("next_states", "probs", "r", "gamma", "rho")),
    ):
        base = _game_arrays(form == "sparse")
        for key in keys:
            names += [f"{form}:{key}:{v}" for v in _variants(key, base[key])]
    ds = collect_dataset(make_game("climbing"), 5, seed=0)
    arrays = dict(
        states=ds.states,
        actions=ds.actions,
        rewards=ds.rewards,
        next_states=ds.next_states,
        n_states=np.int64(ds.n_states),
        action_sizes=np.asarray(ds.action_sizes),
    )
    for key, arr in arrays.items():
        names += [f"data:{key}:{v}" for v in _variants(key, arr)]
    return names


FILE_CASES = _file_case_names()


def test_good_files_are_accepted(files, empty_dir):
    for name in ("dense:good", "sparse:good"):
        assert_succeeds(run_in_process(["solve", files[name], "--json"], empty_dir), empty_dir, name)
    res = run_in_process(["offline", "climbing", "--dataset", files["data:good"], "--K", "2", "--json"], empty_dir)
    assert_succeeds(res, empty_dir, "data:good")


@pytest.mark.parametrize("name", FILE_CASES)
def test_file_key_hostile_variant(files, empty_dir, name):
    form, key, variant = name.split(":")
    path = files[name]
    if form == "data":
        argv = ["offline", "climbing", "--dataset", path, "--K", "2", "--json"]
    else:
        argv = ["solve", path, "--json"]
    line = assert_refused(run_in_process(argv, empty_dir), empty_dir, name, bound=MAX_SECONDS_IN_PROCESS)
    assert os.path.basename(path) in line, line  # the message names the file
    if variant.startswith("complex"):
        assert "complex" in line, line


# ------------------------------------------------------------------------------------------------------------
# other files, gamma, rewards and parameters (in-process)
# ------------------------------------------------------------------------------------------------------------
OTHER_CASES = {
    "lying size": (["solve", "{lying-size}"], "lying.npz"),
    "pickle": (["solve", "{pickle}"], "objects"),
    "member not .npy": (["solve", "{not-npy-member}"], "P.txt"),
    "5000 members": (["solve", "{many-members}"], "5000 members"),
    ".npy named .npz": (["solve", "{npy-named-npz}"], ".npy"),
    "text file": (["solve", "{text}"], "text.npz"),
    "empty file": (["solve", "{empty-file}"], "empty"),
    "missing file": (["solve", "{missing}"], "does not exist"),
    "FIFO": (["solve", "{fifo}"], "FIFO"),
    "directory": (["solve", "{directory}"], "directory"),
    "/dev/null": (["solve", "/dev/null"], "null device"),
    "/dev/zero": (["solve", "/dev/zero"], "character device"),
    "name too long": (["solve", "x" * 5000 + ".npz"], "too long"),
    "undecodable name": (["solve", "\udcff\udcfe.npz"], "does not exist"),
    "undecodable --K": (["train", "climbing", "--K", "\udcff"], "K"),
    "missing dataset": (["offline", "climbing", "--dataset", "{missing}"], "does not exist"),
    "FIFO dataset": (["offline", "climbing", "--dataset", "{fifo}"], "FIFO"),
    "dataset is a game": (["offline", "climbing", "--dataset", "{dense:good}"], "dense-good.npz"),
    "dataset of another game": (["offline", "climbing", "--dataset", "{data:other-game}"], "data-two_step.npz"),
    "dataset rewards 1e308": (
        ["offline", "climbing", "--dataset", "{data:rewards-1e308}"],
        ["data-rewards-1e308.npz", "rewards"],
    ),
    "dataset action sizes 2^40": (["offline", "climbing", "--dataset", "{data:huge-sizes}"], "data-huge-sizes.npz"),
    "S=0": (["solve", "{S=0}"], "S >= 1"),
    "rewards 1e308": (["solve", "{r=1e308}"], "rewards"),
    "rewards -1e308": (["evaluate", "{r=-1e308}"], "rewards"),
    "rewards 1e300, gamma 0.99": (["train", "{r=1e300,gamma=0.99}", "--K", "2"], "rewards"),
    "gamma 1-1e-15": (["solve", "{gamma=1-1e-15}"], "horizon"),
    "gamma nextafter(1,0)": (["train", "{gamma=nextafter(1,0)}", "--K", "2"], "horizon"),
    "gamma 1-1e-11": (["solve", "{gamma=1-1e-11}"], "horizon"),
    "gamma 1.5": (["solve", "{gamma=1.5}"], "stopping"),
    "gamma -0.1": (["solve", "{gamma=-0.1}"], "stopping"),
    "gamma nan": (["solve", "{gamma=nan}"], "gamma"),
    "gamma 1, rows sum to 1": (["solve", "{gamma=1,rows=1}"], "gamma"),
    "stopping probability 1e-13": (["solve", "{stopping-near-1}"], "strictly less than 1"),
    "stopping probability 1e-11": (["solve", "{stopping-1e-11}"], "horizon"),
    "P nan": (["solve", "{P=nan}"], "NaN"),
    "r inf": (["solve", "{r=inf}"], "NaN or infinite"),
    "extra key": (["solve", "{extra-key}"], "notes"),
    "--param on a file": (["solve", "{dense:good}", "--param", "k=1"], "built-in"),
    "sparse file, --algo centralized": (["train", "{sparse:good}", "--algo", "centralized", "--K", "2"], "dense"),
    "sparse file, offline --unit-rewards": (["offline", "{sparse:good}", "--unit-rewards", "--K", "2"], "dense"),
    # parameters of built-in games
    "random n_states=0": (["evaluate", "random", "--param", "n_states=0"], "n_states"),
    "random n_states=-3": (["evaluate", "random", "--param", "n_states=-3"], "n_states"),
    "random n_states=true": (["evaluate", "random", "--param", "n_states=true"], "n_states"),
    "random n_states=NaN": (["evaluate", "random", "--param", "n_states=NaN"], "n_states"),
    "random n_states=[3]": (["evaluate", "random", "--param", "n_states=[3]"], "n_states"),
    "random n_states=1e3": (["evaluate", "random", "--param", "n_states=1e400"], "n_states"),
    "random n_agents=0": (["evaluate", "random", "--param", "n_agents=0"], "n_agents"),
    "random n_agents=100 (axes)": (
        ["evaluate", "random", "--param", "n_agents=100", "--param", "n_actions=1"],
        "n_agents",
    ),
    "random n_actions=0": (["evaluate", "random", "--param", "n_actions=0"], "n_actions"),
    "random n_actions=[]": (["evaluate", "random", "--param", "n_actions=[]"], "n_actions"),
    "random n_actions=[2,2.5]": (["evaluate", "random", "--param", "n_actions=[2,2.5]"], "n_actions"),
    "random n_actions=[2,3,4]": (["evaluate", "random", "--param", "n_actions=[2,3,4]"], "n_actions"),
    "random n_actions=1e30": (["evaluate", "random", "--param", f"n_actions={HUGE}"], "memory"),
    "random gamma=1.5": (["evaluate", "random", "--param", "gamma=1.5"], "gamma"),
    "random gamma=NaN": (["evaluate", "random", "--param", "gamma=NaN"], "gamma"),
    "random gamma=-Infinity": (["evaluate", "random", "--param", "gamma=-Infinity"], "gamma"),
    "random concentration=0": (["evaluate", "random", "--param", "concentration=0"], "concentration"),
    "random concentration=abc": (["evaluate", "random", "--param", "concentration=abc"], "concentration"),
    "random seed=1e30": (["evaluate", "random", "--param", f"seed={HUGE}"], "seed"),
    "random seed=abc": (["evaluate", "random", "--param", "seed=abc"], "seed"),
    "penalty k=1": (["evaluate", "penalty", "--param", "k=1"], "k"),
    "penalty k=-Infinity": (["evaluate", "penalty", "--param", "k=-Infinity"], "k"),
    "penalty k=1e400": (["evaluate", "penalty", "--param", "k=-1e400"], "k"),
    "penalty k=-1e308": (["evaluate", "penalty", "--param", "k=-1e308"], "rewards"),
    "penalty k=true": (["evaluate", "penalty", "--param", "k=true"], "k"),
    "two_step gamma=null": (["evaluate", "two_step", "--param", "gamma=null"], "gamma"),
    "two_step gamma=1": (["evaluate", "two_step", "--param", "gamma=1"], "gamma"),
    "two_step gamma=1-1e-13": (["evaluate", "two_step", "--param", "gamma=0.9999999999999"], "horizon"),
    "gridworld width=1e30": (["evaluate", "gridworld", "--param", f"width={HUGE}"], "memory"),
    "gridworld width=abc": (["evaluate", "gridworld", "--param", "width=abc"], "width"),
    "gridworld width=2.5": (["evaluate", "gridworld", "--param", "width=2.5"], "width"),
    "gridworld n_agents=1e30": (["evaluate", "gridworld", "--param", f"n_agents={HUGE}"], "n_agents"),
    "gridworld slip=NaN": (["evaluate", "gridworld", "--param", "slip=NaN"], "slip"),
    "gridworld slip=2": (["evaluate", "gridworld", "--param", "slip=2"], "slip"),
    "gridworld sparse=1": (["evaluate", "gridworld", "--param", "sparse=1"], "sparse"),
    "gridworld start=[1]": (["evaluate", "gridworld", "--param", "start=[1]"], "start"),
    "gridworld goals=abc": (["evaluate", "gridworld", "--param", "goals=abc"], "goals"),
    "gridworld width=30 n_agents=4 (memory)": (
        ["evaluate", "gridworld", "--param", "width=30", "--param", "n_agents=4"],
        "memory",
    ),
    "unknown parameter": (["evaluate", "climbing", "--param", "size=5"], "size"),
    "param without =": (["evaluate", "climbing", "--param", "size"], "--param"),
    "deeply nested param": (["evaluate", "penalty", "--param", "k=" + "[" * 100000], "k"),
    # options
    "--features random:0": (["train", "climbing", "--solver", "sgd", "--features", "random:0"], "features"),
    "--features random:-2": (["train", "climbing", "--solver", "sgd", "--features", "random:-2"], "features"),
    "--features random:1.5": (["train", "climbing", "--solver", "sgd", "--features", "random:1.5"], "features"),
    "--features random:": (["train", "climbing", "--solver", "sgd", "--features", "random:"], "features"),
    "--features random:x": (["train", "climbing", "--solver", "sgd", "--features", "random:x"], "features"),
    "--K 1e3": (["train", "climbing", "--K", "1e3"], "K"),
    "--K 5.0": (["train", "climbing", "--K", "5.0"], "K"),
    "--K 99999 digits": (["train", "climbing", "--K", "9" * 99999], "K"),
    "--critic random, no dim": (["offline", "climbing", "--critic", "random"], "dim"),
    "--max-memory 0": (["evaluate", "climbing", "--max-memory", "0"], "max-memory"),
    "--max-memory 1e30": (["evaluate", "climbing", "--max-memory", "1e30"], "max-memory"),
    "--max-memory 1 byte": (["evaluate", "climbing", "--max-memory", "1"], "memory"),
    "--max-memory -5G": (["evaluate", "climbing", "--max-memory", "-5G"], "max-memory"),
    "--max-memory lots": (["evaluate", "climbing", "--max-memory", "lots"], "max-memory"),
    "--blas-threads 1e30": (["bench", "--blas-threads", HUGE], "blas-threads"),
    "beta 5e-324 independent-npg": (
        ["train", "climbing", "--algo", "independent-npg", "--beta", "5e-324", "--K", "3"],
        "--beta",
    ),
    "train --json written nowhere": (["train", "climbing", "--K", "0", "--json"], "K"),
    # sweep (issue 16): the grid, the backends, the output file
    "sweep unknown game": (["sweep", "--games", "climbing", "chess"], ["chess", "--games"]),
    "sweep game file": (["sweep", "--games", "{dense:good}"], "--games"),
    "sweep grid too large": (
        ["sweep", "--seeds", *map(str, range(101)), "--Ks", *map(str, range(1, 101))],
        ["10100 runs", str(limits.MAX_SWEEP_RUNS)],
    ),
    "sweep --Ks 1e12": (["sweep", "--Ks", "1000000000000"], "memory"),
    "sweep 8 runs at once": (["sweep", "--Ks", "2000000", "--seeds", *map(str, range(8)), "--jobs", "8"], "8 at once"),
    "sweep --jobs 1000": (["sweep", "--jobs", "1000"], "jobs"),
    "sweep --jobs and --scheduler": (["sweep", "--jobs", "2", "--scheduler", "tcp://127.0.0.1:1"], "--jobs"),
    "sweep --scheduler empty": (["sweep", "--Ks", "2", "--scheduler", " "], "--scheduler"),
    "sweep --scheduler unreachable": (["sweep", "--Ks", "2", "--quiet", "--scheduler", "tcp://127.0.0.1:1"], "Dask"),
    "sweep --json a directory": (["sweep", "--Ks", "2", "--json", "."], "directory"),
    "sweep --json in a missing folder": (["sweep", "--Ks", "2", "--json", "nowhere/out.json"], "does not exist"),
    "sweep --evaluation for centralized": (
        ["sweep", "--algo", "centralized", "--evaluation", "mc"],
        "--evaluation",
    ),
    "sweep --algo independent-pg": (["sweep", "--algo", "independent-pg"], "algo"),
    "sweep no seeds": (["sweep", "--seeds"], "seeds"),
    "sweep --betas nan among good ones": (["sweep", "--betas", "0.1", "nan"], "betas"),
    "sweep divergence names --betas": (["sweep", "--Ks", "3", "--betas", "5e-324", "--quiet"], "--betas"),
}


@pytest.mark.parametrize("name", list(OTHER_CASES))
def test_other_hostile_input(files, empty_dir, name):
    argv, word = OTHER_CASES[name]
    res = run_in_process(_fill(argv, files), empty_dir)
    assert_refused(res, empty_dir, name, word, bound=MAX_SECONDS_IN_PROCESS)


# ------------------------------------------------------------------------------------------------------------
# a subprocess sample of the categories: memory and tracebacks in a real interpreter
# ------------------------------------------------------------------------------------------------------------
#: Every 23rd option case, every 17th file case, every 13th other case (a spread over subcommands, options,
#: categories, keys and variants; about 20 interpreters).
SAMPLE = (
    [("option", c) for c in OPTION_CASES[::23] if (c[1], c[2]) not in VALID]
    + [("file", n) for n in FILE_CASES[::17]]
    + [("other", n) for n in list(OTHER_CASES)[::13]]
)


def test_subprocess_sample_of_the_categories(files, tmp_path):
    jobs = []
    for i, (kind, case) in enumerate(SAMPLE):
        cwd = tmp_path / f"s{i}"
        cwd.mkdir()
        if kind == "option":
            cmd, opt, cat = case
            argv = [a.replace("{missing}", str(tmp_path / "nothing")) for a in _option_argv(cmd, opt, CATEGORIES[cat])]
            word = None
        elif kind == "file":
            form, key, variant = case.split(":")
            path = files[case]
            argv = ["offline", "climbing", "--dataset", path, "--K", "2"] if form == "data" else ["solve", path]
            word = os.path.basename(path)
        else:
            argv, word = OTHER_CASES[case]
            argv = _fill(argv, files)
        jobs.append((case, argv, cwd, word))
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda j: run_subprocess(j[1], j[2]), jobs))
    for (case, _argv, cwd, word), res in zip(jobs, results):
        assert_refused(res, cwd, case, word)


def test_internal_errors_are_one_line_too(monkeypatch, empty_dir):
    """A bug (not bad input) is still one line, with exit status 1; MAPPO_LITE_DEBUG=1 shows the traceback."""
    import mappo_lite.evaluation

    def broken(*a, **k):
        raise AttributeError("simulated bug")

    monkeypatch.setattr(mappo_lite.evaluation, "evaluate", broken)
    res = run_in_process(["evaluate", "climbing"], empty_dir)
    assert res["status"] == 1 and res["out"] == ""
    lines = res["err"].splitlines()
    assert len(lines) == 1 and lines[0].startswith("mappo_lite: error: internal error (AttributeError: simulated bug)")
    with pytest.raises(AttributeError):
        run_in_process(["evaluate", "climbing"], empty_dir, env={"MAPPO_LITE_DEBUG": "1"})


def test_sparse_file_with_sampled_evaluation_now_trains(files, empty_dir):
    """Monte Carlo Q-hat runs on sparse games (successor-list rollouts), so this is no longer a refused input."""
    res = run_in_process(
        _fill(["train", "{sparse:good}", "--evaluation", "mc", "--K", "2", "--json"], files), empty_dir
    )
    assert res["status"] == 0, res["err"][-2000:]
    out = json.loads(res["out"])
    assert len(out["J"]) == 3 and all(math.isfinite(j) for j in out["J"])
