"""Cross-check a ``mappo_lite assignments build`` with nbgrader itself (nbgrader is *not* a dependency).

Run this file with a Python that has nbgrader installed (it imports only nbformat and nbgrader, not mappo_lite)::

    python mappo_lite/course/nbgrader_check.py OUTDIR [--cli]

For every ``OUTDIR/instructor/<name>.ipynb`` / ``OUTDIR/student/<name>.ipynb`` pair it checks that

1. nbgrader's own ``generate_assignment`` preprocessors (LockCells, ClearSolutions, ClearOutput,
   CheckCellMetadata, ComputeChecksums, ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata, in
   nbgrader's order) turn our instructor notebook into exactly our student notebook: same cells, ids, sources and
   metadata, including every checksum;
2. with ``--cli``, the real command ``nbgrader generate_assignment`` (run once, in a temporary course folder with
   its own gradebook database, on one nbgrader assignment holding all the instructor notebooks) does the same;
3. nbgrader's metadata validator accepts both editions, every stored checksum equals ``nbgrader.utils.compute_checksum``,
   and ``nbgrader validate``'s pre-execution checks (changed locked cells, changed cell types) find nothing in the
   untouched student notebook;
4. every unanswered written answer gets 0 points from ``nbgrader.utils.determine_grade``, as in nbgrader's autograder.

Prints one JSON object; exit status 0 when everything matches, 1 otherwise.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _cells(nb):
    return [
        {
            "id": c.get("id"),
            "cell_type": c.cell_type,
            "source": c.source,
            "metadata": c.metadata,
            "outputs": c.get("outputs"),
            "attachments": c.get("attachments"),
        }
        for c in nb.cells
    ]


def _compare(ours, theirs, label):
    a, b = _cells(ours), _cells(theirs)
    problems = []
    if len(a) != len(b):
        return [f"{label}: {len(a)} cells in ours, {len(b)} in nbgrader's"]
    for i, (x, y) in enumerate(zip(a, b)):
        for key in x:
            if x[key] != y[key]:
                problems.append(
                    f"{label}: cell {i} ({x['id']}) differs in {key}: ours {x[key]!r} vs nbgrader {y[key]!r}"
                )
    return problems


def with_preprocessors(instructor):
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearHiddenTests,
        ClearMarkScheme,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        LockCells,
    )

    nb = copy.deepcopy(instructor)
    resources = {}
    for pp in (
        LockCells,
        ClearSolutions,
        ClearOutput,
        CheckCellMetadata,
        ComputeChecksums,
        ClearHiddenTests,
        ClearMarkScheme,
        ComputeChecksums,
        CheckCellMetadata,
    ):
        nb, resources = pp().preprocess(nb, resources)
    return nb


def with_cli(instructor_paths) -> dict:
    """Run ``nbgrader generate_assignment`` once on all instructor notebooks (one nbgrader assignment holding
    them all, in a temporary course folder); returns ``{name: student notebook}``."""
    import nbformat

    search = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    exe = shutil.which("nbgrader", path=search)
    if exe is None:
        raise RuntimeError("the nbgrader command is not on PATH")
    aid = "release_check"
    with tempfile.TemporaryDirectory() as root:
        src = Path(root) / "source" / aid
        src.mkdir(parents=True)
        for p in instructor_paths:
            shutil.copy(p, src / p.name)
        proc = subprocess.run(
            [
                exe,
                "generate_assignment",
                aid,
                "--force",
                f"--CourseDirectory.root={root}",
                f"--CourseDirectory.db_url=sqlite:///{root}/gradebook.db",
            ],
            capture_output=True,
            text=True,
            cwd=root,
            timeout=600,
            env={**os.environ, "PATH": search},
        )  # nbgrader calls its 'alembic' command
        if proc.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment failed: {proc.stderr[-2000:]}")
        out = {}
        for p in instructor_paths:
            q = Path(root) / "release" / aid / p.name
            if not q.exists():
                raise RuntimeError(f"nbgrader generate_assignment wrote no {p.name}")
            out[p.stem] = nbformat.read(q, as_version=4)
        return out


def check(outdir: Path, use_cli: bool) -> dict:
    import nbformat
    import nbgrader
    from nbgrader import utils
    from nbgrader.nbgraderformat import MetadataValidator
    from nbgrader.validator import Validator

    report = {"nbgrader_version": nbgrader.__version__, "notebooks": [], "ok": True}
    students = sorted((outdir / "student").glob("*.ipynb"))
    if not students:
        report["ok"] = False
        report["error"] = f"no student notebooks in {outdir / 'student'}"
        return report
    generated, cli_error = {}, None
    if use_cli:
        try:
            generated = with_cli([outdir / "instructor" / p.name for p in students])
        except RuntimeError as exc:
            cli_error = str(exc)
            report["ok"] = False
            report["error"] = cli_error
    report["cli"] = bool(use_cli and cli_error is None)
    for spath in students:
        name = spath.stem
        ipath = outdir / "instructor" / spath.name
        inst = nbformat.read(ipath, as_version=4)
        stud = nbformat.read(spath, as_version=4)
        item = {"name": name, "problems": []}
        item["problems"] += _compare(stud, with_preprocessors(inst), f"{name} (preprocessors)")
        if name in generated:
            item["problems"] += _compare(stud, generated[name], f"{name} (nbgrader generate_assignment)")
        for label, nb in (("instructor", inst), ("student", stud)):
            try:
                MetadataValidator().validate_nb(copy.deepcopy(nb))
            except Exception as exc:  # nbgrader raises jsonschema / its own ValidationError
                item["problems"].append(f"{name} {label}: nbgrader's metadata validator: {exc}")
        n = 0
        for cell in stud.cells:
            if utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell):
                n += 1
                if cell.metadata.nbgrader.get("checksum") != utils.compute_checksum(cell):
                    item["problems"].append(
                        f"{name}: checksum of {cell.metadata.nbgrader['grade_id']} differs from nbgrader's"
                    )
                if utils.is_grade(cell) and utils.is_solution(cell) and cell.cell_type == "markdown":
                    score, _ = utils.determine_grade(cell)
                    if score != 0:
                        item["problems"].append(
                            f"{name}: nbgrader would not give 0 to the unanswered {cell.metadata.nbgrader['grade_id']}"
                        )
        item["checksums_checked"] = n
        v = Validator()
        changed = v._get_changed_cells(copy.deepcopy(stud))
        type_changed = v._get_type_changed_cells(copy.deepcopy(stud))
        if changed or type_changed:
            item["problems"].append(
                f"{name}: nbgrader validate sees {len(changed)} changed and {len(type_changed)} "
                "type-changed cells in the untouched student notebook"
            )
        report["notebooks"].append(item)
        report["ok"] = report["ok"] and not item["problems"]
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", type=Path, help="the folder written by 'python -m mappo_lite assignments build'")
    ap.add_argument("--cli", action="store_true", help="also run the real 'nbgrader generate_assignment' command")
    args = ap.parse_args(argv)
    report = check(args.outdir, args.cli)
    print(json.dumps(report, indent=1))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
