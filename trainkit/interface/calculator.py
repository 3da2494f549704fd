"""An ASE calculator for a trained potential: molecular dynamics and relaxations with ASE.

::

    from ase.md.verlet import VelocityVerlet
    from trainkit.interface.calculator import TrainkitCalculator

    atoms.calc = TrainkitCalculator('work_dirs/spice-demo/spice-demo_last.pt')
    atoms.get_potential_energy(), atoms.get_forces()          # eV, eV/Å
    VelocityVerlet(atoms, timestep=0.5 * ase.units.fs).run(200)

``ase`` is an optional dependency (``pip install -e '.[ase]'``); this module is imported only
when the calculator is used (``trainkit.TrainkitCalculator`` loads it lazily).
"""
from typing import Optional, Sequence

import numpy as np
from torch import nn

from trainkit.errors import DataError
from trainkit.interface.load import load_model
from trainkit.interface.predict import predict

try:
    from ase.calculators.calculator import Calculator, all_changes
except ImportError as err:  # pragma: no cover - ase is in the [ase] and [dev] extras
    raise ImportError("TrainkitCalculator needs ASE: pip install -e '.[ase]' (or pip install "
                      "ase)") from err


class TrainkitCalculator(Calculator):
    """Energy (eV, total: reference energies included) and forces (eV/Å) of an
    ``ase.Atoms`` from a trainkit checkpoint.

    Args:
        checkpoint: the checkpoint file (its stored config describes the model).
        ema: use the EMA weights when the checkpoint has them.
        device: ``'cpu'``, ``'cuda'``, ...; None: CUDA when available.
        dtype: the weights' dtype for the calculation. Defaults to ``'float64'``: MD and
            finite differences need a smooth energy more than speed; ``None`` keeps the
            training dtype.
        model: a model from :func:`~trainkit.interface.load.load_model` instead of a file.

    The potential is molecular: periodic boundary conditions are refused.

    Example::

        atoms = ase.build.molecule('CH4')
        atoms.calc = TrainkitCalculator('spice-demo_last.pt')
        ase.optimize.BFGS(atoms).run(fmax=0.05)
    """

    implemented_properties = ['energy', 'free_energy', 'forces']

    def __init__(self, checkpoint: Optional[str] = None, ema: bool = True,
                 device: Optional[str] = None, dtype: Optional[str] = 'float64',
                 model: Optional[nn.Module] = None, **kwargs):
        super().__init__(**kwargs)
        if (checkpoint is None) == (model is None):
            raise DataError('TrainkitCalculator: give either a checkpoint file or model=')
        self.model = model if model is not None else load_model(checkpoint, ema=ema,
                                                                device=device, dtype=dtype)

    def calculate(self, atoms=None, properties: Sequence[str] = ('energy',),
                  system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        if self.atoms.pbc.any():
            raise DataError(f'TrainkitCalculator: the atoms are periodic (pbc={self.atoms.pbc}); '
                            f'the potential is molecular, set atoms.pbc = False')
        out = predict(self.model, self.atoms.numbers, self.atoms.positions)
        energy = float(out['energy'])
        self.results = {'energy': energy, 'free_energy': energy,
                        'forces': out['forces'].detach().cpu().double().numpy().astype(np.float64)}
