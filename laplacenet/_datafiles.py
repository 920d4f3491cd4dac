"""Reading the command line's DATA files: CSV tables (with pandas) and NPZ archives of arrays."""
from typing import NamedTuple, Optional

import numpy as np

class Data(NamedTuple):
    """Features ``X (N, D)``, targets ``y`` ((N,) or (N, K), or None) and their column names (None for arrays)."""

    X: np.ndarray
    y: Optional[np.ndarray]
    features: Optional[list]
    targets: Optional[list]


_FEATURE_HINT = "features must be numbers: name the column in --target or remove it"


def read_data(path, targets=None, features=None, n_features=None, name="DATA"):
    """DATA as :class:`Data`: the features are ``features``, or every column not in ``targets``.

    An NPZ file with an array ``X`` is read as arrays (targets ``y`` or ``T``); another NPZ file, or a CSV
    file, as a table of named columns, each name once. Errors call the file ``name`` (``--test`` for compare's).
    """
    arrays = _npz_arrays(path, name) if str(path).lower().endswith(".npz") else None
    data = _array_data(path, arrays, targets, name) if arrays is not None and "X" in arrays else \
        _table_data(path, _table(path, arrays, name), targets, features, name)
    if n_features is not None and data.X.shape[1] != n_features:
        raise ValueError(f"{name} {path!r} has {data.X.shape[1]} feature column(s); the model was fitted on "
                         f"{n_features}")
    return data


def _npz_arrays(path, name):
    import zipfile
    with open(path, "rb") as fh:  # a missing file is an OSError naming it
        try:
            archive = np.load(fh, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single array, not an NPZ archive")
            with archive:
                return {key: archive[key] for key in archive.files}
        except (ValueError, EOFError, zipfile.BadZipFile) as ex:
            raise ValueError(f"{name} {path!r} is not a readable NPZ file of arrays: {ex}") from None


def _array_data(path, arrays, targets, name):
    stored = [key for key in ("y", "T") if key in arrays]
    target = targets[0] if targets else (stored[0] if stored else None)
    if targets is not None and (len(targets) != 1 or target not in stored):
        raise ValueError(f"{name} {path!r} holds an array X; --target must name its target array y or T "
                         f"({', '.join(stored) or 'none stored'}); got {','.join(targets)}")
    X = numeric(arrays["X"], f"array X of {path!r}", _FEATURE_HINT)
    if X.ndim != 2:
        raise ValueError(f"array X of {path!r} must be 2-D (rows by features); got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} {path!r} is empty: its array X has no rows")
    return Data(X, None if target is None else arrays[target], None, None)


def _table(path, arrays, name):
    """A CSV file, or the 1-D arrays of an NPZ file, as a pandas DataFrame.

    Spaces after the commas of a CSV file are not part of the names and values (``x, y`` has columns x and y).
    A name given twice in the header row is refused: pandas would read the second ``a`` as ``a.1``.
    """
    import pandas as pd
    if arrays is None:
        try:
            table = pd.read_csv(path, skipinitialspace=True)
            header = pd.read_csv(path, header=None, nrows=1, skipinitialspace=True, dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise ValueError(f"{name} {path!r} is empty: no header row and no data rows") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as ex:
            raise ValueError(f"{name} {path!r} is not a readable CSV file: {ex}") from None
        _check_distinct([c for c in header.iloc[0] if c.strip()], path, name)  # empty ones become Unnamed: i
        return table
    shapes = {key: a.shape for key, a in arrays.items()}
    if not arrays or any(len(shape) != 1 for shape in shapes.values()) or len(set(shapes.values())) != 1:
        raise ValueError(f"{name} {path!r} must hold an array X (and y), or 1-D columns of one length; got {shapes}")
    return pd.DataFrame(arrays)


def _table_data(path, table, targets, features, name):
    table.columns = columns = [str(c).strip() for c in table.columns]
    _check_distinct(columns, path, name)
    if len(table) == 0:
        raise ValueError(f"{name} {path!r} is empty: it has a header row ({', '.join(map(repr, columns))}) but no "
                         f"data rows")
    missing = [c for c in (targets or []) + (features or []) if c not in columns]
    if missing:
        raise ValueError(f"{name} {path!r} has no column {', '.join(map(repr, missing))} (its columns: "
                         f"{', '.join(map(repr, columns))})")
    features = features or [c for c in columns if c not in (targets or [])]
    if not features:
        raise ValueError(f"{name} {path!r} has no feature columns besides the target(s) {targets}")
    X = np.column_stack([numeric(table[c].to_numpy(), f"feature column {c!r} of {path!r}", _FEATURE_HINT)
                         for c in features])
    if not targets:
        return Data(X, None, features, targets)
    if table[targets].isna().to_numpy().any():
        raise ValueError(f"target column(s) {', '.join(targets)} of {path!r} have missing values")
    return Data(X, table[targets[0] if len(targets) == 1 else targets].to_numpy(), features, targets)


def _check_distinct(names, path, name):
    """Refuse a table with two columns of one name (spaces around a name are not part of it)."""
    names = [str(c).strip() for c in names]
    repeated = [c for i, c in enumerate(names) if c in names[:i]]
    if repeated:
        raise ValueError(f"{name} {path!r} has more than one column named {repeated[0]!r}; give each column a name "
                         f"of its own")


def numeric(values, what, hint):
    if values.dtype.kind not in "biuf":
        raise ValueError(f"{what} is not numeric (dtype {values.dtype}); {hint}")
    values = values.astype(float)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{what} has missing or infinite values")
    return values
