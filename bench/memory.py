"""The resident memory of a process and its descendants, for the benchmarks (psutil)."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.02


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of `process` and its children (0 for one that is gone)."""
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += member.memory_info().rss
    return total


def reset_kernel_peak(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux: 5 > /proc/PID/clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def kernel_peak(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


class PeakSampler:
    """Samples the resident memory of a process tree in a thread: the peak of one step."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.process))
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> PeakSampler:
        self.kernel_reset = reset_kernel_peak(self.pid)
        self.peak = tree_rss(self.process)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(self.process))
        # the kernel's peak covers the step only when it was reset at its start
        if self.kernel_reset and (peak := kernel_peak(self.pid)) is not None:
            self.peak = max(self.peak, peak)
