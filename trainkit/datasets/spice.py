"""Conformations of the SPICE data set (HDF5), one item per conformation."""
import os
import warnings
from typing import Dict, List, Union

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from trainkit.datasets.chemistry import (
    ENERGY_UNITS,
    LENGTH_UNITS,
    atomic_number,
    choose,
    energy_factor,
    fit_reference_energies,
    length_factor,
    mean_reference_energy,
    reference_table,
    symbol,
)
from trainkit.datasets.molecule_collate import collate_flat, collate_padded
from trainkit.datasets.spice_demo import check_not_synthetic, ensure_spice_file
from trainkit.errors import ConfigError, DataError
from trainkit.registry import DATASETS

GRADIENT_KEY = 'dft_total_gradient'
ENERGY_KEYS = ('dft_total_energy', 'formation_energy')
SPLITS = ('train', 'val', 'test', 'all')
COLLATES = {'flat': collate_flat, 'padded': collate_padded}
DTYPES = {'float32': torch.float32, 'float64': torch.float64}
HOW_TO_GET = ('download SPICE (e.g. SPICE-2.0.1.hdf5 from https://github.com/openmm/'
              'spice-dataset/releases) and set path to it, or, for a small synthetic demo, set '
              "demo_if_missing=True and a path whose file name contains 'demo'")


@DATASETS.register_module()
class SpiceDataset(Dataset):
    """Conformations of a SPICE HDF5 file with energies and forces in the units you choose.

    The file holds one group per molecule with ``atomic_numbers`` (N,), ``conformations``
    (C, N, 3) in bohr, ``dft_total_energy`` / ``formation_energy`` (C,) in hartree and
    ``dft_total_gradient`` (C, N, 3) in hartree/bohr; other datasets are ignored. An item is
    one conformation::

        {'atomic_numbers': (N,) long, 'pos': (N, 3), 'energy': (), 'forces': (N, 3)}

    with ``forces = -gradient``. ``__init__`` reads only atomic numbers and shapes (and, for
    ``reference_energies='fit'``/``'mean'``, the training energies); conformations are read
    per item through a file handle opened lazily in each process, so DataLoader workers work.
    Batches come from ``dataset.collate_fn`` (see :mod:`trainkit.datasets.molecule_collate`).

    Config::

        train_dataloader = dict(
            dataset=dict(type='SpiceDataset', path='data/spice-demo.hdf5', split='train',
                         reference_energies='fit', demo_if_missing=True),
            batch_size=32, shuffle=True)
        val_dataloader = dict(dataset=dict(type='SpiceDataset', path='data/spice-demo.hdf5',
                                           split='val', reference_energies='fit'),
                              batch_size=64)

    Args:
        path: the HDF5 file.
        split: ``'train'``, ``'val'``, ``'test'`` or ``'all'``. The split is by molecule: all
            conformations of a molecule are on the same side. Train, val and test built with
            the same ``seed``, ``val_fraction``, ``test_fraction``, ``max_molecules`` and
            ``elements`` are disjoint and together cover every molecule.
        val_fraction: fraction of the molecules in the validation split (0 <= f < 1).
        test_fraction: fraction of the molecules in the test split (0 <= f < 1,
            ``val_fraction + test_fraction < 1``). The test molecules are taken from the end of
            the seeded shuffle and the validation molecules from its start, so adding a test
            split leaves the validation split as it was and takes its molecules from training;
            ``0`` (the default) gives exactly the train/val split of a config without it.
        seed: seed of the molecule shuffle behind the split and ``max_molecules``.
        energy_key: ``'dft_total_energy'`` or ``'formation_energy'``.
        length_unit: ``'angstrom'`` or ``'bohr'`` (positions; forces are energy/length).
        energy_unit: ``'eV'``, ``'hartree'`` or ``'kcal/mol'``.
        reference_energies: subtracted per atom from every energy before the unit conversion.
            ``None``: nothing; a dict ``{'H': -0.5, 6: -37.8, ...}`` of hartree per element;
            ``'fit'``: per-element energies fitted by least squares to the training molecules
            of this seed (so train and val use the same ones); ``'mean'``: the mean energy per
            atom of the training conformations. The values used are in
            ``dataset.reference_energies`` ({Z: hartree}).
        max_molecules: keep this many molecules (a seeded random choice among those that pass
            ``elements``), before splitting. ``None``: all.
        max_conformations: keep the first this many conformations of each molecule.
        elements: keep only molecules made entirely of these elements (symbols or atomic
            numbers). ``None``: all.
        dtype: ``'float32'`` or ``'float64'`` for positions, energies and forces.
        collate: ``'flat'`` (concatenated atoms with ``batch`` and ``edge_index``) or
            ``'padded'`` (``(B, Nmax, ...)`` with ``mask``).
        demo_if_missing: if ``path`` does not exist and its file name contains ``demo``,
            write the synthetic demo file of
            :func:`~trainkit.datasets.spice_demo.write_demo_spice` there (atomically) and use
            it. ``True`` or a dict of keyword arguments for ``write_demo_spice``. A file
            marked synthetic is refused when False (see :mod:`~trainkit.datasets.spice_demo`).
    """

    def __init__(self, path, split='train', val_fraction=0.1, test_fraction=0.0, seed=0,
                 energy_key='dft_total_energy', length_unit='angstrom', energy_unit='eV',
                 reference_energies=None, max_molecules=None, max_conformations=None,
                 elements=None, dtype='float32', collate='flat',
                 demo_if_missing: Union[bool, dict] = False):
        self.path = os.fspath(path)
        self.split = choose('split', split, SPLITS)
        self.energy_key = choose('energy_key', energy_key, ENERGY_KEYS)
        self.dtype = DTYPES[choose('dtype', dtype, DTYPES)]
        self.collate_fn = COLLATES[choose('collate', collate, COLLATES)]
        self._energy_factor = energy_factor(energy_unit)
        self._length_factor = length_factor(length_unit)
        self.energy_unit = choose('energy_unit', energy_unit, ENERGY_UNITS)
        self.length_unit = choose('length_unit', length_unit, LENGTH_UNITS)
        _check_options(val_fraction, test_fraction, max_molecules, max_conformations)
        allowed = None if elements is None else {atomic_number(e) for e in elements}
        references = _parse_references(reference_energies)
        self.path = ensure_spice_file(self.path, demo_if_missing, HOW_TO_GET)

        self._h5, self._pid, self._cache = None, None, {}
        with _open(self.path) as f:
            check_not_synthetic(f, self.path, demo_if_missing)
            names, numbers, counts = _scan(f, self.path, self.energy_key, allowed)
            counts = np.minimum(counts, max_conformations or counts.max())
            train, val, test = _split(len(names), val_fraction, test_fraction, seed,
                                      max_molecules)
            self.reference_energies = self._references(references, f, train, names, numbers,
                                                       counts)
        keep = {'train': train, 'val': val, 'test': test,
                'all': np.union1d(np.union1d(train, val), test)}[self.split]
        if len(keep) == 0:
            fraction = 'val_fraction' if self.split == 'val' else 'test_fraction'
            value = val_fraction if self.split == 'val' else test_fraction
            raise DataError(f'split={self.split!r} of {self.path!r} is empty: {fraction}='
                            f'{value} of {len(train) + len(val) + len(test)} molecule(s) leaves '
                            f'no {self.split} molecule; raise {fraction} (the same in every '
                            "split's dataset), use more molecules or split='all'")
        self.names: List[str] = [names[m] for m in keep]
        self.numbers: List[np.ndarray] = [numbers[m] for m in keep]
        self.counts = counts[keep]
        self._starts = np.concatenate([[0], np.cumsum(self.counts)])
        self._check_references(references)
        self._offsets = np.array([sum(self.reference_energies.get(int(z), 0.0) for z in zs)
                                  for zs in self.numbers])

    def data_info(self) -> Dict[str, object]:
        """What this dataset did to the targets, for a model to keep with its weights:
        ``{'reference_energies': {Z: energy in energy_unit}, 'energy_unit': ...,
        'length_unit': ...}``; an item's energy is the file's minus the sum of its atoms'
        reference energies. The Runner hands it to a model that has ``adopt_data_info``."""
        return {'reference_energies': {z: e * self._energy_factor
                                       for z, e in sorted(self.reference_energies.items())},
                'energy_unit': self.energy_unit, 'length_unit': self.length_unit}

    def _references(self, option, f, train, names, numbers, counts) -> Dict[int, float]:
        """Per-element reference energies in hartree, {Z: energy}, from the training split."""
        if option is None or isinstance(option, dict):
            return option or {}
        energies = [f[names[m]][self.energy_key][:counts[m]] for m in train]
        train_numbers = [numbers[m] for m in train]
        if option == 'fit':
            return fit_reference_energies(train_numbers, energies)
        mean = mean_reference_energy(train_numbers, energies)
        return dict.fromkeys(sorted({int(z) for zs in numbers for z in zs}), mean)

    def _check_references(self, option):
        """Every element of the split needs a reference energy (when there are any)."""
        present = {int(z) for zs in self.numbers for z in zs}
        missing = [symbol(z) for z in sorted(present - set(self.reference_energies))]
        if option is None or not missing:
            return
        if isinstance(option, dict):
            raise ConfigError(f'reference_energies has no entry for {missing}; give one '
                              f'(in hartree) for each of {[symbol(z) for z in sorted(present)]}')
        warnings.warn(f"reference_energies='fit': {missing} do not occur in the training "
                      'molecules, so their reference energy is 0')

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f'index {index} out of range for {len(self)} conformations')
        m = int(np.searchsorted(self._starts, index, side='right')) - 1
        c = int(index - self._starts[m])
        conformations, energies, gradients = self._molecule(m)
        energy = (energies[c] - self._offsets[m]) * self._energy_factor
        force_factor = self._energy_factor / self._length_factor
        return {
            'atomic_numbers': torch.as_tensor(self.numbers[m], dtype=torch.long),
            'pos': torch.as_tensor(np.float64(self._length_factor) * conformations[c],
                                   dtype=self.dtype),
            'energy': torch.tensor(energy, dtype=self.dtype),
            'forces': torch.as_tensor(np.float64(-force_factor) * gradients[c],
                                      dtype=self.dtype),
        }

    def _molecule(self, m: int):
        """(conformations dataset, energies array, gradient dataset) of molecule ``m``, cached
        per process; the file is opened on first use (and again after a fork)."""
        if self._h5 is None or self._pid != os.getpid():
            self._h5, self._pid, self._cache = _open(self.path), os.getpid(), {}
        if m not in self._cache:
            group = self._h5[self.names[m]]
            self._cache[m] = (group['conformations'], group[self.energy_key][()].astype(
                np.float64), group[GRADIENT_KEY])
        return self._cache[m]

    def close(self):
        """Close the file handle (it is reopened on the next item)."""
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5, self._cache = None, {}

    def __getstate__(self):
        state = self.__dict__.copy()
        state['_h5'], state['_pid'], state['_cache'] = None, None, {}
        return state


def _check_options(val_fraction, test_fraction, max_molecules, max_conformations):
    for name, value in (('val_fraction', val_fraction), ('test_fraction', test_fraction)):
        if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                and 0 <= value < 1):
            raise ConfigError(f'{name}={value!r} must be a number in [0, 1)')
    if val_fraction + test_fraction >= 1:
        raise ConfigError(f'val_fraction={val_fraction} + test_fraction={test_fraction} must be '
                          f'below 1, so that training keeps some molecules')
    for name, value in (('max_molecules', max_molecules),
                        ('max_conformations', max_conformations)):
        if value is not None and not (isinstance(value, (int, np.integer)) and value >= 1):
            raise ConfigError(f'{name}={value!r} must be None (all) or an integer >= 1')


def _parse_references(option):
    """None, 'fit', 'mean' or a {Z: hartree} dict; ConfigError otherwise."""
    if isinstance(option, str):
        return choose('reference_energies', option, ('fit', 'mean'))
    return None if option is None else reference_table(option)


def _open(path: str) -> h5py.File:
    try:
        return h5py.File(path, 'r')
    except OSError as error:
        raise DataError(f'{path!r} is not a readable HDF5 file ({error}); point path to a '
                        'SPICE .hdf5 file (or, for the synthetic demo, to a missing file whose '
                        "name contains 'demo', with demo_if_missing=True)") from None


def _scan(f: h5py.File, path: str, energy_key: str, allowed):
    """Names, atomic numbers and conformation counts of the molecules that pass ``allowed``."""
    names, numbers, counts = [], [], []
    seen = set()
    groups = sorted(name for name in f if isinstance(f[name], h5py.Group))
    if not groups:
        raise DataError(f'{path!r} contains no molecule groups; a SPICE file has one group per '
                        'molecule with atomic_numbers, conformations, energies and gradients')
    for name in groups:
        group = f[name]
        for key in ('atomic_numbers', 'conformations', energy_key, GRADIENT_KEY):
            if key not in group:
                raise DataError(f'group {name!r} of {path!r} has no dataset {key!r}; it has '
                                f'{sorted(group.keys())}. Is this a SPICE file? (energy_key '
                                f'can be one of {list(ENERGY_KEYS)})')
        zs = group['atomic_numbers'][()].astype(np.int64)
        shape = group['conformations'].shape
        if len(shape) != 3 or shape[1:] != (len(zs), 3) or group[GRADIENT_KEY].shape != shape \
                or group[energy_key].shape != shape[:1]:
            raise DataError(f'group {name!r} of {path!r}: conformations {shape}, '
                            f'{GRADIENT_KEY} {group[GRADIENT_KEY].shape}, {energy_key} '
                            f'{group[energy_key].shape} do not fit {len(zs)} atoms; expected '
                            '(C, N, 3), (C, N, 3) and (C,)')
        seen.update(zs.tolist())
        if allowed is None or set(zs.tolist()) <= allowed:
            names.append(name)
            numbers.append(zs)
            counts.append(shape[0])
    if not names:
        raise DataError(f'elements={sorted(symbol(z) for z in allowed)} removed every molecule '
                        f'of {path!r}; its molecules contain {sorted(symbol(z) for z in seen)}')
    counts = np.array(counts, dtype=np.int64)
    if counts.sum() == 0:
        raise DataError(f'the molecules of {path!r} have no conformations')
    return names, numbers, counts


def _split(n: int, val_fraction: float, test_fraction: float, seed: int, max_molecules):
    """Molecule indices (sorted) of the train, val and test splits of a seeded shuffle: val
    from the start of the shuffle, test from its end, train in between (a nonzero fraction
    gets at least one molecule, training keeps at least one)."""
    pool = np.random.default_rng(seed).permutation(n)[:max_molecules or n]
    n_val = int(round(val_fraction * len(pool)))
    n_val = min(max(n_val, int(val_fraction > 0)), len(pool) - 1)
    n_test = int(round(test_fraction * len(pool)))
    n_test = min(max(n_test, int(test_fraction > 0)), len(pool) - 1 - n_val)
    end = len(pool) - n_test
    return np.sort(pool[n_val:end]), np.sort(pool[:n_val]), np.sort(pool[end:])
