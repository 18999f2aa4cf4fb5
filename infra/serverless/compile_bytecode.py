"""Add compiled bytecode to a Lambda artifact (a zip), in place: `python3.11 THIS_FILE X.zip`.

Run by the compile-bytecode plugin of serverless.yml, with the Python of the Lambda runtime's
version. The .pyc files are "unchecked-hash" (PEP 552): Python uses them without comparing
timestamps, which a zip does not keep exactly, so Lambda imports them as they are instead of
compiling every module at each cold start (its /var/task is read-only: nothing is cached there).
Their recorded file names are the ones the code has on Lambda (/var/task/...).
"""

from __future__ import annotations

import compileall
import os
import py_compile
import sys
import tempfile
import zipfile
from pathlib import Path

LAMBDA_TASK_ROOT = "/var/task"


def add_bytecode(artifact: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "task"
        with zipfile.ZipFile(artifact) as archive:
            entries = archive.infolist()
            archive.extractall(root)
        compileall.compile_dir(
            root,
            force=True,  # never keep a timestamp-based .pyc that would be in the zip
            quiet=2,  # a module that does not compile (none expected) is simply left as source
            stripdir=str(root),
            prependdir=LAMBDA_TASK_ROOT,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            workers=0,
        )
        listed = {e.filename for e in entries}
        compiled = sorted(
            p for p in root.rglob("*.pyc") if p.relative_to(root).as_posix() not in listed
        )
        rewritten = artifact.with_suffix(".tmp.zip")
        with (
            zipfile.ZipFile(artifact) as source,
            zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as target,
        ):
            for entry in entries:
                target.writestr(entry, source.read(entry))
            for path in compiled:
                info = zipfile.ZipInfo(path.relative_to(root).as_posix(), (1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                target.writestr(info, path.read_bytes())
        os.replace(rewritten, artifact)
    return len(compiled)


def main() -> int:
    (artifact,) = sys.argv[1:]
    count = add_bytecode(Path(artifact))
    print(f"compile-bytecode: {count} modules compiled into {artifact}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
