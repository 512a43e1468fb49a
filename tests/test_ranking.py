"""CLIP ranking with a tiny random-weight open_clip model saved as a real checkpoint file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_clip import CONFIG, MODEL, PROMPT, _candidates, _pngs

from blogart.errors import InputError, MissingWeights, UsageError
from blogart.ranking.scores import clip_score, combine_scores
from blogart.values import Flag, ImagePrompt, KeyTopics, Ranked, Topic


def _reference_cos(checkpoint: Path, paths: list[Path], texts: list[str]) -> np.ndarray:
    """Cosine image x text computed straight with open_clip, independent of our code."""
    import open_clip
    import torch
    from PIL import Image

    model, _, preprocess = open_clip.create_model_and_transforms(MODEL, pretrained=str(checkpoint))
    model.eval()
    tokenizer = open_clip.get_tokenizer(MODEL)
    with torch.no_grad():
        images = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths])
        image_features = model.encode_image(images)
        text_features = model.encode_text(tokenizer(texts))
    image_features = image_features / image_features.norm(dim=-1, keepdim=True)
    text_features = text_features / text_features.norm(dim=-1, keepdim=True)
    return (image_features @ text_features.T).numpy()


def test_clip_score_formula():
    assert clip_score(0.4) == pytest.approx(1.0)
    assert clip_score(-0.3) == 0.0
    score, prompt_score, penalty = combine_scores(0.4, [0.2, 0.0], [0.1, 0.3], negative_weight=0.5)
    assert prompt_score == pytest.approx(1.0)
    assert penalty == pytest.approx(0.5 * 0.75)
    assert score == pytest.approx(0.5 * 1.0 + 0.5 * (0.5 + 0.0) / 2 - 0.375)
    # no topics: the prompt carries both weights
    assert combine_scores(0.2, [], [])[0] == pytest.approx(0.5)


def test_rank_follows_independent_clipscore(clip, tiny_checkpoint, tmp_path):
    from blogart.ranking.clip import ClipRanker

    paths = _pngs(tmp_path)
    topics = ["stormy sea", "old stone tower"]
    key_topics = KeyTopics(tuple(Topic(t, t) for t in topics), "")
    ranked = ClipRanker(clip).rank(_candidates(paths), ImagePrompt(PROMPT, (), "photo", 8), key_topics)
    cos = _reference_cos(tiny_checkpoint, paths, [PROMPT, *topics])
    expected = {
        p: 0.5 * 2.5 * max(c[0], 0) + 0.5 * np.mean([2.5 * max(c[1], 0), 2.5 * max(c[2], 0)])
        for p, c in zip(paths, cos, strict=True)
    }
    assert len(set(np.round(list(expected.values()), 6))) == len(paths), "test images must score differently"
    assert [r.candidate.path for r in ranked] == sorted(paths, key=lambda p: -expected[p])
    for r in ranked:
        i = paths.index(r.candidate.path)
        assert r.score == pytest.approx(expected[r.candidate.path], abs=1e-5)
        assert r.prompt_score == pytest.approx(2.5 * max(cos[i][0], 0), abs=1e-5)
        assert r.topic_scores == pytest.approx({t: 2.5 * max(cos[i][j + 1], 0) for j, t in enumerate(topics)}, abs=1e-5)
        assert r.model == f"{MODEL}/tiny.safetensors"
        assert not r.flags
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)


def test_negative_words_lower_the_score(clip, tmp_path):
    from blogart.ranking.clip import ClipRanker

    paths = _pngs(tmp_path, 3)
    ranker = ClipRanker(clip, negative_weight=0.5)
    plain = {r.candidate.path: r for r in ranker.rank(_candidates(paths), ImagePrompt(PROMPT, (), "", 8))}
    # The prompt itself as a negative word: its similarity is the prompt's, so the penalty is known.
    negative = ranker.rank(_candidates(paths), ImagePrompt(PROMPT, ("blurry", PROMPT), "", 8))
    for r in negative:
        before = plain[r.candidate.path]
        assert before.prompt_score > 0
        assert r.negative_penalty >= 0.5 * before.prompt_score - 1e-6
        assert r.score == pytest.approx(before.score - r.negative_penalty)
        assert r.score < before.score


def test_flagged_sort_last_and_top_k(clip, tmp_path):
    from blogart.ranking.clip import ClipRanker, select

    paths = _pngs(tmp_path, 4)
    ranked = ClipRanker(clip).rank(_candidates(paths), ImagePrompt(PROMPT, (), "", 8))
    best = ranked[0]
    flagged = Ranked(best.candidate, best.score, best.prompt_score, flags=(Flag("x", 0.9, 0.5),))
    reordered = select([flagged, *ranked[1:]], None)
    assert reordered[-1] is flagged
    assert [r.candidate.path for r in reordered[:-1]] == [r.candidate.path for r in ranked[1:]]
    top = select([flagged, *ranked[1:]], 2)
    assert [r.candidate.path for r in top] == [ranked[1].candidate.path, ranked[2].candidate.path, best.candidate.path]
    assert len(ClipRanker(clip, top_k=2).rank(_candidates(paths), ImagePrompt(PROMPT, (), "", 8))) == 2


def test_local_dir_and_hf_cache_ids_load_the_same_weights(clip, tiny_checkpoint, tmp_path):
    import shutil

    from blogart.models.clip import ClipModel, load_clip, resolve_clip

    config = {"model_cfg": json.loads(CONFIG.read_text()), "preprocess_cfg": {}}
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    shutil.copy(tiny_checkpoint, folder / "open_clip_model.safetensors")
    local = load_clip(f"local-dir:{folder}", None)
    texts = ["a red fox", PROMPT]
    np.testing.assert_allclose(local.encode_texts(texts), clip.encode_texts(texts), atol=1e-5)

    # A Hugging Face cache laid out as huggingface_hub writes it; nothing is fetched.
    cache = tmp_path / "hub"
    snapshot = cache / "models--someone--tiny-clip" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    (cache / "models--someone--tiny-clip" / "refs").mkdir()
    (cache / "models--someone--tiny-clip" / "refs" / "main").write_text("0123abc")
    shutil.copytree(folder, snapshot, dirs_exist_ok=True)
    source = resolve_clip("hf-hub:someone/tiny-clip", None, cache_dir=str(cache))
    assert source.model_name == f"local-dir:{snapshot}"
    hub = ClipModel.load(source)
    assert hub.model_id == "hf-hub:someone/tiny-clip"
    np.testing.assert_allclose(hub.encode_texts(texts), clip.encode_texts(texts), atol=1e-5)

    with pytest.raises(MissingWeights, match="not in the Hugging Face cache"):
        resolve_clip("hf-hub:someone/absent", None, cache_dir=str(cache))


def test_pretrained_tags_resolve_from_the_cache_or_name_the_pull_command(tmp_path):
    from blogart.models.clip import resolve_clip

    cache = tmp_path / "hub"
    with pytest.raises(MissingWeights, match="blogart models pull clip"):
        resolve_clip("ViT-B-32", "openai", cache_dir=str(cache))
    with pytest.raises(MissingWeights, match="blogart models pull clip"):
        resolve_clip("ViT-B-32", "laion2b_s34b_b79k", cache_dir=str(cache))
    repo = cache / "models--timm--vit_base_patch32_clip_224.openai"
    (repo / "snapshots" / "feed").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("feed")
    (repo / "snapshots" / "feed" / "open_clip_model.safetensors").write_bytes(b"x")
    source = resolve_clip("ViT-B-32", "openai", cache_dir=str(cache))
    assert source.checkpoint == str(repo / "snapshots" / "feed" / "open_clip_model.safetensors")
    assert source.quick_gelu is True  # the openai weights were trained with QuickGELU
    assert source.model_id == "ViT-B-32/openai"
    # The default tag is looked up through blogart.modelhub (the folder `blogart models pull clip` fills).
    default = cache / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
    (default / "snapshots" / "beef").mkdir(parents=True)
    (default / "refs").mkdir()
    (default / "refs" / "main").write_text("beef")
    (default / "snapshots" / "beef" / "open_clip_config.json").write_text("{}")
    (default / "snapshots" / "beef" / "open_clip_pytorch_model.bin").write_bytes(b"x")
    source = resolve_clip("ViT-B-32", "laion2b_s34b_b79k", cache_dir=str(cache))
    assert source.checkpoint == str(default / "snapshots" / "beef" / "open_clip_pytorch_model.bin")
    assert source.model_id == "ViT-B-32/laion2b_s34b_b79k" and source.quick_gelu is False
    with pytest.raises(UsageError, match="neither a checkpoint file nor a pretrained tag"):
        resolve_clip("ViT-B-32", "no-such-tag", cache_dir=str(cache))
    with pytest.raises(UsageError, match="unknown CLIP model"):
        resolve_clip("ViT-Q-99", "x")


def test_a_corrupt_checkpoint_is_one_error_not_a_traceback(tiny_checkpoint, tmp_path):
    from blogart.models.clip import ClipModel, resolve_clip

    # safetensors and torch.load fail with their own exception types, not RuntimeError or OSError.
    for name in ("broken.safetensors", "broken.bin"):
        path = tmp_path / name
        path.write_bytes(b"not a checkpoint at all")
        with pytest.raises(MissingWeights, match=f"cannot load CLIP {MODEL}/{name}"):
            ClipModel.load(resolve_clip(MODEL, str(path)))


def test_unreadable_image_is_an_input_error(clip, tmp_path):
    from blogart.ranking.clip import ClipRanker

    bad = tmp_path / "not-an-image.png"
    bad.write_text("hello")
    with pytest.raises(InputError, match="not a readable image"):
        ClipRanker(clip).rank(_candidates([bad]), ImagePrompt(PROMPT, (), "", 8))


def test_an_image_over_pillows_size_limit_is_an_input_error(clip, tmp_path, monkeypatch):
    from PIL import Image

    from blogart.ranking.clip import ClipRanker

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # a 48x48 test image is now a "decompression bomb"
    with pytest.raises(InputError, match="not a readable image"):
        ClipRanker(clip).rank(_candidates(_pngs(tmp_path, 1)), ImagePrompt(PROMPT, (), "", 8))


def test_blogart_rank_cli(tiny_checkpoint, tmp_path):
    from typer.testing import CliRunner

    from blogart.cli import app

    paths = _pngs(tmp_path, 3)
    runner = CliRunner()
    args = ["rank", *(p.name for p in paths), "--prompt", PROMPT, "--topic", "sea", "--negative", "blurry"]
    args += ["--model", MODEL, "--pretrained", str(tiny_checkpoint), "--no-moderation"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["model"] == f"{MODEL}/tiny.safetensors"
    scores = [row["score"] for row in data["ranked"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 3
    assert set(data["ranked"][0]["topic_scores"]) == {"sea"}

    table = runner.invoke(app, [*args, "--top-k", "1"])
    assert table.exit_code == 0, table.output
    assert data["ranked"][0]["path"] in table.output
    assert data["ranked"][1]["path"] not in table.output

    missing = runner.invoke(app, ["rank", str(paths[0]), "--prompt", "x"])
    assert missing.exit_code == 1
    assert "blogart models pull clip" in missing.output
    absent = runner.invoke(app, ["rank", "nope.png", "--prompt", "x"])
    assert absent.exit_code == 2 and "image not found" in absent.output
