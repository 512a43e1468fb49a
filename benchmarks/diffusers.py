"""SD-Turbo and Z-Image-Turbo through blogart's diffusion generator: seconds per image and peak memory, random
weights in the real shapes.

    .venv/bin/python benchmarks/diffusers.py --json                       # fp32 and bf16, batch 1 and 4, this CPU
    .venv/bin/python benchmarks/diffusers.py --dtype float32 --batch 1 --tiny-vae --json     # TAESD decodes
    .venv/bin/python benchmarks/diffusers.py --device cuda --dtype bfloat16 float16 --batch 1 4 --json
    .venv/bin/python benchmarks/diffusers.py --dtype float32 --batch 1 --exact --runtime torch openvino --json
    .venv/bin/python benchmarks/diffusers.py --model z-image-turbo --device cuda --dtype bfloat16 --batch 1 4 --json

The pipeline is SD-Turbo's (stabilityai/sd-turbo): SD 2.1-base UNet (865M parameters), OpenCLIP ViT-H/14 text
encoder (354M), the SD VAE (84M), Euler with trailing timesteps; its configs are written here from the
published architectures, its weights are random (the values do not change the compute) and it is saved in
the diffusers layout and drawn through `DiffusionGenerator`, exactly as `blogart generate -m sd-turbo`
draws. Each (dtype, batch) runs in its own process so peak RSS is its own: one warm-up image, then one
timed request of `batch` images (exact = false: one pipeline call for the batch); with --exact, images are
computed one at a time as `[diffusion] exact = true` (the default) draws them. `--runtime openvino` draws
through `[diffusion] runtime = "openvino"`: its warm-up converts the networks into a fresh user dir, so
"warmup_seconds" is what a first run pays once.
Output: one row per run: {"dtype", "batch", "device", "steps", "size", "seconds_per_image", "request_seconds",
"cpu_seconds_per_image" (all threads; on a loaded machine cpu / threads estimates a quiet one's wall time),
"warmup_seconds", "build_seconds", "peak_rss_mb", "peak_cuda_mb", "threads", "runtime", "torch", "diffusers"}.

`--model z-image-turbo` (Tongyi-MAI/Z-Image-Turbo: a 6.2B ZImageTransformer2DModel in its default, published
shape, a Qwen3-4B text encoder, the 16-channel VAE without quant convs, flow-matching Euler with shift 3) at
1024 px and the card's 9 steps; a GPU model: its ~10B random parameters are built on the GPU in bfloat16
when `--device cuda` (about 20 GB written to the temporary folder), and it is not meant for this CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file's folder comes first on sys.path and its name is the library's: take it off, so `diffusers` is diffusers.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

UNET = dict(  # SD 2.1-base (stabilityai/stable-diffusion-2-1-base unet/config.json)
    sample_size=64,
    in_channels=4,
    out_channels=4,
    block_out_channels=(320, 640, 1280, 1280),
    layers_per_block=2,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=1024,
    attention_head_dim=(5, 10, 20, 20),
    use_linear_projection=True,
)
VAE = dict(  # the SD VAE (kl-f8)
    in_channels=3,
    out_channels=3,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    latent_channels=4,
    layers_per_block=2,
    sample_size=512,
)
TEXT = dict(  # OpenCLIP ViT-H/14 text tower as SD 2.x's CLIPTextModel
    vocab_size=49408,
    hidden_size=1024,
    intermediate_size=4096,
    num_attention_heads=16,
    num_hidden_layers=23,
    max_position_embeddings=77,
    projection_dim=512,
    hidden_act="gelu",
)
PROMPT = "a watercolor illustration of a lighthouse on a cliff above a stormy sea, soft evening light"


def build(folder: Path) -> None:
    import torch
    from diffusers import (
        AutoencoderKL,
        AutoencoderTiny,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from tiny_diffusers import write_tokenizer
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    write_tokenizer(folder / "tok")
    tokenizer = CLIPTokenizer(
        str(folder / "tok" / "vocab.json"), str(folder / "tok" / "merges.txt"), model_max_length=77
    )
    config = CLIPTextConfig(
        **TEXT, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=0
    )
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL(**VAE),
        text_encoder=CLIPTextModel(config),
        tokenizer=tokenizer,
        unet=UNet2DConditionModel(**UNET),
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            steps_offset=1,
            timestep_spacing="trailing",
        ),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder / "sd-turbo", safe_serialization=True)
    AutoencoderTiny().save_pretrained(folder / "taesd", safe_serialization=True)  # its defaults are TAESD's shape


# Z-Image-Turbo's published shapes: the transformer's defaults are its config; Qwen3-4B as the text encoder
# (Qwen/Qwen3-4B config.json); the FLUX-style VAE.
Z_IMAGE = {
    "transformer": {},
    "text_encoder": dict(
        hidden_size=2560,
        intermediate_size=9728,
        num_hidden_layers=36,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        max_position_embeddings=40960,
        rope_theta=1000000,
        tie_word_embeddings=True,
    ),
    "vae": dict(VAE, latent_channels=16, sample_size=1024),  # SD's kl-f8 architecture, 16 latent channels
}
QWEN_VOCAB = 151936
SIZES = {"sd-turbo": 512, "z-image-turbo": 1024}


def build_z_image(folder: Path, device: str) -> None:
    import torch
    from tiny_diffusers import z_image_pipeline

    # Built where it runs, in bfloat16: ~10B parameters initialised on a CPU in float32 would take 40 GB.
    torch.set_default_dtype(torch.bfloat16)
    with torch.device(device):
        pipe = z_image_pipeline(Z_IMAGE, vocab_size=QWEN_VOCAB)
    torch.set_default_dtype(torch.float32)
    pipe.save_pretrained(folder / "z-image-turbo", safe_serialization=True)


def one(
    folder: Path,
    dtype: str,
    batch: int,
    device: str,
    steps: int,
    exact: bool,
    tiny_vae: bool,
    runtime: str,
) -> dict:
    import diffusers
    import torch

    from blogart.config import DiffusionSettings
    from blogart.generators.diffusion import DEFAULTS, DiffusionGenerator
    from blogart.values import GenerationRequest

    settings = DiffusionSettings(
        dtype=dtype, device=device, steps=steps, exact=exact, tiny_vae=tiny_vae, runtime=runtime
    )  # steps 0: the model's own
    taesd = folder.parent / "taesd" if tiny_vae else None
    model = folder.name
    generator = DiffusionGenerator(model, folder, settings, batch_size=batch, defaults=DEFAULTS[model], tiny_vae=taesd)
    clock = time.perf_counter()
    generator.generate(GenerationRequest(PROMPT, n=1, seed=0))
    warmup = time.perf_counter() - clock
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    clock, cpu = time.perf_counter(), time.process_time()
    drawn = generator.generate(GenerationRequest(PROMPT, n=batch, seed=1))
    seconds, cpu = time.perf_counter() - clock, time.process_time() - cpu
    parts = _parts(generator._pipe) if batch == 1 and runtime == "torch" and model == "sd-turbo" else {}
    return {
        **parts,
        "model": model,
        "dtype": dtype,
        "batch": batch,
        "exact": exact,
        "tiny_vae": tiny_vae,
        "runtime": runtime,
        "device": device,
        "steps": generator.sampling()["steps"],
        "size": SIZES[model],
        "images": len(drawn),
        "seconds_per_image": round(seconds / batch, 2),
        "request_seconds": round(seconds, 2),
        # CPU seconds of all threads: on a shared machine, wall time / threads is what a quiet one would take.
        "cpu_seconds_per_image": round(cpu / batch, 2),
        "warmup_seconds": round(warmup, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20) if device == "cuda" else None,
        "threads": generator.threads or None,
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
    }


def _parts(pipe) -> dict:
    """Wall and CPU seconds of one text encode, one UNet pass and one VAE decode for one 512 px image."""
    import torch

    ids = pipe.tokenizer(PROMPT, padding="max_length", max_length=77, return_tensors="pt").input_ids
    latents = torch.randn(1, 4, 64, 64, dtype=pipe.unet.dtype)
    steps = {
        "text_encoder": lambda: pipe.text_encoder(ids),
        "unet": lambda: pipe.unet(latents, torch.tensor(999), pipe.text_encoder(ids)[0]),
        "vae_decode": lambda: pipe.vae.decode(latents),
    }
    out = {}
    with torch.inference_mode():
        for name, step in steps.items():
            clock, cpu = time.perf_counter(), time.process_time()
            step()
            out[f"{name}_seconds"] = round(time.perf_counter() - clock, 2)
            out[f"{name}_cpu_seconds"] = round(time.process_time() - cpu, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sd-turbo", choices=sorted(SIZES))
    parser.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=0, help="0: the model's own (sd-turbo 1, z-image-turbo 9)")
    parser.add_argument("--exact", action="store_true", help="one image per pipeline call ([diffusion] exact)")
    parser.add_argument("--tiny-vae", action="store_true", help="decode with TAESD ([diffusion] tiny_vae)")
    parser.add_argument("--runtime", nargs="+", default=["torch"], choices=["torch", "openvino"])
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run before it is given up")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", nargs=3, metavar=("DTYPE", "BATCH", "RUNTIME"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        dtype, batch, runtime = args.one[0], int(args.one[1]), args.one[2]
        row = one(Path(args.folder), dtype, batch, args.device, args.steps, args.exact, args.tiny_vae, runtime)
        print(json.dumps(row))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clock = time.perf_counter()
        if args.model == "z-image-turbo":
            build_z_image(Path(tmp), "cuda" if args.device == "cuda" else "cpu")
        else:
            build(Path(tmp))
        built = round(time.perf_counter() - clock, 1)
        runs = [(d, b, r) for r in args.runtime for d in args.dtype for b in args.batch]
        for k, (dtype, batch, runtime) in enumerate(runs):
            command = [sys.executable, __file__, "--one", dtype, str(batch), runtime, "--folder", f"{tmp}/{args.model}"]
            command += ["--device", args.device, "--steps", str(args.steps)]
            command += (["--exact"] if args.exact else []) + (["--tiny-vae"] if args.tiny_vae else [])
            try:
                # Its own user dir: an OpenVINO run converts in its warm-up, as a first run does.
                env = {**os.environ, "BLOGART_HOME": f"{tmp}/home-{k}"}
                done = subprocess.run(
                    command, capture_output=True, text=True, timeout=args.timeout, check=True, env=env
                )
                row = json.loads(done.stdout.strip().splitlines()[-1])
            except subprocess.TimeoutExpired:
                row = {"dtype": dtype, "batch": batch, "device": args.device, "timed_out_after_s": args.timeout}
            except subprocess.CalledProcessError as exc:
                row = {"dtype": dtype, "batch": batch, "error": exc.stderr.strip().splitlines()[-1:]}
            row["build_seconds"] = built
            row["load_average"] = round(os.getloadavg()[0], 2)
            rows.append(row)
            if not args.json:
                print(row, flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
