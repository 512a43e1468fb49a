"""Checkpoints of a training run, safe against kill -9 at any moment.

An output folder holds:

    OUT/checkpoints/step-00000100/   a whole model folder (released format) + train_state.msgpack + trainer.json
    OUT/checkpoint.json              {"current": "checkpoints/step-00000100", "step": 100}: the one pointer
    OUT/last -> checkpoints/step-... a symlink to the same folder, for `generate --checkpoint OUT/last`
    OUT/log.jsonl, OUT/report.json

A checkpoint is written into a `.partial` folder (every file atomically), renamed whole into place,
and only then made current by rewriting the pointer atomically. A kill at any moment leaves the
previous pointer naming a complete folder. The two newest checkpoints are kept.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blogart.atomic import atomic_write_bytes, atomic_write_json
from blogart.errors import UsageError
from blogart.modelhub import RUN_CHECKPOINTS as FOLDER
from blogart.modelhub import RUN_POINTER as POINTER

LINK = "last"
STATE_FILE = "train_state.msgpack"
TRAINER_FILE = "trainer.json"
KEEP = 2


@dataclass(frozen=True)
class Checkpoint:
    folder: Path
    step: int
    trainer: dict[str, Any]  # trainer.json: the run's config, counters and data digest


def current(out: Path) -> Checkpoint | None:
    """The checkpoint the pointer names, or None when the folder holds no run yet."""
    pointer = Path(out) / POINTER
    if not pointer.is_file():
        return None
    try:
        data = json.loads(pointer.read_text(encoding="utf-8"))
        folder = Path(out) / data["current"]
        trainer = json.loads((folder / TRAINER_FILE).read_text(encoding="utf-8"))
        step = int(data["step"])
        if not isinstance(trainer, dict):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(f"{pointer} names no readable checkpoint; start a new --out") from None
    return Checkpoint(folder, step, trainer)


# trainer.json's "trainer" -> the command whose runs carry it
TRAINERS = {"dallebart": "blogart finetune", "vqgan": "blogart vqgan train"}


def trainer_kind(trainer: dict[str, Any]) -> str | None:
    """Which trainer saved a checkpoint: its "trainer" key, or for runs saved before that key, the one
    key only that trainer writes; None for neither."""
    kind = trainer.get("trainer")
    if kind in TRAINERS:
        return kind
    if kind is None and "sources" in trainer:
        return "dallebart"
    if kind is None and "options" in trainer:
        return "vqgan"
    return None


def require_kind(out: Path, saved: Checkpoint, kind: str) -> None:
    """UsageError (one line) unless the run in `out` was saved by the trainer `kind`."""
    found = trainer_kind(saved.trainer)
    if found == kind:
        return
    what = f"a `{TRAINERS[found]}` run" if found else "a run this version of blogart does not know"
    hint = "resume it with that command" if found else "start a new --out"
    raise UsageError(f"{out} holds {what}, not a `{TRAINERS[kind]}` one: {hint}, or choose another --out")


def write(out: Path, step: int, files: dict[str, bytes], trainer: dict[str, Any]) -> Checkpoint:
    """Write a checkpoint for `step` (file name -> bytes, plus trainer.json) and make it current."""
    out = Path(out)
    name = f"step-{step:08d}"
    root = out / FOLDER
    staging = root / f".{name}.partial"
    final = root / name
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for file_name, data in files.items():
        atomic_write_bytes(staging / file_name, data)
    atomic_write_json(staging / TRAINER_FILE, trainer)
    _fsync_dir(staging)
    if final.exists():  # left by a run killed after the rename but before the pointer moved: never current
        shutil.rmtree(final)
    os.rename(staging, final)
    _fsync_dir(root)
    atomic_write_json(out / POINTER, {"current": f"{FOLDER}/{name}", "step": step})
    _point_link(out, f"{FOLDER}/{name}")
    prune(out)
    return Checkpoint(final, step, trainer)


def prune(out: Path, keep: int = KEEP) -> None:
    """Remove unfinished checkpoints and all but the `keep` newest (never the current one)."""
    root = Path(out) / FOLDER
    if not root.is_dir():
        return
    now = current(out)
    for partial in root.glob(".*.partial"):
        shutil.rmtree(partial, ignore_errors=True)
    done = sorted(p for p in root.glob("step-*") if p.is_dir())
    if now is not None:
        # Newer than the pointer: renamed into place by a run killed before it moved the pointer.
        for stale in [p for p in done if p.name > now.folder.name]:
            shutil.rmtree(stale, ignore_errors=True)
            done.remove(stale)
    for folder in done[:-keep]:
        if now is None or folder.resolve() != now.folder.resolve():
            shutil.rmtree(folder, ignore_errors=True)


def _point_link(out: Path, target: str) -> None:
    """Move the `last` symlink atomically; best effort (no symlinks on some file systems)."""
    tmp = out / f".{LINK}.tmp"
    try:
        tmp.unlink(missing_ok=True)
        os.symlink(target, tmp, target_is_directory=True)
        os.replace(tmp, out / LINK)
    except OSError:
        tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
