"""Front matter: the cover keys written for each preset, everything else kept byte for byte."""

from __future__ import annotations

import pytest

from blogart.errors import InputError, UsageError
from blogart.outputs.frontmatter import apply, check_post, edit_text, key_paths, placement, plan

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


def test_placement_bundle_static_dir_and_plain(tmp_path):
    bundle = tmp_path / "content" / "posts" / "my-post" / "index.md"
    assert placement(bundle, "my-post") == (bundle.parent / "cover.png", "cover.png")
    plain = tmp_path / "content" / "posts" / "my-post.md"
    static = tmp_path / "static" / "covers"
    assert placement(plain, "my-post", str(static), "/covers/") == (static / "my-post.png", "/covers/my-post.png")
    assert placement(plain, "my-post") == (plain.parent / "my-post-cover.png", "my-post-cover.png")
    assert placement(plain, "my-post", astro=True)[1] == "./my-post-cover.png"


def test_plan_and_apply_on_a_hugo_bundle_with_papermod(tmp_path):
    bundle = tmp_path / "post"
    bundle.mkdir()
    post = bundle / "index.md"
    post.write_bytes(YAML_POST.encode())
    edit, new = plan(post, "papermod", slug="post", alt="A loaf.")
    assert edit.status == "written" and edit.image == "cover.png" and edit.image_file == bundle / "cover.png"
    assert "cover.relative" in edit.keys
    apply(edit, new, b"png bytes")
    assert (bundle / "cover.png").read_bytes() == b"png bytes"
    assert "  relative: true\n" in post.read_text()
    again, nothing = plan(post, "papermod", slug="post", alt="A loaf.")
    assert again.status == "unchanged" and nothing is None


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
