"""Build and run configs whose runtime and schedule are OpenMMLab project files."""
import json
import os
from typing import List, Sequence, Tuple

import torch
from torch import nn

from trainkit.config.load import load_config
from trainkit.engine.runner import Runner
from trainkit.models.mlp import MLP
from trainkit.registry import MODELS

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'projects')
# a trainkit model, data and loss under the project's runtime and schedule (as a user writes)
USER_PART = """
work_dir = {work_dir!r}
model = dict(type='MLP', in_features=4, hidden=[16])
train_dataloader = dict(dataset=dict(type='SyntheticRegression', num_samples=64, in_features=4),
                        batch_size=16, shuffle=True)
val_dataloader = dict(dataset=dict(type='SyntheticRegression', num_samples=32, in_features=4,
                                   split='val'), batch_size=16)
loss = dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0))
"""


@MODELS.register_module()
class SwinLikeMLP(MLP):
    """The MLP with the two position tables a Swin transformer has (``blocks.absolute_pos_embed``
    and ``blocks.relative_position_bias_table``), so that MMPretrain's Swin schedule, whose
    ``paramwise_cfg.custom_keys`` name them, finds the parameters it configures.

    Config example::

        model = dict(type='SwinLikeMLP', in_features=4, hidden=[16])
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.blocks = nn.Module()
        self.blocks.absolute_pos_embed = nn.Parameter(torch.zeros(1))
        self.blocks.relative_position_bias_table = nn.Parameter(torch.zeros(1))

    def forward(self, batch):
        out = super().forward(batch)
        shift = self.blocks.absolute_pos_embed + self.blocks.relative_position_bias_table
        return {key: value + shift for key, value in out.items()}


def project_file(*parts: str) -> str:
    return os.path.join(PROJECTS, *parts)


def write_user_config(tmp_path, bases: Sequence[str], extra: str = '') -> str:
    """A user config: ``_base_`` = the project files, plus trainkit model/data and ``extra``."""
    path = tmp_path / 'user_cfg.py'
    base_list = ', '.join(repr(project_file(*b.split('/'))) for b in bases)
    path.write_text(f'_base_ = [{base_list}]\n' +
                    USER_PART.format(work_dir=str(tmp_path / 'work')) + extra)
    return str(path)


def build(tmp_path, bases, extra='', options=(), capsys=None) -> Tuple[Runner, List[str]]:
    """The Runner of the user config and the notices printed while building it."""
    cfg = load_config(write_user_config(tmp_path, bases, extra), list(options))
    if capsys is not None:
        capsys.readouterr()
    runner = Runner.from_cfg(cfg)
    notices = []
    if capsys is not None:
        notices = [line[len('notice: '):] for line in capsys.readouterr().err.splitlines()
                   if line.startswith('notice: ')]
    return runner, notices


def rows(work_dir: str, kind: str = 'train') -> List[dict]:
    with open(os.path.join(work_dir, 'loss.jsonl')) as f:
        return [r for r in map(json.loads, f) if r.get('kind') == kind]
