"""Tests for mappo_lite.games.gridworld: the vectorized builders against a slow loop-by-loop reference, the index
conventions, walls, rewards, coordination at the optimum, scale, and every bad argument."""

import itertools
import time

import numpy as np
import pytest

from mappo_lite.errors import MappoLiteError
from mappo_lite.games.gridworld import (
    decode_state,
    encode_state,
    gridworld,
    gridworld_successors,
    render_state,
)

# ----- a slow, independent reference: explicit Python loops over every (state, joint action) ----------------------
DELTAS = {0: (0, 0), 1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1)}  # stay, up, down, left, right


def ref_agent_step(pos, action, width, height, slip):
    """{next position: probability} for one agent."""
    dr, dc = DELTAS[action]
    row, col = pos
    nr, nc = row + dr, col + dc
    if not (0 <= nr < height and 0 <= nc < width):
        nr, nc = row, col
    out = {}
    out[(nr, nc)] = out.get((nr, nc), 0.0) + (1.0 - slip if (nr, nc) != (row, col) else 1.0)
    if (nr, nc) != (row, col):
        out[(row, col)] = out.get((row, col), 0.0) + slip
    return out


def ref_all_positions(width, height, n_agents):
    """Every joint position, in state-index order (agent 1 most significant, cell = row * width + col)."""
    cells = [(r, c) for r in range(height) for c in range(width)]
    return list(itertools.product(cells, repeat=n_agents))


def ref_game(width, height, n_agents, slip=0.1, goals=None, start="centre", lone_reward=0.0):
    goals = [(0, width - 1), (height - 1, 0)] if goals is None else [tuple(g) for g in goals]
    states = ref_all_positions(width, height, n_agents)
    index = {p: i for i, p in enumerate(states)}
    S = len(states)
    P = np.zeros((S,) + (5,) * n_agents + (S,))
    r = np.zeros((S,) + (5,) * n_agents)
    for s, positions in enumerate(states):
        on_goal = [p in goals for p in positions]
        if all(p == positions[0] for p in positions) and positions[0] in goals:
            reward = 1.0
        elif any(on_goal):
            reward = lone_reward
        else:
            reward = 0.0
        for joint in itertools.product(range(5), repeat=n_agents):
            r[(s,) + joint] = reward
            per_agent = [ref_agent_step(p, a, width, height, slip) for p, a in zip(positions, joint)]
            for combo in itertools.product(*(d.items() for d in per_agent)):
                nxt = tuple(pos for pos, _ in combo)
                prob = float(np.prod([q for _, q in combo]))
                P[(s,) + joint + (index[nxt],)] += prob
    rho = np.zeros(S)
    if start is None:
        rho[:] = 1.0 / S
    else:
        centre = ((height - 1) // 2, (width - 1) // 2) if start == "centre" else tuple(start)
        rho[index[(centre,) * n_agents]] = 1.0
    return P, r, rho


def dense_from_successors(spec):
    """Scatter the sparse form into a dense array with a plain loop (independent of the module's bincount)."""
    ns, pr = spec["next_states"], spec["probs"]
    S = ns.shape[0]
    P = np.zeros(ns.shape[:-1] + (S,))
    for idx in np.ndindex(ns.shape[:-1]):
        for k in range(ns.shape[-1]):
            P[idx + (ns[idx + (k,)],)] += pr[idx + (k,)]
    return P


def value_iteration(P, r, gamma, tol=1e-12):
    S = P.shape[0]
    Pf = P.reshape(S, -1, S)
    rf = r.reshape(S, -1)
    V = np.zeros(S)
    while True:
        Q = rf + gamma * Pf @ V
        V_new = Q.max(axis=1)
        if np.max(np.abs(V_new - V)) < tol:
            return V_new, (rf + gamma * Pf @ V_new).reshape(r.shape)
        V = V_new


# ----- equivalence with the reference -------------------------------------------------------------------------
CASES = [
    dict(width=2, height=2, n_agents=2),
    dict(width=3, height=3, n_agents=2),
    dict(width=2, height=2, n_agents=3),
    # non-square grids catch row/column swaps; other parameters catch hard-coded defaults
    dict(width=3, height=2, n_agents=2, slip=0.25, lone_reward=0.3, start=(1, 2)),
    dict(width=1, height=3, n_agents=2, slip=0.0, goals=[(2, 0)], start=None),
    dict(width=4, height=1, n_agents=2, slip=1.0, goals=[(0, 1), (0, 3)], start=(0, 0)),
]


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_dense_equals_slow_reference(kw):
    P_ref, r_ref, rho_ref = ref_game(**kw)
    dense = gridworld(**kw)
    sparse = gridworld_successors(**kw)
    # entries are products of slip / 1 - slip summed over coinciding outcomes, in another order here: ~450 ulps of 1
    np.testing.assert_allclose(dense["P"], P_ref, rtol=0, atol=1e-13)
    np.testing.assert_allclose(dense_from_successors(sparse), P_ref, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(dense["r"], r_ref)  # exact: rewards are constants set by construction
    np.testing.assert_array_equal(sparse["r"], r_ref)  # exact: as above
    np.testing.assert_array_equal(dense["rho"], rho_ref)  # exact: one 1.0, or the single division 1.0 / S
    assert dense["P"].dtype == np.float64 and sparse["probs"].dtype == np.float64
    assert sparse["next_states"].dtype == np.int64


def test_four_agents_rows_match_reference():
    """2×2 with 4 agents has no dense form in the test budget: compare random rows with the reference step."""
    spec = gridworld_successors(width=2, height=2, n_agents=4, slip=0.3)
    ns, pr = spec["next_states"], spec["probs"]
    assert ns.shape == (256, 5, 5, 5, 5, 16)
    rng = np.random.default_rng(0)
    for _ in range(200):
        s = int(rng.integers(256))
        joint = tuple(int(a) for a in rng.integers(5, size=4))
        positions = decode_state(s, 2, 2, 4)
        expected = {}
        per_agent = [ref_agent_step(p, a, 2, 2, 0.3) for p, a in zip(positions, joint)]
        for combo in itertools.product(*(d.items() for d in per_agent)):
            nxt = encode_state([pos for pos, _ in combo], 2, 2)
            expected[nxt] = expected.get(nxt, 0.0) + float(np.prod([q for _, q in combo]))
        got = {}
        for k in range(16):
            got[int(ns[(s,) + joint + (k,)])] = got.get(int(ns[(s,) + joint + (k,)]), 0.0) + pr[(s,) + joint + (k,)]
        got = {k: v for k, v in got.items() if v > 0}
        assert got.keys() == expected.keys()
        for key in got:
            assert got[key] == pytest.approx(expected[key], abs=1e-13)  # products of 4 probabilities, summed


# ----- structure ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(), dict(width=4, height=3, n_agents=3, slip=0.0), dict(slip=1.0)])
def test_rows_are_distributions(kw):
    sparse = gridworld_successors(**kw)
    pr, ns = sparse["probs"], sparse["next_states"]
    S = ns.shape[0]
    assert np.all(pr >= 0)
    np.testing.assert_allclose(pr.sum(axis=-1), 1.0, rtol=0, atol=1e-13)  # ~450 ulps of 1
    assert ns.min() >= 0 and ns.max() < S
    # positive-probability successors are distinct within each row
    flat_ns, flat_pr = ns.reshape(-1, ns.shape[-1]), pr.reshape(-1, pr.shape[-1])
    for row_ns, row_pr in zip(flat_ns[::97], flat_pr[::97]):
        live = row_ns[row_pr > 0]
        assert len(set(live.tolist())) == len(live)
    if S**2 * 5 ** (ns.ndim - 2) <= 5e7:
        P = gridworld(**kw)["P"]
        assert np.all(P >= 0)
        np.testing.assert_allclose(P.sum(axis=-1), 1.0, rtol=0, atol=1e-13)
    np.testing.assert_allclose(sparse["rho"].sum(), 1.0)


def test_shapes_and_keys():
    spec = gridworld_successors(width=4, height=3, n_agents=3)
    S = 12**3
    assert set(spec) == {"next_states", "probs", "r", "gamma", "rho", "meta"}
    assert spec["next_states"].shape == (S, 5, 5, 5, 8) == spec["probs"].shape
    assert spec["r"].shape == (S, 5, 5, 5)
    assert spec["rho"].shape == (S,)
    assert spec["gamma"] == 0.9  # exact: the default, stored as given
    meta = spec["meta"]
    assert meta["name"] == "gridworld" and meta["width"] == 4 and meta["height"] == 3 and meta["n_agents"] == 3
    assert (
        meta["goals"] == ((0, 3), (2, 0)) and meta["start"] == ((1, 1),) * 3 and meta["slip"] == 0.1
    )  # exact: stored as given
    assert "built for this book" in meta["citation"]
    assert meta["state_labels"](encode_state([(0, 0), (1, 2), (2, 3)], 4, 3)) == "1@(0,0) 2@(1,2) 3@(2,3)"
    dense = gridworld()
    assert set(dense) == {"P", "r", "gamma", "rho", "meta"}
    assert dense["P"].shape == (81, 5, 5, 81)


def test_successor_slot_convention():
    """Slot k = Σ b_i 2^(N-i): b_i = 0 agent i moves, b_i = 1 agent i stays; a move that cannot happen pads."""
    w, h = 3, 3
    s = encode_state([(1, 1), (0, 0)], w, h)
    spec = gridworld_successors(slip=0.2)
    ns, pr = spec["next_states"][s, 4, 1], spec["probs"][s, 4, 1]  # agent 1 right, agent 2 up (into the wall)
    moved = encode_state([(1, 2), (0, 0)], w, h)
    assert ns.tolist() == [moved, moved, s, s]
    np.testing.assert_allclose(pr, [0.8, 0.0, 0.2, 0.0])


def test_deterministic():
    a, b = gridworld_successors(width=4, height=4), gridworld_successors(width=4, height=4)
    for key in ("next_states", "probs", "r", "rho"):
        np.testing.assert_array_equal(a[key], b[key])  # exact: the same computation twice


# ----- indices -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("w,h,n", [(3, 3, 2), (3, 2, 3), (2, 2, 4), (1, 2, 2)])
def test_encode_decode_round_trip(w, h, n):
    S = (w * h) ** n
    seen = set()
    for s in range(S):
        positions = decode_state(s, w, h, n)
        assert len(positions) == n
        assert all(0 <= r < h and 0 <= c < w for r, c in positions)
        assert encode_state(positions, w, h) == s
        seen.add(positions)
    assert len(seen) == S


def test_encode_known_value():
    # width 3, height 2: agent 1 at (1, 2) -> cell 5, agent 2 at (0, 1) -> cell 1; s = 5 * 6 + 1
    assert encode_state([(1, 2), (0, 1)], 3, 2) == 31
    assert decode_state(31, 3, 2, 2) == ((1, 2), (0, 1))
    assert decode_state(np.int64(31), 3, 2, 2) == ((1, 2), (0, 1))


# ----- walls -----------------------------------------------------------------------------------------------------
def test_walls_keep_agents_inside():
    w, h, slip = 3, 2, 0.1
    P = gridworld(width=w, height=h, slip=slip)["P"]
    other = (1, 1)  # agent 2 stays put
    corners = {(0, 0): (1, 3), (0, 2): (1, 4), (1, 0): (2, 3), (1, 2): (2, 4)}  # corner -> actions into walls
    for corner, wall_actions in corners.items():
        s = encode_state([corner, other], w, h)
        for a in wall_actions:
            row = P[s, a, 0]
            assert row[s] == 1.0, (corner, a)  # exact: a product of 1.0s (every agent stays for sure)
            assert np.count_nonzero(row) == 1
    # a legal move from a corner: 1 - slip to the neighbour, slip to stay, nothing else
    s = encode_state([(0, 0), other], w, h)
    row = P[s, 4, 0]
    assert row[encode_state([(0, 1), other], w, h)] == pytest.approx(1 - slip)
    assert row[s] == pytest.approx(slip)
    assert np.count_nonzero(row) == 2
    # no transition ever leaves the grid or teleports: every positive-probability successor is one step away
    for s in range(P.shape[0]):
        before = decode_state(s, w, h, 2)
        for a1, a2 in itertools.product(range(5), repeat=2):
            for s2 in np.flatnonzero(P[s, a1, a2]):
                after = decode_state(int(s2), w, h, 2)
                assert all(abs(r - r2) + abs(c - c2) <= 1 for (r, c), (r2, c2) in zip(before, after))


# ----- rewards ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 3])
def test_reward_one_exactly_when_all_share_a_goal(n):
    w, h = 3, 3
    spec = gridworld_successors(width=w, height=h, n_agents=n)
    r = spec["r"]
    goals = {(0, 2), (2, 0)}
    for s in range(r.shape[0]):
        positions = decode_state(s, w, h, n)
        shared = len(set(positions)) == 1 and positions[0] in goals
        assert np.all(r[s] == (1.0 if shared else 0.0)), positions  # exact: rewards are set by construction
    assert r.min() >= 0 and r.max() <= 1


def test_lone_reward():
    w, h = 3, 3
    r = gridworld_successors(lone_reward=0.25)["r"]
    assert r[encode_state([(0, 2), (0, 2)], w, h), 0, 0] == 1.0  # exact: reward entries are set by construction
    assert r[encode_state([(2, 0), (2, 0)], w, h), 3, 1] == 1.0  # exact: reward entries are set by construction
    assert (
        r[encode_state([(0, 2), (2, 0)], w, h), 0, 0] == 0.25
    )  # exact: reward entries are set by construction; both on goals, different ones
    assert r[encode_state([(0, 2), (1, 1)], w, h), 2, 2] == 0.25  # exact: reward entries are set by construction
    assert r[encode_state([(1, 1), (1, 1)], w, h), 0, 0] == 0.0  # exact: reward entries are set by construction
    assert (
        r[encode_state([(0, 0), (0, 0)], w, h), 0, 0] == 0.0
    )  # exact: reward entries are set by construction; together, but not on a goal


def test_rho_variants():
    w, h = 3, 3
    assert gridworld_successors()["rho"][encode_state([(1, 1), (1, 1)], w, h)] == 1.0  # exact: set by construction
    rho = gridworld_successors(start=[(0, 0), (2, 2)])["rho"]
    assert rho[encode_state([(0, 0), (2, 2)], w, h)] == 1.0 and rho.sum() == 1.0  # exact: one 1.0 and zeros
    np.testing.assert_allclose(gridworld_successors(start=None)["rho"], np.full(81, 1 / 81))
    # even sizes: the centre is the upper-left cell of the central block
    assert gridworld_successors(width=4, height=2)["meta"]["start"] == ((0, 1), (0, 1))


# ----- coordination at the optimum ------------------------------------------------------------------------------
def _towards(pos, action, goal, w, h):
    (r, c), (dr, dc) = pos, [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)][action]
    nr, nc = min(max(r + dr, 0), h - 1), min(max(c + dc, 0), w - 1)
    return abs(nr - goal[0]) + abs(nc - goal[1]) < abs(r - goal[0]) + abs(c - goal[1])


def test_optimal_policy_coordinates_on_one_goal():
    w, h = 3, 3
    spec = gridworld()
    V, Q = value_iteration(spec["P"], spec["r"], spec["gamma"])
    s0 = int(np.flatnonzero(spec["rho"])[0])
    J_star = float(spec["rho"] @ V)
    assert J_star > 0
    # Bellman optimality holds at the fixed point
    np.testing.assert_allclose(Q.reshape(81, -1).max(axis=1), V, atol=1e-10)
    assert np.all(V <= 1 / (1 - spec["gamma"]) + 1e-12)
    goals = [(0, 2), (2, 0)]
    centre = decode_state(s0, w, h, 2)
    best = Q[s0].max()
    coordinated = {
        (a1, a2)
        for a1, a2 in itertools.product(range(5), repeat=2)
        if any(_towards(centre[0], a1, g, w, h) and _towards(centre[1], a2, g, w, h) for g in goals)
    }
    assert len(coordinated) == 8  # {up, right}² for the top-right goal, {down, left}² for the bottom-left
    optimal = {tuple(int(x) for x in a) for a in np.argwhere(Q[s0] >= best - 1e-9)}
    assert optimal == coordinated
    worst_gap = best - max(Q[s0][a] for a in itertools.product(range(5), repeat=2) if a not in coordinated)
    assert worst_gap > 1e-3  # heading for different goals is strictly worse
    # the greedy joint policy, run without slips, brings both agents to the same goal and keeps them there
    det = gridworld(slip=0.0)["P"]
    s = s0
    for _ in range(6):
        a = np.unravel_index(int(np.argmax(Q[s])), Q[s].shape)
        s = int(np.argmax(det[(s,) + tuple(a)]))
    final = decode_state(s, w, h, 2)
    assert final[0] == final[1] and final[0] in goals


def test_optimal_value_three_agents_positive_and_coordinated():
    spec = gridworld(width=2, height=2, n_agents=3, slip=0.2)
    V, Q = value_iteration(spec["P"], spec["r"], spec["gamma"])
    s0 = int(np.flatnonzero(spec["rho"])[0])  # all at (0, 0); goals (0, 1) and (1, 0)
    assert V[s0] > 0
    a = np.unravel_index(int(np.argmax(Q[s0])), Q[s0].shape)
    assert len(set(a)) == 1 and a[0] in (2, 4)  # all down or all right


# ----- scale ---------------------------------------------------------------------------------------------------
def test_ten_thousand_states_sparse_and_fast():
    t0 = time.perf_counter()
    spec = gridworld_successors(width=10, height=10, n_agents=2)
    elapsed = time.perf_counter() - t0
    assert spec["next_states"].shape == (10_000, 5, 5, 4)
    total = sum(v.nbytes for v in spec.values() if isinstance(v, np.ndarray))
    assert total < 50e6
    assert elapsed < 5.0  # typically ~0.05 s
    np.testing.assert_allclose(spec["probs"].sum(axis=-1), 1.0, atol=1e-13)  # ~450 ulps of 1
    # spot-check a far corner: both agents at (9, 9) pushing right/down stay put
    s = encode_state([(9, 9), (9, 9)], 10, 10)
    np.testing.assert_allclose(spec["probs"][s, 4, 2].sum(), 1.0)
    assert set(spec["next_states"][s, 4, 2].tolist()) == {s}


def test_dense_refused_above_limit():
    with pytest.raises(MappoLiteError, match="gridworld_successors"):
        gridworld(width=10, height=10, n_agents=2)
    with pytest.raises(MappoLiteError, match="max_dense_entries"):
        gridworld(max_dense_entries=1000)
    assert gridworld(max_dense_entries=81 * 25 * 81)["P"].shape == (81, 5, 5, 81)


# ----- rendering -------------------------------------------------------------------------------------------------
def test_render_state():
    text = render_state(encode_state([(1, 1), (1, 1)], 3, 3), 3, 3, 2)
    lines = text.splitlines()
    assert len(lines) == 7
    assert len({len(line) for line in lines}) == 1
    assert text.count("G") == 2 and "12" in text
    assert lines[1].split("|")[3].strip() == "G" and lines[5].split("|")[1].strip() == "G"
    text = render_state(encode_state([(0, 2), (2, 0), (0, 2)], 3, 3), 3, 3, 3)
    assert "G:13" in text and "G:2" in text
    text = render_state(encode_state([(0, 0), (1, 0)], 2, 2), 2, 2, 2, goals=[(1, 1)])
    assert text.splitlines()[1].split("|")[1].strip() == "1" and text.count("G") == 1


# ----- bad arguments ------------------------------------------------------------------------------------------
BAD = [
    (dict(width=0), "width"),
    (dict(width=2.5), "width"),
    (dict(width=True), "width"),
    (dict(height=-1), "height"),
    (dict(width=1, height=1), "width"),
    (dict(n_agents=1), "n_agents"),
    (dict(n_agents=5), "n_agents"),
    (dict(n_agents="2"), "n_agents"),
    (dict(slip=-0.1), "slip"),
    (dict(slip=1.5), "slip"),
    (dict(slip=float("nan")), "slip"),
    (dict(gamma=1.0), "gamma"),
    (dict(gamma=-0.1), "gamma"),
    (dict(goals=[(0, 0), (3, 0)]), "goals"),
    (dict(goals=[(0, 0), (0, 0)]), "goals"),
    (dict(goals=[]), "goals"),
    (dict(goals=(0, 0)), "goals"),
    (dict(goals=[(0, 0, 1)]), "goals"),
    (dict(start=(3, 3)), "start"),
    (dict(start="middle"), "start"),
    (dict(start=[(0, 0)] * 3), "start"),
    (dict(lone_reward=1.5), "lone_reward"),
    (dict(lone_reward=-0.5), "lone_reward"),
]


@pytest.mark.parametrize("kw,name", BAD, ids=[f"{k}" for k, _ in BAD])
@pytest.mark.parametrize("builder", [gridworld, gridworld_successors])
def test_bad_arguments(builder, kw, name):
    with pytest.raises(MappoLiteError, match=name) as info:
        builder(**kw)
    assert "\n" not in str(info.value)


def test_bad_state_arguments():
    with pytest.raises(MappoLiteError, match="s "):
        decode_state(81, 3, 3, 2)
    with pytest.raises(MappoLiteError, match="s "):
        decode_state(-1, 3, 3, 2)
    with pytest.raises(MappoLiteError, match="positions"):
        encode_state([(0, 0), (3, 0)], 3, 3)
    with pytest.raises(MappoLiteError, match="positions"):
        encode_state((0, 0), 3, 3)
    with pytest.raises(MappoLiteError, match="width"):
        encode_state([(0, 0)], 0, 3)
    with pytest.raises(MappoLiteError, match="max_dense_entries"):
        gridworld(max_dense_entries=0)
    assert issubclass(MappoLiteError, ValueError)
