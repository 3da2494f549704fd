"""Energies and forces of molecules from a loaded model, in eV and eV/Å.

::

    model = load_model('spice-demo_last.pt')
    out = predict(model, [8, 1, 1], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    out['energy'], out['forces']      # () eV total energy, (3, 3) eV/Å

``positions`` may also hold many conformations of one molecule, ``(C, N, 3)``: they are
predicted as one batch and the results get a leading ``C``. The energy is the total energy:
the model's prediction plus the reference energies its training data subtracted
(``model.reference_energy``), converted from the data's units (``model.unit_scales``). A model
without those (not a potential trained by trainkit) is taken to predict eV and Å.
"""
from typing import Dict, Sequence, Union

import numpy as np
import torch
from torch import nn

from trainkit.datasets.molecule_collate import collate_flat
from trainkit.engine.data import move_batch
from trainkit.errors import DataError

ArrayLike = Union[torch.Tensor, np.ndarray, Sequence]


def predict(model: nn.Module, atomic_numbers: ArrayLike,
            positions: ArrayLike) -> Dict[str, torch.Tensor]:
    """``{'energy': () or (C,) float64 eV, 'forces': (N, 3) or (C, N, 3) eV/Å}`` of one
    molecule with ``atomic_numbers`` (N,) at ``positions`` (N, 3) or (C, N, 3) in Å."""
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device('cpu')
    dtype = param.dtype if param is not None else torch.get_default_dtype()
    numbers = torch.as_tensor(np.asarray(atomic_numbers) if not torch.is_tensor(atomic_numbers)
                              else atomic_numbers).long().cpu()
    pos = torch.as_tensor(np.asarray(positions) if not torch.is_tensor(positions)
                          else positions).to('cpu', dtype)
    given = tuple(pos.shape)
    single = pos.dim() == 2
    if single:
        pos = pos[None]
    if numbers.dim() != 1 or pos.dim() != 3 or pos.shape[1:] != (len(numbers), 3):
        raise DataError(f'predict: atomic_numbers {tuple(numbers.shape)} and positions {given} '
                        f'do not fit; expected (N,) and (N, 3) or (C, N, 3)')
    energy_scale, length_scale = _scales(model)
    batch = move_batch(collate_flat([{'atomic_numbers': numbers, 'pos': p / length_scale}
                                     for p in pos]), device)
    with torch.no_grad():
        out = model(batch)
    energy = out['energy'].double()
    if hasattr(model, 'reference_energy'):
        energy = energy + model.reference_energy(batch['atomic_numbers'], batch['batch'],
                                                 len(pos))
    result = {'energy': energy * energy_scale}
    if 'forces' in out:
        result['forces'] = (out['forces'] * (energy_scale / length_scale)).reshape(pos.shape)
    return {k: v[0] for k, v in result.items()} if single else result


def _scales(model: nn.Module):
    """(eV per data energy unit, Å per data length unit) as Python floats."""
    scales = getattr(model, 'unit_scales', None)
    if scales is None:
        return 1.0, 1.0
    return float(scales[0]), float(scales[1])
