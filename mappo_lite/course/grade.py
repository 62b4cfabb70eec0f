r"""The autograder: rebuild the notebook from the instructor source, run it in a fresh kernel, score the tests.

What is executed (``assemble``)
-------------------------------
The graded notebook follows the **instructor source**, cell by cell:

* a solution cell gets the source of the submission's cell with the same ``grade_id`` (the stub if the student
  deleted it);
* every other cell — read-only code, public tests *and hidden tests* — comes from the source, whatever the
  submission contains under that ``grade_id`` (edited, deleted, moved, its points or flags changed);
* code cells the student added (no known ``grade_id``) run right after the source cell that precedes them in the
  submission; markdown the student added is ignored.

So editing or deleting a test cell cannot raise a score: the original test runs anyway. The report notes every
such edit.

How it is executed (``execute``)
--------------------------------
A fresh Python kernel (``nbclient``) in a temporary working folder, one cell at a time, with a time limit per cell:
at the limit the kernel is interrupted (``KeyboardInterrupt`` in the cell, which then counts as failed) and the run
goes on. If the kernel dies (``os._exit``, a crash) or ignores the interrupt, it is killed and the whole notebook
is run again in a new kernel with the offending cell replaced by a ``raise`` (at most one retry per cell, within an
overall time limit); cells that never ran count as failed. ``sys.exit()`` inside a cell is just an error of that
cell (IPython catches ``SystemExit``).

How it is scored (``score``)
----------------------------
As nbgrader's autograder: a code grade cell earns its points if it ran without an error, else 0. A question's
score is the sum over its test cells. A written answer (markdown grade cell) still equal to the stub scores 0;
otherwise it is left for manual grading (reported, not added to ``total``). ``max`` is the autogradable maximum.

Where it runs (``sandbox``, ``tester``, ``remote``, ``agent``)
---------------------------------------------------------------
The student's cells and the read-only instructor cells run in a kernel sandboxed by :mod:`.sandbox` (bubblewrap
namespaces, else a separate unprivileged user, else — with a loud note — not at all), with an allow-listed
environment, ``/dev/null`` as its standard streams and a private scratch folder; the sources it is graded against
are not visible to it. Every **test** cell (public and hidden) runs in the trusted test process (:mod:`.tester`),
started by the grader as itself, where no student code runs; its code never reaches the kernel. The answers a test
uses are proxies (:mod:`.remote`): a call goes to the kernel as a ``mappo_lite_call_request`` (relayed by
``_kernel_call``, under the cell's time limit) and its result comes back as data, decoded safely; an exception of
the student's function fails the test with its name and message. The read-only cells go through the kernel's agent
(:mod:`.agent`: restore of what student code can hijack, HMAC receipts), kept as defence in depth: they give no
points. The report is built in this process and printed by the grader alone. The instructors' page has the threat
model: what this guarantees and what it cannot (a student function computes its results as it likes, from the
arguments the tests send it).
"""

from __future__ import annotations

import ast
import asyncio
import copy
import hmac
import json
import math
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MappoLiteError
from .agent import CALL, CALL_REPLY, REPLY, REQUEST, _bound_names, code_sha256, mac
from .checksum import is_grade, is_nbgrader_cell, is_solution, nbgrader_meta
from .remote import MAX_REPLY_BYTES
from .sandbox import Sandbox, choose_isolation
from .source import PACKAGED_SOURCES, Assignment, _source_dir, find_sources, load_assignment, resolve

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOTAL_TIMEOUT",
    "CellRun",
    "GradeReport",
    "read_submission",
    "assemble",
    "execute",
    "grade_notebook",
]

#: Default time limit of one cell (seconds) and of the whole grading run.
DEFAULT_TIMEOUT = 60.0
DEFAULT_TOTAL_TIMEOUT = 600.0
_MAX_OUTPUT_CHARS = 2_000_000  # per cell, in the executed notebook we keep (a runaway print loop is cut)
_MAX_MESSAGE_BYTES = 64 * 2**20  # one message from the kernel (a figure is a few MB)


# --------------------------------------------------------------------------------------------------- reading


def read_submission(path):
    """Read a notebook file; every problem is a one-line :class:`MappoLiteError`."""
    import nbformat

    p = Path(path)
    if not p.exists():
        raise MappoLiteError(f"no such notebook: {str(p)!r}")
    if not p.is_file():
        raise MappoLiteError(f"not a notebook file: {str(p)!r}")
    if p.stat().st_size > _MAX_NOTEBOOK_BYTES:
        raise MappoLiteError(
            f"{str(p)!r} is larger than {_MAX_NOTEBOOK_BYTES // 2**20} MB: not a submission the grader reads"
        )
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise MappoLiteError(f"{str(p)!r} is not a notebook (not UTF-8 text)") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MappoLiteError(f"{str(p)!r} is not a notebook (invalid JSON: {exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raw = None
    if raw is None or _depth(raw) > _MAX_NOTEBOOK_DEPTH:
        raise MappoLiteError(f"{str(p)!r} is not a notebook (JSON nested more than {_MAX_NOTEBOOK_DEPTH} levels deep)")
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise MappoLiteError(f"{str(p)!r} is not a Jupyter notebook (no list of cells)")
    cells = []
    for c in raw["cells"]:
        if not isinstance(c, dict) or c.get("cell_type") not in ("code", "markdown", "raw"):
            continue  # a mangled cell: ignored (reported as missing if it was a solution)
        src = c.get("source", "")
        src = "".join(s for s in src if isinstance(s, str)) if isinstance(src, list) else str(src)
        meta = c.get("metadata") if isinstance(c.get("metadata"), dict) else {}
        cells.append(nbformat.from_dict({"cell_type": c["cell_type"], "source": src, "metadata": meta}))
    meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
    return nbformat.from_dict({"cells": cells, "metadata": meta})


_MAX_NOTEBOOK_BYTES = 64 * 2**20
_MAX_NOTEBOOK_DEPTH = 64  # a real notebook is about 6 levels deep; deeper ones crash recursive code (deepcopy)


def _depth(obj) -> int:
    """How deeply ``obj`` (parsed JSON) nests lists and dicts, counted without recursion."""
    deepest, todo = 0, [(obj, 1)]
    while todo:
        o, d = todo.pop()
        if isinstance(o, (list, dict)):
            deepest = max(deepest, d)
            if d <= _MAX_NOTEBOOK_DEPTH:
                todo.extend((v, d + 1) for v in (o.values() if isinstance(o, dict) else o))
    return deepest


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


def _declared_assignment(sub):
    """The assignment *name* the notebook's metadata declares (never a path), or None."""
    ml = sub.metadata.get("mappo_lite")
    if not isinstance(ml, dict) or "assignment" not in ml:
        return None
    name = ml["assignment"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise MappoLiteError(
            f"the notebook's metadata names assignment {str(name)[:80]!r}, which is not an "
            "assignment name (the grader never takes a path from a submission)"
        )
    return name


def _choose_source(sub, path: Path, assignment, source_dir):
    """The instructor's source to grade against: ``assignment`` (a name, or a path the instructor gives) if set,
    else the name the notebook declares, looked up among the instructor's sources only. Returns (path, notes)."""
    declared = _declared_assignment(sub)
    notes = []
    if assignment is not None:
        src = resolve(assignment, source_dir)
        if declared is not None and declared != load_assignment(src).name:
            raise MappoLiteError(
                f"{path}: the notebook is assignment {declared!r}, not {load_assignment(src).name!r}"
                " (the one to grade it as)"
            )
        return src, notes
    if declared is None:
        declared = path.stem
        notes.append(
            f"the notebook has no mappo_lite.assignment metadata; assignment {path.stem!r} taken from its file name"
        )
    sources = find_sources(source_dir)
    if declared not in sources:
        raise MappoLiteError(
            f"{path}: unknown assignment {declared!r} (known: {', '.join(sources) or 'none'}); "
            "pass --assignment NAME to choose one"
        )
    return sources[declared], notes


# --------------------------------------------------------------------------------------------------- assembling


def _stub_for(assignment: Assignment, cell):
    from .release import clear_solutions

    c = copy.deepcopy(cell)
    clear_solutions(c, assignment.code_stub, assignment.text_stub)
    return c.source


def assemble(assignment: Assignment, submission):
    """The notebook to execute and the notes about the submission (see the module docstring).

    Returns ``(nb, notes, answers)``: ``answers[grade_id]`` is the submitted source of each solution cell (or None
    if missing).
    """
    import nbformat

    from .release import student_notebook

    source_cells = assignment.notebook.cells
    known = {nbgrader_meta(c)["grade_id"]: c for c in source_cells if is_nbgrader_cell(c)}
    student_version = {
        nbgrader_meta(c)["grade_id"]: c for c in student_notebook(assignment).cells if is_nbgrader_cell(c)
    }
    notes, answers, seen = [], {}, set()
    extras = {}  # anchor grade_id (None = before everything) -> [code cells]
    anchor = None
    for cell in submission.cells:
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id") if isinstance(meta.get("grade_id"), str) else None
        if gid in known and gid not in seen:
            seen.add(gid)
            anchor = gid
            src_cell = known[gid]
            if is_solution(src_cell):
                if cell.cell_type != src_cell.cell_type:
                    notes.append(
                        f"answer cell {gid!r} was changed from {src_cell.cell_type} to {cell.cell_type}; "
                        f"its text is graded as {src_cell.cell_type}"
                    )
                answers[gid] = cell.source
            else:
                expected = student_version[gid]
                unchanged = cell.cell_type == src_cell.cell_type and cell.source in (expected.source, src_cell.source)
                if not unchanged:
                    kind = "test" if is_grade(src_cell) else "read-only"
                    notes.append(f"{kind} cell {gid!r} was modified in the submission; the grader ran the original")
            continue
        if gid in known:
            notes.append(f"a second cell with grade_id {gid!r} was ignored")
            continue
        if cell.cell_type == "code" and cell.source.strip():
            extras.setdefault(anchor, []).append(cell.source)
    for gid, c in known.items():
        if gid not in seen:
            kind = "answer" if is_solution(c) else ("test" if is_grade(c) else "read-only")
            what = "graded as unanswered" if kind == "answer" else "the grader ran the original"
            notes.append(f"{kind} cell {gid!r} is missing from the submission; {what}")
    n_extra = sum(len(v) for v in extras.values())
    if n_extra:
        notes.append(f"{n_extra} code cell(s) added by the student were run after the cell that precedes them")
    cells = []

    def add_extras(key):
        for src in extras.get(key, []):
            cells.append(nbformat.v4.new_code_cell(src, metadata={"mappo_lite_origin": "student-added"}))

    add_extras(None)
    for c in source_cells:
        new = copy.deepcopy(c)
        if new.cell_type == "code":
            new.outputs, new.execution_count = [], None
        gid = nbgrader_meta(c).get("grade_id") if is_nbgrader_cell(c) else None
        if gid is not None and is_solution(c):
            new.source = answers[gid] if gid in answers else _stub_for(assignment, c)
        cells.append(new)
        if gid is not None:
            add_extras(gid)
    for i, c in enumerate(cells):
        c["id"] = f"graded-{i:03d}"
    nb = nbformat.v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "mappo_lite": {"assignment": assignment.name, "edition": "graded", "source_sha256": assignment.sha256},
        },
    )
    for gid in assignment.solution_ids:
        answers.setdefault(gid, None)
    return nb, notes, answers


# --------------------------------------------------------------------------------------------------- executing


@dataclass
class CellRun:
    """What happened to one code cell: ``status`` is ok | error | timeout | killed | not-run | skipped."""

    status: str = "not-run"
    ename: str = ""
    evalue: str = ""
    seconds: float = 0.0

    @property
    def message(self) -> str:
        if self.status == "ok":
            return "ok"
        if self.status == "timeout":
            return "time limit exceeded (the cell was interrupted)"
        if self.status == "killed":
            return f"the kernel {self.evalue}"
        if self.status == "not-run":
            return "not run (" + (self.evalue or "the run stopped before this cell") + ")"
        if self.status == "skipped":
            return f"not run: {self.evalue}"
        first = self.evalue.strip().split("\n")[0] if self.evalue else ""
        first = _printable(first)
        if len(first) > 300:
            first = first[:297] + "..."
        ename = _printable(self.ename)[:100]
        return f"{ename}: {first}" if first else ename


def _printable(text: str) -> str:
    """``text`` with every non-printable character escaped: exception names and messages come from the kernel, and
    a newline or a terminal escape in them could draw fake lines in the text report or hide the real ones."""
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii") for ch in text
    )


def _error_from_outputs(cell):
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return out.get("ename", "Error"), out.get("evalue", "")
    return None


def _truncate_outputs(cell) -> None:
    total = 0
    kept = []
    for out in cell.get("outputs", []):
        size = len(json.dumps(out))
        if total + size > _MAX_OUTPUT_CHARS and out.get("output_type") != "error":
            continue
        total += size
        kept.append(out)
    if len(kept) < len(cell.get("outputs", [])):
        import nbformat

        kept.append(nbformat.v4.new_output("stream", name="stderr", text="[grader: output truncated]\n"))
    cell["outputs"] = kept


def _is_instructor_cell(cell) -> bool:
    """Read-only code and tests: the cells the agent runs in its clean room (not answers, not added cells)."""
    return (
        cell.cell_type == "code"
        and cell.metadata.get("mappo_lite_origin") is None
        and is_nbgrader_cell(cell)
        and not is_solution(cell)
    )


def _kernel_manager(sandbox, kernel_name, config_path):
    """A kernel manager that starts ``python -m mappo_lite.course.agent`` inside ``sandbox`` (unix sockets in
    the scratch folder: the sandbox has no network), with the allow-listed environment and /dev/null streams."""
    from jupyter_client.manager import AsyncKernelManager

    class SandboxedKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            self.kernel_spec.interrupt_mode = "message"  # a signal cannot cross the sandbox's pid namespace
            return sandbox.command(
                [sys.executable, "-m", "mappo_lite.course.agent", str(config_path), "-f", self.connection_file]
            )

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            sandbox.give(Path(self.connection_file))
            kw.update(
                env=sandbox.env(),
                cwd=str(sandbox.workdir),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            await super()._async_launch_kernel(kernel_cmd, **kw)

        def client(self, **kw):
            # every socket to the kernel refuses a message above the limit before reading it (a kernel that
            # buffers a print loop into one 300 MB message grew the grader to 1.1 GB); such an output is lost
            import zmq
            import zmq.asyncio

            ctx = zmq.asyncio.Context()
            ctx.setsockopt(zmq.MAXMSGSIZE, _MAX_MESSAGE_BYTES)
            kw.setdefault("context", ctx)
            return super().client(**kw)

    return SandboxedKernelManager(
        kernel_name=kernel_name,
        transport="ipc",
        ip=str(sandbox.rundir / "k"),
        connection_file=str(sandbox.rundir / "kernel.json"),
    )


def _receipt_problem(reply, key: bytes, nonce: str, code: str):
    """None if ``reply`` is the agent's genuine receipt for this cell, else what is wrong with it."""
    if not isinstance(reply, dict) or reply.get("msg_type", reply.get("header", {}).get("msg_type")) != REPLY:
        return "the kernel answered with something else than the grader's agent"
    content = reply.get("content") or {}
    r = content.get("mappo_lite")
    if not isinstance(r, dict):
        return "the reply carries no receipt"
    if r.get("nonce") != nonce or r.get("code_sha256") != code_sha256(code):
        return "the receipt is for another cell or other code"
    status, ename = str(r.get("status", "")), str(r.get("ename", ""))
    if status != content.get("status") or not hmac.compare_digest(
        str(r.get("mac", "")), mac(key, nonce, r["code_sha256"], status, ename)
    ):
        return "the receipt is forged"
    return None


def _is_test_cell(cell) -> bool:
    """A public or hidden test (nbgrader ``grade: true``, not an answer): run in the trusted test process only."""
    return _is_instructor_cell(cell) and is_grade(cell)


class _Stop(Exception):
    """The student's kernel failed during a call of a test: ``run`` is the test's outcome, ``killer`` the reason to
    rerun the notebook without it (or None)."""

    def __init__(self, run, killer=None):
        super().__init__(run.evalue)
        self.run, self.killer = run, killer


class _TestProcess:
    """The trusted test process (:mod:`.tester`): started by the grader, as itself, outside the sandbox; no student
    code runs in it. Answers it needs come from the student's kernel as data (``mappo_lite_call_request``)."""

    def __init__(self, proc, workdir):
        self.proc, self.workdir = proc, workdir

    @classmethod
    async def start(cls, student_names):
        import tempfile

        from .tester import frame

        workdir = tempfile.TemporaryDirectory(prefix="mappo-lite-tests-")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mappo_lite.course.tester",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=workdir.name,
        )
        self = cls(proc, workdir)
        proc.stdin.write(frame({"op": "init", "student_names": sorted(student_names)}))
        await proc.stdin.drain()
        return self

    async def send(self, obj) -> None:
        from .tester import frame

        self.proc.stdin.write(frame(obj))
        await self.proc.stdin.drain()

    async def receive(self, timeout):
        import struct

        head = await asyncio.wait_for(self.proc.stdout.readexactly(8), timeout)
        (n,) = struct.unpack(">Q", head)
        data = await asyncio.wait_for(self.proc.stdout.readexactly(n), timeout)
        return json.loads(data.decode("utf-8"))

    async def close(self) -> None:
        if self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            await self.proc.wait()
        self.workdir.cleanup()


async def _drain_iopub(client) -> None:
    """Drop what the kernel printed during calls (a test's calls have no notebook output)."""
    import queue

    for _ in range(100_000):
        try:
            await client.kc.iopub_channel.get_msg(timeout=0.01)
        except queue.Empty:
            return
        except Exception:
            return


async def _kernel_call(client, request, until, hard, index):
    """Send one call of the test process to the student's kernel and return its reply's content (or raise
    :class:`_Stop`): at ``until`` the kernel is interrupted, ``hard`` seconds later it is killed."""
    import queue

    msg = client.kc.session.msg(
        CALL,
        {"name": str(request.get("name", "")), "kind": request.get("kind"), "args": str(request.get("args", ""))},
    )
    client.kc.shell_channel.send(msg)
    msg_id = msg["header"]["msg_id"]
    interrupted = False
    while True:
        left = until - time.monotonic()
        if left <= 0:
            if interrupted:
                await _kill(client)
                raise _Stop(
                    CellRun("killed", evalue="ignored the interrupt at the time limit and was killed"),
                    (index, "it did not stop at the time limit"),
                )
            interrupted = True
            try:
                await client.km.interrupt_kernel()
            except Exception:
                pass
            until = time.monotonic() + hard
            continue
        try:
            reply = await client.kc.shell_channel.get_msg(timeout=min(1.0, left))
        except queue.Empty:
            if not await _is_alive(client):
                raise _Stop(
                    CellRun("killed", evalue="died while this cell ran (os._exit, a crash or exit())"),
                    (index, "the kernel died while it ran"),
                ) from None
            continue
        if (reply.get("parent_header") or {}).get("msg_id") != msg_id:
            continue  # a late reply to an earlier request
        if interrupted:
            raise _Stop(CellRun("timeout", "KeyboardInterrupt", "time limit exceeded (the cell was interrupted)"))
        if reply.get("msg_type", (reply.get("header") or {}).get("msg_type")) != CALL_REPLY:
            return {"status": "error", "ename": "GraderIntegrityError", "evalue": "the kernel answered something else"}
        content = reply.get("content") or {}
        out = {"status": "ok" if content.get("status") == "ok" else "error"}
        if out["status"] == "error":
            out["ename"] = str(content.get("ename", "Error"))[:200]
            out["evalue"] = str(content.get("evalue", ""))[:2000]
            return out
        value = content.get("value")
        after = content.get("after")
        size = (len(value) if isinstance(value, str) else 0) + sum(
            len(a) for a in (after if isinstance(after, list) else []) if isinstance(a, str)
        )
        if size > MAX_REPLY_BYTES:
            return {
                "status": "error",
                "ename": "RemoteDataError",
                "evalue": f"the result is larger than the grader's limit of {MAX_REPLY_BYTES // 2**20} MB",
            }
        out["callable"] = content.get("callable") is True
        if isinstance(value, str):
            out["value"] = value
        if isinstance(after, list):
            out["after"] = [a if isinstance(a, str) else None for a in after]
        return out


async def _run_test(tester, client, cell, index, timeout, deadline, sources, hard):
    """Run a test cell in the trusted test process. Returns ``(CellRun, killer)``."""
    start = time.monotonic()
    until = min(start + timeout, deadline + 1.0)
    grade_id = nbgrader_meta(cell).get("grade_id", "cell")
    await tester.send({"op": "run", "code": cell.source, "grade_id": grade_id, "sources": list(sources)})
    stopped = None
    while True:
        left = max(0.0, until - time.monotonic()) + (hard if stopped is None else 5.0)
        try:
            msg = await tester.receive(left)
        except (TimeoutError, asyncio.IncompleteReadError, ValueError):
            if stopped is not None:
                return stopped.run, stopped.killer or (index, "the test process did not finish")
            run = CellRun("killed", evalue="test did not stop at the time limit", seconds=time.monotonic() - start)
            return run, (index, "it did not stop at the time limit")
        if msg.get("op") == "call":
            if stopped is not None:
                await tester.send({"fatal": stopped.run.message})
                continue
            try:
                reply = await _kernel_call(client, msg, until, hard, index)
            except _Stop as stop:
                stopped = stop
                stopped.run.seconds = time.monotonic() - start
                await tester.send({"fatal": stop.run.message})
                continue
            await _drain_iopub(client)
            await tester.send(reply)
            continue
        # done
        if stopped is not None:
            return stopped.run, stopped.killer
        elapsed = time.monotonic() - start
        _test_outputs(cell, msg)
        if msg.get("status") == "ok":
            return CellRun("ok", seconds=elapsed), None
        return CellRun("error", str(msg.get("ename", "Error")), str(msg.get("evalue", "")), seconds=elapsed), None


def _test_outputs(cell, msg) -> None:
    import nbformat

    outs = []
    if msg.get("stdout"):
        outs.append(nbformat.v4.new_output("stream", name="stdout", text=str(msg["stdout"])))
    if msg.get("result"):
        outs.append(nbformat.v4.new_output("execute_result", data={"text/plain": str(msg["result"])}))
    if msg.get("status") == "error":
        outs.append(
            nbformat.v4.new_output(
                "error",
                ename=str(msg.get("ename", "Error")),
                evalue=str(msg.get("evalue", "")),
                traceback=[str(t) for t in msg.get("traceback", [])][-20:],
            )
        )
    cell.outputs = outs


def student_names(assignment: Assignment) -> set:
    """The names the assignment's answer cells bind at their top level (in the instructor's solution): the names
    a test may take from the student's kernel."""
    out = set()
    for c in assignment.notebook.cells:
        if c.cell_type == "code" and is_solution(c):
            try:
                tree = ast.parse("\n".join(ln for ln in c.source.split("\n") if not ln.lstrip().startswith(("%", "!"))))
            except SyntaxError:
                continue
            out |= set(_bound_names(tree))
    return out


async def _run_once(nb, runs, timeout, deadline, kernel_name, sandbox, preload, names=()):
    """One attempt: run ``nb`` top to bottom. Returns (index of the cell that killed the kernel, reason) or None."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    from .kernel_wakeup import slice_channels

    key = secrets.token_bytes(32)
    config = sandbox.rundir / "agent.json"
    config.write_text(json.dumps({"key": key.hex(), "preload": sorted(preload)}), encoding="utf-8")
    sandbox.give(config)
    replies = {}
    client = NotebookClient(
        nb,
        km=_kernel_manager(sandbox, kernel_name, config),
        timeout=max(1, int(math.ceil(timeout))),
        interrupt_on_timeout=True,
        allow_errors=True,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(sandbox.workdir)}},
        startup_timeout=120,
        record_timing=False,
        on_cell_executed=lambda cell, cell_index, execute_reply: replies.__setitem__(cell_index, execute_reply),
    )
    # a cell's output beyond the limit is dropped as it arrives (not only in the notebook kept at the end): a print
    # loop would otherwise grow the grader's memory by several times what the kernel printed
    sizes = {}
    plain_output = client.output

    def capped_output(outs, msg, display_id, cell_index):
        if msg.get("msg_type") != "error":
            content = msg.get("content") or {}
            data = content.get("data") if isinstance(content.get("data"), dict) else {}
            size = len(str(content.get("text", ""))) + sum(len(str(v)) for v in data.values())
            before = sizes.get(cell_index, 0)
            sizes[cell_index] = before + size
            if before + size > _MAX_OUTPUT_CHARS:
                if before <= _MAX_OUTPUT_CHARS:
                    import nbformat

                    outs.append(nbformat.v4.new_output("stream", name="stderr", text="[grader: output truncated]\n"))
                return None
        return plain_output(outs, msg, display_id, cell_index)

    client.output = capped_output
    hard = timeout + max(3.0, 0.25 * timeout)  # the interrupt at `timeout` normally ends the cell at once
    killer = None
    current = {}  # what the patched kc.execute sends for the cell being run

    def send(code, **kwargs):
        if not current:
            return plain_execute(code, **kwargs)
        msg = client.kc.session.msg(
            REQUEST,
            {
                "code": current["code"],
                "nonce": current["nonce"],
                "test": current["test"],
                "grade_id": current["grade_id"],
            },
        )
        client.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    plain_execute = None
    tester = None
    sources = []  # the cells run in the student's kernel so far (for assert_own_code in the test process)
    try:
        tester = await _TestProcess.start(names)
        # the kernel's own stdout/stderr (not the cells' output, which comes through the kernel protocol) is noise
        async with client.async_setup_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            plain_execute = client.kc.execute
            client.kc.execute = send
            # a reply whose zmq wake-up was missed is read within a second, not at the end of the cell's time limit
            slice_channels(client.kc)
            count = 0
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code" or runs[index].status == "skipped":
                    continue
                if not cell.source.strip():
                    runs[index] = CellRun("ok")
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    for j in range(index, len(nb.cells)):
                        if nb.cells[j].cell_type == "code" and runs[j].status not in ("skipped",):
                            runs[j] = CellRun("not-run", evalue="the overall time limit was reached")
                    return None
                if _is_test_cell(cell):  # never sent to the student's kernel
                    runs[index], killer = await _run_test(
                        tester, client, cell, index, min(timeout, remaining), deadline, sources, hard - timeout
                    )
                    if killer is not None:
                        await _kill(client)
                        return killer
                    if not await _is_alive(client):
                        runs[index] = CellRun("killed", evalue="exited during this test's calls (exit() or os._exit)")
                        return (index, "the kernel exited during it")
                    continue
                sources.append(cell.source)
                if _is_instructor_cell(cell):  # a read-only cell: the tests need its names too
                    await tester.send({"op": "run", "code": cell.source, "grade_id": "setup", "sources": []})
                    try:
                        await tester.receive(max(timeout, 1.0) + hard)
                    except (TimeoutError, asyncio.IncompleteReadError):
                        runs[index] = CellRun("killed", evalue="did not finish in the test process")
                        return (index, "it did not finish in the test process")
                current.clear()
                nonce = None
                if _is_instructor_cell(cell):
                    nonce = secrets.token_hex(16)
                    current.update(
                        code=cell.source,
                        nonce=nonce,
                        test=is_grade(cell),
                        grade_id=nbgrader_meta(cell).get("grade_id", "cell"),
                    )
                count += 1
                start = time.monotonic()
                overall = remaining + 1.0 < hard
                task = asyncio.ensure_future(client.async_execute_cell(cell, index, execution_count=count))
                done, _ = await asyncio.wait({task}, timeout=min(hard, remaining + 1.0))
                try:
                    if not done:  # the cell ignored the interrupt (or the overall limit came first)
                        raise TimeoutError
                    task.result()
                except TimeoutError:
                    killer = (index, "it did not stop at the time limit")
                    await _kill(client)
                    task.cancel()
                    try:
                        await task
                    except BaseException:  # nbclient turns the cancellation into DeadKernelError
                        pass
                    if overall:  # the overall limit, not this cell's: stop here, no rerun
                        runs[index] = CellRun(
                            "timeout",
                            "TimeoutError",
                            "the overall time limit was reached",
                            seconds=time.monotonic() - start,
                        )
                        for j in range(index + 1, len(nb.cells)):
                            if nb.cells[j].cell_type == "code" and runs[j].status != "skipped":
                                runs[j] = CellRun("not-run", evalue="the overall time limit was reached")
                        return None
                    runs[index] = CellRun(
                        "killed",
                        evalue="ignored the interrupt at the time limit and was killed",
                        seconds=time.monotonic() - start,
                    )
                    return killer
                except DeadKernelError:
                    runs[index] = CellRun(
                        "killed",
                        evalue="died while this cell ran (os._exit, a crash or exit())",
                        seconds=time.monotonic() - start,
                    )
                    killer = (index, "the kernel died while it ran")
                    return killer
                except Exception as exc:  # anything else from the kernel connection: never crash the grader
                    runs[index] = CellRun(
                        "killed",
                        evalue=f"was lost while this cell ran ({type(exc).__name__}: {exc})",
                        seconds=time.monotonic() - start,
                    )
                    killer = (index, "the grader lost the kernel while it ran")
                    return killer
                elapsed = time.monotonic() - start
                _truncate_outputs(cell)
                err = _error_from_outputs(cell)
                problem = None if nonce is None else _receipt_problem(replies.get(index), key, nonce, current["code"])
                if problem is not None:
                    if err is None or err[0] != "KeyboardInterrupt":
                        err = ("GraderIntegrityError", f"the cell did not run as the grader sent it ({problem})")
                elif nonce is not None and err is None:
                    # the signed outcome decides, not the outputs: a notebook can drop the "error" message from iopub
                    content = replies[index].get("content") or {}
                    receipt = content.get("mappo_lite") or {}
                    if receipt.get("status") != "ok":
                        err = (str(receipt.get("ename") or "Error"), str(content.get("evalue", "")))
                if err is None:
                    runs[index] = CellRun("ok", seconds=elapsed)
                elif err[0] == "KeyboardInterrupt" and elapsed >= timeout * 0.95:
                    runs[index] = CellRun("timeout", *err, seconds=elapsed)
                else:
                    runs[index] = CellRun("error", *err, seconds=elapsed)
                alive = await _is_alive(client)
                if not alive:
                    runs[index] = CellRun(
                        "killed", evalue="exited after this cell (exit(), quit() or os._exit)", seconds=elapsed
                    )
                    return (index, "the kernel exited after it")
    finally:
        if killer is not None:
            await _kill(client)
        if tester is not None:
            await tester.close()
    return None


async def _kill(client) -> None:
    if client.km is None:
        return
    try:
        await client.km.shutdown_kernel(now=True)
    except Exception:  # the kernel may already be gone
        pass


async def _is_alive(client) -> bool:
    try:
        res = client.km.is_alive()
        if asyncio.iscoroutine(res):
            res = await res
        return bool(res)
    except Exception:
        return False


def _run_async(coro):
    """``asyncio.run``, also from inside a running event loop (a notebook): then in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def execute(
    nb,
    timeout: float = DEFAULT_TIMEOUT,
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
    kernel_name: str = "python3",
    isolation=None,
    hide=(),
    preload=(),
    names=(),
):
    """Run ``nb`` (modified in place: outputs) and return ``(runs, restarts)``; ``runs[i]`` is a :class:`CellRun`
    for every cell (non-code cells stay ``not-run`` and are not used). ``isolation`` is a
    :class:`~.sandbox.Isolation` (default: the strongest available), ``hide`` the folders the kernel must not
    see, ``preload`` the modules the agent imports (and protects) before any student code runs, ``names`` the
    answer names the tests take from the student's kernel (:func:`student_names`). Test cells run in the trusted
    test process (:mod:`.tester`), every other cell in the sandboxed kernel."""
    timeout = float(timeout)
    total_timeout = float(total_timeout)
    if not (timeout > 0 and math.isfinite(timeout)) or not (total_timeout > 0 and math.isfinite(total_timeout)):
        raise MappoLiteError("time limits must be positive numbers of seconds")
    if isolation is None:
        isolation = choose_isolation("auto")
    deadline = time.monotonic() + total_timeout
    original = copy.deepcopy(nb)
    runs = [CellRun() for _ in nb.cells]
    restarts = 0
    preload = set(preload) | {"mappo_lite", "mappo_lite.course.checks", "numpy"}
    while True:
        work = copy.deepcopy(original)
        for i, r in enumerate(runs):
            if r.status == "skipped":
                work.cells[i].source = "raise RuntimeError('grader: cell not run, see the report')"
        fresh = [r if r.status == "skipped" else CellRun() for r in runs]
        with Sandbox(isolation, hide=tuple(hide)) as sandbox:
            try:
                killed = _run_async(_run_once(work, fresh, timeout, deadline, kernel_name, sandbox, preload, names))
            except MappoLiteError:
                raise
            except Exception as exc:
                if restarts == 0 and all(r.status == "not-run" for r in fresh):
                    raise MappoLiteError(
                        f"could not start a Python kernel to grade with ({type(exc).__name__}: {exc})"
                    ) from None
                raise
        runs = fresh
        nb.cells = work.cells
        if killed is None:
            break
        index, reason = killed
        restarts += 1
        runs[index] = CellRun(
            "skipped",
            evalue=f"{reason} on attempt {restarts}; the notebook was rerun without it",
            seconds=runs[index].seconds,
        )
        for i, r in enumerate(runs):  # cells that hit the time limit would only hit it again
            if r.status == "timeout":
                runs[i] = CellRun(
                    "skipped",
                    "KeyboardInterrupt",
                    f"time limit exceeded on attempt {restarts}; not run again",
                    r.seconds,
                )
        if time.monotonic() >= deadline:
            break
    return runs, restarts


def _imported_modules(cells) -> set:
    """The modules the read-only instructor cells import (so the agent can import and protect them first). Not the
    tests': the list is written where the kernel reads it, and a hidden test's imports name its references."""
    out = set()
    for c in cells:
        if not _is_instructor_cell(c) or _is_test_cell(c):
            continue
        src = "\n".join(ln for ln in c.source.split("\n") if not ln.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                out.add(node.module)
                out |= {f"{node.module}.{a.name}" for a in node.names if a.name != "*"}
    return out


# --------------------------------------------------------------------------------------------------- scoring


@dataclass
class GradeReport:
    """The result of grading one notebook; ``as_dict()`` is what ``--json`` prints."""

    assignment: str
    title: str
    notebook: str
    source: str
    total: float
    max: float
    manual_max: float
    questions: list
    notes: list
    seconds: float
    restarts: int
    executed: object = field(default=None, repr=False)
    isolation: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "assignment": self.assignment,
            "title": self.title,
            "notebook": self.notebook,
            "source": self.source,
            "total": self.total,
            "max": self.max,
            "manual_max": self.manual_max,
            "needs_manual_grading": [q["id"] for q in self.questions if q["status"] == "needs manual grading"],
            "questions": self.questions,
            "notes": self.notes,
            "seconds": round(self.seconds, 2),
            "kernel_restarts": self.restarts,
            "isolation": self.isolation,
        }

    def text(self) -> str:
        lines = [f"{self.assignment}: {self.title}", f"graded against {_display_path(self.source)}"]
        if self.isolation:
            lines.append(f"sandbox: {self.isolation.get('level')} ({self.isolation.get('detail')})")
        lines.append("")
        width = max([len(q["id"]) for q in self.questions] + [8])
        for q in self.questions:
            if q["kind"] == "written":
                pts = f"{'-':>5} / {q['max_points']:g}"
            else:
                pts = f"{q['points']:>5g} / {q['max_points']:g}"
            lines.append(f"  {q['id']:<{width}}  {pts:<12} {q['status']}")
            for fb in q["feedback"]:
                lines.append(f"  {'':<{width}}    - {fb}")
        if self.notes:
            lines += ["", "notes:"] + [f"  - {n}" for n in self.notes]
        lines += [
            "",
            f"total: {self.total:g} / {self.max:g} autograded points"
            + (f" (+ {self.manual_max:g} points graded by hand)" if self.manual_max else ""),
        ]
        return "\n".join(lines)


def _display_path(path) -> str:
    """``path`` relative to the working folder when it lies below it, else absolute."""
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _score(assignment: Assignment, nb, runs, answers) -> list:
    index_of = {}
    for i, c in enumerate(nb.cells):
        if is_nbgrader_cell(c) and c.metadata.get("mappo_lite_origin") is None:
            index_of.setdefault(nbgrader_meta(c)["grade_id"], i)
    questions = []
    for q in assignment.questions:
        feedback = []
        if q.kind == "written":
            src = answers.get(q.id)
            stub = _stub_for(assignment, assignment.cell(q.id))
            if src is None or src.strip() == stub.strip() or not src.strip():
                status, pts = "unanswered", 0.0
            else:
                status, pts = "needs manual grading", None
            questions.append(
                {
                    "id": q.id,
                    "title": q.title,
                    "kind": q.kind,
                    "points": pts,
                    "max_points": q.manual_points,
                    "status": status,
                    "feedback": feedback,
                    "tests": [],
                }
            )
            continue
        sol_run = runs[index_of[q.id]]
        if answers.get(q.id) is None:
            feedback.append("answer cell missing from the submission")
        elif sol_run.status == "error" and sol_run.ename == "NotImplementedError":
            feedback.append("not answered yet: the answer cell still raises NotImplementedError")
        elif sol_run.status != "ok":
            feedback.append(f"the answer cell failed: {sol_run.message}")
        tests, total = [], 0.0
        for t in q.tests:
            run = runs[index_of[t.grade_id]]
            passed = run.status == "ok"
            got = t.points if passed else 0.0
            total += got
            if not passed and t.grade_id != q.id:
                feedback.append(f"{t.kind} test {t.grade_id!r} ({t.points:g} pt) failed: {run.message}")
            tests.append(
                {
                    "grade_id": t.grade_id,
                    "visibility": t.kind,
                    "points": got,
                    "max_points": t.points,
                    "status": run.status,
                    "message": run.message,
                }
            )
        status = "passed" if total == q.auto_points else ("partial" if total > 0 else "failed")
        questions.append(
            {
                "id": q.id,
                "title": q.title,
                "kind": q.kind,
                "points": total,
                "max_points": q.auto_points,
                "status": status,
                "feedback": feedback,
                "tests": tests,
            }
        )
    return questions


def grade_notebook(
    path,
    *,
    source_dir=None,
    assignment=None,
    timeout: float = DEFAULT_TIMEOUT,
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
    kernel_name: str = "python3",
    isolation: str = "auto",
) -> GradeReport:
    """Grade the notebook at ``path`` against its instructor source (see the module docstring).

    The source is ``assignment`` (a name in ``source_dir``, or a path) when given, else the assignment *name* the
    notebook's metadata declares, looked up in ``source_dir`` only; a notebook declaring another assignment than
    ``assignment`` is an error. ``isolation``: ``auto`` | ``bwrap`` | ``user`` | ``none`` (:mod:`.sandbox`).
    """
    start = time.monotonic()
    path = Path(path)
    sub = read_submission(path)
    iso = choose_isolation(isolation)
    src_path, notes = _choose_source(sub, path, assignment, source_dir)
    a = load_assignment(src_path)
    ml = sub.metadata.get("mappo_lite")
    if isinstance(ml, dict) and ml.get("source_sha256") not in (None, a.sha256):
        notes.append(
            "the assignment source changed after this notebook was released; graded against the current source"
        )
    nb, more, answers = assemble(a, sub)
    notes += more
    suspicious = suspicious_names(nb)
    if suspicious:
        notes.append(
            "the student's code uses introspection or dynamic code ("
            + ", ".join(suspicious)
            + "): it cannot change how the tests run, but it could compute its answers with the library's reference "
            "(see the instructors' threat model); check by hand"
        )
    hide = {Path(src_path).resolve().parent}
    if iso.level == "bwrap":  # the shipped sources too (a tmpfs covers them); below bwrap they are as public as PyPI
        hide.add(PACKAGED_SOURCES)
    try:
        hide.add(_source_dir(source_dir).resolve())
    except MappoLiteError:
        pass
    sandbox_note = isolation_note(iso, hide)
    if sandbox_note:
        notes.append(sandbox_note)
    runs, restarts = execute(
        nb,
        timeout=timeout,
        total_timeout=total_timeout,
        kernel_name=kernel_name,
        isolation=iso,
        hide=sorted(hide),
        preload=_imported_modules(nb.cells),
        names=student_names(a),
    )
    for i, r in enumerate(runs):
        if r.status == "skipped":
            c = nb.cells[i]
            gid = nbgrader_meta(c).get("grade_id", "a student-added cell")
            notes.append(f"cell {gid!r}: {r.evalue}")
    questions = _score(a, nb, runs, answers)
    total = float(sum(q["points"] for q in questions if q["kind"] == "code"))
    return GradeReport(
        assignment=a.name,
        title=a.title,
        notebook=str(path),
        source=str(src_path),
        total=total,
        max=a.auto_points,
        manual_max=a.points - a.auto_points,
        questions=questions,
        notes=notes,
        seconds=time.monotonic() - start,
        restarts=restarts,
        executed=nb,
        isolation=iso.as_dict(),
    )


#: What the in-process attacks on the grader use (frames, the garbage collector, the kernel's and the agent's
#: objects, code objects, hooks, dynamic code): a heuristic that flags a submission for a look by hand.
_SUSPICIOUS = re.compile(
    r"\b(_getframe|f_back|f_locals|f_globals|tb_frame|gc|ctypes|__code__|__self__|__closure__|__globals__"
    r"|__func__|get_ipython|shell_handlers|kernel|jupyter_client|zmq|ipykernel|addaudithook|setitimer|signal"
    r"|settrace|setprofile|seterrcall|__del__|__array__|__array_function__|__array_ufunc__|_ref_\w*"
    r"|assignments|exec|eval|compile|__import__|importlib|marshal|pickle|base64|codecs|getattr|globals)\b"
)


def suspicious_names(nb) -> list:
    """The suspicious names (``_SUSPICIOUS``) in the cells that come from the student (answers, added cells)."""
    found = []
    for c in nb.cells:
        if c.cell_type != "code" or _is_instructor_cell(c):
            continue
        for m in _SUSPICIOUS.finditer(c.source):
            if m.group(1) not in found:
                found.append(m.group(1))
    return found[:12]


def isolation_note(iso, hide) -> str:
    """A report note when the sandbox is weaker than bubblewrap (see the instructors' threat model)."""
    if iso.level == "none":
        return (
            f"sandbox: {iso.detail}: the student's code could read the sources and hidden tests, signal the grader and "
            "write the grader's files; use this only for trusted notebooks (see the instructors' page)"
        )
    if iso.level == "user":
        import os

        probe = Sandbox(iso)
        readable = [str(h) for h in hide if not probe.hidden_from_kernel(h)]
        out = []
        if readable:
            out.append(
                f"sandbox: isolation 'user' (no bubblewrap): the source folder {', '.join(readable)} is readable "
                f"by the sandbox user {iso.user!r}; make it private (chmod 700) or install bubblewrap"
            )
        stdlib = Path(os.__file__).resolve().parent
        if probe.hidden_from_kernel(stdlib):
            out.append(
                f"sandbox: the sandbox user {iso.user!r} cannot read this Python's standard library ({stdlib}); "
                "its kernel may run with another one: install Python where other users can read it"
            )
        return "; ".join(out)
    return ""
