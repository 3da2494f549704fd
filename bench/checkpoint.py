"""Checkpoint save and load: trainkit's next to plain ``torch.save`` / ``torch.load`` of the
same tensors, with the file sizes.

    python bench/checkpoint.py            # a 5.04 M-parameter model and the overhead job's MLP
    python bench/checkpoint.py --quick    # fewer repetitions
    python bench/checkpoint.py --dir /mnt/fast   # where the files go (default: a temp dir)

For each model a Runner (AdamW, EMAHook, no logger/checkpoint hooks) trains one batch so the
optimizer and the EMA hold state; then, interleaved and repeated:

save
  * ``trainkit CheckpointHook (state + serialize + atomic write)`` — what the hook does at the
    end of an epoch: ``runner.checkpoint_state()``, ``torch.save`` into memory once, then a
    temp file, ``fsync``, rename, ``fsync`` of the directory;
  * its parts: ``Runner.checkpoint_state``, ``checkpoint.serialize``, ``checkpoint.atomic_write``;
  * ``torch.save(state, path)`` — the same dict, straight to the file, no fsync (what
    MMEngine's and Lightning's default checkpoint I/O do);
  * ``torch.save + fsync`` — the same plus an ``fsync``: the durability part alone.

load (the file was just written, so it comes from the page cache)
  * ``trainkit load_checkpoint`` — ``torch.load(weights_only=True)`` plus format checks;
  * ``torch.load(weights_only=True)`` and ``torch.load(weights_only=False)``;
  * ``trainkit resume (Checkpointer.resume)`` — load and apply to model, optimizer, schedule,
    hooks, RNG — next to ``torch.load + load_state_dict`` of model and optimizer by hand.

Sizes: the trainkit file, the plain ``torch.save`` file, and the sum of the tensors' bytes.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List

import _common  # noqa: F401  (puts the repository root on sys.path)
import torch
from _common import environment_lines, table

MODELS = {
    'large': dict(in_features=224, hidden=[224] * 99, out_features=224,
                  label='MLP 100 x Linear(224, 224): 200 tensors, 5.04 M parameters'),
    'small': dict(in_features=32, hidden=[128, 128], out_features=1,
                  label='MLP 32-128-128-1 (the overhead job): 6 tensors, 21 k parameters'),
}


def build_runner(spec: dict, work_dir: str):
    """A Runner with optimizer and EMA state, trained for one batch."""
    import contextlib
    import io

    from torch.utils.data import DataLoader, TensorDataset

    from trainkit import Runner
    from trainkit.models.mlp import MLP

    class DictBatches(TensorDataset):
        def __getitem__(self, index):
            x, y = super().__getitem__(index)
            return {'x': x, 'y': y}

    torch.manual_seed(0)
    model = MLP(spec['in_features'], spec['hidden'], spec['out_features'])
    n = 8
    data = DictBatches(torch.randn(n, spec['in_features']), torch.randn(n, spec['out_features']))
    with contextlib.redirect_stdout(io.StringIO()):
        runner = Runner(model, DataLoader(data, batch_size=n),
                        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
                        loss=dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0)),
                        hooks=[dict(type='EMAHook', ema_decay=0.995)], max_epochs=1,
                        work_dir=work_dir, run_name='bench', seed=0, device='cpu')
        runner.train()
    return runner


def tensor_bytes(obj) -> int:
    if torch.is_tensor(obj):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def save_variants(runner, work_dir: str) -> Dict[str, Callable[[], object]]:
    from trainkit.checkpointing import format as ckpt
    from trainkit.hooks.checkpoint import CheckpointHook

    try:
        hook = CheckpointHook(best_k=None)  # only {run_name}_last.pt
    except Exception:  # noqa: BLE001 - trainkit versions where 0 meant "no best-k files"
        hook = CheckpointHook(best_k=0)
    runner.val_metrics = None
    runner.progress.epoch = 0
    state = runner.checkpoint_state({'monitor': hook.monitor, 'value': None})
    data = ckpt.serialize(state)
    plain = os.path.join(work_dir, 'plain.pt')
    synced = os.path.join(work_dir, 'plain_fsync.pt')
    part = os.path.join(work_dir, 'part.pt')

    def save_fsync():
        with open(synced, 'wb') as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())

    return {
        'trainkit CheckpointHook (state + serialize + atomic write)':
            lambda: hook.after_train_epoch(runner),
        '  Runner.checkpoint_state': lambda: runner.checkpoint_state({'monitor': 'x'}),
        '  checkpoint.serialize (torch.save to memory)': lambda: ckpt.serialize(state),
        '  checkpoint.atomic_write (temp, fsync, rename, fsync dir)':
            lambda: ckpt.atomic_write(part, data),
        'torch.save(state, path)': lambda: torch.save(state, plain),
        'torch.save + fsync': save_fsync,
    }, state


def load_variants(runner, work_dir: str) -> Dict[str, Callable[[], object]]:
    from trainkit.checkpointing import format as ckpt
    path = os.path.join(work_dir, 'bench_last.pt')
    plain = os.path.join(work_dir, 'plain.pt')
    model, optimizer = runner.unwrapped_model, runner.optim_wrapper.optimizer
    ema_hook = next(h for h in runner.hooks if h.name == 'EMAHook')

    def by_hand():
        state = torch.load(plain, weights_only=True)
        model.load_state_dict(state['model'])
        optimizer.load_state_dict(state['optimizer'])
        ema_hook.ema.module.load_state_dict(state['hooks']['EMAHook']['ema_state_dict'])

    return {
        'trainkit load_checkpoint': lambda: ckpt.load_checkpoint(path),
        'torch.load(weights_only=True)': lambda: torch.load(plain, weights_only=True),
        'torch.load(weights_only=False)': lambda: torch.load(plain, weights_only=False),
        'trainkit resume (Checkpointer.resume)': lambda: runner.checkpointer.resume(
            path, runner.max_epochs),
        'torch.load + load_state_dict of model, optimizer, EMA': by_hand,
    }


def interleave(variants, repeats: int) -> Dict[str, List[float]]:
    import gc
    names = list(variants)
    out: Dict[str, List[float]] = {n: [] for n in names}
    for rep in range(repeats + 1):  # the first round warms up and is dropped
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            start = time.perf_counter()
            variants[name]()
            if rep:
                out[name].append(time.perf_counter() - start)
    return out


def rows_for(times, base_name: str):
    base = times[base_name]
    rows = []
    for name, t in times.items():
        rows.append([name, f'{min(t) * 1e3:.2f}', f'{statistics.median(t) * 1e3:.2f}',
                     f'{statistics.median(a / b for a, b in zip(t, base)):.2f}'])
    return rows


def bench_model(key: str, repeats: int, root: str):
    spec = MODELS[key]
    work_dir = tempfile.mkdtemp(prefix=f'ckpt-{key}-', dir=root)
    try:
        runner = build_runner(spec, work_dir)
        with open(os.devnull, 'w') as sink:
            stdout, sys.stdout = sys.stdout, sink
            try:
                saves, state = save_variants(runner, work_dir)
                save_times = interleave(saves, repeats)
                loads = load_variants(runner, work_dir)
                load_times = interleave(loads, repeats)
            finally:
                sys.stdout = stdout
        sizes = [['trainkit `bench_last.pt`', os.path.getsize(os.path.join(work_dir,
                                                                          'bench_last.pt'))],
                 ['`torch.save` of the same dict', os.path.getsize(os.path.join(work_dir,
                                                                              'plain.pt'))],
                 ['tensor bytes in the dict', tensor_bytes(state)]]
        runner.log.close()
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    save_rows = rows_for(save_times, 'torch.save(state, path)')
    load_rows = rows_for(load_times, 'torch.load(weights_only=True)')
    return spec['label'], save_rows, load_rows, sizes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='3 repetitions')
    parser.add_argument('--repeats', type=int, default=None, help='default 9 (3 with --quick)')
    parser.add_argument('--models', nargs='+', choices=list(MODELS), default=list(MODELS))
    parser.add_argument('--dir', default=None, help='where the files are written')
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 9)
    torch.set_num_threads(1)
    root = args.dir or tempfile.gettempdir()
    results = [bench_model(key, repeats, root) for key in args.models]

    settings = {'repetitions': f'{repeats} interleaved (+1 warm-up)', 'threads': 1,
                'state': 'model + AdamW state + EMA weights + RNG + meta', 'directory': root}
    print('## Checkpoint save and load\n')
    print(environment_lines(settings))
    for label, save_rows, load_rows, sizes in results:
        print(f'\n### {label}\n')
        print(table(['save', 'best ms', 'median ms', 'ratio to torch.save (median of paired)'],
                    save_rows))
        print()
        print(table(['load', 'best ms', 'median ms',
                     'ratio to torch.load weights_only (median of paired)'], load_rows))
        print()
        print(table(['file', 'bytes', 'MB'],
                    [[name, f'{b:,}', f'{b / 1e6:.2f}'] for name, b in sizes]))
    print('\nIndented rows are the parts of the first row. "fsync" makes the file durable '
          '(on disk, not only in the page cache); its cost depends on the disk, not on trainkit.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
