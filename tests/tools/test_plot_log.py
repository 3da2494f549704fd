"""tools/plot_log.py on two tiny runs: a picture per key set, and the summary table."""
import os
import subprocess
import sys

from tests.support.configs import ROOT, tiny_config
from trainkit.engine.runner import Runner

TOOL = os.path.join(ROOT, 'tools', 'plot_log.py')


def _plot(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True,
                          timeout=120, check=True).stdout


def test_two_runs_plotted_and_summarised(tmp_path):
    for name in ('a', 'b'):
        cfg = tiny_config(tmp_path / name, run_name=name, train_cfg=dict(max_epochs=2))
        Runner.from_cfg(cfg).train()
    runs = [str(tmp_path / 'a'), str(tmp_path / 'b')]
    one, two = tmp_path / 'loss.png', tmp_path / 'lr.png'
    _plot(*runs, '--keys', 'loss', '--out', str(one))
    _plot(*runs, '--keys', 'lr', '--logy', '--out', str(two))
    assert 5_000 < one.stat().st_size < 2_000_000
    assert one.read_bytes() != two.read_bytes()
    table = _plot(*runs, '--summary', '--keys', 'loss')
    assert table.splitlines()[1].startswith('a') and table.splitlines()[2].startswith('b')
