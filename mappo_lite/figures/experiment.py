r"""Chapter 7 (reproducing the paper's experiment): the ablation on von Neumann's ratio game and the chapter's figures.

:mod:`mappo_lite.ratio_experiment` implements the paper's two methods (the sequential conditional update and
independent policy gradient). The paper's sequential method differs from independent PG in *two* ways at once: its
policy class (agent 2 conditions on agent 1's action) and the form of its step (a mirror-descent / natural-gradient
step :math:`\theta \mathrel{+}= \eta\,Q` instead of a vanilla gradient step :math:`\theta \mathrel{+}= \eta\,\nabla_\theta V`).
This module adds the two missing corners of that 2 × 2 design, plus the two mirror-descent methods whose targets
are the *Markov game's* action values (the objects of the MA-PPO theory) instead of the paper's pure-profile ratios.

Methods (:data:`ABLATION_METHODS`), all started from the same joint policy (:func:`~mappo_lite.ratio_experiment.initial_logits`;
conditional methods copy :math:`\theta^2` into both rows :math:`z_{a^1}`):

===================  =============  ===============  ===============================================================
method               policy class   step             update per iteration (all quantities of iteration k)
===================  =============  ===============  ===============================================================
``independent-pg``   product        gradient         :math:`\theta^m \mathrel{+}= \eta\,\nabla_{\theta^m} V` [paper]
``conditional-pg``   conditional    gradient         :math:`(\theta, z) \mathrel{+}= \eta\,\nabla_{(\theta,z)} V(p)` [ours]
``independent-npg``  product        mirror, ratio    :math:`\theta^1[a] \mathrel{+}= \eta V(e_a, y)`,
                                                     :math:`\theta^2[b] \mathrel{+}= \eta V(x, e_b)` [ours]
``sequential``       conditional    mirror, ratio    :math:`\theta[a] \mathrel{+}= \eta V(e_a, \bar\pi^2)`,
                                                     :math:`z_{a}[b] \mathrel{+}= \eta R[a,b]/S[a,b]` [paper]
``independent-npg-q`` product       mirror, Markov Q :math:`\theta^m \mathrel{+}= \eta\,Q^m_{\pi_k}` (marginal Q);
                                                     = :func:`mappo_lite.independent_npg` with :math:`\eta = 1/\beta_k`
``ma-ppo``           conditional    mirror, Markov Q :math:`\theta \mathrel{+}= \eta\,Q^{1:1}_{\pi_k}`,
                                                     :math:`z \mathrel{+}= \eta\,Q^{1:2}_{\pi_k}`;
                                                     = :func:`mappo_lite.ma_ppo` with :math:`\eta = 1/\beta_k`
===================  =============  ===============  ===============================================================

Markov Q: the ratio game is a one-state stopping game with :math:`\gamma = 1`
(:func:`mappo_lite.make_game` ``("ratio")``), so :math:`Q_\pi(a^1, a^2) = R[a^1,a^2] + (1 - S[a^1,a^2])\,V_\pi`:
earn one reward, then continue with probability :math:`1 - S`. The paper's target is instead the value
:math:`V(e_{a^1}, \cdot)` of *committing* to an action forever. The two targets differ by an action-dependent scale:
:math:`V(e_a, y) - V = (Q^1_\pi(a) - V_\pi)/(Sy)_a` (see the chapter).

All curves are the value :math:`V(p_k)` of the joint policy :math:`p_k(a^1, a^2) = \pi^1_k(a^1)\pi^2_k(a^2\mid a^1)`
(for product policies :math:`\pi^2` ignores :math:`a^1`), exact, no sampling. The two methods of the paper are
delegated to the numba kernels of :mod:`mappo_lite.ratio_experiment`; the four others run in a small batched
NumPy loop (:func:`run_batch`), which also implements the paper's two methods so the tests can compare them.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import kernels
from .._validate import check_choice, check_nonnegative_int, check_positive
from ..errors import MappoLiteError
from ..experiments.ratio import (
    DEFAULT_MAGNITUDE,
    INITS,
    METHODS,
    RATIO_R,
    RATIO_S,
    Figure1Result,
    initial_logits,
    iterations_to_reach,
    run_independent_pg,
    run_sequential,
)
from ..kernels.ratio import ABLATION_CODES
from ..kernels.softmax import softmax
from .tables import Table, result_table  # noqa: F401  (re-exported for chapter 7)

__all__ = [
    "ABLATION_METHODS",
    "METHOD_LABELS",
    "METHOD_DESIGN",
    "PANEL_METHODS",
    "run_batch",
    "run_method",
    "ablation",
    "reach_rows",
    "Table",
    "result_table",
    "escape_iterations",
    "figure1_figure",
    "plot_ratio_panel",
    "plot_escape_times",
    "plot_figure1",
]

#: The six methods of the ablation, in the order of the chapter's table.
ABLATION_METHODS = (
    "independent-pg",
    "conditional-pg",
    "independent-npg",
    "sequential",
    "independent-npg-q",
    "ma-ppo",
)

#: (policy class, step form, target) of each method.
METHOD_DESIGN = {
    "independent-pg": ("product", "gradient", "-"),
    "conditional-pg": ("conditional", "gradient", "-"),
    "independent-npg": ("product", "mirror", "ratio"),
    "sequential": ("conditional", "mirror", "ratio"),
    "independent-npg-q": ("product", "mirror", "Markov Q"),
    "ma-ppo": ("conditional", "mirror", "Markov Q"),
}

#: Legend labels.
METHOD_LABELS = {
    "independent-pg": "independent PG [paper]",
    "conditional-pg": "conditional PG",
    "independent-npg": "independent NPG (ratio target)",
    "sequential": "sequential conditional [paper]",
    "independent-npg-q": "independent NPG (Markov Q)",
    "ma-ppo": "MA-PPO (Markov Q)",
}

_STYLE = {  # the paper's methods thick and translucent, the ablation corners thin on top (they often overlap)
    "independent-pg": dict(color="tab:blue", ls="-", lw=4.0, alpha=0.55),
    "conditional-pg": dict(color="tab:green", ls="--", lw=1.6),
    "independent-npg": dict(color="tab:purple", ls="--", lw=1.6),
    "sequential": dict(color="tab:orange", ls="-", lw=4.0, alpha=0.55),
    "independent-npg-q": dict(color="tab:brown", ls=":", lw=1.8),
    "ma-ppo": dict(color="tab:red", ls="-.", lw=1.6),
}

#: Methods drawn by default in :func:`plot_ratio_panel` (the 2 × 2 design with the paper's targets).
PANEL_METHODS = ("independent-pg", "conditional-pg", "independent-npg", "sequential")

_R = np.asarray(RATIO_R, dtype=np.float64)
_S = np.asarray(RATIO_S, dtype=np.float64)
_PURE = _R / _S  # V(e_a, e_b) = [[1, 0.5], [-5, 0]]


# ----------------------------------------------------------------------------------------------------- validation


def _check_method(method) -> str:
    return check_choice(method, "method", ABLATION_METHODS)


# ----------------------------------------------------------------------------------------------------- dynamics


def _ratio_rows(w: np.ndarray, R: np.ndarray, S: np.ndarray) -> np.ndarray:
    """``(R w)_a / (S w)_a`` for a batch of weights ``w`` (B, 2): the value of committing to each row action."""
    return np.einsum("ab,nb->na", R, w) / np.einsum("ab,nb->na", S, w)


def run_batch(method: str, etas, iterations: int, inits) -> np.ndarray:
    r"""Run ``method`` for a batch of stepsizes and initial logits at once (plain NumPy, exact values).

    ``etas``: sequence of B stepsizes; ``inits``: sequence of B pairs ``(theta1, theta2)`` of shape-``(2,)`` logits
    (e.g. from :func:`~mappo_lite.ratio_experiment.initial_logits`). Returns an array (B, ``iterations`` + 1) of
    :math:`V(p_k)`. Every method of :data:`ABLATION_METHODS` is implemented here, including the paper's two, so
    that the tests can compare this loop with the numba kernels of :mod:`mappo_lite.ratio_experiment`.
    """
    method = _check_method(method)
    iterations = check_nonnegative_int(iterations, "iterations")
    etas = np.array([check_positive(e, "eta") for e in etas], dtype=np.float64)
    B = etas.size
    if B == 0 or len(inits) != B:
        raise MappoLiteError(f"need one init per stepsize, got {len(inits)} inits for {B} stepsizes")
    th = np.array([np.asarray(t1, dtype=np.float64) for t1, _ in inits])
    th2 = np.array([np.asarray(t2, dtype=np.float64) for _, t2 in inits])
    if th.shape != (B, 2) or th2.shape != (B, 2) or not (np.all(np.isfinite(th)) and np.all(np.isfinite(th2))):
        raise MappoLiteError("every init must be a pair of finite shape-(2,) logit vectors")
    policy_class = METHOD_DESIGN[method][0]
    # product methods keep one logit vector for agent 2; conditional ones one per action of agent 1
    z = th2.copy() if policy_class == "product" else np.repeat(th2[:, None, :], 2, axis=1)
    R, S = _R, _S
    eta = etas[:, None]
    out = np.empty((B, iterations + 1))
    for k in range(iterations + 1):
        x = softmax(th)  # (B, 2)
        c = softmax(z)  # (B, 2) product, (B, 2, 2) conditional: row a1 = pi^2(. | a1)
        cond = c if policy_class == "conditional" else np.broadcast_to(c[:, None, :], (B, 2, 2))
        p = x[:, :, None] * cond  # joint p(a1, a2)
        D = np.einsum("nab,ab->n", p, S)
        V = np.einsum("nab,ab->n", p, R) / D
        out[:, k] = V
        if k == iterations:
            break
        if method in ("independent-pg", "conditional-pg"):
            G = (R[None] - V[:, None, None] * S[None]) / D[:, None, None]  # dV/dp(a1, a2)
            if method == "independent-pg":
                gx = np.einsum("nab,nb->na", G, c)
                gy = np.einsum("nab,na->nb", G, x)
                d1 = x * (gx - np.sum(x * gx, axis=1, keepdims=True))
                d2 = c * (gy - np.sum(c * gy, axis=1, keepdims=True))
            else:
                gx = np.sum(cond * G, axis=2)  # dV/dx(a) through p = x(a) c_a(b)
                d1 = x * (gx - np.sum(x * gx, axis=1, keepdims=True))
                d2 = x[:, :, None] * cond * (G - gx[:, :, None])
        elif method == "independent-npg":
            d1 = _ratio_rows(c, R, S)
            d2 = _ratio_rows(x, R.T, S.T)
        elif method == "sequential":
            marginal = np.einsum("na,nab->nb", x, cond)
            d1 = _ratio_rows(marginal, R, S)
            d2 = np.broadcast_to(_PURE, (B, 2, 2))
        else:
            Q = R[None] + (1.0 - S[None]) * V[:, None, None]  # Markov game's Q, gamma = 1
            if method == "independent-npg-q":
                d1 = np.einsum("nab,nb->na", Q, c)
                d2 = np.einsum("nab,na->nb", Q, x)
            else:  # ma-ppo: Q^{1:1}(a) = sum_b pi^2(b|a) Q(a, b), Q^{1:2} = Q
                d1 = np.sum(cond * Q, axis=2)
                d2 = Q
        th = th + eta * d1
        z = z + (eta if policy_class == "product" else eta[:, :, None]) * d2
    return out


def run_method(
    method: str, eta: float, iterations: int, init="uniform", magnitude: float = DEFAULT_MAGNITUDE
) -> np.ndarray:
    r"""One run of ``method`` (a name from :data:`ABLATION_METHODS`) from ``init`` (a name from
    :data:`~mappo_lite.ratio_experiment.INITS` or a pair ``(theta1, theta2)``). Returns :math:`V(p_k)`,
    :math:`k = 0..` ``iterations``. The paper's two methods use the numba kernels of
    :mod:`mappo_lite.experiments.ratio`, the others the kernel ``ratio_ablation`` (:mod:`mappo_lite.kernels.ratio`),
    which :func:`run_batch` (NumPy) checks in the tests."""
    method = _check_method(method)
    if method == "sequential":
        return run_sequential(eta, iterations, init, "marginal", magnitude)
    if method == "independent-pg":
        return run_independent_pg(eta, iterations, init, magnitude)
    eta = check_positive(eta, "eta")
    iterations = check_nonnegative_int(iterations, "iterations")
    if isinstance(init, str):
        init = initial_logits(init, magnitude)
    th1, th2 = (np.asarray(t, dtype=np.float64) for t in init)
    if th1.shape != (2,) or th2.shape != (2,) or not (np.all(np.isfinite(th1)) and np.all(np.isfinite(th2))):
        raise MappoLiteError("every init must be a pair of finite shape-(2,) logit vectors")
    # one run is a numba kernel (the Python loop of run_batch costs ~35 us per iteration on one run, which a widget
    # redraw of 20000 iterations feels); run_batch stays the batched NumPy version that the tests compare it with
    z = np.ascontiguousarray(np.repeat(th2[None, :], 2, axis=0))
    return kernels.ratio_ablation(ABLATION_CODES[method], th1.copy(), z, eta, iterations, _R, _S)


def ablation(
    iterations: int = 20000,
    stepsizes=(0.001, 0.01, 0.05),
    inits=("near-stationary", "uniform"),
    methods=ABLATION_METHODS,
    magnitude: float = DEFAULT_MAGNITUDE,
) -> dict:
    r"""Curves ``{(init, eta, method): V(p_k)}`` of every init × stepsize × method (read-only arrays).

    The paper's two methods come from the numba kernels; each other method runs all init × stepsize pairs in one
    batch (about 1 s per method for the default 20000 iterations)."""
    iterations = check_nonnegative_int(iterations, "iterations")
    stepsizes = tuple(check_positive(e, "eta") for e in stepsizes)
    inits = tuple(inits)
    methods = tuple(_check_method(m) for m in methods)
    if not stepsizes or not inits or not methods:
        raise MappoLiteError("stepsizes, inits and methods must not be empty")
    pairs = [(init, eta) for init in inits for eta in stepsizes]
    logits = {init: initial_logits(init, magnitude) for init in inits}
    curves = {}
    for method in methods:
        if method in ("sequential", "independent-pg"):
            rows = [run_method(method, eta, iterations, init, magnitude) for init, eta in pairs]
        else:
            rows = run_batch(method, [eta for _, eta in pairs], iterations, [logits[init] for init, _ in pairs])
        for (init, eta), row in zip(pairs, rows):
            arr = np.array(row, dtype=np.float64)
            arr.flags.writeable = False
            curves[(init, eta, method)] = arr
    return curves


def reach_rows(curves: dict, level: float = 0.99, methods=None) -> list:
    r"""Rows ``[init, eta, n_method_1, …]`` of "iterations to reach ``level``" (``None`` = never) for every
    (init, eta) present in ``curves`` (a dict as returned by :func:`ablation` or ``Figure1Result.curves``)."""
    keys = list(curves)
    if methods is None:
        methods = list(dict.fromkeys(k[2] for k in keys))
    pairs = list(dict.fromkeys((k[0], k[1]) for k in keys))
    return [[init, eta] + [iterations_to_reach(curves[(init, eta, m)], level) for m in methods] for init, eta in pairs]


def escape_iterations(magnitudes, stepsizes, iterations: int = 60000, level: float = 0.6) -> np.ndarray:
    r"""First iteration at which independent PG from the near-stationary start (logit gap ``m``) reaches
    ``level``, for every ``m`` in ``magnitudes`` (rows) and :math:`\eta` in ``stepsizes`` (columns); ``nan`` if it
    does not within ``iterations``."""
    out = np.full((len(magnitudes), len(stepsizes)), np.nan)
    for i, m in enumerate(magnitudes):
        for j, eta in enumerate(stepsizes):
            hit = iterations_to_reach(run_independent_pg(eta, iterations, "near-stationary", m), level)
            if hit is not None:
                out[i, j] = hit
    return out


# ----------------------------------------------------------------------------------------------------- figures


def figure1_figure(result: Figure1Result, width: float = 12.0, height: float = 6.4) -> Figure:
    """The six panels of Figure 1 on a pyplot-free Figure (rows = init, columns = stepsize)."""
    if not isinstance(result, Figure1Result):
        raise MappoLiteError(f"result must be a Figure1Result, got {type(result).__name__}")
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(len(result.inits), len(result.stepsizes), squeeze=False, sharey=True)
    plot_figure1(result, axes)
    for ax in axes.flat:
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel(r"value $V(p_k)$")
    return fig


def plot_ratio_panel(
    eta: float = 0.05,
    init: str = "near-stationary",
    magnitude: float = DEFAULT_MAGNITUDE,
    iterations: int = 20000,
    methods=PANEL_METHODS,
    log_x: bool = True,
) -> Figure:
    r"""One panel of the ablation: :math:`V(p_k)` against the iteration for each method in ``methods`` from the
    given init, stepsize and logit magnitude (the magnitude is ignored by ``"uniform"``). A marker shows the
    first iteration with :math:`V \ge 0.99`; ``log_x`` puts the iterations on a log scale (iteration 0 is
    drawn at 1)."""
    if init not in INITS:
        raise MappoLiteError(f"init must be one of {INITS}, got {init!r}")
    iterations = check_nonnegative_int(iterations, "iterations")
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    ks = np.arange(iterations + 1)
    xs = np.maximum(ks, 1) if log_x else ks
    for method in methods:
        curve = run_method(method, eta, iterations, init, magnitude)
        ax.plot(xs, curve, label=METHOD_LABELS[method], **_STYLE[method])
        hit = iterations_to_reach(curve, 0.99)
        if hit is not None:
            ax.plot([max(hit, 1) if log_x else hit], [curve[hit]], "o", color=_STYLE[method]["color"], ms=5)
    ax.axhline(1.0, color="0.5", ls=":", lw=1, label=r"optimum $V^\star = 1$")
    ax.axhline(0.99, color="0.75", ls="-", lw=0.8, label="level 0.99")
    if log_x:
        ax.set_xscale("log")
    ax.set_ylim(min(-0.05, float(ax.get_ylim()[0])), 1.05)
    m_text = "" if init == "uniform" else f", m = {magnitude:g}"
    ax.set_title(f"{init} init{m_text}, $\\eta$ = {eta:g}")
    ax.set_xlabel("iteration k" + (" (log scale)" if log_x else ""))
    ax.set_ylabel(r"value $V(p_k)$ of the joint policy")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def plot_escape_times(magnitudes, stepsizes, escape: np.ndarray) -> Figure:
    r"""Measured escape iterations (:func:`escape_iterations`) against :math:`e^m/\eta` on log–log axes, with
    the line of slope 1 through the geometric mean ratio."""
    escape = np.asarray(escape, dtype=np.float64)
    fig = Figure(figsize=(5.5, 4.0), layout="constrained")
    ax = fig.subplots()
    pred_all, meas_all = [], []
    for j, eta in enumerate(stepsizes):
        pred = np.exp(np.asarray(magnitudes, dtype=np.float64)) / eta
        ok = np.isfinite(escape[:, j])
        ax.loglog(pred[ok], escape[ok, j], "o-", label=f"$\\eta$ = {eta:g}")
        pred_all += list(pred[ok])
        meas_all += list(escape[ok, j])
    if pred_all:
        pred_all, meas_all = np.array(pred_all), np.array(meas_all)
        c = float(np.exp(np.mean(np.log(meas_all / pred_all))))
        grid = np.geomspace(pred_all.min(), pred_all.max(), 50)
        ax.loglog(grid, c * grid, color="0.4", ls="--", lw=1, label=f"{c:.2f}·$e^m/\\eta$")
    ax.set_xlabel(r"$e^m/\eta$")
    ax.set_ylabel("iterations until V ≥ 0.6 (independent PG)")
    ax.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------------------------------- Figure 1

_LABELS = {"sequential": "sequential conditional update", "independent-pg": "independent PG"}
_COLORS = {"sequential": "tab:orange", "independent-pg": "tab:blue"}


def plot_figure1(result: Figure1Result, ax_grid=None):
    """Draw Figure 1: one row per init, one column per stepsize, both methods per panel.

    ``ax_grid``: optional array-like of matplotlib Axes of shape ``(len(result.inits), len(result.stepsizes))``;
    if omitted a new :class:`matplotlib.figure.Figure` is made (no pyplot state). Returns the Figure.
    """
    if not isinstance(result, Figure1Result):
        raise MappoLiteError(f"result must be a Figure1Result (from figure1()), got {type(result).__name__}")
    shape = (len(result.inits), len(result.stepsizes))
    if ax_grid is None:
        fig = Figure(figsize=(4.0 * shape[1], 3.0 * shape[0]), layout="constrained")
        axes = fig.subplots(*shape, squeeze=False)
    else:
        axes = np.asarray(ax_grid, dtype=object)
        if axes.shape != shape:
            raise MappoLiteError(f"ax_grid must have shape {shape} (inits × stepsizes), got {axes.shape}")
        try:
            fig = axes[0, 0].get_figure(root=True)  # matplotlib >= 3.10
        except TypeError:
            fig = axes[0, 0].figure
    ks = np.arange(result.iterations + 1)
    for i, init in enumerate(result.inits):
        for j, eta in enumerate(result.stepsizes):
            ax = axes[i, j]
            for method in METHODS:
                ax.plot(ks, result.curves[(init, eta, method)], color=_COLORS[method], lw=2, label=_LABELS[method])
            ax.axhline(1.0, color="0.5", ls=":", lw=1, label=r"optimum $V^\star = 1$")
            ax.set_title(f"{init} init, $\\eta$ = {eta:g}")
            ax.set_xlabel("iteration")
            ax.set_ylabel("V")
            ax.legend(loc="best", fontsize="small")
    return fig
