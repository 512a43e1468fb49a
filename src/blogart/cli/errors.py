"""The one funnel: every error a run can meet becomes one `error:` line on stderr and an exit code.

Exit codes: 0 done; 1 a run failed (unreachable server, missing weights, file system, memory);
2 the command line, the settings or the input is wrong; 3 every candidate was flagged; 130 interrupted.
Anything not listed here is a bug in blogart and keeps its traceback.
"""

from __future__ import annotations

import errno

import typer
from typer.exceptions import TyperException

from blogart.errors import BlogartError
from blogart.redact import redact_text

USAGE = 2
FAILED = 1
INTERRUPTED = 130


def report(exc: BaseException) -> int | None:
    """Print `exc` as one `error:` line and return its exit code; None: not ours, let it propagate."""
    message, code = _describe(exc)
    if code is None:
        return None
    typer.echo(f"error: {_one_line(redact_text(message) or '')}", err=True)
    return code


def _describe(exc: BaseException) -> tuple[str, int | None]:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    if isinstance(exc, BlogartError):
        return str(exc), exc.exit_code
    if isinstance(exc, TyperException):  # Typer's Click: UsageError, BadParameter, NoSuchOption, ...
        if type(exc).__name__ == "NoArgsIsHelpError":
            return "", None  # a bare `blogart config` prints its help: not an error
        # Click's own text ("No such option: --bogus", "Invalid value for '-n'...") without its box.
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "blogart"
        return f"{exc.format_message()} (see `{command} --help`)", getattr(exc, "exit_code", USAGE)
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or exc.title
        return f"bad setting {where}: {first['msg']}", USAGE
    if isinstance(exc, SettingsError):
        return f"bad setting: {exc}", USAGE
    if isinstance(exc, OSError):
        if exc.errno == errno.EPIPE:
            return "", None  # the reader went away (`| head`): Click quiets the pipe itself
        return _os_error(exc), FAILED
    if isinstance(exc, MemoryError):
        return "out of memory; try a smaller -n, batch size or model", FAILED
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", INTERRUPTED
    return "", None


def _os_error(exc: OSError) -> str:
    from blogart.text import kind_words

    reason = exc.strerror or str(exc) or kind_words(exc)  # "OS error", never a class name
    if exc.filename is None:
        return reason
    if exc.filename2 is not None:
        return f"{exc.filename} -> {exc.filename2}: {reason}"
    return f"{exc.filename}: {reason}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
