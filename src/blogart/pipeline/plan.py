"""The run plan: settings and flags resolved once, at the entry point, into what a run will use.

`plan_run` is called by `cli/*` and `batch/post.py` only; the pipeline modules take the `RunPlan` and
never resolve settings again. `Session` is what the stages of one run share: the store, opened once,
and the backends' context with the run's one LLM client.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from blogart import plugins
from blogart.config import Settings
from blogart.pipeline import auto
from blogart.protocols import Generator
from blogart.store import Store
from blogart.values import CardOptions, GenerationRequest, ImagePrompt, PublishOptions

Report = Callable[[str], None]


def quiet(stage: str) -> None:
    """The default `report`: stages go unsaid."""


@dataclass(frozen=True)
class RunPlan:
    """Which backend of each kind a run uses, by registered name, with the settings they are made from."""

    settings: Settings  # resolved: generate.model is never "auto"; the bundled model's ranker and sampling
    backend: str  # the text backend, "openai" or "local": the LLM client's use (cost, alt text)
    extractor: str  # a `topic_extractors` name
    writer: str  # a `prompt_writers` name
    ranker: str | None  # a `rankers` name; None: no ranking
    publish: PublishOptions
    notice: str | None = None  # one line for the user when the bundled model stands in for DALL-E Mini

    @property
    def generator(self) -> str:
        return self.settings.generate.model

    def with_settings(self, settings: Settings) -> RunPlan:
        """The same backends with settings a post changed (its style, negative words and seed)."""
        return replace(self, settings=settings)


def plan_run(settings: Settings, *, rank: bool = True, force: bool = False, publish: bool | None = None) -> RunPlan:
    """Settings (flags already merged in) -> the plan: "auto" resolved for the generator and the text backend.

    `publish`: False turns publishing off (`--no-publish`); None: as [publish] says.
    """
    resolved, notice = auto.resolve_generator(settings)
    backend = auto.choose_backend(resolved)
    extractor, writer, ranker = auto.choose_names(resolved, backend)
    return RunPlan(
        settings=resolved,
        backend=backend,
        extractor=extractor,
        writer=writer,
        ranker=ranker if rank else None,
        publish=publish_options(resolved, force=force, enabled=False if publish is False else None),
        notice=notice,
    )


def publish_options(settings: Settings, **changes: Any) -> PublishOptions:
    """The [publish] settings as the value the publish step takes; `changes` (flags) win where not None."""
    from blogart.outputs.crops import parse_size

    p = settings.publish
    options = PublishOptions(
        enabled=p.enabled,
        front_matter=p.front_matter or None,
        sizes=tuple(parse_size(name, size) for name, size in p.sizes.items()),
        upscaler=p.upscaler,
        upscale_size=p.upscale_size,
        card=card_options(settings) if p.card else None,
    )
    return replace(options, **{k: v for k, v in changes.items() if v is not None})


def card_options(settings: Settings) -> CardOptions:
    """The [publish] card_* settings as the publish step takes them."""
    p = settings.publish
    return CardOptions(
        theme=p.card_theme,
        template=str(p.card_template or ""),
        site=p.card_site,
        date=p.card_date,
        tags=p.card_tags,
        sizes=tuple(p.card_sizes),
        cover=p.card_cover,
    )


def generation_request(prompt: ImagePrompt, settings: Settings, seed_offset: int = 0) -> GenerationRequest:
    """The [generate] sampling settings as one round's request for `prompt`."""
    g = settings.generate
    return GenerationRequest(
        prompt=prompt.text,
        negative_prompt=prompt.negative_prompt,
        n=g.n,
        seed=g.seed + seed_offset,
        condition_scale=g.condition_scale,
        top_k=g.top_k or None,
        top_p=g.top_p,
        temperature=g.temperature,
    )


def backend_context(
    settings: Settings, store: Store | None = None, count_tokens: Callable[[str], int] | None = None
) -> plugins.Context:
    """What every backend factory gets: the settings and one LLM client for the run, made on first use."""
    from blogart.llm.client import LLMClient

    return plugins.Context(
        settings,
        llm=functools.cache(lambda: LLMClient.from_settings(settings, store)),
        count_tokens=count_tokens,
    )


def token_counter(generator: Generator) -> Callable[[str], int]:
    """The generator's own token count for the prompt writers, an estimate where it has no tokenizer."""
    from blogart.prompts.builder import estimate_tokens

    def count(text: str) -> int:
        tokens = generator.count_tokens(text)
        return estimate_tokens(text) if tokens is None else tokens

    return count


@dataclass(frozen=True)
class Session:
    """What the stages of one run share: the store and the backends' context (one LLM client)."""

    store: Store
    context: plugins.Context
    max_tokens: int | None = None  # the generator's longest prompt, in its tokens; None: no limit known

    def for_generator(self, generator: Generator) -> Session:
        """The prompt writers count in the generator's tokens and fit its text length."""
        style = getattr(generator, "prompt_style", "phrases")  # an attribute a plugin's generator may lack
        context = replace(self.context, count_tokens=token_counter(generator), prompt_style=style)
        return replace(self, context=context, max_tokens=generator.max_prompt_tokens())

    def create(self, kind: str, name: str) -> Any:
        return plugins.create(kind, name, self.context)


def open_session(settings: Settings) -> Session:
    store = Store(settings.store.resolved())
    return Session(store, backend_context(settings, store))
