"""The floors of ARCHITECTURE.md, read from the code: imports only go down, and stages do not import each other.

Every `import` counts, at the top of a module or inside a function (a lazy import is still an arrow), as
do `importlib.import_module("blogart...")` strings. Only `if TYPE_CHECKING:` blocks are skipped: they
name a type for the reader and never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

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
    {"models", "llm"},
    {"store", "plugins", "modelhub"},
    {
        *("values", "config", "text", "words", "errors", "atomic", "redact", "protocols", "assets", "processes"),
        *("readers", "__init__"),
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


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import each other, directly or round a loop (Tarjan's components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_imports_only_go_down_and_never_circle():
    names = {_module_name(p): p for p in MODULES}
    problems = [
        f"not on a floor (add it to FLOORS and the layout): {part}"
        for part in sorted({_part(name) for name in names} - FLOOR.keys())
    ]
    graph = {}
    for name, path in names.items():
        found = imports(path, name)
        graph[name] = {target for target in found if target in names and target != name}
        if _part(name) in FLOOR:
            problems += [f"{name} imports up a floor or across to another stage: {t}" for t in _violations(path, name)]
    problems += [f"import circle: {' <-> '.join(group)}" for group in circles(graph)]
    assert not problems, "\n".join(problems)


def test_the_circle_finder_sees_loops_of_any_length():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": {"d"}, "f": {"a"}, "g": {"g"}}
    assert circles(graph) == [["a", "b", "c"], ["d", "e"], ["g"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_checker_sees_lazy_relative_and_string_imports(tmp_path):
    probe = tmp_path / "probe.py"  # read as if it were blogart/llm/probe.py
    probe.write_text(
        "import importlib\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from blogart.cli import app\n"
        "def f():\n    from blogart.pipeline import generate\n    from ..ranking import clip\n"
        "    importlib.import_module('blogart.topics.local')\n"
    )
    found = imports(probe, "blogart.llm.probe")
    assert found == {
        "blogart.pipeline",
        "blogart.pipeline.generate",
        "blogart.ranking",
        "blogart.ranking.clip",
        "blogart.topics.local",
    }
    assert _violations(probe, "blogart.llm.probe") == sorted(found)  # llm is below all of them


def test_the_seams_name_nothing_above_the_bottom_floor_not_even_for_a_type_checker():
    """The registry and the protocols are what every floor builds on: they may not lean on one above."""
    for name in ("plugins.py", "protocols.py"):
        tree = ast.parse((SRC / name).read_text())
        named = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        named |= {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
        above = sorted(m for m in named if m.startswith("blogart.") and FLOOR[_part(m)] != BOTTOM)
        assert not above, f"{name} names {above}"


MAX_FUNCTION_LINES = 80  # past this a function is several steps that want names of their own


def long_functions(root: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """'path:line name (N lines)' for every function or method longer than `limit` lines, cli/ left out: a typer
    command is mostly its option list."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_outside_the_cli_is_over_80_lines():
    long = long_functions(SRC)
    assert not long, "split these into named steps:\n" + "\n".join(long)


def test_the_length_check_counts_functions_and_methods_and_skips_the_cli(tmp_path):
    def body(lines: int, indent: str = "    ") -> str:
        return "".join(f"{indent}x{i} = {i}\n" for i in range(lines))

    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "command.py").write_text(f"def options():\n{body(90)}")
    (tmp_path / "steps.py").write_text(f"def short():\n{body(79)}\nclass A:\n    def long(self):\n{body(80, ' ' * 8)}")
    assert long_functions(tmp_path) == ["steps.py:83 long (81 lines)"]


MAX_PIPELINE_LINES = 250  # one command's wiring; more is a stage that belongs in its own floor


def test_no_pipeline_module_is_over_250_lines():
    long = [
        f"pipeline/{path.name} ({lines} lines)"
        for path in sorted((SRC / "pipeline").glob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_PIPELINE_LINES
    ]
    assert not long, "move stages out of these into their own modules:\n" + "\n".join(long)
