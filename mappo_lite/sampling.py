r"""Sampling from :math:`\sigma_\pi = \nu_\pi\pi` and Monte Carlo estimates :math:`\hat Q^{1:m}` (chapter 5 of the book).

Algorithm 1 needs, for each agent m, samples :math:`(s, \mathbf a^{1:m-1}, a^m) \sim \sigma_k` and an estimate
:math:`\hat Q^{1:m}` at each. Our choices (the paper leaves evaluation open; the theorem only needs Assumption 4.3):

* states are drawn from the exact :math:`\nu_k` (one linear solve) and actions from the policy, so the only
  statistical error is in :math:`\hat Q`;
* :math:`\hat Q^{1:m}(s,\mathbf a^{1:m})` is the average over ``n_rollouts`` rollouts of the **undiscounted** return
  :math:`\sum_{t=0}^{H} r_t` where agents m+1..N draw their first actions from their conditional policies given
  :math:`\mathbf a^{1:m}` and everyone follows π afterwards, and where after each step the episode continues with
  probability γ (and, in stopping games, with the row mass of P). As :math:`\Pr(H\ge t)=\gamma^t`, the estimate is
  unbiased; its variance is what the book's "statistical regime" shows.
* :math:`\xi` (Assumption 4.3) is measured as :math:`[\mathbb E_{\sigma_k}(\hat Q^{1:m}-Q^{1:m})^2]^{1/2}` on the
  samples;
* dense games roll out on the cumulative rows of P (:func:`rollout_transitions`, kernel ``mc_localized_q``); sparse
  games on their successor lists (:func:`sparse_rollout_tables`, kernel ``mc_localized_q_sparse``): the same
  estimator, never the dense tensor.
"""

from __future__ import annotations

import weakref

import numpy as np

from . import kernels
from ._validate import check_agent, check_count
from .errors import MappoLiteError
from .games.dense import CooperativeMarkovGame
from .games.sparse import SparseCooperativeMarkovGame
from .policies.conditional import ConditionalTables, context_counts

_P_CUM_CACHE: weakref.WeakKeyDictionary[CooperativeMarkovGame, np.ndarray] = weakref.WeakKeyDictionary()


def cumulative_transitions(game: CooperativeMarkovGame) -> np.ndarray:
    """Cumulative sums of P over s' (S, |A|, S), cached per game; rows that sum to 1 end in exactly 1.0."""
    if not isinstance(game, CooperativeMarkovGame):
        raise MappoLiteError("Monte Carlo sampling needs a dense game (P); convert with game.to_dense()")
    cum = _P_CUM_CACHE.get(game)
    if cum is None:
        cum = np.cumsum(game.P_flat, axis=-1)
        if game.gamma < 1.0:
            cum[..., -1] = 1.0
        cum = np.ascontiguousarray(cum)
        _P_CUM_CACHE[game] = cum
    return cum


_ROLLOUT_CACHE: weakref.WeakKeyDictionary[CooperativeMarkovGame, np.ndarray] = weakref.WeakKeyDictionary()


def absorbing_zero_states(game: CooperativeMarkovGame) -> np.ndarray:
    r"""Boolean mask of states that every joint action keeps (P(s|s, **a**) = 1) with reward 0: once a rollout
    enters one, every later reward is exactly 0."""
    S = game.n_states
    stay = game.P_flat[np.arange(S), :, np.arange(S)]  # (S, |A|): P(s | s, a)
    return np.all(stay >= 1.0 - 1e-12, axis=1) & np.all(game.r_flat == 0.0, axis=1)


def rollout_transitions(game: CooperativeMarkovGame) -> np.ndarray:
    r""":func:`cumulative_transitions` for Monte Carlo rollouts: the rows of absorbing zero-reward states are set to
    0, so the kernels end the rollout there (as if the episode stopped). The return's distribution is unchanged,
    since every later reward would be 0; rollouts in games like ``two_step`` no longer run ~1/(1−γ) idle steps."""
    cum = _ROLLOUT_CACHE.get(game)
    if cum is None:
        cum = cumulative_transitions(game)
        dead = absorbing_zero_states(game)
        if dead.any():
            cum = cum.copy()
            cum[dead] = 0.0
        _ROLLOUT_CACHE[game] = cum
    return cum


_SPARSE_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def sparse_rollout_tables(game):
    r"""``(next_states, cum_probs)`` of shape (S, |A|, K), cached per game: cumulative successor probabilities;
    when γ < 1 every entry from the row's last positive-probability slot on is exactly 1.0 (so a uniform draw
    never lands on a padding slot); rows of absorbing zero-reward states are 0 (the rollout stops there)."""
    out = _SPARSE_CACHE.get(game)
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
    _SPARSE_CACHE[game] = out
    return out


def cumulative_tables(tables: ConditionalTables):
    """(cumulative pi_concat, offsets): every conditional row's cumulative sum, ending in exactly 1.0."""
    cums = []
    for t in tables.tables:
        c = np.cumsum(t, axis=1)
        c[:, -1] = 1.0
        cums.append(c.ravel())
    offsets = np.zeros(len(cums) + 1, dtype=np.int64)
    for m, c in enumerate(cums):
        offsets[m + 1] = offsets[m] + c.size
    return np.ascontiguousarray(np.concatenate(cums)), offsets


def _draw_rows(cum_rows: np.ndarray, rows: np.ndarray, rng) -> np.ndarray:
    """For each index in ``rows``, draw a column from the cumulative row ``cum_rows[row]`` (vectorized)."""
    n, width = cum_rows.shape
    u = rng.random(rows.shape[0])
    shifted = (cum_rows + np.arange(n)[:, None]).ravel()
    idx = np.searchsorted(shifted, rows + u, side="right") - rows * width
    return np.minimum(idx, width - 1)


def sample_sigma(nu: np.ndarray, tables: ConditionalTables, n_samples: int, rng):
    r"""Draw ``n_samples`` pairs :math:`(s,\mathbf a)\sim\sigma=\nu\,\pi`: returns ``states`` (T,) and ``actions`` (T, N).

    Actions are drawn sequentially, :math:`a^m\sim\pi^m(\cdot|s,\mathbf a^{1:m-1})`, as agents execute.
    """
    n = check_count(n_samples, "the number of samples")
    rng = np.random.default_rng(rng)
    cum_nu = np.cumsum(nu)
    cum_nu[-1] = 1.0
    states = np.minimum(np.searchsorted(cum_nu, rng.random(n), side="right"), len(nu) - 1).astype(np.int64)
    actions = np.empty((n, tables.n_agents), dtype=np.int64)
    ctx = states.copy()
    for m, t in enumerate(tables.tables):
        cum = np.cumsum(t, axis=1)
        cum[:, -1] = 1.0
        actions[:, m] = _draw_rows(cum, ctx, rng)
        ctx = ctx * tables.action_sizes[m] + actions[:, m]
    return states, actions


def contexts_of(states: np.ndarray, actions: np.ndarray, action_sizes, m: int) -> np.ndarray:
    r"""Flat context indices of :math:`(s,\mathbf a^{1:m-1})` for agent m (m = 1..N)."""
    m = check_agent(m, len(action_sizes))
    ctx = np.asarray(states, dtype=np.int64).copy()
    for i in range(m - 1):
        ctx = ctx * int(action_sizes[i]) + actions[:, i]
    return ctx


def mc_localized_q(
    game: CooperativeMarkovGame,
    tables: ConditionalTables,
    m: int,
    states,
    actions,
    n_rollouts: int = 10,
    seed=0,
    max_steps: int = 100_000,
) -> np.ndarray:
    r"""Monte Carlo :math:`\hat Q^{1:m}(s_t,\mathbf a_t^{1:m})` for each sample t (m is 1-based; the estimator is in
    the module docstring). ``actions`` has shape (T, ≥m); only its first m columns are used."""
    m = check_agent(m, game.n_agents, allow_zero=True)  # m = 0: Q^{1:0} = V
    n_rollouts = check_count(n_rollouts, "n_rollouts")
    states = np.ascontiguousarray(states, dtype=np.int64)
    prefix = np.zeros((states.shape[0], game.n_agents), dtype=np.int64)
    if m:
        prefix[:, :m] = np.asarray(actions, dtype=np.int64)[:, :m]
    pi_cum, offsets = cumulative_tables(tables)
    seed = int(np.random.default_rng(seed).integers(2**31 - 1))
    # everything after the transitions is the same for both kernels
    rest = (game.r_flat, game.gamma, pi_cum, offsets, np.asarray(game.action_sizes, np.int64), states, prefix)
    rest += (int(m), int(n_rollouts), int(max_steps), seed)
    if isinstance(game, SparseCooperativeMarkovGame):  # rollouts over the successor lists
        return kernels.mc_localized_q_sparse(*sparse_rollout_tables(game), *rest)
    return kernels.mc_localized_q(rollout_transitions(game), *rest)


def mc_localized_q_table(
    game: CooperativeMarkovGame,
    tables: ConditionalTables,
    m: int,
    n_rollouts: int = 10,
    seed=0,
    max_steps: int = 100_000,
) -> np.ndarray:
    r"""Monte Carlo :math:`\hat Q^{1:m}` in *every* context, shape (S, A_1, …, A_m) (n_rollouts each; m = 0..N)."""
    m = check_agent(m, game.n_agents, allow_zero=True)
    shape = (game.n_states,) + game.action_sizes[:m]
    grid = np.indices(shape).reshape(len(shape), -1).T
    return mc_localized_q(game, tables, m, grid[:, 0], grid[:, 1:], n_rollouts, seed, max_steps).reshape(shape)


def rms_error(estimate, truth, weights=None) -> float:
    r"""Root mean square error, optionally weighted: :math:`[\sum w(\hat q-q)^2/\sum w]^{1/2}`."""
    diff2 = (np.asarray(estimate) - np.asarray(truth)) ** 2
    if weights is None:
        return float(np.sqrt(np.mean(diff2)))
    w = np.asarray(weights, dtype=np.float64)
    return float(np.sqrt((w * diff2).sum() / w.sum()))


def n_contexts(game: CooperativeMarkovGame, m: int) -> int:
    """Number of contexts of agent m (m = 1..N)."""
    m = check_agent(m, game.n_agents)
    return context_counts(game.n_states, game.action_sizes)[m - 1]
