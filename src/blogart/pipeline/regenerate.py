"""`blogart regenerate`: draw a manifest's candidates again and say whether each came out the same."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blogart import plugins
from blogart.config import Settings
from blogart.pipeline.plan import Report, backend_context, generation_request, quiet
from blogart.protocols import Generator
from blogart.values import ImagePrompt

if TYPE_CHECKING:
    from blogart.outputs.manifest_read import Manifest


@dataclass(frozen=True)
class Redrawn:
    name: str
    same_bytes: bool
    same_pixels: bool


def _recorded_generate_settings(manifest: Manifest, settings: Settings) -> Settings:
    """`settings` with the generator, weights and sampling the manifest records, each checked as config is."""
    from pydantic import ValidationError

    from blogart.config import DiffusionSettings, GenerateSettings, ModelsSettings
    from blogart.errors import UsageError

    name = manifest.generator
    weights = manifest.models.weights
    g = manifest.recorded("generate")
    generate = {
        "model": name,
        "dtype": weights.get("dtype") or g.get("dtype"),
        **{k: g.get(k) for k in ("condition_scale", "top_k", "top_p", "temperature", "batch_size")},
    }
    generate = {k: v for k, v in generate.items() if v is not None}
    models = {"vqgan": weights.get("vqgan")}
    if name in ("dalle-mini", "dalle-mega", "sd-turbo", "z-image-turbo"):
        models[name.replace("-", "_")] = weights.get("checkpoint")
    models = {k: v for k, v in models.items() if v}
    # A diffusers model's steps, guidance, size, dtype and batching, as recorded.
    diffusion = {k: v for k, v in manifest.recorded("diffusion").items() if k in DiffusionSettings.model_fields}
    if weights.get("torch_dtype"):  # what "auto" resolved to where it was drawn (it depends on the CPU)
        diffusion["dtype"] = weights["torch_dtype"]
    checked = []
    for section, model, current, values in (
        ("settings.generate", GenerateSettings, settings.generate, generate),
        ("models.weights", ModelsSettings, settings.models, models),
        ("settings.diffusion", DiffusionSettings, settings.diffusion, diffusion),
    ):
        try:
            valid = model.model_validate({**current.model_dump(), **values})
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_input=False)[0]
            key = ".".join(str(part) for part in error["loc"])
            raise UsageError(f"the manifest's {section}.{key} is unusable: {error['msg']}") from None
        checked.append(current.model_copy(update={k: getattr(valid, k) for k in values}))
    return settings.model_copy(update={"generate": checked[0], "models": checked[1], "diffusion": checked[2]})


def _same_pixels(old: bytes, new: bytes) -> bool:
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(old)) as a, Image.open(io.BytesIO(new)) as b:
            return a.size == b.size and a.convert("RGB").tobytes() == b.convert("RGB").tobytes()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False  # the stored file is no image: it differs


def run_regenerate(
    manifest_path: Path, settings: Settings, *, out: Path | None = None, report: Report = quiet
) -> list[Redrawn]:
    """Draw a manifest's candidates again (same model, weights, seeds, prompts and settings) and compare.

    Each round draws as many images as its rows (the manifest's indices are checked to fit them); the
    stored images are read by name from the manifest's folder; only `out` is written to.
    """
    from blogart.errors import UsageError
    from blogart.outputs.files import check_folder, write_drawing
    from blogart.outputs.manifest_read import read_manifest

    if out is not None:
        check_folder(Path(out), "--out")
    manifest, _ = read_manifest(Path(manifest_path))
    folder = Path(manifest_path).parent
    if manifest.generator == "openai-images":
        raise UsageError("openai-images takes no seed, so its images cannot be redrawn; only local models can")
    current = _recorded_generate_settings(manifest, settings)
    generator: Generator = plugins.create("generators", manifest.generator, backend_context(current))
    rows_by_round: dict[int, list[Any]] = {}
    for row in manifest.candidates:
        rows_by_round.setdefault(row.round, []).append(row)
    results = []
    for round_number, rows in sorted(rows_by_round.items()):
        first = rows[0]
        request = replace(
            generation_request(ImagePrompt(first.prompt, (), "", 0), current),
            negative_prompt=first.negative_prompt,
            n=max(r.index for r in rows) + 1,
            seed=first.seed,
        )
        report(f"redrawing round {round_number} ({request.n} images)")
        drawings = {d.index: d for d in generator.generate(request, round=round_number)}
        for row in rows:
            drawing = drawings[row.index]
            stored = folder / row.name
            old = stored.read_bytes() if stored.is_file() else b""
            if out is not None:
                write_drawing(Path(out), drawing)
            results.append(Redrawn(stored.name, old == drawing.png, bool(old) and _same_pixels(old, drawing.png)))
    return results
