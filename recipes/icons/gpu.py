"""The recipe's two GPU legs: prepared on the CPU, run on a lent GPU machine, their results imported.

    python recipes/icons/run.py --out WORK --size gpu --prepare-gpu .gpu-carry    # CPU: data, tokenizer, plan
    bash recipes/icons/gpu.sh vqgan .gpu-carry        # GPU: the VQGAN and the code table into $OUT
    python recipes/icons/run.py --out WORK --size gpu --import-gpu RESULTS        # CPU: into WORK and CARRY
    bash recipes/icons/gpu.sh dallebart .gpu-carry    # GPU: the DalleBart on the carried codes into $OUT
    python recipes/icons/run.py --out WORK --size gpu --import-gpu RESULTS
    python recipes/icons/run.py --out WORK --size gpu # CPU: CLIP, export, evaluate, REPORT.md

CARRY holds what a leg needs besides the source tree, all small: plan.json (size, seed, trainer settings,
the data's sha256), the configs, the fitted tokenizer, the emoji font, wheels of the packages the GPU
machine lacks, and after the first import the VQGAN and its code table. A leg renders the data again
from the same seed (the renders are too big to carry) and stops at once when their sha256 differs.

A leg keeps to its clock (settings.GpuPlan): the VQGAN's first part is stopped by the clock, its step
time sizes the rest of the run (a resume with the cosine schedule's length set to fit); the DalleBart's
first updates are timed, and a run that cannot reach its ceiling in time starts again with a schedule
that can. A run still going at the deadline is killed and its newest checkpoint is the result. The
results go to $OUT as at most 8 plain files of at most 16 MiB (what the device tool brings back): tars
of the model folders, split into parts, and manifest.json with each file's sha256, written last.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import render  # noqa: E402
from settings import RecipeSize, Trainer  # noqa: E402

ROOT = HERE.parent.parent
PLAN = "plan.json"
MANIFEST = "manifest.json"
TEST_FRACTION = 0.02  # the DalleBart's held-out share, as the CPU stage uses
MAX_FILES = 8  # what one device command brings back: files, at most 16 MiB each, name characters
PART_BYTES = 15 * 2**20
SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
LEGS = ("vqgan", "dallebart")
# What `python -m blogart vqgan train | finetune` import that the GPU machine's Python lacks, and Pillow at
# this machine's version, so that the renders there are the same bytes as here.
WHEELS = (
    "pydantic",
    "pydantic-core",
    "pydantic-settings",
    "annotated-types",
    "typing-inspection",
    "python-dotenv",
    "typing-extensions",
    "pillow",
)
WHEEL_PYTHON = "3.12"
WHEEL_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


class GpuError(Exception):
    """A wrong or missing folder, or results that do not belong to this work folder: one line for the user."""


def say(message: str) -> None:
    print(f"[gpu] {message}", file=sys.stderr, flush=True)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_json(path: Path, what: str) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GpuError(f"{path.parent} has no {path.name}: {what}") from None
    except (OSError, ValueError) as exc:
        raise GpuError(f"cannot read {path}: {exc}") from None
    if not isinstance(value, dict):
        raise GpuError(f"{path} is not a JSON object")
    return value


def write_json(path: Path, value: dict) -> None:
    from blogart.atomic import atomic_write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, value)


# -- the files a device command brings back ---------------------------------------------------------------


def pack(out: Path, files: dict[str, bytes], info: dict) -> list[Path]:
    """`files` into OUT as flat files, each over PART_BYTES split into NAME.part0, NAME.part1, ...; then
    manifest.json (info, and each file's parts and sha256), last: a folder with a manifest is whole."""
    written: dict[str, bytes] = {}
    entries = {}
    for name, data in files.items():
        chunks = [data[i : i + PART_BYTES] for i in range(0, len(data), PART_BYTES)] or [b""]
        parts = [name] if len(chunks) == 1 else [f"{name}.part{i}" for i in range(len(chunks))]
        entries[name] = {"bytes": len(data), "sha256": sha256(data), "parts": parts}
        written.update(zip(parts, chunks, strict=True))
    bad = [name for name in [*written, MANIFEST] if not SAFE_NAME.match(name)]
    if bad or len(written) + 1 > MAX_FILES:
        raise GpuError(f"the results would be {len(written) + 1} files (at most {MAX_FILES}), bad names {bad}")
    out.mkdir(parents=True, exist_ok=True)
    for name, chunk in written.items():
        (out / name).write_bytes(chunk)
    write_json(out / MANIFEST, {**info, "files": entries})
    return [out / name for name in [*written, MANIFEST]]


def unpack(folder: Path) -> tuple[dict, dict[str, bytes]]:
    """(manifest, file name -> bytes) of a folder `pack` wrote, every file checked against its sha256."""
    if not folder.is_dir():
        raise GpuError(f"{folder} is not a folder: give the folder of files the GPU leg wrote into $OUT")
    manifest = read_json(folder / MANIFEST, "not the files of a GPU leg (gpu.sh writes one into $OUT)")
    files = {}
    for name, entry in (manifest.get("files") or {}).items():
        try:
            data = b"".join((folder / part).read_bytes() for part in entry["parts"])
        except OSError as exc:
            raise GpuError(f"{folder} lacks a part of {name}: {exc.strerror}: {exc.filename}") from None
        if sha256(data) != entry["sha256"]:
            raise GpuError(f"{folder}/{name} is damaged: its sha256 is not the one its manifest names")
        files[name] = data
    return manifest, files


def tar_folder(folder: Path, names: list[str]) -> bytes:
    """The named files of `folder` (those that exist), flat, in an uncompressed tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in names:
            if (folder / name).is_file():
                tar.add(folder / name, arcname=name)
    return buffer.getvalue()


def untar(data: bytes, dest: Path) -> list[str]:
    """Extract a `tar_folder` tar into `dest`: plain files with plain names only."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        members = tar.getmembers()
        for member in members:
            if not member.isfile() or not SAFE_NAME.match(member.name):
                raise GpuError(f"unexpected entry {member.name!r} in the results' tar")
            (dest / member.name).write_bytes(tar.extractfile(member).read())
    return [m.name for m in members]


# -- on the CPU: prepare ------------------------------------------------------------------------------------


def trainer_plan(trainer: Trainer, config: str) -> dict:
    return {**asdict(trainer), "config": config, "extra": list(trainer.extra)}


def font_path(font: str | None) -> Path:
    from catalogue import DEFAULT_FONT

    path = Path(font or os.environ.get("BLOGART_EMOJI_FONT") or DEFAULT_FONT)
    if not path.is_file():
        raise GpuError(f"no emoji font at {path}: install fonts-noto-color-emoji or pass --font")
    return path


def fit_tokenizer(data: Path, config: Path, seed: int) -> dict[str, bytes]:
    """The tokenizer `finetune --init --train-tokenizer` fits: on the training captions of its split."""
    from blogart.models.dalle.text import TextNormalizer
    from blogart.training.data import load_examples, split_examples
    from blogart.training.tokenizer import train_tokenizer

    raw = json.loads(config.read_text())
    train, _ = split_examples(load_examples(data)[0], TEST_FRACTION, seed)
    captions = [e.caption for e in train]
    if raw.get("normalize_text", True):
        normalizer = TextNormalizer()
        captions = [normalizer(c) for c in captions]
    return train_tokenizer(captions, raw["encoder_vocab_size"])


def download_wheels(dest: Path) -> list[str]:
    """Wheels of WHEELS at this environment's versions for the GPU machine's CPython (pip download)."""
    from importlib.metadata import PackageNotFoundError, version

    dest.mkdir(parents=True, exist_ok=True)
    pins = []
    for name in WHEELS:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            raise GpuError(f"{name} is not installed here: install blogart's dependencies first") from None
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    command += ["--python-version", WHEEL_PYTHON, "--implementation", "cp", "-d", str(dest)]
    for platform in WHEEL_PLATFORMS:
        command += ["--platform", platform]
    done = subprocess.run([*command, *pins], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise GpuError(f"pip download of the GPU machine's wheels failed: {last} (or pass --no-wheels)")
    return sorted(p.name for p in dest.glob("*.whl"))


def prepare(work: Path, size: RecipeSize, seed: int, font: str | None, carry: Path, wheels: bool = True) -> dict:
    """Render the data (the recipe's data stage), fit the tokenizer and write CARRY; returns the plan."""
    from run import data_hash, run_stage, stage_data

    font_file = font_path(font)
    run_stage(work, "data", lambda: stage_data(work, size, seed, str(font_file)))
    carry.mkdir(parents=True, exist_ok=True)
    (carry / "configs").mkdir(exist_ok=True)
    shutil.copyfile(size.vqgan.config_path(), carry / "configs" / "vqgan.json")
    shutil.copyfile(size.dallebart.config_path(), carry / "configs" / "dallebart.json")
    (carry / "tokenizer").mkdir(exist_ok=True)
    for name, data in fit_tokenizer(work / "data" / "train", size.dallebart.config_path(), seed).items():
        (carry / "tokenizer" / name).write_bytes(data)
    if not (carry / "font.ttf").is_file() or (carry / "font.ttf").read_bytes() != font_file.read_bytes():
        shutil.copyfile(font_file, carry / "font.ttf")
    summary = json.loads((work / "done" / "data.json").read_text())["result"]
    plan = read_json(carry / PLAN, "") if (carry / PLAN).is_file() else {}
    data = {"size": size.data, "sha256": data_hash(work / "data"), **summary}
    if plan.get("data") != data or plan.get("size") != size.name or plan.get("seed") != seed:
        # another data set: a VQGAN and codes carried for the old one must not reach the next leg
        shutil.rmtree(carry / "vqgan", ignore_errors=True)
        (carry / "codes.npz").unlink(missing_ok=True)
        plan = {}
    plan.update(
        size=size.name,
        seed=seed,
        data=data,
        test_fraction=TEST_FRACTION,
        vqgan=trainer_plan(size.vqgan, "configs/vqgan.json"),
        dallebart=trainer_plan(size.dallebart, "configs/dallebart.json"),
        gpu=asdict(size.gpu),
    )
    if wheels:
        plan["wheels"] = download_wheels(carry / "wheels")
    write_json(carry / PLAN, plan)
    write_json(work / "gpu.json", {"carry": str(carry.resolve())})
    return plan


def device_commands(carry: Path, leg: str) -> str:
    """The device tool's command for `leg` and its carry list, for the user to paste."""
    try:
        where = carry.resolve().relative_to(ROOT.resolve())
        note = ""
    except ValueError:
        where = carry.resolve()
        note = f"\n  ({carry} is outside the repository: the device tool carries only ignored paths inside it)"
    return f'  command: bash recipes/icons/gpu.sh {leg} {where}\n  carry:   ["{where}"]{note}'


# -- on the GPU machine: a leg ------------------------------------------------------------------------------


def device_name() -> str:
    """The accelerator's name (nvidia-smi), else the CPU; without importing jax in this process."""
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=30
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return f"CPU ({os.cpu_count()} cores)"


def leg_environment(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["BLOGART_HOME"] = str(work / "home")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # the leg's own code encodes after a trainer
    # a resumed run whose schedule kept its length compiles nothing again
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(work / "xla-cache"))
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
    return env


def start(work: Path, args: list[str]) -> subprocess.Popen:
    """`python -m blogart ARGS` with the leg's environment, in its own process group."""
    command = [sys.executable, "-m", "blogart", *args]
    say(" ".join(command[1:]))
    return subprocess.Popen(command, env=leg_environment(work), stdout=subprocess.DEVNULL, start_new_session=True)


def finish(process: subprocess.Popen, args: list[str], until: float | None = None) -> bool:
    """Wait for a trainer; past `until` (monotonic) kill it and return True. A failure is a GpuError."""
    try:
        code = process.wait(timeout=None if until is None else max(0.1, until - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()
        return True
    if code != 0:
        raise GpuError(f"`blogart {' '.join(args[:2])}` failed (exit {code}); its messages are above")
    return False


def blogart(work: Path, args: list[str]) -> float:
    """Run a trainer to its end; its wall seconds."""
    began = time.monotonic()
    finish(start(work, args), args)
    return time.monotonic() - began


def steps_that_fit(seconds: float, per_step: float, ceiling: int, done: int = 0) -> int:
    """The most steps in all (`done` ones included, at most `ceiling`) whose rest fits `seconds`, 5% spare."""
    return max(done, min(ceiling, done + math.floor(0.95 * max(0.0, seconds) / per_step)))


def render_data(carry: Path, plan: dict, work: Path) -> Path:
    """The plan's data rendered here, checked against the sha256 prepared on the CPU."""
    from run import data_hash

    data = work / "data"
    if not (data / "data.json").is_file():
        say("rendering the data")
        size = render.SIZES[plan["data"]["size"]]
        render.write_data(data, size, plan["seed"], str(carry / "font.ttf"), workers=os.cpu_count() or 1)
    digest = data_hash(data)
    if digest != plan["data"]["sha256"]:
        raise GpuError(
            f"the renders here differ from the prepared data (sha256 {digest[:16]} != {plan['data']['sha256'][:16]}):"
            " Pillow or the font differs; carry the wheels (prepare without --no-wheels)"
        )
    return data


def train_lines(log: Path, clock: str = "seconds") -> list[dict]:
    """The train lines of a run's log that carry `clock` (the VQGAN's seconds, finetune's time)."""
    if not log.is_file():
        return []
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [line for line in lines if line.get("kind", "train") == "train" and clock in line]


def vqgan_step_seconds(run: Path) -> float:
    """Seconds per step of a VQGAN run from its log (the clock between log lines), else its report."""
    lines = train_lines(run / "log.jsonl")
    if len(lines) >= 3:  # the first line's window holds the compilation
        first, last = lines[1], lines[-1]
        return (last["seconds"] - first["seconds"]) / max(1, last["step"] - first["step"])
    report = json.loads((run / "report.json").read_text())
    return report["seconds"] / max(1, report["steps_this_run"])


def trainer_args(t: dict, seed: int) -> list[str]:
    args = ["--batch-size", str(t["batch_size"]), "--lr", str(t["lr"]), "--seed", str(seed)]
    return [*args, "--save-every", str(t["save_every"]), *t["extra"]]


def leg_vqgan(carry: Path, plan: dict, work: Path, deadline: float) -> tuple[dict[str, bytes], dict]:
    t, gpu = plan["vqgan"], plan["gpu"]
    data = render_data(carry, plan, work)
    out = work / "vqgan"
    base = ["vqgan", "train", str(data / "train"), "--out", str(out)]
    phases: list[dict] = []
    if not (out / "checkpoint.json").is_file():
        args = [*base, "--init", str(carry / t["config"]), "--steps", str(t["steps"]), *trainer_args(t, plan["seed"])]
        wall = blogart(work, [*args, "--max-minutes", str(gpu["vqgan_probe_minutes"])])
        first = json.loads((out / "report.json").read_text())
        startup = wall - first["seconds"]  # interpreter, jax and the images: what a resume pays again
        per_step, done = vqgan_step_seconds(out), first["steps"]
        left = deadline - time.monotonic() - gpu["reserve_seconds"] - startup
        compile_seconds = max(0.0, first["seconds"] - first["steps_this_run"] * per_step)
        total = steps_that_fit(left - compile_seconds, per_step, t["steps"], done)
        phases.append({"steps": done, "seconds": first["seconds"], "startup": round(startup, 1)})
    else:  # a rerun on the same machine: the saved run goes on with its schedule for what the clock leaves
        per_step, done, total = None, 0, None
        left = deadline - time.monotonic() - gpu["reserve_seconds"] - 60.0
    if total is None or total > done:
        steps = [] if total is None else ["--steps", str(total)]
        blogart(work, [*base, "--resume", *steps, "--max-minutes", f"{max(left, 6.0) / 60:.3f}"])
        again = json.loads((out / "report.json").read_text())
        phases.append({"steps": again["steps_this_run"], "seconds": again["seconds"], "total": again["total_steps"]})
    per_step = per_step or vqgan_step_seconds(out)
    report = json.loads((out / "report.json").read_text())
    say(f"VQGAN: {report['steps']} steps ({per_step * 1000:.1f} ms a step); encoding the training images")
    codes = code_table(work, data / "train", out)
    info = {
        "steps": report["steps"],
        "planned_steps": t["steps"],
        "seconds_per_step": round(per_step, 5),
        "phases": phases,
        "held_out_psnr": report["last"].get("eval_psnr"),
        "vqgan_fingerprint": fingerprint(out),
    }
    files = {"vqgan.tar": tar_folder(out, ["config.json", "flax_model.msgpack", "log.jsonl", "report.json"])}
    return {**files, "codes.npz": codes}, info


def fingerprint(folder: Path) -> str:
    from blogart.training.codes import vqgan_fingerprint

    return vqgan_fingerprint(folder)


def code_table(work: Path, data: Path, vqgan: Path) -> bytes:
    """Every training image's codes (npz: sha256 and int16 codes, in data order)."""
    import numpy as np

    from blogart.training.codes import image_codes
    from blogart.training.data import load_examples

    examples, _ = load_examples(data)
    codes = image_codes(examples, vqgan, work / "encoded", batch_size=64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, sha256=np.array([e.sha256 for e in examples]), codes=codes.astype(np.int16))
    return buffer.getvalue()


def fill_code_cache(table: bytes, vqgan: Path, root: Path) -> int:
    """The code table's codes into a code cache (blogart.training.codes) for this VQGAN; how many."""
    import numpy as np

    from blogart.training.codes import CodeCache

    with np.load(io.BytesIO(table), allow_pickle=False) as npz:
        shas, codes = npz["sha256"], npz["codes"].astype(np.int32)
    cache = CodeCache(root, fingerprint(vqgan))
    for sha, row in zip(shas, codes, strict=True):
        if cache.get(str(sha)) is None:
            cache.put(str(sha), row)
    return len(shas)


def leg_dallebart(carry: Path, plan: dict, work: Path, deadline: float) -> tuple[dict[str, bytes], dict]:
    t, gpu = plan["dallebart"], plan["gpu"]
    if "vqgan_fingerprint" not in plan or not (carry / "codes.npz").is_file():
        raise GpuError(f"{carry} has no VQGAN and code table yet: import the vqgan leg's results first")
    vqgan = carry / "vqgan"
    if fingerprint(vqgan) != plan["vqgan_fingerprint"]:
        raise GpuError(f"{vqgan} is not the VQGAN the plan names: import the vqgan leg's results again")
    data = render_data(carry, plan, work)
    fill_code_cache((carry / "codes.npz").read_bytes(), vqgan, work / "home" / "cache" / "image-codes")
    out = work / "dallebart"
    common = ["--init", str(carry / t["config"]), "--model", str(carry / "tokenizer"), "--vqgan", str(vqgan)]
    common += ["--test-fraction", str(plan["test_fraction"])]

    def args_for(total: int) -> list[str]:
        args = ["finetune", str(data / "train"), "--out", str(out), *common, "--steps", str(total)]
        return [*args, *trainer_args(t, plan["seed"])]

    reserve = gpu["reserve_seconds"]
    per_step, total = None, t["steps"]
    if (out / "checkpoint.json").is_file():  # a rerun on the same machine: the run goes on with its own settings
        args = ["finetune", str(data / "train"), "--out", str(out), "--resume"]
        process = start(work, args)
    else:
        args = args_for(total)
        began = time.time()
        process = start(work, args)
        timed = time_steps(process, out / "log.jsonl", gpu["dallebart_probe_steps"])
        if timed is not None:
            per_step, first_update, step = timed
            startup = first_update - began  # start, data, codes and compilation: paid again by a new run
            fit = restart_steps(step, per_step, deadline - time.monotonic() - reserve, startup, total)
            if fit is not None:
                finish(process, args, until=0)
                shutil.rmtree(out)
                say(f"DalleBart: {1000 * per_step:.1f} ms a step; {fit} steps fit the leg's clock")
                total, args = fit, args_for(fit)
                process = start(work, args)
    stopped = finish(process, args, until=deadline - reserve / 3)
    if stopped:
        say("the DalleBart ran past the leg's clock: its newest checkpoint is the result")
    checkpoint = newest_checkpoint(out)
    trainer = json.loads((checkpoint / "trainer.json").read_text())
    names = ["config.json", "flax_model.msgpack", "vocab.json", "merges.txt", "tokenizer.json", "trainer.json"]
    model = tar_folder(checkpoint, names)
    run_files = tar_folder(out, ["log.jsonl", "report.json"] if not stopped else ["log.jsonl"])
    info = {
        "steps": trainer["counters"]["step"],
        "planned_steps": total,
        "ceiling_steps": t["steps"],
        "seconds_per_step": round(per_step, 5) if per_step else None,
        "stopped_by_clock": stopped,
        "vqgan_fingerprint": plan["vqgan_fingerprint"],
    }
    return {"dallebart.tar": model, "run.tar": run_files}, info


def restart_steps(step: int, per_step: float, left: float, startup: float, ceiling: int) -> int | None:
    """The steps of a new run whose schedule ends in time, when the running one (at `step`, `left` seconds
    before it is stopped) cannot reach its `ceiling`; None when it can, or when a new one, `startup`
    seconds late, would train less than half of what the running one reaches."""
    reach = step + left / per_step
    fit = steps_that_fit(left - startup, per_step, ceiling)
    return fit if reach < ceiling and fit >= reach / 2 else None


def time_steps(process: subprocess.Popen, log: Path, steps: int) -> tuple[float, float, int] | None:
    """Watch a starting finetune run until `steps` updates follow its first one: (seconds per update, the
    wall time of the first update's log line, the last update timed); None when the run ends before."""
    while process.poll() is None:
        lines = train_lines(log, clock="time")
        if len(lines) > steps:
            first, last = lines[0], lines[-1]  # the first line's update paid for the compilation
            per_step = (last["time"] - first["time"]) / max(1, last["step"] - first["step"])
            return per_step, first["time"], last["step"]
        time.sleep(0.2)
    return None


def newest_checkpoint(run: Path) -> Path:
    pointer = run / "checkpoint.json"
    if not pointer.is_file():
        raise GpuError(f"the DalleBart run in {run} saved no checkpoint before the clock ran out")
    return run / json.loads(pointer.read_text())["current"]


def run_leg(leg: str, carry: Path, out: Path, work: Path) -> list[Path]:
    """One GPU leg, from rendering the data to its files in OUT, within the plan's minutes."""
    started = time.monotonic()
    began = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    plan = read_json(carry / PLAN, "prepare it first: run.py --out WORK --size SIZE --prepare-gpu CARRY")
    if (out / MANIFEST).exists():
        raise GpuError(f"{out} already holds a leg's results: give an empty folder as $OUT")
    deadline = started + plan["gpu"]["leg_minutes"] * 60
    work.mkdir(parents=True, exist_ok=True)
    files, info = (leg_vqgan if leg == "vqgan" else leg_dallebart)(carry, plan, work, deadline)
    info = {
        "leg": leg,
        "size": plan["size"],
        "seed": plan["seed"],
        "data_sha256": plan["data"]["sha256"],
        "device": device_name(),
        "started": began,
        "seconds": round(time.monotonic() - started, 1),
        **info,
    }
    paths = pack(out, files, info)
    say(f"{leg}: {info['steps']} steps, {info['seconds']:.0f} s in all; results: {', '.join(p.name for p in paths)}")
    return paths


# -- on the CPU: import -------------------------------------------------------------------------------------


def how(info: dict, trainer: dict) -> str:
    ms = f"{1000 * info['seconds_per_step']:.1f} ms a step, " if info.get("seconds_per_step") else ""
    clock = "stopped by the leg's clock, " if info.get("stopped_by_clock") else ""
    return (
        f"{info['device']} (gpu.sh {info['leg']}, {info['started']}): {info['steps']} steps of "
        f"{trainer['batch_size']} (ceiling {trainer['steps']}), lr {trainer['lr']:g} warmup-cosine, {ms}{clock}"
        f"{info['seconds']:.0f} s for the whole leg (rendering and compiling included)"
    )


def import_results(work: Path, size: RecipeSize, results: Path) -> dict:
    """A leg's results into WORK (its stage marked done) and, after the VQGAN, into CARRY for the next leg."""
    from run import data_hash, environment

    manifest, files = unpack(results)
    state = read_json(work / "gpu.json", "prepare the GPU legs first: run.py --prepare-gpu CARRY")
    carry = Path(state["carry"])
    plan = read_json(carry / PLAN, "the carry folder prepare-gpu wrote is gone: prepare again")
    leg = manifest.get("leg")
    if leg not in LEGS:
        raise GpuError(f"{results}/{MANIFEST} names no leg of this recipe ({leg!r})")
    if manifest.get("size") != size.name or plan["size"] != size.name:
        raise GpuError(f"{results} holds results of size {manifest.get('size')!r}, not {size.name!r}")
    try:
        digest = data_hash(work / "data")
    except OSError:
        raise GpuError(f"{work}/data is missing or unreadable: prepare again (--prepare-gpu)") from None
    if manifest.get("data_sha256") != digest or manifest.get("seed") != plan["seed"]:
        raise GpuError(f"{results} was trained on other data than {work}/data (sha256 or seed differ)")
    marker = work / "done" / f"{leg}.json"
    token = sha256(json.dumps(manifest, sort_keys=True).encode())
    if marker.is_file():
        if json.loads(marker.read_text())["result"].get("gpu_results") != token:
            raise GpuError(f"{work} already has a {leg} stage (done/{leg}.json): remove it to import other results")
        say(f"{leg}: these results were imported before")
    elif leg == "vqgan":
        _import_vqgan(work, size, manifest, files, token, environment(work))
    else:
        _import_dallebart(work, size, manifest, files, token)
    if leg == "vqgan":  # the next leg trains on this VQGAN's codes
        (carry / "vqgan").mkdir(exist_ok=True)
        for name in ("config.json", "flax_model.msgpack"):
            shutil.copyfile(work / "vqgan" / name, carry / "vqgan" / name)
        (carry / "codes.npz").write_bytes(files["codes.npz"])
        write_json(carry / PLAN, {**plan, "vqgan_fingerprint": manifest["vqgan_fingerprint"]})
    return manifest


def _fresh(folder: Path) -> None:
    """An empty folder for imported files; a CPU run in it (a checkpoint) is not thrown away."""
    if (folder / "checkpoint.json").is_file() or (folder / "checkpoints").is_dir():
        raise GpuError(f"{folder} holds a training run: move it away to import the GPU leg's results")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def _import_vqgan(work: Path, size: RecipeSize, manifest: dict, files: dict, token: str, env: dict) -> None:
    from blogart.atomic import atomic_write_json

    folder = work / "vqgan"
    _fresh(folder)
    untar(files["vqgan.tar"], folder)
    if fingerprint(folder) != manifest["vqgan_fingerprint"]:
        raise GpuError("the imported VQGAN is not the one the leg encoded the codes with")
    count = fill_code_cache(files["codes.npz"], folder, Path(env["BLOGART_HOME"]) / "cache" / "image-codes")
    report = json.loads((folder / "report.json").read_text())
    result = {**report, "how": how(manifest, asdict(size.vqgan)), "gpu_results": token, "codes": count}
    marker = {"stage": "vqgan", "seconds": manifest["seconds"], "result": result}
    atomic_write_json(work / "done" / "vqgan.json", marker)


def _import_dallebart(work: Path, size: RecipeSize, manifest: dict, files: dict, token: str) -> None:
    from blogart.atomic import atomic_write_json

    if not (work / "done" / "vqgan.json").is_file():
        raise GpuError(f"{work} has no VQGAN stage yet: import the vqgan leg's results first")
    if fingerprint(work / "vqgan") != manifest["vqgan_fingerprint"]:
        raise GpuError(f"the DalleBart was trained on another VQGAN's codes than the one in {work}/vqgan")
    folder = work / "dallebart"
    _fresh(folder)
    untar(files["dallebart.tar"], folder / "last")
    untar(files["run.tar"], folder)
    report = json.loads((folder / "report.json").read_text()) if (folder / "report.json").is_file() else {}
    result = {**report, "steps": manifest["steps"], "how": how(manifest, asdict(size.dallebart)), "gpu_results": token}
    marker = {"stage": "dallebart", "seconds": manifest["seconds"], "result": result}
    atomic_write_json(work / "done" / "dallebart.json", marker)


def main(argv: list[str] | None = None) -> int:
    """The GPU machine's side: `gpu.py LEG CARRY --out OUT` (gpu.sh calls it)."""
    parser = argparse.ArgumentParser(description="Run one GPU leg of the icon recipe (see gpu.sh).")
    parser.add_argument("leg", choices=LEGS)
    parser.add_argument("carry", type=Path, help="the folder run.py --prepare-gpu wrote")
    parser.add_argument("--out", type=Path, required=True, help="where the results go (the device tool's $OUT)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: /tmp/blogart-gpu-LEG)")
    args = parser.parse_args(argv)
    work = args.work or Path("/tmp") / f"blogart-gpu-{args.leg}"
    try:
        if not (args.carry / PLAN).is_file():
            raise GpuError(f"{args.carry} has no {PLAN}: prepare it with run.py --prepare-gpu {args.carry}")
        run_leg(args.leg, args.carry.resolve(), args.out.resolve(), work.resolve())
    except GpuError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
