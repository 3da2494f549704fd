"""The run's parameter schedule: mmengine schedulers plus an optional warmup, stepped as
MMEngine's Runner steps them.

* iteration-based schedulers (``by_epoch=False``, or converted with
  ``convert_to_iter_based=True``) step after every optimizer step;
* epoch-based ones step at the end of every epoch;
* plateau schedulers (``need_val_args``) step after a validation, with its metrics.

A warmup dampens the result of every step: the undampened LRs are restored, the schedulers
step, and the new LRs are dampened again — advancing the warmup only on optimizer steps. The
Runner and ``tools/vis_scheduler.py`` both drive this one class, so the plot shows what the
run does.

"Steps per epoch" is the real number of optimizer steps in an epoch (per rank, after
``drop_last``, divided by ``accumulative_counts`` and rounded up), which is also the length an
epoch-based scheduler is converted with.
"""
from contextlib import contextmanager
from typing import Any, Dict, List, Optional, Sequence

from trainkit.errors import CheckpointError, ConfigError
from trainkit.optim.schedule.param_name import check_param_name, extra_param_name, param_name_fixed
from trainkit.optim.schedule.warmup import WarmupSpec
from trainkit.registry import PARAM_SCHEDULERS, build, lookup
from trainkit.utils.checks import expect_metric


class ParamSchedule:
    """Schedulers and warmup of one optimizer wrapper.

    Args:
        schedulers: built mmengine-style parameter schedulers.
        warmup: a pytorch-warmup object (built after the schedulers) or None.
        optimizer: the raw torch optimizer whose LRs are used.
    """

    def __init__(self, schedulers: Sequence[Any], warmup=None, optimizer=None):
        self.schedulers = list(schedulers)
        self.warmup = warmup
        self.optimizer = optimizer
        self.iter_based = [s for s in self.schedulers if not s.by_epoch]
        self.epoch_based = [s for s in self.schedulers if s.by_epoch]
        self.on_metrics = [s for s in self.epoch_based if getattr(s, 'need_val_args', False)]

    def after_optim_step(self) -> None:
        """Step the iteration-based schedulers and advance the warmup by one step."""
        if self.warmup is None:
            for scheduler in self.iter_based:
                scheduler.step()
            return
        with self.warmup.dampening():
            for scheduler in self.iter_based:
                scheduler.step()

    def after_epoch(self, metrics: Optional[Dict[str, float]] = None) -> Optional[str]:
        """Step the epoch-based schedulers, then the plateau ones on ``metrics``.

        Returns:
            a reason to stop training (a plateau scheduler ran out of LR), or None.
        """
        if not self.epoch_based:
            return None
        with self._undampened():
            for scheduler in self.epoch_based:
                scheduler.step()
            if metrics is not None:
                for scheduler in self.on_metrics:
                    self._step_on_metrics(scheduler, metrics)
        reasons = [s.stop_reason for s in self.on_metrics if getattr(s, 'stop_reason', None)]
        return reasons[0] if reasons else None

    def check_monitors(self, names: Optional[List[str]]) -> None:
        """Before training: every metric a scheduler monitors is one validation produces
        (``names``; None when that cannot be known before validating)."""
        for scheduler in self.on_metrics:
            self._check_monitor(scheduler, names)

    @staticmethod
    def _check_monitor(scheduler, names) -> None:
        monitor = getattr(scheduler, 'monitor', None)
        if monitor is not None:
            expect_metric(monitor, names, f'{type(scheduler).__name__}.monitor')

    def _step_on_metrics(self, scheduler, metrics: Dict[str, float]) -> None:
        self._check_monitor(scheduler, metrics)
        scheduler.step(metrics)

    @contextmanager
    def _undampened(self):
        """Let schedulers see undampened LRs without advancing the warmup."""
        if self.warmup is None:
            yield
            return
        for group, lr in zip(self.warmup.optimizer.param_groups, self.warmup.lrs):
            group['lr'] = lr
        yield
        self.warmup.lrs = [group['lr'] for group in self.warmup.optimizer.param_groups]
        self.warmup.dampen(self.warmup.last_step)

    def lrs(self) -> List[float]:
        """The LR each parameter group uses for the next optimizer step."""
        return [group['lr'] for group in self.optimizer.param_groups]

    def momenta(self) -> List[Optional[float]]:
        """Each group's momentum (``momentum``, or β₁ of Adam-style optimizers)."""
        values = []
        for group in self.optimizer.param_groups:
            if 'momentum' in group:
                values.append(group['momentum'])
            elif 'betas' in group:
                values.append(group['betas'][0])
            else:
                values.append(None)
        return values

    def extra_values(self) -> Dict[str, List[float]]:
        """Each group's value of every other scheduled setting (``param_name`` such as
        ``weight_decay``), by name."""
        names = dict.fromkeys(n for n in map(extra_param_name, self.schedulers) if n)
        return {name: [group[name] for group in self.optimizer.param_groups] for name in names}

    def state_dict(self) -> Dict[str, Any]:
        return {'schedulers': [s.state_dict() for s in self.schedulers],
                'warmup': None if self.warmup is None else self.warmup.state_dict()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        saved = state.get('schedulers', [])
        if len(saved) != len(self.schedulers) or (state.get('warmup') is None) != (
                self.warmup is None):
            raise CheckpointError(
                f'the checkpoint has {len(saved)} parameter scheduler(s) and '
                f'{"a" if state.get("warmup") is not None else "no"} warmup, the config '
                f'{len(self.schedulers)} and {"a" if self.warmup is not None else "no"} warmup; '
                f'resume with the config the run was started with')
        for scheduler, scheduler_state in zip(self.schedulers, saved):
            scheduler.load_state_dict(scheduler_state)
        if self.warmup is not None:
            self.warmup.load_state_dict(state['warmup'])


def scheduler_entries(cfg) -> List[tuple]:
    """``[(where, entry), ...]`` of a ``param_scheduler`` value (None, a dict or a list): the
    one reading of that section, for validation and for building."""
    if cfg is None:
        return []
    if isinstance(cfg, dict):
        return [('param_scheduler', cfg)]
    if isinstance(cfg, (list, tuple)):
        return [(f'param_scheduler.{i}', entry) for i, entry in enumerate(cfg)]
    raise ConfigError(f'param_scheduler: expected a dict or a list of dicts, got {cfg!r}')


def build_param_schedule(cfg, optim_wrapper, max_epochs: int,
                         steps_per_epoch: int) -> ParamSchedule:
    """Build the schedule from ``param_scheduler`` (a dict or a list).

    The default ``end`` is ``max_epochs`` (epoch-based) or ``max_epochs × steps_per_epoch``
    (iteration-based), as MMEngine's Runner sets it.
    """
    warmups, schedulers = [], []
    for where, entry in scheduler_entries(cfg):
        if not isinstance(entry, dict) or 'type' not in entry:
            raise ConfigError(f'{where}: expected a dict with a "type", got {entry!r}')
        kwargs = dict(entry)
        cls = lookup(PARAM_SCHEDULERS, kwargs.pop('type'), f'{where}.type')
        if isinstance(cls, type) and issubclass(cls, WarmupSpec):
            warmups.append((where, build(PARAM_SCHEDULERS, entry, where)))
        else:
            schedulers.append(_build_scheduler(cls, kwargs, optim_wrapper, max_epochs,
                                               steps_per_epoch, where))
    if len(warmups) > 1:
        raise ConfigError(f'param_scheduler: more than one warmup ({[w for w, _ in warmups]}); '
                          f'keep one')
    warmup = None
    if warmups and warmups[0][1].is_active(steps_per_epoch):
        # built after the schedulers, so their initial_lr is the undampened LR
        warmup = warmups[0][1].build(optim_wrapper.optimizer, steps_per_epoch)
    return ParamSchedule(schedulers, warmup, optim_wrapper.optimizer)


def _build_scheduler(cls, kwargs: Dict[str, Any], optim_wrapper, max_epochs: int,
                     steps_per_epoch: int, where: str):
    by_epoch = kwargs.get('by_epoch', True)
    kwargs.setdefault('end', max_epochs if by_epoch else max_epochs * steps_per_epoch)
    convert = kwargs.pop('convert_to_iter_based', False)
    if not param_name_fixed(cls) and 'param_name' in kwargs:
        check_param_name(kwargs['param_name'], optim_wrapper.optimizer, where)
    try:
        if convert:
            if not by_epoch:
                raise ConfigError(f'{where}: convert_to_iter_based needs by_epoch=True')
            return cls.build_iter_from_epoch(optim_wrapper, epoch_length=steps_per_epoch,
                                             **kwargs)
        return cls(optim_wrapper, **kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError, AssertionError, KeyError) as err:
        raise ConfigError(f'{where}: {cls.__name__}: {err}') from err
