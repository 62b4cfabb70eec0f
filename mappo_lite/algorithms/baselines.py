r"""The baselines MA-PPO is compared with.

:func:`independent_npg`
    Product policies; each agent takes the same mirror step on its *own marginal* Q,
    :math:`Q^m(s,a^m) = \mathbb E_{\mathbf a^{-m}\sim\pi^{-m}}Q(s,\mathbf a)`, all agents simultaneously.
:func:`independent_pg`
    Product softmax policies, simultaneous exact gradient ascent on J:
    :math:`\partial J/\partial\theta^m(s,a) = d_\pi(s)\,\pi^m(a|s)\,(Q^m(s,a) - V(s))`.
:func:`centralized_mirror`
    One "agent" whose actions are the joint actions: the same mirror step on the joint Q (an upper reference that
    ignores the exponential size of the joint action space).
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import check_count, check_game, check_positive
from ..evaluation import joint_to_tables
from ..games.base import MarkovGameBase
from ..policies.conditional import ProductPolicy
from .loop import TrainingResult, finish, run_iterations
from .mappo import ma_ppo


def marginal_q(Q: np.ndarray, agent_probs, m: int) -> np.ndarray:
    r"""Agent m's (1-based) marginal action value under a product policy,
    :math:`Q^m(s,a^m) = \sum_{\mathbf a^{-m}}\prod_{i\ne m}\pi^i(a^i|s)\,Q(s,\mathbf a)`, shape (S, A_m).

    ``Q`` has shape (S, A_1, …, A_N); ``agent_probs[i]`` is agent i+1's table (S, A_{i+1})."""
    out = Q
    N = Q.ndim - 1
    for i in range(N - 1, -1, -1):
        if i == m - 1:
            continue
        p = agent_probs[i]
        shape = [p.shape[0]] + [1] * (out.ndim - 1)
        shape[i + 1] = p.shape[1]
        out = (out * p.reshape(shape)).sum(axis=i + 1)
    return out


def independent_npg(
    game: MarkovGameBase,
    K: int = 100,
    beta: float = 0.1,
    *,
    seed=0,
    keep_policies: bool = True,
    J_star: float | None = None,
) -> TrainingResult:
    r"""Independent natural policy gradient: product policies, :math:`\pi^m_{k+1}(\cdot|s)\propto\pi^m_k\exp(Q^m_{\pi_k}/\beta_k)`
    for every agent at once, :math:`\beta_k = \beta\sqrt K`."""
    game = check_game(game)
    K = check_count(K, "K (number of iterations)")
    beta = check_positive(beta, "beta")
    rng = np.random.default_rng(seed)
    beta_k = beta * math.sqrt(K)

    def step(k, policy, ev):
        probs = [policy.probs(m) for m in range(game.n_agents)]
        return ProductPolicy.for_game(
            game, [policy.logit_tables[m] + marginal_q(ev.Q, probs, m + 1) / beta_k for m in range(game.n_agents)]
        )

    Js, policies, _ = run_iterations(game, ProductPolicy.for_game(game), K, step, keep_policies)
    return finish(
        "independent-npg", game, Js, policies, rng, dict(K=K, beta=beta, beta_k=beta_k, seed=repr(seed)), J_star=J_star
    )


def independent_pg(
    game: MarkovGameBase,
    K: int = 100,
    eta: float = 0.1,
    *,
    seed=0,
    keep_policies: bool = True,
    J_star: float | None = None,
) -> TrainingResult:
    r"""Independent policy gradient: product softmax policies, simultaneous exact gradient ascent with stepsize η,
    :math:`\theta^m(s,a) \mathrel{+}= \eta\, d_\pi(s)\,\pi^m(a|s)\,(Q^m(s,a)-V(s))`."""
    game = check_game(game)
    K = check_count(K, "K (number of iterations)")
    eta = check_positive(eta, "eta")
    rng = np.random.default_rng(seed)

    def step(k, policy, ev):
        probs = [policy.probs(m) for m in range(game.n_agents)]
        new = []
        for m in range(game.n_agents):
            adv = marginal_q(ev.Q, probs, m + 1) - ev.V[:, None]
            new.append(policy.logit_tables[m] + eta * ev.occupancy[:, None] * probs[m] * adv)
        return ProductPolicy.for_game(game, new)

    Js, policies, _ = run_iterations(game, ProductPolicy.for_game(game), K, step, keep_policies)
    return finish("independent-pg", game, Js, policies, rng, dict(K=K, eta=eta, seed=repr(seed)), J_star=J_star)


def centralized_mirror(
    game: MarkovGameBase,
    K: int = 100,
    beta: float = 0.1,
    *,
    seed=0,
    keep_policies: bool = True,
    J_star: float | None = None,
) -> TrainingResult:
    r"""The joint-action mirror step :math:`\pi_{k+1}(\cdot|s)\propto\pi_k(\cdot|s)\exp(Q_{\pi_k}(s,\cdot)/\beta_k)`
    (MA-PPO with one agent over the joint action space)."""
    game = check_game(game)
    joint_game = game.as_single_agent()
    res = ma_ppo(
        joint_game, K, beta, solver="ideal", evaluation="exact", seed=seed, keep_policies=keep_policies, J_star=J_star
    )
    res.algo = "centralized"
    if res.policies is not None:
        res.policies = [joint_to_tables(game, t.tables[0]) for t in res.policies]
    return res
