"""Validation throughput: ``Runner.val()`` next to a hand-written ``no_grad`` loop that computes
the same metrics.

    python bench/validation.py            # 16,384 samples, batch 256, 9 repetitions
    python bench/validation.py --quick
    python bench/validation.py --batch-size 32   # small batches: per-batch overhead shows

The model is the overhead job's MLP (32→128→128→1, SiLU); the validation set is synthetic and
fetched a whole batch per indexing op, so the loop itself is what is measured. Both variants
walk the same DataLoader and compute the MAE and RMSE of ``y`` over all samples (float64
sums, ``RMSE = sqrt(Σe²/n)``), the weighted MAE and the mean MSE loss of the batches; the
results are checked to agree before timing. Repetitions are interleaved; samples/s is from the
median time.
"""
import argparse
import math
import statistics
import sys
import time

import _common  # noqa: F401  (puts the repository root on sys.path)
import overhead as job
import torch
import torch.nn.functional as F
from _common import environment_lines, table
from torch.utils.data import DataLoader


def build(num_samples: int, batch_size: int):
    import contextlib
    import io

    from trainkit import Runner
    from trainkit.models.mlp import MLP

    x, y = job.make_data(num_samples)
    loader = DataLoader(job.BatchFetchDataset(x, y), batch_size=batch_size,
                        collate_fn=job.passthrough)
    torch.manual_seed(job.INIT_SEED)
    model = MLP(job.IN_FEATURES, (job.HIDDEN, job.HIDDEN), 1)
    with contextlib.redirect_stdout(io.StringIO()):
        runner = Runner(model, loader, loader,
                        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=job.LR)),
                        loss=dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0)),
                        hooks=[], work_dir='unused', run_name='bench', device='cpu')
    return runner, model, loader


@torch.no_grad()
def hand_written(model, loader):
    """MAE/RMSE of y (float64 sums over all elements), weighted MAE and mean batch loss."""
    model.eval()
    abs_sum = torch.zeros((), dtype=torch.float64)
    sq_sum = torch.zeros((), dtype=torch.float64)
    loss_sum = torch.zeros((), dtype=torch.float64)
    count, batches = 0, 0
    for batch in loader:
        pred = model.net(batch['x'])
        err = (pred - batch['y']).double()
        abs_sum += err.abs().sum()
        sq_sum += err.square().sum()
        loss_sum += F.mse_loss(pred, batch['y']).double()
        count += err.numel()
        batches += 1
    model.train()
    mae = float(abs_sum) / count
    return {'y_mae': mae, 'y_rmse': math.sqrt(float(sq_sum) / count), 'weighted_mae': mae,
            'loss': float(loss_sum) / batches}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--samples', type=int, default=16384)
    parser.add_argument('--batch-size', type=int, default=256)
    parser.add_argument('--repeats', type=int, default=None, help='default 9 (3 with --quick)')
    parser.add_argument('--quick', action='store_true')
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 9)
    torch.set_num_threads(1)

    runner, model, loader = build(args.samples, args.batch_size)
    ours, theirs = runner.val(), hand_written(model, loader)
    worst = max(abs(ours[k] - theirs[k]) / max(abs(theirs[k]), 1e-30) for k in theirs)
    if worst > 1e-6:
        raise SystemExit(f'the two loops disagree: {ours} vs {theirs}')

    variants = {'hand-written no_grad loop': lambda: hand_written(model, loader),
                'trainkit Runner.val()': runner.val}
    names = list(variants)
    times = {n: [] for n in names}
    for rep in range(repeats + 1):  # the first round warms up and is dropped
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            variants[name]()
            if rep:
                times[name].append(time.perf_counter() - start)

    base = times[names[0]]
    batches = len(loader)
    rows = []
    for name in names:
        t = times[name]
        med = statistics.median(t)
        rows.append([name, f'{min(t) * 1e3:.1f}', f'{med * 1e3:.1f}',
                     f'{args.samples / med:,.0f}',
                     f'{statistics.median(a / b for a, b in zip(t, base)):.3f}',
                     f'{(statistics.median(t) - statistics.median(base)) / batches * 1e6:+.1f}'])
    settings = {'model': 'MLP 32-128-128-1', 'samples': args.samples,
                'batch size': args.batch_size, 'batches': batches, 'threads': 1,
                'repetitions': f'{repeats} interleaved (+1 warm-up)'}
    print('## Validation throughput\n')
    print(environment_lines(settings))
    print()
    print(table(['loop', 'best ms', 'median ms', 'samples/s (median)',
                 'ratio to hand-written (median of paired)', 'µs/batch over hand-written'],
                rows))
    print(f'\nBoth give y_mae={theirs["y_mae"]:.6g}, y_rmse={theirs["y_rmse"]:.6g}, '
          f'loss={theirs["loss"]:.6g} (largest relative difference {worst:.1e}).')
    return 0


if __name__ == '__main__':
    sys.exit(main())
