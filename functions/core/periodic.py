"""A round of work run every few seconds in a daemon thread of a long-running process (the
reaper, the event sender), until stopped. A failed round is logged with its traceback and the
next one tries again (a database or a broker may be back by then)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Periodic:
    def __init__(
        self, name: str, round_: Callable[[], object], interval: float, *, at_start: bool = False
    ) -> None:
        self.name = name
        self._round = round_
        self._interval = interval
        self._at_start = at_start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"moviedb-{name}", daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _once(self) -> None:
        try:
            self._round()
        except Exception:
            logger.exception("periodic round failed", extra={"periodic": self.name})

    def _run(self) -> None:
        if self._at_start:
            self._once()
        while not self._stop.wait(self._interval):
            self._once()
