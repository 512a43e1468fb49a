"""`blogart models`: what is installed and where, download, check, and the path of one model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from blogart import modelhub
from blogart.cli.common import print_json
from blogart.errors import BlogartError

app = typer.Typer(name="models", help="List, download and check model weights.")


@app.callback(invoke_without_command=True)
def models(ctx: typer.Context) -> None:
    # Alone, `blogart models` lists them.
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_models)


def _explicit() -> tuple[dict[str, str | None], str | None]:
    """Explicit paths per model name and the HF cache dir, from the settings."""
    from blogart.config import get_settings

    models = get_settings().models
    return {name: models.path_for(name) for name in modelhub.KNOWN}, models.cache_dir or None


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)  # unreachable


@app.command("list")
def list_models(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False) -> None:
    """Every known model and the bundled one: installed or not, where, and its size on disk."""
    from blogart import assets

    explicit, cache_dir = _explicit()
    found = {m.name: m for m in modelhub.installed(explicit, cache_dir)}
    rows = []
    for name, model in modelhub.KNOWN.items():
        hit = found.get(name)
        rows.append(
            {
                "name": name,
                "repo_id": model.repo_id,
                "revision": model.revision,
                "installed": hit is not None,
                "path": str(hit.path) if hit else None,
                "source": hit.source if hit else None,
                "size_bytes": hit.size_bytes if hit else None,
                "licence": model.licence,
            }
        )
    bundled = modelhub.bundled()
    rows.append(
        {
            "name": assets.NAME,
            "repo_id": None,  # it ships in the package; recipes/icons/ rebuilds it
            "revision": None,
            "installed": bundled is not None,
            "path": str(bundled.path) if bundled else None,
            "source": bundled.source if bundled else None,
            "size_bytes": bundled.size_bytes if bundled else None,
            "licence": "blogart's own (recipes/icons/ says what it was trained on)",
            "recipe": assets.bundled().recipe() if bundled else None,
        }
    )
    if as_json:
        print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "installed", "where", "size", "licence", title_justify="left")
    for row in rows:
        absent = f"[dim]{row['repo_id'] or 'not built: ' + assets.RECIPE_HINT}[/dim]"
        where = f"{row['path']} [dim]({row['source']})[/dim]" if row["installed"] else absent
        size = _size(row["size_bytes"]) if row["installed"] else "-"
        table.add_row(row["name"], "yes" if row["installed"] else "no", where, size, row["licence"] or "-")
    Console().print(table)
    typer.echo(f"HF cache: {modelhub.hf_cache_dir(cache_dir)}")


@app.command("pull")
def pull(name: Annotated[str, typer.Argument(help=f"One of: {', '.join(modelhub.KNOWN)}.")]) -> None:
    """Download a model at its pinned revision into the Hugging Face cache (a rerun resumes)."""
    model = modelhub.known(name)
    _, cache_dir = _explicit()
    typer.echo(
        f"pulling {name}: {model.repo_id}@{model.revision[:12]} (~{_size(model.approx_bytes)}) "
        f"into {modelhub.hf_cache_dir(cache_dir)}",
        err=True,
    )
    path = modelhub.pull(name, cache_dir)
    typer.echo(str(path))


@app.command("verify")
def verify(
    target: Annotated[
        str | None, typer.Argument(help="A model name or a checkpoint folder; default: every installed model.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON reports.")] = False,
) -> None:
    """Check files, and for DalleBart/VQGAN that the weights' tree and shapes match the config."""
    from blogart import assets
    from blogart.models.dalle.verify import verify as verify_model

    explicit, cache_dir = _explicit()
    if target is None:
        targets: list[str] = [m.name for m in modelhub.installed(explicit, cache_dir)]
        if modelhub.bundled() is not None:
            targets.append(assets.NAME)
        if not targets:
            raise BlogartError("no model is installed; run `blogart models pull NAME`")
    else:
        targets = [target]
    reports = []
    for t in targets:
        if t == assets.NAME:
            reports.extend(_verify_bundled())
        elif _is_pipeline(t, explicit.get(t), cache_dir):
            from blogart.models.diffusion import verify_pipeline

            name = _name(t)
            folder = modelhub.find(t, explicit.get(t), cache_dir) if name else Path(t).expanduser()
            reports.append(verify_pipeline(folder, name=name))
        else:
            reports.append(verify_model(t, explicit.get(t), cache_dir))
    if as_json:
        from blogart.values import to_dict

        print_json([{**to_dict(r), "ok": r.ok} for r in reports])
    else:
        for report in reports:
            label = report.name or str(report.path)
            checked = f", {report.tensors} tensors checked" if report.tensors else ""
            typer.echo(f"{label}: {'ok' if report.ok else 'BROKEN'} ({report.kind}, {report.path}{checked})")
            for problem in report.problems:
                typer.echo(f"  problem: {problem}")
            for warning in report.warnings:
                typer.echo(f"  warning: {warning}")
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


def _is_pipeline(target: str, explicit: str | None, cache_dir: str | None) -> bool:
    """A diffusers pipeline: a known diffusers model, `diffusers:...`, or a folder with a model_index.json."""
    known = modelhub.KNOWN.get(target)
    if known is not None:
        return known.kind == "diffusers"
    return target.startswith(modelhub.DIFFUSERS_PREFIX) or (Path(target).expanduser() / "model_index.json").is_file()


def _name(target: str) -> str | None:
    return target if target in modelhub.KNOWN or target.startswith(modelhub.DIFFUSERS_PREFIX) else None


def _verify_bundled() -> list:
    """One report per part of the bundled model (DalleBart, VQGAN, CLIP folders and the vocabulary)."""
    from blogart import assets
    from blogart.models.dalle.verify import VerifyReport
    from blogart.models.dalle.verify import verify as verify_model
    from blogart.prompts.icons import load_concepts

    model = assets.require()
    reports = []
    for part, folder in (("dallebart", model.dallebart), ("vqgan", model.vqgan), ("clip", model.clip)):
        report = verify_model(folder)
        reports.append(replace(report, name=f"{assets.NAME}/{part}"))
    try:
        count = len(load_concepts(model.concepts))
        problems = () if count else ("concepts.json lists no concepts",)
    except BlogartError as exc:
        count, problems = 0, (str(exc),)
    reports.append(VerifyReport(model.concepts, "concepts", problems, tensors=0, name=f"{assets.NAME}/concepts"))
    return reports


@app.command("path")
def path(
    name: Annotated[
        str | None, typer.Argument(help=f"One of: {', '.join(modelhub.KNOWN)}, bundled; none: the HF cache.")
    ] = None,
) -> None:
    """Print the folder a model is loaded from (explicit path, else the HF cache), or the HF cache itself."""
    explicit, cache_dir = _explicit()
    if name is None:
        typer.echo(str(modelhub.hf_cache_dir(cache_dir)))
        return
    from blogart import assets

    if name == assets.NAME:
        typer.echo(str(assets.require().root))
        return
    typer.echo(str(modelhub.find(name, explicit.get(name), cache_dir)))
