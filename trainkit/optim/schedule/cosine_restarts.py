"""Cosine annealing with warm restarts as an mmengine-style parameter scheduler.

The LR follows torch's ``CosineAnnealingWarmRestarts``: within the i-th cycle of length
``T_i = T_0 · T_mult**i`` steps, ``lr = eta_min + (base − eta_min)(1 + cos(π·T_cur/T_i))/2``,
jumping back to ``base`` at every restart. With ``by_epoch=True, convert_to_iter_based=True``
``T_0`` is given in epochs and converted to optimizer steps.

Config example (the reference's ``lr_scheduler: cosine_restarts`` expands to this)::

    param_scheduler = dict(type='CosineWarmRestartsLR', T_0=50, T_mult=2, eta_min=0.0,
                           by_epoch=True, convert_to_iter_based=True)
"""
import math

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler

from trainkit.errors import ConfigError
from trainkit.registry import PARAM_SCHEDULERS
from trainkit.utils.checks import expect_int


class CosineWarmRestartsParamScheduler(_ParamScheduler):
    """Warm-restart cosine for any parameter (see the module docstring)."""

    def __init__(self, optimizer, param_name: str, T_0: int, T_mult: int = 1,
                 eta_min: float = 0.0, begin: int = 0, end: int = INF, last_step: int = -1,
                 by_epoch: bool = True, verbose: bool = False):
        expect_int(T_0, 'CosineWarmRestartsLR.T_0', at_least=1)
        expect_int(T_mult, 'CosineWarmRestartsLR.T_mult', at_least=1)
        self.T_0, self.T_mult, self.eta_min = T_0, T_mult, eta_min
        super().__init__(optimizer, param_name, begin=begin, end=end, last_step=last_step,
                         by_epoch=by_epoch, verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, T_0, begin=0, end=INF, by_epoch=True,
                              epoch_length=None, **kwargs):
        """Build the iteration-based equivalent of an epoch-based config."""
        if not by_epoch or not epoch_length:
            raise ConfigError('convert_to_iter_based needs by_epoch=True and a known epoch '
                              'length')
        end = end if end == INF else int(end * epoch_length)
        return cls(*args, T_0=T_0 * epoch_length, begin=int(begin * epoch_length), end=end,
                   by_epoch=False, **kwargs)

    def _cycle_position(self, t: int):
        if self.T_mult == 1:
            return t % self.T_0, self.T_0
        n = int(math.log(t / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
        start = self.T_0 * (self.T_mult ** n - 1) // (self.T_mult - 1)
        if start > t:  # guard against float rounding of the log
            n -= 1
            start = self.T_0 * (self.T_mult ** n - 1) // (self.T_mult - 1)
        length = self.T_0 * self.T_mult ** n
        if t - start >= length:
            start, length = start + length, length * self.T_mult
        return t - start, length

    def _get_value(self):
        # last_step counts the steps taken inside [begin, end), from 0
        t_cur, t_i = self._cycle_position(max(self.last_step, 0))
        cosine = (1 + math.cos(math.pi * t_cur / t_i)) / 2
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_values]


@PARAM_SCHEDULERS.register_module()
class CosineWarmRestartsLR(LRSchedulerMixin, CosineWarmRestartsParamScheduler):
    """LR version of :class:`CosineWarmRestartsParamScheduler`.

    Config example::

        param_scheduler = dict(type='CosineWarmRestartsLR', T_0=10, T_mult=2, by_epoch=True,
                               convert_to_iter_based=True)
    """
