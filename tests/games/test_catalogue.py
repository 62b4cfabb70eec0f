"""The built-in games check their parameters through ``mappo_lite._validate``: nothing is truncated or coerced."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mappo_lite import MappoLiteError
from mappo_lite.games.catalogue import penalty, random_game
from mappo_lite.improvement import policy_improvement_solver
from mappo_lite.policies.features import TabularFeatures


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_states": 1.7}, "n_states must be a positive integer"),
        ({"n_states": 0}, "n_states must be a positive integer"),
        ({"n_states": "3"}, "n_states must be a positive integer"),
        ({"n_states": True}, "n_states must be a positive integer"),
        ({"n_agents": math.nan}, "n_agents must be a positive integer"),
        ({"n_actions": 2.5}, "n_actions must be a positive integer"),
        ({"n_actions": [2, "x"]}, "n_actions of each agent must be a positive integer"),
        ({"n_actions": [2, 2, 2]}, "one per agent"),
        ({"concentration": 0.0}, "concentration must be a positive"),
        ({"concentration": math.inf}, "concentration must be a positive finite"),
        ({"concentration": "1"}, "concentration must be a positive number"),
    ],
)
def test_random_game_refuses_what_it_would_truncate(kwargs, match):
    args = {"n_states": 3, "n_agents": 2, "n_actions": 2, "seed": 0} | kwargs
    with pytest.raises(MappoLiteError, match=match):
        random_game(**args)


def test_random_game_accepts_whole_floats_and_numpy_ints():
    a = random_game(n_states=np.int64(3), n_agents=2.0, n_actions=[np.int32(2), 3], seed=0)
    b = random_game(n_states=3, n_agents=2, n_actions=[2, 3], seed=0)
    assert a.n_states == 3 and a.action_sizes == b.action_sizes == (2, 3)
    np.testing.assert_array_equal(a.P, b.P)


@pytest.mark.parametrize("k", [1.0, math.nan, math.inf, "abc", None, True])
def test_penalty_refuses_a_bad_k(k):
    with pytest.raises(MappoLiteError, match="penalty k"):
        penalty(k)


def test_penalty_accepts_zero_and_a_numpy_float():
    assert penalty(np.float64(-5.0)).r.min() == -5.0
    assert penalty(0.0).r.min() == 0.0


def test_algorithm3_refuses_fractional_contexts_and_non_finite_targets():
    feats, th = TabularFeatures(3, 2), np.zeros(6)
    ctx, act, q = np.array([0, 1]), np.array([1, 0]), np.array([1.0, 2.0])
    with pytest.raises(MappoLiteError, match="contexts must hold integers"):
        policy_improvement_solver(feats, th, np.array([0.0, 1.5]), act, q, 1.0)
    with pytest.raises(MappoLiteError, match="q_hat contains NaN"):
        policy_improvement_solver(feats, th, ctx, act, np.array([1.0, math.nan]), 1.0)
    with pytest.raises(MappoLiteError, match="theta_k contains NaN"):
        policy_improvement_solver(feats, np.full(6, math.inf), ctx, act, q, 1.0)
