"""Sampling from sigma_pi and the policy-improvement step: the ideal mirror step and Algorithm 3 (projected SGD).

sample_sigma's frequencies are compared with sigma = nu * pi computed in the test (power series + enumeration) by a
chi-square statistic with a fixed seed. Algorithm 3 is checked against what it must converge to: theta_k + Q/beta_k
on visited coordinates (tabular), theta_k + w* for realizable linear targets, and the weighted least-squares
minimizer of L(theta) for compact features (averaged constant-step SGD on least squares converges to it).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mappo_lite import (
    MappoLiteError,
    TabularFeatures,
    evaluate,
    ideal_mirror_step,
    improvement_error,
    make_game,
    mc_localized_q,
    mc_localized_q_table,
    policy_improvement_solver,
    random_features,
    sample_sigma,
)
from mappo_lite.policies.conditional import context_counts, context_index
from mappo_lite.sampling import contexts_of, rms_error
from tests.fixtures import (
    GAME_CASES,
    brute_joint,
    cond_tables,
    make_random_game,
    occupancy_series,
    random_loglinear,
)


def _setting(case, seed=0, scale=1.0):
    game = make_random_game(case)
    policy = random_loglinear(game, np.random.default_rng(seed), scale=scale)
    tabs = cond_tables([policy.probs(m) for m in range(1, game.n_agents + 1)], game)
    joint = brute_joint(game, tabs)
    d = occupancy_series(game, joint)
    sigma = (d / d.sum()).reshape((-1,) + (1,) * game.n_agents) * joint
    return game, policy, evaluate(game, policy), sigma


# ------------------------------------------------------------------------------------------------------------
# sample_sigma
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [GAME_CASES[0], GAME_CASES[2]], ids=["N2", "N3"])
def test_sample_sigma_frequencies(case):
    game, policy, ev, sigma = _setting(case)
    n = 200_000
    states, actions = sample_sigma(ev.nu, ev.tables, n, np.random.default_rng(123))
    assert states.shape == (n,) and actions.shape == (n, game.n_agents)
    assert states.dtype.kind == "i" and actions.dtype.kind == "i"
    flat = np.ravel_multi_index((states,) + tuple(actions.T), sigma.shape)
    counts = np.bincount(flat, minlength=sigma.size).astype(float)
    expected = n * sigma.ravel()
    keep = expected >= 5  # chi-square needs non-tiny cells; the rest are pooled
    stat = ((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    rest_obs, rest_exp = counts[~keep].sum(), expected[~keep].sum()
    df = int(keep.sum()) - 1
    if rest_exp > 0:
        stat += (rest_obs - rest_exp) ** 2 / rest_exp
        df += 1
    p_value = stats.chi2.sf(stat, df)
    assert p_value > 1e-4, (stat, df)
    # the test is sharp enough to notice a wrong law: moving 20% of nu's mass to one state fails it
    wrong = 0.8 * ev.nu + 0.2 * np.eye(game.n_states)[np.argmin(ev.nu)]
    s2, a2 = sample_sigma(wrong, ev.tables, n, np.random.default_rng(123))
    c2 = np.bincount(np.ravel_multi_index((s2,) + tuple(a2.T), sigma.shape), minlength=sigma.size)
    assert stats.chi2.sf(((c2[keep] - expected[keep]) ** 2 / expected[keep]).sum(), int(keep.sum()) - 1) < 1e-6


def test_sample_sigma_seeded_and_contexts():
    game, policy, ev, _ = _setting(GAME_CASES[2])
    a = sample_sigma(ev.nu, ev.tables, 500, 7)
    b = sample_sigma(ev.nu, ev.tables, 500, 7)
    c = sample_sigma(ev.nu, ev.tables, 500, 8)
    np.testing.assert_array_equal(a[0], b[0])  # exact: integers (states, actions)
    np.testing.assert_array_equal(a[1], b[1])  # exact: integers
    assert not (np.array_equal(a[0], c[0]) and np.array_equal(a[1], c[1]))
    states, actions = a
    for m in range(1, game.n_agents + 1):
        ctx = contexts_of(states, actions, game.action_sizes, m)
        expect = [context_index(s, acts[: m - 1], game.action_sizes) for s, acts in zip(states, actions)]
        np.testing.assert_array_equal(ctx, expect)
    with pytest.raises(MappoLiteError, match="number of samples"):
        sample_sigma(ev.nu, ev.tables, 0, 0)


def test_zero_probability_actions_never_sampled():
    game = make_game("climbing")
    tabs = [np.array([[0.0, 1.0, 0.0]]), np.tile([0.5, 0.0, 0.5], (3, 1))]
    ev = evaluate(game, tabs)
    _, actions = sample_sigma(ev.nu, ev.tables, 20_000, 0)
    assert set(actions[:, 0]) == {1} and set(actions[:, 1]) == {0, 2}


# ------------------------------------------------------------------------------------------------------------
# the ideal mirror step
# ------------------------------------------------------------------------------------------------------------


def test_ideal_mirror_step_is_kl_regularized_maximizer():
    """softmax(theta_k + Q/beta) = pi_k exp(Q/beta)/Z, and it maximizes <Q, p> - beta KL(p || pi_k) in each context."""
    rng = np.random.default_rng(0)
    n_ctx, A, beta = 6, 4, 0.7
    theta_k = rng.standard_normal(n_ctx * A)
    Q = rng.standard_normal((n_ctx, A)) * 2
    new = ideal_mirror_step(theta_k, Q, beta)
    scale = np.abs(theta_k).max() + np.abs(Q).max() / beta  # the size of the summands
    np.testing.assert_allclose(new, theta_k + Q.ravel() / beta, atol=1e-13 * scale)
    pk = np.exp(theta_k.reshape(n_ctx, A))
    pk /= pk.sum(axis=1, keepdims=True)
    p_new = np.exp(new.reshape(n_ctx, A))
    p_new /= p_new.sum(axis=1, keepdims=True)
    expect = pk * np.exp(Q / beta)
    # probabilities: ~450 ulps of 1
    np.testing.assert_allclose(p_new, expect / expect.sum(axis=1, keepdims=True), atol=1e-13)

    def objective(p):
        return (p * Q).sum(axis=1) - beta * (p * np.log(p / pk)).sum(axis=1)

    best = objective(p_new)
    for _ in range(300):
        other = rng.dirichlet(np.ones(A) * 0.5, size=n_ctx) + 1e-12
        other /= other.sum(axis=1, keepdims=True)
        assert np.all(objective(other) <= best + 1e-12)
    # closed form of the maximum: beta * log sum_a pi_k(a) exp(Q(a)/beta)
    np.testing.assert_allclose(best, beta * np.log((pk * np.exp(Q / beta)).sum(axis=1)), atol=1e-12)


def test_ideal_mirror_step_errors():
    with pytest.raises(MappoLiteError, match="beta_k"):
        ideal_mirror_step(np.zeros(4), np.zeros(4), 0.0)
    with pytest.raises(MappoLiteError, match="beta_k"):
        ideal_mirror_step(np.zeros(4), np.zeros(4), float("nan"))
    with pytest.raises(MappoLiteError, match="entries"):
        ideal_mirror_step(np.zeros(4), np.zeros(5), 1.0)
    with pytest.raises(MappoLiteError, match="NaN"):
        ideal_mirror_step(np.zeros(2), np.array([np.inf, 0.0]), 1.0)


def test_improvement_error_zero_for_exact_ideal_step():
    game, policy, ev, _ = _setting(GAME_CASES[2], scale=1.0)
    states, actions = sample_sigma(ev.nu, ev.tables, 3000, np.random.default_rng(0))
    beta_k = 1.7
    for m in range(1, game.n_agents + 1):
        feats = policy.features[m - 1]
        ctx = contexts_of(states, actions, game.action_sizes, m)
        act = actions[:, m - 1]
        q_hat = ev.q_local[m][(states,) + tuple(actions[:, i] for i in range(m))]
        theta_new = ideal_mirror_step(policy.thetas[m - 1], ev.q_local[m], beta_k)
        assert improvement_error(feats, theta_new, policy.thetas[m - 1], ctx, act, q_hat, beta_k) < 1e-12
        # and it is the RMS fit residual for any other theta
        other = theta_new + np.random.default_rng(m).standard_normal(theta_new.shape) * 0.1
        resid = (other - policy.thetas[m - 1]).reshape(-1, game.action_sizes[m - 1])[ctx, act] - q_hat / beta_k
        assert improvement_error(feats, other, policy.thetas[m - 1], ctx, act, q_hat, beta_k) == pytest.approx(
            math.sqrt(np.mean(resid**2)), rel=1e-12
        )


# ------------------------------------------------------------------------------------------------------------
# Algorithm 3
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("init", ["previous", "zero"])
def test_algorithm3_tabular_converges_to_ideal_step(init):
    game, policy, ev, _ = _setting(GAME_CASES[0], scale=1.0)
    T, beta_k = 100_000, 3.0
    states, actions = sample_sigma(ev.nu, ev.tables, T, np.random.default_rng(1))
    for m in range(1, game.n_agents + 1):
        feats = policy.features[m - 1]
        theta_k = np.random.default_rng(m).standard_normal(feats.dim)
        ctx = contexts_of(states, actions, game.action_sizes, m)
        act = actions[:, m - 1]
        q_hat = ev.q_local[m][(states,) + tuple(actions[:, i] for i in range(m))]
        theta = policy_improvement_solver(feats, theta_k, ctx, act, q_hat, beta_k, init=init)
        target = theta_k + ev.q_local[m].reshape(-1) / beta_k
        coord = ctx * game.action_sizes[m - 1] + act
        visits = np.bincount(coord, minlength=feats.dim)
        first = np.array([np.argmax(coord == k) if visits[k] else T for k in range(feats.dim)])
        well = (visits >= 50) & (first < T // 100)
        assert well.sum() >= feats.dim // 2  # most coordinates are well visited
        start = theta_k if init == "previous" else np.zeros(feats.dim)
        err = np.abs(theta - target)[well]
        assert np.all(err <= 0.02 * np.abs(start - target)[well] + 1e-9), err.max()
        untouched = visits == 0
        np.testing.assert_array_equal(
            theta[untouched], start[untouched]
        )  # exact: never-visited coordinates are never written


@pytest.mark.parametrize("radius", [0.3, 2.0])
@pytest.mark.parametrize("kind", ["tabular", "compact"])
def test_algorithm3_projection_keeps_theta_in_ball(radius, kind):
    game, policy, ev, _ = _setting(GAME_CASES[1], scale=1.0)
    states, actions = sample_sigma(ev.nu, ev.tables, 5000, np.random.default_rng(2))
    m = 2
    ctx = contexts_of(states, actions, game.action_sizes, m)
    act = actions[:, m - 1]
    q_hat = ev.q_local[m][(states,) + tuple(actions[:, i] for i in range(m))] * 20  # large targets: R is active
    n_ctx, A = context_counts(game.n_states, game.action_sizes)[m - 1], game.action_sizes[m - 1]
    feats = TabularFeatures(n_ctx, A) if kind == "tabular" else random_features(n_ctx, A, 4, seed=0)
    theta_k = np.zeros(feats.dim)
    for init in ("zero", "previous"):
        theta = policy_improvement_solver(feats, theta_k, ctx, act, q_hat, 0.5, radius=radius, init=init)
        assert np.linalg.norm(theta) <= radius * (1 + 1e-12)
        free = policy_improvement_solver(feats, theta_k, ctx, act, q_hat, 0.5, init=init)
        assert np.linalg.norm(free) > radius  # the constraint was binding


def test_algorithm3_realizable_compact_features():
    """Targets y = phi^T w*: averaged SGD from theta_k converges to theta_k + w*."""
    rng = np.random.default_rng(5)
    n_ctx, A, d, T = 12, 3, 4, 40_000
    feats = random_features(n_ctx, A, d, seed=rng)
    w_star = rng.standard_normal(d)
    theta_k = rng.standard_normal(d)
    ctx = rng.integers(0, n_ctx, T)
    act = rng.integers(0, A, T)
    beta_k = 2.0
    q_hat = beta_k * feats.phi[ctx, act] @ w_star
    theta = policy_improvement_solver(feats, theta_k, ctx, act, q_hat, beta_k, init="previous")
    np.testing.assert_allclose(theta, theta_k + w_star, atol=5e-3 * (1 + np.abs(w_star).max()))
    assert improvement_error(feats, theta, theta_k, ctx, act, q_hat, beta_k) < 5e-3


def test_algorithm3_compact_features_least_squares():
    """Non-realizable targets: the averaged iterate approaches argmin_theta E_sigma[((theta-theta_k)^T phi - y)^2]."""
    game, policy, ev, sigma = _setting(GAME_CASES[0], scale=1.0)
    m, beta_k, T = 2, 4.0, 100_000
    n_ctx, A = context_counts(game.n_states, game.action_sizes)[m - 1], game.action_sizes[m - 1]
    feats = random_features(n_ctx, A, 3, seed=11)
    theta_k = np.random.default_rng(3).standard_normal(3)
    # exact minimizer under sigma (weighted least squares over all (context, action) pairs)
    w = sigma.reshape(n_ctx, A).ravel()  # law of (s, a^1, a^2) = (context of agent 2, its action)
    X = feats.phi.reshape(n_ctx * A, 3)
    y = ev.q_local[m].reshape(-1) / beta_k
    sw = np.sqrt(w)
    delta, *_ = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)
    states, actions = sample_sigma(ev.nu, ev.tables, T, np.random.default_rng(4))
    ctx = contexts_of(states, actions, game.action_sizes, m)
    act = actions[:, m - 1]
    q_hat = ev.q_local[m][states, actions[:, 0], actions[:, 1]]
    for init in ("previous", "zero"):
        theta = policy_improvement_solver(feats, theta_k, ctx, act, q_hat, beta_k, eta=0.1, init=init)
        np.testing.assert_allclose(theta - theta_k, delta, atol=0.03 * (1 + np.abs(delta).max()))
    # the fit error at that point is the irreducible one, not zero
    eps = improvement_error(feats, theta, theta_k, ctx, act, q_hat, beta_k)
    best = math.sqrt((w * (X @ delta - y) ** 2).sum())
    assert eps == pytest.approx(best, rel=0.05)


def test_algorithm3_bad_input():
    feats = TabularFeatures(3, 2)
    th = np.zeros(6)
    ctx, act, q = np.array([0, 1]), np.array([1, 0]), np.array([1.0, 2.0])
    policy_improvement_solver(feats, th, ctx, act, q, 1.0)
    with pytest.raises(MappoLiteError, match="init .* must be one of"):
        policy_improvement_solver(feats, th, ctx, act, q, 1.0, init="random")
    for bad in (0.0, -1.0, float("nan"), float("inf"), "x"):
        with pytest.raises(MappoLiteError, match="beta_k"):
            policy_improvement_solver(feats, th, ctx, act, q, bad)
        with pytest.raises(MappoLiteError, match="eta"):
            policy_improvement_solver(feats, th, ctx, act, q, 1.0, eta=bad)
    with pytest.raises(MappoLiteError, match="radius"):
        policy_improvement_solver(feats, th, ctx, act, q, 1.0, radius=0.0)
    with pytest.raises(MappoLiteError, match="one length"):
        policy_improvement_solver(feats, th, ctx, act[:1], q, 1.0)
    with pytest.raises(MappoLiteError, match="theta_k must have 6"):
        policy_improvement_solver(feats, np.zeros(5), ctx, act, q, 1.0)
    with pytest.raises(MappoLiteError, match="out of range"):
        policy_improvement_solver(feats, th, np.array([0, 3]), act, q, 1.0)
    with pytest.raises(MappoLiteError, match="out of range"):
        policy_improvement_solver(feats, th, ctx, np.array([0, 2]), q, 1.0)
    with pytest.raises(MappoLiteError, match="NaN"):
        policy_improvement_solver(feats, th, ctx, act, np.array([np.nan, 1.0]), 1.0)


# ------------------------------------------------------------------------------------------------------------
# Monte Carlo estimates through the public API
# ------------------------------------------------------------------------------------------------------------


def test_mc_localized_q_table_unbiased_on_ratio_game():
    game = make_game("ratio")
    tabs = [np.array([[0.3, 0.7]]), np.array([[0.6, 0.4], [0.2, 0.8]])]
    ev = evaluate(game, tabs)
    reps = [mc_localized_q_table(game, ev.tables, 2, n_rollouts=1, seed=s) for s in range(1500)]
    reps = np.array(reps)
    mean, se = reps.mean(axis=0), reps.std(axis=0, ddof=1) / math.sqrt(len(reps))
    assert np.all(np.abs(mean - ev.q_local[2]) <= 5 * se + 1e-12)
    # Q(a) = R[a] + (1 - S[a]) V: one step's reward, then the game goes on with probability 1 - S[a]
    R_, S_ = np.array([[1.0, 0.5], [-0.5, 0.0]]), np.array([[1.0, 1.0], [0.1, 0.1]])
    np.testing.assert_allclose(ev.q_local[2][0], R_ + (1 - S_) * ev.V[0], atol=1e-12)


def test_mc_localized_q_public_api():
    game, policy, ev, _ = _setting(GAME_CASES[0])
    states, actions = sample_sigma(ev.nu, ev.tables, 4000, 0)
    q1 = mc_localized_q(game, ev.tables, 1, states, actions, n_rollouts=2, seed=5)
    q2 = mc_localized_q(game, ev.tables, 1, states, actions, n_rollouts=2, seed=5)
    np.testing.assert_array_equal(q1, q2)  # exact: same seed, same process
    exact = ev.q_local[1][states, actions[:, 0]]
    # unbiased: the mean error over the samples is within a few standard errors of zero
    err = q1 - exact
    assert abs(err.mean()) <= 5 * err.std(ddof=1) / math.sqrt(err.size)
    assert rms_error(q1, exact) == pytest.approx(math.sqrt(np.mean(err**2)), rel=1e-12)
    w = np.random.default_rng(0).random(err.size)
    assert rms_error(q1, exact, w) == pytest.approx(math.sqrt((w * err**2).sum() / w.sum()), rel=1e-12)
    with pytest.raises(MappoLiteError, match="agent index"):
        mc_localized_q(game, ev.tables, 3, states, actions)
    with pytest.raises(MappoLiteError, match="n_rollouts"):
        mc_localized_q(game, ev.tables, 1, states, actions, n_rollouts=0)


def test_rollouts_stop_in_absorbing_zero_reward_states_without_bias():
    """two_step's end state is absorbing with reward 0: rollouts end there, and the estimates stay unbiased."""
    from mappo_lite import ConditionalLogLinearPolicy
    from mappo_lite.sampling import absorbing_zero_states, cumulative_transitions, rollout_transitions

    game = make_game("two_step")
    assert absorbing_zero_states(game).tolist() == [False, False, False, True]
    assert not absorbing_zero_states(make_game("climbing")).any()
    assert not absorbing_zero_states(make_game("gridworld")).any()
    assert np.all(
        rollout_transitions(game)[3] == 0.0
    )  # exact: set to 0.0; the kernels read an all-zero row as "stopped"
    assert np.array_equal(rollout_transitions(game)[:3], cumulative_transitions(game)[:3])  # exact: a copy
    assert np.all(
        cumulative_transitions(game)[3, :, -1] == 1.0
    )  # exact: set to 1.0; the shared table (datasets) is untouched

    rng = np.random.default_rng(7)
    policy = ConditionalLogLinearPolicy.for_game(
        game, thetas=[rng.normal(size=f.dim) for f in ConditionalLogLinearPolicy.for_game(game).features]
    )
    ev = evaluate(game, policy)
    n = 3000
    for m in (0, 1, 2):
        q = mc_localized_q_table(game, ev.tables, m, n_rollouts=n, seed=m)
        # returns lie in [0, 8]: a standard error of at most 8/(2 sqrt(n)); allow 5 of them
        assert np.max(np.abs(q - ev.q_local[m])) < 5 * 8 / (2 * np.sqrt(n))
