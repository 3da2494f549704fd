"""The LR range test on a toy problem whose loss curve is known: a line fitted by SGD."""
import collections
import math

import pytest
import torch
from torch import nn

from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError
from trainkit.tuning.lr_find import centred_average, lr_at, lr_range_test, steepest_descent


class Line(nn.Module):
    """y = w x + b with its own MSE loss (the model contract's 'loss' entry)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, batch):
        return {'loss': ((self.w * batch['x'] + self.b - batch['y']) ** 2).mean()}


def _toy_runner(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, generator=g)
    y = 3 * x + 1 + 0.1 * torch.randn(512, generator=g)
    data = [{'x': a, 'y': b} for a, b in zip(x, y)]
    loader = torch.utils.data.DataLoader(data, batch_size=32, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    return Runner(Line(), loader, optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
                  hooks=[], work_dir=str(tmp_path / 'never'), seed=0)


def _fastest_drop(lrs, losses):
    """Independent of the tool's smoothing: the raw losses averaged per quarter decade of LR;
    the neighbouring bins whose fall is at least half the largest fall (next to it) bound
    the range where the loss drops fastest."""
    bins = collections.defaultdict(list)
    for lr, loss in zip(lrs, losses):
        bins[math.floor(math.log10(lr) * 4)].append(loss)
    keys = sorted(bins)
    means = [sum(bins[k]) / len(bins[k]) for k in keys]
    falls = [means[i] - means[i + 1] for i in range(len(keys) - 1)]
    top = max(range(len(falls)), key=falls.__getitem__)
    left = right = top
    while left > 0 and falls[left - 1] >= falls[top] / 2:
        left -= 1
    while right + 1 < len(falls) and falls[right + 1] >= falls[top] / 2:
        right += 1
    return 10 ** (keys[left] / 4), 10 ** ((keys[right] + 2) / 4)


@pytest.mark.parametrize('steps', [200, 400])
def test_suggestion_falls_where_the_loss_drops_fastest(tmp_path, steps):
    result = lr_range_test(_toy_runner(tmp_path), start_lr=1e-4, end_lr=10, num_steps=steps)
    low, high = _fastest_drop(result.lrs, result.losses)
    assert low <= result.suggestion <= high
    # the LR grew exponentially, and the test stopped on divergence before end_lr
    assert result.lrs[1] / result.lrs[0] == pytest.approx((10 / 1e-4) ** (1 / (steps - 1)))
    assert 'exceeded' in result.stopped and result.lrs[-1] < 10
    assert not (tmp_path / 'never').exists()


def test_group_ratios_are_kept(tmp_path):
    runner = _toy_runner(tmp_path)
    runner.optim_wrapper.optimizer.add_param_group({'params': [nn.Parameter(torch.zeros(1))],
                                                    'lr': 0.3})
    result = lr_range_test(runner, start_lr=1e-3, end_lr=1e-2, num_steps=10)
    groups = runner.optim_wrapper.optimizer.param_groups
    assert groups[0]['lr'] == pytest.approx(result.lrs[-1])
    assert groups[1]['lr'] == pytest.approx(3 * result.lrs[-1])


def test_pieces():
    assert lr_at(0, 1e-3, 1.0, 4) == 1e-3 and lr_at(3, 1e-3, 1.0, 4) == pytest.approx(1.0)
    assert centred_average([0, 3, 6, 9], 1) == [1.5, 3, 6, 7.5]
    lrs = [10 ** (i / 10) for i in range(40)]
    curve = [1 / (1 + math.exp(4 * (math.log10(lr) - 2))) for lr in lrs]  # falls at lr 100
    assert steepest_descent(lrs, curve, skip_start=2, skip_end=2) == pytest.approx(100)
    assert steepest_descent(lrs[:5], curve[:5]) is None


@pytest.mark.parametrize('kwargs, message', [
    (dict(start_lr=1.0, end_lr=0.1), '--end-lr'),
    (dict(start_lr=0.0), '--start-lr'),
    (dict(num_steps=3), '--num-steps'),
])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        lr_range_test(_toy_runner(tmp_path), **kwargs)
