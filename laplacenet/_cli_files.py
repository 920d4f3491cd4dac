"""Where the command line writes: output paths checked before the work, and every file written atomically.

A command checks each file it will write before it fits anything: its directory exists, it is not a directory,
and it is not one of the command's input files (the same file by ``os.path.samefile`` where both exist, else
the same resolved path). Every file is then written by :func:`laplacenet._files.write_atomically`: a reader
sees the old file or the new one, never part of one.
"""
import json
import os
import sys
from pathlib import Path

from ._files import write_new_file


def check_output(path, inputs):
    """Fail before the work when the file ``path`` (``--out``) cannot be written where it is asked for, or is one of
    the ``inputs`` (``{role: path or None}``, e.g. ``{"DATA": "d.csv"}``)."""
    if path == "-":
        raise ValueError("--out -: this command writes a binary file; give a file name")
    directory = Path(path).resolve().parent
    if not directory.is_dir():
        raise ValueError(f"--out {str(path)!r}: the directory {str(directory)!r} does not exist")
    if Path(path).is_dir():
        raise ValueError(f"--out {str(path)!r} is a directory; give a file name")
    _refuse_inputs(path, [path], inputs)


def check_output_directory(path, names, inputs):
    """Fail before the work when the directory ``path`` (to be made if need be) cannot hold the files ``names``, or
    one of them would be one of the ``inputs`` (as for :func:`check_output`)."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(path)!r} is a file; give a directory")
    nearest = next(p for p in (out.absolute(), *out.absolute().parents) if p.exists())
    if not nearest.is_dir():
        raise ValueError(f"--out {str(path)!r}: {str(nearest)!r} is a file, not a directory")
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise ValueError(f"--out {str(path)!r}: no permission to write in {str(nearest)!r}")
    taken = [name for name in names if (out / name).is_dir()]
    if taken:
        raise ValueError(f"--out {str(path)!r} holds a directory {taken[0]!r} where a file is to be written")
    _refuse_inputs(path, [out / name for name in names], inputs)


def _refuse_inputs(out, written, inputs):
    for path in written:
        for role, source in inputs.items():
            if source is not None and _same_file(path, source):
                what = f"--out {str(out)!r}" if path == out else f"--out {str(out)!r}: its {Path(path).name}"
                raise ValueError(f"{what} would overwrite the input {role} {str(source)!r}; give another "
                                 f"{'file' if path == out else 'directory'}")


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return Path(a).resolve() == Path(b).resolve()


def output_directory(path):
    """``path``, created if need be; figures are drawn for files from here on (Agg, unless pyplot is in use)."""
    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib
        matplotlib.use("Agg")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _write_text(path, text, what):
    write_new_file(path, lambda fh: fh.write(text), what, binary=False)


def write_csv(path, frame, what="the CSV file"):
    """A pandas DataFrame as CSV, without its index; floats in full precision (pandas writes their repr)."""
    _write_text(path, frame.to_csv(index=False), what)


def write_json(path, value, what="the JSON file"):
    _write_text(path, json.dumps(value, indent=2) + "\n", what)


def save_figure(fig, path, what="the figure"):
    """``fig`` saved in the format of ``path``'s suffix (given explicitly: the temporary's name ends in .tmp)."""
    import matplotlib.pyplot as plt
    try:
        fmt = Path(path).suffix.lstrip(".")
        write_new_file(path, lambda fh: fig.savefig(fh, format=fmt, dpi=100), what)
    finally:
        plt.close(fig)
