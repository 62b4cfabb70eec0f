r"""The trusted test process: where the grader runs the instructor's test cells, away from the student's code.

The grader (:mod:`.grade`) starts ``python -m mappo_lite.course.tester`` next to the student's kernel, as itself
and outside the sandbox, and drives it over its standard input and output (frames: an 8-byte big-endian length,
then JSON). No student code ever runs in this process:

* the instructor's read-only cells run here too (``import numpy as np``, the test helpers, the games), so the
  tests find them; they also run in the student's kernel, where the answers need them;
* every test cell (public and hidden, nbgrader ``grade: true``) runs **only** here; its code never reaches the
  student's kernel;
* a name of the assignment's answers that a cell uses (``softmax_rows``, ``curves``...) is fetched from the
  student's kernel just before the cell runs: a :class:`~.remote.RemoteFunction` if it is callable there, else its
  value as data. A call sends ``(args, kwargs)`` pickled to the kernel (through the grader, which relays it as a
  ``mappo_lite_call_request``) and gets the result back as data, decoded by :func:`~.remote.decode` only; an
  array passed as an argument comes back too, *compared, never copied back*: the test's arrays stay as the test
  made them, and :func:`~.checks.assert_unmodified` reports an answer that changed its input.

Requests (grader -> here): ``{"op": "init", "student_names": [...]}``, ``{"op": "run", "code", "grade_id",
"sources"}`` (``sources``: the cells that ran in the student's kernel so far, for ``assert_own_code``) and the
replies to this process's calls. Answers (here -> grader): ``{"op": "call", "kind": "get" | "call", "name",
"args"}`` and, when the cell is over, ``{"op": "done", "status", "ename", "evalue", "traceback", "stdout",
"result"}``. A reply ``{"fatal": reason}`` (the kernel died, hung or hit the time limit during the call) ends the
cell at once; the grader scores it from what it saw.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import io
import json
import os
import pickle
import struct
import sys
import traceback

from .remote import RemoteDataError, RemoteFunction, decode, remote_error

_MAX_FRAME = 64 * 2**20
_MAX_TEXT = 200_000  # what a cell prints, kept in the executed notebook


class _Abort(BaseException):
    """The grader ended the cell (the student's kernel failed during a call): unwind the test at once."""


def read_frame(stream):
    head = stream.read(8)
    if len(head) < 8:
        return None
    (n,) = struct.unpack(">Q", head)
    if n > _MAX_FRAME:
        raise RuntimeError("frame too large")
    data = stream.read(n)
    if len(data) < n:
        return None
    return json.loads(data.decode("utf-8"))


def frame(obj) -> bytes:
    data = json.dumps(obj).encode("utf-8")
    return struct.pack(">Q", len(data)) + data


def _strip_magics(src: str) -> str:
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in src.split("\n"))


class Tester:
    def __init__(self, inp, out):
        self.inp, self.out = inp, out
        self.ns = {"__name__": "__main__", "__builtins__": __builtins__}
        self.student_names = set()
        self.sources = []

    def send(self, obj) -> None:
        self.out.write(frame(obj))
        self.out.flush()

    def ask(self, request):
        self.send(request)
        reply = read_frame(self.inp)
        if reply is None:
            raise _Abort("the grader went away")
        if reply.get("fatal"):
            raise _Abort(str(reply["fatal"]))
        return reply

    def call(self, name, args, kwargs):
        try:
            payload = pickle.dumps((args, kwargs), protocol=4)
        except Exception as exc:
            raise TypeError(f"the test's arguments to {name} cannot be sent to the kernel ({exc})") from None
        reply = self.ask({"op": "call", "kind": "call", "name": name, "args": base64.b64encode(payload).decode()})
        if reply.get("status") != "ok":
            raise remote_error(reply.get("ename", "Error"), reply.get("evalue", ""), f"function {name}")
        try:
            value = decode(reply.get("value"))
        except RemoteDataError as exc:
            raise RemoteDataError(f"{name} returned something the grader does not accept: {exc}") from None
        return value, self._modified(args, reply.get("after"))

    @staticmethod
    def _modified(args, after) -> list:
        """The positions (1-based) of the arrays the test passed that the student's function changed in place.

        The test's own arrays are never overwritten with what came back: a test that computes its expected value
        from its inputs after the call would otherwise compare against numbers the answer chose (a wrong answer that
        zeroes its input passes). A test that checks an answer leaves its inputs alone uses
        :func:`~.checks.assert_unmodified`, which reads this list. Anything that cannot be decoded counts as changed."""
        import numpy as np

        if not isinstance(after, list) or len(after) != len(args):
            return [i + 1 for i, a in enumerate(args) if type(a) is np.ndarray]
        changed = []
        for i, (arg, text) in enumerate(zip(args, after)):
            if type(arg) is not np.ndarray:
                continue
            try:
                new = decode(text) if text is not None else None
            except RemoteDataError:
                new = None
            same = (
                type(new) is np.ndarray
                and new.shape == arg.shape
                and new.dtype == arg.dtype
                and np.array_equal(new, arg, equal_nan=arg.dtype.kind in "fc")
            )
            if not same:
                changed.append(i + 1)
        return changed

    def bind(self, tree) -> None:
        """Bind every answer name the cell uses to the student's object (a proxy or data)."""
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} & self.student_names
        for name in sorted(used):
            reply = self.ask({"op": "call", "kind": "get", "name": name, "args": ""})
            if reply.get("status") != "ok":
                self.ns.pop(name, None)  # not defined in the notebook: the cell's NameError says so
                continue
            if reply.get("callable"):
                self.ns[name] = RemoteFunction(name, self.call, self.sources)
            else:
                try:
                    self.ns[name] = decode(reply.get("value"))
                except RemoteDataError as exc:
                    raise RemoteDataError(f"{name} holds something the grader does not accept: {exc}") from None

    def run(self, code: str, grade_id: str, sources) -> dict:
        self.sources[:] = [s for s in sources if isinstance(s, str)]
        out = io.StringIO()
        status, ename, evalue, tb, result = "ok", "", "", [], None
        name = f"<test {grade_id}>"
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                tree = ast.parse(_strip_magics(code), name)
                self.bind(tree)
                last = None
                if tree.body and isinstance(tree.body[-1], ast.Expr):
                    last = ast.Expression(tree.body.pop().value)
                exec(compile(tree, name, "exec", dont_inherit=True), self.ns)
                if last is not None:
                    value = eval(compile(last, name, "eval", dont_inherit=True), self.ns)
                    if value is not None:
                        result = repr(value)[:2000]
        except _Abort as exc:
            return {"op": "done", "status": "aborted", "ename": "", "evalue": str(exc)}
        except BaseException as exc:  # noqa: B036 (SystemExit and KeyboardInterrupt in a test fail it too)
            status = "error"
            ename = getattr(exc, "remote_ename", type(exc).__name__)
            evalue = str(exc)
            tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        text = out.getvalue()
        if len(text) > _MAX_TEXT:
            text = text[:_MAX_TEXT] + "\n[grader: output truncated]\n"
        return {
            "op": "done",
            "status": status,
            "ename": ename,
            "evalue": evalue,
            "traceback": tb,
            "stdout": text,
            "result": result,
        }

    def serve(self) -> None:
        while True:
            req = read_frame(self.inp)
            if req is None:
                return
            op = req.get("op")
            if op == "init":
                self.student_names = set(req.get("student_names", []))
            elif op == "run":
                self.send(self.run(str(req.get("code", "")), str(req.get("grade_id", "cell")), req.get("sources", [])))


def main() -> None:
    # the protocol gets its own descriptors: what instructor code (or a C library) prints cannot corrupt it
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    import matplotlib

    matplotlib.use("Agg")
    Tester(inp, out).serve()


if __name__ == "__main__":
    main()
