"""Optimization: optimizer wrappers, parameter groups, warmup and schedules.

Importing this package registers trainkit's optimizer-side components (it pulls in
``mmengine.optim``; the registries import it only when a name is first looked up).
"""
from . import amp, cosine_restarts, layer_decay, plateau, warmup, wrapper  # noqa: F401
from .builder import build_optim_wrapper, scale_lr
from .freeze import count_trainable, freeze_except
from .schedule import ParamSchedule, build_param_schedule
from .wrapper import OptimWrapper

__all__ = ['build_optim_wrapper', 'scale_lr', 'freeze_except', 'count_trainable',
           'ParamSchedule', 'build_param_schedule', 'OptimWrapper']
