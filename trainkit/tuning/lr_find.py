"""The learning-rate range test (Leslie Smith, "Cyclical Learning Rates", 2017).

Train for ``num_steps`` batches while the LR grows exponentially from ``start_lr`` to
``end_lr``; record the loss, stop once its running average (exponential, bias-corrected)
exceeds ``diverge`` times its minimum or the loss is not finite, and suggest the LR where the
loss, smoothed by a centred average, falls fastest against log(LR)::

    result = lr_find_from_cfg(load_config('configs/spice.py'), start_lr=1e-6, end_lr=1)
    result.suggestion, result.lrs, result.smoothed
    plot_lr_find(result, 'lr_find.png')

The test trains a model built from the config (with the weights ``ckpt_file`` names, if any)
and writes nothing but the picture: the config's work dir and checkpoints are not touched.
Parameter groups keep their LR ratios (paramwise multipliers); schedulers, warmup and gradient
accumulation are left out (the LR changes at every batch).
"""
import copy
import math
from dataclasses import dataclass, field
from typing import List, Optional

import torch

from trainkit.config.load import apply_cfg_options
from trainkit.engine.data import move_batch
from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError
from trainkit.utils.checks import expect_int, expect_number


@dataclass
class LRFindResult:
    """The recorded test: one entry per batch trained; ``smoothed`` is the centred average
    the suggestion is read from."""

    lrs: List[float] = field(default_factory=list)
    losses: List[float] = field(default_factory=list)
    smoothed: List[float] = field(default_factory=list)
    suggestion: Optional[float] = None
    stopped: str = ''


def lr_at(step: int, start_lr: float, end_lr: float, num_steps: int) -> float:
    """The LR of batch ``step`` (0-based): ``start * (end/start) ** (step / (num_steps-1))``."""
    return start_lr * (end_lr / start_lr) ** (step / max(1, num_steps - 1))


def steepest_descent(lrs: List[float], smoothed: List[float], skip_start: int = 10,
                     skip_end: int = 5) -> Optional[float]:
    """The LR where ``d smoothed / d log(lr)`` is most negative, leaving out the first
    ``skip_start`` points (the average is still settling) and the last ``skip_end`` (the
    divergence); None with fewer than 3 points left. The slope at a point is taken across a
    window of a twentieth of the points on each side, so that batch noise left in the
    average does not pass for a descent."""
    lo, hi = skip_start, len(lrs) - skip_end
    if hi - lo < 3:
        return None
    logs = [math.log(lr) for lr in lrs[lo:hi]]
    values = smoothed[lo:hi]
    w = max(1, len(values) // 20)
    if len(values) <= 2 * w:
        w = 1
    slopes = {i: (values[i + w] - values[i - w]) / (logs[i + w] - logs[i - w])
              for i in range(w, len(values) - w)}
    return lrs[lo + min(slopes, key=slopes.get)]


def _check(start_lr, end_lr, num_steps, beta, diverge) -> None:
    expect_number(start_lr, '--start-lr', above=0)
    expect_number(end_lr, '--end-lr', above=start_lr, hint='the LR grows from start to end')
    expect_int(num_steps, '--num-steps', at_least=10)
    expect_number(beta, 'smoothing beta', at_least=0, below=1)
    expect_number(diverge, '--diverge', above=1)


def lr_range_test(runner: Runner, start_lr: float = 1e-7, end_lr: float = 10.0,
                  num_steps: int = 300, beta: float = 0.98, diverge: float = 4.0
                  ) -> LRFindResult:
    """Run the test on a built Runner's model, optimizer, loss and training data (the runner
    does not train and writes nothing)."""
    _check(start_lr, end_lr, num_steps, beta, diverge)
    model, wrapper = runner.unwrapped_model, runner.optim_wrapper
    groups = wrapper.optimizer.param_groups
    ratios = [g['lr'] / groups[0]['lr'] if groups[0]['lr'] else 1.0 for g in groups]
    model.train()
    result, average, best = LRFindResult(), 0.0, math.inf
    on_device = runner.device.type != 'cpu'
    step = 0
    while step < num_steps:
        for batch in runner.train_dataloader:
            lr = lr_at(step, start_lr, end_lr, num_steps)
            for group, ratio in zip(groups, ratios):
                group['lr'] = lr * ratio
            if on_device:
                batch = move_batch(batch, runner.device)
            preds = model(batch)
            loss = (runner.loss(preds, batch) if runner.loss is not None else preds)['loss']
            value = float(loss.detach())
            if not math.isfinite(value):
                result.stopped = f'the loss became {value} at lr {lr:.3g}'
                break
            wrapper.update_params(loss)
            # the running average decides when to stop (it sees only the past)
            average = beta * average + (1 - beta) * value
            smoothed = average / (1 - beta ** (step + 1))
            result.lrs.append(lr)
            result.losses.append(value)
            best = min(best, smoothed)
            step += 1
            if smoothed > diverge * best:
                result.stopped = (f'the smoothed loss {smoothed:.4g} exceeded {diverge:g} x its '
                                  f'minimum {best:.4g} at lr {lr:.3g}')
                break
            if step >= num_steps:
                break
        if result.stopped:
            break
    result.stopped = result.stopped or f'reached end_lr after {step} steps'
    result.smoothed = centred_average(result.losses, max(1, len(result.losses) // 15))
    result.suggestion = steepest_descent(result.lrs, result.smoothed,
                                         skip_start=max(1, len(result.lrs) // 10),
                                         skip_end=5)
    return result


def centred_average(values: List[float], half: int) -> List[float]:
    """The mean over ``half`` points on each side (fewer at the ends): a smoothing without
    the lag of the running average, which would shift the steepest descent to higher LRs."""
    out = []
    for i in range(len(values)):
        window = values[max(0, i - half):i + half + 1]
        out.append(sum(window) / len(window))
    return out


def lr_find_from_cfg(cfg, **kwargs) -> LRFindResult:
    """Build the config's model, optimizer, loss and data (no hooks, schedules, accumulation
    or resume), load ``ckpt_file`` weights if the config names them, and run the test."""
    cfg = copy.deepcopy(cfg)
    apply_cfg_options(cfg, [('param_scheduler', None), ('resume', False),
                            ('optim_wrapper.accumulative_counts', 1)])
    runner = Runner.from_cfg(cfg, hooks=[])
    if runner.ckpt_file:
        runner.checkpointer.load_weights(runner.ckpt_file, strict=runner.load_strict,
                                         use_ema=runner.load_ema)
    with torch.enable_grad():
        return lr_range_test(runner, **kwargs)


def plot_lr_find(result: LRFindResult, path: str) -> None:
    """Loss and smoothed loss against the LR (log scale), the suggestion marked."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ConfigError(f'--out {path}: drawing needs matplotlib ({err}); pip install '
                          f'matplotlib, or read the numbers from the CSV') from err
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(result.lrs, result.losses, color='0.75', linewidth=0.8, label='loss')
    ax.plot(result.lrs, result.smoothed, color='C0', label='smoothed loss')
    if result.suggestion is not None:
        ax.axvline(result.suggestion, color='C3', linestyle='--',
                   label=f'steepest descent: lr {result.suggestion:.3g}')
    ax.set_xscale('log')
    ax.set_xlabel('learning rate')
    ax.set_ylabel('training loss')
    finite = [v for v in result.smoothed if math.isfinite(v)]
    if finite:
        ax.set_ylim(min(finite) * 0.9 if min(finite) > 0 else None,
                    max(finite[0] * 1.5, min(finite) * 2))
    ax.legend()
    ax.set_title('LR range test')
    fig.savefig(path, dpi=100, bbox_inches='tight')
    plt.close(fig)
