"""TrackingHook: the logger's rows reach TensorBoard at the global step, also across a resume."""
import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.support.components import Crash
from tests.support.configs import ROOT, tiny_config
from trainkit.engine.run_log import RunLog
from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError
from trainkit.hooks.logger import TIMING_FIELDS
from trainkit.hooks.tracking import _SKIP, TrackingHook, check_backends

TB = [dict(type='TensorboardVisBackend')]


def _cfg(work_dir, **overrides):
    cfg = tiny_config(work_dir, **overrides)
    cfg['default_hooks'] = dict(cfg['default_hooks'],
                                logger=dict(type='LoggerHook', log_steps=2, progress_bar=False,
                                            json_file='loss.jsonl'),
                                tracking=dict(type='TrackingHook', vis_backends=TB))
    return cfg


def _events(work_dir):
    """{tag: [(step, value), ...]} as TensorBoard reads the run's event files."""
    acc = EventAccumulator(os.path.join(work_dir, 'vis_data'))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()['scalars']}


def _scalars(work_dir):
    return {tag: [step for step, _ in points] for tag, points in _events(work_dir).items()}


def _logged(work_dir):
    """{tag: [(step, value), ...]} the JSON rows say TensorBoard should hold."""
    out = {}
    with open(os.path.join(work_dir, 'loss.jsonl')) as f:
        for row in map(json.loads, f):
            for key, value in row.items():
                if key not in _SKIP and isinstance(value, (int, float)) and \
                        not isinstance(value, bool):
                    out.setdefault(f"{row['kind']}/{key}", []).append((row['step'], value))
    return out


def _same_points(got, want, leave_out=TIMING_FIELDS):
    """Same tags and steps; equal values (float32, as TensorBoard stores them) except for the
    wall-clock fields, which differ between two runs."""
    assert sorted(got) == sorted(want)
    for tag in want:
        assert [s for s, _ in got[tag]] == [s for s, _ in want[tag]], tag
        if tag.split('/', 1)[1] not in leave_out:
            assert [v for _, v in got[tag]] == pytest.approx([v for _, v in want[tag]],
                                                             rel=1e-6), tag


def _json_steps(work_dir, kind):
    with open(os.path.join(work_dir, 'loss.jsonl')) as f:
        return [r['step'] for r in map(json.loads, f) if r['kind'] == kind]


def test_every_logged_scalar_at_its_step(tmp_path):
    Runner.from_cfg(_cfg(tmp_path)).train()
    assert glob.glob(str(tmp_path / 'vis_data' / 'events.out.tfevents.*'))
    scalars = _scalars(str(tmp_path))
    assert scalars['train/lr'] == _json_steps(str(tmp_path), 'train') == [2, 4, 6, 8, 10, 12,
                                                                          14, 16]
    assert any(tag.startswith('val/') for tag in scalars)
    val_tag = next(tag for tag in scalars if tag.startswith('val/'))
    assert scalars[val_tag] == _json_steps(str(tmp_path), 'val') == [4, 8, 12, 16]
    # every number of every JSON row, at its row's step, and nothing else
    _same_points(_events(str(tmp_path)), _logged(str(tmp_path)), leave_out=())
    assert {'train/loss', 'train/iter_time', 'train/data_time', 'val/weighted_mae',
            'epoch/mean_loss', 'epoch/eta', 'summary/steps_per_s'} <= set(scalars)


def test_resume_after_a_lost_epoch_matches_a_straight_run(tmp_path):
    """A run writes epoch 3 past its epoch-2 checkpoint and dies; resuming from that
    checkpoint drops the lost epoch's points, and the curves equal a straight run's."""
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    Runner.from_cfg(_cfg(straight)).train()
    with pytest.raises(Crash):
        Runner.from_cfg(_cfg(split, custom_hooks=[dict(type='CrashAfterEpoch', epoch=2)])).train()
    shutil.copy(split / 'tiny_last.pt', tmp_path / 'epoch2.pt')
    with pytest.raises(Crash):  # epoch 3 is written, then its checkpoint is lost
        Runner.from_cfg(_cfg(split, resume=True,
                             custom_hooks=[dict(type='CrashAfterEpoch', epoch=3)])).train()
    assert 12 in _scalars(str(split))['train/lr']
    Runner.from_cfg(_cfg(split, resume=True, ckpt_file=str(tmp_path / 'epoch2.pt'))).train()
    got, want = _events(str(split)), _events(str(straight))
    # the straight run's curves, every point once; a crashed run writes no summary point
    assert [s for s, _ in got['summary/steps_per_s']] == [16]
    _same_points(got, want)


def test_resume_continues_the_curves_without_duplicates(tmp_path):
    Runner.from_cfg(_cfg(tmp_path, train_cfg=dict(max_epochs=2))).train()
    Runner.from_cfg(_cfg(tmp_path, resume=True)).train()
    steps = _scalars(str(tmp_path))['train/lr']
    assert steps == sorted(set(steps)) == [2, 4, 6, 8, 10, 12, 14, 16]


def test_missing_backend_package_is_named(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'wandb' else real(name, *a))
    with pytest.raises(ConfigError, match="WandbVisBackend needs the package 'wandb'"):
        check_backends([dict(type='WandbVisBackend')])
    with pytest.raises(ConfigError, match='wandb'):
        Runner.from_cfg(tiny_config('unused', default_hooks=dict(
            tracking=dict(type='TrackingHook', vis_backends=[dict(type='WandbVisBackend')]))))


@pytest.mark.parametrize('key', ['vis_backends', 'visualizer'])
def test_mmengine_vis_backends_config_runs_unchanged(tmp_path, key):
    cfg = tiny_config(tmp_path, train_cfg=dict(max_epochs=1))
    cfg[key] = (TB if key == 'vis_backends' else
                dict(type='Visualizer', vis_backends=TB, name='visualizer'))
    Runner.from_cfg(cfg).train()
    assert _scalars(str(tmp_path))['train/lr'] == [2, 4]


@pytest.mark.parametrize('backend, package', [('WandbVisBackend', 'wandb'),
                                              ('MLflowVisBackend', 'mlflow')])
def test_cli_exit_2_names_the_missing_package(tmp_path, backend, package):
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f'{package} installed')
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(f"_base_ = [{os.path.join(ROOT, 'configs', 'mlp_regression.py')!r}]\n"
                        f"vis_backends = [dict(type={backend!r})]\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'train.py'), str(cfg_file),
                          '--work-dir', str(tmp_path / 'w')], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 2, out.stderr
    assert f"{backend} needs the package '{package}'" in out.stdout + out.stderr
    assert 'Traceback' not in out.stderr and not (tmp_path / 'w').exists()


def test_other_ranks_build_no_backend_and_write_nothing(tmp_path):
    hook = TrackingHook()
    log = RunLog(is_main=False)
    hook.before_run(SimpleNamespace(is_main=False, work_dir=str(tmp_path), step=0, log=log))
    log.record({'kind': 'train', 'step': 2, 'loss': 1.0})
    hook.after_run(None)
    assert hook._backends == [] and log.sinks == [] and not os.listdir(tmp_path)


def test_train_rows_carry_step_and_data_time_and_the_run_ends_with_a_summary(tmp_path):
    Runner.from_cfg(_cfg(tmp_path, train_cfg=dict(max_epochs=1))).train()
    with open(tmp_path / 'loss.jsonl') as f:
        rows = [json.loads(line) for line in f]
    train = [r for r in rows if r['kind'] == 'train']
    assert all(0 <= r['data_time'] < r['iter_time'] for r in train)
    summary = rows[-1]
    assert summary['kind'] == 'summary' and summary['step'] == 4
    assert summary['steps_per_s'] > 0 and summary['total_time'] > 0
    assert 'train/iter_time' in _scalars(str(tmp_path))


@pytest.mark.slow
def test_only_rank_0_writes_events_under_ddp(tmp_path):
    cfg = _cfg(tmp_path / 'work', train_cfg=dict(max_epochs=2))
    cfg_path = tmp_path / 'ddp.py'
    cfg_path.write_text('\n'.join(f'{k} = {v!r}' for k, v in cfg.items()))
    run = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
                          '--standalone', os.path.join(ROOT, 'tools', 'train.py'),
                          str(cfg_path)], capture_output=True, text=True, cwd=tmp_path,
                         env=dict(os.environ, OMP_NUM_THREADS='1'), timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    work = str(tmp_path / 'work')
    assert len(glob.glob(os.path.join(work, 'vis_data', 'events.out.tfevents.*'))) == 1
    # 64 samples on 2 ranks, batch 16: 2 steps an epoch, a row every 2 steps, each point once
    _same_points(_events(work), _logged(work), leave_out=())
    assert _scalars(work)['train/lr'] == [2, 4]
