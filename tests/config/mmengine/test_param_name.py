"""param_name schedulers (weight decay) give MMEngine's values step by step, resume, and show in
the schedule simulation; a wrong param_name is an error before training."""
import copy
import csv
import os

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.optim.scheduler import (
    CosineAnnealingLR,
    CosineAnnealingParamScheduler,
    LinearLR,
    LinearParamScheduler,
)

from tests.config.test_validate import problems
from tests.support.configs import ROOT
from tools import vis_scheduler
from trainkit.engine.runner import Runner
from trainkit.hooks.hook import Hook
from trainkit.optim.schedule.simulate import simulate_schedule

# the reference drives mmengine's schedulers by hand, which makes them warn about the step order
pytestmark = pytest.mark.filterwarnings(r'ignore:Detected call of `scheduler.step\(\)`')
EPOCHS, STEPS = 4, 4  # tiny_cfg: 64 samples, batch 16
SCHEDULES = {
    'by-epoch': [dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
                      eta_min=1e-5, by_epoch=True, begin=0, end=EPOCHS)],
    'converted': [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
                       convert_to_iter_based=True),
                  dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
                       eta_min=1e-5, by_epoch=True, begin=0, end=EPOCHS,
                       convert_to_iter_based=True)],
    'by-iter': [dict(type='LinearParamScheduler', param_name='weight_decay', start_factor=1.0,
                     end_factor=0.1, by_epoch=False, begin=2, end=10),
                dict(type='CosineAnnealingLR', by_epoch=True, T_max=EPOCHS)],
}
CLASSES = {'CosineAnnealingParamScheduler': CosineAnnealingParamScheduler,
           'LinearLR': LinearLR, 'LinearParamScheduler': LinearParamScheduler,
           'CosineAnnealingLR': CosineAnnealingLR}


class Record(Hook):
    """weight_decay and lr used by every optimizer step."""

    priority = 'HIGHEST'

    def __init__(self):
        self.values = []

    def before_train_iter(self, runner, batch_idx, batch):
        group = runner.optim_wrapper.optimizer.param_groups[0]
        self.values.append((group['lr'], group['weight_decay']))


def mmengine_values(entries):
    """What MMEngine's Runner does: its own schedulers, iteration-based ones stepped after
    every iteration, epoch-based ones after every epoch (ParamSchedulerHook)."""
    param = torch.nn.Parameter(torch.zeros(2))
    wrapper = OptimWrapper(torch.optim.AdamW([param], lr=1e-2, weight_decay=0.01))
    schedulers = []
    for entry in copy.deepcopy(entries):
        cls = CLASSES[entry.pop('type')]
        if entry.pop('convert_to_iter_based', False):
            schedulers.append(cls.build_iter_from_epoch(wrapper, epoch_length=STEPS, **entry))
        else:
            schedulers.append(cls(wrapper, **entry))
    values = []
    for _ in range(EPOCHS):
        for _ in range(STEPS):
            group = wrapper.optimizer.param_groups[0]
            values.append((group['lr'], group['weight_decay']))
            wrapper.optimizer.step()
            for s in schedulers:
                if not s.by_epoch:
                    s.step()
        for s in schedulers:
            if s.by_epoch:
                s.step()
    return values


def _cfg(tiny_cfg, entries):
    cfg = copy.deepcopy(tiny_cfg)
    cfg['optim_wrapper']['optimizer']['weight_decay'] = 0.01
    cfg['param_scheduler'] = copy.deepcopy(entries)
    return cfg


@pytest.mark.parametrize('name', list(SCHEDULES))
def test_weight_decay_equals_mmengine_step_by_step(tiny_cfg, name):
    record = Record()
    runner = Runner.from_cfg(_cfg(tiny_cfg, SCHEDULES[name]))
    runner.hooks.append(record)
    runner.train()
    expected = mmengine_values(SCHEDULES[name])
    assert len(record.values) == len(expected) == EPOCHS * STEPS
    for step, (got, want) in enumerate(zip(record.values, expected)):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15), step
    assert len({wd for _, wd in expected}) > 3  # the schedule really moves


def test_simulation_shows_weight_decay(tiny_cfg):
    runner = Runner.from_cfg(_cfg(tiny_cfg, SCHEDULES['converted']))
    rows = simulate_schedule(runner.optim_wrapper, runner.schedule, EPOCHS, STEPS)
    expected = mmengine_values(SCHEDULES['converted'])
    assert [r['weight_decay_g0'] for r in rows] == pytest.approx([wd for _, wd in expected])


def test_resumed_weight_decay_continues_exactly(tiny_cfg, tmp_path):
    straight = Record()
    runner = Runner.from_cfg(_cfg(tiny_cfg, SCHEDULES['converted']))
    runner.hooks.append(straight)
    runner.train()
    cfg = _cfg(tiny_cfg, SCHEDULES['converted'])
    cfg.update(work_dir=str(tmp_path / 'b'), train_cfg=dict(max_epochs=2))
    Runner.from_cfg(cfg).train()
    cfg['train_cfg'] = dict(max_epochs=EPOCHS)
    cfg['resume'] = True
    resumed = Record()
    runner = Runner.from_cfg(cfg)
    runner.hooks.append(resumed)
    runner.train()
    assert resumed.values == straight.values[2 * STEPS:]


@pytest.mark.parametrize('param_name, expected', [
    ('weight_decy', "has no setting 'weight_decy' — did you mean 'weight_decay'?"),
    ('betas', "use a ...Momentum scheduler"),
])
def test_wrong_param_name_is_an_error(tiny_cfg, param_name, expected):
    entries = [dict(type='CosineAnnealingParamScheduler', param_name=param_name, by_epoch=True)]
    with pytest.raises(Exception) as err:
        Runner.from_cfg(_cfg(tiny_cfg, entries))
    assert expected in str(err.value)


def test_param_name_of_an_lr_scheduler_still_refused(tiny_cfg):
    entries = [dict(type='CosineAnnealingLR', param_name='weight_decay', by_epoch=True)]
    assert any("CosineAnnealingLR got an unexpected argument 'param_name'" in p
               for p in problems(_cfg(tiny_cfg, entries)))


def test_vis_scheduler_plots_and_dumps_weight_decay(tmp_path):
    csv_path, png = tmp_path / 's.csv', tmp_path / 's.png'
    code = vis_scheduler.main([os.path.join(ROOT, 'configs', 'mmengine_style',
                                            'spice_mmengine.py'), '--iters-per-epoch', '4',
                               '--epochs', '3', '--dump', str(csv_path), '--save-path', str(png)])
    assert code == 0 and png.stat().st_size > 0
    with open(csv_path) as f:
        table = list(csv.DictReader(f))
    decay = [float(row['weight_decay_g0']) for row in table]
    assert decay[0] == 1e-4 and decay[4] < decay[3] and len(set(decay)) == 3
