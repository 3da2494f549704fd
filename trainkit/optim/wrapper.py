"""trainkit's ``OptimWrapper``: mmengine's, with per-epoch accumulation windows and no
per-step work it does not need.

Registered under mmengine's name, so ``optim_wrapper = dict(type='OptimWrapper', ...)``
builds this class. Differences from mmengine's:

* accumulation windows restart every epoch (:meth:`begin_epoch`): an epoch of ``n`` batches
  with ``accumulative_counts=N`` makes ``ceil(n/N)`` optimizer steps, the last window scaled
  by its real length, so a checkpoint at an epoch end never holds half a window;
* without accumulation the loss is not divided by 1 (that is one tensor op per step saved);
* with one batch per step, no clipping and no loss scaling, :meth:`update_params` skips
  mmengine's small per-step methods (scale_loss, backward, should_update, zero_grad) and
  returns whether it stepped, so the Runner need not ask :meth:`should_update` again;
* :meth:`skip_update` drops a batch (NaN guard) while keeping the window count right;
* gradient clipping keeps the total norm as a tensor (``last_grad_norm``) instead of reading
  it to the host and storing it in mmengine's process-wide ``MessageHub`` on every step.

Config example::

    optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1),
                         accumulative_counts=4, clip_grad=dict(max_norm=1.0))
"""
from typing import Protocol, runtime_checkable

import torch
from mmengine.optim import OptimWrapper as MMOptimWrapper

from trainkit.registry import OPTIM_WRAPPERS


@runtime_checkable
class EpochAlignedWrapper(Protocol):
    """An optim wrapper whose accumulation windows restart every epoch: the Runner calls
    ``begin_epoch(num_batches)`` before each epoch's first batch. mmengine's wrappers, which
    lack it, count windows across epochs."""

    def begin_epoch(self, num_batches: int) -> None: ...


@runtime_checkable
class PlannedContextWrapper(Protocol):
    """An optim wrapper that says, once per epoch, whether ``optim_context(model)`` does
    anything; when it says no the Runner does not enter it at each step. Without the method
    the context is always entered."""

    def needs_optim_context(self, model) -> bool: ...


@runtime_checkable
class SkippableWrapper(Protocol):
    """An optim wrapper that can drop a batch (NaN guard) and keep its accumulation window
    count right; returns whether it stepped. Without it, a dropped batch only zeroes the
    gradients (the window's earlier batches are dropped with it)."""

    def skip_update(self) -> bool: ...


def accumulative_counts(wrapper) -> int:
    """Batches per optimizer step of any mmengine-style wrapper (mmengine keeps the number
    in ``_accumulative_counts`` and has no public accessor)."""
    return getattr(wrapper, '_accumulative_counts', 1)


@OPTIM_WRAPPERS.register_module(name='OptimWrapper', force=True)
class OptimWrapper(MMOptimWrapper):
    """mmengine's OptimWrapper with epoch-aligned gradient accumulation.

    Args:
        optimizer: the torch optimizer.
        accumulative_counts: batches per optimizer step. Defaults to 1.
        clip_grad: ``dict(max_norm=..., norm_type=2)`` or ``dict(type='value',
            clip_value=...)``. Defaults to None.

    Config example::

        optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3), accumulative_counts=2)
    """

    # the methods a direct update skips or relies on; a subclass that overrides one of them
    # (AMP: backward and step) goes the long way
    _DIRECT_SKIPS = ('scale_loss', 'backward', 'should_update', 'step', 'zero_grad')

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._direct = (self._accumulative_counts == 1 and not self.clip_grad_kwargs and
                        all(getattr(type(self), name) is getattr(OptimWrapper, name)
                            for name in self._DIRECT_SKIPS))

    def begin_epoch(self, num_batches: int) -> None:
        """Start an epoch of ``num_batches``: windows of N, the last one possibly shorter."""
        self._inner_count = 0
        self._max_counts = num_batches
        self._remainder_counts = num_batches % self._accumulative_counts

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        if self._accumulative_counts == 1:
            return loss
        return super().scale_loss(loss)

    def update_params(self, loss: torch.Tensor, step_kwargs=None, zero_kwargs=None) -> bool:
        """Backward, and step when the accumulation window is full.

        Returns:
            whether the optimizer stepped (mmengine's wrappers return None).
        """
        if self._direct and step_kwargs is None and zero_kwargs is None:
            # what scale_loss, backward, should_update and zero_grad reduce to here (on a
            # small model each call of the step shows); step() is still called: mmengine's
            # param schedulers wrap it on the instance to count optimizer steps
            loss.backward()
            self._inner_count += 1
            self.step()
            self.optimizer.zero_grad()
            return True
        self.backward(self.scale_loss(loss))
        if not self.should_update():
            return False
        self.step(**(step_kwargs or {}))
        self.zero_grad(**(zero_kwargs or {}))
        return True

    def needs_optim_context(self, model) -> bool:
        """Whether :meth:`optim_context` does anything for ``model``: mmengine's only enters
        ``model.no_sync()`` inside an accumulation window (DDP); subclasses add autocast."""
        if type(self).optim_context is not OptimWrapper.optim_context:
            return True
        return self._accumulative_counts != 1 and hasattr(model, 'no_sync')

    last_grad_norm = None

    def _clip_grad(self) -> None:
        """Clip the gradients of the optimized parameters (no host sync)."""
        params = [p for group in self.optimizer.param_groups for p in group['params']
                  if p.grad is not None]
        if params:
            norm = self.clip_func(params, **self.clip_grad_kwargs)
            if norm is not None:  # clip_grad_value_ returns None
                self.last_grad_norm = norm

    def skip_update(self) -> bool:
        """Count a dropped batch; if it closes a window, step with the window's other gradients
        (if any batch of the window contributed one).

        Returns:
            whether the optimizer stepped.
        """
        self._inner_count += 1
        if not self.should_update():
            return False
        has_grad = any(p.grad is not None for group in self.optimizer.param_groups
                       for p in group['params'])
        if has_grad:
            self.step()
        self.zero_grad()
        return has_grad
