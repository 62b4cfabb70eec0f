"""Shared test helpers: independent, deliberately naive NumPy computations to check the library against.

Nothing here calls the library's evaluation code: joint policies are built by enumerating joint actions with
``itertools.product``, values by fixed-point iteration of the Bellman operator (or a power series for the
occupancy), localized values by brute-force sums over the later agents' actions. The test modules import these
with ``from tests.fixtures import ...`` (``tests`` is a package; pytest puts the repository root on ``sys.path``).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

#: The repository root.
ROOT = Path(__file__).resolve().parents[1]

# (seed, n_states, action sizes, gamma): random games used across the modules; N in {2, 3}, unequal sizes
GAME_CASES = [
    (0, 3, (2, 3), 0.9),
    (1, 4, (3, 2), 0.8),
    (2, 2, (2, 3, 2), 0.9),
    (3, 3, (3, 1, 2), 0.7),
    (4, 5, (4, 2), 0.95),
]


def case_id(case) -> str:
    seed, S, sizes, gamma = case
    return f"seed{seed}-S{S}-A{'x'.join(map(str, sizes))}-g{gamma}"


def make_random_game(case):
    from mappo_lite import make_game

    seed, S, sizes, gamma = case
    return make_game("random", n_states=S, n_agents=len(sizes), n_actions=list(sizes), gamma=gamma, seed=seed)


def random_loglinear(game, rng, scale=1.5):
    """A conditional log-linear policy with tabular features and non-zero Gaussian thetas."""
    from mappo_lite import ConditionalLogLinearPolicy

    pol = ConditionalLogLinearPolicy.for_game(game)
    thetas = [scale * rng.standard_normal(f.dim) for f in pol.features]
    return pol.with_thetas(thetas)


def random_product_probs(game, rng, scale=1.5):
    """Per-agent state-dependent tables (S, A_m) of a random product policy."""
    out = []
    for A in game.action_sizes:
        x = np.exp(scale * rng.standard_normal((game.n_states, A)))
        out.append(x / x.sum(axis=1, keepdims=True))
    return out


def product_to_conditional(game, probs):
    """Conditional tables (list of arrays (S, A_1..A_m)) of a product policy: agent m ignores the prefix."""
    tabs = []
    for m, p in enumerate(probs):
        shape = (game.n_states,) + tuple(game.action_sizes[:m]) + (game.action_sizes[m],)
        t = np.empty(shape)
        for s in range(game.n_states):
            t[s] = p[s]  # broadcast over the prefix axes
        tabs.append(t)
    return tabs


def cond_tables(policy_tables, game):
    """Per-agent conditional tables reshaped to (S, A_1, ..., A_m) from raw (n_ctx_m, A_m) arrays."""
    return [
        np.asarray(t).reshape((game.n_states,) + tuple(game.action_sizes[: m + 1])) for m, t in enumerate(policy_tables)
    ]


def joint_actions(sizes):
    return list(itertools.product(*[range(A) for A in sizes]))


def brute_joint(game, tabs):
    """pi(a|s) = prod_m pi^m(a^m|s, a^{1:m-1}) by enumeration, shape (S, A_1, ..., A_N)."""
    S, sizes = game.n_states, game.action_sizes
    out = np.zeros((S,) + tuple(sizes))
    for s in range(S):
        for a in joint_actions(sizes):
            p = 1.0
            for m in range(len(sizes)):
                p *= tabs[m][(s,) + a[: m + 1]]
            out[(s,) + a] = p
    return out


def brute_P_r(game, joint):
    """P_pi (S, S) and r_pi (S,) from a joint policy (S, A_1..A_N) by explicit loops over joint actions."""
    S = game.n_states
    P_pi = np.zeros((S, S))
    r_pi = np.zeros(S)
    for s in range(S):
        for a in joint_actions(game.action_sizes):
            w = joint[(s,) + a]
            P_pi[s] += w * game.P[(s,) + a]
            r_pi[s] += w * game.r[(s,) + a]
    return P_pi, r_pi


def iterative_V(game, joint, tol=1e-15, max_iter=200_000):
    """Iterative policy evaluation V <- r_pi + gamma P_pi V until the sup-norm change is below tol * max(1, |V|).

    The stopping rule is relative: in floating point the iteration may end cycling by an ulp of |V| (which depends
    on the BLAS kernel), and an absolute 1e-15 is below one ulp of a value of 20."""
    P_pi, r_pi = brute_P_r(game, joint)
    V = np.zeros(game.n_states)
    for _ in range(max_iter):
        V_new = r_pi + game.gamma * P_pi @ V
        if np.max(np.abs(V_new - V)) < tol * max(1.0, float(np.abs(V_new).max())):
            return V_new
        V = V_new
    raise AssertionError("iterative policy evaluation did not converge")


def brute_Q(game, V):
    """Q(s, a) = r(s, a) + gamma sum_s' P(s'|s, a) V(s') with an explicit sum."""
    Q = np.array(game.r, dtype=float)
    for idx in np.ndindex(*game.r.shape):
        Q[idx] += game.gamma * float(np.dot(game.P[idx], V))
    return Q


def brute_q_local(game, tabs, Q, m):
    """Q^{1:m}(s, a^{1:m}) = sum over a^{m+1:N} of prod_{i>m} pi^i(a^i|s, a^{1:i-1}) Q(s, a) (m = 0..N)."""
    S, sizes = game.n_states, game.action_sizes
    N = len(sizes)
    out = np.zeros((S,) + tuple(sizes[:m]))
    for s in range(S):
        for a in joint_actions(sizes):
            w = 1.0
            for i in range(m, N):
                w *= tabs[i][(s,) + a[: i + 1]]
            out[(s,) + a[:m]] += w * Q[(s,) + a]
    return out


def occupancy_series(game, joint, tol=1e-16, max_terms=1_000_000):
    """d_pi = sum_t gamma^t rho^T P_pi^t (unnormalized discounted occupancy) by summing the power series."""
    P_pi, _ = brute_P_r(game, joint)
    term = np.array(game.rho, dtype=float)
    d = np.zeros(game.n_states)
    for _ in range(max_terms):
        d += term
        term = game.gamma * term @ P_pi
        if term.sum() < tol:
            return d
    raise AssertionError("occupancy series did not converge")


def value_iteration_J_star(game, tol=1e-14):
    """J* by plain value iteration on the joint-action MDP written with explicit loops over joint actions; stops when
    the sup-norm change is below tol * max(1, |V|) (relative, see iterative_V)."""
    S = game.n_states
    acts = joint_actions(game.action_sizes)
    V = np.zeros(S)
    for _ in range(1_000_000):
        V_new = np.array(
            [max(game.r[(s,) + a] + game.gamma * np.dot(game.P[(s,) + a], V) for a in acts) for s in range(S)]
        )
        if np.max(np.abs(V_new - V)) < tol * max(1.0, float(np.abs(V_new).max())):
            return float(game.rho @ V_new), V_new
        V = V_new
    raise AssertionError("value iteration did not converge")


def chain_rule_tables(joint, sizes):
    """Factor a joint policy (S, A_1..A_N) into conditional tables (S, A_1..A_m) (uniform where undefined)."""
    N = len(sizes)
    tabs = []
    for m in range(N):
        marg = joint.sum(axis=tuple(range(m + 2, N + 1))) if m + 1 < N else joint
        tot = marg.sum(axis=-1, keepdims=True)
        safe = np.where(tot > 0, tot, 1.0)
        tabs.append(np.where(tot > 0, marg / safe, 1.0 / sizes[m]))
    return tabs


def random_features_for(game, d, seed):
    """One compact random feature map (dimension d) per agent, sized for the game's contexts."""
    from mappo_lite import random_features
    from mappo_lite.policies.conditional import context_counts

    rng = np.random.default_rng(seed)
    return [
        random_features(c, A, d, rng)
        for c, A in zip(context_counts(game.n_states, game.action_sizes), game.action_sizes)
    ]


def concat_tables(tabs):
    """Per-agent tables (n_ctx_m, A_m) as the kernels take them: one flat array and the offsets of each agent."""
    offsets = np.zeros(len(tabs) + 1, dtype=np.int64)
    for m, t in enumerate(tabs):
        offsets[m + 1] = offsets[m] + t.size
    return np.ascontiguousarray(np.concatenate([t.ravel() for t in tabs])), offsets


def cumulative_concat(tabs):
    """The same for the row-wise cumulative sums the samplers draw from (last entry exactly 1)."""
    cums = []
    for t in tabs:
        c = np.cumsum(t, axis=1)
        c[:, -1] = 1.0
        cums.append(c)
    return concat_tables(cums)


def book_extension(name: str):
    """The module ``book/_ext/<name>.py`` (the book's Sphinx extensions and build helpers), loaded by file path once
    and kept in :data:`sys.modules` under ``name``, so the tests need not put ``book/_ext`` on ``sys.path``."""
    import importlib.util
    import sys

    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "book" / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
