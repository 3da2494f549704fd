"""The per-step and per-batch fast paths give the numbers the plain computation gives.

LoggerHook keeps detached loss terms and folds them into the epoch sums in blocks; the NaN
guard reads a one-element loss with ``.item()``; ``Runner.val`` sums the loss on the device.
Each is checked against values recorded independently by a hook or recomputed by hand.

The per-step shortcuts (issue 8) are checked against the long way: the optimizer wrapper's
direct update, the optim_context left out only when it does nothing, the step's LR without
per-step schedules, WeightedLoss calling the loss kernels that ``F.*`` calls, and the loss
targets checked on a batch fetched as the DataLoader fetches it.
"""
import json
import math
import os

import pytest
import torch

import trainkit.hooks.logger as logger_module
from tests.support import components  # noqa: F401  (registers NaNAfter)
from trainkit.engine.runner import Runner
from trainkit.errors import TrainingDiverged
from trainkit.hooks import Hook
from trainkit.hooks.nan_guard import NanGuardHook
from trainkit.registry import HOOKS


@HOOKS.register_module(force=True)
class RecordLosses(Hook):
    """Every training batch's loss terms, as floats, with the epoch and whether it counted."""

    def __init__(self):
        self.rows = []

    def after_train_iter(self, runner, batch_idx, batch, preds, losses):
        self.rows.append((runner.epoch + 1, not runner.skipped_update,
                          {k: float(v.detach()) for k, v in losses.items()}))


def _json_rows(work_dir, kind):
    with open(os.path.join(work_dir, 'loss.jsonl')) as f:
        return [r for r in map(json.loads, f) if r['kind'] == kind]


def _train(cfg):
    cfg['custom_hooks'] = [dict(type='RecordLosses')]
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner, next(h for h in runner.hooks if isinstance(h, RecordLosses)).rows


@pytest.mark.parametrize('fold_at', [2, 5, 1024])  # every step; mid-epoch + at the end; at the end
def test_epoch_means_are_the_means_of_the_batch_losses(tiny_cfg, monkeypatch, fold_at):
    monkeypatch.setattr(logger_module, '_FOLD_AT', fold_at)
    _, rows = _train(tiny_cfg)
    epochs = _json_rows(tiny_cfg['work_dir'], 'epoch')
    assert [r['epoch'] for r in epochs] == [1, 2, 3, 4]
    for row in epochs:
        batch_losses = [terms['loss'] for epoch, _, terms in rows if epoch == row['epoch']]
        assert len(batch_losses) == 4
        assert row['mean_loss'] == pytest.approx(sum(batch_losses) / 4, rel=1e-6)
        assert row['mean_y'] == pytest.approx(sum(batch_losses) / 4, rel=1e-6)


def test_train_rows_show_the_loss_of_their_batch(tiny_cfg):
    _, rows = _train(tiny_cfg)
    train = _json_rows(tiny_cfg['work_dir'], 'train')
    steps = [terms['loss'] for _, _, terms in rows]  # one optimizer step per batch here
    assert [r['step'] for r in train] == [2, 4, 6, 8, 10, 12, 14, 16]
    for row in train:
        assert row['loss'] == pytest.approx(steps[row['step'] - 1], rel=1e-6)


def test_skipped_batches_stay_out_of_the_epoch_means(tiny_cfg, monkeypatch):
    monkeypatch.setattr(logger_module, '_FOLD_AT', 2)
    # samples 48.. have NaN targets: without shuffling the last batch of each epoch is skipped
    tiny_cfg['train_dataloader']['dataset'] = dict(type='NaNAfter', start=48, num_samples=64,
                                                   in_features=4)
    tiny_cfg['train_dataloader']['shuffle'] = False
    tiny_cfg['default_hooks']['nan_guard'] = dict(type='NanGuardHook', action='skip')
    _, rows = _train(tiny_cfg)
    assert sum(not counted for _, counted, _ in rows) == 4
    for row in _json_rows(tiny_cfg['work_dir'], 'epoch'):
        kept = [t['loss'] for e, counted, t in rows if e == row['epoch'] and counted]
        assert len(kept) == 3 and math.isfinite(row['mean_loss'])
        assert row['mean_loss'] == pytest.approx(sum(kept) / 3, rel=1e-6)


class _RunnerStub:
    epoch, inner_iter, iters_per_epoch, step, work_dir, world_size = 0, 0, 4, 0, 'w', 1


@pytest.mark.parametrize('loss, finite', [
    (torch.tensor(1.5), True), (torch.tensor([2.0]), True), (torch.tensor([1.0, 2.0]), True),
    (torch.tensor(float('nan')), False), (torch.tensor([float('inf')]), False),
    (torch.tensor([1.0, float('-inf')]), False), (torch.tensor(1.0, dtype=torch.bfloat16), True),
])
def test_nan_guard_reads_scalar_and_vector_losses(loss, finite):
    guard = NanGuardHook()
    if finite:
        assert guard.before_backward(_RunnerStub(), {'loss': loss}) is None
    else:
        with pytest.raises(TrainingDiverged, match='non-finite loss'):
            guard.before_backward(_RunnerStub(), {'loss': loss})


def test_val_loss_is_the_mean_of_the_batch_losses(tiny_cfg):
    runner = Runner.from_cfg(tiny_cfg)
    metrics = runner.val()
    model = runner.unwrapped_model
    with torch.no_grad():
        per_batch = [torch.nn.functional.mse_loss(model(b)['y'], b['y']).double()
                     for b in runner.val_dataloader]
    assert len(per_batch) == 2
    assert metrics['loss'] == float(sum(per_batch) / len(per_batch))  # same float64 sums


# -- the per-step shortcuts take the same path as the long way ----------------------------
def _sgd_pair(**wrapper_kwargs):
    from trainkit.optim.wrapper import OptimWrapper
    torch.manual_seed(0)
    models = [torch.nn.Linear(4, 2) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    wrappers = [OptimWrapper(optimizer=torch.optim.AdamW(m.parameters(), lr=0.1),
                             **wrapper_kwargs) for m in models]
    return models, wrappers


@pytest.mark.parametrize('kwargs, direct', [
    ({}, True), ({'accumulative_counts': 2}, False), ({'clip_grad': dict(max_norm=0.1)}, False)])
def test_direct_update_gives_the_weights_of_the_long_way(kwargs, direct):
    models, (fast, slow) = _sgd_pair(**kwargs)
    assert fast._direct is direct
    slow._direct = False
    x = torch.randn(6, 8, 4)
    for wrapper in (fast, slow):
        wrapper.begin_epoch(len(x))
    for batch in x:
        stepped = [w.update_params(m(batch).square().mean()) for m, w in zip(models, (fast, slow))]
        assert stepped[0] == stepped[1] == fast.should_update()
    for a, b in zip(*(m.parameters() for m in models)):
        assert torch.equal(a, b)


def test_amp_and_accumulation_under_ddp_keep_their_optim_context():
    from trainkit.optim.amp import AmpOptimWrapper
    from trainkit.optim.wrapper import OptimWrapper
    model = torch.nn.Linear(2, 1)
    ddp_like = torch.nn.Linear(2, 1)
    ddp_like.no_sync = lambda: None
    plain = OptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    windows = OptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                           accumulative_counts=2)
    amp = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    assert not plain.needs_optim_context(ddp_like) and not windows.needs_optim_context(model)
    assert windows.needs_optim_context(ddp_like) and amp.needs_optim_context(model)
    assert not amp._direct


def test_schedulers_still_count_the_optimizer_steps(tiny_cfg):
    """mmengine's schedulers wrap the wrapper's step() to warn when they step before it."""
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        Runner.from_cfg(tiny_cfg).train()
    assert not [w for w in caught if 'optimizer.step()' in str(w.message)]


@pytest.mark.parametrize('scheduler', [None, [dict(type='StepLR', step_size=1, gamma=0.5)]])
def test_train_rows_show_the_lr_of_their_step_without_per_step_schedules(tiny_cfg, scheduler):
    tiny_cfg['param_scheduler'] = scheduler
    runner, _ = _train(tiny_cfg)
    assert not runner._schedule_per_step
    lrs = [(r['epoch'], r['lr']) for r in _json_rows(tiny_cfg['work_dir'], 'train')]
    factor = 0.5 if scheduler else 1.0
    assert lrs == [(epoch, 1e-2 * factor ** (epoch - 1)) for epoch in (1, 1, 2, 2, 3, 3, 4, 4)]


@pytest.mark.parametrize('lossfn, kwargs, functional', [
    ('mse', {}, torch.nn.functional.mse_loss), ('mae', {}, torch.nn.functional.l1_loss),
    ('smoothl1', {'beta': 0.3},
     lambda a, b: torch.nn.functional.smooth_l1_loss(a, b, beta=0.3))])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64, torch.bfloat16])
def test_weighted_loss_kernels_give_the_values_and_gradients_of_F(lossfn, kwargs, functional,
                                                                  dtype):
    from trainkit.losses import WeightedLoss
    loss = WeightedLoss(dict(energy=1.0, forces=2.5), lossfn=lossfn, **kwargs)
    torch.manual_seed(0)
    pred = {'energy': torch.randn(9, dtype=dtype, requires_grad=True),
            'forces': torch.randn(30, 3, dtype=dtype, requires_grad=True)}
    batch = {'energy': torch.randn(9, dtype=dtype), 'forces': torch.randn(30, 3, dtype=dtype)}
    got = loss(pred, batch)
    want = {k: functional(pred[k], batch[k]) for k in ('energy', 'forces')}
    want['loss'] = want['energy'] + want['forces'] * 2.5
    assert list(got) == ['loss', 'energy', 'forces']
    for key in want:
        assert torch.equal(got[key], want[key]), key
    grads = [torch.autograd.grad(t['loss'], list(pred.values())) for t in (got, want)]
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def test_a_user_elementwise_loss_is_still_called_as_a_module():
    from trainkit.losses import MSELoss, WeightedLoss
    from trainkit.registry import LOSSES

    @LOSSES.register_module(name='counting_mse', force=True)
    class CountingMSE(MSELoss):
        calls = 0

        def forward(self, pred, target):
            CountingMSE.calls += 1
            return super().forward(pred, target)
    seen = []
    loss = WeightedLoss(dict(y=1.0), lossfn='counting_mse')
    assert [name for name, _ in loss.named_modules()] == ['', 'lossfn']
    loss.lossfn.register_forward_hook(lambda *args: seen.append(1))
    loss({'y': torch.ones(2)}, {'y': torch.zeros(2)})
    assert CountingMSE.calls == 1 and seen == [1]
    loss.lossfn = MSELoss()  # replaced: the built-in kernel again, no more counting
    assert float(loss({'y': torch.ones(2)}, {'y': torch.zeros(2)})['loss']) == 1.0
    assert CountingMSE.calls == 1 and seen == [1]


def test_loss_targets_are_checked_on_a_batch_fetched_like_the_dataloader_does(tmp_path):
    """A dataset with ``__getitems__`` builds batches itself; its collate_fn may only take
    such a batch (as bench/overhead.py's does)."""
    from torch.utils.data import DataLoader, Dataset

    from trainkit.engine.data import check_loss_targets
    from trainkit.errors import DataError
    from trainkit.losses import WeightedLoss

    class Batched(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            raise AssertionError('fetched one item at a time')

        def __getitems__(self, indices):
            return {'x': torch.zeros(len(indices), 4), 'y': torch.zeros(len(indices), 1)}

    def dicts_only(batch):
        assert isinstance(batch, dict)
        return batch
    loader = DataLoader(Batched(), batch_size=4, collate_fn=dicts_only)
    check_loss_targets(WeightedLoss(dict(y=1.0)), loader, 'train_dataloader')
    with pytest.raises(DataError, match="no target 'energy'"):
        check_loss_targets(WeightedLoss(dict(energy=1.0)), loader, 'train_dataloader')


@pytest.mark.parametrize('grad_on', [True, False])
def test_ema_update_builds_no_graph_and_restores_grad_mode(grad_on):
    from trainkit.optim.ema import ExponentialMovingAverage
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    ema = ExponentialMovingAverage(model, decay=0.75)
    before = [p.detach().clone() for p in ema.module.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model(torch.randn(8, 3))  # moves the BatchNorm running statistics
    with torch.set_grad_enabled(grad_on):
        ema.update(model)
        assert torch.is_grad_enabled() is grad_on
    for shadow, old, new in zip(ema.module.parameters(), before, model.parameters()):
        assert shadow.grad_fn is None and not shadow.requires_grad and shadow.is_leaf
        assert torch.equal(shadow, torch.lerp(old, new.detach(), 0.25))
    assert torch.equal(ema.module[1].running_mean, model[1].running_mean)
    assert ema.num_updates == 1
