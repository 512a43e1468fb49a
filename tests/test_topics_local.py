"""The offline topic extractor and the combinator's embedding merge, on the real bundled MiniLM (no network)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blogart.llm.embeddings import DIM, embed
from blogart.topics.combine import combine
from blogart.topics.local import LocalTopicExtractor
from blogart.topics.phrases import candidate_phrases, phrase_key, sentences
from blogart.values import Chunk, ChunkTopics, LLMUsage, Topic

POSTS = Path(__file__).parent / "data" / "posts"

SOURDOUGH = (
    "Baking sourdough bread at home",
    [
        (
            "Why sourdough",
            "Sourdough bread rises with wild yeast instead of packaged yeast. The flavour is tangy and the crust is "
            "crackly. Many home bakers find the slow process relaxing.",
        ),
        (
            "Making a starter",
            "A sourdough starter is a mix of flour and water that captures wild yeast and lactic acid bacteria. "
            "Feed the sourdough starter every day with equal weights of flour and water. After a week the starter "
            "culture bubbles and doubles in size within a few hours.",
        ),
        (
            "Shaping and baking",
            "Mix the levain with flour, water and salt, then fold the dough every half hour. Shape the loaf, let it "
            "proof overnight in the fridge, and bake it in a hot Dutch oven. The sourdough loaf should sound hollow "
            "when you tap the bottom.",
        ),
    ],
)
RUST = (
    "Understanding async Rust",
    [
        (
            "Futures",
            "In Rust an async function returns a future instead of running right away. A future does nothing until "
            "an executor polls it. The compiler turns each async block into a state machine.",
        ),
        (
            "Runtimes",
            "Rust ships no runtime of its own, so most projects pick Tokio. The Tokio runtime schedules tasks on a "
            "thread pool and wakes them when sockets are ready.",
        ),
    ],
)
TIDEPOOLS = (
    "A morning in the tide pools",
    [
        (
            "Low tide",
            "At low tide the rocky shore turns into a maze of tide pools. Each pool is a small world left behind by "
            "the sea for a few hours.",
        ),
        (
            "Who lives there",
            "Sea anemones open like green flowers under the water. Hermit crabs drag their borrowed shells across "
            "the sand, and purple sea urchins wedge themselves into cracks in the rock.",
        ),
    ],
)


def make_chunks(title: str, sections: list[tuple[str, str]]) -> list[Chunk]:
    outline = "\n".join([title] + [f"- {heading}" for heading, _ in sections])
    return [
        Chunk(i, (heading,), text, len(text.split()) * 4 // 3, outline) for i, (heading, text) in enumerate(sections)
    ]


def run(post: tuple[str, list[tuple[str, str]]], max_topics: int = 6):
    extractor = LocalTopicExtractor()
    chunks = make_chunks(*post)
    chunk_topics = extractor.extract(chunks)
    return chunk_topics, combine(chunk_topics, chunks, max_topics=max_topics)


def test_embed_is_normalised_and_meaningful():
    vectors = embed(["a sourdough starter", "wild yeast culture for bread", "Kubernetes pod autoscaling"])
    assert vectors.shape == (3, DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert embed([]).shape == (0, DIM)
    assert np.array_equal(embed(["a sourdough starter"])[0], vectors[0])


def test_candidates_are_noun_phrase_like():
    said = sentences("The beekeeper lifts the frames of the hive. It also drains the honey quickly.")
    assert said == ["The beekeeper lifts the frames of the hive.", "It also drains the honey quickly."]
    keys = {c.key for c in candidate_phrases(said)}
    assert "frame of the hive" not in keys  # "the" ends a phrase; only "of" may sit inside one
    assert {"beekeeper", "frame", "hive", "honey"} <= keys
    assert "beekeeper lift" not in keys  # a noun run into a verb before "the"
    for key in keys:
        words = key.split()
        assert 1 <= len(words) <= 4
        assert words[0] not in {"the", "it", "also", "of"} and words[-1] not in {"the", "of", "quickly"}


def test_phrase_key_merges_spelling_variants():
    assert phrase_key("the sourdough starters") == phrase_key("Sourdough starter") == "sourdough starter"
    assert phrase_key("the beekeeper's hive") == "beekeeper hive"


@pytest.mark.parametrize(
    ("post", "subject"),
    [(SOURDOUGH, "sourdough"), (RUST, "rust"), (TIDEPOOLS, "tide")],
    ids=["sourdough", "rust", "tidepools"],
)
def test_key_topics_name_the_real_subject(post, subject):
    chunk_topics, key = run(post, max_topics=4)
    assert [ct.chunk_index for ct in chunk_topics] == list(range(len(post[1])))
    assert all(len(ct.topics) == 1 for ct in chunk_topics)  # one key idea per chunk
    assert 1 <= len(key.topics) <= 4
    assert any(subject in t.phrase.lower() for t in key.topics[:2])
    weights = [t.weight for t in key.topics]
    assert all(0 < w <= 1 for w in weights)
    for topic in key.topics:
        assert 1 <= len(topic.phrase.split()) <= 6
        assert topic.abstraction and topic.evidence
        assert topic.abstraction in topic.evidence
    assert key.summary and "\n" not in key.summary


def test_real_post_from_disk():
    from blogart.pipeline.chunking import chunk_document
    from blogart.pipeline.document import load_document

    doc = load_document(str(POSTS / "sourdough.md"))
    chunks = chunk_document(doc, max_tokens=400, overlap_tokens=32)
    extractor = LocalTopicExtractor()
    key = combine(extractor.extract(chunks), chunks, max_topics=6)
    phrases = [t.phrase.lower() for t in key.topics]
    assert len(phrases) <= 6
    assert "sourdough" in phrases[0]
    # No two key topics are the same idea spelt twice.
    assert len({phrase_key(p) for p in phrases}) == len(phrases)


def test_combine_merges_duplicates_and_keeps_distinct_ideas():
    chunks = make_chunks(*SOURDOUGH)
    given = [
        ChunkTopics(0, (Topic("sourdough bread", "Bread leavened with wild yeast.", ("s1",), 0.6),)),
        ChunkTopics(1, (Topic("sourdough starter", "A culture of flour and water.", ("s2",), 0.7),)),
        ChunkTopics(1, (Topic("the sourdough starter", "The same starter.", ("s3",), 0.5),)),
        ChunkTopics(1, (Topic("starter culture", "The starter again.", ("s4",), 0.4),)),
        ChunkTopics(2, (Topic("Dutch oven", "A heavy pot for baking.", ("s5",), 0.5),)),
    ]
    key = combine(given, chunks, max_topics=6)
    phrases = [t.phrase for t in key.topics]
    starters = [p for p in phrases if "starter" in p]
    assert starters == ["sourdough starter"]
    assert "sourdough bread" in phrases and "Dutch oven" in phrases  # not over-merged
    merged = next(t for t in key.topics if t.phrase == "sourdough starter")
    assert merged.evidence == ("s2", "s3", "s4")

    capped = combine(given, chunks, max_topics=2)
    assert len(capped.topics) == 2
    assert capped.topics[0].phrase == key.topics[0].phrase


def test_combine_weights_by_coverage():
    sections = [(f"Part {i}", f"Honey bees visit the clover field number {i} in the morning.") for i in range(3)]
    sections.append(("Aside", "A red tractor is parked by the barn."))
    chunks = [Chunk(c.index, c.heading_path, c.text, 10, "") for c in make_chunks("", sections)]
    given = [ChunkTopics(i, (Topic("honey bees", "Bees.", (), 0.5),)) for i in range(3)]
    given.append(ChunkTopics(3, (Topic("red tractor", "A tractor.", (), 0.9),)))
    key = combine(given, chunks, max_topics=6)
    assert [t.phrase for t in key.topics] == ["honey bees", "red tractor"]
    assert key.topics[0].weight == pytest.approx(0.75)
    assert key.topics[1].weight == pytest.approx(0.25)
    assert "bees" in key.summary.lower()


def test_deterministic():
    first = run(SOURDOUGH)
    second = run(SOURDOUGH)
    assert first == second


def test_empty_input_and_usage():
    extractor = LocalTopicExtractor()
    assert extractor.usage == LLMUsage()
    chunks = [Chunk(0, (), "...", 1, "My title")]
    chunk_topics = extractor.extract(chunks)
    assert chunk_topics == [ChunkTopics(0, ())]
    key = combine(chunk_topics, chunks, max_topics=6)
    assert key.topics == () and key.summary == "My title"


def test_noun_run_into_a_verb_the_text_uses_is_not_a_candidate():
    said = sentences(
        "If pods run hot, the HPA scales three replicas up to five. The HPA can also scale on memory. "
        "Honey bees fill the hive and it hums."
    )
    keys = {c.key for c in candidate_phrases(said)}
    assert "hpa scale" not in keys  # "can also scale": here "scales" is a verb
    assert {"hpa", "replica", "honey bee"} <= keys  # a plural head that is never a verb stays


def test_combine_merges_topics_whose_heads_share_a_stem():
    sections = [(f"Part {i}", "Kubernetes autoscaling adds pods and nodes as traffic grows.") for i in range(2)]
    chunks = make_chunks("Kubernetes autoscaling in practice", sections)
    given = [
        ChunkTopics(0, (Topic("Kubernetes autoscaling", "Scaling in Kubernetes.", ("s1",), 0.9),)),
        ChunkTopics(1, (Topic("autoscalers", "The three autoscalers.", ("s2",), 0.8),)),
    ]
    key = combine(given, chunks, max_topics=6)
    assert [t.phrase for t in key.topics] == ["Kubernetes autoscaling"]


def test_kubernetes_post_has_no_verb_phrases_or_spelling_twins():
    from blogart.pipeline.chunking import chunk_document
    from blogart.pipeline.document import load_document

    doc = load_document(str(POSTS / "kubernetes-autoscaling.html"))
    chunks = chunk_document(doc)
    extractor = LocalTopicExtractor()
    phrases = [t.phrase for t in combine(extractor.extract(chunks), chunks, max_topics=6).topics]
    assert phrases[0] == "Kubernetes autoscaling"
    assert "HPA scales" not in phrases and "autoscalers" not in phrases


def test_runners_up_travel_in_the_values():
    # One chunk: its key idea plus the runners-up it carries give the combinator several topics.
    title, sections = TIDEPOOLS
    chunks = make_chunks(title, sections[1:])
    chunk_topics = LocalTopicExtractor().extract(chunks)
    # A one-chunk post offers the combinator a cover's worth of topics: 1 key idea + 5 runners-up.
    assert len(chunk_topics[0].topics) == 1 and len(chunk_topics[0].runners_up) == 5
    key = combine(chunk_topics, chunks, max_topics=6)
    assert len(key.topics) >= 2
    # No state outside the values: dropping the runners-up drops those topics.
    alone = combine([ChunkTopics(0, chunk_topics[0].topics)], chunks, max_topics=6)
    assert [t.phrase for t in alone.topics] == [chunk_topics[0].topics[0].phrase]


def test_the_topics_stage_cache_round_trips_runners_up():
    from blogart.pipeline.topics_cache import topics_from_json
    from blogart.values import to_dict

    chunk_topics, key = run(RUST)
    assert any(ct.runners_up for ct in chunk_topics)
    cached = {"chunk_topics": to_dict(chunk_topics), "key_topics": to_dict(key)}
    assert topics_from_json(cached) == (chunk_topics, key)


def test_stopwords_come_from_the_data_file_in_two_kinds():
    from blogart.topics.phrases import FUNCTION_WORDS, GENERIC_WORDS, STOPWORDS

    assert {"the", "of", "it's"} <= FUNCTION_WORDS and {"example", "using", "new"} <= GENERIC_WORDS
    assert STOPWORDS == FUNCTION_WORDS | GENERIC_WORDS
    assert phrase_key("the new kelp forests") == "kelp forest"  # leading words of both kinds are dropped


# -- embedding work and the phrase-vector cache -----------------------------------------------------


@pytest.fixture
def encoded(monkeypatch):
    """Every call the real numpy MiniLM gets, as a list of text lists (the model still runs)."""
    from blogart.llm import embeddings
    from blogart.llm.minilm import MiniLM

    calls: list[list[str]] = []
    real = MiniLM.encode

    def spy(self, texts, batch_size=64):
        calls.append(list(texts))
        return real(self, texts, batch_size)

    monkeypatch.setattr(MiniLM, "encode", spy)
    monkeypatch.setattr(embeddings, "_cache", {})  # this process has seen nothing yet
    return calls


def test_each_distinct_text_is_embedded_once_per_post(encoded):
    # Three chunks naming the same phrases, and sharing an overlap sentence, as chunking makes them.
    shared = "The sourdough starter needs flour and water every day."
    sections = [
        (f"Day {i}", f"{shared} On day {i} the sourdough starter smells of apples and rye flour.") for i in range(3)
    ]
    chunks = make_chunks("Keeping a sourdough starter", sections)
    LocalTopicExtractor().extract(chunks)
    texts = [t for call in encoded for t in call]
    assert len(texts) == len(set(texts)), "a text was embedded twice"
    assert texts.count("sourdough starter") == 1 and texts.count(shared) == 1
    # Phrases and sentences go in separate calls, so short phrases are never padded to a sentence.
    phrase_call = next(call for call in encoded if "sourdough starter" in call)
    assert shared not in phrase_call


def test_phrase_vectors_are_cached_across_runs(tmp_path, encoded):
    from blogart.llm import embeddings
    from blogart.llm.embeddings import model_id
    from blogart.store.phrase_vectors import PhraseVectorCache

    chunks = make_chunks(*SOURDOUGH)
    cache = PhraseVectorCache(tmp_path / "blogart.db")
    first = LocalTopicExtractor(vector_cache=cache).extract(chunks)
    stored = cache.count(model_id())
    phrases = {t for call in encoded[:1] for t in call}
    assert stored == len(phrases) > 0

    # A new run (a new process: nothing in memory) over the same file embeds no phrase again ...
    encoded.clear()
    embeddings._cache.clear()
    second = LocalTopicExtractor(vector_cache=PhraseVectorCache(tmp_path / "blogart.db")).extract(chunks)
    assert not phrases & {t for call in encoded for t in call}
    # ... and ranks exactly as the first did: the cached vectors are the model's own float32 bytes.
    assert second == first
    cached = cache.get(model_id(), sorted(phrases)[:3])
    assert all(np.allclose(v, embeddings.embed([t])[0], atol=1e-5) for t, v in cached.items())
    assert cache.get("another-model", sorted(phrases)) == {}  # keyed by model too


def test_sentences_within_budget_take_every_kth_sentence_of_each_chunk():
    from blogart.llm.embeddings import word_pieces
    from blogart.topics.phrases import sentences_within_budget

    first = [f"Chapter one, sentence number {n}, is about kelp forests." for n in range(12)]
    second = [f"Chapter two, sentence number {n}, is about sea otters." for n in range(12)]
    every = sentences_within_budget([first, second], budget=10_000)
    assert every == first + second  # it fits: the whole post, in order
    cost = word_pieces(first[:1])[0]
    half = sentences_within_budget([first, second], budget=12 * cost)
    assert half == first[::2] + second[::2]  # the smallest stride that fits
    assert sum(word_pieces(half)) <= 12 * cost
    tiny = sentences_within_budget([first, second], budget=1)
    assert tiny == [first[0], second[0]]  # never less than each chunk's first sentence


def test_a_long_post_is_read_within_its_budgets(encoded):
    from blogart.llm.embeddings import word_pieces
    from blogart.topics import local
    from blogart.topics.phrases import SENTENCE_BUDGET, sentences

    sections = []
    for n in range(24):
        body = " ".join(
            f"In {year} the {place} harbour of town {n} kept {count} boats and a lighthouse keeper named {name}."
            for year in range(1990, 1994)
            for place, count, name in (("north", "twelve", "Ada"), ("south", "nine", "Bram"), ("old", "four", "Cleo"))
        )
        sections.append((f"Harbour {n}", body))
    chunks = make_chunks("Harbours of the coast", sections)
    said = {s for c in chunks for s in sentences(c.text)}
    assert sum(word_pieces(sorted(said))) > 2 * SENTENCE_BUDGET  # long enough to need the budget
    result = local.LocalTopicExtractor().extract(chunks)
    embedded = [t for call in encoded for t in call]
    read = [t for t in embedded if t in said]
    assert 0 < sum(word_pieces(read)) <= SENTENCE_BUDGET
    assert len(set(embedded) - said) <= local.PHRASE_BUDGET + len(chunks)  # phrases, plus each outline
    assert all(ct.topics for ct in result)  # every chunk still has its key idea
    # The summary is chosen among the sentences already read: nothing is embedded after extraction.
    encoded.clear()
    combine(result, chunks)
    assert not [t for call in encoded for t in call if t in said]


def test_a_broken_cache_file_is_one_clean_error(tmp_path):
    from blogart.errors import BlogartError
    from blogart.store.phrase_vectors import PhraseVectorCache

    bad = tmp_path / "blogart.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(BlogartError, match="blogart database") as info:
        PhraseVectorCache(bad)
    assert "\n" not in str(info.value)
