"""The sections every post format ends in: headings and paragraphs built into `Section`s, and plain text."""

from __future__ import annotations

import re
from typing import Any

from blogart.text import collapse_whitespace
from blogart.values import Section

# --- plain text --------------------------------------------------------------------------------


def parse_text(text: str) -> tuple[str, dict[str, Any], list[Section]]:
    paragraphs = [collapse_whitespace(p) for p in re.split(r"\n[ \t]*\n", text.strip())]
    paragraphs = [p for p in paragraphs if p]
    title = ""
    if paragraphs and _looks_like_heading(paragraphs[0]) and len(paragraphs) > 1:
        title = paragraphs.pop(0)
    builder = SectionBuilder(title)
    for index, paragraph in enumerate(paragraphs):
        # A short line standing alone, followed by more text, is a heading in a plain-text post.
        if index + 1 < len(paragraphs) and _looks_like_heading(paragraph):
            builder.heading(2, paragraph)
        else:
            builder.paragraph(paragraph)
    return builder.title, {}, builder.sections()


def _looks_like_heading(paragraph: str) -> bool:
    return (
        len(paragraph) <= 80
        and len(paragraph.split()) <= 10
        and paragraph[:1].isupper()
        and paragraph[-1] not in ".!?:;,\"')"
        and not re.match(r"[-*•]\s", paragraph)
    )


# --- shared ------------------------------------------------------------------------------------


class SectionBuilder:
    """Collects paragraphs under the current heading path.

    The leading H1 is the post's title when there is no other title (front matter, og:title);
    an H1 that repeats the title is dropped; any other H1 is a top-level heading.
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self._stack: list[tuple[int, str]] = []
        self._paragraphs: list[str] = []
        self._done: list[Section] = []
        self._seen_text = False

    def heading(self, level: int, text: str) -> None:
        text = text.rstrip("¶ ")  # the permalink mark Sphinx and MkDocs put after every heading
        if not text:
            return
        if level == 1 and not self._stack and not self._seen_text:
            if not self.title:
                self.title = text
                return
            if _same(text, self.title):
                return
        self._close()
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, text))

    def paragraph(self, text: str) -> None:
        if text:
            self._paragraphs.append(text)
            self._seen_text = True

    def _close(self) -> None:
        if self._paragraphs:
            path = tuple(heading for _, heading in self._stack)
            self._done.append(Section(heading_path=path, text="\n\n".join(self._paragraphs)))
        self._paragraphs = []

    def sections(self) -> list[Section]:
        self._close()
        return list(self._done)


def plain_text(sections: list[Section]) -> str:
    parts: list[str] = []
    shown: tuple[str, ...] = ()
    for section in sections:
        path = section.heading_path
        # Print each heading once, where it starts.
        common = 0
        while common < min(len(path), len(shown)) and path[common] == shown[common]:
            common += 1
        parts.extend(path[common:])
        parts.append(section.text)
        shown = path
    return "\n\n".join(parts)


def _same(a: str, b: str) -> bool:
    return re.sub(r"\W+", "", a).casefold() == re.sub(r"\W+", "", b).casefold()
