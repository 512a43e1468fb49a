"""What a trainer tells its progress display: one event shape for both trainers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class TrainEvent:
    """phase: "codes" (encoding images) | "train" | "eval" | "save"; done of total steps (or images)."""

    phase: str
    done: int
    total: int
    loss: float | None = None
    eval_loss: float | None = None
    note: str = ""  # more figures to show, already formatted ("PSNR 24.1 dB  codes 120")


Progress = Callable[[TrainEvent], None]


def ignore(event: TrainEvent) -> None:
    """The progress callback that shows nothing."""
