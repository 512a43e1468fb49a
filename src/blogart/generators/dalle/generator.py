"""The `dalle-mini` / `dalle-mega` generator: prompt -> DalleBart image tokens -> VQGAN -> PNG images.

Models load on the first `generate` call, not when the generator is created, so choosing the
backend costs nothing until it runs. Image i of a request with seed s is sampled from the key of
(s, i) alone: the same (prompt, seed, i) gives the same picture whatever n or the batch size.
It returns images in memory; `blogart.outputs` writes them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from blogart.errors import BlogartError, UsageError
from blogart.values import Drawing, GenerationRequest


class DalleGenerator:
    """Generator protocol over a DalleBart checkpoint folder and a VQGAN folder (explicit paths)."""

    def __init__(
        self,
        name: str,
        checkpoint: str | Path,
        vqgan: str | Path,
        dtype: str = "float32",
        batch_size: int = 4,
        compile_cache: str | Path | None = None,
    ):
        if batch_size < 1:
            raise UsageError("batch_size must be >= 1")
        self.name = name
        self.checkpoint = Path(checkpoint)
        self.vqgan_folder = Path(vqgan)
        self.dtype = dtype
        self.batch_size = batch_size
        self.compile_cache = Path(compile_cache) if compile_cache else None
        self._loaded: dict[str, Any] | None = None
        self._text_side: dict[str, Any] | None = None

    def describe(self) -> dict[str, str]:
        return {"checkpoint": str(self.checkpoint), "vqgan": str(self.vqgan_folder), "dtype": self.dtype}

    def _text(self) -> dict[str, Any]:
        """Tokenizer and normaliser only: enough to count prompt tokens without loading the weights."""
        if self._text_side is None:
            from blogart.models.dalle.checkpoint import read_config
            from blogart.models.dalle.text import TextNormalizer, load_tokenizer

            normalize = bool(read_config(self.checkpoint).get("normalize_text", True))
            self._text_side = {
                "tokenizer": load_tokenizer(self.checkpoint),
                "normalizer": TextNormalizer.for_checkpoint(self.checkpoint) if normalize else None,
                "normalize": normalize,
            }
        return self._text_side

    def max_prompt_tokens(self) -> int:
        """The text length the checkpoint reads (64 for the released models)."""
        from blogart.models.dalle.checkpoint import read_config

        return int(read_config(self.checkpoint).get("max_text_length", 64))

    def count_tokens(self, text: str) -> int:
        """Tokens the model will read for this prompt, BOS/EOS included (the prompt writers' budget)."""
        from blogart.models.dalle.text import count_tokens

        side = self._text()
        return count_tokens(side["tokenizer"], text, normalize=side["normalize"], normalizer=side["normalizer"])

    def _load(self) -> dict[str, Any]:
        if self._loaded is None:
            from blogart.generators.dalle.sampler import enable_compile_cache
            from blogart.models.dalle.vqgan import load_vqgan

            if self.compile_cache is not None:
                enable_compile_cache(self.compile_cache)
            from blogart.models.dalle.checkpoint import load_dallebart

            bart = load_dallebart(self.checkpoint, self.dtype)
            vqgan = load_vqgan(self.vqgan_folder, self.dtype)
            if vqgan.config.num_codes != bart.config.image_length or vqgan.config.n_embed < bart.config.codebook_size:
                raise BlogartError(
                    f"VQGAN in {self.vqgan_folder} ({vqgan.config.num_codes} codes of {vqgan.config.n_embed}) does not "
                    f"fit {self.checkpoint} ({bart.config.image_length} tokens of {bart.config.codebook_size})"
                )
            self._loaded = {"bart": bart, "vqgan": vqgan, **self._text()}
        return self._loaded

    def generate(
        self, request: GenerationRequest, round: int = 1, progress: Callable[[int], None] | None = None
    ) -> list[Drawing]:
        """`progress(done)` after each batch: the images drawn so far."""
        if request.n < 1:
            raise UsageError("n must be >= 1")
        from PIL import Image

        from blogart.generators.dalle.sampler import check_seed, sample_image_tokens
        from blogart.models.dalle.text import encode_texts
        from blogart.models.dalle.vqgan import decode_codes

        check_seed(request.seed)  # before the weights load, not after
        models = self._load()
        bart = models["bart"]

        def encode(text: str):
            return encode_texts(
                models["tokenizer"],
                [text],
                max_length=bart.config.max_text_length,
                normalize=models["normalize"],
                normalizer=models["normalizer"],
            )

        ids, mask = encode(request.prompt)
        neg_ids, neg_mask = encode(request.negative_prompt)  # "" gives the empty (unconditional) prompt
        drawings: list[Drawing] = []
        for start in range(0, request.n, self.batch_size):
            indices = list(range(start, min(request.n, start + self.batch_size)))
            tokens = sample_image_tokens(
                bart,
                ids,
                mask,
                neg_ids,
                neg_mask,
                seeds=[request.seed] * len(indices),
                indices=indices,
                condition_scale=request.condition_scale,
                top_k=request.top_k,
                top_p=request.top_p,
                temperature=request.temperature,
            )
            images = decode_codes(models["vqgan"], tokens)
            for i, image in zip(indices, images, strict=True):
                png = io.BytesIO()
                Image.fromarray((image * 255.0).round().astype("uint8")).save(png, format="PNG")
                drawings.append(
                    Drawing(
                        png=png.getvalue(),
                        seed=request.seed,
                        index=i,
                        round=round,
                        prompt=request.prompt,
                        negative_prompt=request.negative_prompt,
                        generator=self.name,
                    )
                )
            if progress is not None:
                progress(len(drawings))
        return drawings
