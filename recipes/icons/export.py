"""Copy the trained models into the bundled-assets layout, every float leaf stored as float16.

    DEST/dallebart/  config.json flax_model.msgpack + tokenizer files (no training state), and
                     generation_config.json: the sampling defaults `generate` uses with it
    DEST/vqgan/      config.json flax_model.msgpack
    DEST/clip/       open_clip_config.json open_clip_model.safetensors (when CLIP was trained)
    DEST/concepts.json, DEST/concept_vectors.npz (their MiniLM vectors), DEST/recipe.json

Loaders cast to their compute dtype on load, so 16-bit storage only halves the package size.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from blogart.atomic import atomic_write_bytes, atomic_write_json

WEIGHTS = "flax_model.msgpack"
SKIP = {"train_state.msgpack", WEIGHTS}  # the trainer's state stays in the work folder


def half_msgpack(source: Path, dest: Path) -> None:
    from flax.serialization import msgpack_restore, msgpack_serialize
    from jax.tree_util import tree_map

    tree = msgpack_restore(source.read_bytes())

    def half(leaf):
        leaf = np.asarray(leaf)
        return leaf.astype(np.float16) if np.issubdtype(leaf.dtype, np.floating) else leaf

    atomic_write_bytes(dest, msgpack_serialize(tree_map(half, tree)))


def half_safetensors(source: Path, dest: Path) -> None:
    from safetensors.numpy import load_file, save

    tensors = load_file(str(source))
    halved = {k: v.astype(np.float16) if np.issubdtype(v.dtype, np.floating) else v for k, v in tensors.items()}
    atomic_write_bytes(dest, save(halved))


def copy_model_folder(source: Path, dest: Path) -> None:
    """Config, tokenizer and other small files as they are; the msgpack weights halved."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        if path.is_file() and path.name not in SKIP and path.suffix in (".json", ".txt", ".model"):
            if path.name in ("report.json", "checkpoint.json", "log.jsonl"):
                continue
            shutil.copyfile(path, dest / path.name)
    half_msgpack(source / WEIGHTS, dest / WEIGHTS)


def final_vqgan(work: Path) -> Path:
    """The decoder stage's VQGAN where it ran (same codes, sharper pictures), else the VQGAN stage's."""
    decoder = work / "decoder"
    return decoder if (decoder / WEIGHTS).is_file() else work / "vqgan"


def export(work: Path, dest: Path, recipe: dict, sampling: dict) -> dict:
    """Write DEST from the work folder; returns sizes in bytes by part."""
    from blogart.models.dalle.generation_config import write_sampling

    copy_model_folder((work / "dallebart" / "last").resolve(), dest / "dallebart")
    write_sampling(dest / "dallebart", sampling)
    vqgan = dest / "vqgan"
    vqgan.mkdir(parents=True, exist_ok=True)
    source = final_vqgan(work)
    shutil.copyfile(source / "config.json", vqgan / "config.json")
    half_msgpack(source / WEIGHTS, vqgan / WEIGHTS)
    clip = work / "clip"
    if (clip / "open_clip_model.safetensors").is_file():
        (dest / "clip").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip / "open_clip_config.json", dest / "clip" / "open_clip_config.json")
        half_safetensors(clip / "open_clip_model.safetensors", dest / "clip" / "open_clip_model.safetensors")
    shutil.copyfile(work / "data" / "concepts.json", dest / "concepts.json")
    write_concept_vectors(dest)
    sizes = {part: folder_bytes(dest / part) for part in ("dallebart", "vqgan", "clip") if (dest / part).is_dir()}
    atomic_write_json(dest / "recipe.json", {**recipe, "bytes": sizes})
    return sizes


def write_concept_vectors(dest: Path) -> None:
    """DEST/concept_vectors.npz: the prompt writer's concept matrix, so no run has to embed it."""
    from blogart.llm.embeddings import embed, model_id
    from blogart.prompts.icons import load_concepts
    from blogart.prompts.icons_writer import concept_text, save_concept_vectors

    concepts = load_concepts(dest / "concepts.json")
    vectors = embed([concept_text(c) for c in concepts])
    save_concept_vectors(dest / "concept_vectors.npz", concepts, vectors, model_id())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Rewrite an assets folder's concept_vectors.npz.")
    parser.add_argument("dest", type=Path, help="an assets folder holding concepts.json")
    write_concept_vectors(parser.parse_args().dest)
