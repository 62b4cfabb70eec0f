"""Pages that work offline and open without a JavaScript error.

Two things Jupyter Book 1 puts on every page that this book does not want (tests/book/test_browser.py checks the
result in a real browser):

* sphinx-thebe's assets. Jupyter Book always loads sphinx-thebe, which adds an inline script naming
  ``https://unpkg.com/thebe@.../lib/index.js`` (fetched when a reader presses a Thebe launch button) plus
  ``sphinx-thebe.js``/``.css`` to every page. This book has no Thebe button (``launch_buttons.thebe: false``:
  nothing that needs a network works here), and the inline script is added twice whenever myst-nb re-reads the
  execution-status page, so every page threw ``SyntaxError: Identifier 'THEBE_JS_URL' has already been
  declared``. Without a Thebe launch button the assets are dropped from every page.
* pydata-sphinx-theme's colour mode. With no ``default_mode`` in ``html_context`` the theme starts from an
  empty mode and logs ``Got invalid theme mode: . Resetting to auto.`` as a console error on a reader's first
  visit; ``default_mode`` is set to ``auto`` (follow the reader's system setting) unless the book sets it.

And one thing for the search page: Sphinx's search shows each result with a summary that it fetches from the
result's page, which a browser refuses for pages opened from ``file://`` (a console error per result, no
summary). On ``file://`` the search page lists the results without summaries; served over http it keeps them.
"""

from __future__ import annotations


def _thebe_enabled(app) -> bool:
    options = getattr(app.config, "html_theme_options", None) or {}
    launch = options.get("launch_buttons") or {}
    thebe_config = getattr(app.config, "thebe_config", None) or {}
    return bool(launch.get("thebe")) or bool(isinstance(thebe_config, dict) and thebe_config.get("always_load"))


def _is_thebe_asset(asset) -> bool:
    filename = str(getattr(asset, "filename", asset) or "")
    body = str((getattr(asset, "attributes", None) or {}).get("body", ""))
    return "sphinx-thebe" in filename or "thebe@" in filename or "THEBE_JS_URL" in body


def _drop_thebe_assets(app, pagename, templatename, context, doctree):
    if _thebe_enabled(app):
        return
    for key in ("script_files", "css_files"):
        assets = context.get(key)
        if assets:
            # in place: Sphinx restores the builder's lists after each page
            assets[:] = [asset for asset in assets if not _is_thebe_asset(asset)]


_NO_SUMMARY_ON_FILE = (
    'if (location.protocol === "file:" && typeof DOCUMENTATION_OPTIONS !== "undefined") '
    "{ DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false; }"
)


def _search_page_offline(app, pagename, templatename, context, doctree):
    if pagename == "search":
        # after documentation_options.js (priority 200), before the search runs (on DOMContentLoaded)
        app.add_js_file(None, body=_NO_SUMMARY_ON_FILE, priority=300)


def _default_colour_mode(app, config):
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "auto")
    config.html_context = context


def setup(app):
    app.connect("config-inited", _default_colour_mode)
    # late, after the extensions (and the theme) have added their assets for the page
    app.connect("html-page-context", _drop_thebe_assets, priority=900)
    app.connect("html-page-context", _search_page_offline)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
