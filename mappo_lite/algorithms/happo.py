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

from .._validate import check_count, check_game, check_positive
from ..errors import MappoLiteError
from ..evaluation import evaluate
from ..games.base import MarkovGameBase
from ..policies.conditional import ProductPolicy
from .baselines import marginal_q
from .loop import TrainingResult, finish, run_iterations

__all__ = ["happo", "happo_target", "happo_iteration"]


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


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
        The agent i being updated (0-based).
    predecessors : iterable of int
        The agents (0-based) already updated in this iteration.

    Every joint action :math:`\mathbf a` gets the weight :math:`\prod_{j\ne i}\pi^j_k(a^j|s)\cdot\prod_{l\in\text{pred}}
    \pi^l_{k+1}(a^l|s)/\pi^l_k(a^l|s)`; the weighted sum of ``A`` over :math:`\mathbf a^{-i}` is returned.
    """
    A = np.asarray(A, dtype=np.float64)
    N = A.ndim - 1
    if not 0 <= agent < N:
        raise MappoLiteError(f"agent index must be in 0..{N - 1}, got {agent}")
    pred = [int(p) for p in predecessors]
    if agent in pred or len(set(pred)) != len(pred) or any(not 0 <= p < N for p in pred):
        raise MappoLiteError(f"predecessors must be distinct agents other than {agent}, got {pred}")
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
    ``order`` (a permutation of 0..N−1): returns the new logits (list)."""
    N = game.n_agents
    order = [int(i) for i in order]
    if sorted(order) != list(range(N)):
        raise MappoLiteError(f"order must be a permutation of 0..{N - 1}, got {order}")
    old = [np.asarray(L, dtype=np.float64) for L in logits]
    ev = evaluate(game, ProductPolicy.for_game(game, old))
    A = ev.Q - ev.V.reshape((-1,) + (1,) * N)
    old_logp = [_log_softmax(L) for L in old]
    new = list(old)
    new_logp = list(old_logp)
    for j, i in enumerate(order):
        if recompute and j > 0:
            partial = ProductPolicy.for_game(game, new)
            ev_j = evaluate(game, partial)
            probs = [partial.probs(a) for a in range(N)]
            M = marginal_q(ev_j.Q, probs, i + 1) - ev_j.V[:, None]
        else:
            M = happo_target(A, old_logp, new_logp, i, order[:j])
        new[i] = old[i] + M / beta_k
        new_logp[i] = _log_softmax(new[i])
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
) -> TrainingResult:
    r"""Tabular exact HAPPO (module docstring) for K iterations from the uniform product policy.

    Parameters
    ----------
    K, beta
        Iterations and penalty; :math:`\beta_k = \beta\sqrt K` (as in :func:`~mappo_lite.algorithms.ma_ppo`).
    order : ``"random"`` or a permutation of 0..N−1
        ``"random"``: a fresh seeded permutation each iteration (HAPPO); a sequence: that fixed order every iteration.
    recompute : bool
        Use the advantage of the partially updated joint policy instead of the ratio-weighted :math:`A_{\pi_k}`.
    seed
        int or ``numpy.random.Generator``: drives the orders and the output index.
    J_star
        :math:`J^\star` of ``game`` if known; None computes it once at the end (as every algorithm does).

    Returns a :class:`~mappo_lite.algorithms.TrainingResult` (``algo`` = ``"happo"`` or ``"happo-recompute"``) with
    :math:`J(\pi_0), …, J(\pi_K)`; ``params["orders"]`` lists the K orders used.
    """
    game = check_game(game)
    K = check_count(K, "K (number of iterations)")
    beta = check_positive(beta, "beta")
    if not isinstance(recompute, (bool, np.bool_)):
        raise MappoLiteError(f"recompute must be True or False, got {recompute!r}")
    N = game.n_agents
    if isinstance(order, str):
        if order != "random":
            raise MappoLiteError(f"order must be 'random' or a permutation of 0..{N - 1}, got {order!r}")
        fixed = None
    else:
        try:
            fixed = [int(i) for i in order]
        except (TypeError, ValueError):
            raise MappoLiteError(f"order must be 'random' or a permutation of 0..{N - 1}, got {order!r}") from None
        if sorted(fixed) != list(range(N)):
            raise MappoLiteError(f"order must be a permutation of 0..{N - 1}, got {order!r}")
    rng = np.random.default_rng(seed)
    beta_k = beta * math.sqrt(K)
    orders = []

    def step(k, policy, ev):
        o = list(rng.permutation(N)) if fixed is None else fixed
        orders.append([int(i) for i in o])
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
