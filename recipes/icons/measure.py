"""Per-step times of the recipe's parts on this machine, and the full recipe's planned time.

A step time is the difference of two short runs (2 and 6 steps), so start-up and compilation cancel.
Written to recipes/icons/measure.json, which REPORT.md quotes.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from report import MEASURED, write_measure_only
from run import CLIP_TRAIN, HERE, device, environment, stage_data, trainer_args
from settings import SIZES, RecipeSize

from blogart.atomic import atomic_write_json

SUBSET = 256  # images the DalleBart timing trains on (its first run also times encoding them)


def timed(command: list[str], env: dict) -> float:
    start = time.monotonic()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def blogart(*args: str) -> list[str]:
    return [sys.executable, "-m", "blogart", *args]


def measure(work: Path, size: RecipeSize, seed: int = 0, font: str | None = None) -> dict:
    full = SIZES["full"]
    if not (work / "data" / "data.json").is_file():
        start = time.monotonic()
        stage_data(work, full, seed, font)
        data_seconds = time.monotonic() - start
    else:
        data_seconds = float("nan")
    data = json.loads((work / "data" / "data.json").read_text())
    root = work / "measure"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    env = environment(work)
    env["BLOGART_HOME"] = str(root / "home")

    def short(trainer, steps: int) -> list[str]:
        return ["--steps", str(steps), *trainer_args(trainer, seed)[2:]]

    vq = {}
    for steps in (2, 6):
        out = root / f"vqgan-{steps}"
        command = blogart("vqgan", "train", str(work / "data" / "train"), "--out", str(out))
        vq[steps] = timed([*command, "--init", str(full.vqgan.config_path()), *short(full.vqgan, steps)], env)
    vqgan_step = (vq[6] - vq[2]) / 4

    subset = root / "subset"
    subset.mkdir()
    for png in sorted((work / "data" / "train").glob("*.png"))[:SUBSET]:
        shutil.copyfile(png, subset / png.name)
        shutil.copyfile(png.with_suffix(".txt"), subset / png.with_suffix(".txt").name)
    bart = {}
    for label, steps in (("cold", 2), ("warm", 6), ("warm2", 2)):
        command = blogart("finetune", str(subset), "--out", str(root / f"bart-{label}"), "--init")
        command += [str(full.dallebart.config_path()), "--train-tokenizer", "--vqgan", str(root / "vqgan-6")]
        bart[label] = timed([*command, *short(full.dallebart, steps), "--test-fraction", "0"], env)
    bart_step = (bart["warm"] - bart["warm2"]) / 4
    encode = max(0.0, bart["cold"] - bart["warm2"]) / SUBSET

    from blogart.generators.dalle.generator import DalleGenerator
    from blogart.values import GenerationRequest

    generator = DalleGenerator("m", root / "bart-warm" / "last", root / "vqgan-6", batch_size=full.eval_images)
    generator.generate(GenerationRequest(prompt="a robot on a blue background", n=full.eval_images))  # compile
    start = time.monotonic()
    generator.generate(GenerationRequest(prompt="a cat and a car on a red background", n=full.eval_images, seed=1))
    per_caption = time.monotonic() - start

    clip_step = None
    if CLIP_TRAIN.is_file():
        clip = {}
        for steps in (2, 6):
            command = [sys.executable, str(CLIP_TRAIN), str(work / "data" / "train")]
            command += ["--out", str(root / f"clip-{steps}"), "--steps", str(steps)]
            command += ["--batch-size", str(full.clip.batch_size), "--lr", str(full.clip.lr)]
            clip[steps] = timed(command, env)
        clip_step = (clip[6] - clip[2]) / 4

    rows = [
        {"part": "render the full data set", "seconds": data_seconds, "per": f"{data['train'] + data['test']} images"},
        {"part": "VQGAN train step", "seconds": vqgan_step, "per": f"step, batch {full.vqgan.batch_size}"},
        {"part": "VQGAN encoding for finetune", "seconds": encode, "per": "image"},
        {"part": "DalleBart train step", "seconds": bart_step, "per": f"step, batch {full.dallebart.batch_size}"},
        {"part": "generation (eval)", "seconds": per_caption, "per": f"caption, {full.eval_images} images"},
    ]
    if clip_step is not None:
        rows.append({"part": "CLIP train step", "seconds": clip_step, "per": f"step, batch {full.clip.batch_size}"})
    plan = {
        "data": 0 if data_seconds != data_seconds else data_seconds,
        "vqgan": full.vqgan.steps * vqgan_step,
        "encode": encode * data["train"],
        "dallebart": full.dallebart.steps * bart_step,
        "clip": full.clip.steps * clip_step if clip_step is not None else 0.0,
        "evaluate": full.eval_pairs * per_caption * 1.2,  # + detection and PSNR, about a fifth more
    }
    result = {
        "date": datetime.date.today().isoformat(),
        "device": f"{device()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end",
        "rows": rows,
        "plan_seconds": {k: round(v, 1) for k, v in plan.items()},
        "planned_minutes": sum(plan.values()) / 60,
        "plan": ", ".join(f"{k} {v / 60:.1f} min" for k, v in plan.items())
        + ("" if clip_step is not None else "; CLIP not measured (no clip_train.py)"),
    }
    atomic_write_json(MEASURED, result)
    if not (work / "done" / "evaluate.json").is_file():
        write_measure_only(HERE / "REPORT.md")
    return result
