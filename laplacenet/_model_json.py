"""The constructor parameters and fitted values of a model as JSON, and back.

:func:`to_json` writes numbers, strings, booleans, None, lists and dicts with string keys as they are, and tags
tuples and numeric arrays (``{"__tuple__": [...]}``, ``{"__ndarray__": [...], "dtype": ...}``) so that
:func:`from_json` restores them exactly; a value JSON cannot hold without pickling is refused with a
``ValueError`` naming where it is. :func:`plain_json` takes the ``extra`` of :func:`laplacenet.io.save`, which
comes back as it was given: plain JSON only, no tuples or arrays.
"""
import dataclasses
import numbers
import reprlib

import numpy as np

from .bayes.hyper import EvidenceOptions


def to_json(value, where):
    """``value`` as JSON-able data; tuples and arrays are tagged so that :func:`from_json` restores them."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        if not -2**63 <= value < 2**64:
            raise ValueError(f"cannot save {where}: an integer of {int(value).bit_length()} bits (JSON readers hold "
                             f"integers of at most 64)")
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, tuple):
        return {"__tuple__": [to_json(v, where) for v in value]}
    if isinstance(value, list):
        return [to_json(v, where) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, dict) and all(isinstance(k, str) and not k.startswith("__") for k in value):
        return {k: to_json(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, EvidenceOptions):  # restored as the dict of its fields, which the estimators accept
        return to_json(dataclasses.asdict(value), where)
    raise ValueError(f"cannot save {where}: a {type(value).__name__} cannot be written as JSON (numbers, strings, "
                     f"booleans, None, tuples, lists, numeric arrays and dicts with string keys can)")


def from_json(value, where):
    """Inverse of :func:`to_json`; a ValueError naming the field ``where`` for a tag it does not write."""
    if isinstance(value, list):
        return [from_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if not any(key.startswith("__") for key in value):
        return {k: from_json(v, f"{where}.{k}") for k, v in value.items()}
    if set(value) == {"__tuple__"} and isinstance(value["__tuple__"], list):
        return tuple(from_json(v, f"{where}[{i}]") for i, v in enumerate(value["__tuple__"]))
    if set(value) == {"__ndarray__", "dtype"}:
        return _json_array(value["__ndarray__"], value["dtype"], where)
    raise ValueError(f"its metadata field {where!r} is not a value laplacenet.save writes ({reprlib.repr(value)})")


def _json_array(values, dtype, where):
    """The numeric array ``to_json`` wrote as ``values`` and ``dtype``: a bool, int or float dtype as
    ``dtype.str`` spells it, the values exactly those of the array (so no larger than the JSON holding them)."""
    try:
        kind = np.dtype(dtype) if isinstance(dtype, str) else None
    except (TypeError, ValueError):
        kind = None
    if kind is None or kind.kind not in "biuf" or kind.str != dtype:
        raise ValueError(f"its metadata field {where!r} names the dtype {reprlib.repr(dtype)}; laplacenet.save "
                         f"writes arrays of booleans, integers and floats only")
    try:
        with np.errstate(over="raise"):
            a = np.array(values, dtype=kind)
        same = a.tolist() == values
    except (ValueError, TypeError, OverflowError, FloatingPointError):
        same = False
    if not same:
        raise ValueError(f"its metadata field {where!r} does not hold an array of {kind} ({reprlib.repr(values)})")
    return a


def plain_json(value, where):
    """``value`` of ``extra`` as the JSON it is, to come back as it was: a tuple or an array is refused."""
    if isinstance(value, list):
        return [plain_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValueError(f"cannot save {where}: its keys must be strings; got {reprlib.repr(list(value))}")
        return {k: plain_json(v, f"{where}[{k!r}]") for k, v in value.items()}
    if value is None or isinstance(value, (bool, str, np.bool_, numbers.Real)):
        return to_json(value, where)
    raise ValueError(f"cannot save {where}: a {type(value).__name__}; extra holds plain JSON (dicts with string "
                     f"keys, lists, strings, numbers, booleans, None), which read_metadata gives back as it was "
                     f"(for a tuple or an array pass list(t) or a.tolist())")
