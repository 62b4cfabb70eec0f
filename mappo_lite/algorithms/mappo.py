r"""Algorithm 1 (MA-PPO): :func:`ma_ppo`.

:math:`\theta^m_0 = 0`; for k = 0..K−1, with :math:`\beta_k = \beta\sqrt K`, every agent m takes a local step towards
:math:`\pi^m_k\exp(Q^{1:m}_{\pi_k}/\beta_k)`, computed either exactly (``solver="ideal"``, tabular features:
:func:`mappo_lite.improvement.ideal_mirror_step`) or by Algorithm 3 on T samples from :math:`\sigma_k`
(``solver="sgd"``: :func:`mappo_lite.improvement.policy_improvement_solver`); with compact features the ideal
step is the exact σ_k-weighted least-squares step over Θ (:func:`mappo_lite.improvement.compact_ideal_step`).
:math:`Q^{1:m}` is exact
(``evaluation="exact"``) or a Monte Carlo estimate (``evaluation="mc"``). All agents' targets belong to the
iteration-k joint policy; the sequential structure is the conditioning on :math:`\mathbf a^{1:m-1}`. The loop and
the result are :mod:`.loop`'s; the baselines it is compared with are in :mod:`.baselines`.
"""

from __future__ import annotations

import math

import numpy as np

from .. import kernels
from .._validate import check_count, check_game, check_positive
from ..errors import MappoLiteError
from ..evaluation import localized_values
from ..games.base import MarkovGameBase
from ..games.dense import CooperativeMarkovGame
from ..improvement import (
    DEFAULT_ETA,
    compact_ideal_step,
    ideal_mirror_step,
)
from ..policies.conditional import ConditionalLogLinearPolicy, ConditionalTables
from ..policies.families import resolve_features
from ..policies.features import all_rows
from ..sampling import mc_localized_q_table, rms_error
from .loop import TrainingResult, finish, run_iterations, sampled_improvement

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
    measure_approx: bool = False,
    fused: bool = True,
    callback=None,
) -> TrainingResult:
    r"""Algorithm 1, Multi-Agent PPO, with the ideal mirror step or Algorithm 3 as the policy improvement solver.

    Parameters
    ----------
    K, beta
        Iterations and penalty β; :math:`\beta_k = \beta\sqrt K` for every k.
    solver : ``"ideal"`` | ``"sgd"``
        The ideal step or Algorithm 3 (projected SGD, T samples per agent, stepsize η). The ideal step is the exact
        mirror step with tabular features and, with compact features, the exact minimizer over Θ of Algorithm 3's
        objective under the exact σ_k (:func:`mappo_lite.improvement.compact_ideal_step`); its σ_k-weighted
        residual is recorded in ``eps`` (the approximation error: 0 when the class realizes the step).
    evaluation : ``"exact"`` | ``"mc"`` | callable
        Exact :math:`Q^{1:m}` or Monte Carlo :math:`\hat Q^{1:m}` with ``n_rollouts`` rollouts per sample (with
        ``solver="ideal"``, in every context). A callable ``evaluation(game, tables) -> Q_hat`` (shape
        (S, A_1, …, A_N)) supplies an estimate of the whole Q of the iteration-k policy (e.g. the off-policy
        evaluators of :mod:`mappo_lite.offline`); its localized :math:`\hat Q^{1:m}` come from the backward sweep
        under :math:`\pi_k`. Callables work with ``solver="ideal"``.
    features, radius
        Feature maps and R of Θ: ``"tabular"``, a family name of :data:`mappo_lite.policies.families.FAMILIES`
        (``"product"``, ``"match"``, ``"pairwise"``, ``"gridworld"``, ``"random:D"``, …) or one feature map per
        agent (arrays (n_ctx_m, A_m, d_m), :class:`~mappo_lite.policies.features.ArrayFeatures`,
        :class:`~mappo_lite.policies.features.CallableFeatures`). Sparse games train with ``solver="sgd"`` and
        ``evaluation="mc"`` (rollouts over the successor lists) without building the dense tensor.
    sgd_init : ``"zero"`` | ``"previous"``
        Algorithm 3's starting point θ(0) = 0 (paper) or :math:`\theta^m_k`.
    seed
        int or ``numpy.random.Generator``: drives sampling, Monte Carlo and the output index.
    J_star
        :math:`J^\star` of ``game`` if known (it is reported in the result); None computes it once, by policy
        iteration, at the end of the run.
    measure_approx
        With ``solver="sgd"``: also compute, every iteration, the compact ideal step's residual under the exact
        σ_k and :math:`Q^{1:m}` (``result.eps_approx``: the approximation floor Algorithm 3's fit cannot beat).
    fused
        With the ideal step, exact evaluation, tabular features and a dense game, run all K iterations in one
        compiled call (:func:`mappo_lite.kernels.exact.mappo_exact_ideal`: the same steps, without Python between
        them; on the book's small games an iteration then costs microseconds instead of about 0.1 ms). False runs
        the general loop, which every other setting uses; the two agree to rounding.
    callback
        ``callback(k)`` is called once :math:`\pi_k` is evaluated, k = 0..K, e.g. to move a progress bar (the fused
        run calls it once, with k = K, at its end).
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
    if callback is not None and not callable(callback):
        raise MappoLiteError(f"callback must be a function of k or None, got {callback!r}")
    n_rollouts = check_count(n_rollouts, "n_rollouts")
    rng = np.random.default_rng(seed)
    policy = ConditionalLogLinearPolicy.for_game(game, resolve_features(game, features, rng), radius=radius)
    beta_k = beta * math.sqrt(K)
    N = game.n_agents
    J_hat = []
    eps, xi = np.zeros((K, N)), np.zeros((K, N))
    eps_approx = np.zeros((K, N)) if measure_approx else None
    dense_rows = {}

    def rows_of(m):
        if m not in dense_rows:
            dense_rows[m] = all_rows(policy.features[m - 1])
        return dense_rows[m]

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
                if feats.tabular:
                    new_thetas.append(ideal_mirror_step(theta, q, beta_k, policy.radius, check=False))
                else:
                    new, eps[k, m - 1] = compact_ideal_step(
                        rows_of(m), theta, q, beta_k, ev.sigma_agent(m), policy.radius
                    )
                    new_thetas.append(new)
            else:
                if measure_approx:
                    eps_approx[k, m - 1] = compact_ideal_step(
                        rows_of(m), theta, q_true, beta_k, ev.sigma_agent(m), policy.radius
                    )[1]
                new, eps[k, m - 1], xi[k, m - 1] = sampled_improvement(
                    game,
                    ev,
                    m,
                    feats,
                    theta,
                    q_true,
                    m,
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
        features=features if isinstance(features, str) else "custom",
    )
    if (
        fused
        and solver == "ideal"
        and evaluation == "exact"
        and estimator is None
        and isinstance(game, CooperativeMarkovGame)
        and all(f.tabular for f in policy.features)
    ):
        Js, policies, thetas = _fused_exact_run(game, policy, K, beta_k, keep_policies)
        policy.with_thetas(thetas)  # what the general loop checks after each step (NaN or infinite parameters)
        if callback is not None:
            callback(K)
        return finish("mappo", game, Js, policies, rng, params, eps, xi, J_star=J_star, thetas=thetas)
    Js, policies, policy = run_iterations(game, policy, K, step, keep_policies, callback)
    result = finish("mappo", game, Js, policies, rng, params, eps, xi, J_star=J_star, thetas=policy.thetas)
    result.eps_approx = eps_approx
    if estimator is not None:
        result.J_estimated = np.asarray(J_hat)
    return result


def _fused_exact_run(game, policy, K: int, beta_k: float, keep_policies: bool):
    r"""K exact iterations of :func:`ma_ppo` (ideal tabular step) in one compiled call: ``(J, policies, thetas)`` as
    the general loop returns them (:func:`.loop.run_iterations`)."""
    dims = [t.size for t in policy.thetas]
    offsets = np.concatenate([[0], np.cumsum(dims)]).astype(np.int64)
    sizes = np.asarray(game.action_sizes, np.int64)
    Js, theta, rows, _ = kernels.mappo_exact_ideal(
        game.P_flat,
        game.r_flat,
        game.rho,
        game.gamma,
        np.concatenate(policy.thetas),
        offsets,
        sizes,
        K,
        beta_k,
        float(policy.radius),
        bool(keep_policies),
    )

    # each agent's tables of all kept iterates as one (n_kept, n_ctx_m, A_m) view: iterate k's tables are views too
    per_agent = [rows[:, offsets[m] : offsets[m + 1]].reshape(rows.shape[0], -1, int(A)) for m, A in enumerate(sizes)]
    policies = [ConditionalTables(tabs, game.n_states, game.action_sizes) for tabs in zip(*per_agent)]
    thetas = [theta[offsets[m] : offsets[m + 1]].copy() for m in range(len(dims))]
    return list(Js), policies, thetas
