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
from blogart.pipeline.plan import Report, RunPlan, Session, generation_request, open_session, quiet
from blogart.pipeline.post_control import KEY, PostSkipped, read_control
from blogart.pipeline.prompt import PromptRun, optimize_prompt, run_prompt
from blogart.pipeline.publish import Drawn, Publisher, check_publish, publish_best
from blogart.protocols import Generator, Ranker
from blogart.store import Store
from blogart.values import Candidate, Drawing, GenerationRequest, ImagePrompt, Ranked

if TYPE_CHECKING:
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


def run_generate(source: str, plan: RunPlan, *, report: Report = quiet, on_image: OnImage | None = None) -> GenerateRun:
    """The whole job: prompt, candidates (one or two rounds), ranking and moderation, publishing, manifest.

    `on_image(done, n)`: images drawn so far, for a progress bar (when the generator reports them).

    Images are drawn into a staging folder and the run is published as a whole at the end
    (see `blogart.outputs.files`): a run that fails leaves the previous one as it was. `plan.publish`
    says what to make of the best candidate: cover, crops, gallery and the post's front matter.
    """
    from blogart.outputs.files import StagedRun, check_writable
    from blogart.pipeline.document import load_document

    settings, options = plan.settings, plan.publish
    # Generator and ranker found before any work, so missing weights fail in a second, not after the drawing.
    session = open_session(settings)
    generator: Generator = session.create("generators", plan.generator)
    ranker: Ranker | None = session.create("rankers", plan.ranker) if plan.ranker else None
    if ranker is None and settings.generate.rounds > 1:
        from blogart.ranking.factory import clip_from_settings

        clip_from_settings(settings)  # round 2's PEZ needs CLIP even without ranking
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
    with StagedRun(Path(settings.generate.out_dir), run.document) as staged:
        run, candidates, ranked, seconds = _draw_and_rank(staged, run, generator, ranker, settings, report, on_image)
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
            publisher = Publisher(options, settings, generator.name, ranker, upscaler, session.context)
            section, edit = publish_best(staged, run, drawn, publisher)
            seconds["publish"] = time.perf_counter() - clock
        run = replace(run, seconds=seconds)
        clip = ranker is not None and plan.ranker == RANKER  # the built-in ranker's weights are hashed
        manifest = _manifest(run, drawn, settings, generator, ranker, clip, session, section)
        manifest_path = staged.publish(manifest)
    if edit is not None:
        from blogart.outputs.frontmatter import apply

        apply(*edit, (staged.folder / "cover.png").read_bytes())
    return GenerateRun(run, drawn.candidates, drawn.ranked, staged.folder, manifest_path, manifest)


def _screen(ranker: Ranker | None, prompt: ImagePrompt | None) -> None:
    # The blocklist was checked when the prompt was written; OpenAI's verdict, too, comes before drawing.
    if ranker is not None and prompt is not None:
        ranker.check_prompt(prompt.text)


def _draw_and_rank(
    staged: StagedRun,
    run: PromptRun,
    generator: Generator,
    ranker: Ranker | None,
    settings: Settings,
    report: Report,
    on_image: OnImage | None,
) -> tuple[PromptRun, list[Candidate], list[Ranked], dict[str, float]]:
    """Round 1, and round 2 with the PEZ prompt when asked; (the run, candidates, ranked, seconds)."""
    report(f"drawing {settings.generate.n} candidates with {generator.name}")
    clock = time.perf_counter()
    candidates = staged.write(_draw(generator, generation_request(run.prompt, settings), 1, on_image))
    seconds = {**run.seconds, "generate_round1": time.perf_counter() - clock}

    ranked: list[Ranked] = []
    if ranker is not None:
        report("ranking with CLIP")
        clock = time.perf_counter()
        ranked = ranker.rank(candidates, run.prompt, run.key_topics)
        seconds["rank_round1"] = time.perf_counter() - clock

    if settings.generate.rounds > 1:
        best = tuple(r.candidate.path for r in ranked if not r.flagged)[: settings.rank.top_k]
        run = optimize_prompt(run, settings, images=best, report=report)
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
    clip: bool,
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
    manifest.update(_provenance(settings, generator, clip, run.seconds, session.store))
    manifest["publish"] = section
    return manifest


def _provenance(
    settings: Settings, generator: Generator, clip: bool, seconds: dict[str, float], store: Store
) -> dict[str, Any]:
    from blogart.outputs.provenance import describe_provenance

    locations = {k: v for k, v in generator.describe().items() if k in ("checkpoint", "vqgan") and v}
    if clip:
        from blogart.models.clip import resolve_clip

        r = settings.rank
        source = resolve_clip(
            r.model, r.pretrained, settings.models.path_for("clip"), settings.models.cache_dir or None
        )
        # A `local-dir:` folder (the bundled CLIP, say) names no file: its weights are in the folder.
        locations["clip"] = source.checkpoint or source.model_name.removeprefix("local-dir:")
    return describe_provenance(locations, seconds, store)
