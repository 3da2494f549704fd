"""Runner.test(): the validation loop on test_dataloader, built on first use, no hooks."""
import json
import os

import pytest

from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError


def test_test_equals_val_on_the_same_data_and_calls_no_hook(tiny_cfg):
    tiny_cfg['test_dataloader'] = dict(tiny_cfg['val_dataloader'])
    runner = Runner.from_cfg(tiny_cfg)
    runner.log.console = runner.default_console = lambda line: None
    assert isinstance(runner.test_dataloader, dict)     # training never builds it
    runner.train()
    assert isinstance(runner.test_dataloader, dict)
    log = os.path.join(runner.work_dir, 'loss.jsonl')
    before = open(log).read()
    results = runner.test()
    assert open(log).read() == before                   # nothing logged
    assert results == runner.val()
    last_val = [row for row in map(json.loads, before.splitlines()) if row['kind'] == 'val'][-1]
    assert last_val['epoch'] == 4 and last_val['y_mae'] == results['y_mae']


def test_test_on_other_data_and_without_data(tiny_cfg):
    tiny_cfg['test_dataloader'] = dict(dataset=dict(type='SyntheticRegression', num_samples=16,
                                                    in_features=4, split='val', seed=5),
                                     batch_size=4)
    runner = Runner.from_cfg(tiny_cfg)
    results = runner.test()     # before training: the initial weights
    assert set(results) == {'y_mae', 'y_rmse', 'weighted_mae', 'loss'}
    assert len(runner.test_dataloader.dataset) == 16
    del tiny_cfg['test_dataloader']
    with pytest.raises(ConfigError, match=r'test_dataloader: missing; runner.test\(\) needs one'):
        Runner.from_cfg(tiny_cfg).test()
