"""Which optimizer setting a parameter scheduler moves: ``param_name``.

MMEngine's ``...LR`` and ``...Momentum`` schedulers fix it (``'lr'``, ``'momentum'`` or β₁ of
``betas``); the generic ``...ParamScheduler`` classes take it from the config and move any
number in the optimizer's parameter groups, e.g. weight decay (MMPretrain's
``imagenet_bs256_coslr_coswd_300e.py``)::

    param_scheduler = [
        dict(type='CosineAnnealingLR', T_max=300, by_epoch=True),
        dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
             eta_min=1e-5, by_epoch=True, begin=0, end=300),
    ]

Such a scheduler is stepped, checkpointed and plotted like the LR schedulers.
"""
from typing import Optional

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.momentum_scheduler import MomentumSchedulerMixin

from trainkit.errors import ConfigError
from trainkit.utils.suggest import did_you_mean

# what the LR and momentum schedules already show; every other name is an extra column
SHOWN = ('lr', 'momentum')


def param_name_fixed(cls) -> bool:
    """True when ``cls`` sets ``param_name`` itself (an ``...LR`` or ``...Momentum`` class)."""
    return isinstance(cls, type) and issubclass(cls, (LRSchedulerMixin, MomentumSchedulerMixin))


def check_param_name(param_name, optimizer, where: str) -> None:
    """``param_name`` names a number every parameter group of ``optimizer`` holds."""
    if not isinstance(param_name, str):
        raise ConfigError(f'{where}.param_name: expected the name of an optimizer setting such '
                          f"as 'weight_decay', got {param_name!r}")
    groups = optimizer.param_groups
    names = sorted({key for group in groups for key in group if key != 'params'})
    missing = [i for i, group in enumerate(groups) if param_name not in group]
    if missing:
        raise ConfigError(f'{where}.param_name: {type(optimizer).__name__} has no setting '
                          f'{param_name!r}{did_you_mean(param_name, names)}; its parameter '
                          f'groups hold {", ".join(names)}')
    value = groups[0][param_name]
    if isinstance(value, (tuple, list)):
        raise ConfigError(f'{where}.param_name: {param_name!r} is a pair {tuple(value)!r}, which '
                          f'a ParamScheduler cannot scale; for β₁ of Adam-style betas use a '
                          f"...Momentum scheduler (e.g. type='CosineAnnealingMomentum')")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f'{where}.param_name: {param_name!r} is {value!r}, not a number a '
                          f'scheduler can move')


def extra_param_name(scheduler) -> Optional[str]:
    """The setting ``scheduler`` moves when it is neither the LR nor the momentum."""
    name = getattr(scheduler, 'param_name', None)
    return name if name is not None and name not in SHOWN else None
