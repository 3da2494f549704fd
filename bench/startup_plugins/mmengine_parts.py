"""The MMEngine side of the startup bench: model, dataset and the first-step hook."""
import torch
import torch.nn.functional as F
from first_step import record_first_step
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, HOOKS, MODELS
from torch import nn
from torch.utils.data import Dataset


@MODELS.register_module()
class BenchMLP(BaseModel):
    """in_features → hidden → hidden → 1 SiLU MLP; the MSE loss in ``'loss'`` mode."""

    def __init__(self, in_features=32, hidden=128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, x, y=None, mode='tensor'):
        pred = self.net(x)
        if mode == 'loss':
            return {'loss': F.mse_loss(pred, y)}
        return pred


@DATASETS.register_module()
class BenchRegression(Dataset):
    """The same synthetic function as trainkit's SyntheticRegression."""

    def __init__(self, num_samples=2048, in_features=32, noise=0.05, seed=0):
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(2, in_features, generator=g) / in_features ** 0.5
        inputs = torch.Generator().manual_seed(seed * 2 + 1)
        self.x = torch.randn(num_samples, in_features, generator=inputs)
        proj = self.x @ w.T
        self.y = torch.sin(proj[:, :1]) + 0.5 * proj[:, 1:] ** 2 + \
            noise * torch.randn(num_samples, 1, generator=inputs)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return {'x': self.x[index], 'y': self.y[index]}


@HOOKS.register_module()
class FirstStepHook(Hook):
    """Writes the time of the first optimizer step; changes nothing else."""

    priority = 'LOWEST'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        record_first_step()
