"""A synthetic regression dataset: the general example and the tests' workhorse."""
from typing import Dict

import torch
from torch.utils.data import Dataset

from trainkit.errors import ConfigError
from trainkit.registry import DATASETS


@DATASETS.register_module()
class SyntheticRegression(Dataset):
    """``y = sin(x·w₁) + 0.5·(x·w₂)² + noise`` for Gaussian ``x``, generated from a seed.

    Args:
        num_samples: dataset size. Defaults to 1024.
        in_features: size of ``x``. Defaults to 32.
        noise: standard deviation of the target noise. Defaults to 0.05.
        seed: data seed (the same seed gives the same data). Defaults to 0.
        split: ``'train'`` or ``'val'``: val draws from the same function with other inputs.
            Defaults to ``'train'``.

    Items are ``{'x': (in_features,), 'y': (1,)}``.

    Config example::

        train_dataloader = dict(dataset=dict(type='SyntheticRegression', num_samples=4096),
                                batch_size=32, shuffle=True)
    """

    def __init__(self, num_samples: int = 1024, in_features: int = 32, noise: float = 0.05,
                 seed: int = 0, split: str = 'train'):
        if split not in ('train', 'val'):
            raise ConfigError(f"SyntheticRegression.split: expected 'train' or 'val', got "
                              f'{split!r}')
        if num_samples < 1 or in_features < 1:
            raise ConfigError('SyntheticRegression: num_samples and in_features must be >= 1')
        weights = torch.Generator().manual_seed(seed)
        w = torch.randn(2, in_features, generator=weights) / in_features ** 0.5
        inputs = torch.Generator().manual_seed(seed * 2 + (split == 'val') + 1)
        self.x = torch.randn(num_samples, in_features, generator=inputs)
        proj = self.x @ w.T
        clean = torch.sin(proj[:, :1]) + 0.5 * proj[:, 1:] ** 2
        self.y = clean + noise * torch.randn(num_samples, 1, generator=inputs)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        return {'x': self.x[index], 'y': self.y[index]}
