r"""Chapter 5 (Algorithms 1 and 3): experiments and figures.

* :func:`mirror_step_check`: the closed-form KL-regularized maximizer against random candidates, and the library's
  ideal step against the closed form.
* :func:`run_games`, :func:`plot_games`: MA-PPO (Algorithm 1) on several games with exact :math:`Q`, Monte Carlo
  :math:`\hat Q` and the ideal step, and Monte Carlo :math:`\hat Q` with Algorithm 3.
* :func:`solver_grid`, :func:`plot_solver_grid`: how Algorithm 3's T and η (and its starting point) change the
  measured fit error ε and the final gap.
* :func:`statistical_regime`, :func:`plot_statistical_regime`: Monte Carlo evaluation with few or many rollouts,
  the measured ξ.
* :func:`pitfall`, :func:`plot_pitfall`, :func:`concentrability`: on-policy sampling on the climbing game; small β
  makes agent 1 deterministic before agent 2 has seen the context (a, ·).
* :func:`compare_methods`, :func:`plot_comparison`, :func:`recompute_difference`,
  :func:`happo_decomposition_check`: MA-PPO against HAPPO (:mod:`mappo_lite.happo`) and independent learners.
* :func:`mirror_gap_vs_beta`, :func:`plot_mirror_gap`: MA-PPO's per-agent step against the exact centralized mirror
  step factored autoregressively (soft values :math:`U^{1:m}` against means :math:`Q^{1:m}`), against :math:`\beta_k`.
* :func:`two_step_visitation`: the visitation :math:`\nu` of the two-step game that the chapter quotes.

Every function is seeded and deterministic; each returns plain data (dicts of arrays) or a
:class:`matplotlib.figure.Figure` built without pyplot.
"""

from __future__ import annotations

import collections
import functools
import itertools
import math
import time

import numpy as np
from matplotlib.figure import Figure

from ..algorithms import centralized_mirror, independent_npg, independent_pg, ma_ppo
from ..algorithms.happo import happo, happo_iteration, happo_target
from ..errors import MappoLiteError
from ..evaluation import evaluate, optimal_value
from ..games.catalogue import make_game
from ..games.dense import CooperativeMarkovGame
from ..improvement import ideal_mirror_step
from ..kernels.softmax import log_softmax, softmax
from ..policies.conditional import ProductPolicy
from ..sampling import mc_localized_q_table, rms_error
from ..theory import concentrability as theory_concentrability

#: The games of the chapter, in display order.
GAME_NAMES = ("climbing", "penalty", "two_step", "random", "gridworld")
#: Parameters of the chapter's random game (kept small so every run takes well under a second).
RANDOM_SPEC = dict(n_states=5, n_agents=3, n_actions=2, gamma=0.9, seed=0)

#: The MA-PPO variants of :func:`run_games`: label → ``ma_ppo`` keyword arguments.
VARIANTS = {
    "exact $Q$, ideal step": dict(solver="ideal", evaluation="exact"),
    r"Monte Carlo $\hat Q$, ideal step": dict(solver="ideal", evaluation="mc"),
    r"Monte Carlo $\hat Q$, Algorithm 3": dict(solver="sgd", evaluation="mc"),
}
_VARIANT_STYLE = {0: ("C0", "-"), 1: ("C1", "--"), 2: ("C2", "-")}


def chapter_game(name: str, **params) -> CooperativeMarkovGame:
    """The chapter's game called ``name``: built-in games with their defaults, ``"random"`` with :data:`RANDOM_SPEC`."""
    if isinstance(name, CooperativeMarkovGame):
        return name
    if name == "random":
        return make_game("random", **{**RANDOM_SPEC, **params})
    if name not in GAME_NAMES:
        raise MappoLiteError(f"unknown chapter game {name!r}; choose from {', '.join(GAME_NAMES)}")
    return make_game(name, **params)


def available_games(names=GAME_NAMES) -> tuple[dict, list]:
    """``({name: game}, skipped)``: the gridworld is skipped (and listed in ``skipped``) if it cannot be built."""
    games, skipped = {}, []
    for name in names:
        if name == "gridworld":
            try:
                games[name] = chapter_game(name)
            except Exception as exc:  # the gridworld is another module's work in progress: skip it cleanly
                skipped.append(f"gridworld ({type(exc).__name__}: {exc})")
        else:
            games[name] = chapter_game(name)
    return games, skipped


# ----------------------------------------------------------------------------------------------------------------
# the ideal step
# ----------------------------------------------------------------------------------------------------------------
def mirror_step_check(n_actions: int = 4, beta: float = 0.5, seed: int = 0, n_candidates: int = 20000) -> dict:
    r"""Check that :math:`p^\star \propto \pi_k\exp(q/\beta)` maximizes :math:`F(p)=\langle q,p\rangle-\beta\,\mathrm{KL}(p\|\pi_k)`.

    ``value_closed`` = :math:`F(p^\star)`, ``log_partition`` = :math:`\beta\log\sum_a\pi_k(a)e^{q(a)/\beta}` (equal to
    it), ``best_candidate`` = the largest F over ``n_candidates`` random distributions (Dirichlet, at several
    concentrations, plus small perturbations of :math:`p^\star`), ``library_diff`` = largest difference between
    :math:`p^\star` and the softmax of :func:`mappo_lite.solver.ideal_mirror_step` (θ = log π_k).
    """
    rng = np.random.default_rng(seed)
    pi_k = rng.dirichlet(np.ones(n_actions))
    q = 3.0 * rng.standard_normal(n_actions)

    def F(p):
        p = np.atleast_2d(p)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(p > 0, p * (np.log(p) - np.log(pi_k)), 0.0).sum(axis=1)
        return p @ q - beta * kl

    w = pi_k * np.exp((q - q.max()) / beta)
    p_star = w / w.sum()
    log_partition = q.max() + beta * math.log(w.sum())
    cands = [rng.dirichlet(np.full(n_actions, c), size=n_candidates // 4) for c in (0.2, 1.0, 5.0)]
    pert = p_star * np.exp(0.05 * rng.standard_normal((n_candidates // 4, n_actions)))
    cands.append(pert / pert.sum(axis=1, keepdims=True))
    best = float(np.max(F(np.vstack(cands))))
    theta_new = ideal_mirror_step(np.log(pi_k), q, beta)
    lib = softmax(theta_new)
    return {
        "pi_k": pi_k,
        "q": q,
        "p_star": p_star,
        "value_closed": float(F(p_star)[0]),
        "log_partition": float(log_partition),
        "best_candidate": best,
        "library_diff": float(np.max(np.abs(lib - p_star))),
    }


# ----------------------------------------------------------------------------------------------------------------
# experiment 1: MA-PPO on several games
# ----------------------------------------------------------------------------------------------------------------
def run_games(
    names=GAME_NAMES,
    K: int = 60,
    beta: float = 0.2,
    T: int = 500,
    eta: float = 0.25,
    n_rollouts: int = 4,
    sgd_init: str = "zero",
    reverse_agents: bool = False,
    seed: int = 0,
    variants=tuple(VARIANTS),
    *,
    cache: bool = True,
    progress: bool = False,
) -> dict:
    r"""Run Algorithm 1 on each game in ``names`` with each variant of :data:`VARIANTS`.

    ``cache=True`` memoizes each run on the knobs its variant reads (the exact variant ignores T, η, the rollouts
    and the seed; the Monte Carlo ideal step ignores T, η and θ(0)), so the interactive figure recomputes only the
    runs a moved slider changes; :math:`J^\star` of each game is computed once. ``progress=True`` shows an
    ipywidgets progress bar (in a notebook) that moves with the iterations of every run.

    ``reverse_agents`` relabels the agents N, …, 1 (agent N acts first and everyone conditions on the earlier
    agents in the new order). Returns ``{"results": {game: {variant: TrainingResult}}, "skipped": [...],
    "params": {...}}``.
    """
    if isinstance(names, str):
        names = (names,)
    for label in variants:
        if label not in VARIANTS:
            raise MappoLiteError(f"unknown variant {label!r}; choose from {list(VARIANTS)}")
    games, skipped = available_games(names)
    results = {}
    runs = [(name, label) for name in games for label in variants]
    # one step per iteration of every run (a memoized run fills its K + 1 steps at once)
    bar = progress_bar(len(runs) * (K + 1)) if progress else None
    for i, (name, label) in enumerate(runs):
        results.setdefault(name, {})
        if bar is not None:
            bar.description = name
        callback = progress_callback(bar, i * (K + 1))
        if cache:
            # only the knobs this variant reads enter the key: moving T redraws Algorithm 3 alone
            v = VARIANTS[label]
            mc, sgd = v["evaluation"] == "mc", v["solver"] == "sgd"
            key = (
                name,
                label,
                K,
                float(beta),
                T if sgd else None,
                float(eta) if sgd else None,
                n_rollouts if mc else None,
                sgd_init if sgd else None,
                bool(reverse_agents),
                seed if (mc or sgd) else None,
            )
            results[name][label] = _cached_run(key, callback)
        else:
            results[name][label] = _run_one(
                games[name], label, K, beta, T, eta, n_rollouts, sgd_init, reverse_agents, seed, callback=callback
            )
        if bar is not None:
            bar.value = (i + 1) * (K + 1)
    if bar is not None:
        bar.close()
    params = dict(
        K=K, beta=beta, T=T, eta=eta, n_rollouts=n_rollouts, sgd_init=sgd_init, reverse_agents=reverse_agents, seed=seed
    )
    return {"results": results, "skipped": skipped, "params": params}


def final_gaps(data: dict) -> dict:
    r"""``{game: {variant: J* − J(π_K)}}`` from :func:`run_games` output."""
    return {g: {v: float(r.J_star - r.J[-1]) for v, r in runs.items()} for g, runs in data["results"].items()}


def _run_one(game, label, K, beta, T, eta, n_rollouts, sgd_init, reverse_agents, seed, J_star=None, callback=None):
    """One MA-PPO run of ``label``; a knob given as ``None`` (one the variant does not read) is left to ``ma_ppo``."""
    if reverse_agents:
        game = game.relabel_agents(list(range(game.n_agents, 0, -1)))
    knobs = dict(T=T, eta=eta, n_rollouts=n_rollouts, sgd_init=sgd_init, seed=seed)
    return ma_ppo(
        game,
        K=K,
        beta=beta,
        keep_policies=False,
        J_star=J_star,
        callback=callback,
        **{k: v for k, v in knobs.items() if v is not None},
        **VARIANTS[label],
    )


@functools.lru_cache(maxsize=16)
def _cached_game(name: str) -> CooperativeMarkovGame:
    return available_games((name,))[0][name]


@functools.lru_cache(maxsize=16)
def _cached_J_star(name: str) -> float:
    return optimal_value(_cached_game(name)).J_star


#: memoized runs of :func:`run_games`, least recently used first: key (game, variant, K, β, T, η, rollouts, θ(0),
#: reversed, seed) with the knobs the variant does not read set to None
_RUNS: collections.OrderedDict = collections.OrderedDict()
_RUNS_MAX = 256


def _cached_run(key: tuple, callback=None):
    """The run of ``key`` from :data:`_RUNS`, or run now (``callback`` reports its iterations) and remember it."""
    if key in _RUNS:
        _RUNS.move_to_end(key)
        return _RUNS[key]
    name, label, *knobs = key
    # relabelling the agents leaves J* unchanged (the same game)
    run = _run_one(_cached_game(name), label, *knobs, J_star=_cached_J_star(name), callback=callback)
    _RUNS[key] = run
    if len(_RUNS) > _RUNS_MAX:
        _RUNS.popitem(last=False)
    return run


def progress_bar(total: int, description: str = "runs"):
    """An ipywidgets progress bar over ``total`` steps shown in the current output (``None`` outside a notebook
    front end)."""
    try:
        import ipywidgets as widgets
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover
        return None
    if get_ipython() is None:
        return None
    bar = widgets.IntProgress(value=0, min=0, max=total, description=description)
    display(bar)
    return bar


def progress_callback(bar, start: int, every_s: float = 0.1):
    """A ``callback(k)`` for :func:`~mappo_lite.algorithms.ma_ppo` that sets ``bar.value = start + k``, at most once
    every ``every_s`` seconds (each update is a message to the front end); None if ``bar`` is None."""
    if bar is None:
        return None
    last = -math.inf

    def callback(k: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            bar.value = start + k

    return callback


def plot_games(
    names=GAME_NAMES,
    K: int = 60,
    beta: float = 0.2,
    T: int = 500,
    eta: float = 0.25,
    n_rollouts: int = 4,
    sgd_init: str = "zero",
    reverse_agents: bool = False,
    seed: int = 0,
    data: dict | None = None,
    progress: bool = False,
) -> Figure:
    r""":math:`J(\pi_k)` against k for every game (one panel each) and variant, :math:`J^\star` dashed (the runs
    are memoized, see :func:`run_games`; ``progress=True``: a progress bar while they run)."""
    if data is None:
        data = run_games(names, K, beta, T, eta, n_rollouts, sgd_init, reverse_agents, seed, progress=progress)
    res = data["results"]
    n = len(res)
    if n == 0:
        raise MappoLiteError("no game to plot")
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.3 * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, (name, runs) in zip(axes, res.items()):
        for _i, (label, r) in enumerate(runs.items()):
            color, ls = _VARIANT_STYLE[list(VARIANTS).index(label)]
            ax.plot(np.arange(r.K + 1), r.J, ls, color=color, lw=1.8, label=label)
        J_star = next(iter(runs.values())).J_star
        ax.axhline(J_star, color="k", ls=(0, (5, 3)), lw=1.2, label=r"$J^\star$")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("iteration $k$")
        ax.set_ylabel(r"$J(\pi_k)$")
        ax.grid(True, alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    p = data["params"]
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=9)
    order = " (agents relabelled N..1)" if p["reverse_agents"] else ""
    fig.suptitle(
        rf"MA-PPO, K = {p['K']}, $\beta$ = {p['beta']:g}; Algorithm 3 with T = {p['T']}, "
        rf"$\eta$ = {p['eta']:g}; {p['n_rollouts']} rollouts per $\hat Q$" + order,
        fontsize=10,
    )
    return fig


# ----------------------------------------------------------------------------------------------------------------
# experiment 2: Algorithm 3's T and eta
# ----------------------------------------------------------------------------------------------------------------
def solver_grid(
    game="random",
    beta: float = 0.2,
    K: int = 30,
    Ts=(100, 300, 1000, 3000),
    etas=(1 / 16, 1 / 8, 1 / 4, 1 / 2),
    inits=("zero", "previous"),
    seeds=(0, 1),
) -> dict:
    r"""Algorithm 1 with Algorithm 3 and exact :math:`Q` (so every error is the solver's) on a grid of T and η.

    Returns ``eps`` (len(inits), len(Ts), len(etas)): the measured ε averaged over iterations, agents and seeds;
    ``gap``: the final :math:`J^\star - J(\pi_K)` averaged over seeds; ``avg_gap``: the average gap
    :math:`\frac1K\sum_{k<K}(J^\star-J(\pi_k))` averaged over seeds; ``ideal_gap``: the final gap of the ideal step.
    """
    g = chapter_game(game)
    Ts, etas, inits, seeds = list(Ts), list(etas), list(inits), list(seeds)
    eps = np.zeros((len(inits), len(Ts), len(etas)))
    gap = np.zeros_like(eps)
    avg_gap = np.zeros_like(eps)
    for a, init in enumerate(inits):
        for b, T in enumerate(Ts):
            for c, eta in enumerate(etas):
                for s in seeds:
                    r = ma_ppo(
                        g, K=K, beta=beta, solver="sgd", T=T, eta=eta, sgd_init=init, seed=s, keep_policies=False
                    )
                    eps[a, b, c] += r.eps.mean() / len(seeds)
                    gap[a, b, c] += (r.J_star - r.J[-1]) / len(seeds)
                    avg_gap[a, b, c] += r.average_gap / len(seeds)
    ideal = ma_ppo(g, K=K, beta=beta, keep_policies=False)
    return {
        "eps": eps,
        "gap": gap,
        "avg_gap": avg_gap,
        "ideal_gap": float(ideal.J_star - ideal.J[-1]),
        "Ts": Ts,
        "etas": etas,
        "inits": inits,
        "seeds": seeds,
        "game": g.name,
        "beta": beta,
        "K": K,
    }


def plot_solver_grid(data: dict | None = None, **kwargs) -> Figure:
    r"""Left: measured ε against T (one line per η; solid θ(0) = 0, dashed θ(0) = θ_k). Right: final gap."""
    if data is None:
        data = solver_grid(**kwargs)
    fig = Figure(figsize=(10, 3.9), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    styles = {"zero": ("-", "o", r"$\theta(0)=0$"), "previous": ("--", "s", r"$\theta(0)=\theta^m_k$")}
    for a, init in enumerate(data["inits"]):
        ls, mk, lab = styles.get(init, (":", "^", init))
        for c, eta in enumerate(data["etas"]):
            kw = dict(color=f"C{c}", ls=ls, marker=mk, ms=4, lw=1.5)
            ax1.loglog(data["Ts"], data["eps"][a, :, c], label=rf"$\eta$ = {eta:g}, {lab}", **kw)
            ax2.semilogx(data["Ts"], data["gap"][a, :, c], **kw)
    ax2.axhline(data["ideal_gap"], color="k", ls=":", lw=1.2, label="ideal step (T = ∞)")
    ax1.set_xlabel("SGD samples per agent $T$")
    ax1.set_ylabel(r"measured $\varepsilon$ (mean over $k$, $m$)")
    ax1.set_title(r"fit error of Algorithm 3", fontsize=10)
    ax2.set_xlabel("SGD samples per agent $T$")
    ax2.set_ylabel(r"final gap $J^\star - J(\pi_K)$")
    ax2.set_title(f"{data['game']}, K = {data['K']}, " + rf"$\beta$ = {data['beta']:g}, exact $Q$", fontsize=10)
    ax1.legend(fontsize=7, ncol=2)
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
    return fig


# ----------------------------------------------------------------------------------------------------------------
# experiment 3: the statistical regime
# ----------------------------------------------------------------------------------------------------------------
def statistical_regime(
    game="random",
    n_rollouts=(1, 4, 16, 64),
    beta: float = 0.2,
    K: int = 40,
    solver: str = "ideal",
    T: int = 1000,
    seed: int = 0,
) -> dict:
    r"""MA-PPO with Monte Carlo :math:`\hat Q` (``n_rollouts`` rollouts per estimate) against exact evaluation.

    Returns ``xi`` (len(n_rollouts), K): the measured :math:`\xi_k` (root mean square over agents), ``J``
    (len(n_rollouts), K+1), ``J_exact`` (K+1,), ``J_star``, ``xi_mean`` (per n), ``final_gap`` (per n).
    """
    g = chapter_game(game)
    xs, Js = [], []
    for n in n_rollouts:
        r = ma_ppo(g, K=K, beta=beta, solver=solver, evaluation="mc", n_rollouts=n, T=T, seed=seed, keep_policies=False)
        xs.append(np.sqrt(np.mean(r.xi**2, axis=1)))
        Js.append(r.J)
    exact = ma_ppo(g, K=K, beta=beta, solver=solver, T=T, seed=seed, keep_policies=False)
    xi = np.array(xs)
    J = np.array(Js)
    return {
        "n_rollouts": list(n_rollouts),
        "xi": xi,
        "J": J,
        "J_exact": exact.J,
        "J_star": exact.J_star,
        "xi_mean": xi.mean(axis=1),
        "final_gap": exact.J_star - J[:, -1],
        "exact_final_gap": float(exact.J_star - exact.J[-1]),
        "game": g.name,
        "beta": beta,
        "K": K,
        "solver": solver,
    }


def xi_at_policy(game="random", n_rollouts=(1, 4, 16, 64, 256), policy="uniform", seeds=range(3)) -> dict:
    r"""The evaluation error :math:`\xi = [\frac1N\sum_m \mathbb E_{\sigma_\pi}(\hat Q^{1:m}-Q^{1:m}_\pi)^2]^{1/2}` of the
    Monte Carlo estimate in every context, at one fixed policy (default uniform), for each number of rollouts
    (averaged over ``seeds``). Returns ``n_rollouts``, ``xi`` and ``xi_sqrt_n`` (:math:`\xi\sqrt n`, constant if
    :math:`\xi\propto n^{-1/2}`)."""
    g = chapter_game(game)
    ev = evaluate(g, policy)
    xi = []
    for n in n_rollouts:
        vals = []
        for seed in seeds:
            sq = [
                rms_error(mc_localized_q_table(g, ev.tables, m, n, seed), ev.q_local[m], ev.sigma_agent(m)) ** 2
                for m in range(1, g.n_agents + 1)
            ]
            vals.append(math.sqrt(np.mean(sq)))
        xi.append(float(np.mean(vals)))
    xi = np.array(xi)
    return {"n_rollouts": list(n_rollouts), "xi": xi, "xi_sqrt_n": xi * np.sqrt(np.asarray(n_rollouts, float))}


def plot_statistical_regime(data: dict | None = None, **kwargs) -> Figure:
    r"""Left: measured :math:`\xi_k` per iteration for each number of rollouts. Right: :math:`J(\pi_k)`."""
    if data is None:
        data = statistical_regime(**kwargs)
    fig = Figure(figsize=(10, 3.9), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    K = data["xi"].shape[1]
    for i, n in enumerate(data["n_rollouts"]):
        ax1.semilogy(np.arange(K), data["xi"][i], color=f"C{i}", lw=1.5, label=f"{n} rollouts")
        ax2.plot(np.arange(K + 1), data["J"][i], color=f"C{i}", lw=1.5, label=f"{n} rollouts")
    ax2.plot(np.arange(K + 1), data["J_exact"], color="k", lw=1.5, label=r"exact $Q$")
    ax2.axhline(data["J_star"], color="k", ls=(0, (5, 3)), lw=1.2, label=r"$J^\star$")
    ax1.set_xlabel("iteration $k$")
    ax1.set_ylabel(r"measured $\xi_k$ (RMS over agents)")
    ax1.set_title(r"evaluation error of Monte Carlo $\hat Q^{1:m}$", fontsize=10)
    ax2.set_xlabel("iteration $k$")
    ax2.set_ylabel(r"$J(\pi_k)$")
    ax2.set_title(f"{data['game']}, " + rf"$\beta$ = {data['beta']:g}, solver = {data['solver']}", fontsize=10)
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8, loc="lower right")
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
    return fig


# ----------------------------------------------------------------------------------------------------------------
# experiment 4: the on-policy sampling pitfall
# ----------------------------------------------------------------------------------------------------------------
def concentrability(game: CooperativeMarkovGame, tables, m: int, optimal=None) -> float:
    r"""[ours] :math:`\max_{(s,\mathbf a^{1:m})} \sigma^\star(s,\mathbf a^{1:m})/\sigma_\pi(s,\mathbf a^{1:m})` over the support
    of :math:`\sigma^\star = \nu_{\pi^\star}\pi^\star`, the law of (state, first m actions) under the optimal policy,
    against the same law under π (m 1-based). The paper's coefficients are density ratios of this kind; their exact
    definition is not in the material we have, so this is our simple version. ``inf`` when σ_π misses a point of
    σ*'s support (:func:`mappo_lite.theory.concentrability`)."""
    if optimal is None:
        optimal = evaluate(game, optimal_value(game).policy_tables(game))
    return theory_concentrability(optimal.sigma_agent(m), evaluate(game, tables).sigma_agent(m))


def pitfall(
    betas=(0.05, 0.1, 0.2, 0.5), K: int = 200, T: int = 1000, eta: float = 0.25, sgd_init: str = "zero", seed: int = 0
) -> dict:
    r"""Climbing game, Algorithm 1 with Algorithm 3 on on-policy samples (exact :math:`Q`) for each β.

    Per β (keys of ``runs``): ``J`` (K+1,) with Algorithm 3, ``J_ideal`` with the ideal step, ``p1a`` agent 1's
    :math:`\pi^1_k(a)`, ``p2aa`` agent 2's :math:`\pi^2_k(a\mid a)`, ``samples_a`` :math:`T\,\pi^1_k(a)` (expected
    number of agent 2's samples in the context :math:`a^1 = a`), ``phi2`` the concentrability of agent 2
    (:func:`concentrability` with m = 2) and ``phi1`` of agent 1.
    """
    g = make_game("climbing")
    star = evaluate(g, optimal_value(g).policy_tables(g))
    runs = {}
    for beta in betas:
        r = ma_ppo(g, K=K, beta=beta, solver="sgd", T=T, eta=eta, sgd_init=sgd_init, seed=seed)
        ideal = ma_ppo(g, K=K, beta=beta, seed=seed, keep_policies=False)
        p1a = np.array([t.tables[0][0, 0] for t in r.policies])
        p2aa = np.array([t.table(2)[0, 0, 0] for t in r.policies])
        runs[beta] = {
            "J": r.J,
            "J_ideal": ideal.J,
            "p1a": p1a,
            "p2aa": p2aa,
            "samples_a": T * p1a,
            "phi1": np.array([concentrability(g, t, 1, star) for t in r.policies]),
            "phi2": np.array([concentrability(g, t, 2, star) for t in r.policies]),
            "eps": r.eps,
        }
    return {
        "runs": runs,
        "betas": list(betas),
        "K": K,
        "T": T,
        "eta": eta,
        "sgd_init": sgd_init,
        "seed": seed,
        "J_star": 11.0,
    }


def pitfall_outcomes(
    betas=(0.05, 0.1, 0.2, 0.5), seeds=range(5), K: int = 200, T: int = 1000, sgd_init: str = "zero"
) -> np.ndarray:
    r"""Final :math:`J(\pi_K)` on climbing with Algorithm 3 (on-policy, exact Q), shape (len(betas), len(seeds))."""
    g = make_game("climbing")
    return np.array(
        [
            [
                ma_ppo(g, K=K, beta=b, solver="sgd", T=T, sgd_init=sgd_init, seed=s, keep_policies=False).J[-1]
                for s in seeds
            ]
            for b in betas
        ]
    )


def plot_pitfall(data: dict | None = None, show_k: int = 30, **kwargs) -> Figure:
    r"""Four panels along k ≤ ``show_k`` for each β: :math:`J(\pi_k)` (Algorithm 3 solid, ideal step dotted), agent 1's
    :math:`\pi^1_k(a)`, agent 2's :math:`\pi^2_k(a|a)` and the concentrability :math:`\phi^2_k` (values beyond the axes,
    including :math:`\infty` when :math:`\sigma_k(a,a)` underflows to 0, are drawn at the top or bottom edge)."""
    if data is None:
        data = pitfall(**kwargs)
    fig = Figure(figsize=(10, 7), layout="constrained")
    (ax1, ax2), (ax3, ax4) = fig.subplots(2, 2)
    lo, hi = 1e-30, 1e30
    for i, beta in enumerate(data["betas"]):
        d = data["runs"][beta]
        k = np.arange(len(d["J"]))[: show_k + 1]
        c = f"C{i}"
        n = len(k)
        ax1.plot(k, d["J"][:n], color=c, lw=1.8, label=rf"$\beta$ = {beta:g}, Algorithm 3")
        ax1.plot(k, d["J_ideal"][:n], color=c, lw=1.2, ls=":")
        ax2.semilogy(k, np.clip(d["p1a"][:n], lo, 1.0), color=c, lw=1.6, label=rf"$\beta$ = {beta:g}")
        ax3.plot(k, d["p2aa"][:n], color=c, lw=1.6, label=rf"$\beta$ = {beta:g}")
        ax4.semilogy(k, np.clip(d["phi2"][:n], 1.0, hi), color=c, lw=1.6, label=rf"$\beta$ = {beta:g}")
    ax1.plot([], [], color="0.4", ls=":", label="ideal step (same colours)")
    ax1.axhline(data["J_star"], color="k", ls=(0, (5, 3)), lw=1.2, label=r"$J^\star = 11$")
    ax1.set_ylabel(r"$J(\pi_k)$")
    ax1.set_title("climbing: on-policy samples, exact $Q$", fontsize=10)
    ax1.legend(fontsize=7, loc="lower right")
    T = data["T"]
    ax2.axhline(1.0 / T, color="0.3", ls="--", lw=1)
    ax2.annotate(
        f"one expected sample per batch of $T$ = {T}",
        (show_k, 1.0 / T),
        xytext=(-3, 4),
        textcoords="offset points",
        fontsize=7,
        color="0.3",
        ha="right",
    )
    ax2.set_ylabel(r"$\pi^1_k(a)$ = share of samples with $a^1=a$")
    ax2.set_title(r"agent 1 abandons $a$ (clipped at $10^{-30}$)", fontsize=10)
    ax2.set_ylim(lo / 3, 3)
    ax3.set_ylabel(r"$\pi^2_k(a \mid a^1 = a)$")
    ax3.set_title(r"agent 2's response to $a$ (the optimum needs 1)", fontsize=10)
    ax3.set_ylim(-0.03, 1.03)
    ax4.set_ylabel(r"$\phi^2_k = \max\, \sigma^\star/\sigma_k$ over $(a^1,a^2)$")
    ax4.set_title(r"concentrability of agent 2, our version (clipped at $10^{30}$)", fontsize=10)
    ax4.set_ylim(0.5, hi * 3)
    for ax in (ax1, ax2, ax3, ax4):
        ax.set_xlabel("iteration $k$")
        ax.set_xlim(0, show_k)
        ax.grid(True, which="major", alpha=0.3)
    ax3.legend(fontsize=8)
    fig.suptitle(
        f"first {show_k} of K = {data['K']} iterations (nothing changes afterwards); "
        rf"Algorithm 3 with T = {T}, $\eta$ = {data['eta']:g}, $\theta(0)$ = "
        + ("0" if data["sgd_init"] == "zero" else r"$\theta^m_k$"),
        fontsize=10,
    )
    return fig


# ----------------------------------------------------------------------------------------------------------------
# experiment 5: MA-PPO, HAPPO and independent learners
# ----------------------------------------------------------------------------------------------------------------
#: Methods of :func:`compare_methods` (label → colour, line style).
METHODS = {
    "MA-PPO": ("C0", "-"),
    "HAPPO": ("C3", "-"),
    "HAPPO (recompute)": ("C1", ":"),
    "independent NPG": ("C2", "--"),
    "independent PG": ("C4", "-."),
    "centralized": ("0.5", (0, (1, 3))),
}


def compare_methods(
    names=("climbing", "penalty", "two_step", "random"),
    K: int = 200,
    beta: float = 0.05,
    eta_pg: float = 0.5,
    seed: int = 0,
    happo_order="random",
) -> dict:
    r"""Exact-evaluation runs of MA-PPO (ideal step), HAPPO (random order, and with recomputation), independent NPG,
    independent PG (stepsize ``eta_pg``) and the centralized joint-action mirror step, from uniform policies.

    Returns ``{"results": {game: {method: TrainingResult}}, "params": ...}``."""
    if isinstance(names, str):
        names = (names,)
    games, skipped = available_games(names)
    out = {}
    for name, g in games.items():
        out[name] = {
            "MA-PPO": ma_ppo(g, K=K, beta=beta, seed=seed, keep_policies=False),
            "HAPPO": happo(g, K=K, beta=beta, order=happo_order, seed=seed, keep_policies=False),
            "HAPPO (recompute)": happo(
                g, K=K, beta=beta, order=happo_order, recompute=True, seed=seed, keep_policies=False
            ),
            "independent NPG": independent_npg(g, K=K, beta=beta, seed=seed, keep_policies=False),
            "independent PG": independent_pg(g, K=K, eta=eta_pg, seed=seed, keep_policies=False),
            "centralized": centralized_mirror(g, K=K, beta=beta, seed=seed, keep_policies=False),
        }
    return {
        "results": out,
        "skipped": skipped,
        "params": dict(K=K, beta=beta, eta_pg=eta_pg, seed=seed, happo_order=happo_order),
    }


def comparison_table(data: dict) -> list:
    r"""Rows ``(game, J*, {method: J(π_K)})`` from :func:`compare_methods`."""
    rows = []
    for name, runs in data["results"].items():
        J_star = runs["MA-PPO"].J_star
        rows.append((name, J_star, {m: float(r.J[-1]) for m, r in runs.items()}))
    return rows


def plot_comparison(data: dict | None = None, **kwargs) -> Figure:
    r""":math:`J(\pi_k)` against k (logarithmic beyond k = 1), one panel per game, :math:`J^\star` dashed."""
    if data is None:
        data = compare_methods(**kwargs)
    res = data["results"]
    n = len(res)
    fig = Figure(figsize=(3.4 * n, 3.7), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)).ravel()
    for ax, (name, runs) in zip(axes, res.items()):
        for method, r in runs.items():
            color, ls = METHODS[method]
            ax.plot(np.arange(r.K + 1), r.J, color=color, ls=ls, lw=1.7, label=method)
        ax.axhline(runs["MA-PPO"].J_star, color="k", ls=(0, (5, 3)), lw=1.1, label=r"$J^\star$")
        ax.set_xscale("symlog", linthresh=1.0, linscale=0.4)
        ax.set_xlim(0, runs["MA-PPO"].K)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("iteration $k$ (log scale beyond 1)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel(r"$J(\pi_k)$")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=9)
    p = data["params"]
    fig.suptitle(
        rf"exact evaluation, K = {p['K']}, $\beta$ = {p['beta']:g} (mirror steps), "
        rf"$\eta$ = {p['eta_pg']:g} (independent PG), HAPPO order: {p['happo_order']}",
        fontsize=10,
    )
    return fig


def recompute_difference(
    names=("climbing", "penalty", "two_step", "random", "gridworld"),
    beta_k: float = 1.0,
    seed: int = 0,
    scale: float = 1.0,
) -> dict:
    r"""One HAPPO iteration from a random product policy (logits ``scale``·N(0, 1), seeded), with ratio-weighted
    :math:`A_{\pi_k}` and with recomputation: ``{game: max |π_ratio − π_recompute|}``, the largest difference over all
    agent orders, agents, states and actions of the updated policies."""
    games, _ = available_games(names)
    out = {}
    for name, g in games.items():
        rng = np.random.default_rng(seed)
        logits = [scale * rng.standard_normal((g.n_states, A)) for A in g.action_sizes]
        worst = 0.0
        for order in itertools.permutations(range(1, g.n_agents + 1)):
            a = happo_iteration(g, logits, beta_k, order, recompute=False)
            b = happo_iteration(g, logits, beta_k, order, recompute=True)
            pa, pb = ProductPolicy.for_game(g, a), ProductPolicy.for_game(g, b)
            worst = max(worst, *(float(np.max(np.abs(pa.probs(m) - pb.probs(m)))) for m in range(1, g.n_agents + 1)))
        out[name] = worst
    return out


def happo_decomposition_check(game="random", beta_k: float = 1.0, seed: int = 0, order=None) -> dict:
    r"""HAPPO's telescoping identity for one iteration: in every state,
    :math:`\mathbb E_{\mathbf a\sim\pi_{k+1}}A_{\pi_k}(s,\mathbf a) = \sum_j \langle M^{i_j}(s,\cdot),\,
    \pi^{i_j}_{k+1}(\cdot|s)-\pi^{i_j}_k(\cdot|s)\rangle`, and every term is ≥ 0 (the mirror step's guarantee).
    Returns the largest violation of the identity, the smallest term and :math:`J(\pi_{k+1}) - J(\pi_k)`."""
    g = chapter_game(game)
    rng = np.random.default_rng(seed)
    N = g.n_agents
    order = [int(i) + 1 for i in rng.permutation(N)] if order is None else list(order)  # agents 1..N
    old = [rng.standard_normal((g.n_states, A)) for A in g.action_sizes]
    new = happo_iteration(g, old, beta_k, order)
    ev = evaluate(g, ProductPolicy.for_game(g, old))
    A = ev.Q - ev.V.reshape((-1,) + (1,) * N)
    old_lp = [log_softmax(x) for x in old]
    new_lp = [log_softmax(x) for x in new]
    terms = []
    for j, m in enumerate(order):
        M = happo_target(A, old_lp, new_lp, m, order[:j])
        i = m - 1  # agent m's position in the lists
        terms.append(np.sum(M * (np.exp(new_lp[i]) - np.exp(old_lp[i])), axis=1))
    terms = np.array(terms)  # (N, S)
    new_pol = ProductPolicy.for_game(g, new)
    joint_new = new_pol.tables().joint().reshape(A.shape)
    lhs = (joint_new * A).reshape(g.n_states, -1).sum(axis=1)
    J_new = evaluate(g, new_pol).J
    return {
        "violation": float(np.max(np.abs(lhs - terms.sum(axis=0)))),
        "min_term": float(terms.min()),
        "J_improvement": float(J_new - ev.J),
        "order": [int(i) for i in order],
    }


# ----------------------------------------------------------------------------------------------------------------
# MA-PPO's per-agent step against the exact centralized mirror step
# ----------------------------------------------------------------------------------------------------------------


def mirror_gap_vs_beta(betas=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0), n_agents: int = 3, seed: int = 0) -> dict:
    r"""MA-PPO's step against the centralized step :math:`\pi_k\exp(Q_{\pi_k}/\beta_k)` factored autoregressively
    (:func:`mappo_lite.improvement.centralized_mirror_step`), at the random conditional policy π of
    :func:`mappo_lite.figures.identities.random_trial` (a random game with ``n_agents`` agents).

    For each :math:`\beta_k` (rows) returns ``target_gap`` (β, N): :math:`\max|U^{1:m}-Q^{1:m}|` (soft minus mean
    value, agent m in column m - 1; 0 for the last agent), ``hoeffding`` (β, N): its bound
    :math:`\sum_{l>m}\max\mathrm{range}(U^{1:l})^2/(8\beta_k)`, ``kl`` (β,): the largest over states of
    :math:`\mathrm{KL}(\pi^{\rm c}\|\pi^{\rm MA\text{-}PPO})`, and ``delta_J`` (β,): :math:`J(\pi^{\rm c}) -
    J(\pi^{\rm MA\text{-}PPO})`. ``slope_gap`` and ``slope_kl`` are the log-log slopes over the largest half of the
    βs (agent 1's gap; −1 and −4 expected [ours]: a gap of order :math:`1/\beta_k` in the targets is a logit change of
    order :math:`1/\beta_k^2`, and the KL is quadratic in it)."""
    from ..evaluation import kl_chain_terms
    from ..improvement import centralized_mirror_step
    from .identities import random_trial

    game, old, _ = random_trial(seed, n_agents=n_agents)
    betas = np.asarray(betas, dtype=np.float64)
    gaps, bounds, kls, dJ = [], [], [], []
    for beta in betas:
        out = centralized_mirror_step(game, old, float(beta))
        gaps.append(out["target_gap"])
        bounds.append(out["hoeffding"])
        kls.append(float(np.max(kl_chain_terms(game, out["centralized"], out["mappo"])["joint"])))
        dJ.append(evaluate(game, out["centralized"]).J - evaluate(game, out["mappo"]).J)
    gaps, kls = np.array(gaps), np.array(kls)
    half = slice(len(betas) // 2, None)
    lb = np.log(betas[half])
    return {
        "betas": betas,
        "target_gap": gaps,
        "hoeffding": np.array(bounds),
        "kl": kls,
        "delta_J": np.array(dJ),
        "slope_gap": float(np.polyfit(lb, np.log(gaps[half, 0]), 1)[0]),
        "slope_kl": float(np.polyfit(lb, np.log(kls[half]), 1)[0]),
    }


def plot_mirror_gap(data: dict | None = None, **kwargs) -> Figure:
    """Log-log plot of :func:`mirror_gap_vs_beta`: the soft-minus-mean target gap of each agent before the last and
    its Hoeffding bound (left), the KL between the centralized and MA-PPO steps (right), against β_k."""
    data = data if data is not None else mirror_gap_vs_beta(**kwargs)
    fig = Figure(figsize=(10, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    N = data["target_gap"].shape[1]
    for m in range(1, N):
        (line,) = ax1.loglog(
            data["betas"], data["target_gap"][:, m - 1], "o-", label=rf"agent {m}: $\max|U^{{1:{m}}}-Q^{{1:{m}}}|$"
        )
        ax1.loglog(
            data["betas"],
            data["hoeffding"][:, m - 1],
            "--",
            color=line.get_color(),
            label=f"agent {m}: Hoeffding bound",
        )
    ax1.set_xlabel(r"$\beta_k$")
    ax1.set_title(r"soft value $U^{1:m}$ minus mean $Q^{1:m}$")
    ax1.legend(fontsize=8)
    ax2.loglog(data["betas"], data["kl"], "o-", color="k")
    ax2.set_xlabel(r"$\beta_k$")
    ax2.set_title(r"$\max_s\,\mathrm{KL}(\pi^{\rm c}\,\|\,\pi^{\rm MA\text{-}PPO})$")
    fig.tight_layout()
    return fig


def two_step_visitation() -> dict:
    r"""The normalized visitation :math:`\nu_\pi` of the two-step game (states start, 2A, 2B, end) at the uniform
    policy :math:`\pi_0` and at the optimal :math:`\pi^\star`, with γ: the numbers chapter 5 quotes
    (:math:`\nu(\text{end}) = \gamma^2`, :math:`\nu_{\pi^\star}(\text{2B}) = (1-\gamma)\gamma`,
    :math:`\nu_{\pi_0}(\text{2B}) = (1-\gamma)\gamma/2`)."""
    game = make_game("two_step")
    return {
        "gamma": float(game.gamma),
        "labels": ("start", "2A", "2B", "end"),
        "uniform": evaluate(game, "uniform").nu,
        "optimal": evaluate(game, optimal_value(game).policy_tables(game)).nu,
    }
