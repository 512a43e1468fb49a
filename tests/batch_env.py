"""Tiny real models and small posts for the batch tests (backfill, ci, ray), usable by subprocesses.

The models are the released formats with tiny random weights: a DalleBart checkpoint shaped to the small
reference VQGAN (tests/tiny_dalle.py) and the tiny open_clip model as a `local-dir:` folder, so a fresh
process (a killed backfill, a Ray actor) finds everything through settings alone.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tiny_clip import CONFIG

TOPICS = ["tide pools", "sourdough bread", "kelp forests", "city bees", "night trains", "old maps", "rust crabs"]


def clip_folder(checkpoint: Path, root: Path) -> Path:
    """The tiny CLIP checkpoint as an open_clip `local-dir:` folder."""
    folder = root / "tiny-clip"
    if not folder.is_dir():
        folder.mkdir(parents=True)
        config = {"model_cfg": json.loads(CONFIG.read_text()), "preprocess_cfg": {}}
        (folder / "open_clip_config.json").write_text(json.dumps(config))
        shutil.copy(checkpoint, folder / "open_clip_model.safetensors")
    return folder


def model_env(tiny_dalle: tuple[Path, Path], clip_dir: Path) -> dict[str, str]:
    """Settings (as BLOGART_ variables) that draw with tiny DalleBart and rank with tiny CLIP, 2 images a post."""
    checkpoint, vqgan = tiny_dalle
    return {
        "BLOGART_MODELS__DALLE_MINI": str(checkpoint),
        "BLOGART_MODELS__VQGAN": str(vqgan),
        "BLOGART_RANK__MODEL": f"local-dir:{clip_dir}",
        "BLOGART_RANK__PRETRAINED": "",
        "BLOGART_RANK__THREADS": "1",
        # The tiny random CLIP finds every image close to every text: no concepts, or all would be flagged.
        "BLOGART_MODERATION__CONCEPTS": "{}",
        "BLOGART_GENERATE__N": "2",
        "BLOGART_GENERATE__BATCH_SIZE": "2",
        # One post's candidates per sampler batch, as post by post: a killed run holds at most two posts.
        "BLOGART_BATCH__DRAW_BATCH_CPU": "2",
        "BLOGART_GENERATE__COMPILE_CACHE": "false",
    }


def write_posts(folder: Path, count: int, start: int = 0) -> list[Path]:
    """`count` small Markdown posts, each with its own title and text (so its own content hash)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        topic = TOPICS[i % len(TOPICS)]
        path = folder / f"post-{i:02d}.md"
        path.write_text(
            f"---\ntitle: Notes on {topic}, part {i}\n---\n\n# Notes on {topic}\n\n"
            f"Part {i} of a series about {topic}. We looked at {topic} for {i + 2} days. "
            f"The {topic} changed every morning, and we wrote down what we saw.\n"
        )
        paths.append(path)
    return paths


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def init_repo(repo: Path) -> Path:
    """An empty git repository on branch main with a committer set, at `repo` (made if missing)."""
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    return repo


_BUNDLED: list[tuple[Path, Path]] = []


def tiny_bundled_model(tmp_path_factory) -> tuple[Path, Path]:
    """(tiny bundled-model folder, dist-info folder with this checkout's entry points), built once per session
    whichever test module asks first (tests/tiny_bundled.py)."""
    if not _BUNDLED:
        from tiny_bundled import install_own_metadata, make_tiny_bundled

        root = tmp_path_factory.mktemp("batch-bundled")
        _BUNDLED.append((make_tiny_bundled(root / "icons"), install_own_metadata(root / "metadata")))
    return _BUNDLED[0]
