"""Gradient accumulation: every window, the short last one of an epoch included, gives the
gradient (and, with SGD lr=1, the update) of one big batch of the window's samples."""
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from trainkit.engine.runner import Runner
from trainkit.hooks.hook import Hook
from trainkit.optim import build_optim_wrapper

NUM, ACC = 10, 4                     # windows of 4, 4, 2 batches


class Data(Dataset):
    def __init__(self, n=NUM):
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(n, 3, generator=g, dtype=torch.float64)
        self.y = torch.randn(n, 1, generator=g, dtype=torch.float64)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {'x': self.x[i], 'y': self.y[i]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).double()

    def forward(self, batch):
        return {'y': self.net(batch['x'])}


class StepRecorder(Hook):
    """Gradients seen by each optimizer step, and the weights after it."""

    def __init__(self):
        self.grads, self.weights, self.steps_in_epoch = [], [], []

    def before_run(self, runner):
        optimizer = runner.optim_wrapper.optimizer
        step = optimizer.step

        def recording_step(*args, **kwargs):
            self.grads.append([p.grad.clone() for p in runner.unwrapped_model.parameters()])
            return step(*args, **kwargs)
        optimizer.step = recording_step

    def before_train_epoch(self, runner):
        self.steps_in_epoch.append(0)

    def after_train_iter(self, runner, batch_idx, batch, preds, losses):
        if runner.stepped:
            self.steps_in_epoch[-1] += 1
            self.weights.append([p.detach().clone()
                                 for p in runner.unwrapped_model.parameters()])


def big_batch_reference(epochs, windows):
    """Plain PyTorch: one SGD(lr=1) step per window on the window's samples as one batch."""
    model, data = Net(), Data()
    grads, weights = [], []
    for _ in range(epochs):
        for start, stop in windows:
            model.zero_grad()
            pred = model({'x': data.x[start:stop]})['y']
            ((pred - data.y[start:stop]) ** 2).mean().backward()
            grads.append([p.grad.clone() for p in model.parameters()])
            with torch.no_grad():
                for p in model.parameters():
                    p -= p.grad
            weights.append([p.detach().clone() for p in model.parameters()])
    return grads, weights


def test_accumulated_windows_equal_one_big_batch_including_the_short_last(tmp_path):
    epochs = 2
    recorder = StepRecorder()
    runner = Runner(Net(), DataLoader(Data(), batch_size=1, shuffle=False),
                    optim_wrapper=dict(optimizer=dict(type='SGD', lr=1.0),
                                       accumulative_counts=ACC),
                    loss=dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0)),
                    max_epochs=epochs, hooks=[recorder], work_dir=str(tmp_path), seed=0,
                    device='cpu')
    assert runner.steps_per_epoch == math.ceil(NUM / ACC) == 3
    runner.train()
    assert recorder.steps_in_epoch == [3, 3]
    assert runner.step == 6 and runner.iter == 20

    grads, weights = big_batch_reference(epochs, [(0, 4), (4, 8), (8, 10)])
    assert len(recorder.grads) == len(grads) == 6
    for step, (got, want) in enumerate(zip(recorder.grads, grads)):
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-14, msg=f'grad, step {step}')
    for step, (got, want) in enumerate(zip(recorder.weights, weights)):
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-14, msg=f'weight, step {step}')


def test_short_window_is_not_averaged_over_n():
    """Without the per-epoch window, the last 2 batches would be divided by 4, not 2."""
    model, data = Net(), Data()
    wrapper = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=1.0),
                                              accumulative_counts=ACC))
    wrapper.begin_epoch(NUM)
    stepped = []
    for i in range(NUM):
        loss = ((model({'x': data.x[i:i + 1]})['y'] - data.y[i:i + 1]) ** 2).mean()
        wrapper.update_params(loss)
        stepped.append(wrapper.should_update())
    assert [i for i, s in enumerate(stepped) if s] == [3, 7, 9]
    # the next epoch starts a fresh window
    wrapper.begin_epoch(NUM)
    assert wrapper._inner_count == 0 and wrapper._remainder_counts == NUM % ACC


@pytest.mark.parametrize('num,acc,steps', [(8, 4, 2), (9, 4, 3), (3, 4, 1), (5, 1, 5)])
def test_optimizer_steps_per_epoch(tmp_path, num, acc, steps):
    recorder = StepRecorder()
    runner = Runner(Net(), DataLoader(Data(num), batch_size=1),
                    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01),
                                       accumulative_counts=acc),
                    loss=dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0)),
                    max_epochs=2, hooks=[recorder], work_dir=str(tmp_path), seed=0,
                    device='cpu')
    assert runner.steps_per_epoch == steps
    runner.train()
    assert recorder.steps_in_epoch == [steps, steps]
