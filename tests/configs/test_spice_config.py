"""configs/spice.py, the main job, shortened: it trains, writes its files, and errors fall."""
import json
import os

import pytest
import torch

from tests.support.configs import ROOT
from trainkit.checkpointing.format import load_checkpoint
from trainkit.config.load import load_config
from trainkit.engine.data import build_dataset
from trainkit.engine.runner import Runner

CONFIG = os.path.join(ROOT, 'configs', 'spice.py')
EPOCHS = 4


def spice_cfg(tmp_path, *options):
    data = tmp_path / 'spice-demo.hdf5'
    return load_config(CONFIG, [f'work_dir={tmp_path / "work"}',
                                f'train_dataloader.dataset.path={data}',
                                f'val_dataloader.dataset.path={data}',
                                f'test_dataloader.dataset.path={data}', *options])


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Validate the untrained model, train EPOCHS epochs, validate the raw weights again."""
    tmp_path = tmp_path_factory.mktemp('spice')
    runner = Runner.from_cfg(spice_cfg(tmp_path, f'train_cfg.max_epochs={EPOCHS}'))
    runner.log.console = runner.default_console = lambda line: None
    before = runner.val()
    runner.train()
    ema_hook, = [h for h in runner.hooks if type(h).__name__ == 'EMAHook']
    ema_hook.validate_with_ema = False
    after = runner.val()
    return runner, before, after


def test_the_demo_file_is_written_when_missing(trained):
    runner, _, _ = trained
    dataset = runner.train_dataloader.dataset
    assert os.path.isfile(dataset.path)
    val, test = runner.val_dataloader.dataset, build_dataset(
        runner.test_dataloader['dataset'], 'test_dataloader.dataset')
    assert len(dataset) + len(val) + len(test) == 48 * 50
    assert (len(dataset.names), len(val.names), len(test.names)) == (36, 7, 5)
    assert not set(dataset.names) & set(val.names) and not set(test.names) & set(val.names)
    assert not set(dataset.names) & set(test.names)


def test_energy_and_forces_errors_fall(trained):
    _, before, after = trained
    assert after['forces_mae'] < 0.3 * before['forces_mae']
    assert after['energy_mae'] < 0.8 * before['energy_mae']
    assert after['weighted_mae'] < 0.3 * before['weighted_mae']


def test_logs_and_checkpoints(trained):
    runner, _, _ = trained
    work = runner.work_dir
    text = open(os.path.join(work, 'loss.log'), encoding='utf-8').read()
    assert 'Training Completed' in text and 'Best Checkpoint: ' in text
    rows = [json.loads(line) for line in open(os.path.join(work, 'loss.jsonl'))]
    val = [r for r in rows if r['kind'] == 'val']
    assert [r['epoch'] for r in val] == list(range(1, EPOCHS + 1))
    assert all(r['ema'] for r in val)  # the config validates with the EMA weights
    assert val[-1]['forces_mae'] < val[0]['forces_mae']
    last = torch.load(os.path.join(work, 'spice-demo_last.pt'), weights_only=True)
    assert last['meta']['epoch'] == EPOCHS
    best_files = sorted(f for f in os.listdir(work) if f[len('spice-demo_'):-3].isdigit())
    assert best_files == ['spice-demo_0.pt', 'spice-demo_1.pt', 'spice-demo_2.pt']
    recorded = sorted(load_checkpoint(os.path.join(work, f))['meta']['value']
                      for f in best_files)
    assert recorded == sorted(r['weighted_mae'] for r in val)[:3]
    assert os.path.isfile(os.path.join(work, 'spice-demo_config.py'))


def test_dry_run_of_the_config(tmp_path, capsys):
    from tools.train import main
    data = tmp_path / 'spice-demo.hdf5'
    code = main([CONFIG, '--dry-run', '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                 f'train_dataloader.dataset.path={data}', f'val_dataloader.dataset.path={data}'])
    out = capsys.readouterr().out
    assert code == 0
    assert "'type': 'NeuralPotential'" in out and 'Parameter groups:' in out
    assert not os.path.exists(tmp_path / 'work' / 'loss.log')
    assert not os.path.exists(data)  # the demo file is not written by a dry run
