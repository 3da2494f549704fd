"""Mixed-precision optimizer wrapper that works on CPU (bf16) and CUDA (fp16 or bf16).

mmengine's ``AmpOptimWrapper`` refuses to run without a GPU; trainkit registers its own under
the same name, so ``optim_wrapper = dict(type='AmpOptimWrapper', ...)`` and ``--amp`` work
everywhere:

* CPU: autocast to ``bfloat16`` (float16 autocast on CPU is refused: use bfloat16);
* CUDA: ``float16`` with dynamic loss scaling by default, or ``bfloat16`` (no scaling needed).

Config example::

    optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16',
                         optimizer=dict(type='AdamW', lr=1e-3))
"""
from contextlib import contextmanager
from typing import Optional, Union

import torch

from trainkit.errors import ConfigError
from trainkit.optim.wrapper import OptimWrapper
from trainkit.registry import OPTIM_WRAPPERS

_DTYPES = {'float16': torch.float16, 'fp16': torch.float16, 'half': torch.float16,
           'bfloat16': torch.bfloat16, 'bf16': torch.bfloat16}


@OPTIM_WRAPPERS.register_module(name='AmpOptimWrapper', force=True)
class AmpOptimWrapper(OptimWrapper):
    """Automatic mixed precision on the device of the optimizer's parameters.

    Args:
        dtype: ``'float16'`` / ``'bfloat16'`` (aliases ``fp16``, ``bf16``) or None for the
            device's default (bf16 on CPU, fp16 on CUDA). Defaults to None.
        loss_scale: ``'dynamic'``, a fixed float, or a dict of ``torch.amp.GradScaler``
            arguments; used only with float16. Defaults to ``'dynamic'``.
        **kwargs: the arguments of :class:`~trainkit.optim.wrapper.OptimWrapper` (optimizer,
            clip_grad, accumulative_counts).

    Config example::

        optim_wrapper = dict(type='AmpOptimWrapper', optimizer=dict(type='SGD', lr=0.1))
    """

    def __init__(self, dtype: Union[str, torch.dtype, None] = None,
                 loss_scale: Union[str, float, dict] = 'dynamic', **kwargs):
        super().__init__(**kwargs)
        self.device_type = self._device_type()
        self.cast_dtype = self._resolve_dtype(dtype)
        self.loss_scaler = self._make_scaler(loss_scale)
        self._fixed_scale = loss_scale if isinstance(loss_scale, float) else None

    def _device_type(self) -> str:
        for group in self.optimizer.param_groups:
            for param in group['params']:
                return param.device.type
        return 'cpu'

    def _resolve_dtype(self, dtype) -> torch.dtype:
        if dtype is None:
            return torch.bfloat16 if self.device_type == 'cpu' else torch.float16
        if isinstance(dtype, str):
            if dtype not in _DTYPES:
                raise ConfigError(f'optim_wrapper.dtype: {dtype!r} is not a mixed-precision '
                                  f'dtype; use one of {sorted(_DTYPES)}')
            dtype = _DTYPES[dtype]
        if self.device_type == 'cpu' and dtype == torch.float16:
            raise ConfigError('optim_wrapper.dtype: float16 autocast is not supported on CPU; '
                              "use dtype='bfloat16' (the CPU default)")
        return dtype

    def _make_scaler(self, loss_scale) -> Optional[torch.amp.GradScaler]:
        if self.cast_dtype != torch.float16:
            return None
        if loss_scale == 'dynamic':
            return torch.amp.GradScaler(self.device_type)
        if isinstance(loss_scale, float):
            return torch.amp.GradScaler(self.device_type, init_scale=loss_scale)
        if isinstance(loss_scale, dict):
            return torch.amp.GradScaler(self.device_type, **loss_scale)
        raise ConfigError(f"optim_wrapper.loss_scale: expected 'dynamic', a float or a dict, "
                          f'got {loss_scale!r}')

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        if self.loss_scaler is not None:
            loss = self.loss_scaler.scale(loss)
        loss.backward(**kwargs)
        self._inner_count += 1

    def step(self, **kwargs) -> None:
        if self.loss_scaler is None:
            super().step(**kwargs)
            return
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grad()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update(self._fixed_scale)

    def state_dict(self) -> dict:
        state = self.optimizer.state_dict()
        if self.loss_scaler is not None:
            state['loss_scaler'] = self.loss_scaler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        scaler_state = state_dict.pop('loss_scaler', None)
        if scaler_state is not None and self.loss_scaler is not None:
            self.loss_scaler.load_state_dict(scaler_state)
        self.optimizer.load_state_dict(state_dict)

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        with super().optim_context(model), torch.autocast(self.device_type,
                                                          dtype=self.cast_dtype):
            yield
