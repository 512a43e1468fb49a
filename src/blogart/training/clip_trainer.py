"""Train the bundled icon CLIP: open_clip's own model and contrastive loss on the recipe's renders.

    python -m blogart.training.clip_trainer DATA/train --out DIR --config MODEL.json --steps N \
        --batch-size B --lr LR --seed S [--resume] [--json]

DATA/train holds NNNNN.png + NNNNN.txt pairs (128x128 renders and their captions); MODEL.json is an
open_clip model config (the recipe's is recipes/icons/blogart-icons-clip.json). DIR gets:

    open_clip_config.json        {"model_cfg": ..., "preprocess_cfg": ...}: what `local-dir:DIR` loads
    open_clip_model.safetensors  float32 weights (the recipe's export stores them as float16)
    log.jsonl                    one line per logged step
    report.json                  config, sizes, speed, final loss, held-out retrieval when DATA/test exists
    train/state.pt               model, optimiser and counters, written atomically every --save-every steps

Each step's batch and augmentation come from a generator seeded by (seed, step), so `--resume` after a
kill -9 replays exactly the batches an uninterrupted run would have seen. torch picks CUDA when present.
torch and open_clip are imported inside the functions that need them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blogart.atomic import atomic_write_bytes, atomic_write_json
from blogart.errors import InputError, UsageError
from blogart.training.options import check_float

CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"
STATE_FILE = "train/state.pt"
LOG_FILE = "log.jsonl"
# open_clip's defaults (the OpenAI CLIP statistics); the loader reads them back from open_clip_config.json.
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
WARMUP_FRACTION = 0.05
# What a resumed run must share with the saved one.
RUN_SETTINGS = ("config", "steps", "batch_size", "lr", "weight_decay", "seed")


@dataclass(frozen=True)
class ClipTrainOptions:
    data: Path  # folder of NNNNN.png + NNNNN.txt pairs
    out: Path
    config: Path  # open_clip model config JSON
    steps: int = 3000
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.1
    seed: int = 0
    save_every: int = 200  # steps between saved states
    log_every: int = 20
    eval: Path | None = None  # held-out pairs; None: DATA/../test if present
    eval_pairs: int = 100  # retrieval among this many pairs at a time
    threads: int = 0  # torch CPU threads; 0: torch's default


def parse_args(argv: list[str] | None = None) -> tuple[ClipTrainOptions, bool, bool]:
    """(options, --resume, --json) from the command line."""
    p = argparse.ArgumentParser(prog="python -m blogart.training.clip_trainer", description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path, help="folder of NNNNN.png + NNNNN.txt pairs")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--config", type=Path, required=True, help="open_clip model config JSON")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=200, help="steps between saved states")
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--eval", type=Path, default=None, help="held-out pairs (default: DATA/../test if present)")
    p.add_argument("--eval-pairs", type=int, default=100, help="retrieval among this many pairs at a time")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/train/state.pt")
    p.add_argument("--json", action="store_true", help="print report.json on stdout at the end")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "save_every", "log_every", "eval_pairs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    flags = {k: v for k, v in vars(args).items() if k not in ("resume", "json")}
    return ClipTrainOptions(**flags), args.resume, args.json


# ---- data ---------------------------------------------------------------------------------------


def read_pairs(folder: Path, image_size: int, limit: int | None = None):
    """(uint8 tensor N x 3 x S x S, captions) of every NNNNN.png (or lossless .webp) with its NNNNN.txt, by name."""
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    if not folder.is_dir():
        raise InputError(f"no data folder at {folder}")
    images, captions = [], []
    # A lossless WebP copy of the data (about 25% smaller) is what travels to a GPU machine.
    pictures = sorted(p for p in folder.iterdir() if p.suffix in (".png", ".webp"))
    for png in pictures[:limit]:
        txt = png.with_suffix(".txt")
        if not txt.is_file():
            continue
        try:
            with Image.open(png) as im:
                im = im.convert("RGB")
                if im.size != (image_size, image_size):
                    im = im.resize((image_size, image_size), Image.Resampling.BICUBIC)
                images.append(np.asarray(im))
        except (UnidentifiedImageError, OSError) as exc:
            raise InputError(f"not a readable image: {png} ({exc})") from None
        captions.append(txt.read_text(encoding="utf-8").strip())
    if not images:
        raise InputError(f"{folder} holds no NNNNN.png + NNNNN.txt pairs")
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(), captions


def augment(images, generator):
    """Small shifts and a slight brightness change: nothing that makes a caption false.

    No flips (captions say "left to right") and no hue or saturation change (captions name colours).
    A shift of up to 1/16 of the side, filled by repeating the edge, keeps every emoji in view.
    """
    import torch

    n, _, size, _ = images.shape
    pad = max(1, size // 16)
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad), mode="replicate")
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).tolist()
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).tolist()
    crops = [padded[i, :, y : y + size, x : x + size] for i, (x, y) in enumerate(zip(dx, dy, strict=True))]
    shifted = torch.stack(crops)
    brightness = 1.0 + (torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * 0.1  # +-5%
    return (shifted * brightness).clamp(0.0, 1.0)


def normalise(images):
    import torch

    mean = torch.tensor(MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


# ---- model and optimiser ------------------------------------------------------------------------


def read_model_config(path: Path) -> dict:
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the model config {path}: {exc}") from None
    if not all(key in cfg for key in ("embed_dim", "vision_cfg", "text_cfg")):
        raise InputError(f"{path} is not an open_clip model config (needs embed_dim, vision_cfg, text_cfg)")
    return cfg


def build_model(path: Path):
    """open_clip's CLIP from the config file, registered under the file's stem; no pretrained weights."""
    import open_clip

    open_clip.add_model_config(path)
    return open_clip.create_model(path.stem, pretrained=None)


def param_groups(model, weight_decay: float):
    """Weight decay on matrices only; gains, biases, embeddings and the logit scale are left alone."""
    decay, plain = [], []
    for name, param in model.named_parameters():
        no_decay = param.ndim < 2 or "embedding" in name or "logit_scale" in name or name.endswith("class_embedding")
        (plain if no_decay else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def learning_rate(step: int, total: int, peak: float) -> float:
    """Linear warmup, then cosine decay to zero."""
    warmup = max(1, int(total * WARMUP_FRACTION))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * peak * (1.0 + math.cos(math.pi * min(1.0, progress)))


# ---- state --------------------------------------------------------------------------------------


def save_state(out: Path, model, optimizer, step: int, run: dict) -> None:
    import torch

    buffer = io.BytesIO()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "run": run}
    torch.save(state, buffer)
    atomic_write_bytes(out / STATE_FILE, buffer.getvalue())


def load_state(out: Path, device) -> dict:
    import torch

    path = out / STATE_FILE
    if not path.is_file():
        raise UsageError(f"nothing to resume in {out} (no {STATE_FILE}); run without --resume")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged file
        raise UsageError(f"{path} is not a readable training state ({exc}); start a new --out") from None


def trim_log(path: Path, step: int) -> None:
    """Drop log lines past the resumed step (written after the last save by a killed run)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except ValueError:
            continue  # a line cut off by the kill
    atomic_write_bytes(path, "".join(f"{line}\n" for line in kept).encode())


def save_model(out: Path, model, cfg: dict) -> None:
    from safetensors.torch import save

    tensors = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(out / WEIGHTS_FILE, save(tensors))
    preprocess = {"mean": list(MEAN), "std": list(STD), "interpolation": "bicubic", "resize_mode": "shortest"}
    atomic_write_json(out / CONFIG_FILE, {"model_cfg": cfg, "preprocess_cfg": preprocess})


# ---- evaluation ---------------------------------------------------------------------------------


def retrieval_top1(model, tokenizer, images, captions, device, pairs: int = 100) -> float:
    """Caption -> image top-1 accuracy among groups of `pairs` held-out pairs (chance: 1/pairs)."""
    import torch

    model.eval()
    hits = total = 0
    with torch.no_grad():
        for start in range(0, len(captions) - pairs + 1, pairs):
            batch = normalise(images[start : start + pairs].to(device).float() / 255.0)
            image_features = model.encode_image(batch, normalize=True)
            text_features = model.encode_text(tokenizer(captions[start : start + pairs]).to(device), normalize=True)
            best = (text_features @ image_features.T).argmax(dim=1).cpu()
            hits += int((best == torch.arange(pairs)).sum())
            total += pairs
    model.train()
    return hits / total if total else float("nan")


# ---- training: prepare, resume, loop, save, report ----------------------------------------------


@dataclass
class _Run:
    """One training run: its options and everything made from them, and where it has got to."""

    options: ClipTrainOptions
    settings: dict[str, Any]  # what the saved state records and a resume must match
    device: Any
    images: Any
    captions: list[str]
    tokenizer: Any
    tokens: Any
    model: Any
    optimizer: Any
    loss_fn: Any
    saved: dict | None  # the state a resume goes on from
    step: int = 0
    first_step: int = 0
    loss: float = float("nan")

    @property
    def cfg(self) -> dict:
        return self.settings["config"]


def train(options: ClipTrainOptions, resume: bool = False) -> dict[str, Any]:
    """Train (or with `resume`, go on training) and write the model folder; returns report.json's content."""
    run = _prepare(options, resume)
    _resume(run)
    seconds = _loop(run)
    _save(run)
    return _report(run, seconds)


def _prepare(options: ClipTrainOptions, resume: bool) -> _Run:
    """Checked options, the saved state when resuming, the data, and the model seeded from scratch."""
    import open_clip
    import torch

    check_float("lr", options.lr, above=0, at_most=1)  # NaN passes any `<= 0` test and ruins a run at its end
    check_float("weight_decay", options.weight_decay, at_least=0)
    if options.threads:
        torch.set_num_threads(options.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = read_model_config(options.config)
    settings = {"config": cfg, "data": str(options.data), **{k: getattr(options, k) for k in RUN_SETTINGS[1:]}}
    saved = None
    if resume:
        saved = load_state(options.out, device)
        changed = [k for k in RUN_SETTINGS if saved["run"][k] != settings[k]]
        if changed:
            raise UsageError(f"--resume with other settings than the saved run ({', '.join(changed)}); use a new --out")
    elif (options.out / STATE_FILE).exists():
        raise UsageError(f"{options.out} already holds a run; pass --resume to continue it or pick a new --out")

    images, captions = read_pairs(options.data, int(cfg["vision_cfg"]["image_size"]))
    tokenizer = open_clip.get_tokenizer("", context_length=int(cfg["text_cfg"].get("context_length", 77)))
    tokens = tokenizer(captions)
    torch.manual_seed(options.seed)
    model = build_model(options.config).to(device)
    groups = param_groups(model, options.weight_decay)
    optimizer = torch.optim.AdamW(groups, lr=options.lr, betas=(0.9, 0.98), eps=1e-6)
    loss_fn = open_clip.ClipLoss()
    run = _Run(options, settings, device, images, captions, tokenizer, tokens, model, optimizer, loss_fn, saved)
    options.out.mkdir(parents=True, exist_ok=True)
    if saved is None:
        (options.out / LOG_FILE).unlink(missing_ok=True)
    return run


def _resume(run: _Run) -> None:
    """The saved model, optimiser and step; log lines a killed run wrote past its last save dropped."""
    if run.saved is None:
        return
    run.model.load_state_dict(run.saved["model"])
    run.optimizer.load_state_dict(run.saved["optimizer"])
    run.step = run.first_step = int(run.saved["step"])
    trim_log(run.options.out / LOG_FILE, run.step)


def _loop(run: _Run) -> float:
    """Steps until the last, logging and saving the state as asked; returns the seconds it took."""
    import torch

    o = run.options
    # bfloat16 matmuls on a GPU; float32 on the CPU, where a resumed run must match an uninterrupted one exactly.
    cuda = run.device.type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
    run.model.train()
    started = time.perf_counter()
    with (o.out / LOG_FILE).open("a", encoding="utf-8") as log:
        while run.step < o.steps:
            lr = _step(run, autocast)
            if run.step % o.log_every == 0 or run.step == o.steps:
                log.write(json.dumps(_log_line(run, lr, time.perf_counter() - started)) + "\n")
                log.flush()
            if run.step % o.save_every == 0 or run.step == o.steps:
                log.flush()
                save_state(o.out, run.model, run.optimizer, run.step, run.settings)
    return time.perf_counter() - started


def _step(run: _Run, autocast: Any) -> float:
    """One optimiser step on the batch (seed, step) picks; returns its learning rate."""
    import torch

    o, model = run.options, run.model
    generator = torch.Generator().manual_seed(o.seed * 1_000_003 + run.step)
    index = torch.randint(0, len(run.captions), (o.batch_size,), generator=generator)
    batch = augment(run.images[index].float() / 255.0, generator)
    lr = learning_rate(run.step, o.steps, o.lr)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    with autocast:
        image_features, text_features, logit_scale = model(
            normalise(batch.to(run.device)), run.tokens[index].to(run.device)
        )
        loss = run.loss_fn(image_features.float(), text_features.float(), logit_scale.float())
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    with torch.no_grad():  # as open_clip's trainer: the temperature stays above 1/100
        model.logit_scale.clamp_(0, math.log(100))
    run.step += 1
    run.loss = float(loss.detach())
    return lr


def _log_line(run: _Run, lr: float, elapsed: float) -> dict[str, Any]:
    return {
        "step": run.step,
        "loss": round(run.loss, 5),
        "lr": lr,
        "logit_scale": round(run.model.logit_scale.detach().exp().item(), 3),
        "steps_per_s": round((run.step - run.first_step) / elapsed, 3) if elapsed > 0 else None,
    }


def _save(run: _Run) -> None:
    save_model(run.options.out, run.model, run.cfg)


def _report(run: _Run, elapsed: float) -> dict[str, Any]:
    """report.json: the run's settings, sizes, speed and final loss, and held-out retrieval when there is data."""
    import torch

    o, device = run.options, run.device
    n_params = sum(p.numel() for p in run.model.parameters())
    steps = run.step - run.first_step
    report = {
        **{k: v for k, v in run.settings.items() if k != "config"},
        "model_config": run.cfg,
        "parameters": n_params,
        "float16_bytes": 2 * n_params,
        "train_pairs": len(run.captions),
        "device": device.type if device.type == "cpu" else torch.cuda.get_device_name(device),
        "final_loss": run.loss,
        "steps_this_run": steps,
        "seconds_this_run": round(elapsed, 2),
        "steps_per_s": round(steps / elapsed, 3) if elapsed > 0 and steps > 0 else None,
    }
    eval_dir = o.eval or (o.data.parent / "test")
    if eval_dir.is_dir():
        test_images, test_captions = read_pairs(eval_dir, int(run.cfg["vision_cfg"]["image_size"]))
        pairs = min(o.eval_pairs, len(test_captions))
        top1 = retrieval_top1(run.model, run.tokenizer, test_images, test_captions, device, pairs)
        report["eval"] = {
            "folder": str(eval_dir),
            "pairs": pairs,
            "groups": len(test_captions) // pairs,
            "caption_to_image_top1": top1,
        }
    atomic_write_json(o.out / "report.json", report)
    return report


def main(argv: list[str] | None = None) -> int:
    options, resume, as_json = parse_args(argv)
    try:
        report = train(options, resume)
    except (InputError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        top1 = report.get("eval", {}).get("caption_to_image_top1")
        extra = f", held-out top-1 {top1:.1%}" if top1 is not None else ""
        print(f"trained {report['steps']} steps, loss {report['final_loss']:.3f}{extra}; wrote {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
