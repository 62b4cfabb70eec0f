"""Build the book's two HTML editions; used by the Makefile and by the tests.

* **The book** (``_build/html``): what ``make book`` builds, ``jupyter-book build . --all -n -W --keep-going``
  (every notebook executed, warnings are errors). :func:`build_book` runs exactly that command, under a file
  lock, and records a stamp (``_build/.book-build.json``) with a digest of everything the build reads: the
  sources (``_config.yml``, ``_toc.yml``, ``book/``, ``mappo_lite/``, ``requirements.txt``, ``pyproject.toml``)
  and the installed package versions. A later call with the same digest reuses the build instead of executing
  every chapter again, so the tests (several pytest workers) and ``make book`` share one build.

* **The student edition** (``_build/student/html``, ``make book-student``): the same pages without any exercise
  solution. It is built from the *executed* notebooks of the book's build (``_build/jupyter_execute``), with
  the solutions cut out of them (:func:`strip_solutions`) and notebook execution off, so nothing is executed a
  second time; sphinx-exercise's ``hide_solutions`` is switched on as well. Cutting the solutions out of the
  notebooks (rather than only hiding them in the HTML) keeps them out of the pages' ``.ipynb`` downloads and the
  search index too.

Command line (from the repository root)::

    python book/_ext/book_editions.py book      # build _build/html unless the stamp says it is current
    python book/_ext/book_editions.py stamp [--digest D]  # record that _build/html was just built (make book)
    python book/_ext/book_editions.py student   # the student edition (builds the book first if needed)
    python book/_ext/book_editions.py digest    # print the source digest

This file is not a Sphinx extension (``_config.yml`` does not load it).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The exact command of `make book` (the Makefile runs `jupyter-book build . --all -n -W --keep-going`).
BOOK_BUILD_ARGS = ["build", ".", "--all", "-n", "-W", "--keep-going"]
STUDENT_BUILD_ARGS = ["--all", "-n", "-W", "--keep-going"]

# what the book's build reads, besides the installed packages
_DIGEST_FILES = ("_config.yml", "_toc.yml", "requirements.txt", "pyproject.toml")
_DIGEST_DIRS = ("book", "mappo_lite")
_SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", "_build"}
# files under book/ that the book's own build never reads: the slide decks' builder and its assets (book/_ext/slides.py)
_NOT_READ_BY_BOOK = ("book/_ext/slides.py", "book/_ext/slides_static/")

STUDENT_BANNER = "Student edition: the exercises are included, their solutions are not."

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# ----------------------------------------------------------------------------------------------------------
# paths


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def build(self) -> Path:
        return self.root / "_build"

    @property
    def html(self) -> Path:
        return self.build / "html"

    @property
    def executed(self) -> Path:  # myst-nb's executed notebooks
        return self.build / "jupyter_execute"

    @property
    def book_stamp(self) -> Path:
        return self.build / ".book-build.json"

    @property
    def book_log(self) -> Path:
        return self.build / "book-build.log"

    @property
    def student(self) -> Path:
        return self.build / "student"

    @property
    def student_html(self) -> Path:
        return self.student / "html"

    @property
    def student_stamp(self) -> Path:
        return self.student / ".student-build.json"

    @property
    def student_log(self) -> Path:
        return self.student / "student-build.log"


# ----------------------------------------------------------------------------------------------------------
# digest, stamp, lock


def source_digest(root: Path = ROOT) -> str:
    """sha256 over the book's sources (paths and contents) and the installed distributions' versions."""
    h = hashlib.sha256()
    files = [root / name for name in _DIGEST_FILES]
    for folder in _DIGEST_DIRS:
        files += sorted(
            p
            for p in (root / folder).rglob("*")
            if p.is_file()
            and not _SKIP_PARTS.intersection(p.relative_to(root).parts)
            and p.suffix not in (".pyc",)
            and not p.relative_to(root).as_posix().startswith(_NOT_READ_BY_BOOK)
        )
    h.update(" ".join(BOOK_BUILD_ARGS).encode() + b"\0")
    for path in files:
        if path.is_file() and path.resolve() != Path(__file__).resolve():  # this helper is not read by Sphinx
            h.update(str(path.relative_to(root)).encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    # a set: with the repository root on sys.path (``python -c``, pytest's rootdir) the checkout's own
    # mappo_lite.egg-info is found a second time, and the digest must not depend on how it is called
    dists = sorted({f"{d.metadata['Name']}=={d.version}".lower() for d in importlib.metadata.distributions()})
    h.update("\n".join(dists).encode())
    h.update(sys.version.encode())
    return h.hexdigest()


def _read_stamp(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf8"))
    except (OSError, ValueError):
        return {}


def _write_stamp(path: Path, **data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf8")
    tmp.replace(path)


@contextlib.contextmanager
def locked(path: Path):
    """An exclusive lock on `path` (held across processes, e.g. pytest-xdist workers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _jupyter_book(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", *args]
    full_env = dict(os.environ)
    full_env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    full_env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    full_env.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=full_env)


def build_problems(log: str, limit: int = 50) -> list[str]:
    """The warning/error lines of a Sphinx log (kernel chatter left out)."""
    lines = [
        line
        for line in _ANSI.sub("", log).splitlines()
        if ("WARNING" in line or "ERROR" in line or "Error" in line) and "[IPKernelApp]" not in line
    ]
    return lines[:limit]


@dataclass
class BuildResult:
    ok: bool
    html: Path
    log: str
    seconds: float
    reused: bool

    def problems(self) -> list[str]:
        found = build_problems(self.log)
        return found or _ANSI.sub("", self.log).splitlines()[-60:]


# ----------------------------------------------------------------------------------------------------------
# the book (_build/html)


def book_is_current(root: Path = ROOT, digest: str | None = None) -> bool:
    p = Paths(root)
    stamp = _read_stamp(p.book_stamp)
    return (
        stamp.get("ok") is True
        and stamp.get("digest") == (digest or source_digest(root))
        and (p.html / "index.html").is_file()
        and p.executed.is_dir()
    )


def stamp_book(root: Path = ROOT, seconds: float | None = None, digest: str | None = None) -> None:
    """Record that `_build/html` was just built successfully from the current sources (`make book` calls this)."""
    p = Paths(root)
    _write_stamp(
        p.book_stamp,
        ok=True,
        digest=digest or source_digest(root),
        seconds=seconds,
        command="jupyter-book " + " ".join(BOOK_BUILD_ARGS),
        finished=time.time(),
    )


def build_book(root: Path = ROOT, force: bool = False) -> BuildResult:
    """`make book`'s build into `_build/html`, unless a successful build of the same sources is already there.

    Safe to call from several processes at once: one builds, the others wait and reuse its result.
    Set the environment variable MAPPO_LITE_REBUILD=1 to force a new build.
    """
    p = Paths(root)
    force = force or os.environ.get("MAPPO_LITE_REBUILD", "") not in ("", "0")
    with locked(p.build / ".book-build.lock"):
        digest = source_digest(root)
        if not force and book_is_current(root, digest):
            stamp = _read_stamp(p.book_stamp)
            log = p.book_log.read_text(encoding="utf8") if p.book_log.is_file() else ""
            return BuildResult(True, p.html, log, float(stamp.get("seconds") or 0.0), reused=True)
        p.book_stamp.unlink(missing_ok=True)
        start = time.perf_counter()
        proc = _jupyter_book(BOOK_BUILD_ARGS, cwd=root)
        seconds = time.perf_counter() - start
        log = proc.stdout + proc.stderr
        p.build.mkdir(exist_ok=True)
        p.book_log.write_text(log, encoding="utf8")
        ok = proc.returncode == 0 and (p.html / "index.html").is_file()
        if ok:
            stamp_book(root, seconds=round(seconds, 1), digest=digest)
        return BuildResult(ok, p.html, log, seconds, reused=False)


# ----------------------------------------------------------------------------------------------------------
# cutting solutions out of notebooks

_SOLUTION_INFO = re.compile(r"^\{solution(?P<kind>-start|-end)?\}")


def _md_parser():
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    config = MdParserConfig(
        enable_extensions={"colon_fence", "dollarmath", "amsmath", "deflist", "html_image", "substitution"}
    )
    return create_md_parser(config, RendererHTML)


def solution_fences(text: str, parser=None) -> list[tuple[str, int, int]]:
    """The top-level solution directives of a MyST markdown text: (kind, first line, end line) with kind
    'solution', 'start' (``{solution-start}``) or 'end' (``{solution-end}``); lines 0-based, end exclusive."""
    parser = parser or _md_parser()
    found = []
    for token in parser.parse(text):
        if token.type in ("fence", "colon_fence") and token.map is not None:
            match = _SOLUTION_INFO.match(token.info.strip())
            if match:
                kind = {None: "solution", "-start": "start", "-end": "end"}[match.group("kind")]
                found.append((kind, token.map[0], token.map[1]))
    return found


def strip_solutions(nb, parser=None) -> int:
    """Remove every exercise solution from a notebook in place; return how many cells were changed or removed.

    Handles ``{solution}`` directives and gated ``{solution-start}`` ... ``{solution-end}`` blocks, whose
    content may span markdown and code cells. Raises ValueError on an unterminated gated solution.
    """
    parser = parser or _md_parser()
    inside = False
    touched = 0
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            if inside:
                touched += 1
            else:
                cells.append(cell)
            continue
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        fences = solution_fences(source, parser)
        if not fences and not inside:
            cells.append(cell)
            continue
        lines = source.splitlines(keepends=True)
        kept, cursor = [], 0
        for kind, first, end in fences:
            if not inside:
                kept += lines[cursor:first]
            if kind == "start":
                inside = True
            elif kind == "end":
                if not inside:
                    raise ValueError(f"{{solution-end}} without {{solution-start}} in: {source[:200]!r}")
                inside = False
            cursor = end
        if not inside:
            kept += lines[cursor:]
        touched += 1
        text = "".join(kept).strip("\n")
        if text.strip():
            new = copy.deepcopy(cell)
            new.source = text + "\n"
            cells.append(new)
    if inside:
        raise ValueError("a {solution-start} block is never closed by {solution-end}")
    nb.cells = cells
    return touched


# ----------------------------------------------------------------------------------------------------------
# the student edition (_build/student/html)


def toc_docs(root: Path) -> list[str]:
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf8"))
    found = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for key, value in node.items():
                if key != "root":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [str(Path(doc).with_suffix("")) if Path(doc).suffix in (".md", ".ipynb") else doc for doc in found]


def _student_config(root: Path) -> dict:
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf8"))
    config["title"] = f"{config.get('title', '')} (student edition)".strip()
    # the notebooks come executed from the book's build: nothing is executed again
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    config.setdefault("html", {})["announcement"] = STUDENT_BANNER
    sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {})
    sphinx_config["hide_solutions"] = True  # sphinx-exercise: drop any solution that is left
    # the execution-status page shows the book build's execution data (book/_ext/student_exec_data.py)
    config["sphinx"].setdefault("local_extensions", {})["student_exec_data"] = "book/_ext"
    return config


def stage_student_sources(root: Path, stage: Path) -> dict:
    """Write the student edition's sources into `stage`: the book's config, toc and files, with every executed
    notebook of `_build/jupyter_execute` (solutions cut out) in place of its MyST source."""
    import nbformat
    import yaml

    p = Paths(root)
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    shutil.copy2(root / "_toc.yml", stage / "_toc.yml")
    (stage / "_config.yml").write_text(yaml.safe_dump(_student_config(root), sort_keys=False), encoding="utf8")
    shutil.copytree(
        root / "book", stage / "book", ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.ipynb")
    )
    parser = _md_parser()
    report = {}
    for doc in toc_docs(root):
        executed = p.executed / f"{doc}.ipynb"
        if not executed.is_file():
            continue  # not a notebook page: copied as it is
        nb = nbformat.read(executed, as_version=4)
        changed = strip_solutions(nb, parser)
        for source in (stage / f"{doc}.md", stage / f"{doc}.ipynb"):
            source.unlink(missing_ok=True)
        nbformat.write(nb, stage / f"{doc}.ipynb")
        report[doc] = changed
    exec_data = book_exec_data(root)
    (stage / "_exec_data.json").write_text(json.dumps(exec_data, indent=1), encoding="utf8")
    return report


def book_exec_data(root: Path = ROOT) -> dict[str, dict]:
    """myst-nb's execution data (mtime, runtime, method, succeeded) of each page of the book's last build,
    read from its Sphinx environment; {} if there is none."""
    import pickle

    path = Paths(root).build / ".doctrees" / "environment.pickle"
    try:
        with open(path, "rb") as handle:
            env = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, AttributeError, ImportError, EOFError):
        return {}
    out = {}
    for docname, data in (getattr(env, "nb_metadata", None) or {}).items():
        exec_data = (data or {}).get("exec_data")
        if exec_data:
            out[docname] = {key: exec_data.get(key) for key in ("mtime", "runtime", "method", "succeeded", "error")}
    return out


def student_is_current(root: Path = ROOT) -> bool:
    p = Paths(root)
    book = _read_stamp(p.book_stamp)
    student = _read_stamp(p.student_stamp)
    return (
        student.get("ok") is True
        and book.get("ok") is True
        and student.get("book_digest") == book.get("digest")
        and student.get("builder_digest") == _builder_digest()
        and (p.student_html / "index.html").is_file()
    )


def _builder_digest() -> str:
    """This file's own code decides the student edition too."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def build_student(root: Path = ROOT, force: bool = False) -> BuildResult:
    """The student edition in `_build/student/html`, from the executed notebooks of the book's build (which
    is built first when it is missing or out of date)."""
    p = Paths(root)
    book = build_book(root)
    if not book.ok:
        return BuildResult(
            False, p.student_html, "the book itself did not build:\n" + "\n".join(book.problems()), 0.0, reused=False
        )
    force = force or os.environ.get("MAPPO_LITE_REBUILD", "") not in ("", "0")
    with locked(p.build / ".student-build.lock"):
        if not force and student_is_current(root):
            stamp = _read_stamp(p.student_stamp)
            log = p.student_log.read_text(encoding="utf8") if p.student_log.is_file() else ""
            return BuildResult(True, p.student_html, log, float(stamp.get("seconds") or 0.0), reused=True)
        p.student_stamp.unlink(missing_ok=True)
        start = time.perf_counter()
        stage = p.student / "src"
        stripped = stage_student_sources(root, stage)
        (p.student / "stripped.json").write_text(json.dumps(stripped, indent=1), encoding="utf8")
        out = p.student / "out"
        shutil.rmtree(out, ignore_errors=True)
        proc = _jupyter_book(["build", str(stage), "--path-output", str(out), *STUDENT_BUILD_ARGS], cwd=root)
        log = proc.stdout + proc.stderr
        built = out / "_build" / "html"
        ok = proc.returncode == 0 and (built / "index.html").is_file()
        shutil.rmtree(p.student_html, ignore_errors=True)
        if built.is_dir():
            shutil.move(str(built), str(p.student_html))
        shutil.rmtree(out, ignore_errors=True)
        seconds = time.perf_counter() - start
        p.student_log.write_text(log, encoding="utf8")
        if ok:
            _write_stamp(
                p.student_stamp,
                ok=True,
                book_digest=_read_stamp(p.book_stamp).get("digest"),
                builder_digest=_builder_digest(),
                seconds=round(seconds, 1),
                finished=time.time(),
            )
        return BuildResult(ok, p.student_html, log, seconds, reused=False)


# ----------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["book", "stamp", "student", "digest"])
    parser.add_argument("--force", action="store_true", help="build even if the stamp says it is current")
    parser.add_argument("--digest", help="stamp: the digest of the sources the build started from")
    args = parser.parse_args(argv)
    if args.what == "digest":
        print(source_digest(ROOT))
        return 0
    if args.what == "stamp":
        stamp_book(ROOT, digest=args.digest or None)
        return 0
    result = (build_book if args.what == "book" else build_student)(ROOT, force=args.force)
    what = "book" if args.what == "book" else "student edition"
    if not result.ok:
        print("\n".join(result.problems()), file=sys.stderr)
        print(
            f"The {what} did not build (log: {Paths(ROOT).book_log if args.what == 'book' else Paths(ROOT).student_log}).",
            file=sys.stderr,
        )
        return 1
    how = "up to date, not rebuilt" if result.reused else f"built in {result.seconds:.0f} s"
    print(f"The {what} ({how}): {result.html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
