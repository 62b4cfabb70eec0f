r"""Figures and experiments of the chapter "Why multi-agent policy optimization is hard" (book/01_why_hard.md).

Data functions (seeded, deterministic, plain NumPy results):

:func:`joint_action_growth`
    How the joint action space, the transition array ``P`` and the policy tables grow with the number of agents N,
    measured on games and policies built by the library (``P.nbytes``, table sizes).
:func:`run_comparison`, :func:`run_climbing_comparison`, :func:`run_penalty_comparison`
    MA-PPO (Algorithm 1, exact evaluation, ideal tabular step), independent NPG and independent PG from the uniform
    policy on one matrix game; the learning curves :math:`J(\pi_k)`, k = 0..K.
:func:`agent1_action_values`
    Agent 1's action values along the runs: the *marginal* :math:`Q^1_{\pi_k}(a^1)` that independent NPG follows and
    the *localized* :math:`Q^{1:1}_{\pi_k}(a^1)` that MA-PPO follows.

Plotting functions (each returns a :class:`matplotlib.figure.Figure` built without pyplot):
:func:`plot_joint_action_growth`, :func:`plot_learning_curves`, :func:`plot_agent1_action_values`, and
:func:`comparison_figure` (run + plot in one call, the function the chapter wraps in ``ipywidgets.interact``).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..algorithms import independent_npg, independent_pg, ma_ppo, marginal_q
from ..errors import MappoLiteError
from ..evaluation import evaluate
from ..games.catalogue import CLIMBING, make_game, random_game
from ..policies.conditional import context_counts

#: Names of the three learners, in plotting order.
LEARNERS = ("MA-PPO", "independent NPG", "independent PG")

_COLORS = {"MA-PPO": "C0", "independent NPG": "C1", "independent PG": "C2"}
_STYLES = {"MA-PPO": "-", "independent NPG": "--", "independent PG": "-."}

#: Agent-1 action names used in the chapter (rows of the payoff matrices).
ACTION_NAMES = ("a", "b", "c")


# ------------------------------------------------------------------------------------------------------------
# the exponential joint action space
# ------------------------------------------------------------------------------------------------------------


def joint_action_growth(n_states: int = 10, n_actions: int = 5, N_max: int = 6, seed: int = 0) -> dict:
    r"""Sizes of the objects a tabular method stores, for N = 1..N_max agents with ``n_actions`` actions each.

    For each N a random game with ``n_states`` states is built with the library and its sizes are *measured*:

    ``joint_actions``
        :math:`|\mathbf A| = A^N` (``game.n_joint_actions``).
    ``P_bytes``
        memory of the transition array of shape ``(S, A, …, A, S)`` in float64 (``game.P.nbytes``).
    ``joint_policy``, ``product_policy``, ``conditional_policy``
        number of table entries of a joint policy :math:`\pi(\mathbf a|s)` (:math:`S A^N`), of a product policy
        (:math:`S N A`), and of the conditional tables :math:`\pi^m(a^m|s,\mathbf a^{1:m-1})`
        (:math:`S\sum_m A^m`, from :func:`mappo_lite.policies.context_counts`).

    Building the N = 6 game with the defaults takes about 12.5 MB and a few hundredths of a second.
    """
    S, A, N_max = int(n_states), int(n_actions), int(N_max)
    if S < 1 or A < 1 or N_max < 1:
        raise MappoLiteError("joint_action_growth needs n_states, n_actions, N_max >= 1")
    if S * S * A**N_max * 8 > 200e6:
        raise MappoLiteError("the largest game would need more than 200 MB; lower N_max, n_states or n_actions")
    rows = {k: [] for k in ("N", "joint_actions", "P_bytes", "joint_policy", "product_policy", "conditional_policy")}
    for N in range(1, N_max + 1):
        game = random_game(n_states=S, n_agents=N, n_actions=A, gamma=0.9, seed=seed)
        counts = context_counts(S, game.action_sizes)
        rows["N"].append(N)
        rows["joint_actions"].append(game.n_joint_actions)
        rows["P_bytes"].append(game.P.nbytes)
        rows["joint_policy"].append(S * game.n_joint_actions)
        rows["product_policy"].append(S * sum(game.action_sizes))
        rows["conditional_policy"].append(sum(c * a for c, a in zip(counts, game.action_sizes)))
        del game
    out = {k: np.array(v, dtype=np.int64) for k, v in rows.items()}
    out.update(n_states=S, n_actions=A)
    return out


def plot_joint_action_growth(data: dict) -> Figure:
    """Two log-scale panels: table sizes against N (left) and the memory of ``P`` against N (right)."""
    N = data["N"]
    fig = Figure(figsize=(9.5, 3.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ax1.semilogy(N, data["joint_actions"], "o-", color="k", label=r"joint actions $|\mathbf{A}| = A^N$")
    ax1.semilogy(N, data["joint_policy"], "s--", color="C3", label=r"joint policy table $S A^N$")
    ax1.semilogy(N, data["conditional_policy"], "^-", color="C0", label=r"conditional tables $S\sum_m A^m$")
    ax1.semilogy(N, data["product_policy"], "v-", color="C2", label=r"product policy $S N A$")
    ax1.set_xlabel("number of agents $N$")
    ax1.set_ylabel("count")
    ax1.set_title(f"S = {data['n_states']} states, A = {data['n_actions']} actions per agent")
    ax1.legend(fontsize=8, loc="upper left")
    ax1.grid(True, which="major", alpha=0.3)
    mb = data["P_bytes"] / 2**20
    ax2.semilogy(N, mb, "o-", color="C4", label=r"$P$ as float64 (measured)")
    for level, text in ((1.0, "1 MiB"), (1024.0, "1 GiB")):
        ax2.axhline(level, color="0.6", lw=0.8, ls=":")
        ax2.text(N[0], level * 1.25, text, fontsize=8, color="0.4")
    ax2.set_xlabel("number of agents $N$")
    ax2.set_ylabel("memory of $P$ (MiB)")
    ax2.set_title(r"$P$ has shape $(S, A, \dots, A, S)$")
    ax2.legend(fontsize=8, loc="lower right")
    ax2.grid(True, which="major", alpha=0.3)
    for ax in (ax1, ax2):
        ax.set_xticks(N)
    return fig


# ------------------------------------------------------------------------------------------------------------
# three learners on a matrix game
# ------------------------------------------------------------------------------------------------------------


def run_comparison(
    game, K: int = 200, beta: float = 0.05, eta: float = 0.5, seed: int = 0, references: dict | None = None
) -> dict:
    r"""Run MA-PPO, independent NPG and independent PG from the uniform policy on ``game``.

    MA-PPO and independent NPG use the penalty :math:`\beta` (:math:`\beta_k = \beta\sqrt K`); independent PG uses the
    stepsize :math:`\eta`. All three evaluate exactly. Returns a dict with ``k`` (0..K), ``J`` (learner → array of
    :math:`J(\pi_k)`), ``results`` (learner → :class:`~mappo_lite.algorithms.TrainingResult`), ``J_star``,
    ``references`` (label → value, horizontal lines for the plot), ``game`` and ``params``.
    """
    results = {
        "MA-PPO": ma_ppo(game, K=K, beta=beta, seed=seed),
        "independent NPG": independent_npg(game, K=K, beta=beta, seed=seed),
        "independent PG": independent_pg(game, K=K, eta=eta, seed=seed),
    }
    K = results["MA-PPO"].K
    return {
        "game": game,
        "k": np.arange(K + 1),
        "J": {name: np.asarray(res.J) for name, res in results.items()},
        "results": results,
        "J_star": float(results["MA-PPO"].J_star),
        "references": dict(references or {}),
        "params": {"K": K, "beta": float(beta), "eta": float(eta), "seed": seed},
    }


def climbing_references() -> dict:
    """Reference levels of the climbing game: the optimum, the other pure equilibrium, the (b, c) plateau."""
    return {
        "optimum (a,a) = 11": float(CLIMBING[0, 0]),
        "equilibrium (b,b) = 7": float(CLIMBING[1, 1]),
        "(b,c) = 6, not an equilibrium": float(CLIMBING[1, 2]),
    }


def run_climbing_comparison(K: int = 200, beta: float = 0.05, eta: float = 0.5, seed: int = 0) -> dict:
    """:func:`run_comparison` on the climbing game (rows = agent 1), with its reference levels 11, 7 and 6."""
    return run_comparison(make_game("climbing"), K=K, beta=beta, eta=eta, seed=seed, references=climbing_references())


def penalty_references(k: float) -> dict:
    r"""Reference levels of the penalty game with penalty k: the optimum 10, the equilibrium (b, b) = 2 and, when
    k > -8, :math:`5 + k/2`, the value of both agents mixing a and c half and half independently."""
    refs = {"optimum (a,a) = (c,c) = 10": 10.0, "equilibrium (b,b) = 2": 2.0}
    if k > -8.0:  # from uniform, a and c look better than b exactly when (10 + k)/3 > 2/3
        refs[f"a/c half-half: 5 + k/2 = {5 + k / 2:g}"] = 5.0 + k / 2.0
    return refs


def run_penalty_comparison(k: float = -10.0, K: int = 200, beta: float = 0.05, eta: float = 0.5, seed: int = 0) -> dict:
    """:func:`run_comparison` on the penalty game with penalty ``k`` (≤ 0)."""
    return run_comparison(
        make_game("penalty", k=k), K=K, beta=beta, eta=eta, seed=seed, references=penalty_references(float(k))
    )


def _iteration_axis(ax, k) -> None:
    """Iterations on a symmetric-log axis: linear on [0, 1], logarithmic beyond (fast and slow phases both show)."""
    ax.set_xscale("symlog", linthresh=1.0, linscale=0.5)
    ax.set_xlim(0, k[-1])
    ax.set_xlabel("iteration $k$ (log scale beyond 1)")


def plot_learning_curves(data: dict, ax=None, title: str | None = None) -> Figure:
    r""":math:`J(\pi_k)` against k for the three learners, with the reference levels of ``data["references"]`` as
    dotted horizontal lines. Draws on ``ax`` when given (returns its figure), otherwise on a new figure."""
    if ax is None:
        fig = Figure(figsize=(8, 4.2), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    k = data["k"]
    for name in LEARNERS:
        ax.plot(k, data["J"][name], _STYLES[name], color=_COLORS[name], lw=2, label=name)
    lo = min(min(float(np.min(v)) for v in data["J"].values()), *data["references"].values(), 0.0)
    hi = max(data["J_star"], *data["references"].values())
    for label, level in data["references"].items():
        ax.axhline(level, color="0.45", lw=0.9, ls=":")
        ax.annotate(
            label,
            (0, level),
            xytext=(4, 2),
            textcoords="offset points",
            ha="left",
            va="bottom",
            fontsize=8,
            color="0.3",
            bbox=dict(fc="white", ec="none", alpha=0.75, pad=0.5),
        )
    _iteration_axis(ax, k)
    ax.set_ylim(lo - 0.05 * (hi - lo) - 0.2, hi + 0.08 * (hi - lo) + 0.2)
    ax.set_ylabel(r"$J(\pi_k)$")
    p = data["params"]
    ax.set_title(
        title
        or f"{data['game'].name}: K = {p['K']}, "
        + rf"$\beta$ = {p['beta']:g} (MA-PPO, NPG), "
        + rf"$\eta$ = {p['eta']:g} (PG)",
        fontsize=10,
    )
    ax.legend(loc="lower right", fontsize=9)
    ax.grid(True, alpha=0.25)
    return fig


def comparison_figure(
    game: str = "climbing", k: float = -10.0, K: int = 200, beta: float = 0.05, eta: float = 0.5
) -> Figure:
    """Run the three learners on ``"climbing"`` or ``"penalty"`` (penalty ``k``) and plot their learning curves."""
    if game == "climbing":
        data = run_climbing_comparison(K=K, beta=beta, eta=eta)
    elif game == "penalty":
        data = run_penalty_comparison(k=k, K=K, beta=beta, eta=eta)
    else:
        raise MappoLiteError(f"comparison_figure knows the games 'climbing' and 'penalty', got {game!r}")
    return plot_learning_curves(data)


# ------------------------------------------------------------------------------------------------------------
# what agent 1 sees
# ------------------------------------------------------------------------------------------------------------


def agent1_action_values(data: dict) -> dict:
    r"""Agent 1's action values along the runs of :func:`run_comparison` (one-state games), shape (K+1, A_1) each.

    ``"independent NPG"``: the marginal value :math:`Q^1_{\pi_k}(a^1) = \sum_{a^2}\pi^2_k(a^2)Q(a^1,a^2)` that
    independent NPG follows (:func:`mappo_lite.algorithms.marginal_q`). ``"MA-PPO"``: the localized value
    :math:`Q^{1:1}_{\pi_k}(a^1) = \sum_{a^2}\pi^2_k(a^2\mid a^1)Q(a^1,a^2)` (``evaluate(...).q_local[1]``).
    Also returns agent 1's probabilities ``probs[name]`` (K+1, A_1).
    """
    game = data["game"]
    if game.n_states != 1 or game.n_agents != 2:
        raise MappoLiteError("agent1_action_values is meant for two-agent matrix games")
    values, probs = {}, {}
    for name in ("independent NPG", "MA-PPO"):
        pols = data["results"][name].policies
        if pols is None:
            raise MappoLiteError("the runs were made without keep_policies")
        v, p = [], []
        for tabs in pols:
            ev = evaluate(game, tabs)
            if name == "MA-PPO":
                v.append(ev.q_local[1][0])
            else:
                v.append(marginal_q(ev.Q, [tabs.marginal(1), tabs.marginal(2)], 1)[0])
            p.append(tabs.marginal(1)[0])
        values[name] = np.array(v)
        probs[name] = np.array(p)
    return {"k": data["k"], "values": values, "probs": probs, "game": game}


def plot_agent1_action_values(av: dict) -> Figure:
    """Two panels: agent 1's marginal Q (independent NPG) and localized Q^{1:1} (MA-PPO) for each action."""
    fig = Figure(figsize=(9.5, 3.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    labels = {
        "independent NPG": r"independent NPG: marginal $Q^1_{\pi_k}(a^1)$",
        "MA-PPO": r"MA-PPO: localized $Q^{1:1}_{\pi_k}(a^1)$",
    }
    k = av["k"]
    for ax, name in zip(axes, ("independent NPG", "MA-PPO")):
        vals = av["values"][name]
        for i in range(vals.shape[1]):
            ax.plot(k, vals[:, i], color=f"C{i + 3}", lw=2, label=f"$a^1$ = {ACTION_NAMES[i]}")
        ax.set_title(labels[name], fontsize=10)
        _iteration_axis(ax, k)
        ax.grid(True, alpha=0.25)
    axes[0].set_ylabel("agent 1's action value")
    axes[1].legend(fontsize=9, loc="lower right")
    return fig
