"""Checkpoints written on a background thread: in order, waited for, errors not lost."""
import os
import threading
import time

import pytest

from tests.support import components  # noqa: F401  (registers test components)
from tests.support.components import Crash
from tests.support.configs import tiny_config
from trainkit.checkpointing import writer as checkpoint_writer
from trainkit.checkpointing.format import load_checkpoint
from trainkit.checkpointing.writer import BackgroundWriter
from trainkit.engine.runner import Runner
from trainkit.errors import CheckpointError, ConfigError
from trainkit.hooks import CheckpointHook

REAL_WRITE = checkpoint_writer.atomic_write


@pytest.fixture
def record_writes(monkeypatch):
    """Replace atomic_write with one that records (file, thread, time) and can be slowed."""
    calls, options = [], {'delay': 0.0, 'fail_on': None}

    def write(path, data):
        name = os.path.basename(path)
        calls.append((name, threading.current_thread().name))
        time.sleep(options['delay'])
        if options['fail_on'] == len(calls):
            raise CheckpointError(f'could not write checkpoint {path}: No space left on device')
        REAL_WRITE(path, data)

    monkeypatch.setattr(checkpoint_writer, 'atomic_write', write)
    return calls, options


def test_submit_returns_before_the_write_and_wait_makes_it_durable(tmp_path, monkeypatch):
    release, names = threading.Event(), []

    def blocked_write(path, data):
        names.append(threading.current_thread().name)
        release.wait(5)
        REAL_WRITE(path, data)

    monkeypatch.setattr(checkpoint_writer, 'atomic_write', blocked_write)
    writer = BackgroundWriter()
    first, second = tmp_path / 'a.pt', tmp_path / 'b.pt'
    writer.submit([(str(first), b'one'), (str(second), b'two')])
    assert writer.busy and not first.exists()        # the training thread went on
    release.set()
    writer.wait()
    assert not writer.busy
    assert (first.read_bytes(), second.read_bytes()) == (b'one', b'two')
    assert names == ['trainkit-checkpoint-writer'] * 2


def test_a_failed_write_is_raised_once_by_the_next_wait_or_submit(tmp_path, record_writes):
    calls, options = record_writes
    writer = BackgroundWriter()
    options['fail_on'] = 1
    writer.submit([(str(tmp_path / 'x.pt'), b'x'), (str(tmp_path / 'y.pt'), b'y')])
    with pytest.raises(CheckpointError, match='No space left'):
        writer.submit([(str(tmp_path / 'z.pt'), b'z')])
    # the batch stopped at its failed file; the refused submit wrote nothing
    assert [name for name, _ in calls] == ['x.pt'] and not os.listdir(tmp_path)
    writer.wait()                                     # reported once, then usable again
    writer.submit([(str(tmp_path / 'z.pt'), b'z')])
    writer.wait()
    assert (tmp_path / 'z.pt').read_bytes() == b'z'


def test_the_run_writes_in_the_background_and_waits_at_the_last_epoch(tmp_path,
                                                                      record_writes):
    calls, _ = record_writes
    runner = Runner.from_cfg(tiny_config(tmp_path / 'w', train_cfg=dict(max_epochs=3)))
    runner.train()
    assert all(thread == 'trainkit-checkpoint-writer' for _, thread in calls)
    # on disk when train() returns: _last.pt of the last epoch
    assert load_checkpoint(str(tmp_path / 'w' / 'tiny_last.pt'))['meta']['epoch'] == 3


def test_async_write_false_writes_before_the_next_epoch(tmp_path, monkeypatch):
    epochs_on_disk = []
    last = tmp_path / 'w' / 'tiny_last.pt'

    class Probe(CheckpointHook):
        def after_train_epoch(self, runner):
            super().after_train_epoch(runner)
            epochs_on_disk.append(load_checkpoint(str(last))['meta']['epoch'])

    cfg = tiny_config(tmp_path / 'w', train_cfg=dict(max_epochs=3))
    runner = Runner.from_cfg(cfg)
    runner.hooks = [h for h in runner.hooks if h.name != 'checkpoint'] + \
        [Probe(best_k=1, async_write=False)]
    runner.train()
    assert epochs_on_disk == [1, 2, 3]


def test_an_error_leaving_the_loop_waits_for_the_write_in_flight(tmp_path, record_writes):
    _, options = record_writes
    options['delay'] = 0.3  # longer than the rest of the run after the crash
    cfg = tiny_config(tmp_path / 'w', train_cfg=dict(max_epochs=4),
                      custom_hooks=[dict(type='CrashAfterEpoch', epoch=2)])
    with pytest.raises(Crash):
        Runner.from_cfg(cfg).train()
    # CrashAfterEpoch raised right after the epoch-2 checkpoint was handed to the writer
    assert load_checkpoint(str(tmp_path / 'w' / 'tiny_last.pt'))['meta']['epoch'] == 2
    assert not [n for n in os.listdir(tmp_path / 'w') if '.tmp-' in n]


def test_a_full_disk_stops_the_run_at_the_next_checkpoint_with_earlier_files_intact(
        tmp_path, record_writes):
    calls, options = record_writes
    options['fail_on'] = 4  # epoch 1: best, last; epoch 2: best, then _last.pt fails
    cfg = tiny_config(tmp_path / 'w', train_cfg=dict(max_epochs=5))
    runner = Runner.from_cfg(cfg)
    with pytest.raises(CheckpointError, match='No space left'):
        runner.train()
    assert runner.epoch == 2  # epoch 3 trained, then its checkpoint reported the failure
    assert [name for name, _ in calls] == ['tiny_0.pt', 'tiny_last.pt', 'tiny_0.pt',
                                           'tiny_last.pt']
    assert load_checkpoint(str(tmp_path / 'w' / 'tiny_last.pt'))['meta']['epoch'] == 1


def test_async_write_must_be_a_bool():
    with pytest.raises(ConfigError, match="async_write: expected True or False, got 'yes'"):
        CheckpointHook(async_write='yes')
