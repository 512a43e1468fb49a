"""The SQLite store: call log, LLM cache, stage cache."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from blogart.errors import BlogartError
from blogart.store import Store, cache_key


def test_default_path_is_in_the_user_dir(isolated_env):
    store = Store()
    assert store.path == isolated_env / "blogart.db"
    assert store.path.exists()


def test_wal_and_tables(tmp_path):
    store = Store(tmp_path / "sub" / "b.db")
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"llm_calls", "llm_cache", "stage_cache"} <= names


def test_log_call_and_recent_calls_newest_first(tmp_path):
    store = Store(tmp_path / "b.db")
    first = store.log_call(model="gpt-4o", kind="chat.completions", request={"q": 1}, error="HTTP 429: slow down")
    second = store.log_call(
        model="gpt-4o",
        kind="chat.completions",
        request={"q": 1},
        response={"content": "é"},
        prompt_tokens=10,
        completion_tokens=3,
        cost_usd=0.001,
        duration_s=0.25,
    )
    assert second > first
    calls = store.recent_calls(10)
    assert [c.id for c in calls] == [second, first]
    assert calls[0].response == {"content": "é"} and calls[0].prompt_tokens == 10 and not calls[0].cached
    assert calls[1].error == "HTTP 429: slow down" and calls[1].response is None
    assert store.recent_calls(1)[0].id == second
    assert set(calls[0].summary()) >= {"time", "model", "prompt_tokens", "cost_usd", "duration_s", "cached"}


def test_cache_key_is_canonical():
    assert cache_key("m", {"a": 1, "b": [1, 2]}) == cache_key("m", {"b": [1, 2], "a": 1})
    assert cache_key("m", {"a": 1}) != cache_key("n", {"a": 1})
    assert cache_key("m", {"a": 1}) != cache_key("m", {"a": 2})
    assert len(cache_key("m", {})) == 64


def test_cache_and_stage_round_trip_across_instances(tmp_path):
    path = tmp_path / "b.db"
    store = Store(path)
    assert store.cached_response("k") is None
    store.put_cached("k", "gpt-4o", {"content": '{"x": 1}'})
    assert Store(path).cached_response("k") == {"content": '{"x": 1}'}
    assert store.stage_get("topics:abc") is None
    store.stage_put("topics:abc", {"topics": ["kelp", "otters"], "n": 2})
    store.stage_put("topics:abc", {"topics": ["kelp"], "n": 1})  # replaces
    assert Store(path).stage_get("topics:abc") == {"topics": ["kelp"], "n": 1}


def test_concurrent_writers(tmp_path):
    store = Store(tmp_path / "b.db")

    def write(i: int) -> None:
        for j in range(10):
            store.log_call(model="m", kind="k", request={"i": i, "j": j})

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.recent_calls(100)) == 40


def test_unusable_path_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BlogartError, match="cannot open the blogart database"):
        Store(blocker / "b.db")


def test_corrupt_database_is_a_one_line_error(tmp_path):
    path = tmp_path / "b.db"
    store = Store(path)
    path.write_bytes(b"not a database" * 100)  # damaged after it was opened
    for wal in tmp_path.glob("b.db-*"):
        wal.unlink()
    with pytest.raises(BlogartError, match=r"blogart database .*b\.db: file is not a database"):
        store.log_call(model="m", kind="k", request={})
    with pytest.raises(BlogartError, match="file is not a database"):
        Store(path)


# -- `blogart logs` -----------------------------------------------------------------------------------------


def _invoke(*args: str):
    from typer.testing import CliRunner

    from blogart.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_logs_path_and_empty_log_does_not_create_the_db(isolated_env):
    result = _invoke("logs", "path")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(isolated_env / "blogart.db")
    result = _invoke("logs")
    assert result.exit_code == 0 and "no calls logged yet" in result.output
    assert not (isolated_env / "blogart.db").exists()
    assert _invoke("logs", "--json").output.strip() == "[]"


def test_logs_lists_recent_calls(isolated_env):
    import json

    store = Store()
    store.log_call(model="gpt-4o", kind="chat.completions", request={}, error="HTTP 429: slow down", duration_s=0.1)
    store.log_call(
        model="gpt-4o",
        kind="chat.completions",
        request={},
        response={},
        prompt_tokens=1200,
        completion_tokens=80,
        cost_usd=0.0038,
        duration_s=1.5,
    )
    store.log_call(model="gpt-4o", kind="chat.completions", request={}, cached=True, cost_usd=0.0, duration_s=0.0)
    result = _invoke("logs", "--json", "-n", "2")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["cached"] for r in rows] == [True, False]
    assert rows[1]["prompt_tokens"] == 1200 and rows[1]["cost_usd"] == 0.0038
    table = _invoke("logs")
    assert table.exit_code == 0
    assert "1200/80" in table.output and "0.0038" in table.output and "HTTP 429" in table.output
    assert "3 calls, estimated cost $0.0038\n" in table.output
    assert _invoke("logs", "-n", "0").exit_code == 2
