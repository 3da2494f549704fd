"""A small multilayer perceptron for the general (non-molecular) example."""
from typing import Dict, Sequence

import torch
from torch import nn

from trainkit.errors import ConfigError
from trainkit.registry import MODELS

_ACTIVATIONS = {'silu': nn.SiLU, 'relu': nn.ReLU, 'tanh': nn.Tanh, 'gelu': nn.GELU}


@MODELS.register_module()
class MLP(nn.Module):
    """``batch[input_key] -> {output_key: prediction}`` through hidden layers.

    Args:
        in_features: input size.
        hidden: hidden layer sizes. Defaults to ``(128, 128)``.
        out_features: output size. Defaults to 1.
        activation: ``'silu'``, ``'relu'``, ``'tanh'`` or ``'gelu'``. Defaults to ``'silu'``.
        input_key, output_key: batch key read and prediction key written. Default ``'x'`` and
            ``'y'``.

    Config example::

        model = dict(type='MLP', in_features=32, hidden=[128, 128], out_features=1)
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = (128, 128),
                 out_features: int = 1, activation: str = 'silu', input_key: str = 'x',
                 output_key: str = 'y'):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ConfigError(f'MLP.activation: {activation!r} is not one of '
                              f'{sorted(_ACTIVATIONS)}')
        sizes = [in_features, *hidden, out_features]
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(_ACTIVATIONS[activation]())
        self.net = nn.Sequential(*layers)
        self.input_key, self.output_key = input_key, output_key

    def forward(self, batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        return {self.output_key: self.net(batch[self.input_key])}
