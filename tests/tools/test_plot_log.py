"""tools/plot_log.py on two tiny runs: the picture (size, pixels, one change of key changes it),
kind-qualified keys, EMA rows apart, the summary table, and exit 2 on a key no run logged."""
import json
import os
import struct
import subprocess
import sys

import pytest

from tests.support.configs import ROOT, tiny_config
from tools.plot_log import load_rows, main, series
from trainkit.engine.runner import Runner

TOOL = os.path.join(ROOT, 'tools', 'plot_log.py')


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """Two 2-epoch runs that differ in the learning rate, the second validating EMA weights."""
    root = tmp_path_factory.mktemp('runs')
    for name, lr, hooks in (('a', 1e-2, {}), ('b', 3e-2, {'ema': dict(type='EMAHook')})):
        cfg = tiny_config(root / name, run_name=name, train_cfg=dict(max_epochs=2),
                          optim_wrapper=dict(optimizer=dict(type='AdamW', lr=lr)))
        cfg['default_hooks'] = dict(cfg['default_hooks'], **hooks)
        Runner.from_cfg(cfg).train()
    return [str(root / 'a'), str(root / 'b')]


def _png_size(path):
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == b'\x89PNG\r\n\x1a\n'
    return struct.unpack('>II', head[16:24])


def test_picture_per_key_set(runs, tmp_path, capsys):
    pictures = {}
    for name, keys in (('three', ['loss', 'val_y_mae', 'lr']),
                       ('again', ['loss', 'val_y_mae', 'lr']),
                       ('rmse', ['loss', 'val_y_rmse', 'lr']),
                       ('lr', ['lr'])):
        out = tmp_path / f'{name}.png'
        assert main([*runs, '--keys', *keys, '--out', str(out)]) == 0
        pictures[name] = out.read_bytes()
        assert 10_000 < len(pictures[name]) < 2_000_000
    assert 'wrote' in capsys.readouterr().out
    assert _png_size(tmp_path / 'three.png') == (1500, 360)  # a 5 x 3.6 in panel per key
    assert _png_size(tmp_path / 'lr.png') == (500, 360)
    assert pictures['three'] == pictures['again']  # same logs and keys: the same picture
    assert pictures['three'] != pictures['rmse']   # one key changed: another picture
    one_run = tmp_path / 'one.png'
    main([runs[0], '--keys', 'loss', 'val_y_mae', 'lr', '--out', str(one_run)])
    assert one_run.read_bytes() != pictures['three']


def test_kinds_and_ema_rows_are_separate_lines(runs):
    rows = load_rows(runs[1])
    lines = series(rows, 'loss', None, 'step')
    assert set(lines) == {('train', False), ('val', True)}  # run b validates the EMA weights
    val = [r for r in rows if r['kind'] == 'val']
    assert lines[('val', True)] == ([r['step'] for r in val], [r['loss'] for r in val])
    # --x epoch puts train rows between the epochs (4 steps an epoch, a row every 2)
    assert series(rows, 'lr', 'train', 'epoch')[('train', False)][0] == [0.5, 1.0, 1.5, 2.0]


def test_summary_table(runs, capsys):
    assert main([*runs, '--summary', '--keys', 'val_y_mae']) == 0
    header, a, b = capsys.readouterr().out.splitlines()
    assert header.split()[:3] == ['run', 'best', 'val_y_mae'] and 'samples/s' in header
    with open(os.path.join(runs[0], 'loss.jsonl')) as f:
        val = [r for r in map(json.loads, f) if r['kind'] == 'val']
    best = min(val, key=lambda r: r['y_mae'])
    name, value, epoch = a.split()[:3]
    assert (name, float(value), int(epoch)) == ('a', pytest.approx(best['y_mae'], rel=1e-5),
                                                best['epoch'])
    assert b.startswith('b') and float(a.split()[3]) > 0  # steps/s from the summary row


def test_unknown_key_exits_2_with_the_nearest_keys(runs, tmp_path):
    out = subprocess.run([sys.executable, TOOL, *runs, '--keys', 'val_y_mea', '--out',
                          str(tmp_path / 'x.png')], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and 'Traceback' not in out.stderr
    assert "no run logged 'val_y_mea' — did you mean 'val_y_mae'" in out.stderr
    assert not (tmp_path / 'x.png').exists()


def test_missing_run_is_a_clear_error(tmp_path, capsys):
    assert main([str(tmp_path / 'nope'), '--keys', 'loss']) == 2
    assert 'no such file or directory' in capsys.readouterr().err
