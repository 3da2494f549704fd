"""Mixed precision on CPU: bf16 autocast inside the training step, no GradScaler, learning
works; float16 on CPU is refused with a clear message."""
import argparse

import pytest
import torch
from torch import nn

from trainkit.cli import apply_cli_overrides
from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError
from trainkit.hooks.hook import Hook
from trainkit.optim import build_optim_wrapper
from trainkit.optim.amp import AmpOptimWrapper
from trainkit.registry import MODELS


@MODELS.register_module(force=True)
class AutocastProbe(nn.Module):
    """An MLP that records, per forward, whether CPU autocast is on and the dtype it gives."""

    def __init__(self, in_features=4):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(in_features, 32), nn.SiLU(), nn.Linear(32, 1))
        self.seen = []

    def forward(self, batch):
        hidden = self.net[0](batch['x'])
        self.seen.append((self.training, torch.is_autocast_enabled('cpu'),
                          torch.get_autocast_dtype('cpu'), hidden.dtype))
        return {'y': self.net[2](self.net[1](hidden)).float()}


class ValLoss(Hook):
    def __init__(self):
        self.losses = []

    def after_val_epoch(self, runner, metrics):
        self.losses.append(metrics['loss'])


def cfg(tmp_path, **wrapper):
    return dict(
        work_dir=str(tmp_path), seed=0, model=dict(type='AutocastProbe', in_features=4),
        train_dataloader=dict(dataset=dict(type='SyntheticRegression', num_samples=64,
                                           in_features=4), batch_size=16, shuffle=True),
        val_dataloader=dict(dataset=dict(type='SyntheticRegression', num_samples=32,
                                         in_features=4, split='val'), batch_size=32),
        loss=dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0)),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2), **wrapper),
        train_cfg=dict(max_epochs=8), default_hooks=dict(logger=None, checkpoint=None))


def test_amp_flag_trains_in_bf16_on_cpu(tmp_path):
    config = cfg(tmp_path)
    apply_cli_overrides(config, argparse.Namespace(work_dir=None, seed=None, resume=None,
                                                   amp=True))
    assert config['optim_wrapper']['type'] == 'AmpOptimWrapper'
    recorder = ValLoss()
    runner = Runner.from_cfg(config, device='cpu')
    runner.hooks.append(recorder)
    wrapper = runner.optim_wrapper
    assert isinstance(wrapper, AmpOptimWrapper)
    assert wrapper.cast_dtype == torch.bfloat16 and wrapper.loss_scaler is None
    runner.train()

    seen = runner.unwrapped_model.seen
    train = [s for s in seen if s[0]]
    val = [s for s in seen if not s[0]]
    assert len(train) == 8 * 4 and len(val) == 8
    # inside the step: autocast on, bf16 activations; validation runs in full precision
    assert all(s[1:] == (True, torch.bfloat16, torch.bfloat16) for s in train)
    assert all(s[1] is False and s[3] == torch.float32 for s in val)
    # master weights stay float32, and the model learns
    assert all(p.dtype == torch.float32 for p in runner.unwrapped_model.parameters())
    assert recorder.losses[-1] < 0.6 * recorder.losses[0]
    assert not torch.is_autocast_enabled('cpu')          # nothing leaks out of the step


def test_amp_with_clip_grad_and_accumulation(tmp_path):
    runner = Runner.from_cfg(cfg(tmp_path, type='AmpOptimWrapper', dtype='bf16',
                                 clip_grad=dict(max_norm=1.0), accumulative_counts=2),
                             device='cpu')
    runner.train()
    assert runner.step == 8 * 2
    assert runner.optim_wrapper.state_dict().keys() == {'state', 'param_groups'}


@pytest.mark.parametrize('dtype', ['float16', 'fp16', torch.float16])
def test_float16_on_cpu_is_a_clear_config_error(dtype):
    with pytest.raises(ConfigError, match="float16 autocast is not supported on CPU; use "
                                          "dtype='bfloat16'"):
        build_optim_wrapper(nn.Linear(2, 1), dict(type='AmpOptimWrapper', dtype=dtype,
                                                  optimizer=dict(type='SGD', lr=0.1)))


def test_unknown_amp_dtype_is_a_clear_config_error():
    with pytest.raises(ConfigError, match="'int8' is not a mixed-precision dtype"):
        build_optim_wrapper(nn.Linear(2, 1), dict(type='AmpOptimWrapper', dtype='int8',
                                                  optimizer=dict(type='SGD', lr=0.1)))
