"""Title cards drawn for real: installed Noto fonts, Pillow's RAQM layout, the crop logic, WCAG contrast on pixels.

Needs the Debian packages fonts-noto-core, fonts-noto-cjk and fonts-noto-color-emoji (.ci/run installs them).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from blogart.errors import UsageError
from blogart.outputs import fonts
from blogart.outputs.card import CardText, render_card
from blogart.outputs.card_template import contrast, load_template, parse_colour
from blogart.outputs.card_text import Typesetter, clusters, draw_line, fit, pil_font
from blogart.values import CropSize

pytestmark = pytest.mark.skipif(
    fonts.find_family("Noto Sans") is None or fonts.find_family("Noto Color Emoji") is None,
    reason="the Noto fonts are not installed (apt-get install fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji)",
)

TITLES = json.loads((Path(__file__).parent / "data" / "card_titles.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def template():
    return load_template()


@pytest.fixture(scope="module")
def picture():
    """A busy picture: bright and dark stripes and noise, so no single panel colour is safe by luck."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    pixels[::64] = 255
    pixels[:, ::48] = 0
    return Image.fromarray(pixels)


def _face_of_every_cluster(block) -> list[tuple[str, fonts.FontFile]]:
    return [(cluster, run.face) for line in block.lines for run in line.runs for cluster in clusters(run.text)]


@pytest.mark.parametrize("script", sorted(TITLES))
def test_every_script_is_set_with_a_glyph_for_each_character(script, template, picture):
    card = render_card(picture, CardText(TITLES[script], site="example.org"), template)
    block = card.title
    assert block.missing == ()
    assert not block.ellipsized
    # Every character is in the cmap of the face chosen for it: nothing is drawn as .notdef (a box).
    for cluster, face in _face_of_every_cluster(block):
        lacking = [c for c in cluster if ord(c) not in fonts.cmap(face) and c not in "\u200d\ufe0f"]
        assert not lacking, f"{cluster!r} drawn with {face.name}, which lacks {lacking}"
    # The lines hold the whole title, in order, nothing dropped or doubled.
    assert "".join(line.text for line in block.lines).replace(" ", "") == TITLES[script].replace(" ", "")
    # Each run's clusters, read in logical order, are that line's text.
    for line in block.lines:
        runs = sorted(line.runs, key=lambda r: line.text.find(r.text))
        assert "".join(r.text for r in runs) == line.text
    assert card.ink.getbbox() is not None
    assert card.image.size == (1200, 630)


def test_scripts_get_their_own_faces(template):
    def faces(text: str) -> set[str]:
        block = fit(
            fonts.chain_for(text, template.title_face), text, 2000, 500, size=40, min_size=40, max_lines=1, pitch=1.2
        )
        return {run.face.path.name for line in block.lines for run in line.runs}

    assert faces(TITLES["arabic"]) == {"NotoSansArabic-Bold.ttf"}  # spaces and digits stay in the Arabic run
    assert "NotoSansDevanagari-Bold.ttf" in faces(TITLES["devanagari"])
    assert faces(TITLES["chinese"]) == {"NotoSansCJK-Bold.ttc"}
    assert "NotoColorEmoji.ttf" in faces(TITLES["emoji"])
    # Japanese and Korean get the CJK face of their language (the same Han character differs between them).
    chain = fonts.chain_for(TITLES["japanese"], template.title_face)
    assert chain.cjk == "Noto Sans CJK JP" and fonts.chain_for(TITLES["korean"], template.title_face).cjk.endswith("KR")
    # A character no installed face has is reported, not drawn silently as a box.
    text = "Build \U000f0000 done"  # private use: in no font here
    block = fit(
        fonts.chain_for(text, template.title_face), text, 2000, 500, size=40, min_size=40, max_lines=1, pitch=1.2
    )
    assert block.missing == ("\U000f0000",)


def test_emoji_come_out_in_colour(template):
    layer = Image.new("RGBA", (900, 120), (0, 0, 0, 0))
    line, missing = Typesetter(fonts.chain_for("go 🚀", template.title_face), 60).line("go 🚀", False)
    assert not missing
    draw_line(layer, line, 0, 90, 60, (255, 255, 255, 255))
    rgb = np.asarray(layer.convert("RGB"), np.int32)[np.asarray(layer.getchannel("A")) > 200]
    saturation = rgb.max(axis=1) - rgb.min(axis=1)
    assert (saturation > 80).sum() > 200  # the rocket's colours, not white text
    # Scaled from the bitmap's 109 px to the line's size: about one em wide.
    emoji_run = next(r for r in line.runs if r.face.path.name == "NotoColorEmoji.ttf")
    assert 45 <= emoji_run.width <= 90


def _ink(image: Image.Image) -> np.ndarray:
    return np.asarray(image.getchannel("A")) > 64


def _ours_and_reference(text: str, face: fonts.FontFile, size: int = 48):
    """The line as the card draws it, and as raqm draws the whole string in one call (FriBiDi's own bidi)."""
    setter = Typesetter(fonts.FontChain((face,), (), "Noto Sans CJK SC"), size)
    line, missing = setter.line(text, rtl=True)
    assert not missing
    ours = Image.new("RGBA", (1400, 120), (0, 0, 0, 0))
    draw_line(ours, line, 10, 80, size, (255, 255, 255, 255))
    reference = Image.new("RGBA", ours.size, (0, 0, 0, 0))
    ImageDraw.Draw(reference).text((10, 80), text, font=pil_font(face, size), fill=(255, 255, 255, 255), anchor="ls")
    return _ink(ours), _ink(reference)


def _words_left_to_right(text: str, face: fonts.FontFile, size: int = 48) -> np.ndarray:
    """The words shaped but placed in logical order from the left: the 'reversed title' of renderers without bidi."""
    font = pil_font(face, size)
    image = Image.new("RGBA", (1400, 120), (0, 0, 0, 0))
    x = 10.0
    for word in text.split(" "):
        ImageDraw.Draw(image).text((x, 80), word, font=font, fill=(255, 255, 255, 255), anchor="ls", direction="rtl")
        x += font.getlength(word + " ", direction="rtl")
    return _ink(image)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.mark.parametrize(
    ("text", "family"),
    [
        ("كيف جعلنا البناء أسرع بثلاث مرات في عام 2024", "Noto Sans Arabic"),
        ("איך האצנו את הבנייה פי שלושה", "Noto Sans Hebrew"),
    ],
)
def test_right_to_left_comes_out_in_visual_order_as_raqm_shapes_it(text, family):
    face = fonts.find_family(family, bold=True)
    ours, reference = _ours_and_reference(text, face)
    assert _iou(ours, reference) > 0.97
    # The comparison can tell: the same glyphs laid left to right do not match the reference.
    assert _iou(reference, _words_left_to_right(text, face)) < 0.6


def test_mixed_direction_runs_are_ordered_by_the_bidi_algorithm(template):
    text = "איך האצנו את הבנייה עם Rust"
    setter = Typesetter(fonts.chain_for(text, template.title_face), 40)
    line, _ = setter.line(text, rtl=True)
    # A right-to-left paragraph: the Latin word, last in logical order, comes first from the left.
    assert line.runs[0].text == "Rust" and not line.runs[0].rtl
    assert line.runs[-1].text.startswith("איך") and line.runs[-1].rtl
    xs = [run.x for run in line.runs]
    assert xs == sorted(xs)
    # Separators and terminators join their number (UAX #9 W4-W5): a date reads left to right inside Arabic.
    line, _ = setter.line("موقعي · 2026-12-07 · 20%", rtl=True)
    assert [run.text for run in line.runs if not run.rtl] == ["20%", "2026-12-07"]
    # And a left-to-right paragraph keeps a Hebrew phrase as one right-to-left run after the English.
    line, _ = setter.line("Release notes: גרסה חדשה", rtl=False)
    assert line.runs[0].text.startswith("Release") and line.runs[-1].rtl


def test_a_long_title_shrinks_then_ends_in_an_ellipsis_inside_the_box(template, picture):
    title = " ".join(["Everything we learned moving a monorepo of forty services to a new build system"] * 4)
    card = render_card(picture, CardText(title, site="example.org", date="2026-12-07"), template)
    block = card.title
    assert block.ellipsized and block.lines[-1].text.endswith("\u2026")
    assert block.size == template.title.min_size
    assert len(block.lines) <= template.title.max_lines
    left, top, right, bottom = card.text_box
    pad = template.panel.padding
    assert all(line.width <= right - left - 2 * pad + 0.5 for line in block.lines)
    ink_left, ink_top, ink_right, ink_bottom = card.ink.getbbox()
    assert left <= ink_left and ink_right <= right and top <= ink_top and ink_bottom <= bottom


def test_a_title_that_fits_keeps_the_full_size_and_cjk_breaks_between_characters(template):
    chain = fonts.chain_for(TITLES["chinese"], template.title_face)
    block = fit(chain, "Short title", 1000, 200, size=66, min_size=34, max_lines=3, pitch=1.2)
    assert block.size == 66 and len(block.lines) == 1 and not block.ellipsized
    block = fit(chain, TITLES["chinese"], 500, 400, size=48, min_size=48, max_lines=5, pitch=1.2)
    assert len(block.lines) >= 3 and "".join(line.text for line in block.lines) == TITLES["chinese"]
    assert all(line.width <= 500 for line in block.lines)
    # A word longer than the line is broken between grapheme clusters rather than overflowing.
    block = fit(
        chain,
        "Donaudampfschifffahrtsgesellschaftskapitänsmützen",
        300,
        400,
        size=40,
        min_size=40,
        max_lines=5,
        pitch=1.2,
    )
    assert len(block.lines) > 1 and all(line.width <= 300 for line in block.lines)


def _wcag_lowest(colour: tuple[int, int, int], pixels: np.ndarray) -> float:
    """WCAG 2 contrast of `colour` against each pixel (relative luminance of sRGB), the lowest."""

    def luminance(rgb: np.ndarray) -> np.ndarray:
        c = rgb / 255.0
        c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return c @ np.array([0.2126, 0.7152, 0.0722])

    text = float(luminance(np.asarray(colour, np.float64)))
    lum = luminance(pixels.astype(np.float64))
    return float(((np.maximum(lum, text) + 0.05) / (np.minimum(lum, text) + 0.05)).min())


def test_the_contrast_measure_is_wcags():
    assert _wcag_lowest((0, 0, 0), np.array([[255, 255, 255]])) == pytest.approx(21.0)
    assert _wcag_lowest((119, 119, 119), np.array([[255, 255, 255]])) == pytest.approx(4.48, abs=0.01)
    assert contrast((119, 119, 119), (255, 255, 255)) == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("theme", ["dark", "light"])
@pytest.mark.parametrize("style", ["panel", "scrim"])
def test_text_contrast_is_at_least_4_5_on_the_rendered_pixels(theme, style, picture, tmp_path):
    # A nearly transparent panel: the card must raise its opacity until the text reads.
    panel = "#0d111720" if theme == "dark" else "#fbfbf820"
    path = tmp_path / "card.toml"
    path.write_text(
        f'[panel]\nstyle = "{style}"\n[theme.{theme}]\ntext = "{"#ffffff" if theme == "dark" else "#101418"}"\n'
        f'meta = "{"#dfe3e8" if theme == "dark" else "#37404a"}"\npanel = "{panel}"\n'
    )
    template = load_template(path)
    card = render_card(picture, CardText(TITLES["latin"], site="example.org", tags=("ci",)), template, theme=theme)
    assert card.panel_alpha > 0.2
    colours = template.themes[theme]
    final = np.asarray(card.image, np.int32)
    backdrop = np.asarray(card.backdrop, np.int32)
    ink = np.asarray(card.ink)
    solid = ink == 255
    assert solid.sum() > 2000
    # Where the text is opaque the card shows exactly a text colour...
    on_solid = {tuple(p) for p in final[solid]}
    assert on_solid <= {colours.text[:3], colours.meta[:3]}
    # ...and every pixel under and around the text contrasts with it by 4.5 or more.
    ys, xs = np.nonzero(ink)
    under = backdrop[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].reshape(-1, 3)
    assert _wcag_lowest(colours.text[:3], under) >= 4.5
    assert card.contrast >= 4.5


def test_the_panel_is_only_as_opaque_as_it_must_be(template):
    plain = Image.new("RGB", (400, 400), (128, 128, 128))
    card = render_card(plain, CardText("Grey"), template)
    assert card.panel_alpha == pytest.approx(parse_colour("#0d1117d0")[3] / 255)


def test_platform_sizes_keep_the_text_inside(template, picture):
    for size in (CropSize("square", 1080, 1080), CropSize("portrait", 1080, 1350), CropSize("wide", 1600, 900)):
        card = render_card(picture, CardText(TITLES["greek"], site="example.org"), template, size=size)
        assert card.image.size == (size.width, size.height)
        left, top, right, bottom = card.text_box
        ink_left, ink_top, ink_right, ink_bottom = card.ink.getbbox()
        assert left <= ink_left and ink_right <= right and top <= ink_top and ink_bottom <= bottom


def test_a_font_of_your_own_by_path(tmp_path, picture):
    own = tmp_path / "MyFont.ttf"
    shutil.copy(fonts.find_family("Noto Serif", bold=True).path, own)
    collection = fonts.find_family("Noto Sans CJK KR", bold=True)
    path = tmp_path / "card.toml"
    path.write_text(f'[title]\nfont = "{own}"\n[meta]\nfont = "{collection.path}#{collection.index}"\n')
    template = load_template(path)
    assert template.title_face.path == own and template.meta_face.index == collection.index
    card = render_card(picture, CardText("Serif 빌드", site="사이트"), template)
    assert {r.face.path for line in card.title.lines for r in line.runs} >= {own}
    assert card.meta.lines[0].runs[0].face == collection


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[panel]\nbox = [0.5, 0.5, 0.9, 0.4]\n", "panel.box"),
        ('[theme.dark]\ntext = "white"\nmeta = "#ffffff"\npanel = "#000000"\n', "theme.dark.text"),
        ('[theme.light]\ntext = "#777777"\nmeta = "#111111"\npanel = "#888888"\n', "contrast"),
        ("[title]\nsize = 30\nmin_size = 40\n", "min_size 40 is above size 30"),
        ("[title]\ncolour = 3\n", "title.colour"),
        ('[title]\nfont = "No Such Family 42"\n', "not installed"),
        ('[title]\nfont = "/nonexistent/font.ttf"\n', "font file not found"),
        ("[panel\n", "not valid TOML"),
    ],
)
def test_a_bad_template_is_one_line(tmp_path, toml, message):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(UsageError) as raised:
        load_template(path)
    text = str(raised.value)
    assert message in text and "\n" not in text and text.startswith(f"card template {path}")


def test_a_file_that_is_not_a_font_is_one_line(tmp_path):
    fake = tmp_path / "fake.ttf"
    fake.write_bytes(b"not a font at all" * 10)
    path = tmp_path / "card.toml"
    path.write_text(f'[title]\nfont = "{fake}"\n')
    with pytest.raises(UsageError) as raised:
        load_template(path)
    assert "not a font" in str(raised.value) and "\n" not in str(raised.value)
    with pytest.raises(UsageError, match="file not found"):
        load_template(Path(path).with_name("missing.toml"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hostile_titles_render_inside_the_box(seed, template, picture):
    """Bidi and zero-width controls, combining marks, flags and skin tones, mixed scripts, and 6 KB of it."""
    from hostile_text import hostile_text

    title = hostile_text(6000 if seed == 2 else 160, seed=seed)
    card = render_card(picture, CardText(title, site=hostile_text(40, seed=seed + 10, lines=False)), template)
    left, top, right, bottom = card.text_box
    ink_left, ink_top, ink_right, ink_bottom = card.ink.getbbox()
    assert left <= ink_left and ink_right <= right and top <= ink_top and ink_bottom <= bottom
    assert card.title.missing == () and card.contrast >= 4.5
    assert len(card.title.lines) <= template.title.max_lines


def _variable_font(path: Path) -> Path:
    """A small variable TrueType font (a wght axis moving each letter's box edges), built with fontTools."""
    import string

    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib.tables.TupleVariation import TupleVariation

    def box():
        pen = TTGlyphPen(None)
        pen.moveTo((50, 0))
        pen.lineTo((50, 700))
        pen.lineTo((450, 700))
        pen.lineTo((450, 0))
        pen.closePath()
        return pen.glyph()

    letters = list(string.ascii_letters)
    names = [".notdef", "space", *letters]
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap({32: "space", **{ord(c): c for c in letters}})
    builder.setupGlyf({n: TTGlyphPen(None).glyph() if n == "space" else box() for n in names})
    builder.setupHorizontalMetrics({n: (500, 0 if n == "space" else 50) for n in names})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "Blogart Test Variable", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=800, sTypoDescender=-200, usWinAscent=800, usWinDescent=200)
    builder.setupPost()
    builder.setupFvar(axes=[("wght", 100, 400, 900, "Weight")], instances=[])
    moves = [(-30, 0), (-30, 0), (30, 0), (30, 0), (0, 0), (0, 0), (0, 0), (0, 0)]
    builder.setupGvar({n: [TupleVariation({"wght": (0, 1.0, 1.0)}, moves)] for n in letters})
    builder.save(path)
    return path


def test_a_variable_font_by_path(tmp_path, picture):
    font = _variable_font(tmp_path / "Variable.ttf")
    path = tmp_path / "card.toml"
    path.write_text(f'[title]\nfont = "{font}"\n')
    card = render_card(picture, CardText("Variable fonts work 2026"), load_template(path))
    faces = {run.face.path: run.text for line in card.title.lines for run in line.runs}
    assert font in faces and "Variable" in faces[font]
    assert card.title.missing == ()  # the digits it lacks come from the fallback chain
    assert any(path.name.startswith("NotoSans") for path in faces)
