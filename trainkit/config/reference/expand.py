"""The reference-style ``trainer`` section, expanded into trainkit's canonical keys.

Users of the XequiNet-style trainer write a flat section (YAML or Python)::

    trainer:
      run_name: water
      lossfn: smoothl1
      losses_weight: {energy: 1.0, forces: 100.0}
      max_lr: 5e-4
      warmup_scheduler: linear
      warmup_epochs: 10
      lr_scheduler: cosine_annealing
      lr_scheduler_kwargs: {T_max: 100}
      ema_decay: 0.995
      max_epochs: 100

:func:`expand_reference_keys` turns it into the ``loss``, ``optim_wrapper``,
``param_scheduler``, hooks and top-level keys a canonical config would hold, so there is one
code path. Rules:

* every reference key has its reference default (``REFERENCE_DEFAULTS``); a default is used
  only where the canonical config says nothing (a canonical ``None`` counts as nothing, and so
  does ``resume=False``);
* a key *written* in the ``trainer`` section that disagrees with a canonical key is a
  :class:`~trainkit.errors.ConfigError` naming both;
* names are case-insensitive (``lossfn``, ``optimizer``, ``warmup_scheduler``,
  ``lr_scheduler``, ``early_stopping_mode``); ``T_max``/``T_0`` are epochs and become steps
  with the real number of optimizer steps per epoch (``convert_to_iter_based``).

The keys, their defaults and the check of their values are in :mod:`trainkit.config.reference.keys`;
the schedule keys become ``param_scheduler`` entries in :mod:`trainkit.config.reference.schedule`.
The mapping of every key is in ``docs/reference_style.md``; :func:`explain_reference_keys`
lists what one config's section became (``tools/train.py --dry-run`` prints it).

Outside a ``trainer`` section, the shorthands ``save_dir``, ``grad_clip``, ``num_workers``
and ``max_epochs`` are accepted at the top level (without reference defaults).
"""
import copy
from typing import Any, Dict, List, Optional

from trainkit.config.reference.keys import MISSING as _MISSING
from trainkit.config.reference.keys import REFERENCE_DEFAULTS, TOP_LEVEL_SHORTHANDS, check_section
from trainkit.config.reference.schedule import expand_schedule
from trainkit.errors import ConfigError
from trainkit.registry import LOSSES, OPTIMIZERS, lookup


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


class Expansion:
    """One ``trainer`` section being expanded into a canonical (plain-dict) config.

    ``notes`` records, line by line, what each trainer key became (for ``--dry-run``).
    """

    def __init__(self, cfg: Dict[str, Any], given: Dict[str, Any], use_defaults: bool):
        self.cfg, self.given, self.use_defaults = cfg, given, use_defaults
        self.notes: List[str] = []

    def value(self, key: str):
        """The trainer value, the reference default (if defaults apply), or ``_MISSING``."""
        if key in self.given:
            return self.given[key]
        return copy.deepcopy(REFERENCE_DEFAULTS[key]) if self.use_defaults else _MISSING

    def explicit(self, key: str) -> bool:
        return key in self.given

    def note(self, key: str, target: str, value=_MISSING, label: Optional[str] = None) -> None:
        value = self.value(key) if value is _MISSING else value
        how = '' if self.explicit(key) else ' (reference default)'
        self.notes.append(f'trainer.{label or key} = {value!r}{how} -> {target}')

    def kept(self, key: str, path: str) -> None:
        self.notes.append(f'trainer.{key}: reference default {self.value(key)!r} not used, '
                          f'{path} is set')

    @staticmethod
    def conflict(key: str, path: str, current, value) -> ConfigError:
        return ConfigError(f'trainer.{key}={value!r} conflicts with {path}={current!r}; set it '
                           f'in one place only (the trainer section or the canonical key)')

    def node(self, path: List[str], key: str) -> dict:
        """The dict that holds ``path[-1]``, created along the way where missing."""
        node = self.cfg
        for i, part in enumerate(path[:-1]):
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise ConfigError(f'{".".join(path[:i + 1])}: expected a dict to hold '
                                  f'trainer.{key}, got {node!r}')
        return node

    def set(self, path: List[str], key: str, value=_MISSING, same=_same, label=None) -> None:
        """Put a trainer value at ``path`` unless the canonical config already has one there.

        An explicit trainer value that differs from the canonical one is a conflict.
        """
        value = self.value(key) if value is _MISSING else value
        if value is _MISSING:
            return
        node, where = self.node(path, key), '.'.join(path)
        current = node.get(path[-1])
        if current is None or (where == 'resume' and current is False):
            node[path[-1]] = copy.deepcopy(value)
            self.note(key, where, value, label)
        elif same(current, value):
            self.note(key, where, value, label)
        elif self.explicit(key):
            raise self.conflict(label or key, where, current, value)
        else:
            self.kept(key, where)


# ------------------------------------------------------------------------------- pieces
def _plain_keys(exp: Expansion) -> None:
    for key in ('run_name', 'resume', 'ckpt_file', 'finetune_modules', 'seed'):
        exp.set([key], key)
    exp.set(['work_dir'], 'save_dir')
    exp.set(['train_cfg', 'max_epochs'], 'max_epochs')
    for loader in ('train_dataloader', 'val_dataloader'):
        if isinstance(exp.cfg.get(loader), dict):
            exp.set([loader, 'num_workers'], 'num_workers')


def _same_loss_fn(a, b) -> bool:
    try:
        return lookup(LOSSES, a) is lookup(LOSSES, b)
    except ConfigError:
        return str(a).lower() == str(b).lower()


def _same_weights(a, b) -> bool:
    try:
        return dict(a).keys() == dict(b).keys() and all(
            float(a[k]) == float(b[k]) for k in a)
    except (TypeError, ValueError):
        return a == b


def _loss(exp: Expansion) -> None:
    lossfn, weights = exp.value('lossfn'), exp.value('losses_weight')
    current = exp.cfg.get('loss')
    if current is not None:
        if isinstance(current, dict) and current.get('type', 'WeightedLoss') == 'WeightedLoss':
            exp.set(['loss', 'lossfn'], 'lossfn', same=_same_loss_fn)
            if weights is not None:
                exp.set(['loss', 'losses_weight'], 'losses_weight', same=_same_weights)
            return
        for key in ('lossfn', 'losses_weight'):
            if exp.explicit(key):
                raise exp.conflict(key, 'loss', current, exp.value(key))
        return
    if weights in (_MISSING, None):
        if exp.explicit('lossfn'):
            raise ConfigError(f'trainer.lossfn={lossfn!r} needs trainer.losses_weight, e.g. '
                              f'losses_weight: {{energy: 1.0, forces: 1000.0}}')
        return
    exp.cfg['loss'] = dict(type='WeightedLoss', lossfn=lossfn, losses_weight=dict(weights))
    exp.note('lossfn', 'loss.lossfn (WeightedLoss)')
    exp.note('losses_weight', 'loss.losses_weight')


def _same_optimizer(a, b) -> bool:
    try:
        return lookup(OPTIMIZERS, a) is lookup(OPTIMIZERS, b)
    except ConfigError:
        return str(a).lower() == str(b).lower()


def _optimizer(exp: Expansion) -> None:
    kwargs = exp.value('optimizer_kwargs')
    kwargs = {} if kwargs in (_MISSING, None) else dict(kwargs)
    if 'lr' in kwargs:
        raise ConfigError(f'trainer.optimizer_kwargs.lr={kwargs["lr"]!r}: the learning rate is '
                          f'trainer.max_lr (default 5e-4); set max_lr instead')
    if exp.value('optimizer') is _MISSING and not kwargs and not exp.explicit('max_lr'):
        return
    wrapper = exp.node(['optim_wrapper', 'optimizer'], 'optimizer')
    if isinstance(wrapper.get('optimizer'), str):
        wrapper['optimizer'] = dict(type=wrapper['optimizer'])
    if exp.explicit('optimizer_kwargs') and wrapper.get('optimizer_kwargs'):
        raise exp.conflict('optimizer_kwargs', 'optim_wrapper.optimizer_kwargs',
                           wrapper['optimizer_kwargs'], kwargs)
    exp.set(['optim_wrapper', 'optimizer', 'type'], 'optimizer', same=_same_optimizer)
    exp.set(['optim_wrapper', 'optimizer', 'lr'], 'max_lr')
    for name, value in kwargs.items():
        exp.set(['optim_wrapper', 'optimizer', name], 'optimizer_kwargs', value,
                label=f'optimizer_kwargs.{name}')


def _grad_clip(exp: Expansion) -> None:
    value = exp.value('grad_clip')
    if value is _MISSING:
        return
    wrapper = exp.cfg.get('optim_wrapper')
    clip = wrapper.get('clip_grad') if isinstance(wrapper, dict) else None
    if value is None:
        if clip is not None and exp.explicit('grad_clip'):
            raise exp.conflict('grad_clip', 'optim_wrapper.clip_grad', clip, None)
        if clip is None:
            exp.note('grad_clip', 'no gradient clipping')
        return
    if isinstance(clip, dict) and clip.get('type', 'norm') != 'norm':
        if exp.explicit('grad_clip'):
            raise exp.conflict('grad_clip', 'optim_wrapper.clip_grad', clip, value)
        return
    exp.set(['optim_wrapper', 'clip_grad', 'max_norm'], 'grad_clip')


# -------------------------------------------------------------------------------- hooks
def _hook(exp: Expansion, name: str, hook_type: str, field: str, key: str) -> None:
    value = exp.value(key)
    if value is _MISSING:
        return
    hooks = exp.node(['default_hooks', name], key)
    if name not in hooks:
        hooks[name] = {'type': hook_type}
    elif hooks[name] is None:  # the canonical config turned the hook off
        if exp.explicit(key):
            raise exp.conflict(key, f'default_hooks.{name}', None, value)
        exp.kept(key, f'default_hooks.{name}')
        return
    exp.set(['default_hooks', name, field], key)


def _ema(exp: Expansion) -> None:
    decay = exp.value('ema_decay')
    if decay is _MISSING:
        return
    if decay is not None:
        _hook(exp, 'ema', 'EMAHook', 'ema_decay', 'ema_decay')
        return
    current = (exp.cfg.get('default_hooks') or {}).get('ema')
    if current is not None and current.get('ema_decay', 0.995) is not None:
        if exp.explicit('ema_decay'):
            raise exp.conflict('ema_decay', 'default_hooks.ema.ema_decay',
                               current.get('ema_decay', 0.995), None)
        exp.kept('ema_decay', 'default_hooks.ema')
    else:
        exp.note('ema_decay', 'no EMA')


def _early_stopping(exp: Expansion) -> None:
    stoppings, mode = exp.value('early_stoppings'), exp.value('early_stopping_mode')
    mode = mode.lower() if isinstance(mode, str) else mode
    custom = exp.cfg.get('custom_hooks') or []
    existing = [h for h in custom if isinstance(h, dict) and h.get('type') == 'EarlyStoppingHook']
    if existing:
        hook = existing[0]
        if exp.explicit('early_stoppings') and hook.get('early_stoppings') != stoppings:
            raise exp.conflict('early_stoppings', 'custom_hooks[EarlyStoppingHook]'
                               '.early_stoppings', hook.get('early_stoppings'), stoppings)
        if exp.explicit('early_stopping_mode') and hook.get('early_stopping_mode',
                                                            'and') != mode:
            raise exp.conflict('early_stopping_mode', 'custom_hooks[EarlyStoppingHook]'
                               '.early_stopping_mode', hook.get('early_stopping_mode', 'and'),
                               mode)
        return
    if stoppings in (None, _MISSING):
        return
    custom.append(dict(type='EarlyStoppingHook', early_stoppings=copy.deepcopy(stoppings),
                       early_stopping_mode='and' if mode is _MISSING else mode))
    exp.cfg['custom_hooks'] = custom
    exp.note('early_stoppings', 'custom_hooks: EarlyStoppingHook.early_stoppings')
    exp.note('early_stopping_mode', 'EarlyStoppingHook.early_stopping_mode',
             'and' if mode is _MISSING else mode)


def _hooks(exp: Expansion) -> None:
    _ema(exp)
    _hook(exp, 'checkpoint', 'CheckpointHook', 'best_k', 'best_k')
    for field in ('log_file', 'log_steps', 'log_epochs'):
        _hook(exp, 'logger', 'LoggerHook', field, field)
    _early_stopping(exp)


# --------------------------------------------------------------------------------- entry
def _section(cfg: Dict[str, Any]):
    section = cfg.pop('trainer', None)
    if section is not None and not isinstance(section, dict):
        raise ConfigError(f'trainer: expected a mapping of reference keys, got {section!r}')
    given = dict(section or {})
    for key in TOP_LEVEL_SHORTHANDS:
        if key in cfg:
            value = cfg.pop(key)
            if key in given and not _same(given[key], value):
                raise ConfigError(f'{key}={value!r} (top level) conflicts with trainer.{key}='
                                  f'{given[key]!r}; set it in one place only')
            given[key] = value
    return section, given


def _check_names(exp: Expansion) -> None:
    """Resolve the loss and optimizer names now, so an error names the trainer key."""
    for key, registry in (('lossfn', LOSSES), ('optimizer', OPTIMIZERS)):
        if exp.explicit(key):
            lookup(registry, exp.given[key], f'trainer.{key}')


def _expand(cfg: Dict[str, Any]) -> Expansion:
    cfg = copy.deepcopy(dict(cfg))
    section, given = _section(cfg)
    exp = Expansion(cfg, check_section(given) if given else {},
                    use_defaults=section is not None)
    if section is None and not given:
        return exp
    _check_names(exp)
    _plain_keys(exp)
    _loss(exp)
    _optimizer(exp)
    _grad_clip(exp)
    expand_schedule(exp)
    _hooks(exp)
    return exp


def expand_reference_keys(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Return ``cfg`` with its ``trainer`` section and shorthands expanded (not in place).

    Raises:
        ConfigError: an unknown trainer key, a value of the wrong type, an unknown alias, or
            a trainer key that conflicts with a canonical key (the message names both).
    """
    return _expand(cfg).cfg


def explain_reference_keys(cfg: Dict[str, Any]) -> List[str]:
    """One line per trainer key: its value (given or reference default) and what it became."""
    return _expand(cfg).notes
