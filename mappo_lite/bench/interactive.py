r"""Interactive latency: one redraw of every widget of the book, timed as a reader waits for it (issue 15).

The widgets are *derived from the sources*: :func:`book_widgets` parses every ``widgets.interact(...)``,
``widgets.interact_manual(...)`` and ``widgets.interactive(...)`` call in the code cells of ``book/*.md`` (with
:mod:`ast`), so a new widget cannot be missed. :data:`REDRAWS` maps each one, keyed ``"<chapter stem>:<function>"``
(``lambda`` for an anonymous one), to the function the widget calls and to its most expensive corner: a dict
``control -> "max" | "min" | value``. ``tests/bench/test_interactive.py`` checks that every widget found in the book
has an entry and that every control named in a corner exists.

One redraw is the widget's function at a point of its ranges plus an Agg draw of the figure it returns (or of the
pyplot figures it opens), in a warm process: the same point is first computed once with one control moved by one
step (compiles numba, fills the caches that do not depend on the moved control, as a reader's previous redraw
would), then timed. :func:`bench_interactive` returns, per widget, the time at the defaults and at the expensive
corner, the pass/fail against the budget (≤ :data:`BUDGET_DEFAULT_S` at the defaults, ≤ :data:`BUDGET_ANY_S`
anywhere; aims :data:`AIM_DEFAULT_S` / :data:`AIM_ANY_S`), and whether the control redraws only on release
(``continuous_update=False``) or behind a Run button (``interact_manual``). ``python -m mappo_lite bench`` writes it
under ``"interactive"``, with the machine (CPU model, cores, load average) of the same run; ``python -m mappo_lite
bench --only interactive [--widgets KEYS] --output FILE`` runs this section alone and merges it into ``FILE``
(:func:`merge_interactive`: the kernel sections are kept; with ``--widgets`` only those rows are replaced).
:func:`interactive_table` is the table of the book's performance appendix (chapter 9), read from the committed file.
:func:`sparse_redraw` is chapter 9's sparse-gridworld widget (sizes capped at :data:`SPARSE_MAX_STATES`).
"""

from __future__ import annotations

import ast
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

BUDGET_DEFAULT_S = 0.5
BUDGET_ANY_S = 2.0
AIM_DEFAULT_S = 0.2
AIM_ANY_S = 1.0

_INTERACT_CALLS = ("interact", "interact_manual", "interactive")
_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```\s*$", re.S | re.M)


@dataclass
class WidgetCall:
    """One ``widgets.interact*`` call of a chapter: the function it wraps and the source of each control."""

    chapter: str
    function: str
    kind: str  # interact | interact_manual | interactive
    controls: dict = field(default_factory=dict)  # name -> source of the widget expression
    line: int = 0

    @property
    def key(self) -> str:
        return f"{self.chapter}:{self.function}"


def default_book_dir() -> Path | None:
    """``book/`` next to the package in a source checkout (an installed wheel has no book: ``None``)."""
    d = Path(__file__).resolve().parents[2] / "book"
    return d if d.is_dir() else None


def _strip_magics(src: str) -> str:
    # cell options (":tags: ...") and IPython magics are not Python
    return "\n".join("" if line.lstrip().startswith(("%", "!", ":")) else line for line in src.splitlines())


def book_widgets(book_dir: Path | str | None = None) -> list[WidgetCall]:
    """Every ``widgets.interact``/``interact_manual``/``interactive`` call in ``book/*.md``, in chapter order."""
    book_dir = Path(book_dir) if book_dir is not None else default_book_dir()
    if book_dir is None:
        return []
    out = []
    for md in sorted(book_dir.glob("*.md")):
        text = md.read_text(encoding="utf-8")
        for m in _CELL.finditer(text):
            src = _strip_magics(m.group(1))
            if "interact" not in src:
                continue
            first_line = text[: m.start(1)].count("\n") + 1
            for node in ast.walk(ast.parse(src)):
                if not (isinstance(node, ast.Call) and _call_name(node.func) in _INTERACT_CALLS):
                    continue
                target = node.args[0] if node.args else None
                if isinstance(target, ast.Name):
                    function = target.id
                elif isinstance(target, ast.Attribute):
                    function = ast.unparse(target).split(".")[-1]
                else:
                    function = "lambda"
                controls = {kw.arg: ast.unparse(kw.value) for kw in node.keywords if kw.arg}
                out.append(WidgetCall(md.stem, function, _call_name(node.func), controls, first_line + node.lineno))
    return out


def _call_name(func) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


# ----------------------------------------------------------------------------------------------------------------
# the functions the widgets call, and their expensive corners
# ----------------------------------------------------------------------------------------------------------------
def _plain(module: str, name: str):
    """A builder for a widget that calls ``mappo_lite.figures.<module>.<name>`` and whose controls use no other name
    of the chapter. The figure modules are imported when the benchmark runs, not when :mod:`mappo_lite.bench` is."""

    def build():
        import importlib

        return getattr(importlib.import_module(f"mappo_lite.figures.{module}"), name), {}

    return build


def _ch5():
    from ..figures.algorithms import GAME_NAMES, plot_games

    return plot_games, {"GAME_NAMES": GAME_NAMES}


def _ch5b():
    from ..figures import function_approx as fa

    return (lambda K, beta: fa.plot_climbing_classes(fa.climbing_classes(K=K, beta=beta))), {}


def _ch6():
    from ..figures.theorem1 import explore_gap_vs_K

    def show(beta, seed, n_agents, gamma, n_actions):
        return explore_gap_vs_K(beta=beta, seed=seed, n_agents=n_agents, gamma=gamma, n_actions=n_actions)

    return show, {}


def _ch7():
    from ..experiments.ratio import INITS
    from ..figures.experiment import PANEL_METHODS, plot_ratio_panel

    return plot_ratio_panel, {"INITS": INITS, "PANEL_METHODS": PANEL_METHODS}


def _ch8():
    from ..figures.offline import plot_offline_run
    from ..offline import POOR_COVERAGE

    return plot_offline_run, {"POOR_COVERAGE": POOR_COVERAGE}


def _ch9_benchmark():
    from .run import PLOT_SECTIONS, load_results, plot_benchmark

    return plot_benchmark, {"PLOT_SECTIONS": PLOT_SECTIONS, "res": load_results()}


def _ch9_sparse():
    return sparse_redraw, {}


#: widget key -> (builder returning (function, names the control sources use), the most expensive corner[, options]);
#: options: ``{"move": control}``, the control the warm-up redraw moves (default: the first movable one)
REDRAWS = {
    "01_why_hard:comparison_figure": (
        _plain("coordination", "comparison_figure"),
        {"K": "max", "beta": "max", "eta": "max"},
    ),
    "02_setup:visitation_figure": (_plain("setup", "visitation_figure"), {"gamma": "max", "n_states": "max"}),
    "02_setup:two_step_figure": (_plain("setup", "two_step_figure"), {"u": "min"}),
    "03_definitions:plot_pdl_terms": (
        _plain("identities", "plot_pdl_terms"),
        {"n_agents": 4, "beta": "max", "t": "max"},
    ),
    "04_loglinear:plot_penalty_coordination": (
        _plain("loglinear", "plot_penalty_coordination"),
        {"k": "min", "p": "max"},
    ),
    "04_loglinear:plot_conditional_heatmap": (
        _plain("loglinear", "plot_conditional_heatmap"),
        {"t": "max", "k": "min"},
    ),
    "05_algorithms:plot_games": (_ch5, {"K": "max", "T": "max", "n_rollouts": "max", "sgd_init": "previous"}),
    "05b_function_approximation:_show_climbing": (_ch5b, {"K": "max", "beta": "max"}),
    "06_theorem1:_show": (_ch6, {"n_agents": "max", "n_actions": "max", "gamma": "max", "beta": "min"}),
    "07_experiment:plot_ratio_panel": (_ch7, {"iterations": "max", "eta": "min"}),
    "08_offline:plot_offline_run": (_ch8, {"n": 3000, "lam": "max"}),
    "09_performance:plot_benchmark": (_ch9_benchmark, {"section": "overview"}),
    # the most expensive size the widget accepts (SPARSE_MAX_STATES): three agents on 5 x 5
    # (the warm-up moves K: moving the width up would leave the accepted sizes)
    "09_performance:sparse_redraw": (
        _ch9_sparse,
        {"width": 5, "height": 5, "n_agents": "max", "K": "max"},
        {"move": "K"},
    ),
}


# ----------------------------------------------------------------------------------------------------------------
# points of a widget's ranges
# ----------------------------------------------------------------------------------------------------------------
def make_controls(call: WidgetCall, names: dict) -> dict:
    """The ipywidgets objects of ``call``, built from their sources (``names``: the chapter's names they use)."""
    import ipywidgets as widgets

    return {k: eval(src, {"widgets": widgets, **names}) for k, src in call.controls.items()}  # noqa: S307


def _value(w):
    import ipywidgets as widgets

    if isinstance(w, widgets.fixed):
        return w.value
    return w.value


def control_options(w) -> list:
    opts = list(getattr(w, "options", ()) or ())
    return [o[1] if isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], str) else o for o in opts]


def control_extreme(w, which):
    """The control's value at its ``"min"``/``"max"`` end (a log slider's ends are ``base**min``, ``base**max``)."""
    opts = control_options(w)
    if opts:
        return opts[0] if which == "min" else opts[-1]
    end = w.min if which == "min" else w.max
    base = getattr(w, "base", None)
    return base**end if base is not None else end


def nudged_value(w):
    """A value one step from the control's current one (for the warm-up redraw); the value itself if it has none."""
    import ipywidgets as widgets

    if isinstance(w, widgets.fixed):
        return w.value
    opts = control_options(w)
    if opts:
        i = [repr(o) for o in opts].index(repr(w.value)) if repr(w.value) in [repr(o) for o in opts] else 0
        return opts[i + 1] if i + 1 < len(opts) else opts[i - 1] if i > 0 else opts[i]
    if isinstance(w.value, bool):
        return not w.value
    step = getattr(w, "step", None) or 1
    base = getattr(w, "base", None)
    if base is not None:
        import math

        e = math.log(w.value, base)
        e2 = e + step if e + step <= w.max else e - step
        return base**e2
    v = w.value + step if w.value + step <= w.max else w.value - step
    return type(w.value)(v)


def widget_points(controls: dict, corner: dict) -> dict:
    """``{"defaults": kwargs, "corner": kwargs}`` for one widget."""
    defaults = {k: _value(w) for k, w in controls.items()}
    worst = dict(defaults)
    for k, spec in corner.items():
        worst[k] = control_extreme(controls[k], spec) if spec in ("min", "max") else spec
    return {"defaults": defaults, "corner": worst}


def _draw(out) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figs = [out] if isinstance(out, Figure) else []
    try:
        import matplotlib.pyplot as plt

        figs += [plt.figure(n) for n in plt.get_fignums()]
    except ImportError:  # pragma: no cover
        plt = None
    for f in figs:
        FigureCanvasAgg(f)
        f.canvas.draw()
    if plt is not None:
        plt.close("all")


def time_redraw(fn, kwargs: dict, warm_kwargs: dict | None = None, *, cpu: bool = False):
    """Seconds of ``fn(**kwargs)`` plus the Agg draw, after one warm-up redraw at ``warm_kwargs``; ``cpu=True``:
    ``(wall seconds, CPU seconds of this process)`` (the CPU time is the work itself, less sensitive to other
    processes on a shared machine than the wall time a reader waits)."""
    _draw(fn(**(warm_kwargs if warm_kwargs is not None else kwargs)))
    t0, c0 = time.perf_counter(), time.process_time()
    _draw(fn(**kwargs))
    wall, used = time.perf_counter() - t0, time.process_time() - c0
    return (wall, used) if cpu else wall


def moved_point(controls: dict, point: dict, move: str | None = None) -> dict:
    """``point`` with its first non-fixed control (or the control ``move``) moved one step (the reader's previous
    redraw)."""
    import ipywidgets as widgets

    for k, w in controls.items():
        if isinstance(w, widgets.fixed) or (move is not None and k != move):
            continue
        probe = w
        try:
            old = probe.value
            probe.value = point[k]
            nudged = nudged_value(probe)
            probe.value = old
        except Exception:  # a value outside the control's trait (e.g. a corner given by value)
            continue
        return {**point, k: nudged}
    return dict(point)


def _update_mode(call: WidgetCall, controls: dict) -> str:
    if call.kind == "interact_manual":
        return "run button"
    lazy = [k for k, w in controls.items() if getattr(w, "continuous_update", True) is False]
    if lazy:
        return "on release (" + ", ".join(lazy) + ")"
    return "continuous"


def bench_interactive(quick: bool = False, progress=None, book_dir=None, only=None) -> dict:
    """Time one redraw of every widget of the book at its defaults and at its expensive corner (see the module
    docstring). ``only``: an iterable of widget keys to restrict to. Widgets without a :data:`REDRAWS` entry are
    listed under ``"missing"``."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import os

    from .run import machine_info

    machine = machine_info()
    calls = book_widgets(book_dir)
    if only is not None:
        from .._validate import check_choice

        only = [check_choice(k, "widget", [c.key for c in calls]) for k in only]
    rows, missing = [], []
    for call in calls:
        if only is not None and call.key not in only:
            continue
        if call.key not in REDRAWS:
            missing.append(call.key)
            continue
        build, corner, *opts = REDRAWS[call.key]
        move = opts[0].get("move") if opts else None
        fn, names = build()
        controls = make_controls(call, names)
        pts = widget_points(controls, corner)
        row = {"widget": call.key, "chapter": call.chapter, "function": call.function, "line": call.line}
        row["measured"] = {"cpu": machine["cpu"], "cpus": machine["cpus_available"], "date": machine["date"]}
        for label, point in pts.items():
            if progress is not None:
                print(f"  interactive {call.key} at {label}", file=progress, flush=True)
            row[f"{label}_s"], row[f"{label}_cpu_s"] = time_redraw(
                fn, point, moved_point(controls, point, move), cpu=True
            )
            row[f"{label}_loadavg"] = os.getloadavg()[0]
        row["corner"] = {k: _jsonable(v) for k, v in pts["corner"].items() if k in corner}
        row["update"] = _update_mode(call, controls)
        row["pass_defaults"] = row["defaults_s"] <= BUDGET_DEFAULT_S
        row["pass_anywhere"] = max(row["defaults_s"], row["corner_s"]) <= BUDGET_ANY_S
        row["aim_met"] = row["defaults_s"] <= AIM_DEFAULT_S and max(row["defaults_s"], row["corner_s"]) <= AIM_ANY_S
        rows.append(row)
    return {
        "machine": machine,
        "budget": {
            "defaults_s": BUDGET_DEFAULT_S,
            "anywhere_s": BUDGET_ANY_S,
            "aim_defaults_s": AIM_DEFAULT_S,
            "aim_anywhere_s": AIM_ANY_S,
        },
        "method": "one redraw = the widget's function + Agg draw, after a warm-up redraw with one control moved one "
        "step; corner = the REDRAWS entry's most expensive values; *_s wall seconds (the budget), *_cpu_s CPU seconds "
        "of the process, *_loadavg the 1-minute load average after the redraw",
        "cpus": os.cpu_count(),
        "rows_measured_together": only is None,
        "widgets": rows,
        "missing": missing,
        "lazy_controls": [r["widget"] + ": " + r["update"] for r in rows if r["update"] != "continuous"],
    }


def _jsonable(v):
    if isinstance(v, tuple | list):
        return [_jsonable(x) for x in v]
    if isinstance(v, int | float | str | bool) or v is None:
        return v
    return repr(v)


def format_interactive(res: dict) -> str:
    """The report table: one line per widget, pass/fail against the budget."""
    b = res["budget"]
    lines = [
        f"interactive latency (one redraw, warm; budget ≤ {b['defaults_s']} s at defaults, ≤ {b['anywhere_s']} s "
        f"anywhere; aim {b['aim_defaults_s']} / {b['aim_anywhere_s']} s)",
        f"  {'widget':46s} {'defaults':>9s} {'corner':>9s}  result  update",
    ]
    for r in res["widgets"]:
        ok = "PASS" if r["pass_defaults"] and r["pass_anywhere"] else "FAIL"
        load = r.get("corner_loadavg", float("nan"))
        lines.append(
            f"  {r['widget']:46s} {r['defaults_s']:8.2f}s {r['corner_s']:8.2f}s  {ok:6s}  {r['update']} (load {load:.1f})"
        )
    for k in res["missing"]:
        lines.append(f"  {k:46s} MISSING from mappo_lite.bench.interactive.REDRAWS")
    return "\n".join(lines)


def merge_interactive(path, section: dict) -> dict:
    """Write ``section`` under ``"interactive"`` of the benchmark JSON at ``path`` (kept otherwise as it is) and return
    the whole document. A section measured with ``only`` (some widgets) replaces those widgets' rows of the section
    already in the file and keeps the others (each row then carries the machine line of its own run)."""
    import json

    path = Path(path)
    doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    old = doc.get("interactive")
    if old is not None and not section.get("rows_measured_together", True):
        fresh = {r["widget"] for r in section["widgets"]}
        kept = [r for r in old.get("widgets", []) if r["widget"] not in fresh]
        order = {c.key: i for i, c in enumerate(book_widgets())}
        rows = sorted(kept + section["widgets"], key=lambda r: order.get(r["widget"], len(order)))
        have = {r["widget"] for r in rows}
        section = {**section, "widgets": rows, "missing": [k for k in order if k not in have]}
        section["lazy_controls"] = [r["widget"] + ": " + r["update"] for r in rows if r["update"] != "continuous"]
    doc["interactive"] = section
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return doc


def _secs(row, label) -> str:
    cpu = row.get(f"{label}_cpu_s")
    return f"{row[f'{label}_s']:.2f} s" + (f" (CPU {cpu:.2f} s)" if cpu is not None else "")


def interactive_table(results: dict):
    """The interactive latencies of the committed benchmark (``results["interactive"]``) as a
    :class:`~mappo_lite.figures.tables.Table` (widget, defaults, corner, update mode, target met), and one line naming
    the machine; a results file without the section gives ``(None, "<why>")`` instead of failing."""
    from ..figures.tables import result_table

    sec = results.get("interactive") if isinstance(results, dict) else None
    if not sec or not sec.get("widgets"):
        return None, "The committed benchmark has no interactive section (run `python -m mappo_lite bench --only "
        "interactive --output mappo_lite/data/bench_results.json`)."
    b = sec["budget"]
    rows = []
    for r in sec["widgets"]:
        met = "yes" if r["pass_defaults"] and r["pass_anywhere"] else "no"
        if r.get("aim_met"):
            met += " (aim met)"
        corner = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.get("corner", {}).items()
        )
        rows.append(
            [
                r["widget"],
                _secs(r, "defaults"),
                f"{_secs(r, 'corner')} at {corner}",
                r["update"],
                met,
                " / ".join(f"{r[k]:.1f}" for k in ("defaults_loadavg", "corner_loadavg") if k in r) or "?",
            ]
        )
    for k in sec.get("missing", []):
        rows.append([k, "not measured", "not measured", "", "unknown", ""])
    m = sec.get("machine", {})
    where = (
        f"Measured on {m.get('cpu', 'an unnamed CPU')} ({m.get('cpus_available', sec.get('cpus'))} cores), "
        f"{str(m.get('date', ''))[:10]}, load average {m.get('loadavg_start', [float('nan')])[0]:.1f} at the start; "
        f"target ≤ {b['defaults_s']} s at the defaults and ≤ {b['anywhere_s']} s anywhere in the ranges (wall time; "
        "the CPU time of the redraw and the machine's load average, shared with other jobs, are shown next to it)."
    )
    kernel_cpu = (results.get("machine") or {}).get("cpu")
    if kernel_cpu and kernel_cpu != m.get("cpu"):
        where += f" (The kernel figures above were measured on another machine: {kernel_cpu}.)"
    header = ["widget (chapter:function)", "defaults", "expensive corner", "update", "target met", "load average"]
    return result_table(header, rows), where


#: the largest game the chapter 9 sparse widget builds: every two-agent grid up to 12 x 12 (20 736 states), three
#: agents up to 5 x 5 (15 625 states; 12 x 12 would be 2 985 984 states and does not fit in memory)
SPARSE_MAX_STATES = 25_000


def sparse_redraw(width: int, height: int, n_agents: int, K: int, beta: float, max_states: int = SPARSE_MAX_STATES):
    """Chapter 9's sparse-gridworld widget: :func:`~mappo_lite.bench.run.sparse_gridworld_run` and its figure, with a
    progress bar in a notebook (building, J*, then one step per MA-PPO iteration); a grid with more than ``max_states`` joint positions (``(width*height)**n_agents``)
    is refused with a :class:`~mappo_lite.errors.MappoLiteError` naming the size, before anything is built."""
    from .._validate import check_int
    from ..figures.algorithms import progress_bar
    from .run import plot_sparse_run, sparse_gridworld_run

    S = (check_int(width, "width", 1) * check_int(height, "height", 1)) ** check_int(n_agents, "n_agents", 1)
    check_int(
        S,
        f"the number of states (width*height)**n_agents of a {width}x{height} grid, {n_agents} agents,",
        1,
        max_states,
    )
    bar = progress_bar(K + 4, f"{S} states")  # the steps of sparse_gridworld_run's progress

    def report(done: int, stage: str) -> None:
        bar.value, bar.description = done, stage

    data = sparse_gridworld_run(width, height, n_agents, K, beta, progress=report if bar is not None else None)
    fig = plot_sparse_run(data)
    if bar is not None:
        bar.close()
    return fig
