"""Import time of each Lambda handler from the packaged artifact (`make bench-lambda-import`).

Unzips the artifact `osls package` built, makes a virtualenv with nothing installed, and imports
each handler module with `python -I -X importtime`, the artifact the only thing on sys.path.
Two figures per handler, median of --runs:
  cold: no bytecode (-B, a fresh copy each run), as on a Lambda cold start: /var/task is
        read-only and the artifact ships no .pyc, so every module is compiled on import;
  warm: bytecode already compiled (what a second import in a writable copy costs).
Prints figures only; nothing is asserted (timings depend on the machine and its load).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HANDLERS = [
    "functions.api",
    "functions.ping",
    "functions.upload",
    "functions.uploads",
    "functions.movies",
    "functions.ingest",
    "functions.migrate",
]


def import_seconds(python: Path, path: Path, module: str, *, no_bytecode: bool) -> float:
    flags = ["-I", "-X", "importtime"] + (["-B"] if no_bytecode else [])
    code = f"import sys; sys.path.insert(0, {str(path)!r}); import {module}"
    result = subprocess.run(
        [str(python), *flags, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    pattern = re.compile(rf"\|\s*(\d+)\s*\|\s*{re.escape(module)}$", re.M)
    match = pattern.search(result.stderr)
    assert match, result.stderr[-2000:]
    return int(match.group(1)) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path, help="the zip built by `osls package`")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--python", default=f"python{sys.version_info.major}.{sys.version_info.minor}"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pristine = root / "artifact"
        with zipfile.ZipFile(args.artifact) as archive:
            archive.extractall(pristine)
        subprocess.run([args.python, "-m", "venv", "--without-pip", root / "venv"], check=True)
        python = root / "venv" / "bin" / "python"
        warm = root / "warm"
        shutil.copytree(pristine, warm)
        size = args.artifact.stat().st_size
        print(
            f"artifact {args.artifact} ({size / 1e6:.1f} MB), {args.runs} runs, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
        )
        print(f"{'handler':<20} {'cold (no .pyc)':>15} {'warm (.pyc)':>12}")
        for module in HANDLERS:
            cold = []
            for run in range(args.runs):
                fresh = root / f"cold-{module}-{run}"
                shutil.copytree(pristine, fresh)
                cold.append(import_seconds(python, fresh, module, no_bytecode=True))
                shutil.rmtree(fresh)
            import_seconds(python, warm, module, no_bytecode=False)  # compiles the bytecode
            hot = [
                import_seconds(python, warm, module, no_bytecode=False) for _ in range(args.runs)
            ]
            print(
                f"{module:<20} {statistics.median(cold):>13.3f} s {statistics.median(hot):>10.3f} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
