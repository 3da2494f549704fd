"""The test split of SpiceDataset: by molecule, disjoint, seeded, and old splits unchanged."""
import numpy as np
import pytest

from tests.datasets.test_spice_dataset import molecule, write_spice
from trainkit.datasets.chemistry import HARTREE_TO_EV
from trainkit.datasets.spice import SpiceDataset
from trainkit.errors import ConfigError, DataError


@pytest.fixture
def many(tmp_path):
    """30 molecules; molecule k has 1 + k % 3 conformations."""
    elements = [[1, 1], [6, 1, 1], [8, 1, 1, 1], [7, 1, 1, 1, 1]]
    mols = {f'm{k:02d}': molecule(elements[k % 4], 1 + k % 3, seed=k) for k in range(30)}
    return write_spice(tmp_path / 'many.hdf5', mols)


def names(path, split, **kwargs):
    return SpiceDataset(path, split=split, **kwargs).names


def old_split(n, val_fraction, seed, max_molecules):
    """The train/val split as it was computed before test_fraction existed (written out, so
    that a change to the split of existing configs shows)."""
    pool = np.random.default_rng(seed).permutation(n)[:max_molecules or n]
    n_val = min(max(int(round(val_fraction * len(pool))), int(val_fraction > 0)), len(pool) - 1)
    return sorted(pool[n_val:]), sorted(pool[:n_val])


@pytest.mark.parametrize('val_fraction, seed, max_molecules', [
    (0.1, 0, None), (0.15, 3, None), (0.5, 1, 12), (0.0, 2, None), (0.05, 7, 5)])
def test_without_test_fraction_train_and_val_are_as_before(many, val_fraction, seed,
                                                           max_molecules):
    all_names = names(many, 'all')
    train, val = old_split(len(all_names), val_fraction, seed, max_molecules)
    options = dict(val_fraction=val_fraction, seed=seed, max_molecules=max_molecules)
    assert names(many, 'train', **options) == [all_names[m] for m in train]
    if val:
        assert names(many, 'val', **options) == [all_names[m] for m in val]
    assert names(many, 'train', test_fraction=0.0, **options) == \
        names(many, 'train', **options)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_three_disjoint_splits_cover_every_molecule(many, seed):
    options = dict(val_fraction=0.2, test_fraction=0.1, seed=seed)
    train, val, test = (names(many, s, **options) for s in ('train', 'val', 'test'))
    assert (len(train), len(val), len(test)) == (21, 6, 3)
    assert not set(train) & set(val) and not set(train) & set(test) and not set(val) & set(test)
    assert sorted(train + val + test) == names(many, 'all', **options)
    # the test split comes out of training; validation stays what it was
    assert val == names(many, 'val', val_fraction=0.2, seed=seed)
    assert set(train) < set(names(many, 'train', val_fraction=0.2, seed=seed))
    # same seed, same split; the conformations of a molecule stay together
    assert test == names(many, 'test', **options)
    dataset = SpiceDataset(many, split='test', **options)
    assert len(dataset) == sum(1 + int(n[1:]) % 3 for n in test)


def test_other_seeds_give_other_test_molecules(many):
    tests = {tuple(names(many, 'test', test_fraction=0.2, seed=s)) for s in range(5)}
    assert len(tests) > 1


def test_small_fractions_get_one_molecule_and_training_keeps_one(many):
    assert len(names(many, 'test', test_fraction=0.001)) == 1
    few = dict(max_molecules=3, val_fraction=0.4, test_fraction=0.4)
    assert [len(names(many, s, **few)) for s in ('train', 'val', 'test')] == [1, 1, 1]


def test_fit_uses_only_the_training_molecules(many):
    options = dict(val_fraction=0.2, test_fraction=0.1, reference_energies='fit')
    test, train = (SpiceDataset(many, split=s, **options) for s in ('test', 'train'))
    assert test.reference_energies == train.reference_energies
    without = SpiceDataset(many, split='train', val_fraction=0.2, reference_energies='fit')
    assert without.reference_energies != train.reference_energies


def test_data_info_in_the_units_of_the_data(many):
    refs = {'H': -0.5, 'C': -37.8, 'N': -54.5, 'O': -75.0}
    info = SpiceDataset(many, split='all', reference_energies=refs).data_info()
    assert info['energy_unit'] == 'eV' and info['length_unit'] == 'angstrom'
    assert info['reference_energies'] == {1: -0.5 * HARTREE_TO_EV, 6: -37.8 * HARTREE_TO_EV,
                                          7: -54.5 * HARTREE_TO_EV, 8: -75.0 * HARTREE_TO_EV}
    raw = SpiceDataset(many, split='all', energy_unit='Hartree', length_unit='BOHR').data_info()
    assert raw == {'reference_energies': {}, 'energy_unit': 'hartree', 'length_unit': 'bohr'}


def test_an_empty_test_split_and_bad_fractions(many):
    with pytest.raises(DataError, match=r"split='test' of .* is empty: test_fraction=0.0 of "
                                        r"30 molecule\(s\).*raise test_fraction"):
        SpiceDataset(many, split='test')
    with pytest.raises(ConfigError, match=r'val_fraction=0.5 \+ test_fraction=0.5 must be '
                                          r'below 1'):
        SpiceDataset(many, split='train', val_fraction=0.5, test_fraction=0.5)
    for bad in (-0.1, 1.0, '0.1', True):
        with pytest.raises(ConfigError, match=r'test_fraction=.* must be a number in \[0, 1\)'):
            SpiceDataset(many, split='test', test_fraction=bad)
