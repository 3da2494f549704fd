"""Warmup: the LR used at 0-based optimizer step k is ``sched_k · ω(k)`` over whole runs.

``sched_k`` is the undampened schedule written out in closed form (the cosine is not delayed
by the warmup) and ``ω`` is pytorch-warmup's factor written out here from its definitions:

    linear               ω = min(1, (k+1)/τ)
    exponential          ω = 1 − exp(−(k+1)/⌊τ/2⌋)
    untuned linear       linear with τ = ⌊2/(1−β₂)⌋
    untuned exponential  ω = 1 − exp(−(k+1)/⌊1/(1−β₂)⌋)
    RAdam                √((ρ−4)(ρ−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρ)) at ρ = ρ(k+δ)

(⌊·⌋ of the float expression, as pytorch-warmup computes it: ``int(2.0 / (1.0 - beta2))``.)
"""
import math

import pytest
import torch
from torch import nn

from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError
from trainkit.hooks.hook import Hook
from trainkit.models.mlp import MLP
from trainkit.optim import build_optim_wrapper, build_param_schedule
from trainkit.optim.schedule.simulate import simulate_schedule

BETA2 = 0.9             # untuned linear τ = 20, untuned exponential τ' = 10, RAdam δ = 6
LR, ETA_MIN = 1e-2, 1e-4


# ---------------------------------------------------------------- the formulas, written out
def omega_linear(k, tau):
    return min(1.0, (k + 1) / tau)


def omega_exponential(k, tau_prime):
    return 1.0 - math.exp(-(k + 1) / tau_prime)


def radam_omega(k, beta2):
    rho_inf = 2.0 / (1.0 - beta2) - 1.0

    def rho(t):
        return rho_inf - 2.0 * t * beta2 ** t / (1.0 - beta2 ** t)

    offset = 1
    while rho(offset) <= 4:
        offset += 1
    r = rho(k + offset)
    return math.sqrt((r - 4) * (r - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * r))


def omega_for(kind, steps_per_epoch, warmup_epochs=None):
    tau = None if warmup_epochs is None else round(warmup_epochs * steps_per_epoch)
    return {
        'LinearWarmup': lambda k: omega_linear(k, tau),
        'ExponentialWarmup': lambda k: omega_exponential(k, tau // 2),
        'UntunedLinearWarmup': lambda k: omega_linear(k, int(2.0 / (1.0 - BETA2))),
        'UntunedExponentialWarmup': lambda k: omega_exponential(k, int(1.0 / (1.0 - BETA2))),
        'RAdamWarmup': lambda k: radam_omega(k, BETA2),
    }[kind]


def cosine(k, total, eta_max=LR, eta_min=ETA_MIN):
    return eta_min + 0.5 * (eta_max - eta_min) * (1 + math.cos(math.pi * k / total))


# ------------------------------------------------------------------------------- helpers
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Linear(3, 4)
        self.head = nn.Linear(4, 1)


def build(param_scheduler, epochs, steps_per_epoch, optimizer=None, paramwise_cfg=None):
    optimizer = optimizer or dict(type='AdamW', lr=LR, betas=(0.9, BETA2), weight_decay=0.0)
    cfg = dict(optimizer=optimizer)
    if paramwise_cfg:
        cfg['paramwise_cfg'] = paramwise_cfg
    wrapper = build_optim_wrapper(Net(), cfg)
    schedule = build_param_schedule(param_scheduler, wrapper, epochs, steps_per_epoch)
    return wrapper, schedule


def simulate(param_scheduler, epochs, steps_per_epoch, **kwargs):
    wrapper, schedule = build(param_scheduler, epochs, steps_per_epoch, **kwargs)
    rows = simulate_schedule(wrapper, schedule, epochs, steps_per_epoch)
    groups = len(wrapper.optimizer.param_groups)
    return [[row[f'lr_g{i}'] for i in range(groups)] for row in rows], schedule


WARMUPS = [
    (dict(type='LinearWarmup', warmup_epochs=2), 'LinearWarmup'),
    (dict(type='ExponentialWarmup', warmup_epochs=3), 'ExponentialWarmup'),
    (dict(type='UntunedLinearWarmup'), 'UntunedLinearWarmup'),
    (dict(type='UntunedExponentialWarmup'), 'UntunedExponentialWarmup'),
    (dict(type='RAdamWarmup'), 'RAdamWarmup'),
]


@pytest.mark.parametrize('entry,kind', WARMUPS, ids=[k for _, k in WARMUPS])
def test_warmup_dampens_iteration_cosine_from_step_zero(entry, kind):
    epochs, spe = 8, 7
    total = epochs * spe
    main = dict(type='CosineAnnealingLR', eta_min=ETA_MIN, by_epoch=True,
                convert_to_iter_based=True)
    omega = omega_for(kind, spe, entry.get('warmup_epochs'))
    for order in ([entry, main], [main, entry]):        # position in the list is irrelevant
        rows, schedule = simulate(order, epochs, spe)
        assert len(rows) == total
        for k, (lr,) in enumerate(rows):
            assert lr == pytest.approx(cosine(k, total) * omega(k), rel=1e-9), (kind, k)
        # the schedulers captured the undampened LR
        assert schedule.optimizer.param_groups[0]['initial_lr'] == LR
    # the warmup really acts in the first steps and is over (ω → 1) by the end
    assert omega(0) < 0.5 and omega(total - 1) == pytest.approx(1.0, abs=1e-2)


@pytest.mark.parametrize('entry,kind', WARMUPS[:2] + WARMUPS[4:],
                         ids=['LinearWarmup', 'ExponentialWarmup', 'RAdamWarmup'])
def test_warmup_with_epoch_based_scheduler_and_two_groups(entry, kind):
    """Epoch-based MultiStepLR steps on undampened LRs at epoch ends, inside the warmup."""
    epochs, spe = 6, 5
    omega = omega_for(kind, spe, entry.get('warmup_epochs'))
    rows, _ = simulate([entry, dict(type='MultiStepLR', milestones=[1, 4], gamma=0.5,
                                    by_epoch=True)], epochs, spe,
                       paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=0.1)}))
    mults = [1.0, 1.0, 0.1, 0.1]     # groups: body.weight, body.bias, head.weight, head.bias
    for k, lrs in enumerate(rows):
        epoch = k // spe
        sched = LR * 0.5 ** ((epoch >= 1) + (epoch >= 4))
        assert len(lrs) == len(mults)
        for group, (lr, mult) in enumerate(zip(lrs, mults)):
            assert lr == pytest.approx(mult * sched * omega(k), rel=1e-12), (kind, k, group)


def test_warmup_with_chained_iteration_schedulers():
    """Two chained (recursive) iteration schedulers under one warmup stay right."""
    epochs, spe = 4, 6
    total = epochs * spe
    rows, _ = simulate([dict(type='LinearWarmup', warmup_steps=9),
                        dict(type='LinearLR', start_factor=1.0, end_factor=0.5, by_epoch=False,
                             begin=0, end=total),
                        dict(type='CosineAnnealingLR', T_max=total, eta_min=0.0,
                             by_epoch=False)], epochs, spe)
    for k, (lr,) in enumerate(rows):
        linear = 1.0 - 0.5 * k / (total - 1)     # mmengine's LinearLR: end - begin - 1 steps
        # chained LinearLR × CosineAnnealingLR (eta_min 0) multiply
        expected = LR * linear * 0.5 * (1 + math.cos(math.pi * k / total)) * min(1, (k + 1) / 9)
        assert lr == pytest.approx(expected, rel=1e-9), k


@pytest.mark.parametrize('warmup_epochs', [0, None])
def test_zero_or_none_warmup_epochs_means_no_warmup(warmup_epochs):
    main = dict(type='CosineAnnealingLR', eta_min=ETA_MIN, by_epoch=True,
                convert_to_iter_based=True)
    rows, schedule = simulate([dict(type='LinearWarmup', warmup_epochs=warmup_epochs), main],
                              3, 4)
    assert schedule.warmup is None
    assert [lr for (lr,) in rows] == pytest.approx([cosine(k, 12) for k in range(12)],
                                                   rel=1e-12)
    assert rows[0][0] == LR


def test_untuned_and_radam_need_adam_betas_and_take_no_period():
    sgd = dict(type='SGD', lr=0.1)
    for kind in ('UntunedLinearWarmup', 'UntunedExponentialWarmup', 'RAdamWarmup'):
        with pytest.raises(ConfigError, match='betas'):
            build([dict(type=kind)], 2, 3, optimizer=sgd)
        with pytest.raises(ConfigError, match='warmup_epochs'):
            build([dict(type=kind, warmup_epochs=2)], 2, 3)
    with pytest.raises(ConfigError, match='not both'):
        build([dict(type='LinearWarmup', warmup_epochs=2, warmup_steps=3)], 2, 3)
    with pytest.raises(ConfigError, match='more than one warmup'):
        build([dict(type='LinearWarmup', warmup_epochs=1), dict(type='RAdamWarmup')], 2, 3)


class WindowLR(Hook):
    """LR of every optimizer step: recorded at the first batch of each accumulation window."""

    def __init__(self, accumulate):
        self.accumulate, self.rows = accumulate, []

    def before_train_iter(self, runner, batch_idx, batch):
        if batch_idx % self.accumulate == 0:
            self.rows.append(runner.optim_wrapper.optimizer.param_groups[0]['lr'])


@pytest.mark.parametrize('kind', ['LinearWarmup', 'ExponentialWarmup'])
def test_warmup_epochs_use_real_optimizer_steps_per_epoch(tmp_path, kind):
    """23 samples, batch 2, drop_last → 11 batches; accumulative_counts=3 → 4 optimizer steps
    per epoch (windows 3, 3, 3, 2). warmup_epochs=2.5 → τ = 10 steps (not 2.5 × 11 or × 12)."""
    epochs, accumulate = 5, 3
    recorder = WindowLR(accumulate)
    runner = Runner(
        MLP(in_features=4, hidden=[8]),
        dict(dataset=dict(type='SyntheticRegression', num_samples=23, in_features=4),
             batch_size=2, shuffle=True, drop_last=True),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=LR, weight_decay=0.0),
                           accumulative_counts=accumulate),
        loss=dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0)),
        param_scheduler=[dict(type=kind, warmup_epochs=2.5),
                         dict(type='CosineAnnealingLR', eta_min=ETA_MIN, by_epoch=True,
                              convert_to_iter_based=True)],
        max_epochs=epochs, hooks=[recorder], work_dir=str(tmp_path), seed=0, device='cpu')
    assert (runner.iters_per_epoch, runner.steps_per_epoch) == (11, 4)
    runner.train()
    assert runner.step == epochs * 4
    omega = omega_for(kind, 4, 2.5)
    assert len(recorder.rows) == epochs * 4
    for k, lr in enumerate(recorder.rows):
        assert lr == pytest.approx(cosine(k, epochs * 4) * omega(k), rel=1e-9), k
    assert runner.schedule.warmup.warmup_params[0]['warmup_period'] == (
        10 if kind == 'LinearWarmup' else 5)


def test_warmup_period_is_an_integer_number_of_steps():
    _, schedule = build([dict(type='LinearWarmup', warmup_epochs=1.5)], 2, 5)
    period = schedule.warmup.warmup_params[0]['warmup_period']
    assert isinstance(period, int) and period == 8
