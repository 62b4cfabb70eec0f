r"""The grader's agent inside the grading kernel: instructor cells run in a clean room and come back signed.

The grader starts the kernel as ``python -m mappo_lite.course.agent CONFIG -f CONNECTION_FILE``. Before any
student code runs, the agent reads (and deletes) ``CONFIG`` — a fresh secret key and the modules the instructor
cells import —, imports those modules, starts an ordinary IPython kernel and takes a **snapshot** of everything
student code could hijack from inside the kernel:

* IPython's input transformers (``input_transformers_cleanup``, the line and token transformers,
  ``input_transformers_post``), its AST transformers, its event callbacks, display hook and custom exception
  handlers; methods set on the shell or kernel objects; the kernel's message handlers;
* the ``builtins`` module; ``sys.displayhook``, ``sys.excepthook``, ``sys.stdout``/``stderr``,
  ``sys.meta_path``, ``sys.path_hooks``; trace and profile functions;
* the trusted modules — ``mappo_lite`` (with the test helpers of :mod:`.checks`), NumPy, IPython, ipykernel,
  the standard modules the agent itself uses: their ``sys.modules`` entries, their globals, the code, defaults and
  closures of their functions and the methods of their classes, and the arrays ``mappo_lite`` holds.

Student cells run normally (``execute_request``). Instructor cells (read-only code, public and hidden tests) arrive
as ``mappo_lite_run_request`` messages: the agent first **restores** the snapshot, rebinds in the notebook's
namespace every name an earlier instructor cell bound (``assert_close``, ``_ref_softmax_rows``, a game...), then
compiles the cell with the builtin ``compile`` (IPython's own transformer manager, restored, handles ``%magics``;
student transformers never see the cell) and runs it. Its reply carries a **receipt**: an HMAC with the secret key
over the grader's nonce for that cell, the SHA-256 of the code that was compiled and the outcome. The grader
checks it outside the kernel; a cell without a valid receipt (a replaced handler, a cell swallowed, a test run
differently) fails with ``GraderIntegrityError``. A test that leaves a trace or profile function installed fails
too (it could have skipped lines of the test), and so does every instructor cell while a thread the notebook
started is still running (it could patch again what was just restored).

What this cannot do: student code runs in the same process, and this agent is an ordinary object in it (reachable
from the kernel's message handlers): a notebook written against this very file can replace its methods or the
``exec`` of this module, or read the key, and forge receipts in a few lines. That is why the **tests** no longer run
here: the grader runs them in a trusted test process (:mod:`.tester`) and only calls the student's functions in
this kernel (``mappo_lite_call_request``, :meth:`Agent.handle_call`), whose replies it decodes as data
(:mod:`.remote`). The restore and the receipts remain for the read-only instructor cells, as defence in depth (they
give no points): they stop student code that acts *by itself* (hooks, threads, signal handlers and timers, gc
callbacks and finalizers, audit hooks, NumPy's error callback), not a notebook that attacks the agent.
"""

from __future__ import annotations

# Captured before anything else is imported: builtin functions cannot be patched from Python code.
_compile = compile
_exec = exec
_getattr = getattr
_setattr = setattr
_isinstance = isinstance
_len = len
_type = type
_str = str
_encode = str.encode
_decode = bytes.decode

import _hashlib  # noqa: E402  (the C implementation; hmac.py is Python and patchable)
import _thread  # noqa: E402
import builtins  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import types  # noqa: E402

REQUEST = "mappo_lite_run_request"
REPLY = "mappo_lite_run_reply"
CALL = "mappo_lite_call_request"
CALL_REPLY = "mappo_lite_call_reply"
_hmac_digest = _hashlib.hmac_digest
_thread_count = _thread._count
_sha256 = _hashlib.openssl_sha256
_FunctionType = types.FunctionType
_ModuleType = types.ModuleType
#: Packages whose code and state are restored before every instructor cell, in addition to what the cells import.
TRUSTED = (
    "mappo_lite",
    "numpy",
    "IPython",
    "ipykernel",
    "matplotlib_inline",
    "traceback",
    "linecache",
    "ast",
    "codeop",
    "json",
    "inspect",
    "importlib",
    "threading",
    "contextlib",
    "functools",
    "math",
    "random",
    "copy",
    "types",
    "re",
    "warnings",
)
_STRICT = ("mappo_lite",)  # data globals restored too (not only code)
_HEAPTYPE = 1 << 9
_MISSING = object()


def _utf8(text) -> str:
    """``str(text)`` with what UTF-8 cannot encode (lone surrogates, e.g. ``"\\ud800"``) backslash-escaped.

    A Jupyter message is UTF-8 JSON: one such character in an exception's message made the kernel's reply fail to
    send, so the grader waited for it until the time limit and reported a cell that "did not stop"."""
    return _decode(_encode(_str(text), "utf-8", "backslashreplace"), "utf-8")


def mac(key: bytes, nonce: str, code_sha: str, status: str, ename: str) -> str:
    """The receipt: what the grader recomputes to check that a cell ran here, as sent, with this outcome."""
    msg = "\x00".join([REPLY, nonce, code_sha, status, ename]).encode("utf-8")
    return _hmac_digest(key, msg, "sha256").hex()


def code_sha256(code: str) -> str:
    return _sha256(code.encode("utf-8")).hexdigest()


def _trusted(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _functions_of(value):
    if _isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if _isinstance(value, property):
        return [f for f in (value.fget, value.fset, value.fdel) if _isinstance(f, _FunctionType)]
    return [value] if _isinstance(value, _FunctionType) else []


def _cells_of(f):
    out = []
    for c in f.__closure__ or ():
        try:
            out.append((c, c.cell_contents))
        except ValueError:  # an empty cell
            out.append((c, _MISSING))
    return tuple(out)


class _Snapshot:
    """Everything restorable, taken when no student code has run yet."""

    def __init__(self, shell, kernel, prefixes):
        import numpy as np

        self.np = np
        self.builtins = dict(builtins.__dict__)
        self.sys_attrs = {k: _getattr(sys, k) for k in ("displayhook", "excepthook", "stdout", "stderr", "stdin")}
        self.sys_lists = {k: (_getattr(sys, k), list(_getattr(sys, k))) for k in ("meta_path", "path_hooks")}
        # code that runs on its own between two lines of a test: signal handlers (and the timers that fire them),
        # garbage-collector callbacks
        self.signals = {}
        for s in signal.valid_signals():
            try:
                h = signal.getsignal(s)
            except (OSError, ValueError):
                continue
            if h is not None and s != signal.SIGINT:
                self.signals[s] = h
        self.sigmask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        self.gc_callbacks = list(gc.callbacks)
        # NumPy's C-level state that calls Python code: the floating-point error callback, the print formatters
        self.np_err, self.np_errcall, self.np_print = np.geterr(), np.geterrcall(), np.get_printoptions()
        self.keep = []  # what a restore displaced: freed only after the instructor cell (their __del__ runs then)
        self.modules, self.functions, self.classes, self.arrays = {}, {}, [], []
        for name, mod in list(sys.modules.items()):
            if not _isinstance(mod, _ModuleType) or not _trusted(name, prefixes):
                continue
            d = dict(mod.__dict__)
            self.modules[name] = (mod, d, _trusted(name, _STRICT))
            for _key, value in d.items():
                for f in _functions_of(value):
                    self._function(f)
                if _isinstance(value, type) and value.__module__ == name and value.__flags__ & _HEAPTYPE:
                    cd = dict(value.__dict__)
                    self.classes.append((value, cd))
                    for v in cd.values():
                        for f in _functions_of(v):
                            self._function(f)
                if _isinstance(value, np.ndarray) and _trusted(name, _STRICT) and value.size <= 100_000:
                    self.arrays.append((value, value.copy()))
        self.objects = []  # (object, {attribute: value}) for shell/kernel state
        self.shell_lists = []
        mgr = shell.input_transformer_manager
        for owner, attr in (
            (mgr, "cleanup_transforms"),
            (mgr, "line_transforms"),
            (mgr, "token_transformers"),
            (shell, "input_transformers_post"),
            (shell, "ast_transformers"),
        ):
            lst = _getattr(owner, attr)
            self.shell_lists.append((owner, attr, lst, list(lst)))
        self.shell_attrs = {
            a: _getattr(shell, a)
            for a in (
                "input_transformer_manager",
                "displayhook",
                "display_pub",
                "custom_exceptions",
                "CustomTB",
                "events",
                "compile",
            )
        }
        self.events = {k: list(v) for k, v in shell.events.callbacks.items()}
        self.handlers = dict(kernel.shell_handlers)
        self.instance_keys = {id(o): (o, set(vars(o))) for o in (shell, kernel)}

    def _function(self, f):
        if id(f) not in self.functions:
            self.functions[id(f)] = (f, f.__code__, f.__defaults__, f.__kwdefaults__, _cells_of(f))

    def update_shell_state(self, shell, kernel):
        """After an instructor cell (not a test) changed IPython's state legitimately (``%matplotlib inline``)."""
        self.shell_lists = [(o, a, _getattr(o, a), list(_getattr(o, a))) for o, a, _, _ in self.shell_lists]
        self.events = {k: list(v) for k, v in shell.events.callbacks.items()}

    def restore(self, shell, kernel) -> None:
        np = self.np
        keep = self.keep.append
        sys.settrace(None)
        sys.setprofile(None)
        for t in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
            signal.setitimer(t, 0)
        for s, h in self.signals.items():
            try:
                if signal.getsignal(s) is not h:
                    keep(signal.signal(s, h))
            except (OSError, ValueError, TypeError):
                pass
        try:
            if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:  # the grader's interrupt
                keep(signal.signal(signal.SIGINT, signal.default_int_handler))
        except (OSError, ValueError):
            pass
        signal.pthread_sigmask(signal.SIG_SETMASK, self.sigmask)
        keep(list(gc.callbacks))
        gc.callbacks[:] = self.gc_callbacks
        keep((np.geterrcall(), np.get_printoptions()))
        np.seterr(**self.np_err)
        np.seterrcall(self.np_errcall)
        try:
            np.set_printoptions(**self.np_print)
        except (TypeError, ValueError):
            pass
        d = builtins.__dict__
        keep(dict(d))
        for k in [k for k in d if k not in self.builtins]:
            del d[k]
        for k, v in self.builtins.items():
            if d.get(k, _MISSING) is not v:
                d[k] = v
        for k, v in self.sys_attrs.items():
            if _getattr(sys, k) is not v:
                keep(_getattr(sys, k))
                _setattr(sys, k, v)
        for k, (lst, items) in self.sys_lists.items():
            if _getattr(sys, k) is not lst:
                keep(_getattr(sys, k))
                _setattr(sys, k, lst)
            if lst != items:
                keep(list(lst))
                lst[:] = items
        keep(dict(sys.modules))
        for name, (mod, saved, strict) in self.modules.items():
            if sys.modules.get(name) is not mod:
                sys.modules[name] = mod
            md = mod.__dict__
            keep(dict(md))
            for k in [k for k in md if k not in saved]:
                v = md[k]
                if _isinstance(v, _ModuleType) and _getattr(v, "__name__", None) == f"{name}.{k}":
                    continue  # a submodule imported since (numpy's lazy ``np.ma``): legitimate
                if k in self.builtins or (strict and not (k.startswith("__") and k.endswith("__"))):
                    del md[k]  # a global shadowing a builtin, or anything added to mappo_lite
            for k, v in saved.items():
                if md.get(k, _MISSING) is not v and (strict or callable(v) or _isinstance(v, _ModuleType)):
                    md[k] = v
        for f, code, defaults, kwdefaults, cells in self.functions.values():
            if f.__code__ is not code:
                f.__code__ = code
            if f.__defaults__ is not defaults:
                keep(f.__defaults__)
                f.__defaults__ = defaults
            if f.__kwdefaults__ is not kwdefaults:
                keep(f.__kwdefaults__)
                f.__kwdefaults__ = kwdefaults
            for c, v in cells:
                try:
                    cur = c.cell_contents
                except ValueError:
                    cur = _MISSING
                if cur is not v and v is not _MISSING:
                    keep(cur)
                    c.cell_contents = v
        for cls, saved in self.classes:
            cd = cls.__dict__
            keep(dict(cd))
            for k in [k for k in cd if k not in saved]:
                try:
                    delattr(cls, k)
                except (AttributeError, TypeError):
                    pass
            for k, v in saved.items():
                if cd.get(k, _MISSING) is not v and k not in ("__dict__", "__weakref__"):
                    try:
                        _setattr(cls, k, v)
                    except (AttributeError, TypeError):
                        pass
        for arr, copy in self.arrays:
            if arr.shape != copy.shape or not np.array_equal(arr, copy, equal_nan=True):
                arr.setflags(write=True)
                arr[...] = copy
        for owner, attr, lst, items in self.shell_lists:
            keep((_getattr(owner, attr), list(lst)))
            if _getattr(owner, attr) is not lst:
                try:
                    _setattr(owner, attr, lst)
                except Exception:
                    pass
            if list(lst) != items:
                lst[:] = items
        for a, v in self.shell_attrs.items():
            if _getattr(shell, a) is not v:
                keep(_getattr(shell, a))
                _setattr(shell, a, v)
        cb = shell.events.callbacks
        keep({k: list(v) for k, v in cb.items()})
        for k in [k for k in cb if k not in self.events]:
            del cb[k]
        for k, v in self.events.items():
            cb[k] = list(v)
        keep(dict(kernel.shell_handlers))
        kernel.shell_handlers.clear()
        kernel.shell_handlers.update(self.handlers)
        for o, keys in self.instance_keys.values():
            inst = vars(o)
            keep(dict(inst))
            for k in [k for k in inst if k not in keys]:
                if callable(_getattr(_type(o), k, None)) or callable(inst[k]):
                    del inst[k]


def _bound_names(tree) -> list:
    """Names a cell binds at its top level (imports, definitions, assignments; not inside functions)."""
    import ast

    names = []

    def visit(node):
        if _isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if a.name != "*":
                    names.append(a.asname or a.name.split(".")[0])
            return
        if _isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
            return
        if _isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return
        if _isinstance(node, ast.Name) and _isinstance(node.ctx, ast.Store):
            names.append(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    for stmt in tree.body:
        visit(stmt)
    return names


class Agent:
    """Handles ``mappo_lite_run_request`` (see the module docstring)."""

    def __init__(self, kernel, key: bytes, prefixes):
        import ast
        import threading
        import traceback

        self.kernel = kernel
        self.shell = kernel.shell
        self._key = key
        self._ast = ast
        self._traceback = traceback
        self._threading = threading
        self._transform = self.shell.input_transformer_manager.transform_cell
        self._get_ipython = self.shell.get_ipython
        self.bindings = {}
        kernel.shell_handlers[REQUEST] = self.handle
        kernel.shell_handlers[CALL] = self.handle_call
        self.snapshot = _Snapshot(self.shell, kernel, tuple(prefixes))
        try:  # pyzmq starts this thread at the first large message (a long print): start it now, it is ours
            from zmq.utils.garbage import gc as zmq_gc

            if not zmq_gc.is_alive():
                zmq_gc.start()
        except Exception:
            pass
        self.threads = _thread_count()  # Python threads running before any student code

    def _run(self, code: str, name: str):
        """Compile and run an instructor cell in the notebook's namespace; the last expression is displayed."""
        ast = self._ast
        src = self._transform(code)
        tree = _compile(src, name, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        ns = self.shell.user_ns
        last = None
        if tree.body and _isinstance(tree.body[-1], ast.Expr):
            last = ast.Interactive(body=[tree.body.pop()])
        _exec(_compile(tree, name, "exec", dont_inherit=True), ns)
        if last is not None:
            _exec(_compile(last, name, "single", dont_inherit=True), ns)
        return _bound_names(tree) + ([] if last is None else _bound_names(ast.Module(body=last.body, type_ignores=[])))

    def handle(self, stream, ident, parent):
        kernel, shell = self.kernel, self.shell
        content = parent.get("content", {})
        code = str(content.get("code", ""))
        nonce = str(content.get("nonce", ""))
        is_test = bool(content.get("test"))
        grade_id = str(content.get("grade_id", "cell"))
        # no garbage collection while an instructor cell runs: finalizers and gc callbacks of the notebook's
        # objects would run between the restore and the test; what the restore displaces is kept until the end
        gc_enabled = gc.isenabled()
        gc.disable()
        self.snapshot.restore(shell, kernel)
        ns = shell.user_ns
        self.snapshot.keep.append(dict(ns))
        ns.update(self.bindings)
        ns["__builtins__"] = builtins
        ns["get_ipython"] = self._get_ipython
        shell.execution_count += 1
        count = shell.execution_count
        status, ename, evalue, tb = "ok", "", "", []
        names = []
        try:
            extra = _thread_count() - self.threads
            if extra > 0:  # it could re-patch what was just restored while the test runs
                raise _integrity(
                    f"{extra} thread(s) started by the notebook are still running; the grader does not "
                    "run instructor cells next to them"
                )
            names = self._run(code, f"<{'test' if is_test else 'cell'} {grade_id}>")
            if sys.gettrace() is not None or sys.getprofile() is not None:
                raise _integrity("a trace or profile function was installed while the test ran")
        except BaseException as exc:  # noqa: B036 (SystemExit and KeyboardInterrupt fail the cell too)
            sys.settrace(None)
            sys.setprofile(None)
            status, ename = "error", _utf8(_type(exc).__name__)
            try:
                evalue = _utf8(exc)
            except BaseException:  # noqa: B036 (an exception whose __str__ fails)
                evalue = ""
            try:
                tb = [_utf8(line) for line in self._traceback.format_exception(_type(exc), exc, exc.__traceback__)]
            except BaseException:  # noqa: B036
                tb = [f"{ename}: {evalue}"]
        # the bindings of this cell (imports of the test helpers and references, data) win over the student's
        for n in names:
            if n in ns:
                self.bindings[n] = ns[n]
        for s in (sys.stdout, sys.stderr):
            try:
                s.flush()
            except Exception:
                pass
        self.snapshot.restore(shell, kernel)
        del self.snapshot.keep[:]  # the notebook's finalizers may run from here on: the cell is over
        if gc_enabled:
            gc.enable()
        if not is_test and status == "ok":
            self.snapshot.update_shell_state(shell, kernel)
            self.threads = max(self.threads, _thread_count())
        if status == "error":
            err = {"ename": ename, "evalue": evalue, "traceback": tb}
            kernel.session.send(kernel.iopub_socket, "error", err, parent, ident=kernel._topic("error"))
        receipt = {"nonce": nonce, "code_sha256": code_sha256(code), "status": status, "ename": ename}
        receipt["mac"] = mac(self._key, nonce, receipt["code_sha256"], status, ename)
        reply = {
            "status": status,
            "execution_count": count,
            "ename": ename,
            "evalue": evalue,
            "traceback": tb,
            "mappo_lite": receipt,
        }
        kernel.session.send(stream, REPLY, reply, parent, ident=ident)

    def handle_call(self, stream, ident, parent):
        """A call of the trusted test process (:mod:`.tester`): look up a name of the notebook (``kind`` get) or
        call it with the pickled arguments (``kind`` call); the result goes back as data (:func:`.remote.encode`).
        Nothing here is trusted by the grader: it only decodes the reply as data."""
        content = parent.get("content", {})
        name, kind = str(content.get("name", "")), content.get("kind")
        reply = {"status": "ok"}
        try:
            import base64
            import pickle

            import numpy as np

            from .remote import encode

            ns = self.shell.user_ns
            if name not in ns:
                raise NameError(f"name {name!r} is not defined")
            obj = ns[name]
            if kind == "get":
                if callable(obj):
                    reply["callable"] = True
                else:
                    reply["value"] = json.dumps(encode(obj))
            else:
                args, kwargs = pickle.loads(base64.b64decode(content.get("args", "")))
                value = obj(*args, **kwargs)
                reply["value"] = json.dumps(encode(value))
                reply["after"] = [json.dumps(encode(a)) if _isinstance(a, np.ndarray) else None for a in args]
        except BaseException as exc:  # noqa: B036 (KeyboardInterrupt at the time limit is reported too)
            try:
                reply = {"status": "error", "ename": _utf8(_type(exc).__name__), "evalue": _utf8(exc)[:2000]}
            except BaseException:  # noqa: B036 (an exception whose __str__ fails)
                reply = {"status": "error", "ename": "Exception", "evalue": ""}
        for s in (sys.stdout, sys.stderr):
            try:
                s.flush()
            except Exception:
                pass
        self.kernel.session.send(stream, CALL_REPLY, reply, parent, ident=ident)


def _refuse_audit_hooks(event, args):
    """The agent's audit hook: no later one may be added (it would run inside every test, after the restore, and
    cannot be removed)."""
    if event == "sys.addaudithook":
        raise RuntimeError("the grader's kernel does not accept audit hooks")


class GraderIntegrityError(Exception):
    """Raised (and reported) when a test could not run as the grader wrote it."""


def _integrity(message: str) -> GraderIntegrityError:
    return GraderIntegrityError(message)


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    config_path = argv.pop(0)
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    try:
        os.unlink(config_path)  # the key is in this process only from now on
    except OSError:
        pass
    os.environ.pop("JPY_PARENT_PID", None)  # the grader's pid means nothing in the sandbox
    sys.addaudithook(_refuse_audit_hooks)
    key = bytes.fromhex(config["key"])
    import importlib

    for name in config.get("preload", []):
        try:
            importlib.import_module(name)
        except Exception:  # an import the cell itself will report
            pass
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(argv)
    Agent(app.kernel, key, TRUSTED)
    del key, config
    app.start()


if __name__ == "__main__":
    main()
