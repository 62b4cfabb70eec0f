"""The centralized mirror step factored autoregressively (mappo_lite.improvement.centralized_mirror_step; chapter 5)."""

from __future__ import annotations

import numpy as np

from mappo_lite.evaluation import evaluate
from mappo_lite.figures.identities import random_trial
from mappo_lite.improvement import centralized_mirror_step


def test_factors_multiply_to_the_joint_step_and_last_agent_is_mappo():
    for seed in range(3):
        game, old, _ = random_trial(seed, n_agents=3)
        ev = evaluate(game, old)
        beta = 0.7
        out = centralized_mirror_step(ev.tables, ev.Q, beta)
        Q = ev.Q.reshape(game.n_states, -1)
        w = ev.pi_joint * np.exp((Q - Q.max(axis=1, keepdims=True)) / beta)
        np.testing.assert_allclose(out["centralized"].joint(), w / w.sum(axis=1, keepdims=True), rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(out["centralized"].tables[-1], out["mappo"].tables[-1], rtol=1e-12, atol=1e-15)
        # earlier agents differ: MA-PPO's joint is not the centralized step
        assert np.max(np.abs(out["centralized"].joint() - out["mappo"].joint())) > 1e-4
        scale = np.max(np.abs(Q))
        assert out["target_gap"][-1] <= 1e-12 * scale
        # Jensen: the soft value is at least the mean; Hoeffding: by at most range^2/(8 beta) per level
        for m in range(3):
            assert np.all(out["soft"][m] >= out["mean"][m] - 1e-12 * scale)


def test_gap_shrinks_like_one_over_beta():
    game, old, _ = random_trial(0, n_agents=2)
    ev = evaluate(game, old)
    g = [centralized_mirror_step(ev.tables, ev.Q, b)["target_gap"][0] for b in (10.0, 20.0, 40.0)]
    np.testing.assert_allclose([g[0] / g[1], g[1] / g[2]], [2.0, 2.0], rtol=0.05)
