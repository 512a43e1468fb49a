"""index.html in the run folder: every candidate with its scores, flags, seed and round, the prompt, the key
topics, the chosen cover marked and each crop. Self-contained: images by relative path, inline CSS, no
server and no external assets, so it opens straight from the file system.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from html import escape
from importlib import resources
from pathlib import Path
from string import Template

from blogart.values import Candidate, ImagePrompt, KeyTopics, Ranked

GALLERY_NAME = "index.html"


@dataclass(frozen=True)
class Numbered:
    """A candidate as people see it: number N (rank order when ranked, else drawing order) for `pick`."""

    number: int
    candidate: Candidate
    ranked: Ranked | None


def numbered(candidates: list[Candidate], ranked: list[Ranked]) -> list[Numbered]:
    if ranked:
        return [Numbered(i, r.candidate, r) for i, r in enumerate(ranked, 1)]
    return [Numbered(i, c, None) for i, c in enumerate(candidates, 1)]


def _score(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "n/a"


def _figure(item: Numbered, cover: str) -> str:
    c, r = item.candidate, item.ranked
    name = c.path.name
    classes = ["cover"] if name == cover else []
    lines = [f"#{item.number} · round {c.round} · seed {c.seed if c.seed >= 0 else 'n/a'}"]
    if name == cover:
        lines.append('<span class="badge cover">cover</span>')
    if r is not None:
        lines.append(f"score {_score(r.score)} (prompt {_score(r.prompt_score)})")
        for flag in r.flags:
            classes.append("flagged")
            lines.append(f'<span class="badge flag">{escape(flag.concept)} {flag.score:.2f}</span>')
    return (
        f'<figure class="{" ".join(dict.fromkeys(classes))}" id="candidate-{item.number}">'
        f'<img src="{escape(name)}" alt="candidate {item.number}" width="256" height="256">'
        f"<figcaption>{'<br>'.join(lines)}<br><code>{escape(name)}</code></figcaption></figure>"
    )


def render_gallery(
    *,
    title: str,
    folder_name: str,
    generator: str,
    prompt: ImagePrompt,
    key_topics: KeyTopics,
    items: list[Numbered],
    cover: str | None,
    crops: dict[str, tuple[str, int, int]],
    alt: str,
    run_folder: Path | None = None,
    cards: list[tuple[str, int, int]] | None = None,
) -> str:
    """The page as text. `cover` and `crops` ({size: (file, w, h)}) are file names in the run folder.

    `cards`: the title cards (file, w, h), shown first. `run_folder` (where the run is published) goes into
    the `blogart pick` hint as an absolute path, so the command works pasted from any folder (the one
    `generate` ran in, the output folder, ...).
    """
    crop_figures = []
    for file, width, height in cards or []:
        crop_figures.append(
            f'<figure class="card"><img src="{escape(file)}" alt="title card">'
            f"<figcaption>title card · {escape(file)} · {width}x{height}</figcaption></figure>"
        )
    if cover:
        crop_figures.append(
            f'<figure><img src="cover.png" alt="{escape(alt)}"><figcaption>cover.png</figcaption></figure>'
        )
    for size, (file, width, height) in crops.items():
        crop_figures.append(
            f'<figure><img src="{escape(file)}" alt="{escape(size)} crop">'
            f"<figcaption>{escape(size)} · {width}x{height}</figcaption></figure>"
        )
    template = Template(resources.files("blogart.outputs").joinpath("templates/gallery.html").read_text("utf-8"))
    return template.substitute(
        title=escape(title or folder_name),
        folder=escape(folder_name),
        pick_target=escape(shlex.quote(str(run_folder.absolute())) if run_folder is not None else folder_name),
        generator=escape(generator),
        prompt=escape(prompt.text),
        negative=escape(prompt.negative_prompt) or "none",
        topics=escape(", ".join(t.phrase for t in key_topics.topics)) or "none",
        alt=escape(alt) or "none",
        crops="\n".join(crop_figures) or "<p>No cover: every candidate was flagged.</p>",
        candidates="\n".join(_figure(item, cover or "") for item in items),
    )
