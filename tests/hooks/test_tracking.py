"""TrackingHook: the logger's rows reach TensorBoard at the global step, also across a resume."""
import glob
import importlib.util
import json
import os
import subprocess
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.support.configs import ROOT, tiny_config
from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError
from trainkit.hooks.tracking import check_backends

TB = [dict(type='TensorboardVisBackend')]


def _cfg(work_dir, **overrides):
    cfg = tiny_config(work_dir, **overrides)
    cfg['default_hooks'] = dict(cfg['default_hooks'],
                                logger=dict(type='LoggerHook', log_steps=2, progress_bar=False,
                                            json_file='loss.jsonl'),
                                tracking=dict(type='TrackingHook', vis_backends=TB))
    return cfg


def _scalars(work_dir):
    acc = EventAccumulator(os.path.join(work_dir, 'vis_data'))
    acc.Reload()
    return {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()['scalars']}


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


def test_cli_exit_2_names_the_missing_package(tmp_path):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(f"_base_ = [{os.path.join(ROOT, 'configs', 'mlp_regression.py')!r}]\n"
                        "vis_backends = ["
                        "dict(type='MLflowVisBackend')]\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'train.py'), str(cfg_file),
                          '--work-dir', str(tmp_path / 'w')], capture_output=True, text=True,
                         env=env, timeout=120)
    if importlib.util.find_spec('mlflow') is not None:
        pytest.skip('mlflow installed')
    assert out.returncode == 2, out.stderr
    assert "needs the package 'mlflow'" in out.stdout + out.stderr


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
