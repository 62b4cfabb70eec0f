r"""A tabular, exact-quantities version of HAPPO's sequential update (Kuba et al. 2022), for comparison with MA-PPO.

HAPPO works with **product** policies :math:`\pi(\mathbf a|s) = \prod_i \pi^i(a^i|s)`: an agent does not see the
other agents' actions of the same step. One iteration k of the idealized scheme implemented here:

1. evaluate :math:`\pi_k` exactly and form the joint advantage :math:`A_{\pi_k}(s,\mathbf a) = Q_{\pi_k}(s,\mathbf a) - V_{\pi_k}(s)`
   **once**;
2. draw a fresh random agent order :math:`i_1, …, i_N` (a seeded permutation, or a fixed ``order``);
3. update the agents one after another. Agent :math:`i_j`'s target weights the joint advantage by the product of
   the already-updated predecessors' probability ratios,

   .. math:: M^{i_j}(s,a^{i_j}) = \mathbb E_{\mathbf a^{-i_j}\sim\pi_k^{-i_j}}\Big[\prod_{l<j}
             \frac{\pi^{i_l}_{k+1}(a^{i_l}|s)}{\pi^{i_l}_{k}(a^{i_l}|s)}\,A_{\pi_k}(s,\mathbf a)\Big]
             = \mathbb E_{\mathbf a^{i_{1:j-1}}\sim\pi_{k+1}^{i_{1:j-1}},\ \mathbf a^{\rm rest}\sim\pi_k^{\rm rest}}
             \big[A_{\pi_k}(s,\mathbf a)\big],

   computed exactly by enumerating the joint actions (no sampling), and the agent takes the KL-regularized mirror
   step :math:`\pi^{i_j}_{k+1}(\cdot|s) \propto \pi^{i_j}_k(\cdot|s)\exp(M^{i_j}(s,\cdot)/\beta_k)` (the maximizer of
   :math:`\langle M^{i_j}(s,\cdot),\pi\rangle - \beta_k\mathrm{KL}(\pi\|\pi^{i_j}_k)`), with :math:`\beta_k = \beta\sqrt K`
   as in :func:`mappo_lite.algorithms.ma_ppo`.

Two simplifications of the deep-RL algorithm, both ours, make it comparable with MA-PPO's exact ideal step: the
expectation is exact instead of a minibatch average, and the clipped surrogate is replaced by the KL-regularized
mirror step. What remains is HAPPO's defining structure: product policies, a random order, advantages computed
once at :math:`\pi_k`, and importance ratios of the updated predecessors.

``recompute=True`` is the variant users of HAPPO keep asking about: instead of the ratio-weighted
:math:`A_{\pi_k}`, agent :math:`i_j` uses the advantage of the *partially updated* joint policy
:math:`\tilde\pi_j = (\pi^{i_{1:j-1}}_{k+1}, \pi^{\rm rest}_k)`, i.e. :math:`\tilde Q_j` and :math:`\tilde V_j` are recomputed
by exact evaluation of :math:`\tilde\pi_j` and :math:`M^{i_j}(s,a) = \mathbb E_{\mathbf a^{-i_j}\sim\tilde\pi_j^{-i_j}}\tilde Q_j(s,\mathbf a) - \tilde V_j(s)`.
The two targets agree up to a per-state constant (which the mirror step ignores) exactly when :math:`Q` does not
depend on the policy, i.e. in one-step games (γ = 0); in multi-step games they are different objects.
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import check_agent, check_agent_order, check_count, check_game, check_positive
from ..errors import MappoLiteError
from ..evaluation import evaluate
from ..games.base import MarkovGameBase
from ..improvement import compact_ideal_step
from ..kernels.softmax import log_softmax
from ..policies.conditional import ConditionalLogLinearPolicy, ProductPolicy
from ..policies.families import resolve_features
from ..policies.features import feature_rows
from .baselines import _check_prefix_blind, marginal_q
from .loop import TrainingResult, finish, run_iterations

__all__ = ["happo", "happo_features", "happo_target", "happo_iteration"]


def _check_order(order, N: int):
    """``"random"`` (returns None) or a permutation of the agents 1..N (returned as a list)."""
    if isinstance(order, str):
        if order != "random":
            raise MappoLiteError(f"order must be 'random' or a permutation of 1..{N}, got {order!r}")
        return None
    return check_agent_order(order, N)


def happo_target(A: np.ndarray, old_logp, new_logp, agent: int, predecessors) -> np.ndarray:
    r"""HAPPO's ratio-weighted target :math:`M^{i}(s,a^i)` by enumeration over joint actions, shape (S, A_i).

    Parameters
    ----------
    A : (S, A_1, …, A_N)
        The joint advantage (or any joint action value) of the policy the samples come from, :math:`\pi_k`.
    old_logp, new_logp : lists of (S, A_j) arrays
        Every agent's log-probabilities at :math:`\pi_k` and after the update (only the predecessors' new ones are
        used).
    agent : int
        The agent i being updated (1..N, the book's numbering).
    predecessors : iterable of int
        The agents (1..N) already updated in this iteration.

    Every joint action :math:`\mathbf a` gets the weight :math:`\prod_{j\ne i}\pi^j_k(a^j|s)\cdot\prod_{l\in\text{pred}}
    \pi^l_{k+1}(a^l|s)/\pi^l_k(a^l|s)`; the weighted sum of ``A`` over :math:`\mathbf a^{-i}` is returned.
    """
    A = np.asarray(A, dtype=np.float64)
    N = A.ndim - 1
    agent = check_agent(agent, N, "agent")
    pred = [check_agent(p, N, "predecessor") for p in predecessors]
    if agent in pred or len(set(pred)) != len(pred):
        raise MappoLiteError(f"predecessors must be distinct agents other than {agent}, got {pred}")
    agent, pred = agent - 1, [p - 1 for p in pred]  # positions in the per-agent lists and axes
    S = A.shape[0]
    old_w = np.ones(A.shape)  # prod_{j != i} pi_k^j(a^j|s): the sampling distribution of a^{-i}
    ratio = np.ones(A.shape)  # prod_{l in pred} pi_{k+1}^l(a^l|s) / pi_k^l(a^l|s): HAPPO's correction
    for j in range(N):
        if j == agent:
            continue
        shape = [S] + [1] * N
        shape[j + 1] = A.shape[j + 1]
        lp_old = np.asarray(old_logp[j], dtype=np.float64)
        old_w = old_w * np.exp(lp_old).reshape(shape)
        if j in pred:
            ratio = ratio * np.exp(np.asarray(new_logp[j], dtype=np.float64) - lp_old).reshape(shape)
    weighted = old_w * ratio * A
    axes = tuple(1 + j for j in range(N) if j != agent)
    return weighted.sum(axis=axes) if axes else weighted


def happo_iteration(game: MarkovGameBase, logits, beta_k: float, order, recompute: bool = False):
    r"""One HAPPO iteration from the product policy with per-agent ``logits`` (list of (S, A_i)) in the given
    ``order`` (a permutation of the agents 1..N): returns the new logits (list, agent m's at position m − 1)."""
    N = game.n_agents
    order = check_agent_order(order, N)
    old = [np.asarray(L, dtype=np.float64) for L in logits]
    ev = evaluate(game, ProductPolicy.for_game(game, old))
    A = ev.Q - ev.V.reshape((-1,) + (1,) * N)
    old_logp = [log_softmax(L) for L in old]
    new = list(old)
    new_logp = list(old_logp)
    for j, m in enumerate(order):
        i = m - 1  # agent m's position in the lists
        if recompute and j > 0:
            partial = ProductPolicy.for_game(game, new)
            ev_j = evaluate(game, partial)
            probs = [partial.probs(a) for a in range(1, N + 1)]
            M = marginal_q(ev_j.Q, probs, m) - ev_j.V[:, None]
        else:
            M = happo_target(A, old_logp, new_logp, m, order[:j])
        new[i] = old[i] + M / beta_k
        new_logp[i] = log_softmax(new[i])
    return new


def happo(
    game: MarkovGameBase,
    K: int = 100,
    beta: float = 0.1,
    *,
    order="random",
    recompute: bool = False,
    seed=0,
    keep_policies: bool = True,
    J_star: float | None = None,
    features=None,
    radius: float = math.inf,
) -> TrainingResult:
    r"""Tabular exact HAPPO (module docstring) for K iterations from the uniform product policy.

    Parameters
    ----------
    K, beta
        Iterations and penalty; :math:`\beta_k = \beta\sqrt K` (as in :func:`~mappo_lite.algorithms.ma_ppo`).
    order : ``"random"`` or a permutation of the agents 1..N
        ``"random"``: a fresh seeded permutation each iteration (HAPPO); a sequence: that fixed order every iteration.
    recompute : bool
        Use the advantage of the partially updated joint policy instead of the ratio-weighted :math:`A_{\pi_k}`.
    seed
        int or ``numpy.random.Generator``: drives the orders and the output index.
    J_star
        :math:`J^\star` of ``game`` if known; None computes it once at the end (as every algorithm does).

    features, radius
        ``None`` (tabular logits, the exact step above), or compact features that ignore the other agents' actions
        (a family name such as ``"product"`` or one feature map per agent): each agent's target is then projected
        onto its features (:func:`happo_features`; ``recompute`` is not available there).

    Returns a :class:`~mappo_lite.algorithms.TrainingResult` (``algo`` = ``"happo"`` or ``"happo-recompute"``) with
    :math:`J(\pi_0), …, J(\pi_K)`; ``params["orders"]`` lists the K orders used (agents 1..N).
    """
    if features is not None:
        if recompute:
            raise MappoLiteError("recompute=True is only implemented for tabular HAPPO (features=None)")
        return happo_features(
            game,
            K,
            beta,
            features=features,
            order=order,
            seed=seed,
            keep_policies=keep_policies,
            radius=radius,
            J_star=J_star,
        )
    game = check_game(game)
    K = check_count(K, "K (number of iterations)")
    beta = check_positive(beta, "beta")
    if not isinstance(recompute, (bool, np.bool_)):
        raise MappoLiteError(f"recompute must be True or False, got {recompute!r}")
    N = game.n_agents
    fixed = _check_order(order, N)
    rng = np.random.default_rng(seed)
    beta_k = beta * math.sqrt(K)
    orders = []

    def step(k, policy, ev):
        o = [int(i) + 1 for i in rng.permutation(N)] if fixed is None else fixed
        orders.append(o)
        return ProductPolicy.for_game(game, happo_iteration(game, policy.logit_tables, beta_k, o, recompute))

    Js, policies, _ = run_iterations(game, ProductPolicy.for_game(game), K, step, keep_policies)
    params = dict(
        K=K,
        beta=beta,
        beta_k=beta_k,
        order=order if fixed is None else fixed,
        recompute=bool(recompute),
        seed=repr(seed),
        orders=orders,
    )
    return finish("happo-recompute" if recompute else "happo", game, Js, policies, rng, params, J_star=J_star)


def _state_rows(feats, n_pre: int, n_states: int):
    """Feature rows (S·A, d) at prefix 0 of every state (prefix-blind features: the same in every prefix)."""
    A = feats.n_actions
    ctx = np.repeat(np.arange(n_states, dtype=np.int64) * n_pre, A)
    act = np.tile(np.arange(A, dtype=np.int64), n_states)
    return feature_rows(feats, ctx, act)


def happo_features(
    game, K, beta, *, features, order="random", seed=0, keep_policies=True, radius=math.inf, J_star=None
):
    r"""HAPPO (:func:`happo`) with compact log-linear product policies: agent :math:`i_j`'s exact
    ratio-weighted target :math:`M^{i_j}(s,a)` of :func:`happo_target` is projected onto its
    features by the exact σ_k-weighted least squares of :func:`mappo_lite.improvement.compact_ideal_step`, with
    σ_k(s, a) = ν_k(s) π^{i_j}_k(a|s) (the distribution HAPPO samples agent :math:`i_j`'s actions from). The features
    must ignore the other agents' actions, as for :func:`mappo_lite.algorithms.baselines.independent_npg_features`.
    ``result.eps[k, m - 1]`` is agent m's projection residual."""
    game = check_game(game)
    K = check_count(K, "K (number of iterations)")
    beta = check_positive(beta, "beta")
    rng = np.random.default_rng(seed)  # the agent orders and the output index, as in tabular HAPPO
    aux = np.random.default_rng(0)  # random feature draws and the prefix check: not from the orders' stream
    policy = ConditionalLogLinearPolicy.for_game(game, resolve_features(game, features, aux), radius=radius)
    _check_prefix_blind(policy, aux)
    N, S, sizes = game.n_agents, game.n_states, game.action_sizes
    n_pre = [int(np.prod(sizes[:i], dtype=np.int64)) for i in range(N)]
    rows = [_state_rows(policy.features[i], n_pre[i], S) for i in range(N)]
    fixed = _check_order(order, N)
    beta_k = beta * math.sqrt(K)
    eps = np.zeros((K, N))
    orders = []

    def logp_of(i, theta):
        return log_softmax((rows[i] @ theta).reshape(S, sizes[i]))

    def step(k, policy, ev):
        o = [int(i) + 1 for i in rng.permutation(N)] if fixed is None else fixed
        orders.append(o)
        A_adv = ev.Q - ev.V.reshape((-1,) + (1,) * N)
        old_logp = [logp_of(i, policy.thetas[i]) for i in range(N)]
        new_logp = list(old_logp)
        thetas = list(policy.thetas)
        for j, m in enumerate(o):
            i = m - 1  # agent m's position in the lists
            M = happo_target(A_adv, old_logp, new_logp, m, o[:j])
            w = (ev.nu[:, None] * np.exp(old_logp[i])).reshape(-1)
            thetas[i], eps[k, i] = compact_ideal_step(
                rows[i], policy.thetas[i], M.reshape(-1), beta_k, w, policy.radius
            )
            new_logp[i] = logp_of(i, thetas[i])
        return policy.with_thetas(thetas)

    Js, policies, policy = run_iterations(game, policy, K, step, keep_policies)
    params = dict(
        K=K,
        beta=beta,
        beta_k=beta_k,
        order=order if fixed is None else fixed,
        seed=repr(seed),
        orders=orders,
        radius=radius,
        features=features if isinstance(features, str) else "custom",
    )
    return finish("happo", game, Js, policies, rng, params, eps, np.zeros((K, N)), J_star=J_star, thetas=policy.thetas)
