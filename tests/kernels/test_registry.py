"""Every kernel of the registry (mappo_lite.kernels.KERNELS) against its NumPy twin on random inputs.

One builder per registered name makes the arguments from a random generator (hypothesis draws the seed and the
sizes); the test fails when a kernel is registered without a builder, so a new kernel cannot skip the check.
Deterministic kernels must agree to 1e-10; the Monte Carlo kernels (dense and sparse; their random streams differ)
must agree in distribution: means within 5 standard errors. The switch (``numpy_twins``) is checked to route every call.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappo_lite import evaluate, kernels, make_game
from mappo_lite.kernels import KERNELS, numpy_twins, numpy_twins_active
from mappo_lite.policies import context_counts
from tests.fixtures import concat_tables, cumulative_concat

TOL = 1e-10


def _tables(rng, S, sizes):
    tabs = []
    for c, A in zip(context_counts(S, sizes), sizes):
        x = np.exp(rng.standard_normal((c, A)))
        tabs.append(x / x.sum(axis=1, keepdims=True))
    return tabs


def _game(rng, S, sizes, gamma=0.8):
    J = int(np.prod(sizes))
    P = rng.dirichlet(np.ones(S), size=(S, J))
    return P, rng.random((S, J)), gamma


def _mc_args(rng, S, sizes):
    P, r, gamma = _game(rng, S, sizes)
    P_cum = np.cumsum(P, axis=-1)
    P_cum[..., -1] = 1.0
    pi_cum, offsets = cumulative_concat(_tables(rng, S, sizes))
    return np.ascontiguousarray(P_cum), r, gamma, pi_cum, offsets, np.asarray(sizes, np.int64)


def _sparse(rng, S, sizes, K=3):
    J = int(np.prod(sizes))
    nxt = rng.integers(0, S, size=(S, J, K)).astype(np.int64)
    pr = rng.dirichlet(np.ones(K), size=(S, J))
    pr[..., -1] = np.where(rng.random((S, J)) < 0.3, 0.0, pr[..., -1])  # some padding entries
    pr /= pr.sum(axis=-1, keepdims=True)
    pi = _tables(rng, S, (J,))[0]
    return nxt, pr, rng.random((S, J)), pi


def _sgd(rng, n_ctx, A, d, T):
    phi = rng.standard_normal((n_ctx, A, d))
    phi /= np.maximum(1.0, np.linalg.norm(phi, axis=-1, keepdims=True))
    ctx, act = rng.integers(0, n_ctx, T).astype(np.int64), rng.integers(0, A, T).astype(np.int64)
    return phi, ctx, act, rng.standard_normal(T), rng.standard_normal(d) * 0.3


def _build(name, rng, S, sizes):
    """The arguments of kernel ``name`` for a game with S states and these action sizes."""
    J = int(np.prod(sizes))
    if name in ("softmax_rows", "log_softmax_rows", "tabular_softmax_score"):
        return (rng.standard_normal((S * 3, sizes[0])) * 4,)
    if name == "softmax_score":
        return rng.standard_normal((S * 2, sizes[0], 4)), rng.standard_normal(4)
    if name == "joint_policy":
        pi, off = concat_tables(_tables(rng, S, sizes))
        return pi, off, np.asarray(sizes, np.int64), S
    if name == "policy_transition_reward":
        S2 = int(rng.choice([S, 40]))  # a few or 40 successor states (the loop adds four rows of P per pass)
        P = rng.dirichlet(np.ones(S2), size=(S, J))
        pi = _tables(rng, S, (J,))[0]
        pi[rng.random(S) < 0.5] *= rng.random(J) < 0.2  # some sparse rows (zero-probability actions are skipped)
        return P, rng.random((S, J)), pi
    if name == "q_from_v":
        S2 = int(rng.choice([S, 40]))  # 40 successor states: the BLAS branch (BLAS_MIN_STATES)
        P = rng.dirichlet(np.ones(S2), size=(S, J))
        return P, rng.random((S, J)), 0.8, rng.standard_normal(S2)
    if name == "policy_iteration":
        P, r, gamma = _game(rng, S, sizes, gamma=0.9)
        return P, r, gamma, 1000
    if name == "mappo_exact_ideal":
        P, r, gamma = _game(rng, S, sizes)
        theta0, off = concat_tables([rng.standard_normal(t.shape) for t in _tables(rng, S, sizes)])
        radius = float(rng.choice([math.inf, 2.0, 0.5]))
        rho = rng.dirichlet(np.ones(S))
        return P, r, rho, gamma, theta0, off, np.asarray(sizes, np.int64), 3, 0.3, radius, bool(rng.integers(0, 2))
    if name == "level_offsets_for":
        return np.asarray(sizes, np.int64), S
    if name == "backward_sweep":
        pi, off = concat_tables(_tables(rng, S, sizes))
        return rng.standard_normal((S, J)), pi, off, np.asarray(sizes, np.int64)
    if name == "mc_localized_q":
        n = 3000
        m = int(rng.integers(0, len(sizes) + 1))
        prefix = np.zeros((n, len(sizes)), dtype=np.int64)
        prefix[:, :m] = [int(rng.integers(0, a)) for a in sizes[:m]]
        return (*_mc_args(rng, S, sizes), np.full(n, int(rng.integers(0, S)), np.int64), prefix, m, 1, 100_000, 7)
    if name == "rollout_steps":
        return (*_mc_args(rng, S, sizes), np.array([0], np.int64), 20_000, 3)
    if name == "projected_sgd":
        phi, ctx, act, y, th = _sgd(rng, S, sizes[0], 3, 40)
        return phi, ctx, act, y, th, np.zeros(3), 0.25, float(rng.choice([math.inf, 1.0, 0.1]))
    if name == "projected_sgd_tabular":
        A = sizes[0]
        ctx, act = rng.integers(0, S, 40).astype(np.int64), rng.integers(0, A, 40).astype(np.int64)
        th = rng.standard_normal(S * A) * 0.3
        return ctx, act, A, rng.standard_normal(40), th, th.copy(), 0.1, float(rng.choice([math.inf, 1.0, 0.1]))
    if name == "stream_read":
        return (rng.standard_normal(int(rng.integers(0, 50))),)
    if name in ("sparse_q_from_v", "sparse_policy_rows", "sparse_policy_csr"):
        nxt, pr, r, pi = _sparse(rng, S, sizes)
        if name == "sparse_q_from_v":
            return nxt, pr, r, 0.9, rng.standard_normal(S)
        return nxt, pr, r, pi
    if name in ("mc_localized_q_sparse", "rollout_steps_sparse"):
        nxt, pr, r, _ = _sparse(rng, S, sizes)
        cum = np.cumsum(pr, axis=-1)
        last = pr.shape[-1] - 1 - np.argmax((pr > 0)[..., ::-1], axis=-1)
        cum = np.where(np.arange(pr.shape[-1]) >= last[..., None], 1.0, cum)  # the library's sparse_rollout_tables
        pi_cum, offsets = cumulative_concat(_tables(rng, S, sizes))
        head = (nxt, np.ascontiguousarray(cum), r, 0.8, pi_cum, offsets, np.asarray(sizes, np.int64))
        if name == "rollout_steps_sparse":
            return (*head, np.array([0], np.int64), 20_000, 3)
        n = 3000
        m = int(rng.integers(0, len(sizes) + 1))
        prefix = np.zeros((n, len(sizes)), dtype=np.int64)
        prefix[:, :m] = [int(rng.integers(0, a)) for a in sizes[:m]]
        return (*head, np.full(n, int(rng.integers(0, S)), np.int64), prefix, m, 1, 100_000, 7)
    if name == "accumulate_bellman_system":
        d, n = 4, 30
        psi = rng.standard_normal((S * J, d)) * (rng.random((S * J, d)) < 0.6)
        nxt = rng.integers(-1, S, n).astype(np.int64)
        return psi, rng.integers(0, S * J, n).astype(np.int64), rng.standard_normal((S, d)), nxt, rng.random(n)
    if name == "ratio_sequential":
        R, Sm = make_game("ratio").r[0], 1.0 - make_game("ratio").P[0, :, :, 0]
        return rng.standard_normal(2), rng.standard_normal((2, 2)), 0.1, 30, bool(rng.integers(0, 2)), R, Sm
    if name == "ratio_independent_pg":
        R, Sm = make_game("ratio").r[0], 1.0 - make_game("ratio").P[0, :, :, 0]
        return rng.standard_normal(2), rng.standard_normal(2), 0.1, 30, R, Sm
    if name == "ratio_ablation":
        R, Sm = make_game("ratio").r[0], 1.0 - make_game("ratio").P[0, :, :, 0]
        method = int(rng.integers(0, 6))
        z = rng.standard_normal((2, 2))
        if method in (0, 2, 4):  # a product method starts (and stays) with equal rows
            z[1] = z[0]
        return method, rng.standard_normal(2), z, 0.1, 30, R, Sm
    raise KeyError(name)


def _flat(x):
    return [np.asarray(x, dtype=np.float64)] if not isinstance(x, tuple) else [np.asarray(v, np.float64) for v in x]


def test_every_kernel_has_a_builder_and_a_twin():
    rng = np.random.default_rng(0)
    for name, k in KERNELS.items():
        _build(name, rng, 2, (2, 2))  # raises KeyError for a kernel without a builder
        assert k.numba is not k.numpy and callable(k.numpy), name
        assert getattr(kernels, name).kernel is k, name  # the package function dispatches this entry


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    S=st.integers(1, 4),
    sizes=st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple),
)
@pytest.mark.parametrize("name", [n for n, k in KERNELS.items() if not k.stochastic])
def test_kernel_equals_its_numpy_twin(name, seed, S, sizes):
    k = KERNELS[name]
    args = _build(name, np.random.default_rng(seed), S, sizes)
    got, ref = _flat(k.numba(*args)), _flat(k.numpy(*args))
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert g.shape == r.shape, name
        np.testing.assert_allclose(g, r, atol=TOL, rtol=1e-10, err_msg=name)


@pytest.mark.parametrize("name", [n for n, k in KERNELS.items() if k.stochastic])
def test_stochastic_kernel_agrees_with_its_twin_in_distribution(name):
    k = KERNELS[name]
    args = _build(name, np.random.default_rng(5), 3, (2, 2))
    if name in ("mc_localized_q", "mc_localized_q_sparse"):
        a, b = k.numba(*args), k.numpy(*args)
        se = math.hypot(a.std(ddof=1) / math.sqrt(a.size), b.std(ddof=1) / math.sqrt(b.size))
        assert abs(a.mean() - b.mean()) <= 5 * se + 1e-12
    else:
        (ma, na), (mb, nb) = k.numba(*args), k.numpy(*args)
        assert abs(ma - mb) <= 0.1 * max(1.0, abs(ma)) and abs(na - nb) <= 0.1 * max(na, nb)


def test_numpy_twins_switch_routes_every_call():
    game = make_game("random", n_states=4, n_agents=2, n_actions=[2, 3], gamma=0.9, seed=1)
    fast = evaluate(game, "uniform")
    assert not numpy_twins_active()
    with numpy_twins():
        assert numpy_twins_active()
        slow = evaluate(game, "uniform")
        with numpy_twins(False):
            assert not numpy_twins_active()
        assert numpy_twins_active()
    assert not numpy_twins_active()
    np.testing.assert_allclose(slow.V, fast.V, atol=1e-12)
    np.testing.assert_allclose(slow.q_local[1], fast.q_local[1], atol=1e-12)
