"""The benchmarks run from a checkout and their built-in checks hold, at toy sizes.

Each bench is called in-process with tiny settings; the tests read the printed markdown tables
and assert what the benches promise: the frameworks train to the same weights as the raw loop,
all EMA variants keep the same shadow weights, the checkpoint file holds the tensors and little
else, validation metrics agree, and ``-X importtime`` output is parsed as Python prints it.
No timing is asserted.
"""
import contextlib
import importlib.util
import io
import os
import subprocess
import sys

import pytest

from tests.support.configs import ROOT

BENCH = os.path.join(ROOT, 'bench')


def _load(name):
    """Import bench/<name>.py as ``bench_<name>`` (bench/ goes on sys.path for its helpers)."""
    if BENCH not in sys.path:
        sys.path.insert(0, BENCH)
    spec = importlib.util.spec_from_file_location(f'bench_{name}', os.path.join(BENCH,
                                                                              f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(name, argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert _load(name).main(argv) == 0
    return out.getvalue()


def _table(text, first_header):
    """Rows (lists of cells) of the markdown table whose first header cell is given."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f'| {first_header} |'))
    header = [c.strip() for c in lines[start].strip('|').split('|')]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith('|'):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip('|').split('|')))))
    return rows


def test_overhead_frameworks_train_to_the_raw_loops_weights():
    text = _run('overhead', ['--epochs', '1', '--iters-per-epoch', '12', '--repeats', '1',
                             '--only', 'trainkit', 'mmengine'])
    rows = {r['variant']: r for r in _table(text, 'variant')}
    assert set(rows) == {'raw loop', 'trainkit', 'trainkit + EMAHook',
                         'trainkit without CheckpointHook', 'trainkit + TrackingHook',
                         'mmengine', 'mmengine + EMAHook'}
    for name, row in rows.items():
        assert float(row['max Δ weight vs raw (abs)']) == 0.0, name
        assert float(row['Δ loss vs raw (abs)']) == 0.0, name
    targets = {r['ratio']: r for r in _table(text, 'ratio')}
    assert targets['trainkit / raw loop']['target'] == '≤ 1.05'
    assert float(targets['trainkit + TrackingHook / trainkit']['wall (median of paired)']) > 0
    tracking = _table(text, 'tracking')
    assert len(tracking) == 2 and all(float(r['µs per log row']) > 0 for r in tracking)


def test_ema_variants_keep_the_same_shadow():
    text = _run('ema', ['--layers', '3', '--width', '8', '--rounds', '2', '--number', '2'])
    rows = _table(text, 'variant')
    assert len(rows) == 5
    assert all(float(r['max Δ shadow vs bare (abs)']) <= 1e-7 for r in rows), rows
    assert 'tensors=6' in text


def test_checkpoint_file_is_the_tensors_plus_a_little():
    text = _run('checkpoint', ['--models', 'small', '--repeats', '1'])
    sizes = {r['file']: int(r['bytes'].replace(',', '')) for r in _table(text, 'file')}
    ours, plain = sizes['trainkit `bench_last.pt`'], sizes['`torch.save` of the same dict']
    tensors = sizes['tensor bytes in the dict']
    assert tensors < plain <= ours < plain * 1.01  # same tensors, a few more bytes of meta
    saves = [r['save'] for r in _table(text, 'save')]
    assert saves[0].startswith('trainkit CheckpointHook') and 'torch.save + fsync' in saves


def test_validation_loops_agree():
    text = _run('validation', ['--samples', '256', '--batch-size', '64', '--repeats', '1'])
    rows = _table(text, 'loop')
    assert [r['loop'] for r in rows] == ['hand-written no_grad loop', 'trainkit Runner.val()']
    worst = float(text.split('largest relative difference ')[1].split(')')[0])
    assert worst <= 1e-6


def test_importtime_output_is_parsed_by_nesting():
    stderr = ('import time: self [us] | cumulative | imported package\n'
              'import time:       100 |        100 |   _io\n'
              'import time:       300 |        400 | site\n'
              'import time:       200 |        200 |     torch._C\n'
              'import time:      1000 |       1500 |   torch.nn\n'
              'import time:      2500 |       4000 | torch\n'
              'import time:        50 |         50 | trainkit\n')
    record = _load('startup').parse_importtime(stderr, top=2)
    assert record == [('(all imports)', 0.0, 4.45), ('torch', 2.5, 4.0), ('site', 0.3, 0.4)]


def test_breakdown_measures_every_piece_it_names():
    """Pieces reach into trainkit's internals and print n/a when those change: none may."""
    text = _run('overhead_breakdown', ['--quick', '--skip-ablation'])
    steps = _table(text, 'piece')
    assert len(steps) == 8 and not [r for r in steps if r['note'].startswith('n/a')]
    loop = _table(text, 'piece (default hooks; nested calls are inside their caller)')
    assert {r['piece (default hooks; nested calls are inside their caller)'] for r in loop} >= {
        'NanGuardHook.before_backward', 'LoggerHook.after_train_iter', 'LoggerHook._train_row',
        'CheckpointHook.after_train_epoch', 'checkpoint.serialize', 'BackgroundWriter.submit',
        'BackgroundWriter.wait', 'checkpoint.atomic_write (writer thread, beside training)'}
    assert all(int(r['calls'].replace(',', '')) > 0 for r in loop)


@pytest.mark.slow
def test_checkpoint_interval_changes_no_number():
    """Mid-epoch checkpoints every 2 steps: the same final weights, and the files counted."""
    text = _run('checkpoint_interval', ['--intervals', '2', '--rounds', '1', '--epochs', '1',
                                        '--molecules', '5'])
    rows = _table(text, 'mid-epoch checkpoints')
    assert [r['mid-epoch checkpoints written'] for r in rows] == ['0', '2']
    assert 'final weights identical in every setting: True' in text


@pytest.mark.parametrize('name', ['overhead', 'overhead_breakdown', 'startup', 'ema',
                                  'checkpoint', 'validation', 'checkpoint_interval'])
def test_every_bench_documents_its_command(name):
    with open(os.path.join(BENCH, f'{name}.py'), encoding='utf-8') as f:
        assert f'python bench/{name}.py' in f.read()


@pytest.mark.parametrize('name', ['overhead', 'startup', 'checkpoint', 'ema', 'validation'])
def test_bench_starts_as_a_user_runs_it(name, tmp_path):
    """``python bench/NAME.py --help`` from another folder, with no PYTHONPATH: the bench finds
    its helpers and trainkit by itself (an import of the test package would fail here)."""
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    result = subprocess.run([sys.executable, os.path.join(BENCH, f'{name}.py'), '--help'],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('usage:')
