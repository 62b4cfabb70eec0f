"""Off-policy MA-PPO (mappo_lite.offline): datasets, linear critics, plain (LSTD) and pessimistic evaluation.

What is checked, and against what:

* the pessimistic closed form against a direct numerical minimization (scipy SLSQP with the norm constraint) of
  v^T w + lam * E_D(w), with E_D written from its *definition* (the Xie et al. excess squared Bellman loss over the
  data, computed by an explicit inner least-squares fit, not from the library's G, U, c);
* lam -> inf recovers LSTD; the pessimistic estimate never exceeds the plain one; it is far below where the data
  is thin and at the truth where the data is rich;
* LSTD with a tabular critic equals the exact Q of the evaluated policy on noiseless exhaustive data from a
  deterministic game, and the Q of the empirical (count-based) model on sampled data, stopping games included;
* the numba kernel against its NumPy twin;
* the shipped poor-coverage example: pessimistic off-policy MA-PPO ends closer to J* than plain (10 seeds), and
  the gap shrinks as n grows;
* datasets' save/load and every bad input; the ``offline`` CLI.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import minimize

from mappo_lite import CooperativeMarkovGame, MappoLiteError, evaluate, make_game
from mappo_lite.cli import main as cli_main
from mappo_lite.evaluation import joint_to_tables
from mappo_lite.kernels import accumulate_bellman_system
from mappo_lite.kernels.reference import accumulate_bellman_system as accumulate_bellman_system_reference
from mappo_lite.offline.core import (
    POOR_COVERAGE,
    OfflineDataset,
    OfflineEvaluator,
    behaviour_policy,
    bellman_error,
    bellman_system,
    collect_dataset,
    critic_features,
    load_dataset,
    offline_ma_ppo,
    pessimism_offset,
    pessimistic_objective,
    pessimistic_weights,
    plain_weights,
    poor_coverage_example,
    tabular_L,
)
from mappo_lite.policies.conditional import as_tables
from tests.fixtures import GAME_CASES, ROOT, case_id, make_random_game, random_loglinear


# ----------------------------------------------------------------------------------------------------------------
# helpers: independent computations from the definitions
# ----------------------------------------------------------------------------------------------------------------
def design(game, data, psi, policy):
    """Psi (n, d), Psi'_pi (n, d) (0 where stopped), rewards, v_pi: by explicit loops over the samples."""
    pi = as_tables(policy, game.n_states, game.action_sizes).joint()  # (S, |A|)
    J = game.n_joint_actions
    n, d = data.n, psi.shape[-1]
    Psi, Psi_next = np.zeros((n, d)), np.zeros((n, d))
    for i in range(n):
        joint = int(np.ravel_multi_index(tuple(data.actions[i]), game.action_sizes))
        Psi[i] = psi[data.states[i], joint]
        if data.next_states[i] >= 0:
            for b in range(J):
                Psi_next[i] += pi[data.next_states[i], b] * psi[data.next_states[i], b]
    v = sum(game.rho[s] * pi[s, b] * psi[s, b] for s in range(game.n_states) for b in range(J))
    return Psi, Psi_next, np.asarray(data.rewards, float), v


def xie_excess_loss(w, Psi, Psi_next, r, gamma, alpha):
    """E_D(w) = l(w; w) - min_u l(u; w), l(u; w) = sum_i (psi_i u - r_i - gamma psi'_i w)^2 + alpha |u|^2 (inner fit by lstsq)."""
    y = r + gamma * Psi_next @ w
    X = np.vstack([Psi, math.sqrt(alpha) * np.eye(Psi.shape[1])])
    Y = np.concatenate([y, np.zeros(Psi.shape[1])])
    u = np.linalg.lstsq(X, Y, rcond=None)[0]
    loss = lambda z: float(np.sum((Psi @ z - y) ** 2) + alpha * z @ z)  # noqa: E731
    return loss(w) - loss(u)


def random_instance(case, critic, n=40, seed=0, coverage=1.0, noise=0.3):
    game = make_random_game(case)
    rng = np.random.default_rng(seed)
    data = collect_dataset(game, n, coverage=coverage, reward_noise=noise, seed=seed)
    psi = critic_features(game, critic, 5, seed) if critic == "random" else critic_features(game, "tabular")
    policy = random_loglinear(game, rng)
    return game, data, psi, policy


def numerical_min(system, lam, L, x0):
    v, U, G, c = system.v, system.U, system.G, system.c
    Ginv = np.linalg.inv(G)
    M = U.T @ Ginv @ U
    b = U.T @ Ginv @ c
    f = lambda w: float(v @ w + lam * (w @ M @ w - 2 * b @ w))  # noqa: E731  (E_D up to its constant c^T G^-1 c)
    grad = lambda w: v + 2 * lam * (M @ w - b)  # noqa: E731
    cons = [] if math.isinf(L) else [dict(type="ineq", fun=lambda w: L**2 - w @ w, jac=lambda w: -2 * w)]
    res = minimize(f, x0, jac=grad, method="SLSQP", constraints=cons, options=dict(ftol=1e-15, maxiter=2000))
    return res.x


# ----------------------------------------------------------------------------------------------------------------
# (1) the closed form against the definition and a numerical minimizer
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", GAME_CASES[:4], ids=case_id)
@pytest.mark.parametrize("critic", ["random", "tabular"])
def test_bellman_error_is_xie_excess_loss(case, critic):
    game, data, psi, policy = random_instance(case, critic)
    alpha = 0.05
    system = bellman_system(game, data, psi, policy, ridge=alpha)
    Psi, Psi_next, r, v = design(game, data, psi, policy)
    np.testing.assert_allclose(system.v, v, atol=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(3):
        w = rng.standard_normal(psi.shape[-1])
        ref = xie_excess_loss(w, Psi, Psi_next, r, game.gamma, alpha)
        assert bellman_error(system, w) == pytest.approx(ref, rel=1e-8, abs=1e-9)


@pytest.mark.parametrize("case", GAME_CASES[:4], ids=case_id)
@pytest.mark.parametrize("critic", ["random", "tabular"])
@pytest.mark.parametrize("active", [False, True], ids=["kappa0", "ball-active"])
def test_closed_form_matches_numerical_minimization(case, critic, active):
    game, data, psi, policy = random_instance(case, critic, seed=3)
    system = bellman_system(game, data, psi, policy, ridge=0.5)
    lam = 0.7
    w_free = pessimistic_weights(system, lam)
    L = 0.6 * np.linalg.norm(w_free) if active else math.inf
    w = pessimistic_weights(system, lam, L)
    if active:
        assert np.linalg.norm(w) == pytest.approx(L, rel=1e-9)  # the constraint binds
    w_num = numerical_min(system, lam, L, np.zeros_like(w))
    obj, obj_num = pessimistic_objective(system, w, lam), pessimistic_objective(system, w_num, lam)
    scale = max(1.0, abs(obj))
    assert obj <= obj_num + 1e-9 * scale  # the closed form is at least as good as the numerical optimum
    assert obj == pytest.approx(obj_num, rel=1e-6, abs=1e-6)
    np.testing.assert_allclose(w, w_num, atol=1e-5 * max(1.0, np.linalg.norm(w)))
    # first-order (KKT) conditions of the closed form, exactly
    Ginv_res = np.linalg.solve(system.G, system.U @ w - system.c)
    grad = system.v + 2 * lam * system.U.T @ Ginv_res
    if active:
        kappa = -(grad @ w) / (2 * w @ w)
        assert kappa > 0
        np.testing.assert_allclose(grad + 2 * kappa * w, 0, atol=1e-7 * max(1.0, np.abs(grad).max()))
    else:
        np.testing.assert_allclose(grad, 0, atol=1e-8 * max(1.0, np.abs(system.v).max()))


def test_closed_form_formula_of_the_docstring():
    """w = U^-1 c - (1/2 lam) U^-1 G U^-T v and J_w = J_LSTD - offset, offset = (1/2 lam) v^T U^-1 G U^-T v > 0."""
    game, data, psi, policy = random_instance(GAME_CASES[1], "tabular", n=60)
    system = bellman_system(game, data, psi, policy)
    U, G, c, v = system.U, system.G, system.c, system.v
    for lam in (0.1, 1.0, 10.0):
        Uinv = np.linalg.inv(U)
        w_ref = Uinv @ c - Uinv @ G @ Uinv.T @ v / (2 * lam)
        np.testing.assert_allclose(pessimistic_weights(system, lam), w_ref, rtol=1e-8, atol=1e-10)
        offset = v @ Uinv @ G @ Uinv.T @ v / (2 * lam)
        assert offset > 0
        assert pessimism_offset(system, lam) == pytest.approx(offset, rel=1e-10)
        assert v @ plain_weights(system) - v @ pessimistic_weights(system, lam) == pytest.approx(offset, rel=1e-7)


def test_matrix_game_count_penalty():
    """gamma = 0, tabular: Q_hat(a) = (sum of rewards of a - pi(a)/(2 lam)) / (n(a) + alpha)  (the chapter's remark)."""
    game, kw, lam = poor_coverage_example()
    data = collect_dataset(game, 50, seed=4, **kw)
    psi = critic_features(game, "tabular")
    pi = np.full((1, 9), 1 / 9)
    pi[0, 0] = 0.5
    pi /= pi.sum()
    alpha = 1e-3
    system = bellman_system(game, data, psi, joint_to_tables(game, pi), ridge=alpha)
    counts = data.counts().reshape(-1)
    sums = np.bincount(data.joint_actions, weights=data.rewards, minlength=9)
    expected = (sums - pi[0] / (2 * lam)) / (counts + alpha)
    np.testing.assert_allclose(pessimistic_weights(system, lam), expected, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------------------------------------------
# (2) lambda -> inf is LSTD
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", GAME_CASES, ids=case_id)
@pytest.mark.parametrize("critic", ["random", "tabular"])
def test_lambda_infinity_recovers_lstd(case, critic):
    game, data, psi, policy = random_instance(case, critic, n=80, seed=5)
    system = bellman_system(game, data, psi, policy)
    w_plain = plain_weights(system)
    np.testing.assert_array_equal(pessimistic_weights(system, math.inf), w_plain)  # exact: the same solve of U w = c
    np.testing.assert_allclose(pessimistic_weights(system, 1e8), w_plain, rtol=1e-6, atol=1e-6 * np.abs(w_plain).max())
    # the offset falls like 1/lam
    offs = [pessimism_offset(system, lam) for lam in (0.1, 1.0, 10.0)]
    assert offs[0] == pytest.approx(10 * offs[1], rel=1e-9) and offs[1] == pytest.approx(10 * offs[2], rel=1e-9)
    assert pessimism_offset(system, math.inf) == 0.0  # exact: returned as the constant 0.0
    # with a finite L, lam = inf is the smallest Bellman error on the ball
    L = 0.5 * np.linalg.norm(w_plain)
    w_ball = pessimistic_weights(system, math.inf, L)
    assert np.linalg.norm(w_ball) == pytest.approx(L, rel=1e-9)
    rng = np.random.default_rng(0)
    for _ in range(20):
        z = rng.standard_normal(w_ball.size)
        z *= L / np.linalg.norm(z) * rng.uniform(0.5, 1.0)
        assert bellman_error(system, w_ball) <= bellman_error(system, z) + 1e-9
    w_big = pessimistic_weights(system, 1e9, L)
    np.testing.assert_allclose(w_big, w_ball, atol=1e-4 * L)


# ----------------------------------------------------------------------------------------------------------------
# (3) pessimistic <= plain; below it where the data is thin, at the truth where it is rich
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", GAME_CASES, ids=case_id)
@pytest.mark.parametrize("critic", ["random", "tabular"])
def test_pessimistic_never_above_plain(case, critic):
    for seed in range(4):
        game, data, psi, policy = random_instance(
            case, critic, n=30 + 40 * seed, seed=seed, coverage=[0.2, 1, 5, 30][seed]
        )
        system = bellman_system(game, data, psi, policy)
        J_plain = system.v @ plain_weights(system)
        for lam in (0.01, 0.3, 10.0):
            assert system.v @ pessimistic_weights(system, lam) <= J_plain + 1e-12 * max(1, abs(J_plain))
            # with a norm bound: below the lam = inf estimate on the same ball
            L = 0.7 * np.linalg.norm(plain_weights(system))
            assert (
                system.v @ pessimistic_weights(system, lam, L)
                <= system.v @ pessimistic_weights(system, math.inf, L) + 1e-9
            )


def test_pessimism_large_where_thin_and_vanishing_where_rich():
    game = make_game("random", n_states=3, n_agents=2, n_actions=2, gamma=0.8, seed=7)
    psi = critic_features(game, "tabular")
    policy = random_loglinear(game, np.random.default_rng(2), scale=0.5)
    J_true = evaluate(game, policy).J
    lam = 1.0
    # thin: 400 noisy transitions concentrated on the optimal joint actions; every (s, a) is seen, some only once
    thin = collect_dataset(game, 400, coverage=30, reward_noise=0.3, seed=0)
    assert thin.counts().min() == 1
    sys_thin = bellman_system(game, thin, psi, policy)
    J_plain_thin = sys_thin.v @ plain_weights(sys_thin)
    J_pess_thin = sys_thin.v @ pessimistic_weights(sys_thin, lam)
    print(f"thin: plain {J_plain_thin:.4f} pessimistic {J_pess_thin:.4f} true {J_true:.4f}")
    assert J_plain_thin > J_true + 0.2  # the plain estimate over-estimates this policy ...
    assert J_plain_thin - J_pess_thin > 0.4  # ... and the pessimistic one sits well below it
    assert abs(J_pess_thin - J_true) < abs(J_plain_thin - J_true)
    # rich: full coverage, noiseless rewards, many samples
    rich = collect_dataset(game, 200_000, coverage=1.0, reward_noise=0.0, seed=1)
    sys_rich = bellman_system(game, rich, psi, policy)
    J_plain_rich = sys_rich.v @ plain_weights(sys_rich)
    J_pess_rich = sys_rich.v @ pessimistic_weights(sys_rich, lam)
    print(f"rich: plain {J_plain_rich:.6f} pessimistic {J_pess_rich:.6f} true {J_true:.6f}")
    assert 0 <= J_plain_rich - J_pess_rich < 1e-3
    assert abs(J_pess_rich - J_true) < 0.02 * abs(J_true)  # statistical error of 200k sampled transitions
    assert abs(J_pess_rich - J_true) < abs(J_pess_thin - J_true) / 20


# ----------------------------------------------------------------------------------------------------------------
# LSTD with a tabular critic is exact policy evaluation (of the true game, or of the empirical one)
# ----------------------------------------------------------------------------------------------------------------
def deterministic_game(seed, S=4, sizes=(2, 3), gamma=0.9):
    rng = np.random.default_rng(seed)
    shape = (S,) + sizes
    succ = rng.integers(0, S, size=shape)
    P = np.zeros(shape + (S,))
    for idx in np.ndindex(*shape):
        P[idx + (succ[idx],)] = 1.0
    return CooperativeMarkovGame(P, rng.uniform(0, 1, shape), gamma)


def exhaustive_dataset(game, repeats=3):
    """Every (s, a) `repeats` times, noiseless reward, next state = the (deterministic) successor."""
    rows = []
    for s in range(game.n_states):
        for a in np.ndindex(*game.action_sizes):
            nxt = int(np.argmax(game.P[(s,) + a]))
            rows += [(s, a, game.r[(s,) + a], nxt)] * repeats
    st, ac, rw, nx = zip(*rows)
    return OfflineDataset(np.array(st), np.array(ac), np.array(rw), np.array(nx), game.n_states, game.action_sizes)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lstd_tabular_reproduces_exact_q(seed):
    game = deterministic_game(seed, sizes=((2, 3), (3, 2), (2, 2, 2))[seed])
    data = exhaustive_dataset(game)
    psi = critic_features(game, "tabular")
    policy = random_loglinear(game, np.random.default_rng(seed))
    Q = evaluate(game, policy).Q
    ev = OfflineEvaluator(data, psi, "plain", ridge=1e-10)
    np.testing.assert_allclose(ev(game, as_tables(policy, game.n_states, game.action_sizes)), Q, atol=1e-6)
    # and the pessimistic one approaches it as lam grows (offset ~ 1/lam)
    pess = OfflineEvaluator(data, psi, "pessimistic", lam=1e6, ridge=1e-10)
    np.testing.assert_allclose(pess(game, as_tables(policy, game.n_states, game.action_sizes)), Q, atol=1e-4)


def empirical_game(game, data):
    """The count-based model: P_hat(s'|s,a) = n(s,a,s')/n(s,a) (stopping mass = the -1 transitions), r_hat = mean."""
    S, J = game.n_states, game.n_joint_actions
    cnt = np.zeros((S, J))
    P = np.zeros((S, J, S))
    R = np.zeros((S, J))
    for s, a, r, nx in zip(data.states, data.joint_actions, data.rewards, data.next_states):
        cnt[s, a] += 1
        R[s, a] += r
        if nx >= 0:
            P[s, a, nx] += 1
    assert cnt.min() > 0
    P /= cnt[..., None]
    R /= cnt
    shape = (S,) + game.action_sizes
    return CooperativeMarkovGame(P.reshape(shape + (S,)), R.reshape(shape), game.gamma, game.rho)


@pytest.mark.parametrize("name", ["random", "ratio"])
def test_lstd_tabular_is_the_empirical_model_q(name):
    game = (
        make_game("random", n_states=3, n_agents=2, n_actions=2, gamma=0.9, seed=3)
        if name == "random"
        else make_game("ratio")
    )
    data = collect_dataset(game, 3000, reward_noise=0.5, seed=11)
    if name == "ratio":
        assert np.any(data.next_states == -1)  # stopped episodes are in the data
    policy = random_loglinear(game, np.random.default_rng(5), scale=0.7)
    ev = OfflineEvaluator(data, critic_features(game, "tabular"), "plain", ridge=1e-10)
    Q_hat = ev(game, as_tables(policy, game.n_states, game.action_sizes))
    np.testing.assert_allclose(Q_hat, evaluate(empirical_game(game, data), policy).Q, atol=1e-6)


# ----------------------------------------------------------------------------------------------------------------
# (6) the numba kernel and its NumPy twin
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["dense", "tabular", "sparse"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kernel_equals_numpy_twin(kind, seed):
    rng = np.random.default_rng(seed)
    S, J, n = 4, 6, 300
    if kind == "tabular":
        d = S * J
        psi_flat = np.eye(d)
    else:
        d = 7
        psi_flat = rng.standard_normal((S * J, d))
        if kind == "sparse":
            psi_flat[rng.random(psi_flat.shape) < 0.6] = 0.0
    rows = rng.integers(0, S * J, n).astype(np.int64)
    psi_pi = rng.standard_normal((S, d))
    nxt = rng.integers(-1, S, n).astype(np.int64)  # -1 = stopped
    assert np.any(nxt == -1)
    rew = rng.standard_normal(n)
    got = accumulate_bellman_system(psi_flat, rows, psi_pi, nxt, rew)
    ref = accumulate_bellman_system_reference(psi_flat, rows, psi_pi, nxt, rew)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-10)


# ----------------------------------------------------------------------------------------------------------------
# (4), (5) the shipped poor-coverage example
# ----------------------------------------------------------------------------------------------------------------
def example_gaps(n, seeds, evaluator):
    game, kw, lam = poor_coverage_example()
    ex = POOR_COVERAGE
    gaps = []
    for seed in seeds:
        data = collect_dataset(game, n, seed=seed, **kw)
        res = offline_ma_ppo(game, data, ex["K"], ex["beta"], evaluator=evaluator, lam=lam, L=ex["L"], seed=seed)
        assert res.J.shape == (ex["K"] + 1,) and res.J_estimated.shape == (ex["K"],)
        assert np.all(res.gap >= -1e-12)
        gaps.append(res.J_star - res.J[-1])
    return np.array(gaps)


def test_example_is_what_its_docs_say():
    game, kw, lam = poor_coverage_example()
    assert game.meta["optimum"] == pytest.approx(1.0) and game.r.min() == 0 and game.r.max() == 1
    assert tabular_L(game) == pytest.approx(POOR_COVERAGE["L"])
    mu = behaviour_policy(game, kw["coverage"])
    assert mu[0, 0] == pytest.approx(20 / 28) and mu[0, 1] == pytest.approx(1 / 28)


def test_pessimistic_beats_plain_on_the_example():
    seeds = range(10)
    plain = example_gaps(POOR_COVERAGE["n"], seeds, "plain")
    pess = example_gaps(POOR_COVERAGE["n"], seeds, "pessimistic")
    print(f"mean final gap over 10 seeds: plain {plain.mean():.4f}, pessimistic {pess.mean():.4f}")
    assert pess.mean() < plain.mean() - 0.03
    assert np.sum(pess < plain - 1e-3) > np.sum(pess > plain + 1e-3)


def test_gap_shrinks_with_n():
    means = {ev: [example_gaps(n, range(10), ev).mean() for n in (30, 300, 3000)] for ev in ("plain", "pessimistic")}
    print(means)
    for ev, m in means.items():
        assert m[0] > m[1] > m[2], ev
        assert m[2] < 1e-3


def test_offline_run_uses_only_the_dataset_and_reports_estimates():
    game, kw, lam = poor_coverage_example()
    data = collect_dataset(game, 200, seed=0, **kw)
    a = offline_ma_ppo(game, data, 10, 0.05, evaluator="pessimistic", lam=lam, seed=0)
    b = offline_ma_ppo(game, data, 10, 0.05, evaluator="pessimistic", lam=lam, seed=0)
    np.testing.assert_array_equal(a.J, b.J)  # exact: the same seed and data, the same computation in one process
    np.testing.assert_array_equal(a.J_estimated, b.J_estimated)  # exact: as above
    # the estimate of J(pi_0) (uniform) is the evaluator's v^T w for the uniform policy
    psi = critic_features(game, "tabular")
    system = bellman_system(game, data, psi, "uniform")
    assert a.J_estimated[0] == pytest.approx(system.v @ pessimistic_weights(system, lam), rel=1e-10)
    # the lam = inf pessimistic run is the plain run
    c = offline_ma_ppo(game, data, 10, 0.05, evaluator="pessimistic", lam=math.inf, seed=0)
    d = offline_ma_ppo(game, data, 10, 0.05, evaluator="plain", seed=0)
    np.testing.assert_allclose(c.J, d.J, atol=1e-12)


# ----------------------------------------------------------------------------------------------------------------
# (7) datasets: collection, save/load, bad input
# ----------------------------------------------------------------------------------------------------------------
def test_collect_dataset_is_seeded_and_respects_the_knobs():
    game = make_game("random", n_states=6, n_agents=2, n_actions=2, gamma=0.9, seed=0)
    a = collect_dataset(game, 500, coverage=3.0, reward_noise=0.1, seed=4)
    b = collect_dataset(game, 500, coverage=3.0, reward_noise=0.1, seed=4)
    for name in ("states", "actions", "rewards", "next_states"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))  # exact: the same seed
    c = collect_dataset(game, 500, coverage=3.0, reward_noise=0.1, seed=5)
    assert not np.array_equal(a.rewards, c.rewards)
    half = collect_dataset(game, 500, state_fraction=0.5, seed=4)
    assert len(np.unique(half.states)) == 3
    noiseless = collect_dataset(game, 500, seed=4)
    np.testing.assert_array_equal(
        noiseless.rewards, game.r_flat[noiseless.states, noiseless.joint_actions]
    )  # exact: copied
    # coverage: the optimal joint action's share matches mu
    clim, kw, _ = poor_coverage_example()
    big = collect_dataset(clim, 20_000, seed=0, **kw)
    share = np.mean(big.joint_actions == 0)
    assert share == pytest.approx(20 / 28, abs=0.01)
    with pytest.raises(ValueError):
        big.states[0] = 1  # read-only


def test_collect_dataset_with_an_explicit_behaviour_policy():
    game = make_game("random", n_states=3, n_agents=2, n_actions=2, gamma=0.9, seed=2)
    a = collect_dataset(game, 300, behaviour="uniform", seed=7)
    b = collect_dataset(game, 300, coverage=1.0, seed=7)  # coverage 1 = uniform
    np.testing.assert_array_equal(a.actions, b.actions)  # exact: integers
    np.testing.assert_array_equal(a.states, b.states)  # exact: integers
    # a deterministic behaviour policy only ever shows its own joint action
    det = [np.zeros((3, 2)), np.zeros((3, 2, 2))]
    det[0][:, 1] = 1.0
    det[1][:, :, 0] = 1.0
    c = collect_dataset(game, 200, behaviour=det, seed=0)
    assert np.all(c.actions[:, 0] == 1) and np.all(c.actions[:, 1] == 0)


def test_dataset_save_load_round_trip(tmp_path):
    game = make_game("ratio")
    data = collect_dataset(game, 100, reward_noise=0.2, seed=3)
    path = tmp_path / "d.npz"
    data.save(path)
    back = load_dataset(path)
    for name in ("states", "actions", "rewards", "next_states"):
        np.testing.assert_array_equal(getattr(back, name), getattr(data, name))  # exact: saved and read back
    assert back.n_states == data.n_states and back.action_sizes == data.action_sizes
    # and a run from the loaded file equals the run from memory
    r1 = offline_ma_ppo(game, data, 5, 0.1, evaluator="plain")
    r2 = offline_ma_ppo(game, back, 5, 0.1, evaluator="plain")
    np.testing.assert_array_equal(r1.J, r2.J)  # exact: bit-identical data, the same computation


def _good():
    return dict(
        states=np.array([0, 1, 2]),
        actions=np.array([[0, 1], [1, 0], [1, 1]]),
        rewards=np.array([0.1, 0.2, 0.3]),
        next_states=np.array([1, 2, -1]),
        n_states=3,
        action_sizes=(2, 2),
    )


@pytest.mark.parametrize(
    "change",
    [
        dict(states=np.array([0, 1])),  # wrong length
        dict(actions=np.array([[0, 1, 0], [1, 0, 0], [1, 1, 0]])),  # wrong number of agents
        dict(actions=np.array([0, 1, 1])),  # not 2-d
        dict(rewards=np.array([[0.1, 0.2, 0.3]])),
        dict(states=np.array([0, 3, 2])),  # state out of range
        dict(states=np.array([0, -1, 2])),
        dict(next_states=np.array([1, 2, 3])),
        dict(next_states=np.array([1, -2, 0])),
        dict(actions=np.array([[0, 2], [1, 0], [1, 1]])),  # action out of range
        dict(actions=np.array([[0, -1], [1, 0], [1, 1]])),
        dict(rewards=np.array([0.1, np.nan, 0.3])),
        dict(rewards=np.array([0.1, np.inf, 0.3])),
        dict(states=np.array([0.0, 1.5, 2.0])),  # not integers
        dict(states=np.array(["a", "b", "c"])),
        dict(
            states=np.array([], dtype=np.int64),
            actions=np.zeros((0, 2), int),
            rewards=np.zeros(0),
            next_states=np.zeros(0, int),
        ),
        dict(n_states=0),
        dict(action_sizes=(2, 0)),
        dict(action_sizes="xy"),
        dict(action_sizes=()),
        dict(action_sizes=(2, 1.5)),  # would have been truncated to 1
        dict(n_states=3.5),
        dict(n_states="3"),
        dict(rewards=np.array([0.1, 0.2 + 1j, 0.3])),  # the imaginary part must not be dropped
        dict(rewards=np.array(["0.1", "0.2", "0.3"])),
    ],
)
def test_dataset_rejects_bad_arrays(change):
    kw = _good()
    kw.update(change)
    with pytest.raises(MappoLiteError):
        OfflineDataset(**kw)


def test_good_dataset_is_accepted():
    OfflineDataset(**_good())
    OfflineDataset(**dict(_good(), states=np.array([0.0, 1.0, 2.0])))  # integral floats are fine


def test_load_dataset_errors(tmp_path):
    with pytest.raises(MappoLiteError, match="does not exist"):
        load_dataset(tmp_path / "missing.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(MappoLiteError, match="not a valid"):
        load_dataset(corrupt)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(MappoLiteError):
        load_dataset(text)
    npy = tmp_path / "single.npy"
    np.save(npy, np.arange(3))
    with pytest.raises(MappoLiteError, match="not a valid"):
        load_dataset(npy)
    good = _good()
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, **{k: np.asarray(v) for k, v in good.items() if k != "rewards"}, reward=good["rewards"])
    with pytest.raises(MappoLiteError, match="keys"):
        load_dataset(wrong)
    extra = tmp_path / "extra.npz"
    np.savez(extra, **{k: np.asarray(v) for k, v in good.items()}, more=np.zeros(2))
    with pytest.raises(MappoLiteError, match="keys"):
        load_dataset(extra)
    bad_range = tmp_path / "range.npz"
    np.savez(bad_range, **{k: np.asarray(v) for k, v in dict(good, states=np.array([0, 5, 1])).items()})
    with pytest.raises(MappoLiteError, match="range.npz"):
        load_dataset(bad_range)
    bad_scalar = tmp_path / "scalar.npz"
    np.savez(bad_scalar, **{k: np.asarray(v) for k, v in dict(good, n_states=np.array([3, 3])).items()})
    with pytest.raises(MappoLiteError):
        load_dataset(bad_scalar)
    pickled = tmp_path / "obj.npz"
    np.savez(
        pickled, **{k: np.asarray(v) for k, v in dict(good, rewards=np.array([0.1, None, 0.2], dtype=object)).items()}
    )
    with pytest.raises(MappoLiteError):
        load_dataset(pickled)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n=0), "positive integer"),
        (dict(n=-3), "positive integer"),
        (dict(coverage=0.0), "coverage"),
        (dict(coverage=-1.0), "coverage"),
        (dict(coverage=float("nan")), "coverage"),
        (dict(state_fraction=0.0), "state_fraction"),
        (dict(state_fraction=1.5), "state_fraction"),
        (dict(state_fraction=float("nan")), "state_fraction"),
        (dict(reward_noise=-0.1), "reward_noise"),
        (dict(reward_noise=float("inf")), "reward_noise"),
    ],
)
def test_collect_dataset_bad_input(kwargs, match):
    game = make_game("climbing")
    args = dict(n=10)
    args.update(kwargs)
    n = args.pop("n")
    with pytest.raises(MappoLiteError, match=match):
        collect_dataset(game, n, **args)


def test_evaluator_bad_input():
    game, kw, _ = poor_coverage_example()
    data = collect_dataset(game, 20, seed=0, **kw)
    psi = critic_features(game, "tabular")
    system = bellman_system(game, data, psi, "uniform")
    for lam in (0.0, -1.0, float("nan"), "x"):
        with pytest.raises(MappoLiteError, match="lambda"):
            pessimistic_weights(system, lam)
        with pytest.raises(MappoLiteError, match="lambda"):
            offline_ma_ppo(game, data, 3, 0.1, lam=lam)
    for L in (0.0, -2.0, float("nan")):
        with pytest.raises(MappoLiteError, match="L must"):
            pessimistic_weights(system, 1.0, L)
        with pytest.raises(MappoLiteError, match="L must"):
            OfflineEvaluator(data, psi, "pessimistic", lam=1.0, L=L)
    with pytest.raises(MappoLiteError, match="unknown evaluator"):
        OfflineEvaluator(data, psi, "optimistic")
    with pytest.raises(MappoLiteError, match="unknown evaluator"):
        offline_ma_ppo(game, data, 3, 0.1, evaluator="optimistic")
    with pytest.raises(MappoLiteError, match="unknown critic"):
        offline_ma_ppo(game, data, 3, 0.1, critic="neural")
    with pytest.raises(MappoLiteError, match="dim"):
        critic_features(game, "random")
    with pytest.raises(MappoLiteError, match="ridge"):
        bellman_system(game, data, psi, "uniform", ridge=0.0)
    with pytest.raises(MappoLiteError, match="shape"):
        bellman_system(game, data, psi[:, :4], "uniform")
    with pytest.raises(MappoLiteError, match="NaN"):
        bellman_system(game, data, psi * np.nan, "uniform")
    other = make_game("random", n_states=2, n_agents=2, n_actions=3, gamma=0.5, seed=0)
    with pytest.raises(MappoLiteError, match="does not match"):
        bellman_system(other, data, critic_features(other, "tabular"), "uniform")
    with pytest.raises(MappoLiteError, match="unbounded"):  # singular U, no norm bound
        pessimistic_weights(type(system)(np.eye(2), np.zeros((2, 2)), np.zeros(2), np.ones(2), None), 1.0)
    w = pessimistic_weights(type(system)(np.eye(2), np.zeros((2, 2)), np.zeros(2), np.ones(2), None), 1.0, L=2.0)
    np.testing.assert_allclose(w, -np.ones(2) * math.sqrt(2), atol=1e-9)  # the ball's lowest point along -v


# ----------------------------------------------------------------------------------------------------------------
# (8) the CLI
# ----------------------------------------------------------------------------------------------------------------
def test_cli_offline_json(capsys):
    code = cli_main(
        [
            "offline",
            "climbing",
            "--unit-rewards",
            "--n",
            "100",
            "--coverage",
            "20",
            "--reward-noise",
            "0.3",
            "--evaluator",
            "pessimistic",
            "--lam",
            "0.3",
            "--L",
            "3",
            "--K",
            "12",
            "--seed",
            "2",
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("J", "J_star", "J_estimated", "J_true", "gap_final"):
        assert key in out
    assert len(out["J"]) == 13 and len(out["J_estimated"]) == 12 and len(out["J_true"]) == 12
    assert out["J_true"] == out["J"][:-1]  # exact: the same floats written twice
    assert out["J_star"] == pytest.approx(1.0)
    assert out["gap_final"] == pytest.approx(out["J_star"] - out["J"][-1])
    # the same numbers as the library call
    game, kw, _ = poor_coverage_example()
    res = offline_ma_ppo(
        game,
        collect_dataset(game, 100, coverage=20, reward_noise=0.3, seed=2),
        12,
        0.05,
        evaluator="pessimistic",
        lam=0.3,
        L=3,
        seed=2,
    )
    np.testing.assert_allclose(out["J"], res.J, rtol=1e-12)
    np.testing.assert_allclose(out["J_estimated"], res.J_estimated, rtol=1e-12)


def test_cli_offline_from_dataset_file(tmp_path, capsys):
    game = make_game("two_step")
    path = tmp_path / "data.npz"
    collect_dataset(game, 300, seed=1).save(path)
    assert cli_main(["offline", "two_step", "--dataset", str(path), "--evaluator", "plain", "--K", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 300 and len(out["J"]) == 6


@pytest.mark.parametrize(
    "argv",
    [
        ["offline", "climbing", "--n", "0"],
        ["offline", "climbing", "--coverage", "-1"],
        ["offline", "climbing", "--coverage", "nan"],
        ["offline", "climbing", "--state-fraction", "2"],
        ["offline", "climbing", "--reward-noise", "-1"],
        ["offline", "climbing", "--lam", "-1"],
        ["offline", "climbing", "--lam", "0"],
        ["offline", "climbing", "--L", "0"],
        ["offline", "climbing", "--evaluator", "optimistic"],
        ["offline", "climbing", "--critic", "neural"],
        ["offline", "climbing", "--critic", "random"],  # no --critic-dim
        ["offline", "climbing", "--dataset", "/nonexistent/data.npz"],
        ["offline", "no_such_game"],
        ["offline", "climbing", "--K", "0"],
    ],
)
def test_cli_offline_bad_input_exits_2_with_one_line(argv, capsys):
    assert cli_main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mappo_lite: error:"), captured.err


def test_cli_offline_wrong_dataset_for_game(tmp_path, capsys):
    path = tmp_path / "d.npz"
    collect_dataset(make_game("two_step"), 50, seed=0).save(path)
    assert cli_main(["offline", "climbing", "--dataset", str(path)]) == 2
    assert "does not match" in capsys.readouterr().err


def test_cli_offline_as_a_process():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mappo_lite",
            "offline",
            "climbing",
            "--unit-rewards",
            "--n",
            "50",
            "--K",
            "3",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out["J"]) == 4 and len(out["J_estimated"]) == 3
    bad = subprocess.run(
        [sys.executable, "-m", "mappo_lite", "offline", "climbing", "--lam", "-1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_bellman_system_keeps_its_old_field_name_for_one_release():
    game, data, psi, policy = random_instance(GAME_CASES[1], "tabular", n=60)
    system = bellman_system(game, data, psi, policy)
    assert system.B is system.U
