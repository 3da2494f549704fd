"""One trial: the base config with the trial's values set, trained as a normal run in
``{work_dir}/trials/{number}/``.

::

    cfg = trial_config(base_cfg, {'optim_wrapper.optimizer.lr': 3e-3}, 'work_dirs/s/trials/7',
                       epochs=10, seed=0)
    outcome = run_trial(trial, base_cfg, settings, search_work_dir)
    outcome.state, outcome.value, outcome.epochs

The trial's value is the best monitored validation value of the run (what its best checkpoint
holds); a run that raises (a crash, a NaN loss stopped by the NaN guard, a bad sampled value)
or whose monitored value is not finite is a failed trial, and the search goes on.
Ctrl-C and kills are not caught here: the search loop decides what happens to the trial.
"""
import copy
import os
import traceback
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from trainkit.config.load import apply_cfg_options
from trainkit.engine.from_cfg import prepare_config
from trainkit.engine.runner import Runner
from trainkit.hooks.build import list_hooks
from trainkit.tuning.pruning import PruningHook
from trainkit.tuning.settings import SearchSettings
from trainkit.tuning.space import suggest

TRIALS_DIR = 'trials'


def trial_dir(work_dir: str, number: int) -> str:
    return os.path.join(work_dir, TRIALS_DIR, str(number))


def trial_config(base_cfg, params: Dict[str, Any], work_dir: str,
                 epochs: Optional[int] = None, seed: Optional[int] = None):
    """A copy of ``base_cfg`` (an ``mmengine.Config``) with ``params`` set at their dotted
    paths, its own ``work_dir``, ``epochs`` (None keeps ``train_cfg.max_epochs``), a fixed
    ``seed`` (None keeps the config's), no resume and no ``search`` section: a config that
    ``tools/train.py`` runs as it is."""
    cfg = copy.deepcopy(base_cfg)
    options = [*params.items(), ('work_dir', work_dir), ('resume', False)]
    options += [('train_cfg.max_epochs', epochs)] if epochs is not None else []
    options += [('seed', seed)] if seed is not None else []
    apply_cfg_options(cfg, options)
    cfg.pop('search', None)
    return cfg


def trial_seed(base_cfg, settings: SearchSettings) -> int:
    """Every trial trains with the same seed: the config's, else the search's, else 0."""
    seed = base_cfg.get('seed')
    if seed is None:
        seed = settings.seed if settings.seed is not None else 0
    return seed


@dataclass
class TrialOutcome:
    """What one trial did: ``state`` is 'COMPLETE', 'PRUNED' or 'FAIL'."""

    state: str
    value: Optional[float] = None
    best_epoch: Optional[int] = None
    epochs: int = 0
    error: Optional[str] = None
    params: Dict[str, Any] = field(default_factory=dict)


def run_trial(trial, base_cfg, settings: SearchSettings, work_dir: str) -> TrialOutcome:
    """Train one trial (see the module docstring); the trial's parameters are suggested here."""
    params = suggest(trial, settings.space)
    folder = trial_dir(work_dir, trial.number)
    trial.set_user_attr('work_dir', folder)
    cfg = trial_config(base_cfg, params, folder, settings.epochs_per_trial,
                       trial_seed(base_cfg, settings))
    hook = PruningHook(trial, settings.metric, settings.direction)
    runner = None
    try:
        runner = Runner.from_cfg(cfg, hooks=list_hooks(prepare_config(cfg)) + [hook])
        runner.train()
    except Exception as err:  # noqa: BLE001 - any failure of a trial is recorded, not fatal
        detail = f'{type(err).__name__}: {err}'
        if not hasattr(err, 'exit_code'):  # not a user error: keep where it came from
            detail += '\n' + ''.join(traceback.format_exception(err)[-3:])
        return TrialOutcome('FAIL', epochs=runner.epoch if runner else 0, error=detail,
                            params=params)
    best = hook.best
    if hook.diverged or best is None:
        why = (f'{settings.metric} was {hook.history[-1][1]}' if hook.history else
               'no validation ran (check val_dataloader and train_cfg.val_interval)')
        return TrialOutcome('FAIL', epochs=runner.epoch, error=why, params=params)
    return TrialOutcome('PRUNED' if hook.pruned else 'COMPLETE', value=best[1],
                        best_epoch=best[0], epochs=runner.epoch, params=params)
