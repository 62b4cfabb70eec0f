"""Figure and experiment functions used by the book's chapters, one module per topic.

Each module exposes functions that compute an experiment's data (seeded, deterministic) and functions that draw it
on a :class:`matplotlib.figure.Figure` (no pyplot global state), so a chapter shows a static figure at the default
values and wraps the same function in ipywidgets for readers running it in JupyterLab.
"""
