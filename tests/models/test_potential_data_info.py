"""NeuralPotential keeps the training data's reference energies and units with its weights,
and its energy is scriptable with the same numbers."""
import pytest
import torch

from trainkit.checkpointing.format import load_model_weights
from trainkit.datasets.chemistry import BOHR_TO_ANGSTROM, HARTREE_TO_EV
from trainkit.datasets.molecule_collate import collate_flat
from trainkit.errors import CheckpointError, ConfigError
from trainkit.models.potential import NeuralPotential


def make_model():
    torch.manual_seed(0)
    return NeuralPotential(num_features=16, num_rbf=8, cutoff=4.0).double()


def test_adopt_data_info_fills_the_buffers():
    model = make_model()
    assert torch.count_nonzero(model.reference_energies) == 0
    assert model.unit_scales.tolist() == [1.0, 1.0]
    model.adopt_data_info({'reference_energies': {1: -0.5, 'C': -37.8},
                           'energy_unit': 'hartree', 'length_unit': 'bohr'})
    assert model.reference_energies[1].item() == -0.5
    assert model.reference_energies[6].item() == -37.8
    assert model.unit_scales.tolist() == [HARTREE_TO_EV, BOHR_TO_ANGSTROM]
    assert {'reference_energies', 'unit_scales'} <= set(model.state_dict())
    numbers = torch.tensor([6, 1, 1, 1, 1, 1, 1])
    molecule = torch.tensor([0, 0, 0, 0, 0, 1, 1])
    assert model.reference_energy(numbers, molecule, 2).tolist() == [-37.8 - 2.0, -1.0]
    with pytest.raises(ConfigError, match='above the model.s max_z=100'):
        model.adopt_data_info({'reference_energies': {101: 1.0}})


def test_the_buffers_do_not_change_forward():
    model = make_model()
    items = [{'atomic_numbers': torch.tensor([8, 1, 1]),
              'pos': torch.tensor([[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]],
                                  dtype=torch.float64)}]
    before = model.eval()(collate_flat(items))
    model.adopt_data_info({'reference_energies': {1: -13.6, 8: -2040.0}})
    after = model(collate_flat(items))
    assert torch.equal(before['energy'], after['energy'])
    assert torch.equal(before['forces'], after['forces'])


def test_scripted_graph_energy_gives_the_same_numbers():
    model = make_model().eval()
    batch = collate_flat([{'atomic_numbers': torch.tensor([6, 1, 1, 1, 1]),
                           'pos': torch.randn(5, 3, dtype=torch.float64)}])
    scripted = torch.jit.script(model)   # forward is left out of TorchScript (jit.unused)
    args = (batch['atomic_numbers'], batch['pos'], batch['batch'], 1, batch['edge_index'])
    assert torch.equal(scripted.graph_energy(*args), model.graph_energy(*args))
    assert torch.equal(model.energy(batch, batch['pos']), model.graph_energy(*args))


def test_older_state_without_the_buffers_loads_even_strictly():
    model, old = make_model(), make_model()
    old.adopt_data_info({'reference_energies': {1: -0.5}})
    state = {k: v for k, v in old.state_dict().items()
             if k not in ('reference_energies', 'unit_scales')}
    report = load_model_weights(model, state, 'old.pt', strict=True)
    assert report['missing'] == [] and report['missing_optional'] == ['reference_energies',
                                                                      'unit_scales']
    assert torch.count_nonzero(model.reference_energies) == 0
    del state['readout.0.weight']   # a real missing weight still fails
    with pytest.raises(CheckpointError, match=r'missing \(1\): readout.0.weight'):
        load_model_weights(model, state, 'old.pt', strict=True)
