"""The synthetic SPICE-layout demo file and its analytic potential."""
import os

import h5py
import numpy as np
import pytest

from trainkit.datasets.spice_demo import (
    ATOM_ENERGY,
    demo_energy_forces,
    demo_molecules,
    write_demo_spice,
)

EV, BOHR = 27.211386245988, 0.529177210903


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    return write_demo_spice(str(tmp_path_factory.mktemp('demo') / 'demo.hdf5'),
                            n_molecules=12, conformations_per_molecule=8, seed=3)


def test_spice_layout(demo):
    with h5py.File(demo, 'r') as f:
        assert sorted(f) == [f'demo-{k:03d}' for k in range(12)]
        for name in f:
            g = f[name]
            n = len(g['atomic_numbers'])
            assert 3 <= n <= 12 and set(g['atomic_numbers'][()]) <= {1, 6, 7, 8}
            assert g['atomic_numbers'].dtype.kind == 'i'
            assert g['conformations'].shape == g['dft_total_gradient'].shape == (8, n, 3)
            assert g['dft_total_energy'].shape == g['formation_energy'].shape == (8,)
            atoms = sum(ATOM_ENERGY[int(z)] for z in g['atomic_numbers'])
            assert np.allclose(g['dft_total_energy'][()] - g['formation_energy'][()], atoms)
            assert g['smiles'][0].decode().startswith('[')
            # bohr: bonded atoms are 1.3-3.5 bohr apart (0.7-1.85 angstrom)
            pos = g['conformations'][0]
            for i, j in g['demo_bonds'][()]:
                assert 1.3 < np.linalg.norm(pos[i] - pos[j]) < 3.5


def test_plausible_scales(demo):
    with h5py.File(demo, 'r') as f:
        forces = np.concatenate([-f[n]['dft_total_gradient'][()].ravel() for n in f]) * EV / BOHR
        per_bond = [f[n]['formation_energy'][0] * EV / len(f[n]['demo_bonds']) for n in f]
    assert 0.1 < np.median(np.abs(forces)) < 5 and np.abs(forces).max() < 50
    assert all(-6 < e < -1 for e in per_bond)


def test_file_forces_are_minus_the_gradient_of_the_file_energy(demo):
    with h5py.File(demo, 'r') as f:
        g = f['demo-004']
        pos = g['conformations'][()].astype(np.float64) * BOHR
        energy, forces = demo_energy_forces(g['atomic_numbers'][()], g['demo_bonds'][()], pos)
        assert np.allclose(energy / EV, g['formation_energy'][()], rtol=1e-12, atol=1e-12)
        assert np.allclose(-forces * BOHR / EV, g['dft_total_gradient'][()], rtol=1e-5,
                           atol=1e-7)


@pytest.mark.parametrize('index', [0, 5, 11])
def test_analytic_forces_match_finite_differences(index):
    mol = demo_molecules(12, seed=3)[index]
    rng = np.random.default_rng(index)
    pos = mol['pos'] + rng.normal(0, 0.05, mol['pos'].shape)
    _, forces = demo_energy_forces(mol['numbers'], mol['bonds'], pos)
    h, numeric = 1e-5, np.zeros_like(pos)
    for a in range(len(pos)):
        for k in range(3):
            step = np.zeros_like(pos)
            step[a, k] = h
            plus = demo_energy_forces(mol['numbers'], mol['bonds'], pos + step)[0]
            minus = demo_energy_forces(mol['numbers'], mol['bonds'], pos - step)[0]
            numeric[a, k] = -(plus - minus) / (2 * h)
    assert np.abs(forces).max() > 0.1
    assert np.allclose(forces, numeric, atol=1e-6)
    assert np.allclose(forces.sum(0), 0, atol=1e-10)    # no net force


def test_deterministic_for_a_seed(tmp_path):
    paths = [write_demo_spice(str(tmp_path / f'{k}.hdf5'), 6, 4, seed=s)
             for k, s in enumerate([7, 7, 8])]
    files = [h5py.File(p, 'r') for p in paths]
    try:
        for key in ('atomic_numbers', 'conformations', 'dft_total_energy', 'dft_total_gradient'):
            assert np.array_equal(files[0]['demo-002'][key][()], files[1]['demo-002'][key][()])
        assert not np.array_equal(files[0]['demo-000/dft_total_energy'][()],
                                  files[2]['demo-000/dft_total_energy'][()])
    finally:
        for f in files:
            f.close()
    assert sorted(os.listdir(tmp_path)) == ['0.hdf5', '1.hdf5', '2.hdf5']   # no temp files


def test_default_file_is_small(tmp_path):
    path = write_demo_spice(str(tmp_path / 'd.hdf5'))
    assert os.path.getsize(path) < 3e6
