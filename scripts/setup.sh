#!/usr/bin/env bash
# Create .venv and install trainkit with its test extras. Idempotent: a stamp file records the
# installed requirements, so a second run returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
STAMP="$VENV/.trainkit-setup-$(cat setup.py scripts/setup.sh | sha1sum | cut -c1-12)"
if [ -f "$STAMP" ]; then
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
pip_install() {
  # pip's own exit status decides; on failure its whole output is shown
  local log
  log=$(mktemp)
  if ! "$VENV/bin/python" -m pip install --quiet "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "setup.sh: pip install $* failed" >&2
    exit 1
  fi
  # on success keep pip's own warnings and errors (e.g. dependency conflicts), not the build
  # backend's notes (setuptools' editable-install banner)
  grep -E '^(WARNING|ERROR)' "$log" | grep -v '^WARNING: Location' || true
  rm -f "$log"
}
pip_install --upgrade pip
# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
pip_install 'torch==2.13.0'
pip_install -e '.[dev]'
# Check the installed package (not the source tree next to us) imports with its dependencies.
(cd /tmp && "$OLDPWD/$VENV/bin/python" -c 'import torch, mmengine, pytorch_warmup, h5py, trainkit, trainkit.engine.runner')
rm -f "$VENV"/.trainkit-setup-*
touch "$STAMP"
echo "trainkit is set up in $VENV"
