"""The bundled icon model's recipe: data -> VQGAN -> decoder -> DalleBart -> CLIP -> export -> evaluate -> REPORT.md.

    python recipes/icons/run.py --out WORK [--size test|full|large] [--font F] [--seed S] [--export DIR]
    python recipes/icons/run.py --out WORK --measure     # per-step times that sized the full recipe
    python recipes/icons/run.py --out WORK --size gpu --prepare-gpu CARRY | --import-gpu DIR   # gpu.py

Every stage writes WORK/done/STAGE.json when it finishes and is skipped when that file exists; the
trainers checkpoint as they go and are restarted with --resume, so a killed run is finished by
running the same command again. blogart is run as `python -m blogart` with this interpreter, so the
recipe works from a source tree (PYTHONPATH=src) as well as from an install, on CPU or GPU.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import render  # noqa: E402
from settings import SIZES, RecipeSize, Trainer  # noqa: E402

from blogart.atomic import atomic_write_json  # noqa: E402

ROOT = HERE.parent.parent
BUNDLED = ROOT / "src" / "blogart" / "assets" / "icons"
CLIP_CONFIG = HERE / "blogart-icons-clip.json"  # the CLIP stage's open_clip model
STAGES = ("data", "vqgan", "decoder", "dallebart", "clip", "export", "evaluate")


def say(message: str) -> None:
    print(f"[recipe] {message}", file=sys.stderr, flush=True)


def environment(work: Path) -> dict[str, str]:
    """Trainers keep their code cache and compiled steps inside WORK, and find blogart's source."""
    env = dict(os.environ)
    env.setdefault("BLOGART_HOME", str(work / "home"))
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    return env


def blogart(work: Path, *args: str) -> None:
    command = [sys.executable, "-m", "blogart", *args]
    say(" ".join(command[1:]))
    subprocess.run(command, check=True, env=environment(work))


def trainer_args(trainer: Trainer, seed: int) -> list[str]:
    return [
        "--steps",
        str(trainer.steps),
        "--batch-size",
        str(trainer.batch_size),
        "--lr",
        str(trainer.lr),
        "--seed",
        str(seed),
        "--save-every",
        str(trainer.save_every),
        *trainer.extra,
    ]


def stage_data(work: Path, size: RecipeSize, seed: int, font: str | None) -> dict:
    return render.write_data(work / "data", render.SIZES[size.data], seed, font)


def stage_vqgan(work: Path, size: RecipeSize, seed: int) -> dict:
    out = work / "vqgan"
    args = ["vqgan", "train", str(work / "data" / "train"), "--out", str(out), "--init"]
    args += [str(size.vqgan.config_path()), *trainer_args(size.vqgan, seed), "--resume"]
    blogart(work, *args)
    return json.loads((out / "report.json").read_text())


def stage_decoder(work: Path, size: RecipeSize, seed: int) -> dict:
    """Sharpen the VQGAN's pictures without moving any code: the DalleBart stage may read the codes of
    either VQGAN (they are the same), and export ships this one."""
    if size.decoder is None:
        return {"skipped": f"size {size.name} has no decoder fine-tune"}
    if read_done(work, "vqgan").get("gpu_results"):
        return {"skipped": "the VQGAN came from a GPU leg: its decoder is not fine-tuned on this machine"}
    out = work / "decoder"
    args = ["vqgan", "train", str(work / "data" / "train"), "--out", str(out), "--from", str(work / "vqgan")]
    args += ["--decoder-only", *trainer_args(size.decoder, seed), "--resume"]
    blogart(work, *args)
    return json.loads((out / "report.json").read_text())


def stage_dallebart(work: Path, size: RecipeSize, seed: int) -> dict:
    out = work / "dallebart"
    data = str(work / "data" / "train")
    if (out / "checkpoint.json").is_file():
        blogart(work, "finetune", data, "--out", str(out), "--resume")
    else:
        args = ["finetune", data, "--out", str(out), "--init", str(size.dallebart.config_path()), "--train-tokenizer"]
        args += ["--vqgan", str(work / "vqgan"), *trainer_args(size.dallebart, seed), "--test-fraction", "0.02"]
        blogart(work, *args)
    return json.loads((out / "report.json").read_text())


def clip_trainer(data: Path, out: Path, *args: str) -> list[str]:
    """The command that trains the recipe's CLIP (blogart.training.clip_trainer) on `data` into `out`."""
    module = "blogart.training.clip_trainer"
    return [sys.executable, "-m", module, str(data), "--out", str(out), "--config", str(CLIP_CONFIG), *args]


def stage_clip(work: Path, size: RecipeSize, seed: int) -> dict:
    t = size.clip
    command = clip_trainer(work / "data" / "train", work / "clip")
    command += ["--steps", str(t.steps), "--batch-size", str(t.batch_size), "--lr", str(t.lr), "--seed", str(seed)]
    if (work / "clip" / "train").is_dir():  # its resumable state: a killed run goes on
        command.append("--resume")
    command.append("--json")
    say(" ".join(command[1:]))
    subprocess.run(command, check=True, env=environment(work), stdout=subprocess.DEVNULL)
    return json.loads((work / "clip" / "report.json").read_text())


def data_hash(data: Path) -> str:
    """sha256 over every caption and image of the data folder, in name order."""
    digest = hashlib.sha256()
    for path in sorted((data / "train").iterdir()) + sorted((data / "test").iterdir()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def device() -> str:
    import jax

    first = jax.devices()[0]
    return f"{first.platform}: {getattr(first, 'device_kind', '')} x{jax.device_count()}"


def stage_export(work: Path, size: RecipeSize, seed: int, dest: Path) -> dict:
    from export import export

    done = {stage: read_done(work, stage) for stage in ("vqgan", "decoder", "dallebart", "clip")}
    recipe = {
        "size": size.name,
        "seed": seed,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "device": device(),
        "data_sha256": data_hash(work / "data"),
        "steps": {
            "vqgan": done["vqgan"].get("steps"),
            "decoder": done["decoder"].get("steps"),
            "dallebart": done["dallebart"].get("steps"),
            "clip": done["clip"].get("steps"),
        },
        "settings": size.to_dict(),
        "how": {stage: done[stage]["how"] for stage in done if "how" in done[stage]},
    }
    sizes = export(work, dest, recipe, asdict(size.sampling))
    return {"dest": str(dest), "bytes": sizes, "total_bytes": sum(sizes.values())}


def stage_evaluate(work: Path, size: RecipeSize, dest: Path) -> dict:
    from evaluate import evaluate

    return evaluate(work, dest, size.eval_pairs, size.eval_images, size.eval_psnr_images, timing=size.name != "test")


def read_done(work: Path, stage: str) -> dict:
    path = work / "done" / f"{stage}.json"
    return json.loads(path.read_text())["result"] if path.is_file() else {}


def run_stage(work: Path, stage: str, step) -> None:
    """Run `step` unless WORK/done/STAGE.json says it ran; the marker holds its result and seconds."""
    marker = work / "done" / f"{stage}.json"
    if marker.is_file():
        say(f"{stage}: done before, skipped")
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    say(f"{stage}: starting")
    start = time.monotonic()
    result = step()
    atomic_write_json(marker, {"stage": stage, "seconds": round(time.monotonic() - start, 1), "result": result})


def run(work: Path, size: RecipeSize, seed: int = 0, font: str | None = None, dest: Path | None = None) -> dict:
    """Every stage not yet done, in order; returns each stage's result and seconds."""
    dest = dest or (BUNDLED if size.name != "test" else work / "assets")
    steps = {
        "data": lambda: stage_data(work, size, seed, font),
        "vqgan": lambda: stage_vqgan(work, size, seed),
        "decoder": lambda: stage_decoder(work, size, seed),
        "dallebart": lambda: stage_dallebart(work, size, seed),
        "clip": lambda: stage_clip(work, size, seed),
        "export": lambda: stage_export(work, size, seed, dest),
        "evaluate": lambda: stage_evaluate(work, size, dest),
    }
    for stage in STAGES:
        run_stage(work, stage, steps[stage])
    summary = {stage: json.loads((work / "done" / f"{stage}.json").read_text()) for stage in STAGES}
    from report import write_report

    report_path = HERE / "REPORT.md" if size.name != "test" else work / "REPORT.md"
    write_report(report_path, work, size, summary)
    say(f"report: {report_path}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="work folder (data, runs, done markers)")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--font", default=None, help="Noto Color Emoji .ttf (default: Debian's, or BLOGART_EMOJI_FONT)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export", type=Path, default=None, help="assets folder (default: the package's for full)")
    parser.add_argument("--measure", action="store_true", help="time a few steps of each trainer, then stop")
    gpu = parser.add_argument_group("GPU legs (gpu.py, gpu.sh)")
    gpu.add_argument("--prepare-gpu", type=Path, metavar="CARRY", help="render the data, write CARRY, then stop")
    gpu.add_argument("--import-gpu", type=Path, metavar="DIR", help="a GPU leg's results into WORK, then stop")
    gpu.add_argument("--no-wheels", action="store_true", help="with --prepare-gpu: download no wheels")
    args = parser.parse_args(argv)
    work = args.out.resolve()
    work.mkdir(parents=True, exist_ok=True)
    size = SIZES[args.size]
    if args.prepare_gpu or args.import_gpu:
        return gpu_step(work, size, args)
    if args.measure:
        from measure import measure

        print(json.dumps(measure(work, size, args.seed, args.font), indent=2))
        return 0
    summary = run(work, size, args.seed, args.font, args.export.resolve() if args.export else None)
    print(json.dumps({stage: summary[stage]["seconds"] for stage in STAGES}))
    return 0


def gpu_step(work: Path, size: RecipeSize, args: argparse.Namespace) -> int:
    """--prepare-gpu or --import-gpu; a wrong or missing folder is one `error:` line."""
    import gpu

    from blogart.errors import BlogartError

    try:
        if args.prepare_gpu and args.import_gpu:
            raise gpu.GpuError("give --prepare-gpu or --import-gpu, not both")
        if args.prepare_gpu:
            carry = args.prepare_gpu
            gpu.prepare(work, size, args.seed, args.font, carry, wheels=not args.no_wheels)
            leg = "dallebart" if (work / "done" / "vqgan.json").is_file() else "vqgan"
            print(f"prepared {carry}; the next GPU leg, {leg}, on the device tool:\n{gpu.device_commands(carry, leg)}")
            return 0
        manifest = gpu.import_results(work, size, args.import_gpu.resolve())
        carry = Path(json.loads((work / "gpu.json").read_text())["carry"])
        if manifest["leg"] == "vqgan":
            print(f"imported the VQGAN; the DalleBart leg next:\n{gpu.device_commands(carry, 'dallebart')}")
        else:
            # exported beside WORK: the package's assets change only when the figures say so (README.md)
            finish = f"python {Path(__file__)} --out {args.out} --size {size.name} --export {work / 'assets'}"
            print(f"imported the DalleBart; finish on this machine: {finish}")
        return 0
    except (gpu.GpuError, BlogartError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
