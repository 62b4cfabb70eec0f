"""Policies and features: the log-linear formula computed by hand, the score identity and finite differences,
joint/marginal tables by enumeration, product policies, sampling frequencies, the projection, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mappo_lite import (
    ArrayFeatures,
    ConditionalLogLinearPolicy,
    ConditionalTables,
    MappoLiteError,
    ProductPolicy,
    TabularFeatures,
    as_tables,
    project_to_ball,
    random_features,
    uniform_tables,
)
from mappo_lite.policies.conditional import context_counts, context_index
from tests.fixtures import GAME_CASES, brute_joint, cond_tables, joint_actions, make_random_game, random_loglinear


def _softmax_by_hand(logits):
    """exp / sum with Python floats (fine for moderate logits)."""
    out = np.empty_like(logits)
    for i, row in enumerate(logits):
        e = [math.exp(x) for x in row]
        z = sum(e)
        out[i] = [x / z for x in e]
    return out


def _compact_policy(game, seed, d=3, scale=2.0):
    rng = np.random.default_rng(seed)
    feats = [
        random_features(c, A, d, rng)
        for c, A in zip(context_counts(game.n_states, game.action_sizes), game.action_sizes)
    ]
    pol = ConditionalLogLinearPolicy.for_game(game, feats)
    return pol.with_thetas([scale * rng.standard_normal(d) for _ in feats])


# ------------------------------------------------------------------------------------------------------------
# contexts
# ------------------------------------------------------------------------------------------------------------


def test_context_counts_and_index():
    sizes = (2, 3, 4)
    assert context_counts(5, sizes) == [5, 10, 30]
    for s in range(5):
        for a in joint_actions(sizes):
            for m in range(3):
                # C order over (s, a^1, ..., a^{m-1}), agent 1 most significant
                expect = np.ravel_multi_index((s,) + a[:m], (5,) + sizes[:m])
                assert context_index(s, a[:m], sizes) == expect


# ------------------------------------------------------------------------------------------------------------
# log-linear probabilities
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", GAME_CASES[:3])
def test_tabular_probs_are_softmax_of_thetas(case):
    game = make_random_game(case)
    pol = random_loglinear(game, np.random.default_rng(case[0]))
    for m in range(game.n_agents):
        n_ctx, A = context_counts(game.n_states, game.action_sizes)[m], game.action_sizes[m]
        logits = pol.thetas[m].reshape(n_ctx, A)
        np.testing.assert_allclose(pol.logits(m + 1), logits, atol=0)  # exact: tabular logits are theta reshaped
        np.testing.assert_allclose(
            pol.probs(m + 1), _softmax_by_hand(logits), atol=1e-13
        )  # probabilities: ~450 ulps of 1
        np.testing.assert_allclose(pol.log_probs(m + 1), np.log(_softmax_by_hand(logits)), atol=1e-12)
        for c in range(n_ctx):
            # one row vs all rows: maybe another SIMD path
            np.testing.assert_allclose(pol.probs_row(m + 1, c), pol.probs(m + 1)[c], atol=1e-13)


def test_compact_probs_are_softmax_of_phi_theta():
    game = make_random_game(GAME_CASES[2])
    pol = _compact_policy(game, 3)
    for m in range(game.n_agents):
        phi = pol.features[m].phi
        logits = np.einsum("cad,d->ca", phi, pol.thetas[m])
        np.testing.assert_allclose(pol.probs(m + 1), _softmax_by_hand(logits), atol=1e-13)
        assert pol.features[m].dim == 3 < phi.shape[0] * phi.shape[1]
        np.testing.assert_allclose(np.linalg.norm(phi, axis=-1), 1.0, atol=1e-12)


def test_zero_theta_is_uniform():
    game = make_random_game(GAME_CASES[3])
    pol = ConditionalLogLinearPolicy.for_game(game)
    ref = uniform_tables(game.n_states, game.action_sizes)
    for m in range(game.n_agents):
        np.testing.assert_allclose(pol.probs(m + 1), 1.0 / game.action_sizes[m])
        np.testing.assert_allclose(ref.tables[m], 1.0 / game.action_sizes[m])


def test_extreme_logits_stay_finite():
    pol = ConditionalLogLinearPolicy(1, (3,), thetas=[np.array([1e3, -1e3, 999.0])])
    p, lp = pol.probs(1)[0], pol.log_probs(1)[0]
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(lp))
    np.testing.assert_allclose(p, [1 / (1 + math.exp(-1)), 0.0, math.exp(-1) / (1 + math.exp(-1))], atol=1e-13)
    np.testing.assert_allclose(
        lp, [-math.log1p(math.exp(-1)), -2000 - math.log1p(math.exp(-1)), -1 - math.log1p(math.exp(-1))], rtol=1e-12
    )


# ------------------------------------------------------------------------------------------------------------
# score
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tabular", "compact"])
def test_score_identity_and_finite_differences(kind):
    game = make_random_game(GAME_CASES[1])
    pol = random_loglinear(game, np.random.default_rng(0)) if kind == "tabular" else _compact_policy(game, 1)
    h = 1e-6
    for m in range(game.n_agents):
        score = pol.score(m + 1)
        probs = pol.probs(m + 1)
        n_ctx, A = probs.shape
        # sum_a pi(a|c) score(c, a) = 0
        np.testing.assert_allclose(np.einsum("ca,cad->cd", probs, score), 0.0, atol=1e-13)
        # finite-difference gradient of log pi(a|c) with respect to theta^m
        theta = pol.thetas[m]
        for k in range(theta.size):
            tp, tm = [t.copy() for t in pol.thetas], [t.copy() for t in pol.thetas]
            tp[m][k] += h
            tm[m][k] -= h
            fd = (pol.with_thetas(tp).log_probs(m + 1) - pol.with_thetas(tm).log_probs(m + 1)) / (2 * h)
            if kind == "tabular":
                # compact block: coordinate k = (c_k, b_k) is nonzero only for context c_k
                c_k, b_k = divmod(k, A)
                expect = np.zeros((n_ctx, A))
                expect[c_k] = score[c_k, :, b_k]
            else:
                expect = score[:, :, k]
            np.testing.assert_allclose(fd, expect, atol=1e-8)


# ------------------------------------------------------------------------------------------------------------
# tables: joint, marginal, product policies
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", GAME_CASES, ids=lambda c: f"seed{c[0]}")
def test_joint_and_marginals_by_enumeration(case):
    game = make_random_game(case)
    pol = random_loglinear(game, np.random.default_rng(2))
    tabs = pol.tables()
    raw = cond_tables(tabs.tables, game)
    joint = brute_joint(game, raw)
    np.testing.assert_allclose(tabs.joint().reshape(joint.shape), joint, atol=1e-13)  # probabilities: ~450 ulps of 1
    for m in range(game.n_agents):
        np.testing.assert_array_equal(tabs.table(m + 1), raw[m])  # exact: the same table reshaped
        axes = tuple(1 + i for i in range(game.n_agents) if i != m)
        np.testing.assert_allclose(tabs.marginal(m + 1), joint.sum(axis=axes), atol=1e-13)


def test_product_policy_tables_ignore_prefix():
    game = make_random_game(GAME_CASES[2])
    rng = np.random.default_rng(0)
    logits = [rng.standard_normal((game.n_states, A)) for A in game.action_sizes]
    pol = ProductPolicy.for_game(game, logits)
    tabs = pol.tables()
    joint = tabs.joint().reshape((game.n_states,) + game.action_sizes)
    probs = [_softmax_by_hand(L) for L in logits]
    for s in range(game.n_states):
        for a in joint_actions(game.action_sizes):
            expect = np.prod([probs[m][s, a[m]] for m in range(game.n_agents)])
            assert joint[(s,) + a] == pytest.approx(expect, abs=1e-13)  # probabilities: ~450 ulps of 1
    for m in range(game.n_agents):
        np.testing.assert_allclose(tabs.marginal(m + 1), probs[m], atol=1e-13)
    # from_probs round trip
    again = ProductPolicy.from_probs(game.n_states, game.action_sizes, probs)
    for m in range(game.n_agents):
        np.testing.assert_allclose(again.probs(m + 1), probs[m], atol=1e-13)


@pytest.mark.parametrize("kind", ["conditional", "product"])
def test_sampling_frequencies(kind):
    """Sequential sampling a^m ~ pi^m(.|s, a^{1:m-1}) reproduces the joint policy (chi-square, fixed seed)."""
    game = make_random_game(GAME_CASES[0])  # S=3, sizes (2, 3)
    rng = np.random.default_rng(4)
    if kind == "conditional":
        pol = random_loglinear(game, rng, scale=0.7)
    else:
        pol = ProductPolicy.for_game(game, [rng.standard_normal((3, A)) for A in game.action_sizes])
    joint = pol.tables().joint()[1]  # state 1
    n = 6000
    counts = np.zeros(game.n_joint_actions)
    for _ in range(n):
        a = pol.sample(1, rng)
        counts[np.ravel_multi_index(a, game.action_sizes)] += 1
    expected = n * joint
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    # df = 5; P(chi2_5 > 25) < 2e-4
    assert chi2 < 25.0, (chi2, counts, expected)


# ------------------------------------------------------------------------------------------------------------
# projection
# ------------------------------------------------------------------------------------------------------------


def test_project_to_ball():
    rng = np.random.default_rng(0)
    for _ in range(50):
        theta = rng.standard_normal(7) * rng.uniform(0.1, 10)
        R = rng.uniform(0.5, 5)
        p = project_to_ball(theta, R)
        assert np.linalg.norm(p) <= R * (1 + 1e-12)
        if np.linalg.norm(theta) <= R:
            np.testing.assert_array_equal(p, theta)  # exact: inside the ball theta is returned as a copy
        else:
            np.testing.assert_allclose(p, theta * R / np.linalg.norm(theta), rtol=1e-13)
            # the projection is the closest point of the ball: no random point of the ball is closer
            pts = rng.standard_normal((200, 7))
            pts *= (R * rng.uniform(0, 1, (200, 1)) ** (1 / 7)) / np.linalg.norm(pts, axis=1, keepdims=True)
            assert np.linalg.norm(theta - p) <= np.linalg.norm(theta - pts, axis=1).min() + 1e-12
    assert np.array_equal(project_to_ball(np.array([3.0, 4.0]), math.inf), [3.0, 4.0])  # exact: returned as a copy


# ------------------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------------------


def test_features_with_norm_above_one_rejected():
    phi = np.zeros((2, 3, 4))
    phi[1, 2] = [0.6, 0.6, 0.6, 0.0]  # norm 1.039
    with pytest.raises(MappoLiteError, match="norm at most 1"):
        ArrayFeatures(phi)
    with pytest.raises(MappoLiteError, match="norm at most 1"):
        ConditionalLogLinearPolicy(2, (3,), features=[phi])
    phi[1, 2] = [0.6, 0.8, 0.0, 0.0]  # exactly 1 is allowed
    ArrayFeatures(phi)
    with pytest.raises(MappoLiteError, match="shape"):
        ArrayFeatures(np.zeros((2, 3)))
    with pytest.raises(MappoLiteError, match="NaN"):
        ArrayFeatures(np.full((1, 2, 2), np.nan))
    with pytest.raises(MappoLiteError):
        TabularFeatures(0, 3)
    with pytest.raises(MappoLiteError, match="at least 1"):
        random_features(2, 2, 0)


def test_policy_constructor_errors():
    game = make_random_game(GAME_CASES[0])  # S=3, sizes (2, 3): contexts 3 and 6
    with pytest.raises(MappoLiteError, match="unknown features"):
        ConditionalLogLinearPolicy.for_game(game, "onehot")
    with pytest.raises(MappoLiteError, match="one feature map per agent"):
        ConditionalLogLinearPolicy.for_game(game, [TabularFeatures(3, 2)])
    with pytest.raises(MappoLiteError, match="features of agent 2 must cover"):
        ConditionalLogLinearPolicy.for_game(game, [TabularFeatures(3, 2), TabularFeatures(3, 3)])
    with pytest.raises(MappoLiteError, match="theta of agent 1 must have 6 entries"):
        ConditionalLogLinearPolicy.for_game(game, thetas=[np.zeros(5), np.zeros(18)])
    with pytest.raises(MappoLiteError, match="one theta per agent"):
        ConditionalLogLinearPolicy.for_game(game, thetas=[np.zeros(6)])
    with pytest.raises(MappoLiteError, match="NaN"):
        ConditionalLogLinearPolicy.for_game(game, thetas=[np.full(6, np.nan), np.zeros(18)])
    with pytest.raises(MappoLiteError, match="outside the ball"):
        ConditionalLogLinearPolicy.for_game(game, thetas=[np.full(6, 1.0), np.zeros(18)], radius=1.0)
    for bad in (0, -1, float("nan"), "big"):
        with pytest.raises(MappoLiteError, match="radius"):
            ConditionalLogLinearPolicy.for_game(game, radius=bad)
    with pytest.raises(MappoLiteError, match="logits of agent 1 must have shape"):
        ProductPolicy.for_game(game, [np.zeros((3, 3)), np.zeros((3, 3))])
    with pytest.raises(MappoLiteError, match="NaN"):
        ProductPolicy.for_game(game, [np.full((3, 2), np.inf), np.zeros((3, 3))])


def test_as_tables_errors():
    sizes = (2, 3)
    good = [np.full((3, 2), 0.5), np.full((3, 2, 3), 1 / 3)]
    t = as_tables(good, 3, sizes)
    assert isinstance(t, ConditionalTables) and t.tables[1].shape == (6, 3)
    assert as_tables(good, 3, sizes).tables[0].shape == (3, 2)
    with pytest.raises(MappoLiteError, match=r"agent 1 must have shape \(3, 2\)"):
        as_tables([np.full((3, 3), 1 / 3), good[1]], 3, sizes)
    with pytest.raises(MappoLiteError, match="agent 2: rows must sum to 1"):
        as_tables([good[0], np.full((3, 2, 3), 0.3)], 3, sizes)
    with pytest.raises(MappoLiteError, match="negative"):
        as_tables([np.array([[2.0, -1.0]] * 3), good[1]], 3, sizes)
    with pytest.raises(MappoLiteError, match="not numeric"):
        as_tables([[["a", "b"]] * 3, good[1]], 3, sizes)
    with pytest.raises(MappoLiteError, match="cannot use"):
        as_tables(3.0, 3, sizes)
    with pytest.raises(MappoLiteError, match="the game has"):
        as_tables(uniform_tables(2, sizes), 3, sizes)
    with pytest.raises(MappoLiteError, match="the game has"):
        as_tables(ConditionalLogLinearPolicy(3, (2, 2)), 3, sizes)
