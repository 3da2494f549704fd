"""A small synthetic data set in the SPICE HDF5 layout, for demos and tests.

:func:`write_demo_spice` makes a few dozen random molecules of H, C, N and O (3–12 atoms),
relaxes each under an analytic potential and samples perturbed, randomly rotated conformations
of it. The potential (:func:`demo_energy_forces`) is

* a Morse term ``D[(1 - exp(-a(r - r0)))² - 1]`` for every bonded pair, with ``r0`` the sum
  of covalent radii and ``D`` a bond energy of a few eV, and
* a Lennard-Jones term ``4ε[(σ/r)¹² - (σ/r)⁶]`` for every other pair of the molecule,

so bond energies are eV-sized and forces are of order 0.1–5 eV/Å. Forces are exact analytic
derivatives. The file looks like SPICE: one group per molecule with ``atomic_numbers`` (N,),
``conformations`` (C, N, 3) in bohr, ``dft_total_energy`` and ``formation_energy`` (C,) in
hartree, ``dft_total_gradient`` (C, N, 3) in hartree/bohr, ``smiles`` and ``subset``; plus
``demo_bonds`` (B, 2), the bonded pairs, which SPICE readers ignore::

    from trainkit.datasets.spice_demo import write_demo_spice
    write_demo_spice('data/spice-demo.hdf5')        # ~0.3 s, ~0.5 MB

The file carries the HDF5 attribute ``trainkit_synthetic_demo`` at its root, so it can never
pass for real data: :func:`check_not_synthetic` warns loudly when such a file is read with
``demo_if_missing=True`` and refuses it with ``demo_if_missing=False``.

The fallback ``SpiceDataset(..., demo_if_missing=True)`` (:func:`ensure_spice_file`) writes
the demo file only

* where the file is missing,
* under a file name that contains ``demo`` (``data/spice-demo.hdf5``): a missing
  ``SPICE-2.0.1.hdf5`` is a mistyped path to real data, an error, never a synthetic file;
* not during ``tools/train.py --dry-run``: inside :func:`demo_writes_to_temp` the demo
  file is written to a temporary folder that is removed afterwards.
"""
import contextlib
import os
import shutil
import sys
import tempfile
from typing import Optional

import h5py
import numpy as np

from trainkit.datasets.chemistry import BOHR_TO_ANGSTROM, HARTREE_TO_EV, symbol
from trainkit.errors import ConfigError, DataError
from trainkit.utils.suggest import did_you_mean

SYNTHETIC_ATTR = 'trainkit_synthetic_demo'
SYNTHETIC_NOTE = ('synthetic molecules written by trainkit.datasets.spice_demo (Morse + '
                  'Lennard-Jones), not SPICE data')
DEMO_NAME_PART = 'demo'
DEMO_OPTIONS = ('n_molecules', 'conformations_per_molecule', 'seed')

VALENCE = {1: 1, 6: 4, 7: 3, 8: 2}
COVALENT_RADIUS = {1: 0.31, 6: 0.76, 7: 0.71, 8: 0.66}          # angstrom
LJ_SIGMA = {1: 1.6, 6: 2.2, 7: 2.1, 8: 2.0}                      # angstrom
LJ_EPSILON = 0.1                                                 # eV
MORSE_A = 1.9                                                    # 1/angstrom
BOND_ENERGY = {(1, 1): 4.5, (1, 6): 4.3, (1, 7): 4.0, (1, 8): 4.8, (6, 6): 3.6,
               (6, 7): 3.2, (6, 8): 3.7, (7, 7): 2.5, (7, 8): 2.2, (8, 8): 1.5}  # eV
ATOM_ENERGY = {1: -0.500, 6: -37.846, 7: -54.589, 8: -75.067}     # hartree, isolated atoms


def pair_parameters(numbers, bonds):
    """All pairs i < j of a molecule with their potential parameters.

    Returns ``(i, j, bonded, p1, p2, p3)``: Morse ``D, a, r0`` for bonded pairs and
    Lennard-Jones ``ε, σ, 0`` for the others.
    """
    numbers = [int(z) for z in numbers]
    i, j = np.triu_indices(len(numbers), k=1)
    bonded_set = {(min(a, b), max(a, b)) for a, b in np.asarray(bonds, dtype=int).reshape(-1, 2)}
    bonded = np.array([(a, b) in bonded_set for a, b in zip(i, j)], dtype=bool)
    p1, p2, p3 = (np.zeros(len(i)) for _ in range(3))
    for k, (a, b) in enumerate(zip(i, j)):
        za, zb = numbers[a], numbers[b]
        if bonded[k]:
            p1[k] = BOND_ENERGY[tuple(sorted((za, zb)))]
            p2[k] = MORSE_A
            p3[k] = COVALENT_RADIUS[za] + COVALENT_RADIUS[zb]
        else:
            p1[k], p2[k] = LJ_EPSILON, 0.5 * (LJ_SIGMA[za] + LJ_SIGMA[zb])
    return i, j, bonded, p1, p2, p3


def _pair_energy(r, bonded, p1, p2, p3):
    """Energy and dE/dr of every pair (arrays broadcast over leading conformation axes)."""
    x = np.exp(-p2 * (r - p3))
    morse, d_morse = p1 * ((1 - x) ** 2 - 1), 2 * p1 * p2 * x * (1 - x)
    s6 = (p2 / r) ** 6
    lj, d_lj = 4 * p1 * (s6 * s6 - s6), 4 * p1 * (-12 * s6 * s6 + 6 * s6) / r
    return np.where(bonded, morse, lj), np.where(bonded, d_morse, d_lj)


def _energy_forces(pos, n_atoms, i, j, bonded, p1, p2, p3):
    """Energies (C,) and forces (C, A, 3) of conformations ``pos`` (C, A, 3)."""
    vec = pos[:, j] - pos[:, i]
    r = np.linalg.norm(vec, axis=-1)
    e_pair, de_dr = _pair_energy(r, bonded, p1, p2, p3)
    force_on_j = -(de_dr / r)[..., None] * vec
    n_conf = pos.shape[0]
    offset = (np.arange(n_conf) * n_atoms)[:, None]
    forces = np.stack([np.bincount((offset + j).ravel(), force_on_j[..., k].ravel(),
                                   n_conf * n_atoms)
                       - np.bincount((offset + i).ravel(), force_on_j[..., k].ravel(),
                                     n_conf * n_atoms) for k in range(3)], axis=-1)
    return e_pair.sum(-1), forces.reshape(pos.shape)


def demo_energy_forces(numbers, bonds, pos):
    """Potential energy (eV) and forces (eV/Å) of conformations ``pos`` ((C,) N, 3 in Å)."""
    pos = np.asarray(pos, dtype=np.float64)
    single = pos.ndim == 2
    pos = pos[None] if single else pos
    energy, forces = _energy_forces(pos, pos.shape[1], *pair_parameters(numbers, bonds))
    return (energy[0], forces[0]) if single else (energy, forces)


def _random_topology(rng, min_atoms, max_atoms):
    """Random heavy-atom tree saturated (mostly) with hydrogens: (numbers, bonds)."""
    while True:
        heavy = [int(z) for z in rng.choice([6, 6, 6, 7, 8], size=rng.integers(1, 5))]
        bonds = [(k, int(rng.integers(0, k))) for k in range(1, len(heavy))]
        free = [VALENCE[z] - sum(k in b for b in bonds) for k, z in enumerate(heavy)]
        if min(free) < 0:
            continue
        numbers = list(heavy)
        for k, n_free in enumerate(free):
            n_h = n_free - int(n_free > 0 and rng.random() < 0.15)
            for _ in range(n_h):
                bonds.append((len(numbers), k))
                numbers.append(1)
        if min_atoms <= len(numbers) <= max_atoms:
            return np.array(numbers), np.array(bonds).reshape(-1, 2)


def _initial_geometry(rng, numbers, bonds):
    """Place atoms along the bond tree at bond length, away from the others; None on failure."""
    pos = np.zeros((len(numbers), 3))
    for child, parent in sorted((max(b), min(b)) for b in bonds):
        r0 = COVALENT_RADIUS[numbers[child]] + COVALENT_RADIUS[numbers[parent]]
        for _ in range(100):
            direction = rng.normal(size=3)
            trial = pos[parent] + r0 * direction / np.linalg.norm(direction)
            sigma = 0.5 * (LJ_SIGMA[numbers[child]] + np.array([LJ_SIGMA[z] for z in numbers]))
            dist = np.linalg.norm(pos[:child] - trial, axis=1)
            if np.all((dist >= 0.85 * sigma[:child]) | (np.arange(child) == parent)):
                pos[child] = trial
                break
        else:
            return None
    return pos


def _relax(molecules, steps=300, step_size=0.01, max_move=0.1):
    """Steepest descent on all molecules at once (one system of disjoint molecules)."""
    pos = np.concatenate([m['pos'] for m in molecules])
    starts = np.cumsum([0] + [len(m['numbers']) for m in molecules])
    parts = [pair_parameters(m['numbers'], m['bonds']) for m in molecules]
    i = np.concatenate([p[0] + s for p, s in zip(parts, starts)])
    j = np.concatenate([p[1] + s for p, s in zip(parts, starts)])
    params = [np.concatenate([p[k] for p in parts]) for k in range(2, 6)]
    for _ in range(steps):
        _, forces = _energy_forces(pos[None], len(pos), i, j, *params)
        move = step_size * forces[0]
        norm = np.linalg.norm(move, axis=1, keepdims=True)
        pos = pos + move * np.minimum(1.0, max_move / np.maximum(norm, 1e-12))
    for m, start in zip(molecules, starts):
        m['pos'] = pos[start:start + len(m['numbers'])]


def _random_rotations(rng, n):
    """``n`` uniformly random rotation matrices (QR of Gaussian matrices, sign-fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    q[np.linalg.det(q) < 0, :, 0] *= -1
    return q


def _pseudo_smiles(numbers, bonds, atom=0, parent=-1):
    """A SMILES-like string of the bond tree with explicit atoms: ``[C]([H])([H])[O][H]``."""
    children = [b[0] if b[1] == atom else b[1] for b in bonds if atom in b]
    children = [c for c in children if c != parent]
    text = f'[{symbol(numbers[atom])}]'
    for k, child in enumerate(children):
        sub = _pseudo_smiles(numbers, bonds, child, atom)
        text += sub if k == len(children) - 1 else f'({sub})'
    return text


def _conformations(rng, molecule, n_conf):
    """Perturbed (σ 0.01–0.06 Å), rotated, shifted copies of the relaxed geometry, in bohr."""
    centred = molecule['pos'] - molecule['pos'].mean(0)
    noise = rng.normal(size=(n_conf,) + centred.shape) * rng.uniform(0.01, 0.06, (n_conf, 1, 1))
    pos = np.einsum('cij,cnj->cni', _random_rotations(rng, n_conf), centred + noise)
    pos = pos + rng.uniform(-2.0, 2.0, size=(n_conf, 1, 3))
    return (pos / BOHR_TO_ANGSTROM).astype(np.float32)


def demo_molecules(n_molecules=48, seed=0, min_atoms=3, max_atoms=12):
    """Relaxed random molecules: list of dicts with ``numbers``, ``bonds``, ``pos`` (Å)."""
    rng = np.random.default_rng(seed)
    molecules = []
    while len(molecules) < n_molecules:
        numbers, bonds = _random_topology(rng, min_atoms, max_atoms)
        pos = _initial_geometry(rng, numbers, bonds)
        if pos is not None:
            molecules.append(dict(numbers=numbers, bonds=bonds, pos=pos))
    _relax(molecules)
    return molecules


def write_demo_spice(path, n_molecules=48, conformations_per_molecule=50, seed=0):
    """Write a demo file in the SPICE layout to ``path`` (atomically) and return ``path``.

    Args:
        path: the HDF5 file to write; its directory is created if needed.
        n_molecules: number of molecules (groups ``demo-000``, ``demo-001``, ...).
        conformations_per_molecule: conformations per molecule.
        seed: the same seed gives the same file contents.
    """
    rng = np.random.default_rng([seed, 1])
    molecules = demo_molecules(n_molecules, seed)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix='.tmp', prefix='.spice-demo-', dir=directory)
    os.close(fd)
    try:
        with h5py.File(tmp, 'w') as f:
            f.attrs[SYNTHETIC_ATTR] = SYNTHETIC_NOTE
            for k, mol in enumerate(molecules):
                _write_group(f.create_group(f'demo-{k:03d}'), mol,
                             _conformations(rng, mol, conformations_per_molecule))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _write_group(group, mol, conformations):
    """One molecule's datasets in SPICE units (bohr, hartree, hartree/bohr)."""
    energy_ev, forces_ev = demo_energy_forces(mol['numbers'], mol['bonds'],
                                              conformations.astype(np.float64) * BOHR_TO_ANGSTROM)
    formation = energy_ev / HARTREE_TO_EV
    atoms = sum(ATOM_ENERGY[int(z)] for z in mol['numbers'])
    group['atomic_numbers'] = mol['numbers'].astype(np.int16)
    group['conformations'] = conformations
    group['formation_energy'] = formation
    group['dft_total_energy'] = formation + atoms
    group['dft_total_gradient'] = (-forces_ev * BOHR_TO_ANGSTROM / HARTREE_TO_EV).astype(np.float32)
    group['demo_bonds'] = mol['bonds'].astype(np.int16)
    group.create_dataset('smiles', data=[_pseudo_smiles(mol['numbers'], mol['bonds'])],
                         dtype=h5py.string_dtype())
    group.create_dataset('subset', data=['trainkit demo'], dtype=h5py.string_dtype())


# ------------------------------------------------------------- the demo_if_missing fallback
_state = {'temp_dir': None, 'warned': set()}


@contextlib.contextmanager
def demo_writes_to_temp():
    """Within this block a missing demo file is written to a temporary folder (removed at the
    end) instead of its path: what ``--dry-run`` uses, which writes nothing."""
    previous = _state['temp_dir']
    _state['temp_dir'] = tempfile.mkdtemp(prefix='trainkit-dry-run-')
    try:
        yield _state['temp_dir']
    finally:
        shutil.rmtree(_state['temp_dir'], ignore_errors=True)
        _state['temp_dir'] = previous


def is_demo_name(path: str) -> bool:
    """Whether the file name says it is the demo file (contains ``demo``, any case)."""
    return DEMO_NAME_PART in os.path.basename(os.fspath(path)).lower()


def _demo_kwargs(demo_if_missing) -> dict:
    if isinstance(demo_if_missing, dict):
        unknown = [k for k in demo_if_missing if k not in DEMO_OPTIONS]
        if unknown:
            raise ConfigError(f'demo_if_missing: unknown option {unknown[0]!r}'
                              f'{did_you_mean(unknown[0], DEMO_OPTIONS)}; the options are '
                              f'{list(DEMO_OPTIONS)}')
        return dict(demo_if_missing)
    if not isinstance(demo_if_missing, bool):
        raise ConfigError(f'demo_if_missing: expected True, False or a dict of '
                          f'{list(DEMO_OPTIONS)}, got {demo_if_missing!r} '
                          f'({type(demo_if_missing).__name__}); write demo_if_missing=False '
                          f'(or True)')
    return {}


def ensure_spice_file(path: str, demo_if_missing, how_to_get: str) -> str:
    """The file to read for ``path``: ``path`` itself if it exists; else, with
    ``demo_if_missing`` and a demo file name, the demo file written there (or, in a dry run,
    to a temporary folder, whose path is returned). A missing file is a DataError otherwise.
    """
    kwargs = _demo_kwargs(demo_if_missing)
    if os.path.exists(path):
        return path
    if not demo_if_missing:
        raise DataError(f'SPICE file {path!r} does not exist: {how_to_get}')
    if not is_demo_name(path):
        folder = os.path.dirname(path) or '.'
        raise DataError(
            f'SPICE file {path!r} does not exist. demo_if_missing=True writes synthetic demo '
            f'data only to a file whose name contains {DEMO_NAME_PART!r} (e.g. '
            f'{os.path.join(folder, "spice-demo.hdf5")}), so a mistyped path to real data is '
            f'never filled with synthetic molecules. Check the path to your SPICE file, or '
            f'name the demo file so')
    temp = _state['temp_dir']
    if temp is not None:
        target = os.path.join(temp, os.path.basename(path))
        if not os.path.exists(target):
            write_demo_spice(target, **kwargs)
            print(f'SpiceDataset: {path} does not exist; a real run writes the SYNTHETIC demo '
                  f'file there (demo_if_missing=True). This dry run reads a temporary copy and '
                  f'writes nothing.', file=sys.stderr, flush=True)
        _state['warned'].add(target)
        return target
    write_demo_spice(path, **kwargs)
    _state['warned'].add(os.path.abspath(path))
    # said out loud: a mistyped path to the real data must not pass for it unnoticed
    print(f'SpiceDataset: {path} did not exist, so the small SYNTHETIC demo file was written '
          f'there (demo_if_missing=True). For real data, download SPICE (e.g. '
          f'SPICE-2.0.1.hdf5 from https://github.com/openmm/spice-dataset/releases), set path '
          f'to it and demo_if_missing=False.', file=sys.stderr, flush=True)
    return path


def check_not_synthetic(f: h5py.File, path: str, demo_if_missing) -> Optional[str]:
    """A file marked synthetic (:data:`SYNTHETIC_ATTR`) is refused with
    ``demo_if_missing=False`` and announced loudly (once per file) otherwise."""
    if SYNTHETIC_ATTR not in f.attrs:
        return None
    if not demo_if_missing:
        raise DataError(
            f"{path!r} is trainkit's SYNTHETIC demo file (HDF5 attribute {SYNTHETIC_ATTR!r}: "
            f'{SYNTHETIC_NOTE}), not real data, and demo_if_missing=False asks for real data. '
            f'Point path to the real SPICE file, or set demo_if_missing=True to train on the '
            f'demo on purpose')
    key = os.path.abspath(path)
    if key not in _state['warned']:
        _state['warned'].add(key)
        print(f'WARNING: {path} is SYNTHETIC demo data ({SYNTHETIC_NOTE}); whatever is '
              f'trained on it says nothing about real molecules.', file=sys.stderr, flush=True)
    return SYNTHETIC_NOTE
