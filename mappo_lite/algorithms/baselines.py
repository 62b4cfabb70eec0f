r"""The baselines MA-PPO is compared with.

:func:`independent_npg`
    Product policies; each agent takes the same mirror step on its *own marginal* Q,
    :math:`Q^m(s,a^m) = \mathbb E_{\mathbf a^{-m}\sim\pi^{-m}}Q(s,\mathbf a)`, all agents simultaneously. With
    ``features=...`` the policies are compact log-linear product policies (features that ignore the other agents'
    actions, given on agent m's conditional contexts like MA-PPO's so the same families apply; checked on a sample
    of contexts) and the step is MA-PPO's (the exact σ_k-weighted projection, or Algorithm 3 on samples) with the
    marginal Q as the target (:func:`independent_npg_features`).
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

from .._validate import check_agent, check_count, check_game, check_positive
from ..errors import MappoLiteError
from ..evaluation import joint_to_tables
from ..games.base import MarkovGameBase
from ..improvement import DEFAULT_ETA, compact_ideal_step
from ..policies.conditional import ConditionalLogLinearPolicy, ProductPolicy
from ..policies.families import resolve_features
from ..policies.features import all_rows, feature_rows
from .loop import TrainingResult, finish, run_iterations, sampled_improvement
from .mappo import ma_ppo


def marginal_q(Q: np.ndarray, agent_probs, m: int) -> np.ndarray:
    r"""Agent m's (1-based) marginal action value under a product policy,
    :math:`Q^m(s,a^m) = \sum_{\mathbf a^{-m}}\prod_{i\ne m}\pi^i(a^i|s)\,Q(s,\mathbf a)`, shape (S, A_m).

    ``Q`` has shape (S, A_1, …, A_N); ``agent_probs`` lists agent 1..N's tables (position i − 1 holds agent i's,
    (S, A_i))."""
    out = Q
    N = Q.ndim - 1
    m = check_agent(m, N)
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
    features=None,
    solver: str = "ideal",
    evaluation: str = "exact",
    radius: float = math.inf,
    T: int = 1000,
    eta: float = DEFAULT_ETA,
    n_rollouts: int = 10,
    sgd_init: str = "zero",
    max_steps: int = 100_000,
) -> TrainingResult:
    r"""Independent natural policy gradient: product policies, :math:`\pi^m_{k+1}(\cdot|s)\propto\pi^m_k\exp(Q^m_{\pi_k}/\beta_k)`
    for every agent at once, :math:`\beta_k = \beta\sqrt K`.

    ``features=None``: tabular product logits (the exact step above). With ``features`` (a family name such as
    ``"product"`` or ``"gridworld-noprefix"``, or one feature map per agent that ignores the predecessors'
    actions), :func:`independent_npg_features` runs: the exact σ_k-weighted projection (``solver="ideal"``, exact
    Q) or Algorithm 3 on T samples (``solver="sgd"``) with exact or Monte Carlo targets (``evaluation="mc"``: the
    return after the sampled joint action, unbiased for :math:`Q^m(s,a^m)` because the others draw independently)."""
    if features is not None:
        return independent_npg_features(
            game,
            K,
            beta,
            features=features,
            solver=solver,
            evaluation=evaluation,
            radius=radius,
            T=T,
            eta=eta,
            n_rollouts=n_rollouts,
            sgd_init=sgd_init,
            seed=seed,
            keep_policies=keep_policies,
            max_steps=max_steps,
            J_star=J_star,
        )
    game = check_game(game)
    K = check_count(K, "K (number of iterations)")
    beta = check_positive(beta, "beta")
    rng = np.random.default_rng(seed)
    beta_k = beta * math.sqrt(K)

    def step(k, policy, ev):
        probs = [policy.probs(m) for m in range(1, game.n_agents + 1)]
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
        probs = [policy.probs(m) for m in range(1, game.n_agents + 1)]
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


def _check_prefix_blind(policy, rng, n_check: int = 32):
    S, sizes = policy.n_states, policy.action_sizes
    for m in range(2, policy.n_agents + 1):
        f = policy.features[m - 1]
        n_pre = int(np.prod(sizes[: m - 1]))
        if n_pre == 1:
            continue
        s = rng.integers(S, size=n_check)
        a = rng.integers(sizes[m - 1], size=n_check)
        base = feature_rows(f, s * n_pre, a)
        other = feature_rows(f, s * n_pre + rng.integers(1, n_pre, size=n_check), a)
        if np.max(np.abs(base - other)) > 1e-12 * max(1.0, float(np.abs(base).max())):
            raise MappoLiteError(
                f"independent learners need features that ignore the other agents' actions; "
                f"agent {m}'s features depend on them (use e.g. 'product' or 'gridworld-noprefix')"
            )


def marginal_q_table(Q: np.ndarray, tables, m: int) -> np.ndarray:
    r"""Agent m's (1-based) marginal :math:`Q^m(s,a^m)` under the product policy ``tables``, broadcast to agent m's
    context shape (S, A_1, …, A_m)."""
    S, sizes = tables.n_states, tuple(tables.action_sizes)
    m = check_agent(m, len(sizes))
    probs = [
        tables.table(i)[(slice(None),) + (0,) * (i - 1)] for i in range(1, len(sizes) + 1)
    ]  # (S, A_i): prefix 0's row
    Qm = marginal_q(Q, probs, m)
    return np.broadcast_to(Qm.reshape((S,) + (1,) * (m - 1) + (sizes[m - 1],)), (S,) + sizes[:m])


def independent_npg_features(
    game,
    K,
    beta,
    *,
    features,
    solver="ideal",
    evaluation="exact",
    radius=math.inf,
    T=1000,
    eta=DEFAULT_ETA,
    n_rollouts=10,
    sgd_init="zero",
    seed=0,
    keep_policies=True,
    max_steps=100_000,
    J_star=None,
) -> TrainingResult:
    r"""Independent learners with compact log-linear product policies :math:`\pi_{\theta^m}(a^m|s)\propto
    \exp(\phi^m(s,a^m)^\top\theta^m)` (see :func:`independent_npg`): MA-PPO's step with agent m's marginal
    :math:`Q^m_{\pi_k}(s,a^m)` in place of :math:`Q^{1:m}`, all agents from the iteration-k policy."""
    game = check_game(game)
    K = check_count(K, "K (number of iterations)")
    beta = check_positive(beta, "beta")
    T = check_count(T, "T (SGD samples per agent)")
    n_rollouts = check_count(n_rollouts, "n_rollouts")
    if solver not in ("ideal", "sgd"):
        raise MappoLiteError(f"unknown solver {solver!r}: use 'ideal' or 'sgd'")
    if evaluation not in ("exact", "mc") or (solver == "ideal" and evaluation != "exact"):
        raise MappoLiteError(
            "independent learners with features: evaluation 'exact' (solver 'ideal' or 'sgd') or 'mc' (solver 'sgd')"
        )
    rng = np.random.default_rng(seed)
    policy = ConditionalLogLinearPolicy.for_game(game, resolve_features(game, features, rng), radius=radius)
    _check_prefix_blind(policy, rng)
    beta_k = beta * math.sqrt(K)
    N = game.n_agents
    eps, xi = np.zeros((K, N)), np.zeros((K, N))
    rows = {}

    def step(k, policy, ev):
        new_thetas = []
        for m in range(1, N + 1):
            theta, feats = policy.thetas[m - 1], policy.features[m - 1]
            q_true = marginal_q_table(ev.Q, ev.tables, m)
            if solver == "ideal":
                if m not in rows:
                    rows[m] = all_rows(feats)
                new, eps[k, m - 1] = compact_ideal_step(
                    rows[m], theta, q_true, beta_k, ev.sigma_agent(m), policy.radius
                )
            else:
                new, eps[k, m - 1], xi[k, m - 1] = sampled_improvement(
                    game,
                    ev,
                    m,
                    feats,
                    theta,
                    q_true,
                    N,
                    beta_k,
                    T=T,
                    eta=eta,
                    radius=policy.radius,
                    sgd_init=sgd_init,
                    evaluation=evaluation,
                    n_rollouts=n_rollouts,
                    rng=rng,
                    max_steps=max_steps,
                )
            new_thetas.append(new)
        return policy.with_thetas(new_thetas)

    Js, policies, policy = run_iterations(game, policy, K, step, keep_policies)
    params = dict(
        K=K,
        beta=beta,
        beta_k=beta_k,
        solver=solver,
        evaluation=evaluation,
        T=T,
        eta=eta,
        n_rollouts=n_rollouts,
        sgd_init=sgd_init,
        radius=radius,
        seed=repr(seed),
        features=features if isinstance(features, str) else "custom",
    )
    return finish("independent-npg", game, Js, policies, rng, params, eps, xi, J_star=J_star, thetas=policy.thetas)
