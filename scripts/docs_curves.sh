#!/usr/bin/env bash
# Regenerate docs/images/spice_curves.png, the picture of the demo run in README.md and
# docs/getting_started.md: train configs/spice.py into a scratch work dir, then draw its curves
# with tools/plot_log.py and print the summary table. Extra arguments go to tools/train.py;
# the picture in the docs was made with a 20-epoch run (on 2 busy cores an epoch took 1-3
# minutes, the 60 epochs of the full demo did not fit the time at hand):
#   bash scripts/docs_curves.sh --cfg-options train_cfg.max_epochs=20
# PYTHON picks the interpreter (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PY" tools/train.py configs/spice.py --work-dir "$WORK/spice-demo" "$@"
"$PY" tools/plot_log.py "$WORK/spice-demo" --keys loss lr val_energy_mae val_forces_mae \
    --logy --cols 2 --out docs/images/spice_curves.png
"$PY" tools/plot_log.py "$WORK/spice-demo" --summary --keys val_weighted_mae
