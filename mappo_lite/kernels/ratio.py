r"""numba kernels of the ratio-game experiment (:mod:`mappo_lite.experiments.ratio`, the paper's Figure 1); twins
of the same names in :mod:`.reference`."""

from __future__ import annotations

import numba
import numpy as np

from .core import softmax_vector_into as _softmax_into


@numba.njit(cache=True)
def _conditional_policy_value(theta, z, x, cond, R, S):  # pragma: no cover - jitted
    r"""Fill ``x`` = softmax(θ) (agent 1) and row a of ``cond`` = softmax(z_a) (agent 2 given a¹ = a); return the
    numerator Σ p R and denominator Σ p S of :math:`V(p) = \sum p R / \sum p S` for the joint p(a, b) = x_a cond_ab."""
    n1, n2 = R.shape
    _softmax_into(theta, x)
    for a in range(n1):
        _softmax_into(z[a], cond[a])
    num = 0.0
    den = 0.0
    for a in range(n1):
        for b in range(n2):
            pab = x[a] * cond[a, b]
            num += pab * R[a, b]
            den += pab * S[a, b]
    return num, den


@numba.njit(cache=True)
def _row_ratio(R, S, w, a):  # pragma: no cover - jitted
    r"""Row a's ratio target :math:`\sum_b R_{ab} w_b / \sum_b S_{ab} w_b` against agent 2's distribution w."""
    nu = 0.0
    de = 0.0
    for b in range(R.shape[1]):
        nu += R[a, b] * w[b]
        de += S[a, b] * w[b]
    return nu / de


@numba.njit(cache=True)
def _marginal_into(x, cond, out):  # pragma: no cover - jitted
    r"""Agent 2's marginal :math:`\sum_a x_a \, cond_{ab}` into ``out``."""
    for b in range(cond.shape[1]):
        out[b] = 0.0
        for a in range(cond.shape[0]):
            out[b] += x[a] * cond[a, b]


@numba.njit(cache=True)
def ratio_sequential(theta, z, eta, iterations, conditional, R, S):  # pragma: no cover - jitted
    r"""The sequential conditional update on a one-state ratio game (per-step reward R, stopping probability S):
    :math:`V(p_k)` for k = 0..``iterations``; ``conditional`` picks agent 1's target (see
    :func:`mappo_lite.experiments.ratio.run_sequential`)."""
    n1, n2 = R.shape
    th = theta.copy()
    zz = z.copy()
    x = np.empty(n1)
    cond = np.empty((n1, n2))
    marg = np.empty(n2)
    q1 = np.empty(n1)
    out = np.empty(iterations + 1)
    for k in range(iterations + 1):
        num, den = _conditional_policy_value(th, zz, x, cond, R, S)
        out[k] = num / den
        if k == iterations:
            break
        if conditional:
            for a in range(n1):
                q1[a] = _row_ratio(R, S, cond[a], a)
        else:
            _marginal_into(x, cond, marg)
            for a in range(n1):
                q1[a] = _row_ratio(R, S, marg, a)
        for a in range(n1):
            th[a] += eta * q1[a]
            for b in range(n2):
                zz[a, b] += eta * (R[a, b] / S[a, b])
    return out


@numba.njit(cache=True)
def ratio_independent_pg(theta1, theta2, eta, iterations, R, S):  # pragma: no cover - jitted
    r"""Independent exact policy gradient on the ratio game: :math:`V(x_k, y_k)` for k = 0..``iterations``."""
    n1, n2 = R.shape
    t1 = theta1.copy()
    t2 = theta2.copy()
    x = np.empty(n1)
    y = np.empty(n2)
    ry = np.empty(n1)
    sy = np.empty(n1)
    rx = np.empty(n2)
    sx = np.empty(n2)
    gx = np.empty(n1)
    gy = np.empty(n2)
    out = np.empty(iterations + 1)
    for k in range(iterations + 1):
        _softmax_into(t1, x)
        _softmax_into(t2, y)
        for a in range(n1):
            ry[a] = 0.0
            sy[a] = 0.0
            for b in range(n2):
                ry[a] += R[a, b] * y[b]
                sy[a] += S[a, b] * y[b]
        for b in range(n2):
            rx[b] = 0.0
            sx[b] = 0.0
            for a in range(n1):
                rx[b] += R[a, b] * x[a]
                sx[b] += S[a, b] * x[a]
        num = 0.0
        den = 0.0
        for a in range(n1):
            num += x[a] * ry[a]
            den += x[a] * sy[a]
        v = num / den
        out[k] = v
        if k == iterations:
            break
        xg = 0.0
        for a in range(n1):
            gx[a] = (ry[a] - v * sy[a]) / den
            xg += x[a] * gx[a]
        yg = 0.0
        for b in range(n2):
            gy[b] = (rx[b] - v * sx[b]) / den
            yg += y[b] * gy[b]
        for a in range(n1):
            t1[a] += eta * x[a] * (gx[a] - xg)
        for b in range(n2):
            t2[b] += eta * y[b] * (gy[b] - yg)
    return out


#: Method codes of :func:`ratio_ablation` (the names of :data:`mappo_lite.figures.experiment.ABLATION_METHODS`).
ABLATION_CODES = {
    "independent-pg": 0,
    "conditional-pg": 1,
    "independent-npg": 2,
    "sequential": 3,
    "independent-npg-q": 4,
    "ma-ppo": 5,
}


@numba.njit(cache=True)
def ratio_ablation(method, theta, z, eta, iterations, R, S):  # pragma: no cover - jitted
    r"""One run of an ablation method on the ratio game (per-step reward R, stopping probability S):
    :math:`V(p_k)` for k = 0..``iterations``.

    ``method`` is a code of :data:`ABLATION_CODES`; ``theta`` (n1,) are agent 1's logits, ``z`` (n1, n2) agent 2's
    conditional logits, row a for a¹ = a. A *product* method (codes 0, 2, 4) adds the same increment to every row,
    so rows that start equal stay equal: agent 2's policy is then the product policy of any row. The updates are
    those of :func:`mappo_lite.figures.experiment.run_batch`: exact policy gradient (0 independent, 1 conditional),
    natural PG on the ratio targets (2 independent, 3 sequential with the marginal target) and on the Markov game's
    Q (4 independent, 5 MA-PPO)."""
    n1, n2 = R.shape
    th = theta.copy()
    zz = z.copy()
    x = np.empty(n1)
    cond = np.empty((n1, n2))
    G = np.empty((n1, n2))
    d1 = np.empty(n1)
    d2 = np.empty((n1, n2))
    v2 = np.empty(n2)
    out = np.empty(iterations + 1)
    for k in range(iterations + 1):
        num, den = _conditional_policy_value(th, zz, x, cond, R, S)
        V = num / den
        out[k] = V
        if k == iterations:
            break
        product = method == 0 or method == 2 or method == 4
        if method == 0 or method == 1:
            for a in range(n1):
                for b in range(n2):
                    G[a, b] = (R[a, b] - V * S[a, b]) / den
        elif method == 4 or method == 5:
            for a in range(n1):
                for b in range(n2):
                    G[a, b] = R[a, b] + (1.0 - S[a, b]) * V  # the Markov game's Q (gamma = 1)
        if method == 0 or method == 4:  # gradient / Q-target of each agent against the other's product policy
            for a in range(n1):
                d1[a] = 0.0
                for b in range(n2):
                    d1[a] += G[a, b] * cond[0, b]
            for b in range(n2):
                v2[b] = 0.0
                for a in range(n1):
                    v2[b] += G[a, b] * x[a]
            if method == 0:  # softmax chain rule: x (g - x.g)
                xg = 0.0
                cg = 0.0
                for a in range(n1):
                    xg += x[a] * d1[a]
                for b in range(n2):
                    cg += cond[0, b] * v2[b]
                for a in range(n1):
                    d1[a] = x[a] * (d1[a] - xg)
                for b in range(n2):
                    v2[b] = cond[0, b] * (v2[b] - cg)
        elif method == 1 or method == 5:  # conditional: agent 1 through p = x(a) c_a(b), agent 2 per row
            for a in range(n1):
                d1[a] = 0.0
                for b in range(n2):
                    d1[a] += cond[a, b] * G[a, b]
            if method == 1:
                xg = 0.0
                for a in range(n1):
                    xg += x[a] * d1[a]
                for a in range(n1):
                    for b in range(n2):
                        d2[a, b] = x[a] * cond[a, b] * (G[a, b] - d1[a])
                for a in range(n1):
                    d1[a] = x[a] * (d1[a] - xg)
            else:
                for a in range(n1):
                    for b in range(n2):
                        d2[a, b] = G[a, b]
        elif method == 2:  # ratio targets against the other's product policy
            for a in range(n1):
                d1[a] = _row_ratio(R, S, cond[0], a)
            for b in range(n2):
                nu = 0.0
                de = 0.0
                for a in range(n1):
                    nu += R[a, b] * x[a]
                    de += S[a, b] * x[a]
                v2[b] = nu / de
        else:  # 3, sequential: agent 1 against agent 2's marginal, agent 2 the pure ratios
            _marginal_into(x, cond, v2)
            for a in range(n1):
                d1[a] = _row_ratio(R, S, v2, a)
                for b in range(n2):
                    d2[a, b] = R[a, b] / S[a, b]
        for a in range(n1):
            th[a] += eta * d1[a]
            for b in range(n2):
                zz[a, b] += eta * (v2[b] if product else d2[a, b])
    return out
