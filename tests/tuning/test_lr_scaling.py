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
