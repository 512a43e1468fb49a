"""`blogart vqgan check | train`: judge a VQGAN on your images, and train or fine-tune one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from blogart.cli.common import print_json
from blogart.cli.finetune import progress_bar  # the one training progress bar
from blogart.errors import UsageError

app = typer.Typer(
    name="vqgan", help="Check how well a VQGAN reproduces your images; train or fine-tune one.", no_args_is_help=True
)


def _default_vqgan() -> Path:
    """The VQGAN `generate` would use (the same resolver): the bundled model's when it draws with that one,
    else the configured path or the Hugging Face cache."""
    from blogart.config import get_settings
    from blogart.pipeline.auto import vqgan_folder

    return vqgan_folder(get_settings())


@app.command("check")
def check(
    images: Annotated[list[str], typer.Argument(help="Image files or folders (also a .txt/.jsonl/.csv list).")],
    model: Annotated[str | None, typer.Option("--model", help="VQGAN folder (default: the one generate uses).")] = None,
    sheet: Annotated[Path | None, typer.Option("--sheet", help="Write original | reconstruction rows here.")] = None,
    threshold: Annotated[float, typer.Option("--threshold", help="PSNR (dB) that counts as good enough.")] = 24.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Encode and decode the images: PSNR per image and overall, codebook usage, and a verdict.

    PSNR is over pixels in [0, 1] after the round trip `generate` decodes through; the overall figure is
    the PSNR of the mean squared error of all images. Below the threshold (24 dB by default) the verdict
    is "fine-tune it": `blogart vqgan train IMAGES --from MODEL --out DIR`.
    """
    from blogart.training.options import check_float
    from blogart.training.vqgan_check import check as run_check

    check_float("threshold", threshold)
    report = run_check(images, model or _default_vqgan(), threshold, sheet)
    if as_json:
        print_json(report.to_json())
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table("image", "PSNR dB")
    for item in sorted(report.images, key=lambda s: s.psnr)[:20]:
        table.add_row(item.path, "inf" if item.mse == 0 else f"{item.psnr:.2f}")
    console.print(table)
    if len(report.images) > 20:
        typer.echo(f"(the 20 worst of {len(report.images)} images)")
    usage = report.codes_used / report.codebook_size
    typer.echo(
        f"codebook: {report.codes_used} of {report.codebook_size} codes used ({usage:.1%}), "
        f"perplexity {report.perplexity:.1f}"
    )
    if report.skipped:
        typer.echo(f"skipped {len(report.skipped)}: {', '.join(report.skipped[:3])}")
    if report.sheet:
        typer.echo(f"sheet: {report.sheet}")
    typer.echo(f"{len(report.images)} images at {report.resolution}px, overall {report.verdict}")


@app.command("train")
def train(
    data: Annotated[list[str], typer.Argument(help="Image folder(s), or a .txt/.jsonl/.csv listing image paths.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (a VQGAN folder, training state inside).")],
    base: Annotated[
        str | None, typer.Option("--from", help="VQGAN folder to fine-tune (default: the one generate uses).")
    ] = None,
    init: Annotated[Path | None, typer.Option("--init", help="Config JSON of a new VQGAN to train from scratch.")] = (
        None
    ),
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Total steps (overrides --epochs).")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Passes over the images (default 10).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1)] = 16,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (warmup, then cosine decay).")] = 2e-4,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    size: Annotated[int | None, typer.Option("--size", help="Image side in pixels (default: the config's).")] = None,
    crop: Annotated[int | None, typer.Option("--crop", help="Train on random crops of this side.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out (or start it).")] = False,
    save_every: Annotated[int, typer.Option("--save-every", min=1, help="Checkpoint every N steps.")] = 500,
    restart_every: Annotated[
        int, typer.Option("--restart-every", min=0, help="Re-seed unused codes every N steps (0: never).")
    ] = 25,
    disc_start: Annotated[
        int | None, typer.Option("--disc-start", min=0, help="Add the PatchGAN loss from this step on.")
    ] = None,
    disc_weight: Annotated[float, typer.Option("--disc-weight", help="Weight of the PatchGAN loss.")] = 0.1,
    decoder_only: Annotated[
        bool,
        typer.Option(
            "--decoder-only", help="Train only the decoder: every image keeps its codes, so DalleBarts stay valid."
        ),
    ] = False,
    decoder_blocks: Annotated[
        str | None,
        typer.Option(
            "--decoder-blocks",
            help="With --decoder-only: residual blocks per decoder level, e.g. 3,3,3,2 (new ones start as identity).",
        ),
    ] = None,
    max_minutes: Annotated[
        float | None, typer.Option("--max-minutes", help="Stop after this long (checkpointed; --resume continues).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print report.json at the end.")] = False,
) -> None:
    """Train a VQGAN (--init CONFIG.json) or fine-tune one (--from DIR) on images.

    Losses: L1 + L2 reconstruction, codebook and commitment (straight-through), and from --disc-start on a
    PatchGAN hinge loss. Codes no batch has chosen for --restart-every steps are re-seeded from encoder
    outputs, so the codebook stays in use. DIR becomes a VQGAN folder in the released format (config.json +
    flax_model.msgpack: `generate --vqgan DIR`, `models verify DIR`), with the run beside it as `finetune`
    keeps one: checkpoints/step-N/ (atomic, kill -9 safe), checkpoint.json, log.jsonl and report.json.
    With --decoder-only (fine-tuning only) the encoder and codebook are frozen: images keep their codes, so
    a DalleBart trained on this VQGAN still fits it while its pictures sharpen; --decoder-blocks 3,3,3,2
    gives that decoder more residual blocks per level (ch_mult order; added blocks start as the identity).
    A config may set "norm_groups" (GroupNorm groups, 32 in the released model)
    and "l2_codes" (cosine code lookup; pair it with a small embed_dim such as 16).
    """
    from blogart.training.vqgan_trainer import TrainOptions, has_run
    from blogart.training.vqgan_trainer import train as run_train

    if base and init:
        raise UsageError("give either --from (fine-tune) or --init (train from scratch), not both")
    options = TrainOptions(
        data=tuple(data),
        out=str(out),
        base=base,
        init=str(init) if init else None,
        steps=steps,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        size=size,
        crop=crop,
        save_every=save_every,
        restart_every=restart_every,
        disc_start=disc_start,
        disc_weight=disc_weight,
        decoder_only=decoder_only,
        decoder_blocks=_block_counts(decoder_blocks),
        max_minutes=max_minutes,
    )
    options.check()  # before any model is looked up or loaded
    if not base and not init and not (resume and has_run(out)):
        options = replace(options, base=str(_default_vqgan()))
    with progress_bar(as_json) as progress:
        result = run_train(options, resume=resume, progress=progress)
    report = result.report
    if result.skipped:
        typer.echo(result.skipped, err=True)
    if as_json:
        print_json(report)
        return
    last = report["last"]
    held_out = f", held-out PSNR {last['eval_psnr']:.2f} dB" if "eval_psnr" in last else ""
    typer.echo(
        f"{report['steps']}/{report['total_steps']} steps, train PSNR {last.get('psnr', float('nan')):.2f} dB"
        f"{held_out}, {last.get('codes_used', 0)} codes in use; saved {result.out}"
    )


def _block_counts(text: str | None) -> tuple[int, ...] | None:
    """ "3,3,3,2" -> (3, 3, 3, 2)."""
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--decoder-blocks takes counts separated by commas, such as 3,3,3,2; got {text!r}") from None
