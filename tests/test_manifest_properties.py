"""Property tests of the manifest reader (`blogart.outputs.manifest_read`): whatever the bytes, the result is a
typed manifest whose values keep their bounds, or one UsageError of one line; never another exception."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blogart.config import load_settings
from blogart.errors import UsageError
from blogart.outputs.manifest import build_manifest
from blogart.outputs.manifest_read import MAX_CANDIDATES, MAX_SEED, Manifest, parse_manifest
from blogart.values import Candidate, Flag, Ranked

FAST = settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)


def _real_manifest() -> dict[str, Any]:
    """A manifest as `generate` writes it: two rounds, ranked, one candidate flagged, a post in a site."""
    folder = Path("/runs/tide-pools")
    candidates = [
        Candidate(folder / f"r{r}-{i:02d}-s{7 + 3 * (r - 1)}.png", 7 + 3 * (r - 1), "a crab", "text", "bundled", r, i)
        for r in (1, 2)
        for i in range(3)
    ]
    flag = Flag("gore", 0.4, 0.3)
    ranked = [
        Ranked(c, 0.5 - n / 10, 0.3, topic_scores={"crabs": 0.2}, flags=(flag,) if n == 5 else (), model="clip")
        for n, c in enumerate(candidates)
    ]
    text = {"source": "content/posts/tides.md", "prompt": "a crab", "title": "Tides", "content_hash": "ab" * 32}
    text |= {"negative_prompt": "text", "style": "icon", "prompt_tokens": 4, "summary": "Crabs."}
    text["key_topics"] = [{"phrase": "crabs", "abstraction": "Crabs.", "evidence": ["a"], "weight": 0.5}]
    models = {"generator": "bundled", "weights": {"checkpoint": "/m/dallebart", "dtype": "float32"}, "ranker": "clip"}
    manifest = build_manifest(text, candidates, ranked, load_settings(), models, "0")
    manifest["post"] = {"path": "/site/content/posts/tides.md", "site_root": "/site", "site_kind": "hugo"}
    manifest["publish"] = {"front_matter": {"preset": "hugo", "image": "covers/x.png", "status": "written"}}
    return json.loads(json.dumps(manifest))


REAL = _real_manifest()


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON tree, as the keys and indices that lead to it."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*prefix, i))
    return found


def _check(raw: bytes | str) -> Manifest | None:
    """Parse; a refusal must be one UsageError line, a success must hold every bound."""
    try:
        manifest, data = parse_manifest(raw)
    except UsageError as exc:
        assert str(exc) and "\n" not in str(exc)
        return None
    assert isinstance(data, dict)
    rows = manifest.candidates
    assert len(rows) <= MAX_CANDIDATES
    for row in rows:
        assert type(row.seed) is int and -1 <= row.seed <= MAX_SEED
        assert row.name.endswith(".png") and "/" not in row.name and "\\" not in row.name
        assert not row.name.startswith(".")
        assert all(isinstance(f.concept, str) for f in row.flags)
    for round_number in {row.round for row in rows}:
        indices = [row.index for row in rows if row.round == round_number]
        assert len(set(indices)) == len(indices) and max(indices) < len(indices)  # a redraw draws no more
    ranks = [row.rank for row in rows if row.rank is not None]
    assert len(set(ranks)) == len(ranks) and all(1 <= r <= len(rows) for r in ranks)
    assert isinstance(manifest.text.source, str) and isinstance(manifest.text.prompt, str)
    return manifest


def test_the_real_manifest_parses():
    manifest = _check(json.dumps(REAL))
    assert manifest is not None and len(manifest.candidates) == 6 and manifest.post is not None


@FAST
@given(json_values)
def test_any_json_is_a_manifest_or_one_usage_error(value):
    _check(json.dumps(value))


@FAST
@given(st.binary(max_size=200))
def test_any_bytes_are_a_manifest_or_one_usage_error(raw):
    _check(raw)


@FAST
@given(st.data())
def test_a_mutated_real_manifest_is_a_manifest_or_one_usage_error(data):
    manifest = json.loads(json.dumps(REAL))
    for _ in range(data.draw(st.integers(1, 3))):
        places = [p for p in _paths(manifest) if p]
        place = data.draw(st.sampled_from(places))
        parent = manifest
        for key in place[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[place[-1]]
        else:
            parent[place[-1]] = data.draw(json_values | st.integers(-(2**70), 2**70))
    _check(json.dumps(manifest))


@FAST
@given(st.lists(st.tuples(st.integers(-3, 12), st.integers(-2, 3), st.integers(-5, 2**66)), max_size=8))
def test_indices_rounds_and_seeds_keep_their_bounds(rows):
    manifest = json.loads(json.dumps(REAL))
    template = manifest["candidates"][0]
    manifest["candidates"] = [
        {**template, "index": index, "round": round_number, "seed": seed, "rank": None}
        for index, round_number, seed in rows
    ]
    _check(json.dumps(manifest))


def test_a_recorded_placed_file_is_kept_only_inside_the_given_roots(tmp_path):
    from blogart.outputs.manifest_read import placement_record

    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    sha = "0" * 64
    inside = {"image": "covers/a.png", "image_file": str(site / "static" / "a.png"), "image_sha256": sha}
    assert placement_record(inside, [site])["image_file"] == inside["image_file"]
    for file in (elsewhere / "a.png", site / ".." / "elsewhere" / "a.png", site / "notes.md"):
        assert placement_record({**inside, "image_file": str(file)}, [site])["image_file"] is None
    assert placement_record({**inside, "image_sha256": None}, [site])["image_file"] is None  # no hash: not ours
    assert placement_record({**inside, "image_file": "static/a.png"}, [site])["image_file"] is None  # relative
    assert placement_record("oops", [site]) == {} and placement_record({"image_file": 3}, [site]) == {}
