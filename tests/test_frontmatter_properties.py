"""Property tests over the front-matter editor: any front matter it can parse is edited right or refused.

Edited right: the result parses, the cover keys hold what was asked, every other key is unchanged, the body
is byte-identical, and a second edit changes nothing. Refused: an InputError, never another exception.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import tomllib
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from blogart.errors import InputError
from blogart.outputs.frontmatter import edit_block, key_paths

PRESETS = ("hugo", "papermod", "jekyll", "astro", "docusaurus")
# A deeper hunt: BLOGART_PROPERTY_EXAMPLES=1000 pytest tests/test_frontmatter_properties.py
EXAMPLES = int(os.environ.get("BLOGART_PROPERTY_EXAMPLES", "30"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=5000, suppress_health_check=[HealthCheck.too_slow])

keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,10}", fullmatch=True)
scalars = st.one_of(
    st.text(max_size=20),
    st.integers(-(2**40), 2**40),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=6,
)
# Cover keys of every preset appear often, with values of any shape (a plain value where a table goes...).
cover_keys = st.sampled_from(["cover", "image", "images", "heroImage", "title", "date"])
mappings = st.dictionaries(keys | cover_keys, values, max_size=6)
bodies = st.text(max_size=60).map(lambda s: s.replace("\r", ""))
# Raw lines the generators above never write: anchors, aliases, merge keys, tags, end markers, comments.
odd_lines = st.sampled_from(
    [
        "base: &b {image: x.png, caption: c}\n",
        "cover: *b\n",
        "cover:\n  <<: *b\n  hidden: false\n",
        "image: !!str /a.png\n",
        "tagged: !custom value\n",
        "...\n",
        "# a comment\n",
        "cover:\n  image: old.png\n  caption: 'Photo: Jane'\n",
        "images:\n    - /a.png   # four spaces\n",
        "empty:\n",
        "{a: 1}\n",
    ]
)


def _yaml_text(data: dict[str, Any], flow: bool) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.default_flow_style = flow
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue() if data else ""


def _toml_text(data: dict[str, Any]) -> str | None:
    import tomlkit

    try:
        return tomlkit.dumps(data)
    except Exception:  # noqa: BLE001 - a value TOML cannot hold (None, mixed arrays...): not a case to test
        return None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return "<nan>"
    if type(value).__name__ == "TaggedScalar":  # ruamel's `!custom value`
        return (str(value.tag), value.value)
    return value


def _parse(text: str) -> tuple[dict[str, Any], str]:
    """(front matter, body) of a post, each block read whole (the editor re-emits single entries)."""
    match = re.match(r"(---|\+\+\+)\n(.*?)^\1\n", text, re.S | re.M)
    assert match is not None
    block, body = match[2], text[match.end() :]
    if match[1] == "+++":
        return _plain(tomllib.loads(block)), body
    from ruamel.yaml import YAML

    block = re.split(r"^\.\.\.[ \t]*$", block, maxsplit=1, flags=re.M)[0]  # a YAML end marker ends the block
    return _plain(YAML(typ="rt").load(block) or {}), body


def _check(text: str, body: str, preset: str, force: bool) -> None:
    paths = key_paths(preset)
    try:
        edited = edit_block(text, paths, "covers/p-0123abcd.png", "A loaf.", force=force)
    except InputError:
        return
    assert edited.text.endswith(body)
    if edited.status != "written":
        assert edited.text == text
        return
    before = _parse(text)[0] if text.startswith(("---\n", "+++\n")) else {}
    after, new_body = _parse(edited.text)
    assert new_body == body
    image = after
    for part in paths.image.split("."):
        image = image[part]
    assert image == (["covers/p-0123abcd.png"] if paths.image_is_list else "covers/p-0123abcd.png")
    top = paths.image.split(".")[0]
    alt_top = (paths.alt or top).split(".")[0]
    assert {k: v for k, v in after.items() if k not in (top, alt_top)} == {
        k: v for k, v in before.items() if k not in (top, alt_top)
    }
    again = edit_block(edited.text, paths, "covers/p-0123abcd.png", "A loaf.", force=force)
    assert again.status == "unchanged" and again.text == edited.text


@SETTINGS
@given(data=mappings, flow=st.booleans(), body=bodies, preset=st.sampled_from(PRESETS), force=st.booleans())
def test_yaml_front_matter_is_edited_right_or_refused(data, flow, body, preset, force):
    block = _yaml_text(data, flow)
    _check(f"---\n{block}---\n{body}", body, preset, force)


@SETTINGS
@given(
    data=mappings,
    odd=st.lists(odd_lines, min_size=1, max_size=3),
    body=bodies,
    preset=st.sampled_from(PRESETS),
    force=st.booleans(),
)
def test_odd_yaml_is_edited_right_or_refused(data, odd, body, preset, force):
    block = _yaml_text(data, False) + "".join(odd)
    text = f"---\n{block}---\n{body}"
    try:
        _parse(text)
    except Exception:  # noqa: BLE001 - YAML the reference parser refuses: the editor must refuse it too
        with pytest.raises(InputError):
            edit_block(text, key_paths(preset), "covers/p-0123abcd.png", "A loaf.", force=force)
        return
    _check(text, body, preset, force)


@SETTINGS
@given(data=mappings, body=bodies, preset=st.sampled_from(PRESETS), force=st.booleans())
def test_toml_front_matter_is_edited_right_or_refused(data, body, preset, force):
    block = _toml_text(data)
    assume(block is not None)
    _check(f"+++\n{block}+++\n{body}", body, preset, force)


@SETTINGS
@given(block=st.text(max_size=80), body=bodies, fence=st.sampled_from(["---", "+++"]), preset=st.sampled_from(PRESETS))
def test_any_text_between_fences_never_raises_anything_but_input_error(block, body, fence, preset):
    text = f"{fence}\n{block}\n{fence}\n{body}"
    with contextlib.suppress(InputError):
        edit_block(text, key_paths(preset), "c.png", "Alt.", force=True)
