"""Sphinx configuration of the laplacenet documentation.

Build (warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

``-D plot_gallery=0`` skips running the examples for a quick look at the prose.
"""
import os
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")  # headless: the gallery and the plot directive draw off-screen

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

import laplacenet  # noqa: E402  (after the path set-up above)

project = "laplacenet"
author = "The laplacenet developers"
copyright = "the laplacenet developers"
version = release = laplacenet.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "laplacenet_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "gen_modules/_examples", "Thumbs.db", ".DS_Store",
                    "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip"]
default_role = "py:obj"  # `name` links to the API object, as in NumPy's and SciPy's docs
pygments_style = "sphinx"
smartquotes = False  # keep "--option" in generated CLI help as typed; the pages use typographic characters

# --- API reference: docs/api/*.rst list names with the api-autosummary directive (laplacenet_docs) --
autosummary_generate = False  # laplacenet_docs writes the stubs, for the names that exist
autodoc_member_order = "bysource"
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False  # autodoc's :members: documents methods; no stub tables
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# --- Markdown pages (performance.md, woodbury.md) ---------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "deflist"]
myst_heading_anchors = 3

# --- The gallery: every script of examples/ run, its output and figures in the pages ---------------
sphinx_gallery_conf = {
    # laplacenet_docs copies examples/ here first (adding a gallery header if examples/ has none)
    "examples_dirs": ["gen_modules/_examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"\.py$",  # run every example, not only plot_*.py
    "ignore_pattern": r"(__init__|/_[^/]*)\.py$",  # helper modules (leading underscore) are not examples
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("laplacenet",),
    "remove_config_comments": True,
    "show_memory": False,
    "download_all_examples": False,
    "min_reported_time": 1,
    "write_computation_times": False,  # no sg_execution_times.rst in the source tree
}

# --- HTML: the PyData theme, as NumPy, SciPy and ArviZ use ------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"laplacenet {release}"
html_static_path = ["_static"]
html_css_files = ["laplacenet.css"]
html_theme_options = {
    "logo": {"text": "laplacenet"},
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {"index": [], "installation": [], "quickstart": [], "comparison": [], "cli": []}
html_show_sourcelink = True
