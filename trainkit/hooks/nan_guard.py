"""NanGuardHook: stop (or skip the batch) when the loss is NaN or infinite."""
import math
from typing import Any, Dict

import torch
import torch.distributed as dist

from trainkit.errors import TrainingDiverged
from trainkit.hooks.hook import Hook
from trainkit.registry import HOOKS
from trainkit.utils.checks import expect_choice, expect_int


@HOOKS.register_module()
class NanGuardHook(Hook):
    """Check every batch's loss before the backward pass.

    Args:
        action: ``'stop'`` raises :class:`~trainkit.errors.TrainingDiverged` naming the epoch,
            step and loss terms — before the bad update, and without writing a checkpoint, so
            the last good checkpoint stays as it was; ``'skip'`` drops the batch's update and
            counts it. Defaults to ``'stop'``.
        max_skips: with ``'skip'``, stop anyway after this many skipped batches (None = no
            limit). Defaults to None.

    The check reads one boolean from the device per batch (a host sync on GPUs); under DDP
    the ranks agree on it with one all-reduce, so that they all skip or stop together.

    Config example::

        default_hooks = dict(nan_guard=dict(type='NanGuardHook', action='skip', max_skips=10))
    """

    priority = 'HIGHEST'

    def __init__(self, action: str = 'stop', max_skips: Any = None):
        expect_choice(action, ('stop', 'skip'), 'NanGuardHook.action')
        expect_int(max_skips, 'NanGuardHook.max_skips', at_least=0, allow_none=True)
        self.action = action
        self.max_skips = max_skips
        self.skipped = 0

    def before_backward(self, runner, losses: Dict[str, torch.Tensor]):
        finite = _is_finite(losses['loss'])
        if runner.world_size > 1:
            finite = _on_every_rank(finite, runner.device)
        if finite:
            return None
        terms = ', '.join(f'{name}={_value(v)}' for name, v in losses.items())
        where = (f'epoch {runner.epoch + 1}, iteration {runner.inner_iter + 1}/'
                 f'{runner.iters_per_epoch} (optimizer step {runner.step})')
        if self.action == 'skip' and (self.max_skips is None or self.skipped < self.max_skips):
            self.skipped += 1
            runner.log.info(f'non-finite loss at {where} ({terms}); batch skipped '
                            f'({self.skipped} so far)')
            return False
        raise TrainingDiverged(
            f'non-finite loss at {where}: {terms}. Training stopped before this update; the '
            f'last checkpoint in {runner.work_dir} is untouched. Try a lower learning rate, '
            f'gradient clipping (optim_wrapper.clip_grad), a longer warmup, or check the data'
            + (f' ({self.skipped} batches were already skipped)' if self.skipped else ''))

    def state_dict(self) -> Dict[str, Any]:
        return {'skipped': self.skipped}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.skipped = int(state.get('skipped', 0))


def _is_finite(loss: torch.Tensor) -> bool:
    """One host read for a one-element loss (``torch.isfinite`` would first run a few small
    ops; see docs/performance.md); a GPU syncs once either way."""
    if loss.numel() == 1:
        return math.isfinite(loss.item())
    return bool(torch.isfinite(loss).all())


def _on_every_rank(finite: bool, device: torch.device) -> bool:
    """Under DDP all ranks must skip or stop together (a rank that skipped its backward
    would leave the others waiting in the gradient all-reduce): one bad rank counts for all."""
    flag = torch.tensor(int(finite), device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag)


def _value(tensor) -> str:
    value = float(tensor.detach().float().mean()) if torch.is_tensor(tensor) else float(tensor)
    return 'nan' if math.isnan(value) else f'{value:.6g}'
