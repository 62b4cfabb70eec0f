"""Every numba kernel in mappo_lite/kernels/ against its plain-NumPy twin in mappo_lite/kernels/reference.py.

Random inputs over several shapes (N = 1, 2, 3; unequal action sizes; a single context), to 1e-10. The Monte
Carlo kernel is checked statistically: its mean (and the reference estimator's) lies within a few standard errors
of the exact Q^{1:m} from evaluate(), on a random game and on the ratio game (gamma = 1, stopping rows).
"""

from __future__ import annotations

import math
import os

import numba
import numpy as np
import pytest

from mappo_lite import evaluate, make_game
from mappo_lite.kernels import core as K
from mappo_lite.kernels import reference as R
from tests.fixtures import (
    brute_joint,
    brute_Q,
    brute_q_local,
    concat_tables,
    cond_tables,
    cumulative_concat,
    iterative_V,
    make_random_game,
)

# Kernel vs NumPy twin: the same formulas in another summation order / with or without FMA, so a few ulps per
# operation. Inputs are O(1)-O(10) (probabilities, V*10, Q*5, targets*3): TOL is >= 1e4 ulps of that scale; RTOL
# (~450 ulps) covers the larger outputs (log-softmax of logits*50, unprojected SGD iterates).
TOL = 1e-10
RTOL = 1e-13

# (n_states, action sizes): N = 1, 2, 3, unequal sizes, single state (and so a single context for agent 1)
SHAPES = [(1, (3,)), (4, (2,)), (3, (2, 3)), (1, (4, 2)), (2, (3, 1, 2)), (2, (2, 2, 3))]
shape_ids = [f"S{S}-A{'x'.join(map(str, sizes))}" for S, sizes in SHAPES]


def _random_tables(rng, S, sizes, spiky=False):
    tabs, n_ctx = [], S
    for A in sizes:
        logits = rng.standard_normal((n_ctx, A)) * (6.0 if spiky else 1.0)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        tabs.append(e / e.sum(axis=1, keepdims=True))
        n_ctx *= A
    return tabs


# ------------------------------------------------------------------------------------------------------------
# softmax family
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, A", [(1, 1), (1, 5), (7, 2), (20, 6)])
def test_softmax_and_log_softmax(n, A):
    rng = np.random.default_rng(n * 10 + A)
    for scale in (0.1, 3.0, 50.0):
        x = rng.standard_normal((n, A)) * scale
        np.testing.assert_allclose(K.softmax_rows(x), R.softmax_rows(x), atol=TOL, rtol=RTOL)
        np.testing.assert_allclose(K.log_softmax_rows(x), R.log_softmax_rows(x), atol=TOL, rtol=1e-13)
        np.testing.assert_allclose(K.softmax_rows(x).sum(axis=1), 1.0, atol=1e-13)  # probabilities: ~450 ulps of 1
        # log-softmax carries an absolute error of a few ulps of the logits' scale, and exp turns it into that
        # relative error on p <= 1
        np.testing.assert_allclose(
            np.exp(K.log_softmax_rows(x)), K.softmax_rows(x), atol=1e-13 * max(1.0, np.abs(x).max())
        )


def test_extreme_logits_stay_finite():
    x = np.array([[1e3, -1e3, 0.0], [-1e3, -1e3, -1e3], [1e3, 1e3, -1e3], [-1e3, 1e3 - 5, 1e3]])
    p, lp = K.softmax_rows(x), K.log_softmax_rows(x)
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(lp))
    np.testing.assert_allclose(p, R.softmax_rows(x), atol=TOL)
    np.testing.assert_allclose(lp, R.log_softmax_rows(x), atol=1e-9, rtol=1e-13)
    np.testing.assert_allclose(p[1], 1 / 3, atol=1e-13)  # probabilities: ~450 ulps of 1
    np.testing.assert_allclose(p[2], [0.5, 0.5, 0.0], atol=1e-13)
    assert lp[0, 1] == pytest.approx(-2000.0, rel=1e-12)
    assert lp[3, 2] == pytest.approx(-math.log1p(math.exp(-5)), rel=1e-12)
    pp, score = K.softmax_score(np.eye(3)[None, :, :] * 1.0, np.array([1e3, -1e3, 0.0]))
    assert np.all(np.isfinite(pp)) and np.all(np.isfinite(score))


@pytest.mark.parametrize("n, A, d", [(1, 3, 2), (5, 2, 4), (12, 4, 3), (3, 1, 2)])
def test_softmax_score(n, A, d):
    rng = np.random.default_rng(n + A + d)
    phi = rng.standard_normal((n, A, d))
    phi /= np.maximum(1.0, np.linalg.norm(phi, axis=-1, keepdims=True))
    theta = rng.standard_normal(d) * 3
    p_k, s_k = K.softmax_score(phi, theta)
    p_r, s_r = R.softmax_score(phi, theta)
    np.testing.assert_allclose(p_k, p_r, atol=TOL, rtol=RTOL)
    np.testing.assert_allclose(s_k, s_r, atol=TOL, rtol=RTOL)
    # score identity: E_{a ~ pi(.|c)} score(c, a) = 0
    np.testing.assert_allclose(np.einsum("ca,cad->cd", p_k, s_k), 0.0, atol=1e-13)
    # score = gradient of log pi by central differences
    h = 1e-6
    for k in range(d):
        e = np.zeros(d)
        e[k] = h
        fd = (R.log_softmax_rows(phi @ (theta + e)) - R.log_softmax_rows(phi @ (theta - e))) / (2 * h)
        np.testing.assert_allclose(s_k[:, :, k], fd, atol=1e-7)


@pytest.mark.parametrize("n, A", [(1, 1), (1, 4), (6, 3), (10, 2)])
def test_tabular_softmax_score(n, A):
    rng = np.random.default_rng(n * A)
    logits = rng.standard_normal((n, A)) * 2
    p_k, s_k = K.tabular_softmax_score(logits)
    p_r, s_r = R.tabular_softmax_score(logits)
    np.testing.assert_allclose(p_k, p_r, atol=TOL, rtol=RTOL)
    np.testing.assert_allclose(s_k, s_r, atol=TOL, rtol=RTOL)
    np.testing.assert_allclose(np.einsum("ca,cab->cb", p_k, s_k), 0.0, atol=1e-13)  # scale 1: ~450 ulps
    # equals the dense score with one-hot features, restricted to the context's block
    phi = np.eye(n * A).reshape(n, A, n * A)
    _, dense = R.softmax_score(phi, logits.ravel())
    for c in range(n):
        np.testing.assert_allclose(s_k[c], dense[c][:, c * A : (c + 1) * A], atol=1e-13)  # scale 1
    h = 1e-6
    for c in range(n):
        for b in range(A):
            lp, lm = logits.copy(), logits.copy()
            lp[c, b] += h
            lm[c, b] -= h
            fd = (R.log_softmax_rows(lp) - R.log_softmax_rows(lm))[c] / (2 * h)
            np.testing.assert_allclose(s_k[c, :, b], fd, atol=1e-8)


# ------------------------------------------------------------------------------------------------------------
# joint policy, P_pi / r_pi, Q from V, backward sweep
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("S, sizes", SHAPES, ids=shape_ids)
def test_joint_policy(S, sizes):
    rng = np.random.default_rng(S + len(sizes))
    tabs = _random_tables(rng, S, sizes)
    pi_concat, offsets = concat_tables(tabs)
    a = np.asarray(sizes, np.int64)
    got = K.joint_policy(pi_concat, offsets, a, S)
    np.testing.assert_allclose(got, R.joint_policy(pi_concat, offsets, a, S), atol=TOL, rtol=RTOL)
    assert got.shape == (S, int(np.prod(sizes)))
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-13)


@pytest.mark.parametrize("S, sizes", SHAPES, ids=shape_ids)
def test_policy_transition_reward_and_q_from_v(S, sizes):
    rng = np.random.default_rng(7 * S + len(sizes))
    J = int(np.prod(sizes))
    P_flat = rng.dirichlet(np.ones(S), size=(S, J))
    r_flat = rng.standard_normal((S, J))
    pi_joint = rng.dirichlet(np.ones(J), size=S)
    pi_joint[0, 0] = 0.0  # an exact zero exercises the kernel's skip branch
    pi_joint[0] /= pi_joint[0].sum()
    P_k, r_k = K.policy_transition_reward(P_flat, r_flat, pi_joint)
    P_r, r_r = R.policy_transition_reward(P_flat, r_flat, pi_joint)
    np.testing.assert_allclose(P_k, P_r, atol=TOL, rtol=RTOL)
    np.testing.assert_allclose(r_k, r_r, atol=TOL, rtol=RTOL)
    V = rng.standard_normal(S) * 10
    for gamma in (0.0, 0.5, 1.0):
        np.testing.assert_allclose(
            K.q_from_v(P_flat, r_flat, gamma, V), R.q_from_v(P_flat, r_flat, gamma, V), atol=TOL, rtol=RTOL
        )


@pytest.mark.parametrize(
    "S, J, S2",
    [
        (3, 7, 5),  # the loops (fewer than 32 successor states)
        (3, 7, 40),  # one BLAS call for all rows
        (4, 25_000, 40),  # 4e6 entries: one BLAS call per state
    ],
)
def test_every_branch_of_q_from_v_and_the_assembly(S, J, S2):
    """q_from_v's loops and BLAS branches (kernels.core.BLAS_MIN_STATES, BLAS_ONE_CALL_MAX_ENTRIES) and the assembly
    against the twins, with dense and sparse rows of the policy (the assembly skips joint actions of probability 0)."""
    assert (S2 >= K.BLAS_MIN_STATES) == (S2 == 40)
    assert (S * J * S2 >= K.BLAS_ONE_CALL_MAX_ENTRIES) == (J == 25_000)
    rng = np.random.default_rng(S2 + J)
    P = rng.random((S, J, S2))
    P /= P.sum(axis=-1, keepdims=True)
    r, V = rng.standard_normal((S, J)), rng.standard_normal(S2)
    pi = rng.random((S, J))
    keep = rng.random(J) < 0.1
    keep[0] = True
    pi[0] *= keep  # a sparse row (at least one action played)
    pi /= pi.sum(axis=1, keepdims=True)
    scale = 1.0 + np.max(np.abs(r)) + np.max(np.abs(V))
    np.testing.assert_allclose(K.q_from_v(P, r, 0.9, V), R.q_from_v(P, r, 0.9, V), rtol=0, atol=1e-12 * scale)
    for got, ref in zip(K.policy_transition_reward(P, r, pi), R.policy_transition_reward(P, r, pi)):
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize("played", range(1, 10))
def test_the_assembly_for_every_count_of_played_joint_actions(played):
    """policy_transition_reward adds the rows of P of the played joint actions four at a time, then the rest: every
    count modulo 4, played actions anywhere among the 11 (first and last included), against the twin."""
    S, J, S2 = 5, 11, 37
    rng = np.random.default_rng(played)
    P = rng.dirichlet(np.ones(S2), size=(S, J))
    r = rng.standard_normal((S, J))
    pi = np.zeros((S, J))
    for s in range(S):
        cols = rng.choice(J, size=played, replace=False) if s else np.arange(J - played, J)
        pi[s, cols] = rng.dirichlet(np.ones(played))
    for got, ref in zip(K.policy_transition_reward(P, r, pi), R.policy_transition_reward(P, r, pi)):
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-14 * (1.0 + np.max(np.abs(r))))
    P_pi = K.policy_transition_reward(P, r, pi)[0]
    np.testing.assert_allclose(P_pi.sum(axis=1), 1.0, rtol=0, atol=1e-14)  # rows of P_pi are distributions


@pytest.mark.parametrize("S, sizes", SHAPES, ids=shape_ids)
def test_backward_sweep_and_level_offsets(S, sizes):
    rng = np.random.default_rng(11 * S + len(sizes))
    tabs = _random_tables(rng, S, sizes, spiky=True)
    pi_concat, offsets = concat_tables(tabs)
    a = np.asarray(sizes, np.int64)
    Q_flat = rng.standard_normal((S, int(np.prod(sizes)))) * 5
    got = K.backward_sweep(Q_flat, pi_concat, offsets, a)
    np.testing.assert_allclose(got, R.backward_sweep(Q_flat, pi_concat, offsets, a), atol=TOL, rtol=RTOL)
    loff = K.level_offsets_for(a, S)
    np.testing.assert_array_equal(loff, R.level_offsets_for(a, S))
    # level m is the average of level m+1 under agent m+1's table (checked level by level)
    for m in range(len(sizes)):
        lower = got[loff[m] : loff[m + 1]]
        upper = got[loff[m + 1] : loff[m + 2]].reshape(-1, sizes[m])
        np.testing.assert_allclose(lower, (tabs[m] * upper).sum(axis=1), atol=TOL)


@pytest.mark.parametrize("A", range(1, max(K.SWEEP_UNROLLED_ACTIONS) + 3))
def test_backward_sweep_every_unrolled_size(A):
    # each size of SWEEP_UNROLLED_ACTIONS has its own branch (the size a literal), for the last agent (_sweep_top)
    # and for a lower one (_sweep_level); sizes outside take the general loop: all of them against the twin
    rng = np.random.default_rng(A)
    for sizes in ((A, 3), (3, A), (A, A, 2)):
        S = 4
        pi_concat, offsets = concat_tables(_random_tables(rng, S, sizes, spiky=True))
        a = np.asarray(sizes, np.int64)
        Q_flat = rng.standard_normal((S, int(np.prod(sizes)))) * 5
        np.testing.assert_allclose(
            K.backward_sweep(Q_flat, pi_concat, offsets, a),
            R.backward_sweep(Q_flat, pi_concat, offsets, a),
            atol=TOL,
            rtol=RTOL,
        )


@pytest.mark.parametrize(
    "kernel, outputs", list(K.NOALIAS_KERNELS.items()), ids=[k.py_func.__name__ for k in K.NOALIAS_KERNELS]
)
def test_noalias_kernels_compile_with_noalias_outputs(kernel, outputs):
    # _NoAliasCompiler sets a private numba flag; if a numba release ignores it, the kernels stay correct but lose
    # their vectorized stores: this fails instead, naming the kernel
    K.softmax_score(np.ones((3, 2, 2)), np.ones(2))
    K.tabular_softmax_score(np.ones((3, 2)))
    for S in (2, 12_000):  # Q up to 2**16 entries: one compiled call, which calls the kernel; larger: the wrapper
        K.backward_sweep(np.ones((S, 6)), np.full(8 * S, 0.5), np.array([0, 2 * S, 8 * S]), np.array([2, 3]))
    assert kernel.signatures
    # numba cannot show the IR of code loaded from its cache: compile the same function with the same options again
    fresh = numba.njit(
        pipeline_class=kernel._compiler.pipeline_class,
        **{k: v for k, v in kernel.targetoptions.items() if k not in ("cache", "nopython")},
    )(kernel.py_func)
    for sig in kernel.signatures:
        fresh.compile(sig)
    name = kernel.py_func.__name__
    for ir in fresh.inspect_llvm().values():
        define = next(line for line in ir.splitlines() if line.startswith("define") and name in line)
        for arg in outputs:  # member 4 of a numba array argument is its data pointer
            assert f"noalias writeonly captures(none) %arg.{arg}.4" in define or (
                f"noalias captures(none) %arg.{arg}.4" in define
            ), (name, arg)


_COMPILE_ORDER = """
import sys
import numpy as np
from mappo_lite import kernels as K
phi = np.random.default_rng(0).standard_normal((50, 4, 3)) / 3
logits = np.random.default_rng(1).standard_normal((1000, 5)) * 7
if sys.argv[1] == "dense-first":
    K.softmax_score(phi, np.ones(3))
np.save(sys.argv[2], K.softmax_rows(logits))
"""


def test_results_do_not_depend_on_which_kernel_compiled_first(tmp_path):
    # the dense softmax is compiled with fastmath; the exponential it shares with the other softmax kernels must not
    # inherit it when the dense kernel happens to compile first on a cold cache (a fresh machine, a fresh thread pool)
    import subprocess
    import sys

    outs = []
    for order in ("dense-first", "rows-only"):
        env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / order)}
        out = tmp_path / f"{order}.npy"
        subprocess.run([sys.executable, "-c", _COMPILE_ORDER, order, str(out)], env=env, check=True, timeout=300)
        outs.append(np.load(out))
    np.testing.assert_array_equal(outs[0], outs[1])  # exact: the same code, whatever compiled first


# ------------------------------------------------------------------------------------------------------------
# Algorithm 3: projected SGD
# ------------------------------------------------------------------------------------------------------------


def _sgd_problem(seed, n_ctx=5, A=3, d=4, T=400):
    rng = np.random.default_rng(seed)
    phi = rng.standard_normal((n_ctx, A, d))
    phi /= np.linalg.norm(phi, axis=-1, keepdims=True) * rng.uniform(1.0, 2.0, (n_ctx, A, 1))
    ctx = rng.integers(0, n_ctx, T).astype(np.int64)
    act = rng.integers(0, A, T).astype(np.int64)
    targets = rng.standard_normal(T) * 3
    theta_k = rng.standard_normal(d)
    return phi, ctx, act, targets, theta_k


RADII = [math.inf, 100.0, 1.0, 0.05]


@pytest.mark.parametrize("radius", RADII)
@pytest.mark.parametrize("init", ["zero", "previous"])
@pytest.mark.parametrize("shape", [(5, 3, 4, 400), (1, 1, 1, 50), (8, 2, 6, 1)])
def test_projected_sgd(radius, init, shape):
    n_ctx, A, d, T = shape
    phi, ctx, act, targets, theta_k = _sgd_problem(RADII.index(radius) + T, n_ctx, A, d, T)
    theta0 = np.zeros(d) if init == "zero" else theta_k.copy()
    if np.linalg.norm(theta0) > radius:
        theta0 *= radius / np.linalg.norm(theta0)
    for eta in (0.25, 0.1):
        got = K.projected_sgd(phi, ctx, act, targets, theta_k, theta0, eta, radius)
        ref = R.projected_sgd(phi, ctx, act, targets, theta_k, theta0, eta, radius)
        np.testing.assert_allclose(got, ref, atol=TOL, rtol=RTOL)
        assert np.linalg.norm(got) <= radius * (1 + 1e-12)
    if radius == 0.05 and T > 1:
        # the projection really was active: without it the answer differs
        free = R.projected_sgd(phi, ctx, act, targets, theta_k, theta0, 0.25, math.inf)
        assert np.linalg.norm(free) > 0.1


TABULAR_SHAPES = [(4, 3, 300), (1, 1, 20), (1, 5, 200), (30, 2, 2000)]


def _tabular_problem(shape, radius, init):
    n_ctx, A, T = shape
    d = n_ctx * A
    rng = np.random.default_rng(T + d)
    ctx = rng.integers(0, n_ctx, T).astype(np.int64)
    act = rng.integers(0, A, T).astype(np.int64)
    targets = rng.standard_normal(T) * 3
    theta_k = rng.standard_normal(d)
    theta0 = np.zeros(d) if init == "zero" else theta_k.copy()
    if np.linalg.norm(theta0) > radius:
        theta0 *= radius / np.linalg.norm(theta0)
    return ctx, act, A, targets, theta_k, theta0


def _check_tabular(shape, radius, init, eta=0.25):
    ctx, act, A, targets, theta_k, theta0 = _tabular_problem(shape, radius, init)
    d = theta_k.size
    got = K.projected_sgd_tabular(ctx, act, A, targets, theta_k, theta0, eta, radius)
    ref = R.projected_sgd_tabular(ctx, act, A, targets, theta_k, theta0, eta, radius)
    np.testing.assert_allclose(got, ref, atol=TOL, rtol=RTOL, err_msg=f"shape={shape} R={radius} init={init}")
    # same iterates as the dense kernel with the explicit one-hot feature array
    onehot = np.eye(d).reshape(-1, A, d)
    dense = K.projected_sgd(onehot, ctx, act, targets, theta_k, theta0, eta, radius)
    np.testing.assert_allclose(got, dense, atol=TOL, rtol=RTOL)
    assert np.linalg.norm(got) <= radius * (1 + 1e-12)


@pytest.mark.parametrize("radius", [math.inf, 100.0])
@pytest.mark.parametrize("init", ["zero", "previous"])
@pytest.mark.parametrize("shape", TABULAR_SHAPES)
def test_projected_sgd_tabular_inactive_projection(radius, init, shape):
    _check_tabular(shape, radius, init)


def test_projected_sgd_tabular_active_projection():
    """Small radii where the projection is active at most steps, both inits, every shape."""
    for radius in (1.0, 0.05):
        for init in ("zero", "previous"):
            for shape in TABULAR_SHAPES:
                _check_tabular(shape, radius, init)


def test_projected_sgd_tabular_scale_underflow():
    """A tiny radius and huge targets shrink the lazy scale below 1e-150 (the kernel's renormalization branch)."""
    rng = np.random.default_rng(0)
    n_ctx, A, T = 3, 2, 200
    d = n_ctx * A
    ctx = rng.integers(0, n_ctx, T).astype(np.int64)
    act = rng.integers(0, A, T).astype(np.int64)
    targets = rng.choice([-1.0, 1.0], T) * 1e6
    theta_k = np.zeros(d)
    radius = 1e-3
    got = K.projected_sgd_tabular(ctx, act, A, targets, theta_k, np.zeros(d), 0.25, radius)
    ref = R.projected_sgd_tabular(ctx, act, A, targets, theta_k, np.zeros(d), 0.25, radius)
    np.testing.assert_allclose(got, ref, atol=1e-9 * radius, rtol=1e-9)
    assert np.linalg.norm(got) <= radius * (1 + 1e-12)


# ------------------------------------------------------------------------------------------------------------
# Monte Carlo localized Q (statistical)
# ------------------------------------------------------------------------------------------------------------


def _mc_inputs(game, tabs):
    P_cum = np.cumsum(game.P_flat, axis=-1)
    if game.gamma < 1:
        P_cum[..., -1] = 1.0
    pi_cum, offsets = cumulative_concat([np.asarray(t) for t in tabs])
    return np.ascontiguousarray(P_cum), pi_cum, offsets, np.asarray(game.action_sizes, np.int64)


def _check_mc(game, flat_tabs, n_rep_kernel, n_rep_ref, seed):
    """For every context (s, a^{1:m}) and every m, replicate the sample and compare the mean return with the exact
    Q^{1:m} (brute force) within 5 standard errors, for the kernel and for the reference estimator."""
    tabs = cond_tables(flat_tabs, game)
    joint = brute_joint(game, tabs)
    Q = brute_Q(game, iterative_V(game, joint))
    ev = evaluate(game, list(flat_tabs))
    P_cum, pi_cum, offsets, sizes = _mc_inputs(game, flat_tabs)
    N = game.n_agents
    checked = 0
    for m in range(N + 1):
        exact = brute_q_local(game, tabs, Q, m)
        np.testing.assert_allclose(ev.q_local[m], exact, atol=1e-10)
        for idx in np.ndindex(*exact.shape):
            for impl, n_rep in ((K.mc_localized_q, n_rep_kernel), (R.mc_localized_q, n_rep_ref)):
                states = np.full(n_rep, idx[0], dtype=np.int64)
                prefix = np.zeros((n_rep, N), dtype=np.int64)
                prefix[:, :m] = idx[1:]
                est = impl(
                    P_cum,
                    game.r_flat,
                    game.gamma,
                    pi_cum,
                    offsets,
                    sizes,
                    states,
                    prefix,
                    m,
                    1,
                    100_000,
                    seed + checked,
                )
                se = est.std(ddof=1) / math.sqrt(n_rep)
                assert abs(est.mean() - exact[idx]) <= 5 * se + 1e-12, (
                    impl.__module__,
                    m,
                    idx,
                    est.mean(),
                    exact[idx],
                    se,
                )
                checked += 1
    return checked


def test_mc_localized_q_random_game():
    game = make_random_game((5, 2, (2, 2), 0.8))
    rng = np.random.default_rng(1)
    flat = _random_tables(rng, game.n_states, game.action_sizes)
    assert _check_mc(game, flat, n_rep_kernel=4000, n_rep_ref=600, seed=10) == 2 * (2 + 4 + 8)


def test_mc_localized_q_ratio_game():
    game = make_game("ratio")
    flat = [np.array([[0.3, 0.7]]), np.array([[0.6, 0.4], [0.2, 0.8]])]
    assert _check_mc(game, flat, n_rep_kernel=4000, n_rep_ref=800, seed=20) == 2 * (1 + 2 + 4)


def test_mc_localized_q_averaging_and_seed():
    """n_rollouts averages inside one estimate (variance shrinks ~1/n); the seed fixes the numbers."""
    game = make_random_game((5, 2, (2, 2), 0.8))
    flat = _random_tables(np.random.default_rng(1), game.n_states, game.action_sizes)
    P_cum, pi_cum, offsets, sizes = _mc_inputs(game, flat)
    states = np.zeros(2000, dtype=np.int64)
    prefix = np.zeros((2000, 2), dtype=np.int64)
    args = (P_cum, game.r_flat, game.gamma, pi_cum, offsets, sizes, states, prefix, 2)
    one = K.mc_localized_q(*args, 1, 100_000, 3)
    many = K.mc_localized_q(*args, 16, 100_000, 3)
    assert many.var() < one.var() / 8
    np.testing.assert_array_equal(one, K.mc_localized_q(*args, 1, 100_000, 3))  # exact: same seed, same process
    assert not np.array_equal(one, K.mc_localized_q(*args, 1, 100_000, 4))


def test_rollout_steps_mean_return():
    """rollout_steps (no NumPy twin): the mean undiscounted return per episode from s0 estimates V(s0)."""
    game = make_random_game((5, 2, (2, 2), 0.8))
    flat = _random_tables(np.random.default_rng(1), game.n_states, game.action_sizes)
    P_cum, pi_cum, offsets, sizes = _mc_inputs(game, flat)
    V = evaluate(game, flat).V
    mean, episodes = K.rollout_steps(
        P_cum, game.r_flat, game.gamma, pi_cum, offsets, sizes, np.array([1], dtype=np.int64), 400_000, 0
    )
    assert 400_000 / 5 * 0.9 < episodes < 400_000 / 5 * 1.1  # mean episode length 1/(1-gamma) = 5
    assert mean == pytest.approx(V[1], abs=0.05)


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 1000, 100_003])
def test_stream_read_equals_reference(n):
    """The benchmark's bandwidth probe is a sum: numba and its NumPy twin agree (remainders of 8 included)."""
    x = np.random.default_rng(n).standard_normal(n)
    # another summation order: the rounding error scales with sum|x|, not with the (cancelling) sum itself
    scale = float(np.abs(x).sum())
    assert K.stream_read(x) == pytest.approx(R.stream_read(x), rel=1e-12, abs=1e-13 * scale)
    assert K.stream_read(x) == pytest.approx(float(np.sum(x)), rel=1e-12, abs=1e-13 * scale)
