"""The diffusers generators on a tiny random SD-Turbo-shaped pipeline in the HF cache layout (tests/tiny_diffusers.py),
loaded through diffusers' real from_pretrained: seeds, batching, negative prompt, manifest, regenerate, pull, verify."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blogart.cli import app

POSTS = Path(__file__).parent / "data" / "posts"
runner = CliRunner()


@pytest.fixture(scope="session")
def sd_turbo_cache(tmp_path_factory):
    """(HF hub cache holding the tiny sd-turbo, dist-info folder with this checkout's entry points)."""
    from tiny_bundled import install_own_metadata
    from tiny_diffusers import make_tiny_sd_turbo, make_tiny_taesd

    root = tmp_path_factory.mktemp("diffusers")
    make_tiny_sd_turbo(root / "hub")
    make_tiny_taesd(root / "hub")
    return root / "hub", install_own_metadata(root / "metadata")


@pytest.fixture
def sd_turbo_env(sd_turbo_cache, monkeypatch):
    hub, metadata = sd_turbo_cache
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("BLOGART_DIFFUSION__THREADS", "1")  # tiny ops: a second thread only waits on a shared machine
    monkeypatch.setenv("BLOGART_DIFFUSION__DTYPE", "float32")  # not "auto": that depends on the CPU the tests run on
    monkeypatch.syspath_prepend(str(metadata))
    return hub


def _snapshot(hub: Path) -> Path:
    from tiny_diffusers import REVISION

    return hub / "models--stabilityai--sd-turbo" / "snapshots" / REVISION


def _generator(**diffusion):
    from blogart import plugins
    from blogart.config import load_settings

    settings = load_settings(overrides={"generate": {"model": "sd-turbo"}, "diffusion": diffusion})
    return plugins.create("generators", "sd-turbo", plugins.Context(settings))


def _pixels(png: bytes):
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def test_image_i_is_the_same_bytes_whatever_n_and_batch_size(sd_turbo_env):
    from blogart.values import GenerationRequest

    one = _generator().generate(GenerationRequest("a cat on the mat", n=1, seed=7))
    batched = _generator()
    batched.batch_size = 4
    four = batched.generate(GenerationRequest("a cat on the mat", n=4, seed=7))
    assert [d.index for d in four] == [0, 1, 2, 3] and {d.seed for d in four} == {7}
    assert one[0].png == four[0].png
    assert len({d.png for d in four}) == 4  # each image its own noise
    assert _generator().generate(GenerationRequest("a cat on the mat", n=2, seed=7))[1].png == four[1].png
    assert _generator().generate(GenerationRequest("a cat on the mat", n=1, seed=8))[0].png != one[0].png


def test_batched_drawing_without_exact_differs_only_by_rounding(sd_turbo_env):
    from blogart.values import GenerationRequest

    exact = _generator().generate(GenerationRequest("a red sea", n=3, seed=1))
    fast = _generator(exact=False)
    fast.generate(GenerationRequest("a red sea", n=1, seed=1))  # loads the pipeline
    batches: list[int] = []
    fast._pipe.unet.register_forward_hook(lambda module, args, out: batches.append(args[0].shape[0]))
    drawn = fast.generate(GenerationRequest("a red sea", n=3, seed=1))
    assert batches == [3]  # one UNet pass for the three images
    for a, b in zip(exact, drawn, strict=True):
        assert abs(_pixels(a.png) - _pixels(b.png)).max() <= 1


def test_the_negative_prompt_reaches_the_pipeline_when_guidance_is_on(sd_turbo_env):
    from blogart.values import GenerationRequest

    guided = _generator(guidance=2.0, steps=2)
    plain = guided.generate(GenerationRequest("a lighthouse", negative_prompt="", n=1, seed=3))[0]
    negative = guided.generate(GenerationRequest("a lighthouse", negative_prompt="blurry text", n=1, seed=3))[0]
    assert plain.png != negative.png and negative.negative_prompt == "blurry text"
    # Without guidance (the turbo default) there is no unconditional branch for it to steer.
    turbo = _generator()
    a = turbo.generate(GenerationRequest("a lighthouse", negative_prompt="", n=1, seed=3))[0]
    b = turbo.generate(GenerationRequest("a lighthouse", negative_prompt="blurry text", n=1, seed=3))[0]
    assert a.png == b.png


def test_describe_records_model_revision_scheduler_and_settings(sd_turbo_env):
    from tiny_diffusers import REVISION

    generator = _generator(width=48, height=32)
    described = generator.describe()
    assert described["model"] == "stabilityai/sd-turbo" and described["revision"] == REVISION
    assert described["checkpoint"] == str(_snapshot(sd_turbo_env))
    assert described["pipeline"] == "StableDiffusionPipeline"
    assert described["scheduler"] == "EulerDiscreteScheduler"
    assert (described["steps"], described["guidance"], described["torch_dtype"]) == ("1", "0.0", "float32")
    assert (described["width"], described["height"], described["device"]) == ("48", "32", "cpu")
    assert int(described["threads"]) >= 1
    assert _generator(width=48).describe()["height"] == "48"  # one side given: a square
    from PIL import Image

    from blogart.values import GenerationRequest

    drawing = generator.generate(GenerationRequest("a cat", n=1))[0]
    assert Image.open(io.BytesIO(drawing.png)).size == (48, 32)
    assert generator.count_tokens("a cat on the mat") == 7 and generator.max_prompt_tokens() == 77


def test_generate_end_to_end_ranks_moderates_and_regenerates_byte_for_byte(sd_turbo_env, tiny_ranker, tmp_path):
    args = ["generate", str(POSTS / "tidepools.txt"), "--model", "sd-turbo", "-n", "3", "--seed", "4"]
    result = runner.invoke(app, [*args, "--backend", "local", "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["generator"] == "sd-turbo" and manifest["ranked"] is True
    weights = manifest["models"]["weights"]
    assert weights["model"] == "stabilityai/sd-turbo" and weights["scheduler"] == "EulerDiscreteScheduler"
    rows = sorted(manifest["candidates"], key=lambda c: c["index"])
    assert [(c["seed"], c["index"]) for c in rows] == [(4, 0), (4, 1), (4, 2)]
    assert sorted(c["rank"] for c in rows) == [1, 2, 3]
    assert all(c["flags"] == [] and c["score"] is not None for c in rows)  # ranked, and moderation passed them
    assert manifest["settings"]["diffusion"]["exact"] is True
    assert manifest["text"]["prompt"].endswith(".")  # written as a sentence, for a diffusion model

    manifest_path = next((tmp_path / "out").glob("*/manifest.json"))
    again = runner.invoke(app, ["regenerate", str(manifest_path), "--out", str(tmp_path / "redrawn"), "--json"])
    assert again.exit_code == 0, again.output
    assert all(r["same_bytes"] for r in json.loads(again.stdout)), again.stdout


def test_regenerate_restores_the_recorded_diffusion_settings(sd_turbo_env, tmp_path, monkeypatch):
    args = ["generate", str(POSTS / "tidepools.txt"), "--model", "sd-turbo", "-n", "1", "--no-rank"]
    monkeypatch.setenv("BLOGART_DIFFUSION__STEPS", "2")
    result = runner.invoke(app, [*args, "--backend", "local", "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    monkeypatch.delenv("BLOGART_DIFFUSION__STEPS")  # the manifest, not today's settings, says 2 steps
    manifest_path = next((tmp_path / "out").glob("*/manifest.json"))
    again = runner.invoke(app, ["regenerate", str(manifest_path), "--json"])
    assert again.exit_code == 0, again.output
    assert all(r["same_bytes"] for r in json.loads(again.stdout))


def test_auto_dtype_is_bfloat16_only_where_it_is_computed_natively():
    from blogart.generators.diffusion import resolve_dtype

    avx2 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n"
    zen4 = "flags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"
    sapphire = "flags\t\t: avx2 avx512f amx_tile amx_bf16\n"
    assert resolve_dtype("auto", "cpu", "torch", avx2) == "float32"
    assert resolve_dtype("auto", "cpu", "torch", zen4) == "bfloat16"
    assert resolve_dtype("auto", "cpu", "torch", sapphire) == "bfloat16"
    assert resolve_dtype("auto", "cpu", "openvino", zen4) == "float32"  # OpenVINO runs float32
    assert resolve_dtype("auto", "cuda", "torch", avx2) == "bfloat16"
    assert resolve_dtype("float32", "cpu", "torch", zen4) == "float32"
    assert resolve_dtype("auto", "cpu", "torch", "") == "float32"  # no /proc/cpuinfo: the safe choice


@pytest.mark.parametrize("drawn", ["bfloat16", "float32"])
def test_regenerate_draws_in_the_dtype_the_run_used(sd_turbo_env, tmp_path, monkeypatch, drawn):
    """A run whose dtype was "auto" regenerates in the dtype auto resolved to where it was drawn, whatever auto
    resolves to here (bf16 on one host, float32 on another: one of the two cases differs on every machine)."""
    args = ["generate", str(POSTS / "tidepools.txt"), "--model", "sd-turbo", "-n", "1", "--no-rank"]
    monkeypatch.setenv("BLOGART_DIFFUSION__DTYPE", drawn)
    result = runner.invoke(app, [*args, "--backend", "local", "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["models"]["weights"]["torch_dtype"] == drawn
    manifest_path = next((tmp_path / "out").glob("*/manifest.json"))
    manifest = json.loads(manifest_path.read_text())
    manifest["settings"]["diffusion"]["dtype"] = "auto"  # as a run on the defaults records it
    manifest_path.write_text(json.dumps(manifest))
    monkeypatch.delenv("BLOGART_DIFFUSION__DTYPE")
    again = runner.invoke(app, ["regenerate", str(manifest_path), "--json"])
    assert again.exit_code == 0, again.output
    assert all(r["same_bytes"] for r in json.loads(again.stdout))


def test_a_diffusers_folder_by_path(sd_turbo_env, tmp_path):
    from blogart import plugins
    from blogart.config import load_settings

    folder = shutil.copytree(_snapshot(sd_turbo_env), tmp_path / "my-pipeline")
    name = f"diffusers:{folder}"
    settings = load_settings(overrides={"generate": {"model": name}})
    generator = plugins.create("generators", name, plugins.Context(settings))
    assert generator.name == name and generator.describe()["checkpoint"] == str(folder)
    missing = load_settings(overrides={"generate": {"model": "diffusers:./nowhere"}})
    with pytest.raises(Exception, match="does not exist"):
        plugins.create("generators", "diffusers:./nowhere", plugins.Context(missing))


def test_models_list_path_and_verify_know_sd_turbo(sd_turbo_env):
    listed = runner.invoke(app, ["models", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "sd-turbo")
    assert row["installed"] and row["path"] == str(_snapshot(sd_turbo_env)) and "Stability" in row["licence"]
    z = next(r for r in json.loads(listed.stdout) if r["name"] == "z-image-turbo")
    assert not z["installed"] and z["licence"] == "Apache-2.0"
    path = runner.invoke(app, ["models", "path", "sd-turbo"])
    assert path.stdout.strip() == str(_snapshot(sd_turbo_env))
    verified = runner.invoke(app, ["models", "verify", "sd-turbo", "--json"])
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)[0]
    assert report["ok"] and report["kind"] == "diffusers" and report["tensors"] > 50


@pytest.mark.parametrize("damage", ["truncated", "reshaped", "no-vae"])
def test_verify_catches_a_broken_pipeline_folder(sd_turbo_env, tmp_path, damage):
    folder = shutil.copytree(_snapshot(sd_turbo_env), tmp_path / "broken")
    if damage == "truncated":
        weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
        weights.write_bytes(weights.read_bytes()[:-100])
        expected = "truncated"
    elif damage == "reshaped":
        config = json.loads((folder / "vae" / "config.json").read_text())
        config["latent_channels"] = 8
        (folder / "vae" / "config.json").write_text(json.dumps(config))
        expected = "its config says"
    else:
        shutil.rmtree(folder / "vae")
        expected = "missing vae/"
    result = runner.invoke(app, ["models", "verify", str(folder)])
    assert result.exit_code == 1 and "BROKEN" in result.output and expected in result.output, result.output
    # And generating with it fails in one line, before any drawing.
    name = f"diffusers:{folder}"
    drawn = runner.invoke(app, ["generate", str(POSTS / "tidepools.txt"), "-m", name, "--backend", "local"])
    said = "vae/" if damage == "no-vae" else expected
    assert drawn.exit_code != 0 and said in drawn.output and "Traceback" not in drawn.output
    assert drawn.output.startswith("error:") and len(drawn.output.strip().splitlines()) == 1


def test_models_pull_refuses_offline_in_one_line(sd_turbo_env, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    result = runner.invoke(app, ["models", "pull", "sd-turbo"])
    assert result.exit_code != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "offline" in errors[0] and "stabilityai/sd-turbo" in errors[0], result.stderr
    assert "Traceback" not in result.output


def test_auto_prefers_a_pulled_diffusers_model_and_says_so(sd_turbo_env, monkeypatch):
    from blogart.config import load_settings
    from blogart.pipeline.plan import plan_run

    plan = plan_run(load_settings())
    assert plan.generator == "sd-turbo" and plan.writer == "templates"
    assert "sd-turbo" in plan.notice and "blogart models pull z-image-turbo" in plan.notice
    named = plan_run(load_settings(overrides={"generate": {"model": "dalle-mini"}}))
    assert named.generator == "dalle-mini" and named.notice is None  # what the user names wins
    monkeypatch.setenv("HF_HUB_CACHE", str(sd_turbo_env.parent / "elsewhere"))
    assert plan_run(load_settings()).generator == "dalle-mini"  # no weights: as before


def test_the_template_writer_writes_sentences_for_a_diffusion_model(sd_turbo_env):
    from blogart.config import load_settings
    from blogart.pipeline.plan import open_session
    from blogart.prompts.builder import TemplatePromptWriter
    from blogart.values import KeyTopics, StylePreset, Topic

    topics = KeyTopics(tuple(Topic(p, "") for p in ("sourdough bread", "starter jar", "kitchen scale")), "")
    style = StylePreset("watercolor", "", "watercolor, soft light", ("text",))
    sentence = TemplatePromptWriter(sentences=True).write(topics, "", style, [], 77)
    assert sentence.text == "Sourdough bread with starter jar and kitchen scale. Watercolor, soft light."
    phrases = TemplatePromptWriter().write(topics, "", style, [], 64)
    assert phrases.text == "sourdough bread, starter jar, kitchen scale, watercolor, soft light"
    # The run's writers learn the generator's style through the session.
    session = open_session(load_settings()).for_generator(_generator())
    assert session.context.prompt_style == "sentence" and session.max_tokens == 77
    writer = session.create("prompt_writers", "templates")
    assert writer.write(topics, "", style, [], 77).text == sentence.text


def test_the_llm_writer_asks_for_sentences_for_a_diffusion_model():
    from blogart.prompts.openai_writer import OpenAIPromptWriter
    from blogart.values import KeyTopics, StylePreset, Topic

    topics, style = KeyTopics((Topic("tide pools", ""),), ""), StylePreset("photo", "", "photo")
    for sentences, says in ((True, "plain sentences"), (False, "comma-separated phrases")):
        writer = OpenAIPromptWriter(client=None, examples=[], sentences=sentences)
        assert says in writer.messages(topics, "", style, 77)[0]["content"]


def test_the_tiny_vae_decodes_in_place_of_the_pipelines_and_is_recorded(sd_turbo_env, tmp_path, monkeypatch):
    from blogart.values import GenerationRequest

    request = GenerationRequest("a lighthouse", n=1, seed=2)
    full = _generator().generate(request)[0]
    tiny = _generator(tiny_vae=True)
    drawn = tiny.generate(request)[0]
    assert drawn.png != full.png and _pixels(drawn.png).shape == _pixels(full.png).shape
    assert tiny.describe()["vae"].endswith("models--madebyollin--taesd/snapshots/" + "0" * 40)
    assert _generator(tiny_vae=True).generate(request)[0].png == drawn.png

    # Through the CLI: recorded in the manifest, and regenerate decodes with it again.
    monkeypatch.setenv("BLOGART_DIFFUSION__TINY_VAE", "true")
    args = ["generate", str(POSTS / "tidepools.txt"), "-m", "sd-turbo", "-n", "1", "--no-rank", "--backend", "local"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    monkeypatch.delenv("BLOGART_DIFFUSION__TINY_VAE")
    again = runner.invoke(app, ["regenerate", str(next((tmp_path / "out").glob("*/manifest.json"))), "--json"])
    assert again.exit_code == 0 and all(r["same_bytes"] for r in json.loads(again.stdout)), again.output


def test_verify_accepts_a_checkpoint_with_an_unused_buffer_or_its_base_prefix(sd_turbo_env, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    from blogart.models.diffusion import verify_pipeline

    folder = shutil.copytree(_snapshot(sd_turbo_env), tmp_path / "older")
    weights = folder / "text_encoder" / "model.safetensors"
    tensors = load_file(weights)
    # Older text encoders carry position_ids, which loading skips; some save without the "text_model." prefix.
    tensors["text_model.embeddings.position_ids"] = torch.arange(77)[None]
    save_file(tensors, weights)
    report = verify_pipeline(folder)
    assert report.ok and "position_ids" in report.warnings[0]
    save_file({k.removeprefix("text_model."): v for k, v in load_file(weights).items()}, weights)
    assert verify_pipeline(folder).ok


def test_the_openvino_runtime_draws_torchs_pictures_the_same_bytes_every_run(sd_turbo_env):
    from blogart.config import user_dir
    from blogart.values import GenerationRequest

    request = GenerationRequest("a lighthouse", n=2, seed=5)
    torch_drawn = _generator().generate(request)
    openvino = _generator(runtime="openvino")
    drawn = openvino.generate(request)
    for a, b in zip(torch_drawn, drawn, strict=True):  # other kernels, the same network: rounding apart
        assert abs(_pixels(a.png) - _pixels(b.png)).max() <= 2
    described = openvino.describe()
    assert described["runtime"] == "openvino" and described["openvino"]
    (entry,) = (user_dir() / "openvino").iterdir()
    converted = {p.name: p.stat().st_mtime_ns for p in entry.iterdir()}
    assert sorted(converted) == sorted(f"{n}.{x}" for n in ("decoder", "text_encoder", "unet") for x in ("bin", "xml"))

    again = _generator(runtime="openvino").generate(request)  # a new process would read the same IR
    assert [d.png for d in again] == [d.png for d in drawn]
    assert {p.name: p.stat().st_mtime_ns for p in entry.iterdir()} == converted  # read, not converted again

    # Classifier-free guidance doubles the UNet's batch; the converted networks take any batch.
    guided = GenerationRequest("a lighthouse", negative_prompt="blurry text", n=1, seed=5)
    a = _generator(guidance=2.0, steps=2).generate(guided)[0]
    b = _generator(guidance=2.0, steps=2, runtime="openvino").generate(guided)[0]
    assert abs(_pixels(a.png) - _pixels(b.png)).max() <= 2


def test_an_openvino_run_regenerates_byte_for_byte_and_refuses_a_gpu_dtype(sd_turbo_env, tmp_path, monkeypatch):
    args = ["generate", str(POSTS / "tidepools.txt"), "-m", "sd-turbo", "-n", "1", "--no-rank", "--backend", "local"]
    monkeypatch.setenv("BLOGART_DIFFUSION__RUNTIME", "openvino")
    monkeypatch.setenv("BLOGART_DIFFUSION__TINY_VAE", "true")
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["settings"]["diffusion"]["runtime"] == "openvino"
    assert manifest["models"]["weights"]["runtime"] == "openvino"
    monkeypatch.delenv("BLOGART_DIFFUSION__RUNTIME")  # the manifest, not today's settings, says openvino
    monkeypatch.delenv("BLOGART_DIFFUSION__TINY_VAE")
    again = runner.invoke(app, ["regenerate", str(next((tmp_path / "out").glob("*/manifest.json"))), "--json"])
    assert again.exit_code == 0 and all(r["same_bytes"] for r in json.loads(again.stdout)), again.output

    monkeypatch.setenv("BLOGART_DIFFUSION__RUNTIME", "openvino")
    monkeypatch.setenv("BLOGART_DIFFUSION__DTYPE", "bfloat16")
    refused = runner.invoke(app, [*args, "--out", str(tmp_path / "bf16")])
    assert refused.exit_code != 0 and "runs on a CPU in float32" in refused.output
    assert "Traceback" not in refused.output and len(refused.output.strip().splitlines()) == 1


def test_openvino_is_imported_with_its_telemetry_off(tmp_path):
    """openvino's import starts usage telemetry (events sent from a forked process) unless the user opted out;
    blogart's import turns it off. The control asks the telemetry's own consent check, without importing
    openvino (which would send), what a plain import would decide in the same environment."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    env["HOME"] = str(tmp_path)  # no consent file: the telemetry's own default applies
    ours = (
        "from blogart.generators.diffusion_openvino import import_openvino; import_openvino(); import os; "
        "import openvino_telemetry as t; print(t.Telemetry().consent, os.environ.get('CI'))"
    )
    plain = (
        "from openvino_telemetry.utils.opt_in_checker import OptInChecker as C; "
        "print(C().check(enable_opt_in_dialog=False, disable_in_ci=True).name)"  # as openvino's own import asks
    )
    run = [subprocess.run([sys.executable, "-c", c], env=env, capture_output=True, text=True) for c in (ours, plain)]
    assert [r.stdout.strip() for r in run] == ["False None", "NO_FILE"], [r.stderr[-500:] for r in run]
    assert not (tmp_path / "intel").exists()  # nothing written into the user's home


def test_counting_tokens_in_another_thread_never_unpads_the_pipelines_prompt(sd_turbo_env):
    """The counting tokenizer is never the pipeline's: the pipeline pads to max_length while a batch
    engine counts the next post's tokens in another thread."""
    from threads import while_calling

    gen = _generator()
    tokenizer = gen._load().tokenizer
    assert gen._tokenizer_side() is not tokenizer
    longest = tokenizer.model_max_length
    lengths = while_calling(
        lambda: gen.count_tokens("a loaf of sourdough bread on a wooden table"),
        lambda: {len(tokenizer(f"bread {i}", padding="max_length", max_length=longest).input_ids) for i in range(3000)},
    )
    assert lengths == {tokenizer.model_max_length}


@pytest.fixture(scope="session")
def z_image_cache(tmp_path_factory, sd_turbo_cache):
    """An HF cache holding a tiny random pipeline in Z-Image-Turbo's layout (transformer, Qwen3, chat template)."""
    from tiny_diffusers import make_tiny_z_image

    hub = tmp_path_factory.mktemp("z-image") / "hub"
    make_tiny_z_image(hub)
    return hub, sd_turbo_cache[1]


@pytest.fixture
def z_image_env(z_image_cache, monkeypatch):
    from tiny_diffusers import SIZE

    hub, metadata = z_image_cache
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("BLOGART_DIFFUSION__THREADS", "1")
    monkeypatch.setenv("BLOGART_DIFFUSION__WIDTH", str(SIZE))
    monkeypatch.setenv("BLOGART_DIFFUSION__DTYPE", "float32")
    monkeypatch.setenv("BLOGART_DIFFUSION__STEPS", "3")
    monkeypatch.syspath_prepend(str(metadata))
    return hub


def test_z_image_turbo_draws_end_to_end_and_regenerates_byte_for_byte(z_image_env, tiny_ranker, tmp_path):
    from tiny_diffusers import REVISION, SIZE

    verified = runner.invoke(app, ["models", "verify", "z-image-turbo", "--json"])
    assert verified.exit_code == 0 and json.loads(verified.stdout)[0]["ok"], verified.output

    args = ["generate", str(POSTS / "tidepools.txt"), "--model", "z-image-turbo", "-n", "2", "--seed", "5"]
    result = runner.invoke(app, [*args, "--backend", "local", "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    weights = manifest["models"]["weights"]
    assert (weights["model"], weights["revision"]) == ("Tongyi-MAI/Z-Image-Turbo", REVISION)
    assert (weights["pipeline"], weights["scheduler"]) == ("ZImagePipeline", "FlowMatchEulerDiscreteScheduler")
    assert (weights["steps"], weights["guidance"]) == ("3", "0.0")  # the card's guidance, the steps asked for
    rows = sorted(manifest["candidates"], key=lambda c: c["index"])
    assert [(c["seed"], c["index"], c["flags"]) for c in rows] == [(5, 0, []), (5, 1, [])]
    pictures = [Path(c["path"]) for c in rows]
    from PIL import Image

    assert {Image.open(p).size for p in pictures} == {(SIZE, SIZE)}
    assert pictures[0].read_bytes() != pictures[1].read_bytes()

    manifest_path = next((tmp_path / "out").glob("*/manifest.json"))
    again = runner.invoke(app, ["regenerate", str(manifest_path), "--out", str(tmp_path / "re"), "--json"])
    assert again.exit_code == 0, again.output
    assert all(r["same_bytes"] for r in json.loads(again.stdout)), again.stdout


def test_the_openvino_runtime_refuses_a_transformer_pipeline_in_one_line(z_image_env, tmp_path, monkeypatch):
    monkeypatch.setenv("BLOGART_DIFFUSION__RUNTIME", "openvino")
    args = ["generate", str(POSTS / "tidepools.txt"), "-m", "z-image-turbo", "-n", "1", "--no-rank"]
    result = runner.invoke(app, [*args, "--backend", "local", "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "has no unet" in errors[0] and "runtime = 'torch'" in errors[0], result.output
    assert not list((tmp_path / "out").glob("*/manifest.json"))


@pytest.mark.parametrize(
    ("width", "said"),
    [("40", "cannot draw with these [diffusion] settings: Height must be divisible by 16"), ("30", "multiple of 8")],
)
def test_a_size_the_model_cannot_draw_is_one_line(z_image_env, tmp_path, monkeypatch, width, said):
    monkeypatch.setenv("BLOGART_DIFFUSION__WIDTH", width)
    args = ["generate", str(POSTS / "tidepools.txt"), "-m", "z-image-turbo", "-n", "1", "--no-rank"]
    result = runner.invoke(app, [*args, "--backend", "local", "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and said in errors[0], result.output
