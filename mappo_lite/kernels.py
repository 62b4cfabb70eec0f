r"""numba kernels for the hot loops. Each has a plain-NumPy twin of the same name in :mod:`mappo_lite.reference`.

All kernels take C-contiguous ``float64`` / ``int64`` arrays (the callers in the library convert), so each compiles
once per signature and is cached on disk (``cache=True``). Shapes use the layouts of :mod:`mappo_lite.games` and
:mod:`mappo_lite.policies`:

* a conditional policy table of agent m is flattened to ``(n_ctx_m, A_m)`` with context index
  :math:`c = s \prod_{i<m} A_i + \mathrm{flat}(\mathbf a^{1:m-1})`; the N tables are concatenated into one 1-D
  array ``pi_concat`` with ``offsets[m]`` the start of agent m's table;
* the localized values :math:`Q^{1:m}`, :math:`m = 0..N` (:math:`Q^{1:0} = V`, :math:`Q^{1:N} = Q`), are
  concatenated likewise with ``level_offsets``.

These are internal: the public functions in :mod:`mappo_lite.evaluation`, :mod:`mappo_lite.policies`,
:mod:`mappo_lite.sampling` and :mod:`mappo_lite.solver` validate their input first.
"""

from __future__ import annotations

import numba
import numpy as np

_JIT = dict(cache=True, nogil=True)


# ----------------------------------------------------------------------------------------------------------------
# softmax and score
# ----------------------------------------------------------------------------------------------------------------
@numba.njit(**_JIT)
def softmax_rows(logits):
    """Row-wise stable softmax of ``logits`` (n, A)."""
    n, A = logits.shape
    out = np.empty((n, A))
    for i in range(n):
        mx = logits[i, 0]
        for a in range(1, A):
            if logits[i, a] > mx:
                mx = logits[i, a]
        z = 0.0
        for a in range(A):
            e = np.exp(logits[i, a] - mx)
            out[i, a] = e
            z += e
        for a in range(A):
            out[i, a] /= z
    return out


@numba.njit(**_JIT)
def log_softmax_rows(logits):
    """Row-wise stable log-softmax of ``logits`` (n, A)."""
    n, A = logits.shape
    out = np.empty((n, A))
    for i in range(n):
        mx = logits[i, 0]
        for a in range(1, A):
            if logits[i, a] > mx:
                mx = logits[i, a]
        z = 0.0
        for a in range(A):
            z += np.exp(logits[i, a] - mx)
        lz = mx + np.log(z)
        for a in range(A):
            out[i, a] = logits[i, a] - lz
    return out


@numba.njit(**_JIT)
def softmax_score(phi, theta):
    r"""Fused log-linear policy and score for every context.

    ``phi`` (n, A, d), ``theta`` (d,) → ``probs`` (n, A) with :math:`\pi(a|c) \propto \exp(\phi(c,a)^\top\theta)` and
    ``score`` (n, A, d) with :math:`\nabla_\theta \log \pi(a|c) = \phi(c,a) - \sum_b \pi(b|c)\phi(c,b)`.
    """
    n, A, d = phi.shape
    probs = np.empty((n, A))
    score = np.empty((n, A, d))
    logit = np.empty(A)
    mean = np.empty(d)
    for i in range(n):
        mx = -np.inf
        for a in range(A):
            acc = 0.0
            for k in range(d):
                acc += phi[i, a, k] * theta[k]
            logit[a] = acc
            if acc > mx:
                mx = acc
        z = 0.0
        for a in range(A):
            e = np.exp(logit[a] - mx)
            probs[i, a] = e
            z += e
        for k in range(d):
            mean[k] = 0.0
        for a in range(A):
            p = probs[i, a] / z
            probs[i, a] = p
            for k in range(d):
                mean[k] += p * phi[i, a, k]
        for a in range(A):
            for k in range(d):
                score[i, a, k] = phi[i, a, k] - mean[k]
    return probs, score


@numba.njit(**_JIT)
def tabular_softmax_score(logits):
    r"""Softmax and score for tabular (one-hot) features, where :math:`\phi(c,a) = e_{(c,a)}`.

    The score of action a in context c is :math:`e_{(c,a)} - \sum_b \pi(b|c) e_{(c,b)}`, nonzero only in the A
    coordinates of context c, so it is returned compactly as ``score[c, a, b] = 1{a=b} - π(b|c)`` of shape (n, A, A).
    """
    n, A = logits.shape
    probs = softmax_rows(logits)
    score = np.empty((n, A, A))
    for i in range(n):
        for a in range(A):
            for b in range(A):
                score[i, a, b] = (1.0 if a == b else 0.0) - probs[i, b]
    return probs, score


# ----------------------------------------------------------------------------------------------------------------
# joint policy, P_pi / r_pi assembly, Q = r + gamma P V, backward sweep
# ----------------------------------------------------------------------------------------------------------------
@numba.njit(**_JIT)
def joint_policy(pi_concat, offsets, action_sizes, n_states):
    r"""Joint policy :math:`\pi(\mathbf a|s) = \prod_m \pi^m(a^m \mid s, \mathbf a^{1:m-1})`, shape (S, |A|)."""
    N = action_sizes.shape[0]
    J = 1
    for m in range(N):
        J *= action_sizes[m]
    out = np.empty((n_states, J))
    for s in range(n_states):
        for j in range(J):
            # decode j into (a^1..a^N), agent 1 most significant; walk contexts forward
            rem = j
            div = J
            ctx = s
            p = 1.0
            for m in range(N):
                div //= action_sizes[m]
                a = rem // div
                rem -= a * div
                p *= pi_concat[offsets[m] + ctx * action_sizes[m] + a]
                ctx = ctx * action_sizes[m] + a
            out[s, j] = p
    return out


@numba.njit(**_JIT)
def policy_transition_reward(P_flat, r_flat, pi_joint):
    r""":math:`P_\pi(s'|s) = \sum_{\mathbf a} \pi(\mathbf a|s) P(s'|s,\mathbf a)` and :math:`r_\pi(s)`; reads P once."""
    S, J, S2 = P_flat.shape
    P_pi = np.zeros((S, S2))
    r_pi = np.zeros(S)
    for s in range(S):
        acc = 0.0
        for j in range(J):
            w = pi_joint[s, j]
            acc += w * r_flat[s, j]
            if w != 0.0:
                for t in range(S2):
                    P_pi[s, t] += w * P_flat[s, j, t]
        r_pi[s] = acc
    return P_pi, r_pi


@numba.njit(**_JIT)
def q_from_v(P_flat, r_flat, gamma, V):
    r""":math:`Q(s,\mathbf a) = r(s,\mathbf a) + \gamma \sum_{s'} P(s'|s,\mathbf a) V(s')`; reads P once."""
    S, J, S2 = P_flat.shape
    Q = np.empty((S, J))
    for s in range(S):
        for j in range(J):
            acc = 0.0
            for t in range(S2):
                acc += P_flat[s, j, t] * V[t]
            Q[s, j] = r_flat[s, j] + gamma * acc
    return Q


@numba.njit(**_JIT)
def level_offsets_for(action_sizes, n_states):
    """Offsets of the levels Q^{1:0}=V, Q^{1:1}, …, Q^{1:N} in the concatenated sweep output (length N+2)."""
    N = action_sizes.shape[0]
    off = np.zeros(N + 2, dtype=np.int64)
    size = n_states
    for m in range(N + 1):
        off[m + 1] = off[m] + size
        if m < N:
            size *= action_sizes[m]
    return off


@numba.njit(**_JIT)
def backward_sweep(Q_flat, pi_concat, offsets, action_sizes):
    r"""All localized action values in one backward sweep over the agents.

    :math:`Q^{1:N} = Q` and :math:`Q^{1:m-1}(s,\mathbf a^{1:m-1}) = \sum_{a^m} \pi^m(a^m|s,\mathbf a^{1:m-1})
    Q^{1:m}(s,\mathbf a^{1:m})`, down to :math:`Q^{1:0} = V`. ``Q_flat`` is (S, |A|); returns the concatenation of
    all levels (see :func:`level_offsets_for`). Each state's block is reduced in place, so Q is read once.
    """
    S, J = Q_flat.shape
    N = action_sizes.shape[0]
    loff = level_offsets_for(action_sizes, S)
    out = np.empty(loff[N + 1])
    buf = np.empty(J)
    for s in range(S):
        for j in range(J):
            buf[j] = Q_flat[s, j]
            out[loff[N] + s * J + j] = Q_flat[s, j]
        size = J
        for m in range(N - 1, -1, -1):
            A = action_sizes[m]
            n_ctx_local = size // A
            base_pi = offsets[m] + s * n_ctx_local * A
            for c in range(n_ctx_local):
                acc = 0.0
                for a in range(A):
                    acc += pi_concat[base_pi + c * A + a] * buf[c * A + a]
                buf[c] = acc
                out[loff[m] + s * n_ctx_local + c] = acc
            size = n_ctx_local
    return out


# ----------------------------------------------------------------------------------------------------------------
# sampling: Monte Carlo localized Q and raw rollouts
# ----------------------------------------------------------------------------------------------------------------
@numba.njit(**_JIT)
def _draw(cum_row_base, arr, n, u):
    """Index of the first entry of arr[cum_row_base : cum_row_base+n] (a cumulative row) exceeding u; n if none."""
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) // 2
        if arr[cum_row_base + mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return lo


@numba.njit(**_JIT)
def _draw_actions(s, pi_cum_concat, offsets, action_sizes, acts, m_fixed):
    """Sample a^{m_fixed+1..N} from the conditional policies given s and the fixed acts[:m_fixed]; return flat j."""
    N = action_sizes.shape[0]
    ctx = s
    for m in range(N):
        A = action_sizes[m]
        if m >= m_fixed:
            acts[m] = _draw(offsets[m] + ctx * A, pi_cum_concat, A, np.random.random())
            if acts[m] >= A:
                acts[m] = A - 1
        ctx = ctx * A + acts[m]
    # ctx is now s*J + j
    J = 1
    for m in range(N):
        J *= action_sizes[m]
    return ctx - s * J


@numba.njit(**_JIT)
def mc_localized_q(P_cum, r_flat, gamma, pi_cum_concat, offsets, action_sizes, states, prefix, m_fixed,
                   n_rollouts, max_steps, seed):
    r"""Monte Carlo estimates :math:`\hat Q^{1:m}(s, \mathbf a^{1:m})` for each sample.

    Sample t starts in ``states[t]`` with agents 1..m playing ``prefix[t, :m]`` (m = ``m_fixed``) and agents m+1..N
    drawing from their conditional policies; afterwards every agent follows π. The return of one rollout is the
    *undiscounted* sum :math:`\sum_{t=0}^{H} r_t` with a random horizon: after each step the episode goes on with
    probability γ (and, in stopping games, with the row mass of P). Since :math:`\Pr(H \ge t) = \gamma^t`, the
    estimate is unbiased for the discounted :math:`Q^{1:m}`. ``P_cum`` is the cumulative sum of P over s'
    (S, |A|, S); ``pi_cum_concat`` the cumulative conditional tables. Rollouts are cut at ``max_steps``.
    """
    np.random.seed(seed)
    T = states.shape[0]
    N = action_sizes.shape[0]
    S = P_cum.shape[0]
    out = np.empty(T)
    acts = np.empty(N, dtype=np.int64)
    Pc = P_cum.ravel()
    J = P_cum.shape[1]
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
                u = np.random.random()
                nxt = _draw(s * J * S + j * S, Pc, S, u)
                if nxt >= S:  # the row mass of P is below 1: the episode stops
                    break
                s = nxt
                j = _draw_actions(s, pi_cum_concat, offsets, action_sizes, acts, 0)
        out[t] = total / n_rollouts
    return out


@numba.njit(**_JIT)
def rollout_steps(P_cum, r_flat, gamma, pi_cum_concat, offsets, action_sizes, start_states, n_steps, seed):
    """Run episodes from ``start_states`` (cycled) for ``n_steps`` environment steps in total; return the mean
    undiscounted return per episode and the number of episodes. Used to measure environment steps per second."""
    np.random.seed(seed)
    N = action_sizes.shape[0]
    S = P_cum.shape[0]
    acts = np.empty(N, dtype=np.int64)
    Pc = P_cum.ravel()
    J = P_cum.shape[1]
    episodes = 0
    total = 0.0
    s = start_states[0]
    j = _draw_actions(s, pi_cum_concat, offsets, action_sizes, acts, 0)
    for step in range(n_steps):
        total += r_flat[s, j]
        stop = np.random.random() >= gamma
        if not stop:
            nxt = _draw(s * J * S + j * S, Pc, S, np.random.random())
            stop = nxt >= S
        if stop:
            episodes += 1
            s = start_states[episodes % start_states.shape[0]]
        else:
            s = nxt
        j = _draw_actions(s, pi_cum_concat, offsets, action_sizes, acts, 0)
    return total / max(episodes, 1), episodes


# ----------------------------------------------------------------------------------------------------------------
# Algorithm 3: projected SGD with averaging
# ----------------------------------------------------------------------------------------------------------------
@numba.njit(**_JIT)
def projected_sgd(phi, ctx, act, targets, theta_k, theta0, eta, radius):
    r"""Algorithm 3 with a dense feature array ``phi`` (n_ctx, A, d).

    For t < T with sample :math:`(c_t, a_t)` and target :math:`y_t = \beta_k^{-1}\hat Q^{1:m}`:
    :math:`\theta(t+\tfrac12) = \theta(t) - 2\eta\,\phi\,((\theta(t)-\theta_k)^\top\phi - y_t)`,
    :math:`\theta(t+1) = \Pi_\Theta(\theta(t+\tfrac12))` (projection on the ball of radius R); returns
    :math:`\bar\theta = \frac1T\sum_{t=1}^T \theta(t)`.
    """
    T = ctx.shape[0]
    d = theta_k.shape[0]
    theta = theta0.copy()
    avg = np.zeros(d)
    for t in range(T):
        c = ctx[t]
        a = act[t]
        pred = 0.0
        for k in range(d):
            pred += (theta[k] - theta_k[k]) * phi[c, a, k]
        g = 2.0 * eta * (pred - targets[t])
        nrm = 0.0
        for k in range(d):
            theta[k] -= g * phi[c, a, k]
            nrm += theta[k] * theta[k]
        nrm = np.sqrt(nrm)
        if nrm > radius:
            f = radius / nrm
            for k in range(d):
                theta[k] *= f
        for k in range(d):
            avg[k] += theta[k]
    if T > 0:
        for k in range(d):
            avg[k] /= T
    return avg


@numba.njit(**_JIT)
def projected_sgd_tabular(ctx, act, n_actions, targets, theta_k, theta0, eta, radius):
    r"""Algorithm 3 for tabular one-hot features :math:`\phi(c,a) = e_{cA+a}` in O(T + d) time.

    Same iterates as :func:`projected_sgd` with the one-hot feature array, without materializing it: θ is stored as
    ``scale * u`` so the projection (a rescaling) costs O(1), and the running average is accumulated lazily per
    coordinate with prefix sums of the scale.
    """
    T = ctx.shape[0]
    d = theta_k.shape[0]
    u = theta0.copy()
    scale = 1.0
    sq = 0.0  # ||u||^2
    for k in range(d):
        sq += u[k] * u[k]
    avg = np.zeros(d)
    last = np.zeros(d, dtype=np.int64)  # time index from which u[k] has been constant
    cum = np.zeros(T + 1)  # cum[t] = sum_{i<t} scale after step i
    for t in range(T):
        k = ctx[t] * n_actions + act[t]
        # settle coordinate k's average contribution over steps last[k]..t-1
        avg[k] += u[k] * (cum[t] - cum[last[k]])
        last[k] = t
        theta_k_val = scale * u[k]
        pred = theta_k_val - theta_k[k]
        new_val = theta_k_val - 2.0 * eta * (pred - targets[t])
        sq += (new_val / scale) ** 2 - u[k] * u[k]
        u[k] = new_val / scale
        nrm = scale * np.sqrt(max(sq, 0.0))
        if nrm > radius:
            scale *= radius / nrm
        cum[t + 1] = cum[t] + scale
        if scale < 0.5:
            # Renormalize as soon as the projection has shrunk the scale: settle every coordinate's average, fold
            # the scale into u and recompute ||u||^2 exactly. Waiting longer lets u grow like 1/scale, and the
            # lazy averages and the incremental norm then lose their precision. Later prefix differences only use
            # indices >= t+1, so cum needs no rebasing. Costs O(d) per projection that halves the scale.
            sq = 0.0
            for i in range(d):
                avg[i] += u[i] * (cum[t + 1] - cum[last[i]])
                last[i] = t + 1
                u[i] *= scale
                sq += u[i] * u[i]
            scale = 1.0
    for i in range(d):
        avg[i] += u[i] * (cum[T] - cum[last[i]])
    if T > 0:
        for i in range(d):
            avg[i] /= T
    return avg
