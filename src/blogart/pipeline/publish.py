"""The publish step, after ranking: cover, crops, gallery, alt text and the front-matter edit.

`generate` publishes its best unflagged candidate; `pick` publishes the one the user names. Files go
into the staging folder; the front-matter edit is planned here and applied once the run folder is in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blogart import plugins
from blogart.config import Settings
from blogart.pipeline.cards import card_text, social_image
from blogart.pipeline.prompt import PromptRun
from blogart.protocols import Ranker
from blogart.values import Candidate, Document, ImagePrompt, PublishOptions, Ranked, to_dict

if TYPE_CHECKING:
    from blogart.outputs.files import StagedRun
    from blogart.outputs.frontmatter import FrontMatterEdit

FrontMatterPlan = tuple["FrontMatterEdit", bytes | None]  # what outputs.frontmatter.apply takes, less the cover


@dataclass(frozen=True)
class Drawn:
    """A run's candidates as the manifest names them (published paths) and where their bytes are now."""

    candidates: tuple[Candidate, ...]
    ranked: tuple[Ranked, ...]
    staged: Mapping[str, Path]  # file name -> its path in the staging folder


@dataclass(frozen=True)
class Publisher:
    """Everything the publish step uses besides the drawings."""

    options: PublishOptions
    settings: Settings
    generator: str  # the generator's name, as the gallery shows it
    ranker: Ranker | None  # scores crop windows against the prompt; None: saliency
    upscaler: Any  # Swin2SR, or None for Lanczos (see check_publish)
    context: plugins.Context  # the run's LLM client, for LLM alt text


def check_publish(source: str, settings: Settings, options: PublishOptions) -> Any:
    """Before any work: the post can take front matter, the upscaler has its weights. Returns Swin2SR or None."""
    if not options.enabled:
        return None
    if options.card is not None:  # the template and its fonts, and the sizes it names, before any drawing
        from blogart.outputs.card_template import load_template
        from blogart.outputs.publish import card_sizes

        load_template(options.card.template or None)
        card_sizes(options, options.card)
    if options.front_matter:
        from blogart.outputs import frontmatter

        p = settings.publish
        frontmatter.key_paths(options.front_matter, p.astro_alt_key, (p.custom_image_key, p.custom_alt_key))
        post = frontmatter.check_post(source)
        # Where the cover goes, and whether the front matter can take it, before anything is drawn.
        frontmatter.check(
            post,
            options.front_matter,
            slug="cover",
            force=options.force,
            static_dir=p.static_dir,
            static_url=p.static_url,
            astro_alt_key=p.astro_alt_key,
            custom=(p.custom_image_key, p.custom_alt_key),
        )
    if options.upscaler == "swin2sr":
        from blogart import modelhub
        from blogart.outputs.upscale import Swin2SR

        return Swin2SR(modelhub.find("swin2sr", settings.models.swin2sr or None, settings.models.cache_dir or None))
    return None


def front_matter_plan(
    post: Path,
    document: Document,
    alt: str,
    options: PublishOptions,
    settings: Settings,
    *,
    cover_png: bytes | None = None,
    previous: dict[str, Any] | None = None,
) -> FrontMatterPlan:
    """The edit of `post`'s front matter that names its cover (what `generate` and `pick` write).

    `cover_png`: the cover, whose hash names the placed file. `previous`: the run folder's last
    `publish.front_matter` (default: read from the post's run folder under out_dir).
    """
    from blogart.outputs import frontmatter
    from blogart.outputs.files import folder_for, slug_for
    from blogart.outputs.manifest_read import recorded_front_matter

    if previous is None:
        previous = recorded_front_matter(folder_for(Path(settings.generate.out_dir), document))
    p = settings.publish
    return frontmatter.plan(
        post,
        options.front_matter,
        slug=slug_for(document),
        alt=alt,
        cover_png=cover_png,
        force=options.force,
        static_dir=p.static_dir,
        static_url=p.static_url,
        astro_alt_key=p.astro_alt_key,
        custom=(p.custom_image_key, p.custom_alt_key),
        previous=previous,
    )


def scorer(ranker: Ranker | None, prompt: ImagePrompt) -> tuple[Any, str]:
    """Crop windows scored by CLIP against the prompt when ranking is on, else by saliency."""
    if ranker is None:
        return None, "saliency"
    return (lambda images: ranker.score_images(images, prompt.text)), f"clip:{ranker.model_id}"


def _alt_text(run: PromptRun, publisher: Publisher) -> tuple[str, str]:
    from blogart.outputs.alttext import llm_alt_text, template_alt_text

    mode = publisher.settings.publish.alt_text
    if mode == "llm" or (mode == "auto" and run.backend == "openai"):
        return llm_alt_text(publisher.context.llm(), run.prompt, run.key_topics, run.document.title), "llm"
    return template_alt_text(run.prompt, run.key_topics, run.prompt.style), "template"


def publish_best(
    staged: StagedRun, run: PromptRun, drawn: Drawn, publisher: Publisher
) -> tuple[dict[str, Any], FrontMatterPlan | None]:
    """Cover, crops and gallery into the staging folder; the front-matter edit planned (applied after the swap).

    Returns the manifest's `publish` section and the edit, if any."""
    from blogart.outputs.gallery import numbered
    from blogart.outputs.manifest_read import recorded_front_matter
    from blogart.outputs.publish import inputs_hash, previous_images, render_images, with_cards, write_outputs

    options = publisher.options
    items = numbered(list(drawn.candidates), list(drawn.ranked))
    chosen = next((i for i in items if i.ranked is None or not i.ranked.flagged), None)
    alt, alt_source = _alt_text(run, publisher)
    images, digest = None, None
    if chosen is not None:
        source_png = drawn.staged[chosen.candidate.path.name].read_bytes()
        score, scorer_id = scorer(publisher.ranker, run.prompt)
        digest = inputs_hash(source_png, options, scorer_id)
        images = previous_images(staged.folder, digest) or render_images(source_png, options, score, publisher.upscaler)
        images = with_cards(images, options, card_text(run.document, options), staged.folder)
    written, section = write_outputs(
        staged.staging,
        staged.folder,
        images=images,
        chosen=chosen,
        items=items,
        title=run.document.title,
        generator=publisher.generator,
        prompt=run.prompt,
        key_topics=run.key_topics,
        alt=alt,
        alt_source=alt_source,
        options=options,
        digest=digest,
    )
    staged.add_files(written)
    if not (options.front_matter and images is not None):
        return section, None
    edit = front_matter_plan(
        Path(run.document.source),
        run.document,
        alt,
        options,
        publisher.settings,
        cover_png=social_image(images, options, section),
        previous=recorded_front_matter(staged.folder),
    )
    section["front_matter"] = to_dict(edit[0])
    return section, edit
