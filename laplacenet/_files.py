"""Writing a file atomically, and clearing what writers that died left behind.

:func:`write_atomically` fills a temporary file beside the target, named
``.<target's name>.<writer's PID>-<16 hex digits>.tmp``, and renames it over the target (``os.replace``): a
reader sees the old file or the new one, never part of one, and of concurrent writers the last rename wins
with a complete file. A writer killed while writing (``kill -9``, a power cut) leaves its temporary behind;
the next write to the same target removes every temporary of that target which is stale:

* its name holds the PID of a process that no longer runs on this machine, and it has not been modified for
  :data:`STALE_AFTER` seconds (a live writer modifies its file as it writes; the wait also spares a writer on
  another machine sharing the directory, whose PID means nothing here);
* or it has not been modified for :data:`ABANDONED_AFTER` seconds, whatever its name holds (a PID reused
  since, a writer on another machine, or the older name ``.<name>.<16 hex digits>.tmp`` without a PID).

A live writer's temporary is never removed, so concurrent writers do not disturb each other. Temporaries of
other targets and files named otherwise are never touched; clearing is best effort and never fails a write.
"""
import contextlib
import errno
import os
import re
import secrets
import time

#: seconds without modification after which the temporary of a writer that no longer runs is removed
STALE_AFTER = 60.0
#: seconds without modification after which any temporary of the target is removed
ABANDONED_AFTER = 24 * 3600.0


def write_atomically(path, write, what="the file"):
    """``write(temporary)`` fills a new file beside ``path``, which is then renamed over ``path``.

    ``write`` receives the temporary's path, creates the file there (mode ``'xb'``) and should ``fsync`` it.
    If anything fails, the temporary is removed and ``path`` is left as it was; an ``OSError`` is raised again
    with a message naming ``path``. Stale temporaries of ``path`` are removed first (see the module docstring).
    """
    path = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(path)
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, f"no such directory to save {what} in", directory)
    remove_stale_temporaries(directory, name)
    temporary = os.path.join(directory, f".{name}.{os.getpid()}-{secrets.token_hex(8)}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException as ex:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        if isinstance(ex, OSError):
            raise _naming(ex, path) from ex
        raise


def write_new_file(path, fill, what="the file", binary=True):
    """Write ``path`` atomically (:func:`write_atomically`): ``fill(fh)`` fills a new temporary file (binary, or UTF-8
    text written as given, without newline translation), flushed to disk before it is renamed over ``path``."""

    def write(temporary):
        with open(temporary, "xb") if binary else open(temporary, "x", encoding="utf-8", newline="") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())

    write_atomically(path, write, what)


def _naming(ex, path):
    """The ``OSError`` ``ex`` with a message that names the file being written."""
    if ex.errno is None:
        return type(ex)(f"cannot write {path!r}: {ex}")
    return OSError(ex.errno, f"cannot write {path!r}: {ex.strerror}", ex.filename)  # the errno's subclass


def remove_stale_temporaries(directory, name):
    """Remove the stale temporaries that writes of ``directory/name`` left; returns the paths removed."""
    pattern = re.compile(rf"\.{re.escape(name)}\.(?:(\d{{1,10}})-)?[0-9a-f]{{16}}\.tmp\Z")
    removed, now = [], time.time()
    with contextlib.suppress(OSError):
        for entry in list(os.scandir(directory)):
            match = pattern.match(entry.name)
            if match is None:
                continue
            with contextlib.suppress(OSError):  # gone meanwhile, or not ours to remove: left alone
                age = now - entry.stat(follow_symlinks=False).st_mtime
                if not entry.is_file(follow_symlinks=False):
                    continue
                pid = match.group(1)
                if age > ABANDONED_AFTER or (age > STALE_AFTER and pid is not None and not _running(int(pid))):
                    os.remove(entry.path)
                    removed.append(entry.path)
    return removed


def _running(pid):
    """Whether process ``pid`` runs on this machine; True when that cannot be told."""
    if os.name != "posix" or pid <= 0:  # os.kill(pid, 0) ends the process on Windows; 0 is a process group
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: it runs, as another user
        return True
    return True
