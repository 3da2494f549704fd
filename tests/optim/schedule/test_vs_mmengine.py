"""LR and momentum, step by step, against MMEngine's own Runner on MMEngine-style configs.

Every case runs a real ``mmengine.runner.Runner`` (a tiny ``BaseModel``, a tiny dataset,
``EpochBasedTrainLoop``, no validation, only the hooks the schedule needs) and records, in
``before_train_iter``, the LR/momentum of every parameter group that the iteration's optimizer
step uses. The same config is then run by trainkit's Runner (recorded by a trainkit hook at the
same point) and simulated by :func:`trainkit.optim.schedule.simulate.simulate_schedule` (what
``tools/vis_scheduler.py`` draws); all three must agree to ~1e-12 relative at every step.

All cases use ``accumulative_counts=1``. With accumulation the two frameworks differ by
design: MMEngine steps iteration-based schedulers after every *iteration* (batch) and converts
epochs with ``len(train_dataloader)`` batches, while trainkit steps them after every *optimizer
step* and converts epochs with the optimizer steps per epoch (``ceil(batches / N)``), so a
schedule keeps its shape in optimizer steps whatever N is. Likewise MMEngine's
``auto_scale_lr`` uses batch × ranks, trainkit batch × ranks × accumulation; with N = 1 both
are the same.
"""
import itertools
import logging
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from trainkit.engine.runner import Runner
from trainkit.hooks.hook import Hook
from trainkit.optim import build_optim_wrapper, build_param_schedule, scale_lr
from trainkit.optim.schedule.simulate import simulate_schedule

mmengine_runner = pytest.importorskip('mmengine.runner')
from mmengine.dataset import default_collate  # noqa: E402
from mmengine.hooks import Hook as MMHook  # noqa: E402
from mmengine.model import BaseModel  # noqa: E402

NUM_SAMPLES, BATCH = 9, 2          # 5 batches per epoch, the last one short
ITERS = math.ceil(NUM_SAMPLES / BATCH)
_RUN_IDS = itertools.count()


class PairData(Dataset):
    def __init__(self, n=NUM_SAMPLES):
        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(n, 3, generator=g), torch.randn(n, 1, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {'x': self.x[i], 'y': self.y[i]}


class TinyNet(BaseModel):
    """Works under both runners: MMEngine calls ``forward(x=..., y=..., mode='loss')``,
    trainkit ``forward(batch)``; both get ``{'loss': ...}``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Linear(3, 4)
        self.norm = nn.LayerNorm(4)
        self.head = nn.Linear(4, 1)

    def forward(self, batch=None, mode='loss', **kwargs):
        batch = batch if batch is not None else kwargs
        pred = self.head(self.norm(self.body(batch['x'])))
        return {'loss': ((pred - batch['y']) ** 2).mean()}


def _values(param_groups):
    lrs = [g['lr'] for g in param_groups]
    moms = [g['momentum'] if 'momentum' in g else g['betas'][0] for g in param_groups]
    return lrs + moms


class MMRecorder(MMHook):
    def __init__(self):
        self.rows = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.rows.append(_values(runner.optim_wrapper.optimizer.param_groups))


class TKRecorder(Hook):
    def __init__(self):
        self.rows = []

    def before_train_iter(self, runner, batch_idx, batch):
        self.rows.append(_values(runner.optim_wrapper.optimizer.param_groups))


def run_mmengine(case, work_dir):
    recorder = MMRecorder()
    runner = mmengine_runner.Runner(
        model=TinyNet(), work_dir=str(work_dir),
        train_dataloader=DataLoader(PairData(), batch_size=BATCH, collate_fn=default_collate),
        train_cfg=dict(by_epoch=True, max_epochs=case['max_epochs']),
        optim_wrapper=case['optim_wrapper'], param_scheduler=case['param_scheduler'],
        auto_scale_lr=case.get('auto_scale_lr'),
        default_hooks=dict(runtime_info=None, timer=None, logger=None, checkpoint=None,
                           sampler_seed=None),
        custom_hooks=[recorder], log_level='WARNING', default_scope=None,
        experiment_name=f'vs-mmengine-{next(_RUN_IDS)}')
    runner.train()
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    return recorder.rows


def run_trainkit(case, work_dir):
    recorder = TKRecorder()
    runner = Runner(TinyNet(), DataLoader(PairData(), batch_size=BATCH), None,
                    optim_wrapper=case['optim_wrapper'],
                    param_scheduler=case['param_scheduler'], max_epochs=case['max_epochs'],
                    auto_scale_lr=case.get('auto_scale_lr'), hooks=[recorder],
                    work_dir=str(work_dir), seed=0, device='cpu')
    runner.train()
    return recorder.rows


def simulate_trainkit(case):
    model = TinyNet()
    wrapper = build_optim_wrapper(model, case['optim_wrapper'])
    scale_lr(wrapper, case.get('auto_scale_lr'), BATCH, log=lambda msg: None)
    schedule = build_param_schedule(case['param_scheduler'], wrapper, case['max_epochs'], ITERS)
    rows = simulate_schedule(wrapper, schedule, case['max_epochs'], ITERS)
    groups = len(wrapper.optimizer.param_groups)
    return [[row[f'lr_g{i}'] for i in range(groups)] + [row[f'mom_g{i}'] for i in range(groups)]
            for row in rows]


SGD = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)
ADAMW = dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05)

CASES = {
    # MMPretrain's ViT/Swin style: linear warmup over N epochs converted to iterations, then
    # cosine from epoch N to the end; two parameter groups through paramwise_cfg.
    'linear_warmup_then_cosine': dict(
        max_epochs=6,
        optim_wrapper=dict(optimizer=ADAMW, paramwise_cfg=dict(
            norm_decay_mult=0.0, bias_decay_mult=0.0, custom_keys={'head': dict(lr_mult=0.1)})),
        param_scheduler=[
            dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=2,
                 convert_to_iter_based=True),
            dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=2,
                 convert_to_iter_based=True)]),
    # MMPretrain's ResNet style: SGD, step decay at epoch milestones, auto_scale_lr on
    # (base batch 4, real batch 2: LR halved before the schedulers capture it).
    'multistep_by_epoch_auto_scale_lr': dict(
        max_epochs=6,
        optim_wrapper=dict(optimizer=SGD),
        param_scheduler=dict(type='MultiStepLR', by_epoch=True, milestones=[2, 4], gamma=0.1),
        auto_scale_lr=dict(base_batch_size=4, enable=True)),
    # iteration-based linear decay from iteration 3 to 17 after an iteration-based constant
    # warmup, then a per-epoch exponential decay on top (chained schedulers).
    'linear_decay_by_iter': dict(
        max_epochs=5,
        optim_wrapper=dict(optimizer=SGD),
        param_scheduler=[
            dict(type='ConstantLR', factor=0.5, by_epoch=False, begin=0, end=3),
            dict(type='LinearLR', start_factor=1.0, end_factor=0.05, by_epoch=False,
                 begin=3, end=17),
            dict(type='ExponentialLR', gamma=0.9, by_epoch=True, begin=3)]),
    # cosine LR and cosine momentum together (SGD momentum), iteration-converted.
    'cosine_momentum_sgd': dict(
        max_epochs=5,
        optim_wrapper=dict(optimizer=SGD, paramwise_cfg=dict(bias_lr_mult=2.0)),
        param_scheduler=[
            dict(type='CosineAnnealingLR', T_max=4, eta_min=1e-3, by_epoch=True,
                 convert_to_iter_based=True),
            dict(type='CosineAnnealingMomentum', T_max=5, eta_min=0.85, by_epoch=True,
                 convert_to_iter_based=True)],
        auto_scale_lr=dict(base_batch_size=1, enable=True)),
    # momentum of an Adam-style optimizer is β₁; linear momentum by iteration.
    'adamw_beta1_schedule': dict(
        max_epochs=4,
        optim_wrapper=dict(optimizer=ADAMW),
        param_scheduler=[
            dict(type='OneCycleLR', eta_max=1e-2, total_steps=4 * ITERS, by_epoch=False),
            dict(type='LinearMomentum', start_factor=0.9, end_factor=1.0, by_epoch=False,
                 begin=0, end=10)]),
}


def assert_rows_close(actual, expected, label):
    assert len(actual) == len(expected), f'{label}: {len(actual)} steps vs {len(expected)}'
    for step, (a, e) in enumerate(zip(actual, expected)):
        assert a == pytest.approx(e, rel=1e-12, abs=1e-15), f'{label}: step {step}: {a} != {e}'


@pytest.mark.parametrize('name', list(CASES))
def test_lr_and_momentum_equal_mmengine_runner(name, tmp_path):
    case = CASES[name]
    expected = run_mmengine(case, tmp_path / 'mm')
    assert len(expected) == case['max_epochs'] * ITERS
    # the schedule really moves (a constant curve would prove nothing)
    assert len({round(row[0], 15) for row in expected}) >= 3
    assert_rows_close(run_trainkit(case, tmp_path / 'tk'), expected, f'{name} (Runner)')
    assert_rows_close(simulate_trainkit(case), expected, f'{name} (simulate_schedule)')


def test_auto_scale_lr_factor_is_applied_before_schedulers(tmp_path):
    """With auto_scale_lr the very first LR is (scaled base LR) × warmup start factor."""
    case = dict(CASES['multistep_by_epoch_auto_scale_lr'])
    rows = simulate_trainkit(case)
    assert rows[0][0] == pytest.approx(0.1 * BATCH / 4, rel=1e-15)
    assert rows[2 * ITERS][0] == pytest.approx(0.1 * BATCH / 4 * 0.1, rel=1e-12)


def test_mmpretrain_schedule_as_base_of_a_trainkit_config(tmp_path):
    """An MMPretrain schedule file (with its val_cfg/test_cfg/auto_scale_lr) used unchanged as
    a ``_base_`` gives the LR MMEngine gives at every step."""
    from mmengine.config import Config

    from trainkit.config.load import load_config
    base = tmp_path / 'imagenet_bs2048_schedule.py'
    base.write_text(
        "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.08, momentum=0.9,\n"
        "                                    weight_decay=5e-5, nesterov=True))\n"
        "param_scheduler = [\n"
        "    dict(type='LinearLR', start_factor=0.25, by_epoch=True, begin=0, end=2,\n"
        "         convert_to_iter_based=True),\n"
        "    dict(type='MultiStepLR', by_epoch=True, milestones=[3, 4], gamma=0.1)]\n"
        "train_cfg = dict(by_epoch=True, max_epochs=5, val_interval=1)\n"
        "val_cfg = dict()\ntest_cfg = dict()\n"
        "auto_scale_lr = dict(base_batch_size=8)\n")
    top = tmp_path / 'mine.py'
    top.write_text(
        "_base_ = ['./imagenet_bs2048_schedule.py']\n"
        f"work_dir = {str(tmp_path / 'tk')!r}\n"
        "model = dict(type='MLP', in_features=3, hidden=[4])\n"
        "train_dataloader = dict(dataset=dict(type='SyntheticRegression', num_samples=9,\n"
        "                                     in_features=3), batch_size=2, shuffle=False)\n"
        "loss = dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0))\n"
        "default_hooks = dict(logger=None, checkpoint=None)\n"
        "auto_scale_lr = dict(enable=True)\n")
    mm_cfg = Config.fromfile(str(base))
    case = dict(max_epochs=mm_cfg.train_cfg.max_epochs, optim_wrapper=mm_cfg.optim_wrapper,
                param_scheduler=mm_cfg.param_scheduler,
                auto_scale_lr=dict(mm_cfg.auto_scale_lr, enable=True))
    expected = [row[:1] for row in run_mmengine(case, tmp_path / 'mm')]

    recorder = TKRecorder()
    runner = Runner.from_cfg(load_config(str(top)))
    runner.hooks.append(recorder)
    runner.train()
    assert_rows_close([row[:1] for row in recorder.rows], expected, 'MMPretrain _base_')
    assert expected[0][0] == pytest.approx(0.08 * 2 / 8 * 0.25, rel=1e-12)
