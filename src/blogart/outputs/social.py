"""Every file `blogart social` writes, in one run folder per post (staged and published as a whole).

    <out>/<slug>/
      manifest.json            everything the run did: original and normalised text, topics, prompts,
                               every candidate with its scores and flags, the moderation report
      summary.json             what a publisher script needs: per platform, the caption and each image
                               file with its size and alt text, in carousel order
      t1-00-s0.png ...         every candidate drawn: topic 1, image 0, seed 0
      instagram/01-square.png, instagram/01-portrait.png, caption.txt
      linkedin/01-landscape.png, caption.txt
      x/01-landscape.png, caption.txt

Paths in summary.json are relative to the run folder, so the folder can be moved or uploaded whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from blogart.atomic import atomic_write_bytes, atomic_write_json
from blogart.outputs.files import StagedRun
from blogart.outputs.platforms import write_platform_images
from blogart.social.carousel import Slide
from blogart.social.platforms import Platform, alt_for, caption_for
from blogart.values import Candidate, Drawing

SUMMARY_NAME = "summary.json"
CAPTION_NAME = "caption.txt"


class SocialRun(StagedRun):
    """A StagedRun whose candidates are named by topic, with platform folders beside them."""

    def write(self, drawings: Iterable[Drawing], topic: int = 1) -> list[Candidate]:  # type: ignore[override]
        """Write one topic's drawings as `t<topic>-<image name>` into the staging folder."""
        return super().write(drawings, prefix=f"t{topic}-")

    def write_platforms(self, slides: Sequence[Slide], platforms: Sequence[Platform], text: str) -> dict[str, Any]:
        """Each slide at each platform's sizes, and each platform's caption; returns the summary's platforms."""
        from PIL import Image

        summary: dict[str, Any] = {}
        for platform in platforms:
            folder = self.staging / platform.name
            folder.mkdir(exist_ok=True)
            self.add_files([platform.name])
            caption, shortened = caption_for(platform, text)
            atomic_write_bytes(folder / CAPTION_NAME, caption.encode("utf-8"))
            images = []
            for number, slide in enumerate(slides, 1):
                with Image.open(slide.ranked.candidate.path) as picture:
                    sizes = [(s.name, s.width, s.height) for s in platform.sizes]
                    paths = write_platform_images(picture, sizes, folder, f"{number:02d}")
                for size, path in zip(platform.sizes, paths, strict=True):
                    images.append(
                        {
                            "slide": number,
                            "file": str(path.relative_to(self.staging)),
                            "size": size.name,
                            "width": size.width,
                            "height": size.height,
                            "alt": alt_for(platform, slide.alt),
                        }
                    )
            summary[platform.name] = {
                "caption": caption,
                "caption_shortened": shortened,
                "caption_file": f"{platform.name}/{CAPTION_NAME}",
                "images": images,
            }
        return summary

    def publish_social(self, manifest: dict[str, Any], summary: dict[str, Any]) -> Path:
        """Write summary.json, then publish the run with its manifest; returns the manifest's path."""
        atomic_write_json(self.staging / SUMMARY_NAME, summary)
        self.add_files([SUMMARY_NAME])
        return self.publish(manifest)
