#!/usr/bin/env bash
# Regenerate docs/images/spice_curves.png, the picture of the demo run in README.md and
# docs/getting_started.md: train configs/spice.py (the demo, 60 epochs, about a minute on 2
# idle cores) into a scratch work dir, then draw its curves with tools/plot_log.py and print
# the summary table. PYTHON picks the interpreter (default .venv/bin/python).
#   bash scripts/docs_curves.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PY" tools/train.py configs/spice.py --cfg-options "work_dir=$WORK/spice-demo" \
    default_hooks.logger.progress_bar=False
"$PY" tools/plot_log.py "$WORK/spice-demo" --keys loss lr val_energy_mae val_forces_mae \
    --logy --cols 2 --out docs/images/spice_curves.png
"$PY" tools/plot_log.py "$WORK/spice-demo" --summary --keys val_weighted_mae
