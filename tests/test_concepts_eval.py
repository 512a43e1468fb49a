"""The bundled model's concept choice on the eval posts of tests/data/concepts_eval (see benchmarks/concepts.py).

The posts' key topics are the offline topics stage's output, stored by `benchmarks/concepts.py
--write-topics`, so these tests time the prompt writer alone: the packaged concepts, their descriptions
and vectors, against what a person accepts for each cover (labels.toml).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from blogart import assets
from blogart.prompts.icons import load_concepts
from blogart.prompts.icons_writer import NEUTRAL, IconPromptWriter, load_concept_vectors

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "concepts.py"
# The posts of the issue that found word-alikes drawn ("a pool 8 ball" for tide pools).
FIRST_POSTS = (
    "tide-pools",
    "sourdough-hydration",
    "sourdough-starter",
    "sourdough-dutch-oven",
    "bike-puncture",
    "asset-management-ai",
)


def _benchmark():
    spec = importlib.util.spec_from_file_location("concepts_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _benchmark()
LABELS = bench.load_labels()
FOUND = bench.topics_from_json(json.loads(bench.KEY_TOPICS.read_text(encoding="utf-8")))
# A part of the eval set from both splits, fixed by name order: every fifth post.
SAMPLE = sorted(LABELS)[::5]


@pytest.fixture(scope="module")
def writer() -> IconPromptWriter:
    from blogart.llm.embeddings import model_id

    packaged = assets.BundledModel(assets.package_dir())
    concepts = load_concepts(packaged.concepts)
    vectors = load_concept_vectors(packaged.concept_vectors, concepts, model_id())
    assert vectors is not None  # stored vectors, so the vocabulary is not embedded again
    return IconPromptWriter(concepts, concept_vectors=vectors)


def test_the_eval_set_is_labelled_in_the_vocabulary():
    names = {c.name for c in load_concepts(assets.package_dir() / "concepts.json")}
    posts = {p.stem for p in bench.EVAL.glob("*.md")}
    assert len(posts) >= 40 and posts == set(LABELS) == set(FOUND)
    assert {label["split"] for label in LABELS.values()} == {"tune", "heldout"}
    for name, label in LABELS.items():
        assert set(label["accept"]) | set(label["contradict"]) <= names, name
        assert not set(label["accept"]) & set(label["contradict"]), name


def test_most_chosen_concepts_are_ones_a_person_accepts(writer):
    picks = {name: bench.choose(writer, *FOUND[name]) for name in SAMPLE}
    figures = bench.score(picks, LABELS)
    assert figures["precision"] >= 0.8, picks
    assert figures["contradicting_posts"] == 0, picks
    assert figures["chosen"] >= len(SAMPLE), picks  # about one concept a post at least: not all fallbacks


def test_the_issue_posts_get_concepts_a_person_accepts(writer):
    for name in FIRST_POSTS:
        names, fallback = bench.choose(writer, *FOUND[name])
        label = LABELS[name]
        assert not fallback and set(names) & set(label["accept"]), (name, names)
        assert not set(names) & set(label["contradict"]), (name, names)


@pytest.mark.slow
def test_no_post_of_the_set_gets_a_concept_that_contradicts_it(writer):
    picks = {name: bench.choose(writer, *FOUND[name]) for name in LABELS}
    assert bench.score(picks, LABELS)["contradicting_posts"] == 0, picks


def test_a_post_the_vocabulary_has_nothing_for_gets_the_neutral_concept_and_says_so(writer):
    choice = writer.choice(FOUND["dog-recall"][1], FOUND["dog-recall"][0])
    assert choice.fallback and [c.name for c in choice.concepts] == [NEUTRAL]
    assert "nothing" in choice.note and NEUTRAL in choice.note
    assert "hot dog" not in [c.name for c in choice.concepts]


def test_blogart_prompt_says_when_nothing_fits(own_metadata, monkeypatch):
    from typer.testing import CliRunner

    from blogart.cli import app

    monkeypatch.setenv(assets.ENV, str(assets.package_dir()))
    monkeypatch.syspath_prepend(str(own_metadata))
    post = str(bench.EVAL / "dog-recall.md")
    result = CliRunner().invoke(app, ["prompt", post, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["writer"] == "icons" and NEUTRAL in data["prompt"], data["prompt"]
    assert data["prompt_note"].startswith("nothing in the bundled model's vocabulary fits"), data
    shown = CliRunner().invoke(app, ["prompt", post])
    assert "Note" in shown.output and "nothing in the bundled" in shown.output
    # A post the vocabulary has concepts for carries no note.
    fitting = json.loads(CliRunner().invoke(app, ["prompt", str(bench.EVAL / "bike-puncture.md"), "--json"]).output)
    assert "prompt_note" not in fitting and fitting["writer"] == "icons"
