"""The Runner: builds a run from its parts and runs the epoch loop with hooks.

From a config (what ``tools/train.py`` does)::

    runner = Runner.from_cfg(load_config('configs/spice.py'))
    runner.train()

From Python, with objects you built yourself::

    runner = Runner(model, train_loader, val_loader,
                    optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
                    loss=dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0)),
                    max_epochs=10, work_dir='work_dirs/mine')
    runner.train()
    metrics = runner.val()
    results = runner.test()     # needs test_dataloader=...; built on first use

The loop, its hook points and what a hook may touch are described in
:mod:`trainkit.hooks.hook`. The Runner reads the loss value only when a hook asks for it.
"""
import errno
import inspect
import itertools
import math
import os
import random
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from torch import nn

from trainkit.checkpointing.checkpointer import Checkpointer
from trainkit.checkpointing.names import last_file
from trainkit.engine.data import build_dataloader, check_loss_targets, move_batch, skip_batches
from trainkit.engine.data_info import share_data_info
from trainkit.engine.evaluate import evaluate
from trainkit.engine.from_cfg import runner_kwargs_from_cfg
from trainkit.engine.loss_and_metrics import build_loss, build_metrics
from trainkit.engine.preemption import PreemptionWatch
from trainkit.engine.progress import Progress
from trainkit.engine.run_log import RunLog
from trainkit.engine.work_dir import (
    WorkDirLock,
    check_resume_files,
    keep_previous_run,
    save_config,
)
from trainkit.errors import ConfigError, DataError, Preempted, TrainkitError, WorkDirError
from trainkit.hooks.build import build_hooks
from trainkit.hooks.checkpoint import CheckpointHook
from trainkit.hooks.hook import HOOK_POINTS, Hook
from trainkit.metrics import NamedMetrics
from trainkit.optim import OptimWrapper, build_optim_wrapper, build_param_schedule, scale_lr
from trainkit.optim.freeze import count_trainable, freeze_except
from trainkit.optim.wrapper import (
    EpochAlignedWrapper,
    PlannedContextWrapper,
    SkippableWrapper,
    accumulative_counts,
)
from trainkit.utils.dist import all_reduce_sum, broadcast_object, init_distributed
from trainkit.utils.rng import seed_everything

# a full disk, a quota, a read-only file system: a run stopped by these can be resumed
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


class Runner:
    """Train and validate a model with hooks, schedules, checkpoints and exact resume.

    Args:
        model: an ``nn.Module`` following the model contract: ``model(batch) -> dict`` of
            named predictions (or a ``'loss'`` entry if the model computes its own loss).
        train_dataloader: a DataLoader or a ``dict(dataset=..., batch_size=...)``.
        val_dataloader: the same for validation, or None.
        optim_wrapper: a ``dict(optimizer=...)`` (MMEngine semantics), an OptimWrapper, or a
            torch optimizer.
        loss: a loss ``dict(type='WeightedLoss', ...)``, an ``nn.Module`` taking
            ``(preds, batch)`` and returning ``{'loss': ..., term: ...}``, or None.
        metrics: a metrics dict/object; defaults to MAE/RMSE of the loss targets.
        param_scheduler: a dict or list of dicts (warmup entries included) or None.
        hooks: hook objects or dicts; None builds the default hooks.
        max_epochs, val_interval, val_begin: the epoch loop (``train_cfg``).
        max_iters: train this many iterations (batches) instead of epochs (MMEngine's
            ``IterBasedTrainLoop``): the data goes on across epoch boundaries (each data epoch
            shuffled from ``(seed, data epoch)``) and ``val_interval`` / ``val_begin`` count
            iterations. The run is cut into rounds of ``val_interval`` iterations, each ending
            like an epoch (validation, best-k and ``_last.pt``, early stopping, an epoch row
            in the log): in such a run ``runner.epoch`` counts rounds, and ``max_epochs`` is
            the number of rounds.
        work_dir, run_name: where files go (defaults to ``work_dirs/{run_name}``) and how
            checkpoints are named.
        seed, deterministic: seeding (None picks a random data seed, recorded in checkpoints).
        resume: continue from ``ckpt_file`` (or ``{work_dir}/{run_name}_last.pt``).
        ckpt_file: with ``resume=False``, load weights only (finetuning).
        load_strict: weight loading fails on any missing/unexpected/mis-shaped key.
        load_ema: when loading weights only, take the EMA weights if the file has them.
        finetune_modules: keywords; only parameters whose names contain one stay trainable.
        auto_scale_lr: ``dict(base_batch_size=..., enable=True)``.
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'`` or None (CUDA when available).
        ddp_cfg: keyword arguments for DistributedDataParallel.
        cfg_text: the resolved config, saved in the work dir and in checkpoints.
        test_dataloader: the data of :meth:`test` (a DataLoader or a dict), built on the
            first ``test()``; training never reads it.
    """

    def __init__(self, model: nn.Module, train_dataloader, val_dataloader=None, *,
                 optim_wrapper, loss=None, metrics=None, param_scheduler=None,
                 hooks: Optional[Sequence[Union[Hook, dict]]] = None, max_epochs: int = 1,
                 val_interval: int = 1, val_begin: int = 1, max_iters: Optional[int] = None,
                 work_dir: Optional[str] = None,
                 run_name: str = 'trainkit', seed: Optional[int] = None,
                 deterministic: bool = False, resume: bool = False,
                 ckpt_file: Optional[str] = None, load_strict: bool = True,
                 load_ema: bool = True, finetune_modules: Optional[Sequence[str]] = None,
                 auto_scale_lr: Optional[dict] = None, device: Optional[str] = None,
                 ddp_cfg: Optional[dict] = None, cfg_text: Optional[str] = None,
                 test_dataloader=None):
        self.device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
        self.rank, self.world_size, local_rank = init_distributed(self.device.type)
        if self.device.type == 'cuda' and self.world_size > 1:
            self.device = torch.device('cuda', local_rank)
        self.is_main = self.rank == 0
        self.default_console = lambda line: print(line, flush=True)
        self.log = RunLog(self.is_main, self.default_console)
        seed_everything(seed, deterministic)
        self.seed = seed
        self.progress = Progress(data_seed=broadcast_object(
            seed if seed is not None else random.randrange(2**31)))
        self.max_epochs, self.val_interval, self.val_begin = max_epochs, val_interval, val_begin
        self.work_dir, self.run_name = work_dir or f'work_dirs/{run_name}', run_name
        self.resume, self.ckpt_file = resume, ckpt_file
        self.load_strict, self.load_ema = load_strict, load_ema
        self.cfg_text = cfg_text

        self.unwrapped_model = model.to(self.device)
        if finetune_modules:
            freeze_except(self.unwrapped_model, finetune_modules)
        self.num_trainable, self.num_frozen = count_trainable(self.unwrapped_model)
        self._data_generator = torch.Generator()
        self.train_dataloader = self._loader(train_dataloader, 'train_dataloader', True)
        self.val_dataloader = self._loader(val_dataloader, 'val_dataloader', False)
        self.test_dataloader = test_dataloader  # a dict until the first test() builds it
        self.loss = build_loss(loss)
        for where in ('train_dataloader', 'val_dataloader'):
            check_loss_targets(self.loss, getattr(self, where), where)
        self.metrics = build_metrics(metrics, self.loss)
        self.optim_wrapper = self._build_optim_wrapper(optim_wrapper)
        self._step_lr: Optional[float] = None
        self._schedule_per_step = True
        self.iters_per_epoch = self.data_batches = len(self.train_dataloader)
        if self.iters_per_epoch == 0:
            raise DataError(self._empty_epoch_message())
        self.max_iters = max_iters
        if max_iters is not None:  # rounds of val_interval iterations play the epochs
            self.iters_per_epoch = min(val_interval, max_iters)
            self.max_epochs = max_epochs = math.ceil(max_iters / self.iters_per_epoch)
            self.val_interval, self.val_begin = 1, max(1, math.ceil(val_begin / val_interval))
        self._stream = None
        accumulate = accumulative_counts(self.optim_wrapper)
        self.steps_per_epoch = math.ceil(self.iters_per_epoch / accumulate)
        self.lr_scale = scale_lr(self.optim_wrapper, auto_scale_lr,
                                 self.train_dataloader.batch_size * self.world_size * accumulate,
                                 log=self.log.info)
        self.schedule = build_param_schedule(param_scheduler, self.optim_wrapper, max_epochs,
                                             self.steps_per_epoch)
        self.model = self._wrap_ddp(self.unwrapped_model, ddp_cfg or {})
        self.hooks = self._build_hooks(hooks)

        self.stepped = self.skipped_update = False
        self._watch = PreemptionWatch()
        self.preempting: Optional[str] = None  # the signal being acted on, see _check_preempt
        self.val_metrics: Optional[Dict[str, float]] = None
        self.val_model: nn.Module = self.unwrapped_model
        self.val_tag = ''
        self._checkpoint_loaded = False
        self.checkpointer = Checkpointer(
            self.unwrapped_model, self.optim_wrapper, self.schedule, self.hooks, self.log,
            self.progress, info=dict(run_name=run_name, world_size=self.world_size),
            cfg_text=cfg_text, report=self.log.info)

    # the run's counters, read-only for hooks (only the loop and a resume move them)
    epoch = property(lambda self: self.progress.epoch, doc='the 0-based epoch being trained')
    start_epoch = property(lambda self: self.progress.start_epoch)
    step = property(lambda self: self.progress.step, doc='optimizer steps done')
    iter = property(lambda self: self.progress.iter, doc='batches done')
    inner_iter = property(lambda self: self.progress.inner_iter,
                          doc='index of the batch within the epoch')
    epoch_iter = property(lambda self: self.progress.epoch_iter,
                          doc='batches of this epoch done')
    resume_iter = property(lambda self: self.progress.resume_iter,
                           doc='batches of this epoch an earlier process did (resumed inside '
                               'an epoch; 0 once its first batch here is done)')
    data_seed = property(lambda self: self.progress.data_seed)
    stop_reason = property(lambda self: self.progress.stop_reason)
    resumed_from = property(lambda self: self.progress.resumed_from)

    def metric_names(self) -> Optional[List[str]]:
        """Every name validation may report (a superset), or None if it cannot be known
        before validating; hooks check the metric they monitor against it in ``before_run``."""
        if self.val_dataloader is None or self.loss is None:
            return None
        if self.metrics is None:
            return ['loss']
        if not isinstance(self.metrics, NamedMetrics):
            return None
        return list(self.metrics.metric_names()) + ['loss']

    def _empty_epoch_message(self) -> str:
        loader = self.train_dataloader
        size = len(loader.dataset) if hasattr(loader.dataset, '__len__') else '?'
        return (f'train_dataloader: an epoch has no batches: {size} sample(s)'
                f'{f" on each of {self.world_size} ranks" if self.world_size > 1 else ""}, '
                f'batch_size={loader.batch_size}, drop_last={loader.drop_last}; lower '
                f'batch_size or set drop_last=False')

    @classmethod
    def from_cfg(cls, cfg, **overrides) -> 'Runner':
        """Validate a config (``mmengine.Config`` or dict) and build the Runner it describes."""
        args = [name for name in inspect.signature(cls).parameters if name != 'self']
        return cls(**{**runner_kwargs_from_cfg(cfg, args), **overrides})

    # ----------------------------------------------------------------------------- building
    def _loader(self, spec, where: str, training: bool):
        if spec is None or not isinstance(spec, dict):
            if training and spec is None:
                raise ConfigError(f'{where}: missing')
            return spec
        return build_dataloader(spec, where, training=training, generator=self._data_generator,
                                rank=self.rank, world_size=self.world_size, seed=self.data_seed)

    def _build_optim_wrapper(self, spec):
        if isinstance(spec, dict):
            return build_optim_wrapper(self.unwrapped_model, spec)
        if isinstance(spec, torch.optim.Optimizer):
            return OptimWrapper(optimizer=spec)
        if spec is None:
            raise ConfigError('optim_wrapper: missing; e.g. dict(optimizer=dict(type="AdamW", '
                              'lr=1e-3))')
        return spec

    def _wrap_ddp(self, model: nn.Module, ddp_cfg: dict) -> nn.Module:
        if self.world_size == 1:
            return model
        device_ids = [self.device.index] if self.device.type == 'cuda' else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids, **ddp_cfg)

    def _build_hooks(self, hooks) -> List[Hook]:
        return [h for h in build_hooks(hooks) if h.active]

    # --------------------------------------------------------------------------- the loop
    def check_monitors(self) -> None:
        """Every metric a scheduler or hook monitors is one validation reports (before
        anything is written; ``--dry-run`` calls it too)."""
        names = self.metric_names()
        self.schedule.check_monitors(names)
        for hook in self.hooks:
            hook.check_monitors(names)

    def train(self) -> nn.Module:
        """Run ``max_epochs`` epochs (from the resumed epoch); return the trained model. The
        work dir is locked meanwhile (a second run there stops: :class:`WorkDirLock`)."""
        self.check_monitors()
        with WorkDirLock(self.work_dir, active=self.is_main):
            return self._train()

    def _train(self) -> nn.Module:
        if self.is_main and self.resume:
            check_resume_files(self.work_dir, self.run_name)
        self.load_checkpoint_once()
        if self.resume and (self.epoch >= self.max_epochs or self.stop_reason):
            return self.unwrapped_model  # nothing left to train (said by the resume report)
        if self.is_main and not self.resume:
            keep_previous_run(self.work_dir, self.run_name, self.log.info)
        if self.is_main and self.cfg_text:
            # after loading: a refused checkpoint leaves the work dir as it was
            save_config(self.work_dir, self.run_name, self.cfg_text)
        self._collect_hook_points()
        try:
            with self._watch:
                self._run_loop()
        except Preempted as stop:
            self.log.info(str(stop))
            raise
        except TrainkitError as err:
            self.log.info(f'Stopped with an error: {err}', console=False)
            raise
        except OSError as err:
            if err.errno not in DISK_FULL_ERRNOS:
                raise
            raise WorkDirError(f'cannot write {err.filename or self.work_dir}: {err.strerror}. '
                               f'The checkpoints already written are intact; free some space '
                               f'and continue with --resume.') from err
        finally:
            self.log.close()
        return self.unwrapped_model

    def _run_loop(self) -> None:
        try:
            self._call('before_run')
            self._log_start()
            while self.epoch < self.max_epochs and self.stop_reason is None:
                self._run_epoch()
            self._call('after_run')
        except BaseException as err:
            self._call('on_exception', err)
            raise

    def _run_epoch(self) -> None:
        progress = self.progress
        progress.epoch_done = False
        self.val_metrics = None
        skip = progress.resume_iter  # batches of this epoch done before a resume
        progress.epoch_iter = skip
        batches = self._start_epoch_data(skip) if self.max_iters is None else \
            self._round_batches(skip)
        self.model.train()
        self._call('before_train_epoch')
        progress.resume_iter = 0
        if isinstance(self.optim_wrapper, EpochAlignedWrapper):
            length = self._epoch_length()
            self.optim_wrapper.begin_epoch(length)
            if skip:  # a resume inside the epoch: its accumulation windows go on from there
                self.optim_wrapper.initialize_count_status(self.model, skip, length)
        self._plan_step()
        before_iter, before_backward, after_iter = (self._hooks_at[p] for p in (
            'before_train_iter', 'before_backward', 'after_train_iter'))
        on_device = self.device.type != 'cpu'  # on the CPU a batch stays as it is
        watch = self._watch
        for batch_idx, batch in enumerate(batches, skip):
            progress.inner_iter = batch_idx
            for hook in before_iter:
                hook.before_train_iter(self, batch_idx, batch)
            if on_device:
                batch = move_batch(batch, self.device)
            preds, losses = self._train_step(batch, before_backward)
            progress.epoch_iter = batch_idx + 1
            if self.stepped and (watch.signal_name or self.world_size > 1):
                self._check_preempt()
            for hook in after_iter:
                hook.after_train_iter(self, batch_idx, batch, preds, losses)
            if self.preempting:
                self._preempt()
        if self._val_due():
            self.val()
        reason = self.schedule.after_epoch(self.val_metrics)
        if reason:
            self.request_stop(reason)
        progress.epoch_done = True
        self._check_preempt()
        self._call('after_train_epoch')
        if self.preempting and progress.epoch + 1 < self.max_epochs and not self.stop_reason:
            self._preempt()
        progress.epoch += 1
        progress.epoch_done = False

    def _check_preempt(self) -> None:
        """Act on SIGTERM/SIGUSR1 at this step (all ranks together: a rank that stopped alone
        would leave the others waiting in the next gradient all-reduce)."""
        name = self._watch.signal_name
        if self.world_size > 1:
            flag = torch.tensor(float(name is not None), device=self.device)
            if float(all_reduce_sum(flag)) > 0:
                name = name or 'a signal to another rank'
        self.preempting = name

    def _preempt(self) -> None:
        """Write ``_last.pt`` at this step (waiting until it is on disk) and leave the loop."""
        saved = [hook.save_now(self) for hook in self.hooks if isinstance(hook, CheckpointHook)]
        where = (f'after epoch {self.epoch + 1}' if self.progress.epoch_done else
                 f'in epoch {self.epoch + 1} after batch {self.epoch_iter}/'
                 f'{self.iters_per_epoch}')
        path = os.path.join(self.work_dir, last_file(self.run_name))
        raise Preempted(f'Pre-empted by {self.preempting}: stopped {where} (optimizer step '
                        f'{self.step}); ' + (f'saved {path}. Continue with the same command '
                                             f'and --resume.' if saved else
                                             'no CheckpointHook, so nothing was saved.'))

    def _plan_step(self) -> None:
        """Decide once per epoch which per-step calls can be left out: on a small model
        every Python call of the step shows (a 0.5-ms step: 1 % is 5 µs)."""
        wrapper = self.optim_wrapper
        # mmengine's optim_context only enters DDP's no_sync inside accumulation windows
        self._use_optim_context = (not isinstance(wrapper, PlannedContextWrapper) or
                                   wrapper.needs_optim_context(self.model))
        schedule = self.schedule
        self._schedule_per_step = bool(schedule.iter_based) or schedule.warmup is not None

    def _train_step(self, batch, before_backward: List[Hook]):
        wrapper = self.optim_wrapper
        if self._use_optim_context:
            with wrapper.optim_context(self.model):
                preds = self.model(batch)
                losses = self._compute_loss(preds, batch)
        else:
            preds = self.model(batch)
            losses = self._compute_loss(preds, batch)
        self.skipped_update = False
        for hook in before_backward:
            if hook.before_backward(self, losses) is False:
                self.skipped_update = True
                if isinstance(wrapper, SkippableWrapper):
                    self.stepped = wrapper.skip_update()
                else:
                    wrapper.zero_grad()
                    self.stepped = False
                break
        else:
            stepped = wrapper.update_params(losses['loss'])
            self.stepped = wrapper.should_update() if stepped is None else stepped
        progress = self.progress
        progress.iter += 1
        if self.stepped:
            progress.step += 1
            if self._schedule_per_step:
                # the LR this step used, before the schedule moves on (param_groups is looked
                # up each time: loading an optimizer state replaces the group dicts)
                self._step_lr = wrapper.optimizer.param_groups[0]['lr']
                self.schedule.after_optim_step()
        return preds, losses

    @property
    def step_lr(self) -> Optional[float]:
        """The LR (first parameter group) the last optimizer step used. Without per-step
        schedulers or warmup nothing changes the LR within an epoch, so it is the current one
        and the step need not record it."""
        if self._schedule_per_step:
            return self._step_lr
        return self.optim_wrapper.optimizer.param_groups[0]['lr']

    def _compute_loss(self, preds, batch) -> Dict[str, torch.Tensor]:
        if self.loss is not None:
            return self.loss(preds, batch)
        if not isinstance(preds, dict) or 'loss' not in preds:
            raise DataError('no loss is configured and the model did not return a "loss" '
                            f'entry (it returned {type(preds).__name__} '
                            f'{sorted(preds) if isinstance(preds, dict) else ""}); set `loss` '
                            'in the config or return {"loss": ...} from the model')
        return {'loss': preds['loss']}

    def _val_due(self) -> bool:
        number = self.epoch + 1
        return self.val_dataloader is not None and number >= self.val_begin and (
            number % self.val_interval == 0 or number == self.max_epochs)

    @torch.no_grad()
    def val(self) -> Dict[str, float]:
        """Validate ``runner.val_model`` (the EMA weights when the EMA hook says so)."""
        if self.val_dataloader is None:
            raise ConfigError('val_dataloader: missing; runner.val() needs one')
        if not hasattr(self, '_hooks_at'):  # validating alone: load what the config names
            self.load_checkpoint_once()
            self._collect_hook_points()
        self.val_model, self.val_tag = self.unwrapped_model, ''
        self._call('before_val_epoch')
        metrics = evaluate(self.val_model, self.val_dataloader, self.metrics, self.loss,
                           self.device)
        self.val_metrics = metrics
        self._call('after_val_epoch', metrics)
        return metrics

    def test(self) -> Dict[str, float]:
        """Evaluate ``runner.val_model`` (the weights the last validation used: the EMA
        weights when the EMA hook validates with them) on ``test_dataloader``, with the
        loss and metrics of validation; no hook is called, nothing is logged or saved."""
        if self.test_dataloader is None:
            raise ConfigError('test_dataloader: missing; runner.test() needs one, e.g. '
                              "test_dataloader=dict(dataset=dict(type='SpiceDataset', "
                              "split='test', test_fraction=0.1, ...), batch_size=128)")
        if isinstance(self.test_dataloader, dict):
            self.test_dataloader = self._loader(self.test_dataloader, 'test_dataloader', False)
            check_loss_targets(self.loss, self.test_dataloader, 'test_dataloader')
        self.load_checkpoint_once()
        return evaluate(self.val_model, self.test_dataloader, self.metrics, self.loss,
                        self.device)

    # -------------------------------------------------------------------------- utilities
    def _collect_hook_points(self) -> None:
        """For each point, the hooks that implement it (so others are never called there)."""
        self._hooks_at = {point: [h for h in self.hooks if h.implements(point)]
                          for point in HOOK_POINTS}

    def _call(self, point: str, *args) -> None:
        for hook in self._hooks_at[point]:
            getattr(hook, point)(self, *args)

    def _epoch_length(self) -> int:
        """Batches of the epoch being trained (the last round of ``max_iters`` may be short)."""
        if self.max_iters is None:
            return self.iters_per_epoch
        return min(self.iters_per_epoch, self.max_iters - self.epoch * self.iters_per_epoch)

    def _round_batches(self, skip: int):
        """The batches of this round (``max_iters``): the next ones of the data stream."""
        if self._stream is None:  # from where the run stands (after a resume too)
            self._stream = self._data_stream(self.progress.iter)
        return itertools.islice(self._stream, self._epoch_length() - skip)

    def _data_stream(self, done: int):
        """Batches without end from batch ``done`` of the run on, data epoch after data epoch,
        each shuffled from (data seed, data epoch) as an epoch-based run shuffles its epochs."""
        data_epoch, skip = divmod(done, self.data_batches)
        while True:
            self._data_generator.manual_seed(self.data_seed + data_epoch)
            sampler = getattr(self.train_dataloader, 'sampler', None)
            if hasattr(sampler, 'set_epoch'):
                sampler.set_epoch(data_epoch)
            yield from skip_batches(self.train_dataloader, skip)
            data_epoch, skip = data_epoch + 1, 0

    def _start_epoch_data(self, skip: int = 0):
        """Seed this epoch's shuffling from (data seed, epoch) only; the epoch's batches
        after the first ``skip``."""
        self._data_generator.manual_seed(self.data_seed + self.epoch)
        sampler = getattr(self.train_dataloader, 'sampler', None)
        if hasattr(sampler, 'set_epoch'):
            sampler.set_epoch(self.epoch)
        return skip_batches(self.train_dataloader, skip)

    def request_stop(self, reason: str) -> None:
        """Finish the current epoch (checkpoint included), then end training."""
        if self.progress.stop_reason is None:
            self.progress.stop_reason = reason
            self.log.info(f'Stop requested: {reason}')

    @property
    def stop_requested(self) -> bool:
        return self.stop_reason is not None

    # ----------------------------------------------------------------- files and checkpoints
    def checkpoint_state(self, extra_meta: Optional[dict] = None) -> Dict[str, Any]:
        """The full state now (see :class:`~trainkit.checkpointing.checkpointer.Checkpointer`)."""
        return self.checkpointer.state(extra_meta)

    def load_checkpoint_once(self) -> None:
        """Resume or load weights as configured, once (by ``val()`` or ``train()``)."""
        if not self._checkpoint_loaded:
            if self.resume:
                self.checkpointer.resume(self.checkpointer.resume_path(
                    self.resume, self.ckpt_file, self.work_dir, self.run_name), self.max_epochs)
            elif self.ckpt_file:
                self.checkpointer.load_weights(self.ckpt_file, strict=self.load_strict,
                                               use_ema=self.load_ema)
            share_data_info(self.unwrapped_model,
                            getattr(self.train_dataloader, 'dataset', None))
            self._checkpoint_loaded = True

    def _log_start(self) -> None:
        loop = (f'{self.max_epochs} epochs of {self.steps_per_epoch} optimizer steps '
                f'({self.iters_per_epoch} batches)' if self.max_iters is None else
                f'{self.max_iters} iterations in {self.max_epochs} rounds of '
                f'{self.iters_per_epoch} ({self.data_batches} batches an epoch of data)')
        self.log.info(
            f'Start training {self.run_name}: {self.num_trainable:,} trainable / '
            f'{self.num_frozen:,} frozen parameters, {loop}, device {self.device}, '
            f'{self.world_size} process(es)')
