"""`ci`, `backfill` and a post's own front matter as untrusted input: git refs, globs, odd files, the
`blogart:` mapping, a job table shared with a killed or a concurrent run; and `ci --since` staying idempotent
when blogart writes the cover into the post's front matter. Real git repositories, real SQLite, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from batch_env import git, init_repo, tiny_bundled_model, write_posts
from cli_checks import one_error_line
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from blogart.batch.jobs import DONE, QUEUED, RUNNING, JobTable, Outcome
from blogart.batch.select import resolve_commit
from blogart.cli import app
from blogart.errors import InputError, UsageError
from blogart.pipeline.post_control import PostControl, read_control

runner = CliRunner()


def make_repo(repo: Path, posts: int = 2) -> str:
    """A git repository with a first commit (README only), then `posts` posts in a second; returns the first."""
    init_repo(repo)
    (repo / "README.md").write_text("not a post\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "start")
    first = git(repo, "rev-parse", "HEAD").strip()
    write_posts(repo / "content", posts)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "posts")
    return first


# -- git refs: never an option, a bad one is one line --------------------------------------------------------

REF_CASES = [
    # (ref, what the one line says)
    ("--output={victim}", "not a commit in this repository"),
    ("--output=/dev/null", "not a commit"),
    ("-p", "not a commit"),
    ("--help", "not a commit"),
    ("no-such-ref", "not a commit"),
    ("HEAD~99", "not a commit"),
    ("", "not a git ref"),
    ("HEAD\n--output=x", "not a git ref"),
    ("HEAD:README.md", "not a commit"),  # a blob, not a commit
]


@pytest.mark.parametrize(("ref", "says"), REF_CASES)
def test_a_bad_since_ref_is_one_line_and_touches_no_file(ref, says, tmp_path, monkeypatch):
    repo = tmp_path / "blog"
    make_repo(repo)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    monkeypatch.chdir(repo)
    ref = ref.format(victim=victim)
    before = sorted(p.name for p in repo.iterdir())
    line = one_error_line(runner.invoke(app, ["ci", "content", "--since", ref, "--out", "out"]))
    assert says in line
    assert victim.read_text() == "precious\n"  # `--output=FILE` reached git diff as an option before
    assert sorted(p.name for p in repo.iterdir()) == before


def test_since_a_new_output_file_is_not_created(tmp_path, monkeypatch):
    repo = tmp_path / "blog"
    make_repo(repo)
    monkeypatch.chdir(repo)
    target = tmp_path / "created-by-git.txt"
    one_error_line(runner.invoke(app, ["ci", "content", "--since", f"--output={target}", "--out", "out"]))
    assert not target.exists()


def test_since_in_a_shallow_clone_says_how_to_fetch_history(tmp_path, monkeypatch):
    origin = tmp_path / "origin"
    make_repo(origin)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{origin}", str(clone))
    monkeypatch.chdir(clone)
    line = one_error_line(runner.invoke(app, ["ci", "content", "--since", "HEAD~1", "--out", "out"]))
    assert "shallow" in line and "fetch-depth: 0" in line and "git fetch --deepen" in line


def test_since_outside_a_git_repository_is_one_line(tmp_path, monkeypatch):
    write_posts(tmp_path / "site" / "content", 1)
    monkeypatch.chdir(tmp_path / "site")
    line = one_error_line(runner.invoke(app, ["ci", "content", "--since", "HEAD", "--out", "out"]))
    assert "not in a git repository" in line


def test_since_a_good_ref_still_lists_the_changed_posts(tmp_path):
    from blogart.batch.select import changed_since

    repo = tmp_path / "blog"
    first = make_repo(repo, posts=2)
    assert [p.name for p in changed_since(repo / "content", first)] == ["post-00.md", "post-01.md"]
    assert changed_since(repo / "content", "HEAD") == []


@pytest.fixture(scope="module")
def ref_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("refs") / "blog"
    make_repo(repo, posts=1)
    return repo


@settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ref=st.one_of(
        st.text(max_size=40),
        st.sampled_from(["HEAD", "HEAD~1", "main", "@", "HEAD^{tree}", "--output=o", "-c", ":/posts", "@{-1}"]),
        st.builds(lambda a, b: f"{a}{b}", st.sampled_from(["--", "-", "HEAD", "@{"]), st.text(max_size=20)),
    )
)
def test_property_a_ref_resolves_to_a_commit_or_one_usage_line(ref_repo, ref):
    before = sorted(p.name for p in ref_repo.iterdir())
    try:
        commit = resolve_commit(ref_repo, ref)
    except UsageError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("--since ")
    else:
        assert len(commit) == 40 and int(commit, 16) >= 0
        assert git(ref_repo, "cat-file", "-t", commit).strip() == "commit"
    assert sorted(p.name for p in ref_repo.iterdir()) == before


# -- globs and odd files -------------------------------------------------------------------------------------


@pytest.mark.parametrize("glob", ["/etc/*", "../*", "", "~/*", "a/../../*", "C:\\\\x\\*"])
def test_a_glob_outside_content_dir_is_one_line(glob, tmp_path):
    write_posts(tmp_path / "content", 1)
    line = one_error_line(runner.invoke(app, ["backfill", "content", "--glob", glob, "--dry-run"]))
    assert "--glob" in line


def _odd_inputs(content: Path) -> dict[str, str]:
    """Names with a post's suffix that are no post, and the reason each must be listed with."""
    os.mkfifo(content / "pipe.md")
    (content / "folder.md").mkdir()
    (content / "loop.md").symlink_to("loop.md")
    (content / "dangling.md").symlink_to("nowhere.md")
    return {
        "pipe.md": "FIFO",
        "folder.md": "a folder",
        "loop.md": "symlink loop",
        "dangling.md": "symlink to nothing",
    }


def test_odd_inputs_are_listed_with_their_reason_in_dry_run_json(tmp_path):
    write_posts(tmp_path / "content", 1)
    odd = _odd_inputs(tmp_path / "content")
    result = runner.invoke(app, ["backfill", "content", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [Path(p).name for p in data["todo"]] == ["post-00.md"]
    reasons = {Path(s["path"]).name: s["reason"] for s in data["skipped"]}
    assert set(reasons) == set(odd)
    for name, says in odd.items():
        assert says in reasons[name]


def test_odd_inputs_are_listed_in_the_summary_and_json_of_a_run(tmp_path):
    content = tmp_path / "content"
    content.mkdir()
    (content / "covered.md").write_text("---\ntitle: T\nimage: /c.png\n---\n\nHas its cover.\n")
    odd = _odd_inputs(content)
    summary = runner.invoke(app, ["backfill", "content", "--out", "out"])
    assert summary.exit_code == 0, summary.output
    assert "0 of 0 posts got a cover, 0 failed, 1 already had one, 4 skipped" in summary.stdout
    for name, says in odd.items():
        assert any(name in line and says in line for line in summary.stdout.splitlines()), (name, summary.stdout)
    as_json = runner.invoke(app, ["backfill", "content", "--out", "out", "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert {Path(s["path"]).name for s in data["skipped"]} == set(odd)
    assert data["posts"] == [] and [Path(p).name for p in data["covered"]] == ["covered.md"]


# -- the `blogart:` mapping ----------------------------------------------------------------------------------

BAD_CONTROL = [
    ("seed: x", "blogart.seed"),
    ("seed: -1", "blogart.seed"),
    ("seed: 1.5", "blogart.seed"),
    ("seed: true", "blogart.seed"),
    ("seed: 18446744073709551616", "blogart.seed"),
    ("skip: maybe", "blogart.skip"),
    ("negative: [text, 3]", "blogart.negative[1]"),
    ("prompt: ''", "blogart.prompt"),
    ('prompt: "two\\nlines"', "blogart.prompt"),
    ("colour: red", "blogart.colour: not a key blogart reads"),
    ("style: no-such-style", "blogart.style: unknown style"),
]


def _post_with(folder: Path, block: str, name: str = "post.md") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    post = folder / name
    indented = "\n".join("  " + line for line in block.splitlines())
    post.write_text(f"---\ntitle: Tide pools\nblogart:\n{indented}\n---\n\nWe watched the tide pools all week.\n")
    return post


@pytest.mark.parametrize(("block", "key"), BAD_CONTROL)
def test_a_bad_blogart_value_is_one_line_naming_the_post_and_key(block, key, tmp_path):
    post = _post_with(tmp_path / "content", block)
    line = one_error_line(runner.invoke(app, ["prompt", str(post), "--backend", "local"]))
    assert str(post) in line and key in line
    # A batch lists the post as skipped with the same reason, and goes on with the others.
    write_posts(tmp_path / "content", 1)
    dry = runner.invoke(app, ["backfill", "content", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.stdout)
    assert [Path(p).name for p in data["todo"]] == ["post-00.md"]
    assert [(Path(s["path"]).name, key in s["reason"]) for s in data["skipped"]] == [("post.md", True)]


def test_blogart_prompt_style_and_negative_are_honoured_by_prompt(tmp_path):
    post = _post_with(tmp_path, "prompt: a lighthouse at dusk\nstyle: watercolor\nnegative: blurry, signature")
    result = runner.invoke(app, ["prompt", str(post), "--backend", "local", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["prompt"] == "a lighthouse at dusk" and data["writer"] == "front matter"
    assert data["style"] == "watercolor"
    assert {"blurry", "signature"} <= set(data["negative_prompt"].split(", "))
    assert data["post_control"] == {
        "prompt": "a lighthouse at dusk",
        "style": "watercolor",
        "negative": ["blurry", "signature"],
    }


def test_skip_true_posts_are_passed_over_by_backfill_with_the_reason(tmp_path):
    write_posts(tmp_path / "content", 1)
    _post_with(tmp_path / "content", "skip: true", name="draft.md")
    dry = runner.invoke(app, ["backfill", "content", "--dry-run", "--json"])
    data = json.loads(dry.stdout)
    assert [Path(p).name for p in data["todo"]] == ["post-00.md"]
    assert data["skipped"][0]["reason"] == "its front matter says blogart.skip: true"


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
CONTROL_KEYS = st.sampled_from(["skip", "prompt", "style", "negative", "seed"]) | st.text(max_size=10)


@settings(max_examples=200, deadline=500)
@given(mapping=st.one_of(VALUES, st.dictionaries(CONTROL_KEYS, VALUES, max_size=5)))
def test_property_the_blogart_mapping_is_read_or_refused_in_one_line(mapping):
    try:
        control = read_control({"title": "t", "blogart": mapping}, "posts/p.md")
    except InputError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("posts/p.md: front matter blogart")
    else:
        assert isinstance(control, PostControl)
        assert control.seed is None or 0 <= control.seed < 2**64
        assert control.prompt is None or len(control.prompt.splitlines()) == 1


@settings(max_examples=100, deadline=500)
@given(
    skip=st.booleans(),
    prompt=st.none()
    | st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1).filter(str.strip),
    seed=st.none() | st.integers(0, 2**64 - 1),
    negative=st.lists(st.text(alphabet="abcdefgh ", min_size=1).filter(str.strip), max_size=5),
)
def test_property_a_valid_mapping_is_read_back_as_written(skip, prompt, seed, negative):
    mapping = {"skip": skip, "prompt": prompt, "seed": seed, "negative": negative}
    control = read_control({"blogart": {k: v for k, v in mapping.items() if v is not None}}, "p.md")
    assert control.skip is skip and control.seed == seed
    assert control.prompt == (prompt.strip() if prompt else None)
    assert control.negative == tuple(w.strip() for w in negative)


# -- the job table: a killed owner, a concurrent run ----------------------------------------------------------


def _zombie() -> subprocess.Popen:
    """A child killed with SIGKILL and not reaped yet: what a rerun straight after `kill -9` finds."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    proc.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            return proc
        time.sleep(0.02)
    raise AssertionError("the child never became a zombie")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_jobs_of_a_killed_but_unreaped_owner_are_taken_over(tmp_path):
    table = JobTable(tmp_path / "blogart.db")
    table.enqueue([("a.md", "h1")])
    zombie = _zombie()
    try:
        assert table.claim(pid=zombie.pid).state == RUNNING
        assert table.requeue_orphans() == 1  # a zombie was counted alive: its job stayed running
        assert table.get("a.md").state == QUEUED
    finally:
        zombie.wait()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_a_reused_process_id_is_not_the_owner(tmp_path):
    table = JobTable(tmp_path / "blogart.db")
    table.enqueue([("a.md", "h1")])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        table.claim(pid=other.pid)
        assert table.requeue_orphans() == 0  # alive, and the process that claimed it
        with sqlite_connection(table.path) as conn:  # as if that process ended and its id went to a new one
            conn.execute("UPDATE batch_jobs SET owner_started = '1' WHERE post = 'a.md'")
        assert table.requeue_orphans() == 1
    finally:
        other.kill()
        other.wait()


def sqlite_connection(path: Path):
    import sqlite3
    from contextlib import closing, contextmanager

    @contextmanager
    def connect():
        with closing(sqlite3.connect(path)) as conn, conn:
            yield conn

    return connect()


def test_an_older_job_table_gets_the_new_columns(tmp_path):
    import sqlite3

    db = tmp_path / "blogart.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE batch_jobs (post TEXT PRIMARY KEY, content_hash TEXT NOT NULL, state TEXT NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0, reason TEXT, owner_pid INTEGER, queued_at TEXT NOT NULL,"
            " started_at TEXT, finished_at TEXT, seconds REAL, cover TEXT, score REAL, cost_usd REAL)"
        )
        conn.execute("INSERT INTO batch_jobs (post, content_hash, state, queued_at) VALUES ('a.md', 'h', 'queued', '')")
    table = JobTable(db)
    assert table.claim(run_id="r1").run_id == "r1"


def test_a_concurrent_runs_posts_are_waited_for_and_not_counted_as_ours(tmp_path, monkeypatch):
    """Another live run holds a planned post: this run waits for it rather than calling it failed, and
    reports it as the other run's, not its own."""
    from blogart.batch.backfill import Plan, execute
    from blogart.batch.select import Post
    from blogart.batch.summary import markdown
    from blogart.config import load_settings

    current = load_settings()
    table = JobTable(current.store.resolved())
    held = str(tmp_path / "held.md")
    table.enqueue([(held, "h1")])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        table.claim(pid=other.pid, only=[held], run_id="other")
        plan = Plan((Post(Path(held), "h1", False, False),), ())

        def the_other_run_finishes() -> None:
            time.sleep(1.0)
            table.finish(held, Outcome(1.0, "out/h/cover.png", 0.5, 0.0))

        threading.Thread(target=the_other_run_finishes).start()
        clock = time.monotonic()
        result = execute(plan, current, every=0.1)
        assert time.monotonic() - clock >= 0.9  # waited, rather than calling a running post failed
    finally:
        other.kill()
        other.wait()
    assert result.jobs == () and [j.post for j in result.others] == [held]
    assert result.others[0].state == DONE and result.failed == []
    text = markdown(plan, result)
    assert "0 of 0 posts got a cover, 0 failed, 0 already had one, 1 drawn by another blogart run" in text
    assert "done (by another run)" in text


@pytest.fixture(scope="session")
def bundled_model(tmp_path_factory):
    return tiny_bundled_model(tmp_path_factory)


@pytest.mark.slow
def test_generate_says_a_skip_post_is_skipped_and_force_draws_it_with_its_seed_and_prompt(
    bundled_model, tmp_path, monkeypatch
):
    from blogart import assets

    folder, metadata = bundled_model
    monkeypatch.setenv(assets.ENV, str(folder))
    monkeypatch.syspath_prepend(str(metadata))
    post = _post_with(tmp_path / "content", "skip: true\nseed: 42\nprompt: a bread on blue")
    out = tmp_path / "out"

    skipped = runner.invoke(app, ["generate", str(post), "-n", "1", "--out", str(out)])
    assert skipped.exit_code == 0, skipped.output
    assert skipped.stderr.strip().splitlines()[-1] == (
        f"skipped: {post}: its front matter says blogart.skip: true (--force draws it anyway)"
    )
    assert not out.exists()

    drawn = runner.invoke(app, ["generate", str(post), "-n", "1", "--out", str(out), "--force", "--json"])
    assert drawn.exit_code == 0, drawn.output
    manifest = json.loads(drawn.stdout)
    assert manifest["settings"]["generate"]["seed"] == 42
    assert manifest["text"]["prompt"] == "a bread on blue" and manifest["text"]["writer"] == "front matter"
    assert manifest["text"]["post_control"] == {"skip": True, "prompt": "a bread on blue", "seed": 42}
