"""Fit a BART byte-level BPE tokenizer on captions (for a model trained from scratch).

It gives the bytes of `vocab.json` + `merges.txt`, the two files `models/dalle/text.load_tokenizer`
reads, with BART's special tokens first (`<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, `<mask>`=4).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from blogart.errors import UsageError

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
FILES = ("vocab.json", "merges.txt")


def train_tokenizer(captions: Sequence[str], vocab_size: int) -> dict[str, bytes]:
    """Fit on the (already normalised) captions, at most `vocab_size` tokens: file name -> bytes."""
    from tokenizers import ByteLevelBPETokenizer

    if vocab_size < len(SPECIAL_TOKENS) + 256:
        raise UsageError(f"encoder_vocab_size {vocab_size} is too small for a byte-level BPE (needs >= 261)")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(captions), vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS)
    with tempfile.TemporaryDirectory() as tmp:
        bpe.save_model(tmp)
        return {name: (Path(tmp) / name).read_bytes() for name in FILES}
