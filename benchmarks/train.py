"""Training speed: seconds per optimizer step of the jit-compiled train step, on random data.

    .venv/bin/python benchmarks/train.py --model dallebart --config d256-64 --batch 32 --json

`--config` is a preset below or a DalleBart config.json. The step is the trainer's own
(`blogart.training.dallebart_trainer`: forward, backward, clipping, AdamW with its schedule), fed
random captions and image codes of the config's shapes; values do not change the work. The first
step (compile + run) is reported apart; `seconds_per_step` is the median of the timed steps.

Against the compute floor: `flops_per_step` counts the matmul work of one step (6 x matmul params x
tokens they see, plus the attention scores, forward and backward), `matmul_gflops` is what one
large float32 matmul reaches on this machine, so `floor_seconds` is the step at that rate and
`of_floor` how many times slower the real step is. `six_n_t` is the plain 6 x all params x image
tokens. Runs unchanged on a GPU: jax picks the device.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

_SHARED = {
    "model_type": "dallebart",
    "encoder_vocab_size": 50264,  # BART's
    "image_vocab_size": 16384,  # the released VQGAN's codebook
    "decoder_start_token_id": 16384,
    "max_text_length": 64,
    "activation_function": "gelu",
}
# The reference shapes (feed-forward 8/3 x d_model: a GLU's three matrices hold as many
# weights as a plain 4x feed-forward's two).
PRESETS = {
    "d256-64": {**_SHARED, "d_model": 256, "encoder_layers": 4, "decoder_layers": 4, "image_length": 64},
    "d256-256": {**_SHARED, "d_model": 256, "encoder_layers": 4, "decoder_layers": 4, "image_length": 256},
    "d384-256": {**_SHARED, "d_model": 384, "encoder_layers": 6, "decoder_layers": 6, "image_length": 256},
}
for _preset in PRESETS.values():
    d = _preset["d_model"]
    _preset.update(
        encoder_attention_heads=d // 64,
        decoder_attention_heads=d // 64,
        encoder_ffn_dim=round(8 * d / 3),
        decoder_ffn_dim=round(8 * d / 3),
    )


def read_config(name: str) -> dict:
    if name in PRESETS:
        return PRESETS[name]
    path = Path(name)
    if not path.is_file():
        raise SystemExit(f"error: --config is a preset ({', '.join(PRESETS)}) or a config.json file, not {name}")
    return json.loads(path.read_text())


def step_flops(config, batch: int) -> tuple[float, float]:
    """(matmul + attention FLOPs of one training step, 6 x all params x image tokens)."""
    d, text, image = config.d_model, config.max_text_length, config.image_length
    enc_layer = 4 * d * d + 3 * d * config.encoder_ffn_dim
    dec_layer = 8 * d * d + 3 * d * config.decoder_ffn_dim
    lm_head = d * (config.image_vocab_size + 1)
    matmul = (
        6 * batch * (config.encoder_layers * enc_layer * text + (config.decoder_layers * dec_layer + lm_head) * image)
    )
    # scores and weighted sums: 4 x d per query-key pair forward, 3x that with the backward
    attention = (
        12 * batch * d * (config.encoder_layers * text * text + config.decoder_layers * (image * image + image * text))
    )
    embeddings = (config.encoder_vocab_size + text) * d + (config.image_vocab_size + 1 + image) * d
    all_params = config.encoder_layers * enc_layer + config.decoder_layers * dec_layer + lm_head + embeddings
    return float(matmul + attention), float(6 * all_params * batch * image)


def matmul_gflops() -> float:
    """What XLA reaches on one large float32 matmul here: the practical peak."""
    import jax
    import jax.numpy as jnp

    n = 2048
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def dallebart(args) -> dict:
    import jax
    import numpy as np

    from blogart.models.dalle.dallebart import DalleBart, DalleBartConfig, init_params
    from blogart.training.dallebart_trainer import RunConfig, build_optimizer, make_train_step

    config = DalleBartConfig.from_dict(read_config(args.config))
    module = DalleBart(config)
    params = init_params(module, jax.random.PRNGKey(0))
    run = RunConfig(batch_size=args.batch, accumulate=1, bf16=args.bf16, freeze_encoder=args.freeze_encoder)
    optimizer, _ = build_optimizer(run, 1000, None)
    opt_state = optimizer.init(params)
    step = make_train_step(module, optimizer, run)

    rng = np.random.default_rng(0)
    text, image, b = config.max_text_length, config.image_length, args.batch

    def batch() -> dict:
        codes = rng.integers(0, config.codebook_size, (b, image), dtype=np.int32)
        lengths = rng.integers(4, text, b)
        return {
            "input_ids": rng.integers(3, config.encoder_vocab_size, (b, text), dtype=np.int32),
            "attention_mask": (np.arange(text)[None] < lengths[:, None]).astype(np.int32),
            "decoder_input_ids": np.concatenate(
                [np.full((b, 1), config.decoder_start_token_id, np.int32), codes[:, :-1]], 1
            ),
            "labels": codes,
        }

    t0 = time.perf_counter()
    params, opt_state, loss = step(params, opt_state, batch())
    loss.block_until_ready()
    first = time.perf_counter() - t0
    times = []
    for _ in range(max(2, args.steps)):
        data = batch()
        t0 = time.perf_counter()
        params, opt_state, loss = step(params, opt_state, data)
        loss.block_until_ready()
        times.append(time.perf_counter() - t0)
    steady = float(np.median(times))
    flops, six_n_t = step_flops(config, b)
    peak = matmul_gflops()
    n_params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
    return {
        "model": "dallebart",
        "config": args.config,
        "d_model": config.d_model,
        "layers": [config.encoder_layers, config.decoder_layers],
        "image_tokens": image,
        "batch": b,
        "bf16": args.bf16,
        "seconds_per_step": round(steady, 3),
        "examples_per_second": round(b / steady, 2),
        "compile_seconds": round(max(0.0, first - min(times)), 2),
        "step_seconds": [round(t, 3) for t in times],
        "params": n_params,
        "flops_per_step": flops,
        "achieved_gflops": round(flops / steady / 1e9, 1),
        "six_n_t": six_n_t,
        "matmul_gflops": round(peak, 1),
        "floor_seconds": round(flops / peak / 1e9, 3),
        "of_floor": round(steady / (flops / peak / 1e9), 2),
        "loss": float(loss),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("dallebart", "vqgan"), default="dallebart")
    parser.add_argument("--config", default="d256-64", help=f"a preset ({', '.join(PRESETS)}) or a config.json")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed steps after the first (>= 2)")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 matmuls, float32 master weights")
    parser.add_argument("--freeze-encoder", action="store_true")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if args.model != "dallebart":
        raise SystemExit("error: --model vqgan is not in this build of the benchmark yet")
    load_before = os.getloadavg()
    result = dallebart(args)
    import jax

    device = jax.devices()[0]
    result.update(
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        device=f"{device.platform}:{getattr(device, 'device_kind', '')} x{jax.device_count()}",
        load_average=[round(x, 2) for x in load_before],
        load_average_after=[round(x, 2) for x in os.getloadavg()],
    )
    if not args.json:
        print(json.dumps(result, indent=2), file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
