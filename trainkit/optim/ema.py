"""Exponential moving average of a model's weights: ``v ← β·v + (1−β)·θ``.

The averaged copy is an ``nn.Module`` (so ``state_dict`` and ``.to()`` come free); one update
is a single ``torch._foreach_lerp_`` over cached tensor lists, plus a ``_foreach_copy_`` of
the buffers when the model has any (e.g. BatchNorm statistics).
"""
import copy
from typing import Any, Dict

import torch
from torch import nn

from trainkit.checkpointing.format import EMA_WEIGHTS_FIELD, load_model_weights
from trainkit.utils.checks import expect_number


def check_ema_decay(decay, where: str, allow_none: bool = True) -> None:
    """The one rule for β: a number in [0, 1); None (where allowed) means no EMA."""
    expect_number(decay, where, at_least=0, below=1, allow_none=allow_none,
                  hint='None turns EMA off' if allow_none else '')


class ExponentialMovingAverage(nn.Module):
    """A shadow copy of ``model`` whose floating-point weights track an EMA.

    Args:
        model: the model to follow (unwrap DDP first).
        decay: β in ``v ← β·v + (1−β)·θ``, in [0, 1).

    Example::

        ema = ExponentialMovingAverage(model, decay=0.995)
        ...optimizer.step(); ema.update(model)
        ema.module(batch)   # evaluate with the averaged weights
    """

    def __init__(self, model: nn.Module, decay: float = 0.995):
        super().__init__()
        check_ema_decay(decay, 'ema_decay', allow_none=False)
        self.decay = float(decay)
        self.module = copy.deepcopy(model).eval()
        for param in self.module.parameters():
            param.requires_grad_(False)
        self.num_updates = 0
        self._pairs_for(model)

    def _pairs_for(self, model: nn.Module) -> None:
        """Cache matching tensor lists (trainable float parameters, float buffers)."""
        own = dict(self.module.named_parameters())
        self._ema_params, self._src_params = [], []
        for name, param in model.named_parameters():
            if param.requires_grad and param.is_floating_point():
                self._ema_params.append(own[name])
                self._src_params.append(param)
        own_buffers = dict(self.module.named_buffers())
        self._ema_buffers, self._src_buffers = [], []
        for name, buf in model.named_buffers():
            if name in own_buffers:
                self._ema_buffers.append(own_buffers[name])
                self._src_buffers.append(buf)
        self._source_id = id(model)

    def update(self, model: nn.Module) -> None:
        """One EMA step towards ``model``'s current weights."""
        if id(model) != self._source_id:
            self._pairs_for(model)
        with torch.no_grad():
            if self._ema_params:
                torch._foreach_lerp_(self._ema_params, self._src_params, 1.0 - self.decay)
            if self._ema_buffers:
                torch._foreach_copy_(self._ema_buffers, self._src_buffers)
        self.num_updates += 1

    def export(self) -> Dict[str, Any]:
        return {EMA_WEIGHTS_FIELD: self.module.state_dict(), 'num_updates': self.num_updates,
                'decay': self.decay}

    def restore(self, state: Dict[str, Any]) -> None:
        # names what does not fit; state the model added later (optional_state_keys) may be
        # missing from an older checkpoint and keeps its value
        load_model_weights(self.module, state[EMA_WEIGHTS_FIELD], 'the EMA weights of the '
                           'checkpoint', strict=True)
        self.num_updates = int(state['num_updates'])
