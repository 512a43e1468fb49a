"""Image-token generation speed of DalleBart with random weights in the released mini or mega shape.

Same compute as the real checkpoints (the weights' values do not change the work). Prints one JSON
line for the steady state; the first call (compile + one batch) is reported apart. Runs unchanged on
a GPU: jax picks the device.

    .venv/bin/python benchmarks/generate.py --config mini --batch 4 --condition-scale 10 --json
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

# Released hub configs (dalle-mini/dalle-mini mini-1, dalle-mini/dalle-mega mega-1): the keys that set shapes.
_COMMON = {
    "model_type": "dallebart",
    "image_length": 256,
    "max_text_length": 64,
    "decoder_start_token_id": 16384,
    "activation_function": "gelu",
    "ln_type": "layernorm",
    "ln_positions": "normformer",
    "use_glu": True,
    "use_bias": False,
    "use_scan": True,
    "force_ln_scale": False,
    "use_final_ln_encoder": True,
    "use_final_ln_decoder": True,
}
CONFIGS = {
    "mini": {
        **_COMMON,
        "d_model": 1024,
        "encoder_layers": 12,
        "decoder_layers": 12,
        "encoder_attention_heads": 16,
        "decoder_attention_heads": 16,
        "encoder_ffn_dim": 2730,
        "decoder_ffn_dim": 2730,
        "encoder_vocab_size": 50264,
        "image_vocab_size": 16384,
    },
    "mega": {
        **_COMMON,
        "d_model": 2048,
        "encoder_layers": 24,
        "decoder_layers": 24,
        "encoder_attention_heads": 32,
        "decoder_attention_heads": 32,
        "encoder_ffn_dim": 4096,
        "decoder_ffn_dim": 4096,
        "encoder_vocab_size": 50272,
        "image_vocab_size": 16415,
    },
}


def random_params(module, dtype: str) -> dict:
    """Params of the released shape drawn straight in `dtype`, one tensor at a time (no fp32 copy first)."""
    import jax
    import jax.numpy as jnp

    from blogart.models.dalle.dallebart import init_params

    shapes = jax.eval_shape(lambda rng: init_params(module, rng), jax.random.PRNGKey(0))
    leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
    std = module.config.init_std
    out = []
    for i, (path, leaf) in enumerate(leaves):
        name = getattr(path[-1], "key", "")
        if name == "scale":
            value = jnp.ones(leaf.shape, dtype)
        elif name == "bias":
            value = jnp.zeros(leaf.shape, dtype)
        else:
            value = (jax.random.normal(jax.random.PRNGKey(i), leaf.shape, jnp.float32) * std).astype(dtype)
        out.append(jax.block_until_ready(value))
    return jax.tree_util.tree_unflatten(treedef, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="mini")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--condition-scale", type=float, default=10.0)
    parser.add_argument("--top-k", type=int, default=50)
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    parser.add_argument("--repeats", type=int, default=2, help="timed batches after the first (>= 2)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--compile-cache", help="persistent XLA cache folder (a second run skips the compile)")
    args = parser.parse_args(argv)

    import jax
    import numpy as np

    from blogart.generators.dalle.sampler import enable_compile_cache, sample_image_tokens
    from blogart.models.dalle.checkpoint import DalleBartBundle
    from blogart.models.dalle.dallebart import DalleBart, DalleBartConfig

    def log(msg: str) -> None:
        if not args.json:
            print(msg, file=sys.stderr, flush=True)

    if args.compile_cache:
        enable_compile_cache(args.compile_cache)
    config = DalleBartConfig.from_dict(CONFIGS[args.config])
    module = DalleBart(config)
    started = time.perf_counter()
    params = random_params(module, args.dtype)
    log(f"init {args.config} ({args.dtype}): {time.perf_counter() - started:.1f}s")
    bundle = DalleBartBundle(config=config, params=params, module=module, dtype=args.dtype)

    rng = np.random.default_rng(0)
    length = config.max_text_length
    ids = np.full((1, length), 1, np.int32)  # pad
    ids[0, :20] = rng.integers(3, config.encoder_vocab_size, 20)
    mask = (np.arange(length) < 20).astype(np.int32)[None]
    empty = np.full((1, length), 1, np.int32)
    empty[0, :2] = (0, 2)  # <s></s>, the empty prompt
    empty_mask = (np.arange(length) < 2).astype(np.int32)[None]

    def batch(first_seed: int) -> float:
        t0 = time.perf_counter()
        tokens = sample_image_tokens(
            bundle,
            ids,
            mask,
            empty,
            empty_mask,
            seeds=list(range(first_seed, first_seed + args.batch)),
            condition_scale=args.condition_scale,
            top_k=args.top_k,
            top_p=args.top_p,
        )
        assert tokens.shape == (args.batch, config.image_length) and int(tokens.max()) < config.codebook_size
        return time.perf_counter() - t0

    first = batch(0)
    log(f"first batch (compile + run): {first:.1f}s")
    times = []
    for i in range(max(2, args.repeats)):
        times.append(batch(1000 * (i + 1)))
        log(f"batch {i + 1}: {times[-1]:.2f}s")
    steady = float(np.median(times))
    device = jax.devices()[0]
    result = {
        "config": args.config,
        "batch": args.batch,
        "seconds_per_image": round(steady / args.batch, 3),
        "tokens_per_second": round(args.batch * config.image_length / steady, 1),
        # the first call compiles and runs one batch: compile time is what it took beyond the fastest batch
        "compile_seconds": round(max(0.0, first - min(times)), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "dtype": args.dtype,
        "device": f"{device.platform}:{getattr(device, 'device_kind', '')} x{jax.device_count()}",
        "batch_seconds": [round(t, 3) for t in times],
        "condition_scale": args.condition_scale,
        "top_k": args.top_k,
        "top_p": args.top_p,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
