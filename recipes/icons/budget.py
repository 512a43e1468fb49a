"""Parameter counts of a recipe size's three models, from their configs alone (nothing is trained or
allocated), and the asset budget they must fit: the bundled model is stored as float16, 2 bytes a weight.

    python recipes/icons/budget.py [--size gpu]     # counts, float16 megabytes and the verdict, as JSON
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from settings import SIZES, RecipeSize  # noqa: E402

CLIP_CONFIG = HERE / "blogart-icons-clip.json"  # the model blogart.training.clip_trainer trains here
# The three weight files shipped before the gpu size came to 24.5 MB (dallebart 13.0, vqgan 6.3, clip 5.1):
# a rebuilt model may not make the package bigger.
BUDGET_BYTES = 24_500_000
FILE_OVERHEAD = 20_000  # msgpack/safetensors keys and headers of the three files (19.5 kB in the shipped ones)


def vqgan_params(config: Path | dict) -> int:
    from blogart.models.dalle.vqgan import param_tree

    raw = json.loads(Path(config).read_text()) if not isinstance(config, dict) else config
    return sum(math.prod(shape) for shape, _ in param_tree(raw).values())


def dallebart_params(config: Path | dict) -> int:
    import jax

    from blogart.models.dalle import dallebart as model

    raw = json.loads(Path(config).read_text()) if not isinstance(config, dict) else config
    module = model.DalleBart(model.DalleBartConfig.from_dict({"model_type": "dallebart", **raw}))
    shapes = jax.eval_shape(lambda key: model.init_params(module, key), jax.random.PRNGKey(0))
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes))


def _transformer(width: int, layers: int, mlp: int) -> int:
    """open_clip's residual attention blocks: two layer norms, fused qkv + out projection, an MLP."""
    block = 2 * 2 * width + (3 * width * width + 3 * width) + (width * width + width)
    block += (mlp * width + mlp) + (width * mlp + width)
    return layers * block


def clip_params(config: Path | dict = CLIP_CONFIG) -> int:
    """An open_clip ViT CLIP's parameters (the layout training/clip_trainer.py trains: class token, no attention
    pooling), counted without torch."""
    raw = json.loads(Path(config).read_text()) if not isinstance(config, dict) else config
    v, t, embed = raw["vision_cfg"], raw["text_cfg"], raw["embed_dim"]
    width, grid = v["width"], v["image_size"] // v["patch_size"]
    visual = 3 * v["patch_size"] ** 2 * width + width + (grid * grid + 1) * width + 2 * width
    visual += _transformer(width, v["layers"], int(width * v.get("mlp_ratio", 4.0))) + 2 * width + width * embed
    tw = t["width"]
    text = t["vocab_size"] * tw + t["context_length"] * tw
    text += _transformer(tw, t["layers"], int(tw * t.get("mlp_ratio", 4.0))) + 2 * tw + tw * embed
    return visual + text + 1  # + logit_scale


def budget(size: RecipeSize) -> dict:
    """Each part's parameters and float16 bytes, their total, and whether it fits BUDGET_BYTES."""
    params = {
        "dallebart": dallebart_params(size.dallebart.config_path()),
        "vqgan": vqgan_params(size.vqgan.config_path()),
        "clip": clip_params(),
    }
    total = 2 * sum(params.values()) + FILE_OVERHEAD
    return {
        "size": size.name,
        "params": params,
        "float16_bytes": {part: 2 * count for part, count in params.items()},
        "total_bytes": total,
        "budget_bytes": BUDGET_BYTES,
        "fits": total <= BUDGET_BYTES,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="gpu")
    result = budget(SIZES[parser.parse_args(argv).size])
    print(json.dumps(result, indent=2))
    return 0 if result["fits"] else 1


if __name__ == "__main__":
    sys.exit(main())
