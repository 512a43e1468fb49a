"""The fast sampler: cached decoding equals the full forward pass; per-image seeds; filters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blogart.errors import UsageError

DATA = Path(__file__).parent / "data" / "dallebart"


@pytest.fixture()
def bundle():
    from blogart.models.dalle.checkpoint import load_dallebart

    return load_dallebart(DATA)


def test_cached_decoding_equals_teacher_forced_forward(bundle, cases):
    import jax
    import jax.numpy as jnp
    from jax import lax

    from blogart.generators.dalle.sampler import decode_step, prepare_decoder, unstack_layers

    config = bundle.config
    variables = {"params": bundle.params}
    states = bundle.module.apply(variables, cases["input_ids"], cases["attention_mask"], method="encode")
    full = bundle.module.apply(variables, cases["decoder_input_ids"], states, cases["attention_mask"], method="decode")

    @jax.jit
    def incremental(params, states, mask, tokens):
        layers = unstack_layers(params["model"]["decoder"]["layers"]["FlaxBartDecoderLayers"], config.decoder_layers)
        state = prepare_decoder(config, layers, states, mask)

        def step(state, t):
            logits, state = decode_step(config, params, layers, state, tokens[:, t], t)
            return state, logits

        return lax.scan(step, state, jnp.arange(tokens.shape[1]))[1].transpose(1, 0, 2)

    logits = incremental(bundle.params, states, cases["attention_mask"], cases["decoder_input_ids"])
    np.testing.assert_allclose(logits, full, atol=1e-5)
    np.testing.assert_allclose(logits, cases["logits"], atol=1e-4)


def _sample(bundle, cases, seeds, **kwargs):
    from blogart.generators.dalle.sampler import sample_image_tokens

    return sample_image_tokens(
        bundle,
        cases["input_ids"][:1],
        cases["attention_mask"][:1],
        cases["input_ids_uncond"][:1],
        cases["attention_mask_uncond"][:1],
        seeds=seeds,
        **kwargs,
    )


@pytest.mark.slow
def test_image_tokens_do_not_depend_on_batch(bundle, cases):
    three = _sample(bundle, cases, [5, 5, 5], indices=[0, 1, 2], condition_scale=3.0, top_k=20)
    one = _sample(bundle, cases, [5], indices=[1], condition_scale=3.0, top_k=20)
    assert three.shape == (3, bundle.config.image_length) and three.dtype == np.int32
    np.testing.assert_array_equal(one[0], three[1])
    assert not np.array_equal(three[0], three[1])  # different index, different image
    again = _sample(bundle, cases, [5, 9], indices=[1, 0], condition_scale=3.0, top_k=20)
    np.testing.assert_array_equal(again[0], three[1])


def test_rows_of_different_prompts_share_a_batch(bundle, cases):
    """Each row its own prompt, negative prompt, seed and index: the same tokens as that row drawn alone."""
    from blogart.generators.dalle.sampler import sample_image_tokens

    ids, mask = cases["input_ids"], cases["attention_mask"]
    neg, neg_mask = cases["input_ids_uncond"], cases["attention_mask_uncond"]
    rows = [0, 1, 1, 0]
    mixed = sample_image_tokens(
        bundle, ids[rows], mask[rows], neg[rows[::-1]], neg_mask[rows[::-1]], [4, 4, 9, 2], indices=[0, 3, 1, 5]
    )
    for b, (r, seed, index) in enumerate(zip(rows, [4, 4, 9, 2], [0, 3, 1, 5], strict=True)):
        n = rows[::-1][b]
        alone = sample_image_tokens(
            bundle, ids[[r] * 4], mask[[r] * 4], neg[[n] * 4], neg_mask[[n] * 4], [seed] * 4, indices=[index] * 4
        )
        np.testing.assert_array_equal(mixed[b], alone[0])


def test_only_codebook_ids_are_sampled(bundle, cases):
    # the small model's head has image_vocab_size + 1 rows: the start token must never be drawn
    tokens = _sample(bundle, cases, list(range(6)), condition_scale=1.0, top_k=None, temperature=5.0)
    assert tokens.max() < bundle.config.codebook_size == 64
    assert len(np.unique(tokens)) > 20  # high temperature, no top-k: many ids


@pytest.mark.slow
def test_mega_head_rows_past_the_codebook_are_never_drawn(cases):
    """Mega's head has 16415 + 1 rows; only ids < 16384 are VQGAN codes, even where the others score best."""
    import json

    import jax
    import jax.numpy as jnp

    from blogart.generators.dalle.sampler import sample_image_tokens
    from blogart.models.dalle.checkpoint import DalleBartBundle
    from blogart.models.dalle.dallebart import DalleBart, DalleBartConfig, init_params

    raw = json.loads((DATA / "config.json").read_text())
    config = DalleBartConfig.from_dict({**raw, "image_vocab_size": 16415, "decoder_start_token_id": 16384})
    assert (config.codebook_size, config.decoder_vocab_size) == (16384, 16416)
    params = init_params(DalleBart(config), jax.random.PRNGKey(0))
    # a constant offset after the final norm, read only by the rows past the codebook: they win by far
    final_ln = params["model"]["decoder"]["final_ln"]
    final_ln["bias"] = jnp.ones_like(final_ln["bias"])
    params["lm_head"]["kernel"] = params["lm_head"]["kernel"].at[:, 16384:].set(1.0)
    module = DalleBart(config)
    ids, mask = cases["input_ids"][:1], cases["attention_mask"][:1]
    logits = module.apply({"params": params}, ids, mask, jnp.full((1, 4), 16384))
    assert (np.asarray(logits).argmax(-1) >= 16384).all()  # the test would catch a sampler that drew them

    bundle = DalleBartBundle(config=config, params=params, module=module)
    uncond = (cases["input_ids_uncond"][:1], cases["attention_mask_uncond"][:1])
    tokens = sample_image_tokens(bundle, ids, mask, *uncond, seeds=[0, 1], condition_scale=1.0, top_k=None)
    assert tokens.max() < 16384


def test_seeds_past_32_bits_are_distinct_and_out_of_range_seeds_are_usage_errors():
    import jax

    from blogart.generators.dalle.sampler import MAX_SEED, image_keys

    keys = np.asarray(image_keys([0, 5, 2**32, 2**32 + 5, 2**63, MAX_SEED]))
    assert len({k.tobytes() for k in keys}) == 6  # PRNGKey alone maps 2**32 to 0 and fails from 2**63
    expected = jax.random.fold_in(jax.random.PRNGKey(5), 0)
    np.testing.assert_array_equal(keys[1], expected)  # seeds below 2**32 keep their images
    for bad in (-1, MAX_SEED + 1):
        with pytest.raises(UsageError, match="seed"):
            image_keys([bad])


@pytest.mark.slow
def test_filters_narrow_the_choice(bundle, cases):
    greedy_like = _sample(bundle, cases, [1, 2], condition_scale=3.0, top_k=1)
    np.testing.assert_array_equal(greedy_like[0], greedy_like[1])  # top-1 ignores the seed
    nucleus = _sample(bundle, cases, [1, 2], condition_scale=3.0, top_k=None, top_p=1e-6)
    np.testing.assert_array_equal(nucleus, greedy_like)  # a tiny nucleus is the best token too


def test_negative_prompt_changes_the_image(bundle, cases):
    from blogart.generators.dalle.sampler import sample_image_tokens

    args = (cases["input_ids"][:1], cases["attention_mask"][:1])
    plain = sample_image_tokens(bundle, *args, cases["input_ids_uncond"][:1], cases["attention_mask_uncond"][:1], [3])
    negative = sample_image_tokens(bundle, *args, cases["input_ids"][1:], cases["attention_mask"][1:], [3])
    assert not np.array_equal(plain, negative)


def test_bad_arguments_are_usage_errors(bundle, cases):
    with pytest.raises(UsageError):
        _sample(bundle, cases, [])
    with pytest.raises(UsageError):
        _sample(bundle, cases, [1], temperature=0)
    with pytest.raises(UsageError):
        _sample(bundle, cases, [1], top_p=1.5)
    with pytest.raises(UsageError):
        _sample(bundle, cases, [1, 2], indices=[0])


def test_filter_logits_top_k_and_top_p():
    import jax.numpy as jnp

    from blogart.generators.dalle.sampler import filter_logits

    logits = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]]))
    kept = np.isfinite(np.asarray(filter_logits(logits, 2, None, jnp.float32(1.0)))) & (
        np.asarray(filter_logits(logits, 2, None, jnp.float32(1.0))) > -1e30
    )
    assert kept.tolist() == [[True, True, False, False]]
    nucleus = np.asarray(filter_logits(logits, None, 0.7, jnp.float32(1.0))) > -1e30
    assert nucleus.tolist() == [[True, True, False, False]]  # 0.5 < 0.7 <= 0.8


_DEVICE_SCRIPT = """
import json, sys
import jax
import numpy as np
from blogart.generators.dalle.sampler import sample_image_tokens
from blogart.models.dalle.checkpoint import load_dallebart
data = sys.argv[1]
cases = np.load(data + "/cases.npz")
bundle = load_dallebart(data)
tokens = sample_image_tokens(
    bundle, cases["input_ids"][:1], cases["attention_mask"][:1], cases["input_ids_uncond"][:1],
    cases["attention_mask_uncond"][:1], seeds=[5, 5, 5], indices=[0, 1, 2], condition_scale=3.0, top_k=20,
)
print(json.dumps({"devices": jax.device_count(), "tokens": tokens.tolist()}))
"""


@pytest.mark.slow
def test_same_images_on_two_devices(bundle, cases):
    """Data-parallel over 2 (emulated) CPU devices, batch 3 padded to 4: same tokens as one device."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    run = subprocess.run(
        [sys.executable, "-c", _DEVICE_SCRIPT, str(DATA)], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["devices"] == 2
    local = _sample(bundle, cases, [5, 5, 5], indices=[0, 1, 2], condition_scale=3.0, top_k=20)
    np.testing.assert_array_equal(np.array(result["tokens"]), local)
