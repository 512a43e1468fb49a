"""How well the bundled model's prompt writer picks concepts for a post, on tests/data/concepts_eval.

Each eval post is read, chunked and run through the offline topics stage (`llm.backend = local`: the
local extractor and the combinator, at most `topics.max_key_topics` key topics, as `blogart prompt`
does), then through the icon prompt writer the bundled model uses, with the packaged concepts and their
stored vectors. The concepts it picks are scored against labels.toml, written by a person from the posts
alone:

- `precision`: chosen concepts a person accepts / concepts chosen (the neutral fallback is not counted:
  it stands for "nothing fits", see `fallback_posts`);
- `two_of_three`: posts with at least two accepted concepts among those chosen;
- `contradicting_posts`: posts with a chosen concept that the labels say tells a reader the wrong subject;
- `nothing_fits`: posts whose labels accept nothing, and how many of them got the neutral fallback;
- `fallback_posts`: every post that got the neutral fallback (a fallback on a post with acceptable
  concepts is a miss, counted in `wrong_fallbacks`).

Every figure is given for the "tune" split, the "heldout" split (never looked at while tuning) and all.

    .venv/bin/python benchmarks/concepts.py --json
    .venv/bin/python benchmarks/concepts.py --write-topics   # refresh the key topics the fast test reads

`--write-topics` stores each post's key topics in tests/data/concepts_eval/key_topics.json, so that
tests/test_concepts_eval.py can score the writer in seconds without rerunning the topics stage.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any

EVAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "concepts_eval"
LABELS = EVAL / "labels.toml"
KEY_TOPICS = EVAL / "key_topics.json"
SPLITS = ("tune", "heldout")


def load_labels(path: Path = LABELS) -> dict[str, dict[str, Any]]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def key_topics_of(path: Path, extractor, settings) -> tuple[str, Any]:
    """(title, KeyTopics) of one post, through the offline topics stage with the project's settings."""
    from blogart.pipeline.chunking import chunk_document
    from blogart.pipeline.document import load_document
    from blogart.topics.combine import combine

    document = load_document(str(path))
    chunks = chunk_document(
        document,
        max_tokens=settings.chunking.max_tokens,
        overlap_tokens=settings.chunking.overlap_tokens,
        encoding=settings.chunking.encoding,
    )
    key = combine(extractor.extract(chunks), chunks, settings.topics.max_key_topics, extractor.merger())
    return document.title, key


def all_key_topics(names: list[str]) -> dict[str, tuple[str, Any]]:
    from blogart.config import load_settings
    from blogart.plugins import Context
    from blogart.topics.factories import local

    with tempfile.TemporaryDirectory() as home:
        os.environ["BLOGART_HOME"] = home  # an empty store: nothing cached from earlier runs
        settings = load_settings()
        extractor = local(Context(settings))
        return {name: key_topics_of(EVAL / f"{name}.md", extractor, settings) for name in names}


def topics_to_json(found: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    return {name: {"title": title, "key_topics": asdict(key)} for name, (title, key) in found.items()}


def topics_from_json(data: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    from blogart.values import KeyTopics, Topic

    found = {}
    for name, row in data.items():
        key = row["key_topics"]
        topics = tuple(Topic(**{**t, "evidence": tuple(t["evidence"])}) for t in key["topics"])
        found[name] = (row["title"], KeyTopics(topics, key["summary"]))
    return found


def packaged_writer():
    """The icon prompt writer exactly as `blogart generate` makes it for the packaged bundled model."""
    from blogart.config import load_settings
    from blogart.plugins import Context
    from blogart.prompts.factories import icons

    os.environ.pop("BLOGART_ASSETS", None)
    return icons(Context(load_settings()))


def choose(writer, title: str, key) -> tuple[list[str], bool]:
    """(concept names, whether they are the neutral fallback) for one post.

    A writer without `choice` (the one before concept choice by meaning) never falls back.
    """
    if hasattr(writer, "choice"):
        choice = writer.choice(key, title)
        return [c.name for c in choice.concepts], choice.fallback
    return [c.name for c in writer.choose(key, title)], False


def score(picks: dict[str, tuple[list[str], bool]], labels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The figures of the module docstring over the posts in `picks`."""
    chosen = accepted = two = contradicting = fallbacks = wrong_fallbacks = 0
    empty = empty_fallback = 0
    for name, (names, fallback) in picks.items():
        label = labels[name]
        if not label["accept"]:
            empty += 1
            empty_fallback += fallback
        if fallback:
            fallbacks += 1
            wrong_fallbacks += bool(label["accept"])
            continue
        good = sum(n in label["accept"] for n in names)
        chosen += len(names)
        accepted += good
        two += good >= 2
        contradicting += any(n in label["contradict"] for n in names)
    return {
        "posts": len(picks),
        "chosen": chosen,
        "accepted": accepted,
        "precision": round(accepted / chosen, 3) if chosen else None,
        "two_of_three": two,
        "contradicting_posts": contradicting,
        "nothing_fits": {"posts": empty, "fell_back": empty_fallback},
        "fallback_posts": fallbacks,
        "wrong_fallbacks": wrong_fallbacks,
    }


def evaluate(found: dict[str, tuple[str, Any]], labels: dict[str, dict[str, Any]], writer=None) -> dict[str, Any]:
    writer = writer or packaged_writer()
    start = time.perf_counter()
    picks = {name: choose(writer, title, key) for name, (title, key) in found.items()}
    seconds = time.perf_counter() - start
    by_split = {
        split: score({n: p for n, p in picks.items() if labels[n]["split"] == split}, labels) for split in SPLITS
    }
    posts = {
        name: {
            "split": labels[name]["split"],
            "topics": [t.phrase for t in found[name][1].topics],
            "chosen": names,
            "fallback": fallback,
            "accepted": [n for n in names if n in labels[name]["accept"]],
            "contradicting": [n for n in names if n in labels[name]["contradict"]],
        }
        for name, (names, fallback) in picks.items()
    }
    return {**by_split, "all": score(picks, labels), "mapper_seconds": round(seconds, 3), "posts": posts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--write-topics", action="store_true", help=f"refresh {KEY_TOPICS.name} and stop")
    parser.add_argument("--stored-topics", action="store_true", help=f"read key topics from {KEY_TOPICS.name}")
    parser.add_argument("--split", choices=(*SPLITS, "all"), default="all", help="posts whose details are printed")
    args = parser.parse_args()

    labels = load_labels()
    names = sorted(labels)
    start = time.perf_counter()
    if args.stored_topics:
        found = topics_from_json(json.loads(KEY_TOPICS.read_text(encoding="utf-8")))
    else:
        found = all_key_topics(names)
    topics_seconds = time.perf_counter() - start
    if args.write_topics:
        KEY_TOPICS.write_text(json.dumps(topics_to_json(found), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {KEY_TOPICS} ({len(found)} posts, {topics_seconds:.1f} s)", file=sys.stderr)
        return 0
    result = evaluate(found, labels)
    result["posts"] = {n: p for n, p in result["posts"].items() if args.split in ("all", p["split"])}
    result["topics_seconds"] = None if args.stored_topics else round(topics_seconds, 1)
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    for split in (*SPLITS, "all"):
        row = result[split]
        print(
            f"{split:8} precision {row['precision']}  >=2 of 3: {row['two_of_three']}/{row['posts']}  "
            f"contradicting: {row['contradicting_posts']}  fallbacks: {row['fallback_posts']} "
            f"(nothing fits: {row['nothing_fits']['fell_back']}/{row['nothing_fits']['posts']})"
        )
    for name, post in result["posts"].items():
        print(f"  {name:24} {post['chosen']}  ok={post['accepted']}  bad={post['contradicting']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
