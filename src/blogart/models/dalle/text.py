"""The DalleBart text side: the DALL-E Mini text normaliser and the BART tokenizer of a checkpoint.

The released models were trained on captions cleaned by dalle-mini's `TextNormalizer`, so prompts
must go through the same cleaning (lower case, ASCII, punctuation turned into commas...) to look
like the training data. The steps and their order follow that normaliser; hashtags are split into
words only when a word-frequency list is at hand (the released dalle-mini checkpoint ships one,
`enwiki-words-frequency.txt`); we never download it.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blogart.errors import BlogartError, MissingWeights
from blogart.text import one_line

if TYPE_CHECKING:
    import numpy as np

WORD_LIST_NAME = "enwiki-words-frequency.txt"
TOKENIZER_FILES = ("vocab.json", "merges.txt")
MAX_TEXT_LENGTH = 64

# A marker with no punctuation in it, so protected characters survive the punctuation pass.
_MARK = "xtokx"
_DOT, _APOS, _SLASH = f"{_MARK}dot{_MARK}", f"{_MARK}quote{_MARK}", f"{_MARK}slash{_MARK}"

_WIKI_REF = re.compile(r"\A\s*\[\d+\]|\[\d+\]\s*\Z")
_HTML_TAG = re.compile(r"<[^<]+?>")
_URL = re.compile(r"http\S+")
_THOUSANDS = re.compile(r"(\d),(\d{3})")
_DOT_IN_WORD = re.compile(r"(\w)\.(\w)")
_CONTRACTION = re.compile(r"'(?=(?:[stdm]|ll|re|ve)\b)")
_DATE_SLASH = re.compile(r"(\d)/(\d)")
_HYPHEN_IN_WORD = re.compile(r"(\w)-(\w)")
_SPACED_SYMBOL = re.compile(r"([%&/$*])")
_HASHTAG = re.compile(r"#(\w+)")
_IGNORED = re.compile(r"[_#\\]")
_QUOTE = re.compile(r"['\"`]")
_PUNCTUATION = re.compile(r"[()\[\].,|:;?!=+~\-/{}]")
_REPEATS = re.compile(r"(\D)\1{3,}")  # 4+ (not 3: roman numerals like "viii")
_QUOTE_RUN = re.compile(r'(\s*"+\s*)+')
_COMMA_RUN = re.compile(r"(\s*,+\s*)+")
_SPACES = re.compile(r"\s+")


class HashtagSplitter:
    """Splits a run-together hashtag ("blogartrocks") into the likeliest words.

    Word cost is log(rank) in a frequency-sorted list (Zipf's law), and the split with the least
    total cost wins (dynamic programming). Digit runs stay whole. An unknown stretch costs a large
    fixed penalty plus more per letter than any known word, so it is kept as one piece rather than
    cut into letters, yet known words next to it are still split off.
    """

    _UNKNOWN = 1e6

    def __init__(self, words: Iterable[str]):
        self._cost: dict[str, float] = {}
        for rank, word in enumerate(words):
            self._cost.setdefault(word.lower(), math.log(rank + 1))
        if not self._cost:
            raise ValueError("the word list is empty")
        self._max_len = max(len(w) for w in self._cost)
        self._per_letter = max(self._cost.values()) + 1.0

    @classmethod
    def from_file(cls, path: str | Path) -> HashtagSplitter:
        """A list with one word per line, most frequent first; anything after the word is ignored."""
        lines = Path(path).read_text(encoding="utf8").splitlines()
        return cls(parts[0] for line in lines if (parts := line.split()))

    def __call__(self, tag: str) -> str:
        pieces: list[str] = []
        for run in re.findall(r"[a-zA-Z]+|[0-9]+", tag):
            pieces.extend([run] if run.isdigit() else self._split(run))
        return " ".join(pieces)

    def _split(self, text: str) -> list[str]:
        n = len(text)
        best = [0.0] + [math.inf] * n
        start = [0] * (n + 1)
        for end in range(1, n + 1):
            for begin in range(end):
                piece = text[begin:end].lower()
                cost = self._cost.get(piece) if end - begin <= self._max_len else None
                if cost is None:
                    cost = self._UNKNOWN + self._per_letter * (end - begin)
                total = best[begin] + cost
                if total < best[end]:
                    best[end], start[end] = total, begin
        words, end = [], n
        while end > 0:
            words.append(text[start[end] : end])
            end = start[end]
        return words[::-1]


class TextNormalizer:
    """Cleans a prompt the way dalle-mini cleaned its training captions.

    `emoji_names` turns emoji into their names ("🐱" -> "cat face") before transliteration; the
    reference drops them (unidecode maps them to nothing), so pass False to match it exactly.
    """

    def __init__(self, word_list: str | Path | None = None, emoji_names: bool = True):
        self.hashtags = HashtagSplitter.from_file(word_list) if word_list else None
        self.emoji_names = emoji_names

    @classmethod
    def for_checkpoint(cls, folder: str | Path, emoji_names: bool = True) -> TextNormalizer:
        """The normaliser with the checkpoint's word list when the folder has one."""
        words = Path(folder) / WORD_LIST_NAME
        return cls(words if words.is_file() else None, emoji_names=emoji_names)

    def __call__(self, text: str) -> str:
        import ftfy
        from unidecode import unidecode

        t = ftfy.fix_text(text)
        t = html.unescape(html.unescape(t))  # captions were often escaped twice
        if self.emoji_names:
            t = _emoji_to_names(t)
        t = unidecode(t).lower()
        t = _WIKI_REF.sub("", t)
        t = _HTML_TAG.sub("", t)
        t = _URL.sub("", t)
        t = _THOUSANDS.sub(r"\1\2", _THOUSANDS.sub(r"\1\2", t))  # twice: "1,000,000" overlaps
        # Protect dots inside words/numbers, contractions and dates from the punctuation pass.
        t = _DOT_IN_WORD.sub(rf"\1{_DOT}\2", t)
        t = _CONTRACTION.sub(_APOS, t)
        t = _DATE_SLASH.sub(rf"\1{_SLASH}\2", t)
        t = _HYPHEN_IN_WORD.sub(r"\1 \2", t)
        t = _SPACED_SYMBOL.sub(r" \1 ", t)
        t = _HASHTAG.sub(self._hashtag, t)
        t = _IGNORED.sub(" ", t)
        t = _QUOTE.sub(' " ', t)
        t = _PUNCTUATION.sub(",", t)
        t = t.replace(_DOT, ".").replace(_APOS, "'").replace(_SLASH, "/")
        t = _REPEATS.sub(r"\1", t)
        t = _QUOTE_RUN.sub(' " ', t)
        t = _COMMA_RUN.sub(", ", t)
        t = _SPACES.sub(" ", t).strip()
        t = t.removesuffix(",").removeprefix(",").strip()
        return " " + t  # the reference always starts with a space: BPE sees " word" as in training

    def _hashtag(self, match: re.Match[str]) -> str:
        # Without a word list the tag is kept as one word; "#" itself is dropped later.
        return self.hashtags(match.group(1)) if self.hashtags else match.group(1)


def _emoji_to_names(text: str) -> str:
    import emoji

    def name(_chars: str, data: dict[str, Any]) -> str:
        return " " + data["en"].strip(":").replace("_", " ") + " "

    return emoji.replace_emoji(text, replace=name)


@lru_cache(maxsize=1)
def _default_normalizer() -> TextNormalizer:
    return TextNormalizer()


def load_tokenizer(folder: str | Path) -> Any:
    """The checkpoint's BART tokenizer (transformers' `BartTokenizerFast`), from local files only."""
    folder = Path(folder)
    missing = [name for name in TOKENIZER_FILES if not (folder / name).is_file()]
    if missing and not (folder / "tokenizer.json").is_file():
        raise MissingWeights(f"{folder} has no tokenizer: {', '.join(missing)} missing")
    from transformers import BartTokenizerFast

    try:
        return BartTokenizerFast.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - tokenizers raises bare Exceptions for unreadable files
        # tokenizer_config.json may name a class transformers does not know ("DalleBartTokenizer");
        # vocab.json + merges.txt are the tokenizer itself.
        if missing:
            raise _unreadable(folder, exc) from exc
    try:
        return BartTokenizerFast(vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"))
    except Exception as exc:  # noqa: BLE001
        raise _unreadable(folder, exc) from exc


def _unreadable(folder: Path, exc: Exception) -> BlogartError:
    return BlogartError(f"cannot read the tokenizer in {folder}: {one_line(exc)}")


def encode_texts(
    tokenizer: Any,
    texts: Sequence[str],
    max_length: int = MAX_TEXT_LENGTH,
    normalize: bool = True,
    normalizer: TextNormalizer | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask), int32 of shape (len(texts), max_length).

    As the reference processor: `<s> text </s>` padded with `<pad>` to max_length, truncated when
    longer (the final `</s>` is kept). An empty string (or one that cleans to nothing) gives the
    unconditional prompt `<s></s>`, as the reference processor builds it.
    """
    import numpy as np

    if isinstance(texts, str):
        raise TypeError("encode_texts takes a list of strings")
    texts = _clean(texts, normalize, normalizer)
    encoded = tokenizer(texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="np")
    return encoded["input_ids"].astype(np.int32), encoded["attention_mask"].astype(np.int32)


def count_tokens(tokenizer: Any, text: str, normalize: bool = True, normalizer: TextNormalizer | None = None) -> int:
    """Tokens the model sees for `text`, with `<s>` and `</s>`, before truncation (fits when <= 64)."""
    return len(tokenizer(_clean([text], normalize, normalizer)[0])["input_ids"])


def _clean(texts: Sequence[str], normalize: bool, normalizer: TextNormalizer | None) -> list[str]:
    if not normalize:
        return list(texts)
    normalizer = normalizer or _default_normalizer()
    # Nothing left after cleaning is the unconditional prompt, not a lone space token.
    return [cleaned if (cleaned := normalizer(t)).strip() else "" for t in texts]
