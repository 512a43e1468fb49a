"""`blogart pick`: make another candidate of a run the cover, with the models and settings the run recorded."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blogart.config import Settings
from blogart.pipeline.cards import card_like, pick_card_text, recorded_card, social_image
from blogart.pipeline.plan import Report, backend_context, publish_options, quiet
from blogart.pipeline.publish import check_publish, front_matter_plan, scorer
from blogart.store import Store
from blogart.values import PublishOptions, to_dict

if TYPE_CHECKING:
    from blogart.outputs.manifest_read import Manifest, PublishSection


@dataclass(frozen=True)
class PickRun:
    folder: Path
    number: int
    manifest: dict[str, Any]
    front_matter: str | None  # the edit's status, when the post's front matter was touched


def find_run_folder(target: str, settings: Settings) -> tuple[Path, Path | None]:
    """(run folder, post): the folder given as itself or its manifest (post None), or the post it was made from."""
    from blogart.errors import UsageError
    from blogart.outputs.files import MANIFEST_NAME, folder_for, slug_for
    from blogart.pipeline.document import load_document

    path = Path(target)
    if path.is_dir() and (path / MANIFEST_NAME).is_file():
        return path, None
    if path.name == MANIFEST_NAME and path.is_file():
        return path.parent, None
    if path.is_dir():
        raise UsageError(f"{path} is not a run folder (no {MANIFEST_NAME})")
    document = load_document(target, max_bytes=settings.input.max_bytes, timeout=settings.input.timeout)
    base = Path(settings.generate.out_dir)
    folder = _run_recording(base, slug_for(document), path) if path.is_file() else None
    folder = folder or folder_for(base, document)
    if not (folder / MANIFEST_NAME).is_file():
        raise UsageError(f"{target} has no run in {settings.generate.out_dir}; run `blogart generate` first")
    return folder, (path if path.is_file() else None)


def _run_recording(base: Path, slug: str, post: Path) -> Path | None:
    """The run folder (`<slug>`, `<slug>-2`, ...) whose manifest records `post` at its absolute path.

    Found wherever `generate` ran from and however the post was edited since; only a lookup, the
    manifest is read in full (and checked) afterwards.
    """
    from blogart.outputs.manifest_read import recorded_post

    wanted = post.resolve()
    for n in range(1, 1000):
        folder = base / (slug if n == 1 else f"{slug}-{n}")
        if not folder.is_dir():
            return None
        recorded = recorded_post(folder)
        try:
            if recorded is not None and Path(recorded).resolve() == wanted:
                return folder
        except (OSError, ValueError, RuntimeError):
            continue
    return None


def _recorded_ranker_settings(manifest: Manifest, settings: Settings) -> Settings:
    """`settings` with the CLIP the run ranked with (the bundled one, say): crops are scored as `generate` did.

    Moderation is off: the candidates' flags are the manifest's, and only crop windows are scored here.
    """
    from pydantic import ValidationError

    from blogart.config import RankSettings
    from blogart.errors import UsageError

    rank = manifest.recorded("rank")
    keys = ("model", "pretrained", "negative_weight", "batch_size", "ranker")
    try:
        recorded = RankSettings.model_validate({k: rank[k] for k in keys if k in rank})
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        key = ".".join(str(part) for part in error["loc"])
        raise UsageError(f"the manifest's settings.rank.{key} is unusable: {error['msg']}") from None
    models = manifest.recorded("models")
    if not isinstance(models.get("clip", ""), str):
        raise UsageError("the manifest's settings.models.clip is not a path")
    clip = {"clip": models["clip"]} if "clip" in models else {}
    return settings.model_copy(
        update={
            "rank": settings.rank.model_copy(update={k: getattr(recorded, k) for k in keys if k in rank}),
            "models": settings.models.model_copy(update=clip),
            "moderation": settings.moderation.model_copy(update={"enabled": False}),
        }
    )


def _image_bytes(path: Path) -> bytes:
    """A candidate's PNG from the run folder, checked to be an image (one line when it is not)."""
    import io

    from PIL import Image

    from blogart.errors import UsageError

    try:
        data = path.read_bytes() if path.is_file() else None
        if data is not None:
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UsageError(f"{path} is not a readable image: {' '.join(str(exc).split())}") from None
    if data is None:
        raise UsageError(f"{path.name} is missing from the run folder {path.parent}")
    return data


def _prior_placement(previous: PublishSection, post: Path, settings: Settings) -> dict[str, Any]:
    """The manifest's record of the cover it placed, its file kept only inside the post's site or static_dir."""
    from blogart.outputs.site import find_site

    if previous.front_matter is None:
        return {}
    roots = [site.root] if (site := find_site(post)) is not None else []
    if settings.publish.static_dir:
        roots.append(Path(settings.publish.static_dir))
    return previous.front_matter.placed_within(roots)


def _ranker(manifest: Manifest, settings: Settings) -> Any:
    """The recorded CLIP, for crop windows; None for an unranked run (saliency, as `generate` did)."""
    from blogart import plugins
    from blogart.pipeline.auto import AUTO, RANKER

    if not manifest.ranked:
        return None
    recorded = _recorded_ranker_settings(manifest, settings)
    name = RANKER if recorded.rank.ranker == AUTO else recorded.rank.ranker
    return plugins.create("rankers", name, backend_context(recorded, Store(settings.store.resolved())))


def run_pick(
    target: str,
    number: int,
    settings: Settings,
    *,
    publish: PublishOptions | None = None,
    report: Report = quiet,
) -> PickRun:
    """Make candidate `number` (as the gallery numbers them) the cover: files, crops, gallery, manifest, post.

    Writes only into the run folder and, with front matter, to the post and where its site serves the
    cover. The post is the one given as `target`, or the manifest's when it lies inside the site the
    manifest records (`manifest_read.trusted_post`). Ranking models and settings are the recorded ones.
    """
    from blogart.errors import UsageError
    from blogart.outputs import frontmatter
    from blogart.outputs.alttext import template_alt_text
    from blogart.outputs.files import MANIFEST_NAME, Restaged
    from blogart.outputs.gallery import numbered
    from blogart.outputs.manifest_read import PublishSection, prompt_of, read_manifest, rows_as_values, trusted_post
    from blogart.outputs.publish import inputs_hash, render_images, with_cards, write_outputs
    from blogart.pipeline.document import load_document

    folder, given_post = find_run_folder(target, settings)
    manifest, data = read_manifest(folder / MANIFEST_NAME)
    items = numbered(*rows_as_values(manifest, folder))
    if not 1 <= number <= len(items):
        raise UsageError(f"there is no candidate {number}; {folder} has candidates 1 to {len(items)}")
    chosen = items[number - 1]
    if chosen.ranked is not None and chosen.ranked.flagged:
        concepts = ", ".join(f.concept for f in chosen.ranked.flags)
        raise UsageError(f"candidate {number} was flagged by moderation ({concepts}); pick another")
    previous = manifest.publish or PublishSection()
    recorded = previous.front_matter.preset if previous.front_matter else None
    options = publish if publish is not None else publish_options(settings, front_matter=recorded)
    card_record = recorded_card(data)
    if options.card is None and card_record:  # the run had a card: the new cover gets one too
        options = replace(options, card=card_like(card_record, settings))
    post = (given_post or trusted_post(manifest)) if options.front_matter else None
    upscaler = check_publish(str(post or ""), settings, options)
    ranker = _ranker(manifest, settings)
    prompt, key_topics = prompt_of(manifest)
    source_png = _image_bytes(chosen.candidate.path)
    report(f"publishing candidate {number}")
    score, scorer_id = scorer(ranker, prompt)
    document = load_document(str(post), max_bytes=settings.input.max_bytes) if post is not None else None
    images = render_images(source_png, options, score, upscaler)
    if options.card is not None:
        images = with_cards(images, options, pick_card_text(document, options, card_record, manifest), folder)
    alt = previous.alt_text or template_alt_text(prompt, key_topics, prompt.style)
    edit = None
    with Restaged(folder) as staged:
        _, section = write_outputs(
            staged.staging,
            folder,
            images=images,
            chosen=chosen,
            items=items,
            title=manifest.text.title,
            generator=manifest.generator,
            prompt=prompt,
            key_topics=key_topics,
            alt=alt,
            alt_source=previous.alt_source,
            options=options,
            digest=inputs_hash(source_png, options, scorer_id),
        )
        if post is not None and document is not None:
            prior = _prior_placement(previous, post, settings)
            placed = social_image(images, options, section)
            edit = front_matter_plan(post, document, alt, options, settings, cover_png=placed, previous=prior)
            section["front_matter"] = to_dict(edit[0])
        data["cover"] = str(folder / chosen.candidate.path.name)
        data["publish"] = section
        staged.publish(data)
    if edit is not None:
        frontmatter.apply(*edit, placed)
    return PickRun(folder, number, data, edit[0].status if edit else None)
