"""TrainkitCalculator: forces are minus the gradient of its energy, NVE conserves energy."""
import ase.units  # ase is in the [ase] and [dev] extras
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS

from tests.support.trained_potential import train_demo
from trainkit.errors import DataError
from trainkit.interface.calculator import TrainkitCalculator
from trainkit.interface.load import load_model
from trainkit.interface.predict import predict

STEP = 1e-4          # Å, central differences
FD_TOLERANCE = 1e-7  # eV/Å; measured: 1.9e-9 (float64 weights; float32 ones: 3e-3)
NVE_TOLERANCE = 2e-5  # eV, max - min over 200 steps of 0.5 fs; measured: 2.4e-6 (11 atoms, 300 K)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    return train_demo(tmp_path_factory.mktemp('demo'))


def demo_atoms(trained, calc):
    """The first conformation of the largest molecule of the training data."""
    dataset = trained.runner.train_dataloader.dataset
    largest = max(range(len(dataset.numbers)), key=lambda m: len(dataset.numbers[m]))
    item = dataset[int(dataset.counts[:largest].sum())]
    atoms = Atoms(numbers=item['atomic_numbers'].numpy(),
                  positions=item['pos'].double().numpy())
    atoms.calc = calc
    return atoms


def test_energy_and_forces_are_the_checkpoints(trained):
    calc = TrainkitCalculator(trained.checkpoint)
    atoms = demo_atoms(trained, calc)
    model = load_model(trained.checkpoint, dtype='float64')
    out = predict(model, atoms.numbers, atoms.positions)
    assert atoms.get_potential_energy() == out['energy'].item()
    np.testing.assert_array_equal(atoms.get_forces(), out['forces'].numpy())
    assert calc.model.readout[0].weight.dtype == torch.float64    # float64 by default


def test_forces_are_minus_the_finite_difference_gradient(trained):
    atoms = demo_atoms(trained, TrainkitCalculator(trained.checkpoint))
    forces = atoms.get_forces()
    numeric = np.zeros_like(forces)
    for a in range(len(atoms)):
        for k in range(3):
            energies = []
            for sign in (1, -1):
                moved = atoms.positions.copy()
                moved[a, k] += sign * STEP
                atoms.positions = moved
                energies.append(atoms.get_potential_energy())
                moved[a, k] -= sign * STEP
                atoms.positions = moved
            numeric[a, k] = -(energies[0] - energies[1]) / (2 * STEP)
    assert np.abs(forces).max() > 1e-3   # the check below is not vacuous
    assert np.abs(numeric - forces).max() < FD_TOLERANCE


@pytest.mark.slow
def test_nve_velocity_verlet_conserves_the_total_energy(trained):
    atoms = demo_atoms(trained, TrainkitCalculator(trained.checkpoint))
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    start = atoms.positions.copy()
    totals = []
    dynamics = VelocityVerlet(atoms, timestep=0.5 * ase.units.fs)
    dynamics.attach(lambda: totals.append(atoms.get_total_energy()), interval=1)
    dynamics.run(200)
    totals = np.array(totals)
    assert len(totals) == 201
    assert np.abs(atoms.positions - start).max() > 0.01   # the atoms moved
    assert len(atoms) >= 8 and atoms.get_kinetic_energy() > 0.05
    assert totals.max() - totals.min() < NVE_TOLERANCE


def test_bfgs_relaxation_lowers_the_energy(trained):
    atoms = demo_atoms(trained, TrainkitCalculator(trained.checkpoint))
    before, force = atoms.get_potential_energy(), np.abs(atoms.get_forces()).max()
    BFGS(atoms, logfile=None).run(fmax=0.1 * force, steps=50)
    assert atoms.get_potential_energy() < before
    assert np.abs(atoms.get_forces()).max() < 0.1 * force


def test_periodic_atoms_and_missing_model_are_refused(trained):
    atoms = demo_atoms(trained, TrainkitCalculator(trained.checkpoint))
    atoms.set_cell([10, 10, 10])
    atoms.pbc = True
    with pytest.raises(DataError, match='periodic'):
        atoms.get_potential_energy()
    with pytest.raises(DataError, match='either a checkpoint'):
        TrainkitCalculator()
