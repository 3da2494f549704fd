"""A small invariant neural network potential: energies and forces of molecules."""
import math
from typing import Dict, Mapping, Optional

import torch
from torch import nn

from trainkit.datasets.chemistry import angstrom_per, atomic_number, ev_per
from trainkit.datasets.molecule_collate import all_pairs
from trainkit.errors import ConfigError
from trainkit.registry import MODELS


def _scatter_sum(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Sum rows of ``values`` into ``size`` rows by ``index`` (differentiable twice)."""
    shape = list(values.shape)
    shape[0] = size
    return values.new_zeros(shape).index_add(0, index, values)


def _gather(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows ``values[index]``, through ``index_select``: its gradient is a serial
    ``index_add``, the same bits in every run. (The gradient of ``values[index]`` is an
    accumulating ``index_put_``, which on the CPU with several threads adds with atomics in
    whatever order the threads reach a row, so repeated indices give other bits from run to
    run; docs/reliability.md has the measurements.)"""
    return values.index_select(0, index)


class GaussianBasis(nn.Module):
    """Gaussians of width = spacing, centred on ``num`` points in [0, cutoff], of distances."""

    def __init__(self, num: int, cutoff: float):
        super().__init__()
        self.register_buffer('centres', torch.linspace(0.0, cutoff, num))
        self.width = cutoff / (num - 1)

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * ((distance[:, None] - self.centres) / self.width) ** 2)


def cosine_envelope(distance: torch.Tensor, cutoff: float) -> torch.Tensor:
    """``(cos(π d / cutoff) + 1) / 2`` inside the cutoff, 0 outside: smooth to first order."""
    inside = (distance < cutoff).to(distance.dtype)
    return 0.5 * (torch.cos(math.pi * distance / cutoff) + 1.0) * inside


class Interaction(nn.Module):
    """Continuous-filter convolution: h_i += MLP(Σ_j W(r_ij) ⊙ Linear(h_j))."""

    def __init__(self, features: int, num_rbf: int):
        super().__init__()
        self.filter = nn.Sequential(nn.Linear(num_rbf, features), nn.SiLU(),
                                    nn.Linear(features, features))
        self.message = nn.Linear(features, features, bias=False)
        self.update = nn.Sequential(nn.Linear(features, features), nn.SiLU(),
                                    nn.Linear(features, features))

    def forward(self, h, basis, envelope, edge_index):
        i, j = edge_index[0], edge_index[1]
        weights = self.filter(basis) * envelope[:, None]
        messages = _gather(self.message(h), j) * weights
        return h + self.update(_scatter_sum(messages, i, h.shape[0]))


@MODELS.register_module()
class NeuralPotential(nn.Module):
    """SchNet-like invariant potential: energy per molecule and forces ``-∂E/∂pos``.

    Atoms are embedded by atomic number; interaction layers mix the features of atoms within
    ``cutoff`` through filters of a Gaussian distance basis times a cosine envelope; an MLP
    gives each atom an energy, plus a per-element shift; the atom energies are summed per
    molecule. The model is invariant to rotations, translations and atom order, and its forces
    are exact gradients, computed in ``forward`` (with ``create_graph`` in training mode, so a
    forces loss trains the weights; it also works under ``torch.no_grad()``).

    Input: a flat batch (:func:`~trainkit.datasets.molecule_collate.collate_flat`) with
    ``pos`` (ΣN, 3), ``atomic_numbers`` (ΣN,), ``batch`` (ΣN,), ``n_atoms`` (B,) and optionally
    ``edge_index`` (2, E) (all intra-molecule pairs are used when it is missing).
    Output: ``{'energy': (B,), 'forces': (ΣN, 3)}`` (no ``forces`` with
    ``compute_forces=False``), in the units of the data.

    What the training data did to its targets is kept with the weights, as buffers in the
    state dict (so in every checkpoint): ``reference_energies`` (per element, in the data's
    energy unit: what the dataset subtracted per atom; ``forward`` predicts energies without
    them, as the targets are, and :meth:`reference_energy` adds them back) and
    ``unit_scales`` (eV per data energy unit, Å per data length unit). The Runner fills them
    from the training dataset's ``data_info()`` through :meth:`adopt_data_info`; a checkpoint
    written before they existed loads with zeros and a message (see
    :func:`trainkit.interface.load.load_model`). :meth:`graph_energy` is TorchScript-ready
    (``tools/export.py`` scripts it).

    Config::

        model = dict(type='NeuralPotential', cutoff=5.0, num_features=64, num_interactions=2)

    Args:
        max_z: largest atomic number the embedding has room for.
        num_features: width of the atom features.
        num_rbf: number of Gaussians of the distance basis.
        cutoff: interaction radius, in the length unit of the data (Å by default).
        num_interactions: number of interaction layers.
        compute_forces: also return forces.
        atom_energies: initial per-element energy shift, ``{element symbol or Z: energy}`` in
            the energy unit of the data (``None``: 0); useful when the data's energies have no
            reference energies subtracted.
        learn_atom_energies: train the per-element shift (else it stays fixed).
    """

    # buffers a checkpoint may lack (written before they existed); loading keeps their default
    optional_state_keys = ('reference_energies', 'unit_scales')

    def __init__(self, max_z: int = 100, num_features: int = 64, num_rbf: int = 16,
                 cutoff: float = 5.0, num_interactions: int = 2, compute_forces: bool = True,
                 atom_energies: Optional[dict] = None, learn_atom_energies: bool = True):
        super().__init__()
        if cutoff <= 0 or num_rbf < 2 or num_features < 2 or max_z < 1:
            raise ConfigError(f'NeuralPotential: need cutoff > 0, num_rbf >= 2, num_features '
                              f'>= 2 and max_z >= 1; got cutoff={cutoff}, num_rbf={num_rbf}, '
                              f'num_features={num_features}, max_z={max_z}')
        self.max_z, self.cutoff, self.compute_forces = max_z, float(cutoff), compute_forces
        self.embedding = nn.Embedding(max_z + 1, num_features)
        self.basis = GaussianBasis(num_rbf, self.cutoff)
        self.interactions = nn.ModuleList(
            Interaction(num_features, num_rbf) for _ in range(num_interactions))
        self.readout = nn.Sequential(nn.Linear(num_features, num_features // 2), nn.SiLU(),
                                     nn.Linear(num_features // 2, 1))
        shift = self._initial_shift(atom_energies)
        if learn_atom_energies:
            self.atom_shift = nn.Parameter(shift)
        else:
            self.register_buffer('atom_shift', shift)
        self.register_buffer('reference_energies', torch.zeros(max_z + 1, dtype=torch.float64))
        self.register_buffer('unit_scales', torch.ones(2, dtype=torch.float64))

    def adopt_data_info(self, info: Mapping) -> None:
        """Keep what the training data did to its targets (a dataset's ``data_info()``):
        ``{'reference_energies': {element: energy in energy_unit}, 'energy_unit': 'eV',
        'length_unit': 'angstrom'}`` (missing entries: none subtracted, eV, Å)."""
        references = torch.zeros_like(self.reference_energies)
        for element, energy in (info.get('reference_energies') or {}).items():
            z = atomic_number(element)
            if z > self.max_z:
                raise ConfigError(f'the training data has element {element!r} (Z={z}) above '
                                  f'the model\'s max_z={self.max_z}; raise model.max_z')
            references[z] = float(energy)
        scales = [ev_per(info.get('energy_unit', 'eV')),
                  angstrom_per(info.get('length_unit', 'angstrom'))]
        with torch.no_grad():
            self.reference_energies.copy_(references)
            self.unit_scales.copy_(torch.tensor(scales, dtype=torch.float64))

    @torch.jit.export
    def reference_energy(self, numbers: torch.Tensor, molecule: torch.Tensor,
                         n_molecules: int) -> torch.Tensor:
        """The sum of the atoms' reference energies per molecule, (B,) float64 in the data's
        energy unit: what :meth:`forward`'s energy lacks of the total energy."""
        return _scatter_sum(self.reference_energies[numbers], molecule, n_molecules)

    def _initial_shift(self, atom_energies) -> torch.Tensor:
        shift = torch.zeros(self.max_z + 1)
        for element, energy in (atom_energies or {}).items():
            z = atomic_number(element)
            if z > self.max_z:
                raise ConfigError(f'atom_energies has element {element!r} (Z={z}) above '
                                  f'max_z={self.max_z}; raise max_z')
            shift[z] = float(energy)
        return shift

    @torch.jit.unused
    def forward(self, batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        numbers, pos = batch['atomic_numbers'], batch['pos']
        if numbers.numel() and int(numbers.max()) > self.max_z:
            raise ConfigError(f'atomic number {int(numbers.max())} is above the model\'s '
                              f'max_z={self.max_z}; raise model.max_z')
        if not self.compute_forces:
            return {'energy': self.energy(batch, pos)}
        grad_enabled = torch.is_grad_enabled()
        create_graph = self.training and grad_enabled
        with torch.enable_grad():
            pos = pos.detach().requires_grad_(True)
            energy = self.energy(batch, pos)
            gradient, = torch.autograd.grad(energy.sum(), pos, create_graph=create_graph,
                                            retain_graph=create_graph or grad_enabled)
        if not grad_enabled:
            energy = energy.detach()
        return {'energy': energy, 'forces': -gradient}

    def energy(self, batch: Dict[str, torch.Tensor], pos: torch.Tensor) -> torch.Tensor:
        """Energy (B,) of the molecules of ``batch`` at positions ``pos``."""
        edge_index = batch.get('edge_index')
        if edge_index is None:
            edge_index = all_pairs(batch['n_atoms'])
        return self.graph_energy(batch['atomic_numbers'], pos, batch['batch'],
                                 len(batch['n_atoms']), edge_index)

    @torch.jit.export
    def graph_energy(self, numbers: torch.Tensor, pos: torch.Tensor, molecule: torch.Tensor,
                     n_molecules: int, edge_index: torch.Tensor) -> torch.Tensor:
        """Energy (B,) of ``n_molecules`` molecules from their atoms (``molecule``: the
        molecule of each atom) and ordered atom pairs ``edge_index`` (2, E)."""
        vectors = _gather(pos, edge_index[1]) - _gather(pos, edge_index[0])
        distance = torch.linalg.vector_norm(vectors, dim=-1)
        inside = distance.detach() < self.cutoff
        edge_index, distance = edge_index[:, inside], distance[inside]
        basis, envelope = self.basis(distance), cosine_envelope(distance, self.cutoff)
        h = self.embedding(numbers)
        for interaction in self.interactions:
            h = interaction(h, basis, envelope, edge_index)
        atom_energy = self.readout(h).squeeze(-1) + _gather(self.atom_shift, numbers)
        return _scatter_sum(atom_energy, molecule, n_molecules)
