"""What the training data did to the targets, handed to the model to keep with its weights.

A dataset that transforms its targets (``SpiceDataset`` subtracts per-element reference
energies and converts units) describes it in ``dataset.data_info()``; a model that can keep
it (``NeuralPotential`` stores it in buffers, so in every checkpoint) takes it in
``model.adopt_data_info(info)``. The Runner calls :func:`share_data_info` once, after loading
a checkpoint (a finetune on other data keeps the new data's values) and before the hooks
start (the EMA copy is made from the model then)::

    share_data_info(model, train_loader.dataset)   # no-op unless both sides take part
"""
from torch import nn


def share_data_info(model: nn.Module, dataset) -> bool:
    """Hand ``dataset.data_info()`` to ``model.adopt_data_info``; True if both have them."""
    info = getattr(dataset, 'data_info', None)
    adopt = getattr(model, 'adopt_data_info', None)
    if not (callable(info) and callable(adopt)):
        return False
    adopt(info())
    return True
