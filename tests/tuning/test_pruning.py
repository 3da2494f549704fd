"""PruningHook on the tiny run with a stand-in trial: it reports the monitored value after
every validation, stops the run (after a finished epoch) when the trial should be pruned, and
flags a non-finite value."""
import pytest

from tests.support.configs import tiny_config
from trainkit.engine.from_cfg import prepare_config
from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError
from trainkit.hooks.build import list_hooks
from trainkit.tuning.pruning import PruningHook


class Trial:
    """Records what the hook reports; says 'prune' from epoch ``prune_at`` on."""

    number = 0

    def __init__(self, prune_at=None):
        self.reports, self.prune_at = [], prune_at

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return self.prune_at is not None and self.reports[-1][0] >= self.prune_at


def _train(tmp_path, trial, metric='weighted_mae', epochs=4):
    cfg = tiny_config(tmp_path, train_cfg=dict(max_epochs=epochs))
    hook = PruningHook(trial, metric)
    runner = Runner.from_cfg(cfg, hooks=list_hooks(prepare_config(cfg)) + [hook])
    runner.train()
    return runner, hook


def test_reports_every_validation_and_keeps_the_best(tmp_path):
    trial = Trial()
    runner, hook = _train(tmp_path, trial)
    assert [step for step, _ in trial.reports] == [1, 2, 3, 4]
    assert hook.history == trial.reports and not hook.pruned
    assert hook.best == min(trial.reports, key=lambda item: item[1])


def test_pruned_trial_stops_after_a_finished_epoch(tmp_path):
    runner, hook = _train(tmp_path, Trial(prune_at=2))
    assert hook.pruned and runner.epoch == 2
    assert 'pruned at epoch 2' in runner.stop_reason
    assert (tmp_path / 'tiny_last.pt').exists()


def test_unknown_metric_fails_before_training(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'weighted_mae'"):
        _train(tmp_path, Trial(), metric='weighted_ma')
    assert not (tmp_path / 'tiny_last.pt').exists()
