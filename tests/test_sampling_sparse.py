"""Monte Carlo rollouts over successor lists (issue 13): the numba kernel and its NumPy twin agree in distribution
with the dense kernel and with exact values; sampled MA-PPO trains on a 10^4-state gridworld with compact
features without ever allocating the dense transition tensor.

The statistical checks use fixed seeds and a stated tolerance: a mean of n independent returns must lie within
Z = 5 standard errors (estimated from the same draws) of the value it estimates; with a fixed seed the test is
deterministic, and a correct estimator fails such a bound with probability below 1e-6 per comparison."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from mappo_lite import evaluate, independent_npg, kernels, ma_ppo, make_game
from mappo_lite.games.sparse import sparse_from_dense
from mappo_lite.sampling import cumulative_tables, mc_localized_q, rollout_transitions, sparse_rollout_tables

Z = 5.0


def _policy(game, seed=0):
    from mappo_lite.policies import context_counts

    rng = np.random.default_rng(seed)
    tabs = []
    for c, A in zip(context_counts(game.n_states, game.action_sizes), game.action_sizes):
        x = np.exp(rng.standard_normal((c, A)))
        tabs.append(x / x.sum(axis=1, keepdims=True))
    return evaluate(game, tabs)


def _games():
    dense = make_game("gridworld", width=3, height=2, n_agents=2, slip=0.2, gamma=0.8, start=None, lone_reward=0.3)
    return dense, sparse_from_dense(dense)


def _per_rollout(fn, args, n):
    """n single-rollout estimates of each sample (different seeds): (n, T)."""
    return np.stack([fn(*args[:-1], seed) for seed in range(n)])


@pytest.mark.parametrize("m", [0, 1, 2])
def test_sparse_kernel_twin_and_dense_agree_in_distribution(m):
    dense, sparse = _games()
    ev = _policy(dense)
    rng = np.random.default_rng(m)
    T = 6
    states = rng.integers(dense.n_states, size=T).astype(np.int64)
    prefix = rng.integers(5, size=(T, 2)).astype(np.int64)
    truth = ev.q_local[m][(states,) + tuple(prefix[:, i] for i in range(m))]
    pi_cum, offsets = cumulative_tables(ev.tables)
    sizes = np.asarray(dense.action_sizes, np.int64)
    nxt, cum = sparse_rollout_tables(sparse)
    n = 2000
    runs = {
        "sparse-numba": lambda seed: kernels.KERNELS["mc_localized_q_sparse"].numba(
            nxt, cum, sparse.r_flat, sparse.gamma, pi_cum, offsets, sizes, states, prefix, m, n, 10_000, seed
        ),
        "sparse-numpy": lambda seed: kernels.KERNELS["mc_localized_q_sparse"].numpy(
            nxt, cum, sparse.r_flat, sparse.gamma, pi_cum, offsets, sizes, states, prefix, m, n, 10_000, seed
        ),
        "dense-numba": lambda seed: kernels.mc_localized_q(
            rollout_transitions(dense),
            dense.r_flat,
            dense.gamma,
            pi_cum,
            offsets,
            sizes,
            states,
            prefix,
            m,
            n,
            10_000,
            seed,
        ),
    }
    # the standard error of one rollout's return: estimated from 400 single rollouts per sample
    single = np.stack(
        [
            kernels.KERNELS["mc_localized_q_sparse"].numba(
                nxt, cum, sparse.r_flat, sparse.gamma, pi_cum, offsets, sizes, states, prefix, m, 1, 10_000, 1000 + i
            )
            for i in range(400)
        ]
    )
    se = single.std(axis=0, ddof=1) / np.sqrt(n) + 1e-12
    means = {name: run(7) for name, run in runs.items()}
    for name, est in means.items():
        assert np.all(np.abs(est - truth) <= Z * se), name  # each estimator is unbiased for Q^{1:m}
    # and they agree with each other (difference of two independent means: sqrt(2) standard errors)
    assert np.all(np.abs(means["sparse-numba"] - means["sparse-numpy"]) <= Z * np.sqrt(2) * se)
    assert np.all(np.abs(means["sparse-numba"] - means["dense-numba"]) <= Z * np.sqrt(2) * se)


def test_library_mc_routes_sparse_games_to_the_successor_lists():
    dense, sparse = _games()
    ev_d, ev_s = _policy(dense), _policy(sparse)
    states = np.arange(sparse.n_states, dtype=np.int64)
    actions = np.zeros((states.size, 2), dtype=np.int64)
    est = mc_localized_q(sparse, ev_s.tables, 2, states, actions, n_rollouts=3000, seed=0)
    single = np.stack(
        [mc_localized_q(sparse, ev_s.tables, 2, states, actions, n_rollouts=1, seed=100 + i) for i in range(300)]
    )
    se = single.std(axis=0, ddof=1) / np.sqrt(3000) + 1e-12
    truth = ev_d.Q.reshape(dense.n_states, -1)[:, 0]
    assert np.all(np.abs(est - truth) <= Z * se)


def test_sparse_rollout_steps_twin_and_dense_agree():
    dense, sparse = _games()
    ev = _policy(dense, seed=3)
    pi_cum, offsets = cumulative_tables(ev.tables)
    sizes = np.asarray(dense.action_sizes, np.int64)
    nxt, cum = sparse_rollout_tables(sparse)
    starts = np.arange(dense.n_states, dtype=np.int64)
    n_steps = 200_000
    a, ea = kernels.KERNELS["rollout_steps_sparse"].numba(
        nxt, cum, sparse.r_flat, sparse.gamma, pi_cum, offsets, sizes, starts, n_steps, 1
    )
    b, eb = kernels.KERNELS["rollout_steps_sparse"].numpy(
        nxt, cum, sparse.r_flat, sparse.gamma, pi_cum, offsets, sizes, starts, 40_000, 2
    )
    c, ec = kernels.rollout_steps(
        rollout_transitions(dense), dense.r_flat, dense.gamma, pi_cum, offsets, sizes, starts, n_steps, 3
    )
    # episodes have mean length 1/(1-gamma) = 5; returns lie in [0, max r * length]: their mean per episode
    # is estimated to a standard error below max|r| * 5 / sqrt(episodes)
    scale = float(np.abs(dense.r).max()) * 5.0
    for (x, ex), (y, ey) in (((a, ea), (b, eb)), ((a, ea), (c, ec))):
        assert abs(x - y) <= Z * scale * np.sqrt(1 / ex + 1 / ey)
    assert abs(ea / n_steps - (1 - dense.gamma)) <= Z * np.sqrt(ea) / n_steps  # episodes end at rate 1 - gamma


def test_sparse_tables_never_draw_padding_and_stop_in_dead_states():
    _, sparse = _games()
    nxt, cum = sparse_rollout_tables(sparse)
    pr = sparse.probs.reshape(nxt.shape)
    last_pos = nxt.shape[-1] - 1 - np.argmax((pr > 0)[..., ::-1], axis=-1)
    assert np.all(np.take_along_axis(cum, last_pos[..., None], axis=-1) == 1.0)  # exact: set to the constant 1.0


def test_sampled_mappo_on_a_10k_state_gridworld_without_the_dense_tensor():
    game = make_game("gridworld", width=10, height=10, n_agents=2, sparse=True, start="centre")
    S, J = game.n_states, game.n_joint_actions
    assert S >= 10_000
    dense_bytes = S * J * S * 8  # 20 GB
    tracemalloc.start()
    try:
        res = ma_ppo(
            game,
            K=2,
            beta=0.1,
            solver="sgd",
            evaluation="mc",
            features="gridworld",
            T=500,
            n_rollouts=2,
            J_star=1.0,
            keep_policies=False,
            seed=0,
        )
        ind = independent_npg(
            game,
            K=2,
            beta=0.1,
            solver="sgd",
            evaluation="mc",
            features="gridworld-noprefix",
            T=500,
            n_rollouts=2,
            J_star=1.0,
            keep_policies=False,
            seed=0,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # NumPy's allocations (tracked by tracemalloc): far below one (S, S) float64 matrix (800 MB), let alone the
    # (S, |A|, S) tensor; the largest arrays are the successor lists (S |A| 4 entries) and agent 2's logits
    assert peak <= 400e6
    assert peak <= dense_bytes / 50
    for r in (res, ind):
        assert np.all(np.isfinite(r.J)) and np.all(r.J >= -1e-12)
        assert np.all(np.isfinite(r.xi)) and r.xi.max() > 0  # sampled targets were used
