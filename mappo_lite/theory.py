r"""The ingredients of Theorem 1 (digest §7) and the checks the theory assumes.

Theorem 1 (informal): with evaluation errors :math:`\xi^m_k` and improvement errors :math:`\varepsilon^m_k` that vanish,
:math:`J(\pi^\star) - J(\bar\pi) = O\big(\tfrac{N}{1-\gamma}\sqrt{\log|A|/K}\big)`. The constant is not stated in the
material we have, so :func:`theorem1_rate` returns the rate with constant 1 and the book compares *slopes* and
scaling with N, γ and |A|, plus a fitted constant.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import MappoLiteError
from .games import CooperativeMarkovGame


def effective_gamma(game: CooperativeMarkovGame) -> float:
    r"""The largest continuation probability :math:`\max_{s,\mathbf a}\gamma\sum_{s'}P(s'|s,\mathbf a)`; equals γ when
    rows of P sum to 1, and is below 1 in stopping games with γ = 1 (so :math:`1/(1-\gamma)` stays finite)."""
    return float(np.max(game.continuation))


def theorem1_rate(n_agents: int, gamma: float, n_actions: int, K) -> np.ndarray:
    r""":math:`\frac{N}{1-\gamma}\sqrt{\log|A|/K}` (constant 1); ``K`` may be an array."""
    if not 0 <= gamma < 1:
        raise MappoLiteError(
            f"gamma must be in [0, 1) for the rate, got {gamma} (use effective_gamma for stopping games)"
        )
    if n_actions < 2:
        raise MappoLiteError(f"|A| must be at least 2 for the rate (log|A| > 0), got {n_actions}")
    K = np.asarray(K, dtype=np.float64)
    if np.any(K < 1):
        raise MappoLiteError("K must be at least 1")
    return n_agents / (1.0 - gamma) * np.sqrt(math.log(n_actions) / K)


def reward_range_ok(game: CooperativeMarkovGame) -> bool:
    """Whether the rewards lie in [0, 1], as the theory assumes."""
    return bool(game.r.min() >= 0.0 and game.r.max() <= 1.0)


def rescale_rewards(game: CooperativeMarkovGame) -> CooperativeMarkovGame:
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
    return CooperativeMarkovGame(
        game.P, (game.r - lo) / (hi - lo), game.gamma, game.rho, name=f"{game.name}[r in 0..1]", meta=meta
    )


def theorem1_ingredients(game: CooperativeMarkovGame, result) -> dict:
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
