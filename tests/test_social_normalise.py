"""Informal posts normalised before topic extraction, and read from text, Markdown, JSON and stdin."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from blogart.errors import InputError, UsageError
from blogart.social.normalise import emoji_name, hashtag_words, load_slang, normalise
from blogart.social.read import read_post

POSTS = Path(__file__).parent / "data" / "social"


@pytest.mark.parametrize(
    ("tag", "words"),
    [
        ("SourdoughLife", "sourdough life"),
        ("BikeToWork", "bike to work"),
        ("bakingfromscratch", "baking from scratch"),  # one case: split by word frequencies
        ("growyourown", "grow your own"),
        ("NASAMission", "nasa mission"),
        ("Top10Tips", "top 10 tips"),
        ("tbt", "tbt"),  # short one-case tags stay whole; slang expands them afterwards
    ],
)
def test_hashtags_split_into_words(tag, words):
    assert hashtag_words(tag) == words


def test_emoji_are_named_without_skin_tones():
    assert emoji_name("🍞") == "bread"
    assert emoji_name("👍🏽") == "thumbs up"
    assert emoji_name("🙏🏿") == "folded hands"


def test_the_sourdough_post():
    post = read_post(str(POSTS / "sourdough.txt"))
    result = normalise(post.text)
    assert result.original == post.text
    assert result.text == (
        "not going to lie my sourdough starter is finally THRIVING, bread, fire, fed it rye flour for 2 weeks"
        " and the bubbles are unreal. first loaf came out with a crazy open crumb and a dark crispy crust, to be"
        " honest didn't think i'd get there. big thanks to for the tips! full recipe on the blog. sourdough life,"
        " baking from scratch, home baker."
    )
    assert result.mentions == ("@breadnerd",)
    assert result.urls == ("https://example.com/sourdough-starter",)
    assert result.hashtags == (
        ("#SourdoughLife", "sourdough life"),
        ("#bakingfromscratch", "baking from scratch"),
        ("#homebaker", "home baker"),
    )
    assert ("ngl", "not going to lie") in result.expanded and ("w/", "with") in result.expanded
    assert [name for _, name in result.emoji] == ["bread", "fire", "fire"]  # recorded each time, said once


@pytest.mark.parametrize("name", ["sourdough.txt", "garden.txt", "launch.json", "commute.md", "x-short.txt"])
def test_every_post_loses_its_markup(name):
    text = normalise(read_post(str(POSTS / name)).text).text
    assert "#" not in text and "@" not in text and "http" not in text and "www." not in text
    assert all(ord(c) < 0x2000 for c in text), text  # no emoji left, only their names
    assert "!!" not in text and ", ," not in text and not text.startswith(",")
    assert text.endswith((".", "!", "?"))


def test_the_other_posts_keep_their_subjects():
    garden = normalise(read_post(str(POSTS / "garden.txt")).text).text
    assert "cherry tomatoes" in garden and "balcony garden, urban gardening, grow your own" in garden
    assert "right now" in garden and "please send ideas" in garden and "folded hands" in garden
    octopus = normalise(read_post(str(POSTS / "x-short.txt")).text).text
    assert (
        octopus
        == "today I learned octopuses have three hearts, octopus, and blue blood. mind blown for real, ocean facts."
    )
    commute = normalise(read_post(str(POSTS / "commute.md")).text).text
    assert commute.startswith("Bike commute diaries, bicycle. Rode to work through the rain again today laughing.")
    assert "night lights for the dark mornings" in commute  # a Markdown link keeps its words
    launch = normalise(read_post(str(POSTS / "launch.json")).text).text
    assert "wildlife sightings deep in the forest without signal" in launch


def test_stretched_words_marks_and_mid_sentence_hashtags():
    result = normalise("sooooo good!!!?? i love #coffee in the morning tbh")
    assert result.text == "so good! i love coffee in the morning to be honest."
    assert normalise("mail me at jo@example.com").mentions == ()  # an address is not a mention


def test_slang_is_whole_words_only_and_case_insensitive():
    result = normalise("TBH u should go up the hill. Build it for u.")
    assert result.text == "to be honest you should go up the hill. Build it for you."
    assert normalise("ur bus is here w/o ur bag").text == "your bus is here without your bag."


def test_users_extend_and_override_the_slang_table(tmp_path):
    extra = tmp_path / "slang.toml"
    extra.write_text('[expand]\n"hbu" = "how about you"\n"lol" = "laughing out loud"\n')
    table = load_slang(extra)
    assert table["tbh"] == "to be honest"  # the bundled entries stay
    assert normalise("lol hbu", table).text == "laughing out loud how about you."
    assert normalise("lol hbu").text == "laughing hbu."  # without the file


def test_a_bad_slang_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="slang file not found"):
        load_slang(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[expand\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_slang(bad)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('tbh = "to be honest"\n')
    with pytest.raises(UsageError, match=r"needs an \[expand\] table"):
        load_slang(wrong)


def test_reading_each_format():
    text = read_post(str(POSTS / "sourdough.txt"))
    assert text.format == "text" and text.text.startswith("ngl my sourdough") and len(text.content_hash) == 64
    markdown = read_post(str(POSTS / "commute.md"))
    assert markdown.format == "markdown"
    assert markdown.text.splitlines()[:2] == [
        "Bike commute diaries 🚲",
        "Rode to work thru the rain again today lol. Waterproof jacket = MVP, cold fingers = not so much 🥶",
    ]
    assert "mudguards: absolute lifesaver" in markdown.text and "](" not in markdown.text
    export = read_post(str(POSTS / "launch.json"))
    assert export.format == "json" and export.platforms == ("linkedin", "x") and export.title == "Launch day"


def test_reading_stdin():
    post = read_post("-", stdin=io.BytesIO("gm ☕ #MondayMotivation\n".encode()))
    assert post.source == "-" and post.format == "text" and post.text == "gm ☕ #MondayMotivation"
    exported = read_post("-", stdin=io.BytesIO(b'{"text": "hi", "platforms": ["X"]}'))
    assert exported.format == "json" and exported.platforms == ("x",)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "has no text"),
        (b"   \n\n", "has no text"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b'{"text": 3}', 'needs a "text" string'),
        (b'{"text": "hi", "platforms": "x"}', '"platforms" must be a list'),
        (b"{not json", "not valid JSON"),
    ],
)
def test_bad_posts_are_input_errors(tmp_path, content, message):
    name = "post.json" if content.startswith(b"{") else "post.txt"
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_post(str(path))


def test_missing_folder_and_oversized_posts(tmp_path):
    with pytest.raises(InputError, match="post not found"):
        read_post(str(tmp_path / "nope.txt"))
    with pytest.raises(InputError, match="is a folder"):
        read_post(str(tmp_path))
    big = tmp_path / "big.txt"
    big.write_text("a" * 101)
    with pytest.raises(InputError, match="over 100 bytes"):
        read_post(str(big), max_bytes=100)


@pytest.mark.timeout(120)
def test_a_200_kb_hostile_post_is_normalised_and_read_for_topics_in_bounded_time():
    """Normalising and the topics stage do bounded work per character: a tag list per line is found in one
    pass, one-case tags are split by word frequencies for the first few distinct ones only, and the topics
    of a post of many chunks come from an evenly spaced sample of them."""
    import time

    from hostile_text import hostile_text

    from blogart.pipeline.chunking import chunk_document
    from blogart.social import normalise as module
    from blogart.topics.local import LocalTopicExtractor
    from blogart.topics.phrases import CHUNK_BUDGET
    from blogart.values import Document, Section

    normalise("warm up #bakingfromscratch 🍞")  # word counts and emoji tables loaded once per process
    tags_line = "#לחם 🍞 #SourdoughLife\u200f " * 8_000  # 200 kB on one line: every tag is in its list
    clock = time.perf_counter()
    assert normalise(tags_line).text.startswith("לחם, bread, sourdough life, לחם, bread")
    distinct = " ".join(f"#{word}{n}" for n, word in enumerate(["bakingfromscratch"] * 5_000))
    assert normalise(distinct).text  # 5,000 distinct one-case tags
    many = " ".join(f"#{chr(97 + n % 26)}bakingfromscratch{chr(97 + n // 26 % 26)}x" for n in range(400))
    normalised = normalise(many)
    assert sum(words.count(" ") > 0 for _, words in normalised.hashtags) <= module.SEGMENT_MAX_TAGS + 1
    text = normalise(hostile_text(200_000)).text
    assert time.perf_counter() - clock < 30

    text = text[:10_000]  # small chunks of it: many more than the stage reads
    document = Document("post.txt", "social", "", {}, (Section((), text),), text, "0" * 64)
    chunks = chunk_document(document, max_tokens=48, overlap_tokens=0)
    assert len(chunks) > CHUNK_BUDGET
    clock = time.perf_counter()
    topics = LocalTopicExtractor().extract(chunks)
    assert time.perf_counter() - clock < 30
    assert [t.chunk_index for t in topics] == [c.index for c in chunks]
    assert 0 < sum(bool(t.topics) for t in topics) <= CHUNK_BUDGET


def test_zero_width_spaces_separate_words_and_bidi_controls_go():
    text = "sourdough\u200bstarter \u202eevil\u202c \u200fלחם\u200e and\ufeffcrumb #Bread\u2066"
    assert normalise(text).text == "sourdough starter evil לחם and crumb, bread."
    assert normalise("👩🏽\u200d🍳 می\u200cخواهم").text == "woman cook, می\u200cخواهم."  # ZWNJ spells Persian
