"""Learning-rate range test: train a copy of the config's model for a few hundred batches with
an exponentially growing LR and suggest the LR where the smoothed loss falls fastest.

    python tools/lr_find.py configs/spice.py
    python tools/lr_find.py configs/spice.py --start-lr 1e-6 --end-lr 1 --num-steps 200 \\
        --out lr_find.png

Writes the picture (and a CSV of lr, loss, smoothed loss beside it); the config's work dir and
checkpoints are never touched. Bad input exits with code 2.
"""
import argparse
import csv
import os
import sys
from typing import List, Optional

if __package__ in (None, ''):  # run as a script from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainkit.cli import ArgumentParser, report_error  # noqa: E402
from trainkit.utils.output_path import check_output_path  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ArgumentParser(description='LR range test (Leslie Smith) on a trainkit config.')
    parser.add_argument('config', help='config file (.py, .yaml or .json)')
    parser.add_argument('--start-lr', type=float, default=1e-7, help='first LR (1e-7)')
    parser.add_argument('--end-lr', type=float, default=10.0, help='last LR (10)')
    parser.add_argument('--num-steps', type=int, default=300, help='batches to train (300)')
    parser.add_argument('--diverge', type=float, default=4.0,
                        help='stop once the smoothed loss exceeds this many times its minimum')
    parser.add_argument('--out', default='lr_find.png', help='the picture (lr_find.png)')
    parser.add_argument('--cfg-options', nargs='+', default=[], action='extend',
                        metavar='KEY=VALUE', help='override config values')
    parser.add_argument('--debug', action='store_true', help='show tracebacks of errors')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        from trainkit.config.load import load_config
        from trainkit.tuning.lr_find import lr_find_from_cfg, plot_lr_find
        check_output_path(args.out, '--out', picture=True)
        cfg = load_config(args.config, args.cfg_options)
        result = lr_find_from_cfg(cfg, start_lr=args.start_lr, end_lr=args.end_lr,
                                  num_steps=args.num_steps, diverge=args.diverge)
        plot_lr_find(result, args.out)
        table = os.path.splitext(args.out)[0] + '.csv'
        with open(table, 'w', encoding='utf-8', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['lr', 'loss', 'smoothed_loss'])
            writer.writerows(zip(result.lrs, result.losses, result.smoothed))
        print(f'{len(result.lrs)} steps from lr {args.start_lr:g}; stopped: {result.stopped}')
        if result.suggestion is None:
            print('no suggestion: too few steps before the loss diverged; lower --start-lr or '
                  'raise --num-steps')
        else:
            print(f'suggested lr (steepest descent of the smoothed loss): '
                  f'{result.suggestion:.3g}')
        print(f'written: {args.out}, {table}')
    except Exception as err:  # noqa: BLE001 - user errors become exit code 2
        return report_error(err, args.debug)
    return 0


if __name__ == '__main__':
    sys.exit(main())
