"""The README's project layout names every package and top-level module in src/blogart, and nothing that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
SRC = ROOT / "src" / "blogart"


def _layout_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Project layout", 1)[1]
    return section.split("```", 2)[1]


def test_the_layout_names_every_package_and_module():
    block = _layout_block()
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in SRC.glob("*.py") if p.stem not in ("__init__", "__main__")}
    missing = sorted(name for name in packages if f"{name}/" not in block)
    missing += sorted(name for name in modules if f"{name}.py" not in block)
    assert not missing, f"README's project layout does not name: {missing}"


def test_the_layout_names_nothing_that_is_gone():
    block = _layout_block()
    named_modules = set(re.findall(r"\b([a-z_]+)\.py\b", block))
    named_packages = {name for name in re.findall(r"^ +([a-z_]+)/", block, re.M)}
    gone = sorted(m for m in named_modules if not (SRC / f"{m}.py").exists())
    gone += sorted(p for p in named_packages if not (SRC / p).is_dir() and not (SRC / "generators" / p).is_dir())
    assert not gone, f"README's project layout names what the tree lacks: {gone}"
