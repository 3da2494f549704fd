"""Resume in the middle of a warmup: the LR of every step after the resume and the final
weights are those of an uninterrupted run."""
import pytest
import torch

from trainkit.engine.runner import Runner
from trainkit.hooks.checkpoint import CheckpointHook
from trainkit.hooks.hook import Hook
from trainkit.models.mlp import MLP

EPOCHS = 4


class LRRecorder(Hook):
    def __init__(self):
        self.rows = []

    def before_train_iter(self, runner, batch_idx, batch):
        self.rows.append((runner.step, [g['lr'] for g in
                                        runner.optim_wrapper.optimizer.param_groups]))


class Interrupted(Exception):
    pass


class StopAfter(Hook):
    """Interrupt the run after ``epochs`` epochs (the checkpoint of that epoch is written)."""

    priority = 'LOWEST'  # after the checkpoint hook

    def __init__(self, epochs):
        self.epochs = epochs

    def after_train_epoch(self, runner):
        if runner.epoch + 1 == self.epochs:
            raise Interrupted(f'interrupted after epoch {self.epochs} for the test')


def make_runner(work_dir, *hooks, resume=False):
    torch.manual_seed(0)
    return Runner(
        MLP(in_features=4, hidden=[16]),
        dict(dataset=dict(type='SyntheticRegression', num_samples=22, in_features=4),
             batch_size=4, shuffle=True),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.01),
                           paramwise_cfg=dict(custom_keys={'net.2': dict(lr_mult=0.5)})),
        loss=dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0)),
        param_scheduler=[dict(type='LinearWarmup', warmup_epochs=3),
                         dict(type='CosineAnnealingLR', eta_min=1e-4, by_epoch=True,
                              convert_to_iter_based=True),
                         dict(type='MultiStepLR', milestones=[1, 3], gamma=0.5,
                              by_epoch=True)],
        max_epochs=EPOCHS, hooks=[CheckpointHook(best_k=None), *hooks], work_dir=str(work_dir),
        run_name='rw', seed=0, device='cpu', resume=resume)


def test_resume_mid_warmup_is_exact(tmp_path):
    full_lr = LRRecorder()
    full = make_runner(tmp_path / 'full', full_lr)
    full.train()

    first_lr = LRRecorder()
    first = make_runner(tmp_path / 'split', first_lr, StopAfter(2))
    with pytest.raises(Interrupted):
        first.train()
    assert first.epoch + 1 == 2 and first.schedule.warmup.last_step < 3 * first.steps_per_epoch
    assert (tmp_path / 'split' / 'rw_last.pt').is_file()

    resumed_lr = LRRecorder()
    resumed = make_runner(tmp_path / 'split', resumed_lr, resume=True)
    resumed.train()
    assert resumed.start_epoch == 2 and resumed.epoch == EPOCHS

    spe = full.steps_per_epoch
    assert spe == 6 and len(full_lr.rows) == EPOCHS * spe
    assert first_lr.rows == full_lr.rows[:2 * spe]
    assert len(resumed_lr.rows) == 2 * spe
    for (step, lrs), (full_step, full_lrs) in zip(resumed_lr.rows, full_lr.rows[2 * spe:]):
        assert step == full_step
        assert lrs == pytest.approx(full_lrs, rel=1e-15, abs=0), step
    # the warmup (18 steps) really spans the resume at step 12
    assert full.schedule.warmup.warmup_params[0]['warmup_period'] == 3 * spe
    assert resumed_lr.rows[0][0] == 2 * spe < 3 * spe
    assert resumed.schedule.warmup.last_step == full.schedule.warmup.last_step

    final = dict(resumed.unwrapped_model.state_dict())
    for name, value in full.unwrapped_model.state_dict().items():
        assert torch.equal(final[name], value), name
    opt_full = full.optim_wrapper.optimizer.state_dict()['state']
    opt_resumed = resumed.optim_wrapper.optimizer.state_dict()['state']
    for key in opt_full:
        for name in ('exp_avg', 'exp_avg_sq'):
            assert torch.equal(opt_full[key][name], opt_resumed[key][name])
