"""After training: the checkpoint is the model.

- :mod:`~trainkit.interface.load`: ``load_model(CKPT)`` — the model of a checkpoint alone;
- :mod:`~trainkit.interface.predict`: ``predict(model, atomic_numbers, positions)`` — total
  energies (eV) and forces (eV/Å);
- :mod:`~trainkit.interface.calculator`: ``TrainkitCalculator(CKPT)`` for ASE (needs ``ase``);
- :mod:`~trainkit.interface.export`: a TorchScript module that runs without trainkit;
- :mod:`~trainkit.interface.evaluation`: a checkpoint evaluated on a config's test data
  (``tools/test.py``).

Nothing is imported here, so ``import trainkit.interface`` stays cheap and ``ase`` optional;
``trainkit.load_model``, ``trainkit.predict`` and ``trainkit.TrainkitCalculator`` load on use.
"""
