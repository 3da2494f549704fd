"""Fault injection for the reliability tests (``--custom-imports tests.support.fault_plugin``).

Importing this module patches trainkit *in the importing process only* (it is imported by
``tools/train.py`` in a subprocess; never import it into the test process). Nothing in
trainkit is edited: the checkpoint module's ``open`` and ``os`` names are shadowed by thin
wrappers, and two Runner methods are wrapped. What it does is chosen by environment variables:

``TK_WRITE_DELAY``   seconds spent writing one checkpoint file, in ``TK_WRITE_CHUNKS`` (8)
                     chunks with a sleep before each, so a kill can land mid-write
``TK_REPLACE_DELAY`` seconds slept between the finished temp file and ``os.replace``
``TK_ITER_DELAY``    seconds slept per training iteration
``TK_MARKERS``       ``1``: print ``@@`` progress markers on stderr (the kill driver reads them)
``TK_SELF_KILL``     ``write:N:C`` SIGKILL this process after chunk C of the N-th checkpoint
                     file write (1-based, counted in this process); ``replace:N:before`` /
                     ``replace:N:after`` around the N-th ``os.replace`` of a checkpoint
``TK_ENOSPC_WRITE``  ``N``: the N-th checkpoint file write raises ``OSError(ENOSPC)`` halfway
                     (the target is first copied to ``<target>.before-enospc``)
``TK_NAN_ITER``      ``K``: the loss of global training iteration K (1-based) becomes NaN
                     (``{run_name}_last.pt`` is first copied to ``..._last.pt.before-nan``)
``TK_LOG_ENOSPC``    ``K``: the K-th line written to the text log after start raises
                     ``OSError(ENOSPC)`` (a disk filling up while logging)

All of these only add sleeps or raise/kill at a chosen point: the numbers a run computes are
the same with or without the plugin, so runs with and without delays compare bit for bit.
"""
import errno
import os
import shutil
import signal
import sys
import time

import trainkit.checkpointing.format as _ckpt
import trainkit.engine.run_log as _run_log
import trainkit.engine.runner as _runner

_REAL_OPEN = open
_REAL_OS = os


def _env_float(name, default=0.0):
    return float(os.environ.get(name) or default)


WRITE_DELAY = _env_float('TK_WRITE_DELAY')
REPLACE_DELAY = _env_float('TK_REPLACE_DELAY')
ITER_DELAY = _env_float('TK_ITER_DELAY')
CHUNKS = max(1, int(_env_float('TK_WRITE_CHUNKS', 8)))
MARKERS = os.environ.get('TK_MARKERS') == '1'
SELF_KILL = os.environ.get('TK_SELF_KILL', '')
ENOSPC_WRITE = int(_env_float('TK_ENOSPC_WRITE'))
NAN_ITER = int(_env_float('TK_NAN_ITER'))
LOG_ENOSPC = int(_env_float('TK_LOG_ENOSPC'))

_counts = {'write': 0, 'replace': 0, 'log': 0}


def marker(text):
    if MARKERS:
        os.write(2, f'@@{text} {time.monotonic():.6f}\n'.encode())


def _die(where):
    marker(f'self-kill {where}')
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)  # not reached


def _kill_spec():
    if not SELF_KILL:
        return None
    kind, number, arg = SELF_KILL.split(':')
    return kind, int(number), arg


def _target_of(tmp_path):
    """'.tiny_last.pt.tmp-123' -> 'tiny_last.pt'."""
    name = os.path.basename(tmp_path)
    return name[1:name.rindex('.tmp-')] if name.startswith('.') and '.tmp-' in name else name


class _SlowFile:
    """A binary file whose ``write`` goes out in chunks, with delays, markers and faults."""

    def __init__(self, real, path):
        self._real, self._path = real, path
        self._target = _target_of(path)
        _counts['write'] += 1
        self._number = _counts['write']
        marker(f'ckpt-begin {self._target} {self._number}')

    def write(self, data):
        data = memoryview(data)
        size = len(data)
        bounds = [size * i // CHUNKS for i in range(CHUNKS + 1)]
        spec = _kill_spec()
        for i in range(CHUNKS):
            if WRITE_DELAY:
                time.sleep(WRITE_DELAY / CHUNKS)
            if ENOSPC_WRITE == self._number and i == CHUNKS // 2:
                target = os.path.join(os.path.dirname(self._path), self._target)
                if os.path.exists(target):
                    shutil.copyfile(target, target + '.before-enospc')
                marker(f'enospc {self._target}')
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._path)
            self._real.write(data[bounds[i]:bounds[i + 1]])
            self._real.flush()
            marker(f'ckpt-chunk {self._target} {i + 1}/{CHUNKS}')
            if spec and spec[0] == 'write' and spec[1] == self._number and int(spec[2]) == i + 1:
                _die(f'write {self._target} chunk {i + 1}/{CHUNKS}')
        marker(f'ckpt-written {self._target}')
        return size

    def __getattr__(self, name):
        return getattr(self._real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()
        return False


def _checkpoint_open(path, mode='r', *args, **kwargs):
    real = _REAL_OPEN(path, mode, *args, **kwargs)
    if 'w' in mode and '.tmp-' in os.path.basename(str(path)):
        return _SlowFile(real, str(path))
    return real


class _OsProxy:
    """``os`` for trainkit.checkpointing.format, with a slow, observable ``replace``."""

    def __getattr__(self, name):
        return getattr(_REAL_OS, name)

    @staticmethod
    def replace(src, dst):
        _counts['replace'] += 1
        number, name = _counts['replace'], os.path.basename(dst)
        spec = _kill_spec()
        if REPLACE_DELAY:
            time.sleep(REPLACE_DELAY)
        if spec and spec[0] == 'replace' and spec[1] == number and spec[2] == 'before':
            _die(f'before replace {name}')
        _REAL_OS.replace(src, dst)
        marker(f'ckpt-replaced {name} {number}')
        if spec and spec[0] == 'replace' and spec[1] == number and spec[2] == 'after':
            _die(f'after replace {name}')


_ckpt.open = _checkpoint_open
_ckpt.os = _OsProxy()

# --------------------------------------------------------------------- training iterations
_real_train_step = _runner.Runner._train_step


def _train_step(self, batch, before_backward):
    if ITER_DELAY:
        time.sleep(ITER_DELAY)
    marker(f'iter {self.epoch + 1} {self.inner_iter + 1}')
    return _real_train_step(self, batch, before_backward)


_real_compute_loss = _runner.Runner._compute_loss


def _compute_loss(self, preds, batch):
    losses = _real_compute_loss(self, preds, batch)
    if NAN_ITER and self.model.training and self.iter + 1 == NAN_ITER:
        last = os.path.join(self.work_dir, f'{self.run_name}_last.pt')
        if os.path.exists(last):
            shutil.copyfile(last, last + '.before-nan')
        marker('nan-injected')
        losses = dict(losses, loss=losses['loss'] * float('nan'))
    return losses


_runner.Runner._train_step = _train_step
_runner.Runner._compute_loss = _compute_loss

# ----------------------------------------------------------------------------- text log
_real_text = _run_log.RunLog.text


def _text(self, line, console=True):
    if LOG_ENOSPC and self._text is not None:
        _counts['log'] += 1
        if _counts['log'] == LOG_ENOSPC:
            marker('log-enospc')
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.text_path)
    return _real_text(self, line, console)


_run_log.RunLog.text = _text
print('reliability_plugin active', file=sys.stderr, flush=True) if MARKERS else None
