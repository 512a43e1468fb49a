"""The progress bar of `blogart finetune` and `blogart vqgan train`: one rich bar per phase on stderr,
with the loss, the held-out figures and an ETA; nothing when stderr is not a terminal (the run's
log.jsonl has every figure)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from blogart.training.progress import Progress, TrainEvent, ignore

LABELS = {"codes": "encoding images"}  # every other phase belongs to the "training" bar


@contextmanager
def progress_bar(quiet: bool = False) -> Iterator[Progress]:
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
