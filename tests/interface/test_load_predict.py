"""The checkpoint is the model: load_model and predict on a trained demo checkpoint."""
import warnings

import pytest
import torch

from tests.support.trained_potential import CONFIG, train_demo
from trainkit.checkpointing.format import load_checkpoint
from trainkit.config.load import load_config
from trainkit.datasets.chemistry import HARTREE_TO_EV
from trainkit.datasets.molecule_collate import collate_flat
from trainkit.engine.runner import Runner
from trainkit.errors import CheckpointError, DataError
from trainkit.interface.load import load_model
from trainkit.interface.predict import predict


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    return train_demo(tmp_path_factory.mktemp('demo'))


def ema_module(runner):
    hook, = [h for h in runner.hooks if type(h).__name__ == 'EMAHook']
    return hook.ema.module


def test_reference_energies_survive_save_and_load(trained):
    """Energy from the checkpoint alone = the energy computed inside training + the offset
    the dataset subtracted (in eV), for every conformation of a validation molecule."""
    dataset = trained.runner.val_dataloader.dataset
    model = load_model(trained.checkpoint)
    fitted = {z: e * HARTREE_TO_EV for z, e in dataset.reference_energies.items()}
    assert set(fitted) == {1, 6, 7, 8} and all(e < -10 for e in fitted.values())
    for z, energy in fitted.items():
        assert model.reference_energies[z].item() == energy
    assert model.unit_scales.tolist() == [1.0, 1.0]
    trained_model = ema_module(trained.runner)
    for index in range(int(dataset.counts[0])):
        item = dataset[index]
        with torch.no_grad():
            inside = trained_model(collate_flat([item]))
        offset = dataset._offsets[0] * HARTREE_TO_EV
        out = predict(model, item['atomic_numbers'], item['pos'])
        assert out['energy'].dtype == torch.float64
        assert out['energy'].item() == pytest.approx(inside['energy'].double().item() + offset,
                                                     rel=1e-15, abs=1e-12)
        assert torch.equal(out['forces'], inside['forces'])
        # the dataset's own total: the file's energy, that the model learns to predict
        assert abs(out['energy'].item() - (item['energy'].item() + offset)) < 10.0


def test_load_model_takes_the_ema_weights_by_default(trained):
    ema = load_model(trained.checkpoint)
    raw = load_model(trained.checkpoint, ema=False)
    assert ema.checkpoint_info['weights'] == 'EMA' and raw.checkpoint_info['weights'] == 'raw'
    assert ema.checkpoint_info['epoch'] == 2
    state = load_checkpoint(trained.checkpoint)
    name = 'readout.0.weight'
    assert torch.equal(ema.state_dict()[name], state['hooks']['ema']['ema_state_dict'][name])
    assert torch.equal(raw.state_dict()[name], state['model'][name])
    assert not torch.equal(ema.state_dict()[name], raw.state_dict()[name])
    assert not ema.training and not any(p.requires_grad for p in ema.parameters())


def test_dtype_and_conformation_batches(trained):
    model = load_model(trained.checkpoint, dtype='float64')
    assert model.readout[0].weight.dtype == torch.float64
    assert model.reference_energies.dtype == torch.float64
    dataset = trained.runner.val_dataloader.dataset
    items = [dataset[i] for i in range(3)]
    numbers = items[0]['atomic_numbers']
    many = predict(model, numbers, torch.stack([it['pos'] for it in items]))
    assert many['energy'].shape == (3,) and many['forces'].shape == (3, len(numbers), 3)
    for k, it in enumerate(items):
        one = predict(model, numbers.tolist(), it['pos'].numpy())
        torch.testing.assert_close(many['energy'][k], one['energy'], rtol=1e-13, atol=1e-10)
        torch.testing.assert_close(many['forces'][k], one['forces'], rtol=1e-10, atol=1e-12)


def test_predict_refuses_shapes_that_do_not_fit(trained):
    model = load_model(trained.checkpoint)
    with pytest.raises(DataError, match=r'\(3,\) and positions \(4, 3\)'):
        predict(model, [8, 1, 1], torch.zeros(4, 3))


def test_old_checkpoint_without_reference_energies_loads_with_a_message(trained, tmp_path):
    state = load_checkpoint(trained.checkpoint)
    for weights in (state['model'], state['hooks']['ema']['ema_state_dict']):
        del weights['reference_energies'], weights['unit_scales']
    old = tmp_path / 'old.pt'
    torch.save(state, old)
    with pytest.warns(UserWarning, match=r"written before trainkit kept \['reference_energies"
                                         r"', 'unit_scales'\].*reference energies"):
        model = load_model(str(old))
    assert not model.checkpoint_info['has_data_info']
    assert torch.count_nonzero(model.reference_energies) == 0
    new = load_model(trained.checkpoint)
    item = trained.runner.val_dataloader.dataset[0]
    offset = new.reference_energy(item['atomic_numbers'],
                                  torch.zeros(len(item['pos']), dtype=torch.long), 1)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        total = predict(new, item['atomic_numbers'], item['pos'])['energy']
    relative = predict(model, item['atomic_numbers'], item['pos'])['energy']
    assert relative.item() == pytest.approx((total - offset[0]).item(), abs=1e-9)


def test_a_checkpoint_without_config_needs_the_model(trained, tmp_path):
    state = load_checkpoint(trained.checkpoint)
    state['config'] = None
    bare = tmp_path / 'bare.pt'
    torch.save(state, bare)
    with pytest.raises(CheckpointError, match=r'holds no config.*model=dict'):
        load_model(str(bare))
    model = load_model(str(bare), model=dict(type='NeuralPotential', num_features=16,
                                             num_rbf=8))
    assert torch.equal(model.reference_energies, load_model(trained.checkpoint).reference_energies)


def test_load_model_leaves_the_global_random_state_alone(trained):
    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    load_model(trained.checkpoint)
    assert torch.equal(torch.rand(2), expected)


def test_resuming_an_old_checkpoint_fills_in_the_reference_energies(trained, tmp_path):
    state = load_checkpoint(trained.checkpoint)
    for weights in (state['model'], state['hooks']['ema']['ema_state_dict']):
        del weights['reference_energies'], weights['unit_scales']
    old = tmp_path / 'old.pt'
    torch.save(state, old)
    options = [o for o in trained.options if not o.startswith('work_dir=')]
    runner = Runner.from_cfg(load_config(CONFIG, options + [
        f'work_dir={tmp_path / "work"}', 'train_cfg.max_epochs=3', f'resume="{old}"']))
    runner.log.console = runner.default_console = lambda line: None
    runner.train()
    assert runner.epoch == 3
    resumed = load_model(str(tmp_path / 'work' / 'spice-demo_last.pt'))
    assert resumed.checkpoint_info['has_data_info']
    assert torch.equal(resumed.reference_energies,
                       load_model(trained.checkpoint).reference_energies)


def test_a_runner_built_from_a_dict_config_gives_a_loadable_checkpoint(tiny_cfg):
    """The config text of a Runner built from a plain dict is its repr; load_model reads it
    (and leaves out predict's potential extras: an MLP has no reference energies)."""
    runner = Runner.from_cfg(dict(tiny_cfg, train_cfg=dict(max_epochs=1)))
    runner.log.console = runner.default_console = lambda line: None
    runner.train()
    model = load_model(f'{runner.work_dir}/tiny_last.pt', device='cpu')
    assert type(model).__name__ == 'MLP' and model.checkpoint_info['weights'] == 'raw'
    for name, value in runner.unwrapped_model.state_dict().items():
        assert torch.equal(model.state_dict()[name], value)
