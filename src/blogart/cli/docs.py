"""The README's command table, rendered from the app's own help so the two cannot drift.

README.md holds a cog block that calls `command_table()`; `cog -r README.md` rewrites it and the tests
run `cog --check` (tests/test_cli.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer


def _commands(command: Any, ctx: Any) -> Iterator[tuple[Any, Any]]:
    """Every command depth-first in `--help` order; a group comes first when it does something alone.

    `command` and `ctx` are click objects (Typer's own copy of click, hence no click types here).
    """
    group = hasattr(command, "list_commands")
    if ctx.parent is not None and (not group or command.invoke_without_command):
        yield command, ctx
    if group:
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _commands(sub, sub.context_class(sub, info_name=name, parent=ctx))


def _argument(param: Any) -> str:
    """An argument as `--help` shows it: POST, IMAGES..., [NAME] when optional."""
    text = param.name.upper() + ("..." if param.nargs == -1 else "")
    return text if param.required else f"[{text}]"


def command_table(app: typer.Typer | None = None) -> str:
    """A Markdown table: each command's usage line and the first sentence of its help."""
    if app is None:
        from blogart.cli import app
    root = typer.main.get_command(app)
    rows = ["| command | what it does |", "|---|---|"]
    for command, ctx in _commands(root, root.context_class(root, info_name="blogart")):
        arguments = [_argument(p) for p in command.params if p.param_type_name == "argument"]
        usage = " ".join([ctx.command_path, *arguments])
        summary = (command.help or "").strip().split("\n\n")[0].replace("\n", " ").replace("|", "\\|")
        rows.append(f"| `{usage}` | {summary} |")
    return "\n".join(rows) + "\n"
