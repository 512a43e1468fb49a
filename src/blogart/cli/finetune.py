"""`blogart finetune DATA --model BASE --out DIR`: teach a DalleBart new captions and pictures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from blogart.cli.common import print_json
from blogart.errors import UsageError
from blogart.training.progress import Progress, TrainEvent, ignore

HELP = (
    "Fine-tune a DalleBart on caption-image pairs (or train one from scratch with --init).\n\n"
    "DATA is a folder of images with same-named .txt captions, or a .jsonl / .csv of (image, caption) with "
    "paths relative to the file. Bad entries are skipped and listed (--strict: the first one is an error). "
    "Images are encoded once with the VQGAN; their codes are cached in the user dir.\n\n"
    "OUT gets checkpoints/step-N/ (a model folder that `generate --checkpoint` and `models verify` accept, plus "
    "train_state.msgpack for --resume), checkpoint.json and the link `last` naming the newest, log.jsonl (losses) "
    "and report.json. OUT itself stands for its newest checkpoint wherever a model folder is asked for "
    "(`generate --checkpoint OUT`, the `models.dalle_mini` setting, `models verify OUT`, `finetune --model OUT`). "
    "Kill it at any moment: --resume goes on from the last checkpoint exactly as if it had never stopped.\n\n"
    "The same code runs on a GPU unchanged. Speed and a worked fine-tune: benchmarks/README.md."
)


def _known_or_path(value: str, kind: str) -> Path:
    """A model folder (or a training run folder: its newest checkpoint) as given, or a known model name
    looked up as `generate` does (never downloaded); `bundled` is the bundled model's DalleBart."""
    from blogart import assets, modelhub
    from blogart.config import get_settings

    path = Path(value).expanduser()
    if path.is_dir():
        return modelhub.run_model(path)
    if value == assets.NAME and kind == "dallebart":
        return assets.require().dallebart
    if value in modelhub.KNOWN and modelhub.KNOWN[value].kind == kind:
        models = get_settings().models
        return modelhub.find(value, models.path_for(value), models.cache_dir or None)
    if path.exists():
        raise UsageError(f"{value} is not a folder: give a {kind} checkpoint folder")
    names = [n for n, m in modelhub.KNOWN.items() if m.kind == kind] + ([assets.NAME] if kind == "dallebart" else [])
    raise UsageError(f"{value} is neither a folder nor a known {kind} model ({', '.join(names)})")


def _default_vqgan(base: Path | None) -> Path:
    """The VQGAN `generate` would draw `base` with: the bundled model's for the bundled DalleBart, else the one
    `generate --checkpoint BASE` decodes with (the same resolver)."""
    from blogart import assets
    from blogart.config import get_settings
    from blogart.pipeline.auto import DALLE_MINI, vqgan_folder

    if base is None:
        return vqgan_folder(get_settings())
    bundled = base.resolve() == assets.bundled().dallebart.resolve()
    return vqgan_folder(get_settings(), assets.NAME if bundled else DALLE_MINI)


LABELS = {"codes": "encoding images"}  # every other phase belongs to the "training" bar


@contextmanager
def progress_bar(quiet: bool = False) -> Iterator[Progress]:
    """The bar of `finetune` and `vqgan train`: one per phase on stderr with loss, held-out figures and ETA;
    nothing when stderr is not a terminal (the run's log.jsonl has every figure)."""
    from rich.console import Console

    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        yield ignore
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[figures]}"),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, Any] = {}
        shown = {"loss": "", "eval": "", "note": ""}

        def update(event: TrainEvent) -> None:
            label = LABELS.get(event.phase, "training")
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=event.total, figures="")
            if event.loss is not None:
                shown["loss"] = f"loss {event.loss:.4f}"
            if event.eval_loss is not None:
                shown["eval"] = f"held-out {event.eval_loss:.4f}"
            if event.note:
                shown["note"] = event.note
            text = "  ".join(v for v in shown.values() if v) if label == "training" else ""
            if event.phase == "save":
                text += "  (saved)"
            bar.update(tasks[label], completed=event.done, total=event.total, figures=text)

        yield update


app = typer.Typer()


@app.command(help=HELP)
def finetune(
    data: Annotated[Path, typer.Argument(help="Image folder with .txt captions, or a .jsonl / .csv list.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for checkpoints, log and report.")],
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Base DalleBart: a folder or run, dalle-mini, dalle-mega or bundled."),
    ] = None,
    init: Annotated[
        Path | None, typer.Option("--init", help="A DalleBart config.json: train a new model from scratch.")
    ] = None,
    train_tokenizer: Annotated[
        bool, typer.Option("--train-tokenizer", help="With --init: fit a byte-level BPE on the captions.")
    ] = False,
    vqgan: Annotated[
        str | None, typer.Option("--vqgan", help="VQGAN folder or name (default: the one generate uses).")
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Passes over the training split [1].")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Optimizer steps (overrides --epochs).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", "-b", help="Examples per batch [8].")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate [1e-4].")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Split, order and dropout seed [0].")] = None,
    test_fraction: Annotated[
        float | None, typer.Option("--test-fraction", help="Held-out share for the eval loss [0.1].")
    ] = None,
    accumulate: Annotated[
        int | None, typer.Option("--accumulate", help="Batches averaged per optimizer step [1].")
    ] = None,
    freeze_encoder: Annotated[bool, typer.Option("--freeze-encoder", help="Train the decoder only.")] = False,
    freeze_decoder_layers: Annotated[
        int | None, typer.Option("--freeze-decoder-layers", help="Keep the lowest K decoder layers fixed.")
    ] = None,
    bf16: Annotated[bool, typer.Option("--bf16", help="bfloat16 compute, float32 master weights.")] = False,
    text_dropout: Annotated[
        float | None, typer.Option("--text-dropout", help="Share of captions replaced by '' [0.1].")
    ] = None,
    save_every: Annotated[
        int | None, typer.Option("--save-every", help="Checkpoint every N steps (default: every epoch).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out with its own settings.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on the first bad example.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    from blogart.training.dallebart_trainer import RunConfig, Sources
    from blogart.training.dallebart_trainer import finetune as run

    given = {
        "epochs": epochs,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "test_fraction": test_fraction,
        "accumulate": accumulate,
        "freeze_decoder_layers": freeze_decoder_layers,
        "text_dropout": text_dropout,
        "save_every": save_every,
    }
    flags = {"freeze_encoder": freeze_encoder, "bf16": bf16, "strict": strict}
    if resume:
        others = {
            **given,
            **flags,
            "model": model,
            "init": init,
            "vqgan": vqgan,
            "train_tokenizer": train_tokenizer,
        }
        ignored = [f"--{k.replace('_', '-')}" for k, v in others.items() if v not in (None, False)]
        if ignored:
            raise UsageError(f"--resume continues the run with its own settings; drop {', '.join(ignored)}")
        sources = Sources(data=data, vqgan=Path())
        config = RunConfig()
    else:
        config = RunConfig(**{k: v for k, v in given.items() if v is not None}, **flags)
        config.check()  # before any model is looked up or loaded
        if model is None and init is None:
            raise UsageError("give --model BASE (a DalleBart folder or dalle-mini) or --init CONFIG.json")
        if train_tokenizer and init is None:
            raise UsageError("--train-tokenizer is for a new model (--init); a base model keeps its tokenizer")
        if init is not None and not init.is_file():
            raise UsageError(f"--init {init}: no such file")
        base = _known_or_path(model, "dallebart") if model else None
        sources = Sources(
            data=data,
            vqgan=_known_or_path(vqgan, "vqgan") if vqgan else _default_vqgan(base),
            base=base,
            init=init,
            train_tokenizer=train_tokenizer,
        )
    _compile_cache()
    with progress_bar(as_json) as progress:
        report = run(out, sources, config, resume=resume, progress=progress)
    if as_json:
        print_json(report.to_dict())
        return
    r = report
    typer.echo(r.data.summary())
    loss = f"train loss {r.train_loss:.4f}" if r.train_loss is not None else "no step run"
    if r.eval_loss is not None and r.first_eval_loss is not None:
        loss += f", held-out loss {r.first_eval_loss:.4f} -> {r.eval_loss:.4f}"
    speed = f", {r.seconds_per_step:.3f} s/step, {r.examples_per_second:.1f} examples/s" if r.seconds_per_step else ""
    typer.echo(f"{r.steps} steps ({r.epochs:g} epochs) in {r.seconds:.1f}s{speed}; {loss}")
    typer.echo(f"checkpoint: {r.checkpoint}")
    typer.echo(f"use it: blogart generate POST --checkpoint {r.out} --vqgan {_vqgan_of(r)}")


def _compile_cache() -> None:
    """Keep compiled train steps on disk as `generate` keeps its samplers (same setting, same folder)."""
    from blogart.config import get_settings, user_dir

    if get_settings().generate.compile_cache:
        from blogart.generators.dalle.sampler import enable_compile_cache

        enable_compile_cache(user_dir() / "xla-cache")


def _vqgan_of(report) -> str:
    try:
        trainer = json.loads((Path(report.checkpoint) / "trainer.json").read_text(encoding="utf-8"))
        return trainer["sources"]["vqgan"]
    except (OSError, ValueError, KeyError):
        return "VQGAN"
