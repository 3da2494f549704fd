"""Export a trained potential as a TorchScript module that runs without trainkit.

::

    python tools/export.py work_dirs/spice-demo/spice-demo_last.pt --out model.pt

and then, in any Python with torch (no trainkit, no config)::

    model = torch.jit.load('model.pt')
    energy, forces = model(atomic_numbers, positions)   # (N,) int64, (N, 3) Å
    # energy: () float64, eV (total, reference energies included); forces: (N, 3) eV/Å

The module holds the potential's weights (the EMA weights by default), its reference
energies and unit scales; forces are ``-∂E/∂positions`` by autograd inside the module. One
molecule per call, all atom pairs within the cutoff interact (as in training).
"""
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from trainkit.errors import ConfigError
from trainkit.interface.load import load_model

NEEDED = ('graph_energy', 'reference_energy', 'unit_scales', 'max_z')


class ExportedPotential(nn.Module):
    """``(atomic_numbers (N,) int64, positions (N, 3) Å) -> (energy () eV, forces (N, 3)
    eV/Å)`` around a potential with ``graph_energy`` and ``reference_energy``
    (:class:`~trainkit.models.potential.NeuralPotential`); scriptable.

    Example::

        module = torch.jit.script(ExportedPotential(load_model('spice-demo_last.pt')))
        torch.jit.save(module, 'model.pt')
    """

    def __init__(self, potential: nn.Module):
        super().__init__()
        missing = [name for name in NEEDED if not hasattr(potential, name)]
        if missing:
            raise ConfigError(f'export: {type(potential).__name__} lacks {missing}; tools/'
                              f'export.py exports potentials such as NeuralPotential')
        self.potential = potential.eval()
        self.energy_scale = float(potential.unit_scales[0])
        self.length_scale = float(potential.unit_scales[1])
        self.max_z = int(potential.max_z)
        weight = next(iter(potential.parameters()), potential.reference_energies)
        # positions are cast to the weights' dtype; a buffer carries it into TorchScript
        self.register_buffer('dtype_of_weights', torch.zeros((), dtype=weight.dtype))

    def forward(self, atomic_numbers: torch.Tensor,
                positions: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        n = atomic_numbers.shape[0]
        if atomic_numbers.dim() != 1 or positions.dim() != 2 or positions.shape[0] != n \
                or positions.shape[1] != 3:
            raise ValueError('expected atomic_numbers (N,) and positions (N, 3)')
        if n > 0 and int(atomic_numbers.max()) > self.max_z:
            raise ValueError('an atomic number is above the max_z of the model')
        numbers = atomic_numbers.long()
        pos = positions.to(self.dtype_of_weights.dtype) / self.length_scale
        pos = pos.detach().requires_grad_(True)
        index = torch.arange(n, device=pos.device)
        i, j = index.repeat_interleave(n), index.repeat(n)
        keep = i != j
        edge_index = torch.stack([i[keep], j[keep]])
        molecule = torch.zeros(n, dtype=torch.long, device=pos.device)
        energy = self.potential.graph_energy(numbers, pos, molecule, 1, edge_index)
        gradient = torch.autograd.grad([energy.sum()], [pos])[0]
        if gradient is None:  # no atom pair within the cutoff and no per-element shift
            gradient = torch.zeros_like(pos)
        total = energy.double() + self.potential.reference_energy(numbers, molecule, 1)
        forces = -gradient * (self.energy_scale / self.length_scale)
        return (total * self.energy_scale)[0].detach(), forces.detach()


def export_torchscript(checkpoint: str, out: str, ema: bool = True,
                       dtype: Optional[str] = None) -> Dict[str, Any]:
    """Script the potential of ``checkpoint`` (on the CPU) and save it to ``out``; returns
    what was exported (``load_model``'s ``checkpoint_info``)."""
    model = load_model(checkpoint, ema=ema, device='cpu', dtype=dtype)
    torch.jit.save(torch.jit.script(ExportedPotential(model)), out)
    return model.checkpoint_info
