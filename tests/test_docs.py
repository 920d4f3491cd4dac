"""The documentation stays in step with the package: every public name is in the API reference and every
name the reference or the code of a page uses exists; the ``>>>`` examples of the pages run and print what the
pages say; and every code example of the how-to guides runs. (Building the HTML needs the ``docs`` extra; these
checks need only the package, but for the Sphinx extension's own tests at the end.)

How a how-to page (``docs/howto/*.rst``) is run: its ``>>>`` examples and its ``.. code-block:: python``
blocks, in the order of the page, in one namespace per page that starts with ``np`` and ``ln`` imported (as
the guides assume), in a temporary working directory. Two comments, invisible on the page, adjust this:

* ``.. test-setup:`` followed by an indented Python block runs that block at its place in the page. It
  builds what the prose says the reader already has (``posterior``, ``X``, ``T``, a fitted ``model``), so
  that the code after it runs as shown.
* ``.. skip-test: <reason>`` on the line before a code block (blank lines between allowed) skips that
  block. The reason is required; keep these few: a block is skipped only when running it would need what a
  test cannot have (a display, the network, minutes of computation).
"""
import doctest
import importlib
import re
import textwrap
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

import laplacenet as ln

DOCS = Path(__file__).resolve().parent.parent / "docs"
_BLOCK = re.compile(r"^\.\. api-autosummary::\s*\n((?:[ \t]+.*\n|[ \t]*\n)*)", re.MULTILINE)


def listed_api_names():
    """Names listed in the ``api-autosummary`` blocks of docs/api/*.rst."""
    names = set()
    for page in sorted((DOCS / "api").glob("*.rst")):
        for block in _BLOCK.findall(page.read_text(encoding="utf-8")):
            names.update(line.split()[0] for line in block.splitlines()
                         if line.strip() and not line.strip().startswith(":"))
    return names


def test_every_public_name_is_in_the_api_reference():
    listed = listed_api_names()
    # a public name may be listed under its own name or through its module (``evidence.EvidenceResult``)
    missing = [name for name in ln.__all__ if not name.startswith("__")
               and name not in listed and not any(entry.endswith("." + name) for entry in listed)]
    assert missing == [], f"public names missing from docs/api/*.rst: {missing}"


def api_name_exists(name):
    """``laplacenet.<name>`` as the docs extension resolves it: a plain name from ``__all__``, a dotted one
    through its module."""
    first, *rest = name.split(".")
    if not rest:
        return name in ln.__all__
    obj, path = ln, "laplacenet"
    for part in (first, *rest):
        path = f"{path}.{part}"
        if hasattr(obj, part):
            obj = getattr(obj, part)
        else:
            try:
                obj = importlib.import_module(path)
            except ModuleNotFoundError:
                return False
    return True


def test_every_name_of_the_api_reference_exists():
    """The extension warns about a listed name that does not exist, so that sphinx -W fails; this checks the
    same without Sphinx."""
    missing = sorted(name for name in listed_api_names() if not api_name_exists(name))
    assert missing == [], f"docs/api/*.rst list names that laplacenet does not have: {missing}"


_CODE_NAME = re.compile(r"(?<![\w.'\"])(?:ln|laplacenet)\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")
ALL_PAGES = sorted(path for path in DOCS.rglob("*.rst")
                   if not {"_build", "gen_modules", "auto_examples", "_ext"} & set(path.relative_to(DOCS).parts))


def code_of(text):
    """The ``>>>`` examples and the indented bodies of the python code blocks of a page, as one string."""
    examples = [line for line in text.splitlines() if line.lstrip().startswith((">>> ", "... "))]
    return "\n".join(examples + [block.source for block in page_blocks(text) if block.kind != "doctest"])


def test_every_ln_name_in_the_code_of_the_pages_exists():
    """``ln.read_metadata`` in a page: caught here for every page, how-to or not, run or not."""
    missing = []
    for page in ALL_PAGES:
        for path in _CODE_NAME.findall(code_of(page.read_text(encoding="utf-8"))):
            obj = ln
            for part in path.split("."):
                obj = getattr(obj, part, None)
            if obj is None:
                missing.append(f"{page.relative_to(DOCS)}: ln.{path}")
    assert missing == []


def test_api_listing_reads_the_blocks():
    # the parser above must see real entries, or the test before it would pass vacuously
    listed = listed_api_names()
    assert {"MLP", "train", "check"} <= listed
    assert not any(name.startswith(":") for name in listed)


HOWTOS = sorted((DOCS / "howto").glob("*.rst"))
# the other pages' >>> examples run as doctests; the how-tos run below, code blocks included
PAGES_WITH_EXAMPLES = [path for path in ALL_PAGES
                       if path not in HOWTOS and ">>> " in path.read_text(encoding="utf-8")]


def test_there_are_pages_with_examples():
    assert len(PAGES_WITH_EXAMPLES) >= 1 and len(HOWTOS) >= 8


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run(page):
    result = doctest.testfile(str(page), module_relative=False, report=True, verbose=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.FAIL_FAST)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {page.name} failed (see above)"


def test_readme_python_sample_runs():
    """The README's first look is code a newcomer copies: it must run and give a finite evidence."""
    source = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    code = re.findall(r"```python\n(.*?)```", source, re.S)
    assert len(code) == 1
    namespace = {}
    exec(compile(code[0], "README.md", "exec"), namespace)
    assert np.isfinite(namespace["fit"].log_evidence)
    assert namespace["variance"].shape == (8, 1) and np.all(namespace["variance"] > 0)


# --- every code example of the how-to guides runs -----------------------------------------------------------

class Block(NamedTuple):
    """A runnable piece of a page: ``kind`` is 'doctest' (a stretch of prose with its >>> examples), 'code',
    'setup' or 'skipped'; ``line`` the page's line number of its first line."""

    kind: str
    line: int
    source: str
    reason: str = ""


_CODE_DIRECTIVE = re.compile(r"^\.\. (?:code-block|code|sourcecode)::\s*python\s*$")
_SETUP_COMMENT = re.compile(r"^\.\. test-setup:\s*$")
_SKIP_COMMENT = re.compile(r"^\.\. skip-test:(.*)$")


def _indented_body(lines, start):
    """``(first line index, dedented text, index after)`` of the indented body from ``lines[start]`` on,
    skipping directive options (``:name: value``) at its head."""
    i = start
    while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith(":")) and \
            (not lines[i].strip() or lines[i][0].isspace()):
        i += 1
    first, end = i, i
    while end < len(lines) and (not lines[end].strip() or lines[end][0].isspace()):
        end += 1
    return first, textwrap.dedent("\n".join(lines[first:end])).strip("\n") + "\n", end


def page_blocks(text):
    """The runnable pieces of a page, in order (see the module docstring)."""
    lines, blocks, prose_start, reason, i = text.splitlines(), [], 0, None, 0

    def prose_until(end):
        chunk = "\n".join(lines[prose_start:end])
        if ">>> " in chunk:
            blocks.append(Block("doctest", prose_start + 1, chunk))

    while i < len(lines):
        skip = _SKIP_COMMENT.match(lines[i])
        if skip:
            reason = skip.group(1).strip()
            if not reason:
                raise ValueError(f"line {i + 1}: a skip-test comment must give its reason")
        directive = _CODE_DIRECTIVE.match(lines[i]) or _SETUP_COMMENT.match(lines[i])
        if directive:
            prose_until(i)
            first, source, i = _indented_body(lines, i + 1)
            if _SETUP_COMMENT.match(directive.string):
                kind = "setup"
            else:
                kind, reason = ("skipped", reason) if reason is not None else ("code", "")
            blocks.append(Block(kind, first + 1, source, reason or ""))
            reason, prose_start = None, i
            continue
        if reason is not None and lines[i].strip() and not skip:
            raise ValueError(f"line {i + 1}: a skip-test comment must stand just before a code block")
        i += 1
    prose_until(len(lines))
    return blocks


def test_page_blocks_reads_code_setup_skips_and_examples():
    page = textwrap.dedent("""\
        Title
        =====

        >>> a = 1

        .. test-setup:

           b = a + 1

        .. code-block:: python
           :caption: shown

           c = b + 1
           if c:
               d = c

        .. skip-test: needs a display

        .. code-block:: python

           plt.show()

        >>> d
        3
        """)
    blocks = page_blocks(page)
    assert [(b.kind, b.line) for b in blocks] == [("doctest", 1), ("setup", 8), ("code", 13), ("skipped", 21),
                                                  ("doctest", 23)]
    assert blocks[2].source == "c = b + 1\nif c:\n    d = c\n" and blocks[3].reason == "needs a display"
    with pytest.raises(ValueError, match="must give its reason"):
        page_blocks(".. skip-test:\n\n.. code-block:: python\n\n   x = 1\n")
    with pytest.raises(ValueError, match="just before a code block"):
        page_blocks(".. skip-test: later\n\nSome prose.\n")


def run_page(page):
    """Run the blocks of ``page`` in order in one namespace; fail at the first block that fails."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    namespace = {"__name__": "__main__", "np": np, "ln": ln}
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.FAIL_FAST
    runner, parser, ran = doctest.DocTestRunner(optionflags=flags), doctest.DocTestParser(), 0
    try:
        for block in page_blocks(page.read_text(encoding="utf-8")):
            if block.kind == "skipped":
                continue
            if block.kind == "doctest":
                test = doctest.DocTest(parser.get_examples(block.source), namespace, page.name, str(page),
                                       block.line - 1, block.source)
                report = []
                result = runner.run(test, out=report.append, clear_globs=False)
                assert result.failed == 0, "".join(report)
                ran += result.attempted
            else:
                exec(compile("\n" * (block.line - 1) + block.source, str(page), "exec"), namespace)
                ran += 1
    finally:
        plt.close("all")
    return ran


@pytest.mark.parametrize("page", HOWTOS, ids=lambda p: p.name)
def test_howto_code_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # what the examples save stays out of the checkout
    if not any(b.kind in ("doctest", "code") for b in page_blocks(page.read_text(encoding="utf-8"))):
        assert page.name == "index.rst", f"{page.name} has no code to run"
        return
    assert run_page(page) > 0


def test_skipped_howto_blocks_are_few():
    skipped = [(page.name, block.line, block.reason) for page in HOWTOS
               for block in page_blocks(page.read_text(encoding="utf-8")) if block.kind == "skipped"]
    code = [block for page in HOWTOS for block in page_blocks(page.read_text(encoding="utf-8"))
            if block.kind in ("code", "skipped")]
    assert len(skipped) <= max(2, len(code) // 5), f"too many skipped blocks: {skipped}"


# --- the Sphinx extension fails the build on names that do not exist (needs the docs extra) ------------------

def test_the_docs_extension_warns_about_names_that_do_not_exist(tmp_path):
    """A tiny project built with the extension: an unknown name in an API listing, in code and in a
    cross-reference each give a warning (an error under ``sphinx -W``); the names that exist give none."""
    # sphinx is in the test extra: the check runs wherever the tests do
    from sphinx.cmd.build import build_main
    (tmp_path / "api").mkdir()
    (tmp_path / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(DOCS / '_ext')!r})\n"
        "extensions = ['sphinx.ext.autodoc', 'sphinx.ext.autosummary', 'laplacenet_docs']\n"
        "autosummary_generate = False\n", encoding="utf-8")
    (tmp_path / "index.rst").write_text(textwrap.dedent("""\
        Index
        =====

        .. toctree::

           api/io

        .. currentmodule:: laplacenet

        See :func:`read_metadata`, :func:`io.read_metadata`, :func:`io.save`, :class:`ValueError` and
        :func:`numpy.sum`.

        .. code-block:: python

           meta = ln.read_metadata("model.npz")
           meta = ln.io.read_metadata("model.npz")

        >>> ln.datasets.load_nothing()
        """), encoding="utf-8")
    (tmp_path / "api" / "io.rst").write_text(textwrap.dedent("""\
        IO
        ==

        .. currentmodule:: laplacenet

        .. api-autosummary::

           ACTIVATIONS
           read_metadata
           io.read_metadata
        """), encoding="utf-8")
    warnings_file = tmp_path / "warnings.txt"
    status = build_main(["-q", "-b", "html", "-w", str(warnings_file), str(tmp_path), str(tmp_path / "_build")])
    warned = warnings_file.read_text(encoding="utf-8")
    assert status == 0  # without -W the build goes on; the warnings below make ``sphinx -W`` fail
    assert re.search(r"io\.rst:9: WARNING: laplacenet\.read_metadata is listed in an api-autosummary block but "
                     r"is not in laplacenet", warned)
    assert "ln.read_metadata is used in code but laplacenet.read_metadata does not exist" in warned
    assert "ln.datasets.load_nothing is used in code but laplacenet.datasets.load_nothing does not exist" in warned
    assert re.search(r"index\.rst:\d+: WARNING: func reference to 'read_metadata' names nothing in laplacenet",
                     warned)
    assert "func reference to 'io.save' is not in the API reference" in warned  # exists, but has no page
    for fine in ("ACTIVATIONS is listed", "ln.io.read_metadata is used", "'io.read_metadata'", "ValueError",
                 "numpy.sum"):
        assert fine not in warned
