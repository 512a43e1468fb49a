"""The gallery page in a real browser: headless Chromium (Debian's `chromium`, installed by .ci/run)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from blogart.cli import app

POSTS = Path(__file__).parent / "data" / "posts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)"),
    pytest.mark.slow,  # a real browser
]
WIDTH, HEIGHT = 1280, 2000


def _chromium(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # CI containers run as root
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--allow-file-access-from-files",
        "--virtual-time-budget=5000",  # let every image load before the DOM is dumped
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def gallery(fake_openai, monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    args = ["generate", str(POSTS / "urban-beekeeping.md"), "-m", "openai-images", "-n", "3", "--backend", "local"]
    result = CliRunner().invoke(app, [*args, "--no-rank", "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.output)["publish"]["gallery"])


def test_gallery_renders_every_image_in_chromium(gallery, tmp_path):
    html = gallery.read_text()
    assert "http://" not in html and "https://" not in html  # no external assets
    url = gallery.resolve().as_uri()

    dom = _chromium("--dump-dom", url, tmp_path=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    total = re.search(r'data-images="(\d+)"', dom.stdout)
    loaded = re.search(r'data-images-loaded="(\d+)"', dom.stdout)
    assert total and loaded, dom.stdout[-2000:]
    # 3 candidates, the cover and 4 crops, each loaded (naturalWidth > 0) from the file system.
    assert int(total.group(1)) == 3 + 1 + 4
    assert loaded.group(1) == total.group(1)
    assert 'class="cover"' in dom.stdout and "missing" not in dom.stdout.split("<body", 1)[1].split("<script")[0]

    shot = tmp_path / "gallery.png"
    result = _chromium(f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", url, tmp_path=tmp_path)
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    colors = image.resize((64, 100)).getcolors(64 * 100)
    assert colors is not None and len(colors) > 20  # text, images and borders: not a blank page
