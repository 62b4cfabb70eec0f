"""The interactive-latency benchmark covers every widget of the book (issue 15), and the widgets' readouts resolve
their steps. No wall times are asserted."""

import math
import re

import pytest

ipywidgets = pytest.importorskip("ipywidgets")

from mappo_lite.bench import interactive as ia  # noqa: E402


@pytest.fixture(scope="module")
def calls():
    found = ia.book_widgets()
    if not found:
        pytest.skip("no book/ next to the package")
    return found


def test_parser_finds_every_interact_call_in_the_book(calls):
    # an independent count: every textual `interact(` / `interact_manual(` / `interactive(` call in the chapters
    book = ia.default_book_dir()
    pattern = re.compile(r"\b(?:interact|interact_manual|interactive)\(")
    n_text = sum(len(pattern.findall(md.read_text(encoding="utf-8"))) for md in book.glob("*.md"))
    assert len(calls) == n_text
    assert len({c.key for c in calls}) == len(calls), "two widgets share a key"


def test_every_book_widget_is_in_the_benchmark_table(calls):
    missing = [c.key for c in calls if c.key not in ia.REDRAWS]
    assert not missing, f"add these widgets to mappo_lite.bench.interactive.REDRAWS: {missing}"
    stale = set(ia.REDRAWS) - {c.key for c in calls}
    assert not stale, f"REDRAWS entries without a widget in the book: {stale}"


def test_every_corner_names_a_movable_control_and_lies_in_its_range(calls):
    for call in calls:
        build, corner, *opts = ia.REDRAWS[call.key]
        _fn, names = build()
        controls = ia.make_controls(call, names)
        for k in [*corner, *(o["move"] for o in opts if "move" in o)]:
            assert k in controls, (call.key, k)
            assert not isinstance(controls[k], ipywidgets.fixed), (call.key, k)
        pts = ia.widget_points(controls, corner)
        for label, point in pts.items():
            assert set(point) == set(controls)
            for k, w in controls.items():
                if isinstance(w, ipywidgets.fixed):
                    continue
                if hasattr(w, "min"):
                    lo, hi = ia.control_extreme(w, "min"), ia.control_extreme(w, "max")
                    assert lo - 1e-12 * abs(lo) <= point[k] <= hi + 1e-12 * abs(hi), (call.key, label, k, point[k])
                elif isinstance(w, ipywidgets.Checkbox):
                    assert isinstance(point[k], bool), (call.key, label, k)
                else:
                    assert repr(point[k]) in [repr(o) for o in ia.control_options(w)], (call.key, label, k)


def test_points_and_moves_differ_from_the_timed_point(calls):
    # the warm-up redraw is one control one step away, so the timed redraw is not a repeat of the same call
    for call in calls:
        build, corner, *opts = ia.REDRAWS[call.key]
        move = opts[0].get("move") if opts else None
        _fn, names = build()
        controls = ia.make_controls(call, names)
        movable = [w for w in controls.values() if not isinstance(w, ipywidgets.fixed)]
        if not movable:
            continue
        for point in ia.widget_points(controls, corner).values():
            moved = ia.moved_point(controls, point, move)
            assert any(repr(moved[k]) != repr(point[k]) for k in point), call.key


def _readout(w, v):
    fmt = getattr(w, "readout_format", None) or ".3g"
    return format(v, fmt)


def test_float_readouts_show_enough_decimals_for_their_step(calls):
    # two neighbouring values of a float slider must read differently (0.205 must not show as "0.20")
    bad = []
    for call in calls:
        build, *_ = ia.REDRAWS[call.key]
        _fn, names = build()
        for k, w in ia.make_controls(call, names).items():
            if isinstance(w, ipywidgets.FloatLogSlider):
                exps = [w.min + i * w.step for i in range(int(round((w.max - w.min) / w.step)) + 1)]
                vals = [w.base**e for e in exps]
            elif isinstance(w, ipywidgets.FloatSlider):
                n = int(round((w.max - w.min) / w.step))
                vals = [w.min + i * w.step for i in range(n + 1)]
            else:
                continue
            shown = [_readout(w, v) for v in vals]
            if len(set(shown)) < len(shown):
                bad.append(f"{call.key}:{k} ({w.readout_format})")
    assert not bad, bad


def test_time_redraw_draws_the_returned_figure():
    from matplotlib.figure import Figure

    drawn = []

    def fn(x):
        fig = Figure()
        ax = fig.subplots()
        ax.plot([0, 1], [0, x])
        drawn.append(fig)
        return fig

    t = ia.time_redraw(fn, {"x": 2.0}, {"x": 1.0})
    assert t > 0 and len(drawn) == 2
    assert drawn[1].canvas.get_renderer() is not None
    assert math.isclose(drawn[1].axes[0].get_lines()[0].get_ydata()[1], 2.0, rel_tol=1e-12)


def _row(key, d, c, update="continuous"):
    return {
        "widget": key,
        "defaults_s": d,
        "corner_s": c,
        "corner": {"K": 3},
        "update": update,
        "pass_defaults": d <= ia.BUDGET_DEFAULT_S,
        "pass_anywhere": max(d, c) <= ia.BUDGET_ANY_S,
        "aim_met": False,
    }


def _section(rows, together):
    return {
        "machine": {"cpu": "Test CPU", "cpus_available": 2, "date": "2026-01-01 00:00:00 UTC", "loadavg_start": [0.5]},
        "budget": {"defaults_s": 0.5, "anywhere_s": 2.0, "aim_defaults_s": 0.2, "aim_anywhere_s": 1.0},
        "widgets": rows,
        "missing": [],
        "rows_measured_together": together,
    }


def test_merge_keeps_the_other_sections_and_replaces_only_the_measured_rows(calls, tmp_path):
    import json

    keys = [c.key for c in calls]
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"softmax_score": {"x": 1}}))
    ia.merge_interactive(path, _section([_row(k, 0.1, 0.2) for k in keys], True))
    doc = ia.merge_interactive(path, _section([_row(keys[1], 0.3, 5.0, "run button")], False))
    assert doc["softmax_score"] == {"x": 1}
    rows = {r["widget"]: r for r in doc["interactive"]["widgets"]}
    assert list(rows) == keys  # book order, nothing lost or duplicated
    assert rows[keys[1]]["corner_s"] == 5.0 and rows[keys[0]]["corner_s"] == 0.2  # exact: values read back
    assert doc["interactive"]["missing"] == []
    assert doc["interactive"]["lazy_controls"] == [keys[1] + ": run button"]
    assert json.loads(path.read_text()) == doc


def test_interactive_table_names_the_machine_and_survives_a_missing_section():
    table, line = ia.interactive_table({"machine": {}})
    assert table is None and "no interactive section" in line
    sec = _section([_row("a:f", 0.1, 0.3), _row("b:g", 0.7, 9.0, "run button")], True)
    sec["missing"] = ["c:h"]
    table, line = ia.interactive_table({"interactive": sec})
    assert "Test CPU" in line and "2 cores" in line
    assert [r[0] for r in table.rows] == ["a:f", "b:g", "c:h"]
    assert [r[4] for r in table.rows] == ["yes", "no", "unknown"]
    assert "<table>" in table._repr_html_()


def test_sparse_redraw_refuses_a_grid_too_large_before_building_it():
    from mappo_lite.errors import MappoLiteError

    with pytest.raises(MappoLiteError, match="number of states"):
        ia.sparse_redraw(12, 12, 3, 1, 0.1)  # 2 985 984 states: would exhaust the memory
    with pytest.raises(MappoLiteError, match="number of states"):
        ia.sparse_redraw(3, 3, 2, 1, 0.1, max_states=80)


def test_sparse_redraw_runs_a_small_grid():
    from matplotlib.figure import Figure

    fig = ia.sparse_redraw(3, 3, 2, 1, 0.1)
    assert isinstance(fig, Figure) and len(fig.axes) >= 2


def test_sparse_redraw_progress_goes_through_every_stage(monkeypatch):
    import mappo_lite.figures.algorithms as fa

    seen = {}

    class Bar:
        def __init__(self, total, description):
            seen.update(max=total, values=[], stages=[], bar=self)
            self.closed = False

        def __setattr__(self, name, v):
            if name in ("value", "description"):
                seen["values" if name == "value" else "stages"].append(v)
            object.__setattr__(self, name, v)

        def close(self):
            self.closed = True

    monkeypatch.setattr(fa, "progress_bar", Bar)
    K = 3
    ia.sparse_redraw(3, 3, 2, K, 0.1)
    assert seen["max"] == K + 4 and seen["values"] == list(range(1, K + 5)) and seen["bar"].closed
    assert seen["stages"] == ["evaluate", "J*"] + ["MA-PPO"] * (K + 2)


def test_only_rejects_an_unknown_widget(calls):
    from mappo_lite.errors import MappoLiteError

    with pytest.raises(MappoLiteError, match="widget must be one of"):
        ia.bench_interactive(only=["01_why_hard:no_such_widget"])


def test_the_committed_results_time_every_widget_of_the_book(calls):
    """The appendix's table (chapter 9) is read from the committed results: it must have a row for every widget."""
    from mappo_lite.bench.run import load_results

    sec = load_results().get("interactive")
    assert sec is not None, (
        "run `python -m mappo_lite bench --only interactive --output mappo_lite/data/bench_results.json`"
    )
    rows = {r["widget"]: r for r in sec["widgets"]}
    assert sorted(rows) == sorted(c.key for c in calls), "re-measure the widgets that changed (--widgets KEYS)"
    assert sec["missing"] == []
    assert sec["machine"]["cpu"] and sec["machine"]["cpus_available"]
    for r in rows.values():
        assert r["defaults_s"] > 0 and r["corner_s"] > 0
        assert r["pass_anywhere"] == (max(r["defaults_s"], r["corner_s"]) <= sec["budget"]["anywhere_s"])
        if not r["pass_anywhere"]:  # a redraw over budget must not run on every slider step
            assert r["update"] != "continuous", r["widget"]
