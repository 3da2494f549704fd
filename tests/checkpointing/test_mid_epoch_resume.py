"""Checkpoints inside an epoch (``CheckpointHook(interval_steps=N)``) and exact resume from them:
the resumed run continues at the next batch of the same epoch and ends bit for bit where an
uninterrupted run ends — weights, EMA, optimizer, schedules, hook states, RNG, counters and
every log row — with gradient accumulation, per-step schedules and ``num_workers > 0``."""
import io
import os
import subprocess
import sys

import pytest
import torch

import tests.support.components  # noqa: F401 - registers InterruptAtStep
from tests.support import reliability as h
from tests.support.configs import tiny_config
from trainkit.checkpointing.writer import BackgroundWriter
from trainkit.engine.data import ResumableSampler, build_dataloader, skip_batches
from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError
from trainkit.hooks.checkpoint import CheckpointHook


def _cfg(work, interval_steps=3, num_workers=0, accumulate=2, **extra):
    cfg = tiny_config(work, train_cfg=dict(max_epochs=3),
                      optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2),
                                         accumulative_counts=accumulate),
                      default_hooks=dict(
                          logger=dict(type='LoggerHook', log_steps=1, progress_bar=False),
                          checkpoint=dict(type='CheckpointHook', best_k=2,
                                          interval_steps=interval_steps),
                          ema=dict(type='EMAHook', ema_decay=0.9)))
    # 72 samples in batches of 8: 9 batches, 5 optimizer steps an epoch (the last window short)
    cfg['train_dataloader'] = dict(dataset=dict(type='SyntheticRegression', num_samples=72,
                                                in_features=4), batch_size=8, shuffle=True,
                                   num_workers=num_workers)
    cfg.update(extra)
    return cfg


def _train(cfg, **overrides):
    return Runner.from_cfg(cfg, **overrides).train()


@pytest.mark.parametrize('num_workers', [0, 2])
@pytest.mark.parametrize('stop_step', [3, 9])  # inside epoch 1; inside epoch 2 (6 < 9 < 10)
def test_resume_inside_an_epoch_is_bit_identical(tmp_path, num_workers, stop_step):
    straight, broken = str(tmp_path / 'straight'), str(tmp_path / 'broken')
    _train(_cfg(straight, num_workers=num_workers))
    with pytest.raises(KeyboardInterrupt):
        _train(_cfg(broken, num_workers=num_workers,
                    custom_hooks=[dict(type='InterruptAtStep', step=stop_step)]))
    saved = h.load(os.path.join(broken, 'tiny_last.pt'))['meta']
    assert (saved['step'], saved['epoch_iter']) == (stop_step, (stop_step % 5) * 2)
    _train(_cfg(broken, num_workers=num_workers), resume=True)
    assert h.final_state_problems(broken, straight) == []
    assert h.best_k_problems(broken, straight, 2) == []
    assert h.log_problems(broken, straight) == []


def test_mid_epoch_checkpoints_come_every_n_steps(tmp_path, monkeypatch):
    """Every 3rd optimizer step, never at an epoch's last batch (the epoch's own checkpoint
    follows), and the file then says how far the epoch got."""
    written = []
    submit = BackgroundWriter.submit

    def spy(self, writes, removals=()):
        for path, data in writes:
            meta = torch.load(io.BytesIO(data), weights_only=True)['meta']
            written.append((os.path.basename(path), meta['step'], meta['epoch_iter']))
        submit(self, writes, removals)

    monkeypatch.setattr(BackgroundWriter, 'submit', spy)
    _train(_cfg(str(tmp_path / 'w')))
    assert [w for w in written if w[0] == 'tiny_last.pt'] == [
        ('tiny_last.pt', 3, 6), ('tiny_last.pt', 5, 0), ('tiny_last.pt', 6, 2),
        ('tiny_last.pt', 9, 8), ('tiny_last.pt', 10, 0), ('tiny_last.pt', 12, 4),
        ('tiny_last.pt', 15, 0)]


def test_mmengine_spelling_by_epoch_false_interval_n():
    hook = CheckpointHook(by_epoch=False, interval=7, max_keep_ckpts=3, save_best='loss',
                          rule='less')
    assert (hook.interval_steps, hook.interval, hook.monitor) == (7, 1, 'loss')
    assert CheckpointHook(save_best='auto').monitor is None
    with pytest.raises(ConfigError, match='out_dir'):
        CheckpointHook(out_dir='/elsewhere')
    with pytest.raises(ConfigError, match='interval_steps'):
        CheckpointHook(interval_steps=0)
    with pytest.raises(ConfigError, match='different metrics'):
        CheckpointHook(save_best='loss', monitor='y_mae')


class Counting(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n, self.fetched = n, []

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.fetched.append(i)
        return torch.tensor([float(i)])


def test_skipped_batches_are_not_loaded_and_the_order_is_kept():
    dataset = Counting(20)
    generator = torch.Generator()
    loader = build_dataloader(dict(dataset=dataset, batch_size=3, shuffle=True), 'train',
                              training=True, generator=generator)
    assert isinstance(loader.sampler, ResumableSampler)
    generator.manual_seed(5)
    full = [b.flatten().tolist() for b in loader]
    dataset.fetched.clear()
    generator.manual_seed(5)
    rest = [b.flatten().tolist() for b in skip_batches(loader, 4)]
    assert rest == full[4:]
    assert sorted(dataset.fetched) == sorted(i for b in full[4:] for i in b)
    generator.manual_seed(5)  # the skip holds for one epoch only
    assert [b.flatten().tolist() for b in loader] == full


@pytest.mark.slow
def test_ddp_resume_inside_an_epoch_is_bit_identical(tmp_path):
    """Two gloo ranks under torchrun, stopped by Ctrl-C after optimizer step 7 (epoch 2, each
    rank after its 2nd batch of 5) and resumed from step 6: each rank continues its own
    shard."""
    def launch(cfg, *args):
        path = tmp_path / f'cfg{len(list(tmp_path.glob("cfg*.py")))}.py'
        path.write_text('\n'.join(f'{k} = {v!r}' for k, v in cfg.items()))
        return subprocess.run([sys.executable, '-m', 'torch.distributed.run',
                               '--nproc_per_node=2', '--standalone', h.TRAIN, str(path), *args],
                              capture_output=True, text=True, cwd=h.ROOT, timeout=600,
                              env=h.user_env(OMP_NUM_THREADS='1'))

    imports = dict(custom_imports=dict(imports=['tests.support.components']))
    straight, broken = str(tmp_path / 'straight'), str(tmp_path / 'broken')
    run = launch(_cfg(straight, interval_steps=2, accumulate=1, **imports))
    assert run.returncode == 0, run.stderr[-3000:]
    run = launch(_cfg(broken, interval_steps=2, accumulate=1, **imports,
                      custom_hooks=[dict(type='InterruptAtStep', step=7)]))
    assert run.returncode != 0
    saved = h.load(os.path.join(broken, 'tiny_last.pt'))['meta']
    assert (saved['world_size'], saved['step'], saved['epoch'], saved['epoch_iter']) == \
        (2, 6, 1, 1)
    run = launch(_cfg(broken, interval_steps=2, accumulate=1, **imports), '--resume')
    assert run.returncode == 0, run.stderr[-3000:]
    assert h.final_state_problems(broken, straight) == []
    assert h.log_problems(broken, straight) == []


def _interval_files(work):
    return sorted(n for n in os.listdir(work) if '_epoch_' in n or '_iter_' in n)


@pytest.mark.parametrize('keep, expected', [
    (2, ['tiny_epoch_2.pt', 'tiny_epoch_3.pt']),
    (-1, ['tiny_epoch_1.pt', 'tiny_epoch_2.pt', 'tiny_epoch_3.pt']),
])
def test_max_keep_ckpts_keeps_the_newest_epoch_files(tmp_path, keep, expected):
    """MMEngine's max_keep_ckpts: interval files beside _last.pt, the newest N kept; each
    holds the state of its epoch (the last one equals _last.pt)."""
    work = str(tmp_path / 'w')
    cfg = _cfg(work, interval_steps=None)
    cfg['default_hooks']['checkpoint'] = dict(type='CheckpointHook', max_keep_ckpts=keep)
    _train(cfg)
    assert _interval_files(work) == expected
    assert [h.load(os.path.join(work, n))['meta']['epoch'] for n in expected] == \
        [int(n.split('_')[-1][:-3]) for n in expected]
    with open(os.path.join(work, expected[-1]), 'rb') as a, \
            open(os.path.join(work, 'tiny_last.pt'), 'rb') as b:
        assert a.read() == b.read()


def test_max_keep_ckpts_with_step_intervals_survives_a_resume(tmp_path):
    """by_epoch=False, interval=N: iter files every N steps; after a mid-epoch resume the
    record of kept files continues, so the newest two are the same as in a straight run."""
    straight, broken = str(tmp_path / 'straight'), str(tmp_path / 'broken')

    def cfg(work, **extra):
        c = _cfg(work, interval_steps=None, **extra)
        c['default_hooks']['checkpoint'] = dict(type='CheckpointHook', by_epoch=False,
                                                interval=4, max_keep_ckpts=2)
        return c
    _train(cfg(straight))
    # 15 optimizer steps: iter files at 4, 8, 12 and the last step, 15 (no epoch files:
    # by_epoch=False counts in steps); the newest two remain
    assert _interval_files(straight) == ['tiny_iter_12.pt', 'tiny_iter_15.pt']
    with pytest.raises(KeyboardInterrupt):
        _train(cfg(broken, custom_hooks=[dict(type='InterruptAtStep', step=9)]))
    assert _interval_files(broken) == ['tiny_iter_4.pt', 'tiny_iter_8.pt']
    _train(cfg(broken), resume=True)
    assert _interval_files(broken) == _interval_files(straight)
    assert h.final_state_problems(broken, straight) == []
