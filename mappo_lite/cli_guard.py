"""What keeps the command line's promise: one line ``mappo_lite: error: …``, exit status 2, nothing written.

* **Strict numbers.** :func:`count`, :func:`seed`, :func:`real` parse option values (argparse ``type=``): integers
  are whole numbers written as such ("5", not "5.0" or "1e3"), counts lie in 1..``MAX_COUNT``, seeds in
  0..``MAX_SEED``, reals are finite unless the option allows ``inf``, and each option's range is checked there.
* **Built-in game parameters** (``--param NAME=VALUE``, :func:`game_params`): the value is JSON; a parameter whose
  default is a number must be a finite number of that type (an int default needs a whole number, ``seed`` a
  non-negative one; ``null``, lists, strings, ``NaN`` and ``Infinity`` are refused), a bool default needs ``true`` or
  ``false``; other parameters (gridworld's ``goals``, ``start``) pass to the game, which checks them.
* **Memory and horizon** (:mod:`mappo_lite.limits`): requests are estimated before anything large is allocated.
* **Output** (:func:`emit`): every number printed must be finite (``"J_star": Infinity`` is not JSON), and a
  stdout that is closed or fails is an error, not lost output.
* **Divergence** (:func:`diverged`): NaN or infinite parameters during training are reported with the option at
  fault.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys

from .errors import MappoLiteError

#: Counts (K, T, n, rollouts, dimensions) are integers in 1..MAX_COUNT (2^53: every one is exact as a float).
MAX_COUNT = 2**53
#: Seeds are integers in 0..MAX_SEED.
MAX_SEED = 2**63 - 1
#: The largest number of agents a built-in random game may have (NumPy arrays have at most 64 axes; P has N + 2).
MAX_AGENTS = 62

_INT = re.compile(r"\s*[+-]?[0-9]+\s*")


def _whole(text: str):
    """``int(text)`` for a decimal integer written as such, else None (also for more than 4300 digits)."""
    if not _INT.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:
        return None


def count(name: str, maximum: int = MAX_COUNT):
    """argparse type: a positive integer at most ``maximum``."""

    def conv(text):
        v = _whole(text)
        if v is None or not 1 <= v <= maximum:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer (at most {maximum:.3g}), got {text!r}")
        return v

    return conv


def seed(name: str = "seed"):
    """argparse type: an integer in 0..MAX_SEED."""

    def conv(text):
        v = _whole(text)
        if v is None or not 0 <= v <= MAX_SEED:
            raise argparse.ArgumentTypeError(f"{name} must be an integer from 0 to 2^63-1, got {text!r}")
        return v

    return conv


def whole(name: str, low: int, high: int):
    """argparse type: an integer in low..high."""

    def conv(text):
        v = _whole(text)
        if v is None or not low <= v <= high:
            raise argparse.ArgumentTypeError(f"{name} must be an integer from {low} to {high}, got {text!r}")
        return v

    return conv


def real(
    name: str,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
):
    """argparse type: a number in the interval (bounds open or closed); ``inf`` only with ``allow_inf``."""

    def conv(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if math.isnan(v) or (math.isinf(v) and not (allow_inf and v > 0)):
            extra = " (or inf)" if allow_inf else ""
            raise argparse.ArgumentTypeError(f"{name} must be a finite number{extra}, got {text!r}")
        if v < low or v > high or (low_open and v == low) or (high_open and v == high):
            lo = "(" if low_open else "["
            hi = ")" if high_open else "]"
            interval = f"{lo}{low:g}, {high:g}{hi}" if math.isfinite(high) else f"{lo}{low:g}, inf)"
            if low == 0 and low_open and not math.isfinite(high):
                raise argparse.ArgumentTypeError(
                    f"{name} must be a positive number{' (or inf)' if allow_inf else ''}, got {text!r}"
                )
            raise argparse.ArgumentTypeError(f"{name} must be in {interval}, got {text!r}")
        return v

    return conv


def memory_size(text):
    """argparse type of ``--max-memory``: a size (see :func:`mappo_lite.limits.parse_size`)."""
    from .limits import parse_size

    try:
        return parse_size(text)
    except MappoLiteError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_max_memory(parser, what: str = "requests") -> None:
    """The ``--max-memory SIZE`` option of a subcommand (:func:`memory_size`; ``None`` when not given: the
    environment's or the default limit, :mod:`mappo_lite.limits`)."""
    from .limits import ENV_VAR

    parser.add_argument(
        "--max-memory",
        type=memory_size,
        default=None,
        metavar="SIZE",
        help=f"refuse {what} estimated to need more memory (default ${ENV_VAR} or 1G; e.g. 512M, 8G)",
    )


def feature_dim(spec: str):
    """D of ``--features random:D`` (None for ``tabular`` and the other families), strictly parsed."""
    from .policies.families import FAMILIES

    if spec in FAMILIES:
        return None
    if spec.startswith("random:"):
        d = _whole(spec.split(":", 1)[1])
        if d is None or not 1 <= d <= MAX_COUNT:
            raise MappoLiteError(f"--features random:D needs a positive integer D, got {spec!r}")
        return d
    raise MappoLiteError(f"unknown --features {spec!r}: use {', '.join(FAMILIES)}")


# ----- built-in game parameters --------------------------------------------------------------------------------------
def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _coerce(game: str, key: str, value, default):
    where = f"--param {key} of {game!r}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise MappoLiteError(f"{where} must be true or false, got {value!r}")
        return value
    if key == "n_actions" and game == "random":
        items = value if isinstance(value, list) else [value]
        if not items or not all(_number(a) and math.isfinite(a) and float(a).is_integer() and a >= 1 for a in items):
            raise MappoLiteError(f"{where} must be a positive integer or a list of positive integers, got {value!r}")
        out = [int(a) for a in items]
        return out if isinstance(value, list) else out[0]
    if isinstance(default, int):
        if not (_number(value) and math.isfinite(value) and float(value).is_integer()):
            raise MappoLiteError(f"{where} must be a whole number, got {json.dumps(value)}")
        v = int(value)
        if key == "seed" and not 0 <= v <= MAX_SEED:
            raise MappoLiteError(f"{where} must be an integer from 0 to 2^63-1, got {v}")
        if game == "random" and key in ("n_states", "n_agents") and v < 1:
            raise MappoLiteError(f"{where} must be at least 1, got {v}")
        if game == "random" and key == "n_agents" and v > MAX_AGENTS:
            raise MappoLiteError(f"{where} must be at most {MAX_AGENTS}, got {v}")
        return v
    if isinstance(default, float):
        if not (_number(value) and math.isfinite(value)):
            raise MappoLiteError(f"{where} must be a finite number, got {json.dumps(value)}")
        return float(value)
    return value


def parse_param(text: str):
    """argparse type of ``--param``: ``(NAME, value)``, the value parsed as JSON (else kept as a string)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param needs NAME=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed = json.loads(value)
    except (json.JSONDecodeError, RecursionError):
        parsed = value
    return key.strip(), parsed


def game_params(game: str, pairs) -> dict:
    """``--param`` pairs for a built-in game, each checked against the type of its default (see the docstring)."""
    params = dict(pairs or [])
    if not params:
        return params
    from .games.catalogue import GAMES, game_parameters

    if game not in GAMES:
        return params
    defaults = game_parameters(game)
    return {k: (_coerce(game, k, v, defaults[k]) if k in defaults else v) for k, v in params.items()}


# ----- output -------------------------------------------------------------------------------------------------------
def _non_finite(obj, path="result"):
    if isinstance(obj, float):
        return None if math.isfinite(obj) else (path, obj)
    if isinstance(obj, dict):
        for k, v in obj.items():
            bad = _non_finite(v, f"{k}" if path == "result" else f"{path}.{k}")
            if bad:
                return bad
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            bad = _non_finite(v, f"{path}[{i}]")
            if bad:
                return bad
    return None


def check_finite(obj) -> None:
    """MappoLiteError when any float in ``obj`` (dicts, lists) is NaN or infinite."""
    bad = _non_finite(obj)
    if bad:
        raise MappoLiteError(
            f"the result is not finite ({bad[0]} = {bad[1]}): the game's values overflow double precision; "
            "rescale the rewards"
        )


def _inf_as_text(params):
    return {
        k: (("inf" if v > 0 else "-inf") if isinstance(v, float) and math.isinf(v) else v) for k, v in params.items()
    }


def emit(obj, as_json: bool, text: str) -> None:
    """Print the result (one JSON document or the text) after checking it is finite; a closed or failing stdout is
    a MappoLiteError. Options that may be infinite (``radius``, ``L``, ``lam``) appear in ``params`` as the string
    ``"inf"`` (JSON has no infinity)."""
    if isinstance(obj, dict) and isinstance(obj.get("params"), dict):
        obj = {**obj, "params": _inf_as_text(obj["params"])}
    check_finite(obj)
    out = json.dumps(obj, allow_nan=False) if as_json else text
    stream = sys.stdout
    if stream is None:
        raise MappoLiteError("cannot write the result: stdout is closed")
    try:
        stream.write(out + "\n")
        stream.flush()
    except (OSError, ValueError) as exc:
        _silence_stdout()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise MappoLiteError(f"cannot write the result to stdout: {reason}") from None


def _silence_stdout() -> None:
    """Point a failed stdout at /dev/null so that the interpreter's final flush does not print a second error."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
    except OSError:
        pass


def require_dense(game, what: str) -> None:
    """MappoLiteError when ``what`` needs the dense tensor P and ``game`` is in the sparse form."""
    if not hasattr(game, "P_flat"):
        raise MappoLiteError(
            f"{what} needs a dense game (P); {game.name!r} is in the sparse form (next_states, "
            "probs): convert it with game.to_dense() and save it again"
        )


# ----- divergence ---------------------------------------------------------------------------------------------------
def diverged(exc: Exception, args) -> MappoLiteError | None:
    """The error to report when training produced NaN or infinite parameters, naming the option at fault."""
    text = str(exc)
    if "NaN or infinite" not in text:
        return None
    algo = getattr(args, "algo", "mappo")
    cmd = getattr(args, "command", "train")
    if cmd == "train" and (algo == "independent-pg" or (algo == "mappo" and args.solver == "sgd")):
        eta = args.eta if args.eta is not None else (0.1 if algo == "independent-pg" else 0.25)
        what = "gradient" if algo == "independent-pg" else "SGD"
        return MappoLiteError(
            f"training diverged: the parameters became NaN or infinite ({text}); the {what} stepsize --eta {eta:g} "
            f"is too large for this game (try a smaller --eta{', at most 0.5' if what == 'SGD' else ''})"
        )
    return MappoLiteError(
        f"training diverged: the parameters became NaN or infinite ({text}); the penalty --beta {args.beta:g} is "
        "too small for the size of the rewards (the step is Q/beta_k with beta_k = beta*sqrt(K): try a larger --beta)"
    )
