r"""The function-approximation chapter (MA-PPO with compact log-linear policies) and the Theorem 1 bound with
measured errors: experiments and figures.

* :func:`realizability`: realizable (aggregation) vs non-realizable (random) features of the same dimension on an
  exactly lifted game; gaps and the approximation error ε per iteration.
* :func:`floor_vs_dim`, :func:`floor_vs_radius`: the final gap as a function of the feature dimension d and of
  the radius R.
* :func:`approx_vs_statistical`: sampled MA-PPO (Algorithm 3, Monte Carlo :math:`\hat Q`) for growing T with
  tabular and with compact features: the statistical error shrinks with T, the approximation floor does not.
* :func:`climbing_classes`: product, "match" and tabular features on the climbing game.
* :func:`order_sensitivity`: MA-PPO in both agent orders with tabular and with compact features.
* :func:`gridworld_curves`: sampled MA-PPO with compact features against independent NPG with the same features on
  a :math:`10^4`-state gridworld, with :math:`J^\star` from the exact sparse solver.
* :func:`measured_bound`: [ours] the Theorem 1 argument with the measured ε, ξ and concentrability coefficients.

Every function is seeded and deterministic; each returns plain data or a :class:`matplotlib.figure.Figure`.
"""

from __future__ import annotations

import math
import time

import numpy as np
from matplotlib.figure import Figure

from ..algorithms import independent_npg, ma_ppo
from ..evaluation import evaluate, optimal_value
from ..experiments.sweep import run_sweep
from ..games.catalogue import make_game
from ..games.lifted import lifted_game
from ..policies import context_counts
from ..policies.families import aggregated_features, resolve_features
from ..policies.features import ArrayFeatures

#: The chapter's random base game and its lift (4 base states, copies 2, 3, 1, 2: 8 states).
BASE_SPEC = dict(n_states=4, n_agents=2, n_actions=3, gamma=0.9, seed=1)
COPIES = (2, 3, 1, 2)
#: The chapter's gridworld: 10 x 10 cells, two agents (10^4 states), uniform start, sparse form.
GRID_SPEC = dict(width=10, height=10, n_agents=2, start=None, sparse=True)


def base_game():
    return make_game("random", **BASE_SPEC)


def chapter_lift(seed: int = 0):
    """``(lifted game, blocks)`` of :func:`base_game` with :data:`COPIES`."""
    return lifted_game(base_game(), list(COPIES), seed=seed)


def nested_random_features(game, dim: int, max_dim: int, seed: int = 0) -> list:
    """Unit-norm random features whose first ``dim`` coordinates are shared by every ``dim`` (nested spans)."""
    rng = np.random.default_rng(seed)
    out = []
    for c, A in zip(context_counts(game.n_states, game.action_sizes), game.action_sizes):
        phi = rng.standard_normal((c, A, max_dim))[..., :dim]
        out.append(ArrayFeatures(phi / np.linalg.norm(phi, axis=-1, keepdims=True)))
    return out


def tabular_dims(game) -> list:
    return [c * A for c, A in zip(context_counts(game.n_states, game.action_sizes), game.action_sizes)]


# ----------------------------------------------------------------------------------------------------------------
def realizability(K: int = 100, beta: float = 0.02) -> dict:
    """MA-PPO (exact Q, exact compact ideal step) on the lifted game with tabular, aggregation and random features
    (the random ones with the aggregation's dimensions)."""
    game, blocks = chapter_lift()
    agg = aggregated_features(game, blocks)
    rng = np.random.default_rng(0)
    rnd = [
        ArrayFeatures((lambda p: p / np.linalg.norm(p, axis=-1, keepdims=True))(rng.standard_normal((c, A, f.dim))))
        for c, A, f in zip(context_counts(game.n_states, game.action_sizes), game.action_sizes, agg)
    ]
    J_star = optimal_value(game).J_star
    runs = {}
    for label, feats in (("tabular", "tabular"), ("aggregation (realizable)", agg), ("random (same d)", rnd)):
        runs[label] = ma_ppo(game, K=K, beta=beta, features=feats, J_star=J_star, keep_policies=False)
    return {
        "game": game,
        "runs": runs,
        "dims": {"tabular": tabular_dims(game), "aggregation": [f.dim for f in agg]},
        "J_star": J_star,
    }


def plot_realizability(data: dict) -> Figure:
    fig = Figure(figsize=(10, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    for (label, res), c in zip(data["runs"].items(), ("C0", "C2", "C3")):
        ax1.semilogy(np.maximum(res.gap, 1e-16), color=c, label=label)
        ax2.semilogy(np.maximum(res.eps.max(axis=1), 1e-17), color=c, label=label)
    ax1.set(xlabel="iteration k", ylabel=r"$J^\star - J(\pi_k)$", title="gap (exact $Q$, exact ideal step)")
    ax2.set(xlabel="iteration k", ylabel=r"$\max_m \varepsilon^m_k$", title="approximation error of the step")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------------
def floor_vs_dim(dims=(2, 4, 8, 16, 24, 36, 48), K: int = 150, beta: float = 0.02, seeds=(0, 1, 2)) -> dict:
    """Final gap of exact MA-PPO with nested random features of dimension d on :func:`base_game` (mean over
    feature seeds); d = 36 is the size of agent 2's table (agent 1's is 12: from there on the class is everything)."""
    game = base_game()
    J_star = optimal_value(game).J_star
    gaps = np.empty((len(seeds), len(dims)))
    for i, seed in enumerate(seeds):
        for j, d in enumerate(dims):
            res = ma_ppo(
                game,
                K=K,
                beta=beta,
                features=nested_random_features(game, d, max(dims), seed),
                J_star=J_star,
                keep_policies=False,
            )
            gaps[i, j] = res.gap[-1]
    return {"dims": np.asarray(dims), "gaps": gaps, "J_star": J_star, "table": tabular_dims(game)}


def floor_vs_radius(radii=(1, 4, 16, 64, 256, 1024, 4096), K: int = 150, beta: float = 0.02, dim: int = 8) -> dict:
    """Final gap for a finite radius R, with tabular features and with random features of dimension ``dim``."""
    game = base_game()
    J_star = optimal_value(game).J_star
    out = {"radii": np.asarray(radii, dtype=float), "J_star": J_star}
    for label, feats in (
        ("tabular", lambda: "tabular"),
        (f"random d={dim}", lambda: nested_random_features(game, dim, dim, 0)),
    ):
        out[label] = np.array(
            [
                ma_ppo(
                    game,
                    K=K,
                    beta=beta,
                    features=feats(),
                    radius=R,
                    J_star=J_star,
                    solver="ideal" if label != "tabular" else "ideal",
                    keep_policies=False,
                ).gap[-1]
                for R in radii
            ]
        )
    return out


def plot_floors(dim_data: dict, r_data: dict) -> Figure:
    fig = Figure(figsize=(10, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    g = dim_data["gaps"]
    ax1.semilogy(dim_data["dims"], np.maximum(g.mean(axis=0), 1e-16), "o-", label="mean over 3 feature draws")
    for row in g:
        ax1.semilogy(dim_data["dims"], np.maximum(row, 1e-16), ".", color="0.6")
    for d, name in zip(dim_data["table"], ("agent 1's table", "agent 2's table")):
        ax1.axvline(d, color="0.7", ls=":")
        ax1.text(d, ax1.get_ylim()[1], name, rotation=90, va="top", ha="right", fontsize=7)
    ax1.set(xlabel="feature dimension d", ylabel=r"$J^\star - J(\pi_K)$", title="floor vs d (random features)")
    ax1.legend(fontsize=8)
    for key, c in (("tabular", "C0"), (next(k for k in r_data if k.startswith("random")), "C3")):
        ax2.loglog(r_data["radii"], np.maximum(r_data[key], 1e-16), "o-", color=c, label=key)
    ax2.set(xlabel="radius R of Θ", ylabel=r"$J^\star - J(\pi_K)$", title="floor vs R")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------------
def approx_vs_statistical(
    Ts=(100, 400, 1600, 6400), K: int = 60, beta: float = 0.05, dim: int = 8, seeds=(0, 1, 2), n_rollouts: int = 2
) -> dict:
    """Sampled MA-PPO (Algorithm 3 from θ_k, Monte Carlo :math:`\\hat Q`) on :func:`base_game` for each T: the mean
    over the last 10 iterations of the gap, with tabular features and with random features of dimension ``dim``;
    and the exact compact ideal step's gap with the same features (the approximation floor, no samples). The sampled
    runs go side by side in threads (:func:`~mappo_lite.experiments.sweep.run_sweep`), with the serial results."""
    game = base_game()
    J_star = optimal_value(game).J_star
    feats = nested_random_features(game, dim, dim, 0)
    out = {"Ts": np.asarray(Ts), "J_star": J_star}
    classes = (("tabular", "tabular"), (f"random d={dim}", feats))
    runs = [(f, seed, T) for _, f in classes for seed in seeds for T in Ts]

    def final_gap(run):
        f, seed, T = run
        res = ma_ppo(
            game,
            K=K,
            beta=beta,
            solver="sgd",
            evaluation="mc",
            features=f,
            T=T,
            n_rollouts=n_rollouts,
            sgd_init="previous",
            seed=seed,
            J_star=J_star,
            keep_policies=False,
        )
        return res.gap[-10:].mean()

    # the runs are independent and their time is in the sampling kernels: side by side in threads, same results
    gaps = np.asarray(run_sweep(runs, final_gap, backend="threads", quiet=True))
    for i, (label, _) in enumerate(classes):
        out[label] = gaps[i * len(seeds) * len(Ts) : (i + 1) * len(seeds) * len(Ts)].reshape(len(seeds), len(Ts))
    ideal = ma_ppo(game, K=K, beta=beta, features=feats, J_star=J_star, keep_policies=False)
    out["floor"] = float(ideal.gap[-10:].mean())
    out["floor_eps"] = ideal.eps
    return out


def plot_approx_vs_statistical(data: dict) -> Figure:
    fig = Figure(figsize=(6, 3.8))
    ax = fig.subplots()
    for key, c in (("tabular", "C0"), (next(k for k in data if k.startswith("random")), "C3")):
        ax.loglog(data["Ts"], data[key].mean(axis=0), "o-", color=c, label=f"Algorithm 3, {key}")
    ax.axhline(data["floor"], color="C3", ls="--", label="exact compact ideal step (no samples)")
    ax.set(
        xlabel="samples T per agent and iteration",
        ylabel="gap, mean of the last 10 iterations",
        title="statistical error shrinks with T; the approximation floor does not",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------------
def climbing_classes(K: int = 100, beta: float = 0.1) -> dict:
    """MA-PPO (exact Q, exact ideal step) on the climbing game with product, match and tabular features."""
    game = make_game("climbing")
    out = {}
    for name in ("product", "match", "tabular"):
        res = ma_ppo(game, K=K, beta=beta, features=name, keep_policies=False)
        feats = resolve_features(game, name)
        dims = tabular_dims(game) if name == "tabular" else [f.dim for f in feats]
        out[name] = {"result": res, "dims": dims}
    return out


def plot_climbing_classes(data: dict) -> Figure:
    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    for (name, d), c in zip(data.items(), ("C3", "C2", "C0")):
        ax.plot(d["result"].J, color=c, label=f"{name} (d = {', '.join(map(str, d['dims']))})")
    ax.axhline(11, color="0.5", ls=":", label="J* = 11")
    ax.set(xlabel="iteration k", ylabel=r"$J(\pi_k)$", title="climbing game: what the class can express")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------------
def order_sensitivity(K: int = 300, beta: float = 0.02, seeds=range(4), families=("tabular", "random:4")) -> dict:
    """MA-PPO on random two-agent games in the order (1, 2) and, relabelled, (2, 1), with each feature family; the
    final J in both orders (the same game and the same J*: only the agent order of the class changes)."""
    out = {f: np.empty((len(seeds), 2)) for f in families}
    stars = np.empty(len(seeds))
    for i, seed in enumerate(seeds):
        game = make_game("random", n_states=3, n_agents=2, n_actions=3, gamma=0.9, seed=100 + seed)
        flipped = game.relabel_agents([2, 1])
        stars[i] = optimal_value(game).J_star
        for fam in families:
            for j, g in enumerate((game, flipped)):
                # random:4 draws agent-position features from one seed: the same recipe in either order
                out[fam][i, j] = ma_ppo(
                    g, K=K, beta=beta, features=fam, J_star=stars[i], keep_policies=False, seed=0
                ).J[-1]
    return {"J": out, "J_star": stars, "seeds": list(seeds)}


# ----------------------------------------------------------------------------------------------------------------
def gridworld_curves(K: int = 20, beta: float = 0.05, T: int = 3000, n_rollouts: int = 4, seed: int = 1) -> dict:
    """Sampled MA-PPO (gridworld features, with the predecessor's action) and sampled independent NPG (the same
    features without it) on the :data:`GRID_SPEC` gridworld; J* from the exact sparse solver; wall times (the two
    runs go side by side in threads and share the cores: each time is its run's, measured beside the other)."""
    t0 = time.perf_counter()
    game = make_game("gridworld", **GRID_SPEC)
    opt = optimal_value(game)
    t_setup = time.perf_counter() - t0
    common = dict(
        K=K,
        beta=beta,
        solver="sgd",
        evaluation="mc",
        T=T,
        n_rollouts=n_rollouts,
        sgd_init="previous",
        seed=seed,
        J_star=opt.J_star,
        keep_policies=False,
    )

    def timed(run):
        algo, features = run
        t0 = time.perf_counter()
        return algo(game, features=features, **common), time.perf_counter() - t0

    # two independent runs, side by side in threads (the sampling kernels release the GIL), each timed in its thread
    (mappo, t_mappo), (ind, t_ind) = run_sweep(
        [(ma_ppo, "gridworld"), (independent_npg, "gridworld-noprefix")], timed, backend="threads", quiet=True
    )
    dims = [f.dim for f in resolve_features(game, "gridworld")]
    return {
        "game": game,
        "J_star": opt.J_star,
        "mappo": mappo,
        "independent": ind,
        "dims": dims,
        "times": {"setup": t_setup, "mappo": t_mappo, "independent": t_ind},
        "uniform_J": float(mappo.J[0]),
    }


def plot_gridworld_curves(data: dict) -> Figure:
    fig = Figure(figsize=(6.5, 3.8))
    ax = fig.subplots()
    ax.plot(data["mappo"].J, "o-", ms=3, color="C0", label="MA-PPO, Algorithm 3 + Monte Carlo, gridworld features")
    ax.plot(data["independent"].J, "s-", ms=3, color="C3", label="independent NPG, same features without the prefix")
    ax.axhline(data["J_star"], color="0.4", ls="--", label=r"$J^\star$ (exact sparse policy iteration)")
    ax.set(
        xlabel="iteration k",
        ylabel=r"$J(\pi_k)$ (exact evaluation)",
        title=f"{data['game'].n_states:,}-state gridworld, {data['game'].n_joint_actions} joint actions",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------------
def _kl_rows(p, q):
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q)), 0.0)
    return t.sum(axis=1)


def measured_bound(
    game,
    features,
    K: int,
    beta: float,
    evaluation: str = "exact",
    n_rollouts: int = 10,
    seed: int = 0,
    radius: float = math.inf,
) -> dict:
    r"""**[ours]** Theorem 1's argument with the measured errors, on an MA-PPO run with the exact ideal step.

    For log-linear policies the step taken is exactly a mirror step on :math:`f^m_k = \beta_k(\theta^m_{k+1}-\theta^m_k)^\top\phi`:
    :math:`\pi^m_{k+1}\propto\pi^m_k e^{f^m_k/\beta_k}`. The performance difference lemma with the comparator π*
    (deterministic, optimal) and Step 2 of the proof sketch with f in place of Q give, per iteration,

    .. math:: J^\star-J(\pi_k) = \beta_k\sum_m\langle w_m,\mathrm{KL}^\star_k-\mathrm{KL}^\star_{k+1}
              +\mathrm{KL}(\pi^m_k\|\pi^m_{k+1})\rangle + \sum_m\langle w_m,\langle Q^{1:m}_{\pi_k}-f^m_k,\pi^{\star m}-\pi^m_k\rangle\rangle,

    and Cauchy–Schwarz under :math:`\sigma^m_k` bounds the last term by :math:`C^m_k(\xi^m_k+\beta_k\varepsilon^m_k)`
    with the concentrability coefficient
    :math:`C^m_k=[\sum_{c,a}(w_m(c)|\pi^{\star m}(a|c)-\pi^m_k(a|c)|)^2/\sigma^m_k(c,a)]^{1/2}`. Averaging over k,
    with :math:`\mathrm{KL}^\star_0\le\log|A|` and :math:`\mathrm{KL}^\star_K\ge0`:

    .. math:: \frac1K\sum_{k<K}(J^\star-J(\pi_k)) \le \frac{\beta_k N\log|A|}{(1-\gamma)K}
              + \frac{\beta_k}K\sum_{k,m}\langle w_m,\mathrm{KL}(\pi^m_k\|\pi^m_{k+1})\rangle
              + \frac1K\sum_{k,m}C^m_k(\xi^m_k+\beta_k\varepsilon^m_k).

    ε and ξ are the run's σ_k-weighted population values (the ideal step's residual; the Monte Carlo table's
    error over every context). Returns the three terms, their sum ``bound``, the measured ``average_gap`` and the
    per-iteration ``C`` (K, N)."""
    res = ma_ppo(
        game,
        K=K,
        beta=beta,
        features=features,
        evaluation=evaluation,
        n_rollouts=n_rollouts,
        seed=seed,
        keep_policies=True,
        radius=radius,
    )
    beta_k = res.params["beta_k"]
    opt = optimal_value(game)
    star = evaluate(game, opt.policy_tables(game))
    N, A = game.n_agents, max(game.action_sizes)
    # comparator weights w_m(c) = d*(s) pi*^{1:m-1}(prefix | s), total mass 1 / (1 - gamma)
    weights, w = [], star.occupancy.copy()
    for m in range(1, N + 1):
        weights.append(w.reshape(-1).copy())
        w = w[..., None] * star.tables.table(m)
    curv = np.zeros(K)
    C = np.zeros((K, N))
    for k in range(K):
        ev = evaluate(game, res.policies[k])
        nxt = res.policies[k + 1]
        for m in range(N):
            p_k, p_next, p_star = ev.tables.tables[m], nxt.tables[m], star.tables.tables[m]
            curv[k] += weights[m] @ _kl_rows(p_k, p_next)
            sig = ev.sigma_agent(m + 1).reshape(p_k.shape)
            num = (weights[m][:, None] * np.abs(p_star - p_k)) ** 2
            C[k, m] = math.sqrt(float(np.sum(np.where(num > 0, num / np.where(sig > 0, sig, np.inf), 0.0))))
    kl_part = beta_k * N * math.log(A) / ((1 - game.gamma) * K)
    curv_part = beta_k * curv.sum() / K
    err_part = float(np.sum(C * (res.xi + beta_k * res.eps)) / K)
    return {
        "average_gap": res.average_gap,
        "kl_part": kl_part,
        "curvature_part": curv_part,
        "error_part": err_part,
        "bound": kl_part + curv_part + err_part,
        "C": C,
        "eps": res.eps,
        "xi": res.xi,
        "K": K,
        "beta_k": beta_k,
    }


def bound_configs() -> dict:
    """The runs of the Theorem 1 plot: label → (game, features, evaluation), rewards in [0, 1]."""
    from ..theory import rescale_rewards

    lifted, blocks = chapter_lift()
    lifted = rescale_rewards(lifted)
    base = rescale_rewards(base_game())
    return {
        "aggregation, exact Q (ε = ξ = 0)": (lifted, aggregated_features(lifted, blocks), "exact"),
        "aggregation, Monte Carlo Q̂ (ξ > 0)": (lifted, aggregated_features(lifted, blocks), "mc"),
        "random d = 8, exact Q (ε > 0)": (base, nested_random_features(base, 8, 8, 0), "exact"),
    }


def measured_bound_vs_K(
    Ks=(5, 10, 20, 40, 80), beta: float = 1.0, n_rollouts: int = 30, radius: float = math.inf
) -> dict:
    """:func:`measured_bound` for each K and each run of :func:`bound_configs` (β = 1: a gentle step keeps the
    policies stochastic, so the concentrability coefficients of the realizable runs stay moderate)."""
    out = {}
    for label, (game, feats, ev) in bound_configs().items():
        rows = [
            measured_bound(game, feats, int(K), beta, evaluation=ev, n_rollouts=n_rollouts, radius=radius) for K in Ks
        ]
        out[label] = {
            key: np.array([r[key] for r in rows])
            for key in ("average_gap", "bound", "kl_part", "curvature_part", "error_part")
        }
    return {"Ks": np.asarray(Ks), "runs": out, "beta": beta, "radius": radius}


def plot_measured_bound(data: dict) -> Figure:
    """Left: the realizable runs (the bound is informative); right: the non-realizable one (vacuous), log scales."""
    fig = Figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2)
    items = list(data["runs"].items())
    for ax, group in ((axes[0], items[:2]), (axes[1], items[2:])):
        for (label, r), c in zip(group, ("C0", "C1") if ax is axes[0] else ("C3",)):
            ax.loglog(data["Ks"], r["bound"], "--", color=c, label=f"bound, {label}")
            ax.loglog(data["Ks"], r["average_gap"], "o-", color=c, label=f"measured gap, {label}")
        ax.set(xlabel="K", ylabel=r"$\frac{1}{K}\sum_{k<K}(J^\star-J(\pi_k))$")
        ax.legend(fontsize=7)
    axes[0].set_title("realizable class: the bound is informative", fontsize=9)
    axes[1].set_title("non-realizable class: the bound holds, vacuously", fontsize=9)
    fig.tight_layout()
    return fig
