"""The TorchScript export runs without trainkit and gives the checkpoint's numbers."""
import json
import os
import subprocess
import sys

import pytest
import torch

from tests.support.configs import ROOT
from tests.support.trained_potential import train_demo
from tools.export import main
from trainkit.interface.load import load_model
from trainkit.interface.predict import predict

# run in a fresh interpreter that cannot import trainkit (it is installed in the venv, so
# the import is blocked): only torch loads the module
WITHOUT_TRAINKIT = r'''
import json, sys
sys.modules['trainkit'] = None
import torch
try:
    import trainkit
except ImportError:
    pass
else:
    raise SystemExit('trainkit importable')
model = torch.jit.load(sys.argv[1])
inputs = torch.load(sys.argv[2])
energy, forces = model(inputs['numbers'], inputs['positions'])
torch.save({'energy': energy, 'forces': forces}, sys.argv[3])
print(json.dumps(sorted(m for m, v in sys.modules.items() if m.startswith('trainkit') and v)))
'''


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    return train_demo(tmp_path_factory.mktemp('demo'))


def test_exported_module_without_trainkit_equals_the_checkpoint(trained, tmp_path, capsys):
    out = tmp_path / 'model.pt'
    assert main([trained.checkpoint, '--out', str(out)]) == 0
    assert 'Exported the EMA weights' in capsys.readouterr().out
    dataset = trained.runner.val_dataloader.dataset
    item = dataset[0]
    inputs = {'numbers': item['atomic_numbers'], 'positions': item['pos'].double()}
    torch.save(inputs, tmp_path / 'inputs.pt')
    script = tmp_path / 'run.py'
    script.write_text(WITHOUT_TRAINKIT)
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    done = subprocess.run([sys.executable, str(script), str(out), str(tmp_path / 'inputs.pt'),
                           str(tmp_path / 'result.pt')], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    result = torch.load(tmp_path / 'result.pt')
    expected = predict(load_model(trained.checkpoint), inputs['numbers'], inputs['positions'])
    assert result['energy'].dtype == torch.float64 and result['energy'].shape == ()
    assert result['energy'].item() == expected['energy'].item()     # bit for bit
    assert torch.equal(result['forces'], expected['forces'])


def test_float64_export_and_input_checks(trained, tmp_path):
    out = tmp_path / 'model64.pt'
    assert main([trained.checkpoint, '--out', str(out), '--dtype', 'float64', '--no-ema']) == 0
    module = torch.jit.load(str(out))
    model = load_model(trained.checkpoint, ema=False, dtype='float64')
    numbers = torch.tensor([6, 1, 1, 1, 1])
    positions = torch.tensor([[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63],
                              [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63]], dtype=torch.float64)
    energy, forces = module(numbers, positions)
    expected = predict(model, numbers, positions)
    assert energy.item() == expected['energy'].item()
    assert forces.dtype == torch.float64 and torch.equal(forces, expected['forces'])
    with pytest.raises(torch.jit.Error, match='max_z'):
        module(torch.tensor([101]), torch.zeros(1, 3))
    with pytest.raises(torch.jit.Error, match=r'\(N, 3\)'):
        module(numbers, torch.zeros(4, 3))


@pytest.mark.parametrize('args, message', [
    (['missing.pt', '--out', 'model.pt'], 'does not exist'),
    (['CKPT', '--out', 'no/such/folder/model.pt'], 'does not exist'),
])
def test_bad_input_exits_2(trained, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    args = [trained.checkpoint if a == 'CKPT' else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and message in err and 'Traceback' not in err


@pytest.mark.slow
def test_the_tool_runs_as_a_script(trained, tmp_path):
    done = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'export.py'),
                           trained.checkpoint, '--out', str(tmp_path / 'm.pt')],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert os.path.getsize(tmp_path / 'm.pt') > 1000
