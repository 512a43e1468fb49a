"""PEZ: hard-prompt optimisation over CLIP token embeddings (Wen et al. 2023, "Hard Prompts Made Easy").

Keep a continuous copy of the prompt's token embeddings. Each step projects every position to its
nearest real token embedding (cosine), evaluates the objective on that projected, real-token prompt,
and applies the gradient taken at the projection to the continuous copy (straight-through), with
AdamW. The best projected prompt seen is returned, so the text is always made of real tokens.

Objective (cosine, higher is better):
    mean over targets of cos(text(prompt), target) - negative_weight * max(0, max_j cos(text(prompt), text(neg_j)))
Targets are text embeddings of key topics and/or image embeddings of the best first-round images.
torch and open_clip are imported inside the functions.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from blogart.errors import UsageError
from blogart.text import collapse_whitespace
from blogart.values import ImagePrompt


@dataclass(frozen=True)
class OptimizedPrompt:
    text: str
    score_history: list[float]  # [0]: the initial prompt; then the projected prompt after each step
    best_score: float
    iterations: int
    token_ids: tuple[int, ...] = ()
    model: str = ""


def _readable(token: str) -> bool:
    # Byte-level BPE maps printable ASCII to itself; other pieces are fragments of UTF-8 bytes.
    piece = token.removesuffix("</w>")
    return bool(piece) and all(33 <= ord(ch) <= 126 for ch in piece)


# Per tokenizer object: the scan of ~49k tokens is worth keeping.
_readable_ids: weakref.WeakKeyDictionary[Any, list[int]] = weakref.WeakKeyDictionary()


def allowed_token_ids(tokenizer: Any, blocklist: Sequence[str] = ()) -> list[int]:
    """Readable ASCII tokens, minus the special tokens and every token of every blocked word."""
    if tokenizer not in _readable_ids:
        _readable_ids[tokenizer] = [i for token, i in tokenizer.encoder.items() if _readable(token)]
    banned = set(getattr(tokenizer, "all_special_ids", []))
    for word in blocklist:
        banned.update(tokenizer.encode(word))
    return [i for i in _readable_ids[tokenizer] if i not in banned]


class _TextTower:
    """The CLIP text encoder run from token embeddings instead of ids (open_clip's CLIP class)."""

    def __init__(self, model: Any, tokenizer: Any, prompt_len: int):
        import torch

        needed = ("token_embedding", "positional_embedding", "transformer", "ln_final", "text_projection")
        if not all(hasattr(model, name) for name in needed) or not hasattr(tokenizer, "encoder"):
            raise UsageError("PEZ needs an open_clip model with the built-in CLIP text tower and BPE tokenizer")
        context = model.positional_embedding.shape[0]
        if prompt_len + 2 > context:
            raise UsageError(f"prompt length {prompt_len} does not fit the text context of {context} tokens")
        self.model = model
        self.prompt_len = prompt_len
        # The text mask is causal, so nothing after the end token reaches its pooled output: running only
        # the sot + prompt + eot positions gives the same features as the padded 77, ~4x cheaper.
        length = prompt_len + 2
        ids = torch.zeros(1, length, dtype=torch.long)
        ids[0, 0] = tokenizer.sot_token_id
        ids[0, -1] = tokenizer.eot_token_id
        self.ids = ids  # pooling finds the end token here; the prompt slots are filled by embeddings
        mask = getattr(model, "attn_mask", None)
        if mask is None or getattr(model, "text_pool_type", "argmax") not in ("argmax", "eos"):
            raise UsageError("PEZ needs a causal CLIP text tower pooled at the end token")
        self.mask = mask[:length, :length]
        self.positions = model.positional_embedding[:length]
        with torch.no_grad():
            self.frame = model.token_embedding(ids)[0]

    def __call__(self, prompt_embeds: Any) -> Any:
        import torch
        from open_clip.transformer import text_global_pool

        model = self.model
        x = torch.cat([self.frame[:1], prompt_embeds, self.frame[-1:]])[None]
        x = x + self.positions
        x = model.transformer(x, attn_mask=self.mask)
        x = model.ln_final(x)
        x = text_global_pool(x, self.ids, model.text_pool_type, eos_token_id=getattr(model, "text_eos_id", None))
        x = (
            model.text_projection(x)
            if isinstance(model.text_projection, torch.nn.Linear)
            else x @ model.text_projection
        )
        return torch.nn.functional.normalize(x, dim=-1)[0]


def optimize_prompt(
    clip: Any,
    *,
    init_prompt: str = "",
    topics: Sequence[str] = (),
    images: Sequence[Path | Any] = (),
    image_embeddings: np.ndarray | None = None,
    negative: Sequence[str] = (),
    prompt_len: int = 16,
    iterations: int = 300,
    lr: float = 0.1,
    weight_decay: float = 0.1,
    negative_weight: float = 0.5,
    blocklist: Sequence[str] = (),
    seed: int = 0,
    threads: int | None = None,
) -> OptimizedPrompt:
    """Optimise a prompt of `prompt_len` real tokens towards the targets; `clip` is a models.clip.ClipModel.

    The prompt starts from the tokens of `init_prompt` (truncated, or padded with random allowed tokens
    drawn from `seed`). Same seed, inputs and thread count: same result.
    """
    import torch

    from blogart.models.clip import set_threads

    if iterations < 0 or prompt_len < 1:
        raise UsageError("PEZ needs iterations >= 0 and a prompt length >= 1")
    set_threads(threads)
    objective = _objective(clip, topics, images, image_embeddings, negative, negative_weight)
    model, tokenizer = clip.model, clip.tokenizer
    model.eval()
    tower = _TextTower(model, tokenizer, prompt_len)
    allowed = torch.tensor(allowed_token_ids(tokenizer, blocklist))
    if len(allowed) == 0:
        raise UsageError("the token blocklist leaves no tokens to build a prompt from")
    ids = _start_ids(tokenizer, allowed, init_prompt, prompt_len, seed)
    table = model.token_embedding.weight.detach()
    history, best_ids, best_score = _search(tower, objective, table, allowed, ids, iterations, lr, weight_decay)
    token_ids = tuple(int(i) for i in best_ids)
    text = collapse_whitespace(tokenizer.decode(list(token_ids)))
    return OptimizedPrompt(text, history, best_score, iterations, token_ids, clip.model_id)


def _objective(
    clip: Any,
    topics: Sequence[str],
    images: Sequence[Path | Any],
    image_embeddings: np.ndarray | None,
    negative: Sequence[str],
    negative_weight: float,
) -> Callable[[Any], Any]:
    """The score of a prompt's text features: mean cosine to the targets less the negative words' penalty."""
    import torch

    parts = []
    if topics:
        parts.append(clip.encode_texts(list(topics)))
    if images:
        parts.append(clip.encode_images(list(images)))
    if image_embeddings is not None and len(image_embeddings):
        parts.append(np.asarray(image_embeddings, dtype=np.float32))
    if not parts:
        raise UsageError("PEZ needs something to aim at: key topics or first-round images")
    targets = torch.nn.functional.normalize(torch.from_numpy(np.concatenate(parts)).float(), dim=-1)
    negatives = torch.from_numpy(clip.encode_texts(list(negative))).float() if negative else None

    def objective(features: Any) -> Any:
        value = (targets @ features).mean()
        if negatives is not None:
            value = value - negative_weight * torch.clamp((negatives @ features).max(), min=0.0)
        return value

    return objective


def _start_ids(tokenizer: Any, allowed: Any, init_prompt: str, prompt_len: int, seed: int) -> Any:
    """The allowed tokens of `init_prompt`, truncated or padded with random allowed tokens drawn from `seed`."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    allowed_set = set(allowed.tolist())
    start = [i for i in tokenizer.encode(init_prompt) if i in allowed_set][:prompt_len]
    fill = allowed[torch.randint(len(allowed), (prompt_len - len(start),), generator=generator)].tolist()
    return torch.tensor(start + fill)


def _search(
    tower: _TextTower,
    objective: Callable[[Any], Any],
    table: Any,
    allowed: Any,
    ids: Any,
    iterations: int,
    lr: float,
    weight_decay: float,
) -> tuple[list[float], Any, float]:
    """AdamW on the continuous prompt, scored at its projection to real tokens: (scores, best ids, best score)."""
    import torch

    allowed_normed = torch.nn.functional.normalize(table[allowed], dim=-1)
    embeds = table[ids].clone().requires_grad_(True)
    optimizer = torch.optim.AdamW([embeds], lr=lr, weight_decay=weight_decay)

    def project(x: Any) -> Any:
        with torch.no_grad():
            nearest = (torch.nn.functional.normalize(x, dim=-1) @ allowed_normed.T).argmax(dim=-1)
        return allowed[nearest]

    history: list[float] = []
    best_ids, best_score = ids, -float("inf")
    for step in range(iterations + 1):
        projected_ids = ids if step == 0 else project(embeds)
        projected = table[projected_ids].clone().requires_grad_(True)
        value = objective(tower(projected))
        score = float(value.detach())
        history.append(score)
        if score > best_score:
            best_ids, best_score = projected_ids, score
        if step == iterations:
            break
        # Straight-through: the gradient at the real-token prompt updates the continuous one.
        (grad,) = torch.autograd.grad(-value, [projected])
        optimizer.zero_grad()
        embeds.grad = grad
        optimizer.step()
    return history, best_ids, best_score


def to_image_prompt(result: OptimizedPrompt, base: ImagePrompt) -> ImagePrompt:
    """The optimised prompt as the next round's ImagePrompt (same style and negative words)."""
    return replace(base, text=result.text, tokens=len(result.token_ids), writer="pez")
