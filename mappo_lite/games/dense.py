r"""Fully cooperative Markov games :math:`\mathcal M = (N, \mathcal S, \mathbf A, P, r, \gamma)` (chapter 2 of the book).

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
(:meth:`CooperativeMarkovGame.save`, :func:`mappo_lite.games.io.load_game`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import kernels
from .._validate import as_float_array, check_agent_order, check_distribution, check_gamma, check_gamma_rows
from ..errors import MappoLiteError
from .base import MarkovGameBase


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
        P = as_float_array(self.P, "P")
        r = as_float_array(self.r, "r")
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
        check_gamma_rows(P.sum(axis=-1), gamma, S)
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
        r"""Solve :math:`(I-\gamma P_\pi)x = b` (or the transposed system) with a dense LU solve (LAPACK, no copy:
        see :meth:`_factor`)."""
        from scipy.linalg.lapack import dgetrs

        lu, piv = self._factor(P_pi)
        x, info = dgetrs(lu, piv, np.asarray(rhs, dtype=np.float64), trans=0 if transpose else 1)
        return x

    def deterministic_transition_reward(self, actions: np.ndarray):
        r"""``(P_pi, r_pi)`` of the deterministic joint policy ``actions`` (one flat joint action per state): rows
        gathered from ``P_flat`` and ``r_flat``, :math:`O(S^2)` instead of the :math:`O(S^2|\mathbf A|)` of
        :meth:`policy_transition_reward` on a one-hot table."""
        S, A = self.n_states, self.n_joint_actions
        actions = np.asarray(actions, dtype=np.int64)
        if actions.shape != (S,) or (S and (actions.min() < 0 or actions.max() >= A)):
            raise IndexError(f"actions must be {S} joint-action indices in [0, {A})")
        rows = np.arange(0, S * A, A) + actions  # row s*|A| + a_s of the (S*|A|, S) view
        return np.take(self.P_flat.reshape(S * A, S), rows, axis=0), np.take(self.r_flat.reshape(-1), rows)

    def solve_linear_pair(self, P_pi, rhs: np.ndarray, rhs_transposed: np.ndarray):
        r"""Solve :math:`(I-\gamma P_\pi)x = b` and :math:`(I-\gamma P_\pi)^\top y = c` with one LU factorization
        (the transposed system reuses the factors)."""
        from scipy.linalg.lapack import dgetrs

        lu, piv = self._factor(P_pi)
        x, _ = dgetrs(lu, piv, np.asarray(rhs, dtype=np.float64), trans=1)
        y, _ = dgetrs(lu, piv, np.asarray(rhs_transposed, dtype=np.float64), trans=0)
        return x, y

    def _factor(self, P_pi):
        r"""LU factors of :math:`M^\top`, :math:`M = I-\gamma P_\pi` (LAPACK ``dgetrf``). M is built in C order, so
        :math:`M^\top` is already the column-major array LAPACK reads (no copy); :math:`Mx=b` is then solved with
        ``trans=1`` and :math:`M^\top y=c` with ``trans=0``. About a quarter faster than ``np.linalg.solve`` on the
        book's games (its copy to column-major order and its checks). ``LinAlgError`` if M is singular."""
        from scipy.linalg.lapack import dgetrf

        S = self.n_states
        M = np.multiply(P_pi, -self.gamma, dtype=np.float64)
        M.flat[:: S + 1] += 1.0
        lu, piv, info = dgetrf(M.T, overwrite_a=True)
        if info > 0:
            raise np.linalg.LinAlgError(f"I - gamma P_pi is singular (pivot {info} is zero)")
        if info < 0:  # pragma: no cover (an argument LAPACK refuses: a bug here, not a property of the game)
            raise np.linalg.LinAlgError(f"LAPACK dgetrf refused argument {-info}")
        return lu, piv

    @property
    def nbytes(self) -> int:
        """Memory held by the game's arrays."""
        return self.P.nbytes + self.r.nbytes + self.rho.nbytes

    # ----- transformations -----------------------------------------------------------------------------------
    def relabel_agents(self, order) -> CooperativeMarkovGame:
        """The same game with agents listed in ``order``, a permutation of the agents 1..N: the new agent m is the old
        agent ``order[m - 1]`` (``relabel_agents([2, 1])`` swaps two agents)."""
        order = check_agent_order(order, self.n_agents)
        axes_r = [0] + list(order)
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

    def with_rewards(self, r, name: str | None = None, meta: dict | None = None) -> CooperativeMarkovGame:
        """The same game with the reward ``r`` (shape ``(S, A_1, …, A_N)``)."""
        return CooperativeMarkovGame(
            self.P, r, self.gamma, self.rho, name=name or self.name, meta=dict(self.meta if meta is None else meta)
        )

    def with_rho(self, rho) -> CooperativeMarkovGame:
        """The same game with another initial distribution."""
        return CooperativeMarkovGame(self.P, self.r, self.gamma, rho, name=self.name, meta=dict(self.meta))

    # ----- files ---------------------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the game as ``.npz`` with the keys ``P``, ``r``, ``gamma``, ``rho``."""
        np.savez(path, P=self.P, r=self.r, gamma=np.float64(self.gamma), rho=self.rho)
