"""The hook base class: every point of the training loop, each a no-op by default.

The Runner calls a hook only at the points its class overrides (collected once when training
starts), so a hook that does nothing at a point costs nothing there.  The loop, with the
points in place::

    load checkpoint (resume / weights)      # hooks' load_state_dict() runs here
    before_run(runner)
    while runner.epoch < max_epochs and not runner.stop_requested:
        before_train_epoch(runner)
        for batch_idx, batch in enumerate(train_dataloader):
            before_train_iter(runner, batch_idx, batch)
            preds = model(batch); losses = loss(preds, batch)
            before_backward(runner, losses)  # return False to skip this batch's update
            backward; optimizer step when the accumulation window is full
            after_train_iter(runner, batch_idx, batch, preds, losses)  # runner.stepped
        if validation is due:
            before_val_epoch(runner)
            ... runner.val_model over val_dataloader ...
            after_val_epoch(runner, metrics)
        param schedulers step (epoch-based, then plateau with the metrics)
        after_train_epoch(runner)           # sees this epoch's metrics: runner.val_metrics
        runner.progress.epoch += 1
    after_run(runner)
    # an exception (an error, Ctrl-C) leaving any of the above: on_exception(runner, error)

``after_train_epoch`` runs after the epoch's validation and scheduler steps, so that early
stopping, best checkpoints and logs see the final state of the epoch; the checkpoint hook
runs last among them (priority ``LOW``) and saves that state.

State that must survive a resume goes through :meth:`state_dict` / :meth:`load_state_dict`,
keyed in the checkpoint by the hook's ``name``.  ``load_state_dict`` runs before
``before_run``: keep the state and apply it there if it needs the model.

Example, a hook that counts optimizer steps::

    from trainkit.hooks import Hook
    from trainkit.registry import HOOKS

    @HOOKS.register_module()
    class StepCounter(Hook):
        priority = 'LOW'

        def __init__(self):
            self.count = 0

        def after_train_iter(self, runner, batch_idx, batch, preds, losses):
            self.count += runner.stepped

        def state_dict(self):
            return {'count': self.count}

        def load_state_dict(self, state):
            self.count = state['count']

    custom_hooks = [dict(type='StepCounter')]
"""
from typing import Any, Dict, List, Optional, Union

from trainkit.errors import ConfigError
from trainkit.utils.suggest import did_you_mean

PRIORITIES = {
    'HIGHEST': 0, 'VERY_HIGH': 10, 'HIGH': 30, 'ABOVE_NORMAL': 40, 'NORMAL': 50,
    'BELOW_NORMAL': 60, 'LOW': 70, 'VERY_LOW': 90, 'LOWEST': 100,
}

HOOK_POINTS = ('before_run', 'before_train_epoch', 'before_train_iter', 'before_backward',
               'after_train_iter', 'before_val_epoch', 'after_val_epoch', 'after_train_epoch',
               'after_run', 'on_exception')


def priority_value(priority: Union[int, str]) -> int:
    """Turn ``'HIGH'`` or ``30`` into a number; a lower number runs earlier."""
    if isinstance(priority, bool):
        raise ConfigError(f'hook priority: expected a name or an int, got {priority!r}')
    if isinstance(priority, int):
        return priority
    if isinstance(priority, str) and priority.upper() in PRIORITIES:
        return PRIORITIES[priority.upper()]
    raise ConfigError(f'hook priority: {priority!r} is not a priority; use an int or one of '
                      f'{", ".join(PRIORITIES)}{did_you_mean(str(priority), PRIORITIES)}')


class Hook:
    """Base class of all hooks; override only the points you need.

    Attributes:
        priority: ``'HIGHEST'`` … ``'LOWEST'`` or an int (lower runs earlier). Defaults to
            ``'NORMAL'``; a config may override it with ``priority=...``.
        name: the key of this hook's state in checkpoints; set by the Runner from the
            ``default_hooks`` key or the class name.
        active: False leaves the hook out of the run altogether (e.g. ``EMAHook`` with
            ``ema_decay=None``); read once, when the Runner builds its hooks.

    Config example::

        custom_hooks = [dict(type='EarlyStoppingHook', priority='NORMAL', early_stoppings=...)]
    """

    priority: Union[int, str] = 'NORMAL'
    name: Optional[str] = None
    active: bool = True

    def check_monitors(self, names: Optional[List[str]]) -> None:
        """Raise ``ConfigError`` if a metric this hook monitors is not among ``names`` (what
        validation will report; None: not known). The Runner calls it before it writes
        anything, ``--dry-run`` too."""

    def before_run(self, runner) -> None:
        """Once, after a checkpoint (if any) is loaded and before the first epoch."""

    def before_train_epoch(self, runner) -> None:
        """At the start of every training epoch."""

    def before_train_iter(self, runner, batch_idx: int, batch: Any) -> None:
        """Before the forward pass of every training batch."""

    def before_backward(self, runner, losses: Dict[str, Any]) -> Optional[bool]:
        """After the loss of a batch is computed; return ``False`` to skip its update."""

    def after_train_iter(self, runner, batch_idx: int, batch: Any, preds: Dict[str, Any],
                         losses: Dict[str, Any]) -> None:
        """After every training batch; ``runner.stepped`` tells if the optimizer stepped,
        ``runner.skipped_update`` if a ``before_backward`` hook dropped the batch."""

    def before_val_epoch(self, runner) -> None:
        """Before validation; may set ``runner.val_model`` (the EMA hook does)."""

    def after_val_epoch(self, runner, metrics: Dict[str, float]) -> None:
        """After validation with the reduced metrics."""

    def after_train_epoch(self, runner) -> None:
        """At the end of an epoch, after validation and scheduler steps."""

    def after_run(self, runner) -> None:
        """Once, when training ends (also after an early stop)."""

    def on_exception(self, runner, error: BaseException) -> None:
        """When an error or Ctrl-C leaves the loop, before it propagates: finish or clean up
        (the checkpoint hook finishes its write in flight); do not raise."""

    def state_dict(self) -> Dict[str, Any]:
        """State saved in checkpoints (plain values and tensors only)."""
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; runs before :meth:`before_run`."""

    def implements(self, point: str) -> bool:
        """Whether this hook's class overrides ``point``."""
        return getattr(type(self), point) is not getattr(Hook, point)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(name={self.name!r}, priority={self.priority!r})'
