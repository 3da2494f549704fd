#!/usr/bin/env bash
# The main job: train the neural-network potential on the SPICE demo data (written on first
# use) with configs/spice.py. Extra arguments go to tools/train.py, e.g. --cfg-options ...
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python tools/train.py configs/spice.py "$@"
