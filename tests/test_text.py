"""The DALL-E Mini text normaliser and the BART tokenizer read from a checkpoint folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from blogart.errors import BlogartError, MissingWeights
from blogart.models.dalle.text import (
    WORD_LIST_NAME,
    HashtagSplitter,
    TextNormalizer,
    count_tokens,
    encode_texts,
    load_tokenizer,
)

WORDS = ["the", "a", "of", "blog", "art", "cat", "cats", "cover", "images", "rocks", "machine", "learning", "learn"]


@pytest.fixture(scope="module")
def normalize():
    return TextNormalizer()


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("A Cat on a Mat", " a cat on a mat"),
        ("Hello, World!", " hello, world"),
        ("What? Really... yes!!", " what, really, yes"),
        ("a (small) [red] {box}; ok: fine", " a, small, red, box, ok, fine"),
        ("state-of-the-art model", " state of the art model"),
        ("it's 1,000,000 dollars", " it's 1000000 dollars"),
        ("version 3.5 of python", " version 3.5 of python"),
        ("born 12/25/1990", " born 12/25/1990"),
        ("100% & more", " 100 % & more"),
        ("Sooooo good", " so good"),
        ("chapter viii", " chapter viii"),
        ('she said "hello" `there`', ' she said " hello " there "'),
        ("   spaces\tand\nnewlines  ", " spaces and newlines"),
        (",leading and trailing,", " leading and trailing"),
        ("snake_case back\\slash", " snake case back slash"),
        ("a fact[12]", " a fact"),
    ],
)
def test_punctuation_and_spacing(normalize, raw, clean):
    assert normalize(raw) == clean


def test_unicode_is_fixed_and_transliterated(normalize):
    assert normalize("Café naïve Straße Ελλάδα") == " cafe naive strasse ellada"
    assert normalize("â€œmojibakeâ€\x9d") == ' " mojibake "'  # ftfy repairs the double-encoded quotes first
    assert normalize("fish &amp;amp; chips") == " fish & chips"  # escaped twice


def test_urls_and_html_are_removed(normalize):
    assert normalize("see https://example.com/a?b=1 now") == " see now"
    assert normalize("<p>Deep <b>learning</b></p>") == " deep learning"


def test_emoji_become_names(normalize):
    assert normalize("I love my 🐱!") == " i love my cat face"
    assert normalize("🚀 launch") == " rocket launch"


def test_emoji_dropped_like_the_reference_when_asked():
    assert TextNormalizer(emoji_names=False)("I love my 🐱!") == " i love my"


def test_hashtags_without_word_list_keep_the_word(normalize):
    assert normalize("#MachineLearning rocks") == " machinelearning rocks"


def test_hashtags_with_word_list_are_split(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("".join(f"{w} {1000 - i}\n" for i, w in enumerate(WORDS)))
    normalize = TextNormalizer(word_list=words)
    assert normalize("#MachineLearning rocks") == " machine learning rocks"
    assert normalize("#blogart2024 #coverimages") == " blog art 2024 cover images"
    # words outside hashtags are left alone
    assert normalize("blogart") == " blogart"


def test_checkpoint_word_list_is_used_when_present(tmp_path):
    assert TextNormalizer.for_checkpoint(tmp_path).hashtags is None
    (tmp_path / WORD_LIST_NAME).write_text("\n".join(WORDS))
    assert TextNormalizer.for_checkpoint(tmp_path)("#catsrocks") == " cats rocks"


def test_hashtag_splitter_prefers_frequent_words_and_keeps_unknown_runs():
    split = HashtagSplitter(WORDS)
    assert split("thecats") == "the cats"  # "the cats" beats "the cat s"
    assert split("xyzzyblog") == "xyzzy blog"  # unknown head kept whole, known word split off
    assert split("xyzzy") == "xyzzy"
    assert split("cats2024art") == "cats 2024 art"
    with pytest.raises(ValueError):
        HashtagSplitter([])


# -- tokenizer ----------------------------------------------------------------------------------------------

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # BART's order: ids 0..4


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """A tiny byte-level BPE saved as vocab.json + merges.txt, the files the released checkpoints hold."""
    from tokenizers import ByteLevelBPETokenizer

    folder = tmp_path_factory.mktemp("tokenizer")
    bpe = ByteLevelBPETokenizer()
    corpus = [" a cat on a mat", " the blog about art", " cover images for a post", " hello world"] * 4
    bpe.train_from_iterator(corpus, vocab_size=320, min_frequency=1, special_tokens=SPECIALS)
    bpe.save_model(str(folder))
    return folder


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    return load_tokenizer(tokenizer_dir)


def test_special_tokens_are_barts(tokenizer):
    assert (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id) == (0, 1, 2)


def test_encode_pads_to_64_with_bos_eos(tokenizer):
    ids, mask = encode_texts(tokenizer, ["A cat on a mat!", "hello"])
    assert ids.shape == mask.shape == (2, 64)
    assert ids.dtype == mask.dtype == np.int32
    for row, m in zip(ids, mask, strict=True):
        n = int(m.sum())
        assert list(m[:n]) == [1] * n and not m[n:].any()  # mask is a prefix of ones
        assert row[0] == 0 and row[n - 1] == 2  # <s> ... </s>
        assert (row[n:] == 1).all()  # then <pad>
    # the normalised text is what gets tokenized
    expected = tokenizer(" a cat on a mat")["input_ids"]
    assert list(ids[0, : len(expected)]) == expected


def test_empty_prompt_is_the_unconditional_one(tokenizer):
    ids, mask = encode_texts(tokenizer, ["", "!!!"])
    for row, m in zip(ids, mask, strict=True):
        assert list(row[:3]) == [0, 2, 1] and int(m.sum()) == 2


def test_long_text_is_truncated_keeping_eos(tokenizer):
    ids, mask = encode_texts(tokenizer, ["cat " * 200], max_length=64)
    assert ids.shape == (1, 64) and mask.all()
    assert ids[0, 0] == 0 and ids[0, -1] == 2


def test_without_normalisation_the_text_is_tokenized_as_given(tokenizer):
    raw = "A Cat!"
    ids, _ = encode_texts(tokenizer, [raw], normalize=False)
    expected = tokenizer(raw)["input_ids"]
    assert list(ids[0, : len(expected)]) == expected
    assert list(ids[0, : len(expected)]) != list(encode_texts(tokenizer, [raw])[0][0, : len(expected)])


def test_encode_rejects_a_bare_string(tokenizer):
    with pytest.raises(TypeError):
        encode_texts(tokenizer, "a cat")


def test_count_tokens(tokenizer):
    n = count_tokens(tokenizer, "A cat on a mat!")
    assert n == len(tokenizer(" a cat on a mat")["input_ids"])
    assert n == int(encode_texts(tokenizer, ["A cat on a mat!"])[1].sum())
    assert count_tokens(tokenizer, "cat " * 200) > 64  # counted before truncation


def test_unknown_tokenizer_class_in_config_still_loads(tokenizer_dir, tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    for name in ("vocab.json", "merges.txt"):
        (folder / name).write_bytes((tokenizer_dir / name).read_bytes())
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "DalleBartTokenizer"}))
    tok = load_tokenizer(folder)
    assert tok("a cat")["input_ids"][0] == 0


def test_missing_tokenizer_files_raise_missing_weights(tmp_path):
    with pytest.raises(MissingWeights, match="vocab.json"):
        load_tokenizer(tmp_path)


def test_count_tokens_of_a_prompt_that_cleans_to_nothing_matches_encode(tokenizer):
    # "!!!" normalises to nothing: the model reads the unconditional <s></s>, not a space token
    assert count_tokens(tokenizer, "!!!") == int(encode_texts(tokenizer, ["!!!"])[1].sum()) == 2


def test_unreadable_tokenizer_files_are_one_line_errors(tmp_path):
    (tmp_path / "vocab.json").write_text("not json")
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    with pytest.raises(BlogartError, match=r"cannot read the tokenizer in .*: ") as err:
        load_tokenizer(tmp_path)
    assert "\n" not in str(err.value)
