r"""The memory limit of a request, and the numerical limit on the horizon :math:`1/(1-\gamma)`.

**Memory.** Before anything large is allocated, the command line estimates the bytes a request needs (the game's
arrays and their validated copies, the evaluation's :math:`S\times S` solve, the iterates' records, samples, features,
datasets and critics: :func:`request_bytes`) and refuses it, with one error line, when the estimate exceeds the limit.
The limit is ``DEFAULT_MAX_BYTES`` (1 GiB) unless the environment variable ``MAPPO_LITE_MAX_BYTES`` or the command
line option ``--max-memory`` sets another one (a number of bytes, optionally with a suffix K, M, G or T: powers of
1024). The same limit caps what :mod:`mappo_lite.safe_npz` decompresses from a game or dataset file (three times the
declared array bytes must fit: the arrays read, their validated copies and one temporary of the same size), also when
:func:`~mappo_lite.games.load_game` is called from Python.

The estimates are deliberately generous upper bounds of the large arrays only (about 160 MB of interpreter,
NumPy, SciPy and numba come on top); they are not a promise that a request below the limit runs fast.

**Horizon.** Double precision solves :math:`(I-\gamma P_\pi)V = r_\pi` with a relative error of about
:math:`10^{-16}/(1-\gamma_{\mathrm{eff}})`, where :math:`\gamma_{\mathrm{eff}} = \gamma\max_{s,\mathbf a}\sum_{s'}P(s'|s,\mathbf a)`.
:func:`check_horizon` refuses games with :math:`1-\gamma_{\mathrm{eff}} < ` ``MIN_STOP_GAP`` (:math:`10^{-10}`, a
horizon above :math:`10^{10}` steps, where the answer would carry errors of about :math:`10^{-6}` relative and more:
γ = 1 − 10⁻¹⁵ gave 6%).
"""

from __future__ import annotations

import math
import os
import re

from .errors import MappoLiteError

#: The memory limit when neither ``MAPPO_LITE_MAX_BYTES`` nor ``--max-memory`` sets one: 1 GiB.
DEFAULT_MAX_BYTES = 2**30
#: The environment variable that overrides the limit (e.g. ``MAPPO_LITE_MAX_BYTES=8G``).
ENV_VAR = "MAPPO_LITE_MAX_BYTES"
#: Games whose largest continuation probability γ·Σ_s' P is above 1 − MIN_STOP_GAP are refused (see the docstring).
MIN_STOP_GAP = 1e-10

_override: int | None = None
_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_F = 8  # bytes of a float64 / int64


def parse_size(text, name: str = "--max-memory") -> int:
    """A memory size: bytes, or a number with a suffix K, M, G, T (powers of 1024; an optional trailing B/iB)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:i?B)?\s*", str(text), flags=re.IGNORECASE)
    if not m:
        raise MappoLiteError(f"{name} must be a size such as 2000000000, 512M or 4G, got {text!r}")
    value = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if not (1 <= value <= 2**60):
        raise MappoLiteError(f"{name} must be between 1 byte and 1 EiB, got {text!r}")
    return int(value)


def set_max_bytes(nbytes: int | None) -> None:
    """Override the limit for this process (``None``: back to ``MAPPO_LITE_MAX_BYTES`` or the default)."""
    global _override
    _override = None if nbytes is None else int(nbytes)


def max_bytes() -> int:
    """The memory limit in force: ``set_max_bytes``, else ``$MAPPO_LITE_MAX_BYTES``, else ``DEFAULT_MAX_BYTES``."""
    if _override is not None:
        return _override
    env = os.environ.get(ENV_VAR)
    if env is None or env.strip() == "":
        return DEFAULT_MAX_BYTES
    return parse_size(env, f"the environment variable {ENV_VAR}")


def format_bytes(n: float) -> str:
    """``1.5 GiB``, ``298 GiB``, ``12 MiB``, ``3.2e+06 TiB``."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            v = n / size
            return f"{v:.3g} {unit}" if v < 1e4 else f"{v:.2e} {unit}"
    return f"{int(n)} bytes"


def check_bytes(what: str, nbytes: float) -> None:
    """Raise MappoLiteError when ``nbytes`` (an estimate) exceeds the limit; the message says how to raise it."""
    limit = max_bytes()
    if not nbytes <= limit:
        raise MappoLiteError(
            f"{what} would need about {format_bytes(nbytes)} of memory, more than the limit of {format_bytes(limit)} "
            f"(raise it with --max-memory SIZE or {ENV_VAR}=SIZE, e.g. 8G)"
        )


# ----- estimates (Python ints: no overflow, whatever the sizes) -----------------------------------------------------
def context_sizes(S: int, sizes) -> list:
    """n_ctx_m · A_m = S · A_1 ⋯ A_m for m = 1..N (the size of agent m's conditional table)."""
    out, c = [], int(S)
    for A in sizes:
        c *= int(A)
        out.append(c)
    return out


def dense_game_bytes(S: int, sizes) -> int:
    """A dense game: P (S·|A|·S) and r, built, copied by validation and summed: three times P, plus r."""
    J = math.prod(int(a) for a in sizes)
    return _F * (3 * S * J * S + 3 * S * J + 4 * S)


def sparse_game_bytes(S: int, sizes, K: int) -> int:
    """A sparse game: next_states and probs (S·|A|·K each), built and copied, plus r."""
    J = math.prod(int(a) for a in sizes)
    return _F * (6 * S * J * K + 3 * S * J + 4 * S)


def evaluation_bytes(S: int, sizes, sparse_K: int | None = None) -> int:
    """One exact evaluation: P_π, I − γP_π and its LU (dense S×S; for sparse games the CSR matrix and an LU fill-in
    allowance), Q and the localized values, the conditional tables (a few copies)."""
    J = math.prod(int(a) for a in sizes)
    tables = sum(context_sizes(S, sizes))
    solve = 4 * S * S if sparse_K is None else 6 * S * J * sparse_K + 40 * S
    return _F * (solve + 4 * S * J + 8 * tables + 10 * S)


def game_size(game) -> tuple:
    """(S, action sizes, successors K or None) of a built game."""
    K = game.n_successors if hasattr(game, "n_successors") else None
    return int(game.n_states), tuple(int(a) for a in game.action_sizes), K


def builtin_game_bytes(name: str, params: dict) -> int | None:
    """Estimated bytes to build and solve a built-in game from its parameters (before building it), or None when the
    parameters are not plain enough to estimate (the factory then checks them)."""
    try:
        if name == "random":
            S = int(params.get("n_states", 5))
            N = int(params.get("n_agents", 2))
            na = params.get("n_actions", 3)
            sizes = [int(a) for a in na] if isinstance(na, (list, tuple)) else [int(na)] * N
            if S < 1 or N < 1 or not sizes or min(sizes) < 1:
                return None
            return dense_game_bytes(S, sizes) + evaluation_bytes(S, sizes)
        if name == "gridworld":
            w, h, N = int(params.get("width", 3)), int(params.get("height", 3)), int(params.get("n_agents", 2))
            if w < 1 or h < 1 or N < 1 or N > 64:
                return None
            S, sizes = (w * h) ** N, [5] * N
            if params.get("sparse", False) is True:
                return sparse_game_bytes(S, sizes, 2**N) + evaluation_bytes(S, sizes, 2**N)
            return dense_game_bytes(S, sizes) + evaluation_bytes(S, sizes)
    except (TypeError, ValueError, OverflowError):
        return None
    return None


def file_bytes(declared: int) -> int:
    """What reading a game or dataset file whose arrays hold ``declared`` bytes costs: read, validated copy, one
    temporary."""
    return 3 * int(declared)


def records_bytes(K: int, N: int, with_errors: bool) -> int:
    """The run's records: J(π_0..π_K) as floats, a list and JSON text; ε and ξ (K×N) likewise."""
    per = 8 + 32 + 8 + 26  # array entry, Python float, list slot, JSON text
    return (K + 1) * per + (2 * K * N * (8 + per) if with_errors else 0)


def train_bytes(
    game,
    K: int,
    algo: str,
    solver: str = "ideal",
    evaluation: str = "exact",
    T: int = 1,
    n_rollouts: int = 1,
    feature_dim: int | None = None,
) -> int:
    """A ``train`` request on a built game (the game's own arrays are already allocated)."""
    S, sizes, sparseK = game_size(game)
    N = len(sizes)
    J = math.prod(sizes)
    total = evaluation_bytes(S, sizes, sparseK) + records_bytes(K, N, algo == "mappo")
    if algo == "centralized":
        total += dense_game_bytes(S, [J]) if sparseK is None else sparse_game_bytes(S, [J], sparseK)
    if algo == "mappo" and evaluation == "mc":
        total += _F * S * J * S if sparseK is None else 0  # cumulative transitions (dense games only)
        total += _F * (N + 2) * sum(context_sizes(S, sizes))  # every-context rollout grid (solver=ideal)
    if algo == "mappo" and solver == "sgd":
        total += _F * (12 + 3 * N) * T  # samples, contexts, targets, Monte Carlo prefixes
    if feature_dim is not None:
        total += 3 * _F * feature_dim * sum(context_sizes(S, sizes))  # Gaussian draw, norms, validated copy
    return total


def offline_bytes(
    game, n: int | None, K: int, critic: str, critic_dim: int | None, dataset_n: int | None = None
) -> int:
    """An ``offline`` request: collecting n transitions (or a dataset of ``dataset_n``), the critic features ψ
    (S·|A|·d), the d×d Bellman system and its solves, K iterations."""
    S, sizes, sparseK = game_size(game)
    N = len(sizes)
    J = math.prod(sizes)
    total = evaluation_bytes(S, sizes, sparseK) + records_bytes(K, N, True)
    if n is not None:
        total += _F * S * J * S  # cumulative transitions
        total += _F * n * (3 * S + 3 * J + 2 * N + 10)  # rows of cum P and cum mu at the samples, their comparisons
    m = n if n is not None else (dataset_n or 0)
    total += _F * m * (2 * N + 10)  # the dataset and its validated copies
    d = S * J if critic == "tabular" else int(critic_dim or 1)
    total += _F * (2 * S * J * d + S * d + 14 * d * d)  # ψ (and a temporary), ψ_π, G, C, B, solves, eigh
    return total


def check_horizon(game) -> None:
    """Refuse games whose largest continuation probability is within ``MIN_STOP_GAP`` of 1 (see the docstring)."""
    g = float(game.gamma) * float(game.row_mass().max())
    if g > 1.0 - MIN_STOP_GAP:
        stop = "gamma" if game.gamma < 1 else "the stopping probability 1 - sum_s' P(s'|s,a)"
        raise MappoLiteError(
            f"the game's horizon 1/(1-gamma_eff) = {1.0 / max(1.0 - g, 1e-300):.3g} steps is too long: "
            f"gamma_eff = gamma * max row sum of P = 1 - {1.0 - g:.3g}, within {MIN_STOP_GAP:g} of 1, where "
            f"double-precision solves lose their accuracy; make {stop} at least {MIN_STOP_GAP:g} away from 1"
        )


#: The largest grid ``python -m mappo_lite sweep`` runs (seeds x betas x Ks x games): a typo such as ``--seeds`` with
#: ten thousand values is refused before any run starts, not discovered hours later.
MAX_SWEEP_RUNS = 10_000
#: The most joblib worker processes ``sweep --jobs`` starts (each one is a Python interpreter with NumPy and numba).
MAX_SWEEP_JOBS = 256


def check_sweep_size(n_runs: int) -> None:
    """Refuse a sweep grid of more than ``MAX_SWEEP_RUNS`` runs (the message gives the product of the axes)."""
    if not n_runs <= MAX_SWEEP_RUNS:
        raise MappoLiteError(
            f"the sweep grid has {n_runs} runs, more than the limit of {MAX_SWEEP_RUNS}: give fewer --seeds, "
            "--betas, --Ks or --games (or run several sweeps)"
        )


#: Games whose values may reach this size (largest |r| times the horizon times the number of (s, a) pairs, a bound on
#: every sum the solvers form) are refused: beyond it, sums overflow to inf.
MAX_VALUE_SCALE = 1e300


def check_value_scale(game) -> None:
    """Refuse rewards so large that values or their sums overflow double precision (``"J_star": Infinity``)."""
    import numpy as np

    g = float(game.gamma) * float(game.row_mass().max())
    rmax = float(np.max(np.abs(game.r))) if game.r.size else 0.0
    bound = rmax / max(1.0 - g, MIN_STOP_GAP) * float(game.r.size)
    if not bound <= MAX_VALUE_SCALE:
        raise MappoLiteError(
            f"the rewards are too large for double precision: largest |r| = {rmax:.3g}, so values and their sums "
            f"(|r| x horizon x {game.r.size} state-action pairs) could reach {bound:.3g} > {MAX_VALUE_SCALE:g}; "
            "rescale the rewards"
        )


def check_dataset_scale(data, game, path) -> None:
    """Refuse datasets whose rewards overflow the critic's sums (the dataset counterpart of
    :func:`check_value_scale`); the message names the file."""
    import numpy as np

    g = float(game.gamma) * float(game.row_mass().max())
    rmax = float(np.max(np.abs(data.rewards))) if data.n else 0.0
    bound = rmax / max(1.0 - g, MIN_STOP_GAP) * float(data.n)
    if not bound <= MAX_VALUE_SCALE:
        raise MappoLiteError(
            f"dataset file {path!r}: the rewards are too large for double precision: largest |r| = {rmax:.3g}, so "
            f"the critic's sums (|r| x horizon x {data.n} transitions) could reach {bound:.3g} > {MAX_VALUE_SCALE:g}; "
            "rescale the rewards"
        )
