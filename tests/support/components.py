"""Components registered for tests: scripted metrics, a NaN-making dataset, a crash hook."""
import os

import torch

from trainkit.datasets.synthetic import SyntheticRegression
from trainkit.hooks import Hook
from trainkit.registry import DATASETS, HOOKS, METRICS, MODELS


@METRICS.register_module(force=True)
class ScriptedMetric:
    """Returns ``{key: values[i]}`` at the i-th validation, whatever the model does."""

    def __init__(self, values, key='score', targets=('y',)):
        self.values, self.key, self.targets, self.calls = list(values), key, list(targets), 0

    def bind_loss_weights(self, weights):
        pass

    def reset(self):
        pass

    def update(self, preds, batch):
        pass

    def compute(self, reduce_fn=None):
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return {self.key: value}


@DATASETS.register_module(force=True)
class NaNAfter(SyntheticRegression):
    """SyntheticRegression whose targets become NaN from sample ``start`` on."""

    def __init__(self, start, **kwargs):
        super().__init__(**kwargs)
        self.y[start:] = float('nan')


class Crash(RuntimeError):
    pass


@HOOKS.register_module(force=True)
class CrashAfterEpoch(Hook):
    """Raise after the checkpoint of epoch ``epoch`` (1-based) is written: a simulated kill."""

    priority = 'LOWEST'

    def __init__(self, epoch):
        self.epoch = epoch

    def after_train_epoch(self, runner):
        if runner.epoch + 1 == self.epoch:
            raise self.error()

    def error(self) -> BaseException:
        return Crash(f'simulated crash after epoch {self.epoch}')


@HOOKS.register_module(force=True)
class RecordWeights(Hook):
    """Keep a copy of the raw weights after every optimizer step."""

    priority = 'HIGHEST'

    def __init__(self):
        self.history = []

    def after_train_iter(self, runner, batch_idx, batch, preds, losses):
        if runner.stepped:
            self.history.append({k: v.detach().clone() for k, v in
                                 runner.unwrapped_model.state_dict().items()})


@MODELS.register_module(force=True)
class NaNOnRankOne(torch.nn.Module):
    """A linear model whose 2nd training forward on rank 1 (under torchrun) predicts NaN."""

    def __init__(self, in_features=4):
        super().__init__()
        self.linear = torch.nn.Linear(in_features, 1)
        self.calls = 0

    def forward(self, batch):
        out = self.linear(batch['x'])
        if self.training:
            self.calls += 1
            if os.environ.get('RANK') == '1' and self.calls == 2:
                out = out * float('nan')
        return {'y': out}


class FakeRunner:
    """What an early-stopping hook sees of a runner: the validation metrics and a stop call."""

    def __init__(self):
        self.val_metrics, self.stop_reason = None, None

    def request_stop(self, reason):
        self.stop_reason = reason


def first_stop_epoch(hook, series):
    """Feed per-epoch metric dicts to an early-stopping hook; the 1-based epoch at which it
    requests a stop, or None."""
    runner = FakeRunner()
    for epoch, metrics in enumerate(series, 1):
        runner.val_metrics = metrics
        hook.after_train_epoch(runner)
        if runner.stop_reason:
            return epoch
    return None


@HOOKS.register_module(force=True)
class InterruptAfterEpoch(CrashAfterEpoch):
    """Raise KeyboardInterrupt (Ctrl-C) after the checkpoint of epoch ``epoch`` is written."""

    def error(self) -> BaseException:
        return KeyboardInterrupt()


@HOOKS.register_module(force=True)
class InterruptAtStep(Hook):
    """Ctrl-C right after optimizer step ``step``, once every other hook has run (a
    checkpoint due at that step included)."""

    priority = 'LOWEST'

    def __init__(self, step):
        self.step = step

    def after_train_iter(self, runner, batch_idx, batch, preds, losses):
        if runner.stepped and runner.step == self.step:
            raise KeyboardInterrupt(f'interrupted at step {self.step}')
