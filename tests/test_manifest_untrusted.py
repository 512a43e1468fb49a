"""manifest.json is outside input: `pick` and `regenerate` on an edited manifest say which key is wrong in one
`error:` line (exit 2) before any work, and never write outside the run folder and the run's own post.

One real run (OpenAI Images against the local fake server, front matter into a Hugo site) is made once;
each case gets a fresh copy of it, edits the manifest, runs the command, and checks that nothing changed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_checks import one_error_line
from typer.testing import CliRunner

from blogart.cli import app

runner = CliRunner()
POST_TEXT = "---\ntitle: Tide pools\n---\n\nTide pools hold crabs, anemones and small fish at low tide.\n"
VICTIM_TEXT = "---\ntitle: My notes\n---\n\nNot blogart's to touch.\n"


@pytest.fixture(scope="module")
def made_run(tmp_path_factory) -> Path:
    """A Hugo site with one post, `generate --front-matter hugo` run on it; the whole tree, to copy per case."""
    from fake_openai import FakeOpenAI

    root = tmp_path_factory.mktemp("made")
    site = root / "site"
    (site / "content" / "posts").mkdir(parents=True)
    (site / "hugo.toml").write_text('baseURL = "https://example.org/"\ntitle = "t"\n')
    (site / "content" / "posts" / "tides.md").write_text(POST_TEXT)
    (root / "elsewhere").mkdir()
    (root / "elsewhere" / "notes.md").write_text(VICTIM_TEXT)
    with FakeOpenAI() as fake, pytest.MonkeyPatch.context() as env:
        for name in ("OPENAI_ORG_ID", "BLOGART_PUBLISH__STATIC_DIR", "BLOGART_PUBLISH__STATIC_URL"):
            env.delenv(name, raising=False)
        env.setenv("BLOGART_HOME", str(root / "home"))
        env.setenv("OPENAI_API_KEY", "sk-test")
        env.setenv("OPENAI_BASE_URL", fake.base_url)
        env.setenv("HF_HUB_OFFLINE", "1")
        env.setenv("HF_HOME", str(root / "hf-home"))
        env.setenv("BLOGART_ASSETS", str(root / "no-bundled-model"))
        env.chdir(root)
        args = ["generate", "site/content/posts/tides.md", "-m", "openai-images", "-n", "3", "--backend", "local"]
        result = runner.invoke(app, [*args, "--no-rank", "--front-matter", "hugo", "-o", "out", "--json"])
    assert result.exit_code == 0, result.output
    assert (root / "out" / "tide-pools" / "manifest.json").is_file()
    return root


@pytest.fixture
def tree(made_run, tmp_path) -> Path:
    """A copy of the made run at tmp_path/copy, the manifest's absolute paths moved along."""
    copy = shutil.copytree(made_run, tmp_path / "copy", symlinks=True)
    manifest = copy / "out" / "tide-pools" / "manifest.json"
    manifest.write_text(manifest.read_text().replace(str(made_run), str(copy)))
    return copy


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` with a hash of its bytes (the manifest's own edit excluded by the caller)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "home" not in p.relative_to(root).parts
    }


def edit(tree: Path, change: Callable[[dict[str, Any], Path], Any]) -> Path:
    path = tree / "out" / "tide-pools" / "manifest.json"
    data = json.loads(path.read_text())
    change(data, tree)
    path.write_text(json.dumps(data))
    return path


def _set(*keys: str | int, value: Any) -> Callable[[dict[str, Any], Path], None]:
    def change(data: dict[str, Any], tree: Path) -> None:
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value(tree) if callable(value) else value

    return change


def _drop(*keys: str) -> Callable[[dict[str, Any], Path], None]:
    def change(data: dict[str, Any], tree: Path) -> None:
        target = data
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return change


def _every_row(key: str, value: Any) -> Callable[[dict[str, Any], Path], None]:
    def change(data: dict[str, Any], tree: Path) -> None:
        for row in data["candidates"]:
            row[key] = value

    return change


def _both(*changes: Callable[[dict[str, Any], Path], None]) -> Callable[[dict[str, Any], Path], None]:
    def change(data: dict[str, Any], tree: Path) -> None:
        for one in changes:
            one(data, tree)

    return change


def _victim(tree: Path) -> str:
    return str(tree / "elsewhere" / "notes.md")


PICK = ("pick", "{run}", "2")
REGENERATE = ("regenerate", "{manifest}")

# (case, edit of the manifest, command, the words the one error line must hold)
CASES: list[tuple[str, Callable[[dict[str, Any], Path], Any], tuple[str, ...], tuple[str, ...]]] = [
    ("flags not a list", _set("candidates", 0, "flags", value="oops"), PICK, ("candidates[0].flags",)),
    ("flag of the wrong shape", _set("candidates", 0, "flags", value=[{"concept": 3}]), PICK, ("flags[0]",)),
    ("seed a string", _set("candidates", 1, "seed", value="x"), REGENERATE, ("candidates[1].seed",)),
    ("seed a string (pick)", _set("candidates", 1, "seed", value="x"), PICK, ("candidates[1].seed",)),
    ("seed a boolean", _set("candidates", 0, "seed", value=True), REGENERATE, ("candidates[0].seed",)),
    ("seed a float", _set("candidates", 0, "seed", value=1.5), REGENERATE, ("candidates[0].seed",)),
    ("path null", _set("candidates", 0, "path", value=None), PICK, ("candidates[0].path",)),
    ("path null (regenerate)", _set("candidates", 2, "path", value=None), REGENERATE, ("candidates[2].path",)),
    ("path not an image name", _set("candidates", 0, "path", value="../../etc/passwd"), PICK, ("candidates[0].path",)),
    ("path the folder itself", _set("candidates", 0, "path", value="/tmp/.."), REGENERATE, ("candidates[0].path",)),
    ("prompt missing", _drop("text", "prompt"), REGENERATE, ("text.prompt", "required")),
    ("prompt not a string", _set("text", "prompt", value=["a"]), PICK, ("text.prompt",)),
    ("text.source missing", _drop("text", "source"), PICK, ("text.source", "required")),
    ("text.source not a string", _set("text", "source", value=7), REGENERATE, ("text.source",)),
    ("text not an object", _set("text", value="x"), PICK, ("text",)),
    ("candidates an object", _set("candidates", value={"0": {}}), PICK, ("candidates",)),
    ("candidates an object (regenerate)", _set("candidates", value={}), REGENERATE, ("candidates",)),
    ("candidates missing", _drop("candidates"), REGENERATE, ("candidates", "required")),
    ("every index ten million", _every_row("index", 10_000_000), REGENERATE, ("candidates[0].index",)),
    ("an index past the rows", _set("candidates", 2, "index", value=5), REGENERATE, ("candidates[2].index", "3 rows")),
    ("two rows, one index", _set("candidates", 1, "index", value=0), REGENERATE, ("candidates[1].index",)),
    ("a negative index", _set("candidates", 0, "index", value=-1), REGENERATE, ("candidates[0].index",)),
    ("round zero", _set("candidates", 0, "round", value=0), REGENERATE, ("candidates[0].round",)),
    ("rank past the rows", _set("candidates", 0, "rank", value=99), PICK, ("candidates[0].rank",)),
    ("generator missing", _drop("generator"), REGENERATE, ("generator", "required")),
    ("ranked a string", _set("ranked", value="yes"), PICK, ("ranked",)),
    ("unknown preset", _set("publish", "front_matter", "preset", value="evil"), PICK, ("publish.front_matter.preset",)),
    ("bad recorded top_k", _set("settings", "generate", "top_k", value="x"), REGENERATE, ("settings.generate.top_k",)),
    ("weights of the wrong type", _set("models", "weights", value=[1]), REGENERATE, ("models.weights",)),
    # The post: from the manifest only inside the site it records, and that site still there.
    ("post outside its site", _set("post", "path", value=_victim), PICK, ("outside its recorded site", "POST")),
    ("post in no site", _set("post", value=lambda t: {"path": _victim(t), "site_root": "/"}), PICK, ("no longer",)),
    ("post with no site", _set("post", value=lambda t: {"path": _victim(t)}), PICK, ("records no site", "POST")),
    ("post null", _set("post", value=None), PICK, ("records no site",)),
    ("post relative", _set("post", "path", value="notes.md"), PICK, ("absolute",)),
]


@pytest.mark.parametrize(("case", "change", "command", "needles"), CASES, ids=[c[0] for c in CASES])
def test_an_edited_manifest_is_one_line_and_changes_nothing(tree, case, change, command, needles):
    if command is REGENERATE:  # a generator that takes seeds: the run could be redrawn, were it not refused
        change = _both(_set("generator", value="bundled"), change)
    manifest = edit(tree, change)
    before = snapshot(tree)
    args = [a.format(run=manifest.parent, manifest=manifest) for a in command]
    one_error_line(runner.invoke(app, args), 2, *needles)
    assert snapshot(tree) == before


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("{", ("not valid JSON",)),
        ('{"candidates": [{"score": NaN}]}', ("NaN",)),
        ("[]", ("top level",)),
        ("", ("not valid JSON",)),
        ("[" * 100_000 + "]" * 100_000, ("manifest",)),
        ("\udcff", ("not valid JSON",)),
    ],
)
def test_a_manifest_that_is_no_json_object_is_one_line(tree, text, needles):
    path = tree / "out" / "tide-pools" / "manifest.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    for command in (PICK, REGENERATE):
        args = [a.format(run=path.parent, manifest=path) for a in command]
        one_error_line(runner.invoke(app, args), 2, *needles)


def test_pick_minus_one_and_out_naming_a_file(tree):
    run = tree / "out" / "tide-pools"
    before = snapshot(tree)
    one_error_line(runner.invoke(app, ["pick", str(run), "-1"]), 2, "no candidate -1")
    one_error_line(runner.invoke(app, ["pick", str(run), "0"]), 2, "no candidate 0")
    one_error_line(runner.invoke(app, ["pick", str(run), "4"]), 2, "no candidate 4", "1 to 3")
    post = tree / "site" / "content" / "posts" / "tides.md"
    one_error_line(runner.invoke(app, ["pick", str(post), "1", "--out", str(post)]), 2, "not a folder")
    manifest = run / "manifest.json"
    one_error_line(runner.invoke(app, ["regenerate", str(manifest), "--out", str(post)]), 2, "not a folder")
    one_error_line(runner.invoke(app, ["regenerate", str(manifest), "--out", f"{post}/sub"]), 2, "not a folder")
    assert snapshot(tree) == before


def test_a_text_source_pointing_elsewhere_is_not_written(tree):
    """`text.source` (what the post was read as) is only a record: pick edits the post inside the site."""
    victim = tree / "elsewhere" / "notes.md"
    edit(tree, _set("text", "source", value=str(victim)))
    result = runner.invoke(app, ["pick", str(tree / "out" / "tide-pools"), "2"])
    assert result.exit_code == 0, result.output
    assert victim.read_text() == VICTIM_TEXT
    assert sorted(p.name for p in victim.parent.iterdir()) == ["notes.md"]
    post = tree / "site" / "content" / "posts" / "tides.md"
    assert "images:" in post.read_text()


def test_a_recorded_placed_file_outside_the_site_is_never_removed(tree):
    """The file the last run placed is removed only when it lies inside the post's site (and is unchanged)."""
    victim = tree / "elsewhere" / "photo.png"
    victim.write_bytes(b"\x89PNG not blogart's")
    sha = hashlib.sha256(victim.read_bytes()).hexdigest()
    edit(
        tree, _set("publish", "front_matter", value={"preset": "hugo", "image_file": str(victim), "image_sha256": sha})
    )
    result = runner.invoke(app, ["pick", str(tree / "out" / "tide-pools"), "2", "--json"])
    assert result.exit_code == 0, result.output
    assert victim.is_file()


def test_the_post_passed_by_the_user_is_used_whatever_the_manifest_says(tree):
    post = tree / "site" / "content" / "posts" / "tides.md"
    edit(tree, _both(_set("post", value=None), _set("text", "source", value=str(post))))
    result = runner.invoke(app, ["pick", str(post), "3", "-o", str(tree / "out"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["publish"]["number"] == 3
    assert "images:" in post.read_text()
