"""trainkit's ``OptimWrapper``: mmengine's, with per-epoch accumulation windows and no
per-step work it does not need.

Registered under mmengine's name, so ``optim_wrapper = dict(type='OptimWrapper', ...)``
builds this class. Differences from mmengine's:

* accumulation windows restart every epoch (:meth:`begin_epoch`): an epoch of ``n`` batches
  with ``accumulative_counts=N`` makes ``ceil(n/N)`` optimizer steps, the last window scaled
  by its real length, so a checkpoint at an epoch end never holds half a window;
* without accumulation the loss is not divided by 1 (that is one tensor op per step saved);
* :meth:`skip_update` drops a batch (NaN guard) while keeping the window count right;
* gradient clipping keeps the total norm as a tensor (``last_grad_norm``) instead of reading
  it to the host and storing it in mmengine's process-wide ``MessageHub`` on every step.

Config example::

    optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1),
                         accumulative_counts=4, clip_grad=dict(max_norm=1.0))
"""
import torch
from mmengine.optim import OptimWrapper as MMOptimWrapper

from ..registry import OPTIM_WRAPPERS


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

    def begin_epoch(self, num_batches: int) -> None:
        """Start an epoch of ``num_batches``: windows of N, the last one possibly shorter."""
        self._inner_count = 0
        self._max_counts = num_batches
        self._remainder_counts = num_batches % self._accumulative_counts

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        if self._accumulative_counts == 1:
            return loss
        return super().scale_loss(loss)

    def update_params(self, loss: torch.Tensor, step_kwargs=None, zero_kwargs=None) -> None:
        self.backward(self.scale_loss(loss))
        if self.should_update():
            self.step(**(step_kwargs or {}))
            self.zero_grad(**(zero_kwargs or {}))

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
