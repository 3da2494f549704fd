"""A tiny run of configs/spice.py, trained once per test module that asks for it.

``configs/spice.py`` as a user runs it, shortened with ``--cfg-options``: 10 molecules of the
demo file (1 of them in the test split, 2 in validation), 4 conformations each, a 16-feature
model, 2 epochs; the EMA hook on as the config has it. ::

    @pytest.fixture(scope='module')
    def trained(tmp_path_factory):
        return train_demo(tmp_path_factory.mktemp('demo'))
"""
import dataclasses
import os
from typing import List

from tests.support.configs import ROOT
from trainkit.config.load import load_config
from trainkit.engine.runner import Runner

CONFIG = os.path.join(ROOT, 'configs', 'spice.py')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


@dataclasses.dataclass
class Trained:
    runner: Runner
    options: List[str]        # the --cfg-options of the run (paths, sizes, work_dir)
    checkpoint: str           # {work_dir}/spice-demo_last.pt
    data: str                 # the demo HDF5 file


def demo_options(tmp_path) -> List[str]:
    data = os.path.join(str(tmp_path), 'spice-demo.hdf5')
    options = [f'work_dir={tmp_path / "work"}', 'train_cfg.max_epochs=2',
               'model.num_features=16', 'model.num_rbf=8', 'default_hooks.tracking=None',
               'default_hooks.logger.log_steps=1000', 'train_dataloader.batch_size=8']
    for loader in LOADERS:
        options += [f'{loader}.dataset.path={data}', f'{loader}.dataset.max_molecules=10',
                    f'{loader}.dataset.max_conformations=4']
    return options


def train_demo(tmp_path) -> Trained:
    options = demo_options(tmp_path)
    runner = Runner.from_cfg(load_config(CONFIG, options))
    runner.log.console = runner.default_console = lambda line: None
    runner.train()
    return Trained(runner, options, os.path.join(runner.work_dir, 'spice-demo_last.pt'),
                   runner.train_dataloader.dataset.path)
