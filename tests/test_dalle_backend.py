"""The dalle-mini generator end to end on tiny random checkpoints saved in the released formats."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from tiny_dalle import save_params

from blogart.errors import BlogartError, UsageError
from blogart.values import GenerationRequest


def test_generate_writes_pngs_named_by_round_seed_index(tiny_dalle, tmp_path):
    from PIL import Image

    from blogart.generators.dalle.generator import DalleGenerator

    gen = DalleGenerator("dalle-mini", *tiny_dalle, batch_size=2)
    request = GenerationRequest(prompt="a cat on a mat", negative_prompt="blurry text", n=3, seed=7)
    candidates = gen.generate(request, tmp_path / "out", round=2)
    assert [c.path.name for c in candidates] == ["2-7-0.png", "2-7-1.png", "2-7-2.png"]
    assert {c.generator for c in candidates} == {"dalle-mini"}
    assert all(c.seed == 7 and c.round == 2 and c.negative_prompt == "blurry text" for c in candidates)
    assert [c.index for c in candidates] == [0, 1, 2]
    assert gen.count_tokens("a cat on a mat") == len(gen._text()["tokenizer"]("a cat on a mat")["input_ids"])
    pixels = [np.asarray(Image.open(c.path)) for c in candidates]
    assert all(p.shape == (32, 32, 3) and p.dtype == np.uint8 for p in pixels)
    assert not np.array_equal(pixels[0], pixels[1])

    # image 1 alone (n=2, batch 1) is the same picture as image 1 of the batch above
    single = DalleGenerator("dalle-mini", *tiny_dalle, batch_size=1)
    again = single.generate(GenerationRequest("a cat on a mat", "blurry text", n=2, seed=7), tmp_path / "again")
    np.testing.assert_array_equal(np.asarray(Image.open(again[1].path)), pixels[1])


def test_bad_requests_and_mismatched_vqgan(tiny_dalle, tmp_path):
    from blogart.generators.dalle.generator import DalleGenerator

    bart, vqgan = tiny_dalle
    with pytest.raises(UsageError):
        DalleGenerator("dalle-mini", bart, vqgan).generate(GenerationRequest("x", n=0), tmp_path)
    other = tmp_path / "bart"
    shutil.copytree(bart, other)
    config = json.loads((other / "config.json").read_text())
    config["image_length"] = 64  # 8x8 tokens: not what the 16x16 VQGAN decodes
    save_params(other, config)
    with pytest.raises(BlogartError, match="does not fit"):
        DalleGenerator("dalle-mini", other, vqgan).generate(GenerationRequest("x", n=1), tmp_path)
    config["d_model"] = 40  # a checkpoint whose tensors do not fit its config.json
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(BlogartError, match="does not match its config"):
        DalleGenerator("dalle-mini", other, vqgan).generate(GenerationRequest("x", n=1), tmp_path)


def test_out_of_range_seed_is_a_usage_error_before_the_weights_load(tiny_dalle, tmp_path):
    from blogart.generators.dalle.generator import DalleGenerator

    gen = DalleGenerator("dalle-mini", *tiny_dalle)
    with pytest.raises(UsageError, match="seed -1 is out of range"):
        gen.generate(GenerationRequest("x", n=1, seed=-1), tmp_path)
    assert gen._loaded is None


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
        "gen.generate(GenerationRequest('a cat on a mat', n=1, seed=1), sys.argv[4])\n"
    )
    args = [sys.executable, "-c", code, str(checkpoint), str(vqgan), str(cache), str(tmp_path / "out")]
    subprocess.run(args, check=True, capture_output=True)
    assert any(path.name.endswith("-cache") for path in cache.iterdir())
