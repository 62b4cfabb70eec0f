r"""Any cooperative Markov game of the library as a PettingZoo ``ParallelEnv`` (the book's appendix "A PettingZoo
bridge"), so that deep MARL code written for PettingZoo can be tested against the exact optimum :math:`J^\star`.

The environment [ours]
----------------------
Agents ``"agent_1"``, …, ``"agent_N"`` (the book's m = 1..N); agent m's action space is ``Discrete(A_m)``; every
agent receives the **shared reward** :math:`r(s,\mathbf a)`. The first state is drawn from ρ.

**Discount and stopping.** After the reward of step t, the episode *terminates* with probability
:math:`1-\gamma\sum_{s'}P(s'|s_t,\mathbf a_t)` and otherwise moves to :math:`s'` with probability
:math:`\gamma P(s'|s_t,\mathbf a_t)`: one uniform draw against the cumulative row of :math:`\gamma P`. For
:math:`\gamma<1` (rows of P summing to 1) this is termination with probability :math:`1-\gamma`; for the stopping
games (γ = 1, rows summing to less than 1, e.g. the ratio game of chapter 7) it is the game's own stopping
probability. Either way the **undiscounted** return :math:`G=\sum_t r_t` has expectation J:
:math:`\Pr(\text{alive at }t, s_t=\cdot)=\rho^\top(\gamma P_\pi)^t`, so
:math:`\mathbb E\,G=\sum_{t\ge0}\rho^\top(\gamma P_\pi)^t r_\pi=\rho^\top(I-\gamma P_\pi)^{-1}r_\pi=J(\pi)`
(:func:`mappo_lite.evaluation.evaluate`). A learner therefore must not discount again. ``max_cycles`` (default
``None``: never) truncates after that many game steps, which biases the return downwards.

**Conditional policies in a parallel API.** The paper's agent m acts on :math:`(s,\mathbf a^{1:m-1})`, the actions
agents 1..m−1 chose *in the same step*; in a parallel env all agents act at once, so nobody could see them. With
``conditional=True`` one game step is therefore split into N env steps ("turns"): at turn m only agent m acts,
and the env reveals the actions already chosen. Every agent stays live and receives an observation each env step
(the PettingZoo convention for turn-taking: a dict with an ``action_mask``):

* ``"observation"``: ``MultiDiscrete([S, A_1, …, A_{m-1}])``, the state and agents 1..m−1's actions of this step
  (actions not chosen yet read 0);
* ``"action_mask"``: ``A_m`` ones at agent m's turn, zeros otherwise: the actions of the other agents are
  ignored (``Discrete.sample(mask=zeros)`` returns 0, so ``parallel_api_test``'s random agents obey it).

The reward (the same for every agent) is 0 at turns 1..N−1 and :math:`r(s,\mathbf a)` at turn N, where the
transition (or termination) happens; the return is the same as in the simultaneous env. With
``conditional=False`` (default) one env step is one game step, all agents act at once and the observation of every
agent is the state index (``Discrete(S)``): the honest setting for product policies (chapter 1's independent
learners).

**Seeding** (as PettingZoo specifies): ``reset(seed=s)`` restarts the env's generator ``np_random`` from ``s``;
``reset()`` without a seed continues it (and, on the very first reset, seeds it from fresh entropy). The same seed
and the same actions give the same episode.

:func:`policy_returns` runs a policy of the library (conditional tables, a log-linear or product policy) through
the env, and :func:`monte_carlo_J` turns the returns into a confidence interval for J.
"""

from __future__ import annotations

import math

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from .._validate import check_count, check_int, check_real
from ..errors import MappoLiteError
from ..games.base import MarkovGameBase
from ..games.catalogue import make_game
from ..games.dense import CooperativeMarkovGame
from ..policies.conditional import as_tables, context_index


def agent_name(m: int) -> str:
    """PettingZoo's name of the book's agent m (m = 1..N)."""
    return f"agent_{int(m)}"


class CooperativeParallelEnv(ParallelEnv):
    r"""A cooperative Markov game as a PettingZoo ``ParallelEnv`` (see the module docstring for the design).

    ``game``: a dense or sparse game (a sparse one is made dense) or a built-in name; ``conditional``: split each
    game step into N turns so that agent m observes :math:`(s,\mathbf a^{1:m-1})`; ``max_cycles``: truncate after
    that many game steps (``None``: never); ``render_mode``: ``None`` or ``"ansi"``."""

    metadata = {"name": "mappo_lite_cooperative_v0", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(self, game, conditional: bool = False, max_cycles: int | None = None, render_mode=None):
        if isinstance(game, str):
            game = make_game(game)
        if not isinstance(game, MarkovGameBase):
            raise MappoLiteError(f"game must be a game or a built-in name, got {type(game).__name__}")
        if not isinstance(game, CooperativeMarkovGame):
            game = game.to_dense()
        if not isinstance(conditional, bool):
            raise MappoLiteError(f"conditional must be True or False, got {conditional!r}")
        if render_mode not in (None, "ansi"):
            raise MappoLiteError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.game = game
        self.conditional = conditional
        self.max_cycles = None if max_cycles is None else check_count(max_cycles, "max_cycles")
        self.render_mode = render_mode
        N, S = game.n_agents, game.n_states
        self.possible_agents = [agent_name(m) for m in range(1, N + 1)]
        self.agents = []
        sizes = game.action_sizes
        self._action_spaces = {agent_name(m): spaces.Discrete(A) for m, A in enumerate(sizes, start=1)}
        if conditional:
            self._observation_spaces = {
                agent_name(m): spaces.Dict(
                    {
                        "observation": spaces.MultiDiscrete(np.array((S,) + sizes[: m - 1], dtype=np.int64)),
                        "action_mask": spaces.Box(0, 1, shape=(sizes[m - 1],), dtype=np.int8),
                    }
                )
                for m in range(1, N + 1)
            }
        else:
            self._observation_spaces = {a: spaces.Discrete(S) for a in self.possible_agents}
        # one uniform draw against the cumulative row of gamma * P: index S means "the episode stops"
        self._cum = np.ascontiguousarray(np.cumsum(game.gamma * game.P_flat, axis=-1))
        self._cum_rho = np.cumsum(game.rho)
        self.np_random = None
        self._state = 0
        self._turn = 1
        self._prefix = []
        self._steps = 0

    # ----- the spaces: one object per agent (PettingZoo requires the same object each call) ----------------------
    def observation_space(self, agent):
        return self._observation_spaces[agent]

    def action_space(self, agent):
        return self._action_spaces[agent]

    # ----- the API ---------------------------------------------------------------------------------------------
    def reset(self, seed=None, options=None):
        """Start an episode: ``s_0 ~ ρ``. ``seed`` restarts ``np_random``; ``None`` continues it."""
        if seed is not None or self.np_random is None:
            self.np_random = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self._state = int(
            min(np.searchsorted(self._cum_rho, self.np_random.random(), side="right"), len(self._cum_rho) - 1)
        )
        self._turn, self._prefix, self._steps = 1, [], 0
        return self._observations(), {a: {} for a in self.agents}

    def step(self, actions):
        """One env step: all agents act (``conditional=False``) or only the agent whose turn it is."""
        if not self.agents:
            raise MappoLiteError("step() after the episode ended: call reset()")
        if not isinstance(actions, dict):
            raise MappoLiteError(f"actions must be a dict agent -> action, got {type(actions).__name__}")
        sizes = self.game.action_sizes
        movers = [self._turn] if self.conditional else range(1, len(sizes) + 1)
        for m in movers:
            name = agent_name(m)
            if name not in actions:
                raise MappoLiteError(f"no action for {name}")
            self._prefix.append(check_int(actions[name], f"action of {name}", 0, sizes[m - 1] - 1))
        zero = {a: 0.0 for a in self.agents}
        done = {a: False for a in self.agents}
        if self.conditional and self._turn < len(sizes):
            self._turn += 1
            return self._observations(), zero, done, dict(done), {a: {} for a in self.agents}
        a = int(np.ravel_multi_index(tuple(self._prefix), sizes))
        reward = float(self.game.r_flat[self._state, a])
        nxt = int(np.searchsorted(self._cum[self._state, a], self.np_random.random(), side="right"))
        self._steps += 1
        terminated = nxt >= self.game.n_states
        truncated = not terminated and self.max_cycles is not None and self._steps >= self.max_cycles
        if not terminated:
            self._state = nxt
        self._turn, self._prefix = 1, []
        agents = list(self.agents)
        obs = self._observations()
        rewards = {x: reward for x in agents}
        terms = {x: terminated for x in agents}
        truncs = {x: truncated for x in agents}
        if terminated or truncated:
            self.agents = []
        return obs, rewards, terms, truncs, {x: {} for x in agents}

    def render(self):
        if self.render_mode != "ansi":
            return None
        prefix = f", actions so far {self._prefix}" if self.conditional else ""
        return f"state {self._state}, game step {self._steps}{prefix}"

    def close(self):
        pass

    # ----- helpers ---------------------------------------------------------------------------------------------
    def _observations(self) -> dict:
        if not self.conditional:
            return {a: np.int64(self._state) for a in self.possible_agents}
        sizes, out = self.game.action_sizes, {}
        known = self._prefix + [0] * (len(sizes) - len(self._prefix))
        for m in range(1, len(sizes) + 1):
            out[agent_name(m)] = {
                "observation": np.array([self._state] + known[: m - 1], dtype=np.int64),
                "action_mask": np.full(sizes[m - 1], 1 if m == self._turn else 0, dtype=np.int8),
            }
        return out


def parallel_env(game, conditional: bool = False, max_cycles: int | None = None, render_mode=None):
    """PettingZoo's constructor convention: :class:`CooperativeParallelEnv` with the same arguments."""
    return CooperativeParallelEnv(game, conditional=conditional, max_cycles=max_cycles, render_mode=render_mode)


def _product_rows(tables, m: int, tol: float = 1e-12) -> np.ndarray:
    """Agent m's table as (S, A_m) when it ignores a^{1:m-1} (to ``tol``, probabilities), else MappoLiteError."""
    t = tables.table(m).reshape(tables.n_states, -1, tables.action_sizes[m - 1])
    if np.max(np.abs(t - t[:, :1, :])) > tol:
        raise MappoLiteError(
            f"the policy conditions agent {m} on agents 1..{m - 1}'s actions: run it with conditional=True"
        )
    return t[:, 0, :]


def policy_returns(env: CooperativeParallelEnv, policy, n_episodes: int, seed: int = 0) -> np.ndarray:
    r"""The undiscounted returns :math:`G=\sum_t r_t` of ``n_episodes`` episodes of ``policy`` in ``env``.

    ``policy``: anything :func:`mappo_lite.policies.conditional.as_tables` accepts for the env's game. With
    ``env.conditional`` agent m draws :math:`a^m\sim\pi^m(\cdot|s,\mathbf a^{1:m-1})` from what it observes at its
    turn; otherwise the policy must be a product policy (each agent draws from :math:`\pi^m(\cdot|s)`).
    The env is reset with ``seed`` once and then continues its generator; the agents draw from their own
    generator ``default_rng([seed, 1])``. Deterministic given ``seed``."""
    n_episodes = check_count(n_episodes, "n_episodes")
    seed = check_int(seed, "seed", 0)
    game = env.game
    S, sizes, N = game.n_states, game.action_sizes, game.n_agents
    tables = as_tables(policy, S, sizes)
    if env.conditional:
        cums = [np.cumsum(tables.tables[m - 1], axis=1) for m in range(1, N + 1)]
    else:
        cums = [np.cumsum(_product_rows(tables, m), axis=1) for m in range(1, N + 1)]
    rng = np.random.default_rng([seed, 1])
    names = [agent_name(m) for m in range(1, N + 1)]
    returns = np.empty(n_episodes)
    for e in range(n_episodes):
        obs, _ = env.reset(seed=seed if e == 0 else None)
        G = 0.0
        while env.agents:
            if env.conditional:
                # whose turn it is, read from the observations as an outside learner would: the one unmasked agent
                m = next(i for i in range(1, N + 1) if obs[names[i - 1]]["action_mask"].any())
                o = obs[names[m - 1]]["observation"]
                row = cums[m - 1][context_index(o[0], o[1:], sizes)]
                a = min(int(np.searchsorted(row, rng.random() * row[-1], side="right")), sizes[m - 1] - 1)
                actions = {x: 0 for x in names}
                actions[names[m - 1]] = a
            else:
                s = int(obs[names[0]])
                actions = {}
                for m in range(1, N + 1):
                    row = cums[m - 1][s]
                    actions[names[m - 1]] = min(
                        int(np.searchsorted(row, rng.random() * row[-1], side="right")), sizes[m - 1] - 1
                    )
            obs, rewards, _, _, _ = env.step(actions)
            G += rewards[names[0]]
        returns[e] = G
    return returns


def monte_carlo_J(env: CooperativeParallelEnv, policy, n_episodes: int, seed: int = 0, delta: float = 1e-6) -> dict:
    r"""A Monte Carlo estimate of J from :func:`policy_returns`, with the two-sided normal (CLT) confidence interval
    :math:`\bar G\pm z_{1-\delta/2}\,\hat\sigma/\sqrt n` whose false-failure probability is about δ (δ = 10⁻⁶:
    :math:`z\approx4.89`). Returns ``mean``, ``stderr``, ``half_width``, ``low``, ``high``, ``z``, ``delta``,
    ``n_episodes``, ``returns``."""
    from scipy.stats import norm

    delta = check_real(delta, "delta", 0.0, 1.0, high_open=True)
    if delta <= 0.0:
        raise MappoLiteError("delta must be in (0, 1)")
    G = policy_returns(env, policy, n_episodes, seed)
    stderr = float(G.std(ddof=1) / math.sqrt(G.size)) if G.size > 1 else float("inf")
    z = float(norm.ppf(1.0 - delta / 2.0))
    mean = float(G.mean())
    return {
        "mean": mean,
        "stderr": stderr,
        "half_width": z * stderr,
        "low": mean - z * stderr,
        "high": mean + z * stderr,
        "z": z,
        "delta": float(delta),
        "n_episodes": int(G.size),
        "returns": G,
    }


__all__ = ["CooperativeParallelEnv", "agent_name", "monte_carlo_J", "parallel_env", "policy_returns"]
