"""Build the loss and the validation metrics from their config dicts (or take them built).

::

    loss = dict(type='WeightedLoss', lossfn='smoothl1', losses_weight=dict(energy=1., forces=100.))
    metrics = dict(type='ErrorMetrics')   # the default when the loss has losses_weight
"""
from typing import Any

from trainkit.errors import ConfigError
from trainkit.metrics import LossWeightedMetrics, Metrics
from trainkit.registry import LOSSES, METRICS, build


def build_loss(loss: Any):
    """A loss object from a dict (``type`` defaults to ``'WeightedLoss'``); others pass."""
    if isinstance(loss, dict):
        return build(LOSSES, loss, 'loss', default_type='WeightedLoss')
    return loss


def build_metrics(metrics: Any, loss: Any):
    """The metrics object: from a dict (``type`` defaults to ``'ErrorMetrics'``), the default
    ``ErrorMetrics`` when none is given and the loss weighs targets, or None; metrics that
    rank by the weighted MAE learn the loss weights."""
    weights = getattr(loss, 'losses_weight', None)
    if isinstance(metrics, dict):
        metrics = build(METRICS, metrics, 'metrics', default_type='ErrorMetrics')
    elif metrics is None and weights:
        metrics = build(METRICS, {}, 'metrics', default_type='ErrorMetrics')
    if metrics is not None and not isinstance(metrics, Metrics):
        missing = [name for name in ('reset', 'update', 'compute')
                   if not callable(getattr(metrics, name, None))]
        raise ConfigError(f'metrics: {type(metrics).__name__} lacks {", ".join(missing)}; a '
                          f'metrics object needs reset(), update(preds, batch) and '
                          f'compute(reduce_fn) (see trainkit.metrics.Metrics)')
    if isinstance(metrics, LossWeightedMetrics):
        metrics.bind_loss_weights(weights)
    return metrics
