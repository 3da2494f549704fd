"""The per-step and per-batch fast paths give the numbers the plain computation gives.

LoggerHook keeps detached loss terms and folds them into the epoch sums in blocks; the NaN
guard reads a one-element loss with ``.item()``; ``Runner.val`` sums the loss on the device.
Each is checked against values recorded independently by a hook or recomputed by hand.
"""
import json
import math
import os

import pytest
import torch

import components  # noqa: F401  (registers NaNAfter)
import trainkit.hooks.logger as logger_module
from trainkit.errors import TrainingDiverged
from trainkit.hooks import Hook
from trainkit.hooks.nan_guard import NanGuardHook
from trainkit.registry import HOOKS
from trainkit.runner import Runner


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
