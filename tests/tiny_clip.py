"""A tiny random-weight open_clip model saved as a real checkpoint file, and images to rank with it.

The fixtures `tiny_checkpoint` and `clip` in conftest.py build on these.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from blogart.values import Candidate

CONFIG = Path(__file__).parent / "data" / "clip" / "blogart-tiny-clip.json"
MODEL = CONFIG.stem
PROMPT = "a lighthouse on a cliff at sunset"


def make_tiny_checkpoint(folder: Path) -> Path:
    import open_clip
    import torch
    from safetensors.torch import save_file

    open_clip.add_model_config(CONFIG)
    torch.manual_seed(0)
    model = open_clip.create_model(MODEL)
    # Random towers give cosines around 0, half of them negative (CLIPScore 0). A shared direction added
    # through both final LayerNorm biases puts them in 0.2-0.5, like a trained CLIP, still all distinct.
    with torch.no_grad():
        shared = torch.nn.functional.normalize(torch.randn(model.text_projection.shape[1]), dim=0)
        for norm, proj in ((model.visual.ln_post, model.visual.proj), (model.ln_final, model.text_projection)):
            norm.bias += 5.0 * (shared @ torch.linalg.pinv(proj))
    path = folder / "tiny.safetensors"
    save_file(model.state_dict(), str(path))
    return path


def _pngs(folder: Path, n: int = 6) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        yy, xx = np.mgrid[0:48, 0:48]
        pattern = np.stack([(xx * (i + 1) * 5) % 256, (yy * (i + 2) * 3) % 256, np.full_like(xx, 40 * i)], axis=-1)
        noise = rng.integers(0, 60, size=(48, 48, 3))
        path = folder / f"img{i}.png"
        Image.fromarray(np.clip(pattern + noise, 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def _candidates(paths: list[Path]) -> list[Candidate]:
    return [Candidate(p, seed=i, prompt=PROMPT, negative_prompt="", generator="test") for i, p in enumerate(paths)]
