"""The Checkpointer: what a checkpoint holds of a run, and how a run is restored from one.

The Runner owns one and hands it the run's stateful parts; every part goes through its own
``state_dict()`` / ``load_state_dict()`` (the file format is in
:mod:`trainkit.checkpointing.format`)::

    ckpt = Checkpointer(model, optim_wrapper, schedule, hooks, log, progress, info)
    state = ckpt.state()          # the full state, for CheckpointHook to serialize
    ckpt.resume(path)             # restore all of it (Runner(resume=True))
    ckpt.load_weights(path)       # weights only, counters stay at zero (finetuning)

Resume restores, in this order: weights, optimizer (checked to fit first), schedulers and
warmup, every hook's state by hook name, RNG states, the progress counters, the log offsets.
A checkpoint written inside an epoch also says how many of its batches were done
(``meta['epoch_iter']``); the Runner then starts that epoch at the next batch.
"""
import os
import time
from typing import Any, Callable, Dict, Optional, Sequence

import torch

from trainkit import __version__
from trainkit.checkpointing import format as fmt
from trainkit.checkpointing.names import last_file
from trainkit.errors import CheckpointError
from trainkit.utils.rng import capture_rng, restore_rng


class Checkpointer:
    """Save and restore a run's full state.

    Args:
        model: the unwrapped model (no DDP wrapper).
        optim_wrapper: the optimizer wrapper.
        schedule: the run's ``ParamSchedule`` (schedulers and warmup).
        hooks: the hooks; each hook's state is keyed by ``hook.name``.
        log: the run log (its byte offsets are saved so a resume truncates the logs there).
        progress: the run's :class:`~trainkit.engine.progress.Progress` (or anything with
            ``state_dict``/``load_state_dict`` and ``resumed_from``).
        info: run facts written into ``meta`` (run_name, world_size, ...).
        cfg_text: the resolved config text, saved in every checkpoint.
        report: where to say what was loaded (a callable taking one line).

    Example::

        ckpt = Checkpointer(model, wrapper, schedule, hooks, log, progress,
                            info=dict(run_name='spice-v1', world_size=1))
        torch.save(ckpt.state(), 'spice-v1_last.pt')
    """

    def __init__(self, model: torch.nn.Module, optim_wrapper, schedule, hooks: Sequence,
                 log, progress, info: Dict[str, Any], cfg_text: Optional[str] = None,
                 report: Callable[[str], None] = print):
        self.model, self.optim_wrapper, self.schedule = model, optim_wrapper, schedule
        self.hooks, self.log, self.progress = hooks, log, progress
        self.info, self.cfg_text, self.report = info, cfg_text, report

    def state(self, extra_meta: Optional[dict] = None) -> Dict[str, Any]:
        """The full state now, as a checkpoint dict (tensors and plain values only)."""
        meta = {**self.progress.state_dict(), **self.info,
                'saved_at': time.strftime('%Y-%m-%d %H:%M:%S'), 'trainkit_version': __version__,
                'torch_version': str(torch.__version__),
                'optimizer': type(self.optim_wrapper.optimizer).__name__}
        meta.update(extra_meta or {})
        return {
            fmt.KEY_VERSION: fmt.CHECKPOINT_VERSION,
            fmt.KEY_META: meta,
            fmt.KEY_MODEL: self.model.state_dict(),
            fmt.KEY_OPTIMIZER: self.optim_wrapper.state_dict(),
            fmt.KEY_SCHEDULE: self.schedule.state_dict(),
            fmt.KEY_HOOKS: {hook.name: hook.state_dict() for hook in self.hooks},
            fmt.KEY_RNG: capture_rng(),
            fmt.KEY_LOG: self.log.state_dict(),
            fmt.KEY_CONFIG: self.cfg_text,
        }

    @staticmethod
    def resume_path(resume, ckpt_file: Optional[str], work_dir: str, run_name: str) -> str:
        """The file a resume continues: ``resume`` if it is a path, else ``ckpt_file``, else
        ``{work_dir}/{run_name}_last.pt`` (which must exist)."""
        if isinstance(resume, str):
            return resume
        if ckpt_file:
            return ckpt_file
        path = os.path.join(work_dir, last_file(run_name))
        if not os.path.isfile(path):
            raise CheckpointError(f'resume: there is no checkpoint to resume from: {path} does '
                                  f'not exist (run_name={run_name!r}, work_dir={work_dir!r}); '
                                  f'start without --resume or give the file')
        return path

    def resume(self, path: str, max_epochs: int) -> None:
        """Restore the run to the moment the checkpoint at ``path`` was written."""
        state = fmt.load_checkpoint(path)
        self.progress.resumed_from = path
        fmt.load_model_weights(self.model, state[fmt.KEY_MODEL], path, strict=True)
        fmt.check_optimizer_fits(state[fmt.KEY_OPTIMIZER], self.optim_wrapper.optimizer,
                                 state[fmt.KEY_META].get('optimizer'), path)
        try:
            self.optim_wrapper.load_state_dict(state[fmt.KEY_OPTIMIZER])
        except (ValueError, KeyError) as err:
            raise CheckpointError(f'{path}: the optimizer state does not fit this config '
                                  f'({err}); resume with the config the run was started with')
        self.schedule.load_state_dict(state[fmt.KEY_SCHEDULE])
        saved_hooks = state.get(fmt.KEY_HOOKS, {})
        for hook in self.hooks:
            if hook.name in saved_hooks:
                hook.load_state_dict(saved_hooks[hook.name])
        restore_rng(state[fmt.KEY_RNG])
        progress = self.progress
        progress.load_state_dict(state[fmt.KEY_META])
        self.log.load_state_dict(state.get(fmt.KEY_LOG, {}))
        if progress.epoch > max_epochs and not progress.stop_reason:
            raise CheckpointError(
                f'resume: {path} has {progress.epoch} epochs done, more than '
                f'train_cfg.max_epochs={max_epochs}; nothing was changed. To train on, set '
                f'max_epochs above {progress.epoch}; the run itself is complete at its '
                f'{progress.epoch} epochs (evaluate {path} or the best-k files)')
        done = (f'; the run had already stopped ({progress.stop_reason})'
                if progress.stop_reason else
                f'; all {max_epochs} epochs were done (raise train_cfg.max_epochs to train on)'
                if progress.epoch >= max_epochs else '')
        at = (f'epoch {progress.epoch + 1} from its batch {progress.resume_iter + 1}'
              if progress.resume_iter else f'epoch {progress.epoch} done')
        self.report(f'Resumed from {path}: {at}, step {progress.step}' +
                    (f'{done}, so there is nothing left to train; nothing was changed'
                     if done else ''))

    def load_weights(self, path: str, strict: bool = True, use_ema: bool = True) -> None:
        """Load only the weights (the EMA weights if the file has them and ``use_ema``);
        counters stay at zero."""
        state = fmt.load_checkpoint(path, require_trainkit=False)
        weights = (use_ema and fmt.ema_weights(state)) or state[fmt.KEY_MODEL]
        kind = 'EMA weights' if weights is not state[fmt.KEY_MODEL] else 'weights'
        report = fmt.load_model_weights(self.model, weights, path, strict=strict)
        skipped = sum(len(v) for v in report.values())
        self.report(f'Loaded {kind} from {path} (training starts from epoch 0)' +
                    (f'; not loaded: {report}' if skipped else ''))
