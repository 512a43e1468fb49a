"""The `dalle-mini` / `dalle-mega` generator: prompt -> DalleBart image tokens -> VQGAN -> PNG images.

Models load on the first `generate` call, not when the generator is created, so choosing the
backend costs nothing until it runs. Image i of a request with seed s is sampled from the key of
(s, i) alone: the same (prompt, seed, i) gives the same picture whatever n or the batch size.
It returns images in memory; `blogart.outputs` writes them.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

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
            from blogart.models.dalle.text import load_tokenizer

            bart = load_dallebart(self.checkpoint, self.dtype)
            vqgan = load_vqgan(self.vqgan_folder, self.dtype)
            if vqgan.config.num_codes != bart.config.image_length or vqgan.config.n_embed < bart.config.codebook_size:
                raise BlogartError(
                    f"VQGAN in {self.vqgan_folder} ({vqgan.config.num_codes} codes of {vqgan.config.n_embed}) does not "
                    f"fit {self.checkpoint} ({bart.config.image_length} tokens of {bart.config.codebook_size})"
                )
            # The drawing side gets its own tokenizer: a fast tokenizer keeps its padding setting in
            # shared state, and a batch engine counts prompt tokens in another thread while this one
            # draws, so a shared one can return an unpadded row mid-batch.
            side = {**self._text(), "tokenizer": load_tokenizer(self.checkpoint)}
            self._loaded = {"bart": bart, "vqgan": vqgan, **side}
        return self._loaded

    def generate(
        self, request: GenerationRequest, round: int = 1, progress: Callable[[int], None] | None = None
    ) -> list[Drawing]:
        """`progress(done)` after each batch: the images drawn so far."""
        if request.n < 1:
            raise UsageError("n must be >= 1")
        from blogart.generators.dalle.sampler import check_seed

        check_seed(request.seed)  # before the weights load, not after
        models = self._load()
        text = self._encode(models, [request.prompt, request.negative_prompt])
        drawings: list[Drawing] = []
        for start in range(0, request.n, self.batch_size):
            rows = [_Row(0, request, i) for i in range(start, min(request.n, start + self.batch_size))]
            tokens = self._sample(models, rows, text)
            drawings += self._drawings(models, request, [r.index for r in rows], tokens, round)
            if progress is not None:
                progress(len(drawings))
        return drawings

    def generate_many(
        self,
        requests: Sequence[GenerationRequest],
        round: int = 1,
        batch_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[list[Drawing]]:
        """Each request's drawings, as `generate` would return them, with candidates of several requests
        sharing sampler batches of `batch_size` (default the generator's own); see `stream_many`."""
        for request in requests:  # every request checked before anything is drawn
            _check(request)
        out: list[list[Drawing]] = [[] for _ in requests]
        for done in self.stream_many(requests, round, batch_size, progress):
            out[done.position] = done.drawings
        return out

    def stream_many(
        self,
        requests: Iterable[GenerationRequest],
        round: int = 1,
        batch_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[DrawnRequest]:
        """Draw the requests' candidates in full sampler batches of `batch_size`, rows of several requests
        sharing a batch; yield each request as soon as all its images are drawn.

        `requests` is read lazily, only as far as the next batch needs: a batch engine hands over posts
        as it prepares them and publishes each one yielded. An image depends only on its own prompt,
        seed and index (see the sampler), so mixing requests changes no token; each request's tokens then
        go through the VQGAN in the very batches `generate` uses, so its PNGs are byte-identical to
        `generate`'s. Requests whose filters differ (top-k, top-p, temperature, condition scale) cannot
        share a compiled step: a change of filters ends the batch early. `progress(done)` after each
        sampler batch: images drawn so far, over all requests.
        """
        import numpy as np

        size = self.batch_size if batch_size is None else int(batch_size)
        if size < 1:
            raise UsageError("batch_size must be >= 1")
        source = enumerate(requests)
        models: dict[str, Any] | None = None
        text: dict[str, tuple[Any, Any]] = {}
        live: dict[int, _Live] = {}
        pending: list[_Row] = []
        held: _Row | None = None  # the first row of a request with other filters: starts the next batch
        exhausted, done = False, 0
        while True:
            while not exhausted and held is None and len(pending) < size:
                try:
                    k, request = next(source)
                except StopIteration:
                    exhausted = True
                    break
                _check(request)
                models = models or self._load()
                text.update(
                    self._encode(models, [t for t in (request.prompt, request.negative_prompt) if t not in text])
                )
                live[k] = _Live(request, request.n)
                rows = [_Row(k, request, i) for i in range(request.n)]
                if pending and _filters(request) != _filters(pending[0].request):
                    held = rows[0]
                pending += rows
            if not pending:
                return
            cut = size
            if held is not None:
                cut = min(size, next(j for j, row in enumerate(pending) if row is held))
            batch, pending = pending[:cut], pending[cut:]
            if held is not None and pending and pending[0] is held:
                held = None
            clock = time.perf_counter()
            tokens = self._sample(models, batch, text)
            share = (time.perf_counter() - clock) / len(batch)
            for row, row_tokens in zip(batch, tokens, strict=True):
                state = live[row.pos]
                state.tokens[row.index] = row_tokens
                state.left -= 1
                state.seconds += share
            done += len(batch)
            if progress is not None:
                progress(done)
            for k in sorted(k for k, state in live.items() if state.left == 0):
                state = live.pop(k)
                request = state.request
                drawings: list[Drawing] = []
                for start in range(0, request.n, self.batch_size):  # generate's own VQGAN batches
                    indices = list(range(start, min(request.n, start + self.batch_size)))
                    codes = np.stack([state.tokens[i] for i in indices])
                    drawings += self._drawings(models, request, indices, codes, round)
                wanted = {t for s in live.values() for t in (s.request.prompt, s.request.negative_prompt)}
                text = {t: v for t, v in text.items() if t in wanted}
                yield DrawnRequest(k, drawings, state.seconds)

    def _encode(self, models: dict[str, Any], texts: Sequence[str]) -> dict[str, tuple[Any, Any]]:
        """Token ids and mask (each (1, T)) of every distinct text, padded to the model's text length."""
        from blogart.models.dalle.text import encode_texts

        encoded = {}
        for text in dict.fromkeys(texts):  # "" gives the empty (unconditional) prompt
            encoded[text] = encode_texts(
                models["tokenizer"],
                [text],
                max_length=models["bart"].config.max_text_length,
                normalize=models["normalize"],
                normalizer=models["normalizer"],
            )
        return encoded

    def _sample(self, models: dict[str, Any], rows: Sequence[_Row], text: dict[str, tuple[Any, Any]]) -> Any:
        """Image tokens of one sampler batch: each row its own prompt, negative prompt, seed and index."""
        import numpy as np

        from blogart.generators.dalle.sampler import sample_image_tokens

        def stack(texts: list[str]) -> tuple[Any, Any]:
            if len(set(texts)) == 1:  # one prompt for every row, as generate has always passed it
                return text[texts[0]]
            return tuple(np.concatenate([text[t][j] for t in texts]) for j in (0, 1))

        first = rows[0].request
        ids, mask = stack([r.request.prompt for r in rows])
        neg_ids, neg_mask = stack([r.request.negative_prompt for r in rows])
        return sample_image_tokens(
            models["bart"],
            ids,
            mask,
            neg_ids,
            neg_mask,
            seeds=[r.request.seed for r in rows],
            indices=[r.index for r in rows],
            condition_scale=first.condition_scale,
            top_k=first.top_k,
            top_p=first.top_p,
            temperature=first.temperature,
        )

    def _drawings(
        self, models: dict[str, Any], request: GenerationRequest, indices: list[int], tokens: Any, round: int
    ) -> list[Drawing]:
        from PIL import Image

        from blogart.models.dalle.vqgan import decode_codes

        drawings = []
        for i, image in zip(indices, decode_codes(models["vqgan"], tokens), strict=True):
            png = io.BytesIO()
            Image.fromarray((image * 255.0).round().astype("uint8")).save(png, format="PNG")
            drawings.append(Drawing.of(request, png.getvalue(), i, round, self.name))
        return drawings


class DrawnRequest(NamedTuple):
    """One request of `stream_many`, all drawn: its position among the requests, its drawings, and its
    share of the sampler's seconds."""

    position: int
    drawings: list[Drawing]
    seconds: float


class _Live:
    """A request being drawn: its tokens so far and how many images are left."""

    def __init__(self, request: GenerationRequest, left: int) -> None:
        self.request = request
        self.left = left
        self.tokens: dict[int, Any] = {}
        self.seconds = 0.0


def _check(request: GenerationRequest) -> None:
    from blogart.generators.dalle.sampler import check_seed

    if request.n < 1:
        raise UsageError("n must be >= 1")
    check_seed(request.seed)


def _filters(request: GenerationRequest) -> tuple:
    return (request.condition_scale, request.top_k, request.top_p, request.temperature)


class _Row(NamedTuple):
    """One image to draw: which request (its position), the request itself, and the image's index in it."""

    pos: int
    request: GenerationRequest
    index: int
