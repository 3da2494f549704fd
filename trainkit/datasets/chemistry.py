"""Element symbols, unit conversions and per-element reference energies for molecule data.

SPICE stores lengths in bohr and energies in hartree; trainkit hands them out in the units a
config asks for::

    length_factor('angstrom')        # 0.529177210903  (bohr -> angstrom)
    energy_factor('kcal/mol')        # 627.5094740631  (hartree -> kcal/mol)
    atomic_number('O'), atomic_number(8)   # 8, 8

Reference energies (what is subtracted per atom before training) are computed in hartree:
:func:`fit_reference_energies` solves ``E ≈ Σ_elements count · e_element`` by least squares,
:func:`mean_reference_energy` is the mean energy per atom.
"""
from typing import Dict, Iterable, Mapping, Sequence

import numpy as np

from trainkit.errors import ConfigError
from trainkit.utils.suggest import did_you_mean

HARTREE_TO_EV = 27.211386245988
HARTREE_TO_KCAL_PER_MOL = 627.5094740631
BOHR_TO_ANGSTROM = 0.529177210903

ENERGY_UNITS = {'hartree': 1.0, 'eV': HARTREE_TO_EV, 'kcal/mol': HARTREE_TO_KCAL_PER_MOL}
LENGTH_UNITS = {'bohr': 1.0, 'angstrom': BOHR_TO_ANGSTROM}

SYMBOLS = ('X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn '
           'Ga Ge As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce '
           'Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn '
           'Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl '
           'Mc Lv Ts Og').split()


def choose(option: str, value, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices`` (case-insensitive), else raise ConfigError."""
    choices = list(choices)
    for choice in choices:
        if isinstance(value, str) and value.lower() == choice.lower():
            return choice
    raise ConfigError(f'{option}={value!r} is not valid; choose one of '
                      f'{", ".join(repr(c) for c in choices)}'
                      f'{did_you_mean(str(value), choices)}')


def energy_factor(unit: str) -> float:
    """Factor that converts hartree to ``unit`` ('eV', 'hartree' or 'kcal/mol')."""
    return ENERGY_UNITS[choose('energy_unit', unit, ENERGY_UNITS)]


def length_factor(unit: str) -> float:
    """Factor that converts bohr to ``unit`` ('angstrom' or 'bohr')."""
    return LENGTH_UNITS[choose('length_unit', unit, LENGTH_UNITS)]


def ev_per(energy_unit: str) -> float:
    """How many eV one ``energy_unit`` is (1 for 'eV')."""
    return HARTREE_TO_EV / energy_factor(energy_unit)


def angstrom_per(length_unit: str) -> float:
    """How many Å one ``length_unit`` is (1 for 'angstrom')."""
    return BOHR_TO_ANGSTROM / length_factor(length_unit)


def atomic_number(element) -> int:
    """``'C'`` or ``6`` -> 6; raises ConfigError for anything that is not an element."""
    if isinstance(element, (int, np.integer)) and 1 <= int(element) < len(SYMBOLS):
        return int(element)
    if isinstance(element, str):
        for z, symbol in enumerate(SYMBOLS[1:], 1):
            if symbol.lower() == element.strip().lower():
                return z
    raise ConfigError(f'{element!r} is not an element; give a symbol like \'C\' or an atomic '
                      f'number like 6{did_you_mean(str(element), SYMBOLS[1:])}')


def symbol(z: int) -> str:
    """6 -> ``'C'``."""
    return SYMBOLS[int(z)] if 0 < int(z) < len(SYMBOLS) else f'Z={int(z)}'


def reference_table(references: Mapping) -> Dict[int, float]:
    """``{'H': -0.5, 6: -37.8}`` -> ``{1: -0.5, 6: -37.8}`` (values in hartree)."""
    if not isinstance(references, Mapping):
        raise ConfigError(f'reference_energies must be None, a dict {{element: hartree}}, '
                          f"'fit' or 'mean'; got {references!r}")
    return {atomic_number(key): float(value) for key, value in references.items()}


def composition_matrix(numbers: Sequence[np.ndarray], elements: Sequence[int]) -> np.ndarray:
    """Row m counts the atoms of each of ``elements`` in molecule m."""
    column = {z: k for k, z in enumerate(elements)}
    counts = np.zeros((len(numbers), len(elements)))
    for m, zs in enumerate(numbers):
        for z in zs:
            counts[m, column[int(z)]] += 1
    return counts


def fit_reference_energies(numbers: Sequence[np.ndarray],
                           energies: Sequence[np.ndarray]) -> Dict[int, float]:
    """Least-squares per-element energies: minimise Σ_conformations (E - Σ count·e_Z)².

    ``numbers[m]`` are the atomic numbers of molecule m, ``energies[m]`` its conformation
    energies. Every conformation is one equation, so a molecule weighs by its conformation
    count. A rank-deficient system gets the minimum-norm solution.
    """
    elements = sorted({int(z) for zs in numbers for z in zs})
    counts = composition_matrix(numbers, elements)
    weights = np.sqrt([len(e) for e in energies])
    means = np.array([np.mean(e) if len(e) else 0.0 for e in energies])
    solution = np.linalg.lstsq(counts * weights[:, None], means * weights, rcond=None)[0]
    return {z: float(e) for z, e in zip(elements, solution)}


def mean_reference_energy(numbers: Sequence[np.ndarray],
                          energies: Sequence[np.ndarray]) -> float:
    """Mean over all conformations of energy / number of atoms."""
    per_atom = [np.asarray(e, dtype=np.float64) / len(zs) for zs, e in zip(numbers, energies)]
    return float(np.concatenate(per_atom).mean())
