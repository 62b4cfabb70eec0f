r"""Monte Carlo rollouts on successor lists (sparse games): numba kernels and their NumPy twins.

The dense kernels (:func:`mappo_lite.kernels.mc_localized_q`, :func:`~mappo_lite.kernels.rollout_steps`) draw
:math:`s'` from the cumulative row of the ``(S, |A|, S)`` tensor. Here the row is the game's successor list:
``next_states`` and ``cum_probs`` of shape ``(S, |A|, K)`` (K successors per state and joint action), so a step
costs :math:`O(\log K)` and the memory is that of the game. Same estimator as the dense kernel (the undiscounted
return with a random horizon, :math:`\Pr(H\ge t)=\gamma^t`, see :mod:`mappo_lite.sampling`); a draw past the row
mass (stopping games, γ = 1) stops the episode, and :func:`sparse_rollout_tables` zeroes the rows of absorbing
zero-reward states so rollouts stop there too (the return's law is unchanged).

The twins (``*_reference``) advance all rollouts of a call at once with vectorized NumPy (one step of every live
rollout per loop): equal in distribution to the kernels, not number for number (different random streams).
"""

from __future__ import annotations

import weakref

import numba
import numpy as np

from .kernels import _draw, _draw_actions

_JIT = dict(cache=True, nogil=True)
_TABLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def sparse_rollout_tables(game):
    r"""``(next_states, cum_probs)`` of shape (S, |A|, K), cached per game: cumulative successor probabilities;
    when γ < 1 every entry from the row's last positive-probability slot on is exactly 1.0 (so a uniform draw
    never lands on a padding slot); rows of absorbing zero-reward states are 0 (the rollout stops there)."""
    out = _TABLES.get(game)
    if out is not None:
        return out
    S, J = game.n_states, game.n_joint_actions
    nxt = np.ascontiguousarray(game.next_states.reshape(S, J, -1))
    pr = game.probs.reshape(S, J, -1)
    K = pr.shape[-1]
    cum = np.cumsum(pr, axis=-1)
    if game.gamma < 1.0:
        positive = pr > 0
        last = K - 1 - np.argmax(positive[..., ::-1], axis=-1)  # last slot with positive probability
        cum = np.where(np.arange(K)[None, None, :] >= last[..., None], 1.0, cum)
    stays = np.all((nxt == np.arange(S)[:, None, None]) | (pr == 0), axis=-1)  # (S, J): every successor is s
    dead = np.all(stays, axis=1) & np.all(game.r_flat == 0.0, axis=1)
    if dead.any():
        cum[dead] = 0.0
    out = (nxt, np.ascontiguousarray(cum))
    _TABLES[game] = out
    return out


@numba.njit(**_JIT)
def mc_localized_q_sparse(next_states, cum_probs, r_flat, gamma, pi_cum_concat, offsets, action_sizes, states,
                          prefix, m_fixed, n_rollouts, max_steps, seed):
    r"""Monte Carlo :math:`\hat Q^{1:m}(s_t,\mathbf a_t^{1:m})` on successor lists: the estimator of
    :func:`mappo_lite.kernels.mc_localized_q` with ``P_cum`` replaced by ``(next_states, cum_probs)``."""
    np.random.seed(seed)
    T = states.shape[0]
    N = action_sizes.shape[0]
    K = next_states.shape[2]
    out = np.empty(T)
    acts = np.empty(N, dtype=np.int64)
    Nc = next_states.ravel()
    Pc = cum_probs.ravel()
    J = next_states.shape[1]
    for t in range(T):
        total = 0.0
        for k in range(n_rollouts):
            s = states[t]
            for m in range(N):
                acts[m] = prefix[t, m] if m < m_fixed else 0
            j = _draw_actions(s, pi_cum_concat, offsets, action_sizes, acts, m_fixed)
            for step in range(max_steps):
                total += r_flat[s, j]
                if np.random.random() >= gamma:
                    break
                base = (s * J + j) * K
                slot = _draw(base, Pc, K, np.random.random())
                if slot >= K:  # past the row mass: the episode stops
                    break
                s = Nc[base + slot]
                j = _draw_actions(s, pi_cum_concat, offsets, action_sizes, acts, 0)
        out[t] = total / n_rollouts
    return out


@numba.njit(**_JIT)
def rollout_steps_sparse(next_states, cum_probs, r_flat, gamma, pi_cum_concat, offsets, action_sizes, start_states,
                         n_steps, seed):
    """:func:`mappo_lite.kernels.rollout_steps` on successor lists: ``n_steps`` environment steps of episodes from
    ``start_states`` (cycled); returns the mean undiscounted return per finished episode and their number."""
    np.random.seed(seed)
    N = action_sizes.shape[0]
    K = next_states.shape[2]
    J = next_states.shape[1]
    acts = np.empty(N, dtype=np.int64)
    Nc = next_states.ravel()
    Pc = cum_probs.ravel()
    episodes = 0
    total = 0.0
    s = start_states[0]
    j = _draw_actions(s, pi_cum_concat, offsets, action_sizes, acts, 0)
    for step in range(n_steps):
        total += r_flat[s, j]
        stop = np.random.random() >= gamma
        nxt = s
        if not stop:
            base = (s * J + j) * K
            slot = _draw(base, Pc, K, np.random.random())
            stop = slot >= K
            if not stop:
                nxt = Nc[base + slot]
        if stop:
            episodes += 1
            s = start_states[episodes % start_states.shape[0]]
        else:
            s = nxt
        j = _draw_actions(s, pi_cum_concat, offsets, action_sizes, acts, 0)
    return total / max(episodes, 1), episodes


# ----- NumPy twins -------------------------------------------------------------------------------------------------
def _draw_rows_vec(cum_flat, base, width, u):
    """First index i < width with cum_flat[base + i] > u, per element (width if none): vectorized linear scan."""
    idx = np.zeros(base.shape[0], dtype=np.int64)
    for i in range(width):
        idx += cum_flat[base + i] <= u
    return idx


def _draw_actions_vec(s, acts, m_fixed, pi_cum_concat, offsets, action_sizes, rng):
    ctx = s.copy()
    for m in range(len(action_sizes)):
        A = int(action_sizes[m])
        if m >= m_fixed:
            a = _draw_rows_vec(pi_cum_concat, offsets[m] + ctx * A, A, rng.random(s.shape[0]))
            acts[:, m] = np.minimum(a, A - 1)
        ctx = ctx * A + acts[:, m]
    return ctx - s * int(np.prod(action_sizes))


def mc_localized_q_sparse_reference(next_states, cum_probs, r_flat, gamma, pi_cum_concat, offsets, action_sizes,
                                    states, prefix, m_fixed, n_rollouts, max_steps, seed):
    """NumPy twin of :func:`mc_localized_q_sparse`: all ``T * n_rollouts`` rollouts advance together."""
    rng = np.random.default_rng(seed)
    S, J, K = next_states.shape
    N = len(action_sizes)
    T = len(states)
    owner = np.repeat(np.arange(T), n_rollouts)
    s = np.asarray(states, dtype=np.int64)[owner]
    acts = np.zeros((owner.shape[0], N), dtype=np.int64)
    acts[:, :m_fixed] = np.asarray(prefix, dtype=np.int64)[owner, :m_fixed]
    j = _draw_actions_vec(s, acts, m_fixed, pi_cum_concat, offsets, action_sizes, rng)
    total = np.zeros(owner.shape[0])
    live = np.arange(owner.shape[0])
    Nc, Pc = next_states.ravel(), cum_probs.ravel()
    for _ in range(int(max_steps)):
        if live.size == 0:
            break
        total[live] += r_flat[s[live], j[live]]
        go = rng.random(live.size) < gamma
        live = live[go]
        base = (s[live] * J + j[live]) * K
        slot = _draw_rows_vec(Pc, base, K, rng.random(live.size))
        ok = slot < K
        live, base, slot = live[ok], base[ok], slot[ok]
        s[live] = Nc[base + slot]
        sub = acts[live]
        j[live] = _draw_actions_vec(s[live], sub, 0, pi_cum_concat, offsets, action_sizes, rng)
        acts[live] = sub
    return np.bincount(owner, weights=total, minlength=T) / n_rollouts


def rollout_steps_sparse_reference(next_states, cum_probs, r_flat, gamma, pi_cum_concat, offsets, action_sizes,
                                   start_states, n_steps, seed):
    """NumPy twin of :func:`rollout_steps_sparse` (one episode stream, a Python loop: equal in distribution)."""
    rng = np.random.default_rng(seed)
    S, J, K = next_states.shape
    N = len(action_sizes)

    def draw(s):
        acts = np.zeros((1, N), dtype=np.int64)
        return int(_draw_actions_vec(np.array([s]), acts, 0, pi_cum_concat, offsets, action_sizes, rng)[0])

    episodes, total = 0, 0.0
    s = int(start_states[0])
    j = draw(s)
    for _ in range(int(n_steps)):
        total += r_flat[s, j]
        stop = rng.random() >= gamma
        if not stop:
            slot = int(np.searchsorted(cum_probs[s, j], rng.random(), side="right"))
            stop = slot >= K
        if stop:
            episodes += 1
            s = int(start_states[episodes % len(start_states)])
        else:
            s = int(next_states[s, j, slot])
        j = draw(s)
    return total / max(episodes, 1), episodes
