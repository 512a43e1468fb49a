"""The README stays a front door and the docs stay true to the tree: the layout in docs/architecture.md
names every package and top-level module in src/blogart and nothing that is gone, every relative link in
README.md and docs/*.md reaches a file, and docs/help.md is the app's own `--help`."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
SRC = ROOT / "src" / "blogart"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
HELP = ROOT / "docs" / "help.md"
# [text](target) and [text]: target; the target up to a space, a closing parenthesis or a fragment
LINK = re.compile(r"\]\(([^)\s#]*)(#[^)\s]*)?\)|^\[[^\]]+\]:\s*(\S+)", re.M)


def _layout_block() -> str:
    section = ARCHITECTURE.read_text().split("## Project layout", 1)[1]
    return section.split("```", 2)[1]


def test_the_layout_names_every_package_and_module():
    block = _layout_block()
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in SRC.glob("*.py") if p.stem not in ("__init__", "__main__")}
    missing = sorted(name for name in packages if f"{name}/" not in block)
    missing += sorted(name for name in modules if f"{name}.py" not in block)
    assert not missing, f"docs/architecture.md's project layout does not name: {missing}"


def test_the_layout_names_nothing_that_is_gone():
    block = _layout_block()
    named_modules = set(re.findall(r"\b([a-z_]+)\.py\b", block))
    named_packages = {name for name in re.findall(r"^ +([a-z_]+)/", block, re.M)}
    gone = sorted(m for m in named_modules if not (SRC / f"{m}.py").exists())
    gone += sorted(p for p in named_packages if not (SRC / p).is_dir() and not (SRC / "generators" / p).is_dir())
    assert not gone, f"docs/architecture.md's project layout names what the tree lacks: {gone}"


def test_the_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < 200, f"README.md has {len(lines)} lines; move the long form into docs/"


def relative_links(page: Path) -> list[str]:
    """The link targets in a Markdown page that point into the repository (no URL, no bare fragment)."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # code blocks hold no links
    targets = [m.group(1) or m.group(3) or "" for m in LINK.finditer(text)]
    return [t for t in targets if t and not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_relative_links_resolve():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "recipes" / "icons" / "HISTORY.md"]
    broken = [
        f"{page.relative_to(ROOT)}: {target}"
        for page in pages
        for target in relative_links(page)
        if not (page.parent / target).exists()
    ]
    assert not broken, f"links to nothing: {broken}"


def test_a_broken_link_is_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](page.md) [gone](missing.md#part) [web](https://example.org/x.md) [here](#top)\n"
        "```\n[in code](not-a-link.md)\n```\n[ref]: other.md\n"
    )
    assert relative_links(page) == ["page.md", "missing.md", "other.md"]


def test_the_help_page_is_current():
    from blogart.cli.docs import help_page

    text = HELP.read_text()
    generated = text.split("]]] -->\n", 1)[1].split("<!-- [[[end]]] -->", 1)[0]
    assert generated == help_page(), "run `cog -r docs/help.md` to regenerate it"
