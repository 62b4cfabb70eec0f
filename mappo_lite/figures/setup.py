r"""Figures and experiments of the chapter "Setup" (book/02_setup.md).

:func:`visitation_data` / :func:`plot_visitation` / :func:`visitation_figure`
    On a seeded random game, the normalized discounted visitation :math:`\nu_\pi` of a policy against its two limits
    (:math:`\nu_\pi \to \rho` as :math:`\gamma \to 0`, :math:`\nu_\pi \to \mu_\pi`, the stationary distribution of
    :math:`P_\pi`, as :math:`\gamma \to 1`) and the scaled values :math:`(1-\gamma)V_\pi` against theirs
    (:math:`r_\pi` and the average reward :math:`\mu_\pi^\top r_\pi`). The γ slider of the chapter drives
    :func:`visitation_figure`.
:func:`two_step_grid` / :func:`plot_two_step` / :func:`two_step_figure`
    The two-step game of Rashid et al. (2018): :math:`J` of a product policy as a function of agent 1's probability
    of choosing state 2B and agent 2's probability of its second action in 2B, for a given probability of agent 1's
    second action in 2B (the slider of the chapter). Every grid point is an exact evaluation by the library.
:func:`stationary_distribution`
    The stationary distribution of a row-stochastic matrix (used for the γ → 1 limit).

Every plotting function returns a :class:`matplotlib.figure.Figure` built without pyplot.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from ..errors import MappoLiteError
from ..evaluation import evaluate
from ..games.catalogue import make_game
from ..games.dense import CooperativeMarkovGame

# ------------------------------------------------------------------------------------------------------------
# visitation measures of a random game as gamma varies
# ------------------------------------------------------------------------------------------------------------


def stationary_distribution(P_pi: np.ndarray) -> np.ndarray:
    r"""The stationary distribution :math:`\mu` of a row-stochastic matrix, :math:`\mu^\top P_\pi = \mu^\top`,
    :math:`\sum_s \mu(s) = 1` (least-squares solve of the stacked system; unique when the chain is irreducible)."""
    P_pi = np.asarray(P_pi, dtype=np.float64)
    S = P_pi.shape[0]
    if P_pi.shape != (S, S) or not np.allclose(P_pi.sum(axis=1), 1.0):
        raise MappoLiteError("stationary_distribution needs a square row-stochastic matrix")
    M = np.vstack([P_pi.T - np.eye(S), np.ones((1, S))])
    b = np.zeros(S + 1)
    b[-1] = 1.0
    mu, *_ = np.linalg.lstsq(M, b, rcond=None)
    return mu


def visitation_game(gamma: float = 0.9, n_states: int = 6, seed: int = 0) -> CooperativeMarkovGame:
    r"""The random game of the figure: 2 agents with 2 actions each, ``n_states`` states, rewards in [0, 1],
    initial distribution :math:`\rho` concentrated on state 0. ``P`` and ``r`` depend on ``seed`` only, not on γ."""
    base = make_game("random", n_states=n_states, n_agents=2, n_actions=2, gamma=0.5, seed=seed)
    rho = np.zeros(base.n_states)
    rho[0] = 1.0
    return CooperativeMarkovGame(base.P, base.r, gamma, rho, name=f"random(S={n_states}, seed={seed})")


def visitation_data(gamma: float = 0.9, n_states: int = 6, seed: int = 0, policy="uniform") -> dict:
    r"""Exact :math:`\nu_\pi`, :math:`V_\pi` and their γ → 0 and γ → 1 limits on :func:`visitation_game`.

    Returns ``rho``, ``nu``, ``mu`` (stationary distribution of :math:`P_\pi`), ``V``, ``scaled_V``
    (:math:`(1-\gamma)V_\pi`), ``r_pi``, ``average_reward`` (:math:`\mu^\top r_\pi`), ``J``, ``gamma`` and ``game``.
    """
    gamma = float(gamma)
    if not 0.0 <= gamma < 1.0:
        raise MappoLiteError(f"visitation_data needs gamma in [0, 1), got {gamma}")
    game = visitation_game(gamma, n_states, seed)
    ev = evaluate(game, policy)
    mu = stationary_distribution(ev.P_pi)
    return {
        "game": game,
        "gamma": gamma,
        "rho": game.rho.copy(),
        "nu": ev.nu,
        "mu": mu,
        "V": ev.V,
        "scaled_V": (1.0 - gamma) * ev.V,
        "r_pi": ev.r_pi,
        "average_reward": float(mu @ ev.r_pi),
        "J": ev.J,
    }


def plot_visitation(data: dict) -> Figure:
    r"""Left: :math:`\rho`, :math:`\nu_\pi` and :math:`\mu_\pi` per state. Right: :math:`(1-\gamma)V_\pi(s)` with
    :math:`r_\pi(s)` (the γ = 0 limit) and :math:`\mu_\pi^\top r_\pi` (the γ → 1 limit)."""
    S = len(data["nu"])
    s = np.arange(S)
    w = 0.27
    fig = Figure(figsize=(9.5, 3.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ax1.bar(s - w, data["rho"], w, color="0.7", label=r"$\rho$ (limit $\gamma\to 0$)")
    ax1.bar(s, data["nu"], w, color="C0", label=r"$\nu_\pi$")
    ax1.bar(s + w, data["mu"], w, color="C1", label=r"$\mu_\pi$, stationary (limit $\gamma\to 1$)")
    ax1.set_ylim(0, 1.05)
    ax1.set_xticks(s)
    ax1.set_xlabel("state $s$")
    ax1.set_ylabel("probability")
    ax1.set_title(rf"visitation, $\gamma$ = {data['gamma']:.3g}", fontsize=10)
    ax1.legend(fontsize=8, loc="upper right")
    ax2.bar(s, data["scaled_V"], 0.5, color="C0", label=r"$(1-\gamma)\,V_\pi(s)$")
    ax2.plot(s, data["r_pi"], "o", color="C3", label=r"$r_\pi(s)$ (limit $\gamma\to 0$)")
    ax2.axhline(data["average_reward"], color="C1", ls="--", label=r"$\mu_\pi^\top r_\pi$ (limit $\gamma\to 1$)")
    ax2.set_ylim(0, 1.0)
    ax2.set_xticks(s)
    ax2.set_xlabel("state $s$")
    ax2.set_ylabel("value per step")
    ax2.set_title(rf"values, $J(\pi)$ = {data['J']:.3f}", fontsize=10)
    ax2.legend(fontsize=8, loc="upper right")
    return fig


def visitation_figure(gamma: float = 0.9, n_states: int = 6, seed: int = 0) -> Figure:
    """:func:`visitation_data` for the uniform policy, drawn by :func:`plot_visitation`."""
    return plot_visitation(visitation_data(gamma, n_states, seed))


# ------------------------------------------------------------------------------------------------------------
# the two-step game
# ------------------------------------------------------------------------------------------------------------


def two_step_policy(p: float, q: float, u: float) -> list:
    r"""A product policy of the two-step game as conditional tables ``[pi^1 (4, 2), pi^2 (4, 2, 2)]``.

    Agent 1 chooses state 2B (action 1 in the start state) with probability ``p`` and plays action 1 in 2B with
    probability ``u``; agent 2 plays action 1 in 2B with probability ``q`` whatever agent 1 did. Elsewhere the
    agents play uniformly (their actions do not matter there)."""
    for name, x in (("p", p), ("q", q), ("u", u)):
        if not 0.0 <= x <= 1.0:
            raise MappoLiteError(f"{name} must be a probability, got {x}")
    pi1 = np.full((4, 2), 0.5)
    pi1[0] = [1 - p, p]
    pi1[2] = [1 - u, u]
    pi2 = np.full((4, 2, 2), 0.5)
    pi2[2, :, :] = [1 - q, q]
    return [pi1, pi2]


def two_step_grid(u: float = 1.0, n: int = 41, gamma: float = 0.99) -> dict:
    r""":math:`J` of :func:`two_step_policy` (p, q, u) on an n-by-n grid of (p, q), each by exact evaluation.

    Returns ``p`` (n,), ``q`` (n,), ``J`` (n, n) indexed ``[i_q, i_p]``, ``u``, ``gamma``, ``safe`` (the value
    :math:`7\gamma` of going to 2A) and ``J_star`` (:math:`8\gamma`)."""
    n = int(n)
    if n < 2:
        raise MappoLiteError("two_step_grid needs n >= 2")
    game = make_game("two_step", gamma=gamma)
    grid = np.linspace(0.0, 1.0, n)
    J = np.empty((n, n))
    for i, q in enumerate(grid):
        for j, p in enumerate(grid):
            J[i, j] = evaluate(game, two_step_policy(p, q, u)).J
    return {
        "p": grid,
        "q": grid.copy(),
        "J": J,
        "u": float(u),
        "gamma": game.gamma,
        "safe": 7.0 * game.gamma,
        "J_star": float(game.meta["optimum"]),
    }


def two_step_threshold(u: float) -> float:
    r"""The q above which state 2B is worth more than state 2A, for agent 1 playing action 2 in 2B w.p. u.

    Agent 1 and agent 2 playing action 2 with probabilities u and q independently earn
    :math:`u(1-q) + (1-u)q + 8uq = u + (1 + 6u)q` in 2B, which beats 7 iff :math:`q > (7-u)/(1+6u)` (> 1 when
    u < 6/7: then 2B never beats 2A)."""
    return (7.0 - u) / (1.0 + 6.0 * u)


def plot_two_step(data: dict) -> Figure:
    r"""Heatmap of :math:`J` over (p, q), diverging around :math:`7\gamma` (the value of the safe state 2A): blue is
    better than going to 2A, red is worse. The dashed line is :func:`two_step_threshold`."""
    fig = Figure(figsize=(5.8, 4.6), layout="constrained")
    ax = fig.subplots()
    p, q, J = data["p"], data["q"], data["J"]
    norm = TwoSlopeNorm(vmin=0.0, vcenter=data["safe"], vmax=data["J_star"])
    mesh = ax.pcolormesh(p, q, J, shading="nearest", cmap="RdBu", norm=norm)
    cbar = fig.colorbar(mesh, ax=ax)
    cbar.set_label(r"$J(\pi)$")
    cbar.set_ticks([0, 2, 4, data["safe"], data["J_star"]])
    cbar.set_ticklabels(["0", "2", "4", r"$7\gamma$ (2A)", r"$8\gamma$"])
    q_star = two_step_threshold(data["u"])
    if q_star <= 1.0:
        ax.axhline(q_star, color="k", ls="--", lw=1.2, label=rf"2B beats 2A above $q$ = {q_star:.3f}")
    ax.plot(
        [1.0],
        [1.0],
        marker="*",
        ms=14,
        color="gold",
        mec="k",
        clip_on=False,
        ls="none",
        label=r"optimum $8\gamma$ (needs $u$ = 1)",
    )
    ax.set_xlabel(r"$p$ = P(agent 1 chooses state 2B)")
    ax.set_ylabel(r"$q$ = P(agent 2 plays action 2 in 2B)")
    ax.set_title(rf"two-step game, $u$ = P(agent 1 plays action 2 in 2B) = {data['u']:.2f}", fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    return fig


def two_step_figure(u: float = 1.0, n: int = 41) -> Figure:
    """:func:`two_step_grid` drawn by :func:`plot_two_step`."""
    return plot_two_step(two_step_grid(u=u, n=n))
