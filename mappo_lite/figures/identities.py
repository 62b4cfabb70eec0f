r"""Chapter 3 (multi-agent definitions): numerical checks of the identities and the PDL figure.

Every identity of the chapter is checked against an *independent* brute-force computation that uses only the
definitions (the joint policy built by broadcasting the conditional tables, a dense linear solve for
:math:`V_\pi`, and Definition 3.1 by enumeration over the complement agents' actions), never the library's own
backward sweep:

``"definition"``
    the library's localized values :math:`Q^{1:m}_\pi`, :math:`m = 0..N`, against Definition 3.1 computed by
    enumeration (this includes :math:`Q^{1:0}_\pi = V_\pi` and :math:`Q^{1:N}_\pi = Q_\pi`);
``"marginalization"``
    :math:`Q^{1:m-1}_\pi = \sum_{a^m}\pi^m(a^m|s,\mathbf a^{1:m-1})Q^{1:m}_\pi` on the brute-force values;
``"decomposition"``
    :math:`A_\pi(s,\mathbf a) = Q_\pi(s,\mathbf a) - V_\pi(s) = \sum_m A^m_\pi(s,\mathbf a^{1:m-1},a^m)`;
``"single_agent_pdl"``
    :math:`J(\pi')-J(\pi) = \sum_s d_{\pi'}(s)\sum_{\mathbf a}\pi'(\mathbf a|s)A_\pi(s,\mathbf a)`;
``"ma_pdl"``
    the multi-agent performance difference lemma: the N terms of
    :func:`mappo_lite.performance_difference_terms` add up to :math:`J(\pi')-J(\pi)`.

Functions: :func:`random_trial` (a seeded random game and two random conditional log-linear policies),
:func:`brute_force_q`, :func:`trial_violations`, :func:`identity_trials`, :func:`identity_violations`,
:func:`non_prefix_check`, :func:`pdl_curves`, :func:`plot_pdl_terms`, :func:`plot_violations`; for "local ⇒
global" and the KL chain rule: :func:`conditional_policy_iteration`, :func:`climbing_counterexample`,
:func:`local_global_check`, :func:`kl_chain_check`.
"""

from __future__ import annotations

import itertools

import numpy as np
from matplotlib.figure import Figure

from ..evaluation import (
    evaluate,
    kl_chain_terms,
    local_improvement_gaps,
    multi_agent_q,
    optimal_value,
    performance_difference_terms,
)
from ..games.catalogue import make_game
from ..improvement import ideal_mirror_step
from ..policies.conditional import ConditionalLogLinearPolicy, ProductPolicy, as_tables, context_counts
from ..policies.features import random_features

IDENTITIES = ("definition", "marginalization", "decomposition", "single_agent_pdl", "ma_pdl")

IDENTITY_LABELS = {
    "definition": r"$Q^{1:m}$ (sweep) vs Definition 3.1",
    "marginalization": r"$Q^{1:m-1}=\sum_{a^m}\pi^m Q^{1:m}$",
    "decomposition": r"$A=\sum_m A^m$",
    "single_agent_pdl": "single-agent PDL",
    "ma_pdl": "multi-agent PDL",
}


# ----------------------------------------------------------------------------------------------------------------
# random instances
# ----------------------------------------------------------------------------------------------------------------
def random_trial(seed: int, n_agents: int = 3, features: str = "tabular", scale: float = 1.5):
    r"""A seeded random game with ``n_agents`` agents of *unequal* action sizes and two random conditional
    log-linear policies π (old) and π' (new).

    The game has 1–4 states, action sizes drawn from {2, 3, 4} (not all equal), γ drawn from [0.5, 0.95].
    ``features="tabular"`` (one-hot) or ``"random"`` (:func:`~mappo_lite.random_features` of dimension 4 per agent).
    Parameters are Gaussian with standard deviation ``scale``. Returns ``(game, old, new)``.
    """
    rng = np.random.default_rng([int(seed), int(n_agents), 7])
    S = int(rng.integers(1, 5))
    while True:
        sizes = [int(a) for a in rng.integers(2, 5, size=n_agents)]
        if len(set(sizes)) > 1:
            break
    gamma = float(rng.uniform(0.5, 0.95))
    game = make_game(
        "random", n_states=S, n_agents=n_agents, n_actions=sizes, gamma=gamma, seed=int(rng.integers(2**31))
    )
    if features == "tabular":
        fmaps = "tabular"
    elif features == "random":
        counts = context_counts(S, sizes)
        fmaps = [random_features(c, A, 4, seed=int(rng.integers(2**31))) for c, A in zip(counts, sizes)]
    else:
        raise ValueError(f"features must be 'tabular' or 'random', got {features!r}")
    base = ConditionalLogLinearPolicy.for_game(game, features=fmaps)
    old = base.with_thetas([scale * rng.standard_normal(f.dim) for f in base.features])
    new = base.with_thetas([scale * rng.standard_normal(f.dim) for f in base.features])
    return game, old, new


# ----------------------------------------------------------------------------------------------------------------
# brute force from the definitions
# ----------------------------------------------------------------------------------------------------------------
def _joint_by_broadcast(tables) -> np.ndarray:
    r""":math:`\pi(\mathbf a|s)=\prod_m\pi^m(a^m|s,\mathbf a^{1:m-1})`, shape (S, A_1, …, A_N), by broadcasting."""
    N = tables.n_agents
    joint = np.ones((tables.n_states,) + (1,) * N)
    for m in range(1, N + 1):
        t = tables.table(m)  # (S, A_1..A_m)
        joint = joint * t.reshape(t.shape + (1,) * (N - m))
    return joint


def _brute_values(game, tables):
    """(V, Q, joint, d) from a dense solve on the broadcast joint policy (no library kernels)."""
    S = game.n_states
    joint = _joint_by_broadcast(tables)
    pj = joint.reshape(S, -1)
    P = np.asarray(game.P).reshape(S, -1, S)
    r = np.asarray(game.r).reshape(S, -1)
    P_pi = np.einsum("sa,sat->st", pj, P)
    r_pi = (pj * r).sum(axis=1)
    M = np.eye(S) - game.gamma * P_pi
    V = np.linalg.solve(M, r_pi)
    Q = (r + game.gamma * P @ V).reshape(game.r.shape)
    d = np.linalg.solve(M.T, np.asarray(game.rho))
    return V, Q, joint, d


def brute_force_q(game, policy, agents) -> np.ndarray:
    r"""Definition 3.1 by enumeration: :math:`Q^{\mathcal P}_\pi(s,\mathbf a^{\mathcal P}) =
    \sum_{\tilde a}\Pr_\pi(\tilde a\mid s,\mathbf a^{\mathcal P})\,Q_\pi(s,\mathbf a^{\mathcal P},\tilde a)`.

    ``agents``: a set of 1-based agent indices (may be empty: then the result is :math:`V_\pi`). The conditional law
    of the complement agents' actions comes from the joint policy (Bayes' rule); the policy must give positive
    probability to every :math:`\mathbf a^{\mathcal P}`. Loops over every entry explicitly (slow, for checking).
    Shape ``(S,) + (A_i for i in sorted(agents))``.
    """
    tables = as_tables(policy, game.n_states, game.action_sizes)
    _, Q, joint, _ = _brute_values(game, tables)
    N, sizes = game.n_agents, game.action_sizes
    P = sorted(int(i) - 1 for i in agents)
    rest = [i for i in range(N) if i not in P]
    out = np.empty((game.n_states,) + tuple(sizes[i] for i in P))
    for s in range(game.n_states):
        for aP in itertools.product(*[range(sizes[i]) for i in P]):
            num = den = 0.0
            for aR in itertools.product(*[range(sizes[i]) for i in rest]):
                a = [0] * N
                for i, x in zip(P, aP):
                    a[i] = x
                for i, x in zip(rest, aR):
                    a[i] = x
                w = joint[(s, *a)]
                num += w * Q[(s, *a)]
                den += w
            out[(s, *aP)] = num / den
    return out


def trial_violations(game, old, new) -> dict:
    """The largest absolute violation of each identity in :data:`IDENTITIES` for one (game, π, π')."""
    N = game.n_agents
    t_old = as_tables(old, game.n_states, game.action_sizes)
    t_new = as_tables(new, game.n_states, game.action_sizes)
    ev_old, ev_new = evaluate(game, t_old), evaluate(game, t_new)
    V, Q, _, _ = _brute_values(game, t_old)
    _, _, joint_new, d_new = _brute_values(game, t_new)
    bf = [brute_force_q(game, t_old, range(1, m + 1)) for m in range(N + 1)]
    out = {}
    out["definition"] = max(
        [float(np.max(np.abs(ev_old.q_local[m] - bf[m]))) for m in range(N + 1)]
        + [float(np.max(np.abs(bf[0] - V))), float(np.max(np.abs(bf[N] - Q)))]
    )
    out["marginalization"] = max(
        float(np.max(np.abs((t_old.table(m) * bf[m]).sum(axis=-1) - bf[m - 1]))) for m in range(1, N + 1)
    )
    adv = Q - V.reshape((-1,) + (1,) * N)
    total = np.zeros_like(Q)
    for m in range(1, N + 1):
        A_m = ev_old.advantage(m)
        total = total + A_m.reshape(A_m.shape + (1,) * (N - m))
    out["decomposition"] = float(np.max(np.abs(adv - total)))
    dJ = float(game.rho @ _brute_values(game, t_new)[0] - game.rho @ V)
    single = float((d_new.reshape((-1,) + (1,) * N) * joint_new * adv).sum())
    out["single_agent_pdl"] = abs(single - dJ)
    terms = performance_difference_terms(game, t_new, t_old)
    # against the library's J and against the brute-force J
    out["ma_pdl"] = max(abs(float(terms.sum()) - (ev_new.J - ev_old.J)), abs(float(terms.sum()) - dJ))
    return out


def identity_trials(seeds=range(6), n_agents=(2, 3, 4), features=("tabular", "random")) -> list:
    """One record per (seed, N, features): the game's sizes, γ, |J(π')−J(π)| and the violation of each identity."""
    records = []
    for N in n_agents:
        for feat in features:
            for seed in seeds:
                game, old, new = random_trial(seed, N, feat)
                v = trial_violations(game, old, new)
                rec = {
                    "seed": int(seed),
                    "n_agents": int(N),
                    "features": feat,
                    "n_states": game.n_states,
                    "action_sizes": tuple(game.action_sizes),
                    "gamma": game.gamma,
                    "delta_J": evaluate(game, new).J - evaluate(game, old).J,
                }
                rec.update(v)
                records.append(rec)
    return records


def identity_violations(seeds=range(6), n_agents=(2, 3, 4), features=("tabular", "random"), records=None) -> dict:
    """The largest violation of each identity over all trials of :func:`identity_trials` (a dict keyed by
    :data:`IDENTITIES`)."""
    if records is None:
        records = identity_trials(seeds, n_agents, features)
    return {k: max(r[k] for r in records) for k in IDENTITIES}


# ----------------------------------------------------------------------------------------------------------------
# a non-prefix subset
# ----------------------------------------------------------------------------------------------------------------
def non_prefix_check(seed: int = 0, action_sizes=(2, 3, 2), n_states: int = 2, gamma: float = 0.8) -> dict:
    r"""Definition 3.1 for the non-prefix subset :math:`\mathcal P=\{2\}` of a 3-agent game.

    For a product policy, :math:`Q^{\{2\}}_\pi(s,a^2) = \sum_{a^1,a^3}\pi^1(a^1|s)\pi^3(a^3|s)Q_\pi(s,a^1,a^2,a^3)`
    is written out with two explicit loops and compared with :func:`mappo_lite.multi_agent_q`; for a conditional
    policy the complement's law given :math:`a^2` needs Bayes' rule, compared with :func:`brute_force_q`. Also
    returns how far :math:`\sum_{a^1}\pi^1(a^1|s)Q^{1:2}(s,a^1,a^2)` is from :math:`Q^{\{2\}}` in the conditional case
    (it is not the same object: averaging with :math:`\pi^1` instead of the posterior of :math:`a^1` given
    :math:`a^2`). Returns a dict of numbers and the arrays.
    """
    rng = np.random.default_rng(seed)
    game = make_game(
        "random",
        n_states=n_states,
        n_agents=3,
        n_actions=list(action_sizes),
        gamma=gamma,
        seed=int(rng.integers(2**31)),
    )
    S, (A1, A2, A3) = game.n_states, game.action_sizes
    prod = ProductPolicy.for_game(game, [2.0 * rng.standard_normal((S, A)) for A in game.action_sizes])
    ev = evaluate(game, prod)
    p1, p3 = prod.probs(1), prod.probs(3)
    loops = np.zeros((S, A2))
    for s in range(S):
        for a2 in range(A2):
            for a1 in range(A1):
                for a3 in range(A3):
                    loops[s, a2] += p1[s, a1] * p3[s, a3] * ev.Q[s, a1, a2, a3]
    lib_prod = multi_agent_q(game, prod, {2})
    base = ConditionalLogLinearPolicy.for_game(game)
    cond = base.with_thetas([2.0 * rng.standard_normal(f.dim) for f in base.features])
    lib_cond = multi_agent_q(game, cond, {2})
    bf_cond = brute_force_q(game, cond, {2})
    ev_c = evaluate(game, cond)
    naive = (ev_c.tables.table(1)[:, :, None] * ev_c.q_local[2]).sum(axis=1)
    return {
        "product_error": float(np.max(np.abs(lib_prod - loops))),
        "conditional_error": float(np.max(np.abs(lib_cond - bf_cond))),
        "naive_gap": float(np.max(np.abs(naive - bf_cond))),
        "Q2_product": loops,
        "Q2_conditional": bf_cond,
        "naive_conditional": naive,
    }


# ----------------------------------------------------------------------------------------------------------------
# the PDL figure
# ----------------------------------------------------------------------------------------------------------------
def pdl_setup(n_agents: int = 3, seed: int = 0, target: str = "random", beta: float = 1.0):
    r"""The game, the old parameters θ and a direction D for the path :math:`\theta_t = \theta + tD`.

    ``target="random"``: θ, θ' Gaussian (tabular features, unequal action sizes) and D = θ' − θ, so t = 1 is π'.
    ``target="mirror"``: D = :math:`\beta^{-1}Q^{1:m}_\pi` for every agent (the ideal mirror step of every agent at
    once, :func:`mappo_lite.ideal_mirror_step`), so t is a stepsize multiplier.
    """
    game, old, new = random_trial(seed, n_agents, "tabular")
    if target == "random":
        direction = [tn - to for tn, to in zip(new.thetas, old.thetas)]
    elif target == "mirror":
        ev = evaluate(game, old)
        direction = [ideal_mirror_step(th, ev.q_local[m + 1], beta) - th for m, th in enumerate(old.thetas)]
    else:
        raise ValueError(f"target must be 'random' or 'mirror', got {target!r}")
    return game, old, direction


def pdl_curves(
    n_agents: int = 3, seed: int = 0, target: str = "random", beta: float = 1.0, t_max: float = 1.0, n_points: int = 41
) -> dict:
    r"""Along :math:`\theta_t=\theta+tD` (see :func:`pdl_setup`): the N PDL terms of :math:`(\pi_{\theta_t},\pi_\theta)`
    and the exact :math:`J(\pi_{\theta_t})-J(\pi_\theta)` from two evaluations. Keys ``t`` (n_points,),
    ``terms`` (n_points, N), ``delta_J`` (n_points,), ``game``."""
    game, old, direction = pdl_setup(n_agents, seed, target, beta)
    ts = np.linspace(0.0, t_max, n_points)
    J0 = evaluate(game, old).J
    terms = np.empty((n_points, n_agents))
    dJ = np.empty(n_points)
    for i, t in enumerate(ts):
        pol = old.with_thetas([th + t * D for th, D in zip(old.thetas, direction)])
        terms[i] = performance_difference_terms(game, pol, old)
        dJ[i] = evaluate(game, pol).J - J0
    return {"t": ts, "terms": terms, "delta_J": dJ, "game": game}


def mirror_step_terms(seeds=range(4), n_agents=(2, 3, 4), betas=(0.1, 1.0, 10.0)) -> np.ndarray:
    r"""The PDL terms when *every* agent takes its ideal mirror step
    :math:`\pi'^m(\cdot|c)\propto\pi^m(\cdot|c)\exp(\beta^{-1}Q^{1:m}_\pi(c,\cdot))` at once, from random π
    (:func:`pdl_setup` with ``target="mirror"``), for every seed, N and β. Returns all terms as one flat array: the
    chapter checks that none is negative (each is :math:`\ge\beta\,\mathbb E[\mathrm{KL}]\ge0`)."""
    out = []
    for N in n_agents:
        for seed in seeds:
            for beta in betas:
                game, old, direction = pdl_setup(N, seed, "mirror", beta)
                new = old.with_thetas([th + D for th, D in zip(old.thetas, direction)])
                out.append(performance_difference_terms(game, new, old))
    return np.concatenate(out)


def plot_pdl_terms(
    n_agents: int = 3,
    seed: int = 0,
    t: float = 1.0,
    target: str = "random",
    beta: float = 1.0,
    t_max: float = 1.0,
    n_points: int = 41,
) -> Figure:
    r"""Left: the per-agent PDL terms and their sum along :math:`\theta_t=\theta+tD`, with the exact
    :math:`J(\pi_{\theta_t})-J(\pi_\theta)`. Right: the terms at the chosen ``t`` as bars next to their sum and the exact
    difference. Arguments as in :func:`pdl_curves`; ``t`` is clipped to [0, t_max]."""
    data = pdl_curves(n_agents, seed, target, beta, t_max, n_points)
    ts, terms, dJ, game = data["t"], data["terms"], data["delta_J"], data["game"]
    t = float(np.clip(t, 0.0, t_max))
    fig = Figure(figsize=(10.5, 4.0), layout="constrained")
    ax, bx = fig.subplots(1, 2, width_ratios=[1.4, 1])
    colors = [f"C{m}" for m in range(n_agents)]
    for m in range(n_agents):
        ax.plot(ts, terms[:, m], color=colors[m], lw=1.6, label=f"term of agent {m + 1}")
    ax.plot(ts, terms.sum(axis=1), color="k", lw=2.2, label="sum of the terms")
    ax.plot(ts[::4], dJ[::4], "o", mfc="none", mec="r", ms=7, label=r"$J(\pi_t)-J(\pi)$ (two evaluations)")
    ax.axvline(t, color="0.5", ls=":", lw=1)
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set_xlabel(r"$t$ ($\theta_t=\theta+t\,D$)" if target == "random" else r"stepsize multiplier $t$")
    ax.set_ylabel("contribution to $J(\\pi_t)-J(\\pi)$")
    what = r"random $\pi'$" if target == "random" else rf"mirror step, $\beta={beta:g}$"
    ax.set_title(f"{game.name}, $\\gamma={game.gamma:.2f}$; {what}", fontsize=9)
    ax.legend(fontsize=8)
    # bars at t
    idx = int(np.argmin(np.abs(ts - t)))
    t_bar = ts[idx]
    pol_terms = terms[idx]
    labels = [f"agent {m + 1}" for m in range(n_agents)] + ["sum", r"$\Delta J$"]
    values = list(pol_terms) + [pol_terms.sum(), dJ[idx]]
    bx.bar(range(len(values)), values, color=colors + ["k", "r"])
    bx.axhline(0, color="0.5", lw=0.8)
    bx.set_xticks(range(len(values)), labels, fontsize=8)
    bx.set_ylabel("value")
    bx.set_title(f"at $t={t_bar:.3g}$: sum $-$ $\\Delta J$ = {pol_terms.sum() - dJ[idx]:.1e}", fontsize=9)
    return fig


def plot_violations(records) -> Figure:
    """The violation of each identity in each trial of :func:`identity_trials` (log scale; exact zeros drawn at
    1e-18)."""
    fig = Figure(figsize=(8.5, 3.6), layout="constrained")
    ax = fig.subplots()
    floor = 1e-18
    for j, key in enumerate(IDENTITIES):
        vals = np.array([max(r[key], floor) for r in records])
        Ns = np.array([r["n_agents"] for r in records])
        for N, marker in zip(sorted(set(Ns)), "os^dv"):
            sel = Ns == N
            jitter = np.linspace(-0.25, 0.25, sel.sum())
            ax.scatter(
                j + jitter,
                vals[sel],
                marker=marker,
                s=16,
                color=f"C{N - 2}",
                label=f"N = {N}" if j == 0 else None,
                alpha=0.8,
            )
    ax.axhline(1e-10, color="r", ls="--", lw=1, label="tolerance $10^{-10}$")
    ax.set_yscale("log")
    ax.set_ylim(floor / 3, 1e-8)
    ax.text(len(IDENTITIES) - 0.5, floor * 1.5, "exact 0", fontsize=7, ha="right", va="bottom", color="0.4")
    ax.set_xticks(range(len(IDENTITIES)), [IDENTITY_LABELS[k] for k in IDENTITIES], fontsize=8)
    ax.set_ylabel("largest absolute violation")
    ax.legend(fontsize=8, ncol=4, loc="upper right")
    return fig


# ----------------------------------------------------------------------------------------------------------------
# local => global: the conditional class against the product class; the KL chain rule
# ----------------------------------------------------------------------------------------------------------------


def conditional_policy_iteration(game, policy="uniform", max_iterations: int = 50) -> dict:
    r"""Conditional policy iteration [ours]: every agent m at once becomes greedy against its localized values
    :math:`Q^{1:m}_{\pi}` in *every* context (ties to the first action), until no agent can improve locally (the
    "local ⇒ global" proposition of chapter 3; the :math:`\beta_k\to0` limit of the ideal mirror step).

    Returns ``J_path`` (J of the iterates, the start included), ``V_path`` (their values, one row per iterate),
    ``gaps_path`` (:func:`mappo_lite.evaluation.local_improvement_gaps` of each iterate), ``tables`` (the last
    iterate) and ``J_star``. Stops when every gap is below ``1e-12`` times the largest ``|Q|`` (or after
    ``max_iterations`` steps)."""
    tables = as_tables(policy, game.n_states, game.action_sizes)
    J_path, V_path, gaps_path = [], [], []
    for _ in range(max_iterations + 1):
        ev = evaluate(game, tables)
        gaps = local_improvement_gaps(game, tables)
        J_path.append(ev.J)
        V_path.append(ev.V)
        gaps_path.append(gaps)
        if np.max(gaps) <= 1e-12 * max(1.0, float(np.max(np.abs(ev.Q)))):
            break
        greedy = []
        for m in range(1, game.n_agents + 1):
            A = game.action_sizes[m - 1]
            greedy.append(np.eye(A)[np.argmax(ev.q_local[m].reshape(-1, A), axis=1)])
        tables = as_tables(greedy, game.n_states, game.action_sizes)
    return {
        "J_path": np.array(J_path),
        "V_path": np.array(V_path),
        "gaps_path": np.array(gaps_path),
        "tables": tables,
        "J_star": float(optimal_value(game).J_star),
    }


def climbing_counterexample() -> dict:
    r"""The climbing game's (b, b) (chapter 3's counterexample): a Nash equilibrium of the product class below the
    optimum, which conditional local improvement escapes.

    Returns ``J_bb`` (7) and ``J_star`` (11); ``deviations`` (2, 3): the value when agent m (row m - 1) plays each of
    its actions while the other keeps b (the product class's unilateral deviations); ``product_gains`` (2,): each
    agent's best unilateral gain, :math:`\max_a Q^{\{m\}}_\pi(a) - J` (both 0: a Nash equilibrium);
    ``conditional_gaps``: the :func:`mappo_lite.evaluation.local_improvement_gaps` of (b, b) read as a conditional
    policy (agent 2 gains 41 in the unvisited context :math:`a^1 = a`); and the run of
    :func:`conditional_policy_iteration` from (b, b) (``J_path``, ``gaps_path``)."""
    game = make_game("climbing")
    A = game.action_sizes[0]
    b = np.eye(A)[1]
    tables = as_tables([b[None, :], np.tile(b, (A, 1))], game.n_states, game.action_sizes)  # (b, b), any context
    ev = evaluate(game, tables)
    J_bb, Q = ev.J, ev.Q[0]  # gamma = 0: Q(a^1, a^2) is the payoff matrix
    # the product class's Q^{m}: agent m plays a, the other agent keeps its (product) policy b
    deviations = np.array([Q @ b, b @ Q])
    run = conditional_policy_iteration(game, tables)
    return {
        "J_bb": float(J_bb),
        "J_star": run["J_star"],
        "deviations": deviations,
        "product_gains": deviations.max(axis=1) - J_bb,
        "conditional_gaps": run["gaps_path"][0],
        "J_path": run["J_path"],
        "gaps_path": run["gaps_path"],
    }


def local_global_check(seeds=range(6), n_agents=(2, 3, 4)) -> dict:
    r"""Conditional policy iteration from the random π of :func:`random_trial` (chapter 3's "local ⇒ global"
    proposition): returns ``worst_value_drop`` (the largest :math:`\max_s(V_{\pi_t}-V_{\pi_{t+1}})(s)` relative to
    :math:`\max|V|`: ≤ 0 up to rounding, every step improves every state), ``worst_final_gap`` (the largest
    :math:`(J^\star - J(\pi_{\rm last}))/\max(1,|J^\star|)`), ``worst_local_gap`` (the largest remaining local
    improvement gap relative to max|Q|), ``iterations`` (steps of each run) and ``n_runs``."""
    drops, finals, local, iters = [], [], [], []
    for N in n_agents:
        for seed in seeds:
            game, old, _ = random_trial(seed, n_agents=N)
            run = conditional_policy_iteration(game, old)
            V = run["V_path"]
            scale = max(1.0, float(np.max(np.abs(V))))
            drops.append(float(np.max(V[:-1] - V[1:])) / scale if len(V) > 1 else -np.inf)
            finals.append((run["J_star"] - run["J_path"][-1]) / max(1.0, abs(run["J_star"])))
            q_scale = max(1.0, float(np.max(np.abs(evaluate(game, run["tables"]).Q))))
            local.append(float(np.max(run["gaps_path"][-1])) / q_scale)
            iters.append(len(run["J_path"]) - 1)
    return {
        "worst_value_drop": max(drops),
        "worst_final_gap": max(finals),
        "worst_local_gap": max(local),
        "iterations": iters,
        "n_runs": len(iters),
    }


def kl_chain_check(seeds=range(6), n_agents=(2, 3, 4)) -> dict:
    r"""The KL chain rule (:func:`mappo_lite.evaluation.kl_chain_terms`) on the random instances of
    :func:`random_trial`, with π' as :math:`\pi^\star` and π as :math:`\pi_k`. Returns ``max_rel_violation``, the
    largest :math:`|\sum_m\mathrm{term}_m - \mathrm{KL}|/\mathrm{KL}` over seeds, agent counts and states,
    ``n_cases`` (states checked), ``kl_range`` (the smallest and largest KL seen), ``min_term`` (the smallest
    per-agent term, ≥ 0) and ``uniform_max``, the largest :math:`\mathrm{KL}(\pi'\|\text{uniform})/\log|\mathbf A|`
    seen (≤ 1)."""
    worst, n_cases, uni, lo, hi, min_term = 0.0, 0, 0.0, np.inf, 0.0, np.inf
    for N in n_agents:
        for seed in seeds:
            game, old, new = random_trial(seed, n_agents=N)
            out = kl_chain_terms(game, new, old)
            worst = max(worst, float(np.max(np.abs(out["terms"].sum(axis=1) - out["joint"]) / out["joint"])))
            lo, hi = min(lo, float(out["joint"].min())), max(hi, float(out["joint"].max()))
            min_term = min(min_term, float(out["terms"].min()))
            n_cases += game.n_states
            to_uniform = kl_chain_terms(game, new, "uniform")
            uni = max(uni, float(np.max(to_uniform["joint"])) / to_uniform["log_joint_actions"])
    return {
        "max_rel_violation": worst,
        "n_cases": n_cases,
        "kl_range": (lo, hi),
        "min_term": min_term,
        "uniform_max": uni,
    }
