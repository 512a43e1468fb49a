"""The blogart file's tables come from named migrations: old files upgrade, new files get all, none twice."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from cli_checks import one_error_line
from typer.testing import CliRunner

from blogart.batch.jobs import DONE, JobTable
from blogart.cli import app
from blogart.store import MIGRATIONS, DatabaseError, Store, open_database
from blogart.store.migrations import migrate
from blogart.store.phrase_vectors import PhraseVectorCache

# Made by blogart before migrations were recorded (store.py, topics/vector_cache.py, batch/jobs.py each
# creating their own tables): one row in every table.
V0 = Path(__file__).parent / "data" / "store" / "v0.sqlite3"
TABLES = ("llm_calls", "llm_cache", "stage_cache", "phrase_vectors", "batch_jobs")


def _rows(path: Path, query: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(query).fetchall()


def _recorded(path: Path) -> list[str]:
    return [row[0] for row in _rows(path, "SELECT name FROM _migrations ORDER BY rowid")]


def _columns(path: Path, table: str) -> list[tuple]:
    return _rows(path, f"PRAGMA table_info({table})")


def test_migrations_are_numbered_and_named():
    names = [fn.__name__ for fn in MIGRATIONS]
    assert names == sorted(names) and len(set(names)) == len(names)
    assert [name[:5] for name in names] == [f"m{i:03d}_" for i in range(1, len(names) + 1)]


def test_a_database_from_before_migrations_opens_with_every_row(tmp_path):
    path = tmp_path / "blogart.db"
    shutil.copy(V0, path)
    assert not _rows(path, "SELECT name FROM sqlite_master WHERE name = '_migrations'")

    store = Store(path)
    [call] = store.recent_calls()
    assert call.model == "gpt-4o" and call.response == {"content": "otters"} and call.prompt_tokens == 10
    assert store.cached_response("k1") == {"content": "otters"}
    assert store.stage_get("topics:abc") == {"topics": ["kelp"]}
    vectors = PhraseVectorCache(path).get("minilm", ["kelp forest"])
    assert vectors["kelp forest"].tolist() == [0.5, -1.0, 2.0]
    jobs = {job.post: job for job in JobTable(path).jobs()}
    assert jobs["/blog/a.md"].state == DONE and jobs["/blog/a.md"].run_id == "r1" and jobs["/blog/a.md"].score == 0.31
    assert jobs["/blog/b.md"].state == "queued"
    assert _recorded(path) == [fn.__name__ for fn in MIGRATIONS]


def test_the_tables_keep_the_columns_they_had(tmp_path):
    old = tmp_path / "old.db"
    shutil.copy(V0, old)
    new = open_database(tmp_path / "new.db")
    for table in TABLES:
        assert _columns(new, table) == _columns(old, table), table


def test_a_new_database_gets_every_migration_in_order_once(tmp_path):
    path = tmp_path / "sub" / "blogart.db"
    open_database(path)
    assert _recorded(path) == [fn.__name__ for fn in MIGRATIONS]
    assert {row[0] for row in _rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")} >= set(TABLES)
    stamps = _rows(path, "SELECT name, applied_at FROM _migrations")
    assert migrate(path) == []
    Store(path)
    JobTable(path)
    assert _rows(path, "SELECT name, applied_at FROM _migrations") == stamps


def test_a_missing_migration_is_applied_and_recorded(tmp_path):
    path = open_database(tmp_path / "blogart.db")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DELETE FROM _migrations WHERE name = ?", (MIGRATIONS[-1].__name__,))
    assert migrate(path) == [MIGRATIONS[-1].__name__]
    assert _recorded(path)[-1] == MIGRATIONS[-1].__name__


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "blogart.db"

    def m999_broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        conn.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr("blogart.store.migrations.MIGRATIONS", [*MIGRATIONS, m999_broken])
    with pytest.raises(DatabaseError, match="no such table"):
        open_database(path)
    tables = {row[0] for row in _rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not tables & {"half_done", "_migrations", *TABLES}


def test_processes_opening_a_new_database_at_once_apply_each_migration_once(tmp_path):
    """Batch workers open the file at once; each opener reads what is applied and writes what is not."""
    for attempt in range(3):  # a lost race shows up in about half the attempts with 8 openers
        path = tmp_path / f"blogart-{attempt}.db"
        start = threading.Barrier(8)
        errors: list[BaseException] = []

        def open_it(path: Path = path, start: threading.Barrier = start, errors: list = errors) -> None:
            start.wait()
            try:
                JobTable(path)
            except BaseException as exc:  # noqa: BLE001 - collected for the assert below
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert _recorded(path) == [fn.__name__ for fn in MIGRATIONS]


def _future(path: Path) -> Path:
    open_database(path)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO _migrations (name, applied_at) VALUES ('m999_from_the_future', '2030-01-01')")
    return path


def test_a_database_from_a_newer_blogart_is_refused(tmp_path):
    path = _future(tmp_path / "blogart.db")
    with pytest.raises(DatabaseError, match="made by a newer blogart .*m999_from_the_future"):
        Store(path)
    with pytest.raises(DatabaseError, match="newer blogart"):
        JobTable(path)


@pytest.mark.parametrize("kind", ["future", "not sqlite"])
def test_the_cli_says_one_line_about_an_unusable_database(isolated_env, monkeypatch, kind):
    path = isolated_env / "blogart.db"
    if kind == "future":
        _future(path)
        needle = "newer blogart"
    else:
        path.write_bytes(b"these are my notes, not a database\n" * 200)
        needle = "not a database"
    monkeypatch.setenv("BLOGART_STORE__PATH", str(path))
    result = CliRunner().invoke(app, ["logs"])
    one_error_line(result, 1, str(path), needle)


def test_phrase_vectors_round_trip(tmp_path):
    cache = PhraseVectorCache(tmp_path / "blogart.db")
    cache.put("m", {"a": np.array([1.0, 2.0], dtype=np.float32)})
    assert cache.get("m", ["a", "b"])["a"].tolist() == [1.0, 2.0] and cache.count() == 1
