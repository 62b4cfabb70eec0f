r"""Fully cooperative Markov games :math:`\mathcal M = (N, \mathcal S, \mathbf A, P, r, \gamma)` (digest §1).

A :class:`CooperativeMarkovGame` holds

========  ===============================  =====================================================================
name      shape                            meaning
========  ===============================  =====================================================================
``P``     ``(S, A_1, …, A_N, S)``          :math:`P(s' \mid s, \mathbf a)`; each row sums to 1 (or to less than
                                           1 when ``gamma == 1``: the deficit is the probability that the episode
                                           stops)
``r``     ``(S, A_1, …, A_N)``             the shared reward :math:`r(s, \mathbf a)`, any finite numbers
``gamma`` scalar                           discount :math:`\gamma \in [0, 1)`, or 1 for stopping games
``rho``   ``(S,)``                         initial distribution :math:`\rho` (default uniform)
========  ===============================  =====================================================================

Joint actions are flattened in C order, agent 1 most significant: :math:`\mathbf a = (a^1, …, a^N)` has index
:math:`\sum_m a^m \prod_{i>m} A_i`. ``P_flat`` (``(S, |\mathbf A|, S)``) and ``r_flat`` (``(S, |\mathbf A|)``) are
views of the same memory.

Games are saved as ``.npz`` files with exactly the keys ``P``, ``r``, ``gamma`` and optionally ``rho``
(:meth:`CooperativeMarkovGame.save`, :func:`load_game`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from . import kernels
from .errors import MappoLiteError

#: Tolerance for "sums to 1" checks on probabilities.
PROB_ATOL = 1e-9

#: Keys allowed in a game ``.npz`` file (dense form).
NPZ_KEYS = ("P", "r", "gamma", "rho")
#: Keys of the sparse form (:mod:`mappo_lite.sparse_games`): successor lists instead of P.
SPARSE_NPZ_KEYS = ("next_states", "probs", "r", "gamma", "rho")


def _as_float_array(x, name: str) -> np.ndarray:
    try:
        arr = np.array(x, dtype=np.float64, order="C", copy=True)
    except (TypeError, ValueError) as exc:
        raise MappoLiteError(f"{name} must be an array of numbers ({exc})") from None
    if not np.all(np.isfinite(arr)):
        raise MappoLiteError(f"{name} contains NaN or infinite values")
    return arr


def check_gamma(gamma) -> float:
    """Return ``gamma`` as a float after checking it is a finite number in [0, 1]."""
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise MappoLiteError(f"gamma must be a number, got {gamma!r}") from None
    if not math.isfinite(g) or g < 0.0 or g > 1.0:
        raise MappoLiteError(f"gamma must be in [0, 1), or exactly 1 for stopping games, got {gamma!r}")
    return g


def check_distribution(p, name: str, size: int | None = None) -> np.ndarray:
    """Return ``p`` as a float64 vector after checking it is a probability distribution."""
    arr = _as_float_array(p, name)
    if arr.ndim != 1:
        raise MappoLiteError(f"{name} must be a vector, got shape {arr.shape}")
    if size is not None and arr.shape[0] != size:
        raise MappoLiteError(f"{name} must have length {size}, got {arr.shape[0]}")
    if np.any(arr < 0):
        raise MappoLiteError(f"{name} has negative probabilities")
    if abs(arr.sum() - 1.0) > PROB_ATOL * max(1, arr.size):
        raise MappoLiteError(f"{name} must sum to 1, sums to {arr.sum():.12g}")
    return arr


class MarkovGameBase:
    """What every game representation offers the solvers (dense :class:`CooperativeMarkovGame` and
    :class:`~mappo_lite.sparse_games.SparseCooperativeMarkovGame`): sizes, ``r``, ``gamma``, ``rho`` and the three
    operations that touch the transitions (:meth:`policy_transition_reward`, :meth:`q_from_v`,
    :meth:`solve_linear`)."""

    @property
    def n_states(self) -> int:
        """Number of states :math:`|\\mathcal S|`."""
        return self.r.shape[0]

    @property
    def n_agents(self) -> int:
        """Number of agents :math:`N`."""
        return len(self.action_sizes)

    @property
    def n_joint_actions(self) -> int:
        """Size of the joint action space :math:`|\\mathbf A| = \\prod_m A_m`."""
        return int(np.prod(self.action_sizes))

    @property
    def r_flat(self) -> np.ndarray:
        """``r`` viewed as ``(S, |A|)``."""
        return self.r.reshape(self.n_states, self.n_joint_actions)

    @property
    def continuation(self) -> np.ndarray:
        r"""Probability that the episode continues, :math:`\gamma \sum_{s'} P(s' \mid s, \mathbf a)`, shape ``(S, |A|)``."""
        return self.gamma * self.row_mass()

    @property
    def effective_horizon(self) -> float:
        r""":math:`1/(1-\gamma_{\mathrm{eff}})`, with :math:`\gamma_{\mathrm{eff}}` the largest continuation probability."""
        g = float(np.max(self.continuation))
        return 1.0 / (1.0 - g)

    def describe(self) -> str:
        """One line: name, sizes and the known optimum when the metadata has one."""
        sizes = "x".join(str(a) for a in self.action_sizes)
        text = f"{self.name}: S={self.n_states}, N={self.n_agents}, A={sizes}, gamma={self.gamma:g}"
        if "optimum" in self.meta:
            text += f", J*={self.meta['optimum']:.6g}"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


def _check_gamma_rows(row_sums: np.ndarray, gamma: float, S: int) -> None:
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


@dataclass(frozen=True, eq=False, repr=False)
class CooperativeMarkovGame(MarkovGameBase):
    r"""A fully cooperative Markov game, validated on construction.

    Parameters
    ----------
    P : array, shape ``(S, A_1, …, A_N, S)``
        Transition probabilities :math:`P(s' \mid s, a^1, …, a^N)`.
    r : array, shape ``(S, A_1, …, A_N)``
        Shared reward :math:`r(s, \mathbf a)`; any finite numbers.
    gamma : float
        Discount :math:`\gamma \in [0, 1)`. ``gamma = 1`` is accepted only when every row of ``P`` sums to strictly
        less than 1, so that the episode stops with positive probability at every step and all values are finite.
    rho : array, shape ``(S,)``, optional
        Initial state distribution :math:`\rho`; uniform when omitted.
    name : str
        A label used in printouts.
    meta : dict
        Free-form metadata (citation, known optimum, orientation notes).

    Notes
    -----
    ``P`` and ``r`` are copied and made read-only, so a game never changes after it is validated.
    """

    P: np.ndarray
    r: np.ndarray
    gamma: float
    rho: np.ndarray | None = None
    name: str = "game"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        P = _as_float_array(self.P, "P")
        r = _as_float_array(self.r, "r")
        if P.ndim < 3:
            raise MappoLiteError(f"P must have shape (S, A_1, ..., A_N, S) with N >= 1, got shape {P.shape}")
        S = P.shape[0]
        if S < 1:
            raise MappoLiteError(f"P must have shape (S, A_1, ..., A_N, S) with S >= 1 states, got shape {P.shape}")
        if P.shape[-1] != S:
            raise MappoLiteError(
                f"P must have shape (S, A_1, ..., A_N, S): first and last axes differ ({P.shape[0]} vs {P.shape[-1]})"
            )
        action_sizes = tuple(int(a) for a in P.shape[1:-1])
        if any(a < 1 for a in action_sizes):
            raise MappoLiteError(f"every agent needs at least one action, got action sizes {action_sizes}")
        if r.shape != P.shape[:-1]:
            raise MappoLiteError(f"r must have shape {P.shape[:-1]} (S, A_1, ..., A_N) to match P, got {r.shape}")
        if np.any(P < 0):
            raise MappoLiteError("P has negative transition probabilities")
        gamma = check_gamma(self.gamma)
        _check_gamma_rows(P.sum(axis=-1), gamma, S)
        rho = np.full(S, 1.0 / S) if self.rho is None else check_distribution(self.rho, "rho", S)
        for arr in (P, r, rho):
            arr.flags.writeable = False
        object.__setattr__(self, "P", P)
        object.__setattr__(self, "r", r)
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(self, "rho", rho)
        object.__setattr__(self, "meta", dict(self.meta))
        object.__setattr__(self, "action_sizes", action_sizes)

    # ----- sizes ---------------------------------------------------------------------------------------------
    action_sizes: tuple = field(init=False, repr=False, default=())

    @property
    def P_flat(self) -> np.ndarray:
        """``P`` viewed as ``(S, |A|, S)``."""
        return self.P.reshape(self.n_states, self.n_joint_actions, self.n_states)

    # ----- the operations the solvers use -------------------------------------------------------------------
    def row_mass(self) -> np.ndarray:
        r""":math:`\sum_{s'}P(s'|s,\mathbf a)`, shape ``(S, |A|)`` (1 except in stopping games)."""
        return self.P_flat.sum(axis=-1)

    def policy_transition_reward(self, pi_joint: np.ndarray):
        r"""``(P_pi, r_pi)`` for a joint policy ``(S, |A|)``: a dense ``(S, S)`` matrix and ``(S,)``."""
        return kernels.policy_transition_reward(self.P_flat, self.r_flat, np.ascontiguousarray(pi_joint))

    def q_from_v(self, V: np.ndarray) -> np.ndarray:
        r""":math:`Q(s,\mathbf a) = r(s,\mathbf a) + \gamma\sum_{s'}P(s'|s,\mathbf a)V(s')`, shape ``(S, |A|)``."""
        return kernels.q_from_v(self.P_flat, self.r_flat, self.gamma, np.ascontiguousarray(V, dtype=np.float64))

    def solve_linear(self, P_pi, rhs: np.ndarray, transpose: bool = False) -> np.ndarray:
        r"""Solve :math:`(I-\gamma P_\pi)x = b` (or the transposed system) with a dense LU solve."""
        M = np.eye(self.n_states) - self.gamma * P_pi
        return np.linalg.solve(M.T if transpose else M, rhs)

    @property
    def nbytes(self) -> int:
        """Memory held by the game's arrays."""
        return self.P.nbytes + self.r.nbytes + self.rho.nbytes

    # ----- transformations -----------------------------------------------------------------------------------
    def relabel_agents(self, order) -> CooperativeMarkovGame:
        """The same game with agents listed in ``order`` (a permutation of ``range(N)``): new agent i is old ``order[i]``."""
        order = [int(i) for i in order]
        if sorted(order) != list(range(self.n_agents)):
            raise MappoLiteError(f"order must be a permutation of 0..{self.n_agents - 1}, got {order}")
        axes_r = [0] + [1 + i for i in order]
        axes_P = axes_r + [self.n_agents + 1]
        return CooperativeMarkovGame(
            np.transpose(self.P, axes_P),
            np.transpose(self.r, axes_r),
            self.gamma,
            self.rho,
            name=f"{self.name}[agents {order}]",
            meta=dict(self.meta),
        )

    def as_single_agent(self) -> CooperativeMarkovGame:
        """The joint-action MDP: one agent whose actions are the joint actions (the centralized reference)."""
        return CooperativeMarkovGame(
            self.P_flat, self.r_flat, self.gamma, self.rho, name=f"{self.name}[joint]", meta=dict(self.meta)
        )

    def with_rho(self, rho) -> CooperativeMarkovGame:
        """The same game with another initial distribution."""
        return CooperativeMarkovGame(self.P, self.r, self.gamma, rho, name=self.name, meta=dict(self.meta))

    # ----- files ---------------------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the game as ``.npz`` with the keys ``P``, ``r``, ``gamma``, ``rho``."""
        np.savez(path, P=self.P, r=self.r, gamma=np.float64(self.gamma), rho=self.rho)


def load_game(path, name: str | None = None) -> CooperativeMarkovGame:
    """Read a game from an ``.npz`` file with keys ``P``, ``r``, ``gamma`` and optionally ``rho`` (or, for the sparse
    form, ``next_states`` and ``probs`` instead of ``P``; see :mod:`mappo_lite.sparse_games`).

    Every problem (missing file, not an npz archive, missing or unknown keys, bad arrays) raises
    :class:`~mappo_lite.errors.MappoLiteError` naming the file.
    """
    from mappo_lite.safe_npz import read_npz  # absolute: this function may move into a subpackage

    path = os.fspath(path)
    arrays = read_npz(path, "game file", kinds={"next_states": "iuf"})
    keys = set(arrays)
    sparse = "P" not in keys and {"next_states", "probs"} <= keys
    allowed = set(SPARSE_NPZ_KEYS if sparse else NPZ_KEYS)
    missing = ({"r", "gamma"} | ({"next_states", "probs"} if sparse else {"P"})) - keys
    if missing:
        raise MappoLiteError(
            f"game file {path!r} lacks the key(s) {sorted(missing)} (needs P, r, gamma[, rho], or the sparse "
            "next_states, probs, r, gamma[, rho])"
        )
    unknown = keys - allowed
    if unknown:
        raise MappoLiteError(
            f"game file {path!r} has unknown key(s) {sorted(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )
    gamma = arrays["gamma"]
    if np.ndim(gamma) != 0:
        raise MappoLiteError(f"game file {path!r}: gamma must be a scalar, got shape {np.shape(gamma)}")
    try:
        gamma = check_gamma(np.asarray(gamma)[()])
    except MappoLiteError as exc:
        raise MappoLiteError(f"game file {path!r}: {exc}") from None
    try:
        if sparse:
            from .sparse_games import SparseCooperativeMarkovGame

            return SparseCooperativeMarkovGame(
                arrays["next_states"],
                arrays["probs"],
                arrays["r"],
                float(gamma),
                arrays.get("rho"),
                name=name or os.path.splitext(os.path.basename(path))[0],
                meta={"source": path},
            )
        return CooperativeMarkovGame(
            arrays["P"],
            arrays["r"],
            float(gamma),
            arrays.get("rho"),
            name=name or os.path.splitext(os.path.basename(path))[0],
            meta={"source": path},
        )
    except MappoLiteError as exc:
        raise MappoLiteError(f"game file {path!r}: {exc}") from None
