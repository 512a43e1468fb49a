"""Front matter: the cover keys written for each preset, everything else kept byte for byte."""

from __future__ import annotations

import hashlib

import pytest

from blogart.errors import InputError, UsageError
from blogart.outputs.frontmatter import apply, check_post, edit_block, edit_text, key_paths, plan

YAML_POST = """---
# a comment before everything
title: 'It''s a "quoted" title'   # a trailing comment
date: 2024-01-02T10:00:00+01:00
tags:
    - "double"   # four-space sequence
    - 'single'
    - plain
weird:   {a: 1,   b: [x,  y]}
cover:
  hidden: false  # two spaces before this comment
folded: >
  folded text
  over two lines
yes_string: "yes"
# a comment after the last key
---
Body with **bold**, and a line that looks like front matter:
---
title: not front matter
"""

TOML_POST = """+++
# a TOML comment
title = 'Single "quoted"'   # trailing
tags = [ "a",'b' ]
date = 2024-01-02T10:00:00Z

[params]
x = 1   # keep my spacing
+++
The body +++ stays.
"""


def _without(text: str, added: list[str]) -> str:
    """The text with the lines a preset adds taken out again."""
    lines = text.splitlines(keepends=True)
    for line in added:
        lines.remove(line)
    return "".join(lines)


@pytest.mark.parametrize(
    ("preset", "added"),
    [
        ("hugo", ["images:\n", "- cover.png\n"]),
        ("jekyll", ["image:\n", "  path: cover.png\n", "  alt: A loaf.\n"]),
        ("astro", ["heroImage: cover.png\n", "heroImageAlt: A loaf.\n"]),
        ("docusaurus", ["image: cover.png\n"]),
    ],
)
def test_yaml_new_keys_leave_every_other_byte(preset, added):
    new, status = edit_text(YAML_POST, key_paths(preset), "cover.png", "A loaf.")
    assert status == "written"
    assert _without(new, added) == YAML_POST
    # Idempotent: a second run changes nothing.
    assert edit_text(new, key_paths(preset), "cover.png", "A loaf.") == (new, "unchanged")


def test_papermod_fills_the_existing_cover_table_in_place():
    new, status = edit_text(YAML_POST, key_paths("papermod"), "cover.png", "A loaf.", relative=True)
    assert status == "written"
    assert "cover:\n  hidden: false  # two spaces before this comment\n  image: cover.png\n" in new
    assert _without(new, ["  image: cover.png\n", "  alt: A loaf.\n", "  relative: true\n"]) == YAML_POST


def test_toml_round_trip_keeps_comments_and_quoting():
    new, status = edit_text(TOML_POST, key_paths("hugo"), "/img/c.png", "Alt.")
    assert status == "written"
    assert _without(new, ['images = ["/img/c.png"]\n']) == TOML_POST
    new, status = edit_text(TOML_POST, key_paths("papermod"), "cover.png", "Alt.")
    assert new.startswith(TOML_POST.split("+++\nThe body")[0])  # the old block, untouched, then [cover]
    assert '[cover]\nimage = "cover.png"\nalt = "Alt."\n+++\nThe body +++ stays.\n' in new
    assert edit_text(new, key_paths("papermod"), "cover.png", "Alt.")[1] == "unchanged"


def test_an_existing_cover_is_kept_unless_forced():
    post = "---\ntitle: x\nimage: /img/mine.png  # my own\n---\nbody\n"
    assert edit_text(post, key_paths("jekyll"), "c.png", "Alt.") == (post, "kept-existing")
    forced, status = edit_text(post, key_paths("jekyll"), "c.png", "Alt.", force=True)
    assert status == "written"
    # The replaced entry keeps its comment; the rest of the block is untouched.
    assert forced == "---\ntitle: x\nimage:                # my own\n  path: c.png\n  alt: Alt.\n---\nbody\n"
    listed = "---\nimages:\n  - /a.png\n---\n"
    assert edit_text(listed, key_paths("hugo"), "c.png", "")[1] == "kept-existing"


def test_a_post_without_front_matter_gets_a_yaml_block_and_crlf_is_kept():
    new, _ = edit_text("Just a body.\n", key_paths("docusaurus"), "c.png", "")
    assert new == "---\nimage: c.png\n---\nJust a body.\n"
    crlf = "---\r\ntitle: x\r\n---\r\nbody\r\n"
    new, _ = edit_text(crlf, key_paths("docusaurus"), "c.png", "")
    assert new == "---\r\ntitle: x\r\nimage: c.png\r\n---\r\nbody\r\n"


def test_broken_front_matter_and_bad_presets_are_one_line_errors():
    with pytest.raises(InputError, match="broken YAML front matter"):
        edit_text("---\ntitle: [unclosed\n---\n", key_paths("hugo"), "c.png", "")
    with pytest.raises(InputError, match="never closed"):
        edit_text("---\ntitle: x\n", key_paths("hugo"), "c.png", "")
    with pytest.raises(UsageError, match="custom_image_key"):
        key_paths("custom")
    with pytest.raises(UsageError, match="unknown front-matter preset"):
        key_paths("wordpress")
    assert key_paths("custom", custom=("params.og.image", "")).image == "params.og.image"


def test_plan_and_apply_on_a_hugo_bundle_with_papermod(tmp_path):
    (tmp_path / "hugo.toml").write_text('baseURL = "https://example.org/"\n')
    bundle = tmp_path / "content" / "post"
    bundle.mkdir(parents=True)
    post = bundle / "index.md"
    post.write_bytes(YAML_POST.encode())
    edit, new = plan(post, "papermod", slug="post", alt="A loaf.", cover_png=b"png bytes")
    name = f"cover-{hashlib.sha256(b'png bytes').hexdigest()[:8]}.png"
    assert edit.status == "written" and edit.image == name and edit.image_file == bundle / name
    assert "cover.relative" in edit.keys and edit.placement == "hugo page bundle"
    apply(edit, new, b"png bytes")
    assert (bundle / name).read_bytes() == b"png bytes"
    assert "  relative: true\n" in post.read_text()
    again, nothing = plan(post, "papermod", slug="post", alt="A loaf.", cover_png=b"png bytes")
    assert again.status == "unchanged" and nothing is None and not again.image_copied


# --- defect 8: anchors, aliases, merge keys, end markers, tags; --force names what it left ------------------


def test_an_aliased_or_merged_cover_is_refused_in_one_line_never_a_traceback():
    aliased = "---\ncd: &cd\n  image: a.png\ncover: *cd\n---\nbody\n"
    assert edit_text(aliased, key_paths("papermod"), "c.png", "Alt.") == (aliased, "kept-existing")
    with pytest.raises(InputError, match="anchor, alias or merge key"):
        edit_text(aliased, key_paths("papermod"), "c.png", "Alt.", force=True)
    merged = "---\ncd: &cd\n  caption: x\ncover:\n  <<: *cd\n  hidden: false\n---\nbody\n"
    with pytest.raises(InputError, match="anchor, alias or merge key"):
        edit_text(merged, key_paths("papermod"), "c.png", "Alt.")
    # An alias elsewhere in the block does not stop an edit of another key.
    elsewhere = "---\nbase: &b {x: 1}\nother: *b\ntitle: t\n---\nbody\n"
    new, status = edit_text(elsewhere, key_paths("docusaurus"), "c.png", "")
    assert status == "written" and new == "---\nbase: &b {x: 1}\nother: *b\ntitle: t\nimage: c.png\n---\nbody\n"


def test_keys_go_before_a_yaml_end_marker():
    post = "---\ntitle: x\n...\n---\nbody\n"
    new, status = edit_text(post, key_paths("docusaurus"), "c.png", "")
    assert status == "written" and new == "---\ntitle: x\nimage: c.png\n...\n---\nbody\n"
    assert edit_text(new, key_paths("docusaurus"), "c.png", "")[1] == "unchanged"


def test_tags_are_kept_and_a_flow_mapping_is_refused():
    tagged = "---\ntitle: !!str 12\nother: !custom foo\n---\nb\n"
    new, status = edit_text(tagged, key_paths("docusaurus"), "c.png", "")
    assert status == "written" and new.startswith("---\ntitle: !!str 12\nother: !custom foo\nimage: c.png\n")
    with pytest.raises(InputError, match="key: value"):
        edit_text("---\n{title: x}\n---\nb\n", key_paths("docusaurus"), "c.png", "")


def test_force_names_the_keys_of_the_block_it_left_in_place():
    post = "---\ncover:\n  image: old.png\n  caption: 'Photo: Jane'\n  alt: old\n---\nb\n"
    edited = edit_block(post, key_paths("papermod"), "new.png", "New.", force=True)
    assert edited.status == "written" and edited.replaced == ("cover.image", "cover.alt")
    assert edited.left == ("cover.caption",)
    assert "  caption: 'Photo: Jane'\n" in edited.text


# --- defect 7: mode, owner, symlinks ------------------------------------------------------------------------


def _site(tmp_path):
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "_posts").mkdir()
    return tmp_path / "_posts"


def test_rewriting_keeps_the_mode_and_owner(tmp_path):
    post = _site(tmp_path) / "2026-01-01-p.md"
    post.write_text("---\ntitle: p\n---\nbody\n")
    post.chmod(0o600)
    before = post.stat()
    apply(*plan(post, "jekyll", slug="p", alt="A.", cover_png=b"x"), b"x")
    after = post.stat()
    assert "path: /assets/covers/p-" in post.read_text()
    assert (after.st_mode & 0o777, after.st_uid, after.st_gid) == (0o600, before.st_uid, before.st_gid)


def test_a_symlinked_post_is_edited_at_its_target(tmp_path):
    drafts = tmp_path / "drafts"
    drafts.mkdir()
    real = drafts / "p.md"
    real.write_text("---\ntitle: p\n---\nbody\n")
    site = tmp_path / "site"
    site.mkdir()
    link = _site(site) / "2026-01-01-p.md"
    link.symlink_to(real)
    check_post(str(link))
    apply(*plan(link, "jekyll", slug="p", alt="A.", cover_png=b"x"), b"x")
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert "path: /assets/covers/p-" in real.read_text()
    # The site the link is in is where the cover goes, not the target's folder.
    assert list((site / "assets" / "covers").iterdir()) and not list(drafts.glob("*.png"))


def test_check_post_refuses_what_cannot_take_front_matter(tmp_path):
    with pytest.raises(UsageError, match="not a URL"):
        check_post("https://example.com/post.md")
    text = tmp_path / "post.txt"
    text.write_text("x")
    with pytest.raises(UsageError, match="Markdown"):
        check_post(str(text))
    post = tmp_path / "post.md"
    post.write_text("x")
    post.chmod(0o444)
    try:
        import os

        if os.geteuid() != 0:  # root writes anyway
            with pytest.raises(UsageError, match="read-only"):
                check_post(str(post))
    finally:
        post.chmod(0o644)


def test_json_front_matter_is_refused_and_an_mdx_comment_is_body():
    with pytest.raises(InputError, match="JSON front matter"):
        edit_text('{\n  "title": "x"\n}\nbody\n', key_paths("docusaurus"), "c.png", "")
    new, status = edit_text("{/* a comment */}\nbody\n", key_paths("docusaurus"), "c.png", "")
    assert status == "written" and new == "---\nimage: c.png\n---\n{/* a comment */}\nbody\n"
