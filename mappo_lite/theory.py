r"""Every bound and constant of the theory, in one place: Theorem 1's rate (:func:`theorem1_rate`) and our explicit
bound (:func:`explicit_bound`, :func:`explicit_constant`, :func:`best_beta`), the concentrability coefficient
(:func:`concentrability`, used online in chapter 5 and offline in chapter 8), the effective discount
(:func:`effective_gamma`), and the checks the theory assumes (:func:`reward_range_ok`, :func:`rescale_rewards`).

Theorem 1 (informal): with evaluation errors :math:`\xi^m_k` and improvement errors :math:`\varepsilon^m_k` that vanish,
:math:`J(\pi^\star) - J(\bar\pi) = O\big(\tfrac{N}{1-\gamma}\sqrt{\log|A|/K}\big)`. The constant is not stated in the
material we have, so :func:`theorem1_rate` returns the rate with constant 1 and the book compares *slopes* and
scaling with N, γ and |A|, plus a fitted constant.
"""

from __future__ import annotations

import math

import numpy as np

from ._validate import check_positive, check_real
from .errors import MappoLiteError
from .games.base import MarkovGameBase


def effective_gamma(game: MarkovGameBase) -> float:
    r"""The largest continuation probability :math:`\max_{s,\mathbf a}\gamma\sum_{s'}P(s'|s,\mathbf a)`; equals γ when
    rows of P sum to 1, and is below 1 in stopping games with γ = 1 (so :math:`1/(1-\gamma)` stays finite)."""
    return float(np.max(game.continuation))


def theorem1_rate(n_agents: int, gamma: float, n_actions: int, K) -> np.ndarray:
    r""":math:`\frac{N}{1-\gamma}\sqrt{\log|A|/K}` (constant 1); ``K`` may be an array."""
    gamma = check_real(gamma, "gamma (use effective_gamma for stopping games)", 0.0, 1.0, high_open=True)
    if n_actions < 2:
        raise MappoLiteError(f"|A| must be at least 2 for the rate (log|A| > 0), got {n_actions}")
    K = np.asarray(K, dtype=np.float64)
    if np.any(K < 1):
        raise MappoLiteError("K must be at least 1")
    return n_agents / (1.0 - gamma) * np.sqrt(math.log(n_actions) / K)


def explicit_bound(n_agents, gamma, n_actions, K, beta):
    r"""**[ours]** The explicit bound our proof sketch gives for exact MA-PPO with :math:`\beta_k=\beta\sqrt K` and
    rewards in [0, 1]:

    .. math:: \frac1K\sum_{k<K}\big(J^\star-J(\pi_k)\big) \le \frac{N}{(1-\gamma)\sqrt K}
              \Big(\beta\log|A| + \frac{1}{8\beta(1-\gamma)^2}\Big).

    ``K`` may be an array."""
    gamma = check_real(gamma, "gamma", 0.0, 1.0, high_open=True)
    beta = check_positive(beta, "beta")
    K = np.asarray(K, dtype=np.float64)
    return n_agents / ((1 - gamma) * np.sqrt(K)) * (beta * math.log(n_actions) + 1.0 / (8 * beta * (1 - gamma) ** 2))


def explicit_constant(gamma, n_actions, beta):
    r"""**[ours]** :func:`explicit_bound` divided by the rate with constant 1:
    :math:`c(\beta)=\beta\sqrt{\log|A|}+\frac{1}{8\beta(1-\gamma)^2\sqrt{\log|A|}}`."""
    la = math.log(n_actions)
    beta = np.asarray(beta, dtype=np.float64)
    return beta * math.sqrt(la) + 1.0 / (8 * beta * (1 - gamma) ** 2 * math.sqrt(la))


def best_beta(gamma, n_actions) -> float:
    r"""**[ours]** The β minimizing :func:`explicit_bound`: :math:`\beta^\star = 1/((1-\gamma)\sqrt{8\log|A|})`,
    where the constant is :math:`c(\beta^\star) = 1/(\sqrt2(1-\gamma))`."""
    return 1.0 / ((1 - gamma) * math.sqrt(8 * math.log(n_actions)))


def concentrability(target, data) -> float:
    r"""The concentrability coefficient of a distribution ``target`` with respect to ``data`` (arrays of the same
    shape): :math:`\max_x \mathrm{target}(x)/\mathrm{data}(x)` over the support of ``target``; ``inf`` when ``data``
    misses a point of it.

    Chapter 5 uses it online with target = :math:`\sigma^\star`, the law of (state, first m actions) under
    :math:`\pi^\star`, and data = the same law under :math:`\pi_k` (our version of the paper's :math:`\phi^m_k`);
    chapter 8 offline with target = :math:`d_{\pi^\star}` and data = the dataset's distribution μ (Theorem 2's
    single-policy concentrability :math:`C^{d_{\pi^\star}}_\mu`), or target = 1 (the bound on every policy's)."""
    target, data = np.asarray(target, dtype=np.float64), np.asarray(data, dtype=np.float64)
    if target.shape != data.shape:
        raise MappoLiteError(f"target and data must have the same shape, got {target.shape} and {data.shape}")
    support = target > 0
    star, cur = target[support], data[support]
    if np.any(cur <= 0):
        return math.inf
    with np.errstate(over="ignore"):
        return float(np.max(star / cur))


def reward_range_ok(game: MarkovGameBase) -> bool:
    """Whether the rewards lie in [0, 1], as the theory assumes."""
    return bool(game.r.min() >= 0.0 and game.r.max() <= 1.0)


def rescale_rewards(game: MarkovGameBase) -> MarkovGameBase:
    r"""The same game with rewards mapped affinely onto [0, 1], :math:`r \mapsto (r - r_{\min})/(r_{\max}-r_{\min})`.

    Optimal and learned policies are unchanged (for γ < 1 games every value is the same affine map of the old one);
    gaps are divided by :math:`r_{\max}-r_{\min}`."""
    lo, hi = float(game.r.min()), float(game.r.max())
    if hi == lo:
        raise MappoLiteError("rewards are constant; nothing to rescale")
    meta = dict(game.meta)
    if "optimum" in meta and game.gamma < 1:
        # J -> (J - lo/(1-gamma)) / (hi - lo) when every row of P sums to 1
        meta["optimum"] = (meta["optimum"] - lo / (1 - game.gamma)) / (hi - lo)
    return game.with_rewards((game.r - lo) / (hi - lo), name=f"{game.name}[r in 0..1]", meta=meta)


def theorem1_ingredients(game: MarkovGameBase, result) -> dict:
    r"""Everything the Theorem 1 bound is made of, measured on a finished :func:`~mappo_lite.algorithms.ma_ppo` run:
    N, γ (effective), |A| (largest agent action set), K, β, the mean measured ε and ξ, the rate with constant 1,
    and the measured average gap :math:`\frac1K\sum_k (J^\star - J(\pi_k))` (the expected gap of the output)."""
    g_eff = effective_gamma(game)
    A = max(game.action_sizes)
    K = result.K
    out = {
        "N": game.n_agents,
        "gamma": game.gamma,
        "effective_gamma": g_eff,
        "n_actions": A,
        "K": K,
        "beta": result.params.get("beta"),
        "eps_mean": float(np.mean(result.eps)) if result.eps is not None else 0.0,
        "xi_mean": float(np.mean(result.xi)) if result.xi is not None else 0.0,
        "rate": float(theorem1_rate(game.n_agents, g_eff, max(A, 2), K)),
        "average_gap": result.average_gap,
        "rewards_in_unit_interval": reward_range_ok(game),
    }
    return out
