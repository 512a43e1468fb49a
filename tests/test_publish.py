"""The publish step: upscaling, crop windows, alt text, and `generate --front-matter` end to end."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from blogart.cli import app
from blogart.outputs.alttext import MAX_CHARS, fit, template_alt_text
from blogart.outputs.crops import choose_window, crop_to, window_positions
from blogart.outputs.upscale import lanczos, upscale
from blogart.values import CropSize, ImagePrompt, KeyTopics, Topic

POSTS = Path(__file__).parent / "data" / "posts"
runner = CliRunner()
SIZES = {"cover.png": (1024, 1024), "og.png": (1200, 630), "square.png": (1080, 1080)}
SIZES |= {"portrait.png": (1080, 1350), "wide.png": (1600, 900)}


def _subject_at_bottom_right(size: int = 256) -> Image.Image:
    image = Image.new("RGB", (size, size), (120, 160, 200))
    ImageDraw.Draw(image).ellipse((size * 0.6, size * 0.7, size * 0.95, size * 0.97), fill=(250, 40, 20))
    return image


def test_lanczos_upscale_keeps_the_aspect_and_sharpens():
    image = _subject_at_bottom_right()
    big = lanczos(image, 1024)
    assert big.size == (1024, 1024)
    assert upscale(image.resize((256, 128)), 1024).size == (1024, 512)
    with pytest.raises(Exception, match="blogart models pull swin2sr"):
        upscale(image, 1024, "swin2sr")


def test_windows_span_the_free_axis():
    windows = window_positions((1024, 1024), 1200 / 630)
    assert {(w, h) for _, _, w, h in windows} == {(1024, 538)}
    assert windows[0][1] == 0 and windows[-1][1] == 1024 - 538
    assert window_positions((1024, 1024), 1.0) == [(0, 0, 1024, 1024)]


def test_saliency_keeps_the_subject_not_the_centre():
    image = lanczos(_subject_at_bottom_right(), 1024)
    og = choose_window(image, CropSize("og", 1200, 630))
    assert og.method == "saliency"
    assert og.top == 1024 - og.height  # the red disc sits at the bottom
    portrait = choose_window(image, CropSize("portrait", 1080, 1350))
    assert portrait.left > 0 and portrait.left + portrait.width >= 0.95 * 1024  # the whole disc, not the centre
    crop = crop_to(image, og, CropSize("og", 1200, 630))
    assert crop.size == (1200, 630)


def test_a_scorer_picks_the_window_it_scores_best():
    image = lanczos(_subject_at_bottom_right(), 512)

    def redness(crops):  # any Ranker.score_images stands here: higher is better
        return [float((np.asarray(c, dtype=float)[..., 0] - np.asarray(c, dtype=float)[..., 2]).sum()) for c in crops]

    window = choose_window(image, CropSize("wide", 1600, 900), redness)
    assert window.method == "clip" and window.top == 512 - window.height


def test_clip_ranker_scores_crops_against_the_prompt(clip):
    from blogart.ranking.clip import ClipRanker

    ranker = ClipRanker(clip)
    image = _subject_at_bottom_right()
    scores = ranker.score_images([image, image.crop((0, 0, 128, 128))], "a red ball")
    assert len(scores) == 2 and all(-1.0 <= s <= 1.0 for s in scores)
    window = choose_window(image, CropSize("og", 1200, 630), lambda crops: ranker.score_images(crops, "a red ball"))
    assert window.method == "clip"


def test_swin2sr_with_a_tiny_random_model(tmp_path):
    from transformers import Swin2SRConfig, Swin2SRForImageSuperResolution, Swin2SRImageProcessor

    from blogart.outputs.upscale import Swin2SR

    config = Swin2SRConfig(
        image_size=32, embed_dim=8, depths=[1], num_heads=[1], window_size=8, upscale=2, num_channels=3
    )
    Swin2SRForImageSuperResolution(config).save_pretrained(tmp_path / "swin2sr")
    Swin2SRImageProcessor(pad_size=8).save_pretrained(tmp_path / "swin2sr")
    model = Swin2SR(tmp_path / "swin2sr")
    image = _subject_at_bottom_right(60)  # not a multiple of the window: the processor pads, we crop back
    out = model.upscale(image, 120)
    assert out.size == (120, 120) and model.scale == 2
    assert upscale(image, 240, "swin2sr", model).size == (240, 240)


def test_alt_text_is_one_short_sentence():
    topics = KeyTopics(tuple(Topic(p, "") for p in ("sourdough starter", "dutch oven", "crust")), "")
    prompt = ImagePrompt("a crusty sourdough loaf on a wooden board, flat vector illustration", (), "illustration", 9)
    alt = template_alt_text(prompt, topics, "illustration")
    assert alt == "Illustration of a crusty sourdough loaf on a wooden board, about sourdough starter and dutch oven."
    long = ImagePrompt("word " * 80, (), "photo", 80)
    assert len(template_alt_text(long, topics, "photo")) <= MAX_CHARS
    assert fit('A "quoted"\nreply that goes on ' + "and on " * 40).count(".") == 1
    assert len(fit("x " * 200)) <= MAX_CHARS


# --- end to end --------------------------------------------------------------------------------


ARGS = ["-m", "openai-images", "-n", "3", "--backend", "local"]


def _hugo_site(root: Path) -> Path:
    """A Hugo site's marker and its posts folder."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "hugo.toml").write_text('baseURL = "https://example.org/blog/"\ntitle = "t"\n')
    (root / "content" / "posts").mkdir(parents=True)
    return root / "content" / "posts"


def _short(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


def test_generate_with_papermod_front_matter_end_to_end(fake_openai, openai_env, tiny_ranker, tmp_path):
    post = _hugo_site(tmp_path) / "beekeeping.md"
    shutil.copy(POSTS / "urban-beekeeping.md", post)
    before = post.read_text()
    out = tmp_path / "out"
    result = runner.invoke(app, ["generate", str(post), *ARGS, "--front-matter", "papermod", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)
    folder = Path(manifest["publish"]["gallery"]).parent
    for name, size in SIZES.items():
        assert Image.open(folder / name).size == size, name
    assert (folder / "index.html").is_file() and (folder / "manifest.json").is_file()

    # The post gained the cover and its alt text, and nothing else changed.
    publish = manifest["publish"]
    alt = publish["alt_text"]
    assert 0 < len(alt) <= MAX_CHARS and alt.endswith(".")
    # A plain Hugo post: the cover is served from static/, named by its hash, without a leading slash.
    cover_png = (folder / "cover.png").read_bytes()
    image = f"covers/{folder.name}-{_short(cover_png)}.png"
    added = ["cover:\n", f"  image: {image}\n", f"  alt: {alt}\n"]
    lines = post.read_text().splitlines(keepends=True)
    for line in added:
        lines.remove(line)
    assert "".join(lines) == before
    assert (tmp_path / "static" / image).read_bytes() == cover_png
    assert not list(post.parent.glob("*.png"))  # nothing stray beside the post for Hugo to take as an image
    edit = publish["front_matter"]
    assert edit["status"] == "written" and edit["preset"] == "papermod"
    assert edit["added"] == ["cover.image", "cover.alt"] and edit["replaced"] == []
    assert edit["image_file"] == str(tmp_path / "static" / image) and edit["placement"] == "hugo static"
    assert f"added cover.image, cover.alt in {post}" in edit["summary"]
    # The cover is the best candidate, upscaled; crop windows were scored by CLIP.
    best = min(manifest["candidates"], key=lambda c: c["rank"])
    assert publish["source"] == best["path"] and publish["number"] == 1
    assert {row["method"] for row in publish["crops"].values()} <= {"clip", "full"}

    # The manifest: timings per stage, weight hashes, library versions; never the key.
    assert {"read_and_chunk", "topics", "prompt", "generate_round1", "rank_round1", "publish"} <= set(
        manifest["timings"]
    )
    assert len(next(iter(manifest["weights_sha256"]["clip"].values()))) == 64
    assert manifest["libraries"]["ruamel.yaml"] and manifest["libraries"]["python"]
    assert "sk-secret-test-key" not in (folder / "manifest.json").read_text()

    # A rerun: same post, same inputs: the post and the published files stay as they are.
    cover_before = (folder / "cover.png").read_bytes()
    text_before = post.read_bytes()
    again = runner.invoke(app, ["generate", str(post), *ARGS, "--front-matter", "papermod", "-o", str(out), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["publish"]["front_matter"]["status"] == "unchanged"
    assert post.read_bytes() == text_before and (folder / "cover.png").read_bytes() == cover_before
    # Without --json: one line that says where the cover went and what changed in which file.
    shown = runner.invoke(app, ["generate", str(post), *ARGS, "--front-matter", "papermod", "-o", str(out)])
    assert shown.exit_code == 0, shown.output
    line = next(row for row in shown.output.splitlines() if row.startswith("front matter: "))
    assert f"already at {tmp_path / 'static' / image}" in line and f"front matter of {post} unchanged" in line


def test_a_new_cover_replaces_the_file_blogart_placed(fake_openai, openai_env, tmp_path, monkeypatch):
    """A new cover gets a new name (its hash), the post names it, and the old file blogart placed goes."""
    post = _hugo_site(tmp_path) / "sourdough.md"
    post.write_text("---\ntitle: Sourdough at home\n---\nFlour, water, salt and a starter.\n")
    args = ["generate", str(post), *ARGS, "--no-rank", "--front-matter", "hugo", "-o", str(tmp_path / "o"), "--json"]
    first = json.loads(runner.invoke(app, args).output)["publish"]["front_matter"]
    old = Path(first["image_file"])
    assert old.is_file() and f"images:\n- {first['image']}\n" in post.read_text()
    monkeypatch.setenv("BLOGART_PUBLISH__UPSCALE_SIZE", "512")  # another size: other cover bytes
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    second = json.loads(result.output)["publish"]["front_matter"]
    assert second["status"] == "written" and second["replaced"] == ["images"]
    assert second["image"] != first["image"] and Path(second["image_file"]).is_file()
    assert not old.exists() and second["removed"] == str(old)
    assert f"images:\n- {second['image']}\n" in post.read_text()


def test_pick_makes_another_candidate_the_cover(fake_openai, openai_env, tiny_ranker, tmp_path):
    bundle = _hugo_site(tmp_path) / "beekeeping"
    bundle.mkdir(parents=True)
    post = bundle / "index.md"
    shutil.copy(POSTS / "urban-beekeeping.md", post)
    out = tmp_path / "out"
    result = runner.invoke(app, ["generate", str(post), *ARGS, "--front-matter", "papermod", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)
    assert "  relative: true\n" in post.read_text()
    folder = Path(manifest["publish"]["gallery"]).parent
    third = next(c for c in manifest["candidates"] if c["rank"] == 3)
    text_before = post.read_bytes()

    picked = runner.invoke(app, ["pick", str(folder), "3", "--json"])
    assert picked.exit_code == 0, picked.output
    after = json.loads((folder / "manifest.json").read_text())
    assert after["cover"] == third["path"] and after["publish"]["number"] == 3
    expected = lanczos(Image.open(third["path"]), 1024)
    assert Image.open(folder / "cover.png").tobytes() == expected.tobytes()
    # The post names the picked cover, as a page resource of its bundle, and only its cover keys changed.
    named = next(line for line in post.read_text().splitlines() if line.startswith("  image: ")).split()[-1]
    assert (bundle / named).read_bytes() == (folder / "cover.png").read_bytes()
    assert [line for line in post.read_bytes().splitlines() if b"image: " not in line] == [
        line for line in text_before.splitlines() if b"image: " not in line
    ]
    assert 'id="candidate-3"' in (folder / "index.html").read_text()
    assert "cover" in (folder / "index.html").read_text().split('id="candidate-3"')[0].rsplit("<figure", 1)[1]
    # By the post's path too, and a bad number is a one-line error.
    back = runner.invoke(app, ["pick", str(post), "1", "-o", str(out)])
    assert back.exit_code == 0, back.output
    # (the fake API draws every candidate alike, so the cover is already in place)
    assert f"front matter: cover already at {bundle / 'cover-'}" in back.output and "(hugo page bundle)" in back.output
    assert json.loads((folder / "manifest.json").read_text())["publish"]["number"] == 1
    bad = runner.invoke(app, ["pick", str(folder), "9"])
    assert bad.exit_code == 2 and bad.output.startswith("error: ") and len(bad.output.splitlines()) == 1


def test_an_existing_cover_is_kept_without_force(fake_openai, openai_env, tmp_path):
    post = _hugo_site(tmp_path) / "sourdough.md"
    shutil.copy(POSTS / "sourdough.md", post)
    before = post.read_bytes()
    args = ["generate", str(post), *ARGS, "--no-rank", "--front-matter", "papermod", "-o", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["publish"]["front_matter"]["status"] == "kept-existing"
    assert post.read_bytes() == before and not (tmp_path / "static").exists()
    forced = runner.invoke(app, [*args, "--force", "--json"])
    assert forced.exit_code == 0, forced.output
    edit = json.loads(forced.output)["publish"]["front_matter"]
    assert f"  image: {edit['image']}\n" in post.read_text() and edit["replaced"] == ["cover"]
    assert "cover: /images/sourdough-loaf.jpg" not in post.read_text()
    assert (tmp_path / "static" / edit["image"]).is_file() and not list(post.parent.glob("*.png"))


def test_toml_post_and_static_dir_with_hugo(fake_openai, openai_env, tmp_path, monkeypatch):
    post = tmp_path / "content" / "rust-async.md"
    post.parent.mkdir()
    shutil.copy(POSTS / "rust-async.md", post)
    before = post.read_text()
    monkeypatch.setenv("BLOGART_PUBLISH__STATIC_DIR", str(tmp_path / "static" / "covers"))
    monkeypatch.setenv("BLOGART_PUBLISH__STATIC_URL", "/covers")
    args = ["generate", str(post), *ARGS, "--no-rank", "--front-matter", "hugo", "-o", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--size", "og=600x315", "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)
    name = Path(manifest["publish"]["front_matter"]["image_file"]).name
    assert name.startswith(Path(manifest["publish"]["gallery"]).parent.name + "-")
    assert f'images = ["/covers/{name}"]\n' in post.read_text()
    lines = post.read_text().splitlines(keepends=True)
    lines.remove(f'images = ["/covers/{name}"]\n')
    assert "".join(lines) == before
    assert (tmp_path / "static" / "covers" / name).is_file()
    assert list(manifest["publish"]["crops"]) == ["og"]  # --size replaces the configured sizes
    assert Image.open(manifest["publish"]["crops"]["og"]["path"]).size == (600, 315)


def test_llm_alt_text_is_logged_and_cached(fake_openai, openai_env, tmp_path, monkeypatch):
    monkeypatch.setenv("BLOGART_PUBLISH__ALT_TEXT", "llm")
    fake_openai.on_chat(lambda request: {"alt": "Honey bees crowd a white hive box on a sunny city rooftop."})
    args = ["generate", str(POSTS / "urban-beekeeping.md"), *ARGS, "--no-rank", "-o", str(tmp_path / "o"), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    publish = json.loads(first.output)["publish"]
    assert publish["alt_text"] == "Honey bees crowd a white hive box on a sunny city rooftop."
    assert publish["alt_source"] == "llm"
    assert len(fake_openai.calls("/v1/chat/completions")) == 1
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert len(fake_openai.calls("/v1/chat/completions")) == 1  # answered from the cache
    logs = json.loads(runner.invoke(app, ["logs", "--json", "-n", "10"]).output)
    chats = [row for row in logs if row["kind"] == "chat.completions"]
    assert sorted(row["cached"] for row in chats) == [False, True]  # logged both times


def test_bad_publish_input_fails_before_drawing(fake_openai, openai_env, tmp_path):
    base = ["generate", str(POSTS / "tidepools.txt"), *ARGS, "--no-rank", "-o", str(tmp_path / "o")]
    result = runner.invoke(app, [*base, "--front-matter", "papermod"])
    assert result.exit_code == 2 and "Markdown post" in result.output
    result = runner.invoke(app, [*base, "--size", "og=huge"])
    assert result.exit_code == 2 and "WIDTHxHEIGHT" in result.output
    result = runner.invoke(app, [*base, "--upscaler", "swin2sr"])
    assert result.exit_code == 1 and "blogart models pull swin2sr" in result.output
    assert fake_openai.calls("/v1/images/generations") == []


def test_front_matter_that_cannot_take_the_cover_fails_before_drawing(fake_openai, openai_env, tmp_path):
    lone = tmp_path / "lone" / "post.md"
    lone.parent.mkdir()
    lone.write_text("---\ntitle: Tide pools\n---\nCrabs and anemones.\n")
    base = [*ARGS, "--no-rank", "-o", str(tmp_path / "o")]
    result = runner.invoke(app, ["generate", str(lone), *base, "--front-matter", "hugo"])
    assert result.exit_code == 2 and "static_dir and static_url" in result.output
    assert len(result.output.strip().splitlines()) == 1
    aliased = _hugo_site(tmp_path / "site") / "post.md"
    aliased.write_text("---\ncd: &cd\n  image: a.png\ncover: *cd\n---\nCrabs and anemones.\n")
    result = runner.invoke(app, ["generate", str(aliased), *base, "--front-matter", "papermod", "--force"])
    assert result.exit_code == 2 and "alias" in result.output and "Traceback" not in result.output
    assert fake_openai.calls("/v1/images/generations") == []


def test_read_only_output_folder_is_a_one_line_error(fake_openai, openai_env, tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    out = tmp_path / "o"
    out.mkdir()
    out.chmod(0o555)
    try:
        result = runner.invoke(app, ["generate", str(POSTS / "tidepools.txt"), *ARGS, "--no-rank", "-o", str(out)])
    finally:
        out.chmod(0o755)
    assert result.exit_code == 2 and result.output.startswith("error: ") and "not writable" in result.output


def test_a_title_or_slug_that_tries_path_traversal_stays_inside(fake_openai, openai_env, tmp_path, monkeypatch):
    post = tmp_path / "posts" / "evil.md"
    post.parent.mkdir()
    post.write_text(
        "---\ntitle: ../../etc/passwd\nslug: ../../../outside\n---\n\nTide pools hold crabs and anemones.\n"
    )
    monkeypatch.setenv("BLOGART_PUBLISH__STATIC_DIR", str(tmp_path / "static"))
    args = ["generate", str(post), *ARGS, "--no-rank", "--front-matter", "jekyll", "-o", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    folder = Path(json.loads(result.output)["publish"]["gallery"]).parent
    assert folder.parent == tmp_path / "o" and folder.name == "outside"
    assert [p.name[: len("outside-")] for p in (tmp_path / "static").iterdir()] == ["outside-"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blogart-home", "o", "posts", "static"]


@pytest.mark.slow
def test_regenerate_reproduces_a_dalle_run(tiny_dalle, tmp_path):
    checkpoint, vqgan = tiny_dalle
    args = ["generate", str(POSTS / "sourdough.md"), "--checkpoint", str(checkpoint), "--vqgan", str(vqgan)]
    result = runner.invoke(app, [*args, "-n", "2", "--seed", "7", "--no-rank", "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)
    path = Path(manifest["publish"]["gallery"]).parent / "manifest.json"
    assert set(manifest["weights_sha256"]) == {"checkpoint", "vqgan"}
    redo = runner.invoke(app, ["regenerate", str(path), "--out", str(tmp_path / "again")])
    assert redo.exit_code == 0, redo.output
    assert "r1-00-s7.png: same bytes" in redo.output and "all 2 images reproduced" in redo.output
    assert (tmp_path / "again" / "r1-01-s7.png").read_bytes() == (path.parent / "r1-01-s7.png").read_bytes()
    # A tampered image is reported, with a non-zero exit.
    Image.new("RGB", (32, 32), (1, 2, 3)).save(path.parent / "r1-01-s7.png")
    redo = runner.invoke(app, ["regenerate", str(path)])
    assert redo.exit_code == 1 and "r1-01-s7.png: DIFFERENT" in redo.output
    openai_manifest = tmp_path / "m.json"
    openai_manifest.write_text(json.dumps({**manifest, "generator": "openai-images"}))
    redo = runner.invoke(app, ["regenerate", str(openai_manifest)])
    assert redo.exit_code == 2 and "cannot be redrawn" in redo.output
