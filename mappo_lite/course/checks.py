"""Small helpers the assignments' test cells use: clear failure messages and a guard against calling the answer.

A test cell fails by raising; its message is the feedback the student gets (``grade`` prints the first line).
"""

from __future__ import annotations

import builtins
import types

import numpy as np

__all__ = ["assert_close", "assert_shape", "assert_own_code", "assert_unmodified", "referenced_objects"]


_NUMBERS = (bool, int, float)


def _plain_numbers(value, depth: int = 0) -> bool:
    """Whether ``value`` is plain data that NumPy converts without running any code of the notebook: an exact
    ``ndarray`` of numbers, a Python or NumPy number, or (nested) exact lists and tuples of those. An object whose
    ``__array__``, ``__float__`` or ``__len__`` the student wrote could look at the test's frames and return the
    expected value; a subclass of ``float`` or ``ndarray`` could lie to the comparison."""
    t = type(value)
    if t is np.ndarray:
        return value.dtype.kind in "biuf"
    if t in _NUMBERS or (isinstance(value, np.generic) and t.__module__ == "numpy" and value.dtype.kind in "biuf"):
        return True
    if t in (list, tuple) and depth < 32:
        return all(_plain_numbers(v, depth + 1) for v in value)
    return False


def assert_shape(value, shape, what: str = "result") -> np.ndarray:
    """``value`` as an array with exactly this shape (else AssertionError naming ``what``)."""
    if not _plain_numbers(value):
        raise AssertionError(f"{what} must be a NumPy array (or a list) of numbers, got {type(value).__name__[:60]}")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise AssertionError(f"{what} must be an array of numbers, got {type(value).__name__}") from None
    if arr.shape != tuple(shape):
        raise AssertionError(f"{what} has shape {arr.shape}, expected {tuple(shape)}")
    return arr


def assert_close(actual, expected, what: str = "result", rtol: float = 1e-8, atol: float = 1e-10) -> None:
    """Same shape and ``np.allclose``; the message gives the largest difference and where it is.

    ``atol`` is relative to the scale of ``expected``: the allowance is ``atol * max(1, max|expected|)`` (plus
    ``rtol * |expected|`` entrywise, as in ``np.allclose``), so an entry that is 0 in an array of values of size
    100 is allowed the rounding of the size-100 computation that produced it, on any CPU or BLAS kernel.
    """
    exp = np.asarray(expected, dtype=float)
    act = assert_shape(actual, exp.shape, what)
    if not np.all(np.isfinite(act)):
        raise AssertionError(f"{what} contains NaN or infinite values")
    scale = max(1.0, float(np.abs(exp).max())) if exp.size and np.all(np.isfinite(exp)) else 1.0
    if not np.allclose(act, exp, rtol=rtol, atol=atol * scale):
        diff = np.abs(act - exp)
        where = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
        raise AssertionError(
            f"{what} is wrong: largest difference {float(diff.max()):.3g} at index {tuple(int(i) for i in where)} "
            f"(got {float(act[where]):.6g}, expected {float(exp[where]):.6g})"
        )


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def referenced_objects(func, depth: int = 3) -> list:
    """The global objects ``func`` (and the functions of the same notebook it calls, ``depth`` levels deep)
    refers to by name, plus the attributes it reads from referenced modules."""
    seen, out, todo = set(), [], [(func, 0)]
    while todo:
        f, d = todo.pop()
        if id(f) in seen or not isinstance(f, types.FunctionType):
            continue
        seen.add(id(f))
        names = set()
        for code in _code_objects(f.__code__):
            names.update(code.co_names)
        glb = f.__globals__
        modules = []
        for name in names:
            if name in glb:
                obj = glb[name]
            elif hasattr(builtins, name):
                continue
            else:
                continue
            out.append(obj)
            if isinstance(obj, types.ModuleType):
                modules.append(obj)
            elif isinstance(obj, types.FunctionType) and obj.__module__ == f.__module__ and d < depth:
                todo.append((obj, d + 1))
        for mod in modules:
            for name in names:
                if hasattr(mod, name):
                    sub = getattr(mod, name)
                    out.append(sub)
                    if isinstance(sub, types.ModuleType):
                        for n2 in names:
                            if hasattr(sub, n2):
                                out.append(getattr(sub, n2))
        if any(n.split(".")[0] == "mappo_lite" or n in ("import_module", "__import__") for n in names):
            out.append(("imports", names))
    return out


def assert_own_code(func, *forbidden) -> None:
    """Fail if ``func`` calls one of ``forbidden`` (library functions that *are* the answer).

    A heuristic on the names the function's code uses (also through modules, e.g. ``kernels.softmax_rows``, an
    import inside the function, and helper functions defined in the notebook): enough to catch the honest
    shortcut, not a sandbox.

    In the grader, ``func`` is a :class:`~.remote.RemoteFunction` (the student's function stays in the student's
    kernel): the same check then reads the notebook's cell sources (:func:`~.remote.own_code_problem`).
    """
    from .remote import RemoteFunction, own_code_problem

    if isinstance(func, RemoteFunction):
        problem = own_code_problem(func.__name__, func._sources, forbidden)
        if problem is not None:
            raise AssertionError(f"{problem}: write your own implementation")
        return
    refs = referenced_objects(func)
    names_in_imports = set()
    for r in refs:
        if isinstance(r, tuple) and r and r[0] == "imports":
            names_in_imports |= set(r[1])
    for bad in forbidden:
        hit = any(r is bad for r in refs if not isinstance(r, tuple))
        bad_name = getattr(bad, "__name__", None)
        if not hit and bad_name and bad_name in names_in_imports:
            hit = True
        if hit:
            where = f"{getattr(bad, '__module__', '?')}.{bad_name}"
            raise AssertionError(
                f"{func.__name__} calls {where}, the library's version of the answer: write your own implementation"
            )


def assert_unmodified(func, *args, what: str = "the function must not modify its arguments"):
    """Call ``func(*args)`` and fail if it changed one of its array arguments in place; returns the result.

    For a student's function seen from the grader's test process (:class:`~.remote.RemoteFunction`) the check is made
    where the function ran, on what the kernel sent back (the test's own arrays are never overwritten); for a live
    function, on copies taken before the call."""
    copies = [np.array(a, copy=True) if isinstance(a, np.ndarray) else None for a in args]
    result = func(*args)
    modified = getattr(func, "modified_arguments", None)
    if modified is None:
        modified = [
            i + 1
            for i, (a, c) in enumerate(zip(args, copies))
            if c is not None and not np.array_equal(a, c, equal_nan=c.dtype.kind in "fc")
        ]
    if modified:
        raise AssertionError(f"{what}: argument(s) {', '.join(map(str, modified))} changed in place")
    return result
