r"""Well-written NumPy versions of the fused kernels: the benchmark's second reference (issue 15, req. 5).

The NumPy twins in :mod:`mappo_lite.kernels.reference` are written the obvious way, to check the kernels; these are
written to be fast: outputs allocated once and filled with ``out=``, ``np.einsum`` for the contractions, broadcasting
instead of materialized temporaries where NumPy allows it. A fused kernel that is slower than these is not worth its
code. Same arguments and results as the kernels of the same name (:mod:`mappo_lite.kernels.core`);
``tests/bench/test_einsum.py`` checks that they agree. The core never imports this module.
"""

from __future__ import annotations

import numpy as np


def _softmax_into(logits: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Row-wise stable softmax of ``logits`` (n, A) written to ``out`` (may be ``logits`` itself)."""
    np.subtract(logits, logits.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def tabular_softmax_score(logits):
    r"""``(probs, score)``: :math:`\pi(\cdot|c)` = softmax of the logits (n, A), and the score block
    :math:`e_a - \pi(\cdot|c)` of shape (n, A, A), one broadcast subtraction into the output."""
    n, A = logits.shape
    probs = _softmax_into(logits, np.empty((n, A)))
    score = np.empty((n, A, A))
    np.subtract(np.eye(A)[None, :, :], probs[:, None, :], out=score)
    return probs, score


def softmax_score(phi, theta):
    r"""``(probs, score)`` for dense features phi (n, A, d): logits :math:`\phi\theta` (einsum), softmax in place,
    and :math:`\phi(c,a) - \sum_b\pi(b|c)\phi(c,b)` by one einsum for the mean and one broadcast subtraction."""
    n, A, d = phi.shape
    probs = np.einsum("nad,d->na", phi, theta)
    _softmax_into(probs, probs)
    mean = np.einsum("na,nad->nd", probs, phi)
    score = np.empty((n, A, d))
    np.subtract(phi, mean[:, None, :], out=score)
    return probs, score


def backward_sweep(Q_flat, pi_concat, offsets, action_sizes):
    r"""All levels :math:`Q^{1:N} = Q, Q^{1:N-1}, …, Q^{1:0} = V` concatenated as the kernel returns them: the top
    level copied into the output once, then each lower level one einsum over the level above, written in place."""
    S = Q_flat.shape[0]
    N = len(action_sizes)
    sizes = [S]
    for A in action_sizes:
        sizes.append(sizes[-1] * int(A))
    loff = np.concatenate([[0], np.cumsum(sizes)])
    out = np.empty(int(loff[-1]))
    out[loff[N] : loff[N + 1]] = Q_flat.reshape(-1)
    for m in range(N, 0, -1):
        A = int(action_sizes[m - 1])
        n_ctx = sizes[m - 1]
        pi = pi_concat[offsets[m - 1] : offsets[m - 1] + n_ctx * A].reshape(n_ctx, A)
        above = out[loff[m] : loff[m + 1]].reshape(n_ctx, A)
        np.einsum("ca,ca->c", pi, above, out=out[loff[m - 1] : loff[m]])
    return out
