"""Reading an NPZ archive and its JSON without trusting them: sizes are checked before data is read.

:class:`NpzArchive` checks the zip directory when it opens a file - every entry a plain (stored or deflated,
unencrypted) ``.npy`` array, the declared uncompressed sizes within :data:`MAX_EXPANSION` times the file's
size - and reads the ``.npy`` header of every entry (a few hundred bytes each): no object dtype, and a shape
whose bytes are exactly the entry's declared size. A caller compares the shape with what it expects
(:meth:`NpzArchive.header`) before it reads the data (:meth:`NpzArchive.read`), so what a file can make
:func:`numpy.lib.format.read_array` allocate is what the caller expected, never what the file claims.
:func:`parse_json` bounds the size and the nesting of a JSON document. Every refusal is an
:class:`ArchiveError` (a ``ValueError``) saying what is wrong; the caller names the file.
"""
import json
import math
import os
import tokenize
import zipfile

import numpy as np

#: the declared uncompressed size of all entries together may be at most this many times the file's size
#: (beyond ``EXPANSION_FLOOR``): the arrays of a model are floats, which deflate compresses by ~1.1, while a
#: zip bomb of zeros expands ~1000 times
MAX_EXPANSION = 100
#: any file may expand to this many bytes, whatever its ratio (small models of few distinct values)
EXPANSION_FLOOR = 64 * 2**20
#: at most this many entries (a model has about 30, plus two per layer with Kronecker factors)
MAX_ENTRIES = 4096
#: a JSON document of at most this many characters (16 MiB as NumPy's 4-byte unicode; a model's is a few kB)
MAX_JSON_CHARS = 4 * 2**20
#: and nested at most this deep (a model's metadata nests about 6 deep)
MAX_JSON_DEPTH = 64
# numpy's own bound on the length of an .npy header
_MAX_HEADER_SIZE = 10000
# the .npy format versions numpy.savez writes for numeric and text arrays, and their header readers
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
# zip flag bits: encrypted (0x1), compressed patched data (0x20), strong encryption (0x40)
_UNREADABLE_FLAGS = {0x1: "encrypted", 0x20: "compressed patched data", 0x40: "strongly encrypted"}
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}


class ArchiveError(ValueError):
    """An archive or a JSON document refused before its content was read; the message says why."""


class NpzArchive:
    """The ``.npy`` entries of an NPZ archive open in ``fh`` (a seekable binary file), checked as described above.

    Attributes
    ----------
    files : list of str
        The entry names without ``.npy``, as :func:`numpy.load` names them.
    """

    def __init__(self, fh):
        self.zip = zipfile.ZipFile(fh)
        infos = self.zip.infolist()
        _check_directory(infos, os.fstat(fh.fileno()).st_size)
        self._infos = {info.filename[:-len(".npy")]: info for info in infos}
        self._headers = {name: self._read_header(info) for name, info in self._infos.items()}
        self.files = list(self._infos)

    def header(self, name):
        """``(shape, dtype)`` of entry ``name`` as its header declares them (a KeyError if there is none)."""
        return self._headers[name]

    def read(self, name):
        """Entry ``name`` as an array; its CRC-32 is checked as the last byte is decompressed."""
        with self.zip.open(self._infos[name]) as fp:
            return np.lib.format.read_array(fp, allow_pickle=False, max_header_size=_MAX_HEADER_SIZE)

    def _read_header(self, info):
        """The declared shape and dtype of an entry, checked against the size the zip directory declares."""
        with self.zip.open(info) as fp:
            version = np.lib.format.read_magic(fp)
            if version not in _HEADER_READERS:
                raise ArchiveError(f"entry {info.filename!r} is in .npy format version {version}, which "
                                   "numpy.savez does not write for numeric and text arrays")
            try:
                shape, _, dtype = _HEADER_READERS[version](fp, max_header_size=_MAX_HEADER_SIZE)
            except (SyntaxError, TypeError, tokenize.TokenError) as ex:  # numpy's fallback parser of old headers
                raise ArchiveError(f"entry {info.filename!r} has an unreadable .npy header ({ex})") from None
            offset = fp.tell()
        if dtype.hasobject:
            raise ArchiveError(f"entry {info.filename!r} holds Python objects (dtype {dtype}), which are never "
                               "unpickled")
        if any(n < 0 for n in shape):
            raise ArchiveError(f"entry {info.filename!r} declares the negative shape {shape}")
        declared = offset + math.prod(shape) * dtype.itemsize
        if declared != info.file_size:
            raise ArchiveError(f"entry {info.filename!r} declares shape {shape} of {dtype} ({declared} bytes with "
                               f"its header) but the archive declares {info.file_size} bytes for it")
        return shape, dtype


def _check_directory(infos, file_bytes):
    """Every entry a stored or deflated, unencrypted ``.npy`` file, named once; the sizes within bounds."""
    if len(infos) > MAX_ENTRIES:
        raise ArchiveError(f"it has {len(infos)} entries; at most {MAX_ENTRIES} are read")
    seen = set()
    for info in infos:
        name = info.filename
        if not name.endswith(".npy") or name in seen:
            reason = "twice" if name in seen else "and is not a .npy array"
            raise ArchiveError(f"entry {name!r} appears {reason}; numpy.savez writes each array once as a .npy")
        seen.add(name)
        for bit, what in _UNREADABLE_FLAGS.items():
            if info.flag_bits & bit:
                raise ArchiveError(f"entry {name!r} is {what} (zip flag bit {bit:#x})")
        if info.compress_type not in _METHODS:
            raise ArchiveError(f"entry {name!r} uses zip compression method {info.compress_type}; only "
                               f"{' and '.join(_METHODS.values())} entries are read")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise ArchiveError(f"the stored entry {name!r} declares {info.file_size} bytes but occupies "
                               f"{info.compress_size}")
    expanded = sum(info.file_size for info in infos)
    limit = max(EXPANSION_FLOOR, MAX_EXPANSION * file_bytes)
    if expanded > limit:
        raise ArchiveError(f"its entries would expand to {expanded} bytes from a file of {file_bytes} bytes, more "
                           f"than {MAX_EXPANSION} times its size (and more than {EXPANSION_FLOOR} bytes): a zip bomb")


def parse_json(text, what):
    """The JSON document ``text`` (a str), at most :data:`MAX_JSON_CHARS` long and :data:`MAX_JSON_DEPTH` deep."""
    check_json_size(len(text), what)
    try:
        value = json.loads(text)
    except RecursionError:
        raise ArchiveError(f"{what} is nested too deeply to parse (at most {MAX_JSON_DEPTH} levels are "
                           "read)") from None
    except ValueError as ex:
        raise ArchiveError(f"{what} is not valid JSON ({ex})") from None
    depth = _json_depth(value)
    if depth > MAX_JSON_DEPTH:
        raise ArchiveError(f"{what} is nested {depth} levels deep; at most {MAX_JSON_DEPTH} are read")
    return value


def check_json_size(chars, what):
    """Refuse a JSON document of ``chars`` characters, before it is read, when it is longer than the bound."""
    if chars > MAX_JSON_CHARS:
        raise ArchiveError(f"{what} is {chars} characters long; at most {MAX_JSON_CHARS} are read")


def _json_depth(value):
    """The nesting depth of parsed JSON (a scalar is 0, ``[]`` is 1), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (list, dict)):
            deepest = max(deepest, depth + 1)
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest
