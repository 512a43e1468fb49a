"""`blogart generate`: prompt, candidates (one or two rounds), ranking and moderation, publishing, manifest."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blogart import __version__
from blogart.config import Settings
from blogart.pipeline.auto import RANKER
from blogart.pipeline.cards import placed_png
from blogart.pipeline.plan import Report, RunPlan, Session, generation_request, open_session, quiet
from blogart.pipeline.post_control import KEY, PostSkipped, read_control
from blogart.pipeline.prompt import PromptRun, optimize_prompt, run_prompt
from blogart.pipeline.publish import Drawn, Publisher, check_publish, publish_best
from blogart.protocols import Generator, Ranker
from blogart.store import Store
from blogart.values import Candidate, Drawing, GenerationRequest, ImagePrompt, Ranked

if TYPE_CHECKING:
    from blogart.models.clip import ClipModel, ClipSource
    from blogart.outputs.files import StagedRun

OnImage = Callable[[int, int], None]


@dataclass(frozen=True)
class GenerateRun:
    prompt_run: PromptRun
    candidates: tuple[Candidate, ...]
    ranked: tuple[Ranked, ...]
    out_dir: Path
    manifest_path: Path
    manifest: dict[str, Any]


@dataclass(frozen=True)
class PreparedPost:
    """A post ready to draw: backends made, front matter applied, prompt written and screened."""

    plan: RunPlan  # with the post's own front-matter settings
    session: Session
    generator: Generator
    ranker: Ranker | None
    clip: ClipModel | None
    upscaler: Any
    run: PromptRun

    @property
    def request(self) -> GenerationRequest:
        """Round 1's request: what a batch draws together with other posts' requests."""
        return generation_request(self.run.prompt, self.plan.settings)

    def staged(self) -> StagedRun:
        """The post's staging folder (see `blogart.outputs.files`), for its candidates and published files."""
        from blogart.outputs.files import StagedRun

        return StagedRun(Path(self.plan.settings.generate.out_dir), self.run.document)


@dataclass(frozen=True)
class FirstRound:
    """Round 1's drawings, however they were drawn (alone, or in batches shared with other posts)."""

    drawings: tuple[Drawing, ...]
    seconds: float


def run_generate(source: str, plan: RunPlan, *, report: Report = quiet, on_image: OnImage | None = None) -> GenerateRun:
    """The whole job: prompt, candidates (one or two rounds), ranking and moderation, publishing, manifest.

    `on_image(done, n)`: images drawn so far, for a progress bar (when the generator reports them).

    Images are drawn into a staging folder and the run is published as a whole at the end
    (see `blogart.outputs.files`): a run that fails leaves the previous one as it was. `plan.publish`
    says what to make of the best candidate: cover, crops, gallery and the post's front matter.
    The phases (`prepare_generate`, `draw_first_round`, `finish_generate`) are what a batch runs, with
    round 1 of many posts drawn together.
    """
    post = prepare_generate(source, plan, report=report)
    with post.staged() as staged:
        first = draw_first_round(post, report=report, on_image=on_image)
        return finish_generate(post, staged, first, report=report, on_image=on_image)


def prepare_generate(source: str, plan: RunPlan, *, report: Report = quiet) -> PreparedPost:
    """Everything before the drawing: backends, the post's front matter, the prompt and its screening."""
    from blogart.outputs.files import check_writable
    from blogart.pipeline.document import load_document
    from blogart.ranking.factory import run_clip

    settings, options = plan.settings, plan.publish
    # Generator and ranker found before any work, so missing weights fail in a second, not after the drawing.
    session = open_session(settings)
    generator: Generator = session.create("generators", plan.generator)
    ranker: Ranker | None = session.create("rankers", plan.ranker) if plan.ranker else None
    clip = run_clip(ranker, settings.generate.rounds > 1, settings)  # the run's one CLIP, loaded once
    # The post's own `blogart:` front matter sets its style, negative words and seed. Applied after the
    # generator and ranker are made: a batch shares them across posts, keyed by the settings they got.
    document = load_document(source, max_bytes=settings.input.max_bytes, timeout=settings.input.timeout)
    control = read_control(document.front_matter, document.source)
    if control.skip and not options.force:
        raise PostSkipped(f"{source}: its front matter says {KEY}.skip: true (--force draws it anyway)")
    plan = plan.with_settings(control.apply(settings, document.source))
    settings = plan.settings
    check_writable(Path(settings.generate.out_dir))
    upscaler = check_publish(source, settings, options)
    # The generator's tokenizer and text length set the prompt's budget.
    session = session.for_generator(generator)
    run = run_prompt(source, plan, report=report, session=session, document=document, control=control)
    _screen(ranker, run.prompt)
    return PreparedPost(plan, session, generator, ranker, clip, upscaler, run)


def draw_first_round(post: PreparedPost, *, report: Report = quiet, on_image: OnImage | None = None) -> FirstRound:
    """Round 1 of this post alone."""
    report(f"drawing {post.plan.settings.generate.n} candidates with {post.generator.name}")
    clock = time.perf_counter()
    drawings = _draw(post.generator, post.request, 1, on_image)
    return FirstRound(tuple(drawings), time.perf_counter() - clock)


def finish_generate(
    post: PreparedPost,
    staged: StagedRun,
    first: FirstRound,
    *,
    report: Report = quiet,
    on_image: OnImage | None = None,
) -> GenerateRun:
    """Everything after round 1: ranking and moderation, round 2 when asked, publishing, the manifest."""
    plan, session, generator, ranker, clip = post.plan, post.session, post.generator, post.ranker, post.clip
    settings, options = plan.settings, plan.publish
    drawing = _draw_and_rank(staged, post.run, first, generator, ranker, clip, settings, report, on_image)
    run, candidates, ranked, seconds = drawing
    # The manifest names the files where they will be once published, not in the staging folder.
    drawn = Drawn(
        tuple(staged.final(c) for c in candidates),
        tuple(replace(r, candidate=staged.final(r.candidate)) for r in ranked),
        {c.path.name: c.path for c in candidates},
    )
    section, edit = None, None
    if options.enabled:
        report("publishing the cover, its crops and the gallery")
        clock = time.perf_counter()
        publisher = Publisher(options, settings, generator.name, ranker, post.upscaler, session.context)
        section, edit = publish_best(staged, run, drawn, publisher)
        seconds["publish"] = time.perf_counter() - clock
    run = replace(run, seconds=seconds)
    # The built-in ranker's weights are hashed.
    hashed = clip.source if clip is not None and plan.ranker == RANKER and ranker is not None else None
    manifest = _manifest(run, drawn, settings, generator, ranker, hashed, session, section)
    manifest_path = staged.publish(manifest)
    if edit is not None:
        from blogart.outputs.frontmatter import apply

        apply(*edit, placed_png(staged.folder, section))
    return GenerateRun(run, drawn.candidates, drawn.ranked, staged.folder, manifest_path, manifest)


def _screen(ranker: Ranker | None, prompt: ImagePrompt | None) -> None:
    # The blocklist was checked when the prompt was written; OpenAI's verdict, too, comes before drawing.
    if ranker is not None and prompt is not None:
        ranker.check_prompt(prompt.text)


def _draw_and_rank(
    staged: StagedRun,
    run: PromptRun,
    first: FirstRound,
    generator: Generator,
    ranker: Ranker | None,
    clip: ClipModel | None,
    settings: Settings,
    report: Report,
    on_image: OnImage | None,
) -> tuple[PromptRun, list[Candidate], list[Ranked], dict[str, float]]:
    """Round 1 ranked, and round 2 with the PEZ prompt when asked; (the run, candidates, ranked, seconds)."""
    candidates = staged.write(first.drawings)
    seconds = {**run.seconds, "generate_round1": first.seconds}

    ranked: list[Ranked] = []
    if ranker is not None:
        report("ranking with CLIP")
        clock = time.perf_counter()
        ranked = ranker.rank(candidates, run.prompt, run.key_topics)
        seconds["rank_round1"] = time.perf_counter() - clock

    if settings.generate.rounds > 1:
        best = tuple(r.candidate.path for r in ranked if not r.flagged)[: settings.rank.top_k]
        run = optimize_prompt(run, settings, images=best, report=report, clip=clip)
        _screen(ranker, run.optimized)
        report(f"drawing {settings.generate.n} round-2 candidates")
        clock = time.perf_counter()
        request = generation_request(run.optimized, settings, seed_offset=settings.generate.n)
        candidates += staged.write(_draw(generator, request, 2, on_image))
        seconds["generate_round2"] = time.perf_counter() - clock
        if ranker is not None:
            # Both rounds are scored against the builder's prompt and topics so scores compare.
            report("ranking both rounds with CLIP")
            ranked = ranker.rank(candidates, run.prompt, run.key_topics)
    return run, candidates, ranked, seconds


def _draw(generator: Generator, request: GenerationRequest, round: int, on_image: OnImage | None) -> list[Drawing]:
    """One round's drawings; `on_image(done, n)` as they come, from a generator that takes `progress`."""
    if on_image is None or "progress" not in inspect.signature(generator.generate).parameters:
        return generator.generate(request, round=round)  # a plugin's generator need not report progress
    on_image(0, request.n)
    return generator.generate(request, round=round, progress=lambda done: on_image(done, request.n))


def _manifest(
    run: PromptRun,
    drawn: Drawn,
    settings: Settings,
    generator: Generator,
    ranker: Ranker | None,
    clip: ClipSource | None,
    session: Session,
    section: dict[str, Any] | None,
) -> dict[str, Any]:
    from blogart.outputs.manifest import build_manifest

    models = {
        "generator": generator.name,
        "weights": generator.describe(),
        "ranker": ranker.model_id if ranker is not None else None,
    }
    manifest = build_manifest(run.to_json(), list(drawn.candidates), list(drawn.ranked), settings, models, __version__)
    manifest.update(_provenance(generator, clip, run.seconds, session.store))
    manifest["publish"] = section
    return manifest


def _provenance(
    generator: Generator, clip: ClipSource | None, seconds: dict[str, float], store: Store
) -> dict[str, Any]:
    from blogart.outputs.provenance import describe_provenance

    locations = {k: v for k, v in generator.describe().items() if k in ("checkpoint", "vqgan") and v}
    if clip is not None:
        locations["clip"] = clip.weights
    return describe_provenance(locations, seconds, store)
