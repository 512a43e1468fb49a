"""DalleBart model and checkpoint loading against the reference data (tests/data/dallebart/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from blogart.errors import BlogartError, MissingWeights

DATA = Path(__file__).parent / "data" / "dallebart"


def _tsv_tree(name: str) -> dict[str, tuple[tuple[int, ...], str]]:
    rows = (DATA / f"dallebart_{name}_params.tsv").read_text().splitlines()[1:]
    out = {}
    for row in rows:
        path, shape, dtype = row.split("\t")
        out[path] = (tuple(int(x) for x in shape.split("x")), dtype)
    return out


@pytest.fixture(scope="module")
def small():
    from blogart.models.dalle.checkpoint import load_dallebart

    return load_dallebart(DATA)


@pytest.mark.parametrize("name", ["mini", "mega"])
def test_released_trees_match_eval_shape_of_our_init(name):
    from blogart.models.dalle.checkpoint import param_tree

    config = json.loads((DATA / f"{name}_config.json").read_text())
    assert param_tree(config) == _tsv_tree(name)


def test_loaded_small_checkpoint_equals_our_init_tree(small):
    import jax
    from flax.traverse_util import flatten_dict

    from blogart.models.dalle.checkpoint import listing, read_msgpack_tree
    from blogart.models.dalle.dallebart import init_params

    ours = jax.eval_shape(lambda rng: init_params(small.module, rng), jax.random.PRNGKey(0))
    expected = {k: (tuple(v.shape), str(v.dtype)) for k, v in flatten_dict(ours, sep="/").items()}
    assert listing(small.params) == expected
    assert read_msgpack_tree(DATA / "flax_model.msgpack") == expected


@pytest.mark.slow
def test_parity_with_reference_encoder_and_logits(small, cases):
    apply = small.module.apply
    variables = {"params": small.params}
    states = apply(variables, cases["input_ids"], cases["attention_mask"], method="encode")
    np.testing.assert_allclose(states, cases["encoder_last_hidden_state"], atol=1e-4)

    cond = apply(variables, cases["input_ids"], cases["attention_mask"], cases["decoder_input_ids"])
    uncond = apply(variables, cases["input_ids_uncond"], cases["attention_mask_uncond"], cases["decoder_input_ids"])
    np.testing.assert_allclose(cond, cases["logits"], atol=1e-4)
    np.testing.assert_allclose(uncond, cases["logits_uncond"], atol=1e-4)
    scale = float(cases["condition_scale"])
    np.testing.assert_allclose(uncond + scale * (cond - uncond), cases["logits_superconditioned"], atol=1e-4)


def test_padding_changes_nothing_but_masked_tokens(small, cases):
    """Row 1 is padded after 5 tokens: changing its pad ids must not change its outputs."""
    ids = cases["input_ids"].copy()
    ids[1, 5:] = 7
    variables = {"params": small.params}
    a = small.module.apply(variables, cases["input_ids"], cases["attention_mask"], method="encode")
    b = small.module.apply(variables, ids, cases["attention_mask"], method="encode")
    np.testing.assert_allclose(a[1, :5], b[1, :5], atol=1e-6)


def test_bfloat16_cast_keeps_tree_and_is_close(cases):
    from flax.traverse_util import flatten_dict

    from blogart.models.dalle.checkpoint import load_dallebart

    bundle = load_dallebart(DATA, dtype="bfloat16")
    leaves = flatten_dict(bundle.params)
    assert {str(v.dtype) for v in leaves.values()} == {"bfloat16"}
    logits = bundle.module.apply(
        {"params": bundle.params}, cases["input_ids"], cases["attention_mask"], cases["decoder_input_ids"]
    )
    assert logits.dtype == np.float32  # layer norms, softmax and accumulation stay in fp32
    np.testing.assert_allclose(logits, cases["logits"], atol=0.1)


def test_unsupported_options_raise_clear_errors():
    from blogart.models.dalle.dallebart import DalleBartConfig

    config = json.loads((DATA / "config.json").read_text())
    for key, value in [("use_alibi", True), ("ln_type", "rmsnorm"), ("use_cosine_attention", True), ("use_glu", False)]:
        with pytest.raises(BlogartError, match=key):
            DalleBartConfig.from_dict({**config, key: value})
    with pytest.raises(BlogartError, match="lacks: d_model"):
        DalleBartConfig.from_dict({k: v for k, v in config.items() if k != "d_model"})


def test_missing_and_broken_checkpoints(tmp_path):
    from blogart.models.dalle.checkpoint import load_dallebart

    with pytest.raises(MissingWeights):
        load_dallebart(tmp_path)
    shutil.copy(DATA / "config.json", tmp_path / "config.json")
    with pytest.raises(MissingWeights, match="flax_model.msgpack"):
        load_dallebart(tmp_path)
    (tmp_path / "flax_model.msgpack").write_text("version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(BlogartError, match="git-lfs"):
        load_dallebart(tmp_path)


def test_checkpoint_for_another_config_is_refused(tmp_path):
    from blogart.models.dalle.checkpoint import load_dallebart

    config = json.loads((DATA / "config.json").read_text())
    config["decoder_ffn_dim"] = 80
    (tmp_path / "config.json").write_text(json.dumps(config))
    shutil.copy(DATA / "flax_model.msgpack", tmp_path / "flax_model.msgpack")
    with pytest.raises(BlogartError, match="does not match its config"):
        load_dallebart(tmp_path)


def test_mega_config_samples_only_codebook_ids():
    from blogart.models.dalle.dallebart import DalleBartConfig

    mega = DalleBartConfig.from_dict(json.loads((DATA / "mega_config.json").read_text()))
    mini = DalleBartConfig.from_dict(json.loads((DATA / "mini_config.json").read_text()))
    assert (mega.decoder_vocab_size, mega.codebook_size) == (16416, 16384)
    assert (mini.decoder_vocab_size, mini.codebook_size) == (16385, 16384)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_a_bfloat16_checkpoint_is_cast_to_the_asked_dtype(tmp_path, dtype):
    import jax.numpy as jnp
    from flax.serialization import msgpack_serialize

    from blogart.models.dalle.checkpoint import load_msgpack

    path = tmp_path / "m.msgpack"
    tree = {"w": np.ones((2, 3), jnp.bfloat16), "h": np.ones(3, np.float16), "i": np.arange(3, dtype=np.int32)}
    path.write_bytes(msgpack_serialize(tree))
    loaded = load_msgpack(path, dtype)
    assert {k: str(v.dtype) for k, v in loaded.items()} == {"w": dtype, "h": dtype, "i": "int32"}


def test_malformed_config_and_tensors_are_one_line_errors(tmp_path):
    import msgpack

    from blogart.models.dalle.checkpoint import load_dallebart, load_msgpack

    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(BlogartError, match="not a JSON object"):
        load_dallebart(tmp_path)
    for payload in (5, [[2], "no-such-dtype", b"12345678"]):  # a tensor that is not (shape, dtype, bytes)
        (tmp_path / "m.msgpack").write_bytes(msgpack.packb({"a": msgpack.ExtType(1, msgpack.packb(payload))}))
        with pytest.raises(BlogartError, match="not a flax msgpack checkpoint"):
            load_msgpack(tmp_path / "m.msgpack")
