"""Reading a file the user named: at most a cap, UTF-8, and one InputError line for anything wrong with it.

A path may name a folder, a pipe or a device (`--config /dev/zero`), a file too big, an image, or text
in another encoding; each is refused before anything is parsed. Files are read at most `max_bytes` + 1
bytes (one more to notice there is more), so a device that never ends costs no memory. The wording of
each refusal is data (`Wording`): a caller whose users know other words keeps them.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from blogart.errors import InputError

SETTINGS_FILE_BYTES = 1_000_000  # a config, styles, slang or library file is a few KB


@dataclass(frozen=True)
class Wording:
    """What each refusal says. Fields in braces: {what} the file's role ("config file"), {path} the path
    as given, {reason} the system's words, {size} and {limit} in bytes or MB, {max_bytes} the cap in
    bytes, {byte} and {offset} the first byte that is not UTF-8."""

    missing: str = "{what} not found: {path}"
    folder: str = "{what} {path} is a folder, not a file"
    unreadable: str = "cannot read {what} {path}: {reason}"
    too_big: str = "{what} {path} is {size}, over the {limit} limit"
    too_long: str = "{what} {path} is over the {limit} limit"  # a pipe or device: its size is unknown
    binary: str = "{what} {path} is binary data, not UTF-8 text"
    not_utf8: str = "{what} {path} is not UTF-8 text (byte 0x{byte:02x} at offset {offset}); save it as UTF-8"


PLAIN = Wording()


def size_words(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size} bytes"


def _refuse(template: str, *, what: str, path: str, **fields: object) -> InputError:
    return InputError(template.format(what=what, path=path, **fields))


def read_user_bytes(path: str | Path, *, what: str, max_bytes: int, wording: Wording = PLAIN) -> bytes:
    """The file's bytes, at most `max_bytes`; InputError for a missing file, a folder, an unreadable
    or oversized file."""
    shown = str(path)
    limits = {"limit": size_words(max_bytes), "max_bytes": max_bytes}
    try:
        resolved = Path(path).expanduser()  # RuntimeError for "~someone" with no such user
        info = resolved.stat()
        if stat.S_ISDIR(info.st_mode):
            raise _refuse(wording.folder, what=what, path=shown)
        if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:  # refused without reading it
            raise _refuse(wording.too_big, what=what, path=shown, size=size_words(info.st_size), **limits)
        with resolved.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise _refuse(wording.missing, what=what, path=shown) from None
    except (OSError, RuntimeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise _refuse(wording.unreadable, what=what, path=shown, reason=reason) from None
    if len(raw) > max_bytes:
        raise _refuse(wording.too_long, what=what, path=shown, **limits)
    return raw


def read_user_stream(stream: BinaryIO, *, what: str, name: str, max_bytes: int, wording: Wording = PLAIN) -> bytes:
    """`read_user_bytes` for an open stream (stdin), called `name` in messages."""
    raw = stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise _refuse(wording.too_long, what=what, path=name, limit=size_words(max_bytes), max_bytes=max_bytes)
    return raw


def decode_user_text(raw: bytes, *, what: str, name: str, wording: Wording = PLAIN) -> str:
    """UTF-8 text (a leading byte-order mark dropped); InputError for binary data or another encoding."""
    if b"\x00" in raw:  # no text file holds a NUL byte; images and archives nearly always do
        raise _refuse(wording.binary, what=what, path=name)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _refuse(wording.not_utf8, what=what, path=name, byte=raw[exc.start], offset=exc.start) from None


def read_user_text(path: str | Path, *, what: str, max_bytes: int, wording: Wording = PLAIN) -> str:
    """The file as text: `read_user_bytes`, then `decode_user_text`."""
    raw = read_user_bytes(path, what=what, max_bytes=max_bytes, wording=wording)
    return decode_user_text(raw, what=what, name=str(path), wording=wording)
