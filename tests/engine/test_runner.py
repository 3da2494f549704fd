"""The Runner and its hooks, checked by values and files."""
import glob
import json
import os
import re

import pytest
import torch

from tests.support import components  # noqa: F401  (registers test components)
from tests.support.components import Crash
from tests.support.configs import tiny_config
from trainkit.checkpointing.format import load_checkpoint
from trainkit.engine.runner import Runner
from trainkit.errors import CheckpointError, ConfigError, DataError, TrainingDiverged
from trainkit.hooks.logger import TIMING_FIELDS


def run(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def log_rows(work_dir, kind=None):
    with open(os.path.join(work_dir, 'loss.jsonl')) as f:
        rows = [json.loads(line) for line in f]
    return [r for r in rows if kind is None or r['kind'] == kind]


def test_log_rows_and_json_lines(tiny_cfg):
    runner = run(tiny_cfg)
    work = tiny_cfg['work_dir']
    text = open(os.path.join(work, 'loss.log')).read()
    # 64 samples / batch 16 = 4 steps per epoch, a row every 2 steps, 4 epochs
    train = log_rows(work, 'train')
    assert [(r['epoch'], r['step_in_epoch']) for r in train] == \
        [(e, s) for e in range(1, 5) for s in (2, 4)]
    assert [r['step'] for r in train] == [2, 4, 6, 8, 10, 12, 14, 16]
    assert all(set(r) >= {'lr', 'loss', 'loss_y', 'train_y_mae', 'train_y_rmse'} for r in train)
    val = log_rows(work, 'val')
    assert [r['epoch'] for r in val] == [1, 2, 3, 4] and not any(r['ema'] for r in val)
    assert len(log_rows(work, 'epoch')) == 4
    assert len(re.findall(r'^ +\d/4 +\[\d/4\]', text, re.M)) == 8
    assert 'Training Completed' in text
    best = min(val, key=lambda r: r['weighted_mae'])
    assert f'Best Checkpoint: {work}/tiny_0.pt at Epoch {best["epoch"]}' in text
    assert runner.val_metrics['y_mae'] == pytest.approx(val[-1]['y_mae'])
    # the text row shows the same numbers as the JSON line
    assert f'{val[-1]["y_mae"]:.2e}/{val[-1]["y_rmse"]:.2e}' in text


def test_console_labels_validation_columns_once(tiny_cfg, capsys):
    run(tiny_cfg)
    out = capsys.readouterr().out
    text = open(os.path.join(tiny_cfg['work_dir'], 'loss.log')).read()
    header = re.compile(r'^Valid +Epoch +Y MAE/RMSE +weighted_mae +loss$', re.M)
    # the screen names the validation columns once; the file before each of the 4 validations
    assert len(header.findall(out)) == 1 and len(header.findall(text)) == 4
    assert out.index('Valid ') < out.index('    1/4 ', out.index('Valid '))
    assert len(re.findall(r'^Valid +1/4 ', out, re.M)) == 1


def test_val_alone_matches_training_validation(tiny_cfg):
    runner = run(tiny_cfg)
    again = runner.val()
    assert again['y_mae'] == pytest.approx(log_rows(tiny_cfg['work_dir'], 'val')[-1]['y_mae'])


def test_ema_equals_hand_computed(tiny_cfg):
    tiny_cfg['default_hooks']['ema'] = dict(type='EMAHook', ema_decay=0.9)
    tiny_cfg['custom_hooks'] = [dict(type='RecordWeights')]
    tiny_cfg['train_cfg']['max_epochs'] = 2
    runner = run(tiny_cfg)
    record = next(h for h in runner.hooks if type(h).__name__ == 'RecordWeights')
    ema_hook = next(h for h in runner.hooks if type(h).__name__ == 'EMAHook')
    initial = load_checkpoint(os.path.join(tiny_cfg['work_dir'], 'tiny_last.pt'))
    assert ema_hook.ema.num_updates == len(record.history) == 8
    expected = None
    for weights in record.history:
        if expected is None:  # the shadow starts as a copy of the initial weights
            expected = {k: v for k, v in _initial_weights(tiny_cfg).items()}
        expected = {k: 0.9 * expected[k] + 0.1 * weights[k] for k in weights}
    for name, value in ema_hook.ema.module.state_dict().items():
        torch.testing.assert_close(value, expected[name], rtol=1e-5, atol=1e-7)
    # the checkpoint holds raw weights and EMA weights with the update count
    assert torch.equal(initial['model']['net.0.weight'], record.history[-1]['net.0.weight'])
    assert initial['hooks']['ema']['num_updates'] == 8
    assert log_rows(tiny_cfg['work_dir'], 'val')[0]['ema'] is True
    assert 'EMA ' in open(os.path.join(tiny_cfg['work_dir'], 'loss.log')).read()


def _initial_weights(cfg):
    from trainkit.engine.from_cfg import runner_kwargs_from_cfg
    return runner_kwargs_from_cfg(cfg, ['model'])['model'].state_dict()


def test_best_k_heap_with_values_going_up_and_down(tiny_cfg):
    scores = [5.0, 3.0, 4.0, 1.0, 2.0, 6.0]
    tiny_cfg['metrics'] = dict(type='ScriptedMetric', values=scores)
    tiny_cfg['default_hooks']['checkpoint'] = dict(type='CheckpointHook', best_k=3,
                                                   monitor='score')
    tiny_cfg['train_cfg']['max_epochs'] = 6
    runner = run(tiny_cfg)
    hook = next(h for h in runner.hooks if h.name == 'checkpoint')
    assert [(e['value'], e['epoch']) for e in hook.entries()] == [(1.0, 4), (2.0, 5), (3.0, 2)]
    assert hook.best == {'value': 1.0, 'epoch': 4, 'slot': hook.best['slot']}
    for entry in hook.entries():  # each slot file holds the epoch recorded for it
        path = os.path.join(tiny_cfg['work_dir'], f'tiny_{entry["slot"]}.pt')
        meta = load_checkpoint(path)['meta']
        assert (meta['epoch'], meta['value']) == (entry['epoch'], entry['value'])
    assert sorted(os.listdir(tiny_cfg['work_dir'])) == sorted(
        ['loss.log', 'loss.jsonl', 'tiny_0.pt', 'tiny_1.pt', 'tiny_2.pt', 'tiny_last.pt',
         'tiny_config.py'])


def test_best_k_heap_survives_resume(tiny_cfg):
    scores = [5.0, 3.0, 4.0, 1.0, 2.0, 6.0]
    tiny_cfg['metrics'] = dict(type='ScriptedMetric', values=scores)
    tiny_cfg['default_hooks']['checkpoint'] = dict(type='CheckpointHook', best_k=2,
                                                   monitor='score')
    tiny_cfg['train_cfg']['max_epochs'] = 6
    crashing = dict(tiny_cfg, custom_hooks=[dict(type='CrashAfterEpoch', epoch=3)])
    with pytest.raises(Crash):
        run(crashing)
    resumed = dict(tiny_cfg, resume=True, metrics=dict(type='ScriptedMetric', values=scores[3:]))
    runner = run(resumed)
    hook = next(h for h in runner.hooks if h.name == 'checkpoint')
    assert [(e['value'], e['epoch']) for e in hook.entries()] == [(1.0, 4), (2.0, 5)]


@pytest.mark.parametrize('ema', [False, True])
def test_resume_2_plus_2_is_bit_identical(tmp_path, ema):
    hooks = dict(logger=dict(type='LoggerHook', log_steps=1, progress_bar=False))
    if ema:
        hooks['ema'] = dict(type='EMAHook', ema_decay=0.8)
    straight = tiny_config(tmp_path / 'straight', default_hooks=hooks)
    split = tiny_config(tmp_path / 'split', default_hooks=hooks,
                        custom_hooks=[dict(type='CrashAfterEpoch', epoch=2)])
    # dropout-free model, but shuffling, warmup and cosine all carry state across the break
    a = run(straight)
    with pytest.raises(Crash):
        run(split)
    b = run(dict(split, custom_hooks=[], resume=True))
    for (name, x), y in zip(a.unwrapped_model.state_dict().items(),
                            b.unwrapped_model.state_dict().values()):
        assert torch.equal(x, y), name
    if ema:
        ea = next(h for h in a.hooks if h.name == 'ema').ema.module.state_dict()
        eb = next(h for h in b.hooks if h.name == 'ema').ema.module.state_dict()
        assert all(torch.equal(ea[k], eb[k]) for k in ea)

    def rows(path):
        return [{k: v for k, v in r.items() if k not in TIMING_FIELDS}
                for r in log_rows(path) if r['kind'] != 'summary']  # one per invocation
    assert rows(tmp_path / 'straight') == rows(tmp_path / 'split')
    text = open(tmp_path / 'split' / 'loss.log').read()
    assert text.count('Resumed from') == 1
    plain = [ln for ln in text.splitlines() if 'Resumed' not in ln and 'Start training' not in ln]
    straight_text = [ln for ln in open(tmp_path / 'straight' / 'loss.log').read().splitlines()
                     if 'Start training' not in ln]
    def strip(lines):
        return [re.sub(r'\(\d+\.\d s\)', '', line).replace('/straight/', '/').replace(
            '/split/', '/') for line in lines if not line.startswith('Train ')]
    assert strip(plain) == strip(straight_text)


def test_resume_without_checkpoint_is_clear(tiny_cfg):
    tiny_cfg['resume'] = True
    with pytest.raises(CheckpointError, match='there is no checkpoint to resume from'):
        run(tiny_cfg)


def test_finetune_freezes_and_trains(tmp_path):
    base = run(tiny_config(tmp_path / 'base', train_cfg=dict(max_epochs=1)))
    source = os.path.join(tmp_path / 'base', 'tiny_last.pt')
    cfg = tiny_config(tmp_path / 'ft', ckpt_file=source, finetune_modules=['net.2'],
                      train_cfg=dict(max_epochs=2))
    runner = Runner.from_cfg(cfg)
    optimized = {id(p) for g in runner.optim_wrapper.optimizer.param_groups for p in g['params']}
    named = dict(runner.unwrapped_model.named_parameters())
    assert optimized == {id(named['net.2.weight']), id(named['net.2.bias'])}
    runner.train()
    after = runner.unwrapped_model.state_dict()
    loaded = base.unwrapped_model.state_dict()
    assert torch.equal(after['net.0.weight'], loaded['net.0.weight'])  # frozen: untouched
    assert not torch.equal(after['net.2.weight'], loaded['net.2.weight'])  # trained
    assert runner.epoch == 2  # weights only: counters started at zero
    text = open(tmp_path / 'ft' / 'loss.log').read()
    assert '17 trainable / 80 frozen parameters' in text


def test_finetune_keyword_matching_nothing(tiny_cfg):
    tiny_cfg['finetune_modules'], tiny_cfg['resume'] = ['output'], True
    with pytest.raises(ConfigError, match=r"\['output'\] match no parameter name.*net"):
        Runner.from_cfg(tiny_cfg)


def test_weights_of_another_model_are_named(tmp_path):
    run(tiny_config(tmp_path / 'a', train_cfg=dict(max_epochs=1)))
    cfg = tiny_config(tmp_path / 'b', ckpt_file=str(tmp_path / 'a' / 'tiny_last.pt'),
                      model=dict(type='MLP', in_features=4, hidden=[8, 8]))
    with pytest.raises(CheckpointError) as err:
        run(cfg)
    message = str(err.value)
    assert 'missing (2): net.4.bias, net.4.weight' in message
    assert 'net.0.weight: checkpoint (16, 4) vs model (8, 4)' in message
    runner = run(dict(cfg, load_strict=False))  # loads what fits, reports the rest
    assert 'not loaded' in open(tmp_path / 'b' / 'loss.log').read()
    assert runner.epoch == 4


def test_nan_guard_stops_and_keeps_last_checkpoint(tiny_cfg):
    tiny_cfg['train_dataloader']['dataset'] = dict(type='NaNAfter', start=0, num_samples=64,
                                                   in_features=4)
    tiny_cfg['train_dataloader']['shuffle'] = False
    ok = dict(tiny_cfg, train_cfg=dict(max_epochs=1),
              train_dataloader=dict(tiny_cfg['train_dataloader'],
                                    dataset=dict(type='SyntheticRegression', num_samples=64,
                                                 in_features=4)))
    run(ok)
    last = os.path.join(tiny_cfg['work_dir'], 'tiny_last.pt')
    before = open(last, 'rb').read()
    with pytest.raises(TrainingDiverged) as err:
        run(tiny_cfg)
    assert 'non-finite loss at epoch 1, iteration 1/4 (optimizer step 0): loss=nan, y=nan' in \
        str(err.value)
    # the fresh run moved the earlier run aside, untouched, and wrote no checkpoint of its own
    assert not os.path.exists(last)
    [kept] = glob.glob(os.path.join(tiny_cfg['work_dir'], 'previous', '*', 'tiny_last.pt'))
    assert open(kept, 'rb').read() == before


def test_nan_guard_skip_mode(tiny_cfg):
    # samples 48.. are NaN: with no shuffling, the last batch of every epoch is skipped
    tiny_cfg['train_dataloader']['dataset'] = dict(type='NaNAfter', start=48, num_samples=64,
                                                   in_features=4)
    tiny_cfg['train_dataloader']['shuffle'] = False
    tiny_cfg['default_hooks']['nan_guard'] = dict(type='NanGuardHook', action='skip')
    runner = run(tiny_cfg)
    guard = next(h for h in runner.hooks if h.name == 'nan_guard')
    assert guard.skipped == 4
    assert runner.step == 12  # 3 real updates per epoch
    assert all(torch.isfinite(p).all() for p in runner.unwrapped_model.parameters())


def test_missing_loss_target_is_clear(tiny_cfg):
    # a target absent from the batch is caught at build time (tests/tools/test_bad_inputs.py);
    # one the model does not predict at the first step, before any update
    tiny_cfg['model']['output_key'] = 'z'
    with pytest.raises(DataError, match="'y' .* is missing in the predictions; the "
                                        "predictions has \\['z'\\]"):
        run(tiny_cfg)


def test_runner_from_python_objects(tmp_path):
    from torch.utils.data import DataLoader

    from trainkit.datasets.synthetic import SyntheticRegression
    from trainkit.models.mlp import MLP
    torch.manual_seed(0)
    model = MLP(in_features=4, hidden=[8])
    loader = DataLoader(SyntheticRegression(64, 4), batch_size=16)
    runner = Runner(model, loader, DataLoader(SyntheticRegression(32, 4, split='val'), 16),
                    optim_wrapper=torch.optim.SGD(model.parameters(), lr=0.05),
                    loss=dict(type='WeightedLoss', lossfn='l1', losses_weight=dict(y=1.0)),
                    max_epochs=3, work_dir=str(tmp_path))
    first = runner.val()['y_mae']
    runner.train()
    assert runner.val()['y_mae'] < first
    assert os.path.exists(tmp_path / 'trainkit_last.pt')


def test_early_stopping_ends_run_and_logs(tiny_cfg):
    tiny_cfg['metrics'] = dict(type='ScriptedMetric', key='y_mae',
                               values=[3.0, 2.0, 2.5, 2.4, 2.3, 1.0])
    tiny_cfg['default_hooks']['checkpoint'] = dict(type='CheckpointHook', monitor='y_mae')
    tiny_cfg['custom_hooks'] = [dict(type='EarlyStoppingHook', early_stoppings=dict(
        y=dict(metric='mae', patience=3)))]
    tiny_cfg['train_cfg']['max_epochs'] = 10
    runner = run(tiny_cfg)
    assert runner.epoch == 5  # no improvement on 2.0 at epochs 3, 4, 5
    last = load_checkpoint(os.path.join(tiny_cfg['work_dir'], 'tiny_last.pt'))
    assert last['meta']['epoch'] == 5  # the stopping epoch is checkpointed
    assert last['hooks']['EarlyStoppingHook'] == {'y': {'best': 2.0, 'wait': 3}}
    text = open(os.path.join(tiny_cfg['work_dir'], 'loss.log')).read()
    assert 'Stop requested: early stopping (and): y_mae has not improved by more than 0 for 3 ' \
           'validations (best 2)' in text
    assert 'Stopped early at epoch 5' in text
