"""The ``search`` section: what to optimise, how, and for how long; read and checked once.

Config example::

    search = dict(
        metric='weighted_mae', direction='minimize', n_trials=20,
        sampler='tpe',              # grid | random | tpe | gp, or dict(type='tpe', ...)
        pruner='hyperband',         # none | median | hyperband | successive_halving, or a dict
        space={'optim_wrapper.optimizer.lr': dict(type='float', low=1e-4, high=1e-2, log=True)},
        epochs_per_trial=None,      # None: train_cfg.max_epochs
        seed=None)                  # None: the config's seed (0 if that is None too)

:func:`read_search` checks every key (did-you-mean on a typo), the space against the config
(:mod:`trainkit.tuning.space`) and the sampler/pruner arguments against Optuna's signatures,
so that bad input is reported before the first trial.
"""
import inspect
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from trainkit.errors import ConfigError
from trainkit.tuning.space import check_space, grid_size
from trainkit.utils.checks import expect_choice, expect_int
from trainkit.utils.suggest import did_you_mean

SAMPLERS = {'grid': 'GridSampler', 'random': 'RandomSampler', 'tpe': 'TPESampler',
            'gp': 'GPSampler'}
PRUNERS = {'none': 'NopPruner', 'median': 'MedianPruner', 'hyperband': 'HyperbandPruner',
           'successive_halving': 'SuccessiveHalvingPruner'}
DIRECTIONS = ('minimize', 'maximize')
SEARCH_KEYS = ('space', 'metric', 'direction', 'n_trials', 'sampler', 'pruner',
               'epochs_per_trial', 'seed', 'study_name', 'heartbeat_interval')
# arguments trainkit sets itself: the seed, the search space, the number of epochs
MANAGED_ARGS = ('seed', 'search_space', 'max_resource')


@dataclass
class SearchSettings:
    """The checked ``search`` section (see the module docstring for the keys)."""

    space: Dict[str, Dict[str, Any]]
    metric: Optional[str] = None          # None: weighted_mae if validation has it, else loss
    direction: str = 'minimize'
    n_trials: Optional[int] = None        # None: the grid's size (grid sampler only)
    sampler: Dict[str, Any] = field(default_factory=lambda: {'type': 'tpe'})
    pruner: Dict[str, Any] = field(default_factory=lambda: {'type': 'none'})
    epochs_per_trial: Optional[int] = None
    seed: Optional[int] = None
    study_name: Optional[str] = None
    heartbeat_interval: int = 10          # s; a trial silent for 2x this counts as dead (RDB)

    @property
    def is_grid(self) -> bool:
        return self.sampler['type'] == 'grid'


def _component(value: Any, kinds: Dict[str, str], where: str) -> Dict[str, Any]:
    """``'tpe'`` or ``dict(type='tpe', **optuna_kwargs)`` -> a dict with ``type``; the kwargs
    are checked against the Optuna class's signature."""
    spec = dict(value) if isinstance(value, dict) else {'type': value}
    expect_choice(spec.get('type'), tuple(kinds), f'{where}.type' if isinstance(value, dict)
                  else where)
    import optuna
    module = optuna.samplers if kinds is SAMPLERS else optuna.pruners
    params = inspect.signature(getattr(module, kinds[spec['type']])).parameters
    allowed = [p for p in params if p not in MANAGED_ARGS]
    for key in spec:
        if key != 'type' and key not in allowed:
            managed = ' (trainkit sets it)' if key in MANAGED_ARGS else ''
            raise ConfigError(f'{where}: {kinds[spec["type"]]} has no argument {key!r}{managed}'
                              f'{did_you_mean(key, allowed)}; its arguments: '
                              f'{", ".join(allowed)}')
    return spec


def read_search(section: Any, cfg, n_trials: Optional[int] = None) -> SearchSettings:
    """Check the ``search`` section against the loaded config ``cfg``; ``n_trials`` (from the
    command line) overrides the section's."""
    if not isinstance(section, dict) or not section:
        raise ConfigError(f'search: expected a dict(space=..., n_trials=..., sampler=...), got '
                          f'{section!r}; give the section in the config or with --search FILE')
    for key in section:
        if key not in SEARCH_KEYS:
            raise ConfigError(f'search: unknown key {key!r}{did_you_mean(key, SEARCH_KEYS)}; '
                              f'the keys are {", ".join(SEARCH_KEYS)}')
    if 'space' not in section:
        raise ConfigError("search.space: missing; e.g. space={'optim_wrapper.optimizer.lr': "
                          "dict(type='float', low=1e-4, high=1e-2, log=True)}")
    check_space(cfg, section['space'])
    settings = SearchSettings(**{k: v for k, v in section.items()
                                 if k not in ('sampler', 'pruner')})
    settings.space = {key: dict(spec) for key, spec in section['space'].items()}
    settings.sampler = _component(section.get('sampler', 'tpe'), SAMPLERS, 'search.sampler')
    settings.pruner = _component(section.get('pruner', 'none'), PRUNERS, 'search.pruner')
    if settings.metric is not None and not isinstance(settings.metric, str):
        raise ConfigError(f'search.metric: expected a validation metric name such as '
                          f"'weighted_mae', got {settings.metric!r}")
    expect_choice(settings.direction, DIRECTIONS, 'search.direction')
    if n_trials is not None:
        settings.n_trials = n_trials
    expect_int(settings.n_trials, 'search.n_trials (or --n-trials)', at_least=1,
               allow_none=settings.is_grid,
               hint='how many trials to run in all (the grid sampler defaults to its size)')
    if settings.is_grid:
        size = grid_size(settings.space)
        settings.n_trials = min(settings.n_trials or size, size)
    expect_int(settings.epochs_per_trial, 'search.epochs_per_trial', at_least=1,
               allow_none=True)
    expect_int(settings.seed, 'search.seed', at_least=0, allow_none=True)
    expect_int(settings.heartbeat_interval, 'search.heartbeat_interval', at_least=1)
    if settings.study_name is not None and (not isinstance(settings.study_name, str) or
                                            not settings.study_name):
        raise ConfigError(f'search.study_name: expected a non-empty string, got '
                          f'{settings.study_name!r}')
    return settings
