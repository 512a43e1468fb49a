"""Run work in this thread while another thread keeps calling something: races between a batch engine's
text-ahead thread and its drawing thread, provoked in a test."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def while_calling(background: Callable[[], object], work: Callable[[], T]) -> T:
    """`work()`'s result, computed while another thread calls `background()` over and over."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            background()

    other = threading.Thread(target=loop)
    other.start()
    try:
        return work()
    finally:
        stop.set()
        other.join()
