"""The bundled icon model as the default: its folder, which generator "auto" means, its prompt writer,
`models list/verify/path`, float16 weights, and `generate` end to end (tiny random folder here; the real
packaged model in the last test, once the recipe has built it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_bundled import CONCEPTS
from typer.testing import CliRunner

from blogart import assets
from blogart.cli import app
from blogart.config import load_settings
from blogart.errors import InputError, MissingWeights, UsageError
from blogart.pipeline.auto import PULL_COMMAND
from blogart.pipeline.plan import plan_run
from blogart.prompts.icons import caption
from blogart.prompts.icons_writer import (
    FLOOR,
    IconPromptWriter,
    concept_text,
    load_concept_vectors,
    save_concept_vectors,
)
from blogart.prompts.styles import get_style
from blogart.values import KeyTopics, Topic

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
runner = CliRunner()


def _topics(*phrases: str) -> KeyTopics:
    return KeyTopics(tuple(Topic(p, f"The post is about {p}.") for p in phrases), "")


def _hf_dalle_mini(cache: Path) -> None:
    """DALL-E Mini in the Hugging Face cache, as `blogart models pull dalle-mini` leaves it."""
    repo = cache / "hub" / "models--dalle-mini--dalle-mini"
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    for name in ("config.json", "flax_model.msgpack", "vocab.json", "merges.txt"):
        (snapshot / name).write_text("{}")


# -- the folder -----------------------------------------------------------------------------------------------


def test_the_folder_and_its_presence_check(tmp_path, tiny_bundled, monkeypatch):
    monkeypatch.delenv(assets.ENV)
    assert assets.bundled_dir() == assets.package_dir() == ROOT / "src" / "blogart" / "assets" / "icons"

    monkeypatch.setenv(assets.ENV, str(tmp_path / "empty"))
    model = assets.bundled()
    assert "dallebart/flax_model.msgpack" in model.missing() and "concepts.json" in model.missing()
    assert assets.installed() is None
    with pytest.raises(MissingWeights, match=r"lacks dallebart/config.json \(\+\d+ more\); rebuild it with recipes"):
        assets.require()

    monkeypatch.setenv(assets.ENV, str(tiny_bundled))
    model = assets.require()
    assert model.complete and model.source == "BLOGART_ASSETS" and model.recipe()["size"] == "tiny-test"
    assert model.clip == tiny_bundled / "clip" and 0 < model.size_bytes() < 25_000_000


# -- what "auto" means ----------------------------------------------------------------------------------------


def test_auto_is_the_bundled_model_when_nothing_else_is_installed(bundled_env):
    defaults = plan_run(load_settings())
    s = defaults.settings
    assert s.generate.model == "bundled"
    assert s.rank.model == "bundled"
    assert s.moderation.concepts == {}  # LAION-calibrated thresholds mean nothing to the bundled CLIP
    assert defaults.notice and "\n" not in defaults.notice
    assert f"`{PULL_COMMAND}`" in defaults.notice and str(bundled_env) in defaults.notice
    again = plan_run(s)  # resolving resolved settings changes nothing, says nothing
    assert again.settings == s and again.notice is None


def test_explicit_choices_and_pulled_weights_win(bundled_env, tmp_path, monkeypatch):
    explicit = plan_run(load_settings(overrides={"generate": {"model": "dalle-mega"}}))
    assert explicit.settings.generate.model == "dalle-mega" and explicit.notice is None
    assert explicit.settings.rank.model == "ViT-B-32"

    monkeypatch.setenv("BLOGART_MODELS__VQGAN", str(tmp_path / "my-vqgan"))  # weights placed by hand
    assert plan_run(load_settings()).settings.generate.model == "dalle-mini"
    monkeypatch.delenv("BLOGART_MODELS__VQGAN")

    _hf_dalle_mini(tmp_path / "hf-home")  # conftest's HF_HOME
    pulled = plan_run(load_settings())
    assert pulled.settings.generate.model == "dalle-mini" and pulled.notice is None


def test_the_bundled_model_keeps_a_ranker_and_moderation_the_user_chose(bundled_env, monkeypatch):
    monkeypatch.setenv("BLOGART_RANK__MODEL", "ViT-L-14")
    monkeypatch.setenv("BLOGART_MODERATION__CONCEPTS", '{"gore": 0.3}')
    s = plan_run(load_settings(overrides={"generate": {"model": "bundled"}})).settings
    assert (s.generate.model, s.rank.model, s.moderation.concepts) == ("bundled", "ViT-L-14", {"gore": 0.3})


@pytest.mark.slow
def test_the_bundled_model_samples_with_its_own_defaults_unless_the_user_set_them(bundled_env, tmp_path, monkeypatch):
    import shutil

    from blogart.models.dalle.generation_config import FILE, write_sampling

    folder = shutil.copytree(bundled_env, tmp_path / "icons")
    monkeypatch.setenv(assets.ENV, str(folder))
    written = write_sampling(folder / "dallebart", {"condition_scale": 3.0, "top_k": 4})
    assert json.loads(written.read_text()) == {"do_sample": True, "guidance_scale": 3.0, "top_k": 4}

    g = plan_run(load_settings()).settings.generate
    assert (g.condition_scale, g.top_k, g.temperature) == (3.0, 4, 1.0)
    assert plan_run(load_settings(overrides={"generate": {"model": "bundled"}})).settings.generate.top_k == 4
    monkeypatch.setenv("BLOGART_GENERATE__TOP_K", "16")  # any setting of the user's wins
    g = plan_run(load_settings(overrides={"generate": {"condition_scale": 7.5}})).settings.generate
    assert (g.condition_scale, g.top_k) == (7.5, 16)
    monkeypatch.delenv("BLOGART_GENERATE__TOP_K")
    mega = plan_run(load_settings(overrides={"generate": {"model": "dalle-mega"}})).settings.generate
    assert (mega.condition_scale, mega.top_k) == (10.0, 50)  # only the bundled model's folder counts

    # the manifest records what was drawn with, so `regenerate` redraws the same images
    out = tmp_path / "out"
    args = ["generate", str(EXAMPLES / "sourdough.md"), "-n", "1", "--no-rank", "--out", str(out), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    recorded = json.loads(result.stdout)["settings"]["generate"]
    assert (recorded["condition_scale"], recorded["top_k"]) == (3.0, 4)

    (folder / "dallebart" / FILE).write_text('{"guidance_scale": -1}')
    result = runner.invoke(app, [*args[:-2], str(tmp_path / "out2")])
    assert result.exit_code != 0 and "generation_config.json" in result.output
    assert "guidance_scale" in result.output and "Traceback" not in result.output


def test_without_any_model_auto_is_dalle_mini_and_its_pull_command(tmp_path):
    # conftest points BLOGART_ASSETS at a folder that does not exist
    defaults = plan_run(load_settings())
    assert defaults.settings.generate.model == "dalle-mini" and defaults.notice is None
    result = runner.invoke(app, ["generate", str(EXAMPLES / "sourdough.md"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "blogart models pull dalle-mini" in result.output
    assert not (tmp_path / "out").exists()


# -- the prompt writer ----------------------------------------------------------------------------------------


def test_topics_become_the_nearest_concepts_in_one_caption():
    writer = IconPromptWriter(CONCEPTS)
    style = get_style("illustration")
    topics = _topics("AI contract review", "legal documents", "fairness", "machine learning")
    prompt = writer.write(topics, "Contracts, reviewed by machines", style, ["people"])
    names = [c.name for c in writer.choose(topics)]
    assert names == ["robot", "page", "balance scale"]  # one per topic, in topic order, at most three
    background = writer.background(style, "Contracts, reviewed by machines", writer.choose(topics))
    assert prompt.text == caption(writer.choose(topics), background, "row")
    assert prompt.text.startswith("a robot, a page and a balance scale on ") and prompt.text.endswith("left to right")
    assert prompt.writer == "icons" and prompt.negative[-1] == "people" and "photo" in prompt.negative
    # Deterministic: the same post gives the same prompt (in a fresh writer too).
    assert IconPromptWriter(CONCEPTS).write(topics, "Contracts, reviewed by machines", style).text == prompt.text
    # A style that implies a background sets it.
    sketch = writer.write(topics, "Contracts, reviewed by machines", get_style("pencil-sketch"))
    assert sketch.text.endswith("on a white background, left to right")


def test_topics_below_the_floor_or_already_drawn_add_nothing():
    writer = IconPromptWriter(CONCEPTS)
    # "crust" is nearest to "crab" by a hair over "bread", which is already drawn: the post is about bread.
    assert [c.name for c in writer.choose(_topics("sourdough bread", "baking", "crust", "flour"))] == ["bread"]
    # Nothing in the vocabulary is near these topics: the one concept nearest the title stands in.
    unrelated = _topics("kubernetes autoscaling", "pod replicas")
    scores = writer.embed([t.phrase for t in unrelated.topics]) @ writer._concept_matrix().T
    assert scores.max() < FLOOR
    chosen = writer.choose(unrelated, "Launch day: shipping our startup")
    assert [c.name for c in chosen] == ["rocket"]
    with pytest.raises(InputError, match="nothing to draw"):
        writer.choose(KeyTopics((), ""), "")


def test_the_prompt_fits_the_token_budget_by_dropping_the_last_concepts():
    words = IconPromptWriter(CONCEPTS, count_tokens=lambda text: len(text.split()))
    topics = _topics("AI contract review", "legal documents", "fairness")
    prompt = words.write(topics, "t", get_style("photo"), max_tokens=12)
    assert prompt.tokens <= 12 and prompt.text.startswith("a robot and a page on a ")
    with pytest.raises(InputError, match="no concepts"):
        IconPromptWriter([])


def test_stored_concept_vectors_stand_in_for_embedding_the_vocabulary(tmp_path):
    from blogart.llm.embeddings import embed, model_id

    fresh = embed([concept_text(c) for c in CONCEPTS])
    stored = tmp_path / "concept_vectors.npz"
    save_concept_vectors(stored, CONCEPTS, fresh, model_id())
    vectors = load_concept_vectors(stored, CONCEPTS, model_id())
    assert vectors is not None and vectors.dtype == np.float32
    assert np.min(np.sum(vectors * fresh, axis=1)) > 0.999  # float16 storage, same directions
    topics = _topics("AI contract review", "legal documents", "fairness")
    with_file = IconPromptWriter(CONCEPTS, concept_vectors=vectors, embed=embed)
    assert [c.name for c in with_file.choose(topics)] == ["robot", "page", "balance scale"]

    def never(texts):  # the stored matrix means the vocabulary is never embedded again
        assert len(texts) < len(CONCEPTS), "the concept vocabulary was embedded"
        return embed(texts)

    assert IconPromptWriter(CONCEPTS, embed=never, concept_vectors=vectors).choose(topics) == with_file.choose(topics)
    # Another vocabulary, another model, or no file: nothing stored fits, so the writer embeds.
    assert load_concept_vectors(stored, CONCEPTS[:-1], model_id()) is None
    assert load_concept_vectors(stored, CONCEPTS, "another-minilm") is None
    assert load_concept_vectors(tmp_path / "absent.npz", CONCEPTS, model_id()) is None
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    assert load_concept_vectors(tmp_path / "broken.npz", CONCEPTS, model_id()) is None


def test_the_packaged_concept_vectors_fit_the_packaged_concepts():
    """A recipe export that forgot them, or concepts edited by hand, would cost every prompt ~2 s."""
    from blogart.llm.embeddings import model_id
    from blogart.prompts.icons import load_concepts

    packaged = assets.BundledModel(assets.package_dir())
    if not packaged.concepts.is_file():
        pytest.skip("the packaged bundled model is not built yet")
    concepts = load_concepts(packaged.concepts)
    assert load_concept_vectors(packaged.concept_vectors, concepts, model_id()) is not None


# -- generate end to end --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_generate_draws_with_the_bundled_model_by_default(bundled_env, tmp_path):
    from PIL import Image

    from blogart.generators.dalle.generator import DalleGenerator

    args = ["generate", str(EXAMPLES / "sourdough.md"), "-n", "2", "--out", str(tmp_path / "out"), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    notice = [line for line in result.stderr.splitlines() if "bundled icon model" in line]
    assert len(notice) == 1 and PULL_COMMAND in notice[0]
    manifest = json.loads(result.stdout)
    assert manifest["generator"] == "bundled" and manifest["ranked"] is True
    assert manifest["models"]["weights"]["checkpoint"] == str(bundled_env / "dallebart")
    assert manifest["models"]["ranker"] == "bundled-icons-clip"
    text = manifest["text"]
    assert text["writer"] == "icons" and "bread" in text["prompt"] and text["prompt"].startswith("a bread")
    # Counted with the bundled model's own BPE tokenizer, as for any DalleBart folder.
    generator = DalleGenerator("bundled", bundled_env / "dallebart", bundled_env / "vqgan")
    assert text["prompt_tokens"] == generator.count_tokens(text["prompt"])
    assert sorted(c["rank"] for c in manifest["candidates"]) == [1, 2]
    with Image.open(manifest["cover"]) as cover:
        assert cover.size[0] == cover.size[1] >= 32  # the tiny VQGAN draws 32x32

    # `blogart prompt` shows the prompt `generate` used.
    shown = runner.invoke(app, ["prompt", str(EXAMPLES / "sourdough.md"), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["prompt"] == text["prompt"]


@pytest.mark.slow
def test_a_checkpoint_on_the_command_line_means_dalle_mini(bundled_env, tiny_dalle, tmp_path):
    checkpoint, vqgan = tiny_dalle
    args = ["generate", str(EXAMPLES / "sourdough.md"), "--checkpoint", str(checkpoint), "--vqgan", str(vqgan)]
    result = runner.invoke(app, [*args, "-n", "1", "--no-rank", "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    assert "bundled icon model" not in result.stderr
    manifest = json.loads(result.stdout)
    assert manifest["generator"] == "dalle-mini" and manifest["text"]["writer"] == "templates"


# -- models list / verify / path ------------------------------------------------------------------------------


def test_models_list_verify_and_path_know_the_bundled_model(bundled_env):
    listed = runner.invoke(app, ["models", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "bundled")
    assert row["installed"] and row["path"] == str(bundled_env) and row["source"] == "BLOGART_ASSETS"
    assert row["size_bytes"] == assets.bundled().size_bytes() and row["recipe"]["seed"] == 3
    table = runner.invoke(app, ["models", "list"])
    assert table.exit_code == 0 and "bundled" in table.stdout

    verified = runner.invoke(app, ["models", "verify", "bundled", "--json"])
    assert verified.exit_code == 0, verified.output
    reports = {r["name"]: r for r in json.loads(verified.stdout)}
    assert set(reports) == {"bundled/dallebart", "bundled/vqgan", "bundled/clip", "bundled/concepts"}
    assert all(r["ok"] for r in reports.values())
    assert reports["bundled/dallebart"]["tensors"] > 0 and "float16" in reports["bundled/dallebart"]["warnings"][0]
    everything = runner.invoke(app, ["models", "verify"])  # no target: every installed model, bundled included
    assert everything.exit_code == 0 and "bundled/vqgan: ok" in everything.stdout

    assert runner.invoke(app, ["models", "path", "bundled"]).stdout.strip() == str(bundled_env)
    pulled = runner.invoke(app, ["models", "pull", "bundled"])
    assert pulled.exit_code == UsageError.exit_code and "never pulled" in pulled.output


def test_verify_names_what_a_broken_bundled_folder_lacks(bundled_env, tmp_path, monkeypatch):
    import shutil

    broken = tmp_path / "icons"
    shutil.copytree(bundled_env, broken)
    (broken / "concepts.json").write_text('{"concepts": [{"name": "x"}]}')
    monkeypatch.setenv(assets.ENV, str(broken))
    result = runner.invoke(app, ["models", "verify", "bundled"])
    assert result.exit_code == 1 and "bundled/concepts: BROKEN" in result.stdout
    (broken / "vqgan" / "config.json").unlink()
    missing = runner.invoke(app, ["models", "verify", "bundled"])
    assert missing.exit_code == 1 and "lacks vqgan/config.json" in missing.output


# -- float16 on disk, compute dtype in memory -----------------------------------------------------------------


def test_float16_weights_load_in_the_compute_dtype(bundled_env):
    import jax
    import torch

    from blogart.models.clip import ClipModel, resolve_clip
    from blogart.models.dalle.checkpoint import load_dallebart, read_msgpack_tree
    from blogart.models.dalle.vqgan import load_vqgan

    model = assets.require()
    stored = read_msgpack_tree(model.dallebart / "flax_model.msgpack")
    assert {dtype for _, dtype in stored.values()} == {"float16"}
    for dtype in ("float32", "bfloat16"):
        bart = load_dallebart(model.dallebart, dtype)
        vq = load_vqgan(model.vqgan, dtype)
        leaves = jax.tree_util.tree_leaves(bart.params) + jax.tree_util.tree_leaves(vq.params)
        assert {str(leaf.dtype) for leaf in leaves} == {dtype}
    clip = ClipModel.load(resolve_clip(f"local-dir:{model.clip}"))
    assert {p.dtype for p in clip.model.parameters()} == {torch.float32}
    assert np.isfinite(clip.encode_texts(["a robot on a blue background"])).all()


# -- the real packaged model ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_generate_on_the_packaged_model_offline(tmp_path, own_metadata):
    """Once the recipe's export is committed under src/blogart/assets/icons, this must run, never skip."""
    packaged = assets.BundledModel(assets.package_dir())
    if packaged.missing():
        pytest.skip(
            f"the packaged bundled model is not built yet ({packaged.missing()[0]} missing): "
            "run recipes/icons/run.sh and commit its export to src/blogart/assets/icons"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BLOGART_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(own_metadata)]),
        BLOGART_HOME=str(tmp_path / "home"),
        HF_HOME=str(tmp_path / "hf-home"),  # an empty cache: no DALL-E Mini, no LAION CLIP
        HF_HUB_OFFLINE="1",
        HTTPS_PROXY="http://127.0.0.1:9",  # any download attempt fails instead of reaching out
        HTTP_PROXY="http://127.0.0.1:9",
    )
    for post in sorted(EXAMPLES.glob("*.md")):
        out = tmp_path / "out" / post.stem
        command = [sys.executable, "-m", "blogart", "generate", str(post), "-n", "4", "--out", str(out), "--json"]
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stderr.count(PULL_COMMAND) == 1
        manifest = json.loads(done.stdout)
        assert manifest["generator"] == "bundled" and manifest["ranked"] is True
        assert manifest["models"]["ranker"] == "bundled-icons-clip"
        ranked = sorted(manifest["candidates"], key=lambda c: c["rank"])
        assert len(ranked) == 4 and manifest["cover"] == ranked[0]["path"]
        assert ranked[0]["score"] >= ranked[-1]["score"]
        from PIL import Image

        with Image.open(manifest["cover"]) as cover:
            assert cover.size[0] >= 128 and cover.size[1] >= 128
