"""The bundled model's prompt writer matches topics by meaning: homographs refused, a neutral fallback,
concepts matched on their descriptions."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from tiny_bundled import CONCEPTS

from blogart import assets
from blogart.prompts.icons import Concept, load_concepts, save_concepts
from blogart.prompts.icons_writer import (
    NEUTRAL,
    IconPromptWriter,
    concept_text,
    load_concept_vectors,
    mask_words,
    shared_words,
)
from blogart.values import KeyTopics, Topic

RECIPE = Path(__file__).parents[1] / "recipes" / "icons"

TIDE_POOLS = Topic(
    "tide pools",
    "Tide pools are rich habitats on the rocky coast.",
    (
        "These tide pools are some of the richest habitats on the coast.",
        "In a pool no bigger than a bathtub you can find sea anemones, sea stars, hermit crabs and snails.",
        "Watch the sea while you explore: the tide turns quickly.",
    ),
)
CLOUD_BILL = Topic(
    "cloud",
    "The monthly cloud bill doubled.",
    (
        "Our AWS invoice doubled in eighteen months while traffic grew by a quarter.",
        "Every team had added servers, storage and databases in the cloud when they needed them.",
    ),
)
CLOUD_SKY = Topic(
    "clouds",
    "Clouds over the hills.",
    (
        "Dark grey clouds rolled in over the hills in the afternoon.",
        "By evening the sky was overcast and the first drops of rain fell.",
    ),
)
BEES = Topic(
    "bees",
    "Keeping honey bees on a city roof.",
    (
        "Two hives on the roof of our apartment block, forty thousand bees and thirty kilograms of honey.",
        "Every week I opened the hives to check that the queen was laying.",
    ),
)


@pytest.fixture(scope="module")
def packaged() -> IconPromptWriter:
    from blogart.llm.embeddings import model_id

    folder = assets.BundledModel(assets.package_dir())
    concepts = load_concepts(folder.concepts)
    vectors = load_concept_vectors(folder.concept_vectors, concepts, model_id())
    return IconPromptWriter(concepts, concept_vectors=vectors)


def _concept(writer: IconPromptWriter, name: str) -> Concept:
    return next(c for c in writer.concepts if c.name == name)


def test_shared_words_are_masked_with_their_inflections():
    pool = Concept("pool 8 ball", "\U0001f3b1", "activities", ("billiards", "8 ball"))
    assert shared_words("tide pools", pool) == {"pool"}
    assert shared_words("sea anemones", pool) == set()
    assert mask_words("Tide pools, a pool of water; Pooling.", {"pool"}) == "Tide , a of water; ."


def test_a_match_on_a_shared_word_in_another_sense_is_a_homograph(packaged):
    assert packaged.homograph(TIDE_POOLS, _concept(packaged, "pool 8 ball"))
    assert packaged.homograph(CLOUD_BILL, _concept(packaged, "cloud"))
    # The same word in its own sense, or no shared word at all, is not.
    assert not packaged.homograph(CLOUD_SKY, _concept(packaged, "cloud"))
    assert not packaged.homograph(BEES, _concept(packaged, "bee"))
    assert not packaged.homograph(TIDE_POOLS, _concept(packaged, "water wave"))
    # Without sentences from the post there is no context to tell the senses apart.
    assert not packaged.homograph(Topic("tide pools", ""), _concept(packaged, "pool 8 ball"))


def test_topics_in_context_get_concepts_of_their_sense(packaged):
    tide = packaged.choice(KeyTopics((TIDE_POOLS,), "A guide to tide pools."), "Exploring Tide Pools at Low Tide")
    assert [c.name for c in tide.concepts] == ["water wave"] and not tide.fallback and tide.note == ""
    weather = {"cloud", "cloud with rain", "cloud with snow", "cloud with lightning", "sun behind cloud", "umbrella"}
    bill = packaged.choice(KeyTopics((CLOUD_BILL,), "How we cut our AWS bill."), "Cutting Our Cloud Bill in Half")
    assert not {c.name for c in bill.concepts} & weather


def test_nothing_that_fits_gives_the_neutral_concept_and_says_so(packaged):
    puppy = Topic(
        "puppy recall",
        "Teaching a puppy to come back when called.",
        ("Our rescue puppy ignored us completely in the park.", "Call once, in a happy voice, and reward her."),
    )
    choice = packaged.choice(KeyTopics((puppy,), "Recall training for a puppy."), "Teaching a Puppy to Come")
    assert choice.fallback and [c.name for c in choice.concepts] == [NEUTRAL]
    assert choice.note.startswith("nothing in the bundled model's vocabulary fits")
    # A vocabulary with the neutral concept draws it rather than the nearest wrong object.
    notepad = Concept(NEUTRAL, "\U0001f4dd", "objects", ("writing", "notes"))
    small = IconPromptWriter([*CONCEPTS, notepad])
    unrelated = KeyTopics((Topic("kubernetes autoscaling", "Pods scale out under load."),), "")
    assert small.choose(unrelated, "Launch day: shipping our startup") == [notepad]
    # Without one, the concept nearest the title stands in (the older behaviour, for custom vocabularies).
    assert [c.name for c in IconPromptWriter(CONCEPTS).choose(unrelated, "Launch day: shipping our startup")] == [
        "rocket"
    ]


def test_a_concept_is_matched_on_its_description_which_round_trips(tmp_path):
    bee = Concept("bee", "\U0001f41d", "nature", ("honeybee",), "a honeybee: beekeeping, honey, pollination")
    plain = Concept("gear", "\u2699\ufe0f", "tools", ("settings",))
    assert concept_text(bee) == "bee: a honeybee: beekeeping, honey, pollination"
    assert concept_text(plain) == "gear, settings"
    save_concepts([bee, plain], tmp_path / "concepts.json")
    assert load_concepts(tmp_path / "concepts.json") == [bee, plain]
    assert '"description"' not in (tmp_path / "concepts.json").read_text().split('"gear"')[1]


def test_the_shipped_descriptions_are_the_recipes_and_describe_writes_them_with_fitting_vectors(tmp_path):
    from blogart.llm.embeddings import model_id

    sys.path.insert(0, str(RECIPE))
    from describe import describe

    recipe = tomllib.loads((RECIPE / "descriptions.toml").read_text(encoding="utf-8"))["descriptions"]
    shipped = load_concepts(assets.package_dir() / "concepts.json")
    assert {c.name: c.description for c in shipped} == recipe  # regenerated with describe.py, none missing

    save_concepts(CONCEPTS[:3], tmp_path / "concepts.json")
    missing = describe(tmp_path, {"robot": "a robot: artificial intelligence", "page": "a sheet of paper"})
    assert missing == ["balance scale"]
    described = load_concepts(tmp_path / "concepts.json")
    assert [c.description for c in described] == ["a robot: artificial intelligence", "a sheet of paper", ""]
    assert [c.name for c in described] == [c.name for c in CONCEPTS[:3]]
    assert load_concept_vectors(tmp_path / "concept_vectors.npz", described, model_id()) is not None


def test_words_after_a_denial_are_counted_as_denied():
    from blogart.words import mentions

    assert mentions(["We crossed Europe with no flights at all."], {"flight"}) == (1, 0)
    assert mentions(["We didn't take a single flight."], {"flight"}) == (1, 0)
    assert mentions(["Without a single flight, we saw nine cities."], {"flight"}) == (1, 0)
    # "not only X" affirms X; a denial further back than a few words denies something else.
    assert mentions(["Not only bread but cakes."], {"bread"}) == (0, 1)
    assert mentions(["No sugar is added to the dough before the bread is shaped."], {"bread"}) == (0, 1)
    assert mentions(["Flights cost more.", "Flights cost more."], {"flight"}) == (0, 1)  # a sentence counts once


def test_a_topic_the_post_denies_is_not_drawn(packaged):
    trains = Topic(
        "night trains",
        "Night trains across Europe.",
        ("Two night trains saved two hotel nights.", "The couchette from Munich to Budapest was cramped but fine."),
    )
    flights = Topic(
        "flights",
        "We crossed Europe with no flights at all.",
        ("We crossed Europe by train on an Interrail pass, with no flights at all.",),
    )
    choice = packaged.choice(KeyTopics((flights, trains), "Europe by train."), "Three Weeks Across Europe by Train")
    names = [c.name for c in choice.concepts]
    assert "airplane" not in names and choice.denied == ("flights",), names
    # The same topic used plainly is drawn.
    flown = Topic("flights", "We flew.", ("We took three flights across Europe, one a day.",))
    plain = packaged.choice(KeyTopics((flown,), "Europe by air."), "Three Flights Across Europe")
    assert plain.denied == () and "airplane" in [c.name for c in plain.concepts]
