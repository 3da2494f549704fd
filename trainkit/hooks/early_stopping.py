"""EarlyStoppingHook: stop when validation errors stall or get good enough (reference rules)."""
from typing import Any, Dict, List, Optional

from trainkit.errors import ConfigError
from trainkit.hooks.hook import Hook
from trainkit.registry import HOOKS
from trainkit.utils.checks import expect_choice, expect_int, expect_metric, expect_number
from trainkit.utils.suggest import did_you_mean

CRITERION_KEYS = ('metric', 'patience', 'threshold', 'lower_bound')
METRIC_KINDS = ('mae', 'rmse', 'per_atom_mae', 'per_atom_rmse')
EARLY_STOPPING_MODES = ('and', 'or')


class Criterion:
    """One target's rule: satisfied when its metric has not improved by more than
    ``threshold`` for ``patience`` validations, or is below ``lower_bound``."""

    def __init__(self, target: str, metric: str = 'mae', patience: Optional[int] = None,
                 threshold: float = 0.0, lower_bound: Optional[float] = None):
        where = f'EarlyStoppingHook.early_stoppings.{target}'
        if metric not in METRIC_KINDS:
            raise ConfigError(f'{where}.metric: {metric!r} is not one of {METRIC_KINDS}'
                              f'{did_you_mean(metric, METRIC_KINDS)}')
        expect_int(patience, f'{where}.patience', at_least=1, allow_none=True)
        expect_number(threshold, f'{where}.threshold', at_least=0)
        if patience is None and lower_bound is None:
            raise ConfigError(f'{where}: give patience, lower_bound or both; with neither the '
                              f'criterion can never be met')
        self.target, self.metric = target, metric
        self.patience, self.threshold, self.lower_bound = patience, threshold, lower_bound
        self.best: Optional[float] = None
        self.wait = 0

    @property
    def key(self) -> str:
        return f'{self.target}_{self.metric}'

    def update(self, value: float) -> Optional[str]:
        """Feed one validation value; return why the criterion is met, or None."""
        if self.best is None or self.best - value > self.threshold:
            self.best, self.wait = value, 0
        else:
            self.wait += 1
        if self.lower_bound is not None and value < self.lower_bound:
            return f'{self.key} {value:.6g} < lower_bound {self.lower_bound:g}'
        if self.patience is not None and self.wait >= self.patience:
            return (f'{self.key} has not improved by more than {self.threshold:g} for '
                    f'{self.wait} validations (best {self.best:.6g})')
        return None


@HOOKS.register_module()
class EarlyStoppingHook(Hook):
    """Multi-criteria early stopping, as the reference trainer defines it.

    Args:
        early_stoppings: ``{target: dict(metric='mae'|'rmse', patience=N, threshold=0.0,
            lower_bound=None)}``; the metric read is ``{target}_{metric}`` from validation.
        early_stopping_mode: ``'and'`` stops when every criterion is met, ``'or'`` when any is.
            Defaults to ``'and'``.

    Config example::

        custom_hooks = [dict(type='EarlyStoppingHook', early_stopping_mode='and',
                             early_stoppings=dict(
                                 energy=dict(metric='mae', patience=50, lower_bound=0.043),
                                 forces=dict(metric='rmse', patience=50, threshold=0.001)))]
    """

    priority = 'NORMAL'

    def __init__(self, early_stoppings: Dict[str, Dict[str, Any]],
                 early_stopping_mode: str = 'and'):
        if not isinstance(early_stoppings, dict) or not early_stoppings:
            raise ConfigError(f'EarlyStoppingHook.early_stoppings: expected a non-empty dict '
                              f'{{target: dict(metric=..., patience=...)}}, got '
                              f'{early_stoppings!r}')
        expect_choice(early_stopping_mode, EARLY_STOPPING_MODES,
                      'EarlyStoppingHook.early_stopping_mode',
                      "'and': every criterion, 'or': any criterion")
        self.mode = early_stopping_mode
        self.criteria: List[Criterion] = []
        for target, spec in early_stoppings.items():
            spec = dict(spec or {})
            for key in spec:
                if key not in CRITERION_KEYS:
                    raise ConfigError(f'EarlyStoppingHook.early_stoppings.{target}: unknown key '
                                      f'{key!r}{did_you_mean(key, CRITERION_KEYS)}')
            self.criteria.append(Criterion(target, **spec))

    def check_monitors(self, names) -> None:
        """A target or metric that validation will not produce is reported before training,
        not after the first epoch."""
        for criterion in self.criteria:
            expect_metric(criterion.key, names,
                          f'EarlyStoppingHook.early_stoppings.{criterion.target}')

    def before_run(self, runner) -> None:
        self.check_monitors(runner.metric_names())

    def after_train_epoch(self, runner) -> None:
        metrics = runner.val_metrics
        if metrics is None:
            return
        reasons = []
        for criterion in self.criteria:
            expect_metric(criterion.key, metrics, f'EarlyStoppingHook.early_stoppings.'
                                                  f'{criterion.target}')
            reasons.append(criterion.update(metrics[criterion.key]))
        met = [r for r in reasons if r]
        if (self.mode == 'and' and len(met) == len(reasons)) or (self.mode == 'or' and met):
            runner.request_stop(f'early stopping ({self.mode}): ' + '; '.join(met))

    def state_dict(self) -> Dict[str, Any]:
        return {c.target: {'best': c.best, 'wait': c.wait} for c in self.criteria}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for criterion in self.criteria:
            saved = state.get(criterion.target)
            if saved is not None:
                criterion.best, criterion.wait = saved['best'], int(saved['wait'])
