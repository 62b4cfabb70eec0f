r"""Off-policy MA-PPO with pessimistic policy evaluation (the paper's Section 5 and Theorem 2; chapter 8 of the book): datasets, linear critics, evaluators.

**Data.** n transitions :math:`(s_i, \mathbf a_i, r_i, s'_i)` from a behaviour policy μ (:func:`collect_dataset`);
:math:`s'_i = -1` marks an episode that stopped (stopping games). Coverage knobs: the behaviour policy plays the
optimal joint action with relative weight ``coverage`` (1 = uniform), and only a fraction ``state_fraction`` of the
states appear in the data.

**Critic.** :math:`Q_w(s,\mathbf a) = \psi(s,\mathbf a)^\top w`, :math:`\|w\|_2 \le L`, with ψ tabular (one-hot over
(s, **a**)) or compact (:func:`critic_features`). For a policy π write :math:`\Psi` (n×d) for the rows
:math:`\psi(s_i,\mathbf a_i)`, :math:`\Psi'_\pi` for :math:`\sum_{\mathbf a'}\pi(\mathbf a'|s'_i)\psi(s'_i,\mathbf a')` (0 when
the episode stopped), :math:`v_\pi = \sum_s\rho(s)\sum_{\mathbf a}\pi(\mathbf a|s)\psi(s,\mathbf a)` (so :math:`J_w = v_\pi^\top w`),
and, with a small ridge α,

.. math:: G = \Psi^\top\Psi + \alpha I,\quad U = \Psi^\top(\Psi-\gamma\Psi'_\pi) + \alpha I,\quad c = \Psi^\top r.

(chapter 8 calls the second matrix U, not B, which is Theorem 1's problem constant.)

**Plain evaluation** (LSTD): :math:`w = U^{-1}c`.

**Pessimistic evaluation** [ours: the regularized form of Bellman-consistent pessimism, Xie et al. 2021, which the
paper's "pessimism via regularization" points to]:

.. math:: w_\pi = \arg\min_{\|w\|\le L}\; v_\pi^\top w + \lambda\,\mathcal E_D(w),\qquad
          \mathcal E_D(w) = \|\Psi w - \Pi_\Psi(r+\gamma\Psi'_\pi w)\|^2 = (Uw-c)^\top G^{-1}(Uw-c),

the squared projected Bellman error summed over the data (the second form holds because
:math:`\Pi_\Psi = \Psi G^{-1}\Psi^\top` and Ψw lies in the span of Ψ; with the ridge it is exact in the form of Xie et al.:
:math:`\mathcal E_D(w) = \ell(w;w) - \min_u \ell(u;w)`, :math:`\ell(u;w) = \sum_i(\psi_i^\top u - r_i - \gamma\psi'^\top_{\pi,i}w)^2 + \alpha\|u\|^2`,
whose minimizer is :math:`u = G^{-1}(c + \gamma\Psi^\top\Psi'_\pi w)` and whose excess is a quadratic in G). It is a convex quadratic with
:math:`M = U^\top G^{-1}U`, :math:`b = U^\top G^{-1}c`; setting the gradient to zero,

.. math:: w_\pi = (2\lambda M + 2\kappa I)^{-1}(2\lambda b - v_\pi) = U^{-1}c - \tfrac{1}{2\lambda}U^{-1}GU^{-\top}v_\pi \quad(\kappa = 0),

with κ ≥ 0 the multiplier of the norm constraint (κ > 0 only when the unconstrained solution has norm above L;
then κ solves :math:`\|w(\kappa)\| = L`, found by bisection on the eigen-decomposition of M). The estimate of
:math:`J(\pi)` is lowered by :math:`\tfrac1{2\lambda}v_\pi^\top U^{-1}GU^{-\top}v_\pi \ge 0`, most where the data
constrains :math:`v_\pi`'s direction least, and λ → ∞ recovers LSTD.

**Norm bound.** For a tabular critic and mean rewards in [0, 1], :func:`tabular_L` = :math:`\sqrt{S|\mathbf A|}/(1-\gamma)` bounds
the true Q at no cost and keeps the weights of unseen (s, **a**) finite (the shipped example uses it).

**Algorithm.** :func:`offline_ma_ppo` runs Algorithm 1's local mirror steps on these estimates, through the same
:func:`~mappo_lite.algorithms.ma_ppo` code as the online algorithm (its ``evaluation`` accepts the evaluator).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from .._validate import (
    as_float_array,
    as_int_array,
    check_count,
    check_lam_L,
    check_nonnegative,
    check_positive,
    check_real,
)
from ..algorithms import ma_ppo
from ..errors import MappoLiteError
from ..evaluation import evaluate, optimal_value
from ..games.dense import CooperativeMarkovGame
from ..kernels import accumulate_bellman_system
from ..policies.conditional import as_tables
from ..safe_npz import INTEGER, read_npz  # header checks, size caps, numeric dtypes only
from ..sampling import cumulative_transitions

DATASET_KEYS = ("states", "actions", "rewards", "next_states", "action_sizes", "n_states")


# ------------------------------------------------------------------------------------------------------------
# datasets
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class OfflineDataset:
    """n transitions: ``states`` (n,), ``actions`` (n, N), ``rewards`` (n,), ``next_states`` (n,) with −1 = stopped."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_states: np.ndarray
    n_states: int
    action_sizes: tuple
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        s = as_int_array(self.states, "dataset states")
        a = as_int_array(self.actions, "dataset actions")
        r = as_float_array(self.rewards, "dataset rewards")
        nx = as_int_array(self.next_states, "dataset next_states")
        S = check_count(self.n_states, "dataset n_states")
        if isinstance(self.action_sizes, (str, bytes)) or not np.iterable(self.action_sizes):
            raise MappoLiteError(f"dataset action_sizes must be a sequence of integers, got {self.action_sizes!r}")
        sizes = tuple(check_count(x, "dataset action size") for x in self.action_sizes)
        if not sizes:
            raise MappoLiteError("dataset action_sizes is empty: a game has at least one agent")
        n = s.shape[0] if s.ndim == 1 else -1
        if s.ndim != 1 or n < 1:
            raise MappoLiteError(f"dataset states must be a non-empty vector, got shape {s.shape}")
        if a.shape != (n, len(sizes)) or r.shape != (n,) or nx.shape != (n,):
            raise MappoLiteError(
                f"dataset arrays disagree: states {s.shape}, actions {a.shape} (want {(n, len(sizes))}), "
                f"rewards {r.shape}, next_states {nx.shape}"
            )
        if s.min() < 0 or s.max() >= S or nx.min() < -1 or nx.max() >= S:
            raise MappoLiteError(f"dataset states must lie in 0..{S - 1} (next_states may be -1 for 'stopped')")
        if np.any(a < 0) or np.any(a >= np.asarray(sizes)):
            raise MappoLiteError(f"dataset actions out of range for action sizes {sizes}")
        joint = np.ravel_multi_index(tuple(a.T), sizes).astype(np.int64)
        for name, arr in (("states", s), ("actions", a), ("rewards", r), ("next_states", nx), ("_joint", joint)):
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "action_sizes", sizes)
        object.__setattr__(self, "n_states", S)

    @property
    def n(self) -> int:
        return self.states.shape[0]

    @property
    def joint_actions(self) -> np.ndarray:
        """Flat joint-action indices (C order, agent 1 most significant)."""
        return self._joint

    def counts(self) -> np.ndarray:
        """Visit counts n(s, **a**), shape (S, A_1, …, A_N)."""
        c = np.zeros(self.n_states * int(np.prod(self.action_sizes)))
        np.add.at(c, self.states * int(np.prod(self.action_sizes)) + self.joint_actions, 1.0)
        return c.reshape((self.n_states,) + self.action_sizes)

    def save(self, path) -> None:
        """Write ``.npz`` with keys states, actions, rewards, next_states, n_states, action_sizes."""
        np.savez(
            path,
            states=self.states,
            actions=self.actions,
            rewards=self.rewards,
            next_states=self.next_states,
            n_states=np.int64(self.n_states),
            action_sizes=np.asarray(self.action_sizes, np.int64),
        )


def load_dataset(path) -> OfflineDataset:
    """Read a dataset written by :meth:`OfflineDataset.save`; every problem raises MappoLiteError naming the file."""
    path = os.fspath(path)
    # integral floats are accepted for the sample arrays, as OfflineDataset does; the sizes must be integers
    kinds = {
        "states": INTEGER + "f",
        "actions": INTEGER + "f",
        "next_states": INTEGER + "f",
        "n_states": INTEGER,
        "action_sizes": INTEGER,
    }
    arrays = read_npz(path, "dataset file", kinds=kinds)
    if set(arrays) != set(DATASET_KEYS):
        raise MappoLiteError(
            f"dataset file {path!r} must have exactly the keys {sorted(DATASET_KEYS)}, has {sorted(arrays)}"
        )
    if arrays["n_states"].shape != () or arrays["action_sizes"].ndim != 1:
        raise MappoLiteError(f"dataset file {path!r}: n_states must be a scalar and action_sizes a vector")
    if math.prod(max(1, int(a)) for a in [arrays["n_states"].item(), *arrays["action_sizes"].tolist()]) >= 2**62:
        raise MappoLiteError(
            f"dataset file {path!r}: n_states x action sizes ({arrays['n_states'].item()}, "
            f"{arrays['action_sizes'].tolist()}) is too large to index"
        )
    try:
        return OfflineDataset(
            arrays["states"],
            arrays["actions"],
            arrays["rewards"],
            arrays["next_states"],
            arrays["n_states"].item(),
            tuple(arrays["action_sizes"].tolist()),
            {"source": path},
        )
    except MappoLiteError as exc:
        raise MappoLiteError(f"dataset file {path!r}: {exc}") from None


def behaviour_policy(game: CooperativeMarkovGame, coverage: float = 1.0) -> np.ndarray:
    r"""A joint behaviour policy μ (S, |A|): uniform, except that the optimal joint action of each state (from
    :func:`~mappo_lite.evaluation.optimal_value`) has relative weight ``coverage``.

    ``coverage`` = 1 is uniform. Below 1 the data rarely shows the optimal joint action: π*'s concentrability
    :math:`C^{d_{\pi^\star}}_\mu` of Theorem 2 is large and no evaluator can be confident about the optimum. Above 1
    the data concentrates on the optimal joint action and covers the others thinly: the regime where pessimism
    helps, because noisy estimates of rarely seen actions are what a plain evaluator over-estimates."""
    c = check_positive(coverage, "coverage")
    mu = np.ones((game.n_states, game.n_joint_actions))
    greedy = optimal_value(game).greedy
    mu[np.arange(game.n_states), np.ravel_multi_index(tuple(greedy.T), game.action_sizes)] = c
    return mu / mu.sum(axis=1, keepdims=True)


def collect_dataset(
    game: CooperativeMarkovGame,
    n: int,
    *,
    coverage: float = 1.0,
    behaviour=None,
    state_fraction: float = 1.0,
    reward_noise: float = 0.0,
    seed=0,
) -> OfflineDataset:
    r"""Collect n transitions. States come from the behaviour policy's visitation :math:`\nu_\mu` restricted to a
    seeded random subset of ``ceil(state_fraction·S)`` states; joint actions from μ (``behaviour``: a policy in any
    form :func:`~mappo_lite.policies.as_tables` accepts, or None for :func:`behaviour_policy` with ``coverage``);
    rewards are :math:`r(s,\mathbf a)` plus Gaussian noise of standard deviation ``reward_noise`` (ζ in chapter 8; the
    mean reward is in [0, 1] for the book's games, the observed rewards may leave it); next states from P
    (−1 when the episode stops)."""
    n = check_count(n, "n (number of transitions)")
    state_fraction = check_real(check_positive(state_fraction, "state_fraction"), "state_fraction", 0.0, 1.0)
    reward_noise = check_nonnegative(reward_noise, "reward_noise")
    rng = np.random.default_rng(seed)
    if behaviour is None:
        mu = behaviour_policy(game, coverage)
    else:
        mu = as_tables(behaviour, game.n_states, game.action_sizes).joint()
    ev = evaluate(
        game, [mu.reshape((game.n_states,) + game.action_sizes)] if game.n_agents == 1 else _joint_as_policy(game, mu)
    )
    d = ev.nu.copy()
    keep = max(1, math.ceil(float(state_fraction) * game.n_states))
    if keep < game.n_states:
        subset = rng.choice(game.n_states, size=keep, replace=False)
        mask = np.zeros(game.n_states, bool)
        mask[subset] = True
        d = np.where(mask, d, 0.0)
        if d.sum() <= 0:
            d = mask / mask.sum()
    d = d / d.sum()
    states = rng.choice(game.n_states, size=n, p=d)
    cum_mu = np.cumsum(mu, axis=1)
    cum_mu[:, -1] = 1.0
    joint = np.minimum((cum_mu[states] < rng.random(n)[:, None]).sum(axis=1), game.n_joint_actions - 1)
    rewards = game.r_flat[states, joint] + float(reward_noise) * rng.standard_normal(n)
    cum_P = cumulative_transitions(game)[states, joint]  # (n, S)
    nxt = (cum_P <= rng.random(n)[:, None]).sum(axis=1)
    nxt = np.where(nxt >= game.n_states, -1, nxt)
    actions = np.stack(np.unravel_index(joint, game.action_sizes), axis=1)
    meta = dict(
        coverage=float(coverage),
        state_fraction=float(state_fraction),
        reward_noise=float(reward_noise),
        seed=repr(seed),
        game=game.name,
    )
    return OfflineDataset(states, actions, rewards, nxt, game.n_states, game.action_sizes, meta)


def _joint_as_policy(game, mu):
    from ..evaluation import joint_to_tables

    return joint_to_tables(game, mu)


# ------------------------------------------------------------------------------------------------------------
# critics
# ------------------------------------------------------------------------------------------------------------
def critic_features(game: CooperativeMarkovGame, kind: str = "tabular", dim: int | None = None, seed=0) -> np.ndarray:
    r"""Critic features ψ, shape (S, |A|, d): ``"tabular"`` (one-hot over (s, **a**), d = S·|A|) or ``"random"``
    (seeded Gaussian, unit norm, d = ``dim``)."""
    S, J = game.n_states, game.n_joint_actions
    if kind == "tabular":
        return np.eye(S * J).reshape(S, J, S * J)
    if kind == "random":
        if dim is None:
            raise MappoLiteError("random critic features need a dimension dim >= 1")
        dim = check_count(dim, "dim (dimension of the random critic features)")
        psi = np.random.default_rng(seed).standard_normal((S, J, dim))
        return psi / np.linalg.norm(psi, axis=-1, keepdims=True)
    raise MappoLiteError(f"unknown critic features {kind!r}: use 'tabular' or 'random'")


def tabular_L(game: CooperativeMarkovGame) -> float:
    r"""The natural norm bound of a tabular critic: every :math:`Q(s,\mathbf a)` lies in
    :math:`[r_{\min}, r_{\max}]/(1-\gamma)` (γ the effective discount), so
    :math:`\|w\|_2 = \|Q\|_2 \le \sqrt{S|\mathbf A|}\,\max|r|/(1-\gamma)`."""
    from ..theory import effective_gamma

    g = effective_gamma(game)
    if g >= 1:
        raise MappoLiteError("the game never stops (effective gamma = 1): no finite bound on Q")
    return math.sqrt(game.n_states * game.n_joint_actions) * float(np.max(np.abs(game.r))) / (1.0 - g)


def _check_psi(psi, game) -> np.ndarray:
    psi = as_float_array(psi, "critic features")
    if psi.ndim != 3 or psi.shape[:2] != (game.n_states, game.n_joint_actions):
        raise MappoLiteError(
            f"critic features must have shape (S, |A|, d) = ({game.n_states}, {game.n_joint_actions}, d), got {psi.shape}"
        )
    return psi


@dataclass
class BellmanSystem:
    r"""The matrices of the module docstring for one policy: G, U, c (d×d, d×d, d) and :math:`v_\pi` (d)."""

    G: np.ndarray
    U: np.ndarray
    c: np.ndarray
    v: np.ndarray
    psi: np.ndarray

    @property
    def B(self) -> np.ndarray:
        """The old name of :attr:`U` (renamed so that it does not clash with Theorem 1's constant B); kept for one
        release, like the other renamed names (:mod:`mappo_lite._compat`)."""
        return self.U


def bellman_system(
    game: CooperativeMarkovGame, dataset: OfflineDataset, psi, policy, ridge: float = 1e-3
) -> BellmanSystem:
    """Assemble G, U, c and v for evaluating ``policy`` from ``dataset`` with critic features ``psi``."""
    if (dataset.n_states, dataset.action_sizes) != (game.n_states, game.action_sizes):
        raise MappoLiteError("dataset does not match the game's sizes")
    ridge = check_positive(ridge, "ridge")
    psi = _check_psi(psi, game)
    tables = as_tables(policy, game.n_states, game.action_sizes)
    pi = tables.joint()
    psi_pi = np.ascontiguousarray(np.einsum("sj,sjd->sd", pi, psi))
    psi_flat = psi.reshape(game.n_states * game.n_joint_actions, -1)
    rows = dataset.states * game.n_joint_actions + dataset.joint_actions
    G0, C, c = accumulate_bellman_system(psi_flat, rows, psi_pi, dataset.next_states, dataset.rewards)
    d = psi.shape[-1]
    eye = np.eye(d) * float(ridge)
    return BellmanSystem(G=G0 + eye, U=G0 - game.gamma * C + eye, c=c, v=game.rho @ psi_pi, psi=psi)


def plain_weights(system: BellmanSystem) -> np.ndarray:
    """LSTD: :math:`w = U^{-1}c`."""
    try:
        w = np.linalg.solve(system.U, system.c)
    except np.linalg.LinAlgError:
        raise MappoLiteError("the LSTD system is singular: increase the ridge") from None
    if not np.all(np.isfinite(w)):
        raise MappoLiteError("the LSTD system is numerically singular: increase the ridge")
    return w


def _ball_solve(M: np.ndarray, rhs: np.ndarray, L: float) -> np.ndarray:
    r"""Minimize :math:`\tfrac12 w^\top Mw - \mathrm{rhs}^\top w` (M symmetric PSD) over :math:`\|w\|\le L`.

    KKT: :math:`(M+\kappa I)w = \mathrm{rhs}`, κ ≥ 0, κ(‖w‖ − L) = 0. With the eigen-decomposition :math:`M=O\,\mathrm{diag}(e)O^\top`,
    :math:`\|w(\kappa)\|^2=\sum_i (O^\top\mathrm{rhs})_i^2/(e_i+\kappa)^2` decreases in κ, so the active-constraint κ is found by
    bisection (to machine precision)."""
    evals, O = np.linalg.eigh(0.5 * (M + M.T))
    evals = np.maximum(evals, 0.0)
    proj = O.T @ rhs
    scale = max(1.0, float(evals.max()))

    def w_of(kappa):
        return O @ (proj / (evals + kappa))

    if evals.min() > 1e-13 * scale:
        w = w_of(0.0)
        if np.linalg.norm(w) <= L:
            return w
    elif math.isinf(L):
        raise MappoLiteError("the pessimistic problem is unbounded (singular U): use a finite L or a larger ridge")
    lo, hi = 0.0, scale
    while np.linalg.norm(w_of(hi)) > L:
        lo, hi = hi, 2.0 * hi
    for _ in range(300):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if np.linalg.norm(w_of(mid)) > L:
            lo = mid
        else:
            hi = mid
    return w_of(hi)


def pessimistic_weights(system: BellmanSystem, lam: float, L: float = math.inf) -> np.ndarray:
    r"""The minimizer of :math:`v^\top w + \lambda(Uw-c)^\top G^{-1}(Uw-c)` over :math:`\|w\|\le L`.

    Unconstrained (κ = 0): :math:`w = U^{-1}\big(c - \tfrac1{2\lambda}GU^{-\top}v\big)`, two solves with U. If that w
    is longer than L, the norm constraint is active: :math:`(M+\tfrac{\kappa}{\lambda}I)w = b-\tfrac1{2\lambda}v` with
    :math:`M=U^\top G^{-1}U`, :math:`b=U^\top G^{-1}c` and the κ > 0 that puts w on the sphere (:func:`_ball_solve`).
    ``lam=inf`` is LSTD (or, if LSTD is longer than L, the smallest Bellman error on the ball)."""
    lam, L = check_lam_L(lam, L)
    U, G, c, v = system.U, system.G, system.c, system.v
    w = None
    try:
        if math.isinf(lam):
            w = np.linalg.solve(U, c)
        else:
            w = np.linalg.solve(U, c - (G @ np.linalg.solve(U.T, v)) / (2.0 * lam))
        if not np.all(np.isfinite(w)):
            w = None
    except np.linalg.LinAlgError:
        w = None
    if w is not None and np.linalg.norm(w) <= L:
        return w
    try:
        chol = np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        raise MappoLiteError("G is not positive definite: use a positive ridge") from None
    X = np.linalg.solve(chol, U)  # C^{-1} U with G = C C^T, so M = X^T X = U^T G^{-1} U
    y = np.linalg.solve(chol, c)
    rhs = X.T @ y if math.isinf(lam) else X.T @ y - v / (2.0 * lam)
    return _ball_solve(X.T @ X, rhs, L)


def pessimistic_objective(system: BellmanSystem, w, lam: float) -> float:
    r""":math:`v^\top w + \lambda\,\mathcal E_D(w)` with :math:`\mathcal E_D(w) = (Uw-c)^\top G^{-1}(Uw-c)` (for tests and figures)."""
    return float(system.v @ w) + float(lam) * bellman_error(system, w)


def bellman_error(system: BellmanSystem, w) -> float:
    r""":math:`\mathcal E_D(w) = (Uw-c)^\top G^{-1}(Uw-c)`: the (ridge-)projected squared Bellman error summed over the data."""
    res = system.U @ np.asarray(w, dtype=np.float64) - system.c
    return float(res @ np.linalg.solve(system.G, res))


def pessimism_offset(system: BellmanSystem, lam: float) -> float:
    r"""The unconstrained offset :math:`\tfrac1{2\lambda}v^\top U^{-1}GU^{-\top}v \ge 0` by which the pessimistic estimate of
    :math:`J(\pi)` sits below the LSTD estimate (0 for ``lam=inf``)."""
    lam, _ = check_lam_L(lam, math.inf)
    if math.isinf(lam):
        return 0.0
    u = np.linalg.solve(system.U.T, system.v)
    return float(u @ system.G @ u) / (2.0 * lam)


class OfflineEvaluator:
    r"""Callable ``(game, tables) -> Q_hat`` (S, A_1, …, A_N) for :func:`~mappo_lite.algorithms.ma_ppo`:
    ``kind="plain"`` (LSTD) or ``"pessimistic"`` (λ, L), from a fixed dataset and critic features ψ."""

    def __init__(
        self,
        dataset: OfflineDataset,
        psi,
        kind: str = "pessimistic",
        lam: float = 1.0,
        L: float = math.inf,
        ridge: float = 1e-3,
    ):
        if kind not in ("plain", "pessimistic"):
            raise MappoLiteError(f"unknown evaluator {kind!r}: use 'plain' or 'pessimistic'")
        lam, L = check_lam_L(lam, L)
        ridge = check_positive(ridge, "ridge")
        self.dataset, self.psi, self.kind, self.lam, self.L, self.ridge = dataset, psi, kind, lam, L, ridge
        self.name = kind

    def weights(self, game, policy) -> np.ndarray:
        system = bellman_system(game, self.dataset, self.psi, policy, self.ridge)
        if self.kind == "plain":
            return plain_weights(system)
        return pessimistic_weights(system, self.lam, self.L)

    def __call__(self, game, tables):
        w = self.weights(game, tables)
        return (np.asarray(self.psi) @ w).reshape(game.r.shape)


#: The shipped poor-coverage example: climbing with rewards on [0, 1], data concentrated on the optimal joint action
#: (relative weight 20, so each of the 8 other joint actions is seen in about 3.6% of transitions: ~3.6 times each
#: in the example's n = 100 transitions), reward noise 0.3, λ = 0.3, tabular critic with norm bound L = 3;
#: MA-PPO with K = 50, β = 0.05.
#: L = 3 = :func:`tabular_L` (every Q value lies in [0, 1], d = 9).
POOR_COVERAGE = dict(game="climbing", coverage=20.0, reward_noise=0.3, lam=0.3, L=3.0, n=100, K=50, beta=0.05)


def poor_coverage_example():
    """``(game, dataset keyword arguments, lam)`` of the shipped poor-coverage example (see ``POOR_COVERAGE``, which
    also holds its n, K and β): ``collect_dataset(game, POOR_COVERAGE["n"], seed=s, **kwargs)``."""
    from ..games.catalogue import make_game
    from ..theory import rescale_rewards

    game = rescale_rewards(make_game(POOR_COVERAGE["game"]))
    return (
        game,
        dict(coverage=POOR_COVERAGE["coverage"], reward_noise=POOR_COVERAGE["reward_noise"]),
        POOR_COVERAGE["lam"],
    )


def offline_ma_ppo(
    game: CooperativeMarkovGame,
    dataset: OfflineDataset,
    K: int = 50,
    beta: float = 0.1,
    *,
    evaluator: str = "pessimistic",
    lam: float = 1.0,
    L: float = math.inf,
    ridge: float = 1e-3,
    critic="tabular",
    critic_dim: int | None = None,
    seed=0,
):
    r"""Off-policy MA-PPO: Algorithm 1's local mirror steps (tabular conditional policies) driven by the offline
    estimate :math:`\hat Q_{\pi_k}` of each iterate (plain or pessimistic). The learner uses only the dataset; the
    game is used to *report* the true :math:`J(\pi_k)` and :math:`J^\star`. Returns the
    :class:`~mappo_lite.algorithms.TrainingResult` with ``J_estimated`` (the estimated :math:`J(\pi_k)`, k < K)."""
    psi = critic if isinstance(critic, np.ndarray) else critic_features(game, critic, critic_dim, seed)
    est = OfflineEvaluator(dataset, psi, evaluator, lam, L, ridge)
    res = ma_ppo(game, K, beta, solver="ideal", evaluation=est, seed=seed)
    res.algo = f"offline-mappo-{evaluator}"
    res.params.update(n=dataset.n, lam=lam, L=L, ridge=ridge, critic=critic if isinstance(critic, str) else "custom")
    return res
