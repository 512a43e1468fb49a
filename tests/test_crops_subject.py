"""Crops keep the subject: covers with a known subject box, cut to every published and social size.

Each crop must keep at least 90% of the subject box whenever the box fits in the largest window of
that aspect, by saliency alone and with a CLIP scorer (the tests' tiny random CLIP, which scores noise:
the saliency gate must still keep the subject).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from PIL import Image
from subject_covers import BACKGROUNDS, SHAPES, Cover, cover, fits, kept

from blogart.outputs.crops import choose_window
from blogart.social.platforms import PLATFORMS
from blogart.values import DEFAULT_SIZES, CropSize

PROMPT = "a flat icon of a house"
# The published sizes, a 9:16 story, and every social platform's sizes; one per aspect ratio.
_ALL_SIZES = [
    *DEFAULT_SIZES,
    CropSize("story", 1080, 1920),
    *(CropSize(f"{p.name}-{s.name}", s.width, s.height) for p in PLATFORMS.values() for s in p.sizes),
]
SIZES = list({round(s.aspect, 3): s for s in _ALL_SIZES}.values())
PLACES = ((0.5, 0.5), (0.5, 0.2), (0.2, 0.5), (0.8, 0.5), (0.5, 0.8), (0.25, 0.75), (0.75, 0.3))


@cache
def covers(kind: str) -> list[Cover]:
    """Subjects centred and off-centre on a square cover, and a few on a landscape one."""
    made = [
        cover(kind, SHAPES[i % len(SHAPES)], place, side=0.3, size=(512, 512), seed=i) for i, place in enumerate(PLACES)
    ]
    made += [
        cover(kind, shape, place, side=0.3, size=(512, 384), seed=7 + i)
        for i, (shape, place) in enumerate([("star", (0.2, 0.5)), ("house", (0.75, 0.3))])
    ]
    return made


def _cut_subjects(scorer_for=None, kind: str = "plain") -> list[str]:
    cut = []
    for subject in covers(kind):
        for size in SIZES:
            if not fits(subject.image.size, size.aspect, subject.box):
                continue
            window = choose_window(subject.image, size, scorer_for(subject) if scorer_for else None)
            share = kept(window.box, subject.box)
            if share < 0.9:
                cut.append(f"{subject.label} {size.name}: {share:.0%} kept ({window.method})")
    return cut


def test_the_sizes_cover_og_square_portrait_story_wide_and_social():
    assert {round(s.aspect, 2) for s in SIZES} >= {1.9, 1.0, 0.8, 0.56, 1.78, 1.91}


@pytest.mark.parametrize("kind", BACKGROUNDS)
def test_saliency_crops_keep_the_subject(kind):
    assert _cut_subjects(kind=kind) == []


@pytest.mark.parametrize("kind", BACKGROUNDS)
def test_clip_crops_keep_the_subject(clip, kind):
    from blogart.ranking.clip import ClipRanker

    ranker = ClipRanker(clip)
    assert _cut_subjects(lambda _: lambda crops: ranker.score_images(crops, PROMPT), kind) == []


def test_a_scorer_chooses_among_windows_that_keep_the_subject():
    subject = cover("plain", "disc", (0.5, 0.5), side=0.25, size=(512, 512), seed=3)
    og = CropSize("og", 1200, 630)

    def lowest(crops):  # prefers windows further down the cover, as strongly as it can
        return [float(i) for i in range(len(crops))]

    window = choose_window(subject.image, og, lowest)
    assert window.method == "clip" and kept(window.box, subject.box) == 1.0
    # Of the windows that keep the whole disc, the scorer's favourite: lower than the centred one.
    assert window.top > choose_window(subject.image, og).top
    # With no subject to keep, the scorer alone decides.
    flat = Image.fromarray(np.random.default_rng(0).integers(100, 140, (512, 512, 3), dtype=np.uint8))
    assert choose_window(flat, og, lowest).top == 512 - window.height


def test_crops_are_deterministic(clip):
    from blogart.ranking.clip import ClipRanker

    ranker = ClipRanker(clip)
    subject = covers("photo")[3]
    windows = {choose_window(subject.image, s, lambda c: ranker.score_images(c, PROMPT)) for s in SIZES for _ in (0, 1)}
    assert len(windows) == len(SIZES)


def test_clip_sees_the_whole_window(clip):
    """A wide window's left and right ends count: CLIP's centre crop would never show them."""
    from blogart.ranking.clip import ClipRanker, letterbox

    ranker = ClipRanker(clip)
    wide = Image.new("RGB", (400, 100), (120, 160, 200))
    marked = wide.copy()
    marked.paste((250, 40, 20), (0, 0, 100, 100))
    plain_score, marked_score = ranker.score_images([wide, marked], PROMPT)
    assert abs(plain_score - marked_score) > 1e-4
    boxed = letterbox(marked, (0, 0, 0))
    assert boxed.size == (400, 400) and boxed.getpixel((10, 200)) == (250, 40, 20)
    assert boxed.getpixel((200, 10)) == (0, 0, 0)
