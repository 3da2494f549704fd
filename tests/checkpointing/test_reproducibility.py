"""Reproducible by default: the same config and seed on the same machine and thread count give
bit-identical checkpoints, with every default hook on (background checkpoint writes included).

Run as a user runs it: ``python tools/train.py configs/spice.py`` in subprocesses with the
machine's default thread count. The two runs train side by side, so each runs while the other
takes CPU time — the contention under which the SPICE model's gradients used to differ from run
to run (docs/reliability.md, "Reproducibility").
"""
import os
import subprocess
import sys

import pytest

from tests.support import reliability as h


def _start(work_dir, *options):
    return subprocess.Popen([sys.executable, h.TRAIN, *h.spice_argv(work_dir, 2, 8, *options)],
                            cwd=h.ROOT, env=h.user_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_two_default_spice_runs_are_bit_identical(tmp_path):
    works = [str(tmp_path / f'run{i}') for i in (1, 2)]
    procs = [_start(w) for w in works]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    for proc, out in zip(procs, outs):
        assert proc.returncode == 0, out[-3000:]
    names = sorted(n for n in os.listdir(works[0]) if n.endswith('.pt'))
    assert f'{h.SPICE_RUN_NAME}_last.pt' in names
    assert names == sorted(n for n in os.listdir(works[1]) if n.endswith('.pt'))
    for name in names:
        a, b = (h.load(os.path.join(w, name)) for w in works)
        assert h.diff_states(a['model'], b['model'], 'model') == [], name
        assert [p for key in h.COMPARED_KEYS for p in h.diff_states(a[key], b[key], key)] == [], \
            name
    assert h.log_problems(works[0], works[1]) == []
