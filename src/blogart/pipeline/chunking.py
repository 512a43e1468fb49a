"""Split a `Document` into heading-aware, token-budgeted chunks.

Rules, in order:
- a chunk never crosses a section boundary, except that neighbouring tiny sections under the same
  parent heading (or a heading's own intro text and its tiny children) are merged into one chunk;
  the merged chunk's heading path is the parent's and each member's heading stays in the text;
- within a section, whole paragraphs are packed first; a paragraph too big for a chunk is split into
  sentences; a sentence too big for a chunk is split between words (and a word too big, between
  characters), so **no chunk is ever over `max_tokens`**, overlap included;
- each chunk after the first in a section starts with the last sentences of the previous chunk, at
  most `overlap_tokens` of them, and never the whole previous chunk;
- everything is a pure function of the inputs: the same post always gives the same chunks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from blogart.errors import UsageError
from blogart.text import encoding as tiktoken_encoding
from blogart.text import split_sentences
from blogart.values import Chunk, Document, Section


def chunk_document(
    doc: Document,
    max_tokens: int = 512,
    overlap_tokens: int = 64,
    encoding: str = "cl100k_base",
    *,
    merge_below: int | None = None,
) -> list[Chunk]:
    """Chunks of `doc`, each at most `max_tokens` long, with its heading path and the post's outline.

    `merge_below`: sections under this many tokens are "tiny" and may merge with tiny neighbours
    (default: a quarter of the budget).
    """
    if max_tokens < 8:
        raise UsageError(f"chunk budget must be at least 8 tokens, got {max_tokens}")
    if not 0 <= overlap_tokens < max_tokens:
        raise UsageError(f"chunk overlap must be at least 0 and below the budget ({max_tokens}), got {overlap_tokens}")
    count = _Counter(encoding)
    tiny = max_tokens // 4 if merge_below is None else merge_below
    outline = doc.outline
    chunks: list[Chunk] = []
    for heading_path, text in _groups(doc.sections, max_tokens, tiny, count):
        for piece in _split_section(text, max_tokens, overlap_tokens, count):
            chunks.append(Chunk(len(chunks), heading_path, piece, count(piece), outline))
    return chunks


class _Counter:
    """blogart.text.count_tokens with a small memo: packing re-counts the same growing texts."""

    def __init__(self, name: str) -> None:
        self._encoding = tiktoken_encoding(name)
        self._memo: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        found = self._memo.get(text)
        if found is None:
            if len(self._memo) > 4096:
                self._memo.clear()
            found = self._memo[text] = len(self._encoding.encode(text, disallowed_special=()))
        return found


# --- merging tiny sections ---------------------------------------------------------------------


def _groups(sections: Sequence[Section], max_tokens: int, tiny: int, count: _Counter) -> list[tuple[tuple, str]]:
    groups: list[tuple[tuple, str]] = []
    members: list[Section] = []

    def close() -> None:
        if len(members) == 1:
            groups.append((members[0].heading_path, members[0].text))
        elif members:
            parent = _common_prefix([m.heading_path for m in members])
            groups.append((parent, _merged_text(members, parent)))
        members.clear()

    for section in sections:
        if members and count(section.text) < tiny and all(count(m.text) < tiny for m in members):
            candidate = [*members, section]
            parent = _common_prefix([m.heading_path for m in candidate])
            # Same parent: each member is the parent's own text or one of its direct children.
            if all(len(m.heading_path) - len(parent) <= 1 for m in candidate) and (
                count(_merged_text(candidate, parent)) <= max_tokens
            ):
                members.append(section)
                continue
        close()
        members.append(section)
    close()
    return groups


def _common_prefix(paths: list[tuple[str, ...]]) -> tuple[str, ...]:
    prefix = paths[0]
    for path in paths[1:]:
        n = 0
        while n < min(len(prefix), len(path)) and prefix[n] == path[n]:
            n += 1
        prefix = prefix[:n]
    return prefix


def _merged_text(members: list[Section], parent: tuple[str, ...]) -> str:
    parts: list[str] = []
    for member in members:
        if member.heading_path != parent:
            parts.append(member.heading_path[-1])  # the heading as its own paragraph
        parts.append(member.text)
    return "\n\n".join(parts)


# --- splitting one section ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    """A sentence (or a piece of one) and the separator that came before it in the section."""

    text: str
    sep: str  # "\n\n" between paragraphs, " " or "\n" inside one


def _join(items: Sequence[_Item]) -> str:
    return items[0].text + "".join(item.sep + item.text for item in items[1:]) if items else ""


def _split_section(text: str, max_tokens: int, overlap_tokens: int, count: _Counter) -> list[str]:
    if count(text) <= max_tokens:
        return [text]
    done: list[list[_Item]] = []
    current: list[_Item] = []
    fresh = 0  # items in `current` that are not overlap

    def fits(items: Sequence[_Item]) -> bool:
        return count(_join(items)) <= max_tokens

    def next_chunk() -> None:
        nonlocal current, fresh
        done.append(current)
        current, fresh = _overlap(current, overlap_tokens, count), 0

    for paragraph in _paragraphs(text):
        items = _sentence_items(paragraph, max_tokens, count)
        if fits(current + items):
            current, fresh = current + items, fresh + len(items)
            continue
        if fresh:
            next_chunk()
            if fits(current + items):
                current, fresh = current + items, len(items)
                continue
        # The paragraph is bigger than a chunk: go sentence by sentence.
        for item in items:
            if fits([*current, item]):
                current.append(item)
                fresh += 1
                continue
            if fresh:
                next_chunk()
            while current and not fits([*current, item]):
                current.pop(0)  # give up overlap before going over budget
            current.append(item)
            fresh += 1
    if fresh:
        done.append(current)
    return [_join(items) for items in done]


def _overlap(previous: list[_Item], overlap_tokens: int, count: _Counter) -> list[_Item]:
    if overlap_tokens <= 0:
        return []
    taken: list[_Item] = []
    for item in reversed(previous[1:]):  # previous[1:]: never repeat the whole previous chunk
        if count(_join([item, *taken])) > overlap_tokens:
            break
        taken.insert(0, item)
    return taken


def _paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p.strip()]


def _sentence_items(paragraph: str, max_tokens: int, count: _Counter) -> list[_Item]:
    items: list[_Item] = []
    for line_no, line in enumerate(paragraph.split("\n")):
        for sentence_no, sentence in enumerate(split_sentences(line)):
            sep = "\n\n" if line_no == 0 and sentence_no == 0 else ("\n" if sentence_no == 0 else " ")
            for piece_no, piece in enumerate(_fit_sentence(sentence, max_tokens, count)):
                items.append(_Item(piece, sep if piece_no == 0 else " "))
    return items


def _fit_sentence(sentence: str, max_tokens: int, count: _Counter) -> list[str]:
    """A sentence over budget is cut between words; a word over budget, between characters."""
    if count(sentence) <= max_tokens:
        return [sentence]
    pieces: list[str] = []
    words = sentence.split()
    while words:
        # Binary search for the most words that fit: a run-on sentence costs O(log n) encodes per piece.
        # Each word is at least one token, so no more than max_tokens words can fit.
        low, high = 0, min(len(words), max_tokens)
        while low < high:
            mid = (low + high + 1) // 2
            if count(" ".join(words[:mid])) <= max_tokens:
                low = mid
            else:
                high = mid - 1
        if low:
            pieces.append(" ".join(words[:low]))
            words = words[low:]
            continue
        word = words.pop(0)
        while count(word) > max_tokens:
            cut = _longest_prefix(word, max_tokens, count)
            pieces.append(word[:cut])
            word = word[cut:]
        words.insert(0, word)  # the rest of the long word may share a piece with the next words
    return [piece for piece in pieces if piece]


def _longest_prefix(text: str, max_tokens: int, count: _Counter) -> int:
    low, high = 1, len(text)  # one character is at most 4 tokens, and budgets are >= 8
    while low < high:
        mid = (low + high + 1) // 2
        if count(text[:mid]) <= max_tokens:
            low = mid
        else:
            high = mid - 1
    return low
