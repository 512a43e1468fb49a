"""Platform presets, caption and alt-text limits, carousel picks, and platform-size images."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from blogart.errors import UsageError
from blogart.outputs.platforms import fit, write_platform_images
from blogart.social.carousel import TopicDraw, alt_text, lead_with, pick_slides, slide_topics
from blogart.social.platforms import PLATFORMS, alt_for, caption_for, choose_platforms, shorten, x_length
from blogart.values import Candidate, Flag, ImagePrompt, KeyTopics, Ranked, Topic


def test_presets_have_the_documented_sizes_and_limits():
    sizes = {name: [(s.width, s.height) for s in p.sizes] for name, p in PLATFORMS.items()}
    assert sizes == {"instagram": [(1080, 1080), (1080, 1350)], "linkedin": [(1200, 627)], "x": [(1600, 900)]}
    assert PLATFORMS["x"].alt_limit == 420 and PLATFORMS["instagram"].alt_limit is None
    assert [p.name for p in choose_platforms(["all"])] == ["instagram", "linkedin", "x"]
    assert [p.name for p in choose_platforms(["X", "instagram"])] == ["instagram", "x"]
    with pytest.raises(UsageError, match="unknown platform 'tiktok'; use instagram, linkedin, x or all"):
        choose_platforms(["tiktok"])


def test_x_counts_links_as_23_and_wide_characters_as_two():
    assert x_length("hello") == 5
    assert x_length("see https://example.com/a/very/long/path/that/goes/on") == 4 + 23
    assert x_length("東京") == 4
    assert x_length("café — ok") == 9


def test_captions_are_cut_at_a_word_to_the_limit():
    text = "word " * 100  # 500 characters
    caption, cut = caption_for(PLATFORMS["x"], text)
    assert cut and caption.endswith("word…") and x_length(caption) <= 280
    assert caption_for(PLATFORMS["instagram"], text) == (text.strip(), False)
    emoji_heavy = "🍞" * 200  # 400 weighted: no word boundary to cut at
    caption, cut = caption_for(PLATFORMS["x"], emoji_heavy)
    assert cut and x_length(caption) <= 280
    assert shorten("short", 10) == ("short", False)


def test_alt_text_fits_x_and_stays_whole_elsewhere():
    long_alt = "A photo of a loaf. " * 40
    assert len(alt_for(PLATFORMS["x"], long_alt)) <= 420
    assert alt_for(PLATFORMS["instagram"], long_alt) == long_alt
    starter, crust, loaf, rye = (Topic(p, p) for p in ("sourdough starter", "crispy crust", "loaf", "rye flour"))
    assert alt_text(starter, [starter, crust, loaf, rye], "illustration") == (
        "An illustration of sourdough starter, for a post about crispy crust, loaf and rye flour."
    )
    assert alt_text(loaf, [loaf], "photo") == "A photo of loaf."


def _ranked(tmp_path: Path, name: str, score: float, flagged: bool = False) -> Ranked:
    candidate = Candidate(tmp_path / f"{name}.png", 0, name, "", "test")
    flags = (Flag("weapon", 0.3, 0.22),) if flagged else ()
    return Ranked(candidate, score, score, flags=flags)


def _draw(tmp_path: Path, phrase: str, scores: list[float], flagged: tuple[int, ...] = ()) -> TopicDraw:
    ranked = tuple(_ranked(tmp_path, f"{phrase}-{i}", s, i in flagged) for i, s in enumerate(scores))
    ranked = tuple(sorted(ranked, key=lambda r: (r.flagged, -r.score)))
    return TopicDraw(Topic(phrase, phrase), ImagePrompt(phrase, (), "illustration", 2), ranked)


def test_carousel_one_per_topic_then_the_next_best_ordered_by_score(tmp_path):
    bread = _draw(tmp_path, "bread", [0.5, 0.9])
    crumb = _draw(tmp_path, "crumb", [0.7, 0.6])
    crust = _draw(tmp_path, "crust", [0.2, 0.95], flagged=(1,))  # its best image is flagged
    slides = pick_slides([bread, crumb, crust], 3)
    assert [s.ranked.candidate.prompt for s in slides] == ["bread-1", "crumb-0", "crust-0"]
    assert [s.topic.phrase for s in slides] == ["bread", "crumb", "crust"]
    # Five asked, three topics: the next best unflagged images fill the rest; all ordered by score.
    five = pick_slides([bread, crumb, crust], 5)
    assert [s.ranked.candidate.prompt for s in five] == ["bread-1", "crumb-0", "crumb-1", "bread-0", "crust-0"]
    # Fewer slides than topics: the first topics' best, still ordered by score.
    assert [s.ranked.candidate.prompt for s in pick_slides([crust, crumb, bread], 2)] == ["crumb-0", "crust-0"]
    assert pick_slides([_draw(tmp_path, "gun", [0.9], flagged=(0,))], 3) == []


def test_slide_topics_and_leading_topic():
    topics = KeyTopics((Topic("a", "a"), Topic("b", "b"), Topic("c", "c")), "s")
    assert [t.phrase for t in slide_topics(topics, 2)] == ["a", "b"]
    assert [t.phrase for t in slide_topics(topics, 10)] == ["a", "b", "c"]
    assert [t.phrase for t in lead_with(topics, topics.topics[2]).topics] == ["c", "a", "b"]


def test_platform_images_are_exact_sizes_and_keep_the_centre(tmp_path):
    image = Image.new("RGB", (256, 256), "white")
    image.paste((255, 0, 0), (96, 96, 160, 160))  # a red square in the middle
    names = []
    for platform in PLATFORMS.values():
        sizes = [(s.name, s.width, s.height) for s in platform.sizes]
        paths = write_platform_images(image, sizes, tmp_path / platform.name, "01")
        names += [str(p.relative_to(tmp_path)) for p in paths]
        for path, (_, width, height) in zip(paths, sizes, strict=True):
            with Image.open(path) as written:
                assert written.size == (width, height)
                assert written.getpixel((width // 2, height // 2)) == (255, 0, 0)
                assert written.getpixel((2, 2)) == (255, 255, 255)
    assert names == [
        "instagram/01-square.png",
        "instagram/01-portrait.png",
        "linkedin/01-landscape.png",
        "x/01-landscape.png",
    ]
    assert fit(image.convert("L"), 100, 50).mode == "RGB"


@pytest.mark.timeout(60)
def test_a_200_kb_hostile_caption_is_cut_in_bounded_time():
    """Cutting used to measure the whole text once per dropped word: 244 kB took ~27 minutes."""
    import time

    from hostile_text import hostile_text

    text = hostile_text(200_000)
    clock = time.perf_counter()
    caption, cut = caption_for(PLATFORMS["x"], text)
    alt = alt_for(PLATFORMS["x"], text.replace("\n", " "))
    assert time.perf_counter() - clock < 5
    assert cut and x_length(caption) <= 280 and caption.endswith("…") and text.startswith(caption[:-1])
    assert len(alt) <= 420
    one_word = "🍞" * 100_000  # no space to cut at: cut between emoji
    assert shorten(one_word, 280, x_length) == ("🍞" * 139 + "…", True)
    assert shorten("e\u0301" * 10, 4) == ("e\u0301" + "…", True)  # never an accent without its letter
    assert shorten("word", 0) == ("", True)
