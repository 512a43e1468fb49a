"""A tiny random bundled-model folder in the layout of `blogart.assets` (dallebart/, vqgan/, clip/,
concepts.json, recipe.json), weights stored as float16 like the real export; and a `blogart` dist-info
built from this checkout's pyproject.toml, so its entry points (the `bundled` generator, the `icons`
writer) are registered even where the shared environment was installed from an older checkout."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

from tiny_dalle import DATA, SPECIALS, save_params

from blogart.prompts.icons import Background, Concept, caption, save_concepts

PYPROJECT = Path(__file__).parent.parent / "pyproject.toml"

CONCEPTS = [
    Concept("robot", "\U0001f916", "tech", ("artificial intelligence", "AI", "machine learning", "automation")),
    Concept("page", "\U0001f4c4", "objects", ("document", "contract", "paper", "text file")),
    Concept("balance scale", "\u2696\ufe0f", "symbols", ("law", "justice", "legal", "fairness")),
    Concept("bread", "\U0001f35e", "food", ("sourdough", "loaf", "baking", "bakery")),
    Concept("honeybee", "\U0001f41d", "nature", ("bee", "beekeeping", "hive", "honey")),
    Concept("crab", "\U0001f980", "nature", ("rust", "shellfish", "tide pool")),
    Concept("water wave", "\U0001f30a", "nature", ("ocean", "sea", "tide", "surf")),
    Concept("gear", "\u2699\ufe0f", "tech", ("settings", "machinery", "engineering", "configuration")),
    Concept("rocket", "\U0001f680", "vehicles", ("launch", "space", "startup", "speed")),
    Concept("thermometer", "\U0001f321\ufe0f", "objects", ("temperature", "heat", "fever")),
]


def _corpus() -> list[str]:
    lines = []
    for i, concept in enumerate(CONCEPTS):
        other = CONCEPTS[(i + 3) % len(CONCEPTS)]
        for colour in ("blue", "teal", "white", "beige", "navy"):
            lines.append(caption([concept], Background(colour)))
            lines.append(caption([concept, other], Background(colour, "black"), "row"))
    return lines


def _to_float16(path: Path) -> None:
    """Rewrite a flax msgpack checkpoint with every floating leaf as float16 (as the recipe's export does)."""
    import numpy as np
    from flax.serialization import msgpack_restore, msgpack_serialize
    from flax.traverse_util import flatten_dict, unflatten_dict

    tree = msgpack_restore(path.read_bytes())
    flat = {
        k: (np.asarray(v, np.float16) if np.issubdtype(np.asarray(v).dtype, np.floating) else v)
        for k, v in flatten_dict(tree).items()
    }
    path.write_bytes(msgpack_serialize(unflatten_dict(flat)))


def make_tiny_bundled(root: Path) -> Path:
    """Write a complete bundled-model folder at `root` and return it."""
    import torch
    from safetensors.torch import load_file, save_file
    from tiny_clip import CONFIG, make_tiny_checkpoint
    from tokenizers import ByteLevelBPETokenizer

    bart = root / "dallebart"
    bart.mkdir(parents=True)
    config = json.loads((DATA / "dallebart" / "config.json").read_text())
    config.update(image_length=256, image_vocab_size=64, decoder_start_token_id=64, encoder_vocab_size=400)
    config.update(max_text_length=32, d_model=32, encoder_ffn_dim=48, decoder_ffn_dim=48, normalize_text=True)
    save_params(bart, config)
    _to_float16(bart / "flax_model.msgpack")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(_corpus(), vocab_size=400, min_frequency=1, special_tokens=SPECIALS)
    bpe.save_model(str(bart))

    shutil.copytree(DATA / "vqgan", root / "vqgan", ignore=shutil.ignore_patterns("*.npz", "*.tsv", "vqgan_f16*"))
    _to_float16(root / "vqgan" / "flax_model.msgpack")

    clip = root / "clip"
    clip.mkdir()
    (clip / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": json.loads(CONFIG.read_text()), "preprocess_cfg": {}})
    )
    weights = load_file(str(make_tiny_checkpoint(clip)))
    (clip / "tiny.safetensors").unlink()
    half = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in weights.items()}
    save_file(half, str(clip / "open_clip_model.safetensors"))

    save_concepts(CONCEPTS, root / "concepts.json")
    (root / "recipe.json").write_text(json.dumps({"size": "tiny-test", "steps": 0, "seed": 3, "device": "none"}))
    return root


def install_own_metadata(root: Path) -> Path:
    """A `blogart` dist-info at `root` with this checkout's entry points; put `root` first on sys.path."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    info = root / f"blogart-{project['version']}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: blogart\nVersion: {project['version']}\n")
    groups = {**project["entry-points"], "console_scripts": project["scripts"]}
    text = "".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items()) + "\n"
        for group, entries in groups.items()
    )
    (info / "entry_points.txt").write_text(text)
    return root
