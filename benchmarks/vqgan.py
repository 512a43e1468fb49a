"""VQGAN decode speed: random weights in the released f16_16384 shape (same compute as the real ones).

    python benchmarks/vqgan.py --batch 4 --json
prints {"batch", "decode_seconds_per_image", "compile_seconds", "peak_rss_mb", "device"}; the steady
state (median of --runs timed calls of `decode_codes`) excludes compilation, which is reported apart.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np


def random_bundle(dtype: str = "float32", seed: int = 0):
    """A VQGANBundle of the released shape with random weights, built without running the model."""
    import jax
    import jax.numpy as jnp
    from flax.traverse_util import unflatten_dict

    from blogart.models.dalle import vqgan
    from blogart.models.dalle.checkpoint import jax_dtype

    config = vqgan.VQGANConfig()
    rng = np.random.default_rng(seed)
    flat: dict = {}
    for path, (shape, _) in vqgan.param_tree(config).items():
        leaf = path.rsplit("/", 1)[-1]
        if leaf == "kernel":  # fan-in scaling keeps activations in range through the network
            value = rng.standard_normal(shape, dtype=np.float32) / np.sqrt(np.prod(shape[:-1]))
        elif leaf == "scale":
            value = np.ones(shape, np.float32)
        elif leaf == "bias":
            value = np.zeros(shape, np.float32)
        else:
            value = rng.standard_normal(shape, dtype=np.float32)
        flat[path] = jax.device_put(jnp.asarray(value, jax_dtype(dtype)))
    params = unflatten_dict(flat, sep="/")
    return vqgan.VQGANBundle(config=config, params=params, module=vqgan.make_module(config, dtype), dtype=dtype)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3, help="timed calls after the first (compiling) one")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    import jax

    from blogart.models.dalle.vqgan import decode_codes

    bundle = random_bundle(args.dtype)
    codes = np.random.default_rng(1).integers(0, bundle.config.n_embed, (args.batch, bundle.config.num_codes))

    start = time.perf_counter()
    bundle.jitted("decode_code").lower(bundle.params, codes.astype(np.int32)).compile()
    compile_seconds = time.perf_counter() - start

    decode_codes(bundle, codes)  # warm-up: the first call may still pay dispatch setup
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        images = decode_codes(bundle, codes)
        times.append(time.perf_counter() - start)
    assert images.shape == (args.batch, 256, 256, 3) and np.isfinite(images).all()

    device = jax.devices()[0]
    result = {
        "batch": args.batch,
        "decode_seconds_per_image": round(float(np.median(times)) / args.batch, 4),
        "compile_seconds": round(compile_seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "device": f"{device.platform}:{device.device_kind}",
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>26}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
