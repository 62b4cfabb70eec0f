"""The benchmark's second reference (mappo_lite.bench.einsum) computes what the fused kernels compute.

Random inputs, edge shapes (one action, one context, one agent), tolerances relative to the values' scale.
"""

from __future__ import annotations

import numpy as np
import pytest

from mappo_lite.bench import einsum as E
from mappo_lite.kernels import core as K
from mappo_lite.policies import context_counts
from tests.fixtures import concat_tables


def _close(got, ref):
    for g, r in zip(got if isinstance(got, tuple) else (got,), ref if isinstance(ref, tuple) else (ref,)):
        assert g.shape == r.shape
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12 * (1 + np.max(np.abs(r), initial=0)))


@pytest.mark.parametrize("n, A", [(1, 1), (1, 4), (7, 1), (300, 2), (1000, 8)])
def test_tabular_softmax_score(n, A):
    logits = np.random.default_rng(n + A).standard_normal((n, A)) * 30  # large logits: the stable softmax matters
    _close(E.tabular_softmax_score(logits), K.tabular_softmax_score(logits))


@pytest.mark.parametrize("n, A, d", [(1, 1, 1), (5, 1, 3), (200, 4, 8), (1000, 8, 2)])
def test_softmax_score(n, A, d):
    rng = np.random.default_rng(n * A * d)
    phi = rng.standard_normal((n, A, d))
    phi /= np.linalg.norm(phi, axis=-1, keepdims=True)
    theta = rng.standard_normal(d) * 20
    _close(E.softmax_score(phi, theta), K.softmax_score(phi, theta))


@pytest.mark.parametrize("S, sizes", [(1, (1,)), (1, (3,)), (4, (2, 3)), (40, (5, 5)), (6, (2, 1, 3, 2))])
def test_backward_sweep(S, sizes):
    rng = np.random.default_rng(S + len(sizes))
    tabs = []
    for c, A in zip(context_counts(S, sizes), sizes):
        x = rng.random((c, A)) + 1e-3
        tabs.append(x / x.sum(axis=1, keepdims=True))
    pi, off = concat_tables(tabs)
    Q = rng.standard_normal((S, int(np.prod(sizes))))
    a = np.asarray(sizes, np.int64)
    _close(E.backward_sweep(Q, pi, off, a), K.backward_sweep(Q, pi, off, a))
