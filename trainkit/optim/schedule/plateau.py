"""Reduce-on-plateau that ends the run once the learning rate is exhausted.

torch's ``ReduceLROnPlateau`` clamps the LR at its ``min_lr``, so "stop when the LR falls below
min_lr" never fires when min_lr is handed to it. ``PlateauLR`` reduces without that clamp and
raises a stop request when a reduction would take the LR below ``stop_lr`` or no longer changes
it; the Runner then finishes the epoch (checkpoint included) and ends training.

Config example (the reference's ``lr_scheduler: plateau`` expands to this)::

    param_scheduler = dict(type='PlateauLR', monitor='weighted_mae', factor=0.5, patience=50,
                           stop_lr=1e-6)
"""
from mmengine.optim.scheduler import ReduceOnPlateauLR

from trainkit.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class PlateauLR(ReduceOnPlateauLR):
    """mmengine's ``ReduceOnPlateauLR`` plus a stop rule.

    Args:
        stop_lr: training stops when a reduction would make an LR smaller than this, or leaves
            it unchanged. Defaults to 0.0 (stop only when reductions stop changing the LR).
        monitor: validation metric to watch. Defaults to ``'weighted_mae'``.
        **kwargs: mmengine's arguments (``rule``, ``factor``, ``patience``, ``threshold``,
            ``threshold_rule``, ``cooldown``, ``min_value``, ``eps``, ``begin``, ``end``).

    Config example::

        param_scheduler = dict(type='PlateauLR', factor=0.5, patience=20, stop_lr=1e-6)
    """

    def __init__(self, optimizer, stop_lr: float = 0.0, monitor: str = 'weighted_mae',
                 **kwargs):
        super().__init__(optimizer, monitor=monitor, **kwargs)
        self.stop_lr = stop_lr
        self.stop_reason = None
        self._reduction_due = False

    def _get_value(self):
        self._reduction_due = True
        return super()._get_value()

    def step(self, metrics=None):
        before = [group['lr'] for group in self.optimizer.param_groups]
        self._reduction_due = False
        super().step(metrics)
        if not self._reduction_due:
            return
        after = [group['lr'] for group in self.optimizer.param_groups]
        lowest = min(lr * self.factor for lr in before)
        if lowest < self.stop_lr:
            self.stop_reason = (f'plateau: reducing the learning rate to {lowest:.3e} would take '
                                f'it below stop_lr={self.stop_lr:g}')
        elif after == before:
            self.stop_reason = (f'plateau: the learning rate no longer decreases '
                                f'({before[0]:.3e}; min_value/eps reached)')
