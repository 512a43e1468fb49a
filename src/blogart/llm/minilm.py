"""all-MiniLM-L6-v2 in numpy: the bundled model's forward pass without torch or sentence-transformers.

A 6-layer BERT encoder (post-norm, exact GELU), mean-pooled over the real tokens and L2-normalised:
what sentence-transformers computes for this model (tests/test_minilm.py holds the two to a cosine
of at least 0.9999). Texts are cut at 256 word pieces, the model's sentence-transformers limit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length
MAX_THREADS = 4  # past this, MiniLM on short texts gains nothing and starves other work on the machine
HEADS = 12
EPS = 1e-12  # config.json's layer_norm_eps


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, in place on `x`, which the caller owns.

    erf from Abramowitz & Stegun 7.1.26 (error below 1.5e-7, under float32 rounding): numpy has no erf,
    and scipy.special costs more to import than the whole model. In place because this is the widest
    activation (1536 per token): fresh temporaries for each of its dozen steps cost more than the maths.
    """
    z = np.abs(x)
    z *= np.float32(1 / np.sqrt(2))  # |x| / sqrt(2)
    t = z * np.float32(0.3275911)
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(c)
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z  # 1 - erf(|x| / sqrt(2))
    # gelu(x) = x/2 * (1 + erf(x / sqrt(2))) = x/2 * (2 - poly) for x >= 0, x/2 * poly for x < 0
    np.subtract(2.0, poly, out=poly, where=x >= 0)
    x *= poly
    x *= np.float32(0.5)
    return x


def idle_cores(most: int = MAX_THREADS) -> int:
    """BLAS threads for one encode: the cores idle now by the 1-minute load average, 1 to `most`.

    On a busy machine OpenBLAS threads spin against each other (two threads measured 20x slower than
    one on the shared 2-core box); on an idle one the second core makes a long post's topics ~1.5x faster.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform: stay on the safe side
        return 1
    return max(1, min(most, cores - round(load)))


class MiniLM:
    """Sentence vectors from the bundled MiniLM folder (tokenizer.json, model.safetensors)."""

    def __init__(self, folder: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()  # each batch is padded to its own longest text below
        self.tokenizer.enable_truncation(MAX_TOKENS)
        w = load_file(str(folder / "model.safetensors"))
        self.w = {name: value.astype(np.float32) for name, value in w.items() if name != "embeddings.position_ids"}
        # Dense weights are stored (out, in); keep them transposed once so each layer is x @ W.
        for name in list(self.w):
            if name.endswith(".weight") and self.w[name].ndim == 2 and not name.startswith("embeddings."):
                self.w[name] = np.ascontiguousarray(self.w[name].T)
        self.layers = 1 + max(int(name.split(".")[2]) for name in self.w if name.startswith("encoder.layer."))
        # Query, key and value in one product per layer.
        for n in range(self.layers):
            p = f"encoder.layer.{n}.attention.self."
            for part in ("weight", "bias"):
                parts = [self.w.pop(f"{p}{name}.{part}") for name in ("query", "key", "value")]
                self.w[f"{p}qkv.{part}"] = np.ascontiguousarray(np.concatenate(parts, axis=-1))

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length float32 vectors, one row per text. Batches group texts of similar length, so
        padding stays small whatever order the texts come in."""
        from threadpoolctl import threadpool_limits

        ids = self.token_ids(texts)
        threads = idle_cores()
        out = np.zeros((len(ids), self.w["embeddings.word_embeddings.weight"].shape[1]), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(ids[i]) for i in rows)
            batch = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.float32)
            for r, i in enumerate(rows):
                batch[r, : len(ids[i])] = ids[i]
                mask[r, : len(ids[i])] = 1.0
            with threadpool_limits(limits=threads, user_api="blas"):
                hidden = self.forward(batch, mask)
            pooled = (hidden * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Last hidden states (batch, length, 384) for padded token ids and their 1/0 mask."""
        w = self.w
        length = ids.shape[1]
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        # Padded keys get a large negative score, so softmax gives them no weight.
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for n in range(self.layers):
            x = self._layer(x, bias, f"encoder.layer.{n}.")
        return x

    def _layer(self, x: np.ndarray, bias: np.ndarray, p: str) -> np.ndarray:
        # Dense products run on (batch * length, dim): one large matrix product, where a 3-D operand
        # makes numpy call BLAS once per text (3x slower on short phrases).
        w = self.w
        batch, length, dim = x.shape
        head = dim // HEADS
        flat = x.reshape(batch * length, dim)
        qkv = flat @ w[p + "attention.self.qkv.weight"] + w[p + "attention.self.qkv.bias"]
        q, k, v = qkv.reshape(batch, length, 3, HEADS, head).transpose(2, 0, 3, 1, 4)
        scores = q @ k.transpose(0, 1, 3, 2)
        scores *= np.float32(1 / np.sqrt(head))
        scores += bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, dim)
        attended = context @ w[p + "attention.output.dense.weight"]
        attended += w[p + "attention.output.dense.bias"]
        attended += flat
        flat = _layer_norm(
            attended, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]
        )
        inner = flat @ w[p + "intermediate.dense.weight"]
        inner += w[p + "intermediate.dense.bias"]
        out = _gelu(inner) @ w[p + "output.dense.weight"]
        out += w[p + "output.dense.bias"]
        out += flat
        return _layer_norm(out, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]).reshape(
            batch, length, dim
        )
