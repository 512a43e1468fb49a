"""`blogart social` end to end: tiny random DALL-E Mini and CLIP in the released formats, the fake OpenAI server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from blogart.cli import app

POSTS = Path(__file__).parent / "data" / "social"
runner = CliRunner()
SIZES = {"instagram": {(1080, 1080), (1080, 1350)}, "linkedin": {(1200, 627)}, "x": {(1600, 900)}}


@pytest.fixture
def tiny_models(tiny_dalle, tiny_checkpoint, monkeypatch):
    from tiny_clip import MODEL

    checkpoint, vqgan = tiny_dalle
    monkeypatch.setenv("BLOGART_MODELS__DALLE_MINI", str(checkpoint))
    monkeypatch.setenv("BLOGART_MODELS__VQGAN", str(vqgan))
    monkeypatch.setenv("BLOGART_RANK__MODEL", MODEL)
    monkeypatch.setenv("BLOGART_MODELS__CLIP", str(tiny_checkpoint))
    # The tiny random CLIP finds every image close to every text: no concepts, or all would be flagged.
    monkeypatch.setenv("BLOGART_MODERATION__CONCEPTS", "{}")
    monkeypatch.setenv("BLOGART_SOCIAL__CONCEPTS", "{}")


def _social(*args: str):
    return runner.invoke(app, ["social", *args, "--backend", "local"])


@pytest.mark.slow
def test_an_informal_post_becomes_a_carousel_for_every_platform(tiny_models, tmp_path):
    out = tmp_path / "out"
    result = _social(str(POSTS / "sourdough.txt"), "--platform", "all", "--carousel", "3", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    folder = Path(summary["folder"])
    assert folder.parent == out and (folder / "summary.json").is_file()
    assert json.loads((folder / "summary.json").read_text()) == summary
    manifest = json.loads((folder / "manifest.json").read_text())

    # The manifest keeps the normalised text beside the original, and what was changed.
    text = manifest["text"]
    assert text["original"] == (POSTS / "sourdough.txt").read_text().strip()
    assert text["normalised"].startswith("not going to lie my sourdough starter")
    assert ["#SourdoughLife", "sourdough life"] in text["normalisation"]["hashtags"]
    assert text["normalisation"]["mentions"] == ["@breadnerd"]

    # Three slides, each on its own key topic, its prompt leading with that topic.
    slides = manifest["slides"]
    assert len(slides) == 3 and summary["slides"] == 3
    assert len({s["topic"] for s in slides}) == 3
    key_topics = [t["phrase"] for t in text["key_topics"]]
    for slide in slides:
        assert slide["topic"] in key_topics
        assert slide["topic"].lower() in text["normalised"].lower()  # on topic: from the post's own words
        # Its prompt's subject is its topic (cut to the tiny model's 16-token budget where needed).
        assert slide["topic"].startswith(slide["prompt"].split(",")[0]), slide
        assert slide["alt"].startswith("An illustration of " + slide["topic"])
        assert Path(slide["image"]).parent == folder and Path(slide["image"]).is_file()
    scores = [s["score"] for s in slides]
    assert scores == sorted(scores, reverse=True)

    # Every platform: each slide in each of its sizes, with alt text; and the caption.
    assert list(summary["platforms"]) == ["instagram", "linkedin", "x"]
    for name, platform in summary["platforms"].items():
        assert len(platform["images"]) == 3 * len(SIZES[name])
        for image in platform["images"]:
            with Image.open(folder / image["file"]) as picture:
                assert picture.size == (image["width"], image["height"])
            assert image["alt"] == slides[image["slide"] - 1]["alt"]
        assert {(i["width"], i["height"]) for i in platform["images"]} == SIZES[name]
        assert (folder / platform["caption_file"]).read_text() == platform["caption"]
    assert summary["platforms"]["instagram"]["caption"] == text["original"]
    assert summary["platforms"]["x"]["caption_shortened"] is True
    assert len(summary["platforms"]["x"]["caption"]) <= 280

    # The platform images are made from the picked candidates, which the manifest lists with their scores.
    drawn = {Path(c["path"]).name for c in manifest["candidates"]}
    assert {Path(s["image"]).name for s in slides} <= drawn
    assert {p.name for p in folder.glob("*.png")} == drawn
    assert manifest["moderation"]["preset"] == "social" and manifest["moderation"]["flagged"] == []
    assert [p.name for p in out.iterdir()] == [folder.name]  # nothing half-made beside it


@pytest.mark.slow
def test_a_json_export_picks_its_platforms_and_a_rerun_replaces_the_folder(tiny_models, tmp_path):
    out = tmp_path / "out"
    first = _social(str(POSTS / "launch.json"), "--out", str(out), "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output)
    assert list(summary["platforms"]) == ["linkedin", "x"]
    folder = Path(summary["folder"])
    assert folder.name == "launch-day"  # the export's title
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["linkedin", "x", "manifest.json", "summary.json", *(p.name for p in folder.glob("*.png"))]
    )
    again = _social(str(POSTS / "launch.json"), "--platform", "x", "-n", "1", "--out", str(out), "--json")
    assert again.exit_code == 0, again.output
    assert Path(json.loads(again.output)["folder"]) == folder
    assert not (folder / "linkedin").exists() and len(list(folder.glob("*.png"))) == 1


def test_stdin_and_the_text_report(tiny_models, tmp_path):
    result = runner.invoke(
        app,
        ["social", "-", "-p", "instagram", "--backend", "local", "--out", str(tmp_path / "out")],
        input="TIL octopuses have three hearts 🐙 #OceanFacts",
    )
    assert result.exit_code == 0, result.output
    assert "normalised: today I learned octopuses have three hearts, octopus, ocean facts." in result.output
    assert "instagram: 2 images" in result.output
    (folder,) = (tmp_path / "out").iterdir()
    assert folder.name.startswith("post-")  # stdin has no file name or title: the content hash names it


@pytest.mark.slow
def test_social_moderation_flags_and_reports_why(tiny_models, monkeypatch, tmp_path):
    monkeypatch.setenv("BLOGART_SOCIAL__CONCEPTS", '{"a gun or other weapon": 0.0}')  # every image matches
    result = _social(str(POSTS / "garden.txt"), "--carousel", "2", "--out", str(tmp_path / "out"))
    assert result.exit_code == 3, result.output
    assert "flagged or refused by moderation" in result.output.splitlines()[-1]
    assert "CLIP similarity to 'a gun or other weapon'" in result.output
    manifest = json.loads(next((tmp_path / "out").glob("*/manifest.json")).read_text())
    assert manifest["slides"] == [] and manifest["moderation"]["flagged"]
    assert all(c["flags"][0]["reason"].startswith("CLIP similarity") for c in manifest["candidates"])
    # The standard preset ignores the social concepts.
    standard = _social(str(POSTS / "garden.txt"), "--moderation", "standard", "--out", str(tmp_path / "std"))
    assert standard.exit_code == 0, standard.output


def test_openai_moderation_is_on_whenever_a_key_is_set(tiny_models, fake_openai, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    # Below the endpoint's own verdict (flagged: false), above the social preset's threshold for violence.
    result = {"flagged": False, "categories": {"violence": False}, "category_scores": {"violence": 0.35}}
    body = {"id": "m", "model": "omni-moderation-latest", "results": [result]}
    clean = {"flagged": False, "categories": {"violence": False}, "category_scores": {"violence": 0.01}}
    # The prompt is checked before drawing and again by the ranker (as `generate` does), then each image.
    fake_openai.queue("/v1/moderations", body={**body, "results": [clean]})
    fake_openai.queue("/v1/moderations", body={**body, "results": [clean]})
    fake_openai.queue("/v1/moderations", body=body)  # the first image
    args = ["-n", "2", "-p", "x", "--out", str(tmp_path / "out"), "--json"]
    run = _social(str(POSTS / "x-short.txt"), *args)
    assert run.exit_code == 0, run.output
    manifest = json.loads(next((tmp_path / "out").glob("*/manifest.json")).read_text())
    assert manifest["moderation"]["openai"] is True
    (flagged,) = manifest["moderation"]["flagged"]
    assert flagged["reasons"] == ["OpenAI moderation scored 'violence' 0.35, at or above 0.30"]
    assert manifest["slides"][0]["image"] != flagged["image"]
    assert len(fake_openai.calls("/v1/moderations")) == 4
    assert manifest["settings"]["llm"]["api_key"] == "***"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--platform", "tiktok"], "error: unknown platform 'tiktok'"),
        (["--carousel", "11"], "error: --carousel is at most 10"),
        (["--moderation", "lax"], "error: unknown moderation preset 'lax'"),
    ],
)
def test_bad_flags_are_one_line_errors(args, message, tmp_path):
    result = _social(str(POSTS / "sourdough.txt"), *args, "--out", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert result.output.startswith(message) and len(result.output.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_bad_posts_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    result = _social(str(empty), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and result.output.strip() == f"error: {empty} has no text"
    bad_json = tmp_path / "post.json"
    bad_json.write_text('{"platforms": ["x"]}')
    result = _social(str(bad_json))
    assert result.exit_code == 2 and 'needs a "text" string' in result.output
    missing = _social(str(tmp_path / "nope.txt"))
    assert missing.exit_code == 2 and "post not found" in missing.output


def test_a_missing_generator_fails_before_any_work(tmp_path):
    result = _social(str(POSTS / "sourdough.txt"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "blogart models pull dalle-mini" in result.output
    assert not (tmp_path / "out").exists()


def test_a_slide_whose_prompt_is_refused_is_skipped_and_reported(tiny_models, monkeypatch, tmp_path):
    monkeypatch.setenv("BLOGART_MODERATION__PROMPT_BLOCKLIST", '["loaf"]')
    args = ["--carousel", "3", "-p", "x", "--out", str(tmp_path / "out"), "--json"]
    result = _social(str(POSTS / "sourdough.txt"), *args)
    assert result.exit_code == 0, result.output
    manifest = json.loads(next((tmp_path / "out").glob("*/manifest.json")).read_text())
    (refused,) = manifest["moderation"]["refused_prompts"]
    assert "loaf" in refused["prompt"]
    assert refused["flags"][0]["reason"] == "the prompt contains the blocked word 'loaf'"
    # The other topics' next best images take its place; none of them was drawn from a blocked prompt.
    assert len(manifest["slides"]) == 3 and all("loaf" not in s["prompt"] for s in manifest["slides"])
    assert all("loaf" not in c["prompt"] for c in manifest["candidates"])


def test_social_works_on_a_fresh_install_with_the_bundled_model(bundled_model, monkeypatch, tmp_path):
    """The strict preset's CLIP concepts are calibrated on LAION CLIP: with the bundled CLIP they are off, as
    for `generate`; the prompt blocklist still applies (the tiny random CLIP would match every concept)."""
    from blogart import assets

    folder, metadata = bundled_model
    monkeypatch.setenv(assets.ENV, str(folder))
    monkeypatch.syspath_prepend(str(metadata))
    args = ["--carousel", "2", "-n", "1", "-p", "x", "--json"]
    result = _social(str(POSTS / "sourdough.txt"), *args, "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    manifest = json.loads(next((tmp_path / "out").glob("*/manifest.json")).read_text())
    assert manifest["generator"] == "bundled" and manifest["models"]["ranker"].startswith("bundled")
    assert manifest["moderation"]["preset"] == "social" and manifest["moderation"]["concepts"] == {}
    assert manifest["moderation"]["flagged"] == [] and len(manifest["slides"]) == 2
    # Every slide is written in the bundled model's own caption grammar, not only the first.
    assert [s["writer"] for s in manifest["slides"]] == ["icons", "icons"], manifest["slides"]

    monkeypatch.setenv("BLOGART_MODERATION__PROMPT_BLOCKLIST", '["sourdough", "starter", "bread", "loaf"]')
    blocked = _social(str(POSTS / "sourdough.txt"), *args, "--out", str(tmp_path / "blocked"))
    assert blocked.exit_code == 2 and "error: prompt refused by moderation" in blocked.output

    # Concepts the user sets for the social preset still apply to the bundled CLIP (the same rule as `generate`).
    from blogart.config import load_settings
    from blogart.pipeline.plan import plan_run

    monkeypatch.setenv("BLOGART_SOCIAL__CONCEPTS", '{"a gun or other weapon": 0.2}')
    chosen = plan_run(load_settings()).settings
    assert chosen.social.concepts == {"a gun or other weapon": 0.2} and chosen.moderation.concepts == {}
