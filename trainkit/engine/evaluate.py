"""One pass of a model over a data loader: the metrics and the mean loss.

The loop behind ``Runner.val()``, ``Runner.test()`` and ``tools/test.py``, written once::

    metrics = evaluate(model, loader, ErrorMetrics(...), loss, torch.device('cpu'))
    # {'energy_mae': ..., 'energy_rmse': ..., 'forces_mae': ..., 'loss': ...}

The model runs in eval mode (its mode is restored afterwards) and without gradients (a
potential computes its forces inside ``forward`` with ``torch.enable_grad``). Metrics and the
loss are summed on the device and reduced once over all ranks.
"""
from typing import Dict, Optional

import torch
from torch import nn

from trainkit.engine.data import move_batch
from trainkit.utils.dist import all_reduce_sum


@torch.no_grad()
def evaluate(model: nn.Module, loader, metrics, loss, device: torch.device) -> Dict[str, float]:
    """Metrics of ``model`` on ``loader``, plus ``'loss'`` (the mean over batches) when
    ``loss`` is given or the model returns a ``'loss'`` entry.

    Args:
        model: the model to evaluate (not wrapped in DDP).
        loader: batches (dicts) as the model takes them.
        metrics: an object with ``reset``/``update``/``compute`` or None.
        loss: a callable ``(preds, batch) -> {'loss': ...}`` or None.
        device: where the model is; batches are moved there (a CPU batch stays as it is).
    """
    was_training = model.training
    model.eval()
    if metrics is not None:
        metrics.reset()
    loss_total, loss_batches = torch.zeros((), dtype=torch.float64, device=device), 0
    on_device = device.type != 'cpu'
    for batch in loader:
        if on_device:
            batch = move_batch(batch, device)
        preds = model(batch)
        if metrics is not None:
            metrics.update(preds, batch)
        value = _loss_value(loss, preds, batch)
        if value is not None:
            # summed on the device; an indexed in-place add would cost 2 more ops a batch
            loss_total = loss_total + value.detach()
            loss_batches += 1
    model.train(was_training)
    results = metrics.compute(all_reduce_sum) if metrics is not None else {}
    loss_sum = torch.stack([loss_total, loss_total.new_tensor(float(loss_batches))])
    all_reduce_sum(loss_sum)
    if loss_sum[1] > 0:
        results['loss'] = float(loss_sum[0] / loss_sum[1])
    return results


def _loss_value(loss, preds, batch) -> Optional[torch.Tensor]:
    if loss is not None:
        return loss(preds, batch)['loss']
    if isinstance(preds, dict) and 'loss' in preds:
        return preds['loss']
    return None
