"""search.space: key paths checked against the config with did-you-mean, distributions
checked, grid values listed."""
import pytest

from tests.support.configs import tiny_config
from trainkit.errors import ConfigError
from trainkit.tuning.space import check_space, grid_values

LR = dict(type='float', low=1e-4, high=1e-2, log=True)


def test_valid_space_passes(tmp_path):
    check_space(tiny_config(tmp_path), {
        'optim_wrapper.optimizer.lr': LR,
        'optim_wrapper.optimizer.weight_decay': dict(type='float', low=0.0, high=0.1),
        'param_scheduler.0.warmup_epochs': dict(type='int', low=0, high=2)})


@pytest.mark.parametrize('key, message', [
    ('optim_wrapper.optimizr.lr', "did you mean 'optimizer'"),
    ('optim_wrapper.optimizer.lrr', "did you mean 'lr'"),
    ('param_scheduler.5.end', 'indexes a list of 2 items'),
])
def test_bad_key_path(tmp_path, key, message):
    with pytest.raises(ConfigError, match=message):
        check_space(tiny_config(tmp_path), {key: LR})


def test_bad_distribution(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'float'"):
        check_space(tiny_config(tmp_path), {'optim_wrapper.optimizer.lr': dict(type='flaot')})
    with pytest.raises(ConfigError, match='low > 0'):
        check_space(tiny_config(tmp_path),
                    {'optim_wrapper.optimizer.lr': dict(type='float', low=0, high=1, log=True)})


def test_grid_values():
    assert grid_values('k', dict(type='int', low=32, high=128, step=32)) == [32, 64, 96, 128]
    assert grid_values('k', dict(type='categorical', choices=[10, 100])) == [10, 100]
    with pytest.raises(ConfigError, match='step='):
        grid_values('k', LR)
