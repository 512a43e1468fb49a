"""The floors of ARCHITECTURE.md, read from the code: imports only go down, and stages do not import each other.

Every `import` counts, at the top of a module or inside a function (a lazy import is still an arrow), as
do `importlib.import_module("blogart...")` strings. Only `if TYPE_CHECKING:` blocks are skipped: they
name a type for the reader and never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src" / "blogart"

# Top to bottom. A module may import from a lower floor, or from its own package; the bottom floor is a
# shared toolbox whose modules may use each other (values.py excepted: it imports nothing of ours).
FLOORS = [
    {"__main__"},
    {"cli"},
    {"batch"},
    {"pipeline"},
    {"outputs", "training"},
    {"topics", "prompts", "social"},
    {"ranking", "generators"},
    {"llm"},
    {
        *("values", "store", "config", "text", "words", "modelhub", "plugins", "errors", "atomic", "redact"),
        *("protocols", "assets", "processes", "readers", "__init__"),
    },
]
FLOOR = {part: len(FLOORS) - 1 - i for i, parts in enumerate(FLOORS) for part in parts}
BOTTOM = 0


def _part(module: str) -> str:
    """The floor-deciding part of a dotted blogart module: blogart.llm.client -> llm, blogart -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    path = SRC.parent.joinpath(*dotted.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def _is_import_module(call: ast.Call) -> bool:
    """importlib.import_module("a.literal.name")"""
    name = getattr(call.func, "attr", getattr(call.func, "id", ""))
    literal = call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)
    return name == "import_module" and bool(literal)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, module: str | None = None) -> set[str]:
    """Every blogart module `path` (the module called `module`) imports, at any depth, outside TYPE_CHECKING."""
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from blogart import plugins` imports the module blogart.plugins
            found.update(f"{base}.{alias.name}" for alias in node.names if _is_module(f"{base}.{alias.name}"))
        elif isinstance(node, ast.Call) and _is_import_module(node):
            found.add(node.args[0].value)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return {name for name in found if name == "blogart" or name.startswith("blogart.")}


MODULES = sorted(SRC.rglob("*.py"))


def test_every_module_is_on_a_floor():
    unplaced = sorted({_part(_module_name(p)) for p in MODULES} - FLOOR.keys())
    assert not unplaced, f"put these on a floor in FLOORS (and ARCHITECTURE.md): {unplaced}"


def _violations(path: Path, module: str | None = None) -> list[str]:
    """The blogart modules `path` imports that sit on a higher floor, or beside it in another stage."""
    module = module or _module_name(path)
    source = _part(module)
    wrong = []
    for target_module in sorted(imports(path, module)):
        target = _part(target_module)
        if target_module == "blogart":
            continue  # `from blogart import __version__` (submodules named there were resolved above)
        if target == source or FLOOR[target] < FLOOR[source]:
            continue
        if FLOOR[target] == FLOOR[source] == BOTTOM and source != "values":
            continue
        wrong.append(target_module)
    return wrong


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_only_go_down(path):
    wrong = _violations(path)
    assert not wrong, f"{_module_name(path)} imports up a floor or across to another stage: {', '.join(wrong)}"


def test_the_checker_sees_lazy_relative_and_string_imports(tmp_path):
    probe = tmp_path / "probe.py"  # read as if it were blogart/llm/probe.py
    probe.write_text(
        "import importlib\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from blogart.cli import app\n"
        "def f():\n    from blogart.pipeline import run\n    from ..ranking import clip\n"
        "    importlib.import_module('blogart.topics.local')\n"
    )
    found = imports(probe, "blogart.llm.probe")
    assert found == {
        "blogart.pipeline",
        "blogart.pipeline.run",
        "blogart.ranking",
        "blogart.ranking.clip",
        "blogart.topics.local",
    }
    assert _violations(probe, "blogart.llm.probe") == sorted(found)  # llm is below all of them
