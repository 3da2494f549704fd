"""The study: where it is stored, how it samples and prunes, and how workers share its trials.

A new study gets its ``n_trials`` trials queued at once (the grid's points, or empty slots the
sampler fills when a worker takes one). A worker takes a queued trial, runs it and records it;
when the queue is empty it stops. So any number of ``tools/search.py`` processes, on one
machine or many, run exactly ``n_trials`` trials together, each once::

    storage = open_storage('sqlite:///work_dirs/s/search.db', heartbeat_interval=10)
    study, created = open_study(settings, storage, 'spice-search')
    trial = take_trial(study)            # None when every queued trial is taken

Storages: SQLite in the work dir by default (one machine; its transactions are made
exclusive so two processes never take the same trial), any RDB URL Optuna takes
(``postgresql://...``, ``mysql+pymysql://...``) for many machines, or ``journal:PATH`` for a
journal file on a shared file system. RDB storages record a heartbeat of every running trial:
a trial whose worker died (a kill, a lost machine) is failed after ``2 x heartbeat_interval``
seconds and queued again with the same values. Journal files have no heartbeat: ``--resume``
there takes every running trial as interrupted, so resume only when no worker is running.
"""
import contextlib
import os
import threading
import time
import warnings
from typing import Any, Dict, Optional, Tuple

from trainkit.errors import ConfigError
from trainkit.tuning.settings import PRUNERS, SAMPLERS, SearchSettings
from trainkit.tuning.space import grid_points

STUDY_FILE = 'search.db'
JOURNAL_PREFIX = 'journal:'
SEARCH_ATTR = 'trainkit_search'     # the search section a study was made with
RETRY_ATTR = 'retry_of'             # a queued trial that repeats an interrupted one


def default_storage(work_dir: str) -> str:
    return f'sqlite:///{os.path.abspath(os.path.join(work_dir, STUDY_FILE))}'


def _exclusive_sqlite(engine) -> None:
    """Make every SQLite transaction ``BEGIN IMMEDIATE``: Python's sqlite3 starts transactions
    only at the first write, so two processes could both read a queued trial as free and both
    take it; an immediate transaction holds the write lock from its first read."""
    from sqlalchemy import event

    @event.listens_for(engine, 'connect')
    def _no_implicit_transactions(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, 'begin')
    def _begin_immediate(connection):
        connection.exec_driver_sql('BEGIN IMMEDIATE')

    engine.dispose()  # connections opened before the listeners were added


@contextlib.contextmanager
def _creation_lock(db_path: Optional[str]):
    """Two workers opening a new SQLite file at once would both create its tables: the first
    to take ``{db}.lock`` does, the other then finds them."""
    if db_path is None:
        yield
        return
    import fcntl
    with open(db_path + '.lock', 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# the argument's name since Optuna 4.9 (before: failed_trial_callback)
_STALE_CALLBACK = 'heartbeat_stale_trial_callback'


def _stale_callback_name() -> str:
    import inspect

    import optuna
    params = inspect.signature(optuna.storages.RDBStorage).parameters
    return _STALE_CALLBACK if _STALE_CALLBACK in params else 'failed_trial_callback'


def open_storage(url: str, heartbeat_interval: int = 10):
    """An Optuna storage for ``url`` (an RDB URL or ``journal:PATH``)."""
    import optuna
    if not isinstance(url, str) or not url:
        raise ConfigError(f'--storage: expected an Optuna storage URL such as '
                          f'sqlite:///search.db or journal:/shared/search.log, got {url!r}')
    if url.startswith(JOURNAL_PREFIX):
        try:
            from optuna.storages.journal import JournalFileBackend as backend
        except ImportError:  # its name before Optuna 4.0
            backend = optuna.storages.JournalFileStorage
        path = url[len(JOURNAL_PREFIX):]
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ConfigError(f'--storage {url}: the folder {folder} does not exist')
        return optuna.storages.JournalStorage(backend(path))
    if '://' not in url:
        raise ConfigError(f'--storage {url!r}: not a storage URL; use sqlite:///PATH, '
                          f'postgresql://user:pass@host/db, mysql+pymysql://... or '
                          f'journal:PATH')
    sqlite = url.startswith('sqlite')
    if sqlite:
        path = url.split(':///', 1)[-1]
        folder = os.path.dirname(os.path.abspath(path))
        if path and not os.path.isdir(folder):
            raise ConfigError(f'--storage {url}: the folder {folder} does not exist')
    kwargs = {'connect_args': {'timeout': 600}} if sqlite else {}
    try:
        with _creation_lock(path if sqlite else None), warnings.catch_warnings():
            warnings.simplefilter('ignore', optuna.exceptions.ExperimentalWarning)  # heartbeats
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs=kwargs, heartbeat_interval=heartbeat_interval,
                grace_period=2 * heartbeat_interval, **{_stale_callback_name(): requeue})
    except (ImportError, ModuleNotFoundError) as err:
        raise ConfigError(f'--storage {url}: the database driver is missing ({err}); '
                          f'install it (e.g. pip install psycopg2-binary or pymysql)') from err
    except Exception as err:  # noqa: BLE001 - a wrong URL, an unreachable server
        raise ConfigError(f'--storage {url}: cannot open the storage: '
                          f'{type(err).__name__}: {err}') from err
    if sqlite:
        _exclusive_sqlite(storage.engine)
    return storage


def build_sampler(settings: SearchSettings, seed: Optional[int]):
    """The study's sampler. The grid is queued as explicit trials (see :func:`queue_trials`),
    so a grid study samples nothing itself and runs each point once in any number of workers."""
    import optuna
    spec = {k: v for k, v in settings.sampler.items() if k != 'type'}
    kind = settings.sampler['type']
    if kind == 'grid':
        return optuna.samplers.GridSampler(
            {key: list(values) for key, values in _grid_lists(settings).items()}, seed=seed)
    return getattr(optuna.samplers, SAMPLERS[kind])(seed=seed, **spec)


def _grid_lists(settings: SearchSettings) -> Dict[str, list]:
    points = grid_points(settings.space)
    return {key: list(dict.fromkeys(p[key] for p in points)) for key in settings.space}


def build_pruner(settings: SearchSettings, max_epochs: int):
    """The study's pruner; Hyperband and successive halving count resources in epochs."""
    import optuna
    spec = {k: v for k, v in settings.pruner.items() if k != 'type'}
    kind = settings.pruner['type']
    if kind == 'hyperband':
        spec.setdefault('min_resource', 1)
        spec['max_resource'] = max_epochs
    if kind == 'successive_halving':
        spec.setdefault('min_resource', 1)
    try:
        return getattr(optuna.pruners, PRUNERS[kind])(**spec)
    except (TypeError, ValueError) as err:
        raise ConfigError(f'search.pruner: {PRUNERS[kind]}({spec}) failed: {err}') from err


def _record(settings: SearchSettings) -> Dict[str, Any]:
    """What identifies a search: a study made with another space or method is another search."""
    return {'space': settings.space, 'metric': settings.metric, 'direction': settings.direction,
            'sampler': settings.sampler, 'pruner': settings.pruner,
            'epochs_per_trial': settings.epochs_per_trial}


def queue_trials(study, settings: SearchSettings, count: int, start: int = 0) -> None:
    """Queue ``count`` trials: grid points ``start..`` in the order written, or empty slots."""
    if settings.is_grid:
        for point in grid_points(settings.space)[start:start + count]:
            study.enqueue_trial(point)
    else:
        for _ in range(count):
            study.enqueue_trial({})


def open_study(settings: SearchSettings, storage, name: str, sampler, pruner,
               resume: bool = False) -> Tuple[Any, bool]:
    """Create the study and queue its trials, or load it (another worker's, or an interrupted
    search); returns ``(study, created)``. A stored study made with a different ``search``
    section is a ConfigError, as is re-running a finished one without ``--resume``."""
    import optuna
    direction = settings.direction
    try:
        study = optuna.create_study(study_name=name, storage=storage, sampler=sampler,
                                    pruner=pruner, direction=direction)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler,
                                  pruner=pruner)
        _check_same_search(study, settings, name)
        _grow(study, settings, resume, name)
        return study, False
    study.set_user_attr(SEARCH_ATTR, _record(settings))
    queue_trials(study, settings, settings.n_trials)
    study.set_user_attr('n_trials', settings.n_trials)   # last: the queue is complete
    return study, True


def _check_same_search(study, settings: SearchSettings, name: str) -> None:
    for _ in range(600):  # the creator may still be queueing (at most a few seconds)
        attrs = study.user_attrs
        if 'n_trials' in attrs:
            break
        time.sleep(0.1)
    stored = study.user_attrs.get(SEARCH_ATTR)
    if stored is None or 'n_trials' not in study.user_attrs:
        raise ConfigError(f'study {name!r} exists in the storage but was not made by '
                          f'tools/search.py, or its making was interrupted before its trials '
                          f'were queued; use another --study-name (or delete that study with '
                          f'optuna.delete_study)')
    mine = _record(settings)
    changed = [k for k in mine if _plain(stored.get(k)) != _plain(mine[k])]
    if changed:
        raise ConfigError(f'study {name!r} was made with another search ({", ".join(changed)} '
                          f'differ: stored {[stored.get(k) for k in changed]}, now '
                          f'{[mine[k] for k in changed]}); continue it with the same search '
                          f'section, or start a new one with --study-name or another work dir')


def _plain(value):
    """JSON round trip: the stored record has lists where the config may have tuples."""
    import json
    return json.loads(json.dumps(value))


def _grow(study, settings: SearchSettings, resume: bool, name: str) -> None:
    """``--resume`` with a larger ``n_trials`` queues the difference."""
    have = study.user_attrs['n_trials']
    if settings.n_trials > have and resume:
        queue_trials(study, settings, settings.n_trials - have, start=have)
        study.set_user_attr('n_trials', settings.n_trials)
    settings.n_trials = max(have, settings.n_trials if resume else have)


def queued(study) -> int:
    from optuna.trial import TrialState
    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def running(study):
    from optuna.trial import TrialState
    return study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))


def take_trial(study):
    """Take a queued trial (atomically: another worker never gets the same one), or None."""
    import optuna
    from optuna.trial import TrialState
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if study._storage.set_trial_state_values(frozen._trial_id, TrialState.RUNNING):
                return optuna.Trial(study, frozen._trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def requeue(study, frozen) -> None:
    """Queue a trial again with the values of ``frozen`` (an interrupted or dead trial)."""
    study.enqueue_trial(dict(frozen.params), user_attrs={RETRY_ATTR: frozen.number})


def has_heartbeat(storage) -> bool:
    """RDB storages (also behind Optuna's cache) record heartbeats; journal files do not."""
    interval = getattr(storage, 'get_heartbeat_interval', None)
    return interval is not None and interval() is not None


def fail_dead_trials(study, resume: bool) -> int:
    """Fail and queue again the trials whose worker is gone: by heartbeat on RDB storages;
    on a journal file, with ``--resume``, every running trial. Returns how many."""
    import optuna
    from optuna.trial import TrialState
    before = queued(study)
    if has_heartbeat(study._storage):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    elif resume:
        for frozen in running(study):
            try:
                study._storage.set_trial_user_attr(frozen._trial_id, 'error',
                                                   'interrupted (found running on --resume)')
                if study._storage.set_trial_state_values(frozen._trial_id, TrialState.FAIL):
                    requeue(study, frozen)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another worker got there first
    return queued(study) - before


class Heartbeat:
    """Record the trial's heartbeat every ``interval`` seconds while it runs (RDB storages)."""

    def __init__(self, study, trial, interval: int):
        self.storage, self.trial_id, self.interval = study._storage, trial._trial_id, interval
        self.stop = threading.Event()
        self.thread = None
        if has_heartbeat(self.storage):
            self.storage.record_heartbeat(self.trial_id)
            self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(self.interval):
            self.storage.record_heartbeat(self.trial_id)

    def __enter__(self):
        if self.thread is not None:
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
