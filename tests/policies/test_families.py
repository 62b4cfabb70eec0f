"""Feature maps that compute their rows (CallableFeatures, ActionBlockFeatures) and the families of policies.families: dimensions, norms, checks."""

from __future__ import annotations

import numpy as np
import pytest

from mappo_lite import ConditionalLogLinearPolicy, MappoLiteError, ma_ppo, make_game
from mappo_lite.policies.families import (
    gridworld_features,
    match_features,
    product_features,
    resolve_features,
)
from mappo_lite.policies.features import ActionBlockFeatures, CallableFeatures, feature_rows

# Rounding-level agreement of two computations of the same parameters: relative to their scale.
RTOL = 1e-10


def test_feature_families_dimensions_and_norms():
    climb = make_game("climbing")
    assert [f.dim for f in product_features(climb)] == [3, 3]
    assert [f.dim for f in match_features(climb)] == [3, 4]
    for f in match_features(climb) + product_features(climb):
        assert np.linalg.norm(f.dense(), axis=-1).max() <= 1 + 1e-12
    grid = make_game("gridworld", width=3, height=3, n_agents=2)
    feats = gridworld_features(grid)
    assert [f.dim for f in feats] == [5 * (1 + 4 + 16), 5 * (1 + 4 + 16 + 5)]
    for f in feats:
        phi = f.dense()
        assert np.linalg.norm(phi, axis=-1).max() <= 1 + 1e-12
        # the fast block logits equal the generic rows times theta
        theta = np.random.default_rng(0).standard_normal(f.dim)
        np.testing.assert_allclose(f.logits(theta), phi @ theta, rtol=0, atol=1e-12 * np.abs(theta).sum())
    blind = gridworld_features(grid, prefix=False)
    assert blind[1].dim == 5 * 21


def test_callable_features_check_or_normalize_norms():
    game = make_game("climbing")
    big = lambda s, prefix, a: np.stack([2.0 + 0 * a, 1.0 * a], axis=1)  # noqa: E731
    with pytest.raises(MappoLiteError, match="norm at most 1"):
        CallableFeatures(big, game.n_states, game.action_sizes, 1, 2)
    f = CallableFeatures(big, game.n_states, game.action_sizes, 1, 2, normalize=True)
    assert np.linalg.norm(f.dense(), axis=-1).max() == pytest.approx(1.0, rel=1e-12)
    bad = lambda s, prefix, a: np.zeros((s.shape[0], 3))  # noqa: E731
    with pytest.raises(MappoLiteError, match="shape"):
        CallableFeatures(bad, game.n_states, game.action_sizes, 1, 2)
    with pytest.raises(MappoLiteError, match="unknown features"):
        resolve_features(game, "nonsense")
    # rows agree with the dense array for every family
    for f in match_features(game):
        ctx = np.arange(f.n_contexts).repeat(f.n_actions)
        act = np.tile(np.arange(f.n_actions), f.n_contexts)
        np.testing.assert_array_equal(feature_rows(f, ctx, act), f.dense().reshape(-1, f.dim))  # exact: same rows


def test_block_features_psi_norm_checked():
    game = make_game("climbing")
    with pytest.raises(MappoLiteError, match="norm at most 1"):
        ActionBlockFeatures(lambda s, p: np.full((s.shape[0], 2), 1.0), 1, game.action_sizes, 1, 2)


def test_plain_functions_are_feature_maps():
    game = make_game("climbing")

    def phi1(s, prefix, a):
        return np.eye(3)[a]

    def phi2(s, prefix, a):  # own action, and "same as agent 1"
        return np.column_stack([np.eye(3)[a], prefix[:, 0] == a]) / np.sqrt(2)

    res = ma_ppo(game, K=100, beta=0.1, features=[phi1, phi2])
    assert res.J_star - res.J[-1] <= 1e-6 * 11
    assert isinstance(ConditionalLogLinearPolicy.for_game(game, [phi1, phi2]).features[1], CallableFeatures)
    with pytest.raises(MappoLiteError, match="norm at most 1"):
        ma_ppo(game, K=2, features=[lambda s, p, a: 3.0 * np.eye(3)[a], phi2])
