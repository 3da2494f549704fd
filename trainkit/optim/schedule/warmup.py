"""Learning-rate warmup with pytorch-warmup, as entries of the ``param_scheduler`` list.

A warmup multiplies the learning rate of the main schedule by a factor ω(k) ∈ [0, 1] from the
very first optimizer step (k is 0-based; the main schedule is not delayed)::

    LinearWarmup             ω = min(1, (k+1)/τ)                 τ = warmup steps
    ExponentialWarmup        ω = 1 − exp(−(k+1)/τ′)              τ′ = ⌊τ/2⌋ (≈ 1 − exp(−2(k+1)/τ))
    UntunedLinearWarmup      linear with τ = ⌊2/(1−β₂)⌋          (Adam-style optimizers)
    UntunedExponentialWarmup exponential with τ′ = ⌊1/(1−β₂)⌋
    RAdamWarmup              RAdam's variance-rectification factor from β₂

``warmup_epochs`` is converted with the real number of optimizer steps per epoch;
``warmup_steps`` gives τ directly. ``warmup_epochs=0`` or ``None`` means no warmup. The
exponential τ′ follows the reference document's ``1 − exp(−2t/τ)`` so that ``exponential``
and ``untuned_exponential`` share one convention.

Config example::

    param_scheduler = [
        dict(type='LinearWarmup', warmup_epochs=10),
        dict(type='CosineAnnealingLR', T_max=300, eta_min=0.0, by_epoch=True,
             convert_to_iter_based=True),
    ]
"""
from typing import Optional

import pytorch_warmup

from trainkit.errors import ConfigError
from trainkit.registry import PARAM_SCHEDULERS
from trainkit.utils.checks import expect_number


class WarmupSpec:
    """Base of the warmup entries: turns config values into a pytorch-warmup object."""

    needs_period = True

    def __init__(self, warmup_epochs: Optional[float] = None,
                 warmup_steps: Optional[int] = None):
        name = type(self).__name__
        if not self.needs_period:
            if warmup_epochs is not None or warmup_steps is not None:
                raise ConfigError(f'{name}: its period comes from the optimizer\'s betas; drop '
                                  f'warmup_epochs / warmup_steps')
        elif warmup_epochs is not None and warmup_steps is not None:
            raise ConfigError(f'{name}: give warmup_epochs or warmup_steps, not both')
        for key, value in (('warmup_epochs', warmup_epochs), ('warmup_steps', warmup_steps)):
            expect_number(value, f'{name}.{key}', at_least=0, allow_none=True)
        if warmup_steps is not None and int(warmup_steps) != warmup_steps:
            raise ConfigError(f'{name}.warmup_steps: expected a whole number, got {warmup_steps}')
        self.warmup_epochs = warmup_epochs
        self.warmup_steps = warmup_steps

    def period_steps(self, steps_per_epoch: int) -> int:
        """τ in optimizer steps (0 = no warmup)."""
        if self.warmup_steps is not None:
            return int(self.warmup_steps)
        if self.warmup_epochs is None:
            return 0
        return int(round(self.warmup_epochs * steps_per_epoch))

    def is_active(self, steps_per_epoch: int) -> bool:
        return not self.needs_period or self.period_steps(steps_per_epoch) > 0

    def build(self, optimizer, steps_per_epoch: int):
        """Return the pytorch-warmup object for ``optimizer`` (build it after the schedulers)."""
        raise NotImplementedError


def _require_betas(optimizer, name: str) -> None:
    if any('betas' not in group for group in optimizer.param_groups):
        raise ConfigError(f'{name} derives its period from β₂ and needs an Adam-style optimizer '
                          f'(Adam, AdamW, NAdam, ...); {type(optimizer).__name__} has no betas')


@PARAM_SCHEDULERS.register_module()
class LinearWarmup(WarmupSpec):
    """ω = min(1, (k+1)/τ). Config: ``dict(type='LinearWarmup', warmup_epochs=10)``."""

    def build(self, optimizer, steps_per_epoch: int):
        return pytorch_warmup.LinearWarmup(optimizer, self.period_steps(steps_per_epoch))


@PARAM_SCHEDULERS.register_module()
class ExponentialWarmup(WarmupSpec):
    """ω = 1 − exp(−(k+1)/⌊τ/2⌋). Config: ``dict(type='ExponentialWarmup', warmup_epochs=10)``."""

    def build(self, optimizer, steps_per_epoch: int):
        period = max(1, self.period_steps(steps_per_epoch) // 2)
        return pytorch_warmup.ExponentialWarmup(optimizer, period)


@PARAM_SCHEDULERS.register_module()
class UntunedLinearWarmup(WarmupSpec):
    """Linear warmup over ⌊2/(1−β₂)⌋ steps. Config: ``dict(type='UntunedLinearWarmup')``."""

    needs_period = False

    def build(self, optimizer, steps_per_epoch: int):
        _require_betas(optimizer, type(self).__name__)
        return pytorch_warmup.UntunedLinearWarmup(optimizer)


@PARAM_SCHEDULERS.register_module()
class UntunedExponentialWarmup(WarmupSpec):
    """Exponential warmup with τ′ = ⌊1/(1−β₂)⌋.

    Config: ``dict(type='UntunedExponentialWarmup')``."""

    needs_period = False

    def build(self, optimizer, steps_per_epoch: int):
        _require_betas(optimizer, type(self).__name__)
        return pytorch_warmup.UntunedExponentialWarmup(optimizer)


@PARAM_SCHEDULERS.register_module()
class RAdamWarmup(WarmupSpec):
    """RAdam's rectification factor as warmup. Config: ``dict(type='RAdamWarmup')``."""

    needs_period = False

    def build(self, optimizer, steps_per_epoch: int):
        _require_betas(optimizer, type(self).__name__)
        return pytorch_warmup.RAdamWarmup(optimizer)


WARMUP_ALIASES = {
    'linear': 'LinearWarmup', 'exponential': 'ExponentialWarmup',
    'untuned_linear': 'UntunedLinearWarmup', 'untuned_exponential': 'UntunedExponentialWarmup',
    'radam': 'RAdamWarmup',
}
