r"""Independent learners with compact log-linear product policies (the baseline of the function-approximation
chapter): :func:`mappo_lite.algorithms.independent_npg` with ``features=...`` runs :func:`independent_npg_features`.

Agent m's policy :math:`\pi_{\theta^m}(a^m|s)\propto\exp(\phi^m(s,a^m)^\top\theta^m)` ignores the other agents'
actions; its features are given on agent m's conditional contexts like MA-PPO's (so the same feature families
apply) but must not depend on the predecessors' actions (checked on a sample of contexts). Its step is MA-PPO's
(ideal σ_k-weighted projection or Algorithm 3) with agent m's **marginal** :math:`Q^m_{\pi_k}(s,a^m)` in place of
:math:`Q^{1:m}`; all agents step simultaneously from the iteration-k policy.
"""

from __future__ import annotations

import math

import numpy as np

from .checks import check_count, check_game, check_positive
from .compact_step import compact_ideal_step
from .errors import MappoLiteError
from .feature_maps import all_rows, feature_rows, resolve_features
from .policies import ConditionalLogLinearPolicy
from .sampling import contexts_of, mc_localized_q, rms_error, sample_sigma
from .solver import DEFAULT_ETA, improvement_error, policy_improvement_solver


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
            raise MappoLiteError(f"independent learners need features that ignore the other agents' actions; "
                                 f"agent {m}'s features depend on them (use e.g. 'product' or 'gridworld-noprefix')")


def marginal_q_table(Q: np.ndarray, tables, m: int) -> np.ndarray:
    r"""Agent m's (1-based) marginal :math:`Q^m(s,a^m)` under the product policy ``tables``, broadcast to agent m's
    context shape (S, A_1, …, A_m)."""
    from .algorithms import marginal_q

    S, sizes = tables.n_states, tuple(tables.action_sizes)
    probs = [tables.table(i)[(slice(None),) + (0,) * i] for i in range(len(sizes))]  # (S, A_i): prefix 0's row
    Qm = marginal_q(Q, probs, m)
    return np.broadcast_to(Qm.reshape((S,) + (1,) * (m - 1) + (sizes[m - 1],)), (S,) + sizes[:m])


def independent_npg_features(game, K, beta, *, features, solver="ideal", evaluation="exact", radius=math.inf,
                             T=1000, eta=DEFAULT_ETA, n_rollouts=10, sgd_init="zero", seed=0, keep_policies=True,
                             max_steps=100_000, J_star=None):
    from .algorithms import _check_K, _finish, run_iterations

    game = check_game(game)
    K = _check_K(K)
    beta = check_positive(beta, "beta")
    T = check_count(T, "T (SGD samples per agent)")
    n_rollouts = check_count(n_rollouts, "n_rollouts")
    if solver not in ("ideal", "sgd"):
        raise MappoLiteError(f"unknown solver {solver!r}: use 'ideal' or 'sgd'")
    if evaluation not in ("exact", "mc") or (solver == "ideal" and evaluation != "exact"):
        raise MappoLiteError("independent learners with features: evaluation 'exact' (solver 'ideal' or 'sgd') "
                             "or 'mc' (solver 'sgd')")
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
                new, eps[k, m - 1] = compact_ideal_step(rows[m], theta, q_true, beta_k, ev.sigma_agent(m),
                                                        policy.radius)
            else:
                states, actions = sample_sigma(ev.nu, ev.tables, T, rng)
                ctx = contexts_of(states, actions, game.action_sizes, m)
                act = actions[:, m - 1]
                q_at = q_true[(states,) + tuple(actions[:, i] for i in range(m))]
                if evaluation == "exact":
                    q_hat = q_at
                else:
                    q_hat = mc_localized_q(game, ev.tables, N, states, actions, n_rollouts, rng, max_steps)
                    xi[k, m - 1] = rms_error(q_hat, q_at)
                new = policy_improvement_solver(feats, theta, ctx, act, q_hat, beta_k, eta, policy.radius, sgd_init)
                eps[k, m - 1] = improvement_error(feats, new, theta, ctx, act, q_hat, beta_k)
            new_thetas.append(new)
        return policy.with_thetas(new_thetas)

    Js, policies, policy = run_iterations(game, policy, K, step, keep_policies)
    params = dict(K=K, beta=beta, beta_k=beta_k, solver=solver, evaluation=evaluation, T=T, eta=eta,
                  n_rollouts=n_rollouts, sgd_init=sgd_init, radius=radius, seed=repr(seed),
                  features=features if isinstance(features, str) else "custom")
    return _finish("independent-npg", game, Js, policies, rng, params, eps, xi, J_star=J_star, thetas=policy.thetas)


def _state_rows(feats, n_pre: int, n_states: int):
    """Feature rows (S·A, d) at prefix 0 of every state (prefix-blind features: the same in every prefix)."""
    A = feats.n_actions
    ctx = np.repeat(np.arange(n_states, dtype=np.int64) * n_pre, A)
    act = np.tile(np.arange(A, dtype=np.int64), n_states)
    return feature_rows(feats, ctx, act)


def happo_features(game, K, beta, *, features, order="random", seed=0, keep_policies=True, radius=math.inf,
                   J_star=None):
    r"""HAPPO (:func:`mappo_lite.happo.happo`) with compact log-linear product policies: agent :math:`i_j`'s exact
    ratio-weighted target :math:`M^{i_j}(s,a)` of :func:`mappo_lite.happo.happo_target` is projected onto its
    features by the exact σ_k-weighted least squares of :func:`mappo_lite.compact_step.compact_ideal_step`, with
    σ_k(s, a) = ν_k(s) π^{i_j}_k(a|s) (the distribution HAPPO samples agent :math:`i_j`'s actions from). The features
    must ignore the other agents' actions, as for :func:`independent_npg_features`. ``result.eps[k, i]`` is agent i's
    projection residual."""
    from .algorithms import _check_K, _finish, run_iterations
    from .happo import happo_target

    game = check_game(game)
    K = _check_K(K)
    beta = check_positive(beta, "beta")
    rng = np.random.default_rng(seed)  # the agent orders and the output index, as in tabular HAPPO
    aux = np.random.default_rng(0)  # random feature draws and the prefix check: not from the orders' stream
    policy = ConditionalLogLinearPolicy.for_game(game, resolve_features(game, features, aux), radius=radius)
    _check_prefix_blind(policy, aux)
    N, S, sizes = game.n_agents, game.n_states, game.action_sizes
    n_pre = [int(np.prod(sizes[:i], dtype=np.int64)) for i in range(N)]
    rows = [_state_rows(policy.features[i], n_pre[i], S) for i in range(N)]
    if isinstance(order, str):
        if order != "random":
            raise MappoLiteError(f"order must be 'random' or a permutation of 0..{N - 1}, got {order!r}")
        fixed = None
    else:
        fixed = [int(i) for i in order]
        if sorted(fixed) != list(range(N)):
            raise MappoLiteError(f"order must be a permutation of 0..{N - 1}, got {order!r}")
    beta_k = beta * math.sqrt(K)
    eps = np.zeros((K, N))
    orders = []

    def logp_of(i, theta):
        L = (rows[i] @ theta).reshape(S, sizes[i])
        L = L - L.max(axis=1, keepdims=True)
        return L - np.log(np.exp(L).sum(axis=1, keepdims=True))

    def step(k, policy, ev):
        o = list(rng.permutation(N)) if fixed is None else fixed
        orders.append([int(i) for i in o])
        A_adv = ev.Q - ev.V.reshape((-1,) + (1,) * N)
        old_logp = [logp_of(i, policy.thetas[i]) for i in range(N)]
        new_logp = list(old_logp)
        thetas = list(policy.thetas)
        for j, i in enumerate(o):
            M = happo_target(A_adv, old_logp, new_logp, i, o[:j])
            w = (ev.nu[:, None] * np.exp(old_logp[i])).reshape(-1)
            thetas[i], eps[k, i] = compact_ideal_step(rows[i], policy.thetas[i], M.reshape(-1), beta_k, w,
                                                      policy.radius)
            new_logp[i] = logp_of(i, thetas[i])
        return policy.with_thetas(thetas)

    Js, policies, policy = run_iterations(game, policy, K, step, keep_policies)
    params = dict(K=K, beta=beta, beta_k=beta_k, order=order if fixed is None else fixed, seed=repr(seed),
                  orders=orders, radius=radius, features=features if isinstance(features, str) else "custom")
    return _finish("happo", game, Js, policies, rng, params, eps, np.zeros((K, N)), J_star=J_star,
                   thetas=policy.thetas)
