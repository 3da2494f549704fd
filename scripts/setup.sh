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
"$VENV/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
"$VENV/bin/python" -m pip install --quiet 'torch==2.13.0' 2>&1 | grep -v '^WARNING: Location' || true
"$VENV/bin/python" -m pip install --quiet -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
"$VENV/bin/python" -c 'import torch, mmengine, pytorch_warmup, h5py, trainkit' 
rm -f "$VENV"/.trainkit-setup-*
touch "$STAMP"
echo "trainkit is set up in $VENV"
