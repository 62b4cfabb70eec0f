r"""Policy improvement: the ideal mirror step and Algorithm 3, the projected-SGD solver (the paper's Algorithms 1 and 3; chapter 5 of the book).

Ideal step, per context :math:`c=(s,\mathbf a^{1:m-1})`:

.. math:: \pi^m_{k+1}(\cdot|c) \propto \pi^m_k(\cdot|c)\exp\big(\beta_k^{-1}Q^{1:m}_{\pi_k}(c,\cdot)\big),

the maximizer of :math:`\langle Q^{1:m},\pi^m\rangle - \beta_k\mathrm{KL}(\pi^m\|\pi^m_k)`. With tabular features this is
:math:`\theta^m_{k+1} = \theta^m_k + \beta_k^{-1}Q^{1:m}` exactly.

Algorithm 3 minimizes :math:`L(\theta) = \mathbb E_{\sigma_k}[((\theta-\theta^m_k)^\top\phi - \beta_k^{-1}\hat Q^{1:m})^2]` by
projected SGD with averaging from :math:`\theta(0) = 0` (the paper's choice; ``init="previous"`` starts from
:math:`\theta^m_k` instead, our option), and returns :math:`\bar\theta = \frac1T\sum_{t=1}^T\theta(t)`.

The exact ideal step with compact features (:func:`compact_ideal_step`): Algorithm 3 runs projected SGD on

.. math:: L(\theta) = \mathbb E_{(c,a)\sim\sigma_k}\big[\big((\theta-\theta^m_k)^\top\phi(c,a) - \beta_k^{-1}Q^{1:m}(c,a)\big)^2\big],
          \qquad \theta\in\Theta=\{\|\theta\|_2\le R\},

and converges to its minimizer over Θ. :func:`compact_ideal_step` computes that minimizer **exactly** from the
exact :math:`\sigma_k` and :math:`Q^{1:m}`, so that a run can separate the *approximation* error (the residual of
this step, :math:`\varepsilon^{\rm approx}`, which no number of samples removes) from the *statistical* and *SGD*
errors (what Algorithm 3 adds on top). [ours] The paper states the objective; the solution method and the
tie-breaking below are our choices:

* With :math:`\Phi_w = W^{1/2}\Phi` (rows of positive weight only, :math:`W=\mathrm{diag}(\sigma_k)`) and
  :math:`z = \Phi\theta_k + Q^{1:m}/\beta_k`, L is :math:`\|\Phi_w\theta - W^{1/2}z\|^2`. A thin SVD
  :math:`\Phi_w = U\Sigma V^\top` (singular values below ``rcond``·max treated as 0) gives the minimum-norm least-
  squares solution :math:`\theta_r = V\Sigma^{+}U^\top W^{1/2}z`.
* If :math:`\|\theta_r\|\le R`, every :math:`\theta_r + n` with n in the null space of :math:`\Phi_w` is optimal; we
  keep the component of :math:`\theta_k` there (the smallest change of θ, so directions σ_k never sees are left as
  they were), shrunk if needed to stay in Θ. With tabular features and σ_k > 0 everywhere this is exactly
  :math:`\theta_k + Q^{1:m}/\beta_k`, the tabular ideal step. In floating point, directions whose weight is below
  ``RCOND``² of the largest (actions a saturated policy plays with probability ~1e-24) count as unseen and are
  left unchanged, as Algorithm 3, which never samples them, leaves them too; the tabular step still moves them,
  so the two part ways once a policy saturates.
* Otherwise the constraint is active: :math:`\theta(\lambda) = V\,\mathrm{diag}(\sigma_i/(\sigma_i^2+\lambda))\,U^\top
  W^{1/2}z` with the unique λ > 0 at which :math:`\|\theta(\lambda)\| = R` (the KKT conditions of a convex problem),
  found by Newton's method on :math:`1/\|\theta(\lambda)\| - 1/R` (concave and increasing in λ, so the iterates
  increase monotonically to the root), safeguarded by bisection.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernels
from ._validate import as_float_array, as_int_array, check_choice, check_game, check_positive, check_radius
from .errors import MappoLiteError
from .evaluation import evaluate
from .kernels.softmax import log_softmax, logsumexp
from .policies.conditional import ConditionalTables, project_to_ball
from .policies.features import ArrayFeatures, TabularFeatures

#: Default SGD stepsize η. With ‖φ‖ ≤ 1 every step contracts the residual by a factor in [1−2η, 1], so η = 1/4 is
#: stable for any feature map; the textbook order R/√T of projected SGD needs a finite R (our choice, documented).
DEFAULT_ETA = 0.25


def ideal_mirror_step(
    theta_k: np.ndarray, q_local: np.ndarray, beta_k: float, radius: float = math.inf, *, check: bool = True
) -> np.ndarray:
    r"""Tabular ideal step :math:`\theta^m_{k+1} = \Pi_\Theta(\theta^m_k + \beta_k^{-1} Q^{1:m}_{\pi_k})` (flattened
    contexts × actions), projected on the ball of radius R (``radius``; inf: no projection, the exact mirror step).

    The one implementation of the step: :func:`mappo_lite.algorithms.ma_ppo` (``solver="ideal"``) calls it with
    ``check=False`` (its inputs are checked once at the start of the run)."""
    if check:
        beta_k = check_positive(beta_k, "beta_k")
        radius = check_radius(radius)
        q = as_float_array(q_local, "Q^(1:m)").reshape(-1)
        theta_k = as_float_array(theta_k, "theta_k")
        if q.shape != theta_k.shape:
            raise MappoLiteError(f"Q^(1:m) has {q.size} entries but theta has {theta_k.size}")
    else:
        q = q_local.reshape(-1)
    return project_to_ball(theta_k + q / beta_k, radius)


def policy_improvement_solver(
    features, theta_k, contexts, actions, q_hat, beta_k, eta=DEFAULT_ETA, radius=math.inf, init="zero"
) -> np.ndarray:
    r"""Algorithm 3: projected SGD with averaging on :math:`L(\theta)`; returns :math:`\theta^m_{k+1}=\bar\theta`.

    Parameters
    ----------
    features : TabularFeatures or ArrayFeatures
        Agent m's feature map φ.
    theta_k : (d,)
        The current parameter :math:`\theta^m_k`.
    contexts, actions : (T,) int
        The T samples :math:`(c_t, a^m_t)` from :math:`\sigma_k` (one SGD step each, in order).
    q_hat : (T,)
        :math:`\hat Q^{1:m}` at the samples.
    beta_k, eta, radius
        :math:`\beta_k`, the SGD stepsize η, the radius R of Θ.
    init : ``"zero"`` or ``"previous"``
        :math:`\theta(0) = 0` (Algorithm 3) or :math:`\theta(0) = \theta^m_k`.
    """
    beta_k = check_positive(beta_k, "beta_k")
    eta = check_positive(eta, "eta")
    radius = check_radius(radius)
    init = check_choice(init, "init ('zero' is Algorithm 3's)", ("zero", "previous"))
    theta_k = as_float_array(theta_k, "theta_k")
    ctx = np.ascontiguousarray(as_int_array(contexts, "contexts"))
    act = np.ascontiguousarray(as_int_array(actions, "actions"))
    q = as_float_array(q_hat, "q_hat")
    if not (ctx.ndim == act.ndim == q.ndim == 1 and ctx.shape == act.shape == q.shape):
        raise MappoLiteError(
            f"contexts, actions and q_hat must be vectors of one length, got {ctx.shape}, {act.shape}, {q.shape}"
        )
    if theta_k.shape != (features.dim,):
        raise MappoLiteError(f"theta_k must have {features.dim} entries, got {theta_k.shape}")
    if ctx.size and (
        ctx.min() < 0 or ctx.max() >= features.n_contexts or act.min() < 0 or act.max() >= features.n_actions
    ):
        raise MappoLiteError("sample contexts or actions out of range for the feature map")
    if init == "zero":
        theta0 = np.zeros_like(theta_k)
    else:
        theta0 = theta_k.copy()
        if np.linalg.norm(theta0) > radius:
            theta0 *= radius / np.linalg.norm(theta0)
    targets = q / beta_k
    if isinstance(features, TabularFeatures):
        return kernels.projected_sgd_tabular(ctx, act, features.n_actions, targets, theta_k, theta0, eta, radius)
    if isinstance(features, ArrayFeatures):
        return kernels.projected_sgd(features.phi, ctx, act, targets, theta_k, theta0, eta, radius)
    if hasattr(features, "rows"):  # a feature map that computes its rows (policies.features.CallableFeatures)
        rows = np.ascontiguousarray(features.rows(ctx, act)[:, None, :])
        T = ctx.shape[0]
        return kernels.projected_sgd(
            rows, np.arange(T, dtype=np.int64), np.zeros(T, dtype=np.int64), targets, theta_k, theta0, eta, radius
        )
    raise MappoLiteError(f"unsupported feature map {type(features).__name__}")


def improvement_error(features, theta_new, theta_k, contexts, actions, q_hat, beta_k) -> float:
    r"""The fit error ε of Theorem 1: :math:`[\frac1T\sum_t((\theta_{k+1}-\theta_k)^\top\phi_t - \beta_k^{-1}\hat Q_t)^2]^{1/2}`."""
    if hasattr(features, "rows"):  # only the sampled rows, not every context
        pred = features.rows(np.asarray(contexts), np.asarray(actions)) @ (np.asarray(theta_new) - np.asarray(theta_k))
    else:
        delta = features.logits(np.asarray(theta_new) - np.asarray(theta_k))
        pred = delta[np.asarray(contexts), np.asarray(actions)]
    return float(np.sqrt(np.mean((pred - np.asarray(q_hat) / beta_k) ** 2)))


# ----------------------------------------------------------------------------------------------------------------
# the exact ideal step with compact features
# ----------------------------------------------------------------------------------------------------------------


#: Relative cut-off for singular values of the weighted feature matrix.
RCOND = 1e-12


def ball_constrained_lstsq(
    A: np.ndarray, b: np.ndarray, radius: float = math.inf, prior=None, rcond: float = RCOND
) -> np.ndarray:
    r""":math:`\arg\min_{\|\theta\|\le R}\|A\theta-b\|_2` (exact, see the module docstring); among minimizers, the
    one closest to ``prior`` (default 0)."""
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = A.shape[1]
    prior = np.zeros(d) if prior is None else np.asarray(prior, dtype=np.float64)
    if A.shape[0] == 0:
        theta = prior.copy()
        nrm = float(np.linalg.norm(theta))
        return theta * (radius / nrm) if nrm > radius else theta
    U, sv, Vt = np.linalg.svd(A, full_matrices=False)
    keep = sv > rcond * sv[0] if sv.size and sv[0] > 0 else np.zeros(sv.shape, dtype=bool)
    U, sv, Vt = U[:, keep], sv[keep], Vt[keep]
    c = U.T @ b
    theta_r = Vt.T @ (c / sv)
    nr = float(np.linalg.norm(theta_r))
    if nr <= radius:
        null = prior - Vt.T @ (Vt @ prior)
        nn = float(np.linalg.norm(null))
        budget = math.sqrt(max(radius * radius - nr * nr, 0.0)) if math.isfinite(radius) else math.inf
        if nn > budget:
            null *= budget / nn
        return theta_r + null
    # active constraint: find lambda > 0 with ||theta(lambda)|| = R
    s2, sc = sv * sv, sv * c

    def norm_at(lam):
        return float(np.sqrt(np.sum((sc / (s2 + lam)) ** 2)))

    lo, hi = 0.0, float(np.linalg.norm(sc)) / radius  # ||theta(hi)|| <= ||sc|| / hi = R
    lam = 0.0
    for _ in range(200):
        t = sc / (s2 + lam)
        nt = float(np.linalg.norm(t))
        if nt > radius:
            lo = max(lo, lam)
        else:
            hi = min(hi, lam)
        # Newton on f(lam) = 1/||t|| - 1/R: f' = (sum t^2/(s2+lam)) / ||t||^3
        fprime = float(np.sum(t * t / (s2 + lam))) / nt**3
        step = (1.0 / nt - 1.0 / radius) / fprime if fprime > 0 else math.inf
        new = lam - step
        if not (lo <= new <= hi) or not math.isfinite(new):
            new = 0.5 * (lo + hi)
        if abs(new - lam) <= 1e-15 * max(lam, 1e-300) or hi - lo <= 1e-15 * hi:
            lam = new
            break
        lam = new
    theta = Vt.T @ (sc / (s2 + lam))
    nt = float(np.linalg.norm(theta))
    return theta * (radius / nt) if nt > radius else theta  # removes the last ulp of excess


def compact_ideal_step(
    rows: np.ndarray, theta_k: np.ndarray, q: np.ndarray, beta_k: float, weights: np.ndarray, radius: float = math.inf
):
    r"""The exact minimizer of L over Θ (module docstring).

    Parameters
    ----------
    rows : (n, d)
        :math:`\phi(c,a)` for every (context, action), context-major (the order of ``Q^{1:m}.reshape(-1)``).
    theta_k : (d,)
    q : (n,)
        :math:`Q^{1:m}_{\pi_k}` (or an estimate) at the same rows.
    beta_k : float
    weights : (n,)
        :math:`\sigma_k(c,a)` (any positive multiple: only ratios matter).
    radius : float

    Returns ``(theta_new, eps)`` with eps the σ_k-weighted root mean square residual
    :math:`[\mathbb E_{\sigma_k}((\theta_{k+1}-\theta_k)^\top\phi-\beta_k^{-1}Q^{1:m})^2]^{1/2}`, the improvement error
    of the best parameter in Θ (0 when the class realizes the mirror step).
    """
    rows = np.asarray(rows, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    q = np.asarray(q, dtype=np.float64).reshape(-1)
    if not (rows.shape[0] == w.shape[0] == q.shape[0]):
        raise MappoLiteError(
            f"rows, q and weights must have one entry per (context, action): {rows.shape}, {q.shape}, {w.shape}"
        )
    if np.any(w < 0) or not w.sum() > 0:
        raise MappoLiteError("weights must be non-negative with a positive sum")
    theta_k = np.asarray(theta_k, dtype=np.float64)
    pos = w > 0
    sw = np.sqrt(w[pos] / w.sum())
    y = q[pos] / beta_k
    z = rows[pos] @ theta_k + y
    theta = ball_constrained_lstsq(rows[pos] * sw[:, None], z * sw, radius, prior=theta_k)
    resid = rows[pos] @ (theta - theta_k) - y
    eps = float(np.sqrt(np.sum(sw * sw * resid * resid)))
    return theta, eps


# ----------------------------------------------------------------------------------------------------------------
# the exact centralized mirror step, factored autoregressively, against MA-PPO's per-agent step
# ----------------------------------------------------------------------------------------------------------------


def centralized_mirror_step(game, policy, beta_k: float) -> dict:
    r"""The exact centralized mirror step :math:`\pi^{\rm c}(\mathbf a|s)\propto\pi_k(\mathbf a|s)
    \exp(Q_{\pi_k}(s,\mathbf a)/\beta_k)`, factored autoregressively, against MA-PPO's per-agent step (chapter 5 of
    the book; our derivation, not in the paper).

    With :math:`\pi_k=\prod_m\pi^m_k`, define the *soft* localized values backward over the agents,

    .. math:: U^{1:N} = Q_{\pi_k},\qquad U^{1:m-1}(s,\mathbf a^{1:m-1}) = \beta_k\log\,
              \mathbb E_{a^m\sim\pi^m_k(\cdot|s,\mathbf a^{1:m-1})}\exp\big(U^{1:m}(s,\mathbf a^{1:m})/\beta_k\big).

    The factors of the centralized step are :math:`\pi^{{\rm c},m}(\cdot|s,\mathbf a^{1:m-1})\propto
    \pi^m_k(\cdot|s,\mathbf a^{1:m-1})\exp(U^{1:m}(s,\mathbf a^{1:m-1},\cdot)/\beta_k)`. MA-PPO's ideal step
    (:func:`ideal_mirror_step`) uses the *mean* :math:`Q^{1:m}_{\pi_k}` (the backward sweep of
    :func:`mappo_lite.evaluation.localized_values`) in place of :math:`U^{1:m}`; the two agree for the last agent
    (:math:`U^{1:N} = Q^{1:N}_{\pi_k} = Q_{\pi_k}`). By Jensen's inequality and Hoeffding's lemma, in every context
    :math:`0\le U^{1:m-1} - \mathbb E_{\pi^m_k}U^{1:m}\le\mathrm{range}_{a^m}(U^{1:m})^2/(8\beta_k)`: the
    curvature term of the mirror-descent step in Theorem 1's proof, of order :math:`1/\beta_k`.

    ``policy``: :math:`\pi_k` in any form :func:`mappo_lite.policies.as_tables` accepts. Returns a dict with
    ``centralized`` and ``mappo`` (:class:`~mappo_lite.policies.conditional.ConditionalTables` of the two steps),
    ``soft`` and ``mean`` (the lists :math:`[U^{1:0},\dots,U^{1:N}]` and :math:`[Q^{1:0},\dots,Q^{1:N}]`, the m-th of
    shape (S, A_1, …, A_m)), ``target_gap`` (N,): :math:`\max|U^{1:m}-Q^{1:m}|` for agent m at position m - 1, and
    ``hoeffding`` (N,): the bound on it, :math:`\sum_{l>m}\max\mathrm{range}_{a^l}(U^{1:l})^2/(8\beta_k)`.
    """
    game = check_game(game)
    beta_k = check_positive(beta_k, "beta_k")
    ev = evaluate(game, policy)
    tables, N = ev.tables, game.n_agents
    mean = ev.q_local
    with np.errstate(divide="ignore"):
        log_pi = [None] + [np.log(tables.table(m)) for m in range(1, N + 1)]  # -inf where pi^m_k = 0
    soft = [None] * (N + 1)
    soft[N] = ev.Q
    hoeffding = np.zeros(N)
    for m in range(N, 0, -1):
        soft[m - 1] = beta_k * logsumexp(log_pi[m] + soft[m] / beta_k, axis=-1)
        if m > 1:  # the one-level Jensen gap of U^{1:m-1}, added to every agent before m
            width = np.where(tables.table(m) > 0, soft[m], np.nan)
            hoeffding[: m - 1] += float(np.nanmax(np.nanmax(width, axis=-1) - np.nanmin(width, axis=-1))) ** 2 / (
                8 * beta_k
            )

    def _step(values):
        out = [
            np.exp(log_softmax(log_pi[m] + values[m] / beta_k, axis=-1)).reshape(-1, game.action_sizes[m - 1])
            for m in range(1, N + 1)
        ]
        return ConditionalTables(tuple(np.ascontiguousarray(t) for t in out), game.n_states, game.action_sizes)

    return {
        "centralized": _step(soft),
        "mappo": _step(mean),
        "soft": soft,
        "mean": mean,
        "target_gap": np.array([float(np.max(np.abs(soft[m] - mean[m]))) for m in range(1, N + 1)]),
        "hoeffding": hoeffding,
    }
