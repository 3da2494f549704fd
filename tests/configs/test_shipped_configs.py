"""Every shipped config loads, validates and builds; every base schedule drives a Runner."""
import glob
import os

import pytest

from tests.support.configs import ROOT, tiny_config
from trainkit.config.load import load_config
from trainkit.engine.from_cfg import prepare_config
from trainkit.engine.runner import Runner
from trainkit.optim.schedule.simulate import simulate_schedule

TOP_LEVEL = sorted(glob.glob(os.path.join(ROOT, 'configs', '*.*')))
SCHEDULES = sorted(glob.glob(os.path.join(ROOT, 'configs', '_base_', 'schedules', '*.py')))


def test_the_configs_are_found():
    names = {os.path.basename(p) for p in TOP_LEVEL}
    assert {'spice.py', 'spice_reference.yaml', 'mlp_regression.py'} <= names
    assert len(SCHEDULES) >= 5


@pytest.mark.parametrize('path', TOP_LEVEL, ids=os.path.basename)
def test_top_level_config_validates(path, tmp_path):
    cfg = load_config(path, [f'work_dir={tmp_path}'] if path.endswith('.py') else [])
    plain = prepare_config(cfg)
    assert plain['model']['type'] and plain['optim_wrapper']['optimizer']['type']
    assert plain['train_cfg']['max_epochs'] >= 1


@pytest.mark.parametrize('path', SCHEDULES, ids=os.path.basename)
def test_base_schedule_drives_a_runner(path, tmp_path):
    schedule = load_config(path).to_dict()
    cfg = tiny_config(tmp_path / 'w')
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg', 'auto_scale_lr'):
        cfg.pop(key, None)
        if key in schedule:
            cfg[key] = schedule[key]
    if schedule['optim_wrapper'].get('constructor') == 'LayerDecayOptimWrapperConstructor':
        cfg['model'] = dict(type='MLP', in_features=4, hidden=[8, 8])
        cfg['optim_wrapper']['paramwise_cfg']['block_attr'] = 'net'
    runner = Runner.from_cfg(cfg)
    rows = simulate_schedule(runner.optim_wrapper, runner.schedule, 3, runner.steps_per_epoch)
    lrs = [row['lr_g0'] for row in rows]
    assert len(lrs) == 3 * runner.steps_per_epoch and all(lr > 0 for lr in lrs)
    base_lr = schedule['optim_wrapper']['optimizer']['lr']
    assert max(lrs) <= base_lr * (runner.lr_scale or 1.0) * (1 + 1e-9)
