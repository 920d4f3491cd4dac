"""The documentation stays in step with the package: every public name is in the API reference, and the
``>>>`` examples of the pages run and print what the pages say. (Building the HTML needs the ``docs`` extra;
these checks need only the package.)"""
import doctest
import re
from pathlib import Path

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


def test_api_listing_reads_the_blocks():
    # the parser above must see real entries, or the test before it would pass vacuously
    listed = listed_api_names()
    assert {"MLP", "train", "check"} <= listed
    assert not any(name.startswith(":") for name in listed)


PAGES_WITH_EXAMPLES = sorted(path for path in DOCS.rglob("*.rst")
                             if "_build" not in path.parts and "gen_modules" not in path.parts
                             and "auto_examples" not in path.parts and ">>> " in path.read_text(encoding="utf-8"))


def test_there_are_pages_with_examples():
    assert len(PAGES_WITH_EXAMPLES) >= 2


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
