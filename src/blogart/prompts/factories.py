"""Factories of blogart's own prompt writers, registered in pyproject.toml under `blogart.prompt_writers`."""

from __future__ import annotations

from blogart.plugins import Context
from blogart.protocols import PromptWriter


def templates(ctx: Context) -> PromptWriter:
    """Offline: subject first, style suffix, trimmed from the end to the generator's token budget."""
    from blogart.prompts.builder import TemplatePromptWriter

    return TemplatePromptWriter(count_tokens=ctx.count_tokens, sentences=ctx.prompt_style == "sentence")


def openai(ctx: Context) -> PromptWriter:
    """An LLM with few-shot examples from the bundled library (plus `prompt.library_dir`)."""
    from blogart.prompts.library import load_examples
    from blogart.prompts.openai_writer import OpenAIPromptWriter

    examples = load_examples(ctx.settings.prompt.library_dir or None)
    return OpenAIPromptWriter(
        ctx.llm(), examples, count_tokens=ctx.count_tokens, sentences=ctx.prompt_style == "sentence"
    )


def icons(ctx: Context) -> PromptWriter:
    """Offline, for the bundled icon model: key topics mapped onto its concept vocabulary, as one caption."""
    from blogart import assets
    from blogart.llm.embeddings import model_id
    from blogart.prompts.icons import load_concepts
    from blogart.prompts.icons_writer import IconPromptWriter, load_concept_vectors

    model = assets.require()
    concepts = load_concepts(model.concepts)
    vectors = load_concept_vectors(model.concept_vectors, concepts, model_id())
    return IconPromptWriter(concepts, count_tokens=ctx.count_tokens, concept_vectors=vectors)
