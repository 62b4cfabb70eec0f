"""Every argument check of the library, and its one error type.

Each function returns the clean value (a float, an int, a float64 array) or raises
:class:`~mappo_lite.errors.MappoLiteError` (a :class:`ValueError`) with a one-line message naming the argument,
so the command line can print it and exit with status 2. Check once, where a value enters (a public function's first
line, a constructor, the CLI), and pass the checked value inward: inner loops do not re-validate.

Checks that only make sense for one object (a gridworld's goal cells, a critic's feature matrix) stay next to that
object and are built from these.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import MappoLiteError

__all__ = [
    "PROB_ATOL",
    "MappoLiteError",
    "as_float_array",
    "as_int_array",
    "check_agent",
    "check_agent_order",
    "check_choice",
    "check_count",
    "check_distribution",
    "check_game",
    "check_gamma",
    "check_gamma_rows",
    "check_int",
    "check_lam_L",
    "check_nonnegative",
    "check_nonnegative_int",
    "check_positive",
    "check_probability_array",
    "check_radius",
    "check_real",
]

#: Tolerance for "sums to 1" checks on probabilities.
PROB_ATOL = 1e-9


# ----- arrays ------------------------------------------------------------------------------------------------------
def as_float_array(x, name: str, shape: tuple | None = None) -> np.ndarray:
    """A C-contiguous float64 copy of ``x`` with finite entries (and the given ``shape``), else MappoLiteError.

    Only real numbers are accepted: complex values (whose imaginary part a cast would drop), strings, bytes,
    booleans, datetimes and other objects are refused rather than converted."""
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise MappoLiteError(f"{name} must be an array of numbers ({exc})") from None
    if raw.dtype.kind not in "iuf":
        raise MappoLiteError(f"{name} must be an array of numbers (real ones; got dtype {raw.dtype})")
    arr = np.array(raw, dtype=np.float64, order="C", copy=True)
    if shape is not None and arr.shape != shape:
        raise MappoLiteError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise MappoLiteError(f"{name} contains NaN or infinite values")
    return arr


def as_int_array(x, name: str) -> np.ndarray:
    """``x`` as int64 (integers, or floats with no fractional part), else MappoLiteError."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError):
        raise MappoLiteError(f"{name} must be an integer array") from None
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return arr.astype(np.int64)
    raise MappoLiteError(f"{name} must hold integers, got dtype {arr.dtype}")


def check_distribution(p, name: str, size: int | None = None) -> np.ndarray:
    """``p`` as a float64 vector after checking it is a probability distribution (of length ``size``)."""
    arr = as_float_array(p, name)
    if arr.ndim != 1:
        raise MappoLiteError(f"{name} must be a vector, got shape {arr.shape}")
    if size is not None and arr.shape[0] != size:
        raise MappoLiteError(f"{name} must have length {size}, got {arr.shape[0]}")
    if np.any(arr < 0):
        raise MappoLiteError(f"{name} has negative probabilities")
    if abs(arr.sum() - 1.0) > PROB_ATOL * max(1, arr.size):
        raise MappoLiteError(f"{name} must sum to 1, sums to {arr.sum():.12g}")
    return arr


def check_probability_array(value, name: str, shape: tuple) -> np.ndarray:
    """A float64 array of the given ``shape`` whose entries are ≥ 0 and sum to 1 (all of them together)."""
    arr = as_float_array(value, name, shape)
    if np.any(arr < 0.0):
        raise MappoLiteError(f"{name} must be a probability distribution (negative entry)")
    if abs(arr.sum() - 1.0) > PROB_ATOL:
        raise MappoLiteError(f"{name} must sum to 1, sums to {arr.sum()!r}")
    return arr


# ----- games -------------------------------------------------------------------------------------------------------
def check_gamma(gamma) -> float:
    """``gamma`` as a float after checking it is a finite number in [0, 1]."""
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise MappoLiteError(f"gamma must be a number, got {gamma!r}") from None
    if not math.isfinite(g) or g < 0.0 or g > 1.0:
        raise MappoLiteError(f"gamma must be in [0, 1), or exactly 1 for stopping games, got {gamma!r}")
    return g


def check_gamma_rows(row_sums: np.ndarray, gamma: float, S: int) -> None:
    """Rows of P sum to 1 when ``gamma`` < 1; to strictly less than 1 (a stopping game) when ``gamma`` = 1."""
    if gamma < 1.0:
        worst = float(np.max(np.abs(row_sums - 1.0)))
        if worst > PROB_ATOL * max(1, S):
            raise MappoLiteError(
                f"every row of P must sum to 1 when gamma < 1 (largest deviation {worst:.3g}); "
                "rows summing to less than 1 (stopping games) need gamma = 1"
            )
    else:
        if np.any(row_sums > 1.0 + PROB_ATOL * max(1, S)):
            raise MappoLiteError("rows of P sum to more than 1")
        if np.any(row_sums >= 1.0 - 1e-12):
            raise MappoLiteError(
                "gamma must be in [0, 1); gamma = 1 is allowed only when every row of P sums to strictly "
                "less than 1 (the episode must stop with positive probability)"
            )


def check_game(game):
    """A game object (dense or sparse: any :class:`~mappo_lite.games.base.MarkovGameBase`), else MappoLiteError."""
    # Imported here: the game classes themselves use the checks above (games.base imports nothing of ours).
    from .games.base import MarkovGameBase

    if not isinstance(game, MarkovGameBase):
        raise MappoLiteError(f"expected a CooperativeMarkovGame, got {type(game).__name__}")
    return game


# ----- numbers -----------------------------------------------------------------------------------------------------
def check_positive(value, name: str) -> float:
    """A positive finite real number (not a bool, not a string), else MappoLiteError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise MappoLiteError(f"{name} must be a positive number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise MappoLiteError(f"{name} must be a positive finite number, got {value!r}")
    return v


def check_nonnegative(value, name: str) -> float:
    """A finite real number ≥ 0 (not a bool), else MappoLiteError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise MappoLiteError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0.0:
        raise MappoLiteError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def check_count(value, name: str) -> int:
    """A positive whole number (an int, or a float with no fractional part; not a bool or a string), else
    MappoLiteError naming ``name``."""
    try:
        ok = (
            isinstance(value, numbers.Real)
            and not isinstance(value, bool)
            and float(value).is_integer()
            and int(value) >= 1
        )
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise MappoLiteError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_nonnegative_int(value, name: str) -> int:
    """An integer ≥ 0 (an :class:`numbers.Integral`, not a bool), else MappoLiteError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise MappoLiteError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def check_int(value, name: str, low: int, high: int | None = None) -> int:
    """An integer in ``low..high`` (``high`` None: no upper bound), else MappoLiteError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise MappoLiteError(f"{name} must be an int, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise MappoLiteError(f"{name} must be {bound}, got {value}")
    return value


def check_agent(m, n_agents: int, name: str = "agent index m", allow_zero: bool = False) -> int:
    """Agent m of the book, an int in ``1..n_agents`` (``0..n_agents`` with ``allow_zero``, for the empty prefix of
    :math:`Q^{1:0} = V`), else MappoLiteError. Agents are numbered from 1 everywhere in the public API, so ``m = 0``
    (or ``-1``) never silently means the last agent."""
    if isinstance(m, bool) or not isinstance(m, numbers.Integral):
        raise MappoLiteError(f"{name} must be an int, got {m!r}")
    m, low = int(m), 0 if allow_zero else 1
    if not low <= m <= n_agents:
        raise MappoLiteError(f"{name} must be in {low}..{n_agents} (agents are numbered from 1), got {m}")
    return m


def check_agent_order(order, n_agents: int, name: str = "order") -> list[int]:
    """A permutation of the agents ``1..n_agents`` (book numbering) as a list of ints, else MappoLiteError."""
    try:
        items = list(order)
    except TypeError:
        raise MappoLiteError(f"{name} must be a permutation of 1..{n_agents}, got {order!r}") from None
    if any(isinstance(i, bool) or not isinstance(i, numbers.Integral) for i in items) or sorted(
        int(i) for i in items
    ) != list(range(1, n_agents + 1)):
        raise MappoLiteError(
            f"{name} must be a permutation of 1..{n_agents} (agents are numbered from 1), got {order!r}"
        )
    return [int(i) for i in items]


def check_real(value, name: str, low: float, high: float, high_open: bool = False) -> float:
    """A finite real number in ``[low, high]`` (or ``[low, high)``), else MappoLiteError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise MappoLiteError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < low or value > high or (high_open and value == high):
        interval = f"[{low:g}, {high:g})" if high_open else f"[{low:g}, {high:g}]"
        raise MappoLiteError(f"{name} must be in {interval}, got {value!r}")
    return value


def check_radius(radius) -> float:
    """R of the parameter ball: a positive number, or ``inf`` for no constraint (NaN is refused)."""
    try:
        R = float(radius)
    except (TypeError, ValueError):
        raise MappoLiteError(f"radius R must be a positive number, got {radius!r}") from None
    if math.isnan(R) or R <= 0:
        raise MappoLiteError(f"radius R must be positive, got {radius!r}")
    return R


def check_lam_L(lam, L) -> tuple[float, float]:
    """The pessimism weight λ and the critic-weight radius L of the pessimistic evaluator: each positive or inf."""
    try:
        lam, L = float(lam), float(L)
    except (TypeError, ValueError):
        raise MappoLiteError(f"lambda and L must be numbers, got {lam!r} and {L!r}") from None
    if not lam > 0:  # also rejects NaN
        raise MappoLiteError(f"lambda must be a positive number (or inf), got {lam!r}")
    if not L > 0:
        raise MappoLiteError(f"L must be a positive number (or inf), got {L!r}")
    return lam, L


def check_choice(value, name: str, choices) -> str:
    """One of ``choices``, else MappoLiteError listing them."""
    if value not in choices:
        raise MappoLiteError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value
