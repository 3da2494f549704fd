"""Per-iteration overhead of trainkit's Runner next to a hand-written loop, MMEngine's Runner
and PyTorch Lightning, on one small job where framework overhead is easy to see.

    python bench/overhead.py            # 10 epochs x 200 iterations, 7 interleaved repetitions
    python bench/overhead.py --quick    # 2 epochs, 3 repetitions (a CI-size smoke run)

The job (issue 8): a 32→128→128→1 SiLU MLP, batch 32, AdamW(lr=1e-3), MSE, one thread,
2,000 iterations = 10 epochs × 200 batches. Every variant gets the same initial weights and a
fresh DataLoader over the same pre-generated tensors with a sampler that shuffles by
``(seed, epoch)``, so all see the same batches in the same order and must end at the same
loss (checked, and printed). By default a batch is fetched with one indexing op
(``__getitems__``) so the data pipeline is as cheap as in a tuned job and the framework cost is
not hidden behind ``default_collate``; ``--loader per-sample`` uses per-item fetching +
``default_collate``.

Timed: the training call only — the raw loop, ``Runner.train()`` (trainkit, MMEngine) and
``Trainer.fit()`` (Lightning) — in wall seconds and in CPU seconds of the process (all
threads). Building the runner/trainer is reported separately (``build``).
Frameworks run with their usual defaults for such a job: a log row every 50 steps, a
checkpoint at the end of every epoch, no validation. ``trainkit + TrackingHook`` adds the
TensorBoard tracking that ``configs/_base_/default_runtime.py`` turns on (its ratio to
``trainkit`` is the per-step cost of the default tracking). PyTorch Lightning is measured when it is
importable (``lightning`` or ``pytorch_lightning``) and skipped otherwise; nothing is
installed by this script.
"""
import argparse
import contextlib
import copy
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from typing import Callable, Dict, List, Tuple

import _common  # noqa: F401  (puts the repository root on sys.path)
import torch
import torch.nn.functional as F
from _common import environment_lines, fmt_s, table
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

IN_FEATURES, HIDDEN, BATCH = 32, 128, 32
LR = 1e-3
EMA_DECAY = 0.995
DATA_SEED, INIT_SEED = 0, 1


# ----------------------------------------------------------------------------- data
def make_data(num_samples: int) -> Tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(DATA_SEED)
    w = torch.randn(2, IN_FEATURES, generator=g) / IN_FEATURES ** 0.5
    x = torch.randn(num_samples, IN_FEATURES, generator=g)
    proj = x @ w.T
    y = torch.sin(proj[:, :1]) + 0.5 * proj[:, 1:] ** 2 + 0.05 * torch.randn(num_samples, 1,
                                                                           generator=g)
    return x, y


class PerSampleDataset(Dataset):
    """``{'x', 'y'}`` items; batches are built by ``default_collate``."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return {'x': self.x[index], 'y': self.y[index]}


class BatchFetchDataset(PerSampleDataset):
    """The same items, but a whole batch is fetched with one indexing op."""

    def __getitems__(self, indices):
        index = torch.as_tensor(indices)
        return {'x': self.x[index], 'y': self.y[index]}


def passthrough(batch):
    """The collate function of batch-fetched data: the DataLoader (and trainkit's check of the
    loss targets before training) hands over the dict that ``__getitems__`` built."""
    return batch


class EpochShuffleSampler(Sampler):
    """A shuffle that depends on ``(seed, epoch)`` only: every framework calls ``set_epoch``
    before an epoch (trainkit, MMEngine's DistSamplerSeedHook, Lightning's fit loop; the raw
    loop does it by hand), so all see the same order however often they call ``iter()``."""

    def __init__(self, num_samples: int, seed: int):
        self.num_samples, self.seed, self.epoch = num_samples, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.num_samples, generator=g).tolist())

    def __len__(self) -> int:
        return self.num_samples


def make_loader(x, y, per_sample: bool) -> DataLoader:
    dataset = (PerSampleDataset if per_sample else BatchFetchDataset)(x, y)
    sampler = EpochShuffleSampler(len(dataset), DATA_SEED)
    return DataLoader(dataset, batch_size=BATCH, sampler=sampler,
                      collate_fn=None if per_sample else passthrough)


def make_net() -> nn.Sequential:
    return nn.Sequential(nn.Linear(IN_FEATURES, HIDDEN), nn.SiLU(), nn.Linear(HIDDEN, HIDDEN),
                         nn.SiLU(), nn.Linear(HIDDEN, 1))


@contextlib.contextmanager
def quiet():
    """Send the frameworks' console output (log rows, warnings) to /dev/null."""
    with open(os.devnull, 'w') as sink, contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(sink):
        yield


def _perf():
    return time.perf_counter()


class Timer:
    """Wall seconds (``perf_counter``) and CPU seconds of this process, all threads
    (``process_time``) spent in a ``with`` block. On a busy machine the CPU time is the steadier
    measure of the work done; the wall time also holds waits (an ``fsync``, a descheduled
    process)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        return False


# ----------------------------------------------------------------------------- variants
class Job:
    """Shared inputs of every variant: data, initial weights, epochs, a scratch directory."""

    def __init__(self, epochs: int, iters_per_epoch: int, per_sample: bool, scratch: str):
        self.epochs, self.iters_per_epoch = epochs, iters_per_epoch
        self.iters = epochs * iters_per_epoch
        self.per_sample = per_sample
        self.scratch = scratch
        self.x, self.y = make_data(iters_per_epoch * BATCH)
        torch.manual_seed(INIT_SEED)
        self.init_state = copy.deepcopy(make_net().state_dict())

    def net(self) -> nn.Sequential:
        net = make_net()
        net.load_state_dict(self.init_state)
        return net

    def loader(self) -> DataLoader:
        return make_loader(self.x, self.y, self.per_sample)

    def work_dir(self) -> str:
        return tempfile.mkdtemp(dir=self.scratch)

    @torch.no_grad()
    def final_loss(self, net: nn.Module) -> float:
        """MSE of the trained weights on the whole training set (same for every variant)."""
        return float(F.mse_loss(net(self.x), self.y))


def run_raw(job: Job, ema: bool = False):
    net = job.net()
    optimizer = torch.optim.AdamW(net.parameters(), lr=LR)
    loader = job.loader()
    params = [p.detach() for p in net.parameters()]
    shadow = [p.clone() for p in params]
    weight = 1.0 - EMA_DECAY
    iters = 0
    with Timer() as timer:
        net.train()
        for epoch in range(job.epochs):
            loader.sampler.set_epoch(epoch)
            for batch in loader:
                loss = F.mse_loss(net(batch['x']), batch['y'])
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                if ema:
                    torch._foreach_lerp_(shadow, params, weight)
                iters += 1
    assert iters == job.iters, iters
    return timer, 0.0, net


def run_trainkit(job: Job, ema: bool = False, checkpoint: bool = True, tracking: bool = False):
    from trainkit import Runner
    from trainkit.hooks.build import list_hooks
    from trainkit.models.mlp import MLP
    start = _perf()
    model = MLP(IN_FEATURES, (HIDDEN, HIDDEN), 1)
    model.net.load_state_dict(job.init_state)
    # hooks=None is the default set (NanGuardHook, LoggerHook(log_steps=50), CheckpointHook);
    # with EMA: the same plus default_hooks.ema as a config would add it.
    # checkpoint=False: the same without CheckpointHook (what the per-step work alone costs).
    # tracking=True: the same plus the TensorBoard TrackingHook of default_runtime.py.
    default_hooks = {'ema': dict(type='EMAHook', ema_decay=EMA_DECAY)} if ema else {}
    if not checkpoint:
        default_hooks['checkpoint'] = None
    if tracking:
        default_hooks['tracking'] = dict(type='TrackingHook')
    hooks = list_hooks({'default_hooks': default_hooks}) if default_hooks else None
    work_dir = job.work_dir()
    with quiet():
        runner = Runner(model, job.loader(),
                        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=LR)),
                        loss=dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0)),
                        hooks=hooks, max_epochs=job.epochs, work_dir=work_dir,
                        run_name='bench', seed=0, device='cpu')
        build = _perf() - start
        torch.set_num_threads(1)
        with Timer() as timer:
            runner.train()
    assert runner.iter == job.iters, runner.iter
    shutil.rmtree(work_dir, ignore_errors=True)
    return timer, build, model.net


def run_mmengine(job: Job, ema: bool = False):
    import logging

    from mmengine.model import BaseModel
    from mmengine.runner import Runner as MMRunner

    class Regressor(BaseModel):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x, y=None, mode='tensor'):
            pred = self.net(x)
            if mode == 'loss':
                return {'loss': F.mse_loss(pred, y)}
            return pred

    start = _perf()
    net = job.net()
    work_dir = job.work_dir()
    with quiet():
        runner = MMRunner(
            model=Regressor(net), work_dir=work_dir, train_dataloader=job.loader(),
            train_cfg=dict(by_epoch=True, max_epochs=job.epochs),
            optim_wrapper=dict(optimizer=dict(type='AdamW', lr=LR)),
            default_hooks=dict(logger=dict(type='LoggerHook', interval=50),
                               checkpoint=dict(type='CheckpointHook', interval=1)),
            custom_hooks=[dict(type='EMAHook', momentum=1.0 - EMA_DECAY)] if ema else None,
            env_cfg=dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo')),
            randomness=dict(seed=0), experiment_name=f'bench-{uuid.uuid4().hex[:12]}')
        build = _perf() - start
        torch.set_num_threads(1)
        with Timer() as timer:
            runner.train()
        # release the log file handles mmengine keeps per experiment
        for handler in list(runner.logger.handlers):
            if isinstance(handler, logging.FileHandler):
                handler.close()
                runner.logger.removeHandler(handler)
    assert runner.iter == job.iters, runner.iter
    shutil.rmtree(work_dir, ignore_errors=True)
    return timer, build, net


def import_lightning():
    try:
        import lightning.pytorch as pl
        return pl
    except ImportError:
        pass
    try:
        import pytorch_lightning as pl
        return pl
    except ImportError:
        return None


def run_lightning(job: Job, ema: bool = False):
    import logging
    pl = import_lightning()
    for name in ('lightning', 'lightning.pytorch', 'pytorch_lightning', 'lightning_fabric'):
        logging.getLogger(name).setLevel(logging.ERROR)

    class LitRegressor(pl.LightningModule):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def training_step(self, batch, batch_idx):
            loss = F.mse_loss(self.net(batch['x']), batch['y'])
            self.log('loss', loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=LR)

    start = _perf()
    net = job.net()
    work_dir = job.work_dir()
    with quiet():
        from_loggers = getattr(pl, 'loggers')
        trainer = pl.Trainer(
            max_epochs=job.epochs, accelerator='cpu', devices=1, default_root_dir=work_dir,
            logger=from_loggers.CSVLogger(work_dir), log_every_n_steps=50,
            enable_checkpointing=True, enable_progress_bar=False, enable_model_summary=False,
            num_sanity_val_steps=0, use_distributed_sampler=False)
        module = LitRegressor(net)
        loader = job.loader()
        build = _perf() - start
        torch.set_num_threads(1)
        with Timer() as timer:
            trainer.fit(module, train_dataloaders=loader)
    assert trainer.global_step == job.iters, trainer.global_step
    shutil.rmtree(work_dir, ignore_errors=True)
    return timer, build, net


# ----------------------------------------------------------------------------- tracking
def tracking_cost(scratch: str, rows: int, rounds: int = 5) -> Dict[str, float]:
    """The default tracking alone: a TensorBoard TrackingHook fed ``rows`` train rows as the
    LoggerHook writes them in this job, timed apart from any training (so that the figure does
    not drown in the run-to-run noise of a whole run). ``row_us``: wall µs per row on the
    training thread (best of ``rounds``); ``cpu_row_us``: CPU µs per row of all threads, the
    writer thread's serialization and the final flush included, the sleeps between rows not
    (best of ``rounds``)."""
    from types import SimpleNamespace

    from trainkit.engine.run_log import RunLog
    from trainkit.hooks.tracking import _SKIP, TrackingHook
    row = {'kind': 'train', 'epoch': 1, 'step': 0, 'step_in_epoch': 50, 'lr': LR,
           'time': time.time(), 'iter_time': 5.7e-4, 'data_time': 4e-5, 'loss': 0.25,
           'train_y_mae': 0.4, 'train_y_rmse': 0.5}
    wall, cpu = [], []
    for _ in range(rounds):
        hook, log = TrackingHook(), RunLog(console=lambda line: None)
        hook.before_run(SimpleNamespace(is_main=True, work_dir=tempfile.mkdtemp(dir=scratch),
                                        step=0, log=log))
        start_cpu, spent = time.process_time(), 0.0
        for step in range(rows):
            record = dict(row, step=50 * (step + 1))
            start = time.perf_counter()
            log.record(record)
            spent += time.perf_counter() - start
            # rows come 50 steps apart in a run: the writer thread drains its queue meanwhile
            # (back to back, the queue of 10 events fills and the training thread waits)
            time.sleep(0.002)
        wall.append(spent / rows * 1e6)
        hook.after_run(None)  # flushes: the writer thread's work is in the CPU time
        cpu.append((time.process_time() - start_cpu) / rows * 1e6)
    scalars = sum(k not in _SKIP for k in row)
    return {'row_us': min(wall), 'cpu_row_us': min(cpu), 'scalars': scalars}


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='2 epochs, 3 repetitions')
    parser.add_argument('--epochs', type=int, default=None, help='default 10 (2 with --quick)')
    parser.add_argument('--iters-per-epoch', type=int, default=200)
    parser.add_argument('--repeats', type=int, default=None, help='default 7 (3 with --quick)')
    parser.add_argument('--loader', choices=('batch-fetch', 'per-sample'), default='batch-fetch')
    parser.add_argument('--only', nargs='+', default=None,
                        help='variants to run (names as in the table, e.g. raw trainkit)')
    args = parser.parse_args(argv)
    epochs = args.epochs or (2 if args.quick else 10)
    repeats = args.repeats or (3 if args.quick else 7)
    torch.set_num_threads(1)

    variants: Dict[str, Callable] = {
        'raw loop': lambda job: run_raw(job),
        'raw loop + foreach EMA': lambda job: run_raw(job, ema=True),
        'trainkit': lambda job: run_trainkit(job),
        'trainkit + EMAHook': lambda job: run_trainkit(job, ema=True),
        'trainkit without CheckpointHook': lambda job: run_trainkit(job, checkpoint=False),
        'trainkit + TrackingHook': lambda job: run_trainkit(job, tracking=True),
        'mmengine': lambda job: run_mmengine(job),
        'mmengine + EMAHook': lambda job: run_mmengine(job, ema=True),
    }
    lightning = import_lightning()
    if lightning is not None:
        variants['lightning'] = lambda job: run_lightning(job)
    if args.only:
        wanted = {w.lower() for w in args.only}
        variants = {k: v for k, v in variants.items()
                    if k.lower() in wanted or k.split()[0].lower() in wanted or k == 'raw loop'}

    with tempfile.TemporaryDirectory(prefix='trainkit-bench-') as scratch:
        job = Job(epochs, args.iters_per_epoch, args.loader == 'per-sample', scratch)
        seconds: Dict[str, List[Timer]] = {k: [] for k in variants}
        builds: Dict[str, List[float]] = {k: [] for k in variants}
        losses: Dict[str, float] = {}
        weight_diff: Dict[str, float] = {}
        ref_net = None
        names = list(variants)
        print(f'warm-up run of each variant, then {repeats} interleaved repetitions ...',
              file=sys.stderr)
        for rep in range(-1, repeats):  # rep -1: warm-up, not recorded
            shift = max(rep, 0) % len(names)
            for name in names[shift:] + names[:shift]:
                if torch.get_num_threads() != 1:
                    torch.set_num_threads(1)
                import gc
                gc.collect()
                timer, build, net = variants[name](job)
                if rep < 0:
                    losses[name] = job.final_loss(net)
                    if name == 'raw loop':
                        ref_net = net
                    continue
                seconds[name].append(timer)
                builds[name].append(build)
                if name not in weight_diff:
                    weight_diff[name] = max(
                        (a - b).abs().max().item() for a, b in
                        zip(ref_net.state_dict().values(), net.state_dict().values()))
            if rep >= 0:
                print(f'  repetition {rep + 1}/{repeats} done', file=sys.stderr)

        tracking = tracking_cost(scratch, rows=max(job.iters // 50, 1000))

    wall = {n: [t.wall for t in seconds[n]] for n in names}
    cpu = {n: [t.cpu for t in seconds[n]] for n in names}

    def paired_ratio(times, a, b):
        return statistics.median(x / y for x, y in zip(times[a], times[b]))

    def paired_us(times, a, b):
        return statistics.median((x - y) / job.iters * 1e6 for x, y in zip(times[a], times[b]))

    rows = []
    for name in names:
        rows.append([name, fmt_s(min(wall[name])), fmt_s(statistics.median(wall[name])),
                     f'{paired_ratio(wall, name, "raw loop"):.3f}',
                     f'{paired_us(wall, name, "raw loop"):+.1f}',
                     fmt_s(min(cpu[name])), fmt_s(statistics.median(cpu[name])),
                     f'{paired_ratio(cpu, name, "raw loop"):.3f}',
                     f'{paired_us(cpu, name, "raw loop"):+.1f}',
                     f'{statistics.median(builds[name]) * 1e3:.0f}' if name.startswith(
                         ('trainkit', 'mmengine', 'lightning')) else '-',
                     f'{losses[name]:.9g}', f'{abs(losses[name] - losses["raw loop"]):.1e}',
                     f'{weight_diff[name]:.1e}'])
    targets = []
    for name, base, limit in (('trainkit', 'raw loop', 1.05),
                              ('trainkit + EMAHook', 'raw loop + foreach EMA', 1.05),
                              ('trainkit without CheckpointHook', 'raw loop', None),
                              ('trainkit + TrackingHook', 'trainkit', None),
                              ('mmengine', 'raw loop', None), ('lightning', 'raw loop', None)):
        if name in wall and base in wall:
            targets.append([f'{name} / {base}', f'{paired_ratio(wall, name, base):.3f}',
                            f'{paired_ratio(cpu, name, base):.3f}',
                            f'{min(cpu[name]) / min(cpu[base]):.3f}',
                            f'≤ {limit:.2f}' if limit else '-'])
    settings = {
        'job': f'{IN_FEATURES}->{HIDDEN}->{HIDDEN}->1 SiLU MLP, batch {BATCH}, AdamW(lr={LR}), '
               f'MSE', 'iterations': f'{job.iters} ({epochs} epochs x {args.iters_per_epoch})',
        'threads': torch.get_num_threads(), 'loader': args.loader,
        'repetitions': f'{repeats} interleaved (+1 warm-up)',
        'logging': 'every 50 steps', 'checkpoint': 'every epoch', 'EMA decay': EMA_DECAY,
    }
    print('## Training-loop overhead\n')
    print(environment_lines(settings, extra_versions=('pytorch-lightning', 'lightning')))
    print()
    print(table(['variant', 'wall best s', 'wall median s', 'wall ratio to raw',
                 'wall µs/iter over raw', 'CPU best s', 'CPU median s', 'CPU ratio to raw',
                 'CPU µs/iter over raw', 'build ms', 'final train MSE', 'Δ loss vs raw (abs)',
                 'max Δ weight vs raw (abs)'], rows))
    print()
    print(table(['ratio', 'wall (median of paired)', 'CPU (median of paired)',
                 'CPU (best / best)', 'target'],
                targets))
    step_us = min(cpu['raw loop']) / job.iters * 1e6  # CPU best: the steadiest under load
    print(f'\nThe default tracking alone (TensorBoard, one row of {tracking["scalars"]} scalars '
          'every 50 steps, timed apart from training, best of 5 rounds):\n')
    print(table(['tracking', 'µs per log row', 'µs per step (log_steps=50)',
                 'share of a raw-loop step'],
                [['training thread (wall)', f'{tracking["row_us"]:.1f}',
                  f'{tracking["row_us"] / 50:.2f}',
                  f'{tracking["row_us"] / 50 / step_us:.2%}'],
                 ['all threads (CPU, writing and flush included)',
                  f'{tracking["cpu_row_us"]:.1f}', f'{tracking["cpu_row_us"] / 50:.2f}',
                  f'{tracking["cpu_row_us"] / 50 / step_us:.2%}']]))
    if lightning is None:
        print('\nPyTorch Lightning is not installed: its row is skipped.')
    print('\nRatios and µs/iter are medians over repetitions of each repetition\'s time divided '
          'by (or minus) the raw loop\'s time of the same repetition. "CPU": process_time of '
          'all threads, steadier on a busy machine but blind to waits (e.g. a checkpoint\'s '
          'fsync). "build": constructing the runner/trainer (not in the timed part).')
    return 0


if __name__ == '__main__':
    sys.exit(main())
