"""Pre-emption as a scheduler does it: SIGTERM (or SIGUSR1) to ``python tools/train.py
configs/spice.py`` in the middle of an epoch. The run finishes the optimizer step, writes
``_last.pt`` at that step, says how to continue and exits with status 75; ``--resume`` then
ends with the weights, checkpoints and log rows of a run that was never interrupted."""
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support import reliability as h
from trainkit.engine.preemption import PreemptionWatch
from trainkit.errors import EXIT_PREEMPTED

EPOCHS, MOLECULES = 2, 5  # 3 train molecules (1 val, 1 test): 150 conformations, 5 batches an epoch


def _argv(work, *more):
    return h.spice_argv(work, EPOCHS, MOLECULES, *more)


def _run(argv, **env):
    return subprocess.run([sys.executable, h.TRAIN, *argv], cwd=h.ROOT, env=h.user_env(**env),
                          capture_output=True, text=True, timeout=600)


def _preempt(work, signal_number, iteration):
    """Start the run and send the signal when training iteration ``iteration`` (1-based, in
    epoch 1) begins (the plugin's ``@@iter`` marker); a second signal follows as soon as the
    checkpoint write begins (``@@ckpt-begin``; the plugin makes a write take 0.14 s)."""
    env = h.user_env(**h.SLOW)
    proc = subprocess.Popen([sys.executable, h.TRAIN, *_argv(work), '--custom-imports',
                             h.PLUGIN], cwd=h.ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    err, sent = [], 0
    for line in proc.stderr:
        err.append(line)
        if sent == 0 and line.startswith(f'@@iter 1 {iteration} '):
            proc.send_signal(signal_number)
            sent = 1
        elif sent == 1 and line.startswith('@@ckpt-begin'):
            proc.send_signal(signal_number)  # inside the pre-emption checkpoint's write
            break
    rest_err = proc.stderr.read()
    out = proc.stdout.read()
    proc.wait(timeout=600)
    return proc.returncode, out, ''.join(err) + rest_err


@pytest.mark.slow
@pytest.mark.parametrize('name', ['SIGTERM', 'SIGUSR1'])
def test_signal_mid_epoch_saves_and_resume_matches_the_straight_run(tmp_path, name):
    straight, stopped = str(tmp_path / 'straight'), str(tmp_path / 'stopped')
    done = _run(_argv(straight))
    assert done.returncode == 0, done.stderr[-3000:]
    rc, out, err = _preempt(stopped, getattr(signal, name), iteration=3)
    assert rc == EXIT_PREEMPTED, out[-2000:] + err[-3000:]
    assert f'Pre-empted by {name}: stopped in epoch 1 after batch 3/5' in out + err
    assert '--resume' in out + err
    meta = h.load(os.path.join(stopped, f'{h.SPICE_RUN_NAME}_last.pt'))['meta']
    assert (meta['epoch'], meta['epoch_iter'], meta['step']) == (0, 3, 3)
    assert not [n for n in os.listdir(stopped) if '.tmp-' in n]
    resumed = _run(_argv(stopped, ) + ['--resume'])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'Resumed from' in resumed.stdout and 'epoch 1 from its batch 4' in resumed.stdout
    assert h.final_state_problems(stopped, straight, h.SPICE_RUN_NAME) == []
    assert h.best_k_problems(stopped, straight, 3, h.SPICE_RUN_NAME) == []
    assert h.log_problems(stopped, straight) == []


def test_watch_notes_the_first_signal_and_restores_the_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with PreemptionWatch() as watch:
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)  # the handlers run between bytecodes
        assert (watch.signal_name, watch.count) == ('SIGUSR1', 2)
    assert signal.getsignal(signal.SIGTERM) is before
