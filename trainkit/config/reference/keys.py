"""The reference trainer's keys: their defaults and kinds, and the check of a ``trainer``
section (unknown keys with suggestions, value types and ranges), before it is expanded by
:mod:`trainkit.config.reference.expand`.

Example::

    check_section({'max_lr': '5e-4', 'best_k': 0})
    # ConfigError: trainer.best_k: expected a value >= 1, got 0
"""
from typing import Any, Dict, Optional

from trainkit.errors import ConfigError
from trainkit.hooks.early_stopping import EARLY_STOPPING_MODES
from trainkit.optim.ema import check_ema_decay
from trainkit.utils.checks import expect_choice, is_number
from trainkit.utils.suggest import did_you_mean

# key: (reference default, kind); a kind ending in '?' also accepts None. ``resume`` also takes a
# checkpoint path, as the canonical key and ``--resume CKPT`` do.
REFERENCE_KEYS: Dict[str, tuple] = {
    'run_name': ('xequinet', 'str'), 'resume': (False, 'flag'), 'ckpt_file': (None, 'str?'),
    'finetune_modules': (None, 'names?'),
    'lossfn': ('smoothl1', 'str'), 'losses_weight': (None, 'dict?'),
    'optimizer': ('AdamW', 'str'), 'optimizer_kwargs': ({}, 'dict?'),
    'max_lr': (5e-4, 'number'), 'min_lr': (0.0, 'number'),
    'warmup_scheduler': ('linear', 'str?'), 'warmup_epochs': (10, 'number?'),
    'lr_scheduler': ('cosine_annealing', 'str?'), 'lr_scheduler_kwargs': ({}, 'dict?'),
    'early_stoppings': (None, 'dict?'), 'early_stopping_mode': ('and', 'str'),
    'ema_decay': (0.995, 'number?'),
    'save_dir': ('./', 'str'), 'best_k': (1, 'int'), 'log_file': ('loss.log', 'str'),
    'log_steps': (50, 'int'), 'log_epochs': (1, 'int'),
    'max_epochs': (300, 'int'), 'grad_clip': (None, 'number?'), 'seed': (None, 'int?'),
    'num_workers': (0, 'int'),
}
REFERENCE_DEFAULTS: Dict[str, Any] = {k: v[0] for k, v in REFERENCE_KEYS.items()}
_LOWEST = {'best_k': 1, 'log_steps': 1, 'log_epochs': 1, 'max_epochs': 1, 'num_workers': 0,
           'max_lr': 0, 'min_lr': 0, 'warmup_epochs': 0}
TOP_LEVEL_SHORTHANDS = ('save_dir', 'grad_clip', 'num_workers', 'max_epochs')
MISSING = object()  # a key neither written nor defaulted


def _kind_problem(key: str, value, kind: str) -> Optional[str]:
    if value is None:
        return None if kind.endswith('?') else f'trainer.{key}: expected a value, got null'
    base = kind.rstrip('?')
    ok = {
        'str': isinstance(value, str),
        'bool': isinstance(value, bool),
        'flag': isinstance(value, bool) or isinstance(value, str) and bool(value),
        'int': isinstance(value, int) and not isinstance(value, bool),
        'number': isinstance(value, (int, float)) and not isinstance(value, bool),
        'dict': isinstance(value, dict),
        'names': isinstance(value, str) or isinstance(value, (list, tuple)) and all(
            isinstance(v, str) for v in value),
    }[base]
    if not ok:
        expected = {'names': 'a list of name keywords', 'dict': 'a mapping',
                    'number': 'a number', 'int': 'an int', 'str': 'a string',
                    'bool': 'true or false',
                    'flag': 'true, false or a checkpoint path'}[base]
        return f'trainer.{key}: expected {expected}, got {value!r} ({type(value).__name__})'
    if key in _LOWEST and value < _LOWEST[key]:
        return f'trainer.{key}: expected a value >= {_LOWEST[key]}, got {value!r}'
    return None


def _coerce(key: str, value):
    """YAML 1.1 reads ``5e-4`` as a string and ``10.0`` epochs may be meant as an int."""
    kind = REFERENCE_KEYS[key][1].rstrip('?')
    if isinstance(value, str) and kind in ('number', 'int'):
        try:
            value = float(value)
        except ValueError:
            return value
    if kind == 'int' and isinstance(value, float) and value.is_integer():
        value = int(value)
    return value


def check_section(given: Dict[str, Any]) -> Dict[str, Any]:
    """Check the keys and value types of a ``trainer`` section; return it cleaned."""
    problems, clean = [], {}
    for key, value in given.items():
        if key not in REFERENCE_KEYS:
            problems.append(f'trainer: unknown key {key!r}{did_you_mean(key, REFERENCE_KEYS)}; '
                            f'the reference keys are listed in docs/reference_style.md')
            continue
        value = _coerce(key, value)
        problem = _kind_problem(key, value, REFERENCE_KEYS[key][1])
        if problem:
            problems.append(problem)
        clean[key] = value
    decay = clean.get('ema_decay')
    mode = clean.get('early_stopping_mode')
    for check in ((lambda: check_ema_decay(decay, 'trainer.ema_decay')) if is_number(decay)
                  else None,
                  (lambda: expect_choice(mode.lower(), EARLY_STOPPING_MODES,
                                         'trainer.early_stopping_mode',
                                         "'and': every criterion, 'or': any criterion"))
                  if isinstance(mode, str) else None):
        try:
            check and check()
        except ConfigError as err:
            problems.extend(err.problems)
    if isinstance(clean.get('grad_clip'), (int, float)) and clean['grad_clip'] <= 0:
        problems.append(f'trainer.grad_clip: expected a number > 0 or null (no clipping), got '
                        f'{clean["grad_clip"]!r}')
    if problems:
        raise ConfigError(problems)
    return clean
