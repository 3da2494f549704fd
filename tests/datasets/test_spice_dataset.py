"""SpiceDataset and molecule collation, on small hand-built files in the SPICE layout."""
import os
import pickle

import h5py
import numpy as np
import pytest
import torch

from trainkit.datasets.molecule_collate import collate_flat, collate_padded
from trainkit.datasets.spice import SpiceDataset
from trainkit.errors import ConfigError, DataError

EV, KCAL, BOHR = 27.211386245988, 627.5094740631, 0.529177210903


def write_spice(path, molecules):
    """molecules: {name: dict(numbers, conformations, [dft_total_energy], [formation_energy],
    [dft_total_gradient], ...)} written like SPICE (int16 numbers, float32 coordinates)."""
    with h5py.File(path, 'w') as f:
        for name, mol in molecules.items():
            g = f.create_group(name)
            g['atomic_numbers'] = np.asarray(mol['numbers'], dtype=np.int16)
            for key, value in mol.items():
                if key != 'numbers':
                    g[key] = value
            g.create_dataset('smiles', data=['[H]'], dtype=h5py.string_dtype())
    return str(path)


def molecule(numbers, n_conf, seed, energy=None):
    """A molecule with random coordinates/gradients and, by default, random energies."""
    rng = np.random.default_rng(seed)
    n = len(numbers)
    total = rng.normal(-50, 5, n_conf) if energy is None else np.asarray(energy, float)
    return dict(numbers=numbers,
                conformations=rng.normal(0, 2, (n_conf, n, 3)).astype(np.float32),
                dft_total_energy=total, formation_energy=total / 100,
                dft_total_gradient=rng.normal(0, 0.05, (n_conf, n, 3)).astype(np.float32))


@pytest.fixture
def two_molecules(tmp_path):
    water = dict(numbers=[8, 1, 1],
                 conformations=np.array([[[0, 0, 0], [1.8, 0, 0], [0, 1.8, 0]],
                                         [[0, 0, 0], [2.0, 0, 0], [0, 2.0, 0]]], np.float32),
                 dft_total_energy=np.array([-76.4, -76.3]),
                 formation_energy=np.array([-0.35, -0.25]),
                 dft_total_gradient=np.array(
                     [[[0.01, 0.02, 0.03], [-0.01, 0, 0], [0, -0.02, -0.03]],
                      [[0.1, 0, 0], [-0.1, 0, 0], [0, 0, 0]]], np.float32))
    methane = molecule([6, 1, 1, 1, 1], 3, seed=1, energy=[-40.5, -40.4, -40.45])
    path = write_spice(tmp_path / 'two.hdf5', {'a_water': water, 'b_methane': methane})
    return path, water, methane


@pytest.fixture
def many(tmp_path):
    """20 molecules; molecule k has 1 + k % 3 conformations and 2 + k % 4 atoms."""
    elements = [[1, 1], [6, 1, 1], [8, 1, 1, 1], [7, 1, 1, 1, 1]]
    mols = {f'm{k:02d}': molecule(elements[k % 4], 1 + k % 3, seed=k) for k in range(20)}
    return write_spice(tmp_path / 'many.hdf5', mols)


def test_angstrom_ev_units_and_force_sign(two_molecules):
    path, water, _ = two_molecules
    ds = SpiceDataset(path, split='all')
    assert len(ds) == 5 and ds.names == ['a_water', 'b_methane']
    item = ds[1]
    assert item['atomic_numbers'].dtype == torch.long
    assert item['atomic_numbers'].tolist() == [8, 1, 1]
    assert item['pos'].dtype == torch.float32 and item['energy'].shape == ()
    assert torch.allclose(item['pos'][1], torch.tensor([2.0 * BOHR, 0, 0]))
    assert item['energy'].item() == pytest.approx(-76.3 * EV, rel=2e-7)
    expected_forces = -water['dft_total_gradient'][1] * EV / BOHR
    assert item['forces'][0, 0].item() == pytest.approx(-0.1 * 51.42208619083232, rel=1e-6)
    assert np.allclose(item['forces'].numpy(), expected_forces, rtol=1e-6)


def test_bohr_hartree_and_kcal_units(two_molecules):
    path, water, _ = two_molecules
    raw = SpiceDataset(path, split='all', length_unit='bohr', energy_unit='hartree',
                       dtype='float64')[0]
    assert raw['pos'].dtype == torch.float64
    assert np.array_equal(raw['pos'].numpy(), water['conformations'][0])
    assert raw['energy'].item() == -76.4
    assert np.array_equal(raw['forces'].numpy(), -water['dft_total_gradient'][0].astype(float))
    kcal = SpiceDataset(path, split='all', energy_unit='kcal/mol', length_unit='bohr')[0]
    assert kcal['energy'].item() == pytest.approx(-76.4 * KCAL, rel=1e-7)
    assert kcal['forces'][0, 1].item() == pytest.approx(-0.02 * KCAL, rel=1e-6)


def test_formation_energy_key(two_molecules):
    path, _, methane = two_molecules
    ds = SpiceDataset(path, split='all', energy_key='formation_energy', energy_unit='hartree')
    assert [ds[k]['energy'].item() for k in range(5)] == pytest.approx(
        [-0.35, -0.25] + list(methane['formation_energy']))


def test_split_by_molecule(many):
    train, val = SpiceDataset(many, split='train'), SpiceDataset(many, split='val')
    assert len(val.names) == 2 and len(train.names) == 18
    assert not set(train.names) & set(val.names)
    assert set(train.names) | set(val.names) == {f'm{k:02d}' for k in range(20)}
    assert len(train) + len(val) == len(SpiceDataset(many, split='all'))
    assert SpiceDataset(many, split='val').names == val.names
    others = {tuple(SpiceDataset(many, split='val', seed=s).names) for s in range(1, 6)}
    assert others - {tuple(val.names)}
    half = SpiceDataset(many, split='val', val_fraction=0.5, seed=3)
    assert len(half.names) == 10


def test_max_molecules_and_max_conformations(many):
    train = SpiceDataset(many, split='train', max_molecules=10, max_conformations=2)
    val = SpiceDataset(many, split='val', max_molecules=10, max_conformations=2)
    assert len(train.names) == 9 and len(val.names) == 1
    names = train.names + val.names
    expected = sum(min(2, 1 + int(n[1:]) % 3) for n in names)
    assert len(train) + len(val) == expected
    assert all(c <= 2 for c in train.counts)


def test_element_filter(many):
    ds = SpiceDataset(many, split='all', elements=['H', 'C'])
    assert ds.names == [f'm{k:02d}' for k in range(20) if k % 4 in (0, 1)]
    assert SpiceDataset(many, split='all', elements=[1, 6, 'o']).names == \
        [f'm{k:02d}' for k in range(20) if k % 4 != 3]


def test_reference_energies_dict(two_molecules):
    path, _, methane = two_molecules
    refs = {'H': -0.5, 8: -75.0, 'C': -37.8}
    ds = SpiceDataset(path, split='all', reference_energies=refs)
    assert ds[0]['energy'].item() == pytest.approx((-76.4 + 76.0) * EV, rel=1e-6)
    assert ds[2]['energy'].item() == pytest.approx((methane['dft_total_energy'][0] + 39.8) * EV,
                                                   rel=1e-6)


def test_reference_energies_fit_hand_computed(tmp_path):
    # H2 with one conformation at -1.0 and H4 with three at -2.2:
    # minimise (2e + 1)^2 + 3 (4e + 2.2)^2  ->  e = -56.8 / 104
    path = write_spice(tmp_path / 'h.hdf5', {'h2': molecule([1, 1], 1, 0, [-1.0]),
                                             'h4': molecule([1] * 4, 3, 1, [-2.2] * 3)})
    ds = SpiceDataset(path, split='train', val_fraction=0.0, reference_energies='fit',
                      energy_unit='hartree')
    assert ds.reference_energies == {1: pytest.approx(-56.8 / 104)}
    assert ds[0]['energy'].item() == pytest.approx(-1.0 + 2 * 56.8 / 104)


def test_reference_energies_fit_recovers_exact_references(tmp_path):
    atom = {1: -0.5, 6: -37.8, 8: -75.1}
    mols = {}
    for k, numbers in enumerate([[1, 1], [6, 1, 1, 1, 1], [8, 1, 1], [6, 8], [6, 6, 1, 1],
                                 [8, 8], [6, 1, 1, 8], [1, 8], [6, 6, 8, 1], [1, 1, 1, 6]]):
        mols[f'm{k}'] = molecule(numbers, 2, k, [sum(atom[z] for z in numbers)] * 2)
    path = write_spice(tmp_path / 'lin.hdf5', mols)
    train = SpiceDataset(path, split='train', val_fraction=0.2, reference_energies='fit')
    val = SpiceDataset(path, split='val', val_fraction=0.2, reference_energies='fit')
    assert train.reference_energies == val.reference_energies
    assert train.reference_energies == {z: pytest.approx(e) for z, e in atom.items()}
    assert max(abs(val[k]['energy'].item()) for k in range(len(val))) < 1e-6


def test_reference_energies_mean(two_molecules):
    path, _, methane = two_molecules
    ds = SpiceDataset(path, split='train', val_fraction=0.0, reference_energies='mean',
                      energy_unit='hartree')
    per_atom = np.mean([-76.4 / 3, -76.3 / 3] + list(methane['dft_total_energy'] / 5))
    assert ds.reference_energies == dict.fromkeys([1, 6, 8], pytest.approx(per_atom))
    assert ds[0]['energy'].item() == pytest.approx(-76.4 - 3 * per_atom)
    assert ds[4]['energy'].item() == pytest.approx(methane['dft_total_energy'][2] - 5 * per_atom)


def test_init_reads_no_conformations_and_opens_lazily(many, monkeypatch):
    read = []
    original = h5py.Dataset.__getitem__

    def spy(self, key):
        read.append(self.name.rsplit('/', 1)[-1])
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, '__getitem__', spy)
    ds = SpiceDataset(many, split='all')
    assert set(read) == {'atomic_numbers'}
    assert ds._h5 is None
    assert not [v for v in vars(ds).values() if isinstance(v, np.ndarray) and v.ndim > 1]
    ds[3]
    assert ds._h5 is not None and {'conformations', 'dft_total_gradient'} <= set(read)


def test_pickle_and_dataloader_workers(many):
    ds = SpiceDataset(many, split='all')
    first = ds[0]
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._h5 is None and ds._h5 is not None
    assert torch.equal(clone[0]['forces'], first['forces'])
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2,
                                         collate_fn=ds.collate_fn)
    energies = torch.cat([batch['energy'] for batch in loader])
    assert torch.equal(energies, torch.stack([ds[k]['energy'] for k in range(len(ds))]))


def _item(numbers, energy, offset):
    n = len(numbers)
    pos = torch.arange(3 * n, dtype=torch.float32).reshape(n, 3) + offset
    return {'atomic_numbers': torch.tensor(numbers), 'pos': pos, 'energy': torch.tensor(energy),
            'forces': -pos}


def test_collate_flat_values():
    items = [_item([8, 1, 1], -1.0, 0), _item([1, 1], -2.0, 100)]
    batch = collate_flat(items)
    assert batch['atomic_numbers'].tolist() == [8, 1, 1, 1, 1]
    assert batch['energy'].tolist() == [-1.0, -2.0]
    assert batch['n_atoms'].tolist() == [3, 2] and batch['batch'].tolist() == [0, 0, 0, 1, 1]
    assert batch['pos'].shape == (5, 3) and batch['pos'][3].tolist() == [100, 101, 102]
    assert torch.equal(batch['forces'], -batch['pos'])
    assert batch['edge_index'].dtype == torch.long
    assert batch['edge_index'].t().tolist() == [[0, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 1],
                                                [3, 4], [4, 3]]


def test_collate_padded_values():
    batch = collate_padded([_item([1, 1], -2.0, 100), _item([8, 1, 1], -1.0, 0)])
    assert batch['atomic_numbers'].tolist() == [[1, 1, 0], [8, 1, 1]]
    assert batch['mask'].tolist() == [[True, True, False], [True, True, True]]
    assert batch['n_atoms'].tolist() == [2, 3] and batch['energy'].tolist() == [-2.0, -1.0]
    assert batch['pos'].shape == (2, 3, 3) and batch['pos'][0, 2].tolist() == [0, 0, 0]
    assert batch['pos'][0, 1].tolist() == [103, 104, 105]


def test_dataset_collate_option(two_molecules):
    path = two_molecules[0]
    assert SpiceDataset(path, split='all').collate_fn is collate_flat
    ds = SpiceDataset(path, split='all', collate='padded')
    assert ds.collate_fn is collate_padded
    assert ds.collate_fn([ds[0], ds[2]])['mask'].sum().item() == 8


def test_missing_file(tmp_path):
    path = tmp_path / 'nope.hdf5'
    with pytest.raises(DataError, match='demo_if_missing=True') as info:
        SpiceDataset(path)
    assert str(path) in str(info.value) and 'SPICE' in str(info.value)


def test_not_hdf5(tmp_path):
    path = tmp_path / 'text.hdf5'
    path.write_text('not hdf5')
    with pytest.raises(DataError, match='not a readable HDF5 file'):
        SpiceDataset(path)


def test_empty_file(tmp_path):
    path = write_spice(tmp_path / 'empty.hdf5', {})
    with pytest.raises(DataError, match='contains no molecule groups'):
        SpiceDataset(path)


def test_element_filter_removes_everything(many):
    with pytest.raises(DataError, match=r"elements=\['F', 'S'\] removed every molecule") as info:
        SpiceDataset(many, elements=['F', 'S'])
    assert "['C', 'H', 'N', 'O']" in str(info.value)


def test_group_missing_key(tmp_path):
    mol = molecule([1, 1], 2, 0)
    del mol['dft_total_gradient']
    path = write_spice(tmp_path / 'bad.hdf5', {'h2': mol})
    with pytest.raises(DataError, match="group 'h2'.*'dft_total_gradient'") as info:
        SpiceDataset(path)
    assert "'atomic_numbers', 'conformations'" in str(info.value)


def test_empty_val_split(many):
    with pytest.raises(DataError, match="split='val'.*empty.*val_fraction"):
        SpiceDataset(many, split='val', val_fraction=0.0)


@pytest.mark.parametrize('option, value, choices', [
    ('split', 'valid', "'train', 'val', 'test', 'all'"),
    ('energy_key', 'energy', "'dft_total_energy', 'formation_energy'"),
    ('energy_unit', 'ev/atom', "'hartree', 'eV', 'kcal/mol'"),
    ('length_unit', 'nm', "'bohr', 'angstrom'"),
    ('dtype', 'float16', "'float32', 'float64'"),
    ('collate', 'pad', "'flat', 'padded'"),
    ('reference_energies', 'fitted', "'fit', 'mean'"),
])
def test_unknown_choice(two_molecules, option, value, choices):
    with pytest.raises(ConfigError, match=f'{option}=') as info:
        SpiceDataset(two_molecules[0], **{option: value})
    assert choices in str(info.value) and repr(value) in str(info.value)


def test_bad_numbers_and_reference_dict(two_molecules):
    path = two_molecules[0]
    with pytest.raises(ConfigError, match='max_molecules=0'):
        SpiceDataset(path, max_molecules=0)
    with pytest.raises(ConfigError, match='val_fraction=1.5'):
        SpiceDataset(path, val_fraction=1.5)
    with pytest.raises(ConfigError, match=r"no entry for \['C'\]"):
        SpiceDataset(path, split='all', reference_energies={'H': -0.5, 'O': -75.0})
    with pytest.raises(ConfigError, match="'Xx' is not an element"):
        SpiceDataset(path, elements=['H', 'Xx'])


def test_unit_choice_is_case_insensitive(two_molecules):
    ds = SpiceDataset(two_molecules[0], split='all', energy_unit='EV', length_unit='Angstrom')
    assert ds[0]['energy'].item() == pytest.approx(-76.4 * EV)


def test_demo_if_missing_writes_then_loads(tmp_path, capsys):
    path = tmp_path / 'data' / 'demo.hdf5'
    ds = SpiceDataset(path, split='all', demo_if_missing=dict(n_molecules=5,
                                                              conformations_per_molecule=3))
    assert path.exists() and len(ds) == 15 and len(ds.names) == 5
    assert os.listdir(path.parent) == ['demo.hdf5']
    # said out loud, so that a mistyped path to the real data is noticed
    assert f'{path} did not exist, so the small SYNTHETIC demo file was written there' in \
        capsys.readouterr().err
    again = SpiceDataset(path, split='all', demo_if_missing=True)   # exists: not rewritten
    assert len(again) == 15
    assert 'SYNTHETIC' not in capsys.readouterr().err
    item = ds[0]
    assert item['pos'].shape == item['forces'].shape == (len(item['atomic_numbers']), 3)
