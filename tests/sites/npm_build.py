"""Astro and Docusaurus sites built for real with npm, blogart's covers in them. Run by hand, not by CI:

    python tests/sites/npm_build.py [SITE ...]        # astro-image astro-public docusaurus (default: all)

Needs node, npm and the npm registry (`npm install` alone takes minutes, too long for the CI suite).
For each site: copy it to a temporary folder, `npm install`, `blogart generate POST --front-matter PRESET`
for every post (the tiny random bundled model of tests/tiny_bundled.py, offline), the same again (it must
change no file of the site), `npm run build`, then every `og:image`, `twitter:image` and `<img src>` of
every built page must name a file of the build output (tests/test_sites.py's rules). Prints one JSON
object per site and exits 1 when a site fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/: tiny_bundled and test_sites' checks

import test_sites as checks  # noqa: E402


@dataclass(frozen=True)
class NpmSite:
    name: str
    preset: str
    base: str  # the URL the built site is served at
    posts: tuple[str, ...]
    dist: str  # the build output, relative to the site
    keys: tuple[str, ...]


ASTRO_KEYS = ("heroImage", "heroImageAlt")  # the astro preset's keys (the alt key is the default)
SITES = {
    "astro-image": NpmSite(
        "astro-image", "astro", "https://example.org/", ("src/content/blog/sourdough.md",), "dist", ASTRO_KEYS
    ),
    "astro-public": NpmSite(
        "astro-public", "astro", "https://example.org/", ("src/content/blog/sourdough.md",), "dist", ASTRO_KEYS
    ),
    "docusaurus": NpmSite(
        "docusaurus",
        "docusaurus",
        "https://example.org/blog/",
        ("blog/2026-12-01-sourdough.md", "blog/2026-11-20-honeybees/index.md"),
        "build",
        ("image",),
    ),
}


def _generate(site: NpmSite, root: Path, out: Path) -> None:
    from typer.testing import CliRunner

    from blogart.cli import app

    for post in site.posts:
        args = [
            "generate",
            str(root / post),
            "-n",
            "2",
            "--seed",
            "3",
            "--front-matter",
            site.preset,
            "--out",
            str(out),
        ]
        result = CliRunner().invoke(app, args)
        if result.exit_code != 0:
            raise RuntimeError(f"blogart {' '.join(args)} exited {result.exit_code}: {result.output.strip()}")


def _run(command: list[str], cwd: Path, timeout: int) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout + done.stderr


def check_site(site: NpmSite, work: Path) -> dict:
    clock: dict[str, float] = {}
    root = work / site.name
    shutil.copytree(HERE / site.name, root)
    start = time.monotonic()
    _run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], root, 1200)
    clock["npm_install_s"] = time.monotonic() - start
    before = {post: (root / post).read_text(encoding="utf-8") for post in site.posts}
    pristine = checks._snapshot(root)

    start = time.monotonic()
    _generate(site, root, work / "out")
    first = checks._snapshot(root)
    _generate(site, root, work / "out")
    clock["blogart_s"] = time.monotonic() - start
    problems = []
    second = checks._snapshot(root)
    changed = sorted(p for p in set(first) | set(second) if first.get(p) != second.get(p))
    if changed:
        problems.append(f"the rerun changed {changed}")
    placed = sorted(p for p in set(first) - set(pristine) if not p.startswith("node_modules/"))

    for post, text in before.items():
        fence, old_block, old_body = checks.split_post(text)
        new_fence, new_block, new_body = checks.split_post((root / post).read_text(encoding="utf-8"))
        old, new = checks.parse_block(fence, old_block), checks.parse_block(fence, new_block)
        if (new_fence, new_body) != (fence, old_body) or checks.drop_keys(new, site.keys) != checks.drop_keys(
            old, site.keys
        ):
            problems.append(f"{post}: more than {site.keys} changed")
        if changed := checks.changed_lines(old_block, new_block):
            problems.append(f"{post}: lines changed or gone: {changed}")
        if not checks.get_key(new, site.keys[0]):
            problems.append(f"{post}: no {site.keys[0]} written")

    start = time.monotonic()
    log = _run(["npm", "run", "build"], root, 900)
    clock["build_s"] = time.monotonic() - start
    dest = root / site.dist
    pages = checks.html_pages(dest)
    refs = [r for page in pages for r in checks.image_refs(dest, page)]
    broken = [f"{r.page} {r.kind} {r.url}" for r in refs if checks.resolve(dest, r, site.base) is None]
    if broken:
        problems.append(f"404s: {broken}")
    covered = {r.page for r in refs if r.kind == "og:image"}
    if len(covered) < len(site.posts):
        problems.append(f"only {sorted(covered)} have an og:image")
    warnings = [line for line in log.splitlines() if "warn" in line.lower() or "error" in line.lower()]
    return {
        "site": site.name,
        "ok": not problems,
        "problems": problems,
        "placed": placed,
        "images": sorted({f"{r.kind} {r.url}" for r in refs}),
        "pages": len(pages),
        "build_warnings": warnings[:10],
        **{k: round(v, 1) for k, v in clock.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sites", nargs="*", metavar="SITE", help=f"of {', '.join(SITES)} (default: all)")
    parser.add_argument("--keep", type=Path, help="work in this folder and leave it (default: a temporary one)")
    args = parser.parse_args()
    unknown = [name for name in args.sites if name not in SITES]
    if unknown:
        print(f"error: unknown site {unknown[0]!r}; use {', '.join(SITES)}", file=sys.stderr)
        return 2
    args.sites = args.sites or list(SITES)
    if shutil.which("npm") is None:
        print("error: npm is not installed", file=sys.stderr)
        return 2

    from tiny_bundled import install_own_metadata, make_tiny_bundled

    with tempfile.TemporaryDirectory(prefix="blogart-npm-sites-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        # As tests/conftest.py isolates a test: our own user dir, offline, the tiny bundled model.
        os.environ.update(
            BLOGART_HOME=str(work / "blogart-home"),
            HF_HUB_OFFLINE="1",
            HF_HOME=str(work / "hf-home"),
            BLOGART_ASSETS=str(make_tiny_bundled(work / "icons")),
            BLOGART_PUBLISH__UPSCALE_SIZE="256",
            BLOGART_PUBLISH__SIZES='{"og": "240x126"}',
        )
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID"):
            os.environ.pop(name, None)
        (work / "blogart-home").mkdir(exist_ok=True)
        sys.path.insert(0, str(install_own_metadata(work / "metadata")))
        failed = False
        for name in args.sites:
            try:
                result = check_site(SITES[name], work)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                result = {"site": name, "ok": False, "problems": [str(exc)]}
            failed |= not result["ok"]
            print(json.dumps(result, indent=2), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
