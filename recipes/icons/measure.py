"""Per-step times of the recipe's parts on this machine, and the full recipe's planned time.

A step time is the difference of two short runs (2 and 6 steps; 2 and 22 for VQGAN and CLIP, whose
start-up varies more than a few steps take), so start-up and compilation cancel.
Both wall-clock and CPU seconds are kept: on a shared machine the wall clock mostly measures the
neighbours, while CPU seconds / cores estimates the wall time of the same work on an idle machine.
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

from report import MEASURED, refresh_measure
from run import HERE, clip_trainer, device, environment, stage_data, trainer_args
from settings import SIZES, RecipeSize

from blogart.atomic import atomic_write_json

SUBSET = 256  # images the timing runs train on (the first DalleBart run also times encoding them)
# steps of the longer VQGAN and CLIP runs: 4 steps more than the short run were lost in the start-up's
# jitter (a CLIP step once came out at minus half a second)
LONG = 22


def timed(command: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one command."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def per(low: tuple[float, float], high: tuple[float, float], count: float) -> tuple[float, float]:
    return (high[0] - low[0]) / count, (high[1] - low[1]) / count


def blogart(*args: str) -> list[str]:
    return [sys.executable, "-m", "blogart", *args]


def measure(work: Path, size: RecipeSize, seed: int = 0, font: str | None = None) -> dict:
    full = SIZES["full"]
    data_seconds = None  # (wall, CPU) when this call renders the data
    if not (work / "data" / "data.json").is_file():
        start, cpu = time.monotonic(), time.process_time()
        stage_data(work, full, seed, font)
        data_seconds = (time.monotonic() - start, time.process_time() - cpu)
    data = json.loads((work / "data" / "data.json").read_text())
    root = work / "measure"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    env = environment(work)
    env["BLOGART_HOME"] = str(root / "home")

    def short(trainer, steps: int) -> list[str]:
        return ["--steps", str(steps), *trainer_args(trainer, seed)[2:]]

    subset = root / "subset"
    subset.mkdir()
    for png in sorted((work / "data" / "train").glob("*.png"))[:SUBSET]:
        shutil.copyfile(png, subset / png.name)
        shutil.copyfile(png.with_suffix(".txt"), subset / png.with_suffix(".txt").name)
    vq = {}
    for steps in (2, LONG):
        command = blogart("vqgan", "train", str(subset), "--out", str(root / f"vqgan-{steps}"))
        vq[steps] = timed([*command, "--init", str(full.vqgan.config_path()), *short(full.vqgan, steps)], env)
    vqgan_step = per(vq[2], vq[LONG], LONG - 2)
    bart = {}
    for label, steps in (("cold", 2), ("warm", 6), ("warm2", 2)):
        command = blogart("finetune", str(subset), "--out", str(root / f"bart-{label}"), "--init")
        command += [str(full.dallebart.config_path()), "--train-tokenizer", "--vqgan", str(root / f"vqgan-{LONG}")]
        bart[label] = timed([*command, *short(full.dallebart, steps), "--test-fraction", "0"], env)
    bart_step = per(bart["warm2"], bart["warm"], 4)
    encode = per(bart["warm2"], bart["cold"], SUBSET)

    from blogart.generators.dalle.generator import DalleGenerator
    from blogart.values import GenerationRequest

    generator = DalleGenerator("m", root / "bart-warm" / "last", root / f"vqgan-{LONG}", batch_size=full.eval_images)
    generator.generate(GenerationRequest(prompt="a robot on a blue background", n=full.eval_images))  # compile
    start, cpu = time.monotonic(), time.process_time()
    generator.generate(GenerationRequest(prompt="a cat and a car on a red background", n=full.eval_images, seed=1))
    per_caption = (time.monotonic() - start, time.process_time() - cpu)

    clip = {}
    for steps in (2, LONG):
        command = clip_trainer(work / "data" / "train", root / f"clip-{steps}", "--steps", str(steps))
        command += ["--batch-size", str(full.clip.batch_size), "--lr", str(full.clip.lr)]
        clip[steps] = timed(command, env)
    clip_step = per(clip[2], clip[LONG], LONG - 2)

    cores = os.cpu_count() or 1
    parts = [
        ("VQGAN train step", vqgan_step, f"step, batch {full.vqgan.batch_size}", full.vqgan.steps),
        ("VQGAN encoding for finetune", encode, "image", data["train"]),
        ("DalleBart train step", bart_step, f"step, batch {full.dallebart.batch_size}", full.dallebart.steps),
        ("generation (evaluate)", per_caption, f"caption, {full.eval_images} images", full.eval_pairs * 1.2),
        ("CLIP train step", clip_step, f"step, batch {full.clip.batch_size}", full.clip.steps),
    ]  # evaluation: PSNR and detection add about a fifth to generation
    if data_seconds is not None:
        parts.insert(0, ("render the full data set", data_seconds, f"{data['train'] + data['test']} images", 1))
    rows = [{"part": name, "wall": w, "cpu": c, "per": unit} for name, (w, c), unit, _ in parts]
    # an idle machine runs the same work in about CPU seconds / cores (the trainers use every core)
    plan = {name: count * max(c / cores, 0.0) for name, (_, c), _, count in parts}
    result = {
        "date": datetime.date.today().isoformat(),
        "device": f"{device()}, {cores} CPUs, load average {os.getloadavg()[0]:.1f} at the end",
        "cores": cores,
        "rows": rows,
        "plan_seconds": {k: round(v, 1) for k, v in plan.items()},
        "planned_minutes": sum(plan.values()) / 60,
        # the same counts at this run's wall-clock times: the figure itself when the machine was idle
        "wall_minutes": sum(count * max(w, 0.0) for _, (w, _), _, count in parts) / 60,
        "plan": ", ".join(f"{k} {v / 60:.1f} min" for k, v in plan.items()),
    }
    atomic_write_json(MEASURED, result)
    refresh_measure(HERE / "REPORT.md")
    return result
