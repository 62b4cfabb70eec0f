r"""Benchmark: the numba kernels against their NumPy twins, exact evaluation against the memory bandwidth, and the
targets of issue 6. ``python -m mappo_lite bench [--quick] [--json] [--output FILE]`` or :func:`run_benchmarks`.

Every comparison is measured **side by side in one process**: both implementations are called once to warm up
(numba compile or cache load, reported separately), then alternately ``repeats`` times, and the medians are
compared (each timed sample repeats a fast call until it lasts at least ~5 ms). The "NumPy" side of an end-to-end
case (``evaluate``, one MA-PPO iteration) is the *same library code* run with every kernel of the registry
(:data:`mappo_lite.kernels.KERNELS`) switched to its NumPy twin (:func:`reference_kernels`, which is
:func:`mappo_lite.kernels.numpy_twins`).
Ratios are ``numpy_s / numba_s`` (> 1: numba is faster). The kernels are single-threaded, so during the run
BLAS/LAPACK is limited to one thread as well (:func:`blas_threads`, ``--blas-threads``): core for core. The machine
is described in the output, with its load average before and after, because timings on a shared machine are noisy:
ratios measured side by side are robust, absolute times less so.

Result keys (``run_benchmarks`` returns a JSON-ready dict; ``--json`` prints it):

``schema``, ``quick``, ``seconds``
    format version, the mode, and the wall time of the whole run.
``machine``
    CPU model, logical CPUs, memory, OS, Python / NumPy / numba / SciPy versions, BLAS, thread settings,
    ``loadavg_start`` / ``loadavg_end`` (``os.getloadavg``), date.
``settings``
    repeats, statistic, minimum sample duration, the tolerance of the "never slower" target.
``streaming``
    the streaming bandwidths of one core from memory (``read_GBps``: ``kernels.stream_read`` over a warm 256 MiB
    buffer; ``write_GBps``: a fresh NumPy array of that size filled).
``softmax_score``
    list of cases (``features`` "tabular" or "dense", ``n_contexts``, ``n_actions``, ``dim``, ``numba_s``,
    ``numpy_s``, ``ratio``, ``out_bytes``, ``write_floor_s``: the time to allocate and write outputs of that size;
    ``einsum_s`` / ``einsum_ratio``: the well-written NumPy reference of :mod:`mappo_lite.bench.einsum` and its time
    over numba's; ``bytes_read``, ``bytes_written``, the memory floor at this size ``floor_s`` (one call streams
    the inputs once with ``kernels.stream_read`` and writes fresh outputs; its parts, timed alone, are
    ``read_floor_s`` and ``write_floor_s``), timed alternately with the kernel: ``floor_ratio`` =
    ``floor_pair_numba_s / floor_s``, the kernel's and the floor's medians in that pairing).
``backward_sweep``
    list of cases (``n_states``, ``action_sizes``, ``n_entries`` = S·|A|, times, ``ratio``, and the einsum and
    floor fields of ``softmax_score``).
``exact_evaluation``
    list of dense games from 10 to 10⁸ entries of P: ``P_entries``, ``P_bytes``, ``numba_s`` / ``numpy_s`` /
    ``ratio`` of :func:`mappo_lite.evaluate`, ``parts`` (assembly of π and P_π/r_π, the two linear solves, Q = r +
    γPV, the backward sweep: each numba/NumPy), ``bandwidth_GBps`` (streaming read measured on P itself),
    ``bound_s`` = 2·bytes(P)/bandwidth (the fastest of the repeated reads), ``bound_ratio`` = ``numba_s / bound_s``, and ``memory`` (peak NumPy
    allocations seen by tracemalloc and peak new resident memory, also as multiples of the game's size).
``rollouts``
    Monte Carlo environment steps per second of ``kernels.rollout_steps`` and of its NumPy twin.
``algorithm3``
    one Algorithm 3 solve (projected SGD, tabular and dense features).
``mappo_iteration``
    one MA-PPO iteration (exact: ideal step on exact :math:`Q^{1:m}`; sampled: Algorithm 3 on Monte Carlo
    estimates) on named sizes, J* precomputed and excluded.
``mappo_overhead``
    one exact MA-PPO iteration (ideal tabular step) on climbing, two_step and a 50-state random game:
    ``ma_ppo`` per iteration (``library_s``; ``library_no_policies_s`` with ``keep_policies=False``), the fused
    reference ``kernels.exact.mappo_exact_ideal`` called directly (``fused_s``), ``overhead`` = library / fused,
    and the general Python loop (``general_s``, ``fused=False``).
``sparse``
    the sparse gridworld (≥ 10⁴ states): build, exact evaluation, one MA-PPO iteration, memory against the
    dense tensor it never allocates; ``rollouts``: environment steps per second of the sparse Monte Carlo kernel
    ``kernels.rollout_steps_sparse`` and of its NumPy twin on that game; ``compact_iteration``: one *sampled*
    MA-PPO iteration with compact gridworld features (Monte Carlo Q̂ over the successor lists, Algorithm 3), its
    time and peak NumPy memory.
``quantecon``
    our policy iteration (compiled: ``kernels.exact.policy_iteration``) and policy evaluation against QuantEcon's
    ``DiscreteDP`` on the joint-action MDP
    (``available: false`` when quantecon is not installed).
``first_result``
    fresh ``python`` processes: ``import mappo_lite``, build a game, first ``evaluate``, with an empty numba cache
    (``cold``, including the compile time of every kernel, ``compile_s``) and again with that cache (``warm``).
``compile``
    first-call time of every kernel in this process (compile or cache load) and numba's cache hit/miss counts.
``memory``
    peak resident memory of the benchmark process (``resource.getrusage``) and of tracemalloc's runs.
``targets``
    list of ``{name, description, status: "PASS"|"FAIL"|"NOT MEASURED", measured, threshold, detail}`` ("NOT
    MEASURED" where the run skipped what the target needs, e.g. ``--quick`` stops below 100 MB).
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import sys
import time

#: Format version of the result dict.
SCHEMA = 1

_MIN_SAMPLE_S = 0.005

#: "numba never slower": a case counts as slower when its ratio is below 1 - this. Kernels that stream P at the
#: memory bandwidth tie with NumPy (both read the same bytes at the same rate), and on a shared machine repeated
#: measurements of such a tie scatter by several percent; every case below 1 is still listed in the report.
NEVER_SLOWER_TOLERANCE = 0.05


# ----------------------------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------------------------
def add_parser(subparsers) -> None:
    """Register ``bench`` (cheap: everything heavy is imported when the command runs)."""
    from mappo_lite.cli_guard import whole

    b = subparsers.add_parser(
        "bench", help="time the numba kernels against their NumPy twins and check the performance targets"
    )
    b.add_argument("--quick", action="store_true", help="small sizes only (about half a minute)")
    b.add_argument(
        "--json", action="store_true", help="print the results as one JSON object on stdout (the report goes to stderr)"
    )
    b.add_argument("--output", metavar="FILE", default=None, help="also write the JSON results to FILE")
    b.add_argument(
        "--no-first-result",
        action="store_true",
        help="skip the cold/warm fresh-process measurement (it compiles every kernel once)",
    )
    b.add_argument(
        "--blas-threads",
        type=whole("--blas-threads", 0, 1024),
        default=1,
        metavar="N",
        help="BLAS/LAPACK threads during the run (default 1, core for core with numba; 0: leave as is)",
    )
    b.add_argument("--no-interactive", action="store_true", help="skip the book widgets' redraw latencies")
    b.add_argument(
        "--only",
        choices=["interactive"],
        default=None,
        help="run one section only; with --output FILE it is merged into FILE (the other sections are kept)",
    )
    b.add_argument(
        "--widgets",
        default=None,
        metavar="KEYS",
        help="with --only interactive: comma-separated widget keys (chapter:function) to measure; their rows "
        "replace those in --output FILE",
    )
    b.set_defaults(func=cmd_bench)


def cmd_bench(args) -> None:
    log = sys.stderr
    if args.only == "interactive":  # issue 15: the widgets' section alone, merged into an existing JSON
        from .interactive import bench_interactive, format_interactive, merge_interactive

        keys = None if args.widgets is None else [k.strip() for k in args.widgets.split(",") if k.strip()]
        with blas_threads(args.blas_threads or None):
            section = bench_interactive(args.quick, log, only=keys)
        if args.output:
            section = merge_interactive(args.output, section)["interactive"]
        print(format_interactive(section), file=log if args.json else sys.stdout)
        if args.json:
            print(json.dumps(section, indent=1))
        return
    results = run_benchmarks(
        quick=args.quick,
        first_result=not args.no_first_result,
        n_blas_threads=args.blas_threads or None,
        progress=log,
        interactive=not args.no_interactive,
    )
    text = format_report(results)
    if "interactive" in results:  # issue 15: the book widgets' redraw latencies
        from .interactive import format_interactive

        text += "\n\n" + format_interactive(results["interactive"])
    if args.json:
        print(text, file=sys.stderr)
        print(json.dumps(results, indent=1))
    else:
        print(text)
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(results, fh, indent=1)
            fh.write("\n")


# ----------------------------------------------------------------------------------------------------------------
# helpers: timing, memory, machine
# ----------------------------------------------------------------------------------------------------------------
def _sample(fn, number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def time_pair(fast, slow, repeats: int = 5) -> dict:
    """Median times of ``fast`` (numba) and ``slow`` (NumPy), called alternately after one warm-up call each.

    Each sample repeats a call until it lasts at least ~5 ms (calibrated on a second call). Returns ``numba_s``,
    ``numpy_s``, ``ratio`` (= numpy_s / numba_s), ``first_call_s`` (the numba warm-up call) and the samples."""
    t0 = time.perf_counter()
    fast()
    first = time.perf_counter() - t0
    slow()
    n_fast = max(1, math.ceil(_MIN_SAMPLE_S / max(_sample(fast, 1), 1e-7)))
    n_slow = max(1, math.ceil(_MIN_SAMPLE_S / max(_sample(slow, 1), 1e-7)))
    gc_was = gc.isenabled()
    gc.disable()
    try:
        tf, ts = [], []
        for _ in range(repeats):
            tf.append(_sample(fast, n_fast))
            ts.append(_sample(slow, n_slow))
    finally:
        if gc_was:
            gc.enable()
    import numpy as np

    mf, ms = float(np.median(tf)), float(np.median(ts))
    return {
        "numba_s": mf,
        "numpy_s": ms,
        "ratio": ms / mf,
        "first_call_s": first,
        "numba_samples": tf,
        "numpy_samples": ts,
    }


def time_one(fn, repeats: int = 5) -> float:
    """Median time of ``fn`` after one warm-up call."""
    import numpy as np

    fn()
    n = max(1, math.ceil(_MIN_SAMPLE_S / max(_sample(fn, 1), 1e-7)))
    return float(np.median([_sample(fn, n) for _ in range(repeats)]))


def _proc_status_kb(field: str):
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's resident-set high-water mark (Linux ``/proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def measure_memory(fn, reference_bytes: int | None = None) -> dict:
    """Run ``fn`` once and report its peak extra memory: ``peak_traced_bytes`` (NumPy and Python allocations,
    tracemalloc) and ``peak_rss_extra_bytes`` (new resident memory, which also sees numba's own allocations;
    ``None`` where the high-water mark cannot be reset). With ``reference_bytes`` (the game's size) both are also
    given as multiples of it."""
    import tracemalloc

    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    can_reset = _reset_peak_rss()
    rss0 = _proc_status_kb("VmRSS")
    fn()
    peak_traced = tracemalloc.get_traced_memory()[1] - base
    hwm = _proc_status_kb("VmHWM") if can_reset else None
    if not was_tracing:
        tracemalloc.stop()
    rss_extra = None if hwm is None or rss0 is None else max(0, (hwm - rss0) * 1024)
    out = {"peak_traced_bytes": int(peak_traced), "peak_rss_extra_bytes": rss_extra}
    if reference_bytes:
        out["reference_bytes"] = int(reference_bytes)
        out["traced_multiple"] = peak_traced / reference_bytes
        out["rss_multiple"] = None if rss_extra is None else rss_extra / reference_bytes
    return out


def machine_info() -> dict:
    """A description of this machine and software (and the load average now)."""
    import platform

    import numba
    import numpy as np
    import scipy

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    blas = None
    try:
        cfg = np.show_config(mode="dicts")
        b = cfg["Build Dependencies"]["blas"]
        blas = f"{b.get('name')} {b.get('version')}"
    except Exception:  # noqa: BLE001 (best effort description)
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "cpus_available": affinity,
        "memory_bytes": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "scipy": scipy.__version__,
        "blas": blas,
        "threads": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS")},
        "loadavg_start": list(os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


_BLAS_SET = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)


def _openblas_libraries():
    """(get, set) function pairs of every OpenBLAS loaded in this process (NumPy's and SciPy's), found by name."""
    import ctypes

    paths = set()
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                path = line.split()[-1]
                if "openblas" in path.lower() and (path.endswith(".so") or ".so." in path):
                    paths.add(path)
    except OSError:
        return []
    out = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _BLAS_SET:
            setter = getattr(lib, name, None)
            getter = getattr(lib, name.replace("_set_", "_get_"), None)
            if setter is not None and getter is not None:
                setter.argtypes = [ctypes.c_int]
                out.append((path.rsplit("/", 1)[-1], getter, setter))
                break
    return out


@contextlib.contextmanager
def blas_threads(n: int | None):
    """Within the block, every loaded OpenBLAS uses ``n`` threads (``None``: leave as is); yields a dict library →
    threads in use. The numba kernels run on one core; with ``n = 1`` the NumPy side (BLAS, LAPACK) does too, so
    the comparison is core for core, and a shared machine does not oversubscribe its cores (on this 2-core machine
    with other users, a 400×400 LAPACK solve took 10-30 ms with 2 threads and 2 ms with 1)."""
    import importlib

    for module in ("numpy", "scipy.linalg"):  # load NumPy's and SciPy's OpenBLAS before looking for them
        importlib.import_module(module)

    libs = _openblas_libraries()
    before = [(name, get()) for name, get, _ in libs]
    try:
        if n is not None:
            for _, _, setter in libs:
                setter(int(n))
        yield {name: get() for name, get, _ in libs}
    finally:
        if n is not None:
            for (_, _, setter), (_, old) in zip(libs, before):
                setter(int(old))


@contextlib.contextmanager
def reference_kernels():
    """Within the block, every kernel of the registry (:data:`mappo_lite.kernels.KERNELS`) runs its NumPy twin, so
    library code (``evaluate``, ``ma_ppo``) runs on plain NumPy: :func:`mappo_lite.kernels.numpy_twins`, the one
    switch (no module attribute is replaced)."""
    from ..kernels import numpy_twins

    with numpy_twins():
        yield


def _log(progress, text):
    if progress is not None:
        print(text, file=progress, flush=True)


# ----------------------------------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------------------------------
def dense_game(n_states: int, action_sizes, gamma: float = 0.9, seed: int = 0):
    """A random dense game built without Dirichlet draws (fast for 10⁸ entries): P uniform random, normalized."""
    import numpy as np

    from ..games.dense import CooperativeMarkovGame

    rng = np.random.default_rng(seed)
    shape = (int(n_states),) + tuple(int(a) for a in action_sizes)
    P = rng.random(shape + (int(n_states),))
    P /= P.sum(axis=-1, keepdims=True)
    r = rng.random(shape)
    game = CooperativeMarkovGame(P, r, gamma, name=f"dense(S={n_states},A={'x'.join(map(str, shape[1:]))})")
    del P
    return game


def random_tables(game, seed: int = 1, scale: float = 1.0):
    """Random conditional tables (softmax of Gaussian logits) for ``game``."""
    import numpy as np

    from ..policies.conditional import ConditionalTables, context_counts

    rng = np.random.default_rng(seed)
    tabs = []
    for c, A in zip(context_counts(game.n_states, game.action_sizes), game.action_sizes):
        x = np.exp(scale * rng.standard_normal((c, A)))
        tabs.append(x / x.sum(axis=1, keepdims=True))
    return ConditionalTables(tuple(tabs), game.n_states, tuple(game.action_sizes))


# ----------------------------------------------------------------------------------------------------------------
# the cases
# ----------------------------------------------------------------------------------------------------------------
#: Buffer of the streaming-bandwidth probe: far above the last-level cache of any machine we run on.
STREAM_BYTES = 256 * 2**20
#: Contexts between which the fused kernels' target (issue 15, req. 5) is judged.
FUSED_TARGET_CONTEXTS = (10**3, 10**6)


def bench_streaming(repeats: int, progress=None) -> dict:
    r"""The streaming bandwidths of one core from memory (the fused kernels' floors are measured at their own
    sizes, :func:`_fused_case`; these are the rates for data far from the caches, reported beside them).

    ``read_GBps``: :func:`mappo_lite.kernels.stream_read` (a sum with eight partial sums) over a warm buffer of
    :data:`STREAM_BYTES`; ``write_GBps``: allocating a fresh array of that size with NumPy and filling it (what a
    kernel that returns a new array pays, first touch of its pages included). Each the fastest of ``repeats`` calls:
    a slow yardstick would make the floor look easier than it is."""
    import numpy as np

    from ..kernels import core as K

    n = STREAM_BYTES // 8
    buf = np.ones(n)
    K.stream_read(buf)
    reads, writes = [], []
    for _ in range(max(3, repeats)):
        t0 = time.perf_counter()
        K.stream_read(buf)
        reads.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        np.empty(n).fill(1.0)
        writes.append(time.perf_counter() - t0)
    out = {
        "bytes": int(STREAM_BYTES),
        "read_GBps": STREAM_BYTES / min(reads) / 1e9,
        "write_GBps": STREAM_BYTES / min(writes) / 1e9,
        "note": "read: stream_read over a warm buffer; write: np.empty + fill (fresh pages); fastest of the repeats",
    }
    _log(progress, f"  streaming: read {out['read_GBps']:.1f} GB/s, write (fresh array) {out['write_GBps']:.1f} GB/s")
    return out


def _fused_case(t: dict, te: dict, kernel, inputs, write_floor, bytes_written: int, repeats: int, **fields) -> dict:
    r"""A fused kernel's row: times against the twin (``t``) and the einsum reference (``te``), and against its memory
    floor at this size: one call of the floor streams the ``inputs`` once (``kernels.stream_read`` on each, warm, as
    the kernel finds them) and calls ``write_floor`` (allocating and filling fresh arrays of the outputs' sizes, as
    the kernel must), i.e. bytes read and written over the streaming rates at the same size (in cache where the data
    fits in cache, so the floor is a floor at every size).

    The kernel and its floor are timed alternately (:func:`time_pair`, as the kernel and its twin are), so that a
    change in the machine's memory bandwidth during the run (another tenant of the host, say) moves both:
    ``floor_ratio`` is the ratio of their medians in that pairing, ``floor_s`` the floor's median. ``read_floor_s``
    and ``write_floor_s`` are its two parts, timed on their own."""
    import numpy as np

    from ..kernels import core as K

    flat = [np.ascontiguousarray(x).reshape(-1) for x in inputs]

    def read_inputs():
        for x in flat:
            K.stream_read(x)

    def floor_call():
        read_inputs()
        write_floor()

    side = time_pair(kernel, floor_call, repeats)
    row = _case(t, **fields)
    row.update(
        einsum_s=te["numpy_s"],
        einsum_ratio=te["numpy_s"] / te["numba_s"],
        bytes_read=int(sum(x.nbytes for x in flat)),
        bytes_written=int(bytes_written),
        read_floor_s=time_one(read_inputs, repeats),
        write_floor_s=time_one(write_floor, repeats),
        floor_s=side["numpy_s"],
        floor_pair_numba_s=side["numba_s"],
        floor_ratio=side["numba_s"] / side["numpy_s"],
    )
    return row


def bench_softmax_score(quick: bool, repeats: int, progress=None) -> list:
    """Fused softmax + score over all contexts: tabular features (score block (n, A, A)) and dense features
    (n, A, d=8), against the NumPy twin and the einsum reference, with the memory floor at each size."""
    import numpy as np

    from ..kernels import core as K
    from ..kernels import reference as R
    from . import einsum as E

    sizes = [10**3, 10**4, 10**5] if quick else [10**3, 10**4, 10**5, 10**6]
    out = []
    for n in sizes:
        for A in (2, 4, 8):
            rng = np.random.default_rng(n + A)
            logits = rng.standard_normal((n, A)) * 2
            t = time_pair(lambda: K.tabular_softmax_score(logits), lambda: R.tabular_softmax_score(logits), repeats)
            te = time_pair(lambda: K.tabular_softmax_score(logits), lambda: E.tabular_softmax_score(logits), repeats)
            out.append(
                _fused_case(
                    t,
                    te,
                    lambda: K.tabular_softmax_score(logits),
                    [logits],
                    lambda: (np.empty((n, A)).fill(0.0), np.empty((n, A, A)).fill(0.0)),
                    8 * n * A * (A + 1),
                    repeats,
                    features="tabular",
                    n_contexts=n,
                    n_actions=A,
                    dim=A,
                    out_bytes=8 * n * A * (A + 1),
                )
            )
            d = 8
            phi = rng.standard_normal((n, A, d))
            phi /= np.linalg.norm(phi, axis=-1, keepdims=True)
            theta = rng.standard_normal(d)
            t = time_pair(lambda: K.softmax_score(phi, theta), lambda: R.softmax_score(phi, theta), repeats)
            te = time_pair(lambda: K.softmax_score(phi, theta), lambda: E.softmax_score(phi, theta), repeats)
            out.append(
                _fused_case(
                    t,
                    te,
                    lambda: K.softmax_score(phi, theta),
                    [phi, theta],
                    lambda: (np.empty((n, A)).fill(0.0), np.empty((n, A, d)).fill(0.0)),
                    8 * n * A * (d + 1),
                    repeats,
                    features="dense",
                    n_contexts=n,
                    n_actions=A,
                    dim=d,
                    out_bytes=8 * n * A * (d + 1),
                )
            )
            _log(
                progress,
                f"  softmax+score n={n:>8} A={A}: tabular x{out[-2]['ratio']:.2f} (einsum x{out[-2]['einsum_ratio']:.2f}, "
                f"{out[-2]['floor_ratio']:.2f} x floor), dense x{out[-1]['ratio']:.2f} (einsum x"
                f"{out[-1]['einsum_ratio']:.2f}, {out[-1]['floor_ratio']:.2f} x floor)",
            )
    return out


def _case(t: dict, **fields) -> dict:
    row = dict(fields)
    row.update({k: t[k] for k in ("numba_s", "numpy_s", "ratio", "first_call_s")})
    return row


def bench_backward_sweep(quick: bool, repeats: int, progress=None) -> list:
    """The fused backward sweep against the NumPy twin and the einsum reference, with its memory floor (Q and the
    policy tables read once, every level written once)."""
    import numpy as np

    from ..kernels import core as K
    from ..kernels import reference as R
    from . import einsum as E

    cases = [(40, (5, 5)), (400, (5, 5)), (160, (5, 5, 5, 5))]
    if not quick:
        cases += [(1600, (5, 5, 5, 5)), (16000, (5, 5, 5, 5))]
    out = []
    for S, sizes in cases:

        class _G:  # the sizes random_tables needs
            n_states = S
            action_sizes = sizes

        tabs = random_tables(_G, seed=S)
        pi_concat, offsets = tabs.concat()
        a = np.asarray(sizes, np.int64)
        Q = np.random.default_rng(S).standard_normal((S, int(np.prod(sizes))))
        t = time_pair(
            lambda: K.backward_sweep(Q, pi_concat, offsets, a),
            lambda: R.backward_sweep(Q, pi_concat, offsets, a),
            repeats,
        )
        te = time_pair(
            lambda: K.backward_sweep(Q, pi_concat, offsets, a),
            lambda: E.backward_sweep(Q, pi_concat, offsets, a),
            repeats,
        )
        n_out = int(K.level_offsets_for(a, S)[-1])
        out.append(
            _fused_case(
                t,
                te,
                lambda: K.backward_sweep(Q, pi_concat, offsets, a),
                [Q, pi_concat],
                lambda: np.empty(n_out).fill(0.0),
                8 * n_out,
                repeats,
                n_states=S,
                action_sizes=list(sizes),
                n_entries=int(Q.size),
                out_bytes=8 * n_out,
            )
        )
        r = out[-1]
        _log(
            progress,
            f"  backward sweep S*|A|={Q.size:>9}: x{r['ratio']:.2f} (einsum x{r['einsum_ratio']:.2f}, "
            f"{r['floor_ratio']:.2f} x floor)",
        )
    return out


#: (S, action sizes) of the dense exact-evaluation ladder: P has S*|A|*S entries, 10 to 10^8.
EVAL_LADDER = [
    (1, (2, 5)),  # 10
    (2, (5, 5)),  # 100
    (10, (2, 5)),  # 1e3
    (20, (5, 5)),  # 1e4
    (50, (5, 8)),  # 1e5
    (100, (10, 10)),  # 1e6
    (250, (5, 5, 10)),  # 1.6e7 (125 MB)
    (400, (5, 5, 5, 5)),  # 1e8 (800 MB)
]
QUICK_EVAL_LADDER = EVAL_LADDER[:6]


def bench_exact_evaluation(quick: bool, repeats: int, progress=None) -> list:
    """``evaluate`` on dense games of growing size: numba vs the NumPy twins, the parts, and the bandwidth bound."""
    out = []
    for S, sizes in QUICK_EVAL_LADDER if quick else EVAL_LADDER:
        row = _exact_evaluation_case(S, sizes, repeats)
        out.append(row)
        _log(
            progress,
            f"  exact evaluation P={row['P_entries']:>10.3g} entries: x{row['ratio']:.2f}, "
            f"{row['numba_s'] * 1e3:.3g} ms = {row['bound_ratio']:.2f} x bandwidth bound",
        )
        gc.collect()
    return out


def _exact_evaluation_case(S: int, sizes, repeats: int) -> dict:
    import numpy as np

    from ..evaluation import evaluate
    from ..kernels import core as K
    from ..kernels import reference as R

    game = dense_game(S, sizes, seed=S)
    tabs = random_tables(game, seed=S + 1)
    pi_concat, offsets = tabs.concat()
    a = np.asarray(sizes, np.int64)
    Pf, rf = game.P_flat, game.r_flat

    def run_ref():
        with reference_kernels():
            return evaluate(game, tabs)

    t = time_pair(lambda: evaluate(game, tabs), run_ref, repeats)
    pj = K.joint_policy(pi_concat, offsets, a, S)
    P_pi, r_pi = K.policy_transition_reward(Pf, rf, pj)
    V = game.solve_linear(P_pi, r_pi)
    Qf = K.q_from_v(Pf, rf, game.gamma, V)
    parts = {
        "assembly": time_pair(
            lambda: K.policy_transition_reward(Pf, rf, K.joint_policy(pi_concat, offsets, a, S)),
            lambda: R.policy_transition_reward(Pf, rf, R.joint_policy(pi_concat, offsets, a, S)),
            repeats,
        ),
        "q_from_v": time_pair(
            lambda: K.q_from_v(Pf, rf, game.gamma, V), lambda: R.q_from_v(Pf, rf, game.gamma, V), repeats
        ),
        "backward_sweep": time_pair(
            lambda: K.backward_sweep(Qf, pi_concat, offsets, a),
            lambda: R.backward_sweep(Qf, pi_concat, offsets, a),
            repeats,
        ),
    }
    solve_s = time_one(
        lambda: (game.solve_linear(P_pi, r_pi), game.solve_linear(P_pi, game.rho, transpose=True)), repeats
    )
    parts = {k: {kk: v[kk] for kk in ("numba_s", "numpy_s", "ratio")} for k, v in parts.items()}
    parts["solves"] = {
        "numba_s": solve_s,
        "numpy_s": solve_s,
        "ratio": 1.0,
        "note": "LAPACK (np.linalg.solve) on both sides: V and the occupancy",
    }
    flat = game.P.reshape(-1)
    bw = time_pair(lambda: K.stream_read(flat), lambda: R.stream_read(flat), repeats)
    # the bound uses the fastest read seen (numba's or NumPy's, any repetition): on a shared machine a median can
    # catch a moment of contention, and a slow yardstick would make the bound look easier than it is
    bandwidth = game.P.nbytes / min(bw["numba_samples"] + bw["numpy_samples"])
    bound = 2 * game.P.nbytes / bandwidth
    mem = measure_memory(lambda: evaluate(game, tabs), game.nbytes)
    row = _case(
        t,
        n_states=S,
        action_sizes=list(sizes),
        P_entries=int(game.P.size),
        P_bytes=int(game.P.nbytes),
        game_bytes=int(game.nbytes),
    )
    row.update(
        parts=parts,
        bandwidth_GBps=bandwidth / 1e9,
        bandwidth_numba_GBps=game.P.nbytes / bw["numba_s"] / 1e9,
        bandwidth_numpy_GBps=game.P.nbytes / bw["numpy_s"] / 1e9,
        bound_s=bound,
        bound_ratio=t["numba_s"] / bound,
        memory=mem,
    )
    return row


def bench_rollouts(quick: bool, repeats: int, progress=None) -> list:
    import numpy as np

    from ..kernels import core as K
    from ..kernels import reference as R
    from ..sampling import cumulative_tables, cumulative_transitions

    cases = [(10, (5, 5)), (100, (5, 5, 5)), (100, (5, 5, 5, 5))] if not quick else [(10, (5, 5)), (20, (3, 3, 3))]
    n_fast = 200_000 if quick else 2_000_000
    n_slow = 5_000 if quick else 20_000
    out = []
    for S, sizes in cases:
        game = dense_game(S, sizes, seed=7)
        tabs = random_tables(game, seed=8)
        Pc = cumulative_transitions(game)
        pc, off = cumulative_tables(tabs)
        a = np.asarray(sizes, np.int64)
        starts = np.arange(S, dtype=np.int64)
        args = (Pc, game.r_flat, game.gamma, pc, off, a, starts)
        t = time_pair(
            lambda: K.rollout_steps(*args, n_fast, 0), lambda: R.rollout_steps(*args, n_slow, 0), max(3, repeats // 2)
        )
        fast_rate = n_fast / t["numba_s"]
        slow_rate = n_slow / t["numpy_s"]
        out.append(
            {
                "n_states": S,
                "action_sizes": list(sizes),
                "n_agents": len(sizes),
                "numba_steps": n_fast,
                "numpy_steps": n_slow,
                "numba_steps_per_s": fast_rate,
                "numpy_steps_per_s": slow_rate,
                "ratio": fast_rate / slow_rate,
                "numba_s": t["numba_s"],
                "numpy_s": t["numpy_s"],
                "first_call_s": t["first_call_s"],
            }
        )
        _log(
            progress,
            f"  rollouts S={S} N={len(sizes)}: {fast_rate / 1e6:.2f} M steps/s "
            f"(NumPy loop {slow_rate / 1e3:.1f} k steps/s)",
        )
    return out


def bench_algorithm3(quick: bool, repeats: int, progress=None) -> list:
    import numpy as np

    from ..kernels import core as K
    from ..kernels import reference as R

    T = 2_000 if quick else 10_000
    n_ctx, A = 500, 5
    rng = np.random.default_rng(3)
    ctx = rng.integers(0, n_ctx, T).astype(np.int64)
    act = rng.integers(0, A, T).astype(np.int64)
    y = rng.standard_normal(T)
    out = []
    d = n_ctx * A
    th = rng.standard_normal(d) * 0.1
    z = np.zeros(d)
    t = time_pair(
        lambda: K.projected_sgd_tabular(ctx, act, A, y, th, z, 0.25, 10.0),
        lambda: R.projected_sgd_tabular(ctx, act, A, y, th, z, 0.25, 10.0),
        max(3, repeats // 2),
    )
    out.append(_case(t, features="tabular", T=T, n_contexts=n_ctx, n_actions=A, dim=d))
    d = 16
    phi = rng.standard_normal((n_ctx, A, d))
    phi /= np.linalg.norm(phi, axis=-1, keepdims=True)
    th = rng.standard_normal(d) * 0.1
    z = np.zeros(d)
    t = time_pair(
        lambda: K.projected_sgd(phi, ctx, act, y, th, z, 0.25, 10.0),
        lambda: R.projected_sgd(phi, ctx, act, y, th, z, 0.25, 10.0),
        max(3, repeats // 2),
    )
    out.append(_case(t, features="dense", T=T, n_contexts=n_ctx, n_actions=A, dim=d))
    for row in out:
        _log(progress, f"  Algorithm 3 ({row['features']}, T={T}): x{row['ratio']:.1f}")
    return out


#: Named sizes for one MA-PPO iteration: (name, S, action sizes).
MAPPO_SIZES = [
    ("N=2, |A|=5, S=50", 50, (5, 5)),
    ("N=3, |A|=4, S=100", 100, (4, 4, 4)),
    ("N=4, |A|=5, S=100", 100, (5, 5, 5, 5)),
]
QUICK_MAPPO_SIZES = [("N=2, |A|=3, S=10", 10, (3, 3)), ("N=3, |A|=3, S=20", 20, (3, 3, 3))]


def bench_mappo(quick: bool, repeats: int, progress=None) -> list:
    from ..algorithms import ma_ppo
    from ..evaluation import optimal_value

    K_exact, K_mc = 2, 1
    out = []
    for name, S, sizes in QUICK_MAPPO_SIZES if quick else MAPPO_SIZES:
        game = dense_game(S, sizes, seed=11)
        J_star = optimal_value(game).J_star  # computed once, passed to every run (J_star=)
        for kind, kw, K_it in (
            ("exact", dict(solver="ideal", evaluation="exact"), K_exact),
            ("sampled", dict(solver="sgd", evaluation="mc", T=200, n_rollouts=5), K_mc),
        ):

            def fast():
                return ma_ppo(game, K=K_it, beta=0.1, seed=0, keep_policies=False, J_star=J_star, **kw)

            def slow():
                with reference_kernels():
                    return ma_ppo(game, K=K_it, beta=0.1, seed=0, keep_policies=False, J_star=J_star, **kw)

            t = time_pair(fast, slow, 3)
            row = _case(
                t,
                name=name,
                kind=kind,
                n_states=S,
                action_sizes=list(sizes),
                iterations=K_it,
                P_bytes=int(game.P.nbytes),
                **{k: v for k, v in kw.items() if k in ("T", "n_rollouts")},
            )
            row["numba_s"] /= K_it
            row["numpy_s"] /= K_it
            out.append(row)
            _log(progress, f"  MA-PPO iteration {name} ({kind}): {row['numba_s'] * 1e3:.3g} ms, x{t['ratio']:.2f}")
    return out


#: The games of the per-iteration overhead comparison (issue 15): the book's two smallest and a 50-state random one.
OVERHEAD_GAMES = ("climbing", "two_step", "random S=50, N=2, |A|=5")
#: Iterations per timed run of the overhead comparison (ma_ppo's default K).
OVERHEAD_K = 100


def bench_mappo_overhead(quick: bool, repeats: int, progress=None) -> list:
    r"""The cost of one exact MA-PPO iteration (ideal tabular step) on small games, where it is Python overhead.

    Per game, the time of ``ma_ppo(game, K=OVERHEAD_K, J_star=...)`` divided by K, as a user calls it (all iterates
    kept, and with ``keep_policies=False``), against the fused reference: the compiled run
    :func:`mappo_lite.kernels.exact.mappo_exact_ideal` called directly, divided by K (no validation, no result
    object). ``overhead`` = library / fused (the target: at most 3). ``general_s`` is the same iteration through the
    general loop (``fused=False``: evaluate, then one ideal step per agent, in Python), for comparison."""
    import numpy as np

    from ..algorithms import ma_ppo
    from ..evaluation import optimal_value
    from ..games.catalogue import make_game
    from ..kernels import exact

    K = OVERHEAD_K
    out = []
    for name in OVERHEAD_GAMES:
        game = dense_game(50, (5, 5), seed=11) if name.startswith("random") else make_game(name)
        J_star = optimal_value(game).J_star
        beta_k = 0.1 * math.sqrt(K)
        sizes = np.asarray(game.action_sizes, np.int64)
        counts = [game.n_states * int(np.prod(game.action_sizes[:m])) * A for m, A in enumerate(game.action_sizes)]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        theta0 = np.zeros(int(offsets[-1]))
        args = (game.P_flat, game.r_flat, game.rho, game.gamma, theta0, offsets, sizes, K, beta_k, math.inf)
        reps = max(3, repeats // 2) if quick else repeats
        fused_s = time_one(lambda: exact.mappo_exact_ideal(*args, False), reps) / K
        lib_s = time_one(lambda: ma_ppo(game, K=K, beta=0.1, J_star=J_star), reps) / K
        lib_nokeep_s = time_one(lambda: ma_ppo(game, K=K, beta=0.1, J_star=J_star, keep_policies=False), reps) / K
        general_s = time_one(lambda: ma_ppo(game, K=K, beta=0.1, J_star=J_star, fused=False), reps) / K
        out.append(
            {
                "game": name,
                "n_states": game.n_states,
                "action_sizes": list(game.action_sizes),
                "iterations": K,
                "library_s": lib_s,
                "library_no_policies_s": lib_nokeep_s,
                "fused_s": fused_s,
                "general_s": general_s,
                "overhead": lib_s / fused_s,
                "overhead_no_policies": lib_nokeep_s / fused_s,
                "speedup_vs_general": general_s / lib_s,
            }
        )
        _log(
            progress,
            f"  one exact MA-PPO iteration, {name}: library {lib_s * 1e6:.3g} us, fused {fused_s * 1e6:.3g} us "
            f"(x{lib_s / fused_s:.2f}); general loop {general_s * 1e6:.3g} us",
        )
    return out


def bench_sparse(quick: bool, repeats: int, progress=None) -> dict:
    """The sparse gridworld: exact evaluation and MA-PPO without the dense tensor."""
    from ..algorithms import ma_ppo
    from ..evaluation import evaluate
    from ..games.catalogue import gridworld

    t0 = time.perf_counter()
    game = gridworld(width=10, height=10, n_agents=2, sparse=True)
    build_s = time.perf_counter() - t0
    S, J = game.n_states, game.n_joint_actions
    dense_bytes = 8 * S * J * S
    t_eval = time_one(lambda: evaluate(game), max(3, repeats // 2))
    mem = measure_memory(lambda: evaluate(game), game.nbytes)
    from ..evaluation import optimal_value

    t1 = time.perf_counter()
    sol = optimal_value(game)
    opt_s = time.perf_counter() - t1
    K_it = 3
    t1 = time.perf_counter()
    res = ma_ppo(game, K=K_it, beta=0.1, keep_policies=False, J_star=sol.J_star)
    it_s = (time.perf_counter() - t1) / K_it
    out = {
        "game": game.describe(),
        "n_states": S,
        "n_agents": game.n_agents,
        "n_joint_actions": J,
        "n_successors": game.n_successors,
        "game_bytes": int(game.nbytes),
        "dense_P_bytes": int(dense_bytes),
        "build_s": build_s,
        "evaluate_s": t_eval,
        "mappo_iteration_s": it_s,
        "mappo_K": K_it,
        "J": [float(x) for x in res.J],
        "J_star": float(sol.J_star),
        "optimal_value_s": opt_s,
        "memory_evaluate": mem,
        "dense_allocated": bool(mem["peak_traced_bytes"] > 0.5 * dense_bytes),
    }
    _log(
        progress,
        f"  sparse gridworld S={S}: evaluate {t_eval * 1e3:.3g} ms, MA-PPO iteration {it_s * 1e3:.3g} ms, "
        f"peak NumPy memory {mem['peak_traced_bytes'] / 1e6:.3g} MB vs dense P {dense_bytes / 1e9:.3g} GB",
    )
    out["rollouts"] = _sparse_rollout_rates(game, quick, repeats)
    _log(
        progress,
        f"  sparse rollouts S={S}: {out['rollouts']['numba_steps_per_s'] / 1e6:.2f} M steps/s "
        f"(NumPy twin {out['rollouts']['numpy_steps_per_s'] / 1e3:.1f} k steps/s)",
    )
    out["compact_iteration"] = _sparse_compact_iteration(game, sol.J_star, quick)
    _log(
        progress,
        f"  sampled compact MA-PPO iteration S={S}: {out['compact_iteration']['iteration_s']:.3g} s, "
        f"peak NumPy memory {out['compact_iteration']['memory']['peak_traced_bytes'] / 1e6:.3g} MB",
    )
    if not quick:
        t0 = time.perf_counter()
        g3 = gridworld(width=5, height=5, n_agents=3, sparse=True)
        b3 = time.perf_counter() - t0
        e3 = time_one(lambda: evaluate(g3), 3)
        out["three_agents"] = {
            "game": g3.describe(),
            "n_states": g3.n_states,
            "n_joint_actions": g3.n_joint_actions,
            "game_bytes": int(g3.nbytes),
            "dense_P_bytes": int(8 * g3.n_states**2 * g3.n_joint_actions),
            "build_s": b3,
            "evaluate_s": e3,
        }
        _log(progress, f"  sparse gridworld 3 agents S={g3.n_states}: evaluate {e3 * 1e3:.3g} ms")
        del g3
    return out


def _sparse_rollout_rates(game, quick: bool, repeats: int) -> dict:
    """Steps per second of the sparse rollout kernel and of its twin under the uniform policy."""
    import numpy as np

    from ..kernels import KERNELS
    from ..policies.conditional import uniform_tables
    from ..sampling import cumulative_tables, sparse_rollout_tables

    nxt, cum = sparse_rollout_tables(game)
    pc, off = cumulative_tables(uniform_tables(game.n_states, game.action_sizes))
    args = (
        nxt,
        cum,
        game.r_flat,
        game.gamma,
        pc,
        off,
        np.asarray(game.action_sizes, np.int64),
        np.arange(game.n_states, dtype=np.int64),
    )
    k = KERNELS["rollout_steps_sparse"]
    n_fast = 200_000 if quick else 2_000_000
    n_slow = 2_000 if quick else 10_000
    t = time_pair(lambda: k.numba(*args, n_fast, 0), lambda: k.numpy(*args, n_slow, 0), max(3, repeats // 2))
    fast, slow = n_fast / t["numba_s"], n_slow / t["numpy_s"]
    return {
        "numba_steps": n_fast,
        "numpy_steps": n_slow,
        "numba_steps_per_s": fast,
        "numpy_steps_per_s": slow,
        "ratio": fast / slow,
        "numba_s": t["numba_s"],
        "numpy_s": t["numpy_s"],
        "first_call_s": t["first_call_s"],
    }


def _sparse_compact_iteration(game, J_star: float, quick: bool) -> dict:
    """One sampled MA-PPO iteration (K = 1: two exact evaluations for J(π_0), J(π_1) included) with the compact
    gridworld features, Monte Carlo Q̂ on the successor lists and Algorithm 3, as in the book's chapter."""
    from ..algorithms import ma_ppo
    from ..policies.families import resolve_features

    feats = resolve_features(game, "gridworld")
    T, n_rollouts = (1000, 2) if quick else (3000, 4)

    def run():
        return ma_ppo(
            game,
            K=1,
            beta=0.05,
            solver="sgd",
            evaluation="mc",
            features=feats,
            T=T,
            n_rollouts=n_rollouts,
            sgd_init="previous",
            J_star=J_star,
            keep_policies=False,
        )

    run()  # compile / load the kernels
    t0 = time.perf_counter()
    run()
    it_s = time.perf_counter() - t0
    mem = measure_memory(run, game.nbytes)
    return {
        "features": "gridworld",
        "dims": [f.dim for f in feats],
        "T": T,
        "n_rollouts": n_rollouts,
        "iteration_s": it_s,
        "memory": mem,
        "dense_allocated": bool(mem["peak_traced_bytes"] > 0.5 * 8 * game.n_states**2 * game.n_joint_actions),
    }


def bench_quantecon(quick: bool, repeats: int, progress=None) -> dict:
    """Our policy iteration / policy evaluation against QuantEcon's DiscreteDP on the joint-action MDP."""
    import numpy as np

    try:
        import quantecon
        from quantecon.markov import DiscreteDP
    except ImportError:
        return {"available": False, "reason": "quantecon is not installed (pip install quantecon)"}
    from ..evaluation import evaluate, optimal_value
    from ..games.catalogue import gridworld

    cases = [("random S=50, N=2, |A|=5", dense_game(50, (5, 5), seed=5))]
    if not quick:
        cases.append(("random S=200, N=2, |A|=5", dense_game(200, (5, 5), seed=6)))
        cases.append(("gridworld 4x4, N=2 (dense)", gridworld(width=4, height=4, n_agents=2)))
    out = {"available": True, "version": quantecon.__version__, "cases": []}
    for name, game in cases:
        R, Q = game.r_flat, game.P_flat
        ddp = DiscreteDP(R, Q, game.gamma)
        ours = optimal_value(game)
        theirs = ddp.solve(method="policy_iteration")
        t = time_pair(lambda: optimal_value(game), lambda: ddp.solve(method="policy_iteration"), max(3, repeats // 2))
        greedy = np.ravel_multi_index(tuple(ours.greedy.T), game.action_sizes)
        pi = np.zeros((game.n_states, game.n_joint_actions))
        pi[np.arange(game.n_states), greedy] = 1.0
        te = time_pair(
            lambda: evaluate(game, _joint_tables(game, pi)), lambda: ddp.evaluate_policy(greedy), max(3, repeats // 2)
        )
        out["cases"].append(
            {
                "game": name,
                "n_states": game.n_states,
                "n_joint_actions": game.n_joint_actions,
                "ours_policy_iteration_s": t["numba_s"],
                "quantecon_policy_iteration_s": t["numpy_s"],
                "ratio": t["ratio"],
                "ours_evaluate_s": te["numba_s"],
                "quantecon_evaluate_policy_s": te["numpy_s"],
                "evaluate_ratio": te["ratio"],
                "max_abs_diff_V_star": float(np.max(np.abs(ours.V_star - theirs.v))),
                "ours_iterations": int(ours.iterations),
                "quantecon_iterations": int(theirs.num_iter),
                "note": "ours: policy iteration with numba kernels; evaluate() also computes Q, Q^{1:m}, the occupancy",
            }
        )
        _log(
            progress, f"  QuantEcon {name}: ours {t['numba_s'] * 1e3:.3g} ms vs DiscreteDP {t['numpy_s'] * 1e3:.3g} ms"
        )
    return out


def _joint_tables(game, pi_joint):
    from ..evaluation import joint_to_tables

    return joint_to_tables(game, pi_joint)


_FIRST_RESULT_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import mappo_lite
t1 = time.perf_counter()
from mappo_lite import evaluate, make_game
game = make_game("climbing")
t2 = time.perf_counter()
ev = evaluate(game)
t3 = time.perf_counter()
out = {"import_s": t1 - t0, "make_game_s": t2 - t1, "first_evaluate_s": t3 - t2, "total_s": t3 - t0}
if "--compile-all" in sys.argv:
    import numpy as np
    from mappo_lite import kernels as K, ma_ppo
    from mappo_lite.games.sparse import sparse_from_dense
    comp = {}
    def first(name, fn):
        t = time.perf_counter(); fn(); comp[name] = time.perf_counter() - t
    x = np.zeros((3, 2)); phi = np.zeros((3, 2, 2)) + 0.5
    first("softmax_rows+log_softmax_rows", lambda: (K.softmax_rows(x), K.log_softmax_rows(x)))
    first("tabular_softmax_score", lambda: K.tabular_softmax_score(x))
    first("softmax_score", lambda: K.softmax_score(phi, np.zeros(2)))
    first("ma_ppo exact: mappo_exact_ideal + policy_iteration", lambda: ma_ppo(game, K=1))
    first("ma_ppo sampled: mc_localized_q + projected_sgd_tabular", lambda: ma_ppo(game, K=1, solver="sgd", evaluation="mc", T=10, n_rollouts=1))
    i = np.zeros(2, np.int64)
    first("projected_sgd", lambda: K.projected_sgd(phi, i, i, np.zeros(2), np.zeros(2), np.zeros(2), 0.25, 1.0))
    from mappo_lite.sampling import cumulative_transitions, cumulative_tables
    pc, off = cumulative_tables(ev.tables)
    first("rollout_steps", lambda: K.rollout_steps(cumulative_transitions(game), game.r_flat, game.gamma, pc, off, np.asarray(game.action_sizes, np.int64), np.zeros(1, np.int64), 10, 0))
    first("stream_read", lambda: K.stream_read(np.zeros(8)))
    first("sparse evaluate (sparse_policy_csr, sparse_q_from_v)", lambda: evaluate(sparse_from_dense(game)))
    out["compile_s"] = comp
print(json.dumps(out))
"""


def bench_first_result(progress=None, timeout: float = 600.0, compile_all: bool = True) -> dict:
    """Time ``import mappo_lite`` + the first ``evaluate`` in fresh processes, numba cache cold then warm (and, with
    ``compile_all``, the first call of every other kernel with a cold cache in between)."""
    import subprocess
    import tempfile

    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = {"game": "climbing", "script": "import mappo_lite; evaluate(make_game('climbing'))"}
    with tempfile.TemporaryDirectory(prefix="mappo-numba-cache-") as cache:
        env = dict(os.environ)
        env["NUMBA_CACHE_DIR"] = cache
        env["PYTHONPATH"] = pkg_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        # cold: empty cache (evaluate's kernels are compiled); compile_all: the other kernels, still uncached, each
        # timed on its first call; warm: the same first result again, every kernel now loaded from the cache
        runs = [("cold", []), ("compile_all", ["--compile-all"]), ("warm", [])]
        for label, extra in runs if compile_all else [runs[0], runs[2]]:
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", _FIRST_RESULT_SCRIPT, *extra],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                out[label] = {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
                continue
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            res["process_wall_s"] = wall
            out[label] = res
            if label != "compile_all":
                _log(
                    progress,
                    f"  first result ({label} numba cache): {res['total_s']:.2f} s in-process, "
                    f"{wall:.2f} s with interpreter start",
                )
    return out


def compile_stats() -> dict:
    """numba's cache hits/misses per jitted function of the kernel registry's modules in this process (after the
    run): :func:`mappo_lite.kernels.jitted_functions`."""
    from ..kernels import jitted_functions

    out = {}
    for name, obj in jitted_functions().items():
        stats = obj.stats
        out[name] = {
            "signatures": len(obj.signatures),
            "cache_hits": int(sum(stats.cache_hits.values())),
            "cache_misses": int(sum(stats.cache_misses.values())),
        }
    return out


# ----------------------------------------------------------------------------------------------------------------
# targets and report
# ----------------------------------------------------------------------------------------------------------------
def evaluate_targets(res: dict) -> list:
    """The targets of issue 6, each PASS or FAIL as measured in ``res`` (NOT MEASURED where the run skipped what it needs)."""
    targets = []

    def add(name, description, ok, measured, threshold, detail=""):
        targets.append(
            {
                "name": name,
                "description": description,
                # a target the run did not measure (quick mode skips the largest sizes) is neither met nor missed
                "status": "NOT MEASURED" if measured is None else ("PASS" if ok else "FAIL"),
                "measured": measured,
                "threshold": threshold,
                "detail": detail,
            }
        )

    pairs = []
    for sec in ("softmax_score", "backward_sweep", "exact_evaluation", "algorithm3", "mappo_iteration", "rollouts"):
        for row in res.get(sec, []):
            pairs.append((row["ratio"], sec, _label(sec, row)))
            for part, v in row.get("parts", {}).items():
                if part != "solves":
                    pairs.append((v["ratio"], f"{sec}.{part}", _label(sec, row)))
    if pairs:
        worst = min(pairs)
        below = [p for p in pairs if p[0] < 1.0]
        slower = [p for p in pairs if p[0] < 1.0 - NEVER_SLOWER_TOLERANCE]
        add(
            "numba_never_slower",
            f"numba never slower than the NumPy reference, at any size (every ratio >= {1 - NEVER_SLOWER_TOLERANCE:g}: "
            "ties at the memory bandwidth are within the noise)",
            not slower,
            worst[0],
            1.0 - NEVER_SLOWER_TOLERANCE,
            f"slowest case: {worst[1]} {worst[2]} (x{worst[0]:.2f}); {len(below)} of {len(pairs)} cases below 1"
            + ("; " + ", ".join(f"{s} {lab} x{r:.2f}" for r, s, lab in below) if below else ""),
        )
    big = [r for r in res.get("exact_evaluation", []) if r["P_bytes"] >= 100e6]
    if big:
        worst = max(big, key=lambda r: r["bound_ratio"])
        add(
            "bandwidth_bound",
            "exact evaluation of a dense game of >= 100 MB within 2x of 2*bytes(P)/bandwidth",
            worst["bound_ratio"] <= 2.0,
            worst["bound_ratio"],
            2.0,
            "; ".join(
                f"P {r['P_bytes'] / 1e6:.0f} MB: {r['numba_s'] * 1e3:.1f} ms vs bound {r['bound_s'] * 1e3:.1f} ms "
                f"(x{r['bound_ratio']:.2f}) at {r['bandwidth_GBps']:.1f} GB/s"
                for r in big
            ),
        )
    else:
        add(
            "bandwidth_bound",
            "exact evaluation of a dense game of >= 100 MB within 2x of the bandwidth bound",
            False,
            None,
            2.0,
            "not measured (quick mode stops below 100 MB)",
        )
    lo, hi = FUSED_TARGET_CONTEXTS
    fused = [
        (f"softmax+score {_label('softmax_score', r)}", r["n_contexts"], r)
        for r in res.get("softmax_score", [])
        if lo <= r["n_contexts"] <= hi and "floor_ratio" in r
    ]
    fused += [
        (f"backward sweep {_label('backward_sweep', r)}", r["n_entries"], r)
        for r in res.get("backward_sweep", [])
        if lo <= r["n_entries"] <= hi and "floor_ratio" in r
    ]
    if fused:
        # every decade from 1e3 to 1e6 must be measured for the verdict "PASS" (quick mode stops at 1e5)
        decades = {round(math.log10(n)) for _, n, _ in fused}
        complete = decades >= set(range(round(math.log10(lo)), round(math.log10(hi)) + 1))

        def verdict(bad, description, name, measured, threshold):
            detail = (f"{len(bad)} of {len(fused)} cases miss it" if bad else f"all {len(fused)} cases meet it") + (
                "; "
                + ", ".join(
                    f"{lab} x{r['ratio']:.2f} vs twin, x{r['einsum_ratio']:.2f} vs einsum, "
                    f"{r['floor_ratio']:.2f} x floor"
                    for lab, _, r in bad
                )
                if bad
                else ""
            )
            if not complete and not bad:
                measured, detail = None, detail + f" (sizes above {max(n for _, n, _ in fused):g} not measured)"
            add(name, description, not bad, measured, threshold, detail)

        bad = [f for f in fused if not (f[2]["ratio"] >= 3.0 or f[2]["floor_ratio"] <= 1.5)]
        verdict(
            bad,
            "fused kernels (softmax+score, backward sweep) >= 3x their NumPy twin or within 1.5x of their memory floor "
            "(streaming the inputs once + writing fresh outputs, measured at the same size), at every size from 1e3 to "
            "1e6 contexts",
            "fused_3x_or_floor",
            min(max(r["ratio"] / 3.0, 1.5 / r["floor_ratio"]) for _, _, r in fused),
            1.0,
        )
        bad = [f for f in fused if f[2]["einsum_ratio"] < 1.0 - NEVER_SLOWER_TOLERANCE]
        verdict(
            bad,
            f"fused kernels never slower than a well-written NumPy version (einsum, out=, no extra copies) at any size "
            f"from 1e3 to 1e6 contexts (every ratio >= {1 - NEVER_SLOWER_TOLERANCE:g})",
            "fused_vs_einsum",
            min(r["einsum_ratio"] for _, _, r in fused),
            1.0 - NEVER_SLOWER_TOLERANCE,
        )
    over = res.get("mappo_overhead", [])
    if over:
        worst = max(over, key=lambda r: max(r["overhead"], r["overhead_no_policies"]))
        add(
            "mappo_overhead_3x",
            f"one exact MA-PPO iteration (ma_ppo, K={OVERHEAD_K}, with and without keeping the iterates) within 3x "
            "of the fused single-kernel reference on climbing, two_step and a 50-state random game",
            all(max(r["overhead"], r["overhead_no_policies"]) <= 3.0 for r in over),
            max(worst["overhead"], worst["overhead_no_policies"]),
            3.0,
            "; ".join(
                f"{r['game']}: {r['library_s'] * 1e6:.3g} us vs fused {r['fused_s'] * 1e6:.3g} us (x{r['overhead']:.2f}, "
                f"x{r['overhead_no_policies']:.2f} without the iterates; general loop {r['general_s'] * 1e6:.3g} us)"
                for r in over
            ),
        )
    qe = res.get("quantecon")
    if qe is not None:
        cases = qe.get("cases", []) if qe.get("available") else []
        worst = min(cases, key=lambda c: c["ratio"]) if cases else None
        add(
            "quantecon_1x",
            "exact solve (policy iteration: V*, J* and a greedy optimal joint action) at least as fast as QuantEcon's "
            "DiscreteDP(...).solve('policy_iteration') on every case of the comparison (aim 2x)",
            bool(cases) and all(c["ratio"] >= 1.0 for c in cases),
            None if worst is None else worst["ratio"],
            1.0,
            "; ".join(
                f"{c['game']}: x{c['ratio']:.2f} ({_fmt_s(c['ours_policy_iteration_s'])} vs "
                f"{_fmt_s(c['quantecon_policy_iteration_s'])})"
                for c in cases
            )
            or f"not measured ({qe.get('reason', 'no cases')})",
        )
    rolls = [r for r in res.get("rollouts", []) if r["n_agents"] <= 4]
    if rolls:
        worst = min(rolls, key=lambda r: r["numba_steps_per_s"])
        add(
            "rollouts_1e6",
            "Monte Carlo rollouts >= 1e6 environment steps/s on one core for N <= 4",
            worst["numba_steps_per_s"] >= 1e6,
            worst["numba_steps_per_s"],
            1e6,
            ", ".join(f"S={r['n_states']} N={r['n_agents']}: {r['numba_steps_per_s'] / 1e6:.2f} M/s" for r in rolls),
        )
    fr = res.get("first_result", {})
    warm = fr.get("warm", {})
    if "total_s" in warm:
        add(
            "first_result_3s",
            "import mappo_lite + first evaluate < 3 s with a warm numba cache (fresh process)",
            warm["process_wall_s"] < 3.0,
            warm["process_wall_s"],
            3.0,
            f"warm: {warm['total_s']:.2f} s in-process, {warm['process_wall_s']:.2f} s with interpreter start; cold: "
            f"{fr.get('cold', {}).get('total_s', float('nan')):.2f} s in-process, "
            f"{fr.get('cold', {}).get('process_wall_s', float('nan')):.2f} s with interpreter start",
        )
    mems = [
        r
        for r in res.get("exact_evaluation", [])
        if r["memory"].get("rss_multiple") is not None and r["P_bytes"] >= 1e6
    ]
    if mems:
        worst = max(mems, key=lambda r: max(r["memory"]["rss_multiple"], r["memory"]["traced_multiple"]))
        m = max(worst["memory"]["rss_multiple"], worst["memory"]["traced_multiple"])
        add(
            "memory_small_multiple",
            "exact evaluation allocates at most 1x the game's size (games >= 1 MB)",
            m <= 1.0,
            m,
            1.0,
            f"worst: P {worst['P_bytes'] / 1e6:.3g} MB, extra {m:.3f} x game size",
        )
    sp_ = res.get("sparse")
    if sp_:
        add(
            "sparse_no_dense",
            "sparse gridworld (>= 1e4 states) evaluated and trained without the dense tensor",
            sp_["n_states"] >= 1e4 and not sp_["dense_allocated"],
            sp_["memory_evaluate"]["peak_traced_bytes"],
            sp_["dense_P_bytes"],
            f"peak NumPy allocation {sp_['memory_evaluate']['peak_traced_bytes'] / 1e6:.3g} MB vs "
            f"dense P {sp_['dense_P_bytes'] / 1e9:.3g} GB",
        )
    return targets


def _label(section: str, row: dict) -> str:
    if section == "softmax_score":
        return f"({row['features']}, n={row['n_contexts']:g}, A={row['n_actions']})"
    if section == "backward_sweep":
        return f"(S*|A|={row['n_entries']:g})"
    if section == "exact_evaluation":
        return f"(P={row['P_entries']:g} entries)"
    if section == "algorithm3":
        return f"({row['features']})"
    if section == "mappo_iteration":
        return f"({row['name']}, {row['kind']})"
    if section == "rollouts":
        return f"(S={row['n_states']}, N={row['n_agents']})"
    return ""


def _fmt_s(x) -> str:
    if x is None:
        return "-"
    if x < 1e-3:
        return f"{x * 1e6:.1f} us"
    if x < 1:
        return f"{x * 1e3:.2f} ms"
    return f"{x:.2f} s"


def format_report(res: dict) -> str:
    """The human-readable report: tables per section, then one PASS/FAIL line per target."""
    m = res["machine"]
    lines = [
        f"mappo_lite bench ({'quick' if res['quick'] else 'full'}) on {m['cpu']}, {m['logical_cpus']} CPUs, "
        f"{(m['memory_bytes'] or 0) / 2**30:.1f} GiB; numpy {m['numpy']}, numba {m['numba']}; "
        f"load average {m['loadavg_start'][0]:.2f} -> {m['loadavg_end'][0]:.2f}; {res['seconds']:.0f} s",
        "ratio = NumPy time / numba time (median of alternating repetitions)",
        "",
    ]

    def table(title, header, rows):
        lines.append(title)
        widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
        lines.append("  " + "  ".join(str(h).rjust(w) for h, w in zip(header, widths)))
        for r in rows:
            lines.append("  " + "  ".join(str(c).rjust(w) for c, w in zip(r, widths)))
        lines.append("")

    st = res.get("streaming")
    if st:
        lines.append(
            f"streaming bandwidth (memory floors of the fused kernels): read {st['read_GBps']:.1f} GB/s, "
            f"write into a fresh array {st['write_GBps']:.1f} GB/s ({st['bytes'] / 2**20:.0f} MiB)"
        )
        lines.append("")

    def fused_cols(r):
        return [
            _fmt_s(r["numba_s"]),
            _fmt_s(r["numpy_s"]),
            f"{r['ratio']:.2f}",
            _fmt_s(r["einsum_s"]) if "einsum_s" in r else "-",
            f"{r['einsum_ratio']:.2f}" if "einsum_ratio" in r else "-",
            _fmt_s(r["floor_s"]) if "floor_s" in r else "-",
            f"{r['floor_ratio']:.2f}" if "floor_ratio" in r else "-",
        ]

    fused_head = ["numba", "twin", "x twin", "einsum", "x einsum", "floor", "numba/floor"]
    table(
        "softmax + score over all contexts",
        ["features", "contexts", "|A|", "d", *fused_head],
        [
            [r["features"], f"{r['n_contexts']:g}", r["n_actions"], r["dim"], *fused_cols(r)]
            for r in res.get("softmax_score", [])
        ],
    )
    table(
        "backward sweep Q -> Q^{1:m}",
        ["S", "A", "S*|A|", *fused_head],
        [
            [r["n_states"], "x".join(map(str, r["action_sizes"])), f"{r['n_entries']:g}", *fused_cols(r)]
            for r in res.get("backward_sweep", [])
        ],
    )
    table(
        "exact evaluation (evaluate) on dense games",
        ["S", "A", "P entries", "P MB", "numba", "numpy", "ratio", "GB/s", "bound", "time/bound", "extra mem/game"],
        [
            [
                r["n_states"],
                "x".join(map(str, r["action_sizes"])),
                f"{r['P_entries']:.3g}",
                f"{r['P_bytes'] / 1e6:.3g}",
                _fmt_s(r["numba_s"]),
                _fmt_s(r["numpy_s"]),
                f"{r['ratio']:.2f}",
                f"{r['bandwidth_GBps']:.1f}",
                _fmt_s(r["bound_s"]),
                f"{r['bound_ratio']:.2f}",
                "-" if r["memory"].get("rss_multiple") is None else f"{r['memory']['rss_multiple']:.3f}",
            ]
            for r in res.get("exact_evaluation", [])
        ],
    )
    big = res.get("exact_evaluation", [])
    if big:
        r = big[-1]
        lines.append(
            f"  parts of the largest case (P {r['P_bytes'] / 1e6:.0f} MB): "
            + ", ".join(f"{k} {_fmt_s(v['numba_s'])} (numpy {_fmt_s(v['numpy_s'])})" for k, v in r["parts"].items())
        )
        lines.append("")
    table(
        "Monte Carlo rollouts",
        ["S", "A", "numba steps/s", "numpy steps/s", "ratio"],
        [
            [
                r["n_states"],
                "x".join(map(str, r["action_sizes"])),
                f"{r['numba_steps_per_s']:.3g}",
                f"{r['numpy_steps_per_s']:.3g}",
                f"{r['ratio']:.0f}",
            ]
            for r in res.get("rollouts", [])
        ],
    )
    table(
        "Algorithm 3 (one solve)",
        ["features", "T", "d", "numba", "numpy", "ratio"],
        [
            [r["features"], r["T"], r["dim"], _fmt_s(r["numba_s"]), _fmt_s(r["numpy_s"]), f"{r['ratio']:.1f}"]
            for r in res.get("algorithm3", [])
        ],
    )
    table(
        "one MA-PPO iteration (J* excluded)",
        ["size", "kind", "numba", "numpy", "ratio"],
        [
            [r["name"], r["kind"], _fmt_s(r["numba_s"]), _fmt_s(r["numpy_s"]), f"{r['ratio']:.2f}"]
            for r in res.get("mappo_iteration", [])
        ],
    )
    table(
        f"one exact MA-PPO iteration on small games (K={OVERHEAD_K}): the library against the fused reference",
        ["game", "ma_ppo", "without iterates", "fused kernel", "overhead", "general loop"],
        [
            [
                r["game"],
                _fmt_s(r["library_s"]),
                _fmt_s(r["library_no_policies_s"]),
                _fmt_s(r["fused_s"]),
                f"{r['overhead']:.2f} / {r['overhead_no_policies']:.2f}",
                _fmt_s(r["general_s"]),
            ]
            for r in res.get("mappo_overhead", [])
        ],
    )
    sp_ = res.get("sparse")
    if sp_:
        lines.append(
            f"sparse gridworld: {sp_['game']}: {sp_['game_bytes'] / 1e6:.3g} MB (dense P would be "
            f"{sp_['dense_P_bytes'] / 1e9:.3g} GB); evaluate {_fmt_s(sp_['evaluate_s'])}, MA-PPO iteration "
            f"{_fmt_s(sp_['mappo_iteration_s'])}, J* by policy iteration {_fmt_s(sp_['optimal_value_s'])}"
            + (
                f"; sparse rollouts {sp_['rollouts']['numba_steps_per_s'] / 1e6:.2f} M steps/s (NumPy twin "
                f"{sp_['rollouts']['numpy_steps_per_s'] / 1e3:.1f} k steps/s); one sampled compact-feature MA-PPO "
                f"iteration {_fmt_s(sp_['compact_iteration']['iteration_s'])}"
                if "rollouts" in sp_
                else ""
            )
        )
        if "three_agents" in sp_:
            t3 = sp_["three_agents"]
            lines.append(
                f"  3 agents: {t3['game']}: evaluate {_fmt_s(t3['evaluate_s'])} (dense P would be "
                f"{t3['dense_P_bytes'] / 1e9:.3g} GB)"
            )
        lines.append("")
    qe = res.get("quantecon", {})
    if qe.get("available"):
        table(
            f"QuantEcon DiscreteDP {qe['version']} (joint-action MDP)",
            ["game", "ours PI", "DiscreteDP PI", "ratio", "ours evaluate", "DDP evaluate_policy", "|dV*|"],
            [
                [
                    c["game"],
                    _fmt_s(c["ours_policy_iteration_s"]),
                    _fmt_s(c["quantecon_policy_iteration_s"]),
                    f"{c['ratio']:.2f}",
                    _fmt_s(c["ours_evaluate_s"]),
                    _fmt_s(c["quantecon_evaluate_policy_s"]),
                    f"{c['max_abs_diff_V_star']:.1e}",
                ]
                for c in qe["cases"]
            ],
        )
    elif qe:
        lines += [f"QuantEcon: {qe.get('reason')}", ""]
    fr = res.get("first_result")
    if fr:
        for label in ("cold", "warm"):
            v = fr.get(label, {})
            if "total_s" in v:
                lines.append(
                    f"first result, {label} numba cache: import {v['import_s']:.2f} s + first evaluate "
                    f"{v['first_evaluate_s']:.2f} s = {v['total_s']:.2f} s ({v['process_wall_s']:.2f} s "
                    f"with interpreter start)"
                )
        comp = fr.get("compile_all", {}).get("compile_s")
        if comp:
            lines.append(
                "  first call with a cold cache (compile) of the other kernels: "
                + ", ".join(f"{k} {v:.2f} s" for k, v in comp.items())
            )
        lines.append("")
    mem = res.get("memory", {})
    if mem:
        lines += [f"peak resident memory of the benchmark process: {mem['maxrss_bytes'] / 2**30:.2f} GiB", ""]
    lines.append("targets:")
    for t in res.get("targets", []):
        lines.append(f"  {t['status']}  {t['description']}: {t['detail']}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------
# figure
# ----------------------------------------------------------------------------------------------------------------
#: What :func:`plot_benchmark` can show.
PLOT_SECTIONS = ("exact_evaluation", "softmax_score", "backward_sweep", "overview")


def committed_results_path():
    """The benchmark run shipped with the package (``mappo_lite/data/bench_results.json``, read by the appendix)."""
    from importlib.resources import files

    return files("mappo_lite") / "data" / "bench_results.json"


def load_results(path=None) -> dict:
    """Read a benchmark JSON file (as written by ``bench --json``), by default the run shipped with the package;
    checks the format version."""
    from ..errors import MappoLiteError

    path = committed_results_path() if path is None else path
    with open(path) as fh:
        try:
            res = json.load(fh)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MappoLiteError(f"{path}: not a benchmark results file (not JSON: {exc})") from None
    if not isinstance(res, dict) or res.get("schema") != SCHEMA:
        schema = res.get("schema") if isinstance(res, dict) else None
        raise MappoLiteError(f"{path}: benchmark results of schema {schema!r}, expected {SCHEMA}")
    return res


def plot_benchmark(results: dict, section: str = "exact_evaluation", features: str = "tabular"):
    """A two-panel :class:`matplotlib.figure.Figure` of one section of the results (built without pyplot).

    ``exact_evaluation``: time of ``evaluate`` (numba, NumPy) and the bandwidth bound against the bytes of P, and
    the ratio time / bound with the 2x target. ``softmax_score`` (``features`` "tabular" or "dense") and
    ``backward_sweep``: times (numba, NumPy twin, memory floor) against the number of contexts, and the speed-ups
    over the twin and over the einsum reference, with the 3x line and the judged range 1e3..1e6 shaded.
    ``overview``: every side-by-side speed-up of the run, per section, with the "never slower" line.
    """
    import numpy as np
    from matplotlib.figure import Figure

    if section not in PLOT_SECTIONS:
        raise ValueError(f"unknown section {section!r}: use one of {', '.join(PLOT_SECTIONS)}")
    # log-log panels: a fixed layout (constrained layout's tick measuring cost more than the rest of a redraw)
    fig = Figure(figsize=(10.5, 4.0), layout="constrained" if section == "overview" else None)
    ax1, ax2 = fig.subplots(1, 2)
    if section != "overview":
        fig.subplots_adjust(left=0.075, right=0.99, bottom=0.13, top=0.9, wspace=0.28)
    m = results["machine"]
    if section == "exact_evaluation":
        rows = results["exact_evaluation"]
        x = [r["P_bytes"] for r in rows]
        ax1.loglog(x, [r["numba_s"] for r in rows], "o-", label="numba kernels")
        ax1.loglog(x, [r["numpy_s"] for r in rows], "s--", label="NumPy twins")
        ax1.loglog(x, [r["bound_s"] for r in rows], "k:", label="bound 2·bytes(P)/bandwidth")
        ax1.set_xlabel("bytes of the dense tensor P")
        ax1.set_ylabel("time of one exact evaluation (s)")
        ax2.loglog(x, [r["bound_ratio"] for r in rows], "o-", label="numba time / bound")
        ax2.loglog(x, [r["numpy_s"] / r["bound_s"] for r in rows], "s--", label="NumPy time / bound")
        ax2.axhline(2.0, color="C3", lw=1, label="target: 2x the bound")
        ax2.axvline(100e6, color="0.6", lw=1, ls="-.", label="100 MB")
        ax2.set_xlabel("bytes of the dense tensor P")
        ax2.set_ylabel("time / bandwidth bound")
    elif section in ("softmax_score", "backward_sweep"):
        if section == "softmax_score":
            rows = [r for r in results["softmax_score"] if r["features"] == features]
            groups = sorted({r["n_actions"] for r in rows})
            key, label = "n_contexts", f"contexts ({features} features)"
            series = [(f"|A|={A}", [r for r in rows if r["n_actions"] == A]) for A in groups]
        else:
            rows = results["backward_sweep"]
            key, label = "n_entries", "entries S·|A| of Q"
            series = [("", rows)]
        for i, (name, rs) in enumerate(series):
            x = [r[key] for r in rs]
            ax1.loglog(x, [r["numba_s"] for r in rs], "o-", color=f"C{i}", label=f"numba {name}".strip())
            ax1.loglog(
                x, [r["numpy_s"] for r in rs], "s--", color=f"C{i}", alpha=0.6, label=f"NumPy twin {name}".strip()
            )
            ax2.semilogx(x, [r["ratio"] for r in rs], "o-", color=f"C{i}", label=f"vs twin {name}".strip())
            if "floor_s" in rs[0]:
                ax1.loglog(
                    x, [r["floor_s"] for r in rs], ":", color=f"C{i}", alpha=0.9, label=f"memory floor {name}".strip()
                )
                ax2.semilogx(
                    x,
                    [r["einsum_ratio"] for r in rs],
                    "^--",
                    color=f"C{i}",
                    alpha=0.6,
                    label=f"vs einsum {name}".strip(),
                )
        ax2.axhline(3.0, color="C3", lw=1, label="3x (or within 1.5x of the floor)")
        ax2.axhline(1.0, color="k", lw=0.8)
        ax2.axvspan(*FUSED_TARGET_CONTEXTS, color="0.93", zorder=0)
        ax1.set_xlabel(label)
        ax1.set_ylabel("time (s)")
        ax2.set_xlabel(label)
        ax2.set_ylabel("speed-up: NumPy time / numba time")
        ax2.set_ylim(bottom=0)
    else:
        secs = [
            s_
            for s_ in (
                "softmax_score",
                "backward_sweep",
                "exact_evaluation",
                "exact_evaluation_parts",
                "algorithm3",
                "mappo_iteration",
                "rollouts",
            )
            if results.get(s_) or (s_ == "exact_evaluation_parts" and results.get("exact_evaluation"))
        ]
        for i, sec in enumerate(secs):
            if sec == "exact_evaluation_parts":
                ratios = [
                    v["ratio"] for r in results["exact_evaluation"] for k, v in r["parts"].items() if k != "solves"
                ]
            else:
                ratios = [r["ratio"] for r in results[sec]]
            ax1.scatter(np.full(len(ratios), i) + np.linspace(-0.25, 0.25, len(ratios)), ratios, s=14, color=f"C{i}")
        ax1.axhline(1.0, color="k", lw=0.8, label="numba = NumPy")
        ax1.set_yscale("log")
        ax1.set_xticks(range(len(secs)), [s_.replace("_", " ") for s_ in secs], rotation=30, ha="right")
        ax1.set_ylabel("speed-up: NumPy time / numba time")
        tg = results.get("targets", [])
        ax2.barh(range(len(tg)), [1] * len(tg), color=[{"PASS": "C2", "FAIL": "C3"}.get(t["status"], "C7") for t in tg])
        ax2.set_yticks(range(len(tg)), [t["name"] for t in tg])
        for i, t in enumerate(tg):
            ax2.text(0.5, i, t["status"], ha="center", va="center", color="white", fontweight="bold")
        ax2.set_xticks([])
        ax2.invert_yaxis()
        ax2.set_title("targets as measured")
    for ax in (ax1, ax2):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        ax.grid(True, which="major", alpha=0.3)
    fig.suptitle(
        f"{section.replace('_', ' ')} on {m['cpu']} ({m['logical_cpus']} CPUs), load average "
        f"{m['loadavg_start'][0]:.1f}, {m['date'][:10]}",
        fontsize=9,
    )
    return fig


def sparse_gridworld_run(
    width: int = 10,
    height: int = 10,
    n_agents: int = 2,
    K: int = 20,
    beta: float = 0.1,
    slip: float = 0.1,
    gamma: float = 0.9,
    progress=None,
) -> dict:
    """Build the coordination gridworld in sparse form, evaluate the uniform policy exactly (time, peak NumPy memory
    by tracemalloc, Bellman residual) and run K iterations of MA-PPO (ideal step, exact evaluation). J* is computed
    once by policy iteration. Returns a dict for :func:`plot_sparse_run`.

    ``progress(done, stage)``, if given, is called as the run goes, ``done`` of K + 4 steps, ``stage`` naming what
    runs next: 1 once the game is built (``"evaluate"``), 2 once it is evaluated (``"J*"``, by policy iteration), 3
    once J* is known and then 4 + k once MA-PPO's π_k is evaluated, up to K + 4 (``"MA-PPO"``)."""
    report = progress if progress is not None else (lambda done, stage: None)
    import tracemalloc

    import numpy as np

    from ..algorithms import ma_ppo
    from ..evaluation import evaluate, optimal_value
    from ..games.catalogue import gridworld

    t0 = time.perf_counter()
    game = gridworld(width=width, height=height, n_agents=n_agents, slip=slip, gamma=gamma, sparse=True)
    build_s = time.perf_counter() - t0
    report(1, "evaluate")
    S, J = game.n_states, game.n_joint_actions
    evaluate(game)  # compile / load the kernels before timing
    t0 = time.perf_counter()
    ev = evaluate(game)
    eval_s = time.perf_counter() - t0
    tracemalloc.start()  # a second, untimed evaluation for the memory (tracemalloc slows allocations down)
    try:
        evaluate(game)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    residual = float(np.abs(ev.V - ev.r_pi - game.gamma * (ev.P_pi @ ev.V)).max())
    report(2, "J*")
    t0 = time.perf_counter()
    sol = optimal_value(game)
    opt_s = time.perf_counter() - t0
    report(3, "MA-PPO")
    t0 = time.perf_counter()
    res = ma_ppo(
        game, K=K, beta=beta, keep_policies=False, J_star=sol.J_star, callback=lambda k: report(4 + k, "MA-PPO")
    )
    train_s = time.perf_counter() - t0
    return {
        "game": game.describe(),
        "n_states": S,
        "n_agents": game.n_agents,
        "n_joint_actions": J,
        "game_bytes": int(game.nbytes),
        "dense_P_bytes": int(8 * S * J * S),
        "build_s": build_s,
        "evaluate_s": eval_s,
        "evaluate_peak_traced_bytes": int(peak),
        "bellman_residual": residual,
        "J_uniform": float(ev.J),
        "J_star": float(sol.J_star),
        "optimal_value_s": opt_s,
        "policy_iterations": int(sol.iterations),
        "K": int(K),
        "beta": float(beta),
        "J": [float(x) for x in res.J],
        "train_s": train_s,
        "iteration_s": train_s / K,
    }


def plot_sparse_run(data: dict):
    """J(π_k) of MA-PPO on the sparse gridworld with J*, and the memory it used against the dense tensor."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.5, 3.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[3, 2])
    k = range(len(data["J"]))
    ax1.plot(k, data["J"], "o-", ms=3, label=r"MA-PPO $J(\pi_k)$ (ideal step, exact $Q^{1:m}$)")
    ax1.axhline(data["J_star"], color="k", ls="--", lw=1, label=r"$J^\star$ (policy iteration)")
    ax1.set_xlabel("iteration k")
    ax1.set_ylabel(r"$J(\pi_k)$")
    ax1.set_title(
        f"{data['game']}, beta={data['beta']:g}, {data['iteration_s'] * 1e3:.0f} ms per iteration", fontsize=8
    )
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3)
    names = ["game (successor lists)", "peak NumPy memory\nof one evaluation", "dense tensor P\n(never allocated)"]
    vals = [data["game_bytes"], data["evaluate_peak_traced_bytes"], data["dense_P_bytes"]]
    ax2.barh(range(3), vals, color=["C0", "C1", "0.6"])
    ax2.set_xscale("log")
    ax2.set_yticks(range(3), names, fontsize=8)
    ax2.invert_yaxis()
    for i, v in enumerate(vals):
        ax2.text(v, i, f" {v / 1e6:,.0f} MB", va="center", fontsize=8)
    ax2.set_xlim(right=max(vals) * 30)
    ax2.set_xlabel("bytes (log scale)")
    return fig


# ----------------------------------------------------------------------------------------------------------------
# entry point
# ----------------------------------------------------------------------------------------------------------------
def run_benchmarks(
    quick: bool = False,
    *,
    first_result: bool = True,
    quantecon: bool = True,
    repeats: int | None = None,
    n_blas_threads: int | None = 1,
    progress=None,
    interactive: bool = False,
) -> dict:
    """Run every case and return the results (see the module docstring for the keys). ``quick=True`` stops at small
    sizes (seconds instead of minutes); ``n_blas_threads`` is the number of BLAS/LAPACK threads during the run (1:
    core for core with the single-threaded numba kernels; ``None``: the process default); ``progress`` is a file to
    log each case to (e.g. ``sys.stderr``); ``interactive=True`` adds ``"interactive"``, the book widgets' redraw
    latencies (:func:`mappo_lite.bench.interactive.bench_interactive`; the CLI turns it on)."""
    with blas_threads(n_blas_threads) as used:
        res = _run(quick, first_result, quantecon, repeats, progress)
    if interactive:
        from .interactive import bench_interactive

        _log(progress, "interactive latency of the book's widgets")
        res["interactive"] = bench_interactive(quick, progress)
    res["machine"]["blas_threads_during_run"] = used
    return res


def _run(quick, first_result, quantecon, repeats, progress) -> dict:
    import resource

    start = time.perf_counter()
    repeats = repeats or (3 if quick else 7)
    res = {
        "schema": SCHEMA,
        "quick": bool(quick),
        "machine": machine_info(),
        "settings": {
            "repeats": repeats,
            "warmup_calls": 1,
            "statistic": "median",
            "min_sample_s": _MIN_SAMPLE_S,
            "ratio": "numpy_s / numba_s",
            "never_slower_tolerance": NEVER_SLOWER_TOLERANCE,
        },
    }
    _log(progress, "streaming bandwidth from memory")
    res["streaming"] = bench_streaming(repeats, progress)
    _log(progress, "softmax + score")
    res["softmax_score"] = bench_softmax_score(quick, repeats, progress)
    _log(progress, "backward sweep")
    res["backward_sweep"] = bench_backward_sweep(quick, repeats, progress)
    _log(progress, "exact evaluation")
    res["exact_evaluation"] = bench_exact_evaluation(quick, repeats, progress)
    _log(progress, "Monte Carlo rollouts")
    res["rollouts"] = bench_rollouts(quick, repeats, progress)
    _log(progress, "Algorithm 3")
    res["algorithm3"] = bench_algorithm3(quick, repeats, progress)
    _log(progress, "MA-PPO iterations")
    res["mappo_iteration"] = bench_mappo(quick, repeats, progress)
    _log(progress, "MA-PPO per-iteration overhead on small games")
    res["mappo_overhead"] = bench_mappo_overhead(quick, repeats, progress)
    _log(progress, "sparse gridworld")
    res["sparse"] = bench_sparse(quick, repeats, progress)
    if quantecon:
        _log(progress, "QuantEcon")
        res["quantecon"] = bench_quantecon(quick, repeats, progress)
    if first_result:
        _log(progress, "first result in a fresh process")
        res["first_result"] = bench_first_result(progress)
    res["compile"] = compile_stats()
    res["memory"] = {
        "maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "note": "ru_maxrss of this process (kB on Linux, converted to bytes)",
    }
    res["machine"]["loadavg_end"] = list(os.getloadavg())
    res["seconds"] = time.perf_counter() - start
    res["targets"] = evaluate_targets(res)
    return res


__all__ = [
    "run_benchmarks",
    "format_report",
    "evaluate_targets",
    "time_pair",
    "measure_memory",
    "reference_kernels",
    "blas_threads",
    "machine_info",
    "add_parser",
    "plot_benchmark",
    "load_results",
    "sparse_gridworld_run",
    "plot_sparse_run",
    "SCHEMA",
    "EVAL_LADDER",
    "PLOT_SECTIONS",
]
