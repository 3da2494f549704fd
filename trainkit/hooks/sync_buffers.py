"""SyncBuffersHook: average the model's buffers over the processes before validating."""
from trainkit.hooks.hook import Hook
from trainkit.registry import HOOKS
from trainkit.utils.dist import all_reduce_sum, is_distributed


@HOOKS.register_module()
class SyncBuffersHook(Hook):
    """Under torchrun, replace every floating-point buffer (e.g. BatchNorm running statistics)
    by its mean over the processes before each validation, as MMEngine's hook of the same
    name does at the end of a training epoch (trainkit validates inside the epoch, so this is
    the same moment). A single process has nothing to synchronize.

    Config example::

        custom_hooks = [dict(type='SyncBuffersHook')]
    """

    priority = 'NORMAL'

    def before_val_epoch(self, runner) -> None:
        if not is_distributed():
            return
        world_size = runner.world_size
        for buffer in runner.unwrapped_model.buffers():
            if buffer.is_floating_point():
                all_reduce_sum(buffer.data).div_(world_size)
