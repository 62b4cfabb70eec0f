r"""A cooperative coordination gridworld: N agents must meet on the *same* one of two goal cells.

This is a coordination gridworld built for this book (not taken from the paper). It is a fully cooperative Markov
game in the sense of chapter 2: every agent gets the same reward, and the reward is in :math:`[0, 1]`. Its point
is *equilibrium selection* across many states: there are two equally good goals, and the team is paid only when
all agents stand on the same one, so agents that each pick "their" goal independently can miscoordinate forever.

The default game (3×3 grid, 2 agents, both starting in the centre; ``render_state`` draws it)::

    +----+----+----+
    |    |    | G  |        row 0 is the top row, column 0 the left column
    +----+----+----+        cell (row, col) has index  c = row * width + col
    |    | 12 |    |        G = goal cell, 1..N = agents, "G:12" = agents 1, 2 on a goal
    +----+----+----+
    | G  |    |    |        default goals: top-right (0, width-1) and bottom-left (height-1, 0)
    +----+----+----+

Rules
-----
- **Grid**: ``width × height`` cells (at least 2 cells), ``n_agents`` agents (2 to 4). Positions are
  ``(row, col)`` pairs.
- **Actions** (the same five for every agent, :math:`|A^i| = 5`): ``0`` stay, ``1`` up (row − 1), ``2`` down
  (row + 1), ``3`` left (col − 1), ``4`` right (col + 1). A move into the outer wall leaves the agent where it is.
- **Slip**: each agent's intended move independently fails ("slips to stay") with probability ``slip``. Staying
  always succeeds. The joint transition is the product of the agents' transitions; agents never block each other
  and may share a cell.
- **Reward** (depends on the current state only, the same for every joint action): ``1`` when all agents stand on
  the *same* goal cell (either goal); otherwise ``lone_reward`` (default 0) when at least one agent stands on some
  goal cell; otherwise ``0``.
- **Discount** ``gamma`` (default 0.9), **initial distribution** :math:`\rho`: all agents at ``start``
  (default the centre cell ``((height-1)//2, (width-1)//2)``), or one start cell per agent, or uniform over all
  states when ``start=None``.

Index conventions
-----------------
- cell index ``c = row * width + col``, ``cells = width * height``;
- state index :math:`s = \sum_{i=1}^{N} c_i \cdot \mathrm{cells}^{N-i}` (agent 1 is the most significant digit),
  so ``S = cells ** N``; :func:`encode_state` / :func:`decode_state` convert;
- arrays are indexed ``[s, a^1, …, a^N, …]`` (agent 1's action first), as in
  :class:`~mappo_lite.games.CooperativeMarkovGame`;
- successor slot ``k`` (``0 ≤ k < K = 2**N``) of :func:`gridworld_successors` has the binary digits
  ``k = Σ_i b_i 2^{N-i}`` (agent 1 most significant) with ``b_i = 0`` "agent i's move happens" and ``b_i = 1``
  "agent i stays". When an agent's move cannot change its cell (action stay, or a wall), its ``b_i = 0`` branch
  carries probability 1 and its ``b_i = 1`` branch probability 0, so that slot repeats a valid state index with
  probability 0. Slots with positive probability always hold distinct states.

Two layouts are produced, as plain arrays for :class:`~mappo_lite.games.CooperativeMarkovGame` to wrap:
:func:`gridworld_successors` (sparse, ``O(S · |A| · 2^N)`` memory, built with NumPy broadcasting; a 10⁴-state game
takes a fraction of a second) and :func:`gridworld` (dense ``P`` of shape ``(S, A_1, …, A_N, S)``, refused above
``max_dense_entries``).
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np

from .._validate import check_int, check_real
from ..errors import MappoLiteError

#: Action names, indexed by action number (the same for every agent).
ACTIONS = ("stay", "up", "down", "left", "right")

#: (row change, column change) of each action.
MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int64)
MOVES.flags.writeable = False

N_ACTIONS = len(ACTIONS)
CITATION = "a coordination gridworld built for this book"


# ----- argument checks ---------------------------------------------------------------------------------------------
def _check_grid(width, height) -> tuple[int, int]:
    width = check_int(width, "width", 1)
    height = check_int(height, "height", 1)
    if width * height < 2:
        raise MappoLiteError(f"width × height must be at least 2 cells, got width={width}, height={height}")
    return width, height


def _check_cell(cell, name: str, width: int, height: int) -> tuple[int, int]:
    """A (row, col) pair inside the grid."""
    try:
        row, col = cell
    except (TypeError, ValueError):
        raise MappoLiteError(f"{name} must be a (row, col) pair, got {cell!r}") from None
    for v in (row, col):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise MappoLiteError(f"{name} must be a (row, col) pair of ints, got {cell!r}")
    row, col = int(row), int(col)
    if not (0 <= row < height and 0 <= col < width):
        raise MappoLiteError(f"{name} {(row, col)} is outside the grid (rows 0..{height - 1}, columns 0..{width - 1})")
    return row, col


def _is_pair(x) -> bool:
    try:
        return len(x) == 2 and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in x)
    except TypeError:
        return False


def _default_goals(width: int, height: int) -> tuple[tuple[int, int], ...]:
    return ((0, width - 1), (height - 1, 0))


def _centre(width: int, height: int) -> tuple[int, int]:
    return ((height - 1) // 2, (width - 1) // 2)


def _check_goals(goals, width: int, height: int) -> tuple[tuple[int, int], ...]:
    if goals is None:
        return _default_goals(width, height)
    if isinstance(goals, (str, bytes)) or _is_pair(goals):
        raise MappoLiteError(f"goals must be a sequence of (row, col) pairs, got {goals!r}")
    try:
        goals = list(goals)
    except TypeError:
        raise MappoLiteError(f"goals must be a sequence of (row, col) pairs, got {goals!r}") from None
    if not goals:
        raise MappoLiteError("goals must hold at least one (row, col) cell, got none")
    cells = tuple(_check_cell(g, "goals", width, height) for g in goals)
    if len(set(cells)) != len(cells):
        raise MappoLiteError(f"goals must be distinct cells, got {cells}")
    return cells


def _check_start(start, width: int, height: int, n_agents: int):
    """None (uniform), or a tuple of one (row, col) per agent."""
    if start is None:
        return None
    if isinstance(start, str):
        if start.lower() in ("centre", "center"):
            return (_centre(width, height),) * n_agents
        raise MappoLiteError(f"start must be 'centre', None, a (row, col) pair or one pair per agent, got {start!r}")
    if _is_pair(start):
        return (_check_cell(start, "start", width, height),) * n_agents
    try:
        cells = list(start)
    except TypeError:
        raise MappoLiteError(
            f"start must be 'centre', None, a (row, col) pair or one pair per agent, got {start!r}"
        ) from None
    if len(cells) != n_agents:
        raise MappoLiteError(f"start must give one (row, col) pair per agent ({n_agents}), got {len(cells)}")
    return tuple(_check_cell(c, "start", width, height) for c in cells)


def _check_all(width, height, n_agents, slip, gamma, goals, start, lone_reward):
    width, height = _check_grid(width, height)
    n_agents = check_int(n_agents, "n_agents", 2, 4)
    slip = check_real(slip, "slip", 0.0, 1.0)
    gamma = check_real(gamma, "gamma", 0.0, 1.0, high_open=True)
    goals = _check_goals(goals, width, height)
    start = _check_start(start, width, height, n_agents)
    lone_reward = check_real(lone_reward, "lone_reward", 0.0, 1.0)
    return width, height, n_agents, slip, gamma, goals, start, lone_reward


# ----- states --------------------------------------------------------------------------------------------------
def _state_cells(s: np.ndarray, cells: int, n_agents: int) -> np.ndarray:
    """Cell index of every agent for every state in ``s``: shape ``s.shape + (n_agents,)``."""
    powers = cells ** np.arange(n_agents - 1, -1, -1, dtype=np.int64)
    return (np.asarray(s, dtype=np.int64)[..., None] // powers) % cells


def encode_state(positions, width: int, height: int) -> int:
    """State index of the agents' positions ``((row_1, col_1), …, (row_N, col_N))``.

    :math:`s = \\sum_i c_i \\cdot \\mathrm{cells}^{N-i}` with :math:`c_i = \\mathrm{row}_i \\cdot \\mathrm{width} +
    \\mathrm{col}_i`; agent 1 is the most significant digit. The number of agents is ``len(positions)``.
    """
    width, height = _check_grid(width, height)
    if isinstance(positions, (str, bytes)) or _is_pair(positions) and not all(_is_pair(p) for p in positions):
        raise MappoLiteError(f"positions must be a sequence of (row, col) pairs, one per agent, got {positions!r}")
    try:
        positions = list(positions)
    except TypeError:
        raise MappoLiteError(f"positions must be a sequence of (row, col) pairs, got {positions!r}") from None
    if len(positions) < 1:
        raise MappoLiteError("positions must hold at least one (row, col) pair")
    cells = width * height
    s = 0
    for p in positions:
        row, col = _check_cell(p, "positions", width, height)
        s = s * cells + row * width + col
    return s


def decode_state(s, width: int, height: int, n_agents: int) -> tuple[tuple[int, int], ...]:
    """The agents' positions ``((row_1, col_1), …, (row_N, col_N))`` in state ``s`` (inverse of :func:`encode_state`)."""
    width, height = _check_grid(width, height)
    n_agents = check_int(n_agents, "n_agents", 1)
    n_states = (width * height) ** n_agents
    s = check_int(s, "s", 0, n_states - 1)
    out = []
    for c in _state_cells(np.int64(s), width * height, n_agents):
        out.append((int(c) // width, int(c) % width))
    return tuple(out)


def render_state(s, width: int, height: int, n_agents: int, goals=None) -> str:
    """A small picture of state ``s``: agents as ``1..N``, goal cells as ``G``, agents on a goal as ``G:12``.

    ``goals`` defaults to the game's default goals (top-right and bottom-left corners). The picture has
    ``2 * height + 1`` lines and no trailing newline.
    """
    width, height = _check_grid(width, height)
    positions = decode_state(s, width, height, n_agents)
    goals = set(_check_goals(goals, width, height))
    field = n_agents + 2
    border = "+" + "+".join("-" * field for _ in range(width)) + "+"
    lines = [border]
    for row in range(height):
        texts = []
        for col in range(width):
            here = "".join(str(i + 1) for i, p in enumerate(positions) if p == (row, col))
            if (row, col) in goals:
                text = f"G:{here}" if here else "G"
            else:
                text = here
            texts.append(text.center(field))
        lines.append("|" + "|".join(texts) + "|")
        lines.append(border)
    return "\n".join(lines)


def _state_label(s, width: int, height: int, n_agents: int) -> str:
    positions = decode_state(s, width, height, n_agents)
    return " ".join(f"{i + 1}@({r},{c})" for i, (r, c) in enumerate(positions))


# ----- the game --------------------------------------------------------------------------------------------------
def _single_agent(width: int, height: int, slip: float):
    """Per-agent outcomes: ``cell[c, a, b]`` and ``prob[c, a, b]`` for branch ``b`` (0 = move, 1 = stay)."""
    cells = width * height
    c = np.arange(cells, dtype=np.int64)
    rows, cols = c // width, c % width
    nr = rows[:, None] + MOVES[None, :, 0]
    nc = cols[:, None] + MOVES[None, :, 1]
    inside = (nr >= 0) & (nr < height) & (nc >= 0) & (nc < width)
    target = np.where(inside, nr * width + nc, c[:, None])  # (cells, 5)
    moves = target != c[:, None]
    out_cell = np.stack([target, np.broadcast_to(c[:, None], target.shape)], axis=-1)
    out_prob = np.stack([np.where(moves, 1.0 - slip, 1.0), np.where(moves, slip, 0.0)], axis=-1)
    return out_cell, out_prob


def _state_rewards(width, height, n_agents, goals, lone_reward) -> np.ndarray:
    cells = width * height
    S = cells**n_agents
    pos = _state_cells(np.arange(S, dtype=np.int64), cells, n_agents)  # (S, N)
    is_goal = np.zeros(cells, dtype=bool)
    for row, col in goals:
        is_goal[row * width + col] = True
    on_goal = is_goal[pos]  # (S, N)
    together = np.all(pos == pos[:, :1], axis=1) & on_goal[:, 0]
    r = np.where(together, 1.0, np.where(on_goal.any(axis=1), lone_reward, 0.0))
    return r.astype(np.float64)


def _rho(width, height, n_agents, start) -> np.ndarray:
    S = (width * height) ** n_agents
    if start is None:
        return np.full(S, 1.0 / S)
    rho = np.zeros(S)
    rho[encode_state(start, width, height)] = 1.0
    return rho


def _meta(width, height, n_agents, slip, gamma, goals, start, lone_reward) -> dict:
    cells = width * height
    start_text = (
        "uniform over all states"
        if start is None
        else (f"all agents at {start[0]}" if len(set(start)) == 1 else f"agents at {', '.join(map(str, start))}")
    )
    return {
        "name": "gridworld",
        "width": width,
        "height": height,
        "n_agents": n_agents,
        "n_states": cells**n_agents,
        "goals": goals,
        "start": start,
        "slip": slip,
        "gamma": gamma,
        "lone_reward": lone_reward,
        "actions": ACTIONS,
        "description": (
            f"{width}x{height} coordination gridworld, {n_agents} agents, actions stay/up/down/left/right, "
            f"each move slips to stay w.p. {slip:g}; reward 1 when all agents stand on the same goal "
            f"(goals {', '.join(map(str, goals))}), {lone_reward:g} when only some agents sit on goals; "
            f"start: {start_text}; state s = sum_i (row_i*width+col_i) * cells^(N-i), agent 1 most significant"
        ),
        "citation": CITATION,
        "state_labels": functools.partial(_state_label, width=width, height=height, n_agents=n_agents),
    }


def gridworld_successors(
    width: int = 3,
    height: int = 3,
    n_agents: int = 2,
    slip: float = 0.1,
    gamma: float = 0.9,
    goals=None,
    start="centre",
    lone_reward: float = 0.0,
) -> dict:
    """The coordination gridworld in sparse successor form (never builds the dense ``(S, A…, S)`` tensor).

    Parameters
    ----------
    width, height : int
        Grid size (each ≥ 1, at least 2 cells).
    n_agents : int
        Number of agents N, 2 to 4.
    slip : float in [0, 1]
        Probability that an agent's intended move fails and it stays (independently per agent).
    gamma : float in [0, 1)
        Discount.
    goals : sequence of (row, col), optional
        Distinct goal cells; default top-right ``(0, width-1)`` and bottom-left ``(height-1, 0)``.
    start : "centre", (row, col), one (row, col) per agent, or None
        Where the agents start (ρ is a point mass); ``None`` makes ρ uniform over all states. ``"centre"`` is the
        cell ``((height-1)//2, (width-1)//2)``.
    lone_reward : float in [0, 1]
        Reward when at least one agent stands on a goal but not all agents share one goal cell.

    Returns
    -------
    dict with
        ``next_states`` int64 ``(S, 5, …, 5, K)`` successor state indices, ``K = 2**N`` (slot convention in the
        module docstring); ``probs`` float64, same shape, each ``[s, a…, :]`` row sums to 1; ``r`` float64
        ``(S, 5, …, 5)``; ``gamma`` float; ``rho`` float64 ``(S,)``; ``meta`` dict (``name``, ``width``,
        ``height``, ``n_agents``, ``n_states``, ``goals``, ``start``, ``slip``, ``gamma``, ``lone_reward``,
        ``actions``, ``description``, ``citation``, and ``state_labels``: a function ``s -> str``).
        Here ``S = (width * height) ** n_agents``.
    """
    width, height, n_agents, slip, gamma, goals, start, lone_reward = _check_all(
        width, height, n_agents, slip, gamma, goals, start, lone_reward
    )
    cells = width * height
    S = cells**n_agents
    N = n_agents
    out_cell, out_prob = _single_agent(width, height, slip)
    pos = _state_cells(np.arange(S, dtype=np.int64), cells, N)  # (S, N)

    full = (S,) + (N_ACTIONS,) * N + (2,) * N
    next_states = np.zeros(full, dtype=np.int64)
    probs = np.ones(full, dtype=np.float64)
    for i in range(N):
        view = [1] * (2 * N + 1)
        view[0], view[1 + i], view[1 + N + i] = S, N_ACTIONS, 2
        weight = cells ** (N - 1 - i)
        cell_i = out_cell[pos[:, i]]  # (S, 5, 2)
        next_states += (cell_i * weight).reshape(view)
        probs *= out_prob[pos[:, i]].reshape(view)
    K = 2**N
    next_states = next_states.reshape((S,) + (N_ACTIONS,) * N + (K,))
    probs = probs.reshape(next_states.shape)

    r_state = _state_rewards(width, height, N, goals, lone_reward)
    r = np.ascontiguousarray(np.broadcast_to(r_state.reshape((S,) + (1,) * N), (S,) + (N_ACTIONS,) * N))
    return {
        "next_states": next_states,
        "probs": probs,
        "r": r,
        "gamma": gamma,
        "rho": _rho(width, height, N, start),
        "meta": _meta(width, height, N, slip, gamma, goals, start, lone_reward),
    }


def gridworld(
    width: int = 3,
    height: int = 3,
    n_agents: int = 2,
    slip: float = 0.1,
    gamma: float = 0.9,
    goals=None,
    start="centre",
    lone_reward: float = 0.0,
    max_dense_entries: float = 5e7,
) -> dict:
    """The coordination gridworld with a dense transition tensor ``P`` of shape ``(S, 5, …, 5, S)``.

    Same parameters as :func:`gridworld_successors`, plus ``max_dense_entries``: refuse (``MappoLiteError``) when
    ``P`` would hold more entries than this (default 5·10⁷, i.e. 400 MB); use :func:`gridworld_successors` for
    big games. Returns a dict with ``P`` (float64), ``r``, ``gamma``, ``rho`` and ``meta`` (as in
    :func:`gridworld_successors`). ``P`` is the successor form scattered into a dense array.
    """
    width, height, n_agents, slip, gamma, goals, start, lone_reward = _check_all(
        width, height, n_agents, slip, gamma, goals, start, lone_reward
    )
    limit = check_real(max_dense_entries, "max_dense_entries", 1.0, math.inf)
    S = (width * height) ** n_agents
    n_joint = N_ACTIONS**n_agents
    entries = S * n_joint * S
    if entries > limit:
        raise MappoLiteError(
            f"max_dense_entries: a dense P for this gridworld has {entries:.3g} entries (S={S}, "
            f"{n_joint} joint actions) > max_dense_entries={limit:.3g}; use gridworld_successors for the sparse form"
        )
    spec = gridworld_successors(width, height, n_agents, slip, gamma, goals, start, lone_reward)
    ns = spec["next_states"].reshape(S * n_joint, -1)
    rows = np.arange(S * n_joint, dtype=np.int64)[:, None] * S
    P = np.bincount((rows + ns).ravel(), weights=spec["probs"].reshape(-1), minlength=entries)
    P = P.reshape((S,) + (N_ACTIONS,) * n_agents + (S,))
    return {"P": P, "r": spec["r"], "gamma": spec["gamma"], "rho": spec["rho"], "meta": spec["meta"]}
