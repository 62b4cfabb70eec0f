r"""Chapter 8 (off-policy MA-PPO, Theorem 2): experiments and figures.

Everything runs :func:`mappo_lite.offline.offline_ma_ppo` on seeded datasets from
:func:`mappo_lite.offline.collect_dataset`, once with the plain (LSTD) evaluator and once with the pessimistic one
on the *same* dataset, and reports the true :math:`J(\pi_k)` (from the game, which the learner never sees), the
evaluator's estimate of it, and the final gap :math:`J^\star - J(\pi_K)`.

Experiments: :func:`offline_runs` (one setting, several seeds), :func:`coverage_sweep` (the coverage knob below
and above 1), :func:`n_sweep` (the gap as n grows) with :func:`fit_loglog_slope`; quantities of Theorem 2:
:func:`concentrability`. Figures (matplotlib ``Figure`` objects, no pyplot): :func:`plot_offline_run` (the
chapter's interactive figure: λ, n, coverage), :func:`plot_coverage_sweep`, :func:`plot_gap_vs_n`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from matplotlib.figure import Figure

from .._validate import check_lam_L
from ..evaluation import evaluate, optimal_value
from ..games.catalogue import make_game
from ..offline.core import (
    POOR_COVERAGE,
    behaviour_policy,
    collect_dataset,
    offline_ma_ppo,
    poor_coverage_example,
    tabular_L,
)
from ..theory import concentrability as theory_concentrability
from ..theory import rescale_rewards

EVALUATORS = ("plain", "pessimistic")
COLORS = {"plain": "tab:red", "pessimistic": "tab:blue"}
LABELS = {"plain": "plain (LSTD)", "pessimistic": "pessimistic"}

#: The chapter's second game for the n-sweep: a random 4-state game with γ = 0.8 (rewards on [0, 1]), where the
#: critic really bootstraps (the example is a one-state game with γ = 0).
SEQUENTIAL_GAME = dict(name="random", n_states=4, n_agents=2, n_actions=3, gamma=0.8, seed=1)


def example_game():
    """The shipped poor-coverage example's game (climbing, rewards rescaled to [0, 1])."""
    return poor_coverage_example()[0]


def sequential_game():
    """:data:`SEQUENTIAL_GAME` with rewards rescaled to [0, 1]."""
    params = dict(SEQUENTIAL_GAME)
    return rescale_rewards(make_game(params.pop("name"), **params))


def offline_runs(
    game=None,
    *,
    n=None,
    coverage=None,
    reward_noise=None,
    lam=None,
    L=None,
    K=None,
    beta=None,
    seeds=range(10),
    evaluators=EVALUATORS,
    cache: bool = False,
) -> dict:
    r"""Run off-policy MA-PPO with each evaluator on the same seeded datasets.

    Defaults are the shipped example (:data:`~mappo_lite.offline.POOR_COVERAGE`); ``L=None`` means the example's L
    for the example game and :func:`~mappo_lite.offline.tabular_L` otherwise. Returns a dict with ``J_star``,
    ``seeds``, and per evaluator arrays ``J[ev]`` (n_seeds, K+1) of true values, ``J_est[ev]`` (n_seeds, K) of
    estimates of :math:`J(\pi_k)`, ``gap[ev]`` (n_seeds,) final gaps :math:`J^\star - J(\pi_K)`, ``bias[ev]``
    (n_seeds,) the estimate minus the truth at the last evaluated iterate :math:`\pi_{K-1}`.

    ``cache=True`` (the example game only) memoizes each dataset on (n, coverage, noise, seed) and each run on the
    knobs its evaluator reads: the plain evaluator ignores λ and L, so moving the interactive figure's λ slider
    reruns the pessimistic runs alone."""
    ex = POOR_COVERAGE
    cache = bool(cache) and game is None
    if game is None:
        game = example_game()
        L = ex["L"] if L is None else L
    n = ex["n"] if n is None else int(n)
    coverage = ex["coverage"] if coverage is None else float(coverage)
    reward_noise = ex["reward_noise"] if reward_noise is None else float(reward_noise)
    lam = ex["lam"] if lam is None else float(lam)
    L = tabular_L(game) if L is None else float(L)
    K = ex["K"] if K is None else int(K)
    beta = ex["beta"] if beta is None else float(beta)
    seeds = list(seeds)
    out = dict(
        J_star=None,
        seeds=seeds,
        J={},
        J_est={},
        gap={},
        bias={},
        params=dict(n=n, coverage=coverage, reward_noise=reward_noise, lam=lam, L=L, K=K, beta=beta, game=game.name),
    )
    for ev in evaluators:
        Js, Jh = [], []
        for seed in seeds:
            if cache:
                check_lam_L(lam, L)
                reads_lam = ev != "plain"
                J, J_est, J_star = _example_run(
                    ev, n, coverage, reward_noise, lam if reads_lam else None, L if reads_lam else None, K, beta, seed
                )
            else:
                data = collect_dataset(game, n, coverage=coverage, reward_noise=reward_noise, seed=seed)
                res = offline_ma_ppo(game, data, K, beta, evaluator=ev, lam=lam, L=L, seed=seed)
                J, J_est, J_star = res.J, res.J_estimated, res.J_star
            Js.append(J)
            Jh.append(J_est)
            out["J_star"] = J_star
        out["J"][ev] = np.array(Js)
        out["J_est"][ev] = np.array(Jh)
        out["gap"][ev] = out["J_star"] - out["J"][ev][:, -1]
        out["bias"][ev] = out["J_est"][ev][:, -1] - out["J"][ev][:, -2]
    return out


@functools.lru_cache(maxsize=64)
def _example_dataset(n, coverage, reward_noise, seed):
    return collect_dataset(example_game(), n, coverage=coverage, reward_noise=reward_noise, seed=seed)


def run_cache_info():
    """Hits, misses and size of the cache of single runs behind :func:`offline_runs` with ``cache=True``
    (``functools.lru_cache``'s ``cache_info()``): which settings a widget redraw recomputes."""
    return _example_run.cache_info()


@functools.lru_cache(maxsize=512)
def _example_run(ev, n, coverage, reward_noise, lam, L, K, beta, seed):
    """One run on the example game for :func:`offline_runs` with ``cache=True``; ``lam``/``L`` are ``None`` for the
    plain evaluator, which does not read them (any valid value is passed). Returns read-only ``(J, J_est, J*)``."""
    ex = POOR_COVERAGE
    data = _example_dataset(n, coverage, reward_noise, seed)
    res = offline_ma_ppo(
        example_game(),
        data,
        K,
        beta,
        evaluator=ev,
        lam=ex["lam"] if lam is None else lam,
        L=ex["L"] if L is None else L,
        seed=seed,
    )
    J, J_est = np.array(res.J), np.array(res.J_estimated)
    J.flags.writeable = J_est.flags.writeable = False
    return J, J_est, float(res.J_star)


def concentrability(game, coverage: float) -> dict:
    r"""Coverage constants of the data distribution :math:`\mu(s,\mathbf a) = \nu_\mu(s)\,\mu(\mathbf a|s)` of
    :func:`~mappo_lite.offline.behaviour_policy` (all states kept):

    ``single``: :math:`C^{d_{\pi^\star}}_\mu = \max_{s,\mathbf a} d_{\pi^\star}(s,\mathbf a)/\mu(s,\mathbf a)` with
    :math:`d_{\pi^\star} = \nu_{\pi^\star}\pi^\star` (π*'s normalized occupancy): Theorem 2's single-policy
    concentrability, in its tabular form. ``all``: :math:`\max_{s,\mathbf a} 1/\mu(s,\mathbf a)`, which bounds the
    concentrability of *every* policy (and equals the largest one in a one-state game): what an evaluator without
    pessimism needs. Both are :func:`mappo_lite.theory.concentrability`."""
    mu = behaviour_policy(game, coverage)
    from ..evaluation import joint_to_tables

    nu_mu = evaluate(game, joint_to_tables(game, mu)).nu
    d_mu = nu_mu[:, None] * mu
    opt = optimal_value(game)
    ev_star = evaluate(game, opt.policy_tables(game))
    d_star = ev_star.nu[:, None] * ev_star.pi_joint.reshape(game.n_states, -1)
    return dict(single=theory_concentrability(d_star, d_mu), all=theory_concentrability(np.ones_like(d_mu), d_mu))


def coverage_sweep(coverages=(0.05, 0.2, 1.0, 5.0, 20.0, 100.0), *, game=None, seeds=range(12), **kw) -> dict:
    """:func:`offline_runs` for each coverage (other settings as the example unless given). Returns ``coverages``,
    ``gap[ev]`` (n_cov, n_seeds), ``bias[ev]`` (n_cov, n_seeds), ``C_single``/``C_all`` (n_cov,)."""
    g = example_game() if game is None else game
    out = dict(
        coverages=np.asarray(coverages, float),
        gap={ev: [] for ev in EVALUATORS},
        bias={ev: [] for ev in EVALUATORS},
        C_single=[],
        C_all=[],
    )
    for c in coverages:
        runs = offline_runs(game, coverage=c, seeds=seeds, **kw)
        for ev in EVALUATORS:
            out["gap"][ev].append(runs["gap"][ev])
            out["bias"][ev].append(runs["bias"][ev])
        C = concentrability(g, c)
        out["C_single"].append(C["single"])
        out["C_all"].append(C["all"])
    for key in ("gap", "bias"):
        out[key] = {ev: np.array(v) for ev, v in out[key].items()}
    out["C_single"], out["C_all"] = np.array(out["C_single"]), np.array(out["C_all"])
    out["params"] = runs["params"]
    return out


def n_sweep(ns=(30, 100, 300, 1000, 3000, 10000), *, game=None, seeds=range(12), label=None, **kw) -> dict:
    """:func:`offline_runs` for each dataset size n. Returns ``ns``, ``gap[ev]`` (n_ns, n_seeds) and ``label`` (for
    the legend; default the game's name)."""
    out = dict(ns=np.asarray(ns, float), gap={ev: [] for ev in EVALUATORS}, game=None)
    for n in ns:
        runs = offline_runs(game, n=n, seeds=seeds, **kw)
        for ev in EVALUATORS:
            out["gap"][ev].append(runs["gap"][ev])
    out["gap"] = {ev: np.array(v) for ev, v in out["gap"].items()}
    out["game"] = runs["params"]["game"]
    out["label"] = out["game"] if label is None else label
    out["params"] = runs["params"]
    return out


def fit_loglog_slope(ns, gaps, floor: float = 1e-4) -> tuple[float, int]:
    """Least-squares slope of log(mean gap) against log n over the points whose mean gap is above ``floor`` (below it
    the gap is the optimization error of K iterations, not the statistical one). Returns (slope, points used)."""
    ns = np.asarray(ns, float)
    m = np.asarray(gaps, float)
    keep = m > floor
    if keep.sum() < 2:
        return float("nan"), int(keep.sum())
    slope = np.polyfit(np.log(ns[keep]), np.log(m[keep]), 1)[0]
    return float(slope), int(keep.sum())


# ----------------------------------------------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------------------------------------------
def plot_offline_run(
    lam: float = POOR_COVERAGE["lam"],
    n: int = POOR_COVERAGE["n"],
    coverage: float = POOR_COVERAGE["coverage"],
    seed: int = 0,
    n_seeds: int = 10,
    reward_noise: float = POOR_COVERAGE["reward_noise"],
) -> Figure:
    r"""Left: one dataset (``seed``): true :math:`J(\pi_k)` (solid) and the evaluator's estimate (dashed) along the
    run, plain vs pessimistic. Right: final gap :math:`J^\star - J(\pi_K)` on ``n_seeds`` datasets (dots) and their
    mean (bar), and the mean estimation bias at the end of the run. On the example game (climbing, rewards on
    [0, 1]) with the example's K, β, L."""
    runs = offline_runs(n=n, coverage=coverage, lam=lam, reward_noise=reward_noise, seeds=range(n_seeds), cache=True)
    i = runs["seeds"].index(seed) if seed in runs["seeds"] else None
    if i is None:
        one = offline_runs(n=n, coverage=coverage, lam=lam, reward_noise=reward_noise, seeds=[seed], cache=True)
        traj = {ev: (one["J"][ev][0], one["J_est"][ev][0]) for ev in EVALUATORS}
    else:
        traj = {ev: (runs["J"][ev][i], runs["J_est"][ev][i]) for ev in EVALUATORS}
    # a fixed layout: constrained layout costs more than the runs themselves on every redraw of the widget
    fig = Figure(figsize=(10, 3.8))
    ax, bx = fig.subplots(1, 2, width_ratios=[1.6, 1])
    fig.subplots_adjust(left=0.065, right=0.99, bottom=0.13, top=0.93, wspace=0.2)
    K = len(traj["plain"][0]) - 1
    ax.axhline(runs["J_star"], color="k", lw=0.8, ls=":", label=r"$J^\star$")
    for ev in EVALUATORS:
        J, Jh = traj[ev]
        ax.plot(np.arange(K + 1), J, color=COLORS[ev], lw=2, label=f"{LABELS[ev]}: true $J(\\pi_k)$")
        ax.plot(np.arange(K), Jh, color=COLORS[ev], lw=1.5, ls="--", label=f"{LABELS[ev]}: estimated")
    lo = min(0.5, min(np.min(traj[ev][0]) for ev in EVALUATORS))
    ax.set_ylim(lo - 0.05, 1.35)
    ax.set_xlabel("iteration $k$")
    ax.set_ylabel(r"$J(\pi_k)$")
    ax.set_title(f"one dataset (seed {seed}): n={n}, coverage={coverage:g}, $\\lambda$={lam:g}", fontsize=10)
    ax.legend(fontsize=8, loc="lower right", ncol=2)
    rng = np.random.default_rng(0)
    for j, ev in enumerate(EVALUATORS):
        g = runs["gap"][ev]
        bx.bar(j, g.mean(), color=COLORS[ev], alpha=0.35, width=0.6)
        bx.plot(j + 0.15 * (rng.random(g.size) - 0.5), g, "o", color=COLORS[ev], ms=4)
        bx.text(
            j,
            0.98,
            f"mean gap {g.mean():.3f}\nmean bias {runs['bias'][ev].mean():+.3f}",
            ha="center",
            va="top",
            fontsize=8,
            transform=bx.get_xaxis_transform(),
        )
    bx.set_xticks(range(len(EVALUATORS)), [LABELS[ev] for ev in EVALUATORS])
    bx.set_xlabel("evaluator")
    bx.set_ylabel(r"final gap $J^\star - J(\pi_K)$")
    bx.set_title(f"{n_seeds} datasets", fontsize=10)
    bx.set_ylim(bottom=0, top=max(0.05, 1.45 * max(runs["gap"][ev].max() for ev in EVALUATORS)))
    return fig


def plot_coverage_sweep(sweep: dict) -> Figure:
    """Mean final gap (± one standard error over seeds) against the coverage knob, plain vs pessimistic, with the
    single-policy concentrability :math:`C^{d_{\\pi^\\star}}_\\mu` on a second panel."""
    c = sweep["coverages"]
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax, bx = fig.subplots(1, 2, width_ratios=[1.5, 1])
    for ev in EVALUATORS:
        g = sweep["gap"][ev]
        m, se = g.mean(axis=1), g.std(axis=1, ddof=1) / math.sqrt(g.shape[1])
        ax.errorbar(c, m, yerr=se, color=COLORS[ev], marker="o", capsize=3, label=LABELS[ev])
    ax.axvline(1.0, color="gray", lw=0.8, ls=":")
    ax.text(
        0.95,
        0.98,
        "uniform\nbehaviour",
        transform=ax.get_xaxis_transform(),
        ha="right",
        va="top",
        fontsize=8,
        color="gray",
    )
    ax.set_xscale("log")
    ax.set_xlabel(r"coverage (relative weight of the optimal joint action in $\mu$)")
    ax.set_ylabel(r"mean final gap $J^\star - J(\pi_K)$")
    p = sweep["params"]
    ax.set_title(f"n={p['n']}, noise {p['reward_noise']:g}, $\\lambda$={p['lam']:g}, L={p['L']:g}", fontsize=10)
    ax.legend(fontsize=9)
    bx.loglog(c, sweep["C_single"], "k-o", ms=4, label=r"single-policy $C^{d_{\pi^\star}}_\mu$")
    bx.loglog(c, sweep["C_all"], "k--s", ms=4, label=r"all policies $\max 1/\mu$")
    bx.set_xlabel("coverage")
    bx.set_ylabel("concentrability")
    bx.legend(fontsize=9)
    return fig


def plot_gap_vs_n(sweeps: list, floor: float = 1e-4) -> Figure:
    r"""Log-log plot of the mean final gap against n for each sweep (one marker style per game) and evaluator, with
    an :math:`n^{-1/3}` reference line and the fitted slopes in the legend."""
    fig = Figure(figsize=(7.5, 4.6), layout="constrained")
    ax = fig.subplots()
    markers = ["o", "s", "^", "D"]
    lines = ["-", "--", "-.", ":"]
    top = 0.0
    for i, sw in enumerate(sweeps):
        for ev in EVALUATORS:
            m = sw["gap"][ev].mean(axis=1)
            slope, used = fit_loglog_slope(sw["ns"], m, floor)
            ax.loglog(
                sw["ns"],
                m,
                color=COLORS[ev],
                marker=markers[i % 4],
                ls=lines[i % 4],
                label=f"{sw['label']}, {LABELS[ev]} (slope {slope:.2f})",
            )
            top = max(top, m.max())
    ns = sweeps[0]["ns"]
    ref = top * (ns / ns[0]) ** (-1.0 / 3.0)
    ax.loglog(ns, ref, color="gray", lw=2.5, alpha=0.6, label=r"reference $n^{-1/3}$")
    ax.axhspan(1e-8, floor, color="gray", alpha=0.1)
    ax.text(
        ns[0],
        floor * 0.6,
        f"below {floor:g}: optimization error (excluded from the fits)",
        fontsize=8,
        color="gray",
        va="top",
    )
    ax.set_ylim(bottom=max(1e-7, 0.3 * min(sw["gap"][ev].mean(axis=1).min() for sw in sweeps for ev in EVALUATORS)))
    ax.set_xlabel("dataset size $n$")
    ax.set_ylabel(r"mean final gap $J^\star - J(\pi_K)$")
    ax.legend(fontsize=8, loc="lower left")
    return fig
