"""The centralized mirror step factored autoregressively (mappo_lite.improvement.centralized_mirror_step; chapter 5)."""

from __future__ import annotations

import numpy as np
import pytest

from mappo_lite import ConditionalLogLinearPolicy, MappoLiteError, evaluate, ideal_mirror_step, make_game
from mappo_lite.improvement import centralized_mirror_step


def _game_and_policy(seed: int, sizes=(2, 3, 2)):
    game = make_game("random", n_states=3, n_agents=len(sizes), n_actions=list(sizes), gamma=0.8, seed=seed)
    rng = np.random.default_rng(seed)
    base = ConditionalLogLinearPolicy.for_game(game)
    return game, base.with_thetas([1.5 * rng.standard_normal(f.dim) for f in base.features])


@pytest.mark.parametrize("beta", [0.3, 1.0, 5.0])
def test_factors_multiply_to_the_joint_step_and_the_last_agent_is_mappo(beta):
    for seed in range(3):
        game, pol = _game_and_policy(seed)
        ev = evaluate(game, pol)
        out = centralized_mirror_step(game, pol, beta)
        Q = ev.Q.reshape(game.n_states, -1)
        w = ev.pi_joint * np.exp((Q - Q.max(axis=1, keepdims=True)) / beta)
        np.testing.assert_allclose(out["centralized"].joint(), w / w.sum(axis=1, keepdims=True), rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(out["centralized"].tables[-1], out["mappo"].tables[-1], rtol=1e-12, atol=1e-15)
        # earlier agents differ: MA-PPO's joint step is not the centralized one
        assert np.max(np.abs(out["centralized"].joint() - out["mappo"].joint())) > 1e-6
        scale = max(1.0, float(np.max(np.abs(Q))))
        assert out["target_gap"][-1] <= 1e-12 * scale
        for m in range(game.n_agents + 1):  # Jensen: the soft value is at least the mean
            assert np.all(out["soft"][m] >= out["mean"][m] - 1e-12 * scale)
        # Hoeffding, summed backward over the agents
        assert np.all(out["target_gap"] <= out["hoeffding"] * (1 + 1e-12) + 1e-12 * scale)


def test_mappo_factor_is_the_library_ideal_step():
    game, pol = _game_and_policy(4)
    ev, beta = evaluate(game, pol), 0.7
    out = centralized_mirror_step(game, pol, beta)
    for m in range(1, game.n_agents + 1):
        logits = ideal_mirror_step(np.log(ev.tables.tables[m - 1]).reshape(-1), ev.q_local[m], beta)
        logits = logits.reshape(-1, game.action_sizes[m - 1])
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        np.testing.assert_allclose(out["mappo"].tables[m - 1], p / p.sum(axis=1, keepdims=True), rtol=1e-10, atol=1e-15)


def test_gap_shrinks_like_one_over_beta():
    game, pol = _game_and_policy(0, sizes=(3, 2))
    g = [centralized_mirror_step(game, pol, b)["target_gap"][0] for b in (10.0, 20.0, 40.0)]
    np.testing.assert_allclose([g[0] / g[1], g[1] / g[2]], [2.0, 2.0], rtol=0.05)


def test_zero_probability_actions_and_bad_beta():
    game = make_game("climbing")
    b = np.eye(3)[1]
    out = centralized_mirror_step(game, [b[None, :], np.tile(b, (3, 1))], 1.0)  # deterministic: nothing moves
    np.testing.assert_allclose(out["centralized"].joint(), out["mappo"].joint(), atol=1e-15)
    assert np.all(np.isfinite(out["target_gap"]))
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(MappoLiteError):
            centralized_mirror_step(game, "uniform", bad)
