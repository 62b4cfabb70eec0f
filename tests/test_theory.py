"""mappo_lite.theory: the one concentrability coefficient and the bounds (their uses are checked in tests/figures)."""

import math

import numpy as np
import pytest

from mappo_lite import MappoLiteError
from mappo_lite.theory import best_beta, concentrability, explicit_bound, explicit_constant, theorem1_rate


def test_concentrability_is_the_largest_density_ratio_on_the_target_support():
    target = np.array([0.5, 0.5, 0.0])
    assert concentrability(target, np.array([0.25, 0.5, 0.25])) == pytest.approx(2.0, rel=1e-15)
    assert concentrability(target, target) == pytest.approx(1.0, rel=1e-15)
    assert concentrability(target, np.array([0.0, 0.5, 0.5])) == math.inf  # exact: data misses the support
    assert concentrability(np.ones(2), np.array([0.25, 0.75])) == pytest.approx(4.0, rel=1e-15)
    # the L2(data) density-ratio norm: sqrt(sum target^2 / data) = sqrt(0.25/0.25 + 0.25/0.5 + 0) for this pair
    assert concentrability(target, np.array([0.25, 0.5, 0.25]), norm="l2") == pytest.approx(
        math.sqrt(float(np.sum(target**2 / np.array([0.25, 0.5, 0.25])))), rel=1e-15
    )
    assert concentrability(target, target, norm="l2") == pytest.approx(1.0, rel=1e-15)
    assert concentrability(target, np.array([0.0, 0.5, 0.5]), norm="l2") == math.inf  # exact: misses the support
    data = np.array([0.25, 0.5, 0.25])
    assert concentrability(target, data, norm="l2") < concentrability(target, data)  # sqrt(1.5) < 2: L2 below sup
    with pytest.raises(MappoLiteError):
        concentrability(target, target, norm="l1")
    with pytest.raises(MappoLiteError):
        concentrability(np.ones(2), np.ones(3))


def test_explicit_bound_is_the_rate_times_the_constant_and_best_beta_minimizes_it():
    N, gamma, A, K = 2, 0.9, 3, np.array([10.0, 100.0])
    beta = best_beta(gamma, A)
    np.testing.assert_allclose(
        explicit_bound(N, gamma, A, K, beta),
        theorem1_rate(N, gamma, A, K) * explicit_constant(gamma, A, beta),
        rtol=1e-12,
    )
    grid = beta * np.array([0.5, 0.9, 1.1, 2.0])
    assert np.all(explicit_constant(gamma, A, grid) > explicit_constant(gamma, A, beta))
    assert explicit_constant(gamma, A, beta) == pytest.approx(1 / (math.sqrt(2) * (1 - gamma)), rel=1e-12)


def test_rescale_rewards_and_get_game_accept_both_game_forms():
    from mappo_lite import get_game, make_game
    from mappo_lite.games import SparseCooperativeMarkovGame, sparse_from_dense
    from mappo_lite.theory import rescale_rewards

    dense = make_game("climbing")
    sparse = sparse_from_dense(dense)
    assert get_game(sparse) is sparse
    rd, rs = rescale_rewards(dense), rescale_rewards(sparse)
    assert isinstance(rs, SparseCooperativeMarkovGame)
    np.testing.assert_allclose(rs.r, rd.r, rtol=0, atol=1e-15)
    assert rs.meta["optimum"] == pytest.approx(rd.meta["optimum"], rel=1e-15)
