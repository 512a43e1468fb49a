"""The numpy MiniLM (llm/minilm.py) gives sentence-transformers' vectors for the bundled model."""

from __future__ import annotations

import numpy as np

from blogart.llm.embeddings import load_minilm, load_model

TEXTS = [
    "a sourdough starter",
    "Kubernetes pod autoscaling",
    "GPT-3",
    "x",
    "",
    "asset management",
    "AI contract review",
    "DALL-E Mini turns a sentence into a picture.",
    "The Golden Pavilion of Kinkaku-ji reflects in its pond like a postcard, and it is crowded for that reason.",
    "café naïve résumé — 日本語 😀",
    "Sea anemones open like green flowers under the water.",
    "EXPLAIN ANALYZE shows what the query planner actually did.",
    "heat pump",
    "coefficient of performance",
    "Roman aqueducts had no pumps; water flowed downhill the whole way.",
    "dovetail joint",
    "ND filter",
    "long exposure photography of the sea",
    "characterization tests",
    "the billing module nobody dares to touch",
    "Hermit crabs drag their borrowed shells across the sand.",
    "1/60 second",
    "index-only scan",
    "Fushimi Inari shrine at dawn",
    "binoculars",
    # Longer than the 256 word-piece limit: both cut it at the same place.
    " ".join(["Each analyst report is split into passages of about five hundred tokens."] * 40),
    "A burr grinder with stepless adjustment lets you move in tiny increments.",
    "tomato hornworms",
    "super conditioning",
    "European bank margins",
]


def test_numpy_minilm_matches_sentence_transformers():
    ours = load_minilm().encode(TEXTS, batch_size=8)
    reference = load_model().encode(TEXTS, batch_size=8, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == reference.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    cosines = (ours * reference).sum(axis=1)
    assert cosines.min() >= 0.9999, dict(zip(TEXTS, cosines.round(6), strict=True))
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_batching_does_not_change_vectors():
    model = load_minilm()
    alone = np.stack([model.encode([t])[0] for t in TEXTS[:6]])
    together = model.encode(TEXTS[:6], batch_size=64)  # padded to the longest: padding is masked out
    assert np.allclose(alone, together, atol=1e-5)


def test_in_place_gelu_is_the_exact_erf_gelu():
    import math

    from blogart.llm.minilm import _gelu

    x = np.linspace(-8, 8, 4001, dtype=np.float32)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(float)])
    ours = _gelu(x.copy())
    assert ours.dtype == np.float32
    assert np.abs(ours - exact).max() < 2e-6


def test_blas_threads_follow_the_idle_cores(monkeypatch):
    import os

    from blogart.llm import minilm

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(4)), raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert minilm.idle_cores() == 4 and minilm.idle_cores(most=2) == 2
    monkeypatch.setattr(os, "getloadavg", lambda: (2.6, 0.0, 0.0))
    assert minilm.idle_cores() == 1  # 4 cores, ~3 busy
    monkeypatch.setattr(os, "getloadavg", lambda: (11.0, 0.0, 0.0))
    assert minilm.idle_cores() == 1  # a busy machine: one thread, never zero

    def no_load():
        raise OSError("no load average")

    monkeypatch.setattr(os, "getloadavg", no_load)
    assert minilm.idle_cores() == 1
