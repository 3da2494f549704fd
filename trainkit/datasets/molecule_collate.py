"""Batching molecules of different sizes.

An item is a dict of tensors for one molecule (``atomic_numbers`` (N,), ``pos`` (N, 3),
``forces`` (N, 3), ``energy`` ()). A tensor whose first dimension equals the item's atom count
is *per atom*; any other tensor is *per molecule* and is stacked.

:func:`collate_flat` concatenates the atoms of all molecules (the layout graph networks use)::

    atomic_numbers (ΣN,)  pos (ΣN, 3)  forces (ΣN, 3)  energy (B,)
    n_atoms (B,) long     batch (ΣN,) long: the molecule of each atom
    edge_index (2, E) long: every ordered pair (i, j), i != j, of atoms of the same molecule,
                            in global atom numbering, molecule by molecule, row-major

:func:`collate_padded` pads every per-atom tensor to the largest molecule::

    atomic_numbers (B, Nmax) (0 = padding)  pos (B, Nmax, 3)  forces (B, Nmax, 3)
    energy (B,)  n_atoms (B,) long  mask (B, Nmax) bool: True for real atoms

Both are module-level functions, so DataLoader workers can pickle them. A dataset chooses one
with ``collate='flat'`` or ``'padded'`` and exposes it as ``dataset.collate_fn``.
"""
from functools import lru_cache
from typing import Dict, List

import torch

Item = Dict[str, torch.Tensor]


@lru_cache(maxsize=256)
def _pairs(n: int) -> torch.Tensor:
    """(2, n(n-1)) all ordered pairs i != j of ``range(n)``, row-major."""
    index = torch.arange(n)
    i, j = index.repeat_interleave(n), index.repeat(n)
    keep = i != j
    return torch.stack([i[keep], j[keep]])


def all_pairs(n_atoms: torch.Tensor) -> torch.Tensor:
    """``edge_index`` (2, E) of all intra-molecule ordered pairs for molecules of ``n_atoms``."""
    offsets = torch.cumsum(n_atoms, 0) - n_atoms
    parts = [_pairs(int(n)) + int(o) for n, o in zip(n_atoms.tolist(), offsets.tolist())]
    return torch.cat(parts, dim=1) if parts else torch.zeros(2, 0, dtype=torch.long)


def _split_keys(items: List[Item]):
    """Names of the per-atom and of the per-molecule tensors of ``items[0]``."""
    n = len(items[0]['atomic_numbers'])
    per_atom = [k for k, v in items[0].items() if v.dim() > 0 and v.shape[0] == n]
    return per_atom, [k for k in items[0] if k not in per_atom]


def collate_flat(items: List[Item]) -> Item:
    """Concatenate molecules into one flat batch (see the module docstring for the keys)."""
    per_atom, per_molecule = _split_keys(items)
    batch = {k: torch.cat([item[k] for item in items]) for k in per_atom}
    batch.update({k: torch.stack([item[k] for item in items]) for k in per_molecule})
    n_atoms = torch.tensor([len(item['atomic_numbers']) for item in items], dtype=torch.long)
    batch['n_atoms'] = n_atoms
    batch['batch'] = torch.repeat_interleave(torch.arange(len(items)), n_atoms)
    batch['edge_index'] = all_pairs(n_atoms)
    return batch


def collate_padded(items: List[Item]) -> Item:
    """Pad molecules to the largest one and add ``mask`` (see the module docstring)."""
    per_atom, per_molecule = _split_keys(items)
    n_atoms = torch.tensor([len(item['atomic_numbers']) for item in items], dtype=torch.long)
    n_max = int(n_atoms.max())
    batch = {}
    for key in per_atom:
        first = items[0][key]
        out = first.new_zeros((len(items), n_max) + tuple(first.shape[1:]))
        for b, item in enumerate(items):
            out[b, :len(item[key])] = item[key]
        batch[key] = out
    batch.update({k: torch.stack([item[k] for item in items]) for k in per_molecule})
    batch['n_atoms'] = n_atoms
    batch['mask'] = torch.arange(n_max)[None, :] < n_atoms[:, None]
    return batch
