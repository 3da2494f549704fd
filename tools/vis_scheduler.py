"""Plot and dump the learning rate and momentum a config's schedule gives at every step.

    python tools/vis_scheduler.py configs/spice.py --iters-per-epoch 120 --save-path lr.png \
        --dump lr.csv [--epochs 30] [--cfg-options ...]

No data is loaded and nothing is trained: the model is built to get the real parameter
groups, then the schedule is stepped by the same code the Runner uses. ``--iters-per-epoch``
counts batches; with gradient accumulation an epoch has ``ceil(M / accumulative_counts)``
optimizer steps. The CSV has the columns ``step, epoch, lr_g0..lr_gK, mom_g0..mom_gK`` and,
for a scheduler with another ``param_name`` (e.g. ``weight_decay``), ``weight_decay_g0..``;
the plot gets a panel for each.
"""
import argparse
import csv
import math
import os
import sys
from typing import List, Optional

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainkit.cli import ArgumentParser, report_error  # noqa: E402
from trainkit.utils.output_path import check_output_path  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ArgumentParser(description='Visualise a config\'s LR/momentum schedule.')
    parser.add_argument('config')
    parser.add_argument('--iters-per-epoch', type=int, required=True,
                        help='batches per epoch (the length of the train data loader)')
    parser.add_argument('--epochs', type=int, help='epochs to show (default: the whole run)')
    parser.add_argument('--save-path', help='write the plot here (.png, .pdf, ...)')
    parser.add_argument('--dump', help='write the per-step values here as CSV')
    parser.add_argument('--cfg-options', nargs='+', default=[], action='extend',
                        metavar='KEY=VALUE')
    parser.add_argument('--debug', action='store_true')
    return parser.parse_args(argv)


def build_schedule(cfg, iters_per_epoch: int):
    """Return (optim_wrapper, schedule, steps_per_epoch, max_epochs) without any data."""
    from trainkit.engine.from_cfg import prepare_config
    from trainkit.errors import ConfigError
    from trainkit.optim import build_optim_wrapper, build_param_schedule, scale_lr
    from trainkit.registry import MODELS, lookup
    if iters_per_epoch < 1:
        raise ConfigError(f'--iters-per-epoch: expected >= 1, got {iters_per_epoch}')
    plain = prepare_config(cfg)
    model_cfg = dict(plain['model'])
    model = lookup(MODELS, model_cfg.pop('type'), 'model.type')(**model_cfg)
    if plain.get('finetune_modules'):
        from trainkit.optim import freeze_except
        freeze_except(model, plain['finetune_modules'])
    wrapper = build_optim_wrapper(model, plain['optim_wrapper'])
    accumulate = wrapper._accumulative_counts
    batch = (plain.get('train_dataloader') or {}).get('batch_size', 1)
    scale_lr(wrapper, plain.get('auto_scale_lr'), batch * accumulate, log=lambda m: None)
    steps = math.ceil(iters_per_epoch / accumulate)
    max_epochs = (plain.get('train_cfg') or {}).get('max_epochs', 1)
    schedule = build_param_schedule(plain.get('param_scheduler'), wrapper, max_epochs, steps)
    return wrapper, schedule, steps, max_epochs


def write_csv(rows, path: str) -> None:
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot(rows, steps_per_epoch: int, path: str, title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    steps = [r['step'] for r in rows]
    lr_keys = [k for k in rows[0] if k.startswith('lr_')]
    mom_keys = [k for k in rows[0] if k.startswith('mom_') and
                not all(math.isnan(r[k]) for r in rows)]
    extra = sorted({k.rsplit('_g', 1)[0] for k in rows[0]
                    if '_g' in k and not k.startswith(('lr_', 'mom_'))})
    panels = 1 + bool(mom_keys) + len(extra)
    fig, axes = plt.subplots(panels, 1, figsize=(9, 2 + 2 * panels), sharex=True,
                             squeeze=False)
    for key in lr_keys:
        axes[0][0].plot(steps, [r[key] for r in rows], label=f'group {key[4:]}')
    axes[0][0].set_ylabel('learning rate')
    axes[0][0].set_title(title)
    for key in mom_keys:
        axes[1][0].plot(steps, [r[key] for r in rows], label=f'group {key[5:]}')
    if mom_keys:
        axes[1][0].set_ylabel('momentum / β₁')
    for row, name in zip(axes[1 + bool(mom_keys):], extra):
        for key in [k for k in rows[0] if k.startswith(f'{name}_g')]:
            row[0].plot(steps, [r[key] for r in rows], label=f'group {key.rsplit("_g", 1)[1]}')
        row[0].set_ylabel(name)
    epochs = len(rows) // steps_per_epoch
    tick_every = max(1, epochs // 10)
    ticks = list(range(0, epochs + 1, tick_every))
    axes[-1][0].set_xticks([t * steps_per_epoch for t in ticks], [str(t) for t in ticks])
    axes[-1][0].set_xlabel(f'epoch ({steps_per_epoch} optimizer steps each)')
    for row in axes:
        row[0].grid(alpha=0.3)
        if len(lr_keys) > 1:
            row[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def check_output_paths(args) -> None:
    """Refuse a missing output folder or an unsupported picture format before any work."""
    if args.save_path is not None:
        check_output_path(args.save_path, '--save-path', picture=True)
    if args.dump is not None:
        check_output_path(args.dump, '--dump')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        from trainkit.config.load import load_config
        from trainkit.optim.schedule.simulate import simulate_schedule
        check_output_paths(args)
        cfg = load_config(args.config, args.cfg_options)
        wrapper, schedule, steps, max_epochs = build_schedule(cfg, args.iters_per_epoch)
        rows = simulate_schedule(wrapper, schedule, args.epochs or max_epochs, steps)
        if args.dump:
            write_csv(rows, args.dump)
        if args.save_path:
            plot(rows, steps, args.save_path, os.path.basename(args.config))
        print(f'{len(rows)} optimizer steps ({steps} per epoch); lr from {rows[0]["lr_g0"]:.4e} '
              f'to {rows[-1]["lr_g0"]:.4e}, peak {max(r["lr_g0"] for r in rows):.4e}')
    except Exception as err:  # noqa: BLE001
        return report_error(err, args.debug)
    return 0


if __name__ == '__main__':
    sys.exit(main())
