"""tools/test.py on a trained demo checkpoint of configs/spice.py: the numbers of
Runner.val() on the same molecules, the table, the JSON, and bad input."""
import json
import re

import pytest

from tests.support.trained_potential import CONFIG, train_demo
from tools.test import main


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    return train_demo(tmp_path_factory.mktemp('demo'))


def run(trained, *args, options=()):
    return main([CONFIG, trained.checkpoint, *args,
                 '--cfg-options', *trained.options, *options])


def test_on_the_validation_molecules_it_reproduces_runner_val(trained, tmp_path, capsys):
    """The checkpoint's EMA weights on the val split = the runner's EMA validation now."""
    expected = trained.runner.val()
    out = tmp_path / 'results.json'
    assert run(trained, '--out', str(out), options=['test_dataloader.dataset.split=val']) == 0
    results = json.loads(out.read_text())
    assert results['weights'] == 'EMA' and results['epoch'] == 2
    assert results['metrics'] == expected        # the same loop, weights, batches: exact
    val_set = trained.runner.val_dataloader.dataset
    assert results['molecules'] == len(val_set.names) == 2
    assert results['conformations'] == len(val_set) == 8
    assert "split='val'" in results['dataset']
    assert results['units'] == {'energy': 'eV', 'energy_per_atom': 'eV/atom',
                                'forces': 'eV/Å per component'}
    printed = capsys.readouterr().out
    assert '2 molecules, 8 conformations' in printed


def test_the_table_on_the_test_split_and_runner_test(trained, capsys):
    assert run(trained) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f'Test of {trained.checkpoint} (EMA weights, epoch 2)')
    assert "split='test': 1 molecule, 4 conformations" in lines[1]
    rows = {line[:20].strip(): line[20:].split() for line in lines[3:]}
    expected = trained.runner.test()    # the same molecules, from Python
    assert set(rows) == {'energy', 'energy per atom', 'forces', 'weighted MAE', 'loss'}
    assert rows['energy'][2:] == ['eV'] and rows['forces'][2:] == ['eV/Å', 'per', 'component']
    assert rows['energy per atom'][2] == 'eV/atom'
    for name, key in (('energy', 'energy'), ('forces', 'forces'),
                      ('energy per atom', 'energy_per_atom')):
        assert float(rows[name][0]) == pytest.approx(expected[f'{key}_mae'], rel=1e-5)
        assert float(rows[name][1]) == pytest.approx(expected[f'{key}_rmse'], rel=1e-5)
    test_names = set(trained.runner.test_dataloader.dataset.names)
    assert not test_names & set(trained.runner.train_dataloader.dataset.names)
    assert not test_names & set(trained.runner.val_dataloader.dataset.names)


def test_raw_weights_differ_from_ema(trained, tmp_path):
    ema, raw = tmp_path / 'ema.json', tmp_path / 'raw.json'
    assert run(trained, '--out', str(ema)) == 0
    assert run(trained, '--no-ema', '--out', str(raw)) == 0
    ema, raw = json.loads(ema.read_text()), json.loads(raw.read_text())
    assert raw['weights'] == 'raw'
    assert raw['metrics']['forces_mae'] != ema['metrics']['forces_mae']


def test_no_training_data_or_optimizer_is_built(trained, monkeypatch):
    import trainkit.engine.runner as runner_module
    monkeypatch.setattr(runner_module.Runner, '__init__', None)   # no Runner (no optimizer)
    # training data that cannot be built (no such file) does not matter to a test run
    assert run(trained, options=['train_dataloader.dataset.path=/no/such/file.hdf5',
                                 'train_dataloader.dataset.demo_if_missing=False']) == 0


@pytest.mark.parametrize('options, args, message', [
    ([], ['--checkpoint-missing'], 'does not exist'),
    (['test_dataloader=None'], [], 'test_dataloader: missing'),
    (['test_dataloader.dataset.test_fraction=0.0'], [],
     "split='test' of .* is empty: test_fraction=0.0"),
    (['test_dataloader.dataset.reference_energies=None'], [],
     'other reference energies than the model was trained with'),
    (['test_cfg.fp61=True'], [], r"test_cfg: unknown key 'fp61'"),
    ([], ['--out', 'no/such/folder/r.json'], 'folder'),
])
def test_bad_input_exits_2(trained, capsys, tmp_path, monkeypatch, options, args, message):
    monkeypatch.chdir(tmp_path)
    if args == ['--checkpoint-missing']:
        code = main([CONFIG, str(tmp_path / 'missing.pt'), '--cfg-options', *trained.options])
    else:
        code = run(trained, *args, options=options)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith('error: ') and 'Traceback' not in err
    assert re.search(message, err), err
    assert not (tmp_path / 'no').exists()

