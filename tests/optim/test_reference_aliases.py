"""The reference trainer's scheduler aliases (``trainer`` section), checked against the
reference formulas step by step, and the plateau stop in a real run."""
import math

import pytest
import torch
from torch import nn

from trainkit.config.reference.expand import expand_reference_keys
from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError
from trainkit.hooks.hook import Hook
from trainkit.optim import build_optim_wrapper, build_param_schedule
from trainkit.optim.schedule.simulate import simulate_schedule

MAX_LR, MIN_LR = 1e-3, 1e-5


def expand(**trainer):
    trainer.setdefault('warmup_scheduler', None)
    return expand_reference_keys(dict(trainer=trainer))


def lr_curve(cfg, steps_per_epoch):
    torch.manual_seed(0)
    wrapper = build_optim_wrapper(nn.Linear(3, 1), cfg['optim_wrapper'])
    epochs = cfg['train_cfg']['max_epochs']
    schedule = build_param_schedule(cfg['param_scheduler'], wrapper, epochs, steps_per_epoch)
    return [row['lr_g0'] for row in simulate_schedule(wrapper, schedule, epochs,
                                                      steps_per_epoch)]


@pytest.mark.parametrize('alias', ['cosine_annealing', 'cosine', 'Cosine_Annealing', 'COSINE'])
def test_cosine_alias_matches_reference_formula(alias):
    """η_t = η_min + ½(η_max − η_min)(1 + cos(π t / T)), t in steps, T = T_max × steps/epoch
    (past T_max the cosine rises again, as torch's closed form does)."""
    spe, t_max, epochs = 7, 4, 5
    cfg = expand(lr_scheduler=alias, lr_scheduler_kwargs=dict(T_max=t_max), max_lr=MAX_LR,
                 min_lr=MIN_LR, max_epochs=epochs)
    assert cfg['param_scheduler'] == [dict(type='CosineAnnealingLR', T_max=t_max, eta_min=MIN_LR,
                                           by_epoch=True, convert_to_iter_based=True)]
    lrs = lr_curve(cfg, spe)
    assert len(lrs) == epochs * spe
    for t, lr in enumerate(lrs):
        expected = MIN_LR + 0.5 * (MAX_LR - MIN_LR) * (1 + math.cos(math.pi * t / (t_max * spe)))
        assert lr == pytest.approx(expected, rel=1e-9, abs=1e-18), t
    assert min(lrs) == pytest.approx(MIN_LR, rel=1e-9)      # reached at t = T_max × spe


def test_cosine_t_max_defaults_to_max_epochs():
    cfg = expand(lr_scheduler='cosine', max_lr=MAX_LR, max_epochs=3)
    spe = 4
    for t, lr in enumerate(lr_curve(cfg, spe)):
        assert lr == pytest.approx(0.5 * MAX_LR * (1 + math.cos(math.pi * t / (3 * spe))),
                                   rel=1e-9, abs=1e-18)


@pytest.mark.parametrize('alias,t_0,t_mult', [('cosine_annealing_warm_restarts', 2, 1),
                                              ('cosine_restarts', 1, 2),
                                              ('Cosine_Restarts', 1, 3)])
def test_cosine_restarts_alias_matches_torch(alias, t_0, t_mult):
    spe, epochs = 5, 9
    cfg = expand(lr_scheduler=alias, lr_scheduler_kwargs=dict(T_0=t_0, T_mult=t_mult),
                 max_lr=MAX_LR, min_lr=MIN_LR, max_epochs=epochs)
    lrs = lr_curve(cfg, spe)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=MAX_LR)
    torch_sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        opt, T_0=t_0 * spe, T_mult=t_mult, eta_min=MIN_LR)
    restarts = 0
    for t, lr in enumerate(lrs):
        assert lr == pytest.approx(opt.param_groups[0]['lr'], rel=1e-9), t
        restarts += t > 0 and lr > lrs[t - 1]
        opt.step()
        torch_sched.step()
    assert restarts >= 2 if t_mult < 3 else restarts >= 1
    assert lrs[0] == MAX_LR


def test_warmup_alias_with_cosine_is_case_insensitive():
    cfg = expand(warmup_scheduler='Linear', warmup_epochs=1, lr_scheduler='Cosine',
                 max_lr=MAX_LR, min_lr=0.0, max_epochs=3)
    assert cfg['param_scheduler'][0] == dict(type='LinearWarmup', warmup_epochs=1)
    spe = 4
    for t, lr in enumerate(lr_curve(cfg, spe)):
        expected = 0.5 * MAX_LR * (1 + math.cos(math.pi * t / (3 * spe))) * min(1, (t + 1) / spe)
        assert lr == pytest.approx(expected, rel=1e-9, abs=1e-18), t
    for kind, name in (('RAdam', 'RAdamWarmup'), ('UNTUNED_LINEAR', 'UntunedLinearWarmup'),
                       ('exponential', 'ExponentialWarmup')):
        entries = expand(warmup_scheduler=kind, lr_scheduler='cosine')['param_scheduler']
        assert entries[0]['type'] == name
    with pytest.raises(ConfigError, match='lr_scheduler'):
        expand(lr_scheduler='cosine_anealing')
    with pytest.raises(ConfigError, match='T_0'):
        expand(lr_scheduler='cosine_restarts')


# ---------------------------------------------------------------------------- plateau stop
class Stuck(nn.Module):
    """A model whose validation error cannot change: its output ignores its weights."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, batch):
        return {'y': batch['x'][:, :1] * 0.0 + self.w * 0.0}


class EpochLR(Hook):
    def __init__(self):
        self.lrs = []

    def after_train_epoch(self, runner):
        self.lrs.append(runner.optim_wrapper.optimizer.param_groups[0]['lr'])


@pytest.mark.parametrize('alias', ['reduce_on_plateau', 'Plateau'])
def test_plateau_alias_reduces_like_torch_and_stops_below_min_lr(alias, tmp_path, capsys):
    """factor 0.1, patience 1 on a flat validation error: 1e-2 → 1e-3 (epoch 3) → 1e-4
    (epoch 5); at epoch 7 a reduction would give 1e-5 < min_lr = 2e-5, so the run stops
    after epoch 7 of 50 — whereas torch's ReduceLROnPlateau(min_lr=2e-5) would clamp and
    never stop."""
    cfg = expand_reference_keys(dict(
        trainer=dict(lr_scheduler=alias, lr_scheduler_kwargs=dict(factor=0.1, patience=1),
                     max_lr=1e-2, min_lr=2e-5, warmup_scheduler=None, max_epochs=50,
                     ema_decay=None, losses_weight=dict(y=1.0), lossfn='mae'),
        train_dataloader=dict(dataset=dict(type='SyntheticRegression', num_samples=8,
                                           in_features=2), batch_size=4),
        val_dataloader=dict(dataset=dict(type='SyntheticRegression', num_samples=8,
                                         in_features=2, split='val'), batch_size=8)))
    assert cfg['param_scheduler'] == [dict(type='PlateauLR', monitor='weighted_mae', factor=0.1,
                                           patience=1, stop_lr=2e-5)]
    recorder = EpochLR()
    runner = Runner(Stuck(), cfg['train_dataloader'], cfg['val_dataloader'],
                    optim_wrapper=cfg['optim_wrapper'], loss=cfg['loss'],
                    param_scheduler=cfg['param_scheduler'],
                    max_epochs=cfg['train_cfg']['max_epochs'], hooks=[recorder],
                    work_dir=str(tmp_path), seed=0, device='cpu')
    runner.train()
    assert runner.epoch == 7
    assert runner.stop_reason is not None
    assert 'below stop_lr=2e-05' in runner.stop_reason and '1.000e-05' in runner.stop_reason
    assert 'Stop requested: plateau' in capsys.readouterr().out

    # the same reductions as torch's ReduceLROnPlateau on the same (flat) values
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1e-2)
    torch_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=1,
                                                             min_lr=2e-5)
    expected = []
    for _ in range(6):
        torch_sched.step(1.0)
        expected.append(opt.param_groups[0]['lr'])
    assert recorder.lrs[:6] == pytest.approx(expected, rel=1e-12)
    assert recorder.lrs[:6] == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3, 1e-4, 1e-4], rel=1e-12)
    # torch clamps instead of stopping: the LR never goes below min_lr
    for _ in range(20):
        torch_sched.step(1.0)
    assert opt.param_groups[0]['lr'] == pytest.approx(2e-5)


def test_plateau_alias_renames_torch_arguments():
    entry = expand(lr_scheduler='plateau', min_lr=1e-6, lr_scheduler_kwargs=dict(
        mode='max', threshold_mode='abs', patience=3, cooldown=2))['param_scheduler'][0]
    assert entry == dict(type='PlateauLR', monitor='weighted_mae', factor=0.1, patience=3,
                         stop_lr=1e-6, rule='greater', threshold_rule='abs', cooldown=2)
    with pytest.raises(ConfigError, match='min_lr'):
        expand(lr_scheduler='plateau', lr_scheduler_kwargs=dict(min_lr=1e-6))
