"""Style presets, the prompt library and the template prompt writer (all offline, no models)."""

from __future__ import annotations

import pytest

from blogart.errors import InputError, UsageError
from blogart.prompts.builder import TemplatePromptWriter, clean_phrase, estimate_tokens, merge_negative
from blogart.prompts.library import PromptExample, load_examples, select_examples
from blogart.prompts.styles import get_style, load_styles, style_name
from blogart.values import KeyTopics, StylePreset, Topic

PRESETS = [
    "photo",
    "illustration",
    "pencil-sketch",
    "flat-vector",
    "isometric-3d",
    "watercolor",
    "oil-painting",
    "cinematic",
    "minimal-line-art",
    "pixel-art",
]


def key_topics(*phrases: str, summary: str = "A post.") -> KeyTopics:
    return KeyTopics(tuple(Topic(p, f"About {p}.", (), 1.0 - i / 10) for i, p in enumerate(phrases)), summary)


def words_counter(text: str) -> int:
    """A stand-in tokenizer: one token per word plus BOS/EOS, easy to reason about in tests."""
    return len(text.replace(",", " ").split()) + 2


# -- styles --------------------------------------------------------------------------------------


def test_shipped_styles():
    styles = load_styles()
    assert set(PRESETS) <= set(styles)
    for name, preset in styles.items():
        assert preset.name == name
        assert preset.description and preset.suffix
        assert {"text", "watermark", "blurry", "signature"} <= set(preset.negative)
        assert len(preset.negative) == len(set(preset.negative))


def test_user_styles_extend_and_override(tmp_path):
    extra = tmp_path / "styles.toml"
    extra.write_text(
        'common_negative = ["frame"]\n'
        '[photo]\nsuffix = "analog film photo, grain"\n'
        '[Blueprint]\ndescription = "White lines on blue."\nsuffix = "technical blueprint, white lines on blue"\n'
        'negative = ["color", "frame"]\n',
        encoding="utf-8",
    )
    shipped = load_styles()
    styles = load_styles(extra)
    assert styles["photo"].suffix == "analog film photo, grain"
    assert styles["photo"].description == shipped["photo"].description  # untouched fields kept
    assert styles["photo"].negative == ("frame", *shipped["photo"].negative)  # the file's common words first
    assert styles["blueprint"] == StylePreset(
        "blueprint", "White lines on blue.", "technical blueprint, white lines on blue", ("frame", "color")
    )
    assert styles["watercolor"] == shipped["watercolor"]
    assert load_styles() == shipped  # the shipped set is not mutated by a user file


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[photo\n", "not valid TOML"),
        ('[new-style]\ndescription = "no suffix"\n', "needs a non-empty suffix"),
        ('[photo]\nnegative = "text"\n', "list of strings"),
        ('[photo]\ncolour = "red"\n', "unknown keys: colour"),
        ('photo = "x"\n', "must be a table"),
    ],
)
def test_bad_user_styles(tmp_path, content, message):
    extra = tmp_path / "styles.toml"
    extra.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        load_styles(extra)


def test_missing_styles_file(tmp_path):
    with pytest.raises(UsageError, match="styles file not found"):
        load_styles(tmp_path / "nope.toml")


def test_get_style_names_and_unknown():
    assert style_name("Pencil sketch") == style_name("pencil_sketch") == "pencil-sketch"
    assert get_style("Flat Vector").name == "flat-vector"
    with pytest.raises(UsageError) as info:
        get_style("crayon")
    message = str(info.value)
    assert "crayon" in message and "photo" in message and "pixel-art" in message and "\n" not in message


# -- prompt library ------------------------------------------------------------------------------


def test_shipped_examples():
    examples = load_examples()
    assert 8 <= len(examples) <= 16
    styles = load_styles()
    for example in examples:
        assert isinstance(example, PromptExample)
        assert example.topics and example.summary and example.prompt
        assert example.style in styles
        assert estimate_tokens(example.prompt) <= 64  # an example must itself fit the DALL-E limit


def test_user_examples_add_to_shipped(tmp_path):
    (tmp_path / "mine.toml").write_text(
        '[[examples]]\ntopics = ["lighthouse", "storm"]\nsummary = "A lighthouse keeper."\n'
        'style = "Oil painting"\nprompt = "a lighthouse in a storm at night"\n',
        encoding="utf-8",
    )
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    shipped = load_examples()
    examples = load_examples(tmp_path)
    assert examples[: len(shipped)] == shipped
    added = examples[len(shipped) :]
    assert [(e.topics, e.style, e.prompt) for e in added] == [
        (["lighthouse", "storm"], "oil-painting", "a lighthouse in a storm at night")
    ]
    assert select_examples(examples, ["stormy lighthouse"], "photo", k=1) == added


def test_bad_user_examples(tmp_path):
    (tmp_path / "bad.toml").write_text('[[examples]]\ntopics = []\nstyle = "photo"\nprompt = "x"\n', encoding="utf-8")
    with pytest.raises(UsageError, match="bad.toml, example 1: topics"):
        load_examples(tmp_path)
    with pytest.raises(UsageError, match="folder not found"):
        load_examples(tmp_path / "missing")


def test_select_examples_prefers_shared_words_then_style():
    examples = load_examples()
    chosen = select_examples(examples, ["honey bees", "rooftop hive"], "photo", k=2)
    assert len(chosen) == 2
    assert "bees" in " ".join(chosen[0].topics)


# -- template prompt writer ----------------------------------------------------------------------


def test_subject_first_then_elements_then_style():
    writer = TemplatePromptWriter(count_tokens=words_counter)
    style = get_style("watercolor")
    prompt = writer.write(key_topics("tide pools", "sea anemones", "hermit crabs"), "Title", style, [], 64)
    assert prompt.text.startswith("tide pools, sea anemones, hermit crabs, watercolor painting")
    assert prompt.text.endswith(style.suffix)
    assert prompt.style == "watercolor" and prompt.writer == "templates"
    assert prompt.tokens == words_counter(prompt.text)


def test_at_most_three_elements_and_no_repeats():
    writer = TemplatePromptWriter(count_tokens=words_counter)
    topics = key_topics("sourdough bread", "Sourdough", "starter jar", "Dutch oven", "flour", "salt")
    text = writer.write(topics, "", get_style("photo"), [], 64).text
    parts = text.split(", ")
    assert parts[:4] == ["sourdough bread", "starter jar", "Dutch oven", "flour"]
    assert "salt" not in parts and "Sourdough" not in parts


@pytest.mark.parametrize("limit", [64, 32, 20, 12, 8])
@pytest.mark.parametrize("counter", [None, words_counter], ids=["estimate", "words"])
def test_token_limit_holds_for_long_topics(limit, counter):
    writer = TemplatePromptWriter(count_tokens=counter)
    long_topics = key_topics(
        "extraordinarily meticulous hand-laminated croissant dough with cultured butter layers",
        "a professional commercial bakery kitchen before sunrise",
        "stainless steel sheeter machine",
        "rows of proofing racks",
    )
    style = get_style("isometric-3d")
    prompt = writer.write(long_topics, "", style, [], limit)
    count = counter or estimate_tokens
    assert count(prompt.text) <= limit
    assert prompt.tokens == count(prompt.text)
    # Subject first, whole words only: every word comes from a topic or the style suffix.
    assert prompt.text.startswith("extraordinarily")
    source_words = set(" ".join([*(t.phrase for t in long_topics.topics), style.suffix]).replace(",", " ").split())
    assert set(prompt.text.replace(",", " ").split()) <= source_words


def test_lowest_priority_parts_go_first():
    writer = TemplatePromptWriter(count_tokens=words_counter)
    topics = key_topics("honey bees", "rooftop hive", "city skyline")
    style = get_style("photo")  # professional photograph, natural light, shallow depth of field, high detail
    full = writer.write(topics, "", style, [], 64).text
    tight = writer.write(topics, "", style, [], 10).text
    assert full.count(", ") == 6
    # 8 words: subject (2) + style core (2) + 1st element (2) + 2nd style part (2).
    assert tight == "honey bees, rooftop hive, professional photograph, natural light"
    assert writer.write(topics, "", style, [], 6).text == "honey bees, professional photograph"
    assert writer.write(topics, "", style, [], 3).text == "honey"


def test_each_style_applies():
    writer = TemplatePromptWriter()
    topics = key_topics("urban beekeeping", "honey bees")
    texts = set()
    for name, style in load_styles().items():
        prompt = writer.write(topics, "", style, [], 64)
        assert prompt.style == name
        assert prompt.text.startswith("urban beekeeping, ")
        assert clean_phrase(style.suffix.split(",")[0]) in prompt.text
        assert prompt.negative[: len(style.negative)] == style.negative
        texts.add(prompt.text)
    assert len(texts) == len(load_styles())


def test_negative_words_merged():
    style = StylePreset("s", "", "suffix", ("text", "watermark", "blurry"))
    assert merge_negative(style, ["Watermark", "people, cars", " ", "blurry", "crowd"]) == (
        "text",
        "watermark",
        "blurry",
        "people",
        "cars",
        "crowd",
    )
    assert merge_negative(["a", "A", "b"]) == ("a", "b")
    prompt = TemplatePromptWriter().write(key_topics("kites"), "", get_style("photo"), ["Text", "rain"], 64)
    assert prompt.negative[-1] == "rain" and prompt.negative.count("text") == 1 and "Text" not in prompt.negative
    assert prompt.negative_prompt.startswith("text, watermark")


def test_falls_back_to_title_then_fails():
    writer = TemplatePromptWriter(count_tokens=words_counter)
    style = get_style("photo")
    empty = KeyTopics((), "")
    assert writer.write(empty, "Night, skies [draft]", style, [], 64).text.startswith("Night skies draft, ")
    assert writer.write(KeyTopics((), "A summary line."), "", style, [], 64).text.startswith("A summary line, ")
    with pytest.raises(InputError, match="nothing to draw"):
        writer.write(empty, "  ", style, [], 64)


def test_estimate_is_conservative():
    # The estimate must not undercount: at least one token per word, plus BOS/EOS.
    text = "a crusty sourdough loaf beside a jar of bubbling starter, morning light"
    assert estimate_tokens(text) >= len(text.split()) + 2
    assert estimate_tokens("") == 2


def test_parts_already_said_by_a_compound_are_skipped():
    topics = KeyTopics(
        (Topic("sourdough bread", ""), Topic("dough", ""), Topic("starter culture", ""), Topic("art", "")),
        "A post about bread.",
    )
    style = StylePreset("plain", "", "")
    text = TemplatePromptWriter().write(topics, "Bread", style).text
    assert text == "sourdough bread, starter culture, art"  # "dough" is in "sourdough"; "art" is short: kept
