"""The book's own checks: every chapter runs, the table of contents is complete, no notebook carries outputs.

Each MyST notebook listed in ``_toc.yml`` is converted with jupytext and executed with nbclient in a fresh
``python3`` kernel (the interpreter running pytest, i.e. the project's venv), with the chapter's folder as
working directory and a 300 s limit per cell -- the same conditions as ``make book``. A cell tagged
``raises-exception`` may raise (as in the book); any other error fails the chapter's test with the cell's
source and traceback. One more test builds the whole book exactly as ``make book`` does (every page
re-executed, nitpicky, warnings as errors), so CI, which runs ``make test``, also guards the book build. That
build goes to ``_build/html`` and is shared with ``tests/test_browser.py`` and ``tests/test_student_edition.py``
(``book/_ext/book_editions.py``: built once per digest of the sources and installed packages, under a file lock;
a successful ``make book`` of the same sources is reused).

Run only the fast checks with ``pytest -m "not chapter"``.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.fixtures import book_extension

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
TOC = ROOT / "_toc.yml"
CELL_TIMEOUT = 300  # seconds, same as execute.timeout in _config.yml
KERNEL_NAME = "python3"

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# ----------------------------------------------------------------------------------------------------------
# helpers


def toc_files(toc_path: Path = TOC) -> list[str]:
    """Every document named in a jb-book ``_toc.yml`` (root first), as paths without suffix."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf8"))
    found = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return found


def resolve_doc(entry: str) -> Path:
    """The source file of a toc entry (entries may omit the suffix)."""
    path = ROOT / entry
    if path.suffix in (".md", ".ipynb") and path.is_file():
        return path
    for suffix in (".md", ".ipynb"):
        candidate = path.with_name(path.name + suffix)
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"_toc.yml lists {entry!r} but no {entry}.md or {entry}.ipynb exists")


def is_myst_notebook(path: Path) -> bool:
    """A MyST markdown notebook: a .md file whose front matter has a jupytext/kernelspec header."""
    if path.suffix != ".md":
        return False
    text = path.read_text(encoding="utf8")
    match = re.match(r"---\s*\n(.*?)\n---\s*\n", text, flags=re.S)
    if not match:
        return False
    header = yaml.safe_load(match.group(1)) or {}
    return "kernelspec" in header or "jupytext" in header


def chapter_notebooks() -> list[Path]:
    return [p for p in map(resolve_doc, toc_files()) if is_myst_notebook(p)]


def execute_myst_notebook(path: Path, timeout: int = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """Execute a MyST notebook top to bottom in a fresh kernel, cwd = its folder; raise on any cell error.

    Raises ``CellExecutionError`` (from nbclient) naming the failing cell, unless that cell is tagged
    ``raises-exception``.
    """
    nb = jupytext.read(path)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=KERNEL_NAME,
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return nb


def run_chapter_or_fail(path: Path) -> None:
    try:
        execute_myst_notebook(path)
    except CellExecutionError as err:
        message = _ANSI.sub("", str(err))
        pytest.fail(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: a cell raised\n{message}", pytrace=False
        )


# ----------------------------------------------------------------------------------------------------------
# every chapter executes


@pytest.mark.chapter
@pytest.mark.portable
@pytest.mark.parametrize(
    "chapter",
    chapter_notebooks(),
    ids=lambda p: str(p.relative_to(ROOT).with_suffix("")),
)
def test_chapter_executes(chapter: Path) -> None:
    run_chapter_or_fail(chapter)


@pytest.mark.chapter
def test_whole_book_builds_with_warnings_as_errors() -> None:
    """What `make book` does (CI runs only `make test`): catches broken references, citations, directives."""
    book_editions = book_extension("book_editions")  # `jupyter-book build . --all -n -W --keep-going`

    result = book_editions.build_book(ROOT)
    if not result.ok:
        pytest.fail("jupyter-book build failed:\n" + "\n".join(result.problems()), pytrace=False)
    assert (result.html / "index.html").is_file()
    print(
        f"book {'reused (same sources as a successful build)' if result.reused else f'built in {result.seconds:.0f} s'}"
    )


# ----------------------------------------------------------------------------------------------------------
# the table of contents and the repository


def test_toc_entries_exist() -> None:
    for entry in toc_files():
        resolve_doc(entry)  # raises if missing


def test_every_folder_git_ignores_is_excluded_from_the_book() -> None:
    """What `make test-clients`, `make test-portable` or `pip wheel .` leave in the checkout (other projects' docs in
    the client venvs, a copy of this tree) must not be read by `make book`: Sphinx would warn on it and -W fails."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
    excluded = set(config["exclude_patterns"])
    folders = [
        line.strip().strip("/")
        for line in (ROOT / ".gitignore").read_text(encoding="utf8").splitlines()
        if line.strip().endswith("/") and not any(ch in line for ch in "*?[")
    ]
    missing = [
        f for f in folders if f != "__pycache__" and not any(fnmatch.fnmatch(f, pattern) for pattern in excluded)
    ]
    assert not missing, f"add to exclude_patterns in _config.yml: {missing}"


def test_toc_lists_every_markdown_file_under_book() -> None:
    listed = {resolve_doc(entry).resolve() for entry in toc_files()}
    on_disk = {
        p.resolve()
        for p in BOOK.rglob("*.md")
        # helper folders (_ext, _static, ...) and checkpoints are not pages
        if not any(part.startswith(("_", ".")) for part in p.relative_to(BOOK).parts)
    }
    missing = sorted(str(p.relative_to(ROOT)) for p in on_disk - listed)
    assert not missing, f"these pages are not in _toc.yml (only_build_toc_files would drop them): {missing}"


def _tracked_notebooks() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--", "*.ipynb"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        return [ROOT / name for name in out.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: look at the files themselves
        skip = {".venv", "_build", ".git"}
        return [p for p in ROOT.rglob("*.ipynb") if not skip.intersection(p.relative_to(ROOT).parts)]


def test_no_notebook_committed_with_outputs() -> None:
    dirty = []
    for path in _tracked_notebooks():
        if not path.is_file():
            continue
        nb = json.loads(path.read_text(encoding="utf8"))
        if any(
            c.get("outputs") or c.get("execution_count") for c in nb.get("cells", []) if c.get("cell_type") == "code"
        ):
            dirty.append(str(path.relative_to(ROOT)))
    assert not dirty, f"notebooks committed with outputs (clear them first): {dirty}"


# ----------------------------------------------------------------------------------------------------------
# the harness itself, on notebooks written by the test


MYST_HEADER = textwrap.dedent(
    """\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
        format_version: 0.13
    kernelspec:
      display_name: Python 3 (ipykernel)
      language: python
      name: python3
    ---

    # A scratch chapter
    """
)


def _write_notebook(folder: Path, body: str) -> Path:
    path = folder / "scratch_chapter.md"
    path.write_text(MYST_HEADER + textwrap.dedent(body), encoding="utf8")
    return path


@pytest.mark.chapter
def test_harness_runs_a_good_notebook(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("42", encoding="utf8")
    path = _write_notebook(
        tmp_path,
        f"""
        ```{{code-cell}} ipython3
        import os, sys
        # the kernel is the interpreter running the tests (the venv), started in the chapter's folder
        assert os.path.realpath(sys.prefix) == {str(Path(sys.prefix).resolve())!r}, sys.prefix
        assert open("data.txt").read() == "42", os.getcwd()
        x = 6 * 7
        ```

        ```{{code-cell}} ipython3
        :tags: [raises-exception]
        1 / 0  # allowed: the cell is tagged raises-exception
        ```

        ```{{code-cell}} ipython3
        print(x)
        ```
        """,
    )
    assert is_myst_notebook(path)
    nb = execute_myst_notebook(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[1].outputs[0]["ename"] == "ZeroDivisionError"
    assert code[2].outputs[0]["text"] == "42\n"


@pytest.mark.chapter
def test_harness_reports_a_failing_cell(tmp_path: Path) -> None:
    path = _write_notebook(
        tmp_path,
        """
        ```{code-cell} ipython3
        y = 1
        ```

        ```{code-cell} ipython3
        raise RuntimeError("this chapter is broken")
        ```

        ```{code-cell} ipython3
        z = 2
        ```
        """,
    )
    with pytest.raises(pytest.fail.Exception) as info:
        run_chapter_or_fail(path)
    message = str(info.value)
    assert "RuntimeError" in message and "this chapter is broken" in message
    assert 'raise RuntimeError("this chapter is broken")' in message  # the failing cell's source is shown


def test_plain_markdown_is_not_a_notebook(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Just a page\n\nNo code here.\n", encoding="utf8")
    assert not is_myst_notebook(page)
    assert is_myst_notebook(_write_notebook(tmp_path, ""))


def test_every_package_path_the_book_readme_or_code_names_exists() -> None:
    """A path like `mappo_lite/games/sparse.py` in a chapter, the README or a docstring is where a reader goes to look: after a
    module moves, the text must follow (the book named `mappo_lite/kernels.py` for a while after it became a
    package)."""
    named = re.compile(r"(?<![/\w.-])mappo_lite/[A-Za-z0-9_/]+(?:\.[a-z]+)?")  # not inside a URL or another path
    texts = sorted((ROOT / "book").glob("*.md")) + [ROOT / "README.md"]
    texts += sorted(p for d in ("mappo_lite", "tests") for p in (ROOT / d).rglob("*.py"))  # docstrings, comments
    texts = [p for p in texts if p != Path(__file__).resolve()]  # this docstring names a stale path on purpose
    missing = []
    for path in texts:
        for lineno, line in enumerate(path.read_text(encoding="utf8").splitlines(), start=1):
            for m in named.finditer(line):
                target = ROOT / m.group(0).rstrip("/")
                if not (target.exists() or (target.suffix == "" and target.with_suffix(".py").exists())):
                    missing.append(f"{path.relative_to(ROOT)}:{lineno}: {m.group(0)}")
    assert not missing, "named but not in the repository:\n" + "\n".join(missing)
