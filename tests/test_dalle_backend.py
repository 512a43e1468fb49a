"""The dalle-mini generator end to end on tiny random checkpoints saved in the released formats."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
from tiny_dalle import save_params

from blogart.errors import BlogartError, UsageError
from blogart.values import GenerationRequest


def pixels(drawing) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(drawing.png)) as image:
        assert image.format == "PNG"
        return np.asarray(image)


@pytest.mark.slow
def test_generate_returns_png_drawings_by_round_seed_index(tiny_dalle, tmp_path):
    from blogart.generators.dalle.generator import DalleGenerator

    gen = DalleGenerator("dalle-mini", *tiny_dalle, batch_size=2)
    request = GenerationRequest(prompt="a cat on a mat", negative_prompt="blurry text", n=3, seed=7)
    drawings = gen.generate(request, round=2)
    assert [(d.round, d.seed, d.index) for d in drawings] == [(2, 7, 0), (2, 7, 1), (2, 7, 2)]
    assert {d.generator for d in drawings} == {"dalle-mini"}
    assert all(d.prompt == "a cat on a mat" and d.negative_prompt == "blurry text" for d in drawings)
    assert list(tmp_path.rglob("*.png")) == []  # generators never write files
    assert gen.count_tokens("a cat on a mat") == len(gen._text()["tokenizer"]("a cat on a mat")["input_ids"])
    assert gen.max_prompt_tokens() == 16  # the tiny checkpoint's text length
    images = [pixels(d) for d in drawings]
    assert all(p.shape == (32, 32, 3) and p.dtype == np.uint8 for p in images)
    assert not np.array_equal(images[0], images[1])

    # image 1 alone (n=2, batch 1) is the same picture as image 1 of the batch above
    single = DalleGenerator("dalle-mini", *tiny_dalle, batch_size=1)
    again = single.generate(GenerationRequest("a cat on a mat", "blurry text", n=2, seed=7))
    np.testing.assert_array_equal(pixels(again[1]), images[1])


@pytest.mark.slow
def test_bad_requests_and_mismatched_vqgan(tiny_dalle, tmp_path):
    from blogart.generators.dalle.generator import DalleGenerator

    bart, vqgan = tiny_dalle
    with pytest.raises(UsageError):
        DalleGenerator("dalle-mini", bart, vqgan).generate(GenerationRequest("x", n=0))
    other = tmp_path / "bart"
    shutil.copytree(bart, other)
    config = json.loads((other / "config.json").read_text())
    config["image_length"] = 64  # 8x8 tokens: not what the 16x16 VQGAN decodes
    save_params(other, config)
    with pytest.raises(BlogartError, match="does not fit"):
        DalleGenerator("dalle-mini", other, vqgan).generate(GenerationRequest("x", n=1))
    config["d_model"] = 40  # a checkpoint whose tensors do not fit its config.json
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(BlogartError, match="does not match its config"):
        DalleGenerator("dalle-mini", other, vqgan).generate(GenerationRequest("x", n=1))


def test_out_of_range_seed_is_a_usage_error_before_the_weights_load(tiny_dalle):
    from blogart.generators.dalle.generator import DalleGenerator

    gen = DalleGenerator("dalle-mini", *tiny_dalle)
    with pytest.raises(UsageError, match="seed -1 is out of range"):
        gen.generate(GenerationRequest("x", n=1, seed=-1))
    assert gen._loaded is None


@pytest.mark.slow
def test_compiled_sampler_is_kept_on_disk(tiny_dalle, tmp_path):
    # A fresh process: JAX's compile cache is a process-wide setting that starts on first use.
    import subprocess
    import sys

    checkpoint, vqgan = tiny_dalle
    cache = tmp_path / "xla-cache"
    code = (
        "import sys\n"
        "from blogart.generators.dalle.generator import DalleGenerator\n"
        "from blogart.values import GenerationRequest\n"
        "gen = DalleGenerator('dalle-mini', sys.argv[1], sys.argv[2], compile_cache=sys.argv[3])\n"
        "gen.generate(GenerationRequest('a cat on a mat', n=1, seed=1))\n"
    )
    args = [sys.executable, "-c", code, str(checkpoint), str(vqgan), str(cache)]
    subprocess.run(args, check=True, capture_output=True)
    assert any(path.name.endswith("-cache") for path in cache.iterdir())


def test_counting_tokens_in_another_thread_never_unpads_a_drawn_prompt(tiny_dalle):
    """A batch engine counts the next post's prompt tokens while this thread encodes prompts to draw; a
    fast tokenizer shared by both could lose its padding mid-call and give a short row (seen in CI)."""
    from threads import while_calling

    from blogart.generators.dalle.generator import DalleGenerator

    gen = DalleGenerator("dalle-mini", *tiny_dalle)
    models = gen._load()
    assert models["tokenizer"] is not gen._text()["tokenizer"]
    length = models["bart"].config.max_text_length
    shapes = while_calling(
        lambda: gen.count_tokens("a loaf of sourdough bread on a wooden table"),
        lambda: {gen._encode(models, [f"bread {i}"])[f"bread {i}"][0].shape for i in range(3000)},
    )
    assert shapes == {(1, length)}
