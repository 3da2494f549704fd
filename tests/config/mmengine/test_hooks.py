"""MMEngine-form hooks give MMEngine's numbers: EMA weights step by step, early stopping on the
same metric sequence; EmptyCacheHook and SyncBuffersHook are real hooks."""
import copy
import math

import pytest
import torch
from mmengine.hooks import EarlyStoppingHook as MMEarlyStopping
from mmengine.model import ExponentialMovingAverage, MomentumAnnealingEMA

from trainkit.errors import ConfigError
from trainkit.hooks import EarlyStoppingHook, EMAHook, EmptyCacheHook


class FakeRunner:
    def __init__(self, model):
        self.unwrapped_model, self.stepped, self.epoch, self.step = model, True, 0, 0
        self.stop = None

    def request_stop(self, reason):
        self.stop = reason


@pytest.mark.parametrize('ema_type, mm_cls, kwargs', [
    ('ExponentialMovingAverage', ExponentialMovingAverage, dict(momentum=0.1)),
    ('MomentumAnnealingEMA', MomentumAnnealingEMA, dict(momentum=0.05, gamma=4)),
    ('ExponentialMovingAverage', ExponentialMovingAverage, dict(momentum=0.1, interval=2)),
])
@pytest.mark.parametrize('begin_iter', [0, 3])
def test_ema_weights_equal_mmengine_step_by_step(ema_type, mm_cls, kwargs, begin_iter):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    hook = EMAHook(ema_type=ema_type, begin_iter=begin_iter, **kwargs)
    reference = mm_cls(copy.deepcopy(model), **kwargs)
    runner = FakeRunner(model)
    hook.before_run(runner)
    for step in range(8):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        runner.step += 1  # the Runner counts the step before after_train_iter
        hook.after_train_iter(runner, step, None, None, None)
        if step + 1 >= begin_iter:  # MMEngine's EMAHook: runner.iter + 1 >= begin_iter
            reference.update_parameters(model)
        else:
            reference.module.load_state_dict(model.state_dict())
        for ours, theirs in zip(hook.ema.module.parameters(), reference.module.parameters()):
            torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)


def test_ema_state_round_trip_keeps_the_step_count():
    model = torch.nn.Linear(2, 1)
    hook = EMAHook(ema_type='MomentumAnnealingEMA', momentum=0.01)
    runner = FakeRunner(model)
    hook.before_run(runner)
    for step in range(3):
        hook.after_train_iter(runner, step, None, None, None)
    again = EMAHook(ema_type='MomentumAnnealingEMA', momentum=0.01)
    again.load_state_dict(hook.state_dict())
    again.before_run(runner)
    assert again.calls == 3


@pytest.mark.parametrize('kwargs, message', [
    (dict(ema_decay=0.9, momentum=0.1), 'not both'),
    (dict(ema_type='StochasticWeightAverage'), 'ExponentialMovingAverage'),
    (dict(momentum=0.1, update_buffers=True), 'update_buffers=True is not supported'),
    (dict(begin_iter=2, begin_epoch=1), 'not both'),
])
def test_ema_mmengine_arguments_checked(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        EMAHook(**kwargs)


SEQUENCES = [
    ('loss', dict(patience=2, min_delta=0.1), [1.0, 0.95, 0.5, 0.45, 0.44, 0.43, 0.2]),
    ('accuracy', dict(patience=3, min_delta=0.0), [0.1, 0.2, 0.2, 0.15, 0.19, 0.3]),
    ('accuracy', dict(patience=5, stopping_threshold=0.5), [0.1, 0.4, 0.6, 0.7]),
    ('loss', dict(patience=5), [1.0, float('nan'), 0.5]),
]


def _first_stop_mmengine(monitor, kwargs, values):
    hook = MMEarlyStopping(monitor=monitor, **kwargs)
    for i, value in enumerate(values):
        if hook._check_stop_condition(value)[0]:
            return i
    return None


@pytest.mark.parametrize('monitor, kwargs, values', SEQUENCES)
def test_single_metric_early_stopping_stops_where_mmengine_does(monitor, kwargs, values):
    hook = EarlyStoppingHook(monitor=monitor, **kwargs)
    runner = FakeRunner(None)
    stop = None
    for i, value in enumerate(values):
        runner.val_metrics = {monitor: value}
        hook.after_train_epoch(runner)
        if runner.stop is not None:
            stop = i
            break
    assert stop == _first_stop_mmengine(monitor, kwargs, values)
    assert stop is not None or not any(math.isnan(v) for v in values)


def test_single_metric_rule_guessed_as_mmengine_or_asked_for():
    assert EarlyStoppingHook(monitor='coco/bbox_mAP').criteria[0].rule == 'greater'
    assert EarlyStoppingHook(monitor='loss').criteria[0].rule == 'less'
    with pytest.raises(ConfigError, match="give rule='less' or rule='greater'"):
        EarlyStoppingHook(monitor='energy_mae')


def test_early_stopping_forms_not_mixed():
    with pytest.raises(ConfigError, match='not both'):
        EarlyStoppingHook(monitor='loss', early_stoppings=dict(energy=dict(patience=2)))
    with pytest.raises(ConfigError, match='patience belong to the single-metric form'):
        EarlyStoppingHook(early_stoppings=dict(energy=dict(patience=2)), patience=3)


def test_empty_cache_hook_points():
    hook = EmptyCacheHook(before_epoch=True, after_epoch=False, after_iter=True)
    assert {p for p in ('before_train_epoch', 'after_train_epoch', 'after_train_iter',
                        'before_val_epoch', 'after_val_epoch') if hook.implements(p)} == {
        'before_train_epoch', 'before_val_epoch', 'after_train_iter'}
    assert hook.active == torch.cuda.is_available()
    with pytest.raises(ConfigError):
        EmptyCacheHook(after_iter='yes')


def _sync_buffers_worker(rank, init_file, out_dir):
    import torch.distributed as dist

    from trainkit.hooks import SyncBuffersHook
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=2)
    try:
        model = torch.nn.BatchNorm1d(3)
        model.running_mean.fill_(float(rank))          # each rank saw other data
        model.num_batches_tracked.fill_(10 + rank)     # integer buffers are left alone
        runner = FakeRunner(model)
        runner.world_size = 2
        SyncBuffersHook().before_val_epoch(runner)
        torch.save({'mean': model.running_mean.clone(), 'count': model.num_batches_tracked},
                   f'{out_dir}/rank{rank}.pt')
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned processes import torch
def test_sync_buffers_hook_averages_buffers_over_processes(tmp_path):
    import torch.multiprocessing as mp
    mp.start_processes(_sync_buffers_worker, args=(str(tmp_path / 'init'), str(tmp_path)),
                       nprocs=2, start_method='spawn')
    for rank in (0, 1):
        state = torch.load(tmp_path / f'rank{rank}.pt')
        assert torch.equal(state['mean'], torch.full((3,), 0.5))
        assert int(state['count']) == 10 + rank
