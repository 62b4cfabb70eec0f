r"""Exact policy evaluation in cooperative Markov games (the book's chapters 2 and 3: setup, multi-agent definitions).

For a joint policy π (any form accepted by :func:`mappo_lite.policies.as_tables`):

* :math:`P_\pi(s'|s) = \sum_{\mathbf a}\pi(\mathbf a|s)P(s'|s,\mathbf a)`, :math:`r_\pi(s) = \sum_{\mathbf a}\pi(\mathbf a|s)r(s,\mathbf a)`;
* :math:`V_\pi` solves :math:`(I-\gamma P_\pi)V = r_\pi` (a dense linear solve), :math:`J(\pi) = \rho^\top V_\pi`;
* :math:`Q_\pi = r + \gamma P V_\pi`;
* the localized values :math:`Q^{1:m}_\pi(s,\mathbf a^{1:m})` for m = N..0 by one backward sweep
  :math:`Q^{1:m-1} = \sum_{a^m}\pi^m(a^m|s,\mathbf a^{1:m-1})Q^{1:m}`, with :math:`Q^{1:N}=Q` and :math:`Q^{1:0}=V`;
* the multi-agent advantages :math:`A^m_\pi(s,\mathbf a^{1:m-1},a^m) = Q^{1:m} - Q^{1:m-1}`;
* the discounted occupancy :math:`d_\pi = \rho^\top(I-\gamma P_\pi)^{-1}` (the expected discounted number of visits),
  the normalized visitation :math:`\nu_\pi = d_\pi/\sum_s d_\pi(s)` (which is :math:`(1-\gamma)d_\pi` when rows of P sum
  to 1) and :math:`\sigma_\pi(s,\mathbf a) = \nu_\pi(s)\pi(\mathbf a|s)`.

:func:`optimal_value` computes :math:`J^\star` by policy iteration on the joint-action MDP.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from . import kernels
from ._validate import check_agent, check_game
from .errors import MappoLiteError
from .games.base import MarkovGameBase
from .games.dense import CooperativeMarkovGame
from .kernels.exact import IMPROVEMENT_MARGIN
from .policies.conditional import ConditionalTables, as_tables


def solve_values(game: MarkovGameBase, pi_joint: np.ndarray):
    r"""``(V, P_pi, r_pi)`` for a joint policy given as an ``(S, |A|)`` array."""
    P_pi, r_pi = game.policy_transition_reward(np.ascontiguousarray(pi_joint))
    return game.solve_linear(P_pi, r_pi), P_pi, r_pi


def occupancy_from(game: MarkovGameBase, P_pi: np.ndarray) -> np.ndarray:
    r"""Discounted occupancy :math:`d_\pi^\top = \rho^\top (I - \gamma P_\pi)^{-1}`."""
    return game.solve_linear(P_pi, game.rho, transpose=True)


@dataclass
class Evaluation:
    r"""Everything exact evaluation computes for one joint policy (attributes; shapes use the game's sizes).

    ``V`` (S,), ``Q`` (S, A_1, …, A_N), ``J`` (float), ``q_local[m]`` = :math:`Q^{1:m}` of shape
    (S, A_1, …, A_m) for m = 0..N (``q_local[0]`` is V), ``pi_joint`` (S, |A|), ``P_pi`` (S, S), ``r_pi`` (S,),
    ``occupancy`` :math:`d_\pi` (S,), ``nu`` :math:`\nu_\pi` (S,). For sparse games ``P_pi`` is a SciPy sparse matrix.
    """

    game: MarkovGameBase
    tables: ConditionalTables
    V: np.ndarray
    Q: np.ndarray
    J: float
    q_local: list
    pi_joint: np.ndarray
    P_pi: np.ndarray
    r_pi: np.ndarray
    occupancy: np.ndarray
    nu: np.ndarray
    extra: dict = field(default_factory=dict)

    def advantage(self, m: int) -> np.ndarray:
        r"""Agent m's (1-based) multi-agent advantage :math:`A^m_\pi(s,\mathbf a^{1:m-1},a^m) = Q^{1:m} - Q^{1:m-1}`."""
        m = check_agent(m, self.game.n_agents)
        return self.q_local[m] - self.q_local[m - 1][..., None]

    @property
    def sigma(self) -> np.ndarray:
        r""":math:`\sigma_\pi(s,\mathbf a) = \nu_\pi(s)\pi(\mathbf a|s)`, shape (S, A_1, …, A_N)."""
        return (self.nu[:, None] * self.pi_joint).reshape(self.Q.shape)

    def sigma_agent(self, m: int) -> np.ndarray:
        r"""The law of :math:`(s,\mathbf a^{1:m})` under :math:`\sigma_\pi`, shape (S, A_1, …, A_m) (m = 0..N)."""
        m = check_agent(m, self.game.n_agents, allow_zero=True)  # m = 0: the law of s, nu
        axes = tuple(range(m + 1, self.game.n_agents + 1))
        return self.sigma.sum(axis=axes) if axes else self.sigma

    def as_dict(self) -> dict:
        """A JSON-friendly summary: J, V, nu."""
        return {"J": float(self.J), "V": self.V.tolist(), "nu": self.nu.tolist()}


def evaluate(game: MarkovGameBase, policy="uniform") -> Evaluation:
    """Exact evaluation of ``policy`` in ``game`` (see the module docstring for what is computed)."""
    game = check_game(game)
    tables = as_tables(policy, game.n_states, game.action_sizes)
    pi_joint = tables.joint()
    P_pi, r_pi = game.policy_transition_reward(np.ascontiguousarray(pi_joint))
    V, occ = game.solve_linear_pair(P_pi, r_pi, game.rho)  # one factorization of I - γP_π for both solves
    Q_flat = game.q_from_v(V)
    q_local = localized_values(Q_flat, tables)
    return Evaluation(
        game=game,
        tables=tables,
        V=V,
        Q=Q_flat.reshape(game.r.shape),
        J=float(game.rho @ V),
        q_local=q_local,
        pi_joint=pi_joint,
        P_pi=P_pi,
        r_pi=r_pi,
        occupancy=occ,
        nu=occ / occ.sum(),
    )


def localized_values(Q, tables: ConditionalTables) -> list:
    r"""The backward sweep for any action-value array ``Q`` (S, A_1, …, A_N) or (S, |A|): returns
    :math:`[Q^{1:0}, Q^{1:1}, …, Q^{1:N}]` with :math:`Q^{1:m-1} = \sum_{a^m}\pi^m(a^m|s,\mathbf a^{1:m-1})Q^{1:m}`, the m-th
    of shape (S, A_1, …, A_m). Used on exact Q and on estimates :math:`\hat Q` alike."""
    S, sizes = tables.n_states, tuple(tables.action_sizes)
    Q_flat = np.ascontiguousarray(np.asarray(Q, dtype=np.float64).reshape(S, -1))
    if Q_flat.shape[1] != int(np.prod(sizes)):
        raise MappoLiteError(f"Q must have shape {(S,) + sizes}, got {np.shape(Q)}")
    pi_concat, offsets = tables.concat()
    sizes_arr = np.asarray(sizes, np.int64)
    flat_levels = kernels.backward_sweep(Q_flat, pi_concat, offsets, sizes_arr)
    loff = kernels.level_offsets_for(sizes_arr, S)
    return [flat_levels[loff[m] : loff[m + 1]].reshape((S,) + sizes[:m]) for m in range(len(sizes) + 1)]


def multi_agent_q(game: MarkovGameBase, policy, agents) -> np.ndarray:
    r"""Definition 3.1: :math:`Q^{\mathcal P}_\pi(s,\mathbf a^{\mathcal P}) = \mathbb E_{\tilde a\sim\tilde\pi}[Q_\pi(s,\mathbf a^{\mathcal P},\tilde a)]`.

    ``agents`` is a set of 1-based agent indices. The other agents' actions :math:`\tilde a` are drawn from the
    policy given :math:`(s, \mathbf a^{\mathcal P})`. For a prefix :math:`\{1..m\}` this is the localized
    :math:`Q^{1:m}`, defined in every context. For a product policy (every agent's table the same for all
    predecessors' actions, as :class:`~mappo_lite.policies.ProductPolicy` stores it) :math:`\tilde\pi` is the product of
    the other agents' policies, :math:`Q^{\mathcal P}_\pi(s,\mathbf a^{\mathcal P}) = \sum_{\tilde a}\prod_{j\notin
    \mathcal P}\pi^j(\tilde a^j|s)\,Q_\pi(s,\mathbf a^{\mathcal P},\tilde a)`, also defined in every context
    (deterministic policies included). For another subset and a conditional (non-product) policy, the conditional
    law of :math:`\tilde a` given :math:`\mathbf a^{\mathcal P}` comes from the joint policy (Bayes' rule) and is
    undefined (NaN) where :math:`\mathbf a^{\mathcal P}` has probability 0. The result has shape
    ``(S,) + (A_i for i in sorted(agents))``.
    """
    ev = evaluate(game, policy)
    N = game.n_agents
    subset = sorted({check_agent(i, N, "agents (a set of agent indices)") for i in agents})
    if subset == list(range(1, len(subset) + 1)):
        return ev.q_local[len(subset)]
    other_axes = tuple(i for i in range(1, N + 1) if i not in subset)
    marginals = ev.tables.product_factors()
    if marginals is not None:
        # average out the other agents one axis at a time, the last first, so the earlier axes keep their numbers
        q = ev.Q
        for j in reversed(other_axes):
            shape = [1] * q.ndim
            shape[0], shape[j] = game.n_states, game.action_sizes[j - 1]
            q = (q * marginals[j - 1].reshape(shape)).sum(axis=j)
        return q
    joint = ev.pi_joint.reshape(ev.Q.shape)
    weight = joint.sum(axis=other_axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (joint * ev.Q).sum(axis=other_axes) / weight


def performance_difference_terms(game: MarkovGameBase, new_policy, old_policy) -> np.ndarray:
    r"""The N per-agent terms of the multi-agent performance difference lemma (chapter 3 of the book).

    Term m is :math:`\sum_s d_{\pi'}(s)\,\mathbb E_{\mathbf a^{1:m-1}\sim\pi'^{1:m-1}}
    \langle Q^{1:m}_\pi(s,\mathbf a^{1:m-1},\cdot),\ \pi'^m(\cdot|s,\mathbf a^{1:m-1}) - \pi^m(\cdot|s,\mathbf a^{1:m-1})\rangle`
    with π = ``old_policy``, π' = ``new_policy`` and :math:`d_{\pi'}` the discounted occupancy (equal to
    :math:`\nu_{\pi'}/(1-\gamma)` when rows of P sum to 1). The lemma says the terms add up to
    :math:`J(\pi') - J(\pi)`.
    """
    old = evaluate(game, old_policy)
    new = evaluate(game, new_policy)
    terms = np.empty(game.n_agents)
    # law of (s, a^{1:m-1}) under d_{pi'} and pi'^{1:m-1}: built up agent by agent
    prefix_weight = new.occupancy.copy()  # shape (S,) then (S, A_1), ...
    for m in range(1, game.n_agents + 1):
        new_t = new.tables.table(m)
        old_t = old.tables.table(m)
        q = old.q_local[m]
        inner = ((new_t - old_t) * q).sum(axis=-1)  # shape (S, A_1..A_m)[:-1] = context shape
        terms[m - 1] = float((prefix_weight * inner).sum())
        prefix_weight = prefix_weight[..., None] * new_t
    return terms


@dataclass
class OptimalSolution:
    """Result of :func:`optimal_value`: ``V_star`` (S,), ``J_star``, ``Q_star`` (S, A_1, …, A_N), the greedy joint
    action per state ``greedy`` (S, N) and ``iterations``."""

    V_star: np.ndarray
    J_star: float
    Q_star: np.ndarray
    greedy: np.ndarray
    iterations: int
    method: str

    def as_dict(self) -> dict:
        return {"J_star": float(self.J_star), "V_star": self.V_star.tolist(), "greedy": self.greedy.tolist()}

    def policy_tables(self, game) -> ConditionalTables:
        """The deterministic optimal joint policy as conditional tables (agent m plays its part of the greedy action
        in the state, whatever the prefix)."""
        joint = np.zeros((game.n_states, game.n_joint_actions))
        flat = np.ravel_multi_index(tuple(self.greedy.T), game.action_sizes)
        joint[np.arange(game.n_states), flat] = 1.0
        return joint_to_tables(game, joint)


def joint_to_tables(game: MarkovGameBase, pi_joint: np.ndarray) -> ConditionalTables:
    r"""Factor a joint policy :math:`\pi(\mathbf a|s)` into conditional tables (chain rule). Contexts of zero probability
    get the uniform distribution (any choice is exact there)."""
    joint = np.asarray(pi_joint, dtype=np.float64).reshape((game.n_states,) + game.action_sizes)
    tabs = []
    for m in range(game.n_agents):
        marg = joint.sum(axis=tuple(range(m + 2, game.n_agents + 1))) if m + 1 < game.n_agents else joint
        A = game.action_sizes[m]
        marg = marg.reshape(-1, A)
        tot = marg.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(tot > 0, marg / np.where(tot > 0, tot, 1.0), 1.0 / A)
        tabs.append(np.ascontiguousarray(t))
    return ConditionalTables(tuple(tabs), game.n_states, game.action_sizes)


def optimal_value(
    game: MarkovGameBase, method: str = "policy", tol: float = 1e-12, max_iter: int = 100_000
) -> OptimalSolution:
    r""":math:`V^\star`, :math:`J^\star = \rho^\top V^\star` and a greedy optimal joint action, on the joint-action MDP.

    ``method="policy"`` (default): Howard's policy iteration, exact in finitely many steps (ties keep the current
    action, so it cannot cycle); on dense games the whole loop is one compiled call
    (:func:`mappo_lite.kernels.exact.policy_iteration`), on sparse games the same steps run on the game's sparse
    operations. ``method="value"``: value iteration until the sup-norm change is below ``tol``.
    """
    game = check_game(game)
    S = game.n_states
    r = game.r_flat
    if method == "policy" and isinstance(game, CooperativeMarkovGame):
        # the whole loop in one compiled call (kernels.policy_iteration: the steps below, without Python in between)
        V, act, Q, it, converged = kernels.policy_iteration(game.P_flat, game.r_flat, game.gamma, int(max_iter))
        if not converged:
            raise MappoLiteError(f"policy iteration did not converge in {max_iter} iterations")
    elif method == "policy":
        # start from the policy greedy for one Bellman backup of V_0(s) = max_a r(s, a) (QuantEcon's DiscreteDP starts
        # there too): one matrix-vector product that usually saves a whole evaluation
        act = np.argmax(game.q_from_v(r.max(axis=1)), axis=1)
        states = np.arange(S)
        for it in range(1, max_iter + 1):  # noqa: B007 (the count is reported)
            P_pi, r_pi = game.deterministic_transition_reward(act)  # a gather: no one-hot (S, |A|) table
            V = game.solve_linear(P_pi, r_pi)
            Q = game.q_from_v(V)
            greedy_act = np.argmax(Q, axis=1)
            best = Q[states, greedy_act]
            # switch only where the greedy action is better by more than rounding (ties keep the current action)
            improve = Q[states, act] < best - IMPROVEMENT_MARGIN * (1 + np.abs(best))
            if not improve.any():
                break
            act = np.where(improve, greedy_act, act)
        else:
            raise MappoLiteError(f"policy iteration did not converge in {max_iter} iterations")
    elif method == "value":
        V = np.zeros(S)
        for it in range(1, max_iter + 1):  # noqa: B007 (the count is reported)
            Q = game.q_from_v(V)
            V_new = Q.max(axis=1)
            if np.max(np.abs(V_new - V)) < tol:
                V = V_new
                break
            V = V_new
        else:
            raise MappoLiteError(f"value iteration did not converge in {max_iter} iterations (gamma too close to 1?)")
        Q = game.q_from_v(V)
        act = np.argmax(Q, axis=1)
    else:
        raise MappoLiteError(f"unknown method {method!r}: use 'policy' or 'value'")
    greedy = np.stack(np.unravel_index(act, game.action_sizes), axis=1).astype(np.int64)
    return OptimalSolution(V, float(game.rho @ V), Q.reshape(game.r.shape), greedy, it, method)


def deterministic_policy_values(game: MarkovGameBase) -> dict:
    """J of every deterministic *stationary joint* policy in a one-state game, keyed by joint action tuple (a small
    helper for matrix games; refuses games with more than one state)."""
    if game.n_states != 1:
        raise MappoLiteError("deterministic_policy_values is for one-state games")
    out = {}
    for a in itertools.product(*[range(A) for A in game.action_sizes]):
        pi = np.zeros((1, game.n_joint_actions))
        pi[0, np.ravel_multi_index(a, game.action_sizes)] = 1.0
        out[a] = float(game.rho @ solve_values(game, pi)[0])
    return out


def kl_chain_terms(game: MarkovGameBase, target, policy) -> dict:
    r"""The chain rule of the KL divergence for sequential policies (chapter 3 of the book; the step of Theorem 1's
    proof that splits :math:`\mathrm{KL}(\pi^\star\|\pi_k)` into one term per agent).

    For two sequential policies :math:`\pi^\star = \prod_m\pi^{\star m}` (``target``) and :math:`\pi = \prod_m\pi^m`
    (``policy``) and every state s,

    .. math:: \mathrm{KL}\big(\pi^\star(\cdot|s)\,\|\,\pi(\cdot|s)\big) = \sum_{m=1}^N
              \mathbb E_{\mathbf a^{1:m-1}\sim\pi^{\star,1:m-1}}
              \mathrm{KL}\big(\pi^{\star m}(\cdot|s,\mathbf a^{1:m-1})\,\|\,\pi^m(\cdot|s,\mathbf a^{1:m-1})\big).

    Returns a dict: ``terms`` (S, N), the m-th summand per state (column m - 1 for agent m); ``joint`` (S,), the
    left side computed from the two joint policies; ``log_joint_actions`` = :math:`\log|\mathbf A| = \sum_m\log A_m`,
    the largest KL from any policy to the uniform one (:math:`N\log|A|` when every agent has |A| actions: the term
    of Theorem 1's bound). Contexts of probability 0 under :math:`\pi^\star` contribute 0; where :math:`\pi^\star`
    puts mass on an action π excludes, the term is ``inf``.
    """
    game = check_game(game)
    tgt = as_tables(target, game.n_states, game.action_sizes)
    pol = as_tables(policy, game.n_states, game.action_sizes)
    S, N = game.n_states, game.n_agents

    def _kl(p, q):  # KL along the last axis, with 0 log 0 = 0
        with np.errstate(divide="ignore", invalid="ignore"):
            val = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q)), 0.0)
        return val.sum(axis=-1)

    terms = np.empty((S, N))
    prefix = np.ones(S)  # the law of a^{1:m-1} under pi* given s, shape (S, A_1, ..., A_{m-1})
    for m in range(1, N + 1):
        pt, qt = tgt.table(m), pol.table(m)
        terms[:, m - 1] = (prefix * _kl(pt, qt)).reshape(S, -1).sum(axis=1)
        prefix = prefix[..., None] * pt
    return {
        "terms": terms,
        "joint": _kl(tgt.joint(), pol.joint()),
        "log_joint_actions": float(np.sum(np.log(np.asarray(game.action_sizes, dtype=np.float64)))),
    }


def local_improvement_gaps(game: MarkovGameBase, policy) -> np.ndarray:
    r"""How much each agent could gain by improving its own conditional policy context by context against its
    localized values (chapter 3 of the book, the "local ⇒ global" proposition):

    .. math:: g^m = \max_{s,\mathbf a^{1:m-1}}\Big(\max_{a}Q^{1:m}_\pi(s,\mathbf a^{1:m-1},a)
              - \big\langle Q^{1:m}_\pi(s,\mathbf a^{1:m-1},\cdot),\pi^m(\cdot|s,\mathbf a^{1:m-1})\big\rangle\Big)\ \ge 0,

    the maximum over *every* context, visited or not. Returns the N gaps (agent m at position m - 1). All of them
    are 0 exactly when every :math:`\pi^m` is greedy against :math:`Q^{1:m}_\pi` in every context; then
    :math:`V_\pi(s) = \max_{\mathbf a}Q_\pi(s,\mathbf a)` (backward over the agents), so π is optimal.
    """
    ev = evaluate(game, policy)
    gaps = np.empty(game.n_agents)
    for m in range(1, game.n_agents + 1):
        q = ev.q_local[m]
        gaps[m - 1] = float(np.max(q.max(axis=-1) - (q * ev.tables.table(m)).sum(axis=-1)))
    return gaps
