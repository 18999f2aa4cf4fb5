"""Import time of each Lambda handler from the packaged artifact (`make bench-lambda-import`).

Unzips the artifact `osls package` built, makes a virtualenv with nothing installed, and imports
each handler module with `python -I -B`, the artifact the only thing on sys.path, from a fresh
copy each run and writing no bytecode, as on a Lambda cold start (/var/task is read-only):
  as shipped:  with the .pyc files infra/serverless/compile-bytecode adds to the artifact;
  no bytecode: the same copy with every __pycache__ removed (every module compiled on import).
Figures are medians of --runs: wall time of the import (`-X importtime`, cumulative) and the
CPU time the import took (less sensitive to other load on the machine). Nothing is asserted.

With `--baseline OTHER.zip` (e.g. the artifact of the commit before a change), both artifacts
are measured as shipped, their runs alternating for each handler, and the table gives both side
by side with the difference: the machine's drifting load then weighs on both alike.
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
from collections.abc import Callable
from pathlib import Path

HANDLERS = [
    "functions.api",
    "functions.ping",
    "functions.upload",
    "functions.uploads",
    "functions.presigned",
    "functions.movies",
    "functions.webhooks",
    "functions.ingest",
    "functions.notify",
    "functions.reap",
    "functions.migrate",
]
CODE = (
    "import sys, time; sys.path.insert(0, {path!r}); t = time.process_time(); "
    "import {module}; sys.stderr.write(f'cpu {{time.process_time() - t}}\\n')"
)


def measure(python: Path, path: Path, module: str) -> tuple[float, float]:
    """(wall, cpu) seconds of importing `module` from `path` in a fresh interpreter."""
    result = subprocess.run(
        [
            str(python),
            "-I",
            "-B",
            "-X",
            "importtime",
            "-c",
            CODE.format(path=str(path), module=module),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    wall = re.search(rf"\|\s*(\d+)\s*\|\s*{re.escape(module)}$", result.stderr, re.M)
    cpu = re.search(r"^cpu ([0-9.e-]+)$", result.stderr, re.M)
    assert wall and cpu, result.stderr[-2000:]
    return int(wall.group(1)) / 1e6, float(cpu.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path, help="the zip built by `osls package`")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="another artifact, measured alternately")
    parser.add_argument("--python", default=f"python{sys.version_info[0]}.{sys.version_info[1]}")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shipped = root / "shipped"
        with zipfile.ZipFile(args.artifact) as archive:
            archive.extractall(shipped)
        bare = root / "bare"
        shutil.copytree(shipped, bare, ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run([args.python, "-m", "venv", "--without-pip", root / "venv"], check=True)
        python = root / "venv" / "bin" / "python"

        def once(source: Path, module: str) -> tuple[float, float]:
            fresh = root / "run"
            shutil.copytree(source, fresh)
            try:
                return measure(python, fresh, module)
            finally:
                shutil.rmtree(fresh)

        def median(source: Path, module: str) -> tuple[float, float]:
            runs = [once(source, module) for _ in range(args.runs)]
            return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)

        if args.baseline is not None:
            base = root / "baseline"
            with zipfile.ZipFile(args.baseline) as archive:
                archive.extractall(base)
            return compare(args, base, shipped, once)

        size = args.artifact.stat().st_size
        print(
            f"artifact {args.artifact} ({size / 1e6:.1f} MB), median of {args.runs} runs, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
        )
        print(
            f"{'handler':<20} {'as shipped: wall':>17} {'cpu':>7} "
            f"{'no bytecode: wall':>18} {'cpu':>7}"
        )
        for module in HANDLERS:
            wall, cpu = median(shipped, module)
            bare_wall, bare_cpu = median(bare, module)
            print(
                f"{module:<20} {wall:>15.3f} s {cpu:>5.3f} s "
                f"{bare_wall:>16.3f} s {bare_cpu:>5.3f} s"
            )
    return 0


def compare(
    args: argparse.Namespace,
    base: Path,
    shipped: Path,
    once: Callable[[Path, str], tuple[float, float]],
) -> int:
    mb = [path.stat().st_size / 1e6 for path in (args.baseline, args.artifact)]
    sizes = f"{mb[0]:.1f} MB -> {mb[1]:.1f} MB"
    print(
        f"baseline {args.baseline} -> {args.artifact} ({sizes}), as shipped, median of "
        f"{args.runs} alternating runs, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(
        "| handler | baseline wall | baseline CPU | this wall | this CPU | CPU difference |\n"
        "|---|---:|---:|---:|---:|---:|"
    )
    for module in HANDLERS:
        before, after = [], []
        for _ in range(args.runs):
            before.append(once(base, module))
            after.append(once(shipped, module))
        bw, bc = (statistics.median(x[i] for x in before) for i in (0, 1))
        aw, ac = (statistics.median(x[i] for x in after) for i in (0, 1))
        print(
            f"| `{module}` | {bw:.3f} s | {bc:.3f} s | {aw:.3f} s | {ac:.3f} s "
            f"| {(ac - bc) * 1e3:+.0f} ms ({(ac / bc - 1) * 100:+.0f}%) |"
        )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
