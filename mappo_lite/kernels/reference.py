r"""Plain-NumPy twins of the numba kernels in :mod:`mappo_lite.kernels`.

Same names, same arguments, same results (to rounding). They exist so the tests can check every kernel against an
implementation written the obvious way, and so the benchmark can time both side by side. They are not used by the
library itself.
"""

from __future__ import annotations

import numpy as np

from .softmax import log_softmax, softmax


def softmax_rows(logits):
    return softmax(logits, axis=1)


def log_softmax_rows(logits):
    return log_softmax(logits, axis=1)


def softmax_score(phi, theta):
    probs = softmax_rows(phi @ theta)
    mean = np.einsum("na,nad->nd", probs, phi)
    return probs, phi - mean[:, None, :]


def tabular_softmax_score(logits):
    probs = softmax_rows(logits)
    A = logits.shape[1]
    return probs, np.eye(A)[None, :, :] - probs[:, None, :]


def joint_policy(pi_concat, offsets, action_sizes, n_states):
    joint = np.ones((n_states,))
    ctx = n_states
    for m, A in enumerate(action_sizes):
        table = pi_concat[offsets[m] : offsets[m] + ctx * A].reshape(ctx, A)
        joint = (joint.reshape(ctx, 1) * table).reshape(-1)
        ctx *= A
    return joint.reshape(n_states, -1)


def policy_transition_reward(P_flat, r_flat, pi_joint):
    return np.einsum("sa,sat->st", pi_joint, P_flat), (pi_joint * r_flat).sum(axis=1)


def q_from_v(P_flat, r_flat, gamma, V):
    return r_flat + gamma * (P_flat @ V)


def level_offsets_for(action_sizes, n_states):
    sizes = [n_states]
    for A in action_sizes:
        sizes.append(sizes[-1] * int(A))
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def backward_sweep(Q_flat, pi_concat, offsets, action_sizes):
    S = Q_flat.shape[0]
    levels = [Q_flat.reshape(-1)]
    current = Q_flat.reshape(-1)
    for m in range(len(action_sizes) - 1, -1, -1):
        A = int(action_sizes[m])
        n_ctx = current.size // A
        table = pi_concat[offsets[m] : offsets[m] + n_ctx * A].reshape(n_ctx, A)
        current = (table * current.reshape(n_ctx, A)).sum(axis=1)
        levels.append(current)
    assert levels[-1].size == S
    return np.concatenate(levels[::-1])


def mc_localized_q(
    P_cum, r_flat, gamma, pi_cum_concat, offsets, action_sizes, states, prefix, m_fixed, n_rollouts, max_steps, seed
):
    """Same estimator as the kernel, with a NumPy ``Generator`` (so equal in distribution, not bit for bit)."""
    rng = np.random.default_rng(seed)
    S, J, _ = P_cum.shape
    N = len(action_sizes)

    def draw_actions(s, acts, m_fixed):
        ctx = s
        for m in range(N):
            A = int(action_sizes[m])
            if m >= m_fixed:
                row = pi_cum_concat[offsets[m] + ctx * A : offsets[m] + (ctx + 1) * A]
                acts[m] = min(int(np.searchsorted(row, rng.random(), side="right")), A - 1)
            ctx = ctx * A + acts[m]
        return ctx - s * J

    out = np.empty(len(states))
    for t, s0 in enumerate(states):
        total = 0.0
        for _ in range(n_rollouts):
            s = int(s0)
            acts = [int(prefix[t, m]) if m < m_fixed else 0 for m in range(N)]
            j = draw_actions(s, acts, m_fixed)
            for _step in range(max_steps):
                total += r_flat[s, j]
                if rng.random() >= gamma:
                    break
                nxt = int(np.searchsorted(P_cum[s, j], rng.random(), side="right"))
                if nxt >= S:
                    break
                s = nxt
                j = draw_actions(s, acts, 0)
        out[t] = total / n_rollouts
    return out


def rollout_steps(P_cum, r_flat, gamma, pi_cum_concat, offsets, action_sizes, start_states, n_steps, seed):
    """Same episodes as the kernel (equal in distribution, with a NumPy ``Generator``): returns the mean undiscounted
    return per finished episode and the number of finished episodes after ``n_steps`` environment steps."""
    rng = np.random.default_rng(seed)
    S, J, _ = P_cum.shape
    N = len(action_sizes)

    def draw_actions(s):
        ctx = s
        for m in range(N):
            A = int(action_sizes[m])
            row = pi_cum_concat[offsets[m] + ctx * A : offsets[m] + (ctx + 1) * A]
            a = min(int(np.searchsorted(row, rng.random(), side="right")), A - 1)
            ctx = ctx * A + a
        return ctx - s * J

    episodes = 0
    total = 0.0
    s = int(start_states[0])
    j = draw_actions(s)
    for _ in range(int(n_steps)):
        total += r_flat[s, j]
        stop = rng.random() >= gamma
        if not stop:
            nxt = int(np.searchsorted(P_cum[s, j], rng.random(), side="right"))
            stop = nxt >= S
        if stop:
            episodes += 1
            s = int(start_states[episodes % len(start_states)])
        else:
            s = nxt
        j = draw_actions(s)
    return total / max(episodes, 1), episodes


def projected_sgd(phi, ctx, act, targets, theta_k, theta0, eta, radius):
    theta = theta0.astype(np.float64).copy()
    avg = np.zeros_like(theta)
    for c, a, y in zip(ctx, act, targets):
        f = phi[c, a]
        theta = theta - 2.0 * eta * f * ((theta - theta_k) @ f - y)
        nrm = np.linalg.norm(theta)
        if nrm > radius:
            theta = theta * (radius / nrm)
        avg += theta
    return avg / max(len(ctx), 1)


def projected_sgd_tabular(ctx, act, n_actions, targets, theta_k, theta0, eta, radius):
    d = theta_k.shape[0]
    eye_rows = np.zeros((1, 1, d))

    class _OneHot:
        def __getitem__(self, key):
            c, a = key
            e = eye_rows[0, 0].copy()
            e[c * n_actions + a] = 1.0
            return e

    return projected_sgd(_OneHot(), ctx, act, targets, theta_k, theta0, eta, radius)


def stream_read(x):
    return float(np.sum(x))


# ----- exact solvers (kernels/exact.py) ----------------------------------------------------------------------------
def _solve_values(P_pi, r_pi, gamma):
    return np.linalg.solve(np.eye(P_pi.shape[0]) - gamma * P_pi, r_pi)


def policy_iteration(P_flat, r_flat, gamma, max_iter):
    """Twin of the compiled policy iteration: the same steps with whole-array NumPy operations."""
    from .exact import IMPROVEMENT_MARGIN

    S = P_flat.shape[0]
    states = np.arange(S)
    Q = q_from_v(P_flat, r_flat, gamma, r_flat.max(axis=1))
    act = np.argmax(Q, axis=1)
    V = None
    for it in range(1, int(max_iter) + 1):
        V = _solve_values(P_flat[states, act], r_flat[states, act], gamma)
        Q = q_from_v(P_flat, r_flat, gamma, V)
        greedy = np.argmax(Q, axis=1)
        best = Q[states, greedy]
        improve = Q[states, act] < best - IMPROVEMENT_MARGIN * (1 + np.abs(best))
        if not improve.any():
            return V, act, Q, it, True
        act = np.where(improve, greedy, act)
    return V, act, Q, int(max_iter), False


def mappo_exact_ideal(P_flat, r_flat, rho, gamma, theta0, offsets, action_sizes, K, beta_k, radius, keep):
    """Twin of the compiled exact MA-PPO run: the loop of Algorithm 1 over the NumPy twins of the building blocks."""
    S = P_flat.shape[0]
    N = len(action_sizes)
    theta = np.array(theta0, dtype=np.float64)
    blocks = [slice(int(offsets[m]), int(offsets[m + 1])) for m in range(N)]
    loff = level_offsets_for(action_sizes, S)
    Js, tables = [], []
    for k in range(int(K) + 1):
        pi = np.concatenate(
            [softmax_rows(theta[b].reshape(-1, int(action_sizes[m]))).ravel() for m, b in enumerate(blocks)]
        )
        if keep or k == K:
            tables.append(pi)
        P_pi, r_pi = policy_transition_reward(P_flat, r_flat, joint_policy(pi, offsets, action_sizes, S))
        V = _solve_values(P_pi, r_pi, gamma)
        Js.append(rho @ V)
        if k == K:
            break
        levels = backward_sweep(q_from_v(P_flat, r_flat, gamma, V), pi, offsets, action_sizes)
        for m, b in enumerate(blocks):
            t = theta[b] + levels[loff[m + 1] : loff[m + 2]] / beta_k
            nrm = np.sqrt(np.sum(t * t))
            theta[b] = t if not np.isfinite(nrm) or nrm <= radius else t * (radius / nrm)
            if not np.isfinite(nrm):
                return np.asarray(Js), theta, np.asarray(tables), True
    return np.asarray(Js), theta, np.asarray(tables), False


# ----- sparse games (kernels/sparse.py) ------------------------------------------------------------------------------
def sparse_q_from_v(next_states, probs, r_flat, gamma, V):
    r""":math:`Q = r + \gamma\sum_k p_k V(s'_k)` on successor lists ``(S, |A|, K)``."""
    return r_flat + gamma * (probs * V[next_states]).sum(axis=-1)


def sparse_policy_rows(next_states, probs, r_flat, pi_joint):
    """COO triplets of :math:`P_\\pi` (duplicates not summed, in (s, a, k) order) and :math:`r_\\pi`."""
    S, J, K = next_states.shape
    rows = np.repeat(np.arange(S, dtype=np.int64), J * K)
    cols = next_states.reshape(-1).astype(np.int64)
    vals = (pi_joint[:, :, None] * probs).reshape(-1)
    return rows, cols, vals, (pi_joint * r_flat).sum(axis=1)


def sparse_policy_csr(next_states, probs, r_flat, pi_joint):
    """CSR ``(indptr, indices, data)`` of :math:`P_\\pi` (duplicates summed, columns sorted, zeros dropped) and
    :math:`r_\\pi`, through :mod:`scipy.sparse`."""
    import scipy.sparse as sp

    rows, cols, vals, r_pi = sparse_policy_rows(next_states, probs, r_flat, pi_joint)
    S = next_states.shape[0]
    keep = vals != 0.0
    M = sp.coo_matrix((vals[keep], (rows[keep], cols[keep])), shape=(S, S)).tocsr()
    M.sum_duplicates()
    M.sort_indices()
    M.eliminate_zeros()
    return M.indptr.astype(np.int64), M.indices.astype(np.int64), M.data, r_pi


# ----- offline evaluators (kernels/offline.py) -----------------------------------------------------------------------
def accumulate_bellman_system(psi_flat, rows, psi_pi, next_states, rewards):
    r""":math:`\Psi^\top\Psi`, :math:`\Psi^\top\Psi'_\pi`, :math:`\Psi^\top r` with dense matrix products."""
    Psi = psi_flat[rows]
    Psi_next = np.where((next_states >= 0)[:, None], psi_pi[np.maximum(next_states, 0)], 0.0)
    return Psi.T @ Psi, Psi.T @ Psi_next, Psi.T @ rewards


# ----- the ratio game (kernels/ratio.py) -----------------------------------------------------------------------------
def ratio_sequential(theta, z, eta, iterations, conditional, R, S):
    """The sequential conditional update on the ratio game (R, S): :math:`V(p_k)`, k = 0..``iterations``."""
    th, zz = np.array(theta, dtype=np.float64), np.array(z, dtype=np.float64)
    out = np.empty(iterations + 1)
    for k in range(iterations + 1):
        x, cond = softmax(th), softmax(zz)
        p = x[:, None] * cond
        out[k] = (p * R).sum() / (p * S).sum()
        if k == iterations:
            break
        w = cond if conditional else np.broadcast_to(x @ cond, cond.shape)
        q1 = (R * w).sum(axis=1) / (S * w).sum(axis=1)
        th = th + eta * q1
        zz = zz + eta * (R / S)
    return out


def ratio_independent_pg(theta1, theta2, eta, iterations, R, S):
    """Independent exact policy gradient on the ratio game (R, S): :math:`V(x_k, y_k)`, k = 0..``iterations``."""
    t1, t2 = np.array(theta1, dtype=np.float64), np.array(theta2, dtype=np.float64)
    out = np.empty(iterations + 1)
    for k in range(iterations + 1):
        x, y = softmax(t1), softmax(t2)
        den = x @ S @ y
        v = (x @ R @ y) / den
        out[k] = v
        if k == iterations:
            break
        gx = (R @ y - v * (S @ y)) / den
        gy = (R.T @ x - v * (S.T @ x)) / den
        t1 = t1 + eta * x * (gx - x @ gx)
        t2 = t2 + eta * y * (gy - y @ gy)
    return out


def ratio_ablation(method, theta, z, eta, iterations, R, S):
    """One run of an ablation method (a code of :data:`mappo_lite.kernels.ratio.ABLATION_CODES`) on the ratio game:
    :math:`V(p_k)`, k = 0..``iterations``; ``z`` (n1, n2) are agent 2's conditional logits (equal rows for a product
    method)."""
    th, zz = np.array(theta, dtype=np.float64), np.array(z, dtype=np.float64)
    product = method in (0, 2, 4)
    out = np.empty(iterations + 1)
    for k in range(iterations + 1):
        x, cond = softmax(th), softmax(zz)
        c = cond[0]
        p = x[:, None] * cond
        den = (p * S).sum()
        V = (p * R).sum() / den
        out[k] = V
        if k == iterations:
            break
        G = (R - V * S) / den if method in (0, 1) else R + (1.0 - S) * V
        if method in (0, 4):
            d1, v2 = G @ c, x @ G
            if method == 0:
                d1, v2 = x * (d1 - x @ d1), c * (v2 - c @ v2)
        elif method in (1, 5):
            g1 = (cond * G).sum(axis=1)
            d1, d2 = (x * (g1 - x @ g1), x[:, None] * cond * (G - g1[:, None])) if method == 1 else (g1, G)
        elif method == 2:
            d1, v2 = (R @ c) / (S @ c), (x @ R) / (x @ S)
        else:
            marginal = x @ cond
            d1, d2 = (R @ marginal) / (S @ marginal), R / S
        th = th + eta * d1
        zz = zz + eta * (np.broadcast_to(v2, zz.shape) if product else d2)
    return out


# ----- sparse Monte Carlo rollouts (vectorized over rollouts; equal in distribution) -----------------------------
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


def mc_localized_q_sparse(
    next_states,
    cum_probs,
    r_flat,
    gamma,
    pi_cum_concat,
    offsets,
    action_sizes,
    states,
    prefix,
    m_fixed,
    n_rollouts,
    max_steps,
    seed,
):
    """Twin of the sparse Monte Carlo kernel: all ``T * n_rollouts`` rollouts advance together."""
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


def rollout_steps_sparse(
    next_states, cum_probs, r_flat, gamma, pi_cum_concat, offsets, action_sizes, start_states, n_steps, seed
):
    """Twin of the sparse rollout kernel (one episode stream, a Python loop: equal in distribution)."""
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
