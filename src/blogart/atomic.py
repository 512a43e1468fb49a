"""Atomic file writes: a reader never sees half a file and a failed run leaves the old one.

New files get the mode a plain `open()` would give them (0666 less the umask, 0644 typically), not
mkstemp's private 0600: a published cover must be readable by the web server and the team. A file that is
rewritten (`rewrite_bytes`, a user's post) keeps its own mode, owner and group, and a symlink stays one.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any


@functools.cache
def _umask() -> int:
    """The process umask, read once. Linux reports it in /proc; elsewhere set-and-restore, before any threads."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode new files get: what `open(path, "w")` would create."""
    return 0o666 & ~_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` in one step; an OSError names `path`, not the temporary file."""
    path = Path(path)
    _replace(path, data, path, mkdir=True)


def rewrite_bytes(path: Path, data: bytes) -> Path:
    """Replace an existing file's content in one step, keeping what its owner set up; returns the file written.

    A symlink is followed and its target rewritten (the link stays a link). The new file keeps the old one's
    mode, and its owner and group where this process may set them (root, or a group it belongs to).
    """
    target = Path(os.path.realpath(path))
    try:
        old = target.stat()
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    _replace(target, data, Path(path), old=old)
    return target


def _replace(target: Path, data: bytes, named: Path, *, old: os.stat_result | None = None, mkdir: bool = False) -> None:
    """Write a temporary file beside `target` and rename it over `target`: the mode and owner of `old` when
    given, else what `open()` would give. An OSError names `named` (what the user asked for)."""
    tmp: str | None = None
    try:
        if mkdir:
            target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), stat.S_IMODE(old.st_mode) if old else file_mode())
            if old is not None:
                _keep_owner(handle.fileno(), old)
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        _discard(tmp)
        # A full disk or a read-only folder: say which file could not be written.
        raise OSError(exc.errno, exc.strerror or str(exc), str(named)) from exc
    except BaseException:
        _discard(tmp)
        raise


def _keep_owner(fd: int, old: os.stat_result) -> None:
    """The owner and group of `old`, as far as we may: a user who is not root can only set a group of theirs."""
    if not hasattr(os, "fchown"):
        return
    for uid, gid in ((old.st_uid, old.st_gid), (-1, old.st_gid)):
        try:
            os.fchown(fd, uid, gid)
            return
        except PermissionError:
            continue


def _discard(tmp: str | None) -> None:
    if tmp is not None:
        with contextlib.suppress(OSError):
            Path(tmp).unlink(missing_ok=True)


def atomic_write_json(path: Path, value: Any) -> None:
    """JSON that any parser reads: Infinity and NaN are refused (ValueError), never written."""
    text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())
