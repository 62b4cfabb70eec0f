r"""The one interface every game representation implements (:class:`MarkovGameBase`).

The dense :class:`~mappo_lite.games.dense.CooperativeMarkovGame` and the sparse
:class:`~mappo_lite.games.sparse.SparseCooperativeMarkovGame` both subclass it; the solvers (evaluation, policy
iteration, MA-PPO) use only what it declares, so they run on either form.
"""

from __future__ import annotations

import abc

import numpy as np


class MarkovGameBase(abc.ABC):
    """What every game representation offers the solvers (dense
    :class:`~mappo_lite.games.dense.CooperativeMarkovGame` and sparse
    :class:`~mappo_lite.games.sparse.SparseCooperativeMarkovGame`): the data attributes below, the sizes derived
    from them, and the operations that touch the transitions (:meth:`row_mass`, :meth:`policy_transition_reward`,
    :meth:`q_from_v`, :meth:`solve_linear`), which each form implements.

    Attributes every form sets on construction: ``r`` (``(S, A_1, …, A_N)``, read-only), ``gamma`` (float),
    ``rho`` (``(S,)``), ``action_sizes`` (tuple of N ints; agent 1 first), ``name`` (str), ``meta`` (dict).
    """

    r: np.ndarray
    gamma: float
    rho: np.ndarray
    action_sizes: tuple
    name: str
    meta: dict

    # ----- the operations each form implements ------------------------------------------------------------------
    @abc.abstractmethod
    def row_mass(self) -> np.ndarray:
        r""":math:`\sum_{s'}P(s'|s,\mathbf a)`, shape ``(S, |A|)`` (1 except in stopping games)."""

    @abc.abstractmethod
    def policy_transition_reward(self, pi_joint: np.ndarray):
        r"""``(P_pi, r_pi)`` for a joint policy ``(S, |A|)``: the state-to-state transition matrix under π (in the
        form's own matrix type) and the expected reward ``(S,)``."""

    @abc.abstractmethod
    def q_from_v(self, V: np.ndarray) -> np.ndarray:
        r""":math:`Q(s,\mathbf a) = r(s,\mathbf a) + \gamma\sum_{s'}P(s'|s,\mathbf a)V(s')`, shape ``(S, |A|)``."""

    @abc.abstractmethod
    def solve_linear(self, P_pi, rhs: np.ndarray, transpose: bool = False) -> np.ndarray:
        r"""Solve :math:`(I-\gamma P_\pi)x = b` (or the transposed system) for ``P_pi`` from
        :meth:`policy_transition_reward`."""

    def deterministic_transition_reward(self, actions: np.ndarray):
        r"""``(P_pi, r_pi)`` of the deterministic joint policy :math:`\pi(s) = \mathbf a_s` (``actions``: one flat
        joint-action index per state): :math:`P_\pi(s'|s) = P(s'|s,\mathbf a_s)`, :math:`r_\pi(s) = r(s,\mathbf a_s)`.
        Policy iteration (:func:`mappo_lite.evaluation.optimal_value`) evaluates only such policies; dense games
        override this with a gather that never forms the one-hot (S, |A|) table."""
        S = self.n_states
        pi = np.zeros((S, self.n_joint_actions))
        pi[np.arange(S), np.asarray(actions, dtype=np.int64)] = 1.0
        return self.policy_transition_reward(pi)

    def solve_linear_pair(self, P_pi, rhs: np.ndarray, rhs_transposed: np.ndarray):
        r"""Solve :math:`(I-\gamma P_\pi)x = b` and :math:`(I-\gamma P_\pi)^\top y = c` (the values and the
        occupancy of one policy); dense games factor the matrix once and reuse the LU factors for both."""
        return self.solve_linear(P_pi, rhs), self.solve_linear(P_pi, rhs_transposed, transpose=True)

    @abc.abstractmethod
    def with_rewards(self, r, name: str | None = None, meta: dict | None = None) -> MarkovGameBase:
        """The same game (same form, transitions, γ, ρ) with the reward ``r`` of shape ``(S, A_1, …, A_N)``."""

    @abc.abstractmethod
    def save(self, path) -> None:
        """Write the game as a ``.npz`` file that :func:`mappo_lite.games.io.load_game` reads back."""

    # ----- derived from the attributes ---------------------------------------------------------------------------

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
