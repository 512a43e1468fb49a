"""The bundled offline model: where its files are and whether they are all there.

`blogart generate` falls back to it when no DALL-E Mini weights are installed (see
`blogart.pipeline.auto`). The files are made by the recipe in `recipes/icons/` and ship in the
package under `assets/icons/`:

    icons/dallebart/     DalleBart checkpoint in the released format, with its own BPE tokenizer
    icons/vqgan/         the VQGAN its image tokens decode with
    icons/clip/          an open_clip folder (open_clip_config.json + open_clip_model.safetensors) for ranking
    icons/concepts.json  the vocabulary the model can draw (`blogart.prompts.icons.load_concepts`)
    icons/concept_vectors.npz  MiniLM vectors of that vocabulary (optional: recomputed when absent)
    icons/recipe.json    what made them: recipe size, steps, seed, date, device, data hash

Weights are stored as float16; every loader casts them to its compute dtype. The environment variable
BLOGART_ASSETS names another folder of the same layout (tests, or a model rebuilt from the recipe).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blogart.errors import MissingWeights

NAME = "bundled"  # the generator and the `models list` row
ENV = "BLOGART_ASSETS"
RECIPE_HINT = "rebuild it with recipes/icons/run.sh (or reinstall blogart)"

# Each part's folder and the files it must hold; a part is complete when every file is there.
DALLEBART_FILES = ("config.json", "flax_model.msgpack", "vocab.json", "merges.txt")
VQGAN_FILES = ("config.json", "flax_model.msgpack")
CLIP_FILES = ("open_clip_config.json", "open_clip_model.safetensors")


def package_dir() -> Path:
    """Where the packaged assets live inside the installed blogart (present or not)."""
    return Path(__file__).parent / "icons"


def bundled_dir() -> Path:
    """The bundled model's folder: BLOGART_ASSETS when set, else the packaged `assets/icons`."""
    if value := os.environ.get(ENV):
        return Path(value).expanduser()
    return package_dir()


@dataclass(frozen=True)
class BundledModel:
    """The files of one bundled model folder, by part."""

    root: Path

    @property
    def dallebart(self) -> Path:
        return self.root / "dallebart"

    @property
    def vqgan(self) -> Path:
        return self.root / "vqgan"

    @property
    def clip(self) -> Path:
        return self.root / "clip"

    @property
    def concepts(self) -> Path:
        return self.root / "concepts.json"

    @property
    def concept_vectors(self) -> Path:
        return self.root / "concept_vectors.npz"

    @property
    def recipe_file(self) -> Path:
        return self.root / "recipe.json"

    @property
    def source(self) -> str:
        """ "package" for the shipped files, "BLOGART_ASSETS" for a folder named by the environment."""
        return "package" if self.root == package_dir() else ENV

    def missing(self) -> list[str]:
        """The required files this folder lacks, relative to it ("vqgan/config.json", ...)."""
        wanted = [
            *(f"dallebart/{f}" for f in DALLEBART_FILES),
            *(f"vqgan/{f}" for f in VQGAN_FILES),
            *(f"clip/{f}" for f in CLIP_FILES),
            "concepts.json",
        ]
        return [name for name in wanted if not (self.root / name).is_file()]

    @property
    def complete(self) -> bool:
        return not self.missing()

    def recipe(self) -> dict[str, Any]:
        """recipe.json as a dict; {} when it is absent or unreadable (it describes, it is not needed to run)."""
        try:
            data = json.loads(self.recipe_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())


def bundled() -> BundledModel:
    """The bundled model folder, whether or not its files are there (see `BundledModel.missing`)."""
    return BundledModel(bundled_dir())


def installed() -> BundledModel | None:
    """The bundled model when all its files are present, else None."""
    model = bundled()
    return model if model.complete else None


def require() -> BundledModel:
    """The bundled model, or MissingWeights naming what is absent and how to get it."""
    model = bundled()
    if missing := model.missing():
        more = f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""
        raise MissingWeights(f"the bundled model in {model.root} lacks {missing[0]}{more}; {RECIPE_HINT}")
    return model
