"""Hostile notebooks against the grader (issue 12, part 1): every attack ends with a correct, low score.

Each test takes a real assignment (a1, built into a temporary release), adds hostile code cells to the *unsolved*
student notebook — so any point it scores is a point the attack stole — and grades it. The instructor sources are
a temporary copy (``SRC``), so a failing test cannot damage the repository's ``mappo_lite/course/sources/``; the attacks also
aim at the repository's folder and ``$MAPPO_LITE_ASSIGNMENTS``. The bubblewrap tests are skipped (with the reason)
where bwrap cannot run; the ``user`` and ``none`` levels are tested for what they promise.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import nbformat
import pytest

from mappo_lite.course.grade import grade_notebook
from mappo_lite.course.release import build
from mappo_lite.course.sandbox import choose_isolation
from mappo_lite.errors import MappoLiteError

ROOT = Path(__file__).resolve().parents[2]
NAME = "a1_softmax_policies"
try:
    HAVE_BWRAP = choose_isolation("auto").level == "bwrap"
    WHY_NOT = "" if HAVE_BWRAP else choose_isolation("auto").detail
except MappoLiteError as exc:
    HAVE_BWRAP, WHY_NOT = False, str(exc)
needs_bwrap = pytest.mark.skipif(not HAVE_BWRAP, reason=f"bubblewrap sandbox unavailable here: {WHY_NOT}")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the 'user' isolation level needs a grader running as root")


def _digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("attacks")
    src = base / "src"
    shutil.copytree(ROOT / "mappo_lite" / "course" / "sources", src)
    build(base / "release", source_dir=src)
    return {
        "src": src,
        "release": base / "release",
        "digest": _digest(src),
        "repo_digest": _digest(ROOT / "mappo_lite" / "course" / "sources"),
    }


def _student(course):
    return nbformat.read(course["release"] / "student" / f"{NAME}.ipynb", as_version=4)


def _wrong_answers(nb):
    """Every answer replaced by a wrong one that does not raise (``return None``): only a hijack can pass a test."""
    for c in nb.cells:
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"):
            lines = c.source.split("\n")
            for i, ln in enumerate(lines):
                if ln.strip() == "raise NotImplementedError()":
                    indent = ln[: len(ln) - len(ln.lstrip())]
                    lines[i] = indent + ("return None" if indent else "pass")
            c.source = "\n".join(lines)
    return nb


def _hostile(course, tmp_path, *cells, name="hostile.ipynb", after="setup", wrong=False):
    """The unsolved student notebook (``wrong``: with wrong answers that do not raise) with ``cells`` added right
    after the cell ``after`` (None: at the top)."""
    nb = _wrong_answers(_student(course)) if wrong else _student(course)
    cells = [
        textwrap.dedent(code).replace("@SRC@", str(course["src"])).replace("@TMP@", str(tmp_path)) for code in cells
    ]
    if after == "each-answer":  # after every answer cell, right before its tests
        out = []
        for c in nb.cells:
            out.append(c)
            if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code":
                out += [nbformat.v4.new_code_cell(code) for code in cells]
        nb.cells = out
    else:
        k = (
            0
            if after is None
            else next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == after) + 1
        )
        for j, code in enumerate(cells):
            nb.cells.insert(k + j, nbformat.v4.new_code_cell(code))
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def _grade(course, path, **kw):
    kw.setdefault("timeout", 30)
    kw.setdefault("total_timeout", 240)
    return grade_notebook(path, source_dir=course["src"], assignment=NAME, **kw)


def _outputs(rep) -> str:
    out = []
    for c in rep.executed.cells:
        for o in c.get("outputs", []):
            out.append(o.get("text", "") + "".join(o.get("traceback", [])) + json.dumps(o.get("data", {})))
    return "\n".join(out)


def _assert_zero(rep, course):
    d = rep.as_dict()
    assert d["total"] == 0 and d["max"] == 11, rep.text()
    assert all(q["points"] == 0 for q in d["questions"]), rep.text()
    assert _digest(course["src"]) == course["digest"], "the instructor sources were changed"
    assert _digest(ROOT / "mappo_lite" / "course" / "sources") == course["repo_digest"], (
        "the repository's sources were changed"
    )


def _cli(args, env=None, timeout=300):
    e = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "mappo_lite", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=e,
    )


# ------------------------------------------------------------------------------------------------ hijacking IPython

TRANSFORMERS_TO_PASS = """
ip = get_ipython()
to_pass = lambda lines: ["pass\\n"]
ip.input_transformers_cleanup.append(to_pass)
ip.input_transformers_post.append(to_pass)
ip.input_transformer_manager.line_transforms.append(to_pass)
"""

STRIP_ASSERTS = """
import ast
class Strip(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
    def visit_Raise(self, node):
        return ast.Pass()
    def visit_Expr(self, node):
        if isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "").startswith("assert"):
            return ast.Pass()
        return node
get_ipython().ast_transformers.append(Strip())
"""


@needs_bwrap
def test_input_and_ast_transformers_cannot_rewrite_the_tests(course, tmp_path):
    rep = _grade(course, _hostile(course, tmp_path, TRANSFORMERS_TO_PASS, name="pass.ipynb"))
    _assert_zero(rep, course)
    assert "1 code cell(s) added by the student" in " ".join(rep.notes)
    msgs = [t["message"] for q in rep.as_dict()["questions"] for t in q["tests"]]
    # the tests really ran (in the test process): they asked the kernel for the answers, which the transformers
    # had turned into `pass` there
    assert msgs and all(m.startswith("NameError") for m in msgs), msgs
    rep = _grade(course, _hostile(course, tmp_path, STRIP_ASSERTS, name="strip.ipynb"))
    _assert_zero(rep, course)


HIJACK_HELPERS = """
import builtins, sys, types, numpy as np
import mappo_lite.course.checks as checks
noop = lambda *a, **k: None
assert_close = assert_shape = assert_own_code = noop            # the names the tests use
checks.assert_close.__code__ = noop.__code__                      # the helper itself
checks.assert_shape = noop
fake = types.ModuleType("mappo_lite.course.checks")
fake.assert_close = fake.assert_shape = fake.assert_own_code = noop
sys.modules["mappo_lite.course.checks"] = fake                # a fake module for re-imports
np.allclose = lambda *a, **k: True
builtins.AssertionError = type("AssertionError", (Exception,), {})
ip = get_ipython()
ip.events.register("pre_run_cell", lambda *a: None)
ip.run_cell = lambda *a, **k: None
"""

FAKE_HANDLER = """
ip = get_ipython()
k = ip.kernel
def fake(stream, ident, parent):
    c = parent["content"]
    r = {"nonce": c.get("nonce"), "code_sha256": "0" * 64, "status": "ok", "ename": "", "mac": "0" * 64}
    k.session.send(stream, "mappo_lite_run_reply", {"status": "ok", "execution_count": 1, "mappo_lite": r}, parent,
                   ident=ident)
k.shell_handlers["mappo_lite_run_request"] = fake
k.do_execute = lambda *a, **kw: {"status": "ok", "execution_count": 1, "user_expressions": {}, "payload": []}
"""


REPATCH_THREAD = """
import threading, time, numpy as np
import mappo_lite.course.checks as checks
noop = lambda *a, **k: None
def keep_patching():
    while True:
        checks.assert_close.__code__ = noop.__code__
        np.allclose = lambda *a, **k: True
        time.sleep(0.0005)
threading.Thread(target=keep_patching, daemon=True).start()
"""


@needs_bwrap
def test_patched_helpers_builtins_modules_handlers_and_threads_do_not_help(course, tmp_path):
    # wrong answers that do not raise: only the hijack could make a test pass; the helpers it patched are the
    # kernel's, not the test process's (its `run_cell` also swallows the answer cells: they are not defined there)
    # with `run_cell` replaced, the kernel sends no execute_reply: every later cell waits out its time limit (and is
    # then interrupted), so this grade uses 10 s instead of 30 (it took 3 minutes); the verdict is the same
    rep = _grade(course, _hostile(course, tmp_path, HIJACK_HELPERS, name="helpers.ipynb", wrong=True), timeout=10)
    _assert_zero(rep, course)
    msgs = [t["message"] for q in rep.as_dict()["questions"] for t in q["tests"]]
    assert msgs and all(m.startswith(("AssertionError", "NameError")) for m in msgs), msgs
    rep = _grade(
        course,
        _hostile(course, tmp_path, HIJACK_HELPERS.split("ip = get_ipython()")[0], name="helpers2.ipynb", wrong=True),
    )
    _assert_zero(rep, course)
    msgs = [t["message"] for q in rep.as_dict()["questions"] for t in q["tests"]]
    joined = " ".join(msgs)  # the real helpers reject them (or NumPy does, in the tests that use it directly)
    assert "AssertionError: softmax_rows" in joined and "NotImplementedError" not in joined, msgs
    # a replaced message handler and do_execute: the tests do not run in the kernel at all; the answers the
    # notebook no longer executes are missing there, so the tests fail on them
    rep = _grade(course, _hostile(course, tmp_path, FAKE_HANDLER, name="handler.ipynb", wrong=True))
    _assert_zero(rep, course)
    msgs = [t["message"] for q in rep.as_dict()["questions"] for t in q["tests"]]
    assert msgs and all(m.startswith("NameError") for m in msgs), msgs
    # a background thread that keeps patching the helpers: it patches the kernel's copies, not the test process's
    rep = _grade(course, _hostile(course, tmp_path, REPATCH_THREAD, name="thread.ipynb", wrong=True))
    _assert_zero(rep, course)
    joined = " ".join(t["message"] for q in rep.as_dict()["questions"] for t in q["tests"])
    assert "AssertionError: softmax_rows" in joined and "NotImplementedError" not in joined, joined


def test_the_grader_polls_the_students_kernel_in_slices(course, monkeypatch):
    """Cells run through nbclient, which waits for a reply with the cell's whole time limit: the grader slices the
    student's kernel client (mappo_lite/course/kernel_wakeup.py), so a missed zmq wake-up costs a second, not 30."""
    from jupyter_client.channels import AsyncZMQSocketChannel

    from mappo_lite.course import kernel_wakeup

    # without the process-wide patch of tests/conftest.py, so only the grader's own slicing is seen
    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", AsyncZMQSocketChannel.get_msg.__wrapped__)
    seen = []
    real = kernel_wakeup.slice_channels

    def spy(kc):
        real(kc)
        seen.append(
            [
                getattr(vars(ch).get("get_msg"), "_mappo_lite_sliced", False)
                for ch in (kc.shell_channel, kc.iopub_channel)
            ]
        )

    monkeypatch.setattr(kernel_wakeup, "slice_channels", spy)
    rep = _grade(course, course["release"] / "instructor" / f"{NAME}.ipynb")
    assert rep.total == rep.max == 11, rep.text()
    assert seen == [[True, True]]  # one kernel, both channels, as instance attributes
    assert not kernel_wakeup.installed()  # the grader changed no class of jupyter_client


DROP_ERRORS = """
import jupyter_client.session as _s
_orig_send = _s.Session.send
def _send(self, stream, msg_or_type, *args, **kwargs):
    kind = msg_or_type if isinstance(msg_or_type, str) else msg_or_type.get("header", {}).get("msg_type")
    if kind == "error":  # the failing tests' tracebacks never reach the grader
        return None
    return _orig_send(self, stream, msg_or_type, *args, **kwargs)
_s.Session.send = _send
"""


def test_dropping_the_error_messages_does_not_pass_a_test(course, tmp_path):
    # the agent's signed receipt says "error": the grader scores by it, not by the (suppressed) error output;
    # before this check an untouched notebook with this one cell scored 11/11
    rep = _grade(course, _hostile(course, tmp_path, DROP_ERRORS, name="drop_errors.ipynb"))
    _assert_zero(rep, course)
    msgs = [t["message"] for q in rep.as_dict()["questions"] for t in q["tests"]]
    assert msgs and all(m.startswith("NotImplementedError") for m in msgs), msgs


REPATCH = """
import numpy as np, mappo_lite.course.checks as checks
_noop = lambda *a, **k: None
_busy = [False]
def _patch(*a):
    if _busy[0]:
        return
    _busy[0] = True
    try:
        for f in (checks.assert_close, checks.assert_shape, checks.assert_own_code):
            if f.__code__ is not _noop.__code__:
                f.__code__ = _noop.__code__
        np.all = lambda *a, **k: True
    finally:
        _busy[0] = False
"""

#: code that runs by itself after the agent's restore, between two lines of a test (each scored 5/11 or 3/11)
REPATCH_LATER = {
    "signal_timer": """
import signal
signal.signal(signal.SIGALRM, _patch)
signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
""",
    "gc_callback": """
import gc
gc.callbacks.append(lambda phase, info: _patch())
gc.set_threshold(5)
""",
    "audit_hook": """
import sys
sys.addaudithook(lambda event, args: _patch() if event in ("exec", "compile") else None)
""",
    "finalizer": """
class _Bomb:
    def __call__(self, *a, **k):
        return None
    def __del__(self):
        _patch()
assert_close = _Bomb()  # displaced by the agent's rebinding of the helpers: __del__ would run right then
assert_shape = _Bomb()
""",
    "numpy_errcall": """
np.seterr(all="call")
np.seterrcall(lambda kind, flag: _patch())
""",
}


@pytest.mark.parametrize("attack", sorted(REPATCH_LATER))
def test_code_that_runs_by_itself_during_a_test_does_not_help(course, tmp_path, attack):
    after = "each-answer" if attack == "finalizer" else "setup"
    code = REPATCH + REPATCH_LATER[attack]
    rep = _grade(course, _hostile(course, tmp_path, code, name=f"{attack}.ipynb", after=after, wrong=True))
    _assert_zero(rep, course)


def test_the_text_report_shows_no_line_or_escape_of_the_notebook(course, tmp_path):
    # an exception's name and message come from the kernel: a newline would draw a fake line in the text report,
    # a terminal escape (conceal, clear screen) could hide the real ones
    fake = """
    class Err(Exception):
        pass
    Err.__name__ = Err.__qualname__ = "Err\\n  softmax   2 / 2  passed\\x1b[8m"
    def softmax_rows(logits):
        raise Err("\\x1b[2J hidden \\u202e")
    """
    rep = _grade(course, _hostile(course, tmp_path, fake, name="ansi.ipynb", after="softmax"))
    _assert_zero(rep, course)
    text = rep.text()
    assert "\x1b" not in text and "\u202e" not in text and "\n  softmax   2 / 2" not in text, text
    assert "Err\\n  softmax" in text  # shown, escaped


def test_a_print_flood_does_not_grow_the_grader_and_a_long_print_is_no_thread(course, tmp_path):
    import resource

    # one 150 MB message (the kernel buffers a print loop): refused by the grader's sockets before it is read
    flood = """
    import sys
    chunk = "x" * (1 << 20)
    for i in range(150):
        sys.stdout.write(chunk)
    """
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rep = _grade(course, _hostile(course, tmp_path, flood, name="flood.ipynb"))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    _assert_zero(rep, course)
    assert grown < 100 * 1024, f"the grader grew by {grown} KB"
    # an honest long print (pyzmq starts a thread for large messages): the tests still run, they are not refused
    rep = _grade(course, _hostile(course, tmp_path, "for i in range(50):\n    print('y' * 100000)", name="p.ipynb"))
    msgs = [t["message"] for q in rep.as_dict()["questions"] for t in q["tests"]]
    assert msgs and all(m.startswith("NotImplementedError") for m in msgs), msgs


LYING_RESULTS = """
import sys, numpy as np
class _Liar:
    # whatever the test compares it with, it is that: __array__ reads the expected value from the helper's frame
    def __array__(self, dtype=None, copy=None):
        for name, local, make in (("assert_close", "exp", np.array), ("assert_shape", "shape", np.ones)):
            f = sys._getframe(1)
            while f is not None:
                if f.f_code.co_name == name and local in f.f_locals:
                    return np.asarray(make(f.f_locals[local]), dtype=float)
                f = f.f_back
        return np.zeros(0)
    def __getattr__(self, name):  # p.sum(axis=1), p.reshape(...): more liars
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *a, **k: _Liar()
    def __getitem__(self, key):
        return _Liar()
class _Float(float):
    def __sub__(self, other):
        return 0.0
softmax_rows = loglinear_probs = score = joint_from_conditionals = lambda *a, **k: _Liar()
"""


def test_results_that_lie_to_the_helpers_are_refused(course, tmp_path):
    # scored 8/11: the helpers now take plain numbers only (exact arrays, lists, Python and NumPy numbers)
    rep = _grade(course, _hostile(course, tmp_path, LYING_RESULTS, name="liar.ipynb", after="each-answer"))
    _assert_zero(rep, course)
    from mappo_lite.course.checks import assert_close

    with pytest.raises(AssertionError, match="must be a NumPy array"):
        ns = {}
        exec(LYING_RESULTS, ns)
        assert_close(ns["_Float"](1.0), 2.0)
    assert_close([1.0, np_float(2.0)], [1.0, 2.0])


def np_float(x):
    import numpy as np

    return np.float64(x)


ATTACK_THE_AGENT = """
agent = get_ipython().kernel.shell_handlers["mappo_lite_run_request"].__self__
agent._run = lambda code, name: []
"""


def test_a_notebook_that_attacks_the_agent_scores_nothing_and_is_flagged(course, tmp_path):
    # this one scored 11/11 unsolved while the tests ran in the kernel; they now run in the trusted test process
    rep = _grade(course, _hostile(course, tmp_path, ATTACK_THE_AGENT, name="agent.ipynb"))
    _assert_zero(rep, course)
    flagged = [n for n in rep.notes if "introspection or dynamic code" in n]
    assert flagged and "shell_handlers" in flagged[0] and "__self__" in flagged[0], rep.notes
    from mappo_lite.course.grade import assemble, read_submission, suspicious_names
    from mappo_lite.course.source import load_assignment, resolve

    a = load_assignment(resolve(NAME, course["src"]))
    honest = assemble(a, read_submission(course["release"] / "instructor" / f"{NAME}.ipynb"))[0]
    assert suspicious_names(honest) == []  # the reference solutions are not flagged


def test_an_error_message_utf8_cannot_encode_is_reported_not_waited_for(course, tmp_path):
    # a lone surrogate in an exception's message made the kernel's reply fail to send: every call then waited out
    # its time limit and was reported as a test that "did not stop at the time limit"
    nb = _student(course)
    for c in nb.cells:
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"):
            c.source = c.source.replace("raise NotImplementedError()", 'raise ValueError("\\ud800 no answer \\udfff")')
    assert "\\ud800" in "".join(c.source for c in nb.cells)
    path = tmp_path / "surrogates.ipynb"
    nbformat.write(nb, path)
    rep = _grade(course, path, timeout=20)
    _assert_zero(rep, course)
    text = rep.text()
    assert "time limit" not in text and "did not stop" not in text, text
    assert "\\ud800 no answer" in text, text  # the message, escaped


# ------------------------------------------------------------------------------------------------ the sources

READ_SOURCES = """
import glob, os, pathlib, sys
import mappo_lite
candidates = [os.environ.get("MAPPO_LITE_ASSIGNMENTS", ""), "@SRC@",
              str(pathlib.Path(mappo_lite.__file__).resolve().parents[1] / "assignments"),
              str(pathlib.Path(mappo_lite.__file__).resolve().parent / "course" / "sources")]
try:
    candidates += open(f"/proc/{os.getppid()}/cmdline").read().split("\\0")
except OSError:
    pass
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            candidates += open(f"/proc/{pid}/cmdline").read().split("\\0")
        except OSError:
            pass
found = []
for c in candidates:
    for f in glob.glob(os.path.join(c, "*.md")) + ([c] if c.endswith(".md") else []):
        try:
            from mappo_lite.course.source import load_assignment
            a = load_assignment(f)
        except Exception:
            continue
        found.append(f)
        for cell in a.notebook.cells:
            if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
                exec(cell.source, globals())
print("ENV-HAS-SOURCE-VARIABLE" if "MAPPO_LITE_ASSIGNMENTS" in os.environ else "env clean:", sorted(os.environ))
print("FOUND", found)
"""


@needs_bwrap
def test_sources_and_hidden_tests_cannot_be_read(course, tmp_path, monkeypatch):
    monkeypatch.setenv("MAPPO_LITE_ASSIGNMENTS", str(course["src"]))
    path = _hostile(course, tmp_path, READ_SOURCES, after="each-answer")  # the solutions replace each stub
    rep = grade_notebook(path, assignment=NAME, timeout=30)  # the source folder comes from the variable
    assert Path(rep.source).parent == course["src"]
    _assert_zero(rep, course)
    out = _outputs(rep)
    assert "FOUND []" in out and "env clean:" in out and "ENV-HAS-SOURCE-VARIABLE" not in out, out[-3000:]
    assert rep.isolation["level"] == "bwrap"


POISON = """
import glob, os, pathlib
import mappo_lite
targets = ["@SRC@", os.environ.get("MAPPO_LITE_ASSIGNMENTS", "/nonexistent"),
           str(pathlib.Path(mappo_lite.__file__).resolve().parents[1] / "assignments"),
           str(pathlib.Path(mappo_lite.__file__).resolve().parent / "assignments"),
           str(pathlib.Path(mappo_lite.__file__).resolve().parent / "course" / "sources")]
done = []
for t in targets:
    for f in glob.glob(os.path.join(t, "*.md")) + [os.path.join(t, "a1_softmax_policies.md")]:
        try:
            text = open(f).read()
            with open(f, "w") as fh:  # every test becomes a comment: the next submission would score 11/11
                fh.write(text.replace("assert", "pass  #"))
            done.append(f)
        except OSError:
            pass
    try:
        with open(os.path.join(t, "zz_fake.md"), "w") as fh:
            fh.write("poisoned")
        done.append(t)
    except OSError:
        pass
for f in glob.glob(str(pathlib.Path(mappo_lite.__file__).resolve().parent / "**" / "*.py"), recursive=True):
    try:
        open(f, "a").close()
        done.append(f)
    except OSError:
        pass
print("POISONED", done)
"""


@needs_bwrap
def test_the_next_student_cannot_be_poisoned(course, tmp_path):
    rep = _grade(course, _hostile(course, tmp_path, POISON))
    _assert_zero(rep, course)
    assert "POISONED []" in _outputs(rep)
    assert not (course["src"] / "zz_fake.md").exists()
    # the next submissions are graded exactly as before
    untouched = _grade(course, course["release"] / "student" / f"{NAME}.ipynb")
    solved = _grade(course, course["release"] / "instructor" / f"{NAME}.ipynb")
    assert (untouched.total, solved.total, solved.max) == (0, 11, 11), solved.text()


def test_the_notebook_cannot_choose_its_source(course, tmp_path, capsys):
    from mappo_lite.cli import main

    fake = tmp_path / "fake"
    fake.mkdir()
    inst = nbformat.read(course["release"] / "instructor" / f"{NAME}.ipynb", as_version=4)
    for c in inst.cells:  # a source whose tests are all `pass` (the old grader gave it 11/11)
        if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code":
            c.source = "pass"
    nbformat.write(inst, fake / f"{NAME}.ipynb")
    nb = _student(course)
    for bad in (str(fake / f"{NAME}.ipynb"), "../fake/a1_softmax_policies", str(fake)):
        nb.metadata["mappo_lite"]["assignment"] = bad
        nbformat.write(nb, tmp_path / "meta.ipynb")
        assert main(["assignments", "grade", str(tmp_path / "meta.ipynb"), "--source", str(course["src"])]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("mappo_lite: error:") and "\n" not in err and "not an assignment name" in err, err
    # a name that is not the instructor's choice is an error too
    nb.metadata["mappo_lite"]["assignment"] = "a4_ratio_game"
    nbformat.write(nb, tmp_path / "other.ipynb")
    assert (
        main(
            [
                "assignments",
                "grade",
                str(tmp_path / "other.ipynb"),
                "--source",
                str(course["src"]),
                "--assignment",
                NAME,
            ]
        )
        == 2
    )
    assert "not 'a1_softmax_policies'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ the report

FAKE_REPORT = """
import json, os, sys
fake = json.dumps({"assignment": "a1_softmax_policies", "total": 11, "max": 11})
print(fake)
os.write(1, (fake + "\\n").encode())
os.write(2, (fake + "\\n").encode())
for target in (f"/proc/{os.getppid()}/fd/1", "/proc/1/fd/1", "/dev/tty", "/dev/stdout"):
    try:
        with open(target, "w") as fh:
            fh.write(fake + "\\n")
    except OSError:
        pass
import subprocess
subprocess.run(["sh", "-c", f"echo '{fake}'; echo '{fake}' >&2"])
"""

# Safety first: run unsandboxed (as root, or as a shared user outside a pid namespace), kill(-1) would kill every
# process of the machine. The attack then refuses to run and the test fails on the line it prints instead.
KILL_GRADER = """
import os, pwd, signal
if os.getuid() == 0 or (os.getpid() > 64 and pwd.getpwuid(os.getuid()).pw_name != "mappo-grader"):
    print("KILL-ATTACK-REFUSED: not sandboxed")
    raise SystemExit
for pid in {os.getppid(), 1} | {int(p) for p in os.listdir("/proc") if p.isdigit()}:
    if pid != os.getpid():
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass
"""


@needs_bwrap
def test_json_is_one_document_whatever_the_notebook_prints(course, tmp_path):
    path = _hostile(course, tmp_path, FAKE_REPORT, FAKE_REPORT)
    proc = _cli(
        ["assignments", "grade", path, "--json", "--source", course["src"], "--assignment", NAME, "--timeout", "30"]
    )
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)  # exactly one JSON document, nothing else
    assert d["total"] == 0 and d["max"] == 11 and d["isolation"]["level"] == "bwrap"
    assert proc.stdout.count('"total"') == 1


@needs_bwrap
def test_the_kernel_cannot_kill_or_stop_the_grader(course, tmp_path):
    path = _hostile(course, tmp_path, KILL_GRADER, "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)")
    proc = _cli(
        [
            "assignments",
            "grade",
            path,
            "--json",
            "--source",
            course["src"],
            "--assignment",
            NAME,
            "--timeout",
            "5",
            "--total-timeout",
            "120",
            "--executed",
            tmp_path / "executed.ipynb",
        ],
        timeout=200,
    )
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["total"] == 0 and d["max"] == 11
    # the kernel that stopped itself was killed and the rest graded in a fresh kernel: a report, with the reason
    assert d["kernel_restarts"] >= 1 and any("did not stop at the time limit" in n for n in d["notes"]), d["notes"]
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    printed = " ".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert "KILL-ATTACK-REFUSED" not in printed  # the attack really ran (it refuses to run unsandboxed)


ESCAPE = """
import os, subprocess, pathlib
written = []
for target in ["/tmp/mappo-lite-attack-@TOKEN@", "@TMP@/escaped-@TOKEN@", "@SRC@/../escaped-@TOKEN@",
               str(pathlib.Path.home().parent / "escaped-@TOKEN@"), "/root/escaped-@TOKEN@",
               "/var/tmp/escaped-@TOKEN@", "/dev/shm/escaped-@TOKEN@"]:
    try:
        with open(target, "w") as fh:
            fh.write("x")
        written.append(target)
    except OSError:
        pass
print("WRITTEN", written)
subprocess.Popen(["sleep", "777.@TOKEN@"], start_new_session=True)
if os.fork() == 0:                      # a daemon that leaves the session and clears its environment
    os.setsid()
    if os.fork() == 0:
        os.execve("/bin/sleep", ["sleep", "778.@TOKEN@"], {})
    os._exit(0)
"""


def _left_processes(token: str) -> list:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if token.encode() in (d / "cmdline").read_bytes():
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def _escape_cells(token):
    return ESCAPE.replace("@TOKEN@", token)


def _escaped_files(tmp_path, course, token) -> list:
    cands = [
        Path(f"/tmp/mappo-lite-attack-{token}"),
        tmp_path / f"escaped-{token}",
        course["src"].parent / f"escaped-{token}",
        Path(f"/root/escaped-{token}"),
        Path(f"/var/tmp/escaped-{token}"),
        Path(f"/dev/shm/escaped-{token}"),
    ]
    return [p for p in cands if p.exists()]


@needs_bwrap
def test_no_file_outside_the_scratch_folder_and_no_process_survives(course, tmp_path):
    token = f"{os.getpid() % 1000000:06d}"
    rep = _grade(course, _hostile(course, tmp_path, _escape_cells(token)))
    _assert_zero(rep, course)
    assert "WRITTEN []" in _outputs(rep), _outputs(rep)[-2000:]
    assert _escaped_files(tmp_path, course, token) == []
    assert _left_processes(f"777.{token}") == [] and _left_processes(f"778.{token}") == []


# ------------------------------------------------------------------------------------------------ weaker levels


@needs_root
@pytest.mark.skipif(
    os.geteuid() == 0 and choose_isolation("user").user == "nobody",
    reason="no dedicated sandbox user (`.ci/run` creates mappo-grader); the kill attack needs one",
)
def test_user_level_without_bubblewrap_still_protects_the_grader(course, tmp_path):
    """The fallback (a separate unprivileged user, no namespaces): a solved notebook scores full marks; the kernel
    cannot kill the grader, write outside its folder or leave processes; the report says the sources are readable."""
    token = f"{(os.getpid() + 1) % 1000000:06d}"
    solved = _grade(course, course["release"] / "instructor" / f"{NAME}.ipynb", isolation="user")
    assert solved.total == solved.max == 11 and solved.isolation["level"] == "user", solved.text()
    path = _hostile(course, tmp_path, KILL_GRADER, _escape_cells(token), POISON)
    rep = _grade(course, path, isolation="user")
    _assert_zero(rep, course)
    assert "POISONED []" in _outputs(rep) and "KILL-ATTACK-REFUSED" not in _outputs(rep)
    assert _escaped_files(tmp_path, course, token) == []  # /tmp and /var/tmp are writable, but cleaned up
    assert _left_processes(f"777.{token}") == [] and _left_processes(f"778.{token}") == []
    # pytest's temporary folders are private to root, so here the sources are hidden by permissions ...
    assert not any("readable by the sandbox user" in n for n in rep.notes), rep.notes
    # ... and a world-readable source folder gets a warning in the report
    from mappo_lite.course.grade import isolation_note

    iso = choose_isolation("user")
    public = Path(tempfile.mkdtemp(prefix="mappo-lite-public-"))
    try:
        public.chmod(0o755)
        assert "readable by the sandbox user" in isolation_note(iso, {public})
        public.chmod(0o700)
        assert "readable by the sandbox user" not in isolation_note(iso, {public})
    finally:
        shutil.rmtree(public)


def test_no_sandbox_is_said_loudly(course, tmp_path):
    rep = _grade(course, course["release"] / "student" / f"{NAME}.ipynb", isolation="none")
    assert rep.total == 0 and rep.isolation["level"] == "none"
    assert any("NOT SANDBOXED" in n for n in rep.notes) and "NOT SANDBOXED" in rep.text()
    with pytest.raises(MappoLiteError, match="unknown isolation level"):
        choose_isolation("docker")


@needs_bwrap
def test_sources_inside_the_package_are_covered_and_the_environment_is_an_allow_list(monkeypatch):
    """Where the sources are package data (below a folder the kernel must see), bwrap covers them with an empty
    tmpfs; the kernel still imports mappo_lite and NumPy; none of the grader's variables reach it."""
    import mappo_lite
    from mappo_lite.course.sandbox import Sandbox

    pkg = Path(mappo_lite.__file__).resolve().parent
    inside = pkg / f"_hidden_sources_test_{os.getpid()}"
    inside.mkdir()
    (inside / "secret.md").write_text("hidden tests")
    monkeypatch.setenv("MAPPO_LITE_ASSIGNMENTS", str(inside))
    monkeypatch.setenv("SOME_TOKEN", "s3cr3t")
    probe = (
        "import os, sys, numpy, mappo_lite; "
        f"print(sorted(os.listdir({str(inside)!r})), os.getuid(), 'SOME_TOKEN' in os.environ, "
        "'MAPPO_LITE_ASSIGNMENTS' in os.environ, os.path.exists('/root'), sorted(os.listdir('/proc'))[:0])"
    )
    try:
        for hide, expected in (((inside,), "[]"), ((), "['secret.md']")):
            with Sandbox(choose_isolation("bwrap"), hide=hide) as sb:
                proc = subprocess.run(
                    sb.command([sys.executable, "-c", probe]),
                    env=sb.env(),
                    cwd=sb.workdir,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    stdin=subprocess.DEVNULL,
                )
            assert proc.returncode == 0, proc.stderr
            listing, uid, token, var = proc.stdout.split()[:4]
            assert listing == expected, proc.stdout
            assert token == var == "False"
            assert os.geteuid() != 0 or int(uid) != 0  # as root, the kernel runs as the unprivileged user
    finally:
        shutil.rmtree(inside)


def test_without_bubblewrap_auto_falls_back_and_says_why(monkeypatch):
    import mappo_lite.course.sandbox as sb

    real_which = shutil.which
    monkeypatch.setattr(
        sb.shutil, "which", lambda name, *a, **k: None if name == "bwrap" else real_which(name, *a, **k)
    )
    with pytest.raises(MappoLiteError, match="bubblewrap .bwrap. is not installed"):
        choose_isolation("bwrap")
    iso = choose_isolation("auto")
    if os.geteuid() == 0:
        assert iso.level == "user" and "not installed" in iso.detail and iso.uid != 0
    else:
        assert iso.level == "none" and iso.detail.startswith("NOT SANDBOXED")
        with pytest.raises(MappoLiteError, match="needs a grader running as root"):
            choose_isolation("user")


def test_a_deeply_nested_or_huge_notebook_is_a_one_line_error(tmp_path):
    # both crashed the grader with a RecursionError traceback (json's decoder, then nbformat/deepcopy)
    deep = tmp_path / "deep.ipynb"
    deep.write_text('{"cells": ' + "[" * 100000 + "]" * 100000 + "}")
    nested = tmp_path / "nested.ipynb"
    nested.write_text(
        '{"cells": [{"cell_type": "code", "source": "", "metadata": '
        + '{"a": ' * 500
        + "1"
        + "}" * 500
        + '}], "metadata": {}}'
    )
    for path in (deep, nested):
        r = _cli(["assignments", "grade", path, "--json", "--assignment", NAME], timeout=120)
        assert r.returncode == 2 and r.stdout == "", (r.stdout, r.stderr)
        assert r.stderr.startswith("mappo_lite: error:") and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "nested more than" in r.stderr


DAEMON_WITHOUT_MARKER = """
import os
# a double-forked daemon in its own session that drops the run's marker with its environment (execve) and
# ignores the polite signals; harmless otherwise (a sleep)
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        os.execve("/bin/sh", ["/bin/sh", "-c", "trap '' TERM HUP INT; exec sleep @TAG@"], {})
    os._exit(0)
os.waitpid(pid, 0)
"""


@needs_root
def test_user_level_with_nobody_leaves_no_daemon_without_marker(course, tmp_path, monkeypatch):
    # level user with the shared user nobody finds leftovers by the marker in their environment: this daemon
    # survived grading before the grader became the subreaper of its descendants
    import random

    tag = f"{random.randint(10**6, 10**7)}.5"
    monkeypatch.setenv("MAPPO_LITE_GRADER_USER", "nobody")
    path = _hostile(course, tmp_path, DAEMON_WITHOUT_MARKER.replace("@TAG@", tag), name="daemon.ipynb")
    rep = _grade(course, path, isolation="user")
    assert rep.isolation["level"] == "user" and rep.isolation["user"] == "nobody"
    _assert_zero(rep, course)
    left = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and tag.encode() in (p / "cmdline").read_bytes():
                left.append(int(p.name))
        except OSError:  # gone meanwhile
            continue
    for pid in left:  # this test's own daemon: end it before failing
        os.kill(pid, 9)
    assert not left, f"daemon(s) {left} survived grading"


# ------------------------------------------------------------------------------------------------ the test process

#: The strongest attacker on the agent we know, written against agent.py and grade.py as a student would read
#: them: it reads the agent's key and signs "ok" for every test it is sent, replaces the agent's methods, the
#: ``exec`` and ``compile`` of agent.py and the handler of the calls, which answers every request with data that
#: is not data (a pickle, an unknown kind, a "passes everything" object). Checked on the grader before the tests
#: moved out of the kernel (commit e8bf948, tests/course/test_grader_attacks.py's course fixture): the unsolved
#: a1 notebook with the first cell alone scored 11/11.
FORGE = """
import base64, json, pickle, os
import mappo_lite.course.agent as _A
_k = get_ipython().kernel
_orig = _k.shell_handlers["mappo_lite_run_request"]
_agent = _orig.__self__
def _forged(stream, ident, parent):
    c = parent.get("content", {})
    if not c.get("test"):
        return _orig(stream, ident, parent)
    nonce, sha = str(c.get("nonce", "")), _A.code_sha256(str(c.get("code", "")))
    r = {"nonce": nonce, "code_sha256": sha, "status": "ok", "ename": "",
         "mac": _A.mac(_agent._key, nonce, sha, "ok", "")}
    _k.session.send(stream, "mappo_lite_run_reply", {"status": "ok", "execution_count": 1, "ename": "",
                    "evalue": "", "traceback": [], "mappo_lite": r}, parent, ident=ident)
_k.shell_handlers["mappo_lite_run_request"] = _forged
_A._exec = lambda *a, **k: None
_A._compile = lambda *a, **k: compile("pass", "x", "exec")
_agent._run = lambda code, name: []
class _Boom:
    def __reduce__(self):
        return (os.system, ("touch @TMP@/pwned",))
_answers = [json.dumps({"pickle": base64.b64encode(pickle.dumps(_Boom())).decode()}),
            json.dumps({"array": {"dtype": "|O", "shape": [2], "data": ""}}),
            "[" * 100000 + "]" * 100000]
_n = [0]
def _calls(stream, ident, parent):
    c = parent.get("content", {})
    _n[0] += 1
    reply = {"status": "ok", "value": _answers[_n[0] % 3]}
    if c.get("kind") == "get":
        reply["callable"] = _n[0] % 2 == 0
    _k.session.send(stream, "mappo_lite_call_reply", reply, parent, ident=ident)
_k.shell_handlers["mappo_lite_call_request"] = _calls
"""


@needs_bwrap
def test_forged_receipts_and_a_hijacked_agent_score_nothing(course, tmp_path):
    rep = _grade(course, _hostile(course, tmp_path, FORGE, name="forge.ipynb"))
    _assert_zero(rep, course)
    assert not (tmp_path / "pwned").exists(), "something unpickled the notebook's data"
    msgs = [t["message"] for q in rep.as_dict()["questions"] for t in q["tests"]]
    assert msgs and all(("RemoteDataError" in m) or m.startswith(("TypeError", "AssertionError")) for m in msgs), msgs
    # the first cell alone (no fake call handler): the tests really call the unanswered functions
    only_receipts = FORGE.split("_A._exec")[0]
    rep = _grade(course, _hostile(course, tmp_path, only_receipts, name="forge1.ipynb"))
    _assert_zero(rep, course)
    msgs = [t["message"] for q in rep.as_dict()["questions"] for t in q["tests"]]
    assert msgs and all(m.startswith("NotImplementedError") for m in msgs), msgs


#: Looks for the hidden tests everywhere in its own process, during a hidden test's call and at the end.
SEEK = """
import gc, sys
# built at run time, so that this cell's own text does not contain them
# (strings only the hidden tests contain: "BEGIN HIDDEN TESTS" and "_ref_softmax_rows" are in mappo_lite's own code)
_MARKS = ("default_rng(" + "101)", "_ref_softmax_rows" + "(_x)", "vs mappo_lite.kernels" + ".softmax_score",
          "_ref_" + "softmax_score(_phi")
_found = set()
def _seek():
    for o in gc.get_objects():
        if o is _MARKS:
            continue
        try:
            texts = [o] if isinstance(o, str) else [v for v in (o.values() if isinstance(o, dict) else
                     (o if isinstance(o, (list, tuple)) else [])) if isinstance(v, str)]
        except Exception:
            continue
        for t in texts:
            for m in _MARKS:
                if m in t and t not in _MARKS:  # (not the marks themselves)
                    _found.add(m)
    f = sys._getframe().f_back
    while f is not None:
        for m in _MARKS:
            local_texts = [v for v in f.f_locals.values() if isinstance(v, str) and v not in _MARKS]
            if m in repr(f.f_code.co_consts) or any(m in v for v in local_texts):
                _found.add(m)
        f = f.f_back
    for name in list(sys.modules):
        for m in _MARKS:
            if m in name:
                _found.add(m)
    for h in get_ipython().history_manager.input_hist_raw:
        for m in _MARKS:
            if m in h:
                _found.add(m)
def softmax_rows(logits):
    _seek()
    import numpy as np
    return np.zeros(np.shape(logits))
"""


@needs_bwrap
def test_the_hidden_tests_cannot_be_read_from_the_kernel(course, tmp_path):
    nb = _student(course)
    nb.cells.append(nbformat.v4.new_code_cell("_seek()\nprint('SEEN', sorted(_found))"))
    k = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "softmax")
    nb.cells.insert(k + 1, nbformat.v4.new_code_cell(SEEK))
    path = tmp_path / "seek.ipynb"
    nbformat.write(nb, path)
    rep = _grade(course, path)
    _assert_zero(rep, course)
    out = _outputs(rep)
    assert "SEEN []" in out, out[-3000:]
    # the function was really called by the hidden test (with its inputs), and failed its comparison
    msg = next(
        t["message"] for q in rep.as_dict()["questions"] for t in q["tests"] if t["grade_id"] == "softmax_hidden"
    )
    assert msg.startswith("AssertionError") and "softmax_rows on a random" in msg, msg


HOSTILE_RESULTS = """
import os, numpy as np
class _Arr(np.ndarray):
    def __eq__(self, other):
        return True
    def __array__(self, *a, **k):
        return np.ones(3)
    def __array_ufunc__(self, *a, **k):
        return True
class _Float(float):
    def __eq__(self, other):
        return True
    def __sub__(self, other):
        return 0.0
class _Boom:
    def __reduce__(self):
        return (os.system, ("touch @TMP@/pwned",))
def softmax_rows(logits):
    return np.zeros(np.shape(logits)).view(_Arr)
def loglinear_probs(phi, theta):
    return [[_Float(0.0)] * np.shape(phi)[1]] * np.shape(phi)[0]
def score(phi, theta):
    out = []
    for _ in range(5000):
        out = [out]
    return out
def joint_from_conditionals(tables):
    return np.zeros(6_000_000)
def coordinated_thetas():
    return [_Boom(), _Boom()]
"""


@needs_bwrap
def test_hostile_results_are_refused_or_decoded_as_plain_data(course, tmp_path):
    rep = _grade(course, _hostile(course, tmp_path, HOSTILE_RESULTS, name="results.ipynb", after="each-answer"))
    _assert_zero(rep, course)
    assert not (tmp_path / "pwned").exists()
    by_q = {q["id"]: " ".join(t["message"] for t in q["tests"]) for q in rep.as_dict()["questions"]}
    assert "AssertionError" in by_q["softmax"]  # the subclass arrived as a plain array of zeros
    assert "AssertionError" in by_q["loglinear"]  # the float subclass arrived as plain floats
    assert "nests deeper" in by_q["score"], by_q["score"]
    assert "larger than the grader's limit" in by_q["joint"], by_q["joint"]
    assert "cannot receive a _Boom" in by_q["coordination"], by_q["coordination"]


def test_the_codec_decodes_data_only():
    import base64
    import pickle

    import numpy as np

    from mappo_lite.course.remote import MAX_DEPTH, RemoteDataError, decode, encode

    value = {("ideal", 0.05): np.arange(6.0).reshape(2, 3), "n": [1, None, True, (2.5, np.float32(1.5))]}
    back = decode(json_dumps(encode(value)))
    assert type(back[("ideal", 0.05)]) is np.ndarray and back[("ideal", 0.05)].flags.writeable
    np.testing.assert_array_equal(back[("ideal", 0.05)], value[("ideal", 0.05)])
    assert back["n"][:3] == [1, None, True] and type(back["n"][3]) is tuple  # exact: small integers and flags
    bad = [
        {"pickle": base64.b64encode(pickle.dumps(object())).decode()},
        {"array": {"dtype": "|O", "shape": [1], "data": "AAAAAAAAAAA="}},
        {"array": {"dtype": "<f8", "shape": [4], "data": "AAAAAAAAAAA="}},
        {"array": {"dtype": "<f8", "shape": [2**40, 2**40], "data": ""}},
        {"float": "1e400" * 20},
        {"dict": [[{"list": []}, 1]]},
        {"list": 5},
        [1, 2],
    ]
    for b in bad:
        with pytest.raises(RemoteDataError):
            decode(json_dumps(b))
    deep = {"list": []}
    for _ in range(MAX_DEPTH + 2):
        deep = {"list": [deep]}
    for b in (json_dumps(deep), "[" * 100000 + "]" * 100000, "x" * 100):
        with pytest.raises(RemoteDataError):
            decode(b)
    with pytest.raises(TypeError, match="cannot receive"):
        encode(object())


def json_dumps(obj):
    import json

    return json.dumps(obj)


def test_assert_own_code_on_the_source_catches_calls_to_the_reference():
    import mappo_lite.kernels  # noqa: F401  (the resolution only looks at imported modules)
    from mappo_lite.course.remote import own_code_problem
    from mappo_lite.kernels import softmax_rows as ref

    setup = "import numpy as np\nfrom mappo_lite.kernels import softmax_rows as ref\nimport mappo_lite.kernels as K\n"
    cases = {
        "direct": "def f(x):\n    return ref(x)\n",
        "via_module": "def f(x):\n    return K.softmax_rows(x)\n",
        "via_import": "def f(x):\n    from mappo_lite.kernels import softmax_rows\n    return softmax_rows(x)\n",
        "via_helper": "def helper(x):\n    return ref(x)\ndef f(x):\n    return helper(x)\n",
        "by_string": "def f(x):\n    import importlib\n    return getattr(importlib.import_module('mappo_lite.kernels'), 'softmax_rows')(x)\n",
        "alias": "g = K.softmax_rows\ndef f(x):\n    return g(x)\n",
    }
    for name, src in cases.items():
        assert own_code_problem("f", [setup, src], [ref]) is not None, name
    own = "def f(x):\n    e = np.exp(x - x.max(axis=1, keepdims=True))\n    return e / e.sum(axis=1, keepdims=True)\n"
    assert own_code_problem("f", [setup, own], [ref]) is None
    assert own_code_problem("softmax_rows", [setup, own.replace("def f", "def softmax_rows")], [ref]) is None


#: Every way a review found to hand in the library's function under the answer's name (each scored 11/11 on a1
#: before the source check failed closed); a plain def and a plain assignment were caught already.
_LIBRARY_UNDER_THE_ANSWERS_NAME = {
    "from-import by name": "from mappo_lite.kernels import softmax_rows",
    "from-import as alias": "from mappo_lite.kernels import softmax_rows as _s\nsoftmax_rows = _s",
    "annotated assign": "import mappo_lite.kernels as K\nsoftmax_rows: object = K.softmax_rows",
    "for target": "import mappo_lite.kernels as K\nfor softmax_rows in [K.softmax_rows]: pass",
    "with target": "import contextlib, mappo_lite.kernels as K\n"
    "with contextlib.nullcontext(K.softmax_rows) as softmax_rows: pass",
    "walrus": "import mappo_lite.kernels as K\n(softmax_rows := K.softmax_rows)",
    "tuple assign": "import mappo_lite.kernels as K\nsoftmax_rows, _ = K.softmax_rows, 0",
    "decorator": "import mappo_lite.kernels as K\n@lambda f: K.softmax_rows\ndef softmax_rows(x):\n    return x",
    "sys.modules and a split string": "import sys\n_L = sys.modules['mappo_lite.kernels'].__dict__\n"
    "def softmax_rows(x):\n    return _L['softmax' + '_rows'](x)",
    "an honest def, then an import over it": "def softmax_rows(x):\n    return x\n"
    "from mappo_lite.kernels import softmax_rows",
    "global in a helper": "import mappo_lite.kernels as K\ndef softmax_rows(x):\n    return x\n"
    "def _swap():\n    global softmax_rows\n    softmax_rows = K.softmax_rows\n_swap()",
    "nothing the grader can read": "",
    "a module written to disk": "open('mymod.py', 'w').write('from mappo_lite.kernels import softmax_rows as f')\n"
    "from mymod import f\ndef softmax_rows(x):\n    return f(x)",
    "a module imported inside the function": "def softmax_rows(x):\n    import mymod\n    return mymod.f(x)",
    "a star import": "from mappo_lite.kernels import *\ndef softmax_rows(x):\n    return core.softmax_rows(x)",
    "pickle": "import pickle\ndef softmax_rows(x):\n    return pickle.loads(b'')(x)",
    "a replaced call handler": "def softmax_rows(x):\n    return x\n"
    "k = get_ipython().kernel\nk.shell_handlers['mappo_lite_call_request'] = lambda *a: None",
    "a frame walk": "import sys\ndef softmax_rows(x):\n    return x\nsys._getframe(0).f_globals",
}


@pytest.mark.parametrize("form", _LIBRARY_UNDER_THE_ANSWERS_NAME)
def test_the_source_check_fails_closed_on_every_other_binding(form):
    import mappo_lite.kernels  # noqa: F401  (the resolution only looks at imported modules)
    from mappo_lite.course.remote import own_code_problem
    from mappo_lite.kernels import softmax_rows as ref

    setup = "import numpy as np\nfrom mappo_lite.course.checks import assert_close"
    assert own_code_problem("softmax_rows", [setup, _LIBRARY_UNDER_THE_ANSWERS_NAME[form]], [ref]) is not None


def test_a_test_never_sees_its_inputs_as_the_answer_left_them():
    """The tester compares the arrays that come back with what it sent and never copies them back: a wrong answer
    that zeroes its input must not make a test's expected value (computed from that input after the call) agree.
    assert_unmodified reports the change instead."""
    import numpy as np

    from mappo_lite.course.checks import assert_unmodified
    from mappo_lite.course.remote import RemoteFunction, encode
    from mappo_lite.course.tester import Tester

    sent = np.arange(3.0)
    zeroed = json_dumps(encode(np.zeros(3)))
    same = json_dumps(encode(np.arange(3.0)))
    assert Tester._modified([sent, 2.0], [zeroed, None]) == [1]
    assert Tester._modified([sent, 2.0], [same, None]) == []
    assert Tester._modified([sent], None) == [1]  # nothing readable came back: counted as changed

    def fake_call(name, args, kwargs):  # the student's function zeroes its argument in the kernel
        return 0.0, Tester._modified(list(args), [zeroed])

    f = RemoteFunction("f", fake_call, [])
    x = np.arange(3.0)
    assert f(x) == 0.0 and f.modified_arguments == [1]
    np.testing.assert_array_equal(x, np.arange(3.0))  # the test's array is as the test made it
    with pytest.raises(AssertionError, match="argument\\(s\\) 1 changed in place"):
        assert_unmodified(f, x, what="f must not modify its argument")
    with pytest.raises(AssertionError, match="changed in place"):  # a live function, outside the grader
        assert_unmodified(lambda a: a.fill(0.0), np.ones(2))
    assert assert_unmodified(lambda a: a.sum(), np.ones(2)) == 2.0
