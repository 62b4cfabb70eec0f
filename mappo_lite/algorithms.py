r"""Algorithm 1 (MA-PPO) and the baselines it is compared with.

:func:`ma_ppo`
    Algorithm 1: :math:`\theta^m_0 = 0`; for k = 0..K−1, with :math:`\beta_k = \beta\sqrt K`, every agent m takes a
    local step towards :math:`\pi^m_k\exp(Q^{1:m}_{\pi_k}/\beta_k)`, computed either exactly (``solver="ideal"``,
    tabular features) or by Algorithm 3 on T samples from :math:`\sigma_k` (``solver="sgd"``); :math:`Q^{1:m}` is
    exact (``evaluation="exact"``) or a Monte Carlo estimate (``evaluation="mc"``). All agents' targets belong to
    the iteration-k joint policy; the sequential structure is the conditioning on :math:`\mathbf a^{1:m-1}`.
:func:`independent_npg`
    Product policies; each agent takes the same mirror step on its *own marginal* Q,
    :math:`Q^m(s,a^m) = \mathbb E_{\mathbf a^{-m}\sim\pi^{-m}}Q(s,\mathbf a)`, all agents simultaneously.
:func:`independent_pg`
    Product softmax policies, simultaneous exact gradient ascent on J:
    :math:`\partial J/\partial\theta^m(s,a) = d_\pi(s)\,\pi^m(a|s)\,(Q^m(s,a) - V(s))`.
:func:`centralized_mirror`
    One "agent" whose actions are the joint actions: the same mirror step on the joint Q (an upper reference that
    ignores the exponential size of the joint action space).

Every run returns a :class:`TrainingResult` with :math:`J(\pi_0), …, J(\pi_K)`, the output iterate
:math:`\bar\pi = \pi_k` with k uniform on {0..K−1} (as the paper outputs), and the measured errors ε, ξ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .checks import check_count, check_game, check_positive
from .errors import MappoLiteError
from .evaluation import evaluate, joint_to_tables, localized_values, optimal_value
from .games import CooperativeMarkovGame
from .policies import ConditionalLogLinearPolicy, ConditionalTables, ProductPolicy, project_to_ball
from .sampling import contexts_of, mc_localized_q, mc_localized_q_table, rms_error, sample_sigma
from .solver import DEFAULT_ETA, improvement_error, policy_improvement_solver


@dataclass
class TrainingResult:
    r"""What a training run returns.

    ``J`` (K+1,): :math:`J(\pi_0), …, J(\pi_K)`; ``J_star``: :math:`J^\star`; ``output_index``: the uniformly drawn k
    of the output iterate; ``policies``: the K+1 iterates as conditional tables (when kept); ``eps``, ``xi``
    (K, N): measured improvement and evaluation errors (zeros for exact steps; ``None`` for baselines).

    How they are measured: ``xi[k, m]`` is the root mean square of :math:`\hat Q^{1:m}-Q^{1:m}` over the samples
    (``solver="sgd"``) or σ_k-weighted over every context (``solver="ideal"``); ``eps[k, m]`` is the root mean square
    fit residual of Algorithm 3 on the same T samples it was fit on. Both are in-sample estimates of the theorem's
    expectations under σ_k; with tabular features, contexts that were never sampled do not enter ε at all.
    """

    algo: str
    J: np.ndarray
    J_star: float
    output_index: int
    policies: list | None
    eps: np.ndarray | None = None
    xi: np.ndarray | None = None
    params: dict = field(default_factory=dict)
    final_thetas: list | None = None
    J_estimated: np.ndarray | None = None

    @property
    def K(self) -> int:
        return len(self.J) - 1

    @property
    def J_output(self) -> float:
        r""":math:`J(\bar\pi)` of the uniformly sampled iterate."""
        return float(self.J[self.output_index])

    @property
    def gap(self) -> np.ndarray:
        r""":math:`J^\star - J(\pi_k)` for k = 0..K (never negative beyond rounding)."""
        return self.J_star - self.J

    @property
    def average_gap(self) -> float:
        r""":math:`\frac1K\sum_{k<K}(J^\star - J(\pi_k))`, the quantity Theorem 1 bounds (the expected gap of :math:`\bar\pi`)."""
        return float(np.mean(self.gap[:-1]))

    @property
    def final_policy(self):
        return None if self.policies is None else self.policies[-1]

    def as_dict(self) -> dict:
        out = {
            "algo": self.algo,
            "J": [float(x) for x in self.J],
            "J_star": float(self.J_star),
            "J_output": self.J_output,
            "output_index": int(self.output_index),
            "J_final": float(self.J[-1]),
            "average_gap": self.average_gap,
            "params": self.params,
        }
        if self.eps is not None:
            out["eps"] = self.eps.tolist()
            out["xi"] = self.xi.tolist()
        return out


def _check_K(K) -> int:
    return check_count(K, "K (number of iterations)")


def run_iterations(game, policy, K: int, step, keep_policies: bool = True):
    r"""Evaluate :math:`\pi_0, …, \pi_K` exactly, where :math:`\pi_{k+1}` = ``step(k, policy, evaluation)``.

    The loop every algorithm shares; returns the list of :math:`J(\pi_k)` and the kept policies (all K+1 as
    :class:`~mappo_lite.policies.ConditionalTables`, or only the last one)."""
    Js, policies = [], []
    for k in range(K + 1):
        ev = evaluate(game, policy)
        Js.append(ev.J)
        if keep_policies or k == K:
            policies.append(ev.tables)
        if k < K:
            policy = step(k, policy, ev)
    return Js, policies, policy


def _finish(algo, game, Js, policies, rng, params, eps=None, xi=None, J_star=None, thetas=None) -> TrainingResult:
    K = len(Js) - 1
    if J_star is None:
        J_star = optimal_value(game).J_star
    return TrainingResult(
        algo=algo,
        J=np.asarray(Js, dtype=np.float64),
        J_star=float(J_star),
        output_index=int(rng.integers(K)),
        policies=policies,
        eps=eps,
        xi=xi,
        params=params,
        final_thetas=thetas,
    )


def ma_ppo(
    game: CooperativeMarkovGame,
    K: int = 100,
    beta: float = 0.1,
    *,
    solver: str = "ideal",
    evaluation: str = "exact",
    features="tabular",
    radius: float = math.inf,
    T: int = 1000,
    eta: float = DEFAULT_ETA,
    n_rollouts: int = 10,
    sgd_init: str = "zero",
    seed=0,
    keep_policies: bool = True,
    max_steps: int = 100_000,
) -> TrainingResult:
    r"""Algorithm 1, Multi-Agent PPO, with the ideal mirror step or Algorithm 3 as the policy improvement solver.

    Parameters
    ----------
    K, beta
        Iterations and penalty β; :math:`\beta_k = \beta\sqrt K` for every k.
    solver : ``"ideal"`` | ``"sgd"``
        Exact tabular mirror step (digest §6) or Algorithm 3 (projected SGD, T samples per agent, stepsize η).
    evaluation : ``"exact"`` | ``"mc"`` | callable
        Exact :math:`Q^{1:m}` or Monte Carlo :math:`\hat Q^{1:m}` with ``n_rollouts`` rollouts per sample (with
        ``solver="ideal"``, in every context). A callable ``evaluation(game, tables) -> Q_hat`` (shape
        (S, A_1, …, A_N)) supplies an estimate of the whole Q of the iteration-k policy (e.g. the off-policy
        evaluators of :mod:`mappo_lite.offline`); its localized :math:`\hat Q^{1:m}` come from the backward sweep
        under :math:`\pi_k`. Callables work with ``solver="ideal"``.
    features, radius
        Feature maps (``"tabular"`` or one per agent) and R of Θ.
    sgd_init : ``"zero"`` | ``"previous"``
        Algorithm 3's starting point θ(0) = 0 (paper) or :math:`\theta^m_k`.
    seed
        int or ``numpy.random.Generator``: drives sampling, Monte Carlo and the output index.
    """
    game = check_game(game)
    K = _check_K(K)
    beta = check_positive(beta, "beta")
    if solver not in ("ideal", "sgd"):
        raise MappoLiteError(f"unknown solver {solver!r}: use 'ideal' or 'sgd'")
    estimator = evaluation if callable(evaluation) else None
    if estimator is None and evaluation not in ("exact", "mc"):
        raise MappoLiteError(f"unknown evaluation {evaluation!r}: use 'exact', 'mc' or a callable")
    if estimator is not None and solver != "ideal":
        raise MappoLiteError("a callable evaluation (an off-policy estimate of Q) needs solver='ideal'")
    T = check_count(T, "T (SGD samples per agent)")
    n_rollouts = check_count(n_rollouts, "n_rollouts")
    rng = np.random.default_rng(seed)
    policy = ConditionalLogLinearPolicy.for_game(game, features, radius=radius)
    if solver == "ideal" and not all(f.tabular for f in policy.features):
        raise MappoLiteError("the ideal mirror step needs tabular features; use solver='sgd' for compact features")
    beta_k = beta * math.sqrt(K)
    N = game.n_agents
    J_hat = []
    eps, xi = np.zeros((K, N)), np.zeros((K, N))

    def step(k, policy, ev):
        new_thetas = []
        if estimator is not None:
            q_est = localized_values(estimator(game, ev.tables), ev.tables)
            J_hat.append(float(game.rho @ q_est[0]))
        for m in range(1, N + 1):
            theta, feats = policy.thetas[m - 1], policy.features[m - 1]
            q_true = ev.q_local[m]
            if solver == "ideal":
                if estimator is not None:
                    q = q_est[m]
                    xi[k, m - 1] = rms_error(q, q_true, ev.sigma_agent(m))
                elif evaluation == "exact":
                    q = q_true
                else:
                    q = mc_localized_q_table(game, ev.tables, m, n_rollouts, rng, max_steps)
                    xi[k, m - 1] = rms_error(q, q_true, ev.sigma_agent(m))
                new_thetas.append(project_to_ball(theta + q.reshape(-1) / beta_k, policy.radius))
            else:
                states, actions = sample_sigma(ev.nu, ev.tables, T, rng)
                ctx = contexts_of(states, actions, game.action_sizes, m)
                act = actions[:, m - 1]
                q_at = q_true[(states,) + tuple(actions[:, i] for i in range(m))]
                if evaluation == "exact":
                    q_hat = q_at
                else:
                    q_hat = mc_localized_q(game, ev.tables, m, states, actions, n_rollouts, rng, max_steps)
                    xi[k, m - 1] = rms_error(q_hat, q_at)
                new = policy_improvement_solver(feats, theta, ctx, act, q_hat, beta_k, eta, policy.radius, sgd_init)
                eps[k, m - 1] = improvement_error(feats, new, theta, ctx, act, q_hat, beta_k)
                new_thetas.append(new)
        return policy.with_thetas(new_thetas)

    Js, policies, policy = run_iterations(game, policy, K, step, keep_policies)
    params = dict(
        K=K,
        beta=beta,
        beta_k=beta_k,
        solver=solver,
        evaluation=evaluation if estimator is None else getattr(estimator, "name", "custom"),
        T=T,
        eta=eta,
        n_rollouts=n_rollouts,
        sgd_init=sgd_init,
        radius=radius,
        seed=repr(seed),
    )
    result = _finish("mappo", game, Js, policies, rng, params, eps, xi, thetas=policy.thetas)
    if estimator is not None:
        result.J_estimated = np.asarray(J_hat)
    return result


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
    game: CooperativeMarkovGame, K: int = 100, beta: float = 0.1, *, seed=0, keep_policies: bool = True
) -> TrainingResult:
    r"""Independent natural policy gradient: product policies, :math:`\pi^m_{k+1}(\cdot|s)\propto\pi^m_k\exp(Q^m_{\pi_k}/\beta_k)`
    for every agent at once, :math:`\beta_k = \beta\sqrt K`."""
    game = check_game(game)
    K = _check_K(K)
    beta = check_positive(beta, "beta")
    rng = np.random.default_rng(seed)
    beta_k = beta * math.sqrt(K)

    def step(k, policy, ev):
        probs = [policy.probs(m) for m in range(game.n_agents)]
        return ProductPolicy.for_game(
            game, [policy.logit_tables[m] + marginal_q(ev.Q, probs, m + 1) / beta_k for m in range(game.n_agents)]
        )

    Js, policies, _ = run_iterations(game, ProductPolicy.for_game(game), K, step, keep_policies)
    return _finish("independent-npg", game, Js, policies, rng, dict(K=K, beta=beta, beta_k=beta_k, seed=repr(seed)))


def independent_pg(
    game: CooperativeMarkovGame, K: int = 100, eta: float = 0.1, *, seed=0, keep_policies: bool = True
) -> TrainingResult:
    r"""Independent policy gradient: product softmax policies, simultaneous exact gradient ascent with stepsize η,
    :math:`\theta^m(s,a) \mathrel{+}= \eta\, d_\pi(s)\,\pi^m(a|s)\,(Q^m(s,a)-V(s))`."""
    game = check_game(game)
    K = _check_K(K)
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
    return _finish("independent-pg", game, Js, policies, rng, dict(K=K, eta=eta, seed=repr(seed)))


def centralized_mirror(
    game: CooperativeMarkovGame, K: int = 100, beta: float = 0.1, *, seed=0, keep_policies: bool = True
) -> TrainingResult:
    r"""The joint-action mirror step :math:`\pi_{k+1}(\cdot|s)\propto\pi_k(\cdot|s)\exp(Q_{\pi_k}(s,\cdot)/\beta_k)`
    (MA-PPO with one agent over the joint action space)."""
    game = check_game(game)
    joint_game = game.as_single_agent()
    res = ma_ppo(joint_game, K, beta, solver="ideal", evaluation="exact", seed=seed, keep_policies=keep_policies)
    res.algo = "centralized"
    if res.policies is not None:
        res.policies = [joint_to_tables(game, t.tables[0]) for t in res.policies]
    return res


#: Algorithm name (as on the command line) → function.
ALGORITHMS = {
    "mappo": ma_ppo,
    "independent-npg": independent_npg,
    "independent-pg": independent_pg,
    "centralized": centralized_mirror,
}


def train(game: CooperativeMarkovGame, algo: str = "mappo", **kwargs) -> TrainingResult:
    """Run the named algorithm (``mappo``, ``independent-npg``, ``independent-pg``, ``centralized``)."""
    try:
        fn = ALGORITHMS[algo]
    except KeyError:
        raise MappoLiteError(f"unknown algorithm {algo!r}; choose from {', '.join(ALGORITHMS)}") from None
    return fn(game, **kwargs)


__all__ = [
    "TrainingResult",
    "ma_ppo",
    "independent_npg",
    "independent_pg",
    "centralized_mirror",
    "marginal_q",
    "ALGORITHMS",
    "train",
    "ConditionalTables",
]
