"""The softmax's one home: the NumPy functions of mappo_lite.kernels.softmax and the numba ones of kernels.core
(the row kernels and the vector helper the ratio kernels call) agree, stay finite at huge logits and sum to 1."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mappo_lite.kernels import core as K
from mappo_lite.kernels.softmax import log_softmax, logsumexp, softmax

SHAPES = [(1, 1), (1, 2), (5, 3), (700, 4), (3, 600)]  # one row, one action, more rows than a numba block


def _logits(shape, scale, seed):
    return scale * np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", [1.0, 50.0, 1e6])
def test_rows_sum_to_one_and_numba_agrees_with_numpy(shape, scale):
    z = _logits(shape, scale, seed=shape[0] * shape[1])
    p_np, p_nb = softmax(z, axis=1), K.softmax_rows(z)
    assert np.all(np.isfinite(p_np)) and np.all(p_np >= 0)
    # each row is a sum of A terms in [0, 1]: rounding of about A ulps of 1
    np.testing.assert_allclose(p_np.sum(axis=1), 1.0, rtol=4 * shape[1] * np.finfo(float).eps)
    np.testing.assert_allclose(p_nb.sum(axis=1), 1.0, rtol=4 * shape[1] * np.finfo(float).eps)
    # numba's exp (Cody-Waite + Cephes, < 2.3e-16 relative) vs NumPy's: relative agreement on every entry
    np.testing.assert_allclose(p_nb, p_np, rtol=1e-14, atol=1e-300)
    lp_np, lp_nb = log_softmax(z, axis=1), K.log_softmax_rows(z)
    assert np.all(np.isfinite(lp_np))
    np.testing.assert_allclose(lp_nb, lp_np, rtol=1e-13, atol=1e-13 * max(1.0, np.abs(z).max()))
    # log-sum-exp is consistent with both: log softmax = z - logsumexp(z)
    scale = max(1.0, np.abs(z).max(), np.abs(lp_np).max())  # rounding of the shift and of the log, a few ulps of it
    np.testing.assert_allclose(z - logsumexp(z, axis=1)[:, None], lp_np, rtol=0, atol=8 * np.finfo(float).eps * scale)


def test_large_logits_do_not_overflow():
    z = np.array([[1e300, 1e300 - 1e285, -1e300], [800.0, 799.0, -800.0]])
    p = softmax(z, axis=1)
    assert np.all(np.isfinite(p))
    e = math.exp(-1)
    np.testing.assert_allclose(p[1], [1 / (1 + e), e / (1 + e), 0.0], rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(K.softmax_rows(z[1:]), p[1:], rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(logsumexp(z[1]), 800.0 + math.log1p(e + math.exp(-1600)), rtol=1e-15)
    assert math.isfinite(logsumexp(np.array([1e308, 1e308])))  # the naive sum of exponentials overflows


@pytest.mark.parametrize("n", [1, 2, 7])
def test_vector_helper_used_by_the_ratio_kernels_matches_numpy(n):
    z = _logits(n, 30.0, seed=n)
    out = np.empty(n)
    K.softmax_vector_into(z, out)
    np.testing.assert_allclose(out, softmax(z), rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(out.sum(), 1.0, rtol=4 * n * np.finfo(float).eps)


def test_axis_argument():
    z = _logits((3, 4, 5), 3.0, seed=1)
    for axis in (0, 1, -1):
        np.testing.assert_allclose(softmax(z, axis=axis).sum(axis=axis), 1.0, rtol=1e-14)
        np.testing.assert_allclose(np.exp(log_softmax(z, axis=axis)), softmax(z, axis=axis), rtol=1e-14)
