"""Checks run once before the first trial, so that bad search input costs no trial.

::

    max_epochs = check_before_trials(base_cfg, settings)

1. every categorical choice and both ends of every range, set into the config one at a time,
   pass the config validation (a wrong value names the search entry that gives it);
2. the config with the first values builds into a Runner (data, model, optimizer: nothing is
   trained or written), and ``search.metric`` is one of its validation metrics (None picks
   ``weighted_mae`` when validation has it, else ``loss``);
3. a metric weighted by ``loss.losses_weight`` is not used to rank trials that vary those
   weights.
"""
from typing import Any, Dict, List

from trainkit.engine.from_cfg import prepare_config
from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError
from trainkit.tuning.settings import SearchSettings
from trainkit.tuning.space import grid_points
from trainkit.tuning.trial import trial_config, trial_seed
from trainkit.utils.checks import expect_metric


def _probe_values(settings: SearchSettings) -> List[Dict[str, Any]]:
    """One-entry overrides covering every choice and the ends of every range."""
    if settings.is_grid:
        return grid_points(settings.space)
    probes = []
    for key, spec in settings.space.items():
        values = spec['choices'] if spec['type'] == 'categorical' else (spec['low'], spec['high'])
        probes += [{key: value} for value in values]
    return probes


def check_before_trials(base_cfg, settings: SearchSettings, work_dir: str) -> int:
    """Run the checks; fill in ``settings.metric`` and return the epochs a trial runs."""
    seed = trial_seed(base_cfg, settings)
    for params in _probe_values(settings):
        try:
            prepare_config(trial_config(base_cfg, params, work_dir, settings.epochs_per_trial,
                                        seed))
        except ConfigError as err:
            raise ConfigError(f'search.space gives {params}: {err}') from err
    first = _probe_values(settings)[0]
    runner = Runner.from_cfg(trial_config(base_cfg, first, work_dir, settings.epochs_per_trial,
                                          seed), hooks=[])
    names = runner.metric_names()
    if runner.val_dataloader is None:
        raise ConfigError('search: the config has no val_dataloader; a search ranks trials by '
                          'a validation metric')
    if settings.metric is None:
        settings.metric = 'weighted_mae' if names and 'weighted_mae' in names else 'loss'
    expect_metric(settings.metric, names, 'search.metric')
    _check_metric_scale(settings)
    return runner.max_epochs


def _check_metric_scale(settings: SearchSettings) -> None:
    """The weighted error and the loss are sums weighted by ``loss.losses_weight``: with the
    weights searched, trials would be ranked on different scales (a forces weight of 1000
    'loses' to 10 whatever the model does)."""
    weights = [key for key in settings.space if key.startswith('loss.losses_weight')]
    if weights and (settings.metric == 'loss' or settings.metric.startswith('weighted_')):
        raise ConfigError(
            f'search.metric {settings.metric!r} is weighted by loss.losses_weight, which the '
            f'search varies ({", ".join(weights)}): trials would be compared on different '
            f'scales. Rank them by an unweighted metric such as \'forces_mae\' or '
            f'\'energy_mae\', or keep the weights fixed')
