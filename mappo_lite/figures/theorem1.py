r"""Chapter 6 (Theorem 1): the measured optimality gap of MA-PPO against the theorem's rate.

Theorem 1 [paper, informal; chapter 6 of the book] bounds the expected gap of the output iterate :math:`\bar\pi = \pi_k`,
k uniform on {0..K−1}, by :math:`O\big(\tfrac{N}{1-\gamma}\sqrt{\log|A|/K}\big)` when the errors vanish. The constant
is not known to us, so everything here compares *measured* gaps with the rate taken with constant 1
(:func:`mappo_lite.theory.theorem1_rate`) and with our own explicit bound (:func:`explicit_bound`, **[ours]**).

* :func:`unit_game`, :func:`default_games`: games with rewards in [0, 1] (the theorem's assumption).
* :func:`gap_vs_K`, :func:`plot_gap_vs_K`: the average gap :math:`\frac1K\sum_{k<K}(J^\star-J(\pi_k))` over a sweep of K.
* :func:`regret_decomposition`, :func:`decomposition_vs_K`, :func:`plot_decomposition`: the exact identity behind the
  proof sketch (**[ours]**) — the summed gap equals a KL part plus a nonnegative "log-partition" part — which
  explains why the measured slope lies between −1 and −1/2.
* :func:`beta_sweep`, :func:`plot_beta_sweep`: the measured constant as a function of β.
* :func:`gap_vs_factor`, :func:`plot_gap_vs_factor`: dependence on N, γ and |A|.
* :func:`error_sweep`, :func:`plot_error_sweep`: Monte Carlo evaluation (ξ) and SGD improvement (ε).
* :func:`explore_gap_vs_K`: one random game, every knob a keyword (the chapter's interactive figure).

Every sweep runs its grid of trainings through :func:`mappo_lite.experiments.sweep.run_sweep`: the keywords
``backend`` (``"serial"``, ``"joblib"`` or a ``distributed.Client``), ``n_jobs`` and ``quiet`` (default ``True``:
no progress bar on the book's pages) are passed on; each run's seed comes from its configuration, so the results do
not depend on the backend.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

from ..algorithms import ma_ppo
from ..errors import MappoLiteError
from ..evaluation import evaluate, optimal_value
from ..experiments.sweep import run_sweep
from ..games.catalogue import make_game
from ..games.dense import CooperativeMarkovGame
from ..kernels.softmax import logsumexp
from ..theory import best_beta, explicit_bound, explicit_constant, rescale_rewards, reward_range_ok, theorem1_rate  # noqa: F401 (re-exported for chapter 6)

#: K values of the sweeps (log-spaced from 10 to 1000).
DEFAULT_KS = (10, 22, 46, 100, 215, 464, 1000)
#: The penalty β used in the K sweeps (rewards in [0, 1]); β_k = β√K.
DEFAULT_BETA = 0.1


# ----------------------------------------------------------------------------------------------------------------
# games
# ----------------------------------------------------------------------------------------------------------------
def unit_game(spec) -> CooperativeMarkovGame:
    """A game with rewards in [0, 1]: ``spec`` is a game, a built-in name, or a dict ``{"name": ..., **params}``.

    Rewards outside [0, 1] are rescaled affinely (:func:`~mappo_lite.theory.rescale_rewards`), which changes no
    policy and divides every gap by the reward range."""
    if isinstance(spec, CooperativeMarkovGame):
        game = spec
    elif isinstance(spec, str):
        game = make_game(spec)
    elif isinstance(spec, dict):
        params = dict(spec)
        game = make_game(params.pop("name"), **params)
    else:
        raise MappoLiteError(f"a game spec is a game, a name or a dict with 'name', got {type(spec).__name__}")
    if not reward_range_ok(game):
        game = rescale_rewards(game)
    if not 0 <= game.gamma < 1:
        raise MappoLiteError(f"Theorem 1 needs gamma in [0, 1), got {game.gamma} for {game.name}")
    return game


def game_label(game: CooperativeMarkovGame) -> str:
    """A short legend label."""
    if game.name.startswith("random"):
        seed = game.meta.get("seed", "?")
        return f"random S={game.n_states} N={game.n_agents} |A|={max(game.action_sizes)} γ={game.gamma:g} seed {seed}"
    base = game.name.replace("[r in 0..1]", "")
    return f"{base} (r rescaled)" if "[r in 0..1]" in game.name else base


def default_games() -> list:
    r"""The games of the chapter's K sweep, rewards in [0, 1]: three random games (S=5, N=2, |A|=3, γ=0.9), one
    random game with three agents (S=6, N=3, |A|=2, γ=0.8), and the climbing and penalty matrix games rescaled."""
    specs = [dict(name="random", n_states=5, n_agents=2, n_actions=3, gamma=0.9, seed=s) for s in range(3)]
    specs.append(dict(name="random", n_states=6, n_agents=3, n_actions=2, gamma=0.8, seed=0))
    specs += ["climbing", dict(name="penalty", k=-10.0)]
    return [unit_game(s) for s in specs]


def _log_ticks(ax, axis: str = "x", values=None) -> None:
    """Readable ticks on a log axis that may span less than a decade: 1-2-5 ticks (or ``values``), plain numbers."""
    a = ax.xaxis if axis == "x" else ax.yaxis
    a.set_major_locator(FixedLocator(values) if values is not None else LogLocator(subs=(1.0, 2.0, 5.0)))
    a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    a.set_minor_formatter(NullFormatter())


def _sizes(game):
    return game.n_agents, float(game.gamma), max(max(game.action_sizes), 2)


# ----------------------------------------------------------------------------------------------------------------
# bounds and fits
# ----------------------------------------------------------------------------------------------------------------
def fit_loglog(x, y) -> tuple:
    r"""Least-squares fit of :math:`\log y = p\log x + \log C`; returns ``(p, C)``."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.size < 2:
        raise MappoLiteError("fit_loglog needs two arrays of the same length >= 2")
    if np.any(x <= 0) or np.any(y <= 0):
        raise MappoLiteError("fit_loglog needs positive values")
    p, logc = np.polyfit(np.log(x), np.log(y), 1)
    return float(p), float(math.exp(logc))


# ----------------------------------------------------------------------------------------------------------------
# (1) gap against K
# ----------------------------------------------------------------------------------------------------------------
def _sweep_gaps(configs, backend, n_jobs, quiet, desc) -> np.ndarray:
    """The average gap of each configuration (:func:`~mappo_lite.experiments.sweep.train_summary`), in order."""
    return np.array(
        [r["average_gap"] for r in run_sweep(configs, backend=backend, n_jobs=n_jobs, quiet=quiet, desc=desc)]
    )


def gap_vs_K(
    games=None,
    Ks=DEFAULT_KS,
    beta: float = DEFAULT_BETA,
    seed: int = 0,
    *,
    backend="serial",
    n_jobs: int = -1,
    quiet: bool = True,
) -> dict:
    r"""Exact MA-PPO (ideal step, exact :math:`Q^{1:m}`) on each game for each K, :math:`\beta_k=\beta\sqrt K`.

    Returns a dict of arrays: ``Ks`` (nK,), ``gaps`` (G, nK) the measured average gap
    :math:`\frac1K\sum_{k<K}(J^\star-J(\pi_k))` (= the expected gap of the uniformly drawn output),
    ``rates`` (G, nK) :math:`\frac{N}{1-\gamma}\sqrt{\log|A|/K}`, ``bounds`` (G, nK) our :func:`explicit_bound`,
    ``factors`` (G,) :math:`\frac{N}{1-\gamma}\sqrt{\log|A|}`, ``slopes`` and ``constants`` (G,) of a log-log fit
    ``gap ≈ C K^p``, ``max_ratio`` (G,) the largest gap/rate, ``labels``, ``beta``, ``games``. The G × nK runs are
    one sweep (``backend``, ``n_jobs``, ``quiet``: :func:`~mappo_lite.experiments.sweep.run_sweep`)."""
    games = default_games() if games is None else [unit_game(g) for g in games]
    Ks = np.asarray(Ks, dtype=np.int64)
    if Ks.ndim != 1 or Ks.size < 2 or np.any(Ks < 1):
        raise MappoLiteError("Ks must be at least two positive integers")
    G, nK = len(games), Ks.size
    configs = [dict(game=g, K=int(K), beta=beta, seed=seed) for g in games for K in Ks]
    gaps = _sweep_gaps(configs, backend, n_jobs, quiet, "gap vs K").reshape(G, nK)
    rates, bounds = np.empty((G, nK)), np.empty((G, nK))
    factors, slopes, consts = np.empty(G), np.empty(G), np.empty(G)
    for i, game in enumerate(games):
        N, gamma, A = _sizes(game)
        rates[i] = theorem1_rate(N, gamma, A, Ks)
        bounds[i] = explicit_bound(N, gamma, A, Ks, beta)
        factors[i] = N / (1 - gamma) * math.sqrt(math.log(A))
        slopes[i], consts[i] = fit_loglog(Ks, np.maximum(gaps[i], 1e-300))
    return {
        "Ks": Ks,
        "gaps": gaps,
        "rates": rates,
        "bounds": bounds,
        "factors": factors,
        "slopes": slopes,
        "constants": consts,
        "max_ratio": (gaps / rates).max(axis=1),
        "labels": [game_label(g) for g in games],
        "beta": float(beta),
        "games": games,
    }


def plot_gap_vs_K(data: dict) -> Figure:
    r"""Left: measured average gap per game (solid) and its Theorem 1 curve with constant 1 (dashed, same colour).
    Right: the same gaps divided by :math:`\frac{N}{1-\gamma}\sqrt{\log|A|}`, so that every game's curve is
    :math:`K^{-1/2}`; guides :math:`\propto K^{-1}`."""
    Ks, gaps = data["Ks"], data["gaps"]
    fig = Figure(figsize=(11, 5.4), layout="constrained")
    ax, bx = fig.subplots(1, 2)
    for i, lab in enumerate(data["labels"]):
        c = f"C{i}"
        ax.loglog(Ks, gaps[i], "o-", color=c, ms=4, lw=1.5, label=f"{lab} (slope {data['slopes'][i]:.2f})")
        ax.loglog(Ks, data["rates"][i], "--", color=c, lw=1)
        bx.loglog(Ks, gaps[i] / data["factors"][i], "o-", color=c, ms=4, lw=1.5)
    ax.plot([], [], "k--", lw=1, label=r"Theorem 1 curve $\frac{N}{1-\gamma}\sqrt{\log|A|/K}$")
    ax.set_xlabel("number of iterations $K$")
    ax.set_ylabel(r"average gap $\frac{1}{K}\sum_{k<K}(J^\star-J(\pi_k))$")
    ax.set_title(rf"exact MA-PPO, $\beta={data['beta']:g}$, $\beta_k=\beta\sqrt{{K}}$", fontsize=10)
    fig.legend(*ax.get_legend_handles_labels(), fontsize=8, loc="outside lower center", ncol=3)
    kk = np.array([Ks[0], Ks[-1]], dtype=float)
    bx.loglog(kk, 1 / np.sqrt(kk), "k--", lw=1.5, label=r"$K^{-1/2}$ (Theorem 1, constant 1)")
    top = (gaps / data["factors"][:, None]).max()
    bx.loglog(kk, top * (kk / kk[0]) ** -1.0, ":", color="0.4", lw=1.2, label=r"$\propto K^{-1}$ (guide)")
    bx.loglog(kk, top * (kk / kk[0]) ** -0.5, "-.", color="0.6", lw=1.0, label=r"$\propto K^{-1/2}$ (guide)")
    bx.set_xlabel("number of iterations $K$")
    bx.set_ylabel(r"average gap $/ \frac{N}{1-\gamma}\sqrt{\log|A|}$")
    bx.set_title("normalized: every Theorem 1 curve becomes $K^{-1/2}$", fontsize=10)
    bx.legend(fontsize=8, loc="lower left")
    return fig


# ----------------------------------------------------------------------------------------------------------------
# the identity behind the proof sketch [ours]
# ----------------------------------------------------------------------------------------------------------------
def comparator_weights(game: CooperativeMarkovGame, comparator) -> list:
    r"""For each agent m = 1..N (the list's position m − 1), the weight of each context :math:`c=(s,\mathbf a^{1:m-1})` under the
    comparator π': :math:`w_m(c) = d_{\pi'}(s)\,\pi'^{1:m-1}(\mathbf a^{1:m-1}|s)`, flattened like the policy tables
    (:math:`d_{\pi'}` the unnormalized discounted occupancy, total mass :math:`1/(1-\gamma)`)."""
    ev = evaluate(game, comparator)
    w = ev.occupancy.copy()
    out = []
    for m in range(1, game.n_agents + 1):
        out.append(w.reshape(-1).copy())
        w = w[..., None] * ev.tables.table(m)
    return out


def _kl_rows(p, logq):
    """Row-wise KL(p || q) for tables p and log q (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - logq), 0.0)
    return terms.sum(axis=1)


def regret_decomposition(game, K: int = 100, beta: float = DEFAULT_BETA, comparator=None) -> dict:
    r"""**[ours]** The exact identity behind the proof sketch, measured on an exact MA-PPO run.

    For the ideal step :math:`\pi^m_{k+1}(\cdot|c)\propto\pi^m_k(\cdot|c)\exp(Q^{1:m}_{\pi_k}(c,\cdot)/\beta_k)` and any
    comparator π' (default: a deterministic optimal policy, so :math:`J(\pi')=J^\star`), per iteration k:

    .. math:: J(\pi')-J(\pi_k) = \beta_k\sum_m\sum_c w_m(c)\big[\mathrm{KL}_k(c)-\mathrm{KL}_{k+1}(c)+H^m_k(c)\big],

    with :math:`\mathrm{KL}_k(c)=\mathrm{KL}(\pi'^m(\cdot|c)\|\pi^m_k(\cdot|c))`, :math:`w_m` from
    :func:`comparator_weights` and :math:`H^m_k(c)=\log\mathbb E_{a\sim\pi^m_k}e^{Q(c,a)/\beta_k}-\mathbb E_{a\sim\pi^m_k}Q(c,a)/\beta_k
    \in[0, \mathrm{span}(Q)^2/(8\beta_k^2)]` (Jensen; Hoeffding's lemma). Summing over k<K telescopes the KL.

    Returns ``gaps`` (K+1,) :math:`J(\pi')-J(\pi_k)`, ``kl`` (K+1,) :math:`\sum_m\langle w_m,\mathrm{KL}_k\rangle`,
    ``h`` (K,) :math:`\sum_m\langle w_m,H^m_k\rangle`, ``h_cap`` (K,) the Hoeffding caps
    :math:`\sum_m\langle w_m,\mathrm{span}^2/(8\beta_k^2)\rangle`, ``residual`` (max over k of the per-step identity's
    error), ``average_gap``, ``kl_part`` :math:`=\beta_k(\mathrm{kl}_0-\mathrm{kl}_K)/K`, ``h_part``
    :math:`=\beta_k\sum_k h_k/K` (their sum is ``average_gap``), ``beta_k``, ``J_comparator``."""
    game = unit_game(game)
    res = ma_ppo(game, K=K, beta=beta, keep_policies=True)
    beta_k = res.params["beta_k"]
    if comparator is None:
        comparator = optimal_value(game).policy_tables(game)
    ev_c = evaluate(game, comparator)
    weights = comparator_weights(game, comparator)
    ctabs = ev_c.tables.tables
    kl = np.empty(K + 1)
    h = np.empty(K)
    h_cap = np.empty(K)
    for k, tabs in enumerate(res.policies):
        logs = []
        with np.errstate(divide="ignore"):
            for t in tabs.tables:
                logs.append(np.log(t))
        kl[k] = sum(w @ _kl_rows(p, lg) for w, p, lg in zip(weights, ctabs, logs))
        if k == K:
            break
        ev = evaluate(game, tabs)
        hk = capk = 0.0
        for m, (w, t, lg) in enumerate(zip(weights, tabs.tables, logs)):
            q = ev.q_local[m + 1].reshape(t.shape)
            x = q / beta_k
            Hm = logsumexp(lg + x, axis=1) - (t * x).sum(axis=1)
            hk += w @ Hm
            capk += w @ ((q.max(axis=1) - q.min(axis=1)) ** 2 / (8 * beta_k**2))
        h[k], h_cap[k] = hk, capk
    gaps = ev_c.J - res.J
    lhs = gaps[:-1]
    rhs = beta_k * (kl[:-1] - kl[1:] + h)
    return {
        "gaps": gaps,
        "kl": kl,
        "h": h,
        "h_cap": h_cap,
        "residual": float(np.max(np.abs(lhs - rhs))),
        "average_gap": float(lhs.mean()),
        "kl_part": float(beta_k * (kl[0] - kl[-1]) / K),
        "h_part": float(beta_k * h.sum() / K),
        "beta_k": float(beta_k),
        "J_comparator": float(ev_c.J),
        "K": int(K),
        "beta": float(beta),
        "game": game,
    }


def decomposition_vs_K(game=None, Ks=DEFAULT_KS, beta: float = DEFAULT_BETA) -> dict:
    r""":func:`regret_decomposition` for each K: arrays ``average_gap``, ``kl_part``, ``h_part``, ``residual``,
    ``kl_cap`` :math:`=\beta N\log|A|/((1-\gamma)\sqrt K)` and ``h_cap`` :math:`=N/(8\beta(1-\gamma)^3\sqrt K)` (the two
    terms of :func:`explicit_bound`), ``rates``, ``Ks``, ``label``."""
    game = unit_game(default_games()[0] if game is None else game)
    Ks = np.asarray(Ks, dtype=np.int64)
    keys = ("average_gap", "kl_part", "h_part", "residual")
    out = {k: np.empty(Ks.size) for k in keys}
    for j, K in enumerate(Ks):
        dec = regret_decomposition(game, int(K), beta)
        for k in keys:
            out[k][j] = dec[k]
    N, gamma, A = _sizes(game)
    out["kl_cap"] = beta * N * math.log(A) / ((1 - gamma) * np.sqrt(Ks))
    out["h_cap"] = N / (8 * beta * (1 - gamma) ** 3 * np.sqrt(Ks))
    out["rates"] = theorem1_rate(N, gamma, A, Ks)
    out.update(Ks=Ks, label=game_label(game), beta=float(beta), game=game)
    return out


def plot_decomposition(dec: dict) -> Figure:
    r"""The measured average gap split into its KL part and its log-partition (H) part, against K, with the two terms
    of our explicit bound (dotted) and the Theorem 1 curve."""
    Ks = dec["Ks"]
    # a fixed layout (the legend to the right of the axes): constrained layout costs as much as the runs on every
    # redraw of the widget
    fig = Figure(figsize=(10, 4.6))
    ax = fig.subplots()
    fig.subplots_adjust(left=0.08, right=0.63, bottom=0.12, top=0.93)
    ax.loglog(Ks, dec["average_gap"], "ko-", ms=5, lw=2, label="measured average gap = KL part + H part")
    ax.loglog(Ks, dec["kl_part"], "s-", color="C0", ms=4, label=r"KL part $\beta_k(\mathrm{KL}_0-\mathrm{KL}_K)/K$")
    ax.loglog(Ks, dec["h_part"], "^-", color="C1", ms=4, label=r"H part $\beta_k\sum_k H_k/K$")
    ax.loglog(Ks, dec["kl_cap"], ":", color="C0", lw=1.5, label=r"its cap $\beta N\log|A|/((1-\gamma)\sqrt{K})$")
    ax.loglog(Ks, dec["h_cap"], ":", color="C1", lw=1.5, label=r"its cap $N/(8\beta(1-\gamma)^3\sqrt{K})$ (Hoeffding)")
    ax.loglog(Ks, dec["rates"], "k--", lw=1, label="Theorem 1 curve (constant 1)")
    ax.set_xlabel("number of iterations $K$")
    ax.set_ylabel("gap (rewards in [0, 1])")
    ax.set_title(f"{dec['label']}, β={dec['beta']:g}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


# ----------------------------------------------------------------------------------------------------------------
# the constant as a function of beta
# ----------------------------------------------------------------------------------------------------------------
def beta_sweep(
    games=None, betas=None, K: int = 300, seed: int = 0, *, backend="serial", n_jobs: int = -1, quiet: bool = True
) -> dict:
    r"""Measured gap / rate (constant 1) at fixed K for each game and β; with our constant :math:`c(\beta)`
    (:func:`explicit_constant`) and the KL-part prediction :math:`\beta\sqrt{\log|A|}`.

    Returns ``betas`` (nb,), ``ratios`` (G, nb), ``ours`` (G, nb), ``kl_line`` (G, nb), ``best_betas`` (G,),
    ``labels``, ``K``. The G × nb runs are one sweep (``backend``, ``n_jobs``, ``quiet``:
    :func:`~mappo_lite.experiments.sweep.run_sweep`)."""
    games = default_games()[:3] if games is None else [unit_game(g) for g in games]
    betas = np.logspace(-2, 0.7, 7) if betas is None else np.asarray(betas, dtype=np.float64)
    G, nb = len(games), betas.size
    configs = [dict(game=g, K=K, beta=float(b), seed=seed) for g in games for b in betas]
    gaps = _sweep_gaps(configs, backend, n_jobs, quiet, "beta sweep").reshape(G, nb)
    ratios, ours, kl_line, best = np.empty((G, nb)), np.empty((G, nb)), np.empty((G, nb)), np.empty(G)
    for i, game in enumerate(games):
        N, gamma, A = _sizes(game)
        ratios[i] = gaps[i] / float(theorem1_rate(N, gamma, A, K))
        ours[i] = explicit_constant(gamma, A, betas)
        kl_line[i] = betas * math.sqrt(math.log(A))
        best[i] = best_beta(gamma, A)
    return {
        "betas": betas,
        "ratios": ratios,
        "ours": ours,
        "kl_line": kl_line,
        "best_betas": best,
        "labels": [game_label(g) for g in games],
        "K": int(K),
        "games": games,
    }


def plot_beta_sweep(data: dict) -> Figure:
    """Measured gap/rate against β (log-log), with constant 1, our c(β) and the KL-part line."""
    b = data["betas"]
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    ax = fig.subplots()
    for i, lab in enumerate(data["labels"]):
        ax.loglog(b, data["ratios"][i], "o-", color=f"C{i}", ms=4, label=f"measured: {lab}")
    bb = np.geomspace(b.min(), b.max(), 200)
    shown = []
    for g in data["games"]:
        N, gamma, A = _sizes(g)
        if (gamma, A) in shown:
            continue
        shown.append((gamma, A))
        ax.loglog(
            bb,
            explicit_constant(gamma, A, bb),
            "-",
            color="0.3",
            lw=1.5,
            label=rf"our explicit bound $c(\beta)$, $\gamma={gamma:g}$, $|A|={A}$",
        )
        ax.axvline(
            best_beta(gamma, A),
            color="0.5",
            ls=":",
            lw=1.2,
            label=rf"our $\beta^\star={best_beta(gamma, A):.2f}$ (minimizes $c$)",
        )
        ax.loglog(
            bb,
            bb * math.sqrt(math.log(A)),
            "-.",
            color="C3",
            lw=1.2,
            label=rf"KL-part prediction $\beta\sqrt{{\log|A|}}$, $|A|={A}$",
        )
    ax.axhline(1.0, color="k", ls="--", lw=1, label="constant 1 (Theorem 1 curve)")
    ax.set_xlabel(r"penalty $\beta$  ($\beta_k=\beta\sqrt{K}$)")
    ax.set_ylabel(r"average gap $/ \frac{N}{1-\gamma}\sqrt{\log|A|/K}$")
    ax.set_title(f"the measured constant depends on β (K = {data['K']})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


# ----------------------------------------------------------------------------------------------------------------
# (2) dependence on N, gamma, |A|
# ----------------------------------------------------------------------------------------------------------------
VARY_DEFAULTS = {"n_agents": (1, 2, 3), "gamma": (0.0, 0.5, 0.8, 0.9, 0.95), "n_actions": (2, 3, 4)}
BASE_GAME = {"n_states": 5, "n_agents": 2, "n_actions": 3, "gamma": 0.9}


def gap_vs_factor(
    vary: str,
    values=None,
    K: int = 300,
    beta: float = DEFAULT_BETA,
    seeds=(0, 1, 2),
    base=None,
    *,
    backend="serial",
    n_jobs: int = -1,
    quiet: bool = True,
) -> dict:
    r"""Vary one of ``"n_agents"``, ``"gamma"``, ``"n_actions"`` in random games (others from ``base``), run exact
    MA-PPO with K iterations and record the average gap. Returns ``values``, ``factors``
    :math:`\frac{N}{1-\gamma}\sqrt{\log|A|}`, ``gaps`` (n_values, n_seeds), ``slope``/``constant`` of the fit
    ``mean gap ≈ C·factor^p``, ``K``, ``beta``, ``vary``. The runs are one sweep (``backend``, ``n_jobs``,
    ``quiet``: :func:`~mappo_lite.experiments.sweep.run_sweep`); seed s draws the game, the runs are exact."""
    if vary not in VARY_DEFAULTS:
        raise MappoLiteError(f"vary must be one of {sorted(VARY_DEFAULTS)}, got {vary!r}")
    values = VARY_DEFAULTS[vary] if values is None else tuple(values)
    base = dict(BASE_GAME if base is None else base)
    configs = [
        dict(game=unit_game(dict(name="random", seed=s, **dict(base, **{vary: v}))), K=K, beta=beta)
        for v in values
        for s in seeds
    ]
    gaps = _sweep_gaps(configs, backend, n_jobs, quiet, f"gap vs {vary}").reshape(len(values), len(seeds))
    factors = np.empty(len(values))
    for i, v in enumerate(values):
        params = dict(base, **{vary: v})
        N, gamma, A = params["n_agents"], params["gamma"], max(params["n_actions"], 2)
        factors[i] = N / (1 - gamma) * math.sqrt(math.log(A))
    p, C = fit_loglog(factors, gaps.mean(axis=1))
    return {
        "vary": vary,
        "values": np.asarray(values, dtype=float),
        "factors": factors,
        "gaps": gaps,
        "slope": p,
        "constant": C,
        "K": int(K),
        "beta": float(beta),
    }


_VARY_NAMES = {"n_agents": "N", "gamma": "γ", "n_actions": "|A|"}


def plot_gap_vs_factor(datas) -> Figure:
    r"""One panel per varied parameter: measured gap (dots per seed, line through the means) against the bound's factor
    :math:`\frac{N}{1-\gamma}\sqrt{\log|A|}`, with the Theorem 1 curve at that K (constant 1) and the fit."""
    datas = list(datas)
    fig = Figure(figsize=(4.0 * len(datas), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(datas)))
    for ax, d in zip(axes, datas):
        f = d["factors"]
        for j in range(d["gaps"].shape[1]):
            ax.loglog(
                f,
                d["gaps"][:, j],
                "o",
                color="C0",
                alpha=0.4,
                ms=5,
                label="measured (one dot per seed)" if j == 0 else None,
            )
        ax.loglog(f, d["gaps"].mean(axis=1), "-", color="C0", lw=1.2)
        for x, v, y in zip(f, d["values"], d["gaps"].max(axis=1)):
            ax.annotate(
                f"{_VARY_NAMES[d['vary']]}={v:g}",
                (x, y),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize=8,
            )
        ff = np.geomspace(f.min(), f.max(), 20)
        ax.loglog(ff, ff / math.sqrt(d["K"]), "k--", lw=1, label=r"Theorem 1 curve, constant 1")
        ax.loglog(
            ff,
            d["constant"] * ff ** d["slope"],
            ":",
            color="C3",
            lw=2,
            zorder=5,
            label=f"fit: gap ∝ factor$^{{{d['slope']:.2f}}}$",
        )
        _log_ticks(ax, "x", f)
        _log_ticks(ax, "y")
        ax.margins(x=0.1)
        ax.set_xlabel(r"$\frac{N}{1-\gamma}\sqrt{\log|A|}$" + f"  (varying {_VARY_NAMES[d['vary']]})")
        ax.set_ylabel(f"average gap at K = {d['K']}")
        ax.legend(fontsize=7, loc="upper left")
    return fig


# ----------------------------------------------------------------------------------------------------------------
# (3) evaluation error xi and improvement error epsilon
# ----------------------------------------------------------------------------------------------------------------
def error_sweep(
    game=None,
    K: int = 100,
    beta: float = DEFAULT_BETA,
    n_rollouts=(1, 3, 10, 30, 100),
    Ts=(10, 30, 100, 300, 1000, 3000),
    seeds=(0, 1, 2),
    sgd_init: str = "previous",
    *,
    backend="serial",
    n_jobs: int = -1,
    quiet: bool = True,
) -> dict:
    r"""MA-PPO with errors on one game (default: random S=5, N=2, |A|=3, γ=0.5).

    * ``evaluation="mc"`` with the ideal step: ``xi`` (n_r, n_seeds) the measured ξ (mean over k and m) and
      ``gap_mc`` the average gap, for each number of rollouts;
    * ``solver="sgd"`` (Algorithm 3, T samples per agent) with exact Q: ``eps`` (n_T, n_seeds) the measured ε and
      ``gap_sgd``.

    Also ``exact_gap``, ``uniform_gap`` (:math:`J^\star-J(\pi_0)`), ``beta_k``, ``rate`` and ``bound_floor`` (the
    Theorem 1 curve with constant 1 at this K). The Monte Carlo and SGD runs are one sweep (``backend``,
    ``n_jobs``, ``quiet``: :func:`~mappo_lite.experiments.sweep.run_sweep`)."""
    if game is None:
        game = dict(name="random", n_states=5, n_agents=2, n_actions=3, gamma=0.5, seed=0)
    game = unit_game(game)
    exact = ma_ppo(game, K=K, beta=beta, keep_policies=False)
    n_rollouts, Ts = tuple(n_rollouts), tuple(Ts)
    mc = [dict(game=game, K=K, beta=beta, evaluation="mc", n_rollouts=nr, seed=s) for nr in n_rollouts for s in seeds]
    sgd = [dict(game=game, K=K, beta=beta, solver="sgd", T=T, sgd_init=sgd_init, seed=s) for T in Ts for s in seeds]
    runs = run_sweep(mc + sgd, backend=backend, n_jobs=n_jobs, quiet=quiet, desc="error sweep")
    shape_mc, shape_sgd = (len(n_rollouts), len(seeds)), (len(Ts), len(seeds))
    xi = np.array([r["xi_mean"] for r in runs[: len(mc)]]).reshape(shape_mc)
    gap_mc = np.array([r["average_gap"] for r in runs[: len(mc)]]).reshape(shape_mc)
    eps = np.array([r["eps_mean"] for r in runs[len(mc) :]]).reshape(shape_sgd)
    gap_sgd = np.array([r["average_gap"] for r in runs[len(mc) :]]).reshape(shape_sgd)
    N, gamma, A = _sizes(game)
    return {
        "n_rollouts": np.asarray(n_rollouts),
        "Ts": np.asarray(Ts),
        "xi": xi,
        "gap_mc": gap_mc,
        "eps": eps,
        "gap_sgd": gap_sgd,
        "exact_gap": exact.average_gap,
        "uniform_gap": float(exact.gap[0]),
        "beta_k": float(exact.params["beta_k"]),
        "rate": float(theorem1_rate(N, gamma, A, K)),
        "K": int(K),
        "beta": float(beta),
        "sgd_init": sgd_init,
        "label": game_label(game),
    }


def excess_constant(errors, gaps, exact_gap) -> float:
    r"""The smallest C with :math:`\text{gap} \le \text{exact gap} + C\sqrt{\text{error}}` for every run (the theorem's
    error term grows like the square root of the errors)."""
    errors, gaps = np.asarray(errors, dtype=float).ravel(), np.asarray(gaps, dtype=float).ravel()
    return float(np.max(np.maximum(gaps - exact_gap, 0.0) / np.sqrt(errors)))


def plot_error_sweep(data: dict) -> Figure:
    r"""Left: average gap against :math:`\xi/\beta_k` (Monte Carlo evaluation). Right: against ε (Algorithm 3).
    Dashed: exact run; dotted: the uniform policy's gap; dash-dot: exact gap + C√error with the fitted C."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax, bx = fig.subplots(1, 2, sharey=True)
    panels = [
        (
            ax,
            data["xi"] / data["beta_k"],
            data["gap_mc"],
            data["n_rollouts"],
            "rollouts",
            r"measured evaluation error $\xi/\beta_k$ (mean over $k$, $m$)",
            "C0",
        ),
        (
            bx,
            data["eps"],
            data["gap_sgd"],
            data["Ts"],
            "T",
            r"measured improvement error $\varepsilon$ (mean over $k$, $m$)",
            "C2",
        ),
    ]
    for a, err, gap, ns, what, xlabel, c in panels:
        a.loglog(err.ravel(), gap.ravel(), "o", color=c, alpha=0.45, ms=4, label="one run")
        a.loglog(err.mean(axis=1), gap.mean(axis=1), "-", color=c, lw=1.5, label="mean over seeds")
        for x, y, n in zip(err.mean(axis=1), gap.mean(axis=1), ns):
            a.annotate(f"{what}={n}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        a.axhline(data["exact_gap"], color="k", ls="--", lw=1, label="exact run (ξ = ε = 0)")
        a.axhline(data["uniform_gap"], color="0.5", ls=":", lw=1, label=r"uniform policy $J^\star-J(\pi_0)$")
        C = excess_constant(err, gap, data["exact_gap"])
        ee = np.geomspace(err.min(), err.max(), 30)
        a.loglog(
            ee,
            data["exact_gap"] + C * np.sqrt(ee),
            "-.",
            color="C3",
            lw=1.2,
            label=rf"exact gap $+\,{C:.2f}\sqrt{{\mathrm{{error}}}}$",
        )
        a.set_xlabel(xlabel)
        _log_ticks(a, "x")
        _log_ticks(a, "y")
        a.legend(fontsize=7, loc="lower right")
    ax.set_ylabel(f"average gap (K = {data['K']}, β = {data['beta']:g})")
    ax.set_title("Monte Carlo $\\hat Q^{1:m}$ (ideal step)", fontsize=10)
    bx.set_title(f"Algorithm 3 (SGD, init = {data['sgd_init']}), exact $Q^{{1:m}}$", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------------------------
# interactive
# ----------------------------------------------------------------------------------------------------------------
def explore_gap_vs_K(
    beta: float = DEFAULT_BETA,
    seed: int = 0,
    n_agents: int = 2,
    gamma: float = 0.9,
    n_actions: int = 3,
    n_states: int = 5,
    Ks=DEFAULT_KS,
) -> Figure:
    r"""One random game (rewards in [0, 1]): measured average gap against K, the Theorem 1 curve with constant 1, our
    explicit bound, and the fitted slope."""
    game = unit_game(
        dict(name="random", n_states=n_states, n_agents=n_agents, n_actions=n_actions, gamma=gamma, seed=seed)
    )
    d = gap_vs_K([game], Ks, beta, seed=0)
    Ks = d["Ks"]
    # a fixed layout (the legend to the right of the axes): constrained layout costs as much as the runs on every
    # redraw of the widget
    fig = Figure(figsize=(10, 4.6))
    ax = fig.subplots()
    fig.subplots_adjust(left=0.08, right=0.63, bottom=0.12, top=0.93)
    ax.loglog(
        Ks, d["gaps"][0], "o-", color="C0", lw=2, label=f"measured average gap (fitted slope {d['slopes'][0]:.2f})"
    )
    ax.loglog(Ks, d["rates"][0], "k--", lw=1.2, label=r"Theorem 1 curve $\frac{N}{1-\gamma}\sqrt{\log|A|/K}$")
    ax.loglog(Ks, d["bounds"][0], ":", color="C3", lw=1.5, label="our explicit bound (ours, proven)")
    ax.axhline(
        float(ma_ppo(game, K=1, beta=beta).gap[0]),
        color="0.6",
        lw=1,
        ls="-.",
        label=r"gap of the uniform policy $J^\star-J(\pi_0)$",
    )
    ax.set_xlabel("number of iterations $K$")
    ax.set_ylabel(r"average gap $\frac{1}{K}\sum_{k<K}(J^\star-J(\pi_k))$")
    ax.set_title(f"{game_label(game)}, β = {beta:g}; max gap/curve = {d['max_ratio'][0]:.2f}", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


__all__ = [
    "DEFAULT_KS",
    "DEFAULT_BETA",
    "unit_game",
    "game_label",
    "default_games",
    "explicit_bound",
    "explicit_constant",
    "best_beta",
    "fit_loglog",
    "gap_vs_K",
    "plot_gap_vs_K",
    "comparator_weights",
    "regret_decomposition",
    "decomposition_vs_K",
    "plot_decomposition",
    "beta_sweep",
    "plot_beta_sweep",
    "gap_vs_factor",
    "plot_gap_vs_factor",
    "error_sweep",
    "excess_constant",
    "plot_error_sweep",
    "explore_gap_vs_K",
]
