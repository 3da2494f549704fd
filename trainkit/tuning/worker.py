"""A search worker: take a queued trial, run it, record it; until the queue is empty.

::

    n = work(study, base_cfg, settings, 'work_dirs/s', resume=False)

Every ``tools/search.py`` process is one worker. While other workers' trials still run, a
worker with nothing left to take waits, so that a trial whose worker died (its heartbeat
stopped) is queued again and run here. Ctrl-C or SIGTERM fails the running trial as
interrupted, queues it again with the same values and stops; ``--resume`` then runs it anew
(finished trials are never repeated).
"""
import time
from typing import Callable

from trainkit.tuning.settings import SearchSettings
from trainkit.tuning.study import (
    Heartbeat,
    fail_dead_trials,
    has_heartbeat,
    requeue,
    running,
    take_trial,
)
from trainkit.tuning.trial import TrialOutcome, run_trial


def record(study, trial, outcome: TrialOutcome) -> None:
    """Store what the trial did and finish it in the study."""
    from optuna.trial import TrialState
    trial.set_user_attr('epochs', outcome.epochs)
    if outcome.best_epoch is not None:
        trial.set_user_attr('best_epoch', outcome.best_epoch)
    if outcome.error:
        trial.set_user_attr('error', outcome.error[:2000])
    if outcome.state == 'COMPLETE':
        study.tell(trial, outcome.value)
    elif outcome.state == 'PRUNED':
        trial.set_user_attr('value', outcome.value)
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, state=TrialState.FAIL)


def describe(number: int, outcome: TrialOutcome, metric: str) -> str:
    value = '' if outcome.value is None else f' {metric} {outcome.value:.6g}'
    text = (f'trial {number} {outcome.state}{value} after {outcome.epochs} epoch(s); '
            f'params {outcome.params}')
    if outcome.error:
        text += f'\n  {outcome.error.splitlines()[0]}'
    return text


def _interrupted(study, trial) -> None:
    from optuna.trial import TrialState
    trial.set_user_attr('error', 'interrupted (Ctrl-C or kill); queued again')
    study.tell(trial, state=TrialState.FAIL)
    requeue(study, study._storage.get_trial(trial._trial_id))


def work(study, base_cfg, settings: SearchSettings, work_dir: str, resume: bool = False,
         log: Callable[[str], None] = print) -> int:
    """Run queued trials until none is left; returns how many this worker ran."""
    ran, waited_for = 0, None
    revived = fail_dead_trials(study, resume)
    if revived:
        log(f'{revived} interrupted trial(s) queued again')
    while True:
        trial = take_trial(study)
        if trial is None:
            others = running(study)
            if not others or not has_heartbeat(study._storage):
                return ran
            numbers = [t.number for t in others]
            if numbers != waited_for:  # said once, not at every heartbeat
                log(f'waiting for {len(others)} running trial(s) of other workers '
                    f'({", ".join(map(str, numbers))})')
                waited_for = numbers
            time.sleep(settings.heartbeat_interval)
            revived = fail_dead_trials(study, resume=False)
            if revived:
                log(f'{revived} trial(s) of a stopped worker queued again')
            continue
        retry = trial.user_attrs.get('retry_of')
        log(f'trial {trial.number} started' + (f' (repeats interrupted trial {retry})'
                                                 if retry is not None else ''))
        try:
            with Heartbeat(study, trial, settings.heartbeat_interval):
                outcome = run_trial(trial, base_cfg, settings, work_dir)
        except BaseException:  # Ctrl-C, SIGTERM: the trial is queued again, then we stop
            _interrupted(study, trial)
            raise
        record(study, trial, outcome)
        ran += 1
        log(describe(trial.number, outcome, settings.metric))
