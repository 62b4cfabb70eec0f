"""mappo_lite.envs.pettingzoo: the PettingZoo bridge passes PettingZoo's own API and seed tests, and Monte Carlo
returns through it agree with the exact J (the appendix "A PettingZoo bridge")."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

pytest.importorskip("pettingzoo")

from pettingzoo.test import parallel_api_test, parallel_seed_test  # noqa: E402

from mappo_lite import evaluate, ma_ppo, make_game  # noqa: E402
from mappo_lite.envs.pettingzoo import CooperativeParallelEnv, monte_carlo_J, parallel_env, policy_returns  # noqa: E402
from mappo_lite.errors import MappoLiteError  # noqa: E402
from tests.fixtures import ROOT  # noqa: E402

GAMES = ["climbing", "ratio", "two_step", "random"]


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("name", GAMES)
def test_parallel_api_and_seed_tests_pass_without_warnings(name, conditional):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(parallel_env(name, conditional=conditional), num_cycles=300)
        parallel_seed_test(lambda: parallel_env(name, conditional=conditional))


@pytest.mark.parametrize("conditional", [False, True])
def test_observations_lie_in_their_spaces_and_turns_reveal_the_prefix(conditional):
    env = parallel_env("random", conditional=conditional)
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(50):
        if not env.agents:
            obs, _ = env.reset()
        for a in env.agents:
            assert env.observation_space(a).contains(obs[a])
        chosen = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
        turn = env._turn
        obs, rew, term, trunc, _ = env.step(chosen)
        if conditional and turn < env.game.n_agents and env.agents:
            # the next agent sees the action just chosen, and only it may act
            nxt = f"agent_{turn + 1}"
            assert int(obs[nxt]["observation"][turn]) == chosen[f"agent_{turn}"]  # exact: integers
            assert obs[nxt]["action_mask"].sum() == env.action_space(nxt).n  # exact: integers
            assert all(v == 0.0 for v in rew.values())  # exact: the env writes 0.0 between turns


def test_same_seed_same_returns_other_seed_other_returns():
    env = parallel_env("two_step", conditional=True)
    a = policy_returns(env, "uniform", 200, seed=5)
    b = policy_returns(parallel_env("two_step", conditional=True), "uniform", 200, seed=5)
    c = policy_returns(env, "uniform", 200, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", ["random", "ratio", "climbing"])
def test_monte_carlo_return_agrees_with_exact_J(name):
    """The undiscounted return's mean is J (termination with probability 1 - γ·rowmass); the CLT interval at
    δ = 1e-6 must contain J, and a biased env (returns shifted by 1% of the reward range) must fall outside."""
    game = make_game(name)
    policy = ma_ppo(game, K=5, beta=1.0).policies[-1]
    J = evaluate(game, policy).J
    mc = monte_carlo_J(parallel_env(game, conditional=True), policy, 4000, seed=1, delta=1e-6)
    assert mc["low"] <= J <= mc["high"], (J, mc["mean"], mc["half_width"])
    span = float(np.ptp(game.r)) * game.effective_horizon
    assert mc["half_width"] < 0.2 * max(span, 1.0)


def test_a_conditional_policy_is_refused_by_the_simultaneous_env():
    game = make_game("climbing")
    conditional_policy = ma_ppo(game, K=20, beta=0.1).policies[-1]
    with pytest.raises(MappoLiteError, match="conditional=True"):
        policy_returns(parallel_env(game, conditional=False), conditional_policy, 5)
    # a product policy runs in both and gives the same J within the interval
    J = evaluate(game, "uniform").J
    mc = monte_carlo_J(parallel_env(game), "uniform", 4000, seed=0)
    assert mc["low"] <= J <= mc["high"]


def test_truncation_and_bad_arguments():
    env = CooperativeParallelEnv("two_step", max_cycles=1)
    env.reset(seed=0)
    _, _, term, trunc, _ = env.step({a: 0 for a in env.agents})
    assert all(trunc.values()) or all(term.values())
    assert env.agents == []
    with pytest.raises(MappoLiteError):
        env.step({})
    env.reset(seed=0)
    with pytest.raises(MappoLiteError):
        env.step({"agent_1": 0})  # agent 2 missing in the simultaneous env
    with pytest.raises(MappoLiteError):
        env.step({"agent_1": 0, "agent_2": 7})
    with pytest.raises(MappoLiteError):
        CooperativeParallelEnv("climbing", conditional="yes")


def test_core_imports_without_the_extras():
    code = textwrap.dedent(
        """
        import importlib.abc, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("pettingzoo", "gymnasium", "joblib", "dask", "distributed", "tqdm"):
                    raise ImportError(f"blocked: {name}")

        sys.meta_path.insert(0, Block())
        import mappo_lite, mappo_lite.envs
        from mappo_lite.experiments.sweep import grid, run_sweep
        out = run_sweep(grid(game="climbing", K=[2, 3], beta=0.1), quiet=True)
        assert len(out) == 2
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr
