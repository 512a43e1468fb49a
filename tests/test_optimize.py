"""PEZ hard-prompt optimisation on the tiny random-weight CLIP."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from tiny_clip import _pngs

from blogart.errors import UsageError
from blogart.prompts.optimize import allowed_token_ids, optimize_prompt, to_image_prompt
from blogart.values import ImagePrompt

TOPICS = ["red fox in the snow", "winter forest at dawn"]


def test_module_imports_torch_lazily():
    import subprocess

    code = "import sys, blogart.prompts.optimize, blogart.ranking.clip, blogart.ranking.moderation, blogart.cli.rank; "
    code += "print(any(m in sys.modules for m in ('torch', 'open_clip')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_pez_improves_its_objective_and_keeps_real_tokens(clip):  # noqa: F811
    result = optimize_prompt(clip, init_prompt="a photo of a dog", topics=TOPICS, iterations=40, prompt_len=8, seed=3)
    assert len(result.score_history) == 41 and result.iterations == 40
    assert result.best_score == max(result.score_history)
    assert result.best_score > result.score_history[0] + 0.05
    allowed = set(allowed_token_ids(clip.tokenizer))
    assert len(result.token_ids) == 8 and set(result.token_ids) <= allowed
    assert result.text == " ".join(clip.tokenizer.decode(list(result.token_ids)).split())
    # The text re-tokenises to the same tokens here (not guaranteed for every seed: BPE may merge
    # across pieces), and its objective as CLIP sees the text is the reported best score.
    assert clip.tokenizer.encode(result.text) == list(result.token_ids)
    similarity = float((clip.encode_texts([result.text]) @ clip.encode_texts(TOPICS).T).mean())
    assert similarity == pytest.approx(result.best_score, abs=1e-4)
    assert result.model == clip.model_id


def test_pez_is_deterministic_for_a_seed_and_starts_from_the_prompt(clip):  # noqa: F811
    first = optimize_prompt(clip, init_prompt="lighthouse", topics=TOPICS, iterations=10, prompt_len=6, seed=7)
    again = optimize_prompt(clip, init_prompt="lighthouse", topics=TOPICS, iterations=10, prompt_len=6, seed=7)
    other = optimize_prompt(clip, init_prompt="lighthouse", topics=TOPICS, iterations=10, prompt_len=6, seed=8)
    assert first == again
    assert other.token_ids != first.token_ids
    start = optimize_prompt(clip, init_prompt="a calm lake at night", topics=TOPICS, iterations=0, prompt_len=5)
    assert start.text == "a calm lake at night" and start.score_history == [start.best_score]


def test_blocklist_and_negative_words(clip):  # noqa: F811
    free = optimize_prompt(clip, topics=TOPICS, iterations=15, prompt_len=6, seed=1)
    blocked_words = [clip.tokenizer.decode([i]).strip() for i in free.token_ids[:3]]
    blocked = optimize_prompt(clip, topics=TOPICS, iterations=15, prompt_len=6, seed=1, blocklist=blocked_words)
    banned = {i for word in blocked_words for i in clip.tokenizer.encode(word)}
    assert banned and not banned & set(blocked.token_ids)

    # A negative word equal to a target can only lower the objective of the same prompt.
    init = "red fox snow"
    plain = optimize_prompt(clip, init_prompt=init, topics=TOPICS, iterations=0, prompt_len=3)
    penalised = optimize_prompt(clip, init_prompt=init, topics=TOPICS, negative=[TOPICS[0]], iterations=0, prompt_len=3)
    assert penalised.best_score < plain.best_score


def test_pez_towards_first_round_images(clip, tmp_path):  # noqa: F811
    images = _pngs(tmp_path, 2)
    result = optimize_prompt(clip, init_prompt="a drawing", images=images, iterations=25, prompt_len=8, seed=0)
    assert result.best_score > result.score_history[0]
    embeddings = clip.encode_images(images)
    same = optimize_prompt(clip, init_prompt="a drawing", image_embeddings=embeddings, iterations=25, prompt_len=8)
    np.testing.assert_allclose(same.score_history, result.score_history, atol=1e-5)
    prompt = to_image_prompt(result, ImagePrompt("a drawing", ("blurry",), "sketch", 2))
    assert (prompt.text, prompt.writer, prompt.negative, prompt.tokens) == (result.text, "pez", ("blurry",), 8)


def test_pez_needs_a_target(clip):  # noqa: F811
    with pytest.raises(UsageError, match="something to aim at"):
        optimize_prompt(clip, init_prompt="x", iterations=1)
