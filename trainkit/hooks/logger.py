"""LoggerHook: the readable ``loss.log`` table, JSON lines beside it, and console progress.

``loss.log`` (in the work dir) keeps the reference trainer's layout::

     --- Start training spice-v1: 29,314 trainable / 0 frozen parameters, 30 epochs of 120 steps
    Train     Epoch        Step          LR        Loss   L(energy)   L(forces)     Energy MAE/RMSE     Forces MAE/RMSE
              1/30    [50/120]   2.083e-04   1.234e-01   3.150e-02   9.190e-04   1.23e-01/2.35e-01   3.46e-02/4.57e-02
    Valid     Epoch      Energy MAE/RMSE     Forces MAE/RMSE    weighted_mae
    EMA       1/30     1.23e-01/2.35e-01   3.46e-02/4.57e-02     3.469e+01
     --- Training Completed
     --- Best Valid weighted_mae: 34.69
     --- Best Checkpoint: work_dirs/spice-v1/spice-v1_0.pt at Epoch 27

Train rows come every ``log_steps`` optimizer steps with the LR that step used, the total loss,
each loss term (when there are several) and the train MAE/RMSE of that batch; an ``Epoch`` row
every ``log_epochs`` epochs with the epoch's mean losses; a ``Valid`` row per validation
(marked ``EMA`` when the EMA weights were validated).
The JSON-lines file holds the same numbers, one object per row, for programs, plus what
differs from run to run (kept out of ``loss.log`` so that two logs of one run compare): train
rows carry ``iter_time`` and ``data_time`` (mean seconds per batch and per batch fetch since
the last row), epoch rows the run's ``eta`` (seconds) and, on CUDA, the epoch's peak
``max_memory_mb``, and a ``summary`` row ends the run (``total_time``, ``steps_per_s``,
``samples_per_s``); the console shows them too. On a terminal (stderr a tty) a tqdm bar per
epoch shows the progress, the last logged loss and the run's ETA, and train rows go to the
files only; otherwise rows are printed as plain lines and no bar exists. Between log steps the hook
does no host sync and little work: it keeps the detached loss terms of each step in a list and
folds them into the epoch sums (float64, on the device) every 1,024 terms with one
``stack`` + ``sum``, instead of a ``stack`` and an add per step.
"""
import copy
import os
import sys
import time
from typing import Dict, List, Optional, Union

import torch

from trainkit.errors import ConfigError
from trainkit.hooks.hook import Hook
from trainkit.registry import HOOKS
from trainkit.utils.checks import expect_int

_FOLD_AT = 1024  # pending loss terms folded into the epoch sums at once
# wall-clock and machine fields of the JSON rows: they differ between two runs of one config,
# every other field is reproducible (tests and tools comparing runs leave these out)
TIMING_FIELDS = ('time', 'seconds', 'iter_time', 'data_time', 'total_time', 'steps_per_s',
                 'samples_per_s', 'eta', 'max_memory_mb')


def _num(value: Optional[float], width: int = 11) -> str:
    return ('-' if value is None else f'{value:.3e}').rjust(width)


def format_eta(seconds: float) -> str:
    """``3725.2`` -> ``'1:02:05'`` (days, when there are any, as ``'2d 1:02:05'``)."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f'{f"{days}d " if days else ""}{hours}:{minutes:02d}:{secs:02d}'


def peak_memory_mb(device: torch.device) -> Optional[float]:
    """The most memory tensors held on a CUDA device since the last reset (MiB), else None.
    A read of the allocator's counters: no sync with the device."""
    if device.type != 'cuda':
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def samples_per_epoch(loader) -> Optional[int]:
    """Samples one process sees per epoch (None when a custom batch sampler hides it)."""
    batch_size, sampler = getattr(loader, 'batch_size', None), getattr(loader, 'sampler', None)
    if batch_size is None or sampler is None or not hasattr(sampler, '__len__'):
        return None
    if getattr(loader, 'drop_last', False):
        return len(sampler) // batch_size * batch_size
    return len(sampler)


def _pair(mae: Optional[float], rmse: Optional[float]) -> str:
    def one(value):
        return '-' if value is None else f'{value:.2e}'
    return f'{one(mae)}/{one(rmse)}'.rjust(19)


@HOOKS.register_module()
class LoggerHook(Hook):
    """Write training and validation rows.

    Args:
        log_file: text log in the work dir. Defaults to ``'loss.log'``.
        json_file: JSON-lines log in the work dir; None derives it from ``log_file``
            (``loss.jsonl``); ``False`` disables it. Defaults to None.
        log_steps: a train row every this many optimizer steps. Defaults to 50.
        log_epochs: an epoch row every this many epochs. Defaults to 1.
        progress_bar: ``'auto'`` (a bar when stderr is a terminal), True or False.
            Defaults to ``'auto'``.

    Config example::

        default_hooks = dict(logger=dict(type='LoggerHook', log_file='loss.log', log_steps=50))
    """

    priority = 'BELOW_NORMAL'

    def __init__(self, log_file: str = 'loss.log', json_file: Union[str, bool, None] = None,
                 log_steps: int = 50, log_epochs: int = 1,
                 progress_bar: Union[str, bool] = 'auto'):
        expect_int(log_steps, 'LoggerHook.log_steps', at_least=1)
        expect_int(log_epochs, 'LoggerHook.log_epochs', at_least=1)
        if not isinstance(log_file, str) or not log_file:
            raise ConfigError(f'LoggerHook.log_file: expected a file name, got {log_file!r}')
        if progress_bar not in ('auto', True, False):
            raise ConfigError(f"LoggerHook.progress_bar: expected 'auto', True or False, got "
                              f'{progress_bar!r}')
        self.log_file, self.log_steps, self.log_epochs = log_file, log_steps, log_epochs
        self.json_file = (os.path.splitext(log_file)[0] + '.jsonl') if json_file is None \
            else json_file
        self.progress_bar = progress_bar
        self._bar = None
        self._epoch_sum: Optional[torch.Tensor] = None
        self._epoch_batches = 0
        self._pending: List[torch.Tensor] = []  # detached loss terms not yet in _epoch_sum
        self._term_names: List[str] = []
        self._train_metrics = None
        self._epoch_start = time.time()
        self._val_header_on_console = False
        # timing: perf_counter at each iteration's start and end, summed between log rows
        self._t_end: Optional[float] = None
        self._iter_sum = self._data_sum = 0.0
        self._timed = 0
        self._run_steps, self._run_start = 0, time.perf_counter()
        self._epoch = -1  # the epoch whose sums these are
        self._restored: Optional[Dict] = None  # the epoch sums of a mid-epoch checkpoint

    # -- state: the sums of the epoch in progress, for a resume inside it --------------------
    def state_dict(self) -> Dict:
        pending = torch.stack(self._pending) if self._pending else None  # not folded: a fold
        # here would group the sums differently from a run that was never checkpointed
        return {'epoch': self._epoch, 'epoch_sum': self._epoch_sum, 'pending': pending,
                'epoch_batches': self._epoch_batches, 'term_names': list(self._term_names)}

    def load_state_dict(self, state: Dict) -> None:
        self._restored = state or None

    # -- set-up ----------------------------------------------------------------------------
    def before_run(self, runner) -> None:
        self._val_header_on_console = False
        self._run_steps, self._run_start = 0, time.perf_counter()
        json_path = os.path.join(runner.work_dir, self.json_file) if self.json_file else None
        runner.log.attach(os.path.join(runner.work_dir, self.log_file), json_path)
        if runner.metrics is not None:
            self._train_metrics = copy.copy(runner.metrics)
        use_bar = self.progress_bar is True or (self.progress_bar == 'auto' and
                                                sys.stderr.isatty())
        self._use_bar = use_bar and runner.is_main

    def _targets(self, runner) -> List[str]:
        return list(runner.metrics.targets) if runner.metrics is not None else []

    # -- training rows ---------------------------------------------------------------------
    def before_train_epoch(self, runner) -> None:
        self._epoch_sum, self._epoch_batches, self._pending = None, 0, []
        self._epoch = runner.epoch
        saved, self._restored = self._restored, None
        if saved and runner.resume_iter and saved.get('epoch') == runner.epoch:
            # resumed inside this epoch: its mean row goes on from the sums saved then
            self._epoch_sum, self._epoch_batches = saved['epoch_sum'], saved['epoch_batches']
            pending = saved.get('pending')
            self._pending = list(pending.unbind()) if pending is not None else []
            self._term_names = list(saved.get('term_names') or self._term_names)
        self._epoch_start = time.time()
        if runner.device.type == 'cuda':  # the epoch rows report each epoch's peak
            torch.cuda.reset_peak_memory_stats(runner.device)
        self._t_end = time.perf_counter()  # the first batch's fetch counts as data time
        if self._use_bar:
            from tqdm import tqdm
            self._bar = tqdm(total=runner.iters_per_epoch, leave=False, dynamic_ncols=True,
                             desc=f'epoch {runner.epoch + 1}/{runner.max_epochs}')
            runner.log.console = self._bar.write
        if runner.epoch == runner.start_epoch:
            self._header(runner)

    def _loss_terms(self, runner) -> List[str]:
        """The loss's own terms (e.g. energy, forces) beside the total, when it has several."""
        names = self._term_names or list(getattr(runner.loss, 'losses_weight', None) or ())
        terms = [t for t in names if t != 'loss']
        return terms if len(terms) > 1 else []

    def _header(self, runner) -> None:
        terms = ''.join(f'L({t[:8]})'.rjust(12) for t in self._loss_terms(runner))
        cols = ''.join(f'{t.capitalize()[:10]} MAE/RMSE'.rjust(20) for t in self._targets(runner))
        runner.log.text(f'{"Train":<6}{"Epoch":>9}{"Step":>12}{"LR":>12}{"Loss":>12}{terms}'
                        f'{cols}')

    def before_train_iter(self, runner, batch_idx, batch) -> None:
        if self._t_end is not None:
            self._data_sum += time.perf_counter() - self._t_end

    def after_train_iter(self, runner, batch_idx, batch, preds, losses) -> None:
        now = time.perf_counter()
        if self._t_end is not None:
            self._iter_sum += now - self._t_end
            self._timed += 1
        self._t_end = now
        self._run_steps += 1
        if not self._term_names:
            self._term_names = list(losses)
        if not runner.skipped_update:  # a batch the NaN guard dropped stays out of the means
            self._pending.extend(value.detach() for value in losses.values())
            self._epoch_batches += 1
            if len(self._pending) >= _FOLD_AT:
                self._fold()
        if self._bar is not None:
            self._bar.update(1)
        if runner.stepped and runner.step % self.log_steps == 0:
            self._train_row(runner, batch, preds, losses)

    def _eta(self, runner) -> float:
        """Seconds left in the run: the batches still to come at this process's mean time per
        batch so far (validation and checkpoints included; an upper bound when the run stops
        early)."""
        left = runner.max_epochs * runner.iters_per_epoch - runner.iter
        return (time.perf_counter() - self._run_start) / max(self._run_steps, 1) * max(left, 0)

    def _take_timing(self) -> Dict[str, float]:
        """Mean seconds per step and per batch fetch since the last row (then reset)."""
        n, self._timed = max(self._timed, 1), 0
        out = {'iter_time': self._iter_sum / n, 'data_time': self._data_sum / n}
        self._iter_sum = self._data_sum = 0.0
        return out

    def _fold(self) -> None:
        """Add the pending terms to the epoch sums (one stack and one sum for many steps)."""
        if not self._pending:
            return
        flat = torch.stack(self._pending)
        block = flat.view(-1, len(self._term_names), *flat.shape[1:]).double().sum(0)
        self._epoch_sum = block if self._epoch_sum is None else self._epoch_sum + block
        self._pending = []

    def _train_row(self, runner, batch, preds, losses: Dict[str, torch.Tensor]) -> None:
        # one op and one host read: stacking the undetached terms only adds a graph node that
        # is dropped with the stack (a detach and a float() per term cost more on a small step)
        values = dict(zip(self._term_names, torch.stack(list(losses.values())).tolist()))
        metrics = {}
        if self._train_metrics is not None:
            self._train_metrics.reset()
            self._train_metrics.update(preds, batch)
            metrics = self._train_metrics.compute()
        steps = runner.steps_per_epoch
        step_in_epoch = runner.step - runner.epoch * steps
        lr = runner.step_lr  # the LR of the step just taken (the scheduler has moved on)
        cols = ''.join(_num(values.get(t), 12) for t in self._loss_terms(runner)) + ''.join(
            _pair(metrics.get(f'{t}_mae'), metrics.get(f'{t}_rmse')).rjust(20)
            for t in self._targets(runner))
        runner.log.text(f'{"":<6}{runner.epoch + 1:>5}/{runner.max_epochs:<3}'
                        f'{f"[{step_in_epoch}/{steps}]":>12}{_num(lr, 12)}'
                        f'{_num(values.get("loss"), 12)}{cols}', console=self._bar is None)
        runner.log.record({'kind': 'train', 'epoch': runner.epoch + 1, 'step': runner.step,
                           'step_in_epoch': step_in_epoch, 'lr': lr, 'time': time.time(),
                           **self._take_timing(),
                           **{f'loss_{k}' if k != 'loss' else 'loss': v
                              for k, v in values.items()},
                           **{f'train_{k}': v for k, v in metrics.items()}})
        if self._bar is not None:
            self._bar.set_postfix(loss=f'{values.get("loss", float("nan")):.3e}',
                                  eta=format_eta(self._eta(runner)), refresh=False)

    # -- validation and epoch rows -----------------------------------------------------------
    def after_val_epoch(self, runner, metrics: Dict[str, float]) -> None:
        targets = [t for t in self._targets(runner) if f'{t}_mae' in metrics]
        get = metrics.get
        extra = [k for k in ('weighted_mae', 'loss') if k in metrics]
        header = ''.join(f'{t.capitalize()[:10]} MAE/RMSE'.rjust(20) for t in targets) + \
            ''.join(k.rjust(14) for k in extra)
        cols = ''.join(_pair(get(f'{t}_mae'), get(f'{t}_rmse')).rjust(20) for t in targets) + \
            ''.join(_num(metrics[k], 14) for k in extra)
        tag = runner.val_tag or 'Valid'
        # the file repeats the header before every validation; the console shows it once
        runner.log.text(f'{"Valid":<6}{"Epoch":>9}{header}',
                        console=not self._val_header_on_console)
        self._val_header_on_console = True
        runner.log.text(f'{tag:<6}{runner.epoch + 1:>5}/{runner.max_epochs:<3}{cols}')
        runner.log.record({'kind': 'val', 'epoch': runner.epoch + 1, 'step': runner.step,
                           'ema': runner.val_tag == 'EMA', 'time': time.time(), **metrics})

    def after_train_epoch(self, runner) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            runner.log.console = runner.default_console
        if (runner.epoch + 1) % self.log_epochs != 0:
            return
        self._fold()
        if self._epoch_sum is None:
            return
        means = dict(zip(self._term_names, (self._epoch_sum / self._epoch_batches).tolist()))
        seconds = time.time() - self._epoch_start
        terms = '  '.join(f'{k} {v:.4e}' for k, v in means.items() if k != 'loss')
        lr = runner.optim_wrapper.optimizer.param_groups[0]['lr']
        eta, memory = self._eta(runner), peak_memory_mb(runner.device)
        # the ETA and the peak memory differ from run to run: console and JSON only, so that
        # loss.log stays comparable between a resumed and a straight run
        machine = f'ETA {format_eta(eta)}' + (f', peak {memory:,.0f} MiB' if memory else '')
        row = (f'{"Epoch":<6}{runner.epoch + 1:>5}/{runner.max_epochs:<3}{"mean":>12}'
               f'{_num(lr, 12)}{_num(means.get("loss"), 12)}   {terms}   ({seconds:.1f} s)')
        runner.log.text(row, console=False)
        if runner.is_main:
            runner.log.console(f'{row}   {machine}')
        runner.log.record({'kind': 'epoch', 'epoch': runner.epoch + 1, 'step': runner.step,
                           'seconds': seconds, 'eta': eta, 'time': time.time(),
                           **({'max_memory_mb': memory} if memory is not None else {}),
                           **{f'mean_{k}': v for k, v in means.items()}})

    def after_run(self, runner) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if runner.stop_reason:
            runner.log.info(f'Stopped early at epoch {runner.epoch}: {runner.stop_reason}')
        total = max(time.perf_counter() - self._run_start, 1e-9)
        summary = {'kind': 'summary', 'epoch': runner.epoch, 'step': runner.step,
                   'total_time': total, 'steps_per_s': self._run_steps / total}
        # samples of all processes (each sees its shard); whole epochs only run in a process
        per_epoch = samples_per_epoch(runner.train_dataloader)
        if per_epoch is not None:
            samples = self._run_steps / runner.iters_per_epoch * per_epoch * runner.world_size
            summary['samples_per_s'] = samples / total
        runner.log.record(summary)
        if runner.is_main:  # wall-clock numbers: console and JSON only, loss.log stays comparable
            samples_text = (f', {summary["samples_per_s"]:,.0f} samples/s'
                            if 'samples_per_s' in summary else '')
            runner.log.console(f' --- {self._run_steps} steps in {total:.1f} s '
                               f'({summary["steps_per_s"]:.2f} steps/s{samples_text})')
        runner.log.info('Training Completed')
