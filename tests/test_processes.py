"""One liveness check for what a process left behind: a claimed job, a staging folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blogart import processes
from blogart.outputs.files import clean_leftovers
from blogart.processes import alive, process_started

LINUX = Path("/proc/self/stat").exists()


def _zombie() -> subprocess.Popen:
    """A child that has exited and not been waited for."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while Path(f"/proc/{child.pid}/status").read_text().split("State:")[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return child


def test_this_process_and_a_running_one_are_alive():
    assert alive(os.getpid())
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as other:
        try:
            assert alive(other.pid)
        finally:
            other.kill()
    assert not alive(other.pid)
    assert not alive(None)


@pytest.mark.skipif(not LINUX, reason="reads /proc (Linux)")
def test_a_zombie_or_a_new_process_under_the_id_is_not_alive():
    child = _zombie()
    try:
        assert not alive(child.pid)
    finally:
        child.wait()
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as other:
        try:
            assert alive(other.pid, started=process_started(other.pid))
            assert not alive(other.pid, started="1")
        finally:
            other.kill()


@pytest.mark.skipif(not LINUX, reason="reads /proc (Linux)")
def test_a_zombies_staging_folder_is_cleaned_up(tmp_path):
    child = _zombie()
    try:
        staging = tmp_path / f".post.staging-{child.pid}-0123abcd"
        staging.mkdir()
        clean_leftovers(tmp_path)
        assert not staging.exists()
    finally:
        child.wait()


def test_where_a_process_cannot_be_asked_what_it_left_is_abandoned_after_a_day(monkeypatch):
    monkeypatch.setattr(processes, "_PROC_SELF", Path("/no/proc/self/stat"))
    monkeypatch.setattr(processes, "_KILL_ZERO_IS_SAFE", False)
    monkeypatch.setattr(os, "kill", lambda *_: pytest.fail("os.kill would end the process on Windows"))
    pid = os.getpid() + 1  # never signalled: any id will do
    assert alive(pid, since=time.time() - 3600)
    assert not alive(pid, since=time.time() - processes.ABANDONED_AFTER_S - 1)
    assert alive(pid)  # no time to go by: left alone
