"""What each recipe size trains: data size, model configs, steps, batch sizes and learning rates.

FULL is sized to finish on the project's 2-core CPU in about 90 minutes (the per-step times it was
chosen from are in REPORT.md, measured by `run.py --measure`); the same settings run unchanged on a GPU.
LARGE is FULL with ~12x the DalleBart and ~20x the CLIP training, and a decoder-only fine-tune of
the VQGAN (same data, same codes): minutes on an H100, hours on this CPU. The shipped weights were
made this way (recipes/icons/REPORT.md).
GPU trains a larger VQGAN and a smaller DalleBart (the assets stay within 24.5 MB: budget.py) on a lent
GPU machine, in two device commands of under 9 minutes each (gpu.sh; README.md, "On a GPU"). Its steps
are ceilings: each GPU leg times its own steps and trains as many as its clock allows.
TEST is the end-to-end check the test suite runs in a minute or two.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

CONFIGS = Path(__file__).parent / "configs"


@dataclass(frozen=True)
class Trainer:
    config: str  # file name under configs/
    steps: int
    batch_size: int
    lr: float
    save_every: int
    extra: tuple[str, ...] = ()  # further command-line options

    def config_path(self) -> Path:
        return CONFIGS / self.config


@dataclass(frozen=True)
class Sampling:
    """The bundled model's sampling defaults, exported as its generation_config.json: chosen with
    sampling.py on validation captions (held-out rows the evaluation does not score)."""

    condition_scale: float
    top_k: int


# sampling.py on held-out rows 100-199 with the shipped model: 28.9% of named concepts found, against
# 22.1% at condition scale 3, 24.5% at 1.5, 23.3% at 2 with top-k 50, 14.1% at DALL-E Mini's 10 and 50
SAMPLING = Sampling(condition_scale=2.0, top_k=4)


@dataclass(frozen=True)
class GpuPlan:
    """How a GPU leg (gpu.py, one device command) spends its wall clock."""

    leg_minutes: float = 8.5  # from the leg's start to its files in $OUT
    vqgan_probe_minutes: float = 1.0  # the VQGAN's first, clock-stopped part: timed to size the rest
    dallebart_probe_steps: int = 20  # updates timed at the DalleBart's start; a run they say cannot end in
    # time is started again with a schedule that can
    reserve_seconds: float = 45.0  # kept after training: the code table, the results into $OUT


@dataclass(frozen=True)
class RecipeSize:
    name: str
    data: str  # a size of render.SIZES
    vqgan: Trainer
    decoder: Trainer | None  # decoder-only fine-tune of the VQGAN (codes unchanged); None: no such stage
    dallebart: Trainer
    clip: Trainer
    eval_pairs: int  # held-out captions for CLIP retrieval and generation
    eval_images: int  # candidates per caption (best one ranked by CLIP)
    eval_psnr_images: int
    sampling: Sampling = SAMPLING
    gpu: GpuPlan = GpuPlan()

    def to_dict(self) -> dict:
        return asdict(self)


SIZES = {
    "test": RecipeSize(
        name="test",
        data="test",
        vqgan=Trainer("vqgan-test.json", steps=12, batch_size=4, lr=3e-3, save_every=4, extra=("--crop", "32")),
        decoder=Trainer("", steps=6, batch_size=4, lr=3e-3, save_every=3, extra=("--crop", "32")),
        dallebart=Trainer("dallebart-test.json", steps=30, batch_size=4, lr=3e-3, save_every=3),
        clip=Trainer("", steps=4, batch_size=4, lr=1e-3, save_every=0),
        eval_pairs=3,  # each caption is a 256-token draw: ~3 s on a loaded CPU
        eval_images=2,
        eval_psnr_images=8,
        # the GPU flow rehearsed on a CPU: the VQGAN's timed first part stops after one step, and the clock
        # leaves room for every step (the resumed VQGAN keeps its schedule, so its compiled step is reused)
        gpu=GpuPlan(leg_minutes=30, vqgan_probe_minutes=0.001, dallebart_probe_steps=3, reserve_seconds=5.0),
    ),
    "full": RecipeSize(
        name="full",
        data="full",
        vqgan=Trainer("vqgan-full.json", steps=1400, batch_size=16, lr=2e-4, save_every=100, extra=("--crop", "64")),
        decoder=None,
        dallebart=Trainer("dallebart-full.json", steps=650, batch_size=16, lr=1e-3, save_every=50),
        clip=Trainer("", steps=600, batch_size=64, lr=1e-3, save_every=0),
        eval_pairs=100,
        eval_images=4,
        eval_psnr_images=200,
    ),
    "large": RecipeSize(
        name="large",
        data="large",
        vqgan=Trainer("vqgan-full.json", steps=1400, batch_size=16, lr=2e-4, save_every=100, extra=("--crop", "64")),
        decoder=Trainer("", steps=1200, batch_size=16, lr=2e-4, save_every=200, extra=("--crop", "64")),
        dallebart=Trainer("dallebart-full.json", steps=2000, batch_size=64, lr=1e-3, save_every=200),
        clip=Trainer("", steps=3000, batch_size=256, lr=1e-3, save_every=500),
        eval_pairs=100,
        eval_images=4,
        eval_psnr_images=200,
    ),
    "gpu": RecipeSize(
        name="gpu",
        data="large",
        # whole images, no crops (GroupNorm then sees in training what it sees when encoding)
        vqgan=Trainer("vqgan-gpu.json", steps=30000, batch_size=32, lr=2e-4, save_every=1000),
        decoder=None,
        dallebart=Trainer("dallebart-gpu.json", steps=12000, batch_size=64, lr=1e-3, save_every=500),
        clip=Trainer("", steps=600, batch_size=64, lr=1e-3, save_every=0),  # on the CPU, as the shipped CLIP
        eval_pairs=100,
        eval_images=4,
        eval_psnr_images=200,
    ),
}
