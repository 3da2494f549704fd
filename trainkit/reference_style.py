"""The reference-style ``trainer`` section, expanded into trainkit's canonical keys.

Users of the XequiNet-style trainer write a flat section (YAML or Python)::

    trainer = dict(run_name='water', lossfn='smoothl1', losses_weight=dict(energy=1.0,
                   forces=100.0), max_lr=5e-4, warmup_scheduler='linear', warmup_epochs=10,
                   lr_scheduler='cosine_annealing', lr_scheduler_kwargs=dict(T_max=100),
                   ema_decay=0.995, best_k=1, max_epochs=100)

:func:`expand_reference_keys` turns it into the same ``loss``, ``optim_wrapper``,
``param_scheduler``, hooks and top-level keys a canonical config would hold — there is one
code path. Every reference key has its reference default (``REFERENCE_DEFAULTS``), applied
only where the canonical config does not already say something. A key written in the
``trainer`` section that disagrees with a canonical key is an error naming both.

Outside a ``trainer`` section, the shorthands ``save_dir``, ``grad_clip``, ``num_workers``
and ``max_epochs`` are accepted at the top level (without reference defaults).
"""
import copy
from typing import Any, Dict, List, Optional

from .errors import ConfigError
from .optim.warmup import WARMUP_ALIASES
from .suggest import did_you_mean

REFERENCE_DEFAULTS: Dict[str, Any] = {
    'run_name': 'xequinet', 'resume': False, 'ckpt_file': None, 'finetune_modules': None,
    'lossfn': 'smoothl1', 'losses_weight': None, 'optimizer': 'AdamW', 'optimizer_kwargs': {},
    'max_lr': 5e-4, 'min_lr': 0.0, 'warmup_scheduler': 'linear', 'warmup_epochs': 10,
    'lr_scheduler': 'cosine_annealing', 'lr_scheduler_kwargs': {}, 'early_stoppings': None,
    'early_stopping_mode': 'and', 'ema_decay': 0.995, 'save_dir': './', 'best_k': 1,
    'log_file': 'loss.log', 'log_steps': 50, 'log_epochs': 1, 'max_epochs': 300,
    'grad_clip': None, 'seed': None, 'num_workers': 0,
}
TOP_LEVEL_SHORTHANDS = ('save_dir', 'grad_clip', 'num_workers', 'max_epochs')
LR_SCHEDULER_ALIASES = {
    'cosine_annealing': 'cosine', 'cosine': 'cosine',
    'cosine_annealing_warm_restarts': 'cosine_restarts', 'cosine_restarts': 'cosine_restarts',
    'reduce_on_plateau': 'plateau', 'plateau': 'plateau',
}
_NUMBER_KEYS = ('max_lr', 'min_lr', 'warmup_epochs', 'ema_decay', 'grad_clip')
_INT_KEYS = ('best_k', 'log_steps', 'log_epochs', 'max_epochs', 'num_workers', 'seed')
_MISSING = object()


class Expansion:
    """One trainer section being expanded into a canonical config."""

    def __init__(self, cfg: Dict[str, Any], given: Dict[str, Any], use_defaults: bool):
        self.cfg, self.given, self.use_defaults = cfg, given, use_defaults

    def value(self, key: str, default=_MISSING):
        """The trainer value, the reference default (if defaults apply), or ``_MISSING``."""
        if key in self.given:
            return self.given[key]
        if self.use_defaults:
            return REFERENCE_DEFAULTS[key] if default is _MISSING else default
        return _MISSING

    def explicit(self, key: str) -> bool:
        return key in self.given

    def conflict(self, key: str, path: str, current, value) -> ConfigError:
        return ConfigError(f'trainer.{key}={value!r} conflicts with {path}={current!r}; set it '
                           f'in one place only')

    def set(self, path: List[str], key: str, value=_MISSING) -> None:
        """Put a trainer value at ``path`` unless the canonical config already has one there."""
        value = self.value(key) if value is _MISSING else value
        if value is _MISSING:
            return
        node = self.cfg
        for part in path[:-1]:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
        current = node.get(path[-1], _MISSING)
        if current is _MISSING:
            node[path[-1]] = copy.deepcopy(value)
        elif current != value and self.explicit(key):
            raise self.conflict(key, '.'.join(path), current, value)


# ------------------------------------------------------------------------------- pieces
def _check_section(given: Dict[str, Any]) -> Dict[str, Any]:
    problems = []
    clean = {}
    for key, value in given.items():
        if key not in REFERENCE_DEFAULTS:
            problems.append(f'trainer: unknown key {key!r}'
                            f'{did_you_mean(key, REFERENCE_DEFAULTS)}')
            continue
        if isinstance(value, str) and key in _NUMBER_KEYS + _INT_KEYS:
            try:
                value = float(value)  # YAML 1.1 reads 5e-4 as a string
            except ValueError:
                pass
        if key in _INT_KEYS and isinstance(value, float) and value.is_integer():
            value = int(value)
        if value is not None and key in _NUMBER_KEYS and (
                isinstance(value, bool) or not isinstance(value, (int, float))):
            problems.append(f'trainer.{key}: expected a number, got {value!r}')
        if value is not None and key in _INT_KEYS and (
                isinstance(value, bool) or not isinstance(value, int)):
            problems.append(f'trainer.{key}: expected an int, got {value!r}')
        clean[key] = value
    if problems:
        raise ConfigError(problems)
    return clean


def _loss(exp: Expansion) -> None:
    lossfn, weights = exp.value('lossfn'), exp.value('losses_weight')
    current = exp.cfg.get('loss')
    if current is not None:
        for key, value in (('lossfn', lossfn), ('losses_weight', weights)):
            if exp.explicit(key) and current.get(key) != value:
                raise exp.conflict(key, f'loss.{key}', current.get(key), value)
        return
    if weights in (_MISSING, None):
        if exp.explicit('lossfn'):
            raise ConfigError('trainer.lossfn needs trainer.losses_weight, e.g. '
                              'losses_weight: {energy: 1.0, forces: 1000.0}')
        return
    exp.cfg['loss'] = dict(type='WeightedLoss', lossfn=lossfn, losses_weight=dict(weights))


def _optimizer(exp: Expansion) -> None:
    name, lr, kwargs = exp.value('optimizer'), exp.value('max_lr'), exp.value('optimizer_kwargs')
    wrapper = exp.cfg.get('optim_wrapper')
    optimizer = wrapper.get('optimizer') if isinstance(wrapper, dict) else None
    if optimizer is None:
        if name is not _MISSING:
            spec = dict(type=name)
            if lr is not _MISSING:
                spec['lr'] = lr
            spec.update(kwargs if kwargs is not _MISSING else {})
            exp.cfg.setdefault('optim_wrapper', {})
            if exp.cfg['optim_wrapper'] is None:
                exp.cfg['optim_wrapper'] = {}
            exp.cfg['optim_wrapper']['optimizer'] = spec
    else:
        if exp.explicit('optimizer') and str(optimizer.get('type', '')).lower() != str(
                name).lower():
            raise exp.conflict('optimizer', 'optim_wrapper.optimizer.type',
                               optimizer.get('type'), name)
        exp.set(['optim_wrapper', 'optimizer', 'lr'], 'max_lr')
        for key, value in (kwargs if exp.explicit('optimizer_kwargs') else {}).items():
            if key in optimizer and optimizer[key] != value:
                raise exp.conflict('optimizer_kwargs', f'optim_wrapper.optimizer.{key}',
                                   optimizer[key], value)
            optimizer[key] = value
    if exp.value('grad_clip') not in (_MISSING, None):
        exp.set(['optim_wrapper', 'clip_grad', 'max_norm'], 'grad_clip')


def _warmup_entry(exp: Expansion) -> Optional[dict]:
    kind = exp.value('warmup_scheduler')
    if kind in (None, _MISSING) or str(kind).lower() in ('null', 'none'):
        return None
    key = str(kind).lower()
    if key not in WARMUP_ALIASES:
        raise ConfigError(f'trainer.warmup_scheduler: {kind!r} is not one of null, '
                          f'{", ".join(WARMUP_ALIASES)}{did_you_mean(key, WARMUP_ALIASES)}')
    if key in ('linear', 'exponential'):
        epochs = exp.value('warmup_epochs')
        if epochs in (None, _MISSING, 0):
            return None
        return dict(type=WARMUP_ALIASES[key], warmup_epochs=epochs)
    return dict(type=WARMUP_ALIASES[key])


def _main_entry(exp: Expansion) -> Optional[dict]:
    kind = exp.value('lr_scheduler')
    if kind in (None, _MISSING):
        return None
    alias = LR_SCHEDULER_ALIASES.get(str(kind).lower())
    if alias is None:
        raise ConfigError(f'trainer.lr_scheduler: {kind!r} is not one of '
                          f'{", ".join(LR_SCHEDULER_ALIASES)}'
                          f'{did_you_mean(str(kind).lower(), LR_SCHEDULER_ALIASES)}')
    kwargs = dict(exp.value('lr_scheduler_kwargs', {}) or {})
    min_lr = exp.value('min_lr', 0.0)
    if alias == 'cosine':
        _allow(kwargs, ('T_max',), kind)
        max_epochs = (exp.cfg.get('train_cfg') or {}).get('max_epochs', 300)
        return dict(type='CosineAnnealingLR', T_max=kwargs.get('T_max', max_epochs),
                    eta_min=min_lr, by_epoch=True, convert_to_iter_based=True)
    if alias == 'cosine_restarts':
        _allow(kwargs, ('T_0', 'T_mult'), kind)
        if 'T_0' not in kwargs:
            raise ConfigError(f'trainer.lr_scheduler_kwargs: {kind} needs T_0 (epochs of the '
                              f'first cycle)')
        return dict(type='CosineWarmRestartsLR', T_0=kwargs['T_0'], T_mult=kwargs.get('T_mult', 1),
                    eta_min=min_lr, by_epoch=True, convert_to_iter_based=True)
    return _plateau_entry(kwargs, kind, min_lr)


def _plateau_entry(kwargs: Dict[str, Any], kind, min_lr) -> dict:
    renames = {'mode': 'rule', 'threshold_mode': 'threshold_rule'}
    _allow(kwargs, ('factor', 'patience', 'threshold', 'threshold_mode', 'cooldown', 'eps',
                    'mode', 'monitor'), kind)
    entry = dict(type='PlateauLR', monitor='weighted_mae', factor=0.1, patience=10,
                 stop_lr=min_lr)
    for key, value in kwargs.items():
        key = renames.get(key, key)
        entry[key] = {'min': 'less', 'max': 'greater'}.get(value, value) if key == 'rule' \
            else value
    return entry


def _allow(kwargs: Dict[str, Any], allowed, kind) -> None:
    for key in kwargs:
        if key not in allowed:
            raise ConfigError(f'trainer.lr_scheduler_kwargs: {key!r} is not an argument of '
                              f'{kind}{did_you_mean(key, allowed)}; valid: {", ".join(allowed)}')


SCHEDULE_KEYS = ('warmup_scheduler', 'warmup_epochs', 'lr_scheduler', 'lr_scheduler_kwargs',
                 'min_lr')


def _schedule(exp: Expansion) -> None:
    explicit = [k for k in SCHEDULE_KEYS if exp.explicit(k)]
    if exp.cfg.get('param_scheduler') is not None:
        if explicit:
            raise ConfigError(f'trainer.{explicit[0]} conflicts with param_scheduler; describe '
                              f'the schedule in one place only')
        return
    if not (exp.use_defaults or explicit):
        return
    entries = [e for e in (_warmup_entry(exp), _main_entry(exp)) if e is not None]
    if entries:
        exp.cfg['param_scheduler'] = entries


def _set_hook(exp: Expansion, name: str, hook_type: str, field: str, key: str) -> None:
    value = exp.value(key)
    if value is _MISSING:
        return
    hooks = exp.cfg.setdefault('default_hooks', {})
    if hooks is None:
        hooks = exp.cfg['default_hooks'] = {}
    if name not in hooks:
        hooks[name] = {'type': hook_type, field: value}
    elif hooks[name] is None:
        if exp.explicit(key):
            raise exp.conflict(key, f'default_hooks.{name}', None, value)
    else:
        exp.set(['default_hooks', name, field], key, value)


def _hooks(exp: Expansion) -> None:
    ema = exp.value('ema_decay')
    if ema is None and exp.explicit('ema_decay'):
        current = (exp.cfg.get('default_hooks') or {}).get('ema')
        if current is not None and current.get('ema_decay') is not None:
            raise exp.conflict('ema_decay', 'default_hooks.ema.ema_decay',
                               current.get('ema_decay'), None)
    elif ema not in (None, _MISSING):
        _set_hook(exp, 'ema', 'EMAHook', 'ema_decay', 'ema_decay')
    _set_hook(exp, 'checkpoint', 'CheckpointHook', 'best_k', 'best_k')
    for field in ('log_file', 'log_steps', 'log_epochs'):
        _set_hook(exp, 'logger', 'LoggerHook', field, field)
    stoppings = exp.value('early_stoppings')
    if stoppings in (None, _MISSING):
        return
    custom = exp.cfg.setdefault('custom_hooks', []) or []
    if any(isinstance(h, dict) and h.get('type') == 'EarlyStoppingHook' for h in custom):
        raise ConfigError('trainer.early_stoppings conflicts with an EarlyStoppingHook in '
                          'custom_hooks; set it in one place only')
    custom.append(dict(type='EarlyStoppingHook', early_stoppings=copy.deepcopy(stoppings),
                       early_stopping_mode=exp.value('early_stopping_mode', 'and')))
    exp.cfg['custom_hooks'] = custom


def _plain_keys(exp: Expansion) -> None:
    for key in ('run_name', 'resume', 'ckpt_file', 'finetune_modules', 'seed'):
        exp.set([key], key)
    exp.set(['work_dir'], 'save_dir')
    exp.set(['train_cfg', 'max_epochs'], 'max_epochs')
    for loader in ('train_dataloader', 'val_dataloader'):
        if isinstance(exp.cfg.get(loader), dict):
            exp.set([loader, 'num_workers'], 'num_workers')


def expand_reference_keys(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Return ``cfg`` with its ``trainer`` section and shorthands expanded (not in place)."""
    cfg = copy.deepcopy(cfg)
    section = cfg.pop('trainer', None)
    if section is not None and not isinstance(section, dict):
        raise ConfigError(f'trainer: expected a mapping of reference keys, got {section!r}')
    given = dict(section or {})
    for key in TOP_LEVEL_SHORTHANDS:
        if key in cfg:
            value = cfg.pop(key)
            if key in given and given[key] != value:
                raise ConfigError(f'{key}={value!r} (top level) conflicts with trainer.{key}='
                                  f'{given[key]!r}; set it in one place only')
            given[key] = value
    if section is None and not given:
        return cfg
    exp = Expansion(cfg, _check_section(given), use_defaults=section is not None)
    _plain_keys(exp)
    _loss(exp)
    _optimizer(exp)
    _schedule(exp)
    _hooks(exp)
    return exp.cfg
