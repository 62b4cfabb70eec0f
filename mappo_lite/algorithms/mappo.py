r"""Algorithm 1 (MA-PPO): :func:`ma_ppo`.

:math:`\theta^m_0 = 0`; for k = 0..K−1, with :math:`\beta_k = \beta\sqrt K`, every agent m takes a local step towards
:math:`\pi^m_k\exp(Q^{1:m}_{\pi_k}/\beta_k)`, computed either exactly (``solver="ideal"``, tabular features:
:func:`mappo_lite.improvement.ideal_mirror_step`) or by Algorithm 3 on T samples from :math:`\sigma_k`
(``solver="sgd"``: :func:`mappo_lite.improvement.policy_improvement_solver`); :math:`Q^{1:m}` is exact
(``evaluation="exact"``) or a Monte Carlo estimate (``evaluation="mc"``). All agents' targets belong to the
iteration-k joint policy; the sequential structure is the conditioning on :math:`\mathbf a^{1:m-1}`. The loop and
the result are :mod:`.loop`'s; the baselines it is compared with are in :mod:`.baselines`.
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import check_count, check_game, check_positive
from ..errors import MappoLiteError
from ..evaluation import localized_values
from ..games.base import MarkovGameBase
from ..improvement import DEFAULT_ETA, ideal_mirror_step, improvement_error, policy_improvement_solver
from ..policies.conditional import ConditionalLogLinearPolicy
from ..sampling import contexts_of, mc_localized_q, mc_localized_q_table, rms_error, sample_sigma
from .loop import TrainingResult, finish, run_iterations

#: Choices of :func:`ma_ppo`'s ``solver``, ``evaluation`` (besides a callable) and ``sgd_init`` (the CLI reads them).
SOLVERS = ("ideal", "sgd")
EVALUATIONS = ("exact", "mc")
SGD_INITS = ("zero", "previous")


def ma_ppo(
    game: MarkovGameBase,
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
    J_star: float | None = None,
) -> TrainingResult:
    r"""Algorithm 1, Multi-Agent PPO, with the ideal mirror step or Algorithm 3 as the policy improvement solver.

    Parameters
    ----------
    K, beta
        Iterations and penalty β; :math:`\beta_k = \beta\sqrt K` for every k.
    solver : ``"ideal"`` | ``"sgd"``
        Exact tabular mirror step (chapter 5) or Algorithm 3 (projected SGD, T samples per agent, stepsize η).
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
    J_star
        :math:`J^\star` of ``game`` if known (it is reported in the result); None computes it once, by policy
        iteration, at the end of the run.
    """
    game = check_game(game)
    K = check_count(K, "K (number of iterations)")
    beta = check_positive(beta, "beta")
    if solver not in SOLVERS:
        raise MappoLiteError(f"unknown solver {solver!r}: use 'ideal' or 'sgd'")
    estimator = evaluation if callable(evaluation) else None
    if estimator is None and evaluation not in EVALUATIONS:
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
                new_thetas.append(ideal_mirror_step(theta, q, beta_k, policy.radius, check=False))
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
    result = finish("mappo", game, Js, policies, rng, params, eps, xi, J_star=J_star, thetas=policy.thetas)
    if estimator is not None:
        result.J_estimated = np.asarray(J_hat)
    return result
