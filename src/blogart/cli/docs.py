"""The README's command table and docs/help.md, rendered from the app's own help so they cannot drift.

README.md holds a cog block that calls `command_table()`, docs/help.md one that calls `help_page()`;
`cog -r README.md docs/help.md` rewrites both, and tests/test_cli.py and tests/test_readme.py fail while
either is stale.
"""

from __future__ import annotations

import re
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


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def help_page(app: typer.Typer | None = None, width: int = 100) -> str:
    """Every command's `--help` as Markdown: one heading and one text block each, root first.

    Rendered in-process at a fixed width with colour codes stripped, so the page does not depend on the
    terminal (or on CI forcing colour) that regenerates it.
    """
    from typer.testing import CliRunner

    if app is None:
        from blogart.cli import app
    root = typer.main.get_command(app)
    root_ctx = root.context_class(root, info_name="blogart")
    runner = CliRunner()
    parts = []
    for _, ctx in [(root, root_ctx), *_commands(root, root_ctx)]:
        names, at = [], ctx
        while at.parent is not None:
            names.insert(0, at.info_name)
            at = at.parent
        env = {"COLUMNS": str(width), "NO_COLOR": "1", "TERM": "xterm"}  # a dumb TERM pins rich to 80 columns
        result = runner.invoke(app, [*names, "--help"], env=env, prog_name="blogart")
        if result.exit_code != 0:  # a page of error text would pass for help
            raise RuntimeError(f"`{ctx.command_path} --help` failed: {result.output.strip()}")
        path = ctx.command_path
        text = "\n".join(line.rstrip() for line in _ANSI.sub("", result.output).splitlines()).strip("\n")
        parts.append(f"## `{path}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)
