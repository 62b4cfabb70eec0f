"""``python -m mappo_lite assignments {list,build,grade}``: registered by :mod:`mappo_lite.cli` (``add_parser``).

Cheap to import: jupytext, nbformat and nbclient load inside the command functions. Every input error (bad path,
unknown assignment, invalid source) is one line ``mappo_lite: error: …`` on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys

from ..errors import MappoLiteError


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return v


def _source(args):
    """The source folder, given before the sub-command (``assignments --source DIR build``) or after it."""
    before, after = getattr(args, "source_before", None), getattr(args, "source", None)
    if before is not None and after is not None and before != after:
        raise MappoLiteError(f"--source given twice with different folders ({before!r} and {after!r})")
    return after if after is not None else before


def cmd_list(args):
    from .source import load_all

    items = [a.summary() for a in load_all(_source(args))]
    if args.json:
        print(json.dumps({"assignments": items}))
        return
    width = max(len(a["name"]) for a in items)
    for a in items:
        manual = f" (+{a['manual_points']:g} by hand)" if a["manual_points"] else ""
        print(
            f"{a['name']:<{width}}  {len(a['questions'])} questions  {a['autograded_points']:>4g} points{manual}  {a['title']}"
        )
        for q in a["questions"]:
            vis = (
                ", ".join(f"{t['grade_id']}: {t['points']:g} {t['visibility']}" for t in q["tests"]) or "written answer"
            )
            print(f"{'':<{width}}    {q['id']:<22} {q['points']:>4g}  [{vis}]")


def cmd_build(args):
    if args.format == "otter":
        from .otter import build_otter

        res = build_otter(args.outdir, names=args.names or None, source_dir=_source(args))
        for a, p in zip(res.info["assignments"], res.instructor):
            manual = f" + {a['manual_points']:g} by hand" if a["manual_points"] else ""
            print(
                f"{a['name']}: {len(a['questions'])} questions, {a['autograded_points']:g} points{manual} -> {p} (otter assign source)"
            )
        print(f"release information -> {res.release}")
        return
    from .release import build

    res = build(args.outdir, names=args.names or None, source_dir=_source(args))
    for a, pi, ps in zip(res.info["assignments"], res.instructor, res.student):
        manual = f" + {a['manual_points']:g} by hand" if a["manual_points"] else ""
        print(
            f"{a['name']}: {len(a['questions'])} questions, {a['autograded_points']:g} points{manual} -> {ps} (student), "
            f"{pi} (instructor)"
        )
    print(f"release information -> {res.release}")


@contextlib.contextmanager
def _stdout_reserved():
    """While grading, file descriptor 1 points at stderr: nothing but the final report can reach stdout (a
    library warning, a leaked descriptor in a child process...). The kernel's own streams are /dev/null anyway."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no stdout at all
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def cmd_grade(args):
    from .grade import grade_notebook

    with _stdout_reserved():
        rep = grade_notebook(
            args.notebook,
            source_dir=_source(args),
            assignment=args.assignment,
            timeout=args.timeout,
            total_timeout=args.total_timeout,
            isolation=args.isolation,
        )
        if rep.isolation.get("level") == "none" and args.isolation != "none":
            print(f"mappo_lite: warning: {rep.isolation.get('detail')}", file=sys.stderr)
        if args.executed:
            import nbformat

            nbformat.write(rep.executed, args.executed)
    print(json.dumps(rep.as_dict()) if args.json else rep.text())


def add_parser(subparsers) -> None:
    """Register ``assignments`` and its sub-commands on the main parser's ``subparsers``."""
    from .grade import DEFAULT_TIMEOUT, DEFAULT_TOTAL_TIMEOUT  # light: the heavy imports are inside functions

    a = subparsers.add_parser(
        "assignments",
        help="course assignments: list, build student/instructor notebooks, grade",
        description="Autograded course assignments on the paper (nbgrader-compatible notebooks).",
    )

    def source_arg(sp, dest="source"):
        sp.add_argument(
            "--source",
            dest=dest,
            default=None,
            metavar="DIR",
            help="folder of instructor sources (default: $MAPPO_LITE_ASSIGNMENTS or the sources shipped in the package)",
        )

    # accepted before the sub-command as well as after it; a separate dest, because a sub-parser's default would
    # overwrite a value the parent parsed into the same name
    source_arg(a, dest="source_before")
    sub = a.add_subparsers(dest="assignments_command", required=True, parser_class=type(a))

    ls = sub.add_parser("list", help="the assignments with their questions and points")
    source_arg(ls)
    ls.add_argument("--json", action="store_true", help="print one JSON object")
    ls.set_defaults(func=cmd_list)

    b = sub.add_parser(
        "build",
        help="write OUTDIR/instructor/*.ipynb, OUTDIR/student/*.ipynb and OUTDIR/release.json "
        "(--format otter: OUTDIR/otter/*.ipynb and OUTDIR/release.json)",
    )
    b.add_argument("outdir", metavar="OUTDIR", help="output folder (created if needed)")
    b.add_argument("names", nargs="*", metavar="NAME", help="build only these assignments (default: all)")
    b.add_argument(
        "--format",
        choices=("nbgrader", "otter"),
        default="nbgrader",
        help="nbgrader (default): OUTDIR/instructor/ (nbgrader source notebooks) and OUTDIR/student/ (their "
        "release); otter: OUTDIR/otter/ (otter assign master notebooks)",
    )
    source_arg(b)
    b.set_defaults(func=cmd_build)

    g = sub.add_parser("grade", help="grade a submitted notebook against its instructor source")
    g.add_argument("notebook", metavar="NOTEBOOK", help="the student's .ipynb")
    g.add_argument("--json", action="store_true", help="print one JSON object (total, max, questions, notes)")
    g.add_argument(
        "--assignment",
        default=None,
        metavar="NAME",
        help="grade as this assignment (a name in the source folder, or a path); the notebook's "
        "metadata may only name the same one (default: the name in the metadata, looked up in the "
        "source folder)",
    )
    g.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"time limit of one cell in seconds (default {DEFAULT_TIMEOUT:g})",
    )
    g.add_argument(
        "--total-timeout",
        type=_seconds,
        default=DEFAULT_TOTAL_TIMEOUT,
        help=f"time limit of the whole run in seconds (default {DEFAULT_TOTAL_TIMEOUT:g})",
    )
    g.add_argument("--executed", default=None, metavar="PATH", help="also write the executed, graded notebook here")
    g.add_argument(
        "--isolation",
        default="auto",
        choices=("auto", "bwrap", "user", "none"),
        help="sandbox for the student's code: bwrap (bubblewrap namespaces), user (a separate unprivileged "
        "user; needs root), none (trusted notebooks only); auto, the default, picks the strongest "
        "available and the report says which",
    )
    source_arg(g)
    g.set_defaults(func=cmd_grade)
