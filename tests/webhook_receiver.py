"""A webhook receiver for the tests: a real HTTP server in a process of its own, on loopback.

It answers each POST with the next status of its script (`--answers 500,200`: first 500, then
200 for ever; `hang` waits longer than any sender's timeout), and appends every request it got
(headers, body, the answer) as a JSON line to `--log`. Start it with `Receiver.start`."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--answers", default="200")
    args = parser.parse_args()
    answers = args.answers.split(",")
    lock = threading.Lock()
    count = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                answer = answers[min(count[0], len(answers) - 1)]
                count[0] += 1
                with args.log.open("a") as log:
                    log.write(
                        json.dumps(
                            {
                                "path": self.path,
                                "headers": dict(self.headers.items()),
                                "body": body.decode(),
                                "answer": answer,
                            }
                        )
                        + "\n"
                    )
            if answer == "hang":
                time.sleep(30)
                return
            self.send_response(int(answer))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


@dataclass
class Receiver:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    @classmethod
    def start(cls, tmp_path: Path, answers: str = "200") -> Receiver:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = tmp_path / f"receiver-{port}.jsonl"
        log.touch()
        process = subprocess.Popen(
            [sys.executable, __file__, "--port", str(port), "--log", str(log), "--answers", answers]
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the receiver did not start"
                time.sleep(0.05)
        return cls(process, f"http://127.0.0.1:{port}/hook", log)

    def requests(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


if __name__ == "__main__":
    main()
