r"""Every bound and constant of the theory, in one place: Theorem 1's rate (:func:`theorem1_rate`) and our explicit
bound (:func:`explicit_bound`, :func:`explicit_constant`, :func:`best_beta`), the concentrability coefficient
(:func:`concentrability`, used online in chapter 5 and offline in chapter 8), the effective discount
(:func:`effective_gamma`), the checks the theory assumes (:func:`reward_range_ok`, :func:`rescale_rewards`), and the
proof of Theorem 1 with errors measured on a run (:func:`theorem1_chain`, :func:`chain_check`; chapter 6, "The proof
with errors, step by step") with Algorithm 3's improvement error against the projected-SGD bound (:func:`sgd_rate`).

Theorem 1 (informal): with evaluation errors :math:`\xi^m_k` and improvement errors :math:`\varepsilon^m_k` that vanish,
:math:`J(\pi^\star) - J(\bar\pi) = O\big(\tfrac{N}{1-\gamma}\sqrt{\log|A|/K}\big)`. The constant is not stated in the
material we have, so :func:`theorem1_rate` returns the rate with constant 1 and the book compares *slopes* and
scaling with N, γ and |A|, plus a fitted constant.
"""

from __future__ import annotations

import math

import numpy as np

from ._validate import check_positive, check_real
from .errors import MappoLiteError
from .games.base import MarkovGameBase


def effective_gamma(game: MarkovGameBase) -> float:
    r"""The largest continuation probability :math:`\max_{s,\mathbf a}\gamma\sum_{s'}P(s'|s,\mathbf a)`; equals γ when
    rows of P sum to 1, and is below 1 in stopping games with γ = 1 (so :math:`1/(1-\gamma)` stays finite)."""
    return float(np.max(game.continuation))


def theorem1_rate(n_agents: int, gamma: float, n_actions: int, K) -> np.ndarray:
    r""":math:`\frac{N}{1-\gamma}\sqrt{\log|A|/K}` (constant 1); ``K`` may be an array."""
    gamma = check_real(gamma, "gamma (use effective_gamma for stopping games)", 0.0, 1.0, high_open=True)
    if n_actions < 2:
        raise MappoLiteError(f"|A| must be at least 2 for the rate (log|A| > 0), got {n_actions}")
    K = np.asarray(K, dtype=np.float64)
    if np.any(K < 1):
        raise MappoLiteError("K must be at least 1")
    return n_agents / (1.0 - gamma) * np.sqrt(math.log(n_actions) / K)


def explicit_bound(n_agents, gamma, n_actions, K, beta):
    r"""**[ours]** The explicit bound our proof sketch gives for exact MA-PPO with :math:`\beta_k=\beta\sqrt K` and
    rewards in [0, 1]:

    .. math:: \frac1K\sum_{k<K}\big(J^\star-J(\pi_k)\big) \le \frac{N}{(1-\gamma)\sqrt K}
              \Big(\beta\log|A| + \frac{1}{8\beta(1-\gamma)^2}\Big).

    ``K`` may be an array."""
    gamma = check_real(gamma, "gamma", 0.0, 1.0, high_open=True)
    beta = check_positive(beta, "beta")
    K = np.asarray(K, dtype=np.float64)
    return n_agents / ((1 - gamma) * np.sqrt(K)) * (beta * math.log(n_actions) + 1.0 / (8 * beta * (1 - gamma) ** 2))


def explicit_constant(gamma, n_actions, beta):
    r"""**[ours]** :func:`explicit_bound` divided by the rate with constant 1:
    :math:`c(\beta)=\beta\sqrt{\log|A|}+\frac{1}{8\beta(1-\gamma)^2\sqrt{\log|A|}}`."""
    la = math.log(n_actions)
    beta = np.asarray(beta, dtype=np.float64)
    return beta * math.sqrt(la) + 1.0 / (8 * beta * (1 - gamma) ** 2 * math.sqrt(la))


def best_beta(gamma, n_actions) -> float:
    r"""**[ours]** The β minimizing :func:`explicit_bound`: :math:`\beta^\star = 1/((1-\gamma)\sqrt{8\log|A|})`,
    where the constant is :math:`c(\beta^\star) = 1/(\sqrt2(1-\gamma))`."""
    return 1.0 / ((1 - gamma) * math.sqrt(8 * math.log(n_actions)))


def concentrability(target, data, norm: str = "sup") -> float:
    r"""The concentrability coefficient of a distribution ``target`` with respect to ``data`` (arrays of the same
    shape): with ``norm="sup"`` :math:`\max_x \mathrm{target}(x)/\mathrm{data}(x)` over the support of ``target``,
    with ``norm="l2"`` the density-ratio norm in :math:`L^2(\mathrm{data})`,
    :math:`\|d\,\mathrm{target}/d\,\mathrm{data}\|_{L^2(\mathrm{data})}=[\sum_x \mathrm{target}(x)^2/\mathrm{data}(x)]^{1/2}`
    (the φ^m_k of chapter 6's proof, :func:`theorem1_chain`); ``inf`` when ``data`` misses a point of the support.

    Chapter 5 uses it online with target = :math:`\sigma^\star`, the law of (state, first m actions) under
    :math:`\pi^\star`, and data = the same law under :math:`\pi_k` (our version of the paper's :math:`\phi^m_k`);
    chapter 8 offline with target = :math:`d_{\pi^\star}` and data = the dataset's distribution μ (Theorem 2's
    single-policy concentrability :math:`C^{d_{\pi^\star}}_\mu`), or target = 1 (the bound on every policy's)."""
    target, data = np.asarray(target, dtype=np.float64), np.asarray(data, dtype=np.float64)
    if target.shape != data.shape:
        raise MappoLiteError(f"target and data must have the same shape, got {target.shape} and {data.shape}")
    if norm not in ("sup", "l2"):
        raise MappoLiteError(f"norm must be 'sup' or 'l2', got {norm!r}")
    support = target > 0
    star, cur = target[support], data[support]
    if np.any(cur <= 0):
        return math.inf
    with np.errstate(over="ignore"):
        if norm == "l2":
            return float(math.sqrt(np.sum(star**2 / cur)))
        return float(np.max(star / cur))


def reward_range_ok(game: MarkovGameBase) -> bool:
    """Whether the rewards lie in [0, 1], as the theory assumes."""
    return bool(game.r.min() >= 0.0 and game.r.max() <= 1.0)


def rescale_rewards(game: MarkovGameBase) -> MarkovGameBase:
    r"""The same game with rewards mapped affinely onto [0, 1], :math:`r \mapsto (r - r_{\min})/(r_{\max}-r_{\min})`.

    Optimal and learned policies are unchanged (for γ < 1 games every value is the same affine map of the old one);
    gaps are divided by :math:`r_{\max}-r_{\min}`."""
    lo, hi = float(game.r.min()), float(game.r.max())
    if hi == lo:
        raise MappoLiteError("rewards are constant; nothing to rescale")
    meta = dict(game.meta)
    if "optimum" in meta and game.gamma < 1:
        # J -> (J - lo/(1-gamma)) / (hi - lo) when every row of P sums to 1
        meta["optimum"] = (meta["optimum"] - lo / (1 - game.gamma)) / (hi - lo)
    return game.with_rewards((game.r - lo) / (hi - lo), name=f"{game.name}[r in 0..1]", meta=meta)


def theorem1_ingredients(game: MarkovGameBase, result) -> dict:
    r"""Everything the Theorem 1 bound is made of, measured on a finished :func:`~mappo_lite.algorithms.ma_ppo` run:
    N, γ (effective), |A| (largest agent action set), K, β, the mean measured ε and ξ, the rate with constant 1,
    and the measured average gap :math:`\frac1K\sum_k (J^\star - J(\pi_k))` (the expected gap of the output)."""
    g_eff = effective_gamma(game)
    A = max(game.action_sizes)
    K = result.K
    out = {
        "N": game.n_agents,
        "gamma": game.gamma,
        "effective_gamma": g_eff,
        "n_actions": A,
        "K": K,
        "beta": result.params.get("beta"),
        "eps_mean": float(np.mean(result.eps)) if result.eps is not None else 0.0,
        "xi_mean": float(np.mean(result.xi)) if result.xi is not None else 0.0,
        "rate": float(theorem1_rate(game.n_agents, g_eff, max(A, 2), K)),
        "average_gap": result.average_gap,
        "rewards_in_unit_interval": reward_range_ok(game),
    }
    return out


# ----------------------------------------------------------------------------------------------------------------
# Theorem 1 with errors: every inequality of the proof, measured along a run (chapter 6, "The proof with errors")
# ----------------------------------------------------------------------------------------------------------------
#: The inequalities of the chain, in the order of chapter 6's proof: name → (per-(k, m) or per-k, statement).
CHAIN_STEPS = {
    "three_point": "⟨w, ⟨f, π*−π_k⟩⟩ = β_k⟨w, KL*_k − KL*_{k+1} + KL(π_k‖π_{k+1})⟩ (identity)",
    "pdl": "(1−γ)(J* − J(π_k)) = Σ_m ⟨w_m, ⟨Q^{1:m}, π*^m − π^m_k⟩⟩ (identity)",
    "change_of_measure": "⟨w, ⟨Q − f, π* − π_k⟩⟩ ≤ (φ^m_k + φ^{m−1}_k)‖Q − f‖_{σ_k}",
    "triangle": "‖Q − f‖_{σ_k} ≤ ξ^m_k + β_k ε^m_k",
    "paper_delta": "(φ^m_k + φ^{m−1}_k)(ξ^m_k + β_k ε^m_k) ≤ β_k Δ^m_k",
    "curvature_convexity": "⟨w, KL(π_k‖π_{k+1})⟩ ≤ ⟨w, ψ_k(Q̂/β_k)⟩ + ⟨w, ⟨π_{k+1} − π_k, e⟩⟩",
    "hoeffding": "⟨w, ψ_k(Q̂/β_k)⟩ ≤ B²/(8β_k²)",
    "likelihood_ratio": "ρ_k ≤ exp(max_c span_a f(c, ·)/β_k)",
    "fitted_increment": "⟨w, ⟨π_{k+1} − π_k, e⟩⟩ ≤ (1 + ρ_k) φ^{m−1}_k ε^m_k",
    "final": "(1/K) Σ_k (J* − J(π_k)) ≤ [β X + N B²/(8β)] / ((1−γ)√K)",
}


def _kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise KL(p‖q) (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q)), 0.0)
    return t.sum(axis=1)


def theorem1_chain(
    game: MarkovGameBase,
    K: int = 20,
    beta: float = 1.0,
    *,
    T: int = 300,
    n_rollouts: int = 0,
    eta: float = 0.25,
    sgd_init: str = "previous",
    seed=0,
    clip: bool = False,
    tamper: dict | None = None,
) -> dict:
    r"""**[ours]** Run MA-PPO (Algorithm 1, tabular log-linear policies) with inexact steps and return both sides of
    every inequality of chapter 6's proof of Theorem 1 at every iteration.

    The run: at iteration k every agent m gets :math:`\hat Q^{1:m}` (exact :math:`Q^{1:m}_{\pi_k}` when
    ``n_rollouts`` is 0, else a Monte Carlo table with ``n_rollouts`` rollouts per context), draws T samples from
    :math:`\sigma_k=\nu_k\pi_k` and runs Algorithm 3 (projected SGD, stepsize ``eta``, start ``sgd_init``) on them.
    With :math:`\pi^\star` a deterministic optimal policy and the comparator weights
    :math:`w_m(c)=\nu_{\pi^\star}(s)\pi^{\star,1:m-1}(\mathbf a^{1:m-1}|s)` (a probability), the fitted increment
    :math:`f^m_k=\beta_k(\theta^m_{k+1}-\theta^m_k)^\top\phi`, its error :math:`e=f/\beta_k-\hat Q/\beta_k`, and

    * :math:`\varepsilon^m_k=\|e\|_{L^2(\sigma_k)}`, :math:`\xi^m_k=\|\hat Q-Q\|_{L^2(\sigma_k)}` (population values
      under the exact :math:`\sigma^{1:m}_k`, the law of :math:`(s,\mathbf a^{1:m})`);
    * :math:`\phi^m_k=\|d\sigma^{\star,1:m}/d\sigma^{1:m}_k\|_{L^2(\sigma_k)}` for m = 0..N, with
      :math:`\sigma^{\star,1:m}=\nu_{\pi^\star}\pi^{\star,1:m}` (our definition of the paper's coefficients);
    * :math:`\rho_k=\max_{c,a}\pi^m_{k+1}(a|c)/\pi^m_k(a|c)` over contexts of positive weight;
    * B = the largest span :math:`\max_c(\max_a\hat Q-\min_a\hat Q)` of the estimates over the run;

    the chain's ingredients are compared as listed in :data:`CHAIN_STEPS`. The Monte Carlo returns are sums of
    rewards over a geometric horizon, so a table :math:`\hat Q` can leave :math:`[0,\frac1{1-\gamma}]`, where every
    true :math:`Q^{1:m}` lies; ``clip=True`` projects it on that interval, which can only bring every entry closer to
    the truth (so :math:`\xi^m_k` does not grow) and makes :math:`B\le\frac1{1-\gamma}`. ``tamper`` multiplies named ingredients
    (``"phi"``, ``"eps"``, ``"xi"``, ``"B"``, ``"rho"``) by a factor, to show that :func:`chain_check` detects a wrong
    ingredient.

    Returns ``steps``: name → dict(lhs, rhs) with arrays of shape (K, N) (or (K,) for ``pdl``, scalars for
    ``final``; the two identities also carry ``scale``, the size of their largest term, for :func:`chain_check`), the
    ingredients ``phi`` (K, N+1), ``eps``, ``xi``, ``rho`` (K, N), ``f_span`` (K, N) the largest span
    :math:`\max_c\operatorname{span}_a f^m_k(c,\cdot)/\beta_k` over contexts of positive weight, ``q_hat_max`` (K, N)
    :math:`\max\hat Q^{1:m}/\beta_k`, ``B``, ``X``, ``delta`` and ``small_delta`` (K, N) our :math:`\Delta^m_k` and
    :math:`\delta^m_k`, ``gaps`` (K,), ``average_gap``, ``bound`` (= ``final`` rhs), ``best_beta``
    :math:`B\sqrt{N/(8X)}` and ``best_bound`` (the bound at that β, :math:`\frac{B\sqrt N}{1-\gamma}\sqrt{X/(2K)}`,
    the paper's form), ``beta``, ``beta_k``, ``gamma``, ``K``, ``N``.
    """
    from .evaluation import evaluate, optimal_value
    from .improvement import policy_improvement_solver
    from .policies.conditional import ConditionalLogLinearPolicy
    from .sampling import contexts_of, mc_localized_q_table, sample_sigma

    tamper = dict(tamper or {})
    unknown = set(tamper) - {"phi", "eps", "xi", "B", "rho"}
    if unknown:
        raise MappoLiteError(f"tamper: unknown ingredients {sorted(unknown)}")
    if not reward_range_ok(game) or not 0 <= game.gamma < 1:
        raise MappoLiteError("the chain needs rewards in [0, 1] and gamma in [0, 1) (use rescale_rewards)")
    if K < 1 or T < 1 or beta <= 0 or n_rollouts < 0:
        raise MappoLiteError("K and T must be at least 1, beta positive and n_rollouts nonnegative")
    rng = np.random.default_rng(seed)
    N, sizes = game.n_agents, game.action_sizes
    beta_k = beta * math.sqrt(K)
    star = evaluate(game, optimal_value(game).policy_tables(game))
    # comparator laws of (s, a^{1:m}) for m = 0..N, flattened per context
    star_laws = [star.nu.copy()]
    for m in range(N):
        star_laws.append((star_laws[-1][:, None] * star.tables.tables[m]).ravel())
    policy = ConditionalLogLinearPolicy.for_game(game, "tabular")
    J, runs = [], []
    for _k in range(K):
        ev = evaluate(game, policy.tables())
        q_hats, new = [], []
        for m in range(1, N + 1):
            q_true = ev.q_local[m]
            q_hat = q_true if n_rollouts == 0 else mc_localized_q_table(game, ev.tables, m, n_rollouts, rng)
            if clip:
                q_hat = np.clip(q_hat, 0.0, 1.0 / (1.0 - game.gamma))
            states, actions = sample_sigma(ev.nu, ev.tables, T, rng)
            ctx = contexts_of(states, actions, sizes, m)
            q_at = q_hat[(states,) + tuple(actions[:, i] for i in range(m))]
            new.append(
                policy_improvement_solver(
                    policy.features[m - 1],
                    policy.thetas[m - 1],
                    ctx,
                    actions[:, m - 1],
                    q_at,
                    beta_k,
                    eta,
                    init=sgd_init,
                )
            )
            q_hats.append(q_hat)
        nxt = policy.with_thetas(new)
        J.append(ev.J)
        runs.append((ev, policy, nxt, q_hats))
        policy = nxt
    t = {key: float(tamper.get(key, 1.0)) for key in ("phi", "eps", "xi", "B", "rho")}
    B = t["B"] * max(
        float(np.max(q.reshape(-1, q.shape[-1]).max(1) - q.reshape(-1, q.shape[-1]).min(1)))
        for *_, qs in runs
        for q in qs
    )
    names = [n for n in CHAIN_STEPS if n not in ("pdl", "final")]
    lhs = {n: np.zeros((K, N)) for n in names}
    rhs = {n: np.zeros((K, N)) for n in names}
    phi, eps, xi, rho = np.zeros((K, N + 1)), np.zeros((K, N)), np.zeros((K, N)), np.zeros((K, N))
    f_span, q_hat_max = np.zeros((K, N)), np.zeros((K, N))
    scale3, pdl, pdl_scale = np.zeros((K, N)), np.zeros(K), np.zeros(K)
    for k, (ev, pol, nxt, q_hats) in enumerate(runs):
        laws = [ev.nu.copy()]
        for m in range(N):
            laws.append((laws[-1][:, None] * ev.tables.tables[m]).ravel())
        phi[k] = t["phi"] * np.array([concentrability(star_laws[m], laws[m], norm="l2") for m in range(N + 1)])
        for m in range(N):
            p_k, p_next, p_star = ev.tables.tables[m], nxt.tables().tables[m], star.tables.tables[m]
            w, sig_ctx = star_laws[m], laws[m]
            sig = sig_ctx[:, None] * p_k
            A = p_k.shape[1]
            Q = ev.q_local[m + 1].reshape(-1, A)
            Qh = q_hats[m].reshape(-1, A)
            f = beta_k * (nxt.logits(m + 1) - pol.logits(m + 1))
            e = (f - Qh) / beta_k
            eps[k, m] = t["eps"] * math.sqrt(float(np.sum(sig * e**2)))
            xi[k, m] = t["xi"] * math.sqrt(float(np.sum(sig * (Qh - Q) ** 2)))
            on = w > 0
            rho[k, m] = t["rho"] * float(np.max(p_next[on] / p_k[on]))
            f_span[k, m] = float(np.max(f[on].max(axis=1) - f[on].min(axis=1))) / beta_k
            q_hat_max[k, m] = float(Qh.max()) / beta_k
            lhs["likelihood_ratio"][k, m] = rho[k, m]
            rhs["likelihood_ratio"][k, m] = math.exp(f_span[k, m])
            kl_k, kl_next, kl_step = _kl_rows(p_star, p_k), _kl_rows(p_star, p_next), _kl_rows(p_k, p_next)
            pdl[k] += w @ np.sum(Q * (p_star - p_k), axis=1)
            pdl_scale[k] += w @ np.sum(np.abs(Q) * (p_star + p_k), axis=1)
            lhs["three_point"][k, m] = w @ np.sum(f * (p_star - p_k), axis=1)
            rhs["three_point"][k, m] = beta_k * (w @ (kl_k - kl_next + kl_step))
            scale3[k, m] = max(
                w @ np.sum(np.abs(f) * (p_star + p_k), axis=1), beta_k * (w @ (kl_k + kl_next + kl_step))
            )
            err = w @ np.sum((Q - f) * (p_star - p_k), axis=1)
            lhs["change_of_measure"][k, m] = err
            norm_qf = math.sqrt(float(np.sum(sig * (Q - f) ** 2)))
            rhs["change_of_measure"][k, m] = (phi[k, m + 1] + phi[k, m]) * norm_qf
            lhs["triangle"][k, m] = norm_qf
            rhs["triangle"][k, m] = xi[k, m] + beta_k * eps[k, m]
            lhs["paper_delta"][k, m] = (phi[k, m + 1] + phi[k, m]) * (xi[k, m] + beta_k * eps[k, m])
            rhs["paper_delta"][k, m] = (
                beta_k * math.sqrt(2) * (phi[k, m + 1] + phi[k, m]) * (eps[k, m] + xi[k, m] / beta_k)
            )
            x = Qh / beta_k
            xmax = x.max(axis=1, keepdims=True)
            psi = np.log(np.sum(p_k * np.exp(x - xmax), axis=1)) + xmax[:, 0] - np.sum(p_k * x, axis=1)
            cross = w @ np.sum((p_next - p_k) * e, axis=1)
            lhs["curvature_convexity"][k, m] = w @ kl_step
            rhs["curvature_convexity"][k, m] = w @ psi + cross
            lhs["hoeffding"][k, m] = w @ psi
            rhs["hoeffding"][k, m] = B**2 / (8 * beta_k**2)
            lhs["fitted_increment"][k, m] = cross
            rhs["fitted_increment"][k, m] = (1 + rho[k, m]) * phi[k, m] * eps[k, m]
    J_star = star.J
    gaps = J_star - np.asarray(J)
    delta = (phi[:, 1:] + phi[:, :-1]) * (eps + xi / beta_k)  # our Δ (the paper's divided by √2)
    small_delta = (1 + rho) * phi[:, :-1] * eps  # our δ (the paper's 2 is 1 + ρ_k at ρ_k = 1)
    X = N * math.log(max(sizes)) + float(np.sum(delta + small_delta))
    bound = (beta * X + N * B**2 / (8 * beta)) / ((1 - game.gamma) * math.sqrt(K))
    steps = {n: {"lhs": lhs[n], "rhs": rhs[n]} for n in names}
    steps["three_point"]["scale"] = scale3
    steps["pdl"] = {
        "lhs": (1 - game.gamma) * gaps,
        "rhs": pdl,
        "scale": np.maximum(pdl_scale, (1 - game.gamma) * (abs(J_star) + np.abs(J))),
    }
    steps["final"] = {"lhs": float(np.mean(gaps)), "rhs": bound}
    return {
        "steps": steps,
        "phi": phi,
        "eps": eps,
        "xi": xi,
        "rho": rho,
        "f_span": f_span,
        "q_hat_max": q_hat_max,
        "B": B,
        "X": X,
        "delta": delta,
        "small_delta": small_delta,
        "gaps": gaps,
        "average_gap": float(np.mean(gaps)),
        "bound": bound,
        "best_beta": B * math.sqrt(N / (8 * X)),
        "best_bound": B * math.sqrt(N) / (1 - game.gamma) * math.sqrt(X / (2 * K)),
        "beta": beta,
        "beta_k": beta_k,
        "gamma": game.gamma,
        "K": K,
        "N": N,
    }


def chain_check(chain: dict, rtol: float = 1e-9) -> dict:
    r"""For each step of :func:`theorem1_chain`: ``(holds, worst)`` where ``worst`` is the largest violation
    ``lhs − rhs`` relative to the scale ``max(|lhs|, |rhs|)`` of the inequality's own terms (identities: the
    largest ``|lhs − rhs|`` relative to the size of their largest term, the step's ``scale``, which rounding errors
    are proportional to). A step holds when ``worst ≤ rtol``."""
    out = {}
    for name, side in chain["steps"].items():
        lhs, rhs = np.asarray(side["lhs"], float), np.asarray(side["rhs"], float)
        scale = np.maximum(np.abs(lhs), np.abs(rhs))
        if "scale" in side:
            scale = np.maximum(scale, np.asarray(side["scale"], float))
        scale = np.maximum(scale, np.finfo(float).tiny)
        gap = np.abs(lhs - rhs) if name in ("three_point", "pdl") else lhs - rhs
        worst = float(np.max(gap / scale))
        out[name] = (worst <= rtol, worst)
    return out


def sgd_rate(game: MarkovGameBase, Ts=(10, 100, 1000, 10000), beta_k: float = 1.0, seeds=range(8)) -> dict:
    r"""**[ours; the rate is the textbook one for projected SGD]** How Algorithm 3's improvement error ε scales with
    the number T of SGD steps, on one sub-problem: agent 1 of ``game`` at the uniform :math:`\pi_0`
    (:math:`\theta_0 = 0`), exact :math:`Q^{1:1}`, tabular features, :math:`\theta(0)=0` (the paper's start).

    The minimizer :math:`\theta^\circ = Q^{1:1}/\beta_k` is taken as the ball's radius, :math:`R=\|\theta^\circ\|`,
    so :math:`L(\theta^\circ)=0`; the stochastic gradient is bounded by :math:`G=2(R+B/\beta_k)` (B the span-free
    bound max Q), and with the stepsize :math:`\eta=D/(G\sqrt T)`, :math:`D=\|\theta(0)-\theta^\circ\|`, projected SGD
    with averaging satisfies :math:`\mathbb E\,\varepsilon^2=\mathbb E\,L(\bar\theta)\le\frac{(D+\eta G)^2}{2\eta T}
    +\frac{\eta G^2}{2}`, of order :math:`DG/\sqrt T`: ε decays at least like :math:`T^{-1/4}`.

    Returns ``Ts``, ``eps2`` (nT, n_seeds) the exact :math:`\sigma_0`-weighted :math:`\varepsilon^2`, ``bound`` (nT,),
    ``slope`` (fitted log-log slope of the mean ε against T), ``predicted_slope`` (−1/4)."""
    from .evaluation import evaluate
    from .improvement import policy_improvement_solver
    from .policies.conditional import ConditionalLogLinearPolicy
    from .sampling import sample_sigma

    policy = ConditionalLogLinearPolicy.for_game(game, "tabular")
    ev = evaluate(game, policy.tables())
    A = game.action_sizes[0]
    Q = ev.q_local[1].reshape(-1, A)
    sig = ev.sigma_agent(1).reshape(-1, A)
    target = (Q / beta_k).ravel()
    R = float(np.linalg.norm(target))
    D = R
    G = 2 * (R + float(Q.max()) / beta_k)
    Ts = np.asarray(Ts, dtype=np.int64)
    eps2 = np.zeros((Ts.size, len(seeds)))
    bound = np.zeros(Ts.size)
    for i, T in enumerate(Ts):
        eta = D / (G * math.sqrt(T))
        bound[i] = (D + eta * G) ** 2 / (2 * eta * T) + eta * G**2 / 2
        for j, s in enumerate(seeds):
            states, actions = sample_sigma(ev.nu, ev.tables, int(T), np.random.default_rng(s))
            th = policy_improvement_solver(
                policy.features[0], policy.thetas[0], states, actions[:, 0], Q[states, actions[:, 0]], beta_k, eta, R
            )
            eps2[i, j] = float(np.sum(sig * (th.reshape(-1, A) - Q / beta_k) ** 2))
    eps_mean = np.sqrt(eps2.mean(axis=1))
    slope = float(np.polyfit(np.log(Ts), np.log(eps_mean), 1)[0])
    return {
        "Ts": Ts,
        "eps2": eps2,
        "eps": eps_mean,
        "bound": bound,
        "slope": slope,
        "predicted_slope": -0.25,
        "R": R,
        "G": G,
        "beta_k": beta_k,
    }
