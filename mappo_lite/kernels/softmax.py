r"""The one NumPy home of the softmax, the log-softmax and log-sum-exp (the policies of the paper's Eq. (2); chapter
4 of the book).

.. math:: \mathrm{softmax}(z)_a = \frac{e^{z_a - \max_b z_b}}{\sum_{b} e^{z_b - \max_b z_b}},\qquad
          \log\mathrm{softmax}(z)_a = (z_a - \max_b z_b) - \log\sum_b e^{z_b - \max_b z_b}

shifted by the maximum, so large logits never overflow. Every NumPy caller of the library (the ratio-game experiment,
HAPPO's log-probabilities, the figures, the NumPy twins of :mod:`.reference`) uses these functions. The numba side
has one home too, :mod:`.core`: the row kernels ``softmax_rows`` / ``log_softmax_rows`` (registered with their twins)
and :func:`.core.softmax_vector_into`, the scalar loop the other jitted kernels call.
"""

from __future__ import annotations

import numpy as np

__all__ = ["log_softmax", "logsumexp", "softmax"]


def softmax(z, axis: int = -1) -> np.ndarray:
    """Stable softmax of ``z`` along ``axis`` (each slice sums to 1)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z, axis: int = -1) -> np.ndarray:
    """Stable log-softmax of ``z`` along ``axis``."""
    z = np.asarray(z, dtype=np.float64)
    z = z - np.max(z, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def logsumexp(z, axis: int = -1) -> np.ndarray:
    r"""Stable :math:`\log\sum_a e^{z_a}` along ``axis`` (that axis removed)."""
    z = np.asarray(z, dtype=np.float64)
    mx = np.max(z, axis=axis, keepdims=True)
    return np.squeeze(mx, axis=axis) + np.log(np.sum(np.exp(z - mx), axis=axis))
