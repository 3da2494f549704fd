"""auto_scale_lr rules: linear B/B0 and sqrt sqrt(B/B0), effective batch over ranks and
gradient accumulation, on a Runner built from the tiny config."""
import math

import pytest

from tests.support.configs import tiny_config
from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError

BASE_LR = 1e-2  # tiny_config's AdamW lr


@pytest.mark.parametrize('rule, accumulate, expected', [
    ('sqrt', 1, BASE_LR * math.sqrt(16 / 4)),
    ('linear', 1, BASE_LR * 16 / 4),
    ('sqrt', 2, BASE_LR * math.sqrt(32 / 4)),   # accumulation doubles the effective batch
])
def test_scaled_lr_follows_rule(tmp_path, rule, accumulate, expected):
    cfg = tiny_config(tmp_path, auto_scale_lr=dict(base_batch_size=4, enable=True, rule=rule),
                      param_scheduler=None)
    cfg['optim_wrapper']['accumulative_counts'] = accumulate
    runner = Runner.from_cfg(cfg)
    assert runner.lr_scale == pytest.approx(expected / BASE_LR)
    lr = runner.optim_wrapper.optimizer.param_groups[0]['lr']
    assert lr == pytest.approx(expected)


def test_unknown_rule_is_a_config_error(tmp_path):
    cfg = tiny_config(tmp_path, auto_scale_lr=dict(base_batch_size=4, enable=True, rule='sqr'))
    with pytest.raises(ConfigError, match="did you mean 'sqrt'"):
        Runner.from_cfg(cfg)


def test_scaled_lr_is_logged(tmp_path):
    cfg = tiny_config(tmp_path, auto_scale_lr=dict(base_batch_size=4, enable=True, rule='sqrt'),
                      param_scheduler=None)
    cfg['optim_wrapper']['accumulative_counts'] = 2
    runner = Runner.from_cfg(cfg)
    runner.train()
    with open(tmp_path / 'loss.log', encoding='utf-8') as f:
        text = f.read()
    # batch 16 x 1 rank x 2 accumulation steps = 32; sqrt(32 / 4) = 2.828...
    assert 'auto_scale_lr (sqrt): total batch 32, factor sqrt(32 / 4) = 2.82843' in text
    assert f'to {BASE_LR * math.sqrt(8):.4g}' in text
