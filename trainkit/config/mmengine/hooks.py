"""MMEngine's hooks by their MMEngine names and arguments, mapped before validation.

``default_hooks`` of an OpenMMLab ``default_runtime.py`` run as written::

    default_hooks = dict(
        timer=dict(type='IterTimerHook'),                   # notice: timing is in the log rows
        logger=dict(type='LoggerHook', interval=100),       # = LoggerHook(log_steps=100)
        param_scheduler=dict(type='ParamSchedulerHook'),    # the Runner steps schedules itself
        checkpoint=dict(type='CheckpointHook', interval=1),
        sampler_seed=dict(type='DistSamplerSeedHook'),      # the Runner seeds the sampler itself
        visualization=dict(type='VisualizationHook', enable=False),   # notice: disabled
    )

What each hook becomes is in :data:`DROPPED` and :func:`map_hooks`; ``EMAHook``,
``EarlyStoppingHook``, ``EmptyCacheHook`` and ``SyncBuffersHook`` take MMEngine's arguments
themselves (``trainkit/hooks/``). A hook class that is not a trainkit hook (e.g. MMEngine's
``ProfilerHook``) is an error: trainkit's Runner could not call it.
"""
from typing import Any, Dict, List, Optional, Tuple

from trainkit.config.mmengine.report import CarryOver
from trainkit.errors import ConfigError
from trainkit.hooks.hook import Hook
from trainkit.hooks.logger import LoggerHook
from trainkit.registry import HOOKS, lookup
from trainkit.utils.signature import Signature
from trainkit.utils.suggest import did_you_mean

# hook type -> (notice or None when the Runner does exactly this itself, arguments it takes)
DROPPED: Dict[str, Tuple[Optional[str], Tuple[str, ...]]] = {
    'ParamSchedulerHook': (None, ()),       # the Runner steps the schedules (never twice)
    'DistSamplerSeedHook': (None, ()),      # the Runner calls sampler.set_epoch every epoch
    'IterTimerHook': ("accepted, not needed: trainkit's LoggerHook writes the time per step "
                      '(iter_time) and per batch fetch (data_time) in its rows', ()),
    'RuntimeInfoHook': ("accepted, not needed: trainkit's Runner gives hooks the epoch, step "
                        'and LR directly (there is no MessageHub)', ()),
}
VISUALIZATION_SUFFIX = 'VisualizationHook'
# MMEngine's LoggerHook arguments and what trainkit does with each
LOGGER_TO_TRAINKIT = {'interval': 'log_steps'}
LOGGER_NOTICES = {
    'interval_exp_name': "trainkit's loss.log names the run once, at its start",
    'log_metric_by_epoch': 'validation metrics go to the tracking backends at the global step',
}
LOGGER_OUT_DIR_ARGS = ('out_dir', 'out_suffix', 'keep_local', 'file_client_args',
                       'backend_args')
SINGLE_HOOKS = ('EMAHook', 'LoggerHook', 'CheckpointHook')  # two of them would clash
EMA_DROPPED = {'strict_load': 'trainkit always restores the EMA weights of a resumed '
                              'checkpoint strictly'}


def short_type(type_name: Any) -> Optional[str]:
    """``'mmpretrain.VisualizationHook'`` -> ``'VisualizationHook'`` (None for a class)."""
    if not isinstance(type_name, str):
        return getattr(type_name, '__name__', None)
    return type_name.rsplit('.', 1)[-1]


def map_hooks(cfg: Dict[str, Any], report: CarryOver) -> None:
    """Rewrite ``default_hooks`` and ``custom_hooks`` in place: drop the hooks the Runner
    replaces (with a notice where it does not do the same) and disabled or drawing hooks (with
    a notice), map MMEngine's LoggerHook arguments, report a hook configured twice. Whether
    the remaining hooks are trainkit hooks is :func:`check_hook_classes`' part."""
    defaults = cfg.get('default_hooks')
    if isinstance(defaults, dict):
        for name in list(defaults):
            if not _keep(defaults[name], f'default_hooks.{name}', report):
                del defaults[name]
    custom = cfg.get('custom_hooks')
    if isinstance(custom, (list, tuple)):
        cfg['custom_hooks'] = [hook for i, hook in enumerate(custom)
                               if _keep(hook, f'custom_hooks.{i}', report)]
    _one_of_each(cfg, report)


def _one_of_each(cfg: Dict[str, Any], report: CarryOver) -> None:
    """An EMA in ``default_hooks`` (trainkit's place) and another in ``custom_hooks``
    (MMEngine's) would average twice and validate with whichever ran last."""
    defaults = cfg.get('default_hooks') if isinstance(cfg.get('default_hooks'), dict) else {}
    custom = cfg.get('custom_hooks') if isinstance(cfg.get('custom_hooks'), list) else []
    places = [(f'default_hooks.{name}', hook) for name, hook in defaults.items()] + [
        (f'custom_hooks.{i}', hook) for i, hook in enumerate(custom)]
    for single in SINGLE_HOOKS:
        where = [w for w, hook in places
                 if isinstance(hook, dict) and short_type(hook.get('type')) == single]
        if len(where) > 1:
            report.problem(f'{single} is configured {len(where)} times ({", ".join(where)}); '
                           f'keep one (set the other to None in default_hooks or remove it)')


def _keep(hook: Any, where: str, report: CarryOver) -> bool:
    if not isinstance(hook, dict) or 'type' not in hook:
        return True  # None removes a default hook; anything else is reported by validation
    name = short_type(hook['type'])
    args = [key for key in hook if key not in ('type', 'priority')]
    if name in DROPPED:
        why, allowed = DROPPED[name]
        extra = [key for key in args if key not in allowed]
        if extra:
            report.problem(f'{where}: {name} takes no arguments, got {", ".join(extra)}')
        elif why is not None:
            report.notice(where, f'{name} {why}')
        return False
    if name is not None and name.endswith(VISUALIZATION_SUFFIX):
        state = ('disabled (enable=False)' if hook.get('enable', True) is False else
                 'it draws predictions into images')
        report.notice(where, f'{name} accepted and not run: {state}; trainkit has no '
                             f'prediction visualizer, and drawing does not change training')
        return False
    if hook.get('enable', True) is False and not _is_trainkit_hook(hook['type']):
        report.notice(where, f'{name} accepted and not run: disabled (enable=False), as in its '
                             f'own package')
        return False
    if name == 'LoggerHook':
        _map_logger(hook, where, report)
    elif name == 'EMAHook':
        for key, why in EMA_DROPPED.items():
            if key in hook:
                hook.pop(key)
                report.notice(f'{where}.{key}', f'ignored: {why}')
    return True


def _map_logger(hook: Dict[str, Any], where: str, report: CarryOver) -> None:
    own = [n for n in Signature(LoggerHook).names() if n != 'self']
    mmengine = list(LOGGER_TO_TRAINKIT) + ['ignore_last'] + list(LOGGER_NOTICES) + list(
        LOGGER_OUT_DIR_ARGS)
    for key in [k for k in hook if k not in ('type', 'priority', *own, *mmengine)]:
        hook.pop(key)
        report.problem(f'{where}: LoggerHook got an unexpected argument {key!r}'
                       f'{did_you_mean(key, own + mmengine)} (trainkit\'s arguments: '
                       f'{", ".join(own)}; MMEngine\'s mapped: {", ".join(mmengine)})')
    for mm_key, tk_key in LOGGER_TO_TRAINKIT.items():
        if mm_key not in hook:
            continue
        value = hook.pop(mm_key)
        if tk_key in hook and hook[tk_key] != value:
            report.notice(f'{where}.{mm_key}', f'{value!r} ignored: trainkit\'s {tk_key}='
                                               f'{hook[tk_key]!r} is given too (e.g. by '
                                               f'--cfg-options) and wins')
        hook.setdefault(tk_key, value)
    if 'ignore_last' in hook and hook.pop('ignore_last') is False:
        report.notice(f'{where}.ignore_last', "False ignored: trainkit writes no partial train "
                                              "row at an epoch's end; its epoch row holds the "
                                              'means of every step')
    for key, why in LOGGER_NOTICES.items():
        if key in hook:
            hook.pop(key)
            report.notice(f'{where}.{key}', f'ignored: {why}')
    out = {key: hook.pop(key) for key in LOGGER_OUT_DIR_ARGS if key in hook}
    if out.get('out_dir') is not None:
        report.notice(f'{where}.out_dir', f"{out['out_dir']!r} ignored: logs stay in the work "
                                          f'dir (copy them when the run ends)')


def _is_trainkit_hook(type_name: Any) -> bool:
    try:
        cls = lookup(HOOKS, type_name)
    except ConfigError:
        return False
    return isinstance(cls, type) and issubclass(cls, Hook)


def check_hook_classes(cfg: Dict[str, Any], report: CarryOver) -> None:
    """Report every configured hook class that is not a trainkit hook (run after the scopes
    are resolved, so a hook of an OpenMMLab package is named as such)."""
    defaults = cfg.get('default_hooks')
    hooks = [(f'default_hooks.{name}', hook) for name, hook in defaults.items()] if isinstance(
        defaults, dict) else []
    custom = cfg.get('custom_hooks')
    if isinstance(custom, (list, tuple)):
        hooks += [(f'custom_hooks.{i}', hook) for i, hook in enumerate(custom)]
    for where, hook in hooks:
        if isinstance(hook, dict) and 'type' in hook:
            _check_trainkit_hook(hook, where, report)


def _check_trainkit_hook(hook: Dict[str, Any], where: str, report: CarryOver) -> None:
    try:
        cls = lookup(HOOKS, hook['type'], f'{where}.type')
    except ConfigError:
        return  # an unknown name: validation reports it with did-you-mean
    if isinstance(cls, type) and not issubclass(cls, Hook):
        report.problem(
            f"{where}.type: {short_type(hook['type'])} ({cls.__module__}) is an MMEngine hook, "
            f"which trainkit's Runner cannot call; trainkit takes these MMEngine hooks: "
            f'{", ".join(mmengine_hook_names())}; remove it or write it as a trainkit hook '
            f'(docs/registries.md)')


def mmengine_hook_names() -> List[str]:
    """The MMEngine hook names a config may use."""
    own = ('LoggerHook', 'CheckpointHook', 'EMAHook', 'EarlyStoppingHook', 'EmptyCacheHook',
           'SyncBuffersHook')
    return sorted(set(DROPPED) | set(own) | {'VisualizationHook', 'NaiveVisualizationHook'})
