"""EMAHook: keep an exponential moving average of the weights and validate with it."""
import math
from typing import Any, Dict, Optional

from trainkit.errors import ConfigError
from trainkit.hooks.hook import Hook
from trainkit.optim.ema import ExponentialMovingAverage, check_ema_decay
from trainkit.registry import HOOKS
from trainkit.utils.checks import expect_choice, expect_int, expect_number

# MMEngine's ema_type values trainkit runs: the momentum of update k (k = 0, 1, ...)
EMA_TYPES = ('ExponentialMovingAverage', 'MomentumAnnealingEMA', 'ExpMomentumEMA')


def mmengine_momentum(ema_type: str, momentum: float, gamma: float, k: int) -> float:
    """MMEngine's weight of the new parameters at update ``k`` (``1 − β``)."""
    if ema_type == 'MomentumAnnealingEMA':     # mmengine.model.MomentumAnnealingEMA
        return max(momentum, gamma / (gamma + k))
    if ema_type == 'ExpMomentumEMA':           # mmdet / mmyolo
        return (1 - momentum) * math.exp(-(1 + k) / gamma) + momentum
    return momentum


@HOOKS.register_module()
class EMAHook(Hook):
    """Shadow weights ``v ← β·v + (1−β)·θ`` after every optimizer step.

    Args:
        ema_decay: β. ``None`` turns EMA off (the hook then does nothing at all). Defaults to
            0.995.
        validate_with_ema: validate (and so pick best checkpoints) with the EMA weights.
            Defaults to True.
        momentum: MMEngine's form, ``1 − β`` (give this or ``ema_decay``). In MMEngine's form
            the first update copies the weights, as MMEngine does. Defaults to None.
        ema_type: MMEngine's averaging: ``'ExponentialMovingAverage'`` (constant momentum),
            ``'MomentumAnnealingEMA'`` (momentum ``max(m, γ/(γ+k))``) or ``'ExpMomentumEMA'``
            (MMDetection's, ``(1−m)·exp(−(1+k)/γ) + m``). Defaults to None (the first).
        gamma: γ of the two annealing types. Defaults to None (100 for
            ``MomentumAnnealingEMA``, 2000 for ``ExpMomentumEMA``, as their packages).
        interval: average every N optimizer steps (MMEngine's ``interval``). Defaults to 1.
        begin_iter: the average starts at this optimizer step (1-based, as MMEngine's; before
            it the average follows the weights). Defaults to 0.
        begin_epoch: the average starts in this epoch (1-based, as MMEngine's). Defaults to 0.
        update_buffers: MMEngine's option to average the buffers too; only False (buffers
            copied) is supported. Defaults to False.

    Checkpoints hold both the raw weights (``model``; a resume continues training from them)
    and the EMA weights with their update count (this hook's state).

    Config example::

        default_hooks = dict(ema=dict(type='EMAHook', ema_decay=0.995))
        custom_hooks = [dict(type='EMAHook', momentum=0.0002, priority=49)]   # MMEngine's
    """

    priority = 'HIGH'

    def __init__(self, ema_decay: Optional[float] = 0.995, validate_with_ema: bool = True,
                 momentum: Optional[float] = None, ema_type: Optional[str] = None,
                 gamma: Optional[float] = None, interval: int = 1, begin_iter: int = 0,
                 begin_epoch: int = 0, update_buffers: bool = False):
        self.mmengine_form = momentum is not None or ema_type is not None
        if self.mmengine_form:
            ema_decay = self._from_mmengine(ema_decay, momentum, ema_type, gamma)
        elif gamma is not None:
            raise ConfigError('EMAHook.gamma: only with an annealing ema_type '
                              "('MomentumAnnealingEMA' or 'ExpMomentumEMA')")
        check_ema_decay(ema_decay, 'EMAHook.ema_decay')
        expect_int(interval, 'EMAHook.interval', at_least=1)
        expect_int(begin_iter, 'EMAHook.begin_iter', at_least=0)
        expect_int(begin_epoch, 'EMAHook.begin_epoch', at_least=0)
        if begin_iter and begin_epoch:
            raise ConfigError('EMAHook: give begin_iter or begin_epoch, not both')
        if update_buffers:
            raise ConfigError('EMAHook.update_buffers=True is not supported: trainkit copies '
                              'the buffers (e.g. BatchNorm statistics) into the average; remove '
                              'it or set it to False')
        self.decay = ema_decay
        self.validate_with_ema = validate_with_ema
        self.interval, self.begin_iter, self.begin_epoch = interval, begin_iter, begin_epoch
        self.active = ema_decay is not None
        # trainkit's own form with no options: one update per step, nothing to count
        self._plain = not self.mmengine_form and interval == 1 and not begin_iter and \
            not begin_epoch
        self.ema: Optional[ExponentialMovingAverage] = None
        self.calls = 0  # updates since the average started (MMEngine's ``steps``)
        self._pending: Optional[Dict[str, Any]] = None

    def _from_mmengine(self, ema_decay, momentum, ema_type, gamma) -> float:
        if ema_decay not in (None, 0.995):
            raise ConfigError('EMAHook: give ema_decay (trainkit) or momentum (MMEngine, '
                              '= 1 − ema_decay), not both')
        ema_type = ema_type or 'ExponentialMovingAverage'
        expect_choice(ema_type, EMA_TYPES, 'EMAHook.ema_type',
                      "trainkit's EMA runs these MMEngine averaging rules")
        momentum = 0.0002 if momentum is None else momentum
        expect_number(momentum, 'EMAHook.momentum', above=0, at_most=1,
                      hint='MMEngine\'s momentum is 1 − ema_decay, e.g. 0.0002')
        if ema_type == 'ExponentialMovingAverage' and gamma is not None:
            raise ConfigError("EMAHook.gamma: only with an annealing ema_type "
                              "('MomentumAnnealingEMA' or 'ExpMomentumEMA')")
        default_gamma = {'MomentumAnnealingEMA': 100, 'ExpMomentumEMA': 2000}.get(ema_type)
        self.ema_type, self.momentum = ema_type, momentum
        self.gamma = default_gamma if gamma is None else gamma
        if self.gamma is not None:
            expect_number(self.gamma, 'EMAHook.gamma', above=0)
        return 1.0 - momentum

    def before_run(self, runner) -> None:
        self.ema = ExponentialMovingAverage(runner.unwrapped_model, self.decay)
        if self._pending is not None:
            self.calls = int(self._pending.get('calls', 0))
            self.ema.restore(self._pending)
            self._pending = None

    def after_train_iter(self, runner, batch_idx, batch, preds, losses) -> None:
        if not runner.stepped:
            return
        if self._plain:
            self.ema.update(runner.unwrapped_model)
            return
        # as MMEngine's EMAHook: epoch begin_epoch (1-based) or step begin_iter (1-based) on
        started = (runner.epoch + 1 >= self.begin_epoch if self.begin_epoch else
                   runner.step >= self.begin_iter)
        if not started:
            self.ema.decay = 0.0  # the average follows the weights
            self.ema.update(runner.unwrapped_model)
            return
        k, self.calls = self.calls, self.calls + 1  # MMEngine's ``steps`` count from the start
        if self.mmengine_form and k == 0:
            self.ema.decay = 0.0  # MMEngine: the first update copies
        elif k % self.interval:
            return
        elif self.mmengine_form:
            self.ema.decay = 1.0 - mmengine_momentum(self.ema_type, self.momentum, self.gamma, k)
        else:
            self.ema.decay = self.decay
        self.ema.update(runner.unwrapped_model)

    def before_val_epoch(self, runner) -> None:
        if self.validate_with_ema and self.ema is not None:
            runner.val_model = self.ema.module
            runner.val_tag = 'EMA'

    def state_dict(self) -> Dict[str, Any]:
        if self.ema is None:
            return self._pending or {}
        if self._plain:  # nothing counted: the checkpoint holds what it always held
            return self.ema.export()
        return dict(self.ema.export(), calls=self.calls)

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self._pending = state or None
