"""LoggerHook's timing: the run's ETA and peak memory in epoch rows, samples/s in the summary,
and the progress bar (on a terminal only, never in the log files)."""
import json
import sys

import pytest
import torch
import tqdm

from tests.support.configs import tiny_config
from trainkit.engine.runner import Runner
from trainkit.hooks.logger import format_eta, peak_memory_mb, samples_per_epoch


def _rows(work_dir, kind):
    with open(work_dir / 'loss.jsonl') as f:
        return [r for r in map(json.loads, f) if r['kind'] == kind]


def _cfg(tmp_path, progress_bar=False, **overrides):
    return tiny_config(tmp_path, default_hooks=dict(logger=dict(
        type='LoggerHook', log_steps=2, progress_bar=progress_bar)), **overrides)


@pytest.mark.parametrize('seconds, text', [(0, '0:00:00'), (59.6, '0:01:00'),
                                           (3725.2, '1:02:05'), (2 * 86400 + 61, '2d 0:01:01')])
def test_format_eta(seconds, text):
    assert format_eta(seconds) == text


def test_epoch_rows_carry_the_run_eta_console_only(tmp_path, capsys):
    Runner.from_cfg(_cfg(tmp_path)).train()
    epochs = _rows(tmp_path, 'epoch')
    etas = [r['eta'] for r in epochs]
    assert len(etas) == 4 and etas[-1] == 0.0 and all(e > 0 for e in etas[:-1])
    # 4 batches an epoch at the same rate: the ETA after epoch 1 is about 3 epochs' time
    assert etas[0] == pytest.approx(3 * epochs[0]['seconds'], rel=0.5)
    assert all('max_memory_mb' not in r for r in epochs)  # CPU: no peak memory
    console = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith('Epoch ')]
    assert len(console) == 4 and console[-1].endswith('ETA 0:00:00')
    log = [ln for ln in open(tmp_path / 'loss.log') if ln.startswith('Epoch ')]
    assert len(log) == 4 and not any('ETA' in ln for ln in log)
    assert [ln.rstrip('\n') for ln in log] == [ln.rsplit('   ETA', 1)[0] for ln in console]


def test_summary_has_samples_per_second(tmp_path, capsys):
    Runner.from_cfg(_cfg(tmp_path, train_cfg=dict(max_epochs=2))).train()
    summary, = _rows(tmp_path, 'summary')
    # 64 samples in 4 batches of 16: 16 samples per step
    assert summary['samples_per_s'] == pytest.approx(16 * summary['steps_per_s'])
    assert 'samples/s)' in capsys.readouterr().out


def test_samples_per_epoch_with_drop_last():
    data = torch.utils.data.TensorDataset(torch.zeros(10, 1))
    assert samples_per_epoch(torch.utils.data.DataLoader(data, batch_size=4)) == 10
    assert samples_per_epoch(torch.utils.data.DataLoader(data, batch_size=4,
                                                         drop_last=True)) == 8
    batches = torch.utils.data.BatchSampler(range(10), 3, False)
    assert samples_per_epoch(torch.utils.data.DataLoader(data, batch_sampler=batches)) is None


def test_peak_memory_read_on_cuda_only(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'max_memory_allocated', lambda device=None: 3 * 2**20)
    assert peak_memory_mb(torch.device('cpu')) is None
    assert peak_memory_mb(torch.device('cuda', 0)) == 3.0


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, monkeypatch):
    def no_bar(*args, **kwargs):
        raise AssertionError('a progress bar was made although stderr is not a terminal')
    monkeypatch.setattr(tqdm, 'tqdm', no_bar)
    monkeypatch.setattr(sys.stderr, 'isatty', lambda: False, raising=False)
    Runner.from_cfg(_cfg(tmp_path, progress_bar='auto', train_cfg=dict(max_epochs=1))).train()
    assert len(_rows(tmp_path, 'train')) == 2


def test_progress_bar_shows_loss_and_eta_and_stays_out_of_the_logs(tmp_path, capsys):
    Runner.from_cfg(_cfg(tmp_path, progress_bar=True, train_cfg=dict(max_epochs=2))).train()
    captured = capsys.readouterr()
    assert 'epoch 2/2' in captured.err and 'loss=' in captured.err and 'eta=' in captured.err
    # with a bar the train rows go to the files only; the epoch rows still reach the console
    assert not any(ln.startswith('          ') for ln in captured.out.splitlines())
    assert sum(ln.startswith('Epoch ') for ln in captured.out.splitlines()) == 2
    log = open(tmp_path / 'loss.log').read()
    assert 'it/s' not in log and 'eta=' not in log and log.count('\n          ') == 4
    assert 'eta=' not in open(tmp_path / 'loss.jsonl').read()
