"""What a checkpoint every N optimizer steps costs: ``CheckpointHook(interval_steps=N)`` next to
the same run with checkpoints at epoch ends only, side by side in one process.

    python bench/checkpoint_interval.py                  # N = 1, 5, 20; 5 rounds
    python bench/checkpoint_interval.py --intervals 10 100 --rounds 5 --threads 0

The run is ``configs/spice.py`` as shipped (default hooks: background checkpoint writes,
EMA, best-3 files, logger, TensorBoard), shortened to ``--molecules`` demo molecules and
``--epochs`` epochs. Each round trains every setting once, in turn, so a change in machine
load hits all of them alike. What is timed is the training iterations (first batch of an epoch
to its last optimizer step, validation and the end-of-epoch checkpoint left out, which every
setting has alike), as CPU time of the process (all threads: the background writer's work
counts too; the steadiest figure when other jobs share the machine) and as wall-clock time; the
table gives the medians per optimizer step, their ratios to the run without mid-epoch
checkpoints, and the CPU cost per mid-epoch checkpoint. Every setting must end
with the same weights (a checkpoint changes no number), which the bench checks.
"""
import argparse
import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Dict, List, Optional

import _common  # noqa: F401  (puts the repository root on sys.path)
import torch
from _common import environment_lines, table

from trainkit.config.load import load_config
from trainkit.engine.runner import Runner
from trainkit.hooks import Hook

SPICE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs',
                     'spice.py')


class IterClock(Hook):
    """Sums the time from each epoch's first batch to its last one's hooks (checkpoint
    included), and counts the mid-epoch checkpoints."""

    priority = 'LOWEST'

    def __init__(self):
        self.wall = self.cpu = 0.0
        self.start = (0.0, 0.0)

    def before_train_epoch(self, runner):
        self.start = (time.perf_counter(), time.process_time())

    def after_train_iter(self, runner, batch_idx, batch, preds, losses):
        if runner.epoch_iter == runner.iters_per_epoch:
            self.wall += time.perf_counter() - self.start[0]
            self.cpu += time.process_time() - self.start[1]


def train_once(interval: Optional[int], work: str, args) -> Dict[str, object]:
    options = [f'train_cfg.max_epochs={args.epochs}', 'seed=0',
               'default_hooks.logger.progress_bar=False'] + [
        f'{loader}.dataset.max_molecules={args.molecules}'
        for loader in ('train_dataloader', 'val_dataloader')]
    if interval:
        options.append(f'default_hooks.checkpoint.interval_steps={interval}')
    cfg = load_config(SPICE, options)
    cfg.work_dir = work
    clock = IterClock()
    with contextlib.redirect_stdout(io.StringIO()):
        runner = Runner.from_cfg(cfg)
        runner.hooks.append(clock)
        runner.train()
    steps = runner.step
    mid = 0 if not interval else sum(
        1 for s in range(1, steps + 1)
        if s % interval == 0 and s % runner.steps_per_epoch != 0)
    weights = {k: v.clone() for k, v in runner.unwrapped_model.state_dict().items()}
    return {'wall': clock.wall, 'cpu': clock.cpu, 'steps': steps, 'mid': mid,
            'weights': weights}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--intervals', type=int, nargs='+', default=[1, 5, 20])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--quick', action='store_true', help='2 rounds')
    parser.add_argument('--epochs', type=int, default=2)
    parser.add_argument('--molecules', type=int, default=12)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (0: torch\'s default); default 1, which keeps the '
                             'timing steady on a shared machine')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.rounds = min(args.rounds, 2)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = [None] + list(args.intervals)
    root = tempfile.mkdtemp(prefix='bench-interval-')
    cpu: Dict[Optional[int], List[float]] = {s: [] for s in settings}
    wall: Dict[Optional[int], List[float]] = {s: [] for s in settings}
    results = {}
    try:
        for r in range(args.rounds):
            for setting in settings:
                work = os.path.join(root, f'{setting}-{r}')
                results[setting] = train_once(setting, work, args)
                steps = results[setting]['steps']
                cpu[setting].append(results[setting]['cpu'] / steps)
                wall[setting].append(results[setting]['wall'] / steps)
                shutil.rmtree(work, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = results[None]['weights']
    same = all(torch.equal(base[k], results[s]['weights'][k]) for s in settings for k in base)
    cpu_step = {s: statistics.median(t) for s, t in cpu.items()}
    wall_step = {s: statistics.median(t) for s, t in wall.items()}
    rows = []
    for s in settings:
        extra = (cpu_step[s] - cpu_step[None]) * results[s]['steps']
        mid = results[s]['mid']
        rows.append(['epoch ends only' if s is None else f'every {s} steps',
                     results[s]['steps'], mid, f'{cpu_step[s] * 1e3:.2f}',
                     f'{cpu_step[s] / cpu_step[None]:.3f}', f'{wall_step[s] * 1e3:.2f}',
                     f'{wall_step[s] / wall_step[None]:.3f}',
                     f'{extra / mid * 1e3:.1f}' if mid else '-'])
    print(environment_lines({'config': 'configs/spice.py', 'epochs': args.epochs,
                             'molecules': args.molecules, 'rounds': args.rounds,
                             'torch threads': torch.get_num_threads()}))
    print()
    print(table(['mid-epoch checkpoints', 'optimizer steps', 'mid-epoch checkpoints written',
                 'CPU ms per step', 'CPU ratio', 'wall ms per step', 'wall ratio',
                 'CPU ms per checkpoint'], rows))
    print()
    print(f'final weights identical in every setting: {same}')
    return 0 if same else 1


if __name__ == '__main__':
    sys.exit(main())
