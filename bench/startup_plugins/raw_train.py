"""The startup bench's job written by hand: the floor for time to the first step.

    python raw_train.py WORK_DIR
"""
import os
import sys

import torch
import torch.nn.functional as F
from first_step import record_first_step
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def main():
    work_dir = sys.argv[1]
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    w = torch.randn(2, 32, generator=g) / 32 ** 0.5
    inputs = torch.Generator().manual_seed(1)
    x = torch.randn(2048, 32, generator=inputs)
    proj = x @ w.T
    y = torch.sin(proj[:, :1]) + 0.5 * proj[:, 1:] ** 2 + 0.05 * torch.randn(2048, 1,
                                                                           generator=inputs)
    net = nn.Sequential(nn.Linear(32, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(),
                        nn.Linear(128, 1))
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    for xb, yb in loader:
        loss = F.mse_loss(net(xb), yb)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        record_first_step()
    os.makedirs(work_dir, exist_ok=True)
    torch.save(net.state_dict(), os.path.join(work_dir, 'last.pt'))


if __name__ == '__main__':
    main()
