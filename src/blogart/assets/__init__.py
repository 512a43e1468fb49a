"""Files that ship inside the package: the bundled icon model (see recipes/icons/).

Minimal version from the CLIP branch; the BUNDLED branch owns this module.
"""

from __future__ import annotations

from pathlib import Path


def bundled_dir() -> Path:
    """The folder of the bundled icon model: dallebart/, vqgan/, clip/, concepts.json, recipe.json."""
    return Path(__file__).resolve().parent / "icons"
