"""OpenVINO under a diffusers pipeline on a CPU: `[diffusion] runtime = "openvino"`.

The pipeline loads through diffusers as usual (tokenizer, scheduler, configs, the per-image seeds); its three
networks, the text encoder, the UNet and the decoder (the VAE's, or TAESD's), are then run by OpenVINO, whose
CPU kernels are faster than torch's for these convolutions (benchmarks/README.md). Each network is converted
from the loaded torch module once per image size (`openvino.convert_model`, a minute or two for SD-Turbo) and
kept as OpenVINO IR under `<user dir>/openvino/<key>`; the key covers the weight files (path, size, mtime), the
latent shape and the openvino and torch versions, so a changed model converts again. The torch weights of a
converted network are released. Only UNet pipelines are covered (SD 1.x/2.x and their turbo distillations);
a transformer pipeline such as Z-Image is refused in one line.

openvino itself converts, not optimum-intel: optimum-intel 2.2 pins transformers < 5.6 and would downgrade
transformers, huggingface_hub and typer under blogart.
"""

from __future__ import annotations

import gc
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

from blogart.errors import BlogartError, UsageError

TEXT_LENGTH = 77  # CLIP's context; the SD pipelines pad every prompt to it


def require() -> None:
    """A one-line error, before any weights load, where openvino is not installed."""
    from importlib.util import find_spec

    if find_spec("openvino") is None:
        raise BlogartError("[diffusion] runtime = 'openvino' needs openvino: pip install 'blogart[openvino]'")


def import_openvino() -> Any:
    """`openvino`, imported with its usage telemetry off.

    Importing openvino starts its telemetry, which, unless the user has opted out in their home folder,
    sends events to Google Analytics from a forked process. blogart makes no network call of its own
    accord, so the import runs under the one switch the telemetry honours without writing a consent file
    into the user's home: CI=true. It is read once, when the telemetry starts, and restored at once.
    """
    import os
    import sys

    if "openvino" in sys.modules:
        return sys.modules["openvino"]
    saved = os.environ.get("CI")
    os.environ["CI"] = "true"
    try:
        import openvino
    finally:
        if saved is None:
            del os.environ["CI"]
        else:
            os.environ["CI"] = saved
    return openvino


def accelerate(pipe: Any, folders: list[Path], cache: Path, threads: int, size: tuple[int | None, int | None]) -> None:
    """Run `pipe`'s text encoder, UNet and decoder through OpenVINO from now on.

    `folders`: the pipeline folder and a tiny VAE's, whose weight files key the cache; `size`: (width, height)
    in pixels (None: the UNet's own), the size the networks are converted at (any batch runs; another size
    converts again).
    """
    require()
    for part in ("unet", "text_encoder", "vae"):
        if getattr(pipe, part, None) is None:
            raise UsageError(
                f"[diffusion] runtime = 'openvino' runs UNet pipelines (sd-turbo and other SD 1.x/2.x); "
                f"this one has no {part}: set runtime = 'torch'"
            )
    import torch

    ov = import_openvino()

    scale = int(getattr(pipe, "vae_scale_factor", 8))
    side = pipe.unet.config.sample_size * scale  # what the pipeline draws when no size is set
    width, height = size[0] or side, size[1] or side
    latents = torch.zeros(1, pipe.unet.config.in_channels, height // scale, width // scale)
    ids = torch.zeros(1, TEXT_LENGTH, dtype=torch.int64)
    context = torch.zeros(1, TEXT_LENGTH, pipe.unet.config.cross_attention_dim)
    networks = {
        "text_encoder": (lambda m, ids: m(ids, return_dict=False)[0], pipe.text_encoder, (ids,)),
        "unet": (
            lambda m, sample, t, context: m(sample, t, context, return_dict=False)[0],
            pipe.unet,
            (latents, torch.tensor([999.0]), context),
        ),
        "decoder": (lambda m, z: m.decode(z, return_dict=False)[0], pipe.vae, (torch.zeros_like(latents),)),
    }
    folder = cache / _key(folders, latents.shape, ov.__version__, torch.__version__)
    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads}
    compiled = {}
    for name, (call, module, example) in networks.items():
        ir = folder / f"{name}.xml"
        if not ir.is_file():
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the tracer's notes on shape checks it freezes, for developers
                try:
                    model = ov.convert_model(_traceable(call, module), example_input=example)
                except (RuntimeError, TypeError, ValueError, AttributeError) as exc:  # tracing or an unknown op
                    from blogart.text import one_line

                    raise BlogartError(
                        f"OpenVINO cannot convert this pipeline's {name}: {one_line(exc)}; set runtime = 'torch'"
                    ) from None
            _save(ov, model, ir)
            del model
        try:
            compiled[name] = core.compile_model(core.read_model(ir), "CPU", config)
        except RuntimeError as exc:
            from blogart.text import one_line

            hint = f"delete {folder} to convert again"
            raise BlogartError(f"OpenVINO cannot compile {ir}: {one_line(exc)} ({hint})") from None
        # The IR holds the weights now: free the torch copy before the next network converts (lower peak).
        for parameter in module.parameters():
            parameter.data = torch.empty(0, dtype=parameter.dtype)  # dtype and device stay for the pipeline
        gc.collect()
    _swap(pipe, compiled)


def _save(ov: Any, model: Any, ir: Path) -> None:
    """Write the IR into a temporary folder and rename it into place, so a killed conversion leaves nothing."""
    import os
    import tempfile

    ir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ir.parent) as tmp:
        staged = Path(tmp) / ir.name
        ov.save_model(model, staged, compress_to_fp16=False)  # f16 storage would change the pictures
        os.replace(staged.with_suffix(".bin"), ir.with_suffix(".bin"))
        os.replace(staged, ir)  # the .xml last: its presence means the pair is whole


def _key(folders: list[Path], shape: Any, *versions: str) -> str:
    """The cache entry: weights (path, size, mtime), the latent shape and the versions that convert."""
    files = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix in (".safetensors", ".bin", ".json"):
                stat = path.stat()
                files.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    blob = json.dumps([files, list(shape), versions])
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _swap(pipe: Any, compiled: dict[str, Any]) -> None:
    """The pipeline calls its modules as before; each forward now runs the compiled network."""
    import torch

    def run(name: str, *inputs: Any) -> Any:
        feed = [x.detach().to(torch.float32).numpy() if x.is_floating_point() else x.numpy() for x in inputs]
        return torch.from_numpy(compiled[name](feed)[0].copy())

    def text_forward(input_ids: Any, attention_mask: Any = None, output_hidden_states: Any = None, **_: Any) -> Any:
        if output_hidden_states:
            raise UsageError("[diffusion] runtime = 'openvino' does not support clip_skip: set runtime = 'torch'")
        return (run("text_encoder", input_ids),)

    def unet_forward(sample: Any, timestep: Any, encoder_hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timestep_cond") is not None or kwargs.get("added_cond_kwargs"):
            raise UsageError("[diffusion] runtime = 'openvino' runs plain SD UNets: set runtime = 'torch'")
        steps = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1).expand(sample.shape[0])
        return (run("unet", sample, steps, encoder_hidden_states),)

    def decode(latents: Any, *args: Any, **kwargs: Any) -> Any:
        return (run("decoder", latents),)

    pipe.text_encoder.forward = text_forward
    pipe.unet.forward = unet_forward
    pipe.vae.decode = decode


def _traceable(call: Any, module: Any) -> Any:
    """`module` with plain tensors in and one tensor out, as convert_model traces it."""
    import torch

    class Traceable(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, *inputs: Any) -> Any:
            return call(self.inner, *inputs)

    return Traceable().eval()
