"""Exact lifts of dense games (games.lifted.lifted_game)."""

from __future__ import annotations

import pytest

from mappo_lite import make_game
from mappo_lite.games.lifted import lifted_game

# Rounding-level agreement of two computations of the same parameters: relative to their scale.
RTOL = 1e-10


def test_lifted_game_has_the_base_optimum():
    for name in ("climbing", "random"):
        game, blocks = _lifted(name)
        base = (
            make_game("climbing")
            if name == "climbing"
            else make_game("random", n_states=4, n_agents=2, n_actions=3, seed=1)
        )
        from mappo_lite import optimal_value

        assert optimal_value(game).J_star == pytest.approx(optimal_value(base).J_star, rel=1e-10, abs=1e-10)
        assert blocks.shape == (game.n_states,)


def _lifted(name):
    if name == "climbing":
        return lifted_game(make_game("climbing"), 3, seed=0)
    return lifted_game(make_game("random", n_states=4, n_agents=2, n_actions=3, seed=1), [2, 3, 1, 2], seed=0)
