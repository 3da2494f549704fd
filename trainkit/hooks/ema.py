"""EMAHook: keep an exponential moving average of the weights and validate with it."""
from typing import Any, Dict, Optional

from trainkit.hooks.hook import Hook
from trainkit.optim.ema import ExponentialMovingAverage, check_ema_decay
from trainkit.registry import HOOKS


@HOOKS.register_module()
class EMAHook(Hook):
    """Shadow weights ``v ← β·v + (1−β)·θ`` after every optimizer step.

    Args:
        ema_decay: β. ``None`` turns EMA off (the hook then does nothing at all). Defaults to
            0.995.
        validate_with_ema: validate (and so pick best checkpoints) with the EMA weights.
            Defaults to True.

    Checkpoints hold both the raw weights (``model``; a resume continues training from them)
    and the EMA weights with their update count (this hook's state).

    Config example::

        default_hooks = dict(ema=dict(type='EMAHook', ema_decay=0.995))
    """

    priority = 'HIGH'

    def __init__(self, ema_decay: Optional[float] = 0.995, validate_with_ema: bool = True):
        check_ema_decay(ema_decay, 'EMAHook.ema_decay')
        self.decay = ema_decay
        self.validate_with_ema = validate_with_ema
        self.active = ema_decay is not None
        self.ema: Optional[ExponentialMovingAverage] = None
        self._pending: Optional[Dict[str, Any]] = None

    def before_run(self, runner) -> None:
        self.ema = ExponentialMovingAverage(runner.unwrapped_model, self.decay)
        if self._pending is not None:
            self.ema.restore(self._pending)
            self._pending = None

    def after_train_iter(self, runner, batch_idx, batch, preds, losses) -> None:
        if runner.stepped:
            self.ema.update(runner.unwrapped_model)

    def before_val_epoch(self, runner) -> None:
        if self.validate_with_ema and self.ema is not None:
            runner.val_model = self.ema.module
            runner.val_tag = 'EMA'

    def state_dict(self) -> Dict[str, Any]:
        if self.ema is None:
            return self._pending or {}
        return self.ema.export()

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self._pending = state or None
