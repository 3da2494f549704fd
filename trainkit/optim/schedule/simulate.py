"""Run a parameter schedule without data or training, recording what each step would use.

Both ``tools/vis_scheduler.py`` and ``tools/train.py --dry-run`` use this, and it drives the
same :class:`~trainkit.optim.schedule.schedule.ParamSchedule` the Runner steps, so what it shows is
what a run does (plateau schedulers cannot react without validation and stay flat).
"""
import math
from typing import Dict, List

import torch


def simulate_schedule(optim_wrapper, schedule, epochs: int, steps_per_epoch: int,
                      limit: int = None) -> List[Dict[str, float]]:
    """Return one row per optimizer step: ``step, epoch, lr_g0.., mom_g0..`` and, for every
    other scheduled setting (``param_name``), ``{name}_g0..`` (e.g. ``weight_decay_g0``).

    The optimizer is stepped without gradients (parameters do not change) so that the
    schedulers see the usual optimizer-then-scheduler order. An AMP wrapper's loss scaler is
    left out meanwhile: no loss was scaled, and ``GradScaler.step`` refuses to run then.
    """
    rows = []
    total = epochs * steps_per_epoch if limit is None else min(limit, epochs * steps_per_epoch)
    scaler = getattr(optim_wrapper, 'loss_scaler', None)
    if scaler is not None:
        optim_wrapper.loss_scaler = None
    try:
        for step in range(total):
            row = {'step': step, 'epoch': step / steps_per_epoch}
            for i, lr in enumerate(schedule.lrs()):
                row[f'lr_g{i}'] = lr
            for i, momentum in enumerate(schedule.momenta()):
                row[f'mom_g{i}'] = math.nan if momentum is None else momentum
            for name, values in schedule.extra_values().items():
                row.update({f'{name}_g{i}': value for i, value in enumerate(values)})
            rows.append(row)
            with torch.no_grad():
                optim_wrapper.step()
            schedule.after_optim_step()
            if (step + 1) % steps_per_epoch == 0:
                schedule.after_epoch(None)
    finally:
        if scaler is not None:
            optim_wrapper.loss_scaler = scaler
    return rows
