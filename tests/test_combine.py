"""The combinator's one rule (weight = share of the post's tokens, at most three evidence sentences),
whatever merged the topics: checked here with a hand-written merger, so no model is needed."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from blogart.topics.combine import (
    MAX_EVIDENCE,
    Group,
    Merged,
    PostTokens,
    Source,
    combine,
    evidence,
    share,
    sources_of,
)
from blogart.values import Chunk, ChunkTopics, KeyTopics, Topic

# 100 + 300 + 600 = 1000 tokens: shares are easy to read.
CHUNKS = [
    Chunk(i, (f"Part {i}",), f"Text of part {i}.", tokens, "A title\n- Part")
    for i, tokens in enumerate((100, 300, 600))
]
POST = PostTokens.of(CHUNKS)


def topic(phrase: str, *evidence: str) -> Topic:
    return Topic(phrase, f"About {phrase}.", evidence, 0.5)


def test_post_tokens_count_every_chunk():
    assert POST.total == 1000 and POST.tokens(2) == 600
    assert PostTokens.of([Chunk(0, (), "x", 0, "")]).total == 1  # an empty chunk still counts as one token
    assert PostTokens.of(CHUNKS, [7]).total == 1001  # a topic from an unknown chunk counts as one token


def test_weight_is_the_share_of_tokens_by_how_each_chunk_holds_the_topic():
    kelp = topic("kelp")
    assert share(Group("kelp", "", (Source(0, kelp), Source(2, kelp))), POST) == pytest.approx(0.7)
    # A runner-up counts 0.6 of its chunk, a mere mention 0.5; a chunk is credited once, at its best.
    runner_up = Group("kelp", "", (Source(1, kelp, key_idea=False),), mentioned_in=frozenset({2}))
    assert share(runner_up, POST) == pytest.approx(0.6 * 0.3 + 0.5 * 0.6)
    both = Group("kelp", "", (Source(1, kelp, key_idea=False), Source(1, kelp)), mentioned_in=frozenset({1}))
    assert share(both, POST) == pytest.approx(0.3)


def test_a_merger_guess_counts_only_without_sources():
    assert share(Group("ocean", "", (), guess=0.4), POST) == 0.4
    assert share(Group("ocean", "", (), guess=2.0), POST) == 1.0
    assert share(Group("ocean", "", (Source(0, topic("kelp")),), guess=0.9), POST) == pytest.approx(0.1)


def test_evidence_is_the_first_distinct_sentences_of_the_sources():
    sources = (Source(0, topic("a", "s1", "s2")), Source(1, topic("b", "s2", "s3", "s4")), Source(2, topic("c", "s5")))
    assert evidence(Group("a", "", sources)) == ("s1", "s2", "s3")
    assert MAX_EVIDENCE == 3


def test_sources_are_key_ideas_then_runners_up_chunk_by_chunk():
    given = [ChunkTopics(0, (topic("a"),), (topic("a2"),)), ChunkTopics(1, ()), ChunkTopics(2, (topic("c"),))]
    assert [(s.chunk_index, s.topic.phrase, s.key_idea) for s in sources_of(given)] == [
        (0, "a", True),
        (0, "a2", False),
        (2, "c", True),
    ]


class OneGroupPerSource:
    """A merger that merges nothing, with a fixed summary: only the combinator's own rule is at work."""

    def __init__(self, bonus: dict[str, float] | None = None) -> None:
        self.bonus = bonus or {}
        self.seen: list[Source] = []

    def merge(self, sources: Sequence[Source], chunks: Sequence[Chunk], max_topics: int) -> Merged:
        self.seen = list(sources)
        groups = tuple(
            Group(s.topic.phrase, s.topic.abstraction, (s,), bonus=self.bonus.get(s.topic.phrase, 0.0)) for s in sources
        )
        return Merged(groups, summary="A post about the sea.")


def test_combine_weighs_orders_and_caps_what_any_merger_groups():
    given = [
        ChunkTopics(0, (topic("urchins", "u1"),)),
        ChunkTopics(1, (topic("otters", "o1"),), (topic("sea stars"),)),
        ChunkTopics(2, (topic("kelp", "k1", "k2", "k3", "k4"),)),
    ]
    merger = OneGroupPerSource()
    key = combine(given, CHUNKS, max_topics=3, merger=merger)
    assert [s.topic.phrase for s in merger.seen] == ["urchins", "otters", "sea stars", "kelp"]
    assert [(t.phrase, t.weight) for t in key.topics] == [("kelp", 0.6), ("otters", 0.3), ("sea stars", 0.18)]
    assert key.topics[0].evidence == ("k1", "k2", "k3")
    assert key.summary == "A post about the sea."


def test_ties_keep_the_merger_order_and_a_bonus_orders_without_being_stored():
    chunks = [Chunk(i, (), "x", 10, "") for i in range(3)]
    given = [ChunkTopics(i, (topic(name),)) for i, name in enumerate(["first", "second", "third"])]
    key = combine(given, chunks, merger=OneGroupPerSource())
    assert [t.phrase for t in key.topics] == ["first", "second", "third"]
    key = combine(given, chunks, merger=OneGroupPerSource({"third": 0.1}))
    assert [t.phrase for t in key.topics] == ["third", "first", "second"]
    assert {t.weight for t in key.topics} == {round(1 / 3, 4)}


def test_nothing_to_combine():
    assert combine([], CHUNKS, merger=OneGroupPerSource()) == KeyTopics((), "A post about the sea.")
    # The default merger needs no model for this: the summary falls back to the title.
    assert combine([ChunkTopics(0, ())], CHUNKS) == KeyTopics((), "A title")
    assert combine([ChunkTopics(0, (topic("kelp"),))], CHUNKS, max_topics=0) == KeyTopics((), "A title")
