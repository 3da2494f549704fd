"""Build the optimizer wrapper from ``optim_wrapper`` (MMEngine semantics).

::

    optim_wrapper = dict(
        type='OptimWrapper',                   # or 'AmpOptimWrapper'
        optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.01),
        clip_grad=dict(max_norm=10.0),          # or dict(type='value', clip_value=1.0)
        accumulative_counts=1,
        paramwise_cfg=dict(norm_decay_mult=0.0, custom_keys={'head': dict(lr_mult=0.1)}),
        constructor='DefaultOptimWrapperConstructor')

What trainkit does beyond handing this to mmengine:

* every ``type`` (optimizer, wrapper, constructor) is resolved in trainkit's registries first
  and passed on as a class, so a custom optimizer registered with
  ``@OPTIMIZERS.register_module()`` works with and without ``paramwise_cfg`` (mmengine's
  constructor would otherwise look it up in its root registry and fail);
* the reference style ``optimizer='AdamW', optimizer_kwargs=dict(betas=[0.9, 0.99])`` is
  accepted, and lists become tuples where the optimizer expects tuples;
* frozen parameters (``requires_grad=False``) are removed from every parameter group, whatever
  the constructor, so they never reach the optimizer.
"""
import contextlib
import copy
import logging
import math
from typing import Any, Dict, Optional

from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from trainkit.errors import ConfigError
from trainkit.optim.freeze import check_name_keys
from trainkit.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS, lookup
from trainkit.utils.checks import expect_choice, expect_int
from trainkit.utils.signature import coerce_tuples

DEFAULT_CONSTRUCTOR = 'DefaultOptimWrapperConstructor'


def optimizer_entry(section: Dict[str, Any], where: str = 'optim_wrapper') -> Dict[str, Any]:
    """The optimizer config of an ``optim_wrapper`` section as one ``dict(type=..., **kwargs)``
    (a name or a dict, with the reference style's ``optimizer_kwargs`` merged in); the type is
    not looked up. The one reading of that section, for validation and for building."""
    optimizer = section.get('optimizer')
    kwargs = section.get('optimizer_kwargs') or {}
    if optimizer is None:
        raise ConfigError(f'{where}.optimizer: missing; e.g. optimizer=dict(type="AdamW", '
                          f'lr=1e-3)')
    if isinstance(optimizer, (str, type)):
        optimizer = dict(type=optimizer, **kwargs)
    elif isinstance(optimizer, dict):
        optimizer = dict(optimizer, **kwargs)
    else:
        raise ConfigError(f'{where}.optimizer: expected a dict like dict(type="AdamW", lr=1e-3) '
                          f'or an optimizer name, got {optimizer!r}')
    if 'type' not in optimizer:
        raise ConfigError(f'{where}.optimizer: missing "type" (e.g. type="AdamW")')
    return optimizer


def normalize_optimizer_cfg(cfg: Dict[str, Any], where: str = 'optim_wrapper') -> Dict[str, Any]:
    """Return a copy of ``cfg`` with ``optimizer`` as a dict whose ``type`` is a class."""
    cfg = copy.deepcopy(dict(cfg))
    optimizer = optimizer_entry(cfg, where)
    cfg.pop('optimizer_kwargs', None)
    cls = lookup(OPTIMIZERS, optimizer.pop('type'), f'{where}.optimizer.type')
    cfg['optimizer'] = dict(type=cls, **coerce_tuples(cls, optimizer))
    return cfg


def build_optim_wrapper(model: nn.Module, cfg: Dict[str, Any]):
    """Build an mmengine-style optimizer wrapper for ``model`` from an ``optim_wrapper`` dict."""
    cfg = normalize_optimizer_cfg(cfg)
    constructor = cfg.pop('constructor', None) or DEFAULT_CONSTRUCTOR
    ctor_kwargs: Dict[str, Any] = {}
    if isinstance(constructor, dict):
        ctor_kwargs = dict(constructor)
        constructor = ctor_kwargs.pop('type', DEFAULT_CONSTRUCTOR)
    ctor_cls = lookup(OPTIM_WRAPPER_CONSTRUCTORS, constructor, 'optim_wrapper.constructor')
    cfg['type'] = lookup(OPTIM_WRAPPERS, cfg.get('type', 'OptimWrapper'), 'optim_wrapper.type')
    paramwise_cfg = cfg.pop('paramwise_cfg', None)
    if isinstance(paramwise_cfg, dict) and isinstance(paramwise_cfg.get('custom_keys'), dict):
        check_name_keys(model, list(paramwise_cfg['custom_keys']),
                        'optim_wrapper.paramwise_cfg.custom_keys')
    if isinstance(ctor_cls, type) and issubclass(ctor_cls, DefaultOptimWrapperConstructor):
        _require_weight_decay(cfg['optimizer'], paramwise_cfg)
    try:
        with _quiet_mmengine():
            wrapper = ctor_cls(optim_wrapper_cfg=cfg, paramwise_cfg=paramwise_cfg,
                               **ctor_kwargs)(model)
    except ConfigError:  # already names its config path (and is a ValueError)
        raise
    except (ValueError, TypeError, KeyError, AssertionError) as err:
        raise ConfigError(f'optim_wrapper: {type(err).__name__}: {err}') from err
    drop_frozen_params(wrapper.optimizer)
    return wrapper


@contextlib.contextmanager
def _quiet_mmengine():
    """mmengine's constructor prints an INFO line per parameter of a paramwise group through
    its own logger (not the ``logging`` tree); trainkit reports groups with ``--dry-run``."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _require_weight_decay(optimizer_cfg: Dict[str, Any], paramwise_cfg) -> None:
    """mmengine's constructor scales an explicit ``weight_decay`` only; say so clearly."""
    if not isinstance(paramwise_cfg, dict) or 'weight_decay' in optimizer_cfg:
        return
    keys = [f'paramwise_cfg.{key}' for key in
            ('bias_decay_mult', 'norm_decay_mult', 'dwconv_decay_mult') if key in paramwise_cfg]
    custom_keys = paramwise_cfg.get('custom_keys')
    if isinstance(custom_keys, dict):
        keys += [f'paramwise_cfg.custom_keys.{name!r}.decay_mult'
                 for name, opts in custom_keys.items()
                 if isinstance(opts, dict) and 'decay_mult' in opts]
    if keys:
        raise ConfigError(f'optim_wrapper.{keys[0]} scales the weight decay, but '
                          f'optim_wrapper.optimizer has no weight_decay to scale; set it '
                          f'explicitly, e.g. weight_decay=0.01')


def drop_frozen_params(optimizer) -> None:
    """Remove parameters with ``requires_grad=False`` (and groups left empty) in place."""
    groups = []
    for group in optimizer.param_groups:
        group['params'] = [p for p in group['params'] if p.requires_grad]
        if group['params']:
            groups.append(group)
    if not groups:
        raise ConfigError('optim_wrapper: the model has no trainable parameter (all are frozen '
                          'or the model has none); check finetune_modules')
    optimizer.param_groups[:] = groups


LR_SCALING_RULES = ('linear', 'sqrt')


def scale_lr(optim_wrapper, auto_scale_lr: Optional[Dict[str, Any]], real_batch_size: int,
             log=print) -> Optional[float]:
    """Scale every group's LR for the effective batch size.

    ``rule='linear'`` (the default, MMEngine's) multiplies by ``B / B0``; ``rule='sqrt'`` by
    ``sqrt(B / B0)`` (often the better fit for Adam-type optimizers). ``B`` is
    ``real_batch_size`` = batch size × ranks × accumulation steps, ``B0`` is
    ``base_batch_size``. Must run before the param schedulers are built. Returns the factor,
    or None when not enabled::

        auto_scale_lr = dict(base_batch_size=256, enable=True, rule='sqrt')
    """
    if not auto_scale_lr or not auto_scale_lr.get('enable', False):
        return None
    base = auto_scale_lr.get('base_batch_size')
    expect_int(base, 'auto_scale_lr.base_batch_size', at_least=1)
    rule = auto_scale_lr.get('rule', 'linear')
    expect_choice(rule, LR_SCALING_RULES, 'auto_scale_lr.rule')
    ratio = real_batch_size / base
    factor = math.sqrt(ratio) if rule == 'sqrt' else ratio
    for group in optim_wrapper.optimizer.param_groups:
        group['lr'] = group['lr'] * factor
    base_settings = getattr(optim_wrapper, 'base_param_settings', None)
    if base_settings is not None:
        base_settings['lr'] = base_settings['lr'] * factor
    shown = f'sqrt({real_batch_size} / {base})' if rule == 'sqrt' else \
        f'{real_batch_size} / base_batch_size {base}'
    lrs = ', '.join(f'{g["lr"]:.4g}' for g in optim_wrapper.optimizer.param_groups)
    log(f'auto_scale_lr ({rule}): total batch {real_batch_size}, factor {shown} = {factor:g}; '
        f'learning rates scaled by {factor:g} to {lrs}')
    return factor
