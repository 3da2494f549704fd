"""Early stopping rules of the reference trainer, as data."""
import pytest

from tests.support.components import FakeRunner, first_stop_epoch
from trainkit.errors import ConfigError
from trainkit.hooks.early_stopping import EarlyStoppingHook


def stop_epoch(series, early_stoppings, mode='and'):
    """Feed per-epoch metric dicts; return the 1-based epoch at which a stop is requested."""
    return first_stop_epoch(EarlyStoppingHook(early_stoppings, mode), series)


def series(**values):
    """series(energy_mae=[...], forces_mae=[...]) -> list of per-epoch metric dicts."""
    keys = list(values)
    return [dict(zip(keys, row)) for row in zip(*values.values())]


CASES = [
    # (metric series, criteria, mode, expected stop epoch)
    (series(e_mae=[5, 4, 4, 4, 4]), dict(e=dict(patience=3)), 'and', 5),
    (series(e_mae=[5, 4, 4.5, 3.9, 4, 4, 4]), dict(e=dict(patience=3)), 'and', 7),
    # improvements of at most `threshold` do not count
    (series(e_mae=[5, 4.9995, 4.9993, 4.9991]), dict(e=dict(patience=3, threshold=0.001)),
     'and', 4),
    (series(e_mae=[5, 4.9, 4.8, 4.7]), dict(e=dict(patience=3, threshold=0.001)), 'and', None),
    # below lower_bound is satisfied at once (strictly below)
    (series(e_mae=[0.1, 0.05, 0.043, 0.042]), dict(e=dict(lower_bound=0.043)), 'and', 4),
    # and: both needed; or: either
    (series(e_mae=[1, 0.01, 0.01, 0.01, 0.01], f_mae=[1, 0.9, 0.8, 0.7, 0.6]),
     dict(e=dict(patience=2, lower_bound=0.001), f=dict(patience=2)), 'and', None),
    (series(e_mae=[1, 0.01, 0.01, 0.01, 0.01], f_mae=[1, 0.9, 0.8, 0.7, 0.6]),
     dict(e=dict(patience=2, lower_bound=0.001), f=dict(patience=2)), 'or', 4),
    (series(e_mae=[1, 0.01, 0.01, 0.01], f_mae=[1, 0.9, 0.9, 0.9]),
     dict(e=dict(patience=2), f=dict(patience=2)), 'and', 4),
    # the reference's example 2: energy RMSE stalls for 100 or forces RMSE < 0.043
    (series(e_rmse=[1.0] * 3, f_rmse=[0.05, 0.044, 0.042]),
     dict(e=dict(metric='rmse', patience=100, threshold=0.001),
          f=dict(metric='rmse', lower_bound=0.043)), 'or', 3),
]


@pytest.mark.parametrize('metrics, criteria, mode, expected', CASES)
def test_stop_epoch(metrics, criteria, mode, expected):
    assert stop_epoch(metrics, criteria, mode) == expected


def test_state_round_trip_continues_counting():
    criteria = dict(e=dict(patience=3))
    hook = EarlyStoppingHook(criteria)
    runner = FakeRunner()
    for value in (5, 4, 4):
        runner.val_metrics = {'e_mae': value}
        hook.after_train_epoch(runner)
    resumed = EarlyStoppingHook(criteria)
    resumed.load_state_dict(hook.state_dict())
    assert resumed.state_dict() == {'e': {'best': 4, 'wait': 1}}
    for value in (4, 4):
        runner.val_metrics = {'e_mae': value}
        resumed.after_train_epoch(runner)
    assert 'e_mae has not improved by more than 0 for 3 validations' in runner.stop_reason


def test_epochs_without_validation_do_not_count():
    hook = EarlyStoppingHook(dict(e=dict(patience=1)))
    runner = FakeRunner()
    for metrics in ({'e_mae': 1.0}, None, None, {'e_mae': 0.5}):
        runner.val_metrics = metrics
        hook.after_train_epoch(runner)
    assert runner.stop_reason is None


@pytest.mark.parametrize('criteria, mode, message', [
    (dict(e=dict(metric='mea', patience=2)), 'and', "'mea' is not one of .* did you mean 'mae'"),
    (dict(e=dict(patiance=2)), 'and', "unknown key 'patiance' — did you mean 'patience'"),
    (dict(e=dict(metric='mae')), 'and', 'give patience, lower_bound or both'),
    (dict(e=dict(patience=2)), 'xor', "expected 'and' or 'or'"),
    (dict(e=dict(patience=0)), 'and', 'expected an int >= 1'),
])
def test_bad_criteria(criteria, mode, message):
    with pytest.raises(ConfigError, match=message):
        EarlyStoppingHook(criteria, mode)
