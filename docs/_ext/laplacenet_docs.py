"""A small Sphinx extension for the laplacenet documentation.

* ``.. api-autosummary::`` - an ``autosummary`` table over names relative to ``laplacenet``, one line per
  name. The stub page of every listed name is written to ``gen_modules/`` when the builder starts (stale
  stubs are removed). A listed name that does not exist is a warning, so ``sphinx -W`` fails instead of the
  reference dropping it; so is a public name of ``laplacenet.__all__`` that no API page lists.
* Names used in code: every ``ln.<name>`` and ``laplacenet.<name>`` (dotted paths included) in a code
  block or ``>>>`` example of a page must exist in the installed package, and a Python cross-reference
  (``:func:``, ```name```, ...) written in a page that names nothing is a warning when it points into
  laplacenet (references into other packages are left to Sphinx).
* ``.. laplacenet-cli::`` - the command-line reference, generated from ``laplacenet.cli.build_parser()``:
  usage, description, arguments and options of the program and of every subcommand.
* The gallery source: ``examples/`` is copied to ``gen_modules/_examples`` before sphinx-gallery runs,
  with ``_gallery_header.rst`` as its header when ``examples/`` has none of its own, so that the
  examples run from a copy and anything they write stays out of the source tree.
"""
import argparse
import builtins
import importlib
import importlib.util
import inspect
import posixpath
import re
import shutil
import types
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.ext.autosummary import Autosummary
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

PACKAGE = "laplacenet"
API_DIR = "api"
STUB_DIR = "gen_modules"
STAGED_EXAMPLES = "gen_modules/_examples"
GALLERY_HEADERS = ("GALLERY_HEADER.rst", "GALLERY_HEADER.txt", "README.rst", "README.txt")
HERE = Path(__file__).resolve().parent

_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+api-autosummary::\s*$")


# --- names -------------------------------------------------------------------------------------------

def resolve(name):
    """The public object ``laplacenet.<name>``, or None when it is not there (yet).

    A plain name must be in ``laplacenet.__all__``; a dotted one (``cli.main``) is looked up through its
    submodule. A submodule that exists but fails to import raises, so a broken module fails the build
    instead of vanishing from the reference.
    """
    package = importlib.import_module(PACKAGE)
    first, *rest = name.split(".")
    if not rest:
        return getattr(package, name) if name in package.__all__ else None
    obj, path = package, PACKAGE
    for part in (first, *rest):
        path = f"{path}.{part}"
        if hasattr(obj, part):
            obj = getattr(obj, part)
        elif not isinstance(obj, types.ModuleType):
            return None
        else:
            try:
                obj = importlib.import_module(path)
            except ModuleNotFoundError as ex:
                if ex.name == path:
                    return None
                raise
    return obj


def listed_entries(page_text):
    """``(name, line number)`` of the entries of the ``api-autosummary`` blocks of one page, in order."""
    entries, lines, i = [], page_text.splitlines(), 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        i += 1
        if not match:
            continue
        indent = len(match.group(1))
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            entry = lines[i].strip()
            if entry and not entry.startswith(":") and not entry.startswith(".."):
                entries.append((entry.split()[0], i + 1))
            i += 1
    return entries


_CODE_NAME = re.compile(r"(?<![\w.'\"])(ln|laplacenet)\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")


def code_names(code):
    """``ln.<path>`` and ``laplacenet.<path>`` in a piece of code, as ``(written, path)`` in order; of a
    ``>>>`` example only its source lines count (not the output it shows), and a name opening a string
    (``'laplacenet.model'``) is not one."""
    if code.lstrip().startswith(">>>"):
        code = "\n".join(line for line in code.splitlines() if line.lstrip().startswith((">>>", "...")))
    return [(match.group(0), match.group(2)) for match in _CODE_NAME.finditer(code)]


def attribute_exists(path):
    """Whether ``laplacenet.<path>`` can be reached by attribute access (as code using it would) or, failing
    that, by importing the submodules it names (``from laplacenet.bayes.symmetry import ...``)."""
    if resolve(path) is not None:
        return True
    obj = importlib.import_module(PACKAGE)
    for part in path.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def api_pages(srcdir):
    """The API reference pages, ``docs/api/*.rst``."""
    return sorted((Path(srcdir) / API_DIR).glob("*.rst"))


# --- stubs -------------------------------------------------------------------------------------------

def _stub(name, obj):
    full = f"{PACKAGE}.{name}"
    title = f"{full}\n{'=' * len(full)}\n\n"
    if isinstance(obj, types.ModuleType):
        members = [f"{full}.{m}" for m in getattr(obj, "__all__", ()) if callable(getattr(obj, m, None))]
        gallery = f"\n.. minigallery:: {' '.join(members)}\n   :add-heading:\n" if members else ""
        return title + f".. automodule:: {full}\n   :members:\n" + gallery
    if inspect.isclass(obj):
        extra = "   :show-inheritance:\n" if issubclass(obj, BaseException) else ""
        body = f".. autoclass:: {full}\n   :members:\n{extra}"
        return title + body + f"\n.. minigallery:: {full}\n   :add-heading:\n"
    if callable(obj):
        return title + f".. autofunction:: {full}\n\n.. minigallery:: {full}\n   :add-heading:\n"
    module, _, attr = full.rpartition(".")
    text = f".. currentmodule:: {module}\n\n.. data:: {attr}\n\n   A ``{type(obj).__name__}``"
    if isinstance(obj, dict):
        text += " with the keys " + ", ".join(f"``{key!r}``" for key in obj)
    return title + text + ".\n"


def write_stubs(app):
    """Write a stub page for every listed name that exists; warn about public names no page lists."""
    srcdir = Path(app.srcdir)
    stub_dir = srcdir / STUB_DIR
    stub_dir.mkdir(exist_ok=True)
    listed = {}
    for page in api_pages(srcdir):
        for name, line in listed_entries(page.read_text(encoding="utf-8")):
            obj = resolve(name)
            if obj is None:
                logger.warning(f"{PACKAGE}.{name} is listed in an api-autosummary block but is not in {PACKAGE} "
                               f"(a plain name must be in {PACKAGE}.__all__; a dotted one is looked up through its "
                               "module)", location=f"{page}:{line}", type="laplacenet", subtype="api")
            else:
                listed[name] = obj
    wanted = {f"{PACKAGE}.{name}.rst": _stub(name, obj) for name, obj in listed.items()}
    for path in stub_dir.glob(f"{PACKAGE}.*.rst"):
        if path.name not in wanted:
            path.unlink()
    for filename, text in wanted.items():
        path = stub_dir / filename
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    package = importlib.import_module(PACKAGE)
    for name in public_names():
        if not any(obj is getattr(package, name) for obj in listed.values()):
            logger.warning(f"{PACKAGE}.{name} is public (in {PACKAGE}.__all__) but no page of docs/{API_DIR}/ "
                           "lists it in an api-autosummary block", type="laplacenet", subtype="api")


def public_names():
    """``laplacenet.__all__`` without the dunder names."""
    package = importlib.import_module(PACKAGE)
    return [name for name in package.__all__ if not name.startswith("__")]


class ApiAutosummary(Autosummary):
    """``autosummary`` over the listed names that exist, linked to the stubs in ``gen_modules/``.

    Names are relative to ``laplacenet``: put ``.. currentmodule:: laplacenet`` above the block.
    """

    def run(self):
        here = posixpath.dirname(self.env.current_document.docname)
        self.options.setdefault("toctree", posixpath.relpath(STUB_DIR, here or "."))
        # names that do not exist were reported by write_stubs; left out here so autosummary does not fail on them
        kept = [line for line in self.content
                if not line.strip() or line.strip().startswith(":") or resolve(line.strip().split()[0]) is not None]
        self.content = StringList(kept, source=self.content.source(0) if self.content else "")
        return super().run()


# --- names in code and cross-references of the pages -------------------------------------------------

def check_code_names(app, doctree):
    """Warn about every ``ln.<name>`` / ``laplacenet.<name>`` of a code block or example that does not exist."""
    docname = app.env.current_document.docname
    if _generated(docname):
        return
    for block in doctree.findall(lambda node: isinstance(node, (nodes.literal_block, nodes.doctest_block))):
        if block.get("language", "python") not in ("python", "pycon", "default", "py", "ipython"):
            continue
        for written, path in code_names(block.astext()):
            if not attribute_exists(path):
                logger.warning(f"{written} is used in code but {PACKAGE}.{path} does not exist", location=block,
                               type="laplacenet", subtype="code")


def check_reference(app, env, node, contnode):
    """``missing-reference``: a Python cross-reference in a page (not a docstring) that points into laplacenet
    and names nothing is a warning. Returns None, so Sphinx's own handling goes on."""
    if node.get("refdomain") != "py" or _generated(node.get("refdoc", "")):
        return None
    source = str(node.source or "")
    if not source.endswith((".rst", ".md")):  # e.g. an autosummary table's docstring summary
        return None
    target = node.get("reftarget", "").lstrip("~.")
    first = target.split(".")[0]
    if first != PACKAGE:
        ours = (node.get("py:module") or "").startswith(PACKAGE) and (
            hasattr(importlib.import_module(PACKAGE), first)
            or not (hasattr(builtins, first) or importlib.util.find_spec(first)))
        if not ours:
            return None  # a builtin or another package's name: ValueError, numpy, scipy, ...
    path = target[len(PACKAGE) + 1:] if first == PACKAGE else target
    what = ("is not in the API reference (list it in an api-autosummary block of docs/api/)"
            if attribute_exists(path) else f"names nothing in {PACKAGE}")
    logger.warning(f"{node.get('reftype')} reference to {target!r} {what}", location=node, type="laplacenet",
                   subtype="ref")
    return None


def skip_foreign_members(app, what, name, obj, skip, options):
    """``autodoc-skip-member``: leave out of the API pages the methods a class inherits from another package
    (scikit-learn's ``set_fit_request`` and the like, documented there)."""
    module = getattr(obj, "__module__", None)
    if what == "class" and isinstance(module, str) and module.split(".")[0] not in (PACKAGE, "builtins"):
        return True
    return None


def _generated(docname):
    return docname.startswith((STUB_DIR + "/", "auto_examples/"))


# --- command-line reference --------------------------------------------------------------------------

def _paragraph(text):
    return nodes.paragraph(text, text)


def _arguments(parser):
    """A definition list of the positional arguments and options of ``parser`` (help expanded)."""
    formatter = parser._get_formatter()
    items = nodes.definition_list()
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
            continue
        invocation = formatter._format_action_invocation(action)
        help_text = formatter._expand_help(action) if action.help else ""
        items += nodes.definition_list_item(
            "", nodes.term("", "", nodes.literal(invocation, invocation)),
            nodes.definition("", _paragraph(help_text)))
    return items


def _subcommands(parser):
    """``[(help, subparser)]`` of the subcommands of ``parser``, in the order they were added."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            found += [(helps.get(name) or "", sub) for name, sub in action.choices.items()]
    return found


class CommandLineReference(SphinxDirective):
    """``.. laplacenet-cli::``: the reference of ``laplacenet.cli.build_parser()``."""

    has_content = False

    def run(self):
        from laplacenet.cli import build_parser
        return self._parser_nodes(build_parser(), None)

    def _parser_nodes(self, parser, help_text):
        out = []
        if help_text:
            out.append(_paragraph(help_text))
        usage = parser.format_usage().strip()
        out.append(nodes.literal_block(usage, usage, language="text"))
        if parser.description:
            out += [_paragraph(block) for block in parser.description.split("\n\n")]
        out.append(_arguments(parser))
        if parser.epilog:
            out.append(_paragraph(parser.epilog))
        for sub_help, sub in _subcommands(parser):
            title = sub.prog
            section = nodes.section(ids=[nodes.make_id(f"cli-{title}")], names=[nodes.fully_normalize_name(title)])
            section += nodes.title("", "", nodes.literal(title, title))
            section += self._parser_nodes(sub, sub_help)
            self.state.document.note_implicit_target(section, section)
            out.append(section)
        return out


# --- gallery source ----------------------------------------------------------------------------------

_DOCSTRING = re.compile(r'\A((?:[ \t]*(?:#[^\n]*)?\n)*)[rR]?("""|\'\'\')(.*?)\2', re.DOTALL)
_UNDERLINE = re.compile(r"^([=\-~^*+#`])\1{2,}\s*$")


def missing_gallery_title(source_text):
    """True when a script's docstring does not open with an underlined reST title, as sphinx-gallery wants."""
    match = _DOCSTRING.match(source_text)
    if not match:
        return True
    lines = match.group(3).strip().splitlines()
    return len(lines) < 2 or not _UNDERLINE.match(lines[1])


def with_gallery_title(source_text, stem):
    """The script with its docstring's first paragraph made its title (a title from ``stem`` if it has none)."""
    match = _DOCSTRING.match(source_text)
    if not match:
        title = stem.replace("_", " ").capitalize()
        return f'"""{title}\n{"=" * len(title)}\n"""\n' + source_text
    first, _, rest = match.group(3).strip().partition("\n\n")
    title = " ".join(first.split()).rstrip(".")
    doc = f"{title}\n{'=' * len(title)}\n\n{rest}".rstrip() + "\n"
    return source_text[:match.start(3)] + doc + source_text[match.end(3):]


def stage_examples(app, config):
    """Copy ``examples/`` to ``gen_modules/_examples`` for sphinx-gallery.

    A gallery header is added when ``examples/`` has none, and a script whose docstring lacks an
    underlined title gets its first paragraph as title in the copy (with a build-log note), so the
    gallery builds while the scripts are being brought to sphinx-gallery's conventions.
    """
    srcdir = Path(app.srcdir)
    source = srcdir.parent / "examples"
    if not source.is_dir():  # a project without a gallery
        return
    target = srcdir / STAGED_EXAMPLES
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if not any((target / name).is_file() for name in GALLERY_HEADERS):
        shutil.copyfile(HERE / "_gallery_header.rst", target / "GALLERY_HEADER.rst")
    for script in sorted(target.rglob("*.py")):
        text = script.read_text(encoding="utf-8")
        if missing_gallery_title(text):
            logger.info(f"examples/{script.relative_to(target)}: docstring has no reST title; using its first "
                        "paragraph as the gallery title")
            script.write_text(with_gallery_title(text, script.stem), encoding="utf-8")


def setup(app):
    app.connect("config-inited", stage_examples)
    app.connect("builder-inited", write_stubs, priority=400)
    app.connect("doctree-read", check_code_names)
    app.connect("missing-reference", check_reference)
    app.connect("autodoc-skip-member", skip_foreign_members)
    app.add_directive("api-autosummary", ApiAutosummary)
    app.add_directive("laplacenet-cli", CommandLineReference)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
