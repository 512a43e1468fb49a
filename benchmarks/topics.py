"""Quality and speed of the offline topics stage (`llm.backend = local`) on tests/data/topics_eval.

Quality: each eval post is read, chunked and run through the local extractor and the combinator
(at most 6 key topics, as `blogart prompt` does); its key topics are matched against the subjects
an editor picked in expected.toml. Precision: share of key topics that name an expected subject.
Recall: share of expected subjects that some key topic names. Both are micro-averaged over posts.

Speed:
- `seconds_per_post`: the topics stage (extract + combine) per eval post, model already loaded.
- `long_post`: every eval post as one section of a single ~4,000-word digest (written to a temporary
  file): its chunk count and the topics stage with the model loaded, first with nothing cached
  (`cold_s`), then again in a new extractor over the same store (`rerun_s`, the backfill case).
- `startup_s`: a fresh process importing the extractor and embedding one text.
- `prompt_long_s` / `prompt_short_s`: `blogart prompt POST --json` as fresh processes (empty
  BLOGART_HOME, no API key) on the digest and on a one-chunk post, median of `--repeats` runs.

    .venv/bin/python benchmarks/topics.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

EVAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "topics_eval"
SHORT_POST = "home-espresso.md"


def normalise(phrase: str) -> str:
    """Lowercase words with nouns in the singular: the form key topics and subjects are matched in."""
    import re

    from lemminflect import getLemma

    words = re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", phrase.lower().replace("’", "'"))
    return " ".join(getLemma(w, upos="NOUN")[0] if len(w) > 3 else w for w in words)


def names(topic: str, wording: str) -> bool:
    return f" {normalise(wording)} " in f" {normalise(topic)} "


def score(predicted: list[str], subjects: list[str]) -> tuple[int, int]:
    """(key topics that name some subject, subjects named by some key topic)."""
    wordings = [[w.strip() for w in subject.split("|")] for subject in subjects]
    hits = sum(any(names(p, w) for ws in wordings for w in ws) for p in predicted)
    found = sum(any(names(p, w) for p in predicted for w in ws) for ws in wordings)
    return hits, found


def topics_of(path: Path, extractor) -> tuple[list[str], int, float]:
    from blogart.pipeline.chunking import chunk_document
    from blogart.pipeline.document import load_document
    from blogart.topics.combine import combine

    chunks = chunk_document(load_document(str(path)))
    start = time.perf_counter()
    key = combine(extractor.extract(chunks), chunks, max_topics=6, merger=extractor.merger())
    return [t.phrase for t in key.topics], len(chunks), time.perf_counter() - start


def digest(folder: Path) -> str:
    """Every eval post as one section of a single long post (its headings one level down)."""
    parts = ["# A month of reading: fifteen posts in one", ""]
    for path in sorted(EVAL.glob("*.md")):
        for line in path.read_text(encoding="utf-8").splitlines():
            parts.append("#" + line if line.startswith("#") else line)
        parts.append("")
    out = folder / "digest.md"
    out.write_text("\n".join(parts), encoding="utf-8")
    return str(out)


def extractor_for(home: Path):
    from blogart.config import load_settings
    from blogart.plugins import Context
    from blogart.topics.factories import local

    os.environ["BLOGART_HOME"] = str(home)
    return local(Context(load_settings()))


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fresh_process(args: list[str], home: Path) -> float:
    env = {**os.environ, "BLOGART_HOME": str(home), "OPENAI_API_KEY": "", "PYTHONPATH": os.pathsep.join(sys.path)}
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def quality() -> dict:
    """Precision and recall only, each post with its key topics."""
    with tempfile.TemporaryDirectory() as tmp:
        extractor = extractor_for(Path(tmp))
        expected = tomllib.loads((EVAL / "expected.toml").read_text(encoding="utf-8"))
        hits = predicted = found = subjects = 0
        posts = {}
        for name, entry in expected.items():
            phrases, _, _ = topics_of(EVAL / f"{name}.md", extractor)
            h, f = score(phrases, entry["subjects"])
            hits, predicted, found, subjects = (
                hits + h,
                predicted + len(phrases),
                found + f,
                subjects + len(entry["subjects"]),
            )
            posts[name] = f"{h}/{len(phrases)} right, {f} found: {', '.join(phrases)}"
    return {"precision": round(hits / max(predicted, 1), 3), "recall": round(found / max(subjects, 1), 3), **posts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="fresh `blogart prompt` processes per post")
    parser.add_argument("--quality-only", action="store_true", help="only precision and recall, no timings")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.quality_only:
        print(json.dumps(quality(), indent=2) if args.json else quality())
        return

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        long_post = digest(tmp_path)
        startup = fresh_process(
            [sys.executable, "-c", "from blogart.llm.embeddings import embed; embed(['hello world'])"], tmp_path / "s"
        )

        # In-process, with what the stage reads from disk loaded first (MiniLM, lemminflect's table,
        # wordfreq's list: the fresh-process figures below include them), so only the stage is timed.
        from blogart.llm.embeddings import embed
        from blogart.llm.minilm import idle_cores
        from blogart.topics.phrases import can_be_noun, commonness

        embed(["warm-up"])
        can_be_noun("warm-up")
        commonness("warm-up")
        threads = idle_cores()
        extractor = extractor_for(tmp_path / "bench")
        note("long post, cold")
        _, long_chunks, cold = topics_of(Path(long_post), extractor)
        _, _, rerun = topics_of(Path(long_post), extractor_for(tmp_path / "bench"))

        expected = tomllib.loads((EVAL / "expected.toml").read_text(encoding="utf-8"))
        posts = {}
        hits = predicted_total = found = subjects_total = 0
        seconds = []
        for name, entry in expected.items():
            phrases, chunks, took = topics_of(EVAL / f"{name}.md", extractor_for(tmp_path / name))
            note(f"{name}: {phrases}")
            h, f = score(phrases, entry["subjects"])
            hits, predicted_total = hits + h, predicted_total + len(phrases)
            found, subjects_total = found + f, subjects_total + len(entry["subjects"])
            seconds.append(took)
            posts[name] = {"key_topics": phrases, "chunks": chunks, "hits": h, "found": f, "seconds": round(took, 3)}

        note("fresh blogart prompt processes")
        blogart = [sys.executable, "-m", "blogart", "prompt", "--json"]
        prompt_long = [fresh_process([*blogart, long_post], tmp_path / f"l{i}") for i in range(args.repeats)]
        short = str(EVAL / SHORT_POST)
        prompt_short = [fresh_process([*blogart, short], tmp_path / f"s{i}") for i in range(args.repeats)]

    result = {
        "precision": round(hits / max(predicted_total, 1), 3),
        "recall": round(found / max(subjects_total, 1), 3),
        "posts": len(posts),
        "seconds_per_post": round(statistics.mean(seconds), 3),
        "long_post": {
            "chunks": long_chunks,
            "cold_s": round(cold, 3),
            "rerun_s": round(rerun, 3),
            "blas_threads": threads,
        },
        "startup_s": round(startup, 2),
        "prompt_long_s": round(statistics.median(prompt_long), 2),
        "prompt_short_s": round(statistics.median(prompt_short), 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "per_post": posts,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            if key != "per_post":
                print(f"{key}: {value}")
        for name, post in posts.items():
            print(
                f"{name}: {post['hits']}/{len(post['key_topics'])} right, {post['found']} found: {post['key_topics']}"
            )


if __name__ == "__main__":
    main()
