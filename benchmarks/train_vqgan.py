"""VQGAN training speed: seconds per train step, images per second and peak RSS, on random images.

    python benchmarks/train_vqgan.py --size 64 --batch 32 --json
    python benchmarks/train_vqgan.py --config my_vqgan.json --batch 16 --json

The default shape is the issue's: ch 32, ch_mult 1,2,2,4, one res block, no attention, 1024 codes.
The step is the one `blogart vqgan train` runs (jit-compiled: forward, losses, AdamW update, dead-code
restarts); compilation is timed apart. The reference figures (dalle-mini 0.1.5 / vqgan-jax on jax
0.4.13, fp32, 2 cores, a plain jit step with AdamW) are 4.45 s per batch of 32 at 64x64 and 10.8 s per
batch of 16 at 128x128. The compute floor is estimated from XLA's own FLOP count of the compiled step
and the measured matmul throughput of this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

REFERENCE = {(64, 32): 4.45, (128, 16): 10.8}  # (size, batch) -> seconds per step


def issue_config(size: int, **changes) -> dict:
    return {
        "ch": 32,
        "ch_mult": [1, 2, 2, 4],
        "num_res_blocks": 1,
        "attn_resolutions": [],
        "resolution": size,
        "z_channels": 64,
        "embed_dim": 64,
        "n_embed": 1024,
        **changes,
    }


def matmul_flops_per_second(n: int = 1024, runs: int = 5) -> float:
    import jax
    import jax.numpy as jnp

    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    start = time.perf_counter()
    for _ in range(runs):
        f(a).block_until_ready()
    return 2 * n**3 * runs / (time.perf_counter() - start)


def measure(config_dict: dict, batch: int, runs: int, disc: bool = False) -> dict:
    import jax

    from blogart.models.dalle.vqgan_config import VQGANConfig
    from blogart.training.vqgan_trainer import TrainOptions, compile_steps, initial_state

    config = VQGANConfig.from_dict(config_dict)
    options = TrainOptions(data=(), out="", disc_start=0 if disc else None)
    fns = compile_steps(config, options, total_steps=1000)
    state = initial_state(config, options, fns)
    size = config.resolution
    pixels = np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32)
    step = fns["disc_step" if disc else "step"]

    start = time.perf_counter()
    lowered = step.lower(state, pixels)
    compiled = lowered.compile()
    compile_seconds = time.perf_counter() - start
    try:
        flops = float(compiled.cost_analysis()["flops"]) if isinstance(compiled.cost_analysis(), dict) else None
    except Exception:  # noqa: BLE001 - cost analysis is best effort
        flops = None
    state, metrics = step(state, pixels)
    jax.block_until_ready(metrics)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        state, metrics = step(state, pixels)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - t0)
    seconds = float(np.median(times))
    params = sum(x.size for x in jax.tree_util.tree_leaves(state["params"]))
    result = {
        "size": size,
        "batch": batch,
        "discriminator": disc,
        "params": int(params),
        "seconds_per_step": round(seconds, 4),
        "images_per_second": round(batch / seconds, 2),
        "compile_seconds": round(compile_seconds, 2),
        "step_gflops": round(flops / 1e9, 2) if flops else None,
        "device": str(jax.devices()[0].device_kind),
    }
    reference = REFERENCE.get((size, batch))
    if reference and not disc:
        result["reference_seconds_per_step"] = reference
        result["speedup_vs_reference"] = round(reference / seconds, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="a VQGAN config JSON (default: the issue's shape)")
    parser.add_argument("--size", type=int, default=64, help="image side for the default config")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--runs", type=int, default=5, help="timed steps (the median is reported)")
    parser.add_argument("--disc", action="store_true", help="time the step with the PatchGAN discriminator")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override a config key")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    config = json.loads(Path(args.config).read_text()) if args.config else issue_config(args.size)
    for item in args.set:
        key, value = item.split("=", 1)
        config[key] = json.loads(value)
    result = measure(config, args.batch, args.runs, args.disc)
    result["config"] = {k: config[k] for k in sorted(config)}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["peak_rss_mb"] = round(peak / (1024 if sys.platform != "darwin" else 1024**2), 1)
    if result["device"].lower().startswith("cpu") or "cpu" in result["device"].lower():
        rate = matmul_flops_per_second()
        result["matmul_gflops_per_second"] = round(rate / 1e9, 1)
        if result["step_gflops"]:
            result["floor_seconds_per_step"] = round(result["step_gflops"] * 1e9 / rate, 3)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
