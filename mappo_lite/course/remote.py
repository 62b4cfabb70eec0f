r"""Student functions seen from the trusted test process: data-only proxies, a safe codec and the source check.

The grader runs every instructor **test** cell (public and hidden) in a trusted process of its own
(:mod:`.tester`), never in the student's kernel. A name of the student's notebook that a test uses (the names the
assignment's answer cells define) is bound there to

* a :class:`RemoteFunction` if it is callable in the student's kernel: calling it sends the function's name and
  the arguments (pickled: trusted -> student, the student may do what it likes with them) to the kernel, which runs
  the student's function and sends the result back as **data**;
* the value itself, fetched as data, otherwise.

Results (student -> trusted) are decoded by :func:`decode` only: JSON for the structure, and inside it

============================  ==========================================================================
``None``, bool, int, str      as JSON
float                         ``{"float": float.hex(x)}`` (exact, also NaN and infinities)
list, tuple, dict             ``{"list": [...]}``, ``{"tuple": [...]}``, ``{"dict": [[key, value], ...]}``
NumPy array                   ``{"array": {"dtype", "shape", "data"}}``: raw bytes (base64) of one of the
                              dtypes in ``DTYPES``, rebuilt with ``np.frombuffer`` (never ``allow_pickle``)
NumPy scalar                  ``{"scalar": ...}`` (the same, 0-dimensional)
``matplotlib`` ``Figure``     ``{"figure": ...}``: a data summary (per axes: labels, title, whether it has a
                              legend, the lines' data, labels and styles), rebuilt with ``Figure()`` and
                              ``Axes.plot`` in the trusted process
============================  ==========================================================================

Anything else is refused (the test fails with a message naming the type): no assignment's answer returns another
object (a1-a4 return arrays, floats, tuples and lists of arrays, dicts and a figure). Nothing from the student's
side is ever unpickled, evaluated or imported. A reply is at most ``MAX_REPLY_BYTES`` long, nests at most
``MAX_DEPTH`` levels and has at most ``MAX_ITEMS`` entries; beyond, it is refused. An exception of the student's
function comes back as its type name and message and is raised here as :class:`RemoteError` (a subclass of the
builtin exception of that name when there is one, so ``except ValueError`` in a test still works).

``assert_own_code`` (:mod:`.checks`) on a :class:`RemoteFunction` reads the **cell sources** the grader holds
(:func:`own_code_problem`), not the live object in the student's process.
"""

from __future__ import annotations

import ast
import base64
import builtins
import math
import sys

__all__ = [
    "DTYPES",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_REPLY_BYTES",
    "RemoteDataError",
    "RemoteError",
    "RemoteFunction",
    "decode",
    "encode",
    "own_code_problem",
]

#: The largest reply (the JSON text of one result) the trusted side reads; a larger one is refused unread.
MAX_REPLY_BYTES = 32 * 2**20
#: How deeply a result may nest lists, tuples and dicts, and how many entries it may have in all.
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000
_MAX_STR = 100_000  # one string (a label, a dict key)
#: The array dtypes a result may carry (little-endian numbers and booleans; never ``object``).
DTYPES = frozenset(["|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8", "<c8", "<c16"])
_LINESTYLES = frozenset(["-", "--", "-.", ":", "None", "none", " ", "", "solid", "dashed", "dashdot", "dotted"])


class RemoteDataError(Exception):
    """A reply from the student's kernel that is not data the grader accepts."""


class RemoteError(Exception):
    """An exception raised by the student's function, in the student's kernel; ``remote_ename`` is its type name."""

    remote_ename = "Exception"


#: Builtin exceptions a remote error may also be an instance of (``except ValueError`` in a test).
_BUILTIN_ERRORS = {
    name: getattr(builtins, name)
    for name in (
        "ArithmeticError",
        "AssertionError",
        "AttributeError",
        "FloatingPointError",
        "IndexError",
        "KeyError",
        "LookupError",
        "MemoryError",
        "NameError",
        "NotImplementedError",
        "OverflowError",
        "RecursionError",
        "RuntimeError",
        "TypeError",
        "ValueError",
        "ZeroDivisionError",
    )
}
_ERROR_CLASSES: dict = {}


def remote_error(ename: str, evalue: str, where: str) -> RemoteError:
    """The exception to raise in the trusted process for an error of the student's function ``where``."""
    ename = str(ename)[:100] or "Exception"
    base = _BUILTIN_ERRORS.get(ename)
    if base is None:
        cls = RemoteError
    else:
        cls = _ERROR_CLASSES.get(ename)
        if cls is None:
            cls = _ERROR_CLASSES[ename] = type(ename, (RemoteError, base), {"__module__": "builtins"})
    text = str(evalue)[:2000]
    exc = cls(f"{text} (raised in your {where})" if text else f"raised in your {where}")
    exc.remote_ename = ename
    return exc


# --------------------------------------------------------------------------------------------------- the codec


def encode(value, _depth: int = 0):
    """``value`` as the JSON-able structure :func:`decode` reads (runs in the student's kernel; TypeError if the
    value is not data the grader accepts)."""
    import numpy as np

    if _depth > MAX_DEPTH:
        raise TypeError(f"the result nests deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, str)):
        return value if not isinstance(value, str) else str(value)
    if isinstance(value, np.ndarray):
        return {"array": _array_body(np.asarray(value))}
    if isinstance(value, np.generic):
        return {"scalar": _array_body(np.asarray(value))}
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return {"float": float(value).hex()}
    if isinstance(value, list):
        return {"list": [encode(v, _depth + 1) for v in value]}
    if isinstance(value, tuple):
        return {"tuple": [encode(v, _depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[encode(k, _depth + 1), encode(v, _depth + 1)] for k, v in value.items()]}
    fig = sys.modules.get("matplotlib.figure")
    if fig is not None and isinstance(value, fig.Figure):
        return {"figure": _figure_body(value)}
    raise TypeError(
        f"the grader cannot receive a {type(value).__name__[:60]} (results must be numbers, strings, arrays, "
        "lists, tuples, dicts or a matplotlib Figure)"
    )


def _array_body(arr) -> dict:
    import numpy as np

    if arr.dtype.kind == "O" or arr.dtype.str not in DTYPES and arr.dtype.newbyteorder("<").str not in DTYPES:
        raise TypeError(f"the grader cannot receive an array of dtype {arr.dtype}")
    arr = np.array(arr, dtype=arr.dtype.newbyteorder("<"), order="C", copy=True)  # (keeps a 0-d array 0-d)
    return {"dtype": arr.dtype.str, "shape": list(arr.shape), "data": base64.b64encode(arr.tobytes()).decode("ascii")}


def _figure_body(fig) -> dict:
    import numpy as np

    axes = []
    for ax in fig.axes:
        lines = []
        for ln in ax.get_lines():
            lines.append(
                {
                    "x": encode(np.asarray(ln.get_xdata(), dtype=float)),
                    "y": encode(np.asarray(ln.get_ydata(), dtype=float)),
                    "label": str(ln.get_label()),
                    "linestyle": str(ln.get_linestyle()),
                }
            )
        axes.append(
            {
                "xlabel": str(ax.get_xlabel()),
                "ylabel": str(ax.get_ylabel()),
                "title": str(ax.get_title()),
                "legend": ax.get_legend() is not None,
                "lines": lines,
            }
        )
    return {"axes": axes}


class _Budget:
    def __init__(self):
        self.items = 0

    def take(self, n: int = 1) -> None:
        self.items += n
        if self.items > MAX_ITEMS:
            raise RemoteDataError(f"the result has more than {MAX_ITEMS} entries")


def decode(text: str):
    """The value a reply of the student's kernel encodes (:func:`encode`), or :class:`RemoteDataError`.

    ``text`` is the JSON text; only the types of the module docstring come out, every array an exact, writable,
    C-contiguous ``np.ndarray`` of one of the ``DTYPES``."""
    import json

    if not isinstance(text, str):
        raise RemoteDataError("the reply is not text")
    if len(text) > MAX_REPLY_BYTES:
        raise RemoteDataError(f"the result is larger than the grader's limit of {MAX_REPLY_BYTES // 2**20} MB")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise RemoteDataError("the reply is not valid JSON (or nests too deeply)") from None
    return _decode(obj, 0, _Budget())


def _decode(obj, depth: int, budget: _Budget):
    budget.take()
    if depth > MAX_DEPTH:
        raise RemoteDataError(f"the result nests deeper than {MAX_DEPTH} levels")
    t = type(obj)
    if obj is None or t is bool:
        return obj
    if t is int:
        return int(obj)
    if t is str:
        if len(obj) > _MAX_STR:
            raise RemoteDataError(f"a string of the result is longer than {_MAX_STR} characters")
        return str(obj)
    if t is not dict or len(obj) != 1:
        raise RemoteDataError("the reply is not in the grader's format")
    ((tag, body),) = obj.items()
    if tag == "float":
        if type(body) is not str or len(body) > 40:
            raise RemoteDataError("a float of the result is malformed")
        try:
            return float.fromhex(body)
        except (ValueError, OverflowError):
            raise RemoteDataError("a float of the result is malformed") from None
    if tag in ("list", "tuple"):
        if type(body) is not list:
            raise RemoteDataError(f"a {tag} of the result is malformed")
        budget.take(len(body))
        items = [_decode(v, depth + 1, budget) for v in body]
        return items if tag == "list" else tuple(items)
    if tag == "dict":
        if type(body) is not list:
            raise RemoteDataError("a dict of the result is malformed")
        out = {}
        for pair in body:
            if type(pair) is not list or len(pair) != 2:
                raise RemoteDataError("a dict of the result is malformed")
            key = _decode(pair[0], depth + 1, budget)
            if not _hashable_key(key):
                raise RemoteDataError("a dict key of the result is not a number, string or tuple of those")
            out[key] = _decode(pair[1], depth + 1, budget)
        return out
    if tag == "array":
        return _decode_array(body, budget)
    if tag == "scalar":
        arr = _decode_array(body, budget)
        if arr.ndim != 0:
            raise RemoteDataError("a scalar of the result is malformed")
        return arr[()]
    if tag == "figure":
        return _decode_figure(body, budget)
    raise RemoteDataError(f"the result has an entry of unknown kind {str(tag)[:40]!r}")


def _hashable_key(key) -> bool:
    import numpy as np

    if key is None or type(key) in (bool, int, float, str) or isinstance(key, np.generic):
        return True
    return type(key) is tuple and all(_hashable_key(k) for k in key)


def _decode_array(body, budget: _Budget):
    import numpy as np

    if type(body) is not dict or set(body) != {"dtype", "shape", "data"}:
        raise RemoteDataError("an array of the result is malformed")
    dtype, shape, data = body["dtype"], body["shape"], body["data"]
    if type(dtype) is not str or dtype not in DTYPES:
        raise RemoteDataError(f"an array of the result has dtype {str(dtype)[:20]!r}, not one the grader accepts")
    if (
        type(shape) is not list
        or len(shape) > 32
        or not all(type(n) is int and 0 <= n <= MAX_REPLY_BYTES for n in shape)
    ):
        raise RemoteDataError("an array of the result has a malformed shape")
    if type(data) is not str:
        raise RemoteDataError("an array of the result is malformed")
    dt = np.dtype(dtype)
    size = math.prod(shape)
    budget.take(max(1, size // 64))
    if size * dt.itemsize > MAX_REPLY_BYTES:
        raise RemoteDataError("an array of the result is larger than the grader's limit")
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        raise RemoteDataError("an array of the result is malformed") from None
    if len(raw) != size * dt.itemsize:
        raise RemoteDataError("an array of the result does not have as many bytes as its shape says")
    return np.frombuffer(raw, dtype=dt).reshape(shape).astype(dt.newbyteorder("="), copy=True)


def _decode_figure(body, budget: _Budget):
    import numpy as np
    from matplotlib.figure import Figure

    def text(v, what):
        if type(v) is not str or len(v) > 1000:
            raise RemoteDataError(f"the figure's {what} is not a short string")
        return v

    if type(body) is not dict or type(body.get("axes")) is not list or len(body["axes"]) > 16:
        raise RemoteDataError("the figure is malformed")
    fig = Figure()
    n = len(body["axes"])
    for i, a in enumerate(body["axes"]):
        if type(a) is not dict or type(a.get("lines")) is not list or len(a["lines"]) > 200:
            raise RemoteDataError("the figure's axes are malformed")
        ax = fig.add_subplot(n, 1, i + 1)
        for ln in a["lines"]:
            if type(ln) is not dict:
                raise RemoteDataError("a line of the figure is malformed")
            x = _decode(ln.get("x"), 1, budget)
            y = _decode(ln.get("y"), 1, budget)
            if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.ndim == y.ndim == 1):
                raise RemoteDataError("a line of the figure is not two vectors")
            if x.shape != y.shape or x.dtype.kind not in "biuf" or y.dtype.kind not in "biuf":
                raise RemoteDataError("a line of the figure is not two vectors of numbers of the same length")
            style = ln.get("linestyle")
            ax.plot(
                x, y, label=text(ln.get("label", ""), "line label"), linestyle=style if style in _LINESTYLES else "-"
            )
        ax.set_xlabel(text(a.get("xlabel", ""), "x label"))
        ax.set_ylabel(text(a.get("ylabel", ""), "y label"))
        ax.set_title(text(a.get("title", ""), "title"))
        if a.get("legend") is True:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax.legend()
    return fig


# --------------------------------------------------------------------------------------------------- the proxies


class RemoteFunction:
    """A student's function, as the trusted test process sees it: calling it runs it in the student's kernel."""

    __slots__ = ("__name__", "_call", "_sources", "modified_arguments")

    def __init__(self, name: str, call, sources):
        self.__name__ = name
        self._call = call
        self._sources = sources
        #: after a call: the 1-based positions of the array arguments the function changed in place (in the kernel)
        self.modified_arguments = []

    def __call__(self, *args, **kwargs):
        self.modified_arguments = []
        value, self.modified_arguments = self._call(self.__name__, args, kwargs)
        return value

    def __repr__(self) -> str:
        return f"<your function {self.__name__} (run in your notebook's kernel)>"


# --------------------------------------------------------------------------------------------------- the source check


def _strip_magics(src: str) -> str:
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in src.split("\n"))


def _dotted(node):
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _imports(stmts):
    """{alias: dotted module path} of the import statements among ``stmts`` (walked)."""
    out = {}
    for node in stmts:
        for n in ast.walk(node):
            if isinstance(n, ast.Import):
                for a in n.names:
                    if a.asname:
                        out[a.asname] = a.name
                    else:
                        out[a.name.split(".")[0]] = a.name.split(".")[0]
            elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
                for a in n.names:
                    if a.name != "*":
                        out[a.asname or a.name] = f"{n.module}.{a.name}"
    return out


def _resolve(path: str):
    """The object ``path`` (``mappo_lite.kernels.softmax_rows``) names among the modules already imported in this
    process, without importing anything; None if it names nothing."""
    parts = path.split(".")
    for k in range(len(parts), 0, -1):
        mod = sys.modules.get(".".join(parts[:k]))
        if mod is None:
            continue
        obj = mod
        for p in parts[k:]:
            try:
                obj = getattr(obj, p)
            except Exception:
                return None
        return obj
    return None


_DYNAMIC = {"mappo_lite", "import_module", "__import__", "getattr", "globals", "vars", "eval", "exec", "importlib"}
#: Identifiers through which a function can reach any object without naming it (``sys.modules[...]``,
#: ``module.__dict__[...]``, ``getattr(obj, "name" + ...)``): an answer whose code (or a helper or value it uses)
#: contains one fails :func:`own_code_problem` outright, since no reading of the source can tell what it calls.
_UNCHECKABLE = {
    "modules",
    "__dict__",
    "__builtins__",
    "__getattribute__",
    "__import__",
    "import_module",
    "importlib",
    "getattr",
    "setattr",
    "globals",
    "vars",
    "eval",
    "exec",
    "compile",
}


#: The modules an answer may use: what the answers need (its calls into mappo_lite are resolved and checked against
#: the forbidden references); any other import in the answer's code fails the check (fail closed).
_READABLE_MODULES = {
    "numpy",
    "math",
    "cmath",
    "itertools",
    "functools",
    "collections",
    "operator",
    "typing",
    "dataclasses",
    "scipy",
    "matplotlib",
    "IPython",
    "mappo_lite",
    "__future__",
}


#: Names through which a cell can change how the kernel answers the grader's calls (replace the handler that runs
#: the student's function, so that an innocent-looking def is never what answers): if any cell uses one, no answer
#: of the notebook passes the source check.
_KERNEL_TAMPERING = {
    "get_ipython",
    "shell_handlers",
    "control_handlers",
    "__self__",
    "_getframe",
    "settrace",
    "setprofile",
    "ctypes",
    "gc",
    "__code__",
    "__globals__",
    "__closure__",
    "__class__",
    "__subclasses__",
    "__mro__",
    "__bases__",
}


def _targets(node) -> list[str]:
    """The names a binding target binds (``a``, ``a, b``, ``*a``, ``[a, (b, c)]``)."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    if isinstance(node, (ast.Tuple, ast.List)):
        return [n for elt in node.elts for n in _targets(elt)]
    return []


def _other_bindings(tree, name: str) -> list[str]:
    """How module-scope code of one cell binds ``name`` other than by a def or a plain ``name = value``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if (a.asname or a.name.split(".")[0]) == name:
                    found.append("an import")
        elif isinstance(node, ast.Assign):
            if any(not isinstance(t, ast.Name) and name in _targets(t) for t in node.targets):
                found.append("a tuple or starred assignment")
        elif isinstance(node, ast.AugAssign) and name in _targets(node.target):
            found.append("an augmented assignment")
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) and name in _targets(node.target):
            found.append("a loop target")
        elif isinstance(node, (ast.With, ast.AsyncWith)) and any(
            name in _targets(item.optional_vars) for item in node.items if item.optional_vars is not None
        ):
            found.append("a with target")
        elif isinstance(node, ast.NamedExpr) and name in _targets(node.target):
            found.append("an assignment expression")
        elif isinstance(node, ast.ExceptHandler) and node.name == name:
            found.append("an except clause")
        elif isinstance(node, (ast.Global, ast.Nonlocal)) and name in node.names:
            found.append("a global statement in a function")
        elif isinstance(node, ast.Delete) and name in [n for t in node.targets for n in _targets(t)]:
            found.append("a del statement")
        elif hasattr(ast, "MatchAs") and isinstance(node, ast.MatchAs) and node.name == name:
            found.append("a match pattern")
    return found


def own_code_problem(name: str, sources, forbidden, depth: int = 3):
    """Why the student's function ``name`` (as defined in the cell ``sources``, in the order they ran) is not its
    own code — it refers to one of ``forbidden`` — or None.

    The same heuristic as :func:`.checks.assert_own_code` on a live function, from the source: every name and
    attribute chain the function's body uses, resolved through the notebook's imports and top-level assignments
    (``from mappo_lite.kernels import softmax_rows as sr``, ``import mappo_lite.kernels as K``), and through the
    notebook's functions it calls (``depth`` levels); a forbidden function's *name* counts too when the code imports
    from ``mappo_lite`` or uses dynamic lookups (``getattr``, ``import_module``, ...)."""
    trees = []
    for src in sources:
        try:
            trees.append(ast.parse(_strip_magics(src)))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    top_imports, defs, assigned = {}, {}, {}
    for tree in trees:
        top_imports.update(_imports([s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]))
        for s in tree.body:
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defs.setdefault(s.name, []).append(s)
            elif isinstance(s, ast.Assign):
                for t in s.targets:
                    if isinstance(t, ast.Name):
                        assigned.setdefault(t.id, []).append(s.value)
            elif isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name) and s.value is not None:
                assigned.setdefault(s.target.id, []).append(s.value)
    # Fail closed: the answer must be a def (or a plain assignment) whose code the check can read. Any other way of
    # binding the name (an import, a loop or with target, a walrus, a tuple target, a `global` in a function...)
    # is a way to hand in the library's function under the answer's name.
    other = [kind for tree in trees for kind in _other_bindings(tree, name)]
    if other:
        return f"{name} is bound by {other[0]}, not defined by a def in your answer cells"
    if name not in defs and name not in assigned:
        return f"{name} is not defined by a def in your answer cells"
    refs, idents, strings, local_imports = set(), set(), set(), {}
    seen, todo = set(), [(node, 0) for node in defs.get(name, []) + assigned.get(name, [])]
    while todo:
        node, d = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        local_imports.update(_imports([node]))
        for n in ast.walk(node):
            if isinstance(n, (ast.Attribute, ast.Name)):
                path = _dotted(n)
                if path:
                    refs.add(path)
                idents.add(n.attr if isinstance(n, ast.Attribute) else n.id)
            elif isinstance(n, ast.Constant) and isinstance(n.value, str) and len(n.value) < 200:
                strings.add(n.value)
            elif isinstance(n, (ast.Import, ast.ImportFrom)):
                for a in n.names:
                    idents.update(a.name.split("."))
                    refs.add(a.name if isinstance(n, ast.Import) else f"{n.module}.{a.name}")
                if isinstance(n, ast.ImportFrom) and n.module:
                    idents.update(n.module.split("."))
            if isinstance(n, ast.Name) and d < depth:
                for sub in defs.get(n.id, []) + assigned.get(n.id, []):
                    todo.append((sub, d + 1))
    aliases = dict(top_imports)
    aliases.update(local_imports)
    objects = []
    for path in refs:
        head, _, rest = path.partition(".")
        full = aliases.get(head, head if head == "mappo_lite" else None)  # an import statement's own path
        if full is None:
            continue
        full = full + ("." + rest if rest else "")
        parts = full.split(".")
        for k in range(1, len(parts) + 1):  # every prefix: K.softmax_rows(...) names the module K and the function
            obj = _resolve(".".join(parts[:k]))
            if obj is not None:
                objects.append(obj)
    tampering = sorted(
        {
            n.id if isinstance(n, ast.Name) else n.attr
            for tree in trees
            for n in ast.walk(tree)
            if (isinstance(n, ast.Name) and n.id in _KERNEL_TAMPERING)
            or (isinstance(n, ast.Attribute) and n.attr in _KERNEL_TAMPERING)
        }
    )
    if tampering:  # anywhere in the notebook: a handler can answer the calls for an innocent-looking def
        return f"{name} cannot be checked: the notebook reaches into the kernel ({', '.join(tampering)})"
    stars = [
        n.module or "."
        for tree in trees
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names)
    ]
    if stars:
        return f"{name} cannot be checked: the notebook uses 'from {stars[0]} import *'"
    for path in refs:  # a module the check cannot read (one the notebook wrote to disk, pickle, runpy...)
        head = path.partition(".")[0]
        top = (aliases.get(head) or "").partition(".")[0]
        if top and top not in _READABLE_MODULES:
            return f"{name} uses the module {top!r}, which the grader cannot check: use NumPy and math"
    hidden = sorted(idents & _UNCHECKABLE)
    if hidden:
        return f"{name} uses dynamic lookups the grader cannot check ({', '.join(hidden)})"
    dynamic = bool(idents & _DYNAMIC)
    for bad in forbidden:
        bad_name = getattr(bad, "__name__", None)
        hit = any(o is bad for o in objects)
        if not hit and dynamic and bad_name:
            # by name: an import or a lookup the resolution above cannot follow (the notebook's own function of
            # that name does not count, a string naming it does)
            hit = (bad_name in idents and bad_name not in defs) or bad_name in strings
        if hit:
            return f"{name} calls {getattr(bad, '__module__', '?')}.{bad_name}, the library's version of the answer"
    return None
