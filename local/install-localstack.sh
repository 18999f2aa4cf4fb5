#!/usr/bin/env bash
# Install LocalStack on the host (no Docker): its own Python 3.13 virtual environment, in the
# directory the settings name (MOVIEDB_LOCALSTACK_VENV; default ~/.cache/moviedb/localstack-venv).
# Used by `make localstack` and .ci/run. Best effort: without Python 3.13, or when the install
# fails or takes too long, it says so and exits 0; the S3 tests then run on moto's server only
# (and the test summary says LocalStack did not run).
set -uo pipefail
cd "$(dirname "$0")/.."

PINS=(
    "localstack-core[runtime]==2026.3.0"
    "cbor2<6"
    "pyopenssl==25.3.0"
    "cryptography>=46,<47"
    "service_identity"
)
TIMEOUT="${LOCALSTACK_INSTALL_TIMEOUT:-900}"

PYTHON_VENV=".venv/bin/python"
[ -x "$PYTHON_VENV" ] || PYTHON_VENV="python3"
VENV="$("$PYTHON_VENV" -c 'from functions.core.config import get_settings; print(get_settings().localstack_venv)' 2>/dev/null)" \
    || VENV="${XDG_CACHE_HOME:-$HOME/.cache}/moviedb/localstack-venv"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import localstack.runtime.main" 2>/dev/null; then
    echo "LocalStack: installed in $VENV"
    exit 0
fi

find_python313() {
    local candidate
    for candidate in python3.13 "$HOME"/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys, venv; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

if ! PY313="$(find_python313)"; then
    echo "LocalStack: not installed (no Python 3.13 on this machine); S3 tests run on moto only"
    exit 0
fi

LOG="$(mktemp -t localstack-install.XXXXXX.log)"
echo "LocalStack: installing into $VENV with $PY313 (at most ${TIMEOUT}s, log $LOG) ..."
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
if timeout "$TIMEOUT" "$PY313" -m venv "$VENV" >>"$LOG" 2>&1 \
    && timeout "$TIMEOUT" "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "${PINS[@]}" >>"$LOG" 2>&1 \
    && "$VENV/bin/python" -c "import localstack.runtime.main" >>"$LOG" 2>&1; then
    echo "LocalStack: installed in $VENV"
else
    echo "LocalStack: the install failed or timed out; S3 tests run on moto only. Last lines:"
    tail -n 5 "$LOG"
    rm -rf "$VENV"
fi
exit 0
