"""EarlyStoppingHook: stop when validation errors stall or get good enough (reference rules),
or when one monitored metric stalls (MMEngine's single-metric form)."""
import math
from typing import Any, Dict, List, Optional

from trainkit.errors import ConfigError
from trainkit.hooks.hook import Hook
from trainkit.registry import HOOKS
from trainkit.utils.checks import (
    expect_bool,
    expect_choice,
    expect_int,
    expect_metric,
    expect_number,
)
from trainkit.utils.suggest import did_you_mean

CRITERION_KEYS = ('metric', 'patience', 'threshold', 'lower_bound')
METRIC_KINDS = ('mae', 'rmse', 'per_atom_mae', 'per_atom_rmse')
EARLY_STOPPING_MODES = ('and', 'or')
# MMEngine's guesses of the direction from a metric's name (used only when rule is None)
GREATER_KEYS = ('acc', 'top', 'ar@', 'auc', 'precision', 'map', 'mdice', 'miou', 'macc', 'aacc')
LESS_KEYS = ('loss',)


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


class MonitorRule:
    """MMEngine's ``EarlyStoppingHook(monitor, rule, min_delta, patience, ...)``: met when
    ``monitor`` has not improved by more than ``min_delta`` for ``patience`` validations,
    crosses ``stopping_threshold``, or (``check_finite``) is NaN/inf."""

    def __init__(self, monitor: str, rule: Optional[str], min_delta: float, patience: int,
                 stopping_threshold: Optional[float], check_finite: bool):
        where = 'EarlyStoppingHook'
        if not isinstance(monitor, str) or not monitor:
            raise ConfigError(f'{where}.monitor: expected a metric name, got {monitor!r}')
        if rule is None:
            rule = self.guess_rule(monitor)
        expect_choice(rule, ('greater', 'less'), f'{where}.rule')
        expect_number(min_delta, f'{where}.min_delta', at_least=0)
        expect_int(patience, f'{where}.patience', at_least=1)
        expect_number(stopping_threshold, f'{where}.stopping_threshold', allow_none=True)
        self.key, self.rule, self.min_delta, self.patience = monitor, rule, min_delta, patience
        self.threshold, self.check_finite = stopping_threshold, check_finite
        self.best: Optional[float] = None
        self.wait = 0

    @staticmethod
    def guess_rule(monitor: str) -> str:
        """The direction MMEngine infers from the name; an error when it cannot."""
        low = monitor.lower()
        for keys, rule in ((GREATER_KEYS, 'greater'), (LESS_KEYS, 'less')):
            if low in keys or any(key in low for key in keys):
                return rule
        raise ConfigError(f"EarlyStoppingHook.rule: cannot tell from {monitor!r} whether less "
                          f"or greater is better; give rule='less' or rule='greater'")

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.rule == 'greater' else a < b

    def update(self, value: float) -> Optional[str]:
        if self.check_finite and not math.isfinite(value):
            return f'{self.key} = {value} is not finite (best {self.best})'
        if self.threshold is not None and self._better(value, self.threshold):
            self.best = value
            return f'{self.key} {value:.6g} is {self.rule} than {self.threshold:g}'
        delta = self.min_delta if self.rule == 'greater' else -self.min_delta
        # as MMEngine: stalled when best ± min_delta is still better than the value
        if self.best is not None and self._better(self.best + delta, value):
            self.wait += 1
            if self.wait >= self.patience:
                return (f'{self.key} has not improved by more than {self.min_delta:g} for '
                        f'{self.wait} validations (best {self.best:.6g})')
        else:
            self.best, self.wait = value, 0
        return None


@HOOKS.register_module()
class EarlyStoppingHook(Hook):
    """Multi-criteria early stopping, as the reference trainer defines it.

    Args:
        early_stoppings: ``{target: dict(metric='mae'|'rmse', patience=N, threshold=0.0,
            lower_bound=None)}``; the metric read is ``{target}_{metric}`` from validation.
        early_stopping_mode: ``'and'`` stops when every criterion is met, ``'or'`` when any is.
            Defaults to ``'and'``.

        monitor: MMEngine's single-metric form instead: the validation metric watched (give
            this or ``early_stoppings``). Defaults to None.
        rule: with ``monitor``: ``'less'`` or ``'greater'`` is better; None guesses it from the
            name as MMEngine does (``loss`` less; ``acc``, ``mAP``, ... greater), else an error.
            Defaults to None.
        min_delta: with ``monitor``: the improvement that resets the patience. Defaults to 0.1.
        patience: with ``monitor``: validations without such an improvement before stopping.
            Defaults to 5.
        stopping_threshold: with ``monitor``: stop as soon as the metric is better than this.
            Defaults to None.
        check_finite: with ``monitor``: stop when the metric is NaN or inf. Defaults to True.
        strict: MMEngine's switch for a missing metric; trainkit always checks the metric
            exists before training (both values accepted). Defaults to False.

    Config example::

        custom_hooks = [dict(type='EarlyStoppingHook', early_stopping_mode='and',
                             early_stoppings=dict(
                                 energy=dict(metric='mae', patience=50, lower_bound=0.043),
                                 forces=dict(metric='rmse', patience=50, threshold=0.001)))]
        custom_hooks = [dict(type='EarlyStoppingHook', monitor='loss', rule='less',
                             min_delta=0.0, patience=10)]                 # MMEngine's form
    """

    priority = 'NORMAL'

    def __init__(self, early_stoppings: Optional[Dict[str, Dict[str, Any]]] = None,
                 early_stopping_mode: str = 'and', monitor: Optional[str] = None,
                 rule: Optional[str] = None, min_delta: float = 0.1, patience: int = 5,
                 stopping_threshold: Optional[float] = None, check_finite: bool = True,
                 strict: bool = False):
        expect_bool(strict, 'EarlyStoppingHook.strict')
        if (monitor is None) == (early_stoppings is None):
            raise ConfigError('EarlyStoppingHook: give early_stoppings (trainkit\'s criteria '
                              'per target) or monitor (MMEngine\'s single metric), not '
                              f'{"both" if monitor is not None else "neither"}')
        self.mode = early_stopping_mode
        self.criteria: List[Any] = []
        if monitor is not None:
            self.criteria.append(MonitorRule(monitor, rule, min_delta, patience,
                                             stopping_threshold, check_finite))
            return
        given = [name for name, value, default in (
            ('rule', rule, None), ('min_delta', min_delta, 0.1), ('patience', patience, 5),
            ('stopping_threshold', stopping_threshold, None),
            ('check_finite', check_finite, True)) if value != default]
        if given:
            raise ConfigError(f'EarlyStoppingHook: {", ".join(given)} belong to the single-metric '
                              f'form (with monitor); with early_stoppings give them per target '
                              f'(patience, threshold, lower_bound)')
        if not isinstance(early_stoppings, dict) or not early_stoppings:
            raise ConfigError(f'EarlyStoppingHook.early_stoppings: expected a non-empty dict '
                              f'{{target: dict(metric=..., patience=...)}}, got '
                              f'{early_stoppings!r}')
        expect_choice(early_stopping_mode, EARLY_STOPPING_MODES,
                      'EarlyStoppingHook.early_stopping_mode',
                      "'and': every criterion, 'or': any criterion")
        self.mode = early_stopping_mode
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
            expect_metric(criterion.key, names, self._where(criterion))

    def before_run(self, runner) -> None:
        self.check_monitors(runner.metric_names())

    def after_train_epoch(self, runner) -> None:
        metrics = runner.val_metrics
        if metrics is None:
            return
        reasons = []
        for criterion in self.criteria:
            expect_metric(criterion.key, metrics, self._where(criterion))
            reasons.append(criterion.update(metrics[criterion.key]))
        met = [r for r in reasons if r]
        if (self.mode == 'and' and len(met) == len(reasons)) or (self.mode == 'or' and met):
            runner.request_stop(f'early stopping ({self.mode}): ' + '; '.join(met))

    @staticmethod
    def _where(criterion) -> str:
        if isinstance(criterion, MonitorRule):
            return 'EarlyStoppingHook.monitor'
        return f'EarlyStoppingHook.early_stoppings.{criterion.target}'

    @staticmethod
    def _state_key(criterion) -> str:
        return criterion.key if isinstance(criterion, MonitorRule) else criterion.target

    def state_dict(self) -> Dict[str, Any]:
        return {self._state_key(c): {'best': c.best, 'wait': c.wait} for c in self.criteria}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for criterion in self.criteria:
            saved = state.get(self._state_key(criterion))
            if saved is not None:
                criterion.best, criterion.wait = saved['best'], int(saved['wait'])
