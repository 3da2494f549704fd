"""CheckpointHook: ``{run_name}_last.pt`` every epoch (and every N optimizer steps, if asked)
and the best k by a monitored metric."""
import heapq
import math
import os
from typing import Any, Dict, List, Optional, Tuple

from trainkit.checkpointing.format import atomic_write, serialize
from trainkit.checkpointing.names import interval_file, last_file, slot_file
from trainkit.checkpointing.writer import BackgroundWriter
from trainkit.errors import ConfigError
from trainkit.hooks.hook import Hook
from trainkit.registry import HOOKS
from trainkit.utils.checks import expect_bool, expect_choice, expect_int, expect_metric


@HOOKS.register_module()
class CheckpointHook(Hook):
    """Save the run's state at the end of epochs (and every N steps), atomically, from rank 0
    only.

    The best ``best_k`` checkpoints by ``monitor`` live in slots ``{run_name}_0.pt`` …
    ``{run_name}_{k-1}.pt``; the record of what each slot holds is a heap of
    ``(value, epoch, file)`` with the worst entry on top, so a better value replaces the worst.
    Slot numbers carry no order: the best is found by value (the run reports it at the end).
    The best files are written before ``_last.pt``; both come from one serialization.

    The state is serialized at the end of the epoch, on the training thread; with
    ``async_write`` the files are then written (temp file, ``fsync``, rename) on a background
    thread while the next epoch trains. The next checkpoint, the end of the run and an error or
    Ctrl-C leaving the loop wait for that write; the last epoch's files are written before the
    run reports its end. A failed write (a full disk) stops the run at the next checkpoint,
    with the previous files intact.

    Args:
        best_k: how many best checkpoints to keep (an int >= 1, or None to keep none).
            Defaults to 1.
        monitor: validation metric to rank by. Defaults to None: ``'weighted_mae'``
            (Σ_k w_k·MAE_k over the loss weights) when validation computes it, else the
            validation ``'loss'`` (e.g. a model that returns its own loss).
        rule: ``'less'`` or ``'greater'`` is better — never guessed from the name. Defaults
            to ``'less'``.
        save_last: write ``{run_name}_last.pt``. Defaults to True.
        interval: write ``_last.pt`` every this many epochs (and always at the last epoch).
            Defaults to 1.
        async_write: write the files on a background thread (see above). Defaults to True;
            False writes them before the next epoch starts.
        interval_steps: also write ``_last.pt`` every this many optimizer steps inside an epoch
            (a resume then continues at the next batch of that epoch). Defaults to None (only
            at epoch ends).
        by_epoch, max_keep_ckpts, save_best, out_dir: MMEngine's spelling.
            ``by_epoch=False, interval=N`` is ``interval_steps=N`` (``_last.pt`` is still
            written at epoch ends too); ``save_best='forces_mae'`` is ``monitor='forces_mae'``
            (``'auto'``: the default monitor); ``max_keep_ckpts`` also writes MMEngine's
            interval files ``{run_name}_epoch_N.pt`` (and ``{run_name}_iter_N.pt`` with
            ``interval_steps``) beside ``_last.pt`` and keeps the newest N (-1: all; None,
            the default: none); ``out_dir`` must be None
            (checkpoints go to ``work_dir``, where ``--resume`` looks for them).

    Config example::

        default_hooks = dict(checkpoint=dict(type='CheckpointHook', best_k=3,
                                             monitor='forces_mae', rule='less',
                                             interval_steps=500))
    """

    priority = 'LOW'

    def __init__(self, best_k: Optional[int] = 1, monitor: Optional[str] = None,
                 rule: str = 'less', save_last: bool = True, interval: int = 1,
                 async_write: bool = True, interval_steps: Optional[int] = None,
                 by_epoch: bool = True, max_keep_ckpts: Optional[int] = None,
                 save_best: Optional[str] = None, out_dir: Optional[str] = None):
        expect_int(best_k, 'CheckpointHook.best_k', at_least=1, allow_none=True,
                   hint='it is the number of best checkpoints kept; to keep none, set '
                        'best_k=None')
        best_k = best_k or 0  # internally 0 = no best-k files
        expect_choice(rule, ('less', 'greater'), 'CheckpointHook.rule')
        expect_int(interval, 'CheckpointHook.interval', at_least=1)
        expect_int(interval_steps, 'CheckpointHook.interval_steps', at_least=1,
                   allow_none=True)
        expect_bool(by_epoch, 'CheckpointHook.by_epoch')
        expect_int(max_keep_ckpts, 'CheckpointHook.max_keep_ckpts', at_least=-1,
                   allow_none=True)
        if max_keep_ckpts == 0:
            raise ConfigError('CheckpointHook.max_keep_ckpts=0: expected -1 (keep every '
                              'interval file), N >= 1 (keep the newest N) or None (write none)')
        self.max_keep_ckpts = max_keep_ckpts
        self._kept: List[str] = []  # interval files on disk, oldest first
        if out_dir is not None:
            raise ConfigError(f'CheckpointHook.out_dir={out_dir!r}: trainkit writes checkpoints '
                              f'into work_dir (where --resume looks for them); leave out_dir '
                              f'out and set work_dir (or --work-dir) instead')
        if not by_epoch:  # MMEngine: interval counts iterations
            if interval_steps is not None and interval_steps != interval:
                raise ConfigError(f'CheckpointHook: by_epoch=False with interval={interval} '
                                  f'and interval_steps={interval_steps}; give one of them')
            interval_steps, interval = interval, 1
        if save_best is not None:
            if monitor is not None and save_best not in ('auto', monitor):
                raise ConfigError(f'CheckpointHook: save_best={save_best!r} and monitor='
                                  f'{monitor!r} name different metrics; give one of them')
            if not isinstance(save_best, str):
                raise ConfigError(f'CheckpointHook.save_best: expected one metric name or '
                                  f"'auto', got {save_best!r}")
            monitor = None if save_best == 'auto' else save_best
        self.interval_steps = interval_steps
        self._saved_at: Optional[Tuple[int, bool]] = None  # (runner.iter, epoch done) of _last
        self.best_k, self.monitor, self.rule = best_k, monitor, rule
        expect_bool(async_write, 'CheckpointHook.async_write')
        self.save_last, self.interval, self.async_write = save_last, interval, async_write
        self._writer = BackgroundWriter()
        self._heap: List[Tuple[float, int, int, float]] = []  # (key, epoch, slot, value)

    # -- best-k bookkeeping ----------------------------------------------------------------
    def _key(self, value: float) -> float:
        """Heap key: the worst entry has the smallest key and sits on top."""
        return -value if self.rule == 'less' else value

    def offer(self, value: float, epoch: int) -> Optional[int]:
        """Record ``value`` of ``epoch`` if it is among the best k; return its slot or None."""
        if self.best_k == 0 or value is None or math.isnan(value):
            return None
        if len(self._heap) < self.best_k:
            used = {entry[2] for entry in self._heap}
            slot = min(s for s in range(self.best_k) if s not in used)
            heapq.heappush(self._heap, (self._key(value), epoch, slot, value))
            return slot
        worst = self._heap[0]
        if self._key(value) <= worst[0]:
            return None
        heapq.heapreplace(self._heap, (self._key(value), epoch, worst[2], value))
        return worst[2]

    @property
    def best(self) -> Optional[Dict[str, Any]]:
        """The best entry, found by value (never by heap position)."""
        if not self._heap:
            return None
        pick = min if self.rule == 'less' else max
        _, epoch, slot, value = pick(self._heap, key=lambda e: e[3])
        return {'value': value, 'epoch': epoch, 'slot': slot}

    def entries(self) -> List[Dict[str, Any]]:
        """All kept entries, best first."""
        ordered = sorted(self._heap, key=lambda e: e[3], reverse=self.rule == 'greater')
        return [{'value': v, 'epoch': ep, 'slot': s} for _, ep, s, v in ordered]

    # -- hook points -----------------------------------------------------------------------
    def implements(self, point: str) -> bool:
        # without interval_steps nothing is done per iteration, so the Runner need not call it
        if point == 'after_train_iter' and not self.interval_steps:
            return False
        return super().implements(point)

    def check_monitors(self, names) -> None:
        if self.best_k and self.monitor is not None:
            expect_metric(self.monitor, names, 'CheckpointHook.monitor')

    def before_run(self, runner) -> None:
        self.check_monitors(runner.metric_names())
        self._adopt_slot_files(runner)

    def _adopt_slot_files(self, runner) -> None:
        """After resuming from another directory, bring the best-k files along (or forget
        entries whose file is gone), so that every entry names a file in this work dir."""
        if runner.resumed_from is None:
            return
        source = os.path.dirname(os.path.abspath(runner.resumed_from))
        kept = []
        for entry in self._heap:
            target = self.path(runner, entry[2])
            origin = os.path.join(source, self.filename(runner, entry[2]))
            if runner.is_main and not os.path.isfile(target) and os.path.isfile(origin):
                with open(origin, 'rb') as f:
                    atomic_write(target, f.read())
            if os.path.isfile(target) or not runner.is_main:
                kept.append(entry)
            else:
                runner.log.info(f'best-k: {target} is missing; its entry (epoch {entry[1]}, '
                                f'{self.monitor} {entry[3]:.6g}) is dropped')
        if len(kept) != len(self._heap):
            self._heap = kept
            heapq.heapify(self._heap)

    def _monitored_value(self, metrics: Dict[str, float]) -> float:
        if self.monitor is None:
            self.monitor = 'weighted_mae' if 'weighted_mae' in metrics else 'loss'
        expect_metric(self.monitor, metrics, 'CheckpointHook.monitor')
        return metrics[self.monitor]

    def after_train_iter(self, runner, batch_idx, batch, preds, losses) -> None:
        """``_last.pt`` every ``interval_steps`` optimizer steps (not at an epoch's last batch:
        the end of the epoch writes it a moment later)."""
        if runner.stepped and runner.step % self.interval_steps == 0 and \
                runner.epoch_iter < runner.iters_per_epoch and not runner.preempting:
            self._save_last(runner, wait=not self.async_write,
                            interval_unit='iter' if self.max_keep_ckpts is not None else None)

    def save_now(self, runner) -> bool:
        """Write ``_last.pt`` at this point unless it was just written, and wait until it is on
        disk (pre-emption). Returns True."""
        if self._saved_at != (runner.iter, runner.progress.epoch_done):
            self._save_last(runner, wait=True)
        self._writer.wait()
        return True

    def _save_last(self, runner, wait: bool, interval_unit: Optional[str] = None) -> None:
        self._saved_at = (runner.iter, runner.progress.epoch_done)
        removals = self._keep_interval_file(runner, interval_unit, runner.step)
        if not runner.is_main:
            return
        data = serialize(runner.checkpoint_state({'monitor': self.monitor, 'value': None}))
        writes = [(self.path(runner, 'last'), data)]
        if interval_unit is not None:
            writes.append((os.path.join(runner.work_dir, self._kept[-1]), data))
        self._writer.submit(writes, removals)
        if wait:
            self._writer.wait()

    def _keep_interval_file(self, runner, unit: Optional[str], number: int) -> List[str]:
        """Record the interval file of ``unit`` (MMEngine's ``epoch_N`` / ``iter_N``) about
        to be written; return the paths of the oldest ones beyond ``max_keep_ckpts``, to be
        deleted once it is on disk."""
        if unit is None:
            return []
        self._kept.append(interval_file(runner.run_name, unit, number))
        if self.max_keep_ckpts in (None, -1) or len(self._kept) <= self.max_keep_ckpts:
            return []
        dropped = self._kept[:-self.max_keep_ckpts]
        self._kept = self._kept[-self.max_keep_ckpts:]
        return [os.path.join(runner.work_dir, name) for name in dropped]

    def after_train_epoch(self, runner) -> None:
        epoch = runner.epoch + 1
        value = None
        if runner.val_metrics is not None and self.best_k:
            value = self._monitored_value(runner.val_metrics)
        slot = self.offer(value, epoch) if value is not None else None
        last_due = (self.save_last and (epoch % self.interval == 0 or epoch == runner.max_epochs
                                        or runner.stop_requested)) or bool(runner.preempting)
        final = epoch >= runner.max_epochs or runner.stop_requested or runner.preempting
        # MMEngine's interval files: epoch_N at the epochs _last.pt is due, or, counting in
        # steps (interval_steps), iter_N when a step interval or the run ends here
        interval_due = self.max_keep_ckpts is not None and not runner.preempting and (
            last_due if self.interval_steps is None else
            runner.step % self.interval_steps == 0 or final)
        if slot is None and not last_due and not interval_due:
            return
        if slot is not None:
            runner.log.info(f'{self.monitor} {value:.6g} is among the best {self.best_k}: saved '
                            f'to {self.filename(runner, slot)}', console=False)
        if last_due:
            self._saved_at = (runner.iter, True)
        unit, number = ('epoch', epoch) if self.interval_steps is None else ('iter', runner.step)
        removals = self._keep_interval_file(runner, unit if interval_due else None, number)
        if not runner.is_main:
            return
        data = serialize(runner.checkpoint_state({'monitor': self.monitor, 'value': value}))
        writes = [(self.path(runner, slot), data)] if slot is not None else []
        if last_due:
            writes.append((self.path(runner, 'last'), data))
        if interval_due:
            writes.append((os.path.join(runner.work_dir, self._kept[-1]), data))
        self._writer.submit(writes, removals)
        if final or not self.async_write:
            self._writer.wait()

    def on_exception(self, runner, error: BaseException) -> None:
        """Finish the write in flight, so the files on disk are whole before the error leaves."""
        try:
            self._writer.wait()
        except Exception as write_error:  # the error leaving the loop is the one reported
            runner.log.info(f'the checkpoint write in flight failed too: {write_error}',
                            console=False)

    def after_run(self, runner) -> None:
        self._writer.wait()
        best = self.best
        if best is None:
            return
        runner.log.info(f'Best Valid {self.monitor}: {best["value"]:.6g}')
        runner.log.info(f'Best Checkpoint: {self.path(runner, best["slot"])} at Epoch '
                        f'{best["epoch"]}')

    def filename(self, runner, slot) -> str:
        return last_file(runner.run_name) if slot == 'last' else slot_file(runner.run_name, slot)

    def path(self, runner, slot) -> str:
        return os.path.join(runner.work_dir, self.filename(runner, slot))

    def state_dict(self) -> Dict[str, Any]:
        return {'best': [[value, epoch, slot] for _, epoch, slot, value in self._heap],
                'monitor': self.monitor, 'rule': self.rule, 'kept': list(self._kept)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        entries = state.get('best', [])
        if self.monitor is None:
            self.monitor = state.get('monitor')
        if state.get('monitor', self.monitor) != self.monitor or \
                state.get('rule', self.rule) != self.rule:
            raise ConfigError(f'CheckpointHook: the checkpoint ranked by {state.get("monitor")!r} '
                              f'({state.get("rule")}), the config by {self.monitor!r} '
                              f'({self.rule}); resume with the same monitor and rule')
        self._heap = [(self._key(v), int(ep), int(s), float(v)) for v, ep, s in entries
                      if int(s) < self.best_k]
        heapq.heapify(self._heap)
        self._kept = [str(name) for name in state.get('kept', [])]
