"""Offer every executed MyST notebook page as a ``.ipynb`` download.

sphinx-book-theme 1.x only copies the executed notebook into ``_sources/`` (which is what makes the
download menu show ``.ipynb``) when a launch provider (Binder, JupyterHub, Colab, Thebe, ...) is
configured. Every launch provider needs internet, so this book configures none; this small extension
does the copy instead. It runs just before the theme builds its header buttons.
"""

from pathlib import Path
from shutil import copy2

from myst_nb.sphinx_ext import OUTPUT_FOLDER


def _add_ipynb_source(app, pagename, templatename, context, doctree):
    if doctree is None or "kernelspec" not in app.env.metadata.get(pagename, {}):
        return  # not a notebook page
    if not context.get("sourcename", "").endswith((".md", ".md.txt")):
        return  # a real .ipynb source is offered by the theme itself
    executed = Path(app.outdir).parent / OUTPUT_FOLDER / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    # The theme reads context["ipynb_source"] in handlers registered with priority 501.
    app.connect("html-page-context", _add_ipynb_source, priority=499)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
