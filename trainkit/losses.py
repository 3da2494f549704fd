"""Loss functions: element-wise losses and the weighted multi-target loss.

Element-wise losses (``LOSSES``, names case-insensitive): ``mae`` / ``l1``, ``mse`` / ``l2``,
``smoothl1`` (torch's definition: ``0.5·x²/β`` for ``|x| < β``, ``|x| − 0.5·β`` otherwise).

The training loss of a config is a *multi-target* loss: it takes the model's predictions and
the batch, both dicts, and returns ``{'loss': total, target: term, ...}``::

    loss = dict(type='WeightedLoss', lossfn='smoothl1',
                losses_weight=dict(energy=1.0, forces=1000.0))
"""
import functools
from typing import Dict, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn

from trainkit.errors import ConfigError, DataError
from trainkit.registry import LOSSES, lookup
from trainkit.utils.checks import expect_number


@LOSSES.register_module(name=['MAELoss', 'mae', 'l1'])
class MAELoss(nn.Module):
    """Mean absolute error ``mean(|pred − target|)``.

    Config example: ``loss = dict(type='WeightedLoss', lossfn='mae', losses_weight=...)``.
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(pred, target)


@LOSSES.register_module(name=['MSELoss', 'mse', 'l2'])
class MSELoss(nn.Module):
    """Mean squared error ``mean((pred − target)²)``.

    Config example: ``loss = dict(type='WeightedLoss', lossfn='mse', losses_weight=...)``.
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(pred, target)


@LOSSES.register_module(name=['SmoothL1Loss', 'smoothl1', 'smooth_l1', 'huber'])
class SmoothL1Loss(nn.Module):
    """torch's smooth L1: ``0.5·x²/β`` if ``|x| < β`` else ``|x| − 0.5·β``, averaged.

    Args:
        beta: where the quadratic part ends. Defaults to 1.0.

    Config example: ``loss = dict(type='WeightedLoss', lossfn='smoothl1', beta=0.5, ...)``.
    """

    def __init__(self, beta: float = 1.0):
        super().__init__()
        if beta <= 0:
            raise ConfigError(f'SmoothL1Loss: beta must be > 0, got {beta}')
        self.beta = beta

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.smooth_l1_loss(pred, target, beta=self.beta)


def _missing(container, key: str, what: str) -> DataError:
    keys = sorted(container) if isinstance(container, Mapping) else type(container).__name__
    return DataError(f'loss target {key!r} (from losses_weight) is missing in the {what}; '
                     f'the {what} has {keys}. Fix losses_weight or the '
                     f'{"model" if what == "predictions" else "dataset"}.')


def _direct_call(lossfn: nn.Module):
    """What WeightedLoss calls for ``lossfn``: for the built-in element-wise losses the ``F``
    function itself (``nn.Module.__call__`` adds nothing here: no hooks, one shape checked
    already); a loss registered by a user, or a subclass, is called as a module."""
    kind = type(lossfn)
    if kind is MSELoss:
        return F.mse_loss
    if kind is MAELoss:
        return F.l1_loss
    if kind is SmoothL1Loss:
        return functools.partial(F.smooth_l1_loss, beta=lossfn.beta)
    return lossfn


@LOSSES.register_module()
class WeightedLoss(nn.Module):
    """Σ_k w_k · l(pred_k, target_k) over the targets named in ``losses_weight``.

    Args:
        lossfn: element-wise loss name (``'smoothl1'``, ``'mae'``/``'l1'``, ``'mse'``/``'l2'``,
            case-insensitive, or any name in ``LOSSES``). Defaults to ``'smoothl1'``.
        losses_weight: ``{target: weight}``; each target is looked up in the predictions and
            in the batch. Required.
        beta: SmoothL1's β. Defaults to 1.0.

    ``forward(preds, batch)`` returns ``{'loss': total, target: unweighted term, ...}`` (the
    total first).

    Config example::

        loss = dict(type='WeightedLoss', lossfn='smoothl1',
                    losses_weight=dict(energy=1.0, forces=1000.0))
    """

    def __init__(self, losses_weight: Dict[str, float], lossfn: str = 'smoothl1',
                 beta: Optional[float] = None):
        super().__init__()
        if not isinstance(losses_weight, Mapping) or not losses_weight:
            raise ConfigError(f'loss.losses_weight: expected a non-empty dict '
                              f'{{target: weight}}, got {losses_weight!r}')
        for target, weight in losses_weight.items():
            expect_number(weight, f'loss.losses_weight.{target}', at_least=0)
        self.losses_weight = {str(k): float(v) for k, v in losses_weight.items()}
        self.lossfn = self._build_lossfn(lossfn, beta)
        # [lossfn, what to call for it]: a plain list, so nn.Module does not register the loss
        # a second time; refreshed when lossfn is replaced
        self._call_for = [None, None]

    @staticmethod
    def _build_lossfn(lossfn, beta) -> nn.Module:
        cls = lookup(LOSSES, lossfn, 'loss.lossfn')
        if cls is WeightedLoss:
            raise ConfigError("loss.lossfn: 'WeightedLoss' cannot be its own element-wise loss")
        if beta is not None and cls is not SmoothL1Loss:
            raise ConfigError(f'loss.beta is only used by smoothl1, not by {lossfn!r}')
        return cls(beta=beta) if beta is not None else cls()

    def forward(self, preds: Mapping, batch: Mapping) -> Dict[str, torch.Tensor]:
        terms = {'loss': None}
        total = None
        cache, lossfn = self._call_for, self.lossfn
        if cache[0] is not lossfn:
            cache[0], cache[1] = lossfn, _direct_call(lossfn)
        elementwise = cache[1]
        for target, weight in self.losses_weight.items():
            try:
                pred = preds[target]
            except (KeyError, TypeError):
                raise _missing(preds, target, 'predictions') from None
            try:
                truth = batch[target]
            except (KeyError, TypeError):
                raise _missing(batch, target, 'batch') from None
            if pred.shape != truth.shape:
                raise DataError(f'loss target {target!r}: the prediction has shape '
                                f'{tuple(pred.shape)} but the batch has {tuple(truth.shape)}')
            term = elementwise(pred, truth)
            terms[target] = term
            weighted = term if weight == 1.0 else term * weight
            total = weighted if total is None else total + weighted
        terms['loss'] = total
        return terms
