"""Diffusion generators through diffusers: `sd-turbo`, `z-image-turbo` and `diffusers:<folder or repo id>`.

The pipeline loads on the first `generate` call. Image i of a request with seed s starts from latents drawn
by its own torch.Generator, seeded from (s, i) alone, so no image depends on its neighbours' noise. On a
CPU a batch is not bitwise the same as the same images drawn one by one (oneDNN's convolutions and the
timestep MLP round differently at another batch size, by ~4e-7), so with `[diffusion] exact` (the default)
each image is computed alone: image i is the same bytes whatever -n and batch_size.
It returns images in memory; `blogart.outputs` writes them.
"""

from __future__ import annotations

import copy
import inspect
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blogart.config import DiffusionSettings
from blogart.errors import BlogartError, UsageError
from blogart.values import Drawing, GenerationRequest


@dataclass(frozen=True)
class ModelDefaults:
    """What a model card recommends; None: the pipeline's own default."""

    steps: int | None = None
    guidance: float | None = None


DEFAULTS = {
    # Adversarial diffusion distillation: one step, no classifier-free guidance (stabilityai/sd-turbo's card).
    "sd-turbo": ModelDefaults(steps=1, guidance=0.0),
    # 9 scheduler steps = 8 transformer passes, guidance 0 (Tongyi-MAI/Z-Image-Turbo's card).
    "z-image-turbo": ModelDefaults(steps=9, guidance=0.0),
}
# Diffusion models read sentences and take a real negative prompt (when guidance > 1): the prompt writers' cue.
PROMPT_STYLE = "sentence"


def image_seed(seed: int, index: int) -> int:
    """Image `index`'s noise seed: a function of (seed, index) alone, any 64-bit value."""
    import numpy as np

    return int(np.random.SeedSequence((seed, index)).generate_state(1, np.uint64)[0])


def resolve_device(setting: str) -> str:
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(setting: str, device: str, runtime: str = "torch", cpuinfo: str | None = None) -> str:
    """auto: bfloat16 on a GPU, and on a CPU that computes it natively when torch runs the networks (OpenVINO
    runs float32); float32 on any other CPU, where PyTorch emulates bf16 far slower than float32."""
    if setting != "auto":
        return setting
    if device != "cpu":
        return "bfloat16"
    return "bfloat16" if runtime == "torch" and native_bf16(cpuinfo) else "float32"


def native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU has bf16 arithmetic (AVX-512-BF16 or AMX), from /proc/cpuinfo's flags (Linux only)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    flags = {flag for line in cpuinfo.splitlines() if line.startswith("flags") for flag in line.split()}
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def cpu_threads(setting: int) -> int:
    """`setting`, or every core this process may run on (a container's or taskset's limit, not the machine's)."""
    if setting:
        return setting
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _png(pixels: Any) -> bytes:
    from PIL import Image

    png = io.BytesIO()
    Image.fromarray((pixels * 255.0).round().clip(0, 255).astype("uint8")).save(png, format="PNG")
    return png.getvalue()


class DiffusionGenerator:
    """Generator protocol over a diffusers pipeline folder (model_index.json and one folder per component)."""

    prompt_style = PROMPT_STYLE

    def __init__(
        self,
        name: str,
        folder: str | Path,
        settings: DiffusionSettings,
        *,
        batch_size: int = 4,
        model_id: str = "",
        revision: str = "",
        defaults: ModelDefaults = ModelDefaults(),
        tiny_vae: str | Path | None = None,
    ):
        if batch_size < 1:
            raise UsageError("batch_size must be >= 1")
        self.name = name
        self.folder = Path(folder)
        self.settings = settings
        self.batch_size = batch_size
        self.model_id = model_id or str(self.folder)
        self.revision = revision
        self.defaults = defaults
        self.tiny_vae = Path(tiny_vae) if tiny_vae else None  # a TAESD folder that decodes in place of the VAE
        self.device = resolve_device(settings.device)
        self.dtype = resolve_dtype(settings.dtype, self.device, settings.runtime)
        self.threads = cpu_threads(settings.threads) if self.device == "cpu" else 0
        if settings.runtime == "openvino" and (self.device, self.dtype) != ("cpu", "float32"):
            raise UsageError(
                f"[diffusion] runtime = 'openvino' runs on a CPU in float32, not {self.device} {self.dtype}: "
                "set device and dtype to auto, or runtime = 'torch'"
            )
        if settings.runtime == "openvino":
            from blogart.generators.diffusion_openvino import require

            require()
        self._pipe: Any = None
        self._tokenizer: Any = None

    # -- what the run will use -------------------------------------------------------------------------------

    def _index(self) -> dict[str, Any]:
        try:
            return json.loads((self.folder / "model_index.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BlogartError(f"{self.folder}: unreadable model_index.json ({exc})") from None

    def _call_defaults(self) -> dict[str, Any]:
        """The pipeline class's own defaults for steps and guidance, read from its signature (no weights)."""
        import diffusers

        cls = getattr(diffusers, str(self._index().get("_class_name")), None)
        if cls is None:
            return {}
        params = inspect.signature(cls.__call__).parameters
        return {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}

    def sampling(self) -> dict[str, Any]:
        """Steps, guidance and size as this run draws them: the setting, else the model's, else the pipeline's."""
        s, d = self.settings, self.defaults
        own = self._call_defaults() if d.steps is None or d.guidance is None else {}
        steps = s.steps or d.steps or own.get("num_inference_steps") or 1
        guidance = s.guidance if s.guidance is not None else d.guidance
        if guidance is None:
            guidance = float(own.get("guidance_scale", 0.0))
        # One side given: a square of it.
        width, height = s.width or s.height or None, s.height or s.width or None
        return {"steps": int(steps), "guidance": float(guidance), "width": width, "height": height}

    def describe(self) -> dict[str, str]:
        index = self._index()
        scheduler = index.get("scheduler")
        sampling = self.sampling()
        values = {
            "checkpoint": str(self.folder),
            "model": self.model_id,
            "revision": self.revision,
            "pipeline": str(index.get("_class_name", "")),
            "scheduler": str(scheduler[1]) if isinstance(scheduler, list) and len(scheduler) == 2 else "",
            "diffusers": _version("diffusers"),
            "torch_dtype": self.dtype,
            "device": self.device,
            "threads": str(self.threads),
            "steps": str(sampling["steps"]),
            "guidance": str(sampling["guidance"]),
            "width": str(sampling["width"] or "model default"),
            "height": str(sampling["height"] or "model default"),
            "exact": str(self.settings.exact).lower(),
            "vae": str(self.tiny_vae) if self.tiny_vae else "the pipeline's",
            "runtime": self.settings.runtime,
            "batch_size": str(self.batch_size),
        }
        if self.settings.runtime == "openvino":
            values["openvino"] = _version("openvino")
        return values

    # -- tokens ------------------------------------------------------------------------------------------------

    def _tokenizer_side(self) -> Any:
        """A tokenizer for counting only, never the pipeline's: a fast tokenizer keeps its padding setting
        in shared state, and a batch engine counts tokens in another thread while the pipeline encodes."""
        if self._tokenizer is None:
            if (self.folder / "tokenizer").is_dir():
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(self.folder / "tokenizer")
            elif getattr(self._pipe, "tokenizer", None) is not None:
                self._tokenizer = copy.deepcopy(self._pipe.tokenizer)
            else:
                self._tokenizer = False
        return self._tokenizer or None

    def count_tokens(self, text: str) -> int | None:
        tokenizer = self._tokenizer_side()
        return None if tokenizer is None else len(tokenizer(text).input_ids)

    def max_prompt_tokens(self) -> int | None:
        tokenizer = self._tokenizer_side()
        limit = getattr(tokenizer, "model_max_length", None)
        # Tokenizers without a limit report a huge sentinel; a pipeline then truncates at its own length.
        return int(limit) if isinstance(limit, int) and limit < 100_000 else None

    # -- drawing -----------------------------------------------------------------------------------------------

    def _load(self) -> Any:
        if self._pipe is None:
            try:
                import torch
                from diffusers import DiffusionPipeline
                from diffusers.utils import logging as diffusers_logging
            except ImportError:
                raise BlogartError(f"{self.name} needs diffusers: pip install 'blogart[diffusers]'") from None
            from transformers.utils import logging as transformers_logging

            diffusers_logging.set_verbosity_error()
            transformers_logging.set_verbosity_error()
            # Their loading bars would sit under blogart's own progress on stderr.
            diffusers_logging.disable_progress_bar()
            transformers_logging.disable_progress_bar()
            if self.device == "cpu":
                torch.set_num_threads(self.threads)
            elif not torch.cuda.is_available():
                raise UsageError(f"[diffusion] device = {self.device!r} but torch sees no CUDA device")
            try:
                pipe = DiffusionPipeline.from_pretrained(
                    self.folder, dtype=getattr(torch, self.dtype), local_files_only=True
                )
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                from blogart.text import one_line

                raise BlogartError(f"cannot load {self.name} from {self.folder}: {one_line(exc)}") from None
            if self.tiny_vae is not None:
                pipe.vae = self._tiny_vae(pipe, getattr(torch, self.dtype))
            pipe.set_progress_bar_config(disable=True)
            pipe = pipe.to(self.device)
            if self.settings.runtime == "openvino":
                self._openvino(pipe)
            self._pipe = pipe
        return self._pipe

    def _openvino(self, pipe: Any) -> None:
        from blogart.config import user_dir
        from blogart.generators import diffusion_openvino

        sampling = self.sampling()
        size = (sampling["width"], sampling["height"])
        folders = [self.folder] + ([self.tiny_vae] if self.tiny_vae else [])
        diffusion_openvino.accelerate(pipe, folders, user_dir() / "openvino", self.threads, size)

    def _tiny_vae(self, pipe: Any, dtype: Any) -> Any:
        from diffusers import AutoencoderTiny

        try:
            tiny = AutoencoderTiny.from_pretrained(self.tiny_vae, dtype=dtype, local_files_only=True)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            from blogart.text import one_line

            raise BlogartError(f"cannot load the tiny VAE from {self.tiny_vae}: {one_line(exc)}") from None
        vae = getattr(pipe, "vae", None)
        wanted = getattr(getattr(vae, "config", None), "latent_channels", None)
        if wanted != tiny.config.latent_channels:
            raise UsageError(
                f"[diffusion] tiny_vae: {self.tiny_vae} decodes {tiny.config.latent_channels}-channel latents, "
                f"{self.name} makes {wanted}; set tiny_vae = false for this model"
            )
        return tiny

    def generate(
        self, request: GenerationRequest, round: int = 1, progress: Callable[[int], None] | None = None
    ) -> list[Drawing]:
        """`progress(done)` after each call: the images drawn so far."""
        if request.n < 1:
            raise UsageError("n must be >= 1")
        if not 0 <= request.seed < 2**64:
            raise UsageError(f"seed must be in [0, 2**64), not {request.seed}")
        import torch

        pipe = self._load()
        sampling = self.sampling()
        params = inspect.signature(pipe.__call__).parameters
        kwargs: dict[str, Any] = {
            "num_inference_steps": sampling["steps"],
            "guidance_scale": sampling["guidance"],
            "output_type": "np",
        }
        if sampling["width"]:
            kwargs["width"], kwargs["height"] = sampling["width"], sampling["height"]
        if "negative_prompt" in params:
            kwargs["negative_prompt"] = request.negative_prompt or None
        per_call = 1 if self.settings.exact else self.batch_size
        drawings: list[Drawing] = []
        for start in range(0, request.n, per_call):
            indices = list(range(start, min(request.n, start + per_call)))
            # CPU generators: the same noise on any device, so a GPU run starts where a CPU run does.
            generators = [torch.Generator("cpu").manual_seed(image_seed(request.seed, i)) for i in indices]
            try:
                with torch.inference_mode():
                    call = pipe(request.prompt, num_images_per_prompt=len(indices), generator=generators, **kwargs)
            except ValueError as exc:  # the pipeline's own checks: a size it cannot draw, too many steps
                from blogart.text import one_line

                raise UsageError(f"{self.name} cannot draw with these [diffusion] settings: {one_line(exc)}") from None
            images = call.images
            for i, pixels in zip(indices, images, strict=True):
                drawings.append(Drawing.of(request, _png(pixels), i, round, self.name))
            if progress is not None:
                progress(len(drawings))
        return drawings


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return ""
