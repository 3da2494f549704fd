"""Edge cases of the Runner: which checkpoint a resume uses, stopped runs, validation alone,
moved work dirs, models without loss weights and epochs without batches."""
import os
import re

import pytest
import torch
from torch import nn

from tests.support import components  # noqa: F401  (registers test components)
from tests.support.components import Crash
from tests.support.configs import tiny_config
from tools.train import main as train_main
from trainkit.checkpointing.format import load_checkpoint
from trainkit.engine.loss_and_metrics import build_metrics
from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError, DataError
from trainkit.metrics import ErrorMetrics, LossWeightedMetrics, Metrics, NamedMetrics
from trainkit.optim.wrapper import (
    EpochAlignedWrapper,
    OptimWrapper,
    PlannedContextWrapper,
    SkippableWrapper,
)


def run(cfg):
    runner = Runner.from_cfg(cfg)
    runner.log.console = runner.default_console = lambda line: None
    runner.train()
    return runner


def weights(runner):
    return {k: v.clone() for k, v in runner.unwrapped_model.state_dict().items()}


def test_bare_resume_continues_the_run_not_the_pretrained_file(tmp_path):
    pretrained = run(tiny_config(tmp_path / 'pre', train_cfg=dict(max_epochs=1)))
    pre_file = os.path.join(pretrained.work_dir, 'tiny_last.pt')
    finetune = tiny_config(tmp_path / 'ft', ckpt_file=pre_file, train_cfg=dict(max_epochs=3),
                           custom_hooks=[dict(type='CrashAfterEpoch', epoch=2)])
    with pytest.raises(Crash):
        run(finetune)
    config = tmp_path / 'ft.py'
    finetune['custom_hooks'] = []
    config.write_text(''.join(f'{k} = {v!r}\n' for k, v in finetune.items()))
    assert train_main([str(config), '--resume']) == 0
    text = open(tmp_path / 'ft' / 'loss.log', encoding='utf-8').read()
    assert f"Resumed from {tmp_path / 'ft' / 'tiny_last.pt'}: epoch 2 done" in text
    assert load_checkpoint(str(tmp_path / 'ft' / 'tiny_last.pt'))['meta']['epoch'] == 3


def test_an_early_stopped_run_stays_stopped_on_resume(tmp_path):
    cfg = tiny_config(tmp_path / 'w', train_cfg=dict(max_epochs=6),
                      metrics=dict(type='ScriptedMetric', values=[1.0, 1.0, 1.0], key='y_mae'),
                      default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                                         monitor='y_mae')),
                      custom_hooks=[dict(type='EarlyStoppingHook', early_stoppings=dict(
                          y=dict(metric='mae', patience=1)))])
    first = run(cfg)
    assert first.epoch == 2 and first.stop_reason.startswith('early stopping')
    files = {n: open(os.path.join(first.work_dir, n), 'rb').read()
             for n in os.listdir(first.work_dir)}
    messages = []
    again = Runner.from_cfg(dict(cfg, resume=True))
    again.log.console = messages.append
    again.train()
    assert again.epoch == 2 and again.stop_reason == first.stop_reason
    assert 'the run had already stopped (early stopping' in messages[0]
    assert 'nothing left to train; nothing was changed' in messages[0]
    assert {n: open(os.path.join(first.work_dir, n), 'rb').read()  # nothing trained,
            for n in os.listdir(first.work_dir)} == files       # nothing rewritten


def test_val_alone_loads_the_configured_weights(tmp_path):
    trained = run(tiny_config(tmp_path / 'a', train_cfg=dict(max_epochs=2)))
    expected = trained.val()
    path = os.path.join(trained.work_dir, 'tiny_last.pt')
    for how in (dict(ckpt_file=path), dict(resume=path)):
        fresh = Runner.from_cfg(tiny_config(tmp_path / 'b', **how))
        assert fresh.val()['y_mae'] == pytest.approx(expected['y_mae'])


def test_resume_into_another_work_dir_brings_the_best_files(tmp_path):
    cfg = tiny_config(tmp_path / 'one', train_cfg=dict(max_epochs=4),
                      default_hooks=dict(checkpoint=dict(type='CheckpointHook', best_k=2)),
                      custom_hooks=[dict(type='CrashAfterEpoch', epoch=2)])
    with pytest.raises(Crash):
        run(cfg)
    source = os.path.join(tmp_path / 'one', 'tiny_last.pt')
    moved = dict(cfg, work_dir=str(tmp_path / 'two'), resume=source, custom_hooks=[])
    runner = run(moved)
    hook = next(h for h in runner.hooks if h.name == 'checkpoint')
    for entry in hook.entries():
        meta = load_checkpoint(os.path.join(tmp_path / 'two', f'tiny_{entry["slot"]}.pt'))['meta']
        assert (meta['epoch'], meta['value']) == (entry['epoch'], entry['value'])
    assert len(hook.entries()) == 2


class SelfLossModel(nn.Module):
    """Computes its own loss: no loss config, no loss weights, no error metrics."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, batch):
        return {'loss': (self.linear(batch['x']).squeeze(-1) - batch['y']).pow(2).mean()}


def test_best_checkpoints_rank_by_the_validation_loss_without_loss_weights(tmp_path):
    from trainkit.engine.data import build_dataloader
    kwargs = dict(training=False, generator=None, rank=0, world_size=1, seed=0)
    train = build_dataloader(dict(dataset=dict(type='SyntheticRegression', num_samples=32,
                                               in_features=4), batch_size=8), 'train', **kwargs)
    val = build_dataloader(dict(dataset=dict(type='SyntheticRegression', num_samples=16,
                                             in_features=4, split='val'), batch_size=8), 'val',
                           **kwargs)
    runner = Runner(SelfLossModel(), train, val,
                    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05)), max_epochs=3,
                    work_dir=str(tmp_path / 'w'), run_name='own', seed=0)
    runner.log.console = runner.default_console = lambda line: None
    runner.train()
    hook = next(h for h in runner.hooks if h.name == 'checkpoint')
    assert hook.monitor == 'loss'
    best = load_checkpoint(os.path.join(tmp_path / 'w', 'own_0.pt'))['meta']
    assert best['monitor'] == 'loss' and best['value'] == pytest.approx(hook.best['value'])


def test_a_monitor_that_no_metric_has_fails_before_training(tmp_path):
    cfg = tiny_config(tmp_path / 'w', default_hooks=dict(
        checkpoint=dict(type='CheckpointHook', monitor='y_mea')))
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ConfigError, match=r"'y_mea' is not a validation metric — did you mean "
                                          r"'y_mae'"):
        runner.train()
    assert not os.path.exists(os.path.join(cfg['work_dir'], 'tiny_last.pt'))
    assert runner.step == 0


def test_an_epoch_without_batches_is_a_clear_error(tmp_path):
    cfg = tiny_config(tmp_path / 'w')
    cfg['train_dataloader'].update(batch_size=100, drop_last=True)
    with pytest.raises(DataError, match=r'an epoch has no batches: 64 sample\(s\), '
                                        r'batch_size=100, drop_last=True; lower batch_size'):
        Runner.from_cfg(cfg)


def test_a_fresh_run_in_an_earlier_runs_work_dir_moves_it_aside(tmp_path):
    cfg = tiny_config(tmp_path / 'w', train_cfg=dict(max_epochs=1))
    first = run(cfg)
    work = first.work_dir
    before = {name: open(os.path.join(work, name), 'rb').read() for name in os.listdir(work)}
    assert set(before) == {'loss.log', 'loss.jsonl', 'tiny_0.pt', 'tiny_last.pt',
                           'tiny_config.py'}
    run(dict(cfg, train_cfg=dict(max_epochs=2)))
    [kept] = os.listdir(os.path.join(work, 'previous'))
    kept = os.path.join(work, 'previous', kept)
    assert {name: open(os.path.join(kept, name), 'rb').read() for name in os.listdir(kept)} \
        == before
    text = open(os.path.join(work, 'loss.log'), encoding='utf-8').read()
    assert text.count('Start training') == 1 and f'were moved to {kept}' in text
    assert load_checkpoint(os.path.join(work, 'tiny_last.pt'))['meta']['epoch'] == 2
    # a resumed run continues in place and moves nothing
    run(dict(cfg, train_cfg=dict(max_epochs=3), resume=True))
    assert os.listdir(os.path.join(work, 'previous')) == [os.path.basename(kept)]


@pytest.mark.parametrize('change, message', [
    (dict(type='SGD', lr=0.01), 'it was saved by AdamW, this config builds SGD'),
    (dict(type='AdamW', lr=0.01, amsgrad=True, foreach=None, extra_group=True), None),
])
def test_resume_with_another_optimizer_is_refused_before_anything_is_written(tmp_path, change,
                                                                            message):
    cfg = tiny_config(tmp_path / 'w', train_cfg=dict(max_epochs=1))
    first = run(cfg)
    work = first.work_dir
    before = {n: open(os.path.join(work, n), 'rb').read() for n in os.listdir(work)}
    change = dict(change)
    if change.pop('extra_group', False):  # same type, but a second parameter group
        cfg['optim_wrapper']['paramwise_cfg'] = dict(custom_keys={'net.0': dict(lr_mult=0.1)})
        message = 'it has 1 parameter group(s), this config builds 4 (were paramwise_cfg'
    cfg['optim_wrapper']['optimizer'] = change
    from trainkit.errors import CheckpointError
    with pytest.raises(CheckpointError, match=re.escape(message)):
        run(dict(cfg, resume=True, train_cfg=dict(max_epochs=2)))
    assert {n: open(os.path.join(work, n), 'rb').read() for n in os.listdir(work)} == before


def test_ctrl_c_says_how_to_continue_and_resuming_a_finished_run_says_it_is_done(tmp_path,
                                                                                capsys):
    cfg = tiny_config(tmp_path / 'w', train_cfg=dict(max_epochs=2),
                      custom_imports=dict(imports=['tests.support.components']),
                      custom_hooks=[dict(type='InterruptAfterEpoch', epoch=1)])
    config = tmp_path / 'cfg.py'
    config.write_text(''.join(f'{k} = {v!r}\n' for k, v in cfg.items()))
    assert train_main([str(config)]) == 130
    err = capsys.readouterr().err
    assert 'Traceback' not in err and 'continue the run with --resume' in err
    cfg['custom_hooks'] = []
    config.write_text(''.join(f'{k} = {v!r}\n' for k, v in cfg.items()))
    assert train_main([str(config), '--resume']) == 0
    assert train_main([str(config), '--resume']) == 0
    assert 'epoch 2 done, step 8; all 2 epochs were done (raise train_cfg.max_epochs to train ' \
           'on), so there is nothing left to train' in capsys.readouterr().out


def test_rng_states_round_trip_through_a_safe_checkpoint_and_the_older_tuple_form(tmp_path):
    import random

    import numpy as np
    import torch

    from trainkit.checkpointing.format import atomic_write, serialize
    from trainkit.utils.rng import capture_rng, restore_rng
    random.seed(3), np.random.seed(3), torch.manual_seed(3)
    state = capture_rng()
    path = str(tmp_path / 'rng.pt')
    atomic_write(path, serialize({'rng': state}))
    draws = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng(torch.load(path, weights_only=True)['rng'])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == draws
    older = dict(state, python=(state['python'][0], tuple(state['python'][1].tolist()),
                                state['python'][2]))
    restore_rng(older)  # checkpoints written before the words became a tensor
    assert random.random() == draws[0]


class _NoCompute:
    def reset(self):
        pass

    def update(self, preds, batch):
        pass


def test_a_metrics_object_without_the_protocol_methods_is_refused_naming_them():
    with pytest.raises(ConfigError, match=r'metrics: _NoCompute lacks compute; a metrics '
                                          r'object needs reset\(\)'):
        build_metrics(_NoCompute(), None)


def test_the_extension_protocols_recognise_the_shipped_classes():
    metrics = ErrorMetrics()
    assert isinstance(metrics, Metrics) and isinstance(metrics, NamedMetrics)
    assert isinstance(metrics, LossWeightedMetrics)
    assert not isinstance(_NoCompute(), Metrics)
    wrapper = OptimWrapper(optimizer=torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1))
    for protocol in (EpochAlignedWrapper, PlannedContextWrapper, SkippableWrapper):
        assert isinstance(wrapper, protocol), protocol.__name__
