"""Write descriptions.toml into a bundled-assets folder's concepts.json and refresh its concept vectors.

The prompt writer matches key topics against each concept's description, and the shipped
concept_vectors.npz must be made from the same texts, so both are rewritten together. Names, emoji,
categories and keywords stay as they are: the model was trained on captions of the names alone.
A rebuilt vocabulary gets its descriptions from catalogue.py; this is for one already shipped:

    .venv/bin/python recipes/icons/describe.py src/blogart/assets/icons
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from catalogue import DESCRIPTIONS, read_descriptions  # noqa: E402
from export import write_concept_vectors  # noqa: E402

from blogart.prompts.icons import load_concepts, save_concepts  # noqa: E402


def describe(dest: Path, descriptions: dict[str, str]) -> list[str]:
    """Set every concept's description in DEST/concepts.json; the names it has none for."""
    concepts = load_concepts(dest / "concepts.json")
    save_concepts([replace(c, description=descriptions.get(c.name, "")) for c in concepts], dest / "concepts.json")
    write_concept_vectors(dest)
    return [c.name for c in concepts if c.name not in descriptions]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dest", type=Path, help="an assets folder holding concepts.json")
    parser.add_argument("--descriptions", type=Path, default=DESCRIPTIONS, help="the descriptions file")
    args = parser.parse_args()
    if missing := describe(args.dest, read_descriptions(args.descriptions)):
        print(f"no description for {len(missing)} concepts: {', '.join(missing)}", file=sys.stderr)
