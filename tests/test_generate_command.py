"""`blogart generate` end to end with the managed backend (fake server) and the tiny CLIP ranker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blogart.cli import app
from blogart.prompts.builder import estimate_tokens
from blogart.ranking.moderation import blocklist_matches

POSTS = Path(__file__).parent / "data" / "posts"
runner = CliRunner()


def test_generate_with_openai_images_ranks_and_writes_manifest(fake_openai, openai_env, tiny_ranker, tmp_path):
    args = ["generate", str(POSTS / "tidepools.txt"), "--model", "openai-images", "-n", "3", "--backend", "local"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)

    written = json.loads(next((tmp_path / "out").glob("*/manifest.json")).read_text())
    assert written["candidates"] == manifest["candidates"]
    assert manifest["generator"] == "openai-images"
    assert manifest["ranked"] is True
    assert len(manifest["candidates"]) == 3
    ranks = sorted(c["rank"] for c in manifest["candidates"])
    assert ranks == [1, 2, 3]
    best = min(manifest["candidates"], key=lambda c: c["rank"])
    assert manifest["cover"] == best["path"]
    assert all(Path(c["path"]).is_file() for c in manifest["candidates"])
    assert all(c["ranker"] for c in manifest["candidates"])
    assert manifest["text"]["prompt"] in fake_openai.calls("/v1/images/generations")[0].json["prompt"]
    assert manifest["settings"]["llm"]["api_key"] == "***"
    # The Images API has no tokenizer (count_tokens says None): the prompt writer estimated instead.
    assert manifest["text"]["prompt_tokens"] == estimate_tokens(manifest["text"]["prompt"])
    # The run folder holds exactly the manifest, the images it lists and the publish step's files.
    folder = Path(manifest["cover"]).parent
    published = {"cover.png", "og.png", "square.png", "portrait.png", "wide.png", "index.html"}
    assert {p.name for p in folder.iterdir()} == {
        "manifest.json",
        *(Path(c["path"]).name for c in manifest["candidates"]),
        *published,
    }
    assert [p.name for p in (tmp_path / "out").iterdir()] == [folder.name]


def test_generate_refuses_a_blocked_prompt_before_drawing(fake_openai, openai_env, tiny_ranker, monkeypatch, tmp_path):
    monkeypatch.setenv("BLOGART_MODERATION__PROMPT_BLOCKLIST", '["tide"]')
    args = ["generate", str(POSTS / "tidepools.txt"), "-m", "openai-images", "-n", "1", "--backend", "local"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "refused" in result.output
    assert fake_openai.calls("/v1/images/generations") == []


def test_generate_without_weights_names_the_pull_command(tmp_path):
    result = runner.invoke(app, ["generate", str(POSTS / "tidepools.txt"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "blogart models pull dalle-mini" in result.output
    assert not (tmp_path / "out").exists()


def test_generate_fails_when_moderation_flags_every_candidate(
    fake_openai, openai_env, tiny_ranker, monkeypatch, tmp_path
):
    monkeypatch.setenv("BLOGART_MODERATION__CONCEPTS", '{"a concept every tiny-CLIP image matches": 0.0}')
    args = ["generate", str(POSTS / "tidepools.txt"), "-m", "openai-images", "-n", "2", "--backend", "local"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 3, result.output
    assert "flagged" in result.output.splitlines()[-1]
    manifest = json.loads(next((tmp_path / "out").glob("*/manifest.json")).read_text())
    assert manifest["cover"] is None
    assert all(c["flags"] for c in manifest["candidates"])


def test_two_rounds_use_the_optimised_prompt(fake_openai, openai_env, tiny_ranker, monkeypatch, tmp_path):
    monkeypatch.setenv("BLOGART_OPTIMIZE__ITERATIONS", "10")
    monkeypatch.setenv("BLOGART_OPTIMIZE__PROMPT_LEN", "6")
    args = ["generate", str(POSTS / "tidepools.txt"), "-m", "openai-images", "-n", "2", "--rounds", "2"]
    result = runner.invoke(app, [*args, "--backend", "local", "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)
    text = manifest["text"]
    assert text["optimized_prompt"] and text["optimized_prompt"] != text["prompt"]  # the manifest keeps both
    rounds = [c["round"] for c in manifest["candidates"]]
    assert sorted(rounds) == [1, 1, 2, 2]
    round2 = [c for c in manifest["candidates"] if c["round"] == 2]
    assert all(c["prompt"] == text["optimized_prompt"] for c in round2)
    sent = [r.json["prompt"] for r in fake_openai.calls("/v1/images/generations")]
    assert any(text["optimized_prompt"] in p for p in sent)


@pytest.mark.slow
def test_generate_with_a_released_format_dalle_checkpoint(tiny_dalle, tiny_ranker, tmp_path):
    from PIL import Image

    checkpoint, vqgan = tiny_dalle
    args = ["generate", str(POSTS / "sourdough.md"), "--checkpoint", str(checkpoint), "--vqgan", str(vqgan)]
    result = runner.invoke(app, [*args, "-n", "3", "--seed", "5", "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)
    assert manifest["generator"] == "dalle-mini" and manifest["ranked"]
    assert manifest["models"]["weights"] == {"checkpoint": str(checkpoint), "vqgan": str(vqgan), "dtype": "float32"}
    assert manifest["models"]["ranker"]
    rows = sorted(manifest["candidates"], key=lambda c: c["index"])
    assert [(c["seed"], c["index"]) for c in rows] == [(5, 0), (5, 1), (5, 2)]
    assert all(Image.open(c["path"]).size == (32, 32) for c in rows)
    # The prompt was budgeted with the checkpoint's own tokenizer and its 16-token text length.
    assert manifest["text"]["prompt_tokens"] <= 16

    # Same seed, same pictures: a rerun reproduces image 1 exactly, here without ranking.
    again = runner.invoke(
        app, [*args, "-n", "2", "--seed", "5", "--no-rank", "--out", str(tmp_path / "again"), "--json"]
    )
    assert again.exit_code == 0, again.output
    second = json.loads(again.output)
    assert second["ranked"] is False and second["cover"] == second["candidates"][0]["path"]
    first_run_image1 = next(c["path"] for c in rows if c["index"] == 1)
    assert Image.open(second["candidates"][1]["path"]).tobytes() == Image.open(first_run_image1).tobytes()


def test_missing_clip_fails_before_anything_is_drawn(fake_openai, openai_env, tmp_path):
    args = ["generate", str(POSTS / "tidepools.txt"), "-m", "openai-images", "-n", "1", "--backend", "local"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "blogart models pull clip" in result.output
    assert fake_openai.calls("/v1/images/generations") == []


def test_round_two_never_draws_a_blocked_word(fake_openai, openai_env, tiny_ranker, monkeypatch, tmp_path):
    monkeypatch.setenv("BLOGART_OPTIMIZE__ITERATIONS", "10")
    monkeypatch.setenv("BLOGART_OPTIMIZE__PROMPT_LEN", "6")
    args = ["generate", str(POSTS / "tidepools.txt"), "-m", "openai-images", "-n", "2", "--rounds", "2"]
    args += ["--backend", "local", "--json"]
    free = runner.invoke(app, [*args, "--out", str(tmp_path / "free")])
    assert free.exit_code == 0, free.output
    text = json.loads(free.output)["text"]
    # Block the words PEZ wrote when free (those the readable prompt lacks): it must now write others.
    blocked = [w for w in text["optimized_prompt"].split() if w not in text["prompt"]]
    assert blocked
    monkeypatch.setenv("BLOGART_MODERATION__PROMPT_BLOCKLIST", json.dumps(blocked))
    drawn = len(fake_openai.calls("/v1/images/generations"))
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "blocked")])
    assert result.exit_code == 0, result.output
    sent = [r.json["prompt"] for r in fake_openai.calls("/v1/images/generations")[drawn:]]
    assert json.loads(result.output)["text"]["optimized_prompt"] in sent[-1]
    assert not blocklist_matches(" ".join(sent), blocked)


def test_two_rounds_without_ranking_still_need_clip_before_drawing(fake_openai, openai_env, tmp_path):
    args = ["generate", str(POSTS / "tidepools.txt"), "-m", "openai-images", "-n", "1", "--backend", "local"]
    result = runner.invoke(app, [*args, "--rounds", "2", "--no-rank", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "blogart models pull clip" in result.output
    assert fake_openai.calls("/v1/images/generations") == []


def test_generate_bad_output_folder_and_checkpoint_flag_are_one_line_errors(fake_openai, openai_env, tmp_path):
    args = ["generate", str(POSTS / "tidepools.txt"), "-m", "openai-images", "-n", "1", "--backend", "local"]
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    result = runner.invoke(app, [*args, "--no-rank", "--out", str(a_file)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: --out {a_file} is not a folder") and len(result.output.splitlines()) == 1
    result = runner.invoke(app, [*args, "--checkpoint", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.strip() == "error: --checkpoint is for dalle-mini and dalle-mega, not openai-images"
    assert fake_openai.calls("/v1/images/generations") == []


def test_openai_moderation_refuses_the_prompt_before_drawing(
    fake_openai, openai_env, tiny_ranker, monkeypatch, tmp_path
):
    monkeypatch.setenv("BLOGART_MODERATION__OPENAI", "true")
    flagged = {"flagged": True, "categories": {"violence": True}, "category_scores": {"violence": 0.9}}
    fake_openai.queue("/v1/moderations", body={"id": "m", "model": "omni-moderation-latest", "results": [flagged]})
    args = ["generate", str(POSTS / "tidepools.txt"), "-m", "openai-images", "-n", "1", "--backend", "local"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "prompt refused by moderation (violence)" in result.output
    assert fake_openai.calls("/v1/images/generations") == []
    assert not (tmp_path / "out").exists()


def _post(folder: Path, name: str, title: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"---\ntitle: {title}\n---\n\n{body}\n", encoding="utf-8")
    return path


def _images(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("r*.png")}  # the candidates (cover.png and the crops are not)


def test_non_latin_titles_get_their_own_folders(fake_openai, openai_env, tmp_path):
    # Both titles used to slug to "post": the second run overwrote the first one's images and manifest.
    tides = (POSTS / "tidepools.txt").read_text()
    hello = _post(tmp_path, "hello.md", "Привет, мир", tides)
    bye = _post(tmp_path, "bye.md", "Пока, мир", tides + "\nOne more paragraph about crabs.")
    args = ["-m", "openai-images", "-n", "1", "--backend", "local", "--no-rank", "--out", str(tmp_path / "out")]
    for source in (hello, bye):
        result = runner.invoke(app, ["generate", str(source), *args])
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["poka-mir", "privet-mir"]
    manifest = json.loads((tmp_path / "out" / "privet-mir" / "manifest.json").read_text())
    assert manifest["text"]["title"] == "Привет, мир"
    assert manifest["cover"] == str(tmp_path / "out" / "privet-mir" / "r1-00.png")


def test_a_rerun_with_fewer_candidates_leaves_only_the_new_ones(fake_openai, openai_env, tmp_path):
    args = ["generate", str(POSTS / "tidepools.txt"), "-m", "openai-images", "--backend", "local", "--no-rank"]
    args += ["--out", str(tmp_path / "out"), "--json"]
    first = runner.invoke(app, [*args, "-n", "3"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, [*args, "-n", "2"])
    assert second.exit_code == 0, second.output
    manifest = json.loads(second.output)
    folder = Path(manifest["cover"]).parent
    assert [Path(c["path"]).name for c in manifest["candidates"]] == ["r1-00.png", "r1-01.png"]
    assert _images(folder) == {"r1-00.png", "r1-01.png"}
    assert [p.name for p in (tmp_path / "out").iterdir()] == [folder.name]


def test_a_run_that_fails_after_drawing_leaves_the_previous_run(
    fake_openai, openai_env, tiny_ranker, monkeypatch, tmp_path
):
    from blogart.errors import BlogartError
    from blogart.ranking.clip import ClipRanker

    args = ["generate", str(POSTS / "tidepools.txt"), "-m", "openai-images", "--backend", "local"]
    args += ["--out", str(tmp_path / "out")]
    first = runner.invoke(app, [*args, "-n", "2", "--no-rank", "--json"])
    assert first.exit_code == 0, first.output
    folder = Path(json.loads(first.output)["cover"]).parent
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def broken(*args, **kwargs):
        raise BlogartError("the ranker broke")

    monkeypatch.setattr(ClipRanker, "rank", broken)
    drawn = len(fake_openai.calls("/v1/images/generations"))
    result = runner.invoke(app, [*args, "-n", "3"])
    assert result.exit_code == 1 and "the ranker broke" in result.output
    assert len(fake_openai.calls("/v1/images/generations")) == drawn + 3  # it had drawn its images
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in (tmp_path / "out").iterdir()] == [folder.name]  # no staging folder left
