"""Optimization: optimizer wrappers, parameter groups, warmup and schedules.

Importing this package registers trainkit's optimizer-side components (it pulls in
``mmengine.optim``; the registries import it only when a name is first looked up).
"""
from trainkit.optim import amp, layer_decay, wrapper  # noqa: F401
from trainkit.optim.builder import build_optim_wrapper, scale_lr
from trainkit.optim.freeze import count_trainable, freeze_except
from trainkit.optim.schedule import cosine_restarts, plateau, warmup  # noqa: F401
from trainkit.optim.schedule.schedule import ParamSchedule, build_param_schedule
from trainkit.optim.wrapper import OptimWrapper

__all__ = ['build_optim_wrapper', 'scale_lr', 'freeze_except', 'count_trainable',
           'ParamSchedule', 'build_param_schedule', 'OptimWrapper']
