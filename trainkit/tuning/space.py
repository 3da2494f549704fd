"""The search space: dotted ``--cfg-options`` key paths, each with a distribution.

Config example::

    search = dict(space={
        'optim_wrapper.optimizer.lr': dict(type='float', low=1e-4, high=1e-2, log=True),
        'loss.losses_weight.forces': dict(type='categorical', choices=[10, 100, 1000]),
        'model.num_features': dict(type='int', low=32, high=128, step=32)})

:func:`check_space` checks every entry and every key path against the loaded config before
the first trial: all containers on the path must exist (did-you-mean on a typo), and a last
key that is new must not look like a misspelt existing one.
"""
from typing import Any, Dict, List

from trainkit.errors import ConfigError
from trainkit.utils.checks import expect_bool, expect_choice, expect_number
from trainkit.utils.suggest import close_matches, did_you_mean, unknown_keys

KINDS = ('float', 'int', 'categorical')
KEYS = {'float': ('type', 'low', 'high', 'log', 'step'), 'int': ('type', 'low', 'high', 'log',
        'step'), 'categorical': ('type', 'choices')}


def check_key_path(cfg, key: str) -> None:
    """Raise a ConfigError when ``key`` (``a.b.0.c``) does not lead into ``cfg``."""
    node, parts = cfg, key.split('.')
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = '.'.join(parts[:depth + 1])
        if isinstance(node, (list, tuple)):
            if not part.lstrip('-').isdigit() or not -len(node) <= int(part) < len(node):
                raise ConfigError(f'search.space {key!r}: {where!r} indexes a list of '
                                  f'{len(node)} items; use a number 0..{len(node) - 1}')
            node = node[int(part)]
        elif isinstance(node, dict):
            if part in node:
                node = node[part]
                continue
            near = close_matches(part, list(node), n=2)
            if not last or near:
                raise ConfigError(f'search.space {key!r}: {where!r} is not in the config'
                                  f'{did_you_mean(part, list(node))}')
        else:
            raise ConfigError(f'search.space {key!r}: cannot go into {part!r}: the value '
                              f'before it is {node!r}, not a dict or list')


def check_param(key: str, spec: Any) -> None:
    """Check one distribution ``dict(type=..., ...)``."""
    where = f'search.space.{key!r}'
    if not isinstance(spec, dict):
        raise ConfigError(f'{where}: expected a dict like dict(type="float", low=1e-4, '
                          f'high=1e-2, log=True), got {spec!r}')
    expect_choice(spec.get('type'), KINDS, f'{where}.type')
    allowed = KEYS[spec['type']]
    problems = unknown_keys(spec, allowed, where)
    if problems:
        raise ConfigError(problems)
    if spec['type'] == 'categorical':
        choices = spec.get('choices')
        if not isinstance(choices, (list, tuple)) or not choices:
            raise ConfigError(f'{where}.choices: expected a non-empty list, got {choices!r}')
        for choice in choices:
            if choice is not None and not isinstance(choice, (str, int, float, bool)):
                raise ConfigError(f'{where}.choices: {choice!r} cannot be stored in a study; '
                                  f'choices are numbers, strings, booleans or None')
        return
    for name in ('low', 'high'):
        expect_number(spec.get(name), f'{where}.{name}')
    expect_number(spec['high'], f'{where}.high', above=spec['low'])
    expect_bool(spec.get('log', False), f'{where}.log')
    if spec.get('log'):
        expect_number(spec['low'], f'{where}.low', above=0, hint='a log scale needs low > 0')
    expect_number(spec.get('step'), f'{where}.step', above=0, allow_none=True)
    if spec.get('log') and spec.get('step') is not None:
        raise ConfigError(f'{where}: log=True and step=... cannot be combined; drop one')
    if spec['type'] == 'int':
        for name in ('low', 'high', 'step'):
            if spec.get(name) is not None and not isinstance(spec[name], int):
                raise ConfigError(f'{where}.{name}: an int range needs int bounds, got '
                                  f'{spec[name]!r}; use type="float" for real values')


def grid_values(key: str, spec: Dict) -> List:
    """The finite values a grid search visits for one entry."""
    if spec['type'] == 'categorical':
        return list(spec['choices'])
    step = spec.get('step') or (1 if spec['type'] == 'int' else None)
    if step is None:
        raise ConfigError(f'search.space.{key!r}: a grid needs a finite set of values; give '
                          f'step=... or use type="categorical" with choices=[...]')
    count = int((spec['high'] - spec['low']) / step + 1e-9) + 1
    values = [spec['low'] + i * step for i in range(count)]
    return [int(v) for v in values] if spec['type'] == 'int' else values


def check_space(cfg, space: Any) -> None:
    """Check the whole ``search.space`` against the loaded config ``cfg``."""
    if not isinstance(space, dict) or not space:
        raise ConfigError(f'search.space: expected a non-empty dict of dotted config paths to '
                          f'distributions, got {space!r}')
    for key, spec in space.items():
        check_key_path(cfg, key)
        check_param(key, spec)


def grid_points(space: Dict) -> List[Dict[str, Any]]:
    """Every point of the grid, in the order written (the last key varies fastest)."""
    points = [{}]
    for key, spec in space.items():
        points = [dict(point, **{key: value}) for point in points
                  for value in grid_values(key, spec)]
    return points


def grid_size(space: Dict) -> int:
    size = 1
    for key, spec in space.items():
        size *= len(grid_values(key, spec))
    return size


def suggest(trial, space: Dict) -> Dict[str, Any]:
    """Ask an Optuna trial for one value of every entry; the parameter names are the dotted
    config paths."""
    params = {}
    for key, spec in space.items():
        if spec['type'] == 'categorical':
            params[key] = trial.suggest_categorical(key, list(spec['choices']))
        else:
            suggest_number = trial.suggest_float if spec['type'] == 'float' else trial.suggest_int
            step = spec.get('step') or (1 if spec['type'] == 'int' else None)
            params[key] = suggest_number(key, spec['low'], spec['high'], step=step,
                                         log=spec.get('log', False))
    return params
