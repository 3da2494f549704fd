"""What a checkpoint holds of a Runner, and how a Runner is restored from one.

:func:`full_state` gathers the state at the end of an epoch (the format is described in
:mod:`trainkit.checkpointing.format`); :func:`resume_from` restores all of it — weights, optimizer,
schedulers and warmup, every hook's state, RNG states, counters, log offsets — in the order
that matters (schedulers are built before the optimizer state is loaded, then their own state
is loaded); :func:`load_weights` loads weights only, for finetuning. The Runner calls these::

    runner.checkpoint_state()            # -> full_state(runner)
    Runner(..., resume=True).train()     # -> resume_from(runner, resume_path(runner))
    Runner(..., ckpt_file=...).train()   # -> load_weights(runner, ckpt_file)
"""
import os
import time
from typing import Any, Dict, Optional

import torch

from trainkit import __version__
from trainkit.checkpointing import format as ckpt
from trainkit.errors import CheckpointError
from trainkit.utils.rng import capture_rng, restore_rng


def full_state(runner, extra_meta: Optional[dict] = None) -> Dict[str, Any]:
    """The full state of ``runner`` at the end of its current epoch, as a checkpoint dict."""
    meta = {'epoch': runner.epoch + 1, 'step': runner.step, 'iter': runner.iter,
            'run_name': runner.run_name, 'data_seed': runner.data_seed,
            'saved_at': time.strftime('%Y-%m-%d %H:%M:%S'), 'trainkit_version': __version__,
            'torch_version': str(torch.__version__), 'world_size': runner.world_size,
            'stop_reason': runner.stop_reason,
            'optimizer': type(runner.optim_wrapper.optimizer).__name__}
    meta.update(extra_meta or {})
    return {
        ckpt.KEY_VERSION: ckpt.CHECKPOINT_VERSION,
        ckpt.KEY_META: meta,
        ckpt.KEY_MODEL: runner.unwrapped_model.state_dict(),
        ckpt.KEY_OPTIMIZER: runner.optim_wrapper.state_dict(),
        ckpt.KEY_SCHEDULE: runner.schedule.state_dict(),
        ckpt.KEY_HOOKS: {hook.name: hook.state_dict() for hook in runner.hooks},
        ckpt.KEY_RNG: capture_rng(),
        ckpt.KEY_LOG: runner.log.state_dict(),
        ckpt.KEY_CONFIG: runner.cfg_text,
    }


def resume_path(runner) -> str:
    """The file a resume continues: ``resume`` if it is a path, else ``ckpt_file``, else
    ``{work_dir}/{run_name}_last.pt``."""
    if isinstance(runner.resume, str):
        return runner.resume
    if runner.ckpt_file:
        return runner.ckpt_file
    path = os.path.join(runner.work_dir, f'{runner.run_name}_last.pt')
    if not os.path.isfile(path):
        raise CheckpointError(f'resume: there is no checkpoint to resume from: {path} does '
                              f'not exist (run_name={runner.run_name!r}, work_dir='
                              f'{runner.work_dir!r}); start without --resume or give the file')
    return path


def resume_from(runner, path: str) -> None:
    """Restore ``runner`` to the end of the epoch the checkpoint at ``path`` was written at."""
    state = ckpt.load_checkpoint(path)
    runner.resumed_from = path
    ckpt.load_model_weights(runner.unwrapped_model, state[ckpt.KEY_MODEL], path, strict=True)
    ckpt.check_optimizer_fits(state[ckpt.KEY_OPTIMIZER], runner.optim_wrapper.optimizer,
                              state[ckpt.KEY_META].get('optimizer'), path)
    try:
        runner.optim_wrapper.load_state_dict(state[ckpt.KEY_OPTIMIZER])
    except (ValueError, KeyError) as err:
        raise CheckpointError(f'{path}: the optimizer state does not fit this config '
                              f'({err}); resume with the config the run was started with')
    runner.schedule.load_state_dict(state[ckpt.KEY_SCHEDULE])
    saved_hooks = state.get(ckpt.KEY_HOOKS, {})
    for hook in runner.hooks:
        if hook.name in saved_hooks:
            hook.load_state_dict(saved_hooks[hook.name])
    restore_rng(state[ckpt.KEY_RNG])
    meta = state[ckpt.KEY_META]
    runner.epoch = runner.start_epoch = int(meta['epoch'])
    runner.step, runner.iter = int(meta['step']), int(meta['iter'])
    runner.data_seed = int(meta.get('data_seed', runner.data_seed))
    runner.log.load_state_dict(state.get(ckpt.KEY_LOG, {}))
    runner.stop_reason = meta.get('stop_reason')
    done = (f'; the run had already stopped ({runner.stop_reason})' if runner.stop_reason else
            f'; all {runner.max_epochs} epochs were done (raise train_cfg.max_epochs to '
            f'train on)' if runner.epoch >= runner.max_epochs else '')
    runner.log.info(f'Resumed from {path}: epoch {runner.epoch} done, step {runner.step}' +
                  (f'{done}, so there is nothing left to train' if done else ''))


def load_weights(runner, path: str) -> None:
    """Load only the weights (EMA weights if the file has them and ``load_ema``); counters
    stay at zero."""
    state = ckpt.load_checkpoint(path, require_trainkit=False)
    weights = (runner.load_ema and ckpt.ema_weights(state)) or state[ckpt.KEY_MODEL]
    kind = 'EMA weights' if weights is not state[ckpt.KEY_MODEL] else 'weights'
    report = ckpt.load_model_weights(runner.unwrapped_model, weights, path,
                                     strict=runner.load_strict)
    skipped = sum(len(v) for v in report.values())
    runner.log.info(f'Loaded {kind} from {path} (training starts from epoch 0)' +
                  (f'; not loaded: {report}' if skipped else ''))
