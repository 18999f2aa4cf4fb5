"""Upload a large CSV to a running API over real HTTP and report what it cost the server.

    moviedb serve &                                  # or any running server
    python bench/upload_api.py FILE --key KEY [--url http://127.0.0.1:8000] [--pid SERVER_PID]

Prints the time until the 202 (the body streamed to storage, hashed, header checked), the
upload rate, the time until the rows are loaded, and with --pid the server's peak resident
memory (VmHWM) before and after: the body is streamed, so the peak should not grow with the
file size.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx


def peak_rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--key", required=True)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--pid", type=int, help="the server's pid, to report its peak memory")
    args = parser.parse_args()

    size = args.file.stat().st_size
    before = peak_rss_mib(args.pid)
    with httpx.Client(base_url=args.url, timeout=None) as http, args.file.open("rb") as f:
        start = time.perf_counter()
        answer = http.post(
            "/api/v1/upload/?use_celery=false",
            files={"file": (args.file.name, f, "text/csv")},
            headers={"X-API-Key": args.key},
        )
        accepted = time.perf_counter() - start
        at_accept = peak_rss_mib(args.pid)
        answer.raise_for_status()
        status_url = answer.json()["status_url"]
        while (status := http.get(status_url).json())["status"] not in ("completed", "failed"):
            time.sleep(0.5)
        loaded = time.perf_counter() - start
    after = peak_rss_mib(args.pid)
    print(f"file: {args.file.name}, {size / 2**20:.0f} MiB")
    rate = size / 2**20 / accepted
    print(f"{answer.status_code} after {accepted:.1f} s ({rate:.0f} MiB/s streamed to storage)")
    print(f"{status['status']} after {loaded:.1f} s: {status['counts'] or status['error']}")
    if before is not None:
        print(
            f"server peak RSS: {before:.0f} MiB before, {at_accept:.0f} MiB once the file was "
            f"stored, {after:.0f} MiB once it was loaded"
        )


if __name__ == "__main__":
    main()
