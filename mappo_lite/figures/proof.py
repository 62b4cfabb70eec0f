r"""Tables and figures of the proof of Theorem 1 with errors (book/06_theorem1.md, "The proof, step by step").

:func:`proof_game` / :func:`proof_chain`
    The chapter's run: a small random game with rewards in [0, 1] and inexact MA-PPO on it (Monte Carlo
    :math:`\hat Q^{1:m}`, Algorithm 3), measured by :func:`mappo_lite.theory.theorem1_chain`.
:func:`step_table`
    Both sides of one inequality of the chain at every (or every few) iteration k, per agent m, with its relative slack.
:func:`chain_table`
    One row per step of the chain: the statement, whether it holds on the run and its worst relative slack.
:func:`plot_chain`
    One panel per step: the left-hand side (dots) and the right-hand side (line) against k, one colour per agent.
:func:`plot_sgd_rate`
    Algorithm 3's measured :math:`\varepsilon^2` against T with the projected-SGD bound
    (:func:`mappo_lite.theory.sgd_rate`).

Every number comes from the library when the book builds; nothing here is hard-coded output.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..errors import MappoLiteError
from ..games.catalogue import make_game
from ..theory import CHAIN_STEPS, chain_check, rescale_rewards, theorem1_chain
from .tables import Table

#: The chapter's game: small enough that the whole chain (K iterations, every step measured) takes well under a second.
PROOF_GAME = dict(name="random", n_states=4, n_agents=2, n_actions=3, gamma=0.8, seed=3)
#: The chapter's run of inexact MA-PPO (β_k = β√K; Monte Carlo Q̂ with a few rollouts, clipped to [0, 1/(1−γ)];
#: Algorithm 3 with T samples per agent, started from θ^m_k).
PROOF_RUN = dict(K=20, beta=1.0, T=300, n_rollouts=3, eta=0.25, sgd_init="previous", seed=0, clip=True)

#: Panel titles of :func:`plot_chain`, in the order of the proof.
STEP_TITLES = {
    "pdl": "Step 1: performance difference (identity)",
    "three_point": "Step 2: three-point lemma (identity)",
    "change_of_measure": "Step 3: change of measure",
    "triangle": "Step 4: triangle inequality",
    "paper_delta": r"Step 4: our $\Delta$ vs the paper's $\sqrt{2}$",
    "curvature_convexity": "Step 5a: curvature by convexity",
    "hoeffding": "Step 5b: Hoeffding with B",
    "likelihood_ratio": r"Step 5c: likelihood ratio $\rho_k$",
    "fitted_increment": "Step 5c: fitted-increment term",
    "final": "Step 6: the bound",
}


def proof_game():
    """The game of the chapter's proof checks (:data:`PROOF_GAME`), rewards rescaled onto [0, 1]."""
    spec = dict(PROOF_GAME)
    return rescale_rewards(make_game(spec.pop("name"), **spec))


def proof_chain(game=None, **overrides) -> dict:
    """:func:`~mappo_lite.theory.theorem1_chain` on ``game`` (default :func:`proof_game`) with :data:`PROOF_RUN`,
    updated by ``overrides``."""
    run = {**PROOF_RUN, **overrides}
    return theorem1_chain(proof_game() if game is None else game, **run)


def _check_name(chain: dict, name: str) -> None:
    if name not in chain["steps"]:
        raise MappoLiteError(f"unknown step {name!r}; the steps are {list(chain['steps'])}")


def _slack(lhs, rhs, scale):
    """(rhs − lhs) relative to the step's scale: ≥ 0 where an inequality holds, ~0 for an identity."""
    return (rhs - lhs) / np.maximum(scale, np.finfo(float).tiny)


def step_table(chain: dict, name: str, every: int | None = None) -> Table:
    r"""Both sides of step ``name`` of the chain at iterations 0, ``every``, 2·``every``, … and the last one, per
    agent, with the relative slack (rhs − lhs)/max(|lhs|, |rhs|, scale) (:func:`~mappo_lite.theory.chain_check`'s
    measure, with the opposite sign). ``every`` defaults to about K/5."""
    _check_name(chain, name)
    side = chain["steps"][name]
    lhs, rhs = np.asarray(side["lhs"], float), np.asarray(side["rhs"], float)
    scale = np.maximum(np.abs(lhs), np.abs(rhs))
    if "scale" in side:
        scale = np.maximum(scale, np.asarray(side["scale"], float))
    if lhs.ndim == 0:
        return Table(
            ["", "lhs", "rhs", "slack"], [["run", f"{lhs:.4g}", f"{rhs:.4g}", f"{_slack(lhs, rhs, scale):.2g}"]]
        )
    K = lhs.shape[0]
    every = max(1, round(K / 5)) if every is None else int(every)
    if every < 1:
        raise MappoLiteError(f"every must be at least 1, got {every}")
    ks = sorted(set(range(0, K, every)) | {K - 1})
    if lhs.ndim == 1:
        header = ["k", "lhs", "rhs", "slack"]
        rows = [[k, f"{lhs[k]:.4g}", f"{rhs[k]:.4g}", f"{_slack(lhs[k], rhs[k], scale[k]):.2g}"] for k in ks]
        return Table(header, rows)
    N = lhs.shape[1]
    header = ["k"] + [f"{col} (m={m + 1})" for m in range(N) for col in ("lhs", "rhs", "slack")]
    rows = []
    for k in ks:
        row = [k]
        for m in range(N):
            row += [f"{lhs[k, m]:.4g}", f"{rhs[k, m]:.4g}", f"{_slack(lhs[k, m], rhs[k, m], scale[k, m]):.2g}"]
        rows.append(row)
    return Table(header, rows)


def chain_table(chain: dict, rtol: float = 1e-9) -> Table:
    """One row per step, in the order of the proof: its statement, whether it holds on every (k, m) of the run and
    the worst relative violation (negative: the smallest relative slack) from :func:`~mappo_lite.theory.chain_check`."""
    checks = chain_check(chain, rtol=rtol)
    order = [n for n in STEP_TITLES if n in checks]
    return Table(
        ["step", "statement", "holds", "worst (lhs − rhs)/scale"],
        [[n, CHAIN_STEPS[n], str(checks[n][0]), f"{checks[n][1]:.2g}"] for n in order],
    )


def plot_chain(chain: dict, names=None) -> Figure:
    """One panel per step (default: every step of :data:`STEP_TITLES`): lhs (dots) and rhs (line) against k, one
    colour per agent; the final bound as bars (average gap, bound at the run's β, bound at the balancing β)."""
    names = list(STEP_TITLES) if names is None else list(names)
    for n in names:
        _check_name(chain, n)
    ncols = 4
    nrows = -(-len(names) // ncols)
    fig = Figure(figsize=(13, 2.7 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax, name in zip(axes, names):
        side = chain["steps"][name]
        lhs, rhs = np.asarray(side["lhs"], float), np.asarray(side["rhs"], float)
        ax.set_title(STEP_TITLES.get(name, name), fontsize=9)
        if lhs.ndim == 0:
            vals = [float(lhs), float(rhs), float(chain["best_bound"])]
            ax.bar([0, 1, 2], vals, color=["k", "C3", "C2"])
            ax.set_xticks([0, 1, 2], ["average gap", f"bound, β={chain['beta']:g}", "bound, best β"], fontsize=7)
            ax.set_yscale("log")
            continue
        lhs2, rhs2 = lhs.reshape(lhs.shape[0], -1), rhs.reshape(rhs.shape[0], -1)
        k = np.arange(lhs2.shape[0])
        for m in range(lhs2.shape[1]):
            label = f"m={m + 1}" if lhs2.shape[1] > 1 else "sum over m"
            ax.plot(k, lhs2[:, m], "o", ms=3, color=f"C{m}", label=f"lhs, {label}")
            ax.plot(k, rhs2[:, m], "-", lw=1.2, color=f"C{m}", label=f"rhs, {label}")
        if np.all(lhs2 > 0) and np.all(rhs2 > 0):
            ax.set_yscale("log")
        ax.set_xlabel("iteration k", fontsize=8)
        ax.tick_params(labelsize=7)
    multi = [ax for ax, n in zip(axes, names) if np.ndim(chain["steps"][n]["lhs"]) == 2]
    (multi or list(axes[:1]))[0].legend(fontsize=6)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    return fig


def plot_sgd_rate(rate: dict) -> Figure:
    r"""Algorithm 3's measured :math:`\mathbb E\,\varepsilon^2` (mean over seeds, dots: single seeds) against T, with
    the projected-SGD bound and the reference slope :math:`T^{-1/2}` (so :math:`\varepsilon\sim T^{-1/4}`)."""
    Ts, eps2, bound = rate["Ts"], rate["eps2"], rate["bound"]
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    for j in range(eps2.shape[1]):
        ax.loglog(Ts, eps2[:, j], ".", color="C0", alpha=0.4)
    ax.loglog(Ts, eps2.mean(axis=1), "o-", color="C0", label=r"measured $\varepsilon^2$ (mean over seeds)")
    ax.loglog(Ts, bound, "k--", label=r"projected-SGD bound $\frac{(D+\eta G)^2}{2\eta T}+\frac{\eta G^2}{2}$")
    ax.loglog(Ts, rate["R"] * rate["G"] / np.sqrt(Ts), ":", color="grey", label=r"$DG/\sqrt{T}$")
    ax.set_xlabel("SGD steps T")
    ax.set_ylabel(r"$\varepsilon^2=L(\bar\theta)$")
    ax.set_title(f"Algorithm 3 on one sub-problem: fitted slope of ε {rate['slope']:.2f} (bound: −1/4)", fontsize=9)
    ax.legend(fontsize=8)
    return fig
