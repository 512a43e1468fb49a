"""VQGAN: the released tree, numeric parity with the vqgan-jax reference cases, loading errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from blogart.errors import BlogartError, InputError, MissingWeights, UsageError
from blogart.models.dalle import vqgan
from blogart.models.dalle.vqgan_config import VQGANConfig

DATA = Path(__file__).parent / "data" / "vqgan"
ATOL = 1e-4


@pytest.fixture(scope="module")
def bundle():
    return vqgan.load_vqgan(DATA)


def read_tsv(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    rows = {}
    for line in path.read_text().splitlines()[1:]:
        name, shape, dtype = line.split("\t")
        rows[name] = (tuple(int(d) for d in shape.split("x")), dtype)
    return rows


def test_released_config_gives_the_released_tree():
    config = VQGANConfig.from_dict(json.loads((DATA / "vqgan_f16_16384_config.json").read_text()))
    assert config == VQGANConfig()  # the defaults are the released model
    assert (config.grid, config.num_codes) == (16, 256)
    expected = read_tsv(DATA / "vqgan_f16_16384_params.tsv")
    assert len(expected) == 343
    assert vqgan.param_tree(config) == expected


def test_param_tree_follows_the_config():
    small = json.loads((DATA / "config.json").read_text())
    tree = vqgan.param_tree(small)
    assert tree["quantize/embedding/embedding"] == ((64, 16), "float32")
    assert tree["decoder/up_1/attn_1/q/kernel"] == ((1, 1, 64, 64), "float32")
    assert "decoder/up_0/attn_0/q/kernel" not in tree  # attention only at 16x16
    assert "encoder/down_1/downsample/conv/kernel" not in tree  # the last level does not downsample


def test_loaded_params_match_the_checkpoint_exactly(bundle):
    from flax.serialization import msgpack_restore
    from flax.traverse_util import flatten_dict

    raw = flatten_dict(msgpack_restore((DATA / "flax_model.msgpack").read_bytes()), sep="/")
    loaded = flatten_dict(bundle.params, sep="/")
    assert set(raw) == set(loaded)
    for path, value in raw.items():
        np.testing.assert_array_equal(np.asarray(loaded[path]), value, err_msg=path)


def test_encode_matches_reference(bundle, cases):
    # The reference cases feed pixels in [0, 1] to the model as they are.
    assert cases["pixel_values"].min() >= 0 and cases["pixel_values"].max() <= 1
    quant_states, indices = vqgan.encode_images(bundle, cases["pixel_values"])
    assert quant_states.shape == cases["quant_states"].shape == (2, 16, 16, 16)
    assert indices.dtype == np.int32 and indices.shape == (2, 256)
    np.testing.assert_array_equal(indices, cases["indices"])
    np.testing.assert_allclose(quant_states, cases["quant_states"], atol=ATOL, rtol=0)


def test_decode_matches_reference(bundle, cases):
    reconstruction = vqgan.decode_states(bundle, cases["quant_states"])
    assert reconstruction.shape == (2, 32, 32, 3)
    np.testing.assert_allclose(reconstruction, cases["reconstruction"], atol=ATOL, rtol=0)


def test_decode_codes_matches_reference(bundle, cases):
    raw = np.asarray(bundle.module.apply({"params": bundle.params}, cases["codes"], method="decode_code"))
    np.testing.assert_allclose(raw, cases["decoded_codes"], atol=ATOL, rtol=0)

    images = vqgan.decode_codes(bundle, cases["codes"])
    assert images.dtype == np.float32 and images.shape == (2, 32, 32, 3)
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_allclose(images, np.clip(cases["decoded_codes"], 0, 1), atol=ATOL, rtol=0)


def test_decode_codes_compiles_once_for_any_batch(bundle, cases):
    vqgan.decode_codes(bundle, cases["codes"])
    compiled = bundle.jitted("decode_code")
    before = compiled._cache_size()
    vqgan.decode_codes(bundle, cases["codes"][::-1])
    one = vqgan.decode_codes(bundle, cases["codes"][:1])
    assert compiled._cache_size() == before  # image by image: one shape whatever the batch
    # Images do not depend on their batch neighbours, to the bit.
    np.testing.assert_array_equal(one[0], vqgan.decode_codes(bundle, cases["codes"])[0])


def test_bfloat16_weights_run_close_to_float32(bundle, cases):
    from flax.traverse_util import flatten_dict

    half = vqgan.load_vqgan(DATA, dtype="bfloat16")
    assert {str(leaf.dtype) for leaf in flatten_dict(half.params).values()} == {"bfloat16"}
    images = vqgan.decode_codes(half, cases["codes"])
    assert images.dtype == np.float32
    assert np.abs(images - vqgan.decode_codes(bundle, cases["codes"])).mean() < 0.02


def test_bad_inputs_are_user_errors(bundle, cases):
    with pytest.raises(InputError, match="codes shaped"):
        vqgan.decode_codes(bundle, cases["codes"][:, :100])
    with pytest.raises(InputError, match=r"\[0, 64\)"):
        vqgan.decode_codes(bundle, np.full((1, 256), 64))
    with pytest.raises(InputError, match="multiples of 2"):
        vqgan.encode_images(bundle, np.zeros((1, 31, 32, 3)))
    with pytest.raises(InputError, match="shaped"):
        vqgan.encode_images(bundle, np.zeros((32, 32, 3)))
    with pytest.raises(UsageError, match="dtype"):
        vqgan.load_vqgan(DATA, dtype="int8")


def test_missing_files_name_the_pull_command(tmp_path):
    with pytest.raises(MissingWeights, match="blogart models pull vqgan"):
        vqgan.load_vqgan(tmp_path / "nowhere")
    shutil.copy(DATA / "config.json", tmp_path / "config.json")
    with pytest.raises(MissingWeights, match="flax_model.msgpack"):
        vqgan.load_vqgan(tmp_path)


def test_weights_that_do_not_fit_the_config_are_rejected(tmp_path):
    config = json.loads((DATA / "config.json").read_text())
    config["n_embed"] = 128
    (tmp_path / "config.json").write_text(json.dumps(config))
    shutil.copy(DATA / "flax_model.msgpack", tmp_path / "flax_model.msgpack")
    with pytest.raises(BlogartError, match="does not match its config.*quantize/embedding/embedding"):
        vqgan.load_vqgan(tmp_path)

    (tmp_path / "flax_model.msgpack").write_bytes(b"not msgpack")
    with pytest.raises(BlogartError, match="cannot read"):
        vqgan.load_vqgan(tmp_path)


def test_config_round_trips_and_rejects_what_it_cannot_run():
    config = VQGANConfig.from_dict(json.loads((DATA / "config.json").read_text()))
    assert (config.ch, config.ch_mult, config.n_embed, config.grid) == (32, (1, 2), 64, 16)
    assert VQGANConfig.from_dict(config.to_dict()) == config
    with pytest.raises(UsageError, match="give_pre_end"):
        VQGANConfig.from_dict({"give_pre_end": True})
    with pytest.raises(UsageError, match="num_resolutions"):
        VQGANConfig.from_dict({"ch_mult": [1, 2], "num_resolutions": 3})


def test_import_stays_light():
    code = "import sys, blogart.models.dalle.vqgan; print(sorted({'jax', 'flax'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_config_that_is_not_a_json_object_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("[1, 2]")
    shutil.copy(DATA / "flax_model.msgpack", tmp_path / "flax_model.msgpack")
    with pytest.raises(BlogartError, match="unreadable VQGAN config .*not a JSON object"):
        vqgan.load_vqgan(tmp_path)
