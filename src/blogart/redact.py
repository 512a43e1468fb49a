"""Secrets never leave the process: credentials in URLs and anything key-shaped in error text.

One place for the rules, used wherever text is printed or stored: `config show`, the manifest,
the LLM call log's error column and every `error:` line. The configured API key is remembered
here when the settings are loaded, so a server that echoes it back cannot get it printed, whatever
its shape.
"""

from __future__ import annotations

import re

MASK = "***"

# Secrets shorter than this are not masked by value: "abc" would blank out ordinary words.
_MIN_SECRET = 8
_known: set[str] = set()

_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@]+@")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
_KEY_SHAPED = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")
_SECRET_QUERY_IN_TEXT = re.compile(r"(?i)([?&][\w.-]*(?:key|token|secret|password|signature|sig)=)[^&#\s\"']+")


def remember(secret: str | None) -> None:
    """Mask this value wherever it later appears in text passed through `redact_text`."""
    if secret and len(secret) >= _MIN_SECRET:
        _known.add(secret)


def redact_url(url: str | None) -> str | None:
    """`http://user:pass@host/v1` -> `http://***@host/v1`; `?api-key=...` values masked too."""
    return redact_text(url)


def redact_text(text: str | None) -> str | None:
    """Mask URL credentials, `Bearer ...` tokens, `sk-...` keys and every remembered secret in free text."""
    if not text:
        return text
    for secret in sorted(_known, key=len, reverse=True):  # longest first: one key may contain another
        text = text.replace(secret, MASK)
    text = _URL_CREDENTIALS.sub(rf"\1{MASK}@", text)
    text = _SECRET_QUERY_IN_TEXT.sub(rf"\1{MASK}", text)
    text = _BEARER.sub(rf"\1{MASK}", text)
    return _KEY_SHAPED.sub(f"sk-{MASK}", text)
