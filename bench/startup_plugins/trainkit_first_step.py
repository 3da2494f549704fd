"""A trainkit hook that only timestamps the first optimizer step (``custom_imports``)."""
from first_step import record_first_step

from trainkit.hooks import Hook
from trainkit.registry import HOOKS


@HOOKS.register_module()
class FirstStepHook(Hook):
    """Writes the time of the first optimizer step; changes nothing else."""

    priority = 'LOWEST'

    def after_train_iter(self, runner, batch_idx, batch, preds, losses):
        if runner.stepped:
            record_first_step()
