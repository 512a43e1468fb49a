"""Is the process that left something behind (a claimed job, a staging folder) still running?

Linux: /proc tells a process that is gone, a zombie, one with SIGKILL pending (tearing down) and a new
process that was given a dead one's id apart; each of those counts as dead. Other POSIX systems: the
process exists (`kill -0`). Elsewhere (Windows, where `os.kill(pid, 0)` would end the process) a process
cannot be asked, so what it left counts as abandoned once it is a day old.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ABANDONED_AFTER_S = 24 * 3600
SIGKILL_BIT = 1 << (9 - 1)  # SIGKILL in /proc/PID/status signal masks
_PROC_SELF = Path("/proc/self/stat")
_KILL_ZERO_IS_SAFE = os.name == "posix"  # elsewhere (Windows) os.kill(pid, 0) ends the process


def process_started(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, from /proc); None where /proc has no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: the fields after it follow the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None  # field 22: starttime


def _exiting(pid: int) -> bool:
    """Linux: `pid` is a zombie, or has SIGKILL pending (killed, tearing down): it will do nothing more."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if fields.get("State", "").split()[:1] in (["Z"], ["X"]):
        return True
    return any(int(fields.get(mask, "0").strip() or "0", 16) & SIGKILL_BIT for mask in ("SigPnd", "ShdPnd"))


def alive(pid: int | None, *, started: str | None = None, since: float | None = None) -> bool:
    """Whether process `pid` still runs and will go on.

    `started`: its start time as `process_started` gave it when it took the thing (Linux: a different
    process now holding the id is not it). `since`: when it last touched the thing (seconds since the
    epoch), for systems where a process cannot be asked; without it such a process counts as alive.
    """
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    if _PROC_SELF.exists() and (now := process_started(pid)) is not None:
        return (started is None or now == started) and not _exiting(pid)
    # No /proc entry: gone, or hidden from us (another user's, under hidepid); the kernel tells which.
    if not _KILL_ZERO_IS_SAFE:
        return since is None or time.time() - since < ABANDONED_AFTER_S
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
