"""The reference-style ``trainer`` section (issue 7): every key of the reference table, the
components it builds, the per-step LR against the reference document's formulas, conflicts
with canonical keys, the command-line tools, and real runs from YAML trainer configs.

The formulas are written out here from the reference document
(``xequinet-training-parameters.zh.md``), with t the 1-based optimizer step:

    warmup           η̂_t = η_t · ω_t
    linear           ω_t = min(1, t/τ)                  τ = warmup_epochs × steps per epoch
    exponential      ω_t = 1 − exp(−2t/τ)
    untuned_*        the same with τ = ⌊2/(1−β₂)⌋
    RAdam            ω_t = √((ρ−4)(ρ−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρ)), ρ = ρ_{t+δ−1} (pytorch-warmup)
    cosine           η_t = η_min + ½(η_max − η_min)(1 + cos(π t'/T_max)),  t' = t − 1 steps
    warm restarts    the same inside [T_k, T_{k+1}) with T_{k+1} − T_k = μ^k τ
    plateau          η_max until a validation stalls (no validation in a simulation)
"""
import csv
import math
import os
import textwrap

import pytest
import pytorch_warmup
import torch

from tests.support import components  # noqa: F401  (registers CrashAfterEpoch)
from tests.support.components import Crash, first_stop_epoch
from tests.support.configs import ROOT
from tools import train as train_tool
from tools import vis_scheduler
from trainkit.checkpointing.format import load_checkpoint
from trainkit.config.load import load_config
from trainkit.config.reference.expand import (
    REFERENCE_DEFAULTS,
    expand_reference_keys,
    explain_reference_keys,
)
from trainkit.engine.from_cfg import prepare_config
from trainkit.engine.loss_and_metrics import build_loss
from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError
from trainkit.hooks.build import build_hooks, list_hooks
from trainkit.hooks.early_stopping import EarlyStoppingHook
from trainkit.losses import MAELoss, MSELoss, SmoothL1Loss, WeightedLoss
from trainkit.optim.schedule.simulate import simulate_schedule

# The reference document's tables, typed in: key -> default.
REFERENCE_TABLE = {
    'run_name': 'xequinet', 'resume': False, 'ckpt_file': None, 'finetune_modules': None,
    'lossfn': 'smoothl1', 'losses_weight': None, 'optimizer': 'AdamW', 'optimizer_kwargs': {},
    'max_lr': 5e-4, 'min_lr': 0.0, 'warmup_scheduler': 'linear', 'warmup_epochs': 10,
    'lr_scheduler': 'cosine_annealing', 'lr_scheduler_kwargs': {}, 'early_stoppings': None,
    'early_stopping_mode': 'and', 'ema_decay': 0.995, 'save_dir': './', 'best_k': 1,
    'log_file': 'loss.log', 'log_steps': 50, 'log_epochs': 1, 'max_epochs': 300,
    'grad_clip': None, 'seed': None, 'num_workers': 0,
}

# 32 samples in batches of 8: 4 optimizer steps per epoch
DATA = dict(
    model=dict(type='MLP', in_features=4, hidden=[8]),
    train_dataloader=dict(dataset=dict(type='SyntheticRegression', num_samples=32,
                                       in_features=4), batch_size=8, shuffle=True),
    val_dataloader=dict(dataset=dict(type='SyntheticRegression', num_samples=16, in_features=4,
                                     split='val'), batch_size=16),
)
DATA_YAML = """
model: {type: MLP, in_features: 4, hidden: [8]}
train_dataloader:
  dataset: {type: SyntheticRegression, num_samples: 32, in_features: 4}
  batch_size: 8
  shuffle: true
val_dataloader:
  dataset: {type: SyntheticRegression, num_samples: 16, in_features: 4, split: val}
  batch_size: 16
"""
MAX_LR, MIN_LR, BETA2 = 1e-3, 1e-5, 0.9     # β₂ = 0.9: untuned τ = ⌊2/(1−β₂)⌋ = 20


def config(trainer, **canonical):
    return dict(trainer=trainer, **{**DATA, **canonical})


def build(trainer, **canonical) -> Runner:
    return Runner.from_cfg(config(trainer, **canonical), device='cpu')


def hook(runner, name):
    return next(h for h in runner.hooks if h.name == name)


def write(tmp_path, name, text) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def train_yaml(tmp_path, trainer_yaml, name='run.yaml', extra='') -> str:
    """A YAML trainer config for the tiny MLP, saving into tmp_path/out."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    text = f'trainer:\n  save_dir: {tmp_path / "out"}\n' + textwrap.indent(
        textwrap.dedent(trainer_yaml).strip(), '  ') + '\n' + DATA_YAML + textwrap.dedent(extra)
    return write(tmp_path, name, text)


# ------------------------------------------------------------------------ keys, defaults
def test_every_reference_key_with_its_reference_default():
    assert REFERENCE_DEFAULTS == REFERENCE_TABLE


def test_defaults_alone_build_the_reference_trainer():
    """Only losses_weight given: everything else is the reference default."""
    runner = build(dict(losses_weight=dict(y=1.0)))
    assert (runner.run_name, runner.work_dir, runner.max_epochs) == ('xequinet', './', 300)
    assert (runner.seed, runner.resume, runner.ckpt_file) == (None, False, None)
    assert isinstance(runner.loss, WeightedLoss) and isinstance(runner.loss.lossfn, SmoothL1Loss)
    assert runner.loss.losses_weight == {'y': 1.0}
    optimizer = runner.optim_wrapper.optimizer
    assert type(optimizer) is torch.optim.AdamW
    assert optimizer.param_groups[0]['initial_lr'] == 5e-4
    assert not runner.optim_wrapper.clip_grad_kwargs              # grad_clip null
    assert runner.steps_per_epoch == 4
    warmup = runner.schedule.warmup
    assert type(warmup) is pytorch_warmup.LinearWarmup
    assert warmup.warmup_params[0]['warmup_period'] == 10 * 4      # warmup_epochs 10
    [cosine] = runner.schedule.schedulers
    assert type(cosine).__name__ == 'CosineAnnealingLR' and not cosine.by_epoch
    assert (cosine.T_max, cosine.eta_min) == (300 * 4, 0.0)         # T_max = max_epochs
    assert hook(runner, 'ema').decay == 0.995
    assert hook(runner, 'checkpoint').best_k == 1
    logger = hook(runner, 'logger')
    assert (logger.log_file, logger.log_steps, logger.log_epochs) == ('loss.log', 50, 1)
    assert not any(isinstance(h, EarlyStoppingHook) for h in runner.hooks)
    assert runner.train_dataloader.num_workers == 0


EVERY_KEY_PY = """
trainer = dict(
    run_name='water', resume=True, ckpt_file='water_last.pt', finetune_modules=['net.2'],
    lossfn='MSE', losses_weight=dict(y=2.0), optimizer='nadam',
    optimizer_kwargs=dict(betas=[0.8, 0.9], weight_decay=0.05), max_lr=2e-3, min_lr=1e-6,
    warmup_scheduler='Exponential', warmup_epochs=2, lr_scheduler='cosine_restarts',
    lr_scheduler_kwargs=dict(T_0=3, T_mult=2),
    early_stoppings=dict(y=dict(metric='rmse', patience=5, threshold=0.01, lower_bound=0.1)),
    early_stopping_mode='OR', ema_decay=0.9, save_dir='{save_dir}', best_k=2,
    log_file='train.log', log_steps=3, log_epochs=2, max_epochs=12, grad_clip=5.0, seed=7,
    num_workers=1)
model = dict(type='MLP', in_features=4, hidden=[8])
train_dataloader = dict(dataset=dict(type='SyntheticRegression', num_samples=32,
                                     in_features=4), batch_size=8, shuffle=True)
val_dataloader = dict(dataset=dict(type='SyntheticRegression', num_samples=16, in_features=4,
                                   split='val'), batch_size=16)
"""
EVERY_KEY_YAML = """
trainer:
  run_name: water
  resume: true
  ckpt_file: water_last.pt
  finetune_modules: [net.2]
  lossfn: MSE
  losses_weight: {y: 2.0}
  optimizer: nadam
  optimizer_kwargs:
    betas: [0.8, 0.9]
    weight_decay: 0.05
  max_lr: 2e-3
  min_lr: 1e-6
  warmup_scheduler: Exponential
  warmup_epochs: 2
  lr_scheduler: cosine_restarts
  lr_scheduler_kwargs: {T_0: 3, T_mult: 2}
  early_stoppings:
    y: {metric: rmse, patience: 5, threshold: 0.01, lower_bound: 0.1}
  early_stopping_mode: OR
  ema_decay: 0.9
  save_dir: {save_dir}
  best_k: 2
  log_file: train.log
  log_steps: 3
  log_epochs: 2
  max_epochs: 12
  grad_clip: 5.0
  seed: 7
  num_workers: 1
""" + DATA_YAML


def test_every_key_in_py_and_yaml_expands_the_same(tmp_path):
    save_dir = str(tmp_path / 'out')
    py = write(tmp_path, 'every.py', EVERY_KEY_PY.replace('{save_dir}', save_dir))
    yml = write(tmp_path, 'every.yaml', EVERY_KEY_YAML.replace('{save_dir}', save_dir))
    a, b = prepare_config(load_config(py)), prepare_config(load_config(yml))
    assert a == b
    assert 'trainer' not in a
    expected = {
        'run_name': 'water', 'resume': True, 'ckpt_file': 'water_last.pt',
        'finetune_modules': ['net.2'], 'seed': 7, 'work_dir': save_dir,
        'train_cfg': {'max_epochs': 12},
        'loss': {'type': 'WeightedLoss', 'lossfn': 'MSE', 'losses_weight': {'y': 2.0}},
        'optim_wrapper': {'optimizer': {'type': 'nadam', 'lr': 2e-3, 'betas': [0.8, 0.9],
                                        'weight_decay': 0.05},
                          'clip_grad': {'max_norm': 5.0}},
        'param_scheduler': [
            {'type': 'ExponentialWarmup', 'warmup_epochs': 2},
            {'type': 'CosineWarmRestartsLR', 'T_0': 3, 'T_mult': 2, 'eta_min': 1e-6,
             'by_epoch': True, 'convert_to_iter_based': True}],
        'default_hooks': {
            'ema': {'type': 'EMAHook', 'ema_decay': 0.9},
            'checkpoint': {'type': 'CheckpointHook', 'best_k': 2},
            'logger': {'type': 'LoggerHook', 'log_file': 'train.log', 'log_steps': 3,
                       'log_epochs': 2}},
        'custom_hooks': [{'type': 'EarlyStoppingHook', 'early_stopping_mode': 'or',
                          'early_stoppings': {'y': {'metric': 'rmse', 'patience': 5,
                                                    'threshold': 0.01, 'lower_bound': 0.1}}}],
    }
    for key, value in expected.items():
        assert a[key] == value, key
    assert a['train_dataloader']['num_workers'] == a['val_dataloader']['num_workers'] == 1

    runner = Runner.from_cfg(load_config(yml), device='cpu')
    optimizer = runner.optim_wrapper.optimizer
    assert type(optimizer) is torch.optim.NAdam
    group = optimizer.param_groups[0]
    assert group['betas'] == (0.8, 0.9) and isinstance(group['betas'], tuple)
    assert (group['initial_lr'], group['weight_decay']) == (2e-3, 0.05)
    assert runner.optim_wrapper.clip_grad_kwargs == {'max_norm': 5.0}
    assert [n for n, p in runner.unwrapped_model.named_parameters() if p.requires_grad] == \
        ['net.2.weight', 'net.2.bias']
    assert runner.train_dataloader.num_workers == 1 and runner.seed == 7
    stopper = next(h for h in runner.hooks if isinstance(h, EarlyStoppingHook))
    [criterion] = stopper.criteria
    assert stopper.mode == 'or'
    assert (criterion.key, criterion.patience, criterion.threshold, criterion.lower_bound) == \
        ('y_rmse', 5, 0.01, 0.1)
    restarts = runner.schedule.schedulers[0]
    assert (restarts.T_0, restarts.T_mult, restarts.eta_min) == (3 * 4, 2, 1e-6)
    assert runner.schedule.warmup.warmup_params[0]['warmup_period'] == 2 * 4 // 2


# ------------------------------------------------------------------------- loss, optimizer
def smooth_l1(x):
    return 0.5 * x * x if abs(x) < 1 else abs(x) - 0.5


@pytest.mark.parametrize('name,cls,elementwise', [
    ('mae', MAELoss, abs), ('L1', MAELoss, abs), ('MSE', MSELoss, lambda x: x * x),
    ('l2', MSELoss, lambda x: x * x), ('SmoothL1', SmoothL1Loss, smooth_l1),
    ('smoothl1', SmoothL1Loss, smooth_l1)])
def test_lossfn_names_and_weights(name, cls, elementwise):
    """L = 1 × l(Ê, E) + 1000 × l(F̂, F), l averaged over elements (errors below and above 1)."""
    loss = expand_reference_keys(dict(trainer=dict(
        lossfn=name, losses_weight=dict(energy=1.0, forces=1000.0))))['loss']
    built = build_loss(loss)
    assert type(built.lossfn) is cls
    energy_err, forces_err = [0.5, -2.0], [0.25, -0.75, 3.0, 1.5]
    preds = {'energy': torch.tensor(energy_err, dtype=torch.float64),
             'forces': torch.tensor(forces_err, dtype=torch.float64).reshape(2, 2)}
    batch = {'energy': torch.zeros(2, dtype=torch.float64),
             'forces': torch.zeros(2, 2, dtype=torch.float64)}
    terms = built(preds, batch)
    mean = lambda errs: sum(map(elementwise, errs)) / len(errs)  # noqa: E731
    assert terms['energy'].item() == pytest.approx(mean(energy_err))
    assert terms['loss'].item() == pytest.approx(mean(energy_err) + 1000 * mean(forces_err))


@pytest.mark.parametrize('name,cls', [('adam', torch.optim.Adam), ('ADAMW', torch.optim.AdamW),
                                      ('NAdam', torch.optim.NAdam), ('radam', torch.optim.RAdam)])
def test_optimizer_names_and_kwargs(name, cls):
    runner = build(dict(optimizer=name, max_lr=3e-3, losses_weight=dict(y=1.0),
                        optimizer_kwargs=dict(betas=[0.85, 0.95], eps=1e-6)))
    optimizer = runner.optim_wrapper.optimizer
    assert type(optimizer) is cls
    group = optimizer.param_groups[0]
    assert group['initial_lr'] == 3e-3 and group['eps'] == 1e-6
    assert group['betas'] == (0.85, 0.95) and isinstance(group['betas'], tuple)


# ----------------------------------------------------------------------- per-step LR
def radam_omega(t, beta2):
    rho_inf = 2 / (1 - beta2) - 1

    def rho(step):
        return rho_inf - 2 * step * beta2 ** step / (1 - beta2 ** step)
    delta = next(d for d in range(1, 100) if rho(d) > 4)
    r = rho(t + delta - 1)
    return math.sqrt((r - 4) * (r - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * r))


def omega(kind, t, tau):
    untuned = int(2 / (1 - BETA2))
    return {
        None: lambda: 1.0,
        'linear': lambda: min(1.0, t / tau),
        'exponential': lambda: 1 - math.exp(-2 * t / tau),
        'untuned_linear': lambda: min(1.0, t / untuned),
        'untuned_exponential': lambda: 1 - math.exp(-2 * t / untuned),
        'radam': lambda: radam_omega(t, BETA2),
    }[kind and kind.lower()]()


def cosine(t, period):
    return MIN_LR + 0.5 * (MAX_LR - MIN_LR) * (1 + math.cos(math.pi * t / period))


def restarts(t, tau, mu):
    start, length = 0, tau
    while t >= start + length:
        start, length = start + length, length * mu
    return cosine(t - start, length)


SPE, EPOCHS, WARMUP_EPOCHS = 5, 8, 2          # τ = 10 optimizer steps (even: see warmup.py)
SCHEDULES = {   # alias: (lr_scheduler_kwargs in epochs, η at 0-based step k)
    'cosine_annealing': ({'T_max': 4}, lambda k: cosine(k, 4 * SPE)),
    'cosine': ({}, lambda k: cosine(k, EPOCHS * SPE)),
    'cosine_annealing_warm_restarts': ({'T_0': 2}, lambda k: restarts(k, 2 * SPE, 1)),
    'cosine_restarts': ({'T_0': 1, 'T_mult': 2}, lambda k: restarts(k, SPE, 2)),
    'reduce_on_plateau': ({'factor': 0.5, 'patience': 2}, lambda k: MAX_LR),
    'plateau': ({}, lambda k: MAX_LR),
}
WARMUPS = [None, 'linear', 'Exponential', 'untuned_linear', 'UNTUNED_EXPONENTIAL', 'RAdam']


def simulated_lrs(trainer):
    cfg = config(dict(trainer, losses_weight=dict(y=1.0)))
    wrapper, schedule, steps, epochs = vis_scheduler.build_schedule(cfg, SPE)
    assert steps == SPE
    return [row['lr_g0'] for row in simulate_schedule(wrapper, schedule, epochs, steps)]


@pytest.mark.parametrize('alias', list(SCHEDULES))
@pytest.mark.parametrize('warmup', WARMUPS)
def test_per_step_lr_follows_the_reference_formulas(warmup, alias):
    kwargs, eta = SCHEDULES[alias]
    lrs = simulated_lrs(dict(
        warmup_scheduler=warmup, warmup_epochs=WARMUP_EPOCHS, lr_scheduler=alias,
        lr_scheduler_kwargs=kwargs, max_lr=MAX_LR, min_lr=MIN_LR, max_epochs=EPOCHS,
        optimizer_kwargs=dict(betas=[0.9, BETA2])))
    assert len(lrs) == EPOCHS * SPE
    tau = WARMUP_EPOCHS * SPE
    for k, lr in enumerate(lrs):
        assert lr == pytest.approx(eta(k) * omega(warmup, k + 1, tau), rel=1e-9, abs=1e-18), k
    if warmup is not None:
        assert lrs[0] < 0.3 * eta(0)                        # dampened from the first step
    if alias == 'cosine_annealing' and warmup is None:
        assert lrs[4 * SPE] == pytest.approx(MIN_LR, rel=1e-9)   # the bottom at T_max epochs


@pytest.mark.parametrize('trainer', [dict(warmup_epochs=0), dict(warmup_epochs=None),
                                     dict(warmup_scheduler=None),
                                     dict(warmup_scheduler='null')])
def test_no_warmup(trainer):
    cfg = expand_reference_keys(dict(trainer=dict(trainer, lr_scheduler='cosine')))
    assert [e['type'] for e in cfg['param_scheduler']] == ['CosineAnnealingLR']
    lrs = simulated_lrs(dict(trainer, max_lr=MAX_LR, min_lr=MIN_LR, max_epochs=EPOCHS))
    assert lrs == pytest.approx([cosine(k, EPOCHS * SPE) for k in range(EPOCHS * SPE)])


def test_epochs_become_real_optimizer_steps():
    """30 samples, batch 4, drop_last: 7 batches; accumulating 2: ⌈7/2⌉ = 4 steps/epoch."""
    runner = build(dict(warmup_epochs=2, lr_scheduler_kwargs=dict(T_max=3), max_epochs=5,
                        losses_weight=dict(y=1.0)),
                   optim_wrapper=dict(accumulative_counts=2),
                   train_dataloader=dict(DATA['train_dataloader'], batch_size=4, drop_last=True,
                                         dataset=dict(type='SyntheticRegression',
                                                      num_samples=30, in_features=4)))
    assert (runner.iters_per_epoch, runner.steps_per_epoch) == (7, 4)
    assert runner.schedule.warmup.warmup_params[0]['warmup_period'] == 8
    assert runner.schedule.schedulers[0].T_max == 12


# ------------------------------------------------------------------ early stopping, EMA
def stop_epoch(trainer_stoppings, mode, series):
    cfg = expand_reference_keys(dict(trainer=dict(
        losses_weight=dict(energy=1.0, forces=1.0), early_stoppings=trainer_stoppings,
        early_stopping_mode=mode)))
    [stopper] = build_hooks(cfg['custom_hooks'])
    assert isinstance(stopper, EarlyStoppingHook)
    return first_stop_epoch(stopper, series)


def rows(**values):
    return [dict(zip(values, row)) for row in zip(*values.values())]


EXAMPLE_1 = dict(energy=dict(metric='mae', patience=3, threshold=0.0, lower_bound=0.043),
                 forces=dict(metric='mae', patience=3, threshold=0.0, lower_bound=0.043))
EXAMPLE_2 = dict(energy=dict(metric='rmse', patience=3, threshold=0.001),
                 forces=dict(metric='rmse', lower_bound=0.043))


@pytest.mark.parametrize('stoppings,mode,series,expected', [
    # reference example 1 (and): energy has stalled for 3 epochs from epoch 5 on, forces is
    # below 0.043 from epoch 5 on: both hold at epoch 5
    (EXAMPLE_1, 'and', rows(energy_mae=[1, .5, .5, .5, .5, .5],
                            forces_mae=[1, .5, .3, .2, .04, .03]), 5),
    # ... both must hold at the same validation: forces below the bound only at epoch 4
    (EXAMPLE_1, 'and', rows(energy_mae=[1, .5, .5, .5, .5, .5],
                            forces_mae=[1, .5, .3, .04, .1, .1]), None),
    # ... energy alone satisfied: no stop
    (EXAMPLE_1, 'and', rows(energy_mae=[1, .5, .5, .5, .5, .5],
                            forces_mae=[1, .9, .8, .7, .6, .5]), None),
    # reference example 2 (or): energy improves by < 0.001 for 3 epochs -> stop at epoch 4
    (EXAMPLE_2, 'or', rows(energy_rmse=[1, .9995, .9991, .9992, .5],
                           forces_rmse=[1, 1, 1, 1, 1]), 4),
    # ... or forces below 0.043 alone
    (EXAMPLE_2, 'OR', rows(energy_rmse=[1, .5, .25, .1], forces_rmse=[1, .05, .042, 1]), 3),
])
def test_early_stoppings_in_both_modes(stoppings, mode, series, expected):
    assert stop_epoch(stoppings, mode, series) == expected


def test_ema_decay_null_means_no_ema():
    runner = build(dict(ema_decay=None, losses_weight=dict(y=1.0)))
    assert 'ema' not in [h.name for h in runner.hooks]
    assert 'ema' not in expand_reference_keys(config(dict(ema_decay=None))).get(
        'default_hooks', {})


# ---------------------------------------------------------------------------- conflicts
CONFLICTS = [
    (dict(max_lr=1e-3), dict(optim_wrapper=dict(optimizer=dict(type='AdamW', lr=5e-4))),
     'trainer.max_lr=0.001 conflicts with optim_wrapper.optimizer.lr=0.0005'),
    (dict(optimizer='Adam'), dict(optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1))),
     "trainer.optimizer='Adam' conflicts with optim_wrapper.optimizer.type='SGD'"),
    (dict(optimizer_kwargs=dict(betas=[0.9, 0.99])),
     dict(optim_wrapper=dict(optimizer=dict(type='AdamW', betas=(0.9, 0.999)))),
     r'trainer.optimizer_kwargs.betas=\[0.9, 0.99\] conflicts with '
     r'optim_wrapper.optimizer.betas=\(0.9, 0.999\)'),
    (dict(lossfn='mse'), dict(loss=dict(type='WeightedLoss', lossfn='mae',
                                        losses_weight=dict(y=1.0))),
     "trainer.lossfn='mse' conflicts with loss.lossfn='mae'"),
    (dict(losses_weight=dict(y=2.0)), dict(loss=dict(type='WeightedLoss',
                                                     losses_weight=dict(y=1.0))),
     'trainer.losses_weight=.* conflicts with loss.losses_weight='),
    (dict(max_epochs=10), dict(train_cfg=dict(max_epochs=20)),
     'trainer.max_epochs=10 conflicts with train_cfg.max_epochs=20'),
    (dict(save_dir='a'), dict(work_dir='b'), "trainer.save_dir='a' conflicts with work_dir='b'"),
    (dict(run_name='a'), dict(run_name='b'), "trainer.run_name='a' conflicts with run_name='b'"),
    (dict(seed=1), dict(seed=2), 'trainer.seed=1 conflicts with seed=2'),
    (dict(finetune_modules=['a']), dict(finetune_modules=['b']),
     r"trainer.finetune_modules=\['a'\] conflicts with finetune_modules=\['b'\]"),
    (dict(num_workers=2), dict(train_dataloader=dict(DATA['train_dataloader'], num_workers=0)),
     'trainer.num_workers=2 conflicts with train_dataloader.num_workers=0'),
    (dict(warmup_scheduler='linear'), dict(param_scheduler=[dict(type='LinearWarmup',
                                                                 warmup_epochs=1)]),
     "trainer.warmup_scheduler='linear' conflicts with param_scheduler"),
    (dict(lr_scheduler_kwargs=dict(T_max=5)), dict(param_scheduler=[]),
     'trainer.lr_scheduler_kwargs=.* conflicts with param_scheduler'),
    (dict(min_lr=1e-6), dict(param_scheduler=dict(type='CosineAnnealingLR')),
     'trainer.min_lr=1e-06 conflicts with param_scheduler'),
    (dict(grad_clip=1.0), dict(optim_wrapper=dict(clip_grad=dict(max_norm=2.0))),
     'trainer.grad_clip=1.0 conflicts with optim_wrapper.clip_grad.max_norm=2.0'),
    (dict(grad_clip=1.0), dict(optim_wrapper=dict(clip_grad=dict(type='value',
                                                                 clip_value=0.5))),
     'trainer.grad_clip=1.0 conflicts with optim_wrapper.clip_grad='),
    (dict(grad_clip=None), dict(optim_wrapper=dict(clip_grad=dict(max_norm=2.0))),
     'trainer.grad_clip=None conflicts with optim_wrapper.clip_grad='),
    (dict(ema_decay=0.9), dict(default_hooks=dict(ema=dict(type='EMAHook', ema_decay=0.99))),
     'trainer.ema_decay=0.9 conflicts with default_hooks.ema.ema_decay=0.99'),
    (dict(ema_decay=None), dict(default_hooks=dict(ema=dict(type='EMAHook'))),
     'trainer.ema_decay=None conflicts with default_hooks.ema.ema_decay=0.995'),
    (dict(ema_decay=0.9), dict(default_hooks=dict(ema=None)),
     'trainer.ema_decay=0.9 conflicts with default_hooks.ema=None'),
    (dict(best_k=3), dict(default_hooks=dict(checkpoint=dict(type='CheckpointHook', best_k=2))),
     'trainer.best_k=3 conflicts with default_hooks.checkpoint.best_k=2'),
    (dict(log_steps=5), dict(default_hooks=dict(logger=dict(type='LoggerHook', log_steps=7))),
     'trainer.log_steps=5 conflicts with default_hooks.logger.log_steps=7'),
    (dict(early_stoppings=dict(y=dict(patience=3))),
     dict(custom_hooks=[dict(type='EarlyStoppingHook', early_stoppings=dict(y=dict(patience=5)))]),
     r'trainer.early_stoppings=.* conflicts with custom_hooks\[EarlyStoppingHook\]'),
    (dict(early_stopping_mode='or'),
     dict(custom_hooks=[dict(type='EarlyStoppingHook', early_stoppings=dict(y=dict(patience=5)))]),
     r"trainer.early_stopping_mode='or' conflicts with .*early_stopping_mode='and'"),
]


@pytest.mark.parametrize('trainer,canonical,message', CONFLICTS)
def test_conflicting_keys_are_an_error_naming_both(trainer, canonical, message):
    with pytest.raises(ConfigError, match=message) as err:
        expand_reference_keys(config(trainer, **canonical))
    assert 'in one place only' in str(err.value)


def test_top_level_shorthand_conflicts_with_the_trainer_section():
    with pytest.raises(ConfigError, match=r"save_dir='b' \(top level\) conflicts with "
                                          r"trainer.save_dir='a'"):
        expand_reference_keys(dict(trainer=dict(save_dir='a'), save_dir='b'))


def test_agreeing_or_unset_canonical_keys_are_no_conflict():
    cfg = expand_reference_keys(config(
        dict(lossfn='MAE', losses_weight=dict(y=1), optimizer='adamw', max_lr=1e-3, seed=3,
             resume=True, ckpt_file='x.pt', finetune_modules=['net.2'], grad_clip=1.0),
        loss=dict(type='WeightedLoss', lossfn='l1', losses_weight=dict(y=1.0)),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3), clip_grad=None),
        seed=None, resume=False, ckpt_file=None, finetune_modules=('net.2',)))
    assert (cfg['seed'], cfg['resume'], cfg['ckpt_file']) == (3, True, 'x.pt')
    assert cfg['loss']['lossfn'] == 'l1' and cfg['optim_wrapper']['clip_grad'] == {'max_norm': 1.0}


def test_canonical_keys_win_over_reference_defaults():
    """A trainer section next to canonical keys: defaults fill only what is unset."""
    cfg = expand_reference_keys(config(
        dict(run_name='mixed'),
        loss=dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0)),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=[dict(type='CosineAnnealingLR', by_epoch=True)],
        train_cfg=dict(max_epochs=7), work_dir='here',
        default_hooks=dict(ema=None, checkpoint=dict(type='CheckpointHook', best_k=4))))
    assert cfg['loss']['lossfn'] == 'mse'
    assert cfg['optim_wrapper']['optimizer'] == dict(type='SGD', lr=0.1, momentum=0.9)
    assert cfg['param_scheduler'] == [dict(type='CosineAnnealingLR', by_epoch=True)]
    assert (cfg['train_cfg']['max_epochs'], cfg['work_dir'], cfg['run_name']) == (7, 'here',
                                                                                  'mixed')
    assert cfg['default_hooks']['ema'] is None and cfg['default_hooks']['checkpoint']['best_k'] == 4
    notes = explain_reference_keys(config(dict(), train_cfg=dict(max_epochs=7)))
    assert 'trainer.max_epochs: reference default 300 not used, train_cfg.max_epochs is set' \
        in notes


@pytest.mark.parametrize('trainer,message', [
    (dict(max_lrr=1e-3), "trainer: unknown key 'max_lrr' — did you mean 'max_lr'"),
    (dict(max_lr='fast'), "trainer.max_lr: expected a number, got 'fast'"),
    (dict(best_k=0), 'trainer.best_k: expected a value >= 1'),
    (dict(resume=1), 'trainer.resume: expected true, false or a checkpoint path, got 1'),
    (dict(ema_decay=1.5), r'trainer.ema_decay: expected a number in \[0, 1\)'),
    (dict(save_dir=None), 'trainer.save_dir: expected a value, got null'),
    (dict(lossfn='smoth'), "trainer.lossfn: 'smoth' is not a registered loss — did you mean"),
    (dict(optimizer='adamx'), "trainer.optimizer: 'adamx' is not a registered optimizer"),
    (dict(warmup_scheduler='cosine'), "trainer.warmup_scheduler: 'cosine' is not one of null, "
                                      "linear"),
    (dict(lr_scheduler='cosine_anealing'), "did you mean 'cosine_annealing'"),
    (dict(lr_scheduler_kwargs=dict(eta_min=1e-6)), 'lower LR limit is trainer.min_lr'),
    (dict(lr_scheduler='plateau', lr_scheduler_kwargs=dict(min_lr=1e-6)), 'set min_lr instead'),
    (dict(lr_scheduler_kwargs=dict(T_maxx=3)), "'T_maxx' is not an argument of cosine_annealing"
                                               " — did you mean 'T_max'"),
    (dict(lr_scheduler_kwargs=dict(T_max=0)),
     'T_max: expected a number > 0, got 0; it is a number of epochs'),
    (dict(lr_scheduler='cosine_restarts'), 'cosine_restarts needs T_0'),
    (dict(optimizer_kwargs=dict(lr=1e-3)), 'the learning rate is trainer.max_lr'),
    (dict(early_stopping_mode='xor'), "trainer.early_stopping_mode: expected 'and'"),
])
def test_bad_values_name_the_trainer_key(trainer, message):
    with pytest.raises(ConfigError, match=message):
        expand_reference_keys(config(dict(trainer, losses_weight=dict(y=1.0))))


def test_lossfn_without_losses_weight():
    with pytest.raises(ConfigError, match="trainer.lossfn='mae' needs trainer.losses_weight"):
        expand_reference_keys(config(dict(lossfn='mae')))


def test_conflict_from_the_command_line_exits_with_code_2(tmp_path, capsys):
    path = train_yaml(tmp_path, 'max_lr: 1e-3\nlosses_weight: {y: 1.0}',
                      extra='optim_wrapper: {optimizer: {type: AdamW, lr: 5e-4}}\n')
    assert train_tool.main([path, '--dry-run']) == 2
    err = capsys.readouterr().err
    assert 'trainer.max_lr=0.001 conflicts with optim_wrapper.optimizer.lr=0.0005' in err
    assert 'Traceback' not in err


# ------------------------------------------------------------------- command-line tools
def test_dry_run_shows_the_expansion_and_cfg_options_take_effect(tmp_path, capsys):
    path = train_yaml(tmp_path, 'run_name: dry\nmax_lr: 5e-4\nmax_epochs: 6\n'
                                'losses_weight: {y: 1.0}')
    code = train_tool.main([path, '--dry-run', '--cfg-options', 'trainer.max_lr=1e-3'])
    out = capsys.readouterr().out
    assert code == 0
    assert 'trainer.max_lr = 0.001 -> optim_wrapper.optimizer.lr' in out
    assert "trainer.warmup_scheduler = 'linear' (reference default) -> param_scheduler: " \
           "LinearWarmup" in out
    assert 'CosineAnnealingLR(T_max=6 epochs = max_epochs, in steps)' in out
    assert "'lr': 0.001" in out
    # first LR: 1e-3 × ω_1 with τ = 10 epochs × 4 steps
    assert f'step    0  epoch 0.000  lr {1e-3 / 40:.4e}' in out
    assert not (tmp_path / 'out').exists()          # a dry run writes nothing


def test_cfg_options_override_trainer_keys(tmp_path):
    path = train_yaml(tmp_path, 'max_lr: 5e-4\nlosses_weight: {y: 1.0}')
    runner = Runner.from_cfg(load_config(path, ['trainer.max_lr=1e-3',
                                                'trainer.warmup_scheduler=null']), device='cpu')
    assert runner.optim_wrapper.optimizer.param_groups[0]['lr'] == 1e-3
    assert runner.schedule.warmup is None


def test_cfg_options_trainer_key_on_a_canonical_config_is_a_conflict(tmp_path):
    path = write(tmp_path, 'canonical.py', 'optim_wrapper = dict(optimizer=dict(type="AdamW", '
                                           'lr=2e-3))\n' + ''.join(
                                               f'{k} = {v!r}\n' for k, v in DATA.items()))
    cfg = load_config(path, ['trainer.max_lr=1e-3'])
    with pytest.raises(ConfigError, match='trainer.max_lr=0.001 conflicts with '
                                          'optim_wrapper.optimizer.lr=0.002'):
        prepare_config(cfg)


def test_vis_scheduler_plots_a_trainer_config(tmp_path, capsys):
    path = train_yaml(tmp_path, f"""
        max_lr: {MAX_LR}
        min_lr: {MIN_LR}
        warmup_epochs: 1
        lr_scheduler: cosine_restarts
        lr_scheduler_kwargs: {{T_0: 1, T_mult: 2}}
        max_epochs: 6
        losses_weight: {{y: 1.0}}
        """)
    dump, png = tmp_path / 'lr.csv', tmp_path / 'lr.png'
    assert vis_scheduler.main([path, '--iters-per-epoch', str(SPE), '--dump', str(dump),
                               '--save-path', str(png)]) == 0
    with open(dump, newline='') as f:
        lrs = [float(row['lr_g0']) for row in csv.DictReader(f)]
    assert len(lrs) == 6 * SPE
    for k, lr in enumerate(lrs):
        assert lr == pytest.approx(restarts(k, SPE, 2) * min(1, (k + 1) / SPE), rel=1e-9), k
    assert png.stat().st_size > 1000


# ------------------------------------------------------------------------------ real runs
RUN = """
run_name: tiny
seed: 0
max_epochs: 2
max_lr: 1e-2
warmup_epochs: 1
lossfn: mse
losses_weight: {y: 1.0}
best_k: 2
log_steps: 2
ema_decay: 0.9
"""


def test_two_epochs_from_yaml_write_the_expected_files(tmp_path):
    path = train_yaml(tmp_path, RUN)
    assert train_tool.main([path]) == 0
    out = tmp_path / 'out'
    assert sorted(os.listdir(out)) == ['loss.jsonl', 'loss.log', 'tiny_0.pt', 'tiny_1.pt',
                                       'tiny_config.py', 'tiny_last.pt']
    log = (out / 'loss.log').read_text()
    assert 'Training Completed' in log and f'Best Checkpoint: {out}/tiny_' in log
    assert log.count('\nEMA ') == 2                        # validated with the EMA weights
    state = load_checkpoint(str(out / 'tiny_last.pt'))     # weights_only=True inside
    assert state['meta']['epoch'] == 2 and state['meta']['step'] == 8
    ema = state['hooks']['ema']
    assert (ema['num_updates'], ema['decay']) == (8, 0.9)
    assert ema['ema_state_dict'].keys() == state['model'].keys()
    assert 'trainer' in (out / 'tiny_config.py').read_text()


def test_resume_via_trainer_resume_and_ckpt_file(tmp_path):
    """A run killed after epoch 2 of 4 and resumed with trainer.resume/ckpt_file ends with the
    same weights as a straight run."""
    straight = train_yaml(tmp_path / 'a', RUN.replace('max_epochs: 2', 'max_epochs: 4'))
    a = Runner.from_cfg(load_config(straight), device='cpu')
    a.train()
    split = train_yaml(tmp_path / 'b', RUN.replace('max_epochs: 2', 'max_epochs: 4'),
                       extra='custom_hooks: [{type: CrashAfterEpoch, epoch: 2}]\n')
    with pytest.raises(Crash):
        Runner.from_cfg(load_config(split), device='cpu').train()
    last = tmp_path / 'b' / 'out' / 'tiny_last.pt'
    b = Runner.from_cfg(load_config(split, ['trainer.resume=true', f'trainer.ckpt_file={last}',
                                            'custom_hooks=[]']), device='cpu')
    assert (b.resume, b.ckpt_file) == (True, str(last))
    b.train()
    assert b.start_epoch == 2 and b.epoch == 4
    for (name, x), y in zip(a.unwrapped_model.state_dict().items(),
                            b.unwrapped_model.state_dict().values()):
        assert torch.equal(x, y), name
    assert f'Resumed from {last}: epoch 2 done, step 8' in (
        tmp_path / 'b' / 'out' / 'loss.log').read_text()


def test_resume_from_the_command_line_on_a_trainer_config(tmp_path):
    """``--resume CKPT`` on a config whose trainer section says ``resume: false``."""
    path = train_yaml(tmp_path, RUN + 'resume: false\n',
                      extra='custom_hooks: [{type: CrashAfterEpoch, epoch: 1}]\n')
    with pytest.raises(Crash):
        train_tool.main([path])
    last = tmp_path / 'out' / 'tiny_last.pt'
    assert train_tool.main([path, '--resume', str(last), '--cfg-options', 'custom_hooks=[]']) == 0
    log = (tmp_path / 'out' / 'loss.log').read_text()
    assert f'Resumed from {last}: epoch 1 done, step 4' in log
    assert load_checkpoint(str(last))['meta']['epoch'] == 2


def test_finetune_modules_with_weights_from_ckpt_file(tmp_path):
    base_cfg = train_yaml(tmp_path / 'base', RUN.replace('max_epochs: 2', 'max_epochs: 1'))
    base = Runner.from_cfg(load_config(base_cfg), device='cpu')
    base.train()
    source = tmp_path / 'base' / 'out' / 'tiny_last.pt'
    path = train_yaml(tmp_path, RUN + f'ckpt_file: {source}\nresume: false\n'
                                      'finetune_modules: [net.2]\n')
    runner = Runner.from_cfg(load_config(path), device='cpu')
    optimized = {id(p) for g in runner.optim_wrapper.optimizer.param_groups for p in g['params']}
    named = dict(runner.unwrapped_model.named_parameters())
    assert optimized == {id(named['net.2.weight']), id(named['net.2.bias'])}
    runner.train()
    # weights only, and the EMA weights where the file has them (what the reference saves)
    loaded = load_checkpoint(str(source))['hooks']['ema']['ema_state_dict']
    after = runner.unwrapped_model.state_dict()
    assert not torch.equal(loaded['net.0.weight'], base.unwrapped_model.state_dict()[
        'net.0.weight'])
    assert torch.equal(after['net.0.weight'], loaded['net.0.weight'])        # frozen
    assert not torch.equal(after['net.2.weight'], loaded['net.2.weight'])    # trained
    assert runner.start_epoch == 0 and runner.epoch == 2                   # weights only
    assert '9 trainable / 40 frozen parameters' in (tmp_path / 'out' / 'loss.log').read_text()


# ------------------------------------------------------------- configs/spice_reference.yaml
SPICE_PY = os.path.join(ROOT, 'configs', 'spice.py')
SPICE_YAML = os.path.join(ROOT, 'configs', 'spice_reference.yaml')


def _hook_settings(plain):
    settings = {}
    for h in build_hooks(list_hooks(plain)):
        if type(h).__name__ == 'TrackingHook':  # configs/spice.py's TensorBoard (default_runtime);
            continue                            # a trainer: YAML has no tracking yet
        settings[type(h).__name__] = {k: v for k, v in vars(h).items() if not k.startswith('_')
                                      and isinstance(v, (int, float, str, type(None)))}
        if isinstance(h, EarlyStoppingHook):
            settings['criteria'] = [vars(c) for c in h.criteria]
    # the monitor may be left to the hook, whose default with loss weights is weighted_mae
    monitor = settings['CheckpointHook'].pop('monitor')
    settings['CheckpointHook']['monitor'] = monitor or 'weighted_mae'
    return settings


def test_spice_reference_yaml_is_the_twin_of_spice_py():
    """configs/spice_reference.yaml must build what configs/spice.py builds (keep them in
    step: a change to one needs the same change to the other)."""
    ref, canon = prepare_config(load_config(SPICE_YAML)), prepare_config(load_config(SPICE_PY))
    for loader in ('train_dataloader', 'val_dataloader'):   # trainer.num_workers sets both
        canon[loader].setdefault('num_workers', 0)
    for key in ('model', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'loss',
                'seed'):
        assert ref[key] == canon[key], key
    assert ref['train_cfg']['max_epochs'] == canon['train_cfg']['max_epochs']
    optimizer = dict(ref['optim_wrapper']['optimizer'])
    assert optimizer == canon['optim_wrapper']['optimizer']
    assert ref['optim_wrapper']['clip_grad'] == canon['optim_wrapper']['clip_grad']
    assert _hook_settings(ref) == _hook_settings(canon)
    # the same LR at every step of the run
    curves = []
    for plain in (ref, canon):
        model = torch.nn.Linear(2, 1)
        from trainkit.optim import build_optim_wrapper, build_param_schedule
        wrapper = build_optim_wrapper(model, plain['optim_wrapper'])
        epochs = plain['train_cfg']['max_epochs']
        schedule = build_param_schedule(plain['param_scheduler'], wrapper, epochs, 7)
        curves.append([r['lr_g0'] for r in simulate_schedule(wrapper, schedule, epochs, 7)])
    assert curves[0] == pytest.approx(curves[1], rel=1e-12)
    assert (ref['run_name'], ref['work_dir']) == ('spice-reference', 'work_dirs/spice-reference')


@pytest.fixture
def small_spice(tmp_path):
    """cfg-options that run spice_reference.yaml on a small demo file and model."""
    from trainkit.datasets.spice_demo import write_demo_spice
    data = str(tmp_path / 'spice.hdf5')
    write_demo_spice(data, n_molecules=8, conformations_per_molecule=4, seed=0)
    options = [f'trainer.save_dir={tmp_path / "out"}', 'model.num_features=16',
               'model.num_interactions=1']
    for loader in ('train_dataloader', 'val_dataloader'):
        options += [f'{loader}.dataset.path={data}', f'{loader}.dataset.val_fraction=0.25']
    return options


def test_spice_reference_yaml_dry_run_with_two_epochs(small_spice, capsys):
    code = train_tool.main([SPICE_YAML, '--dry-run', '--cfg-options', 'trainer.max_epochs=2',
                            *small_spice])
    out = capsys.readouterr().out
    assert code == 0
    assert 'trainer.max_epochs = 2 -> train_cfg.max_epochs' in out
    assert 'CosineAnnealingLR(T_max=2 epochs = max_epochs, in steps)' in out
    assert 'Dry run: nothing was trained or written.' in out


def test_spice_reference_yaml_trains_one_epoch(small_spice, tmp_path):
    assert train_tool.main([SPICE_YAML, '--cfg-options', 'trainer.max_epochs=1',
                            *small_spice]) == 0
    out = tmp_path / 'out'
    assert {'spice-reference_0.pt', 'spice-reference_last.pt', 'loss.log'} <= set(
        os.listdir(out))
    log = (out / 'loss.log').read_text()
    assert 'Energy MAE/RMSE' in log and 'Forces MAE/RMSE' in log
    assert f'Best Checkpoint: {out}/spice-reference_0.pt at Epoch 1' in log
