"""NeuralPotential: shapes, exact forces, symmetries, no_grad, training signal, learning."""
import math

import pytest
import torch

from trainkit.datasets.molecule_collate import collate_flat
from trainkit.datasets.spice import SpiceDataset
from trainkit.datasets.spice_demo import write_demo_spice
from trainkit.errors import ConfigError
from trainkit.models.potential import NeuralPotential


def make_model(**kwargs):
    torch.manual_seed(0)
    options = dict(num_features=16, num_rbf=8, cutoff=4.0, num_interactions=2)
    options.update(kwargs)
    model = NeuralPotential(**options).double()
    with torch.no_grad():      # non-zero shifts, so that they are tested too
        model.atom_shift.normal_()
    return model


def item(numbers, seed):
    g = torch.Generator().manual_seed(seed)
    n = len(numbers)
    return {'atomic_numbers': torch.tensor(numbers), 'pos': 1.5 * torch.randn(n, 3, generator=g,
                                                                             dtype=torch.float64),
            'energy': torch.tensor(0.0, dtype=torch.float64),
            'forces': torch.zeros(n, 3, dtype=torch.float64)}


@pytest.fixture
def batch():
    return collate_flat([item([6, 1, 1, 1, 8], 0), item([8, 1, 1], 1), item([7, 1, 1, 1], 2)])


def random_rotation(seed):
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    return q if torch.det(q) > 0 else -q


def test_output_shapes(batch):
    out = make_model()(batch)
    assert set(out) == {'energy', 'forces'}
    assert out['energy'].shape == (3,) and out['forces'].shape == (12, 3)
    assert set(make_model(compute_forces=False)(batch)) == {'energy'}


def test_forces_are_minus_the_gradient(batch):
    model = make_model().eval()
    forces = model(batch)['forces']
    pos = batch['pos'].clone().requires_grad_(True)
    grad, = torch.autograd.grad(model.energy(batch, pos).sum(), pos)
    assert torch.allclose(forces, -grad, atol=1e-12)
    h = 1e-6
    for atom, k in [(0, 0), (3, 2), (6, 1), (11, 0)]:
        shifted = [batch['pos'].clone(), batch['pos'].clone()]
        shifted[0][atom, k] += h
        shifted[1][atom, k] -= h
        plus, minus = (model.energy(batch, p).sum().item() for p in shifted)
        assert forces[atom, k].item() == pytest.approx(-(plus - minus) / (2 * h), abs=1e-7)
    assert forces.abs().max() > 1e-3


def test_rotation_translation_invariance(batch):
    model = make_model().eval()
    out = model(batch)
    rot = random_rotation(1)
    moved = dict(batch, pos=batch['pos'] @ rot.T + torch.tensor([1.0, -2.0, 3.5],
                                                                 dtype=torch.float64))
    out2 = model(moved)
    assert torch.allclose(out2['energy'], out['energy'], atol=1e-10)
    assert torch.allclose(out2['forces'], out['forces'] @ rot.T, atol=1e-10)
    assert not torch.allclose(out['forces'] @ rot.T, out['forces'], atol=1e-3)


def test_permutation_of_atoms_within_a_molecule():
    model = make_model().eval()
    water, methanol = item([8, 1, 1], 1), item([6, 1, 1, 1, 8, 1], 0)
    perm = torch.tensor([4, 2, 0, 5, 1, 3])
    shuffled = {k: (v[perm] if v.dim() else v) for k, v in methanol.items()}
    out = model(collate_flat([water, methanol]))
    out2 = model(collate_flat([water, shuffled]))
    assert torch.allclose(out2['energy'], out['energy'], atol=1e-10)
    assert torch.allclose(out2['forces'][3:], out['forces'][3:][perm], atol=1e-10)
    assert torch.allclose(out2['forces'][:3], out['forces'][:3], atol=1e-12)


def test_atoms_beyond_the_cutoff_do_not_interact():
    model = make_model(cutoff=3.0).eval()
    far = {'atomic_numbers': torch.tensor([6, 8]),
           'pos': torch.tensor([[0.0, 0, 0], [3.2, 0, 0]], dtype=torch.float64),
           'energy': torch.tensor(0.0, dtype=torch.float64),
           'forces': torch.zeros(2, 3, dtype=torch.float64)}
    single = [{k: (v[a:a + 1] if v.dim() else v) for k, v in far.items()} for a in (0, 1)]
    out = model(collate_flat([far]))
    alone = model(collate_flat(single))
    assert out['energy'].item() == pytest.approx(alone['energy'].sum().item(), abs=1e-12)
    assert torch.count_nonzero(out['forces']) == 0


def test_edge_index_may_be_left_out(batch):
    model = make_model().eval()
    without = {k: v for k, v in batch.items() if k != 'edge_index'}
    assert torch.allclose(model(without)['forces'], model(batch)['forces'], atol=1e-12)


def test_no_grad_validation(batch):
    model = make_model().eval()
    pos_before = batch['pos'].clone()
    with_grad = model(batch)
    with torch.no_grad():
        out = model(batch)
    assert not out['energy'].requires_grad and not out['forces'].requires_grad
    assert torch.allclose(out['forces'], with_grad['forces'], atol=1e-12)
    assert torch.equal(batch['pos'], pos_before) and not batch['pos'].requires_grad
    with torch.no_grad():      # training mode under no_grad too
        assert torch.allclose(model.train()(batch)['energy'], out['energy'], atol=1e-12)


def test_forces_loss_trains_the_weights(batch):
    model = make_model().train()
    out = model(batch)
    assert out['forces'].requires_grad
    (out['forces'] - 1.0).pow(2).mean().backward()
    for name in ['embedding.weight', 'interactions.0.filter.0.weight',
                 'interactions.1.update.2.weight', 'readout.0.weight']:
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    model.zero_grad()
    model(batch)['energy'].sum().backward()
    assert model.atom_shift.grad[[1, 6, 7, 8]].tolist() == [8.0, 1.0, 1.0, 2.0]


def test_eval_mode_with_grad_keeps_energy_graph(batch):
    model = make_model().eval()
    model(batch)['energy'].sum().backward()
    assert model.readout[0].weight.grad.abs().sum() > 0


def test_bad_options():
    with pytest.raises(ConfigError, match='cutoff=0'):
        NeuralPotential(cutoff=0)
    with pytest.raises(ConfigError, match='max_z=10'):
        NeuralPotential(max_z=10)(collate_flat([item([11, 1], 0)]))
    model = NeuralPotential(atom_energies={'H': -13.6, 8: -2041.0}, learn_atom_energies=False)
    assert model.atom_shift[[1, 8]].tolist() == pytest.approx([-13.6, -2041.0])
    assert 'atom_shift' not in dict(model.named_parameters())


def mae(model, loader):
    e = f = n = nf = 0.0
    with torch.no_grad():
        for b in loader:
            out = model(b)
            e += (out['energy'] - b['energy']).abs().sum().item()
            f += (out['forces'] - b['forces']).abs().sum().item()
            n, nf = n + len(b['energy']), nf + b['forces'].numel()
    return e / n, f / nf


def test_adam_on_demo_data_reduces_energy_and_forces_errors(tmp_path):
    torch.manual_seed(0)
    path = write_demo_spice(str(tmp_path / 'demo.hdf5'), n_molecules=8,
                            conformations_per_molecule=24, seed=0)
    data = SpiceDataset(path, split='all', reference_energies='fit', demo_if_missing=True)
    loader = torch.utils.data.DataLoader(data, batch_size=16, shuffle=True,
                                         collate_fn=data.collate_fn)
    batches = list(loader)
    model = NeuralPotential(num_features=32, num_rbf=12, cutoff=5.0)
    before = mae(model.eval(), batches)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for step in range(300):
        b = batches[step % len(batches)]
        out = model(b)
        loss = (torch.nn.functional.mse_loss(out['energy'], b['energy'])
                + 10 * torch.nn.functional.mse_loss(out['forces'], b['forces']))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = mae(model.eval(), batches)
    assert math.isfinite(after[0]) and after[1] < before[1] / 4 and after[0] < before[0] / 3
