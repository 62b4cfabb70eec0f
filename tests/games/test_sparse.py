"""Sparse games (mappo_lite/games/sparse.py): the same game in dense and successor-list form gives the same V, Q,
nu, Q^{1:m} and J* to 1e-10 (also stopping games with gamma = 1, and the iterative solver path); the .npz round trip;
every malformed sparse game raises MappoLiteError; the 10^4-state gridworld is evaluated and trained without the
dense tensor (checked with tracemalloc), and its solves do not fall back to the sparse LU on stochastic policies
(the cause of the ~10 s MA-PPO iterations).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from mappo_lite import MappoLiteError, evaluate, load_game, ma_ppo, make_game, optimal_value
from mappo_lite.games import sparse as sg
from mappo_lite.games.dense import CooperativeMarkovGame
from mappo_lite.games.sparse import SparseCooperativeMarkovGame, sparse_from_dense
from mappo_lite.kernels import reference as KR
from mappo_lite.kernels import sparse as SK
from tests.fixtures import GAME_CASES, make_random_game, random_loglinear

# The iterative (GMRES) path guarantees |x - x*|_inf <= ITERATIVE_TOL * max(1, |b|_inf) with ITERATIVE_TOL = 1e-11
# (sparse_games.solve_linear); b is r_pi (|b| <= max|r|) or rho. Values are compared to TOL * max(1, max|r|), 10x that.
TOL = 1e-10


def _stopping_game(S=6, sizes=(2, 3), stop=(0.05, 0.4), seed=0):
    """A random stopping game: rows of P sum to 1 - stop(s, a) < 1, gamma = 1."""
    rng = np.random.default_rng(seed)
    shape = (S,) + tuple(sizes)
    P = rng.dirichlet(np.ones(S) * 0.5, size=shape) * (1.0 - rng.uniform(*stop, size=shape))[..., None]
    return CooperativeMarkovGame(P, rng.standard_normal(shape), 1.0, name="stopping")


def _few_successors_game(S=150, sizes=(3, 2), K=3, gamma=0.95, seed=0, stopping=False):
    """A random game with at most K successors per (s, a), built in sparse form."""
    rng = np.random.default_rng(seed)
    shape = (S,) + tuple(sizes)
    nxt = rng.integers(0, S, size=shape + (K,))
    probs = rng.dirichlet(np.ones(K), size=shape)
    if stopping:
        probs *= (1.0 - rng.uniform(0.01, 0.1, size=shape))[..., None]
        gamma = 1.0
    return SparseCooperativeMarkovGame(nxt, probs, rng.random(shape), gamma, name="few-successors")


DENSE_GAMES = {
    "climbing": lambda: make_game("climbing"),
    "penalty": lambda: make_game("penalty"),
    "ratio (gamma=1)": lambda: make_game("ratio"),
    "two_step": lambda: make_game("two_step"),
    "gridworld 3x3": lambda: make_game("gridworld"),
    "stopping S=6 (gamma=1)": _stopping_game,
    **{f"random {i}": (lambda c=c: make_random_game(c)) for i, c in enumerate(GAME_CASES[:3])},
}


def _assert_same(dense, sparse, policy):
    ed, es = evaluate(dense, policy), evaluate(sparse, policy)
    scale = max(1.0, float(np.abs(dense.r).max()))  # the solver's accuracy is relative to max(1, |r_pi|)
    np.testing.assert_allclose(es.V, ed.V, atol=TOL * scale, rtol=0)
    np.testing.assert_allclose(es.Q, ed.Q, atol=TOL * scale, rtol=0)
    np.testing.assert_allclose(es.nu, ed.nu, atol=TOL, rtol=0)
    np.testing.assert_allclose(es.occupancy, ed.occupancy, atol=TOL * max(1, ed.occupancy.max()), rtol=0)
    for m in range(dense.n_agents + 1):
        np.testing.assert_allclose(es.q_local[m], ed.q_local[m], atol=TOL * scale, rtol=0)
    assert abs(es.J - ed.J) < TOL * scale
    np.testing.assert_allclose(es.P_pi.toarray(), ed.P_pi, atol=1e-13, rtol=0)
    np.testing.assert_allclose(es.r_pi, ed.r_pi, atol=1e-13, rtol=0)


@pytest.mark.parametrize("name", list(DENSE_GAMES))
def test_dense_and_sparse_forms_agree(name):
    dense = DENSE_GAMES[name]()
    sparse = sparse_from_dense(dense)
    assert isinstance(sparse, SparseCooperativeMarkovGame) and sparse.n_successors <= dense.n_states
    rng = np.random.default_rng(len(name))
    for policy in ("uniform", random_loglinear(dense, rng)):
        _assert_same(dense, sparse, policy)
    od, os_ = optimal_value(dense), optimal_value(sparse)
    assert abs(od.J_star - os_.J_star) < TOL
    np.testing.assert_allclose(os_.V_star, od.V_star, atol=TOL, rtol=0)
    if "optimum" in dense.meta:
        assert abs(os_.J_star - dense.meta["optimum"]) < 1e-8
    # and back: the sparse form scattered into a dense tensor is the original P
    np.testing.assert_allclose(sparse.to_dense().P, dense.P, atol=1e-15, rtol=0)  # exact: entries copied there and back


def test_gridworld_built_sparse_equals_built_dense():
    """The gridworld's own sparse builder (not sparse_from_dense) against its dense builder, 3 agents."""
    kw = dict(width=3, height=2, n_agents=3, slip=0.2, gamma=0.9)
    dense = make_game("gridworld", **kw)
    sparse = make_game("gridworld", sparse=True, **kw)
    assert sparse.n_successors == 8
    _assert_same(dense, sparse, random_loglinear(dense, np.random.default_rng(0)))
    assert abs(dense.meta["optimum"] - sparse.meta["optimum"]) < TOL


@pytest.mark.parametrize("gamma, stopping", [(0.9, False), (0.99, False), (1.0, True)])
def test_iterative_solver_path_matches_dense(monkeypatch, gamma, stopping):
    """Force the GMRES path (DIRECT_SOLVE_MAX_STATES below S) and compare with the dense LU solve, for a stochastic
    policy, a nearly deterministic one (where restarted GMRES is slowest) and a deterministic one (sparse LU)."""
    sparse = _few_successors_game(gamma=gamma, stopping=stopping, seed=int(gamma * 100))
    dense = sparse.to_dense()
    calls = {"direct": 0, "gmres": 0}
    real_direct, real_gmres = sg.direct_solve, sg.gmres_refined

    def counting_direct(M, b):
        calls["direct"] += 1
        return real_direct(M, b)

    def counting_gmres(*a, **k):
        calls["gmres"] += 1
        return real_gmres(*a, **k)

    monkeypatch.setattr(sg, "DIRECT_SOLVE_MAX_STATES", 10)
    monkeypatch.setattr(sg, "direct_solve", counting_direct)
    monkeypatch.setattr(sg, "gmres_refined", counting_gmres)
    rng = np.random.default_rng(1)
    pol = random_loglinear(dense, rng)
    _assert_same(dense, sparse, pol)
    assert calls == {"direct": 0, "gmres": 2}  # V and the occupancy
    sharp = pol.with_thetas([8.0 * t for t in pol.thetas])
    _assert_same(dense, sparse, sharp)
    od, os_ = optimal_value(dense), optimal_value(sparse)  # deterministic policies: sparse LU
    np.testing.assert_allclose(os_.V_star, od.V_star, atol=TOL, rtol=0)


def test_sparse_policy_csr_matches_coo_and_reference():
    game = _few_successors_game(S=40, sizes=(2, 3), K=4, seed=3)
    S, J = game.n_states, game.n_joint_actions
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(J), size=S)
    pi[0] = 0.0
    pi[0, 2] = 1.0  # a deterministic row (zero weights are skipped)
    nxt, pr = game.flat_successors()
    indptr, indices, data, r_pi = SK.sparse_policy_csr(nxt, pr, game.r_flat, pi)
    rows, cols, vals, r_pi2 = SK.sparse_policy_rows(nxt, pr, game.r_flat, pi)
    coo = sp.coo_matrix((vals, (rows, cols)), shape=(S, S)).toarray()
    csr = sp.csr_matrix((data, indices, indptr), shape=(S, S))
    # sums of pi * p over joint actions in different orders: probabilities and rewards in [0, 1], ~450 ulps of 1
    np.testing.assert_allclose(csr.toarray(), coo, atol=1e-13)
    np.testing.assert_allclose(r_pi, r_pi2, atol=1e-13)
    np.testing.assert_allclose(csr.toarray(), np.einsum("sj,sjt->st", pi, game.to_dense().P_flat), atol=1e-13)
    for s in range(S):  # sorted, unique column indices per row, no explicit zeros
        cols_s = indices[indptr[s] : indptr[s + 1]]
        assert np.all(np.diff(cols_s) > 0)
    assert np.all(data > 0)
    V = rng.standard_normal(S)
    np.testing.assert_allclose(game.q_from_v(V), KR.sparse_q_from_v(nxt, pr, game.r_flat, game.gamma, V), atol=1e-13)


def test_save_load_round_trip(tmp_path):
    game = sparse_from_dense(_stopping_game(seed=4))
    path = tmp_path / "stop.npz"
    game.save(path)
    with np.load(path) as data:
        assert set(data.files) == {"next_states", "probs", "r", "gamma", "rho"}
        assert data["next_states"].dtype == np.int64 and data["probs"].dtype == np.float64
    back = load_game(path)
    assert isinstance(back, SparseCooperativeMarkovGame)
    for key in ("next_states", "probs", "r", "rho"):
        np.testing.assert_array_equal(getattr(back, key), getattr(game, key))  # exact: saved and read back
    assert back.gamma == game.gamma == 1.0  # exact: saved and read back
    assert (
        abs(evaluate(back).J - evaluate(game).J) == 0.0
    )  # exact: bit-identical arrays in, the same computation in the same process
    grid = make_game("gridworld", width=4, height=3, sparse=True)
    grid.save(tmp_path / "grid.npz")
    g2 = load_game(tmp_path / "grid.npz")
    np.testing.assert_allclose(evaluate(g2).V, evaluate(grid).V, atol=0, rtol=0)  # exact: as above


def _valid_parts():
    rng = np.random.default_rng(0)
    nxt = rng.integers(0, 4, size=(4, 2, 2, 3))
    probs = rng.dirichlet(np.ones(3), size=(4, 2, 2))
    return nxt, probs, rng.random((4, 2, 2))


BAD = {
    "shape mismatch": lambda n, p, r: (n[..., :2], p, r, 0.9),
    "r shape": lambda n, p, r: (n, p, r[:, :1], 0.9),
    "index too large": lambda n, p, r: (np.where(n == 0, 4, n), p, r, 0.9),
    "negative index": lambda n, p, r: (n - 1, p, r, 0.9),
    "non-integer index": lambda n, p, r: (n + 0.5, p, r, 0.9),
    "string index": lambda n, p, r: (n.astype(str), p, r, 0.9),
    "negative prob": lambda n, p, r: (n, p - 0.5, r, 0.9),
    "nan prob": lambda n, p, r: (n, np.where(p > 0.5, np.nan, p), r, 0.9),
    "rows not 1": lambda n, p, r: (n, p * 0.9, r, 0.9),
    "gamma 1 without stopping": lambda n, p, r: (n, p, r, 1.0),
    "gamma > 1": lambda n, p, r: (n, p, r, 1.5),
    "rows above 1": lambda n, p, r: (n, p * 1.1, r, 1.0),
    "inf reward": lambda n, p, r: (n, p, r + np.inf, 0.9),
    "no successor slot": lambda n, p, r: (n[..., :0], p[..., :0], r, 0.9),
    "too few dims": lambda n, p, r: (n[:, 0, 0, :], p[:, 0, 0, :], r[:, 0, 0], 0.9),
}


@pytest.mark.parametrize("case", list(BAD))
def test_sparse_validation_errors(case):
    args = BAD[case](*_valid_parts())
    with pytest.raises(MappoLiteError):
        SparseCooperativeMarkovGame(*args)


def test_sparse_validation_rho_and_files(tmp_path):
    nxt, probs, r = _valid_parts()
    SparseCooperativeMarkovGame(nxt, probs, r, 0.9)  # the valid one is accepted
    with pytest.raises(MappoLiteError):
        SparseCooperativeMarkovGame(nxt, probs, r, 0.9, rho=np.ones(4))
    np.savez(tmp_path / "half.npz", next_states=nxt, r=r, gamma=0.9)  # probs missing
    with pytest.raises(MappoLiteError, match="lacks"):
        load_game(tmp_path / "half.npz")
    np.savez(tmp_path / "extra.npz", next_states=nxt, probs=probs, r=r, gamma=0.9, P=np.zeros(1))
    with pytest.raises(MappoLiteError):
        load_game(tmp_path / "extra.npz")
    np.savez(tmp_path / "bad.npz", next_states=nxt + 10, probs=probs, r=r, gamma=0.9)
    with pytest.raises(MappoLiteError, match="bad.npz"):
        load_game(tmp_path / "bad.npz")


@pytest.fixture(scope="module")
def big_grid():
    return make_game("gridworld", width=10, height=10, n_agents=2, sparse=True)


def test_ten_thousand_states_without_the_dense_tensor(big_grid):
    game = big_grid
    S, J = game.n_states, game.n_joint_actions
    assert S == 10_000
    dense_bytes = 8 * S * J * S  # 20 GB
    tracemalloc.start()
    try:
        ev = evaluate(game)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100e6 and peak < dense_bytes / 100, peak  # the largest NumPy allocation is far below S^2 |A|
    # the values are right: Bellman residual, and V = sum_a pi Q
    res = ev.V - (ev.r_pi + game.gamma * (ev.P_pi @ ev.V))
    assert np.abs(res).max() < 1e-10
    np.testing.assert_allclose((ev.pi_joint * ev.Q.reshape(S, J)).sum(axis=1), ev.V, atol=1e-10)
    np.testing.assert_allclose(ev.nu.sum(), 1.0, atol=1e-12)
    occ_res = ev.occupancy - (game.rho + game.gamma * (ev.P_pi.T @ ev.occupancy))
    assert np.abs(occ_res).sum() < 1e-9


def test_ma_ppo_on_ten_thousand_states_uses_gmres(big_grid, monkeypatch):
    """The fix for the slow iterations: on the stochastic MA-PPO policies every solve succeeds iteratively (no
    fallback to the sparse LU, which took seconds per solve after SciPy's BiCGSTAB broke down)."""
    calls = {"direct": 0}
    real = sg.direct_solve

    def counting(M, b):
        calls["direct"] += 1
        return real(M, b)

    n_pi = optimal_value(big_grid).iterations  # J*: one solve per policy-iteration step, deterministic policies
    monkeypatch.setattr(sg, "direct_solve", counting)
    tracemalloc.start()
    try:
        res = ma_ppo(big_grid, K=2, beta=0.1, keep_policies=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 3 evaluations x 2 solves went to GMRES; only ma_ppo's own J* computation (policy iteration) used the LU
    assert calls["direct"] == n_pi
    assert np.all(np.diff(res.J) > 0)
    assert res.J_star == pytest.approx(big_grid.meta["optimum"], abs=1e-9)
    assert peak < 200e6
