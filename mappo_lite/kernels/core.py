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

Kernels with large outputs are a thin Python function (the name used here) around a jitted ``_…_into`` loop that
writes into arrays allocated by NumPy (see the comment above the softmax kernels for why). All kernels are
single-threaded; ``python -m mappo_lite bench`` times each against its twin (:mod:`mappo_lite.bench`).
"""

from __future__ import annotations

import copy
import math

import numba
import numpy as np
from numba.core.compiler import Compiler

_JIT = dict(cache=True, nogil=True)


class _NoAliasCompiler(Compiler):
    """numba's compiler with its ``noalias`` flag set: every array argument of the compiled function is marked
    ``noalias`` in LLVM (as ``restrict`` in C), so stores to an output may be kept in vector registers and reordered
    past loads of the inputs and of the kernel's scratch arrays. Without it LLVM must assume that a store to ``score``
    may change the scratch row of probabilities and reloads it for every element, which keeps the loops scalar.

    Only for the ``_..._into`` kernels whose outputs are fresh arrays (no argument overlaps another) and which return
    nothing (the flag also declares that no argument's pointer escapes the call). ``tests/kernels`` checks the
    attribute is in the compiled IR, so a numba that drops the flag fails a test instead of silently slowing down."""

    def __init__(self, typingctx, targetctx, library, args, return_type, flags, locals):
        flags = copy.copy(flags)
        flags.noalias = True
        super().__init__(typingctx, targetctx, library, args, return_type, flags, locals)


#: The jit options of a kernel that writes only into fresh outputs it is given (see :class:`_NoAliasCompiler`).
_JIT_NOALIAS = dict(_JIT, pipeline_class=_NoAliasCompiler)


# ----------------------------------------------------------------------------------------------------------------
# softmax and score
#
# Every kernel with a large output is split in two: a jitted ``_..._into`` loop that writes into arrays it is given,
# and a thin Python function of the public name that allocates those arrays with NumPy. NumPy asks the operating
# system for transparent huge pages on large allocations (madvise), numba's allocator does not: on Linux, writing a
# fresh 50 MB array allocated inside numba took 3-4x longer than the same loop writing into ``np.empty`` (4 KiB
# page faults), which made the fused kernels slower than the NumPy reference at 10^5+ contexts.
# ----------------------------------------------------------------------------------------------------------------
#: Rows per block in the softmax kernels: the block's shifted logits and exponentials stay in L1 cache.
_BLOCK = 512
_EXP_LO = -708.0  # below this exp(x) is subnormal: handled by libm


# fastmath=False, explicitly: a helper without its own setting inherits the fastmath of the first kernel compiled
# that calls it (the dense softmax's reassoc/contract), and its code, cached once per signature, would then depend
# on which kernel ran first on a cold cache
@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=False)
def _exp_nonpos(x, out, kbuf, m):
    r""":math:`e^{x_i}` for the first m entries of x (all :math:`\le 0`), written to ``out``; ``kbuf`` is int64 scratch.

    libm's ``exp`` is a scalar call (~8-10 ns per entry), NumPy's is SIMD (~1 ns): this is the classic Cody-Waite
    reduction :math:`x = k\ln 2 + r`, :math:`|r|\le\ln 2/2`, with Cephes' rational approximation of :math:`e^r`
    (relative error below 2.3e-16 on [-708, 0], measured against ``np.exp``), and the factor :math:`2^k` built in
    the exponent bits, written as straight-line loops LLVM turns into SIMD code. Entries below -708 (subnormal or
    zero results) go to libm, so tiny probabilities stay exact.
    """
    for i in range(m):
        xi = max(x[i], _EXP_LO)
        k = np.floor(xi * 1.4426950408889634 + 0.5)
        r = xi - k * 6.93145751953125e-1
        r = r - k * 1.42860682030941723212e-6
        rr = r * r
        px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 9.99999999999999999910e-1)
        qx = (
            (3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr + 2.27265548208155028766e-1
        ) * rr + 2.00000000000000000009e0
        out[i] = 1.0 + 2.0 * px / (qx - px)
        kbuf[i] = (np.int64(k) + 1023) << 52
    scale = kbuf.view(np.float64)
    for i in range(m):
        out[i] *= scale[i]
    for i in range(m):
        if x[i] < _EXP_LO:
            out[i] = np.exp(x[i])


@numba.njit(**_JIT)
def _shift_block(logits, i0, nb, buf):
    """buf[i*A + a] = logits[i0+i, a] - max_a logits[i0+i, a] for the nb rows of the block."""
    A = logits.shape[1]
    for i in range(nb):
        row = logits[i0 + i]
        mx = row[0]
        for a in range(1, A):
            if row[a] > mx:
                mx = row[a]
        for a in range(A):
            buf[i * A + a] = row[a] - mx


@numba.njit(**_JIT)
def _softmax_rows_into(logits, out):
    n, A = logits.shape
    B = max(1, _BLOCK // max(A, 1))
    buf = np.empty(B * A)
    e = np.empty(B * A)
    kbuf = np.empty(B * A, dtype=np.int64)
    for i0 in range(0, n, B):
        nb = min(B, n - i0)
        _shift_block(logits, i0, nb, buf)
        _exp_nonpos(buf, e, kbuf, nb * A)
        for i in range(nb):
            z = 0.0
            for a in range(A):
                z += e[i * A + a]
            for a in range(A):
                out[i0 + i, a] = e[i * A + a] / z
    return out


def softmax_rows(logits):
    """Row-wise stable softmax of ``logits`` (n, A)."""
    return _softmax_rows_into(logits, np.empty(logits.shape))


@numba.njit(**_JIT)
def _log_softmax_rows_into(logits, out):
    n, A = logits.shape
    B = max(1, _BLOCK // max(A, 1))
    buf = np.empty(B * A)
    e = np.empty(B * A)
    kbuf = np.empty(B * A, dtype=np.int64)
    for i0 in range(0, n, B):
        nb = min(B, n - i0)
        _shift_block(logits, i0, nb, buf)
        _exp_nonpos(buf, e, kbuf, nb * A)
        for i in range(nb):
            z = 0.0
            for a in range(A):
                z += e[i * A + a]
            lz = np.log(z)
            for a in range(A):
                out[i0 + i, a] = buf[i * A + a] - lz
    return out


def log_softmax_rows(logits):
    """Row-wise stable log-softmax of ``logits`` (n, A)."""
    return _log_softmax_rows_into(logits, np.empty(logits.shape))


@numba.njit(cache=True)
def softmax_vector_into(z, out):
    """``out`` = the stable softmax of the vector ``z`` (scalar loops and libm's exp): the one softmax the other jitted
    kernels call on short vectors (the ratio game's); its NumPy twin is :func:`mappo_lite.kernels.softmax.softmax`."""
    m = z[0]
    for i in range(1, z.shape[0]):
        if z[i] > m:
            m = z[i]
    s = 0.0
    for i in range(z.shape[0]):
        out[i] = math.exp(z[i] - m)
        s += out[i]
    for i in range(z.shape[0]):
        out[i] /= s


#: The dense kernel's reductions (the logits' dot products and the mean feature) may be reassociated and fused
#: into FMAs: the same sums in another order, a few ulps apart (the twins' tests allow 1e4 ulps), which lets LLVM
#: vectorize them; 5-10% faster on an Intel Xeon at every size measured. Nothing else of fastmath (NaN and inf
#: keep their meaning: the max starts at -inf), and not in the shared exponential, which sets fastmath=False.
_DENSE_FASTMATH = {"reassoc", "contract"}


@numba.njit(fastmath=_DENSE_FASTMATH, **_JIT_NOALIAS)
def _softmax_score_into(phi, theta, probs, score):
    n, A, d = phi.shape
    B = max(1, _BLOCK // max(A, 1))
    buf = np.empty(B * A)
    e = np.empty(B * A)
    kbuf = np.empty(B * A, dtype=np.int64)
    mean = np.empty(d)
    for i0 in range(0, n, B):
        nb = min(B, n - i0)
        for i in range(nb):
            mx = -np.inf
            for a in range(A):
                acc = 0.0
                for k in range(d):
                    acc += phi[i0 + i, a, k] * theta[k]
                buf[i * A + a] = acc
                if acc > mx:
                    mx = acc
            for a in range(A):
                buf[i * A + a] -= mx
        _exp_nonpos(buf, e, kbuf, nb * A)
        for i in range(nb):
            c = i0 + i
            z = 0.0
            for a in range(A):
                z += e[i * A + a]
            for k in range(d):
                mean[k] = 0.0
            for a in range(A):
                p = e[i * A + a] / z
                probs[c, a] = p
                for k in range(d):
                    mean[k] += p * phi[c, a, k]
            for a in range(A):
                for k in range(d):
                    score[c, a, k] = phi[c, a, k] - mean[k]


def softmax_score(phi, theta):
    r"""Fused log-linear policy and score for every context.

    ``phi`` (n, A, d), ``theta`` (d,) → ``probs`` (n, A) with :math:`\pi(a|c) \propto \exp(\phi(c,a)^\top\theta)` and
    ``score`` (n, A, d) with :math:`\nabla_\theta \log \pi(a|c) = \phi(c,a) - \sum_b \pi(b|c)\phi(c,b)`. One pass over
    ``phi`` (each context's block is re-read from cache), no temporaries of size n.
    """
    n, A, d = phi.shape
    probs, score = np.empty((n, A)), np.empty((n, A, d))
    _softmax_score_into(phi, theta, probs, score)
    return probs, score


@numba.njit(**_JIT_NOALIAS)
def _tabular_softmax_score_into(logits, probs, score):
    n, A = logits.shape
    B = max(1, _BLOCK // max(A, 1))
    buf = np.empty(B * A)
    e = np.empty(B * A)
    kbuf = np.empty(B * A, dtype=np.int64)
    for i0 in range(0, n, B):
        nb = min(B, n - i0)
        _shift_block(logits, i0, nb, buf)
        _exp_nonpos(buf, e, kbuf, nb * A)
        for i in range(nb):
            c = i0 + i
            z = 0.0
            for a in range(A):
                z += e[i * A + a]
            for a in range(A):
                probs[c, a] = e[i * A + a] / z
            for a in range(A):
                for b in range(A):
                    score[c, a, b] = -probs[c, b]
                score[c, a, a] += 1.0


def tabular_softmax_score(logits):
    r"""Softmax and score for tabular (one-hot) features, where :math:`\phi(c,a) = e_{(c,a)}`.

    The score of action a in context c is :math:`e_{(c,a)} - \sum_b \pi(b|c) e_{(c,b)}`, nonzero only in the A
    coordinates of context c, so it is returned compactly as ``score[c, a, b] = 1{a=b} - π(b|c)`` of shape (n, A, A).
    Fused: each row's softmax is computed and its score block written in one pass.
    """
    n, A = logits.shape
    probs, score = np.empty((n, A)), np.empty((n, A, A))
    _tabular_softmax_score_into(logits, probs, score)
    return probs, score


# ----------------------------------------------------------------------------------------------------------------
# joint policy, P_pi / r_pi assembly, Q = r + gamma P V, backward sweep
# ----------------------------------------------------------------------------------------------------------------
#: From this many successor states on, :func:`q_from_v` (:math:`PV`) calls BLAS (``dgemv`` through numba's
#: ``np.dot``): long dot products are what its unrolled kernels do best (on an Intel Xeon our loop reached 0.8x of
#: single-threaded OpenBLAS at 10^8 entries of P; a BLAS call costs about a microsecond, which the short rows of small
#: games would feel). :func:`policy_transition_reward` does not: its loop adds four rows of P per pass over the
#: output row, which beat the per-state ``dgemv`` it used before (0.81x of NumPy's einsum at 10^8 entries in a
#: benchmark run on an AMD EPYC, Zen 5) at every size measured there, and it skips the joint actions of probability 0.
BLAS_MIN_STATES = 32
#: Up to this many entries of P (in cache, or nearly), :func:`q_from_v` makes one BLAS call for all rows; above it,
#: one per state (measured on an Intel Xeon: each is the faster of the two in its range, by a few percent).
BLAS_ONE_CALL_MAX_ENTRIES = 4_000_000


@numba.njit(**_JIT)
def _joint_policy_into(pi_concat, offsets, action_sizes, n_states, out):
    N = action_sizes.shape[0]
    J = out.shape[1]
    A_last = action_sizes[N - 1]
    n_pre = J // A_last  # prefixes (a^1..a^{N-1}) per state
    flat = out.reshape(-1)
    pre = np.empty(n_pre)
    nxt = np.empty(n_pre)
    last = offsets[N - 1]
    for s in range(n_states):
        # pi(a^1..a^{N-1} | s) for the n_pre prefixes of this state (small, in cache) ...
        pre[0] = 1.0
        size = 1
        for m in range(N - 1):
            A = action_sizes[m]
            base = offsets[m] + s * size * A
            for c in range(size):
                p = pre[c]
                for a in range(A):
                    nxt[c * A + a] = p * pi_concat[base + c * A + a]
            size *= A
            for c in range(size):
                pre[c] = nxt[c]
        # ... then one streaming pass over agent N's table and the output
        base = last + s * J
        dst = s * J
        for c in range(n_pre):
            p = pre[c]
            for a in range(A_last):
                flat[dst + c * A_last + a] = p * pi_concat[base + c * A_last + a]
    return out


def joint_policy(pi_concat, offsets, action_sizes, n_states):
    r"""Joint policy :math:`\pi(\mathbf a|s) = \prod_m \pi^m(a^m \mid s, \mathbf a^{1:m-1})`, shape (S, |A|)."""
    J = 1
    for A in action_sizes:
        J *= int(A)
    return _joint_policy_into(pi_concat, offsets, action_sizes, n_states, np.empty((int(n_states), J)))


@numba.njit(fastmath={"reassoc", "contract"}, **_JIT)
def _policy_transition_reward_into(P_flat, r_flat, pi_joint, P_pi, r_pi):
    # fastmath "reassoc"/"contract" only (no assumptions about NaN/inf): SIMD partial sums and FMAs, rounding only
    S, J, S2 = P_flat.shape
    played = np.empty(J, dtype=np.int64)
    for s in range(S):
        acc = 0.0
        n = 0
        for j in range(J):
            w = pi_joint[s, j]
            acc += w * r_flat[s, j]
            if w != 0.0:  # joint actions of probability 0 are skipped: a deterministic row reads one row of P
                played[n] = j
                n += 1
        r_pi[s] = acc
        row = P_pi[s]
        for t in range(S2):
            row[t] = 0.0
        # four rows of P per pass over the output row (which stays in cache): a quarter of its loads and stores
        i = 0
        while i + 4 <= n:
            j0, j1, j2, j3 = played[i], played[i + 1], played[i + 2], played[i + 3]
            w0, w1, w2, w3 = pi_joint[s, j0], pi_joint[s, j1], pi_joint[s, j2], pi_joint[s, j3]
            p0, p1, p2, p3 = P_flat[s, j0], P_flat[s, j1], P_flat[s, j2], P_flat[s, j3]
            for t in range(S2):
                row[t] += (w0 * p0[t] + w1 * p1[t]) + (w2 * p2[t] + w3 * p3[t])
            i += 4
        while i < n:
            w, src = pi_joint[s, played[i]], P_flat[s, played[i]]
            for t in range(S2):
                row[t] += w * src[t]
            i += 1
    return P_pi, r_pi


def policy_transition_reward(P_flat, r_flat, pi_joint):
    r""":math:`P_\pi(s'|s) = \sum_{\mathbf a} \pi(\mathbf a|s) P(s'|s,\mathbf a)` and :math:`r_\pi(s)`; reads P once
    (row s of :math:`P_\pi` stays in cache while the |A| rows of P for state s stream past)."""
    S = P_flat.shape[0]
    return _policy_transition_reward_into(P_flat, r_flat, pi_joint, np.empty((S, P_flat.shape[2])), np.empty(S))


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _q_from_v_into(P_flat, r_flat, gamma, V, Q):
    # fastmath "reassoc" (only: no assumptions about NaN/inf) lets LLVM split the dot product into SIMD partial sums,
    # as BLAS does; the result differs from the sequential sum by rounding only
    S, J, S2 = P_flat.shape
    if S2 >= BLAS_MIN_STATES:
        if S * J * S2 < BLAS_ONE_CALL_MAX_ENTRIES:  # one dgemv over all (s, a) rows, into Q itself
            q = Q.reshape(S * J)
            np.dot(P_flat.reshape(S * J, S2), V, q)
        else:  # one dgemv per state: each (|A|, S) block of P is streamed while its output row stays in cache
            for s in range(S):
                np.dot(P_flat[s], V, Q[s])
        for s in range(S):
            for j in range(J):
                Q[s, j] = r_flat[s, j] + gamma * Q[s, j]
        return Q
    for s in range(S):
        for j in range(J):
            src = P_flat[s, j]
            acc = 0.0
            for t in range(S2):
                acc += src[t] * V[t]
            Q[s, j] = r_flat[s, j] + gamma * acc
    return Q


def q_from_v(P_flat, r_flat, gamma, V):
    r""":math:`Q(s,\mathbf a) = r(s,\mathbf a) + \gamma \sum_{s'} P(s'|s,\mathbf a) V(s')`; reads P once."""
    return _q_from_v_into(P_flat, r_flat, gamma, V, np.empty(P_flat.shape[:2]))


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


#: Action-set sizes for which the sweep's loops are compiled with the size as a constant: with the size read at run
#: time, the loop over the A actions of one context (5 iterations, say) costs more in its setup and exit than in its
#: multiply-adds; with a constant, LLVM unrolls it and vectorizes across contexts (interleaved loads). Measured on an
#: Intel Xeon: 1.2-1.8x faster for 2-5 actions. The paper's and the book's games have 2-5 actions per agent; each
#: size costs about 0.3 s of compilation (once, then cached), so larger sets keep the general loop, whose longer
#: rows amortize its overhead.
SWEEP_UNROLLED_ACTIONS = (2, 3, 4, 5)


@numba.njit(nogil=True, inline="always")
def _sweep_top(Q_flat, s, pi_concat, base_pi, out, cp, dst, n_ctx, A):
    # level N is Q itself: copy Q's row and reduce it to level N-1 in the same pass
    for c in range(n_ctx):
        acc = 0.0
        for a in range(A):
            q = Q_flat[s, c * A + a]
            out[cp + c * A + a] = q
            acc += pi_concat[base_pi + c * A + a] * q
        out[dst + c] = acc


@numba.njit(nogil=True, inline="always")
def _sweep_level(pi_concat, base_pi, out, src, dst, n_ctx, A):
    # a lower level, reduced from the one just written (still in cache)
    for c in range(n_ctx):
        acc = 0.0
        for a in range(A):
            acc += pi_concat[base_pi + c * A + a] * out[src + c * A + a]
        out[dst + c] = acc


@numba.njit(nogil=True, inline="always")
def _sweep_top_unrolled(Q_flat, s, pi_concat, base_pi, out, cp, dst, n_ctx, A):
    # one branch per size of SWEEP_UNROLLED_ACTIONS, each with the size a literal
    if A == 2:
        _sweep_top(Q_flat, s, pi_concat, base_pi, out, cp, dst, n_ctx, 2)
    elif A == 3:
        _sweep_top(Q_flat, s, pi_concat, base_pi, out, cp, dst, n_ctx, 3)
    elif A == 4:
        _sweep_top(Q_flat, s, pi_concat, base_pi, out, cp, dst, n_ctx, 4)
    elif A == 5:
        _sweep_top(Q_flat, s, pi_concat, base_pi, out, cp, dst, n_ctx, 5)
    else:
        _sweep_top(Q_flat, s, pi_concat, base_pi, out, cp, dst, n_ctx, A)


@numba.njit(nogil=True, inline="always")
def _sweep_level_unrolled(pi_concat, base_pi, out, src, dst, n_ctx, A):
    if A == 2:
        _sweep_level(pi_concat, base_pi, out, src, dst, n_ctx, 2)
    elif A == 3:
        _sweep_level(pi_concat, base_pi, out, src, dst, n_ctx, 3)
    elif A == 4:
        _sweep_level(pi_concat, base_pi, out, src, dst, n_ctx, 4)
    elif A == 5:
        _sweep_level(pi_concat, base_pi, out, src, dst, n_ctx, 5)
    else:
        _sweep_level(pi_concat, base_pi, out, src, dst, n_ctx, A)


@numba.njit(**_JIT_NOALIAS)
def _backward_sweep_into(Q_flat, pi_concat, offsets, action_sizes, loff, out):
    S, J = Q_flat.shape
    N = action_sizes.shape[0]
    top = loff[N]
    A_last = action_sizes[N - 1]
    n_top = J // A_last
    for s in range(S):
        dst = loff[N - 1] + s * n_top
        _sweep_top_unrolled(Q_flat, s, pi_concat, offsets[N - 1] + s * J, out, top + s * J, dst, n_top, A_last)
        src = dst
        size = n_top
        for m in range(N - 2, -1, -1):
            A = action_sizes[m]
            n_ctx = size // A
            dst = loff[m] + s * n_ctx
            _sweep_level_unrolled(pi_concat, offsets[m] + s * size, out, src, dst, n_ctx, A)
            src = dst
            size = n_ctx


@numba.njit(**_JIT)
def _backward_sweep_small(Q_flat, pi_concat, offsets, action_sizes):
    # one compiled call (offsets, allocation, sweep): on small inputs numba's dispatch of each call, ~1 us, is most of
    # the time; the output is small, so numba's own allocator is as good as NumPy's
    loff = level_offsets_for(action_sizes, Q_flat.shape[0])
    out = np.empty(loff[-1])
    _backward_sweep_into(Q_flat, pi_concat, offsets, action_sizes, loff, out)
    return out


#: Up to this many entries of Q, :func:`backward_sweep` is a single compiled call (see the comment on the softmax
#: kernels for why large outputs are allocated by NumPy instead).
_SWEEP_SMALL_MAX_ENTRIES = 1 << 16


def backward_sweep(Q_flat, pi_concat, offsets, action_sizes):
    r"""All localized action values in one backward sweep over the agents.

    :math:`Q^{1:N} = Q` and :math:`Q^{1:m-1}(s,\mathbf a^{1:m-1}) = \sum_{a^m} \pi^m(a^m|s,\mathbf a^{1:m-1})
    Q^{1:m}(s,\mathbf a^{1:m})`, down to :math:`Q^{1:0} = V`. ``Q_flat`` is (S, |A|); returns the concatenation of
    all levels (see :func:`level_offsets_for`). State by state, so Q is read once and every level is reduced from
    the one just written while it is in cache.
    """
    if Q_flat.size <= _SWEEP_SMALL_MAX_ENTRIES:
        return _backward_sweep_small(Q_flat, pi_concat, offsets, action_sizes)
    loff = level_offsets_for(action_sizes, Q_flat.shape[0])
    out = np.empty(int(loff[-1]))
    _backward_sweep_into(Q_flat, pi_concat, offsets, action_sizes, loff, out)
    return out


#: The kernels compiled with :class:`_NoAliasCompiler`, each with the names of its output arguments: the tests check
#: that numba passed the flag on (the outputs' data pointers are ``noalias`` in the compiled code).
NOALIAS_KERNELS = {
    _softmax_score_into: ("probs", "score"),
    _tabular_softmax_score_into: ("probs", "score"),
    _backward_sweep_into: ("out",),
}


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
def mc_localized_q(
    P_cum, r_flat, gamma, pi_cum_concat, offsets, action_sizes, states, prefix, m_fixed, n_rollouts, max_steps, seed
):
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
        for _k in range(n_rollouts):
            s = states[t]
            for m in range(N):
                acts[m] = prefix[t, m] if m < m_fixed else 0
            j = _draw_actions(s, pi_cum_concat, offsets, action_sizes, acts, m_fixed)
            for _step in range(max_steps):
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
    for _step in range(n_steps):
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


# ----------------------------------------------------------------------------------------------------------------
# memory bandwidth probe (used by the benchmark)
# ----------------------------------------------------------------------------------------------------------------
@numba.njit(**_JIT)
def stream_read(x):
    """Sum of a 1-D float64 array with eight independent partial sums: a streaming read of ``x`` at the memory
    bandwidth (the benchmark's yardstick for "reading P once")."""
    n = x.shape[0]
    main = n - n % 8
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    for i in range(0, main, 8):
        a0 += x[i]
        a1 += x[i + 1]
        a2 += x[i + 2]
        a3 += x[i + 3]
        a4 += x[i + 4]
        a5 += x[i + 5]
        a6 += x[i + 6]
        a7 += x[i + 7]
    for i in range(main, n):
        a0 += x[i]
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
