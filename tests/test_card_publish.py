"""`generate --card` and `pick` end to end: card.png in the run folder, the manifest, the gallery, the front matter."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from blogart.cli import app
from blogart.outputs import fonts

pytestmark = pytest.mark.skipif(fonts.find_family("Noto Sans") is None, reason="fonts-noto-core is not installed")

runner = CliRunner()
ARGS = ["-m", "openai-images", "-n", "2", "--backend", "local", "--no-rank"]


@pytest.fixture
def openai_env(fake_openai, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("BLOGART_PUBLISH__UPSCALE_SIZE", "512")
    monkeypatch.setenv("BLOGART_PUBLISH__SIZES", '{"og": "1200x630", "square": "540x540"}')


def _post(root: Path, name: str = "sourdough.md") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "hugo.toml").write_text('baseURL = "https://example.org/"\ntitle = "t"\n')
    posts = root / "content" / "posts"
    posts.mkdir(parents=True, exist_ok=True)
    post = posts / name
    post.write_text(
        "---\ntitle: Sourdough at home, with a starter 🍞\ndate: 2026-11-02T08:00:00Z\ntags: [baking, bread]\n---\n"
        "Flour, water, salt and a starter. Feed the starter, fold the dough, bake it hot.\n"
    )
    return post


def _short(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


def test_generate_card_is_the_social_image_and_a_rerun_does_no_work(openai_env, tmp_path, monkeypatch):
    monkeypatch.setenv("BLOGART_PUBLISH__CARD_SITE", "Crumb Notes")
    monkeypatch.setenv("BLOGART_PUBLISH__CARD_SIZES", '["square"]')
    post = _post(tmp_path)
    args = ["generate", str(post), *ARGS, "--card", "--front-matter", "hugo", "-o", str(tmp_path / "out"), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    publish = json.loads(result.output)["publish"]
    folder = Path(publish["gallery"]).parent
    card_png = (folder / "card.png").read_bytes()
    assert Image.open(folder / "card.png").size == (1200, 630)
    assert Image.open(folder / "card-square.png").size == (540, 540)
    card = publish["card"]
    assert card["path"] == str(folder / "card.png") and card["social_image"] is True
    assert card["text"] == {
        "title": "Sourdough at home, with a starter 🍞",
        "site": "Crumb Notes",
        "date": "2026-11-02",
        "tags": ["baking", "bread"],
        "missing": [],
    }
    assert len(card["inputs_hash"]) == 64
    # The front matter names the card, placed under its own hash, exactly as a cover would be.
    image = f"covers/{folder.name}-{_short(card_png)}.png"
    assert f"images:\n- {image}\n" in post.read_text()
    assert (tmp_path / "static" / image).read_bytes() == card_png
    assert publish["front_matter"]["image_sha256"] == hashlib.sha256(card_png).hexdigest()
    gallery = (folder / "index.html").read_text()
    assert 'src="card.png"' in gallery and 'src="card-square.png"' in gallery

    # A rerun over the unchanged post takes the published card as it is: no card is drawn again.
    marked = card_png + b"kept"
    (folder / "card.png").write_bytes(marked)
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["publish"]["card"] == card
    assert (folder / "card.png").read_bytes() == marked

    # Another theme is another input: the card is drawn again, under a new name.
    monkeypatch.setenv("BLOGART_PUBLISH__CARD_THEME", "light")
    light = runner.invoke(app, args)
    assert light.exit_code == 0, light.output
    light_png = (folder / "card.png").read_bytes()
    assert light_png not in (card_png, marked)
    assert f"covers/{folder.name}-{_short(light_png)}.png" in post.read_text()
    assert not (tmp_path / "static" / image).exists()  # the card blogart placed before is gone


def test_without_card_nothing_changes(openai_env, tmp_path):
    post = _post(tmp_path)
    result = runner.invoke(
        app, ["generate", str(post), *ARGS, "--front-matter", "hugo", "-o", str(tmp_path / "o"), "--json"]
    )
    assert result.exit_code == 0, result.output
    publish = json.loads(result.output)["publish"]
    folder = Path(publish["gallery"]).parent
    assert "card" not in publish and not list(folder.glob("card*.png"))
    cover = (folder / "cover.png").read_bytes()
    assert f"covers/{folder.name}-{_short(cover)}.png" in post.read_text()
    assert "title card" not in (folder / "index.html").read_text()
    # `pick --card` adds one, and the post names it from then on.
    picked = runner.invoke(app, ["pick", str(post), "1", "--card", "-o", str(tmp_path / "o")])
    assert picked.exit_code == 0, picked.output
    card = (folder / "card.png").read_bytes()
    assert (
        f"covers/{folder.name}-{_short(card)}.png" in post.read_text()
        and "title card" in (folder / "index.html").read_text()
    )


def test_papermod_keeps_the_art_as_cover_unless_asked(openai_env, tmp_path, monkeypatch):
    post = _post(tmp_path)
    args = ["generate", str(post), *ARGS, "--card", "--front-matter", "papermod", "-o", str(tmp_path / "o"), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    publish = json.loads(result.output)["publish"]
    folder = Path(publish["gallery"]).parent
    cover = (folder / "cover.png").read_bytes()
    assert publish["card"]["social_image"] is False
    assert f"  image: covers/{folder.name}-{_short(cover)}.png\n" in post.read_text()
    monkeypatch.setenv("BLOGART_PUBLISH__CARD_COVER", "true")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    card = (folder / "card.png").read_bytes()
    assert f"  image: covers/{folder.name}-{_short(card)}.png\n" in post.read_text()


def test_pick_rebuilds_the_card(openai_env, tmp_path):
    post = _post(tmp_path)
    out = tmp_path / "o"
    result = runner.invoke(
        app, ["generate", str(post), *ARGS, "--card", "--front-matter", "hugo", "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    folder = Path(json.loads(result.output)["publish"]["gallery"]).parent
    (folder / "card.png").unlink()
    # No --card: the run had one, so the picked cover gets one, with the post's front matter again.
    picked = runner.invoke(app, ["pick", str(post), "2", "-o", str(out), "--json"])
    assert picked.exit_code == 0, picked.output
    manifest = json.loads((folder / "manifest.json").read_text())
    card_png = (folder / "card.png").read_bytes()
    assert manifest["publish"]["number"] == 2 and manifest["publish"]["card"]["text"]["date"] == "2026-11-02"
    assert f"covers/{folder.name}-{_short(card_png)}.png" in post.read_text()
    assert 'src="card.png"' in (folder / "index.html").read_text()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BLOGART_PUBLISH__CARD_TEMPLATE": "missing.toml"}, "error: card template missing.toml: file not found"),
        ({"BLOGART_PUBLISH__CARD_SIZES": '["banner"]'}, "error: [publish] card_sizes names 'banner'"),
    ],
)
def test_a_bad_card_setting_is_one_line_before_drawing(openai_env, tmp_path, monkeypatch, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    post = _post(tmp_path)
    result = runner.invoke(app, ["generate", str(post), *ARGS, "--card", "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and result.output.startswith(message) and len(result.output.splitlines()) == 1
    assert not (tmp_path / "o").exists()
