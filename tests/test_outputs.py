"""blogart.outputs.files: slugs, image names, and run folders that always match their manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_openai import png_bytes

from blogart.config import Settings
from blogart.errors import BlogartError, UsageError
from blogart.outputs import files
from blogart.outputs.files import MANIFEST_NAME, StagedRun, image_name, slug_for, slugify
from blogart.outputs.manifest import build_manifest
from blogart.values import Document, Drawing


def post(title: str, body: str = "body", source: str = "post.md", **front_matter) -> Document:
    import hashlib

    digest = hashlib.sha256(f"{title}\n{body}".encode()).hexdigest()
    return Document(source, "markdown", title, front_matter, (), body, digest)


def drawings(n: int, round: int = 1, seed: int = 5) -> list[Drawing]:
    return [
        Drawing(png_bytes(4, 4, (i, round, 0)), seed, i, round, "a prompt", "blurry", "dalle-mini") for i in range(n)
    ]


def run(base: Path, document: Document, n: int) -> Path:
    """One whole run as pipeline.generate wires it: stage, write, manifest with the published paths, publish."""
    with StagedRun(base, document) as staged:
        candidates = [staged.final(c) for c in staged.write(drawings(n))]
        text = {"content_hash": document.content_hash, "source": document.source, "title": document.title}
        models = {"generator": "dalle-mini", "weights": {}, "ranker": None}
        staged.publish(build_manifest(text, candidates, [], Settings(), models, "test"))
    return staged.folder


def listed(folder: Path) -> set[str]:
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert all(Path(row["path"]).parent == folder for row in manifest["candidates"])
    return {MANIFEST_NAME, *(Path(row["path"]).name for row in manifest["candidates"])}


@pytest.fixture
def out(tmp_path) -> Path:
    """The output folder (tmp_path also holds the test's BLOGART_HOME)."""
    return tmp_path / "out"


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# -- slugs and names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Привет, мир", "privet-mir"),
        ("こんにちは世界", "konnichihashi-jie"),
        ("你好，世界", "ni-hao-shi-jie"),
        ("Ünïcödé café: a Tour!", "unicode-cafe-a-tour"),
        ("🎉🎉", ""),
        ("..", ""),
    ],
)
def test_slugify_transliterates_every_script(title, slug):
    assert slugify(title) == slug


def test_slug_falls_back_to_the_file_name_then_the_content_hash():
    assert slug_for(post("Привет, мир")) == "privet-mir"
    assert slug_for(post("Hello", slug="Мой пост")) == "moi-post"  # front matter first
    assert slug_for(post("🎉", source="posts/party-time.md")) == "party-time"
    assert slug_for(post("..", source="https://example.com/blog/tide-pools/")) == "tide-pools"
    emoji_only = post("🎉", source="🎉.md")
    assert slug_for(emoji_only) == f"post-{emoji_only.content_hash[:8]}"
    assert slug_for(post("..", source="..")) != slug_for(post("..", "another body", source=".."))
    assert len(slugify("word " * 40)) <= 60


def test_image_names_sort_by_round_then_index_and_keep_the_seed():
    assert [image_name(d) for d in drawings(2, round=2, seed=42)] == ["r2-00-s42.png", "r2-01-s42.png"]
    unseeded = Drawing(b"", -1, 3, 1, "p", "", "openai-images:dall-e-3")
    assert image_name(unseeded) == "r1-03.png"


# -- run folders ----------------------------------------------------------------------------------------


def test_non_latin_titles_get_their_own_folders(out):
    russian = run(out, post("Привет, мир", source="ru.md"), 2)
    japanese = run(out, post("東京の夜", source="ja.md"), 2)
    emoji = run(out, post("🎉", source="🎉.md"), 2)
    dots = run(out, post("..", "other body", source=".."), 2)
    assert russian.name == "privet-mir" and japanese.name == "dong-jing-noye"
    assert emoji.name.startswith("post-") and dots.name.startswith("post-") and emoji != dots
    assert names(out) == {"privet-mir", "dong-jing-noye", emoji.name, dots.name}


def test_a_rerun_with_fewer_images_leaves_exactly_the_manifests_files(out):
    document = post("Tide pools")
    folder = run(out, document, 4)
    assert names(folder) == listed(folder) and len(names(folder)) == 5
    assert run(out, document, 2) == folder
    assert names(folder) == listed(folder) == {MANIFEST_NAME, "r1-00-s5.png", "r1-01-s5.png"}
    assert names(out) == {"tide-pools"}  # no staging or previous-run folder left


def test_two_posts_with_one_slug_get_two_folders_and_reruns_find_theirs(out):
    first, second = post("Hello", "one", source="a/hello.md"), post("Hello", "two", source="b/hello.md")
    assert run(out, first, 2).name == "hello"
    assert run(out, second, 3).name == "hello-2"
    assert run(out, first, 1).name == "hello"  # the same post again
    edited = post("Hello", "one, edited", source="a/hello.md")
    assert run(out, edited, 1).name == "hello"  # same source, new content: still its folder
    copied = post("Hello", "two", source="elsewhere/hello.md")
    assert run(out, copied, 1).name == "hello-2"  # same content from another path
    assert len(listed(out / "hello-2")) == 2
    assert names(out) == {"hello", "hello-2"}


def test_a_folder_of_someone_elses_files_is_never_touched(out):
    (out / "hello").mkdir(parents=True)
    (out / "hello" / "notes.txt").write_text("mine")
    (out / "empty").mkdir()
    assert run(out, post("Hello"), 1).name == "hello-2"
    assert names(out / "hello") == {"notes.txt"}
    assert run(out, post("Empty"), 1).name == "empty"  # an empty folder is free


def test_a_run_that_fails_after_drawing_leaves_the_previous_run(out):
    document = post("Tide pools")
    folder = run(out, document, 3)
    before = {name: (folder / name).read_bytes() for name in names(folder)}
    with pytest.raises(RuntimeError, match="ranking broke"), StagedRun(out, document) as staged:
        staged.write(drawings(2, seed=9))
        raise RuntimeError("ranking broke")
    assert {name: (folder / name).read_bytes() for name in names(folder)} == before
    assert names(out) == {"tide-pools"}


def test_a_failed_first_run_leaves_no_folder(out):
    with pytest.raises(RuntimeError), StagedRun(out, post("Tide pools")) as staged:
        staged.write(drawings(1))
        raise RuntimeError("the generator broke")
    assert not out.exists()


def test_a_killed_runs_staging_folder_is_cleaned_by_the_next_run(out):
    document = post("Tide pools")
    folder = run(out, document, 2)
    killed = out / f".tide-pools.staging-{dead_pid()}-0123abcd"
    killed.mkdir()
    (killed / "r1-00-s5.png").write_bytes(png_bytes(4, 4, (1, 2, 3)))
    running = out / f".other.staging-{os.getpid()}-89abcdef"  # a live run's (here: ours) is left alone
    running.mkdir()
    run(out, document, 1)
    assert names(out) == {"tide-pools", running.name}
    assert names(folder) == listed(folder)


def test_a_run_killed_between_two_renames_gets_its_previous_run_back(out):
    folder = run(out, post("Tide pools"), 2)
    before = names(folder)
    # Off Linux a swap is two renames; killed between them, the run folder is missing and the
    # previous run waits in a "replaced" folder: the next run puts it back before looking for its folder.
    folder.rename(out / f".tide-pools.replaced-{dead_pid()}-0123abcd")
    run(out, post("Other post"), 1)
    assert names(folder) == before
    assert names(out) == {"tide-pools", "other-post"}


def test_without_an_atomic_exchange_the_swap_still_publishes_whole_runs(out, monkeypatch):
    monkeypatch.setattr(files, "_exchange", lambda a, b: False)  # a file system without renameat2 exchange
    document = post("Tide pools")
    folder = run(out, document, 3)
    run(out, document, 1)
    assert names(folder) == listed(folder) == {MANIFEST_NAME, "r1-00-s5.png"}
    assert names(out) == {"tide-pools"}


def test_publish_refuses_a_manifest_that_does_not_list_the_drawn_images(out):
    document = post("Tide pools")
    with pytest.raises(BlogartError, match="manifest lists"), StagedRun(out, document) as staged:
        candidates = [staged.final(c) for c in staged.write(drawings(2))]
        staged.publish({"candidates": [{"path": str(candidates[0].path)}]})
    assert not out.exists()


def test_another_post_taking_the_folder_during_a_run_is_an_error_not_an_overwrite(out):
    with pytest.raises(BlogartError, match="taken by another post"), StagedRun(out, post("Hello", "a")) as mine:
        mine.write(drawings(1))
        run(out, post("Hello", "b", source="b.md"), 2)  # published while mine was drawing
        mine.publish({"candidates": [{"path": str(mine.folder / "r1-00-s5.png")}], "text": {}})
    assert names(out) == {"hello"} and len(listed(out / "hello")) == 3


def test_an_output_folder_that_cannot_be_made_is_a_usage_error(out):
    out.write_text("")
    with pytest.raises(UsageError, match="cannot create the output folder"):
        StagedRun(out, post("Hello"))


@pytest.mark.skipif(sys.platform != "linux", reason="renameat2 is Linux's")
def test_exchange_swaps_two_folders_in_one_step(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "old.png").write_bytes(b"old")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "new.png").write_bytes(b"new")
    assert files._exchange(tmp_path / "b", tmp_path / "a")
    assert names(tmp_path / "a") == {"new.png"} and names(tmp_path / "b") == {"old.png"}
