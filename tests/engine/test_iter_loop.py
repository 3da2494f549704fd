"""Iteration-based training (MMEngine's ``IterBasedTrainLoop``): ``max_iters`` batches across
epoch boundaries, validation and end-of-round checkpoints every ``val_interval`` iterations,
and an exact resume, also from inside a round."""
import json
import os

import pytest
import torch

import tests.support.components  # noqa: F401 - registers InterruptAtStep, RecordWeights
from tests.support import reliability as h
from tests.support.configs import tiny_config
from trainkit.config.validate import validate_config
from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError
from trainkit.hooks import Hook


class Batches(Hook):
    priority = 'LOWEST'

    def __init__(self):
        self.seen = []

    def before_train_iter(self, runner, batch_idx, batch):
        self.seen.append(batch['x'][:, 0].clone())


def _cfg(work, **train_cfg):
    cfg = tiny_config(work, train_cfg=dict(type='IterBasedTrainLoop', max_iters=10,
                                           val_interval=4, **train_cfg),
                      default_hooks=dict(
                          logger=dict(type='LoggerHook', log_steps=1, progress_bar=False),
                          checkpoint=dict(type='CheckpointHook', best_k=2, interval_steps=3),
                          ema=dict(type='EMAHook', ema_decay=0.9)))
    # 64 samples in batches of 16: 4 batches an epoch of data
    cfg['param_scheduler'] = [dict(type='CosineAnnealingLR', T_max=10, by_epoch=False)]
    return cfg


def test_max_iters_goes_across_epochs_with_validation_every_val_interval(tmp_path):
    work = str(tmp_path / 'iters')
    runner = Runner.from_cfg(_cfg(work))
    seen = Batches()
    runner.hooks.append(seen)
    runner.train()
    assert (runner.step, runner.iter) == (10, 10)
    rows = [json.loads(line) for line in open(os.path.join(work, 'loss.jsonl'))]
    assert [r['step'] for r in rows if r['kind'] == 'val'] == [4, 8, 10]
    assert [r['step'] for r in rows if r['kind'] == 'train'] == list(range(1, 11))
    # the batches are those of an epoch-based run's first 10 (data epochs 0, 1 and half of 2)
    epochs = tiny_config(str(tmp_path / 'epochs'), train_cfg=dict(max_epochs=3))
    reference = Runner.from_cfg(epochs)
    ref_seen = Batches()
    reference.hooks.append(ref_seen)
    reference.train()
    assert len(seen.seen) == 10
    assert all(torch.equal(a, b) for a, b in zip(seen.seen, ref_seen.seen[:10]))
    assert h.load(os.path.join(work, 'tiny_last.pt'))['meta']['step'] == 10


@pytest.mark.parametrize('stop_step', [3, 6])  # round 1 (of 4 iterations); round 2
def test_resume_inside_a_round_is_bit_identical(tmp_path, stop_step):
    straight, broken = str(tmp_path / 'straight'), str(tmp_path / 'broken')
    Runner.from_cfg(_cfg(straight)).train()
    with pytest.raises(KeyboardInterrupt):
        Runner.from_cfg(dict(_cfg(broken), custom_hooks=[
            dict(type='InterruptAtStep', step=stop_step)])).train()
    assert h.load(os.path.join(broken, 'tiny_last.pt'))['meta']['step'] == stop_step
    Runner.from_cfg(_cfg(broken), resume=True).train()
    assert h.final_state_problems(broken, straight) == []
    assert h.best_k_problems(broken, straight, 2) == []
    assert h.log_problems(broken, straight) == []


def test_by_epoch_false_is_the_same_loop(tmp_path):
    a = Runner.from_cfg(_cfg(str(tmp_path / 'a')))
    cfg = _cfg(str(tmp_path / 'b'))
    cfg['train_cfg'] = dict(by_epoch=False, max_iters=10, val_interval=4)
    b = Runner.from_cfg(cfg)
    assert (a.max_iters, a.max_epochs, a.iters_per_epoch) == (b.max_iters, b.max_epochs,
                                                              b.iters_per_epoch) == (10, 3, 4)


@pytest.mark.parametrize('train_cfg, expected', [
    (dict(type='IterBasedTrainLoop', val_interval=4), 'needs max_iters'),
    (dict(by_epoch=False, max_iters=10, max_epochs=2), 'exclude each other'),
    (dict(max_iters=10), "needs type='IterBasedTrainLoop' or by_epoch=False"),
    (dict(type='IterBasedTrainLoop', max_iters=0), 'train_cfg.max_iters: expected an int >= 1'),
    (dict(type='IterBasedLoop', max_iters=5), "'IterBasedLoop' is not supported"),
])
def test_iteration_loop_config_errors(tmp_path, train_cfg, expected):
    cfg = tiny_config(str(tmp_path), train_cfg=train_cfg)
    with pytest.raises(ConfigError, match=expected):
        validate_config(cfg)
