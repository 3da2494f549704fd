"""PruningHook: report the monitored validation value to an Optuna trial after every
validation, and stop the run when the study's pruner says the trial is not worth finishing.

``tools/search.py`` adds it to every trial (it holds a live Optuna trial, so it is not
something a config file names)::

    hook = PruningHook(trial, metric='weighted_mae', direction='minimize')
    runner = Runner.from_cfg(cfg, hooks=list_hooks(prepare_config(cfg)) + [hook])
    runner.train()
    hook.pruned, hook.best, hook.history      # what the trial did

A pruned run finishes its epoch (checkpoint included) through ``runner.request_stop``, so the
trial's folder holds a normal, resumable run. A non-finite validation value stops the run too
(``hook.diverged``): the trial counts as failed.
"""
import math
from typing import List, Optional, Tuple

from trainkit.hooks.hook import Hook
from trainkit.registry import HOOKS
from trainkit.utils.checks import expect_metric


@HOOKS.register_module()
class PruningHook(Hook):
    """Report ``metric`` after every validation to ``trial``; stop when it should be pruned.

    Args:
        trial: an ``optuna.Trial``.
        metric: the validation metric the search optimises (e.g. ``'weighted_mae'``).
        direction: ``'minimize'`` or ``'maximize'``: which value is the trial's best.

    Config example (from Python; a trial object cannot be written in a config file)::

        hooks = list_hooks(plain) + [dict(type='PruningHook', trial=trial, metric='loss')]
    """

    priority = 'LOW'

    def __init__(self, trial, metric: str, direction: str = 'minimize'):
        self.trial, self.metric, self.direction = trial, metric, direction
        self.history: List[Tuple[int, float]] = []   # (epoch, value) per validation
        self.pruned = self.diverged = False

    def before_run(self, runner) -> None:
        expect_metric(self.metric, runner.metric_names(), 'search.metric')

    def after_val_epoch(self, runner, metrics) -> None:
        expect_metric(self.metric, metrics, 'search.metric')
        epoch, value = runner.epoch + 1, float(metrics[self.metric])
        self.history.append((epoch, value))
        if not math.isfinite(value):
            self.diverged = True
            runner.request_stop(f'search: {self.metric} is {value} at epoch {epoch}')
            return
        self.trial.report(value, epoch)
        if self.trial.should_prune():
            self.pruned = True
            runner.request_stop(f'search: trial {self.trial.number} pruned at epoch {epoch} '
                                f'({self.metric} {value:.6g})')

    @property
    def best(self) -> Optional[Tuple[int, float]]:
        """(epoch, value) of the best validation so far, or None."""
        finite = [(e, v) for e, v in self.history if math.isfinite(v)]
        if not finite:
            return None
        pick = min if self.direction == 'minimize' else max
        return pick(finite, key=lambda item: item[1])
