"""The schedule part of a ``trainer`` section: ``warmup_scheduler``/``warmup_epochs`` and
``lr_scheduler``/``lr_scheduler_kwargs``/``min_lr`` become ``param_scheduler`` entries (a
pytorch-warmup entry, then CosineAnnealingLR, CosineWarmRestartsLR or PlateauLR with T_max and
T_0 in epochs, converted to optimizer steps).

Example: ``warmup_scheduler: linear, warmup_epochs: 10, lr_scheduler: cosine`` becomes::

    param_scheduler = [dict(type='LinearWarmup', warmup_epochs=10),
                       dict(type='CosineAnnealingLR', T_max=<max_epochs>, eta_min=<min_lr>,
                            by_epoch=True, convert_to_iter_based=True)]
"""
from typing import Any, Dict, Optional

from trainkit.config.reference.keys import MISSING as _MISSING
from trainkit.errors import ConfigError
from trainkit.optim.schedule.warmup import WARMUP_ALIASES
from trainkit.utils.checks import expect_number
from trainkit.utils.suggest import did_you_mean

LR_SCHEDULER_ALIASES = {
    'cosine_annealing': 'cosine', 'cosine': 'cosine',
    'cosine_annealing_warm_restarts': 'cosine_restarts', 'cosine_restarts': 'cosine_restarts',
    'reduce_on_plateau': 'plateau', 'plateau': 'plateau',
}
SCHEDULER_KWARGS = {
    'cosine': ('T_max',),
    'cosine_restarts': ('T_0', 'T_mult'),
    'plateau': ('factor', 'patience', 'threshold', 'threshold_mode', 'cooldown', 'eps', 'mode',
                'monitor'),
}
SCHEDULE_KEYS = ('warmup_scheduler', 'warmup_epochs', 'lr_scheduler', 'lr_scheduler_kwargs',
                 'min_lr')

def _warmup_entry(exp) -> Optional[dict]:
    kind = exp.value('warmup_scheduler')
    if kind in (None, _MISSING) or str(kind).lower() in ('null', 'none'):
        exp.notes.append('trainer.warmup_scheduler = None -> no warmup')
        return None
    key = str(kind).lower()
    if key not in WARMUP_ALIASES:
        raise ConfigError(f'trainer.warmup_scheduler: {kind!r} is not one of null, '
                          f'{", ".join(WARMUP_ALIASES)}{did_you_mean(key, WARMUP_ALIASES)}')
    name = WARMUP_ALIASES[key]
    if key not in ('linear', 'exponential'):
        exp.note('warmup_scheduler', f'param_scheduler: {name} (period from the optimizer\'s '
                                     f'beta2; warmup_epochs is not used)', kind)
        return dict(type=name)
    epochs = exp.value('warmup_epochs')
    if epochs in (None, _MISSING, 0):
        exp.notes.append(f'trainer.warmup_epochs = {epochs!r} -> no warmup')
        return None
    exp.note('warmup_scheduler', f'param_scheduler: {name}', kind)
    exp.note('warmup_epochs', f'{name}.warmup_epochs (converted to optimizer steps)', epochs)
    return dict(type=name, warmup_epochs=epochs)


def _check_kwargs(kwargs: Dict[str, Any], alias: str, kind) -> None:
    for key in kwargs:
        if key in ('eta_min', 'min_lr'):
            raise ConfigError(f'trainer.lr_scheduler_kwargs.{key}: the lower LR limit is '
                              f'trainer.min_lr; set min_lr instead')
        if key not in SCHEDULER_KWARGS[alias]:
            allowed = SCHEDULER_KWARGS[alias]
            raise ConfigError(f'trainer.lr_scheduler_kwargs: {key!r} is not an argument of '
                              f'{kind}{did_you_mean(key, allowed)}; valid: {", ".join(allowed)}')
    for key in ('T_max', 'T_0'):
        value = kwargs.get(key)
        if key in kwargs:
            expect_number(value, f'trainer.lr_scheduler_kwargs.{key}', above=0,
                          hint='it is a number of epochs')


def _main_entry(exp) -> Optional[dict]:
    kind = exp.value('lr_scheduler')
    if kind in (None, _MISSING):
        exp.notes.append('trainer.lr_scheduler = None -> constant learning rate')
        return None
    alias = LR_SCHEDULER_ALIASES.get(str(kind).lower())
    if alias is None:
        raise ConfigError(f'trainer.lr_scheduler: {kind!r} is not one of '
                          f'{", ".join(LR_SCHEDULER_ALIASES)}'
                          f'{did_you_mean(str(kind).lower(), LR_SCHEDULER_ALIASES)}')
    kwargs = dict(exp.value('lr_scheduler_kwargs') or {})
    _check_kwargs(kwargs, alias, kind)
    min_lr = exp.value('min_lr')
    min_lr = 0.0 if min_lr is _MISSING else min_lr
    if alias == 'cosine':
        t_max = kwargs.get('T_max', exp.cfg['train_cfg']['max_epochs'])
        entry = dict(type='CosineAnnealingLR', T_max=t_max, eta_min=min_lr, by_epoch=True,
                     convert_to_iter_based=True)
        exp.note('lr_scheduler', f'param_scheduler: CosineAnnealingLR(T_max={t_max} epochs'
                                 f'{"" if "T_max" in kwargs else " = max_epochs"}, in steps)',
                 kind)
    elif alias == 'cosine_restarts':
        if 'T_0' not in kwargs:
            raise ConfigError(f'trainer.lr_scheduler_kwargs: {kind} needs T_0 (epochs of the '
                              f'first cycle), e.g. lr_scheduler_kwargs: {{T_0: 50, T_mult: 2}}')
        entry = dict(type='CosineWarmRestartsLR', T_0=kwargs['T_0'],
                     T_mult=kwargs.get('T_mult', 1), eta_min=min_lr, by_epoch=True,
                     convert_to_iter_based=True)
        exp.note('lr_scheduler', 'param_scheduler: CosineWarmRestartsLR (T_0 in epochs, in '
                                 'steps)', kind)
    else:
        entry = _plateau_entry(kwargs, min_lr)
        exp.note('lr_scheduler', 'param_scheduler: PlateauLR (steps after each validation '
                                 'on weighted_mae; stops below min_lr)', kind)
    exp.note('min_lr', 'PlateauLR.stop_lr' if alias == 'plateau' else
             f'{entry["type"]}.eta_min', min_lr)
    return entry


def _plateau_entry(kwargs: Dict[str, Any], min_lr) -> dict:
    renames = {'mode': 'rule', 'threshold_mode': 'threshold_rule'}
    entry = dict(type='PlateauLR', monitor='weighted_mae', factor=0.1, patience=10,
                 stop_lr=min_lr)
    for key, value in kwargs.items():
        key = renames.get(key, key)
        if key == 'rule':
            value = {'min': 'less', 'max': 'greater'}.get(str(value).lower(), value)
        entry[key] = value
    return entry


def expand_schedule(exp) -> None:
    """Set ``param_scheduler`` from the trainer's schedule keys (``exp`` is the
    :class:`~trainkit.config.reference.expand.Expansion` in progress); a schedule key
    written next to a canonical ``param_scheduler`` is a conflict."""
    explicit = [k for k in SCHEDULE_KEYS if exp.explicit(k)]
    if exp.cfg.get('param_scheduler') is not None:
        if explicit:
            raise ConfigError(f'trainer.{explicit[0]}={exp.given[explicit[0]]!r} conflicts '
                              f'with param_scheduler; describe the schedule in one place only '
                              f'(the trainer section or param_scheduler)')
        if exp.use_defaults:
            exp.notes.append('trainer.warmup_scheduler/lr_scheduler: reference defaults not '
                             'used, param_scheduler is set')
        return
    if not (exp.use_defaults or explicit):
        return
    entries = [e for e in (_warmup_entry(exp), _main_entry(exp)) if e is not None]
    if entries:
        exp.cfg['param_scheduler'] = entries
