r"""numba kernels of the ratio-game experiment (:mod:`mappo_lite.experiments.ratio`, the paper's Figure 1); twins
of the same names in :mod:`.reference`."""

from __future__ import annotations

import numba
import numpy as np

from .core import softmax_vector_into as _softmax_into


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
        _softmax_into(th, x)
        for a in range(n1):
            _softmax_into(zz[a], cond[a])
        num = 0.0
        den = 0.0
        for a in range(n1):
            for b in range(n2):
                pab = x[a] * cond[a, b]
                num += pab * R[a, b]
                den += pab * S[a, b]
        out[k] = num / den
        if k == iterations:
            break
        if conditional:
            for a in range(n1):
                nu = 0.0
                de = 0.0
                for b in range(n2):
                    nu += R[a, b] * cond[a, b]
                    de += S[a, b] * cond[a, b]
                q1[a] = nu / de
        else:
            for b in range(n2):
                marg[b] = 0.0
                for a in range(n1):
                    marg[b] += x[a] * cond[a, b]
            for a in range(n1):
                nu = 0.0
                de = 0.0
                for b in range(n2):
                    nu += R[a, b] * marg[b]
                    de += S[a, b] * marg[b]
                q1[a] = nu / de
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
