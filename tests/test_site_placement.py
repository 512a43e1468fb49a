"""Site detection and where each kind of site gets its cover, on real folders (issue 24, defects 1-3)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from blogart.errors import UsageError
from blogart.outputs.frontmatter import apply, plan
from blogart.outputs.site import find_site

COVER = b"\x89PNG cover bytes"
SHORT = hashlib.sha256(COVER).hexdigest()[:8]
POST = "---\ntitle: Sourdough\n---\nFlour and water.\n"


def _write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("marker", "text", "kind"),
    [
        ("hugo.toml", 'title = "t"\n', "hugo"),
        ("hugo.yaml", "title: t\n", "hugo"),
        ("config.toml", 'baseURL = "https://example.org/"\n', "hugo"),
        ("config.yaml", "title: t\ntheme: PaperMod\n", "hugo"),
        ("config/_default/hugo.toml", 'title = "t"\n', "hugo"),
        ("_config.yml", "title: t\n", "jekyll"),
        ("astro.config.mjs", "export default {}\n", "astro"),
        ("docusaurus.config.ts", "export default {}\n", "docusaurus"),
        ("eleventy.config.js", "module.exports = {}\n", "eleventy"),
        (".eleventy.js", "module.exports = {}\n", "eleventy"),
    ],
)
def test_find_site_by_marker(tmp_path, marker, text, kind):
    _write(tmp_path / marker, text)
    post = _write(tmp_path / "content" / "posts" / "p.md", POST)
    site = find_site(post)
    assert site is not None and site.kind == kind and site.root == tmp_path


def test_find_site_needs_hugo_keys_in_a_generic_config_and_stops_at_the_repository(tmp_path):
    _write(tmp_path / "_config.yml", "title: outer\n")  # above the repository: never taken
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    _write(repo / "config.yaml", "lint: true\n")  # some other tool's config
    post = _write(repo / "posts" / "p.md", POST)
    assert find_site(post) is None
    nested = _write(repo / "site" / "hugo.toml", "") and repo / "site"
    assert find_site(_write(nested / "content" / "p.md", POST)).root == nested


def test_hugo_static_dir_from_the_config(tmp_path):
    _write(tmp_path / "hugo.toml", 'staticDir = ["assets-static"]\n')
    site = find_site(_write(tmp_path / "content" / "p.md", POST))
    assert site.static_dir == tmp_path / "assets-static"


def _placed(post: Path, preset: str, **kw):
    edit, new = plan(post, preset, slug="sourdough", alt="A loaf.", cover_png=COVER, **kw)
    apply(edit, new, COVER)
    return edit


def test_hugo_plain_post_goes_to_static_without_a_leading_slash(tmp_path):
    """Defect 1: the cover was copied beside the post and named bare: a 404, and a stray section image."""
    _write(tmp_path / "hugo.toml", 'baseURL = "https://example.org/blog/"\n')
    post = _write(tmp_path / "content" / "posts" / "sourdough.md", POST)
    for preset, line in (("papermod", "  image: "), ("hugo", "- ")):
        edit = _placed(post, preset)
        value = f"covers/sourdough-{SHORT}.png"
        assert edit.image == value and f"{line}{value}\n" in post.read_text()
        assert (tmp_path / "static" / value).read_bytes() == COVER
    assert not list(post.parent.glob("*.png"))


def test_hugo_bundle_with_the_hugo_preset_writes_no_images_entry(tmp_path):
    """Defect 3: Hugo < 0.120 turns `images = ["cover.png"]` into a site-root URL; left alone it finds the file."""
    _write(tmp_path / "hugo.toml", 'baseURL = "https://example.org/"\n')
    post = _write(tmp_path / "content" / "posts" / "sourdough" / "index.md", POST)
    edit = _placed(post, "hugo")
    assert edit.status == "unchanged" and edit.keys == () and post.read_text() == POST
    assert (post.parent / f"cover-{SHORT}.png").read_bytes() == COVER
    assert "hugo page bundle" in edit.summary and f"front matter of {post} unchanged" in edit.summary
    # A bundle whose front matter names its own images keeps them, unless forced.
    post.write_text("---\ntitle: t\nimages: [mine.png]\n---\nbody\n")
    assert plan(post, "hugo", slug="s", alt="", cover_png=COVER)[0].status == "kept-existing"
    assert _placed(post, "hugo", force=True).replaced == ("images",)


def test_jekyll_cover_goes_to_assets_never_to_posts(tmp_path):
    """Defect 2: a PNG in _posts/ is read by Jekyll as a post."""
    _write(tmp_path / "_config.yml", "title: t\nbaseurl: /blog\n")
    post = _write(tmp_path / "_posts" / "2026-12-01-sourdough.md", POST)
    edit = _placed(post, "jekyll")
    assert edit.image == f"/assets/covers/sourdough-{SHORT}.png"
    assert f"image:\n  path: /assets/covers/sourdough-{SHORT}.png\n  alt: A loaf.\n" in post.read_text()
    assert (tmp_path / "assets" / "covers" / f"sourdough-{SHORT}.png").is_file()
    assert not list(post.parent.glob("*.png"))


def test_astro_docusaurus_and_eleventy(tmp_path):
    astro = tmp_path / "astro"
    _write(astro / "astro.config.mjs")
    post = _write(astro / "src" / "content" / "blog" / "sourdough.md", POST)
    assert _placed(post, "astro").image == f"/covers/sourdough-{SHORT}.png"
    assert (astro / "public" / "covers" / f"sourdough-{SHORT}.png").is_file()
    _write(astro / "src" / "content.config.ts", "schema: ({ image }) => z.object({ heroImage: image() })\n")
    edit = _placed(post, "astro", force=True)
    assert edit.image == f"../../assets/covers/sourdough-{SHORT}.png"
    assert (post.parent / edit.image).resolve().read_bytes() == COVER

    docs = tmp_path / "docs"
    _write(docs / "docusaurus.config.js")
    post = _write(docs / "blog" / "2026-01-01-sourdough.md", POST)
    assert _placed(post, "docusaurus").image == f"/img/covers/sourdough-{SHORT}.png"
    assert (docs / "static" / "img" / "covers" / f"sourdough-{SHORT}.png").is_file()

    eleventy = tmp_path / "eleventy"
    _write(eleventy / "eleventy.config.js")
    post = _write(eleventy / "posts" / "sourdough.md", POST)
    assert _placed(post, "docusaurus").image == f"/posts/sourdough-{SHORT}.png"


def test_static_dir_overrides_and_no_site_is_refused(tmp_path):
    post = _write(tmp_path / "lone" / "sourdough.md", POST)
    with pytest.raises(UsageError, match=r"static_dir and static_url"):
        plan(post, "hugo", slug="sourdough", alt="", cover_png=COVER)
    edit = _placed(post, "hugo", static_dir=str(tmp_path / "www" / "img"), static_url="https://cdn.example/img/")
    assert edit.image == f"https://cdn.example/img/sourdough-{SHORT}.png" and edit.placement == "publish.static_dir"
    assert (tmp_path / "www" / "img" / f"sourdough-{SHORT}.png").is_file()


def test_a_rerun_changes_nothing_and_a_new_cover_removes_only_blogart_s_own_file(tmp_path):
    _write(tmp_path / "_config.yml", "title: t\n")
    post = _write(tmp_path / "_posts" / "2026-12-01-sourdough.md", POST)
    first = _placed(post, "jekyll")
    stamp = (post.read_bytes(), post.stat().st_mtime_ns, first.image_file.stat().st_mtime_ns)
    again, new = plan(post, "jekyll", slug="sourdough", alt="A loaf.", cover_png=COVER, previous=_record(first))
    assert again.status == "unchanged" and new is None and not again.image_copied and again.removed is None
    apply(again, new, COVER)
    assert (post.read_bytes(), post.stat().st_mtime_ns, first.image_file.stat().st_mtime_ns) == stamp

    other = b"another cover"
    second, new = plan(post, "jekyll", slug="sourdough", alt="A loaf.", cover_png=other, previous=_record(first))
    assert second.status == "written" and second.replaced == ("image.path",) and second.removed == first.image_file
    apply(second, new, other)
    assert not first.image_file.exists() and second.image_file.read_bytes() == other
    # A file someone changed after blogart placed it is theirs now: it stays.
    second.image_file.write_bytes(b"edited by hand")
    third, new = plan(post, "jekyll", slug="sourdough", alt="A loaf.", cover_png=COVER, previous=_record(second))
    assert third.removed is None


def _record(edit) -> dict:
    from blogart.values import to_dict

    return to_dict(edit)


def test_a_cover_of_blogart_s_shape_is_replaced_without_force_a_user_s_is_kept(tmp_path):
    _write(tmp_path / "hugo.toml", 'baseURL = "https://example.org/"\n')
    post = _write(tmp_path / "content" / "posts" / "sourdough.md", POST)
    _placed(post, "papermod")
    # No manifest to go by (a run folder deleted): the name's shape says the cover is blogart's.
    edit, _ = plan(post, "papermod", slug="sourdough", alt="A loaf.", cover_png=b"new cover")
    assert edit.status == "written" and edit.replaced == ("cover.image",) and edit.removed is None
    post.write_text("---\ncover:\n  image: covers/sourdough-by-me.png\n---\nbody\n")
    assert plan(post, "papermod", slug="sourdough", alt="", cover_png=COVER)[0].status == "kept-existing"


def test_a_manifest_cannot_make_blogart_remove_a_file_outside_the_covers_folder(tmp_path):
    _write(tmp_path / "_config.yml", "title: t\n")
    post = _write(tmp_path / "_posts" / "2026-12-01-sourdough.md", POST)
    precious = _write(tmp_path / "notes.png", "mine")
    record = {"status": "written", "image": "/notes.png", "image_file": str(precious)}
    record["image_sha256"] = hashlib.sha256(b"mine").hexdigest()
    edit, _ = plan(post, "jekyll", slug="sourdough", alt="", cover_png=COVER, previous=record)
    assert edit.removed is None
